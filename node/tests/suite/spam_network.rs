//! The spam limits between real nodes: a spamming key's excess is neither stored nor relayed by
//! the middle node of a chain of three, while its paid-for listing and others' listings pass.

use std::time::Duration;

use swapmeet_node::{IngestOutcome, Source};
use swapmeet_protocol::limits::FREE_LISTINGS_PER_KEY;
use swapmeet_protocol::{geo, Listing, ListingId, SecretKey, Stamp};

use crate::local_support;
use local_support::{berlin_listing, berlin_nodes, eventually, BERLIN};

fn listing(item: &str, now: u64) -> Listing {
    berlin_listing(item, &format!("Spam offer {item}"), now)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_middle_node_neither_stores_nor_relays_a_spammers_excess() {
    let (nodes, _dirs) = berlin_nodes(3, 60).await;
    // 0 (the spammer's relay, publishing raw) - 1 (the middle) - 2. The ends block each
    // other, or they would find each other through the DHT and skip the middle.
    let (id0, id2) = (nodes[0].net().peer_id(), nodes[2].net().peer_id());
    nodes[0].net().block(id2).await.unwrap();
    nodes[2].net().block(id0).await.unwrap();
    nodes[0].connect(&nodes[1]).await.unwrap();
    nodes[2].connect(&nodes[1]).await.unwrap();
    for n in &nodes {
        eventually("peers to connect", || async {
            !n.net().connected_peers().await.unwrap().is_empty()
        })
        .await;
        eventually("the first sync to finish", || async {
            n.net().status().syncs_completed >= 1
        })
        .await;
    }
    // Gossipsub meshes form over a few heartbeats (200 ms each here).
    tokio::time::sleep(Duration::from_secs(1)).await;

    // The spammer's key has used up its free allowance on the middle node (as it would after
    // earlier floods); these arrived from a peer, so the middle node does not re-publish them.
    let spammer = SecretKey::from_bytes([99; 32]);
    let now = nodes[1].engine.now();
    let earlier: Vec<_> = (0..FREE_LISTINGS_PER_KEY)
        .map(|n| listing(&format!("old-{n}"), now).sign(&spammer).unwrap())
        .collect();
    let out = nodes[1]
        .engine
        .ingest(earlier, Source::Peer("earlier".into()))
        .unwrap();
    assert!(out
        .iter()
        .all(|o| matches!(o, IngestOutcome::Stored { .. })));
    assert_eq!(nodes[2].engine.stats().records, 0);

    let cell = geo::encode(BERLIN.0, BERLIN.1, 4);
    let ignored_before = nodes[1].net().status().gossip.ignored;
    // The excess, published raw (the spammer's node does not apply the rules).
    let excess: Vec<ListingId> = (0..5)
        .map(|n| listing(&format!("new-{n}"), now).id(&spammer.public()))
        .collect();
    for n in 0..5 {
        let env = listing(&format!("new-{n}"), now).sign(&spammer).unwrap();
        nodes[0]
            .net()
            .publish_raw(cell.as_str(), env.as_bytes().to_vec())
            .await
            .unwrap();
    }
    eventually("the middle node to judge the excess", || async {
        nodes[1].net().status().gossip.ignored >= ignored_before + 5
    })
    .await;
    // One paid-for listing of the same key, and one of an honest seller: both pass the chain.
    let mut paid = listing("paid", now);
    let paid_id = paid.id(&spammer.public());
    paid.stamp = Some(Stamp::mint(&spammer.public(), &paid_id, FREE_LISTINGS_PER_KEY).unwrap());
    let honest_key = SecretKey::from_bytes([98; 32]);
    let honest = listing("honest", now);
    let honest_id = honest.id(&honest_key.public());
    for env in [
        paid.sign(&spammer).unwrap(),
        honest.sign(&honest_key).unwrap(),
    ] {
        nodes[0]
            .net()
            .publish_raw(cell.as_str(), env.as_bytes().to_vec())
            .await
            .unwrap();
    }
    eventually(
        "the paid and the honest listing to reach the far node",
        || async {
            nodes[2].engine.get(&paid_id).unwrap().is_some()
                && nodes[2].engine.get(&honest_id).unwrap().is_some()
        },
    )
    .await;
    for id in &excess {
        assert!(nodes[1].engine.get(id).unwrap().is_none(), "stored {id}");
        assert!(nodes[2].engine.get(id).unwrap().is_none(), "relayed {id}");
    }
    // Only what was relayed reached the far node; the middle node was not penalized for
    // anything (ignored, not rejected).
    assert_eq!(nodes[2].engine.stats().records, 2);
    assert_eq!(nodes[1].net().status().gossip.rejected, 0);
    for n in nodes {
        n.stop().await.unwrap();
    }
}
