//! The topic rule with real nodes: a valid listing replayed on another area's topic is
//! rejected (not stored, not relayed, a penalty in the sender's score), and the rejection says
//! why, in the peers view the API serves.
//!
//! Every wait has an overall deadline (`eventually`); nothing asserts a duration.

use swapmeet_node::network::local::{loopback_config, LocalNode};
use swapmeet_protocol::{
    Category, Condition, Delivery, GeoHash, Listing, Location, Price, SecretKey,
};
use tempfile::TempDir;

use crate::local_support;
use local_support::{eventually, BERLIN};

async fn node(n: u8, home: Option<(f64, f64)>) -> (LocalNode, TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let node = LocalNode::start(
        dir.path(),
        SecretKey::from_bytes([n; 32]),
        loopback_config(home),
    )
    .await
    .unwrap();
    (node, dir)
}

/// A listing in Berlin's cell `u33d` that does not ship, signed by a third key.
fn berlin_listing(now: u64) -> Vec<u8> {
    Listing {
        item_key: "lamp".into(),
        seq: 1,
        signed_at: now,
        expires_at: now + 3600,
        title: "Desk lamp".into(),
        description: String::new(),
        price: Price::Free,
        condition: Condition::Good,
        category: Category::Other,
        tags: vec![],
        quantity: 1,
        location: Some(Location {
            geohash: GeoHash::new("u33dc0").unwrap(),
            place: None,
        }),
        delivery: Delivery {
            pickup: true,
            shipping: false,
            ships_to: vec![],
        },
        images: vec![],
        variants: vec![],
        stamp: None,
    }
    .sign(&SecretKey::from_bytes([99; 32]))
    .unwrap()
    .into_bytes()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_valid_listing_replayed_on_another_areas_topic_is_rejected_with_its_reason() {
    let (victim, _d1) = node(41, Some(BERLIN)).await;
    let (replayer, _d2) = node(42, None).await;
    replayer.connect(&victim).await.unwrap();
    let replayer_id = replayer.net().peer_id().to_string();
    let following = victim.net().status().following.unwrap();
    assert!(following.cells.contains(&"u33d".to_string()));
    // Another cell the victim follows: the listing does not belong on its topic.
    let other = following
        .cells
        .iter()
        .find(|c| *c != "u33d")
        .unwrap()
        .clone();
    let bytes = berlin_listing(victim.engine.now());

    // The replayer's publication fails until it has seen the victim's subscriptions.
    eventually("the replayer to publish on the other cell's topic", || {
        let (h, b, t) = (replayer.net().clone(), bytes.clone(), other.clone());
        async move { h.publish_raw(&t, b).await.is_ok() }
    })
    .await;
    eventually("the victim to reject the replay", || async {
        victim
            .net()
            .peers()
            .await
            .unwrap()
            .iter()
            .any(|p| p.peer_id == replayer_id && p.rejected >= 1)
    })
    .await;
    let peer = victim
        .net()
        .peers()
        .await
        .unwrap()
        .into_iter()
        .find(|p| p.peer_id == replayer_id)
        .unwrap();
    let r = &peer.rejections[0];
    assert_eq!(r.class, "wrong_topic", "{r:?}");
    assert_eq!(r.topic, format!("/swapmeet/listings/1/{other}"));
    assert_eq!(
        r.reason,
        format!("topic: a record of u33d, all does not belong on the topic of {other}")
    );
    // Not stored from that message, and counted against the sender.
    assert_eq!(victim.engine.stats().records, 0);
    let score = victim
        .net()
        .peer_score(replayer.net().peer_id())
        .await
        .unwrap()
        .unwrap();
    assert!(score < 0.0, "score {score}");

    // The same bytes on the listing's own topic are a valid listing: stored.
    replayer.net().publish_raw("u33d", bytes).await.unwrap();
    eventually(
        "the victim to store the listing from its own topic",
        || async { victim.engine.stats().records == 1 },
    )
    .await;
    // The status is a snapshot refreshed every 500 ms: it catches up with the peers list.
    eventually("the status to count the one rejection", || async {
        victim.net().status().gossip.rejected == 1
    })
    .await;
    replayer.stop().await.unwrap();
    victim.stop().await.unwrap();
}
