//! Several real nodes in one process, talking over TCP on 127.0.0.1 with seeded keys.
//!
//! Every wait has an overall deadline (`eventually`), never a timing assertion: a slow machine
//! makes these tests slower, not red.

use std::future::Future;
use std::time::{Duration, Instant};

use swapmeet_node::authoring::ListingDraft;
use swapmeet_node::network::local::{loopback_config, LocalNode};
use swapmeet_node::network::reach::ReachKind;
use swapmeet_node::network::sync::SyncRequest;
use swapmeet_node::network::NetworkConfig;
use swapmeet_node::search::SearchQuery;
use swapmeet_node::synth::Synth;
use swapmeet_node::{IngestOutcome, Source};
use swapmeet_protocol::{ListingId, SecretKey, WithdrawReason};
use tempfile::TempDir;

const BERLIN: (f64, f64) = (52.52, 13.405);
const MUNICH: (f64, f64) = (48.137, 11.575);
const DEADLINE: Duration = Duration::from_secs(60);

fn key(n: u8) -> SecretKey {
    SecretKey::from_bytes([n; 32])
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

struct Net {
    nodes: Vec<LocalNode>,
    _dirs: Vec<TempDir>,
}

impl Net {
    async fn start(homes: &[Option<(f64, f64)>], first_key: u8) -> Net {
        Net::start_with(homes, first_key, |_| {}).await
    }

    async fn start_with(
        homes: &[Option<(f64, f64)>],
        first_key: u8,
        tweak: impl Fn(&mut NetworkConfig),
    ) -> Net {
        let mut nodes = Vec::new();
        let mut dirs = Vec::new();
        for (i, home) in homes.iter().enumerate() {
            let dir = tempfile::tempdir().unwrap();
            let mut config = loopback_config(*home);
            tweak(&mut config);
            nodes.push(
                LocalNode::start(dir.path(), key(first_key + i as u8), config)
                    .await
                    .unwrap(),
            );
            dirs.push(dir);
        }
        Net { nodes, _dirs: dirs }
    }

    async fn link(&self, a: usize, b: usize) {
        self.nodes[a].connect(&self.nodes[b]).await.unwrap();
    }

    /// Waits until AutoNAT has confirmed every node public (a peer's dial-back reached it) and
    /// Kademlia has turned each into a server: before that a node answers no DHT query.
    async fn public(&self) {
        for node in &self.nodes {
            eventually("AutoNAT to confirm the node public", || async {
                let r = node.net().status().reachability;
                matches!(r.kind, ReachKind::Public { .. }) && r.kad_mode == "server"
            })
            .await;
        }
    }

    /// Waits until every node has at least `n` peers, then gives gossipsub a few heartbeats
    /// to build its meshes.
    async fn settle(&self, n: usize) {
        for node in &self.nodes {
            eventually("peers to connect", || async {
                node.net().connected_peers().await.unwrap().len() >= n
            })
            .await;
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }

    async fn stop(self) {
        for n in self.nodes {
            n.stop().await.unwrap();
        }
    }
}

fn draft(title: &str, price: &str, at: (f64, f64)) -> ListingDraft {
    ListingDraft {
        title: Some(title.into()),
        price: Some(price.into()),
        location: Some(format!("{},{}", at.0, at.1)),
        category: Some("bikes".into()),
        condition: Some("good".into()),
        pickup: Some(true),
        ..ListingDraft::default()
    }
}

fn search_hits(node: &LocalNode, text: &str) -> Vec<ListingId> {
    node.engine
        .search(&SearchQuery {
            text: Some(text.into()),
            ..SearchQuery::default()
        })
        .unwrap()
        .hits
        .into_iter()
        .map(|h| h.id)
        .collect()
}

fn seq_of(node: &LocalNode, id: &ListingId) -> Option<u64> {
    node.engine.get(id).unwrap().map(|r| r.seq)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn five_nodes_see_a_listing_its_update_and_its_withdrawal() {
    let net = Net::start(&[Some(BERLIN); 5], 1).await;
    // A line: 0 - 1 - 2 - 3 - 4, so the listing needs four hops to reach the far end.
    for i in 1..5 {
        net.link(i, i - 1).await;
    }
    net.settle(1).await;

    let seller = &net.nodes[0];
    let p = seller
        .author
        .create(&draft("Gazelle tandem bicycle", "250 EUR", BERLIN))
        .unwrap();
    let v1 = seller.engine.get(&p.id).unwrap().unwrap().envelope;
    for node in &net.nodes {
        eventually("the listing to be searchable everywhere", || async {
            search_hits(node, "tandem") == vec![p.id]
        })
        .await;
    }

    let draft2 = ListingDraft {
        price: Some("199 EUR".into()),
        ..ListingDraft::default()
    };
    let p2 = seller.author.update(&p.id, &draft2).unwrap().published;
    for node in &net.nodes {
        eventually("the update everywhere", || async {
            seq_of(node, &p.id) == Some(p2.seq)
        })
        .await;
    }
    let hit = net.nodes[4]
        .engine
        .search(&SearchQuery {
            text: Some("tandem".into()),
            ..SearchQuery::default()
        })
        .unwrap()
        .hits;
    assert_eq!(hit[0].summary.price_minor, Some(19_900));

    let w = seller.author.withdraw(&p.id, WithdrawReason::Sold).unwrap();
    for node in &net.nodes {
        eventually("the withdrawal everywhere", || async {
            seq_of(node, &p.id) == Some(w.seq) && search_hits(node, "tandem").is_empty()
        })
        .await;
    }

    // A first version, replayed late by a node in the middle, brings nothing back. (Another
    // signing of version 1, on its own cell's topic: the bytes of v1 itself gossipsub would
    // drop as already seen there, and on a topic it does not belong to they are rejected.)
    let swapmeet_protocol::Record::Listing(mut old) =
        swapmeet_protocol::decode_stored(&v1).unwrap().record
    else {
        panic!("v1 is a listing")
    };
    old.title.push_str(" (as first signed)");
    let cell = old.location.as_ref().unwrap().geohash.as_str()[..4].to_string();
    let old = old.sign(&key(1)).unwrap();
    let ignored_before = net.nodes[1].net().status().gossip.ignored;
    net.nodes[2]
        .net()
        .publish_raw(&cell, old.as_bytes().to_vec())
        .await
        .unwrap();
    eventually("the neighbours to ignore the stale version", || async {
        net.nodes[1].net().status().gossip.ignored > ignored_before
            || net.nodes[3].net().status().gossip.ignored > 0
    })
    .await;
    for node in &net.nodes {
        assert_eq!(seq_of(node, &p.id), Some(w.seq), "{} came back", p.id);
        assert!(search_hits(node, "tandem").is_empty());
    }
    net.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_that_joins_late_gets_a_thousand_listings_by_sync() {
    let net = Net::start(&[None, None], 20).await;
    let now = net.nodes[0].engine.now();
    let mut synth = Synth::new(42, 50, now);
    let envelopes: Vec<_> = (0..1000).map(|_| synth.signed()).collect();
    let out = net.nodes[0]
        .engine
        .ingest(envelopes, Source::Import)
        .unwrap();
    assert!(out
        .iter()
        .all(|o| matches!(o, IngestOutcome::Stored { .. })));
    net.nodes[0].engine.commit().unwrap();

    net.link(1, 0).await;
    let late = &net.nodes[1];
    eventually("the late node to have all 1,000", || async {
        late.engine.stats().records == 1000
    })
    .await;
    eventually("all 1,000 to be searchable", || async {
        let every = SearchQuery {
            exact_total: true,
            ..Default::default()
        };
        late.engine.search(&every).unwrap().total == 1000
    })
    .await;
    eventually("the sync to be reported", || async {
        late.net().status().syncs_completed >= 1
    })
    .await;
    let last = late.net().status().last_sync.unwrap();
    assert!(last.error.is_none(), "{last:?}");
    assert_eq!(last.progress["missing"], 1000);
    net.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_halves_of_a_partitioned_network_converge_when_healed() {
    // Records that arrive by sync are not gossiped again; the nodes beyond the healed link
    // get them from their own periodic sync, here every two seconds instead of minutes.
    let net = Net::start_with(&[None; 4], 30, |c| {
        c.sync_interval = Duration::from_secs(2);
    })
    .await;
    net.link(1, 0).await;
    net.link(3, 2).await;
    net.settle(1).await;
    // Halves {0, 1} and {2, 3} never connected; they block each other for good measure.
    let ids: Vec<_> = net.nodes.iter().map(|n| n.net().peer_id()).collect();
    for (a, b) in [(0, 2), (0, 3), (1, 2), (1, 3)] {
        net.nodes[a].net().block(ids[b]).await.unwrap();
        net.nodes[b].net().block(ids[a]).await.unwrap();
    }
    assert!(net.nodes[1].connect(&net.nodes[2]).await.is_err());

    let mut made = Vec::new();
    for (n, (what, at)) in [
        (0, ("Brompton folding bike", BERLIN)),
        (1, ("Cargo bike with box", BERLIN)),
        (2, ("Kids balance bike", MUNICH)),
        (3, ("Tandem for two", MUNICH)),
    ] {
        for i in 0..5 {
            let p = net.nodes[n]
                .author
                .create(&draft(&format!("{what} {i}"), "80 EUR", at))
                .unwrap();
            made.push(p.id);
        }
    }
    // Each half holds its own ten.
    for (n, expect) in [(0, 10), (1, 10), (2, 10), (3, 10)] {
        let node = &net.nodes[n];
        eventually("each half to hold its own listings", || async {
            node.engine.stats().records == expect
        })
        .await;
    }

    // Heal: unblock and connect the halves through one link.
    for (a, b) in [(0, 2), (0, 3), (1, 2), (1, 3)] {
        net.nodes[a].net().unblock(ids[b]).await.unwrap();
        net.nodes[b].net().unblock(ids[a]).await.unwrap();
    }
    net.link(1, 2).await;
    for node in &net.nodes {
        eventually("every node to hold all twenty", || async {
            node.engine.stats().records == 20
        })
        .await;
    }
    made.sort();
    for node in &net.nodes {
        let searchable = || {
            let mut have: Vec<_> = node
                .engine
                .search(&SearchQuery {
                    limit: Some(100),
                    ..SearchQuery::default()
                })
                .unwrap()
                .hits
                .into_iter()
                .map(|h| h.id)
                .collect();
            have.sort();
            have
        };
        eventually("all twenty to be searchable", || async {
            searchable().len() == 20
        })
        .await;
        assert_eq!(searchable(), made);
    }
    net.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forged_and_malformed_listings_are_dropped_and_the_sender_penalized() {
    let net = Net::start(&[Some(BERLIN); 3], 40).await;
    // 0 (the forger) - 1 - 2
    net.link(0, 1).await;
    net.link(2, 1).await;
    net.settle(1).await;

    let honest = net.nodes[0]
        .author
        .create(&draft("Honest city bike", "90 EUR", BERLIN))
        .unwrap();
    for node in &net.nodes {
        eventually("the honest listing everywhere", || async {
            node.engine.get(&honest.id).unwrap().is_some()
        })
        .await;
    }
    let good = net.nodes[0]
        .engine
        .get(&honest.id)
        .unwrap()
        .unwrap()
        .envelope;

    // A signature that does not verify, then bytes that are not an envelope at all.
    let mut forged = good.to_vec();
    let last = forged.len() - 1;
    forged[last] ^= 0x01;
    let mut tampered = good.to_vec();
    let mid = tampered.len() / 2;
    tampered[mid] ^= 0x20;
    let forger = &net.nodes[0];
    forger.net().publish_raw("u33d", forged).await.unwrap();
    forger.net().publish_raw("u33d", tampered).await.unwrap();
    forger
        .net()
        .publish_raw("u33d", b"not a listing at all".to_vec())
        .await
        .unwrap();

    // Peers find each other through the DHT too, so the far node may be connected to the
    // forger directly. Every node that got the bad messages rejected them and holds it against
    // the forger; none holds anything against another node (nobody forwarded them).
    let relay = &net.nodes[1];
    eventually("the relay to reject all three", || async {
        relay.net().status().gossip.rejected >= 3
    })
    .await;
    let forger_id = forger.net().peer_id();
    for node in &net.nodes[1..] {
        let rejected = node.net().status().gossip.rejected;
        if rejected > 0 {
            let score = node.net().peer_score(forger_id).await.unwrap().unwrap();
            assert!(score < 0.0, "the forger's score is {score}");
        }
        // The status is a snapshot refreshed every 500 ms and the peer list is read when
        // asked: they agree once the snapshot has caught up.
        eventually("the peer list to count the rejects", || async {
            let rejected = node.net().status().gossip.rejected;
            let peers = node.net().peers().await.unwrap();
            let from_forger: u64 = peers
                .iter()
                .filter(|p| p.peer_id == forger_id.to_string())
                .map(|p| p.rejected)
                .sum();
            from_forger == rejected
        })
        .await;
        for p in node.net().peers().await.unwrap() {
            if p.peer_id != forger_id.to_string() {
                assert_eq!(p.rejected, 0, "{} forwarded a bad message", p.peer_id);
            }
        }
        // Nothing was stored; the honest listing is untouched.
        assert_eq!(node.engine.stats().records, 1);
        assert_eq!(node.engine.get(&honest.id).unwrap().unwrap().envelope, good);
    }
    net.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_stores_only_the_areas_it_follows() {
    // 0 follows Berlin, 1 follows Munich, 2 follows everything; all connected.
    let net = Net::start(&[Some(BERLIN), Some(MUNICH), None], 50).await;
    net.link(1, 0).await;
    net.link(2, 0).await;
    net.link(2, 1).await;
    net.settle(2).await;

    let berlin = net.nodes[0]
        .author
        .create(&draft("Berlin road bike", "300 EUR", BERLIN))
        .unwrap();
    let munich = net.nodes[1]
        .author
        .create(&draft("Munich mountain bike", "400 EUR", MUNICH))
        .unwrap();
    let ships = net.nodes[0]
        .author
        .create(&ListingDraft {
            shipping: Some(true),
            ships_to: Some(vec!["DE".into()]),
            ..draft("Bike lights that ship", "20 EUR", BERLIN)
        })
        .unwrap();
    let everything = &net.nodes[2];
    eventually(
        "the node that follows everything to have all three",
        || async { everything.engine.stats().records == 3 },
    )
    .await;
    eventually("Munich to get the listing that ships", || async {
        net.nodes[1].engine.get(&ships.id).unwrap().is_some()
    })
    .await;
    eventually(
        "Berlin, the seller, to hold the listing that ships",
        || async { net.nodes[0].engine.get(&ships.id).unwrap().is_some() },
    )
    .await;
    // Sync on connect has run long ago; Munich never stored Berlin's local listing, and
    // Berlin never stored Munich's.
    net.nodes[1].net().sync_now().await.unwrap();
    net.nodes[0].net().sync_now().await.unwrap();
    for n in [0, 1] {
        let node = &net.nodes[n];
        eventually("the extra syncs to finish", || async {
            node.net().status().syncing.is_empty()
        })
        .await;
    }
    assert!(net.nodes[1].engine.get(&berlin.id).unwrap().is_none());
    assert!(net.nodes[0].engine.get(&munich.id).unwrap().is_none());
    assert_eq!(net.nodes[0].engine.stats().records, 2);
    assert_eq!(net.nodes[1].engine.stats().records, 2);
    let f = net.nodes[0].net().status().following.unwrap();
    assert!(f.cells.contains(&"u33d".to_string()) && f.shipping && !f.everything);
    net.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_listing_stays_retrievable_through_the_dht_after_its_seller_stops() {
    // 0: the seller (Berlin); 1-3: nodes that follow everything; 4: a node in Munich that
    // does not carry Berlin's listings.
    let mut net = Net::start(&[Some(BERLIN), None, None, None, Some(MUNICH)], 60).await;
    // Alone, a node does not know whether peers can dial it: a Kademlia client.
    eventually("a lone node to report its Kademlia mode", || async {
        let r = net.nodes[0].net().status().reachability;
        r.kind == ReachKind::Unknown && r.kad_mode == "client"
    })
    .await;
    for i in 1..5 {
        net.link(i, 0).await;
    }
    net.link(4, 1).await;
    net.link(2, 3).await;
    net.settle(1).await;
    net.public().await;

    let p = net.nodes[0]
        .author
        .create(&draft("Vintage Peugeot racer", "350 EUR", BERLIN))
        .unwrap();
    let envelope = net.nodes[0].engine.get(&p.id).unwrap().unwrap().envelope;
    for n in 1..4 {
        let node = &net.nodes[n];
        eventually("holders to keep the DHT record", || async {
            node.net().status().dht_records >= 1
        })
        .await;
    }
    let seller = net.nodes.remove(0);
    seller.stop().await.unwrap();

    let munich = &net.nodes[3];
    assert!(munich.engine.get(&p.id).unwrap().is_none());
    let found = munich.net().get_listing(p.id).await.unwrap();
    assert_eq!(found.as_deref(), Some(&envelope[..]));
    let unknown = ListingId::from_bytes([9; 16]);
    assert_eq!(munich.net().get_listing(unknown).await.unwrap(), None);
    // Peer routing: Munich finds where a node it never dialled listens.
    let target = net.nodes[2].net().peer_id();
    let listens = net.nodes[2].net().listen_addrs().await.unwrap();
    let found = munich.net().find_peer(target).await.unwrap();
    assert!(
        found.iter().any(|a| listens
            .iter()
            .any(|l| a.to_string().starts_with(&l.to_string()))),
        "{found:?} vs {listens:?}"
    );

    // A holder that restarts keeps its records (sled) and redials the peers it knew.
    let holder = net.nodes.remove(0);
    let dir = net._dirs[1].path().to_path_buf();
    holder.stop().await.unwrap();
    let again = LocalNode::start(&dir, key(61), loopback_config(None))
        .await
        .unwrap();
    eventually("the restarted holder to report its record", || async {
        again.net().status().dht_records >= 1
    })
    .await;
    eventually("the restarted holder to redial its peers", || async {
        !again.net().connected_peers().await.unwrap().is_empty()
    })
    .await;
    again.stop().await.unwrap();
    net.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_listing_published_while_alone_is_put_into_the_dht_once_a_peer_comes() {
    // 0: the seller, alone when it publishes; 1: a node that follows everything.
    let net = Net::start_with(&[Some(BERLIN), None], 70, |c| {
        c.dht_put_retry = Duration::from_secs(2);
    })
    .await;
    let (seller, holder) = (&net.nodes[0], &net.nodes[1]);
    let p = seller
        .author
        .create(&draft("Brompton folding bike", "900 EUR", BERLIN))
        .unwrap();
    // The first put finds nobody, and so does the first retry.
    eventually("the seller to retry its put", || async {
        seller.net().status().dht_puts.retried >= 1
    })
    .await;
    assert_eq!(seller.net().status().dht_puts.stored, 0);
    assert_eq!(holder.net().status().dht_records, 0);
    net.link(1, 0).await;
    eventually(
        "a later retry to put the record with the new peer",
        || async {
            holder.net().status().dht_records >= 1 && seller.net().status().dht_puts.stored >= 1
        },
    )
    .await;
    let envelope = seller.engine.get(&p.id).unwrap().unwrap().envelope;
    let found = holder.net().get_listing(p.id).await.unwrap();
    assert_eq!(found.as_deref(), Some(&envelope[..]));
    net.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nodes_talk_over_quic_too() {
    let dirs = [tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap()];
    let quic = |home| NetworkConfig {
        listen: vec!["/ip4/127.0.0.1/udp/0/quic-v1".parse().unwrap()],
        ..loopback_config(home)
    };
    let a = LocalNode::start(dirs[0].path(), key(70), quic(Some(BERLIN)))
        .await
        .unwrap();
    let b = LocalNode::start(dirs[1].path(), key(71), quic(Some(BERLIN)))
        .await
        .unwrap();
    assert!(a.addr().await.unwrap().to_string().contains("/quic-v1/"));
    b.connect(&a).await.unwrap();
    let p = a
        .author
        .create(&draft("Bike trailer for kids", "60 EUR", BERLIN))
        .unwrap();
    eventually("the listing over QUIC", || async {
        b.engine.get(&p.id).unwrap().is_some()
    })
    .await;
    a.stop().await.unwrap();
    b.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_peer_sending_garbage_sync_requests_is_cut_off() {
    let net = Net::start(&[None, None], 80).await;
    net.link(0, 1).await;
    let (bad, good) = (&net.nodes[0], &net.nodes[1]);
    let bad_id = bad.net().peer_id();
    // A reconcile message that negentropy cannot parse, three times.
    for _ in 0..3 {
        bad.net()
            .sync_raw(
                good.net().peer_id(),
                SyncRequest::Reconcile {
                    areas: vec!["all".into()],
                    message: vec![0x61, 0x00, 0x00, 0x01],
                },
            )
            .await
            .unwrap();
    }
    eventually("the good node to cut the bad one off", || async {
        !good
            .net()
            .connected_peers()
            .await
            .unwrap()
            .contains(&bad_id)
    })
    .await;
    // And it stays cut off: a new connection from it is refused by the good node.
    let good_id = good.net().peer_id();
    let _ = bad.connect(good).await;
    eventually("the refused connection to close", || async {
        !bad.net()
            .connected_peers()
            .await
            .unwrap()
            .contains(&good_id)
    })
    .await;
    assert!(!good
        .net()
        .connected_peers()
        .await
        .unwrap()
        .contains(&bad_id));
    net.stop().await;
}
