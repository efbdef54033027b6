//! Reachability on loopback: real nodes in one process over TCP on 127.0.0.1.
//!
//! Nothing is forced by config: the relay learns it is public from AutoNAT's dial-back, the
//! nodes without a listener learn from AutoNAT that they cannot be dialled, turn Kademlia to
//! client mode and listen through the relay on their own. Two such nodes then reach each
//! other only through the relay (neither has a direct address, so hole punching cannot
//! succeed), and a listing and a message flow both ways, and a photo one way; one larger than
//! the circuit's byte limit does not come through.
//!
//! Every wait has a deadline (`eventually`) and the test an overall timeout; nothing asserts
//! on timing.

use std::future::Future;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use swapmeet_node::authoring::ListingDraft;
use swapmeet_node::media::blobs::BlobClass;
use swapmeet_node::media::fetch::{fetch, FetchError, Want};
use swapmeet_node::messaging::DeliveryState;
use swapmeet_node::network::local::{loopback_config, LocalNode};
use swapmeet_node::network::reach::ReachKind;
use swapmeet_node::search::SearchQuery;
use swapmeet_protocol::{EnvelopeHash, ListingId, ListingRef, SecretKey};

const DEADLINE: Duration = Duration::from_secs(90);
const TEST_TIMEOUT: Duration = Duration::from_secs(300);

fn key(n: u8) -> SecretKey {
    SecretKey::from_bytes([n; 32])
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

async fn eventually<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let start = Instant::now();
    loop {
        if check().await {
            return;
        }
        assert!(
            start.elapsed() < DEADLINE,
            "gave up after {DEADLINE:?} waiting for: {what}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn draft(title: &str) -> ListingDraft {
    ListingDraft {
        title: Some(title.into()),
        price: Some("20 EUR".into()),
        location: Some("52.52,13.405".into()),
        category: Some("bikes".into()),
        condition: Some("good".into()),
        pickup: Some(true),
        ..ListingDraft::default()
    }
}

fn finds(node: &LocalNode, text: &str, id: &ListingId) -> bool {
    node.engine
        .search(&SearchQuery {
            text: Some(text.into()),
            ..SearchQuery::default()
        })
        .unwrap()
        .hits
        .iter()
        .any(|h| h.id == *id)
}

/// A node with no listen address at all: like one behind NAT, peers cannot dial it.
async fn unreachable_node(dir: &std::path::Path, n: u8) -> LocalNode {
    let mut config = loopback_config(None);
    config.listen.clear();
    LocalNode::start(dir, key(n), config).await.unwrap()
}

/// The circuit address a node listens at through one of `relays`, once it does, and that
/// relay.
async fn relayed_circuit(node: &LocalNode, relays: &[String]) -> (String, String) {
    let mut via = String::new();
    let mut circuit = String::new();
    eventually("the node to listen through a relay", || {
        let st = node.net().status().reachability;
        if let ReachKind::Relayed {
            relay: r,
            circuit: c,
        } = &st.kind
        {
            if relays.contains(r) {
                circuit = c.clone();
                via = r.clone();
            }
        }
        let found = !circuit.is_empty();
        async move { found }
    })
    .await;
    (circuit, via)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_nodes_behind_a_relay_exchange_a_listing_and_messages_through_it() {
    tokio::time::timeout(TEST_TIMEOUT, async {
        let dirs: Vec<_> = (0..4).map(|_| tempfile::tempdir().unwrap()).collect();
        // The relay R and a public helper P: R dials P, P's AutoNAT server dials R back.
        let relay = LocalNode::start(dirs[0].path(), key(1), loopback_config(None))
            .await
            .unwrap();
        let helper = LocalNode::start(dirs[1].path(), key(2), loopback_config(None))
            .await
            .unwrap();
        relay.connect(&helper).await.unwrap();
        eventually(
            "AutoNAT to confirm the relay is public, and it to offer relaying",
            || {
                let r = relay.net().status().reachability;
                async move { matches!(r.kind, ReachKind::Public { .. }) && r.relay_serving }
            },
        )
        .await;
        assert_eq!(
            relay.net().status().reachability.kad_mode,
            "server",
            "confirmed public, Kademlia is a server"
        );
        // Once P's AutoNAT confirms it public too (R dials it back), P relays as well: N may
        // pick either.
        let relays = [
            relay.net().peer_id().to_string(),
            helper.net().peer_id().to_string(),
        ];
        let relay_addr = relay.addr().await.unwrap();

        // N and C have no listener; each dials only the relay.
        let n = unreachable_node(dirs[2].path(), 3).await;
        let c = unreachable_node(dirs[3].path(), 4).await;
        n.net().dial(relay_addr.clone()).await.unwrap();
        c.net().dial(relay_addr.clone()).await.unwrap();
        let (n_circuit, via) = relayed_circuit(&n, &relays).await;
        let st = n.net().status().reachability;
        assert_eq!(st.kad_mode, "client", "behind NAT, Kademlia is a client");
        assert!(
            !st.unreachable.is_empty(),
            "AutoNAT found its address unreachable"
        );
        assert!(!st.relay_serving);

        // C reaches N through the relay's circuit.
        let peer = c.net().dial(n_circuit.parse().unwrap()).await.unwrap();
        assert_eq!(peer, n.net().peer_id());
        let n_id = n.net().peer_id().to_string();
        eventually("C's connection to N to be listed", || async {
            let peers = c.net().peers().await.unwrap();
            peers.iter().any(|p| p.peer_id == n_id)
        })
        .await;
        for p in c
            .net()
            .peers()
            .await
            .unwrap()
            .iter()
            .filter(|p| p.peer_id == n_id)
        {
            assert!(p.address.contains("/p2p-circuit"), "{}", p.address);
        }

        // A listing each way.
        let from_n = n.author.create(&draft("relayed tandem bicycle")).unwrap();
        let from_c = c.author.create(&draft("relayed lamp")).unwrap();
        eventually("N's listing at C", || {
            let ok = finds(&c, "tandem", &from_n.id);
            async move { ok }
        })
        .await;
        eventually("C's listing at N", || {
            let ok = finds(&n, "lamp", &from_c.id);
            async move { ok }
        })
        .await;

        // A message each way: C asks about N's listing, N answers.
        let about = ListingRef {
            seller: key(3).public(),
            item_key: "tandem".into(),
            version: EnvelopeHash([7; 32]),
        };
        let sent = c
            .messenger
            .send_to_seller(about, "Is it still there?", now())
            .unwrap();
        let delivered = |node: &LocalNode, hash: EnvelopeHash| {
            node.messenger
                .thread(&sent.thread, false, now())
                .unwrap()
                .and_then(|t| t.messages.into_iter().find(|m| m.hash == hash))
                .and_then(|m| m.state)
                == Some(DeliveryState::Delivered)
        };
        eventually("C's message delivered to N", || {
            let ok = delivered(&c, sent.hash);
            async move { ok }
        })
        .await;
        let reply = n
            .messenger
            .reply(sent.thread, "Yes, come by.", now())
            .unwrap();
        eventually("N's answer delivered to C", || {
            let ok = delivered(&n, reply.hash);
            async move { ok }
        })
        .await;
        let at_c = c
            .messenger
            .thread(&sent.thread, false, now())
            .unwrap()
            .unwrap();
        assert!(at_c
            .messages
            .iter()
            .any(|m| !m.from_me && m.text == "Yes, come by."));
        // A photo through the relay: N has it (its own), C fetches it chunk by chunk over the
        // relayed connection; two 256 KiB chunks fit the circuit's 1 MiB.
        let n_peer = n.net().peer_id();
        let photo: Vec<u8> = (0..300 * 1024u32).map(|i| (i * 7 % 251) as u8).collect();
        let hash = n.blobs.put(&photo, BlobClass::Own).unwrap();
        let fetched = fetch(&c.blobs, c.net(), Want::photo(hash, Some(n_peer)))
            .await
            .unwrap();
        assert_eq!(fetched.from, Some(n_peer));
        assert!(fetched.bytes == photo, "the photo arrived whole");

        // Neither can be dialled directly, so no hole punch can have succeeded: what flowed,
        // flowed through the relay.
        assert!(c
            .net()
            .status()
            .reachability
            .direct_after_hole_punch
            .is_empty());
        let used = if via == relays[0] { &relay } else { &helper };
        eventually("the relay to count the circuit", || {
            let n = used.net().status().reachability.relayed_circuits;
            async move { n >= 1 }
        })
        .await;

        // At the circuit's byte limit the relay closes the circuit: a photo larger than it
        // cannot come through, the fetch says so, and nothing of it is kept.
        let large: Vec<u8> = (0..3 * 1024 * 1024u32).map(|i| (i % 253) as u8).collect();
        let large_hash = n.blobs.put(&large, BlobClass::Own).unwrap();
        let refused = fetch(&c.blobs, c.net(), Want::photo(large_hash, Some(n_peer))).await;
        match refused {
            Err(e @ FetchError::AllFailed { .. }) => {
                assert!(e.to_string().contains("closed"), "{e}");
            }
            other => panic!("3 MiB through a 1 MiB circuit: {other:?}"),
        }
        assert!(!c.blobs.has(&large_hash));

        for node in [c, n, helper, relay] {
            node.stop().await.unwrap();
        }
    })
    .await
    .expect("the test did not finish in time");
}
