//! What the tests of nodes on loopback (`network::local::LocalNode`) share: waiting for a
//! condition, and a plain listing in Berlin.

use std::future::Future;
use std::time::{Duration, Instant};

use swapmeet_protocol::{geo, Category, Condition, Currency, Delivery, Listing, Location, Price};

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
