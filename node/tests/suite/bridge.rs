//! The retailer bridge on the real exports in `../shared/feeds/`: exact counts, a second run
//! publishes nothing, one edited price updates one listing, one deleted row withdraws one, the
//! withdrawal guard, the dry-run promise, broken rows, and out-of-stock round trips.

use swapmeet_feeds::{detect, parse_with, Feed, ParseOptions};
use swapmeet_node::authoring::Author;
use swapmeet_node::bridge::{Bridge, BridgeOptions, BridgeReport};
use swapmeet_node::search::SearchQuery;
use swapmeet_node::{Engine, EngineConfig};
use swapmeet_protocol::{Currency, SecretKey};

fn shared(name: &str) -> String {
    let path = format!("{}/../../shared/feeds/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn feed(text: &str) -> Feed {
    let format = detect(text.as_bytes()).unwrap();
    parse_with(
        text.as_bytes(),
        format,
        &ParseOptions {
            default_currency: Some(Currency::new("USD").unwrap()),
        },
    )
    .unwrap()
}

struct Shop {
    _dir: tempfile::TempDir,
    engine: Engine,
    bridge: Bridge,
}

fn shop() -> Shop {
    let dir = tempfile::tempdir().unwrap();
    let (engine, _) = Engine::open(dir.path(), EngineConfig::default()).unwrap();
    let author = Author::new(
        SecretKey::from_bytes([7; 32]),
        Currency::new("USD").unwrap(),
        Some((52.52, 13.405)),
        engine.clone(),
    );
    let bridge = Bridge::new(author).unwrap();
    Shop {
        _dir: dir,
        engine,
        bridge,
    }
}

impl Shop {
    fn sync(&self, text: &str, opts: &BridgeOptions) -> BridgeReport {
        self.bridge.sync(&feed(text), opts).unwrap()
    }
    fn live(&self) -> usize {
        self.engine.commit().unwrap();
        self.engine
            .search(&SearchQuery {
                limit: Some(100),
                exact_total: true,
                ..Default::default()
            })
            .unwrap()
            .total
    }
}

#[test]
fn shopify_export_round_trips() {
    let s = shop();
    let text = shared("shopify_packt_products.csv");
    let first = s.sync(&text, &BridgeOptions::default());
    // 21 rows, 20 products: the gloves in two colours are one listing with two variants.
    assert_eq!(first.created.len(), 20);
    assert_eq!(first.skipped.len(), 0);
    assert_eq!(s.live(), 20);

    let again = s.sync(&text, &BridgeOptions::default());
    assert_eq!(
        again.published(),
        0,
        "an unchanged feed publishes nothing: {again:?}"
    );
    assert_eq!(again.unchanged, 20);

    // Edit one price.
    let edited = text.replacen(",69.99,", ",64.99,", 1);
    assert_ne!(edited, text);
    let r = s.sync(&edited, &BridgeOptions::default());
    assert_eq!(r.updated.len(), 1, "{r:?}");
    assert_eq!(r.published(), 1);

    // Delete one product's row (floor-lamp has exactly one).
    let removed: String = edited
        .lines()
        .filter(|l| !l.starts_with("floor-lamp,"))
        .collect::<Vec<_>>()
        .join("\n");
    let r = s.sync(&removed, &BridgeOptions::default());
    assert_eq!(r.withdrawn.len(), 1, "{r:?}");
    assert_eq!(r.published(), 1);
    assert_eq!(s.live(), 19);
}

#[test]
fn woocommerce_and_magento_exports() {
    let s = shop();
    let r = s.sync(
        &shared("woocommerce_sample_products.csv"),
        &BridgeOptions::default(),
    );
    // 10 simple/external products and 2 variable ones (their 9 variations are variants).
    assert_eq!(r.created.len(), 12);
    assert_eq!(r.skipped.len(), 2);
    assert!(r
        .skipped
        .iter()
        .all(|k| k.reason.contains("virtual/downloadable") && k.row > 0));
    assert_eq!(
        s.sync(
            &shared("woocommerce_sample_products.csv"),
            &BridgeOptions::default()
        )
        .published(),
        0
    );

    let m = shop();
    let text = shared("magento_luma_products.csv");
    let r = m.sync(&text, &BridgeOptions::default());
    // 147 configurable products, their 1,847 children as variants.
    assert_eq!(r.created.len(), 147);
    assert!(r.skipped.is_empty());
    let r = m.sync(&text, &BridgeOptions::default());
    assert_eq!(r.published(), 0);
    assert_eq!(r.unchanged, 147);
}

#[test]
fn a_truncated_feed_does_not_withdraw_the_shop() {
    let s = shop();
    let text = shared("shopify_packt_products.csv");
    s.sync(&text, &BridgeOptions::default());
    let header_only = text.lines().next().unwrap().to_string();
    let r = s.sync(&header_only, &BridgeOptions::default());
    assert!(r.withdrawn.is_empty());
    let why = r.withdrawals_refused.unwrap();
    assert!(why.contains("20") && why.contains("--force"), "{why}");
    assert_eq!(s.live(), 20);
    // An export that lost 9 of 20 items is within the 50% guard.
    let mut half = feed(&text);
    half.items.truncate(11);
    let r = s.bridge.sync(&half, &BridgeOptions::default()).unwrap();
    assert_eq!(r.withdrawn.len(), 9, "{r:?}");
    let r = s.sync(
        &header_only,
        &BridgeOptions {
            force: true,
            ..Default::default()
        },
    );
    assert_eq!(r.withdrawn.len(), 11);
    assert_eq!(s.live(), 0);
}

#[test]
fn dry_run_publishes_nothing() {
    let s = shop();
    let text = shared("woocommerce_sample_products.csv");
    let dry = s.sync(
        &text,
        &BridgeOptions {
            dry_run: true,
            ..Default::default()
        },
    );
    assert!(dry.dry_run);
    assert_eq!(dry.created.len(), 12);
    assert_eq!(
        s.engine.store().stats().records,
        0,
        "a dry run stores nothing"
    );
    let real = s.sync(&text, &BridgeOptions::default());
    assert_eq!(real.created.len(), 12, "the dry run left no state behind");
}

#[test]
fn broken_rows_are_skipped_and_stock_round_trips() {
    let s = shop();
    let text = std::fs::read_to_string(format!(
        "{}/../feeds/tests/fixtures/shopify_2024.csv",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap();
    let r = s.sync(&text, &BridgeOptions::default());
    // The sweater is listed (small in stock, medium not); the archived lamp is not; the
    // broken price row is skipped with its row number.
    assert_eq!(r.created.len(), 1, "{r:?}");
    assert_eq!(r.out_of_stock, 1);
    assert_eq!(r.skipped.len(), 1);
    assert_eq!(r.skipped[0].row, 6);
    assert!(r.skipped[0].reason.contains("price"));
    // Small sells out, so every size is out of stock: withdrawn. Back in stock: listed again.
    let sold_out = text.replacen("shopify,3,DENY", "shopify,0,DENY", 1);
    let r = s.sync(&sold_out, &BridgeOptions::default());
    assert_eq!(r.withdrawn.len(), 1, "{r:?}");
    let r = s.sync(&text, &BridgeOptions::default());
    assert_eq!(r.relisted.len(), 1, "{r:?}");
    assert_eq!(s.live(), 1);
}

/// The variants of the sweater (size, quantity) as the store holds its listing.
fn sweater_sizes(s: &Shop) -> Vec<(String, u32)> {
    let id = swapmeet_protocol::ListingId::derive(
        &SecretKey::from_bytes([7; 32]).public(),
        "shopify:wool-sweater",
    );
    let v = s.engine.get_verified(&id).unwrap().unwrap();
    let swapmeet_protocol::Record::Listing(l) = v.payload() else {
        panic!("the sweater is withdrawn")
    };
    l.variants
        .iter()
        .map(|v| (v.options[0].value.clone(), v.quantity))
        .collect()
}

#[test]
fn selling_out_one_size_updates_the_listing_and_all_sizes_withdraw_it() {
    let s = shop();
    let text = std::fs::read_to_string(format!(
        "{}/../feeds/tests/fixtures/shopify_2024.csv",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap();
    // Both sizes in stock: S 3, M 2.
    let both = text.replacen("shopify,0,DENY", "shopify,2,DENY", 1);
    assert_ne!(both, text);
    let r = s.sync(&both, &BridgeOptions::default());
    assert_eq!(r.created.len(), 1, "{r:?}");
    assert_eq!(sweater_sizes(&s), [("S".into(), 3), ("M".into(), 2)]);
    // Small sells out: a new version with S at 0, still listed.
    let small_gone = both.replacen("shopify,3,DENY", "shopify,0,DENY", 1);
    let r = s.sync(&small_gone, &BridgeOptions::default());
    assert_eq!(r.updated.len(), 1, "{r:?}");
    assert!(r.withdrawn.is_empty(), "{r:?}");
    assert_eq!(sweater_sizes(&s), [("S".into(), 0), ("M".into(), 2)]);
    assert_eq!(s.live(), 1);
    // Medium sells out too: nothing left, the listing is withdrawn.
    let all_gone = small_gone.replacen("shopify,2,DENY", "shopify,0,DENY", 1);
    let r = s.sync(&all_gone, &BridgeOptions::default());
    assert_eq!(r.withdrawn.len(), 1, "{r:?}");
    assert_eq!(s.live(), 0);
}
