//! The network's executor (`node/src/network/executor.rs`) as peers and users see it, with
//! real nodes on 127.0.0.1 in one process: a node whose messaging work is at its cap answers
//! "busy" at once instead of hanging, and a sender's outbox delivers what was refused once
//! the load drops; so with blob chunks (the fetch completes) and sync answers (a late peer's
//! catch-up finishes); a node stopped while it stores what peers send keeps everything it
//! acknowledged.
//!
//! Every wait has a deadline (`eventually`, 90 s) and every test an overall timeout; nothing
//! asserts on timing.

use std::future::Future;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use libp2p::PeerId;
use swapmeet_node::messaging::{DeliveryState, Sent};
use swapmeet_node::network::local::{loopback_config, LocalNode};
use swapmeet_node::network::messaging::bucket::Rate;
use swapmeet_node::network::messaging::{MsgRequest, MsgResponse, MAX_INBOUND_JOBS};
use swapmeet_node::network::NetworkHandle;
use swapmeet_protocol::{SecretKey, ThreadId};
use tempfile::TempDir;

use crate::local_support;
use crate::messaging_support;

use local_support::eventually;
use messaging_support::{about, fresh, key, now, sealed_from_buyer};

const TEST_TIMEOUT: Duration = Duration::from_secs(400);

/// Requests one flooding node keeps open at once: under the 64 streams a connection may
/// carry (`MSG_MAX_STREAMS`), so what refuses them is the executor, not the stream bound.
const ROUND: u64 = 60;

async fn within<F: Future>(f: F) -> F::Output {
    tokio::time::timeout(TEST_TIMEOUT, f)
        .await
        .expect("the test did not finish in time")
}

/// A node on loopback keyed `n`, with `rate` as its per-peer messaging rate when given.
async fn start(dir: &Path, n: u8, rate: Option<Rate>) -> LocalNode {
    let mut config = loopback_config(None);
    if let Some(r) = rate {
        config.msg_rate = r;
    }
    LocalNode::start(dir, key(n), config).await.unwrap()
}

/// A rate no test here reaches: what refuses requests is the executor's cap, not the bucket.
const UNLIMITED: Rate = Rate {
    per_sec: 1_000_000.0,
    burst: 1_000_000,
};

/// Valid messages from `buyer` to `seller`, sequence numbers `seqs`, sealed for the seller.
fn messages(buyer: &SecretKey, seller: &SecretKey, seqs: std::ops::Range<u64>) -> Vec<Vec<u8>> {
    seqs.map(|seq| {
        let text = format!("message {seq}: is it still there?");
        sealed_from_buyer(buyer, seller, "lamp", seq, &text, fresh(), now()).into_bytes()
    })
    .collect()
}

/// Delivers each message with its own request, all at once; the answers in order.
async fn deliver_all(
    from: &NetworkHandle,
    to: PeerId,
    msgs: Vec<Vec<u8>>,
) -> Vec<Result<MsgResponse, String>> {
    futures::future::join_all(msgs.into_iter().map(|m| {
        let net = from.clone();
        async move { net.msg_raw(to, MsgRequest::Deliver(m)).await.unwrap() }
    }))
    .await
}

/// What the busy answer says: the cap, and that the sender should try again.
fn is_busy(reason: &str) -> bool {
    reason == format!("busy: {MAX_INBOUND_JOBS} messaging requests are being worked on; try again")
}

/// The refusals the executor counted for one kind of work on `node`.
fn refused(node: &LocalNode, kind: &str) -> u64 {
    node.net()
        .status()
        .executor
        .into_iter()
        .find(|k| k.kind == kind)
        .map(|k| k.refused)
        .unwrap_or_else(|| panic!("the status lists no executor kind {kind}"))
}

fn delivered(node: &LocalNode, sent: &Sent) -> bool {
    node.messenger
        .thread(&sent.thread, false, now())
        .unwrap()
        .is_some_and(|v| {
            v.messages
                .iter()
                .any(|m| m.hash == sent.hash && m.state == Some(DeliveryState::Delivered))
        })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_at_its_messaging_cap_answers_busy_at_once_and_the_senders_outbox_delivers_later() {
    within(async {
        let dirs: Vec<TempDir> = (0..4).map(|_| tempfile::tempdir().unwrap()).collect();
        let target = start(dirs[0].path(), 60, Some(UNLIMITED)).await;
        let flooders = vec![
            start(dirs[1].path(), 61, None).await,
            start(dirs[2].path(), 62, None).await,
        ];
        let sender = start(dirs[3].path(), 63, None).await;
        for n in flooders.iter().chain([&sender]) {
            n.connect(&target).await.unwrap();
        }
        let t = target.net().peer_id();

        // Two peers keep ROUND deliveries each open (twice the cap together) until told to
        // stop. Every answer is a receipt or the busy refusal: none hangs, none is dropped.
        let stop = Arc::new(AtomicBool::new(false));
        let busy = Arc::new(AtomicU64::new(0));
        let floods: Vec<_> = flooders
            .iter()
            .enumerate()
            .map(|(i, f)| {
                let (net, stop, busy) = (f.net().clone(), stop.clone(), busy.clone());
                // Each flooder writes as its own buyer, numbering its messages on.
                let buyer = key(70 + i as u8);
                tokio::spawn(async move {
                    let mut next = 1;
                    let mut receipts = 0u64;
                    while !stop.load(Ordering::Acquire) {
                        let msgs = messages(&buyer, &key(60), next..next + ROUND);
                        next += ROUND;
                        for a in deliver_all(&net, t, msgs).await {
                            match a {
                                Ok(MsgResponse::Receipt(_)) => receipts += 1,
                                Ok(MsgResponse::Refused { reason }) if is_busy(&reason) => {
                                    busy.fetch_add(1, Ordering::AcqRel);
                                }
                                other => panic!("a delivery was answered {other:?}"),
                            }
                        }
                    }
                    receipts
                })
            })
            .collect();
        eventually("the target to answer a delivery busy", || async {
            busy.load(Ordering::Acquire) > 0
        })
        .await;

        // The user's messages go while the target is saturated: some are refused busy (the
        // sender counts them), and they stay in the outbox.
        let mut sent: Vec<Sent> = Vec::new();
        eventually("one of the sender's deliveries to be refused", || {
            let s = sender
                .messenger
                .send_to_seller(about(&key(60), "lamp"), "Is the lamp still there?", now())
                .unwrap();
            sent.push(s);
            let refused = sender.net().status().messaging.deliveries_refused;
            async move { refused > 0 }
        })
        .await;
        // The status (refreshed every half second) counts them as the executor's refusals.
        eventually("the target's status to count the busy answers", || async {
            refused(&target, "msg_serve") > 0
                && target.net().status().messaging.requests_refused > 0
        })
        .await;

        // Once the load drops, every message of the user's is delivered: the outbox tried
        // the refused ones again.
        stop.store(true, Ordering::Release);
        let mut receipts = 0;
        for f in floods {
            receipts += f.await.unwrap();
        }
        assert!(receipts > 0, "the target stored none of the flood");
        eventually("every message of the sender's to be delivered", || async {
            sent.iter().all(|s| delivered(&sender, s))
        })
        .await;
        assert_eq!(sender.messenger.queued().unwrap(), 0);
        for n in flooders.into_iter().chain([target, sender]) {
            n.stop().await.unwrap();
        }
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_stopped_while_storing_messages_keeps_every_one_it_acknowledged() {
    within(async {
        let (td, fd) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        let target = start(td.path(), 80, Some(UNLIMITED)).await;
        let flooder = start(fd.path(), 81, None).await;
        flooder.connect(&target).await.unwrap();
        let t = target.net().peer_id();
        let buyer = key(82);
        let seller = key(80);

        // ROUND deliveries at once; the target is stopped as soon as the first receipts come
        // back (busy answers come sooner), while the others are being stored or wait.
        let (answered_tx, mut answered) = tokio::sync::mpsc::unbounded_channel();
        let net = flooder.net().clone();
        let msgs = messages(&buyer, &seller, 1..ROUND + 1);
        let flood = tokio::spawn(async move {
            futures::future::join_all(msgs.into_iter().zip(1u64..).map(|(m, seq)| {
                let (net, tx) = (net.clone(), answered_tx.clone());
                async move {
                    let a = net.msg_raw(t, MsgRequest::Deliver(m)).await.unwrap();
                    if matches!(a, Ok(MsgResponse::Receipt(_))) {
                        let _ = tx.send(());
                    }
                    (seq, a)
                }
            }))
            .await
        });
        for _ in 0..3 {
            answered
                .recv()
                .await
                .expect("the target acknowledged fewer than 3 of the messages");
        }
        target.stop().await.unwrap();
        let answers = flood.await.unwrap();

        // Acknowledged: answered with the target's receipt. The others were refused busy or
        // cut off by the stop; they are the sender's to try again.
        let acked: Vec<u64> = answers
            .iter()
            .filter(|(_, a)| matches!(a, Ok(MsgResponse::Receipt(_))))
            .map(|(seq, _)| *seq)
            .collect();
        assert!(!acked.is_empty());
        for (seq, a) in &answers {
            if let Ok(MsgResponse::Refused { reason }) = a {
                assert!(is_busy(reason), "message {seq} was refused: {reason}");
            }
        }

        // Reopened on the same home, the target holds every message it acknowledged.
        let target = start(td.path(), 80, None).await;
        let id = ThreadId::derive(&about(&seller, "lamp").id(), &buyer.public());
        let held: Vec<u64> = target
            .messenger
            .thread(&id, false, now())
            .unwrap()
            .map(|v| v.messages.iter().map(|m| m.seq).collect())
            .unwrap_or_default();
        let lost: Vec<&u64> = acked.iter().filter(|s| !held.contains(s)).collect();
        assert!(
            lost.is_empty(),
            "acknowledged but lost at shutdown: {lost:?} (held {held:?})"
        );
        for n in [target, flooder] {
            n.stop().await.unwrap();
        }
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_reading_as_many_chunks_as_its_config_allows_answers_busy_and_the_fetch_completes_later(
) {
    use swapmeet_node::media::fetch::{self, Want};
    use swapmeet_node::media::BlobClass;
    use swapmeet_node::network::blobs::{BlobRequest, BlobResponse, ServeLimits, MAX_CHUNK_BYTES};

    within(async {
        let dirs: Vec<TempDir> = (0..3).map(|_| tempfile::tempdir().unwrap()).collect();
        // One chunk read at a time in all (`media.serve_total = 1`), no per-peer bound or rate
        // that the buyers' requests reach: the executor's `blob_serve` cap is what refuses.
        let mut config = loopback_config(None);
        config.blob_serve = ServeLimits {
            total: 1,
            per_peer: 64,
            peer_chunks_per_sec: 1_000_000.0,
            peer_chunk_burst: 1_000_000,
        };
        let server = LocalNode::start(dirs[0].path(), key(90), config)
            .await
            .unwrap();
        let buyers = vec![
            start(dirs[1].path(), 91, None).await,
            start(dirs[2].path(), 92, None).await,
        ];
        for b in &buyers {
            b.connect(&server).await.unwrap();
        }
        let s = server.net().peer_id();
        let chunks = 10u64;
        let bytes: Vec<u8> = (0..chunks * u64::from(MAX_CHUNK_BYTES))
            .map(|i| (i % 251) as u8)
            .collect();
        let hash = server.blobs.put(&bytes, BlobClass::Own).unwrap();

        // Both buyers ask for every chunk at once, again until one is answered Busy; every
        // answer is a chunk or Busy, none hangs.
        eventually("the server to answer a chunk request busy", || async {
            let asks = buyers.iter().flat_map(|b| {
                (0..chunks).map(move |c| {
                    let req = BlobRequest {
                        hash,
                        offset: c * u64::from(MAX_CHUNK_BYTES),
                        len: MAX_CHUNK_BYTES,
                    };
                    let net = b.net().clone();
                    async move { net.blob_request(s, req).await.unwrap() }
                })
            });
            let answers = futures::future::join_all(asks).await;
            let mut busy = 0;
            for a in answers {
                match a {
                    Ok(BlobResponse::Chunk { .. }) => {}
                    Ok(BlobResponse::Busy) => busy += 1,
                    other => panic!("a chunk request was answered {other:?}"),
                }
            }
            busy > 0
        })
        .await;
        // The status (refreshed every half second) counts the refusals as the executor's.
        eventually("the server's status to count the busy answers", || async {
            server.net().status().blobs.busy > 0 && refused(&server, "blob_serve") > 0
        })
        .await;
        let status = server.net().status();
        let blob_serve = status.executor.iter().find(|k| k.kind == "blob_serve");
        assert_eq!(blob_serve.map(|k| k.cap), Some(1));

        // The load gone, a buyer's fetch of the whole blob completes from the server.
        let fetched = fetch::fetch(
            &buyers[0].blobs,
            buyers[0].net(),
            Want::photo(hash, Some(s)),
        )
        .await
        .unwrap();
        assert_eq!(fetched.bytes, bytes);
        assert_eq!(fetched.from, Some(s));
        for n in buyers.into_iter().chain([server]) {
            n.stop().await.unwrap();
        }
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_at_its_sync_answer_cap_answers_busy_and_a_late_peers_catch_up_finishes_later() {
    use swapmeet_node::network::sync::{SyncRequest, MAX_FETCH_HASHES};
    use swapmeet_node::{IngestOutcome, Source};

    within(async {
        let (nodes, _dirs) = local_support::berlin_nodes(2, 100).await;
        let mut nodes = nodes.into_iter();
        let (target, flooder) = (nodes.next().unwrap(), nodes.next().unwrap());
        // 600 listings of one seller (within its free allowance) on the target.
        let seller = key(110);
        let now = target.engine.now();
        let envelopes: Vec<_> = (0..600)
            .map(|i| {
                local_support::berlin_listing(&format!("lamp-{i}"), &format!("Lamp {i}"), now)
                    .sign(&seller)
                    .unwrap()
            })
            .collect();
        let hashes: Vec<_> = envelopes.iter().map(|e| e.hash()).collect();
        let engine = target.engine.clone();
        let outcomes = tokio::task::spawn_blocking(move || {
            engine.ingest(envelopes, Source::Peer("earlier".into()))
        })
        .await
        .unwrap()
        .unwrap();
        assert!(
            outcomes
                .iter()
                .all(|o| matches!(o, IngestOutcome::Stored { .. })),
            "{outcomes:?}"
        );
        flooder.connect(&target).await.unwrap();
        let t = target.net().peer_id();

        // A peer asks for the most a fetch may ask, 16 at a time (the streams one connection
        // may carry), four times the answers the target works on at once.
        let fetch = SyncRequest::Fetch {
            hashes: hashes[..MAX_FETCH_HASHES].to_vec(),
        };
        let flood_once = {
            let (net, fetch) = (flooder.net().clone(), fetch.clone());
            move || {
                let (net, fetch) = (net.clone(), fetch.clone());
                async move {
                    let sends = (0..16).map(|_| net.sync_raw(t, fetch.clone()));
                    for r in futures::future::join_all(sends).await {
                        r.unwrap();
                    }
                }
            }
        };
        eventually("the target to answer a sync request busy", || {
            let flood = flood_once();
            async {
                flood.await;
                refused(&target, "sync_serve") > 0
            }
        })
        .await;

        // A peer that comes late, syncing every second, is answered busy while the flood
        // goes on...
        let stop = Arc::new(AtomicBool::new(false));
        let flood = {
            let (stop, flood_once) = (stop.clone(), flood_once.clone());
            tokio::spawn(async move {
                while !stop.load(Ordering::Acquire) {
                    flood_once().await;
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
            })
        };
        let late_dir = tempfile::tempdir().unwrap();
        let mut config = loopback_config(Some(local_support::BERLIN));
        config.sync_interval = Duration::from_secs(1);
        let late = LocalNode::start(late_dir.path(), key(103), config)
            .await
            .unwrap();
        late.connect(&target).await.unwrap();
        eventually("the late peer's sync to be answered busy", || async {
            late.net()
                .status()
                .last_sync
                .and_then(|s| s.error)
                .is_some_and(|e| e.contains("busy"))
        })
        .await;

        // ...and once the flood stops, its catch-up finishes: it has every listing.
        stop.store(true, Ordering::Release);
        flood.await.unwrap();
        eventually("the late peer to hold every listing", || async {
            late.engine.stats().records == 600
        })
        .await;
        for n in [target, flooder, late] {
            n.stop().await.unwrap();
        }
    })
    .await
}
