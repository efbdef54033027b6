//! What the tests of nodes on loopback (`network::local::LocalNode`) share: waiting for a
//! condition, a plain listing in Berlin, and nodes that follow Berlin.

use std::future::Future;
use std::time::{Duration, Instant};

use swapmeet_node::network::local::{loopback_config, LocalNode};
use swapmeet_protocol::{
    geo, Category, Condition, Currency, Delivery, Listing, Location, Price, SecretKey,
};
use tempfile::TempDir;

/// Where the test listings are.
pub const BERLIN: (f64, f64) = (52.52, 13.405);
/// How long a condition may take on a loaded CI machine before the test gives up.
pub const DEADLINE: Duration = Duration::from_secs(90);

/// Waits until `check` holds, polling every 50 ms; fails naming `what` after [`DEADLINE`].
pub async fn eventually<F, Fut>(what: &str, mut check: F)
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

/// A 1 EUR listing titled `title`, picked up in Berlin, signed 10 s before `now`, for a week.
pub fn berlin_listing(item: &str, title: &str, now: u64) -> Listing {
    Listing {
        item_key: item.into(),
        seq: 1,
        signed_at: now - 10,
        expires_at: now + 7 * 86_400,
        title: title.into(),
        description: String::new(),
        price: Price::Fixed {
            amount_minor: 100,
            currency: Currency::new("EUR").unwrap(),
        },
        condition: Condition::New,
        category: Category::Other,
        tags: vec![],
        quantity: 1,
        location: Some(Location {
            geohash: geo::encode(BERLIN.0, BERLIN.1, 6),
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
}

/// `n` nodes following Berlin on loopback, keyed `[first_key + i; 32]`, that sync only when the
/// test asks (or on connecting), so what reaches a node is the test's doing; not connected.
pub async fn berlin_nodes(n: u8, first_key: u8) -> (Vec<LocalNode>, Vec<TempDir>) {
    let mut nodes = Vec::new();
    let mut dirs = Vec::new();
    for i in 0..n {
        let dir = tempfile::tempdir().unwrap();
        let mut config = loopback_config(Some(BERLIN));
        config.sync_interval = Duration::from_secs(3600);
        nodes.push(
            LocalNode::start(
                dir.path(),
                SecretKey::from_bytes([first_key + i; 32]),
                config,
            )
            .await
            .unwrap(),
        );
        dirs.push(dir);
    }
    (nodes, dirs)
}
