//! Durability benchmark (issue 16 section 3): what acknowledging only durable writes costs.
//!
//! For each sync mode, `fdatasync` (what the node does: sled's flush, then fdatasync of what
//! it wrote) against `flush-only` (what it did before: sled's `sync_file_range`, with the real
//! fsync up to 500 ms later):
//! 1. one sell at a time (`Author::create`, which returns only once the write is durable):
//!    mean and p99 per sell over `SELLS`;
//! 2. 8 sellers at once, `SELLS` in all: sells per second, and the syncs they shared;
//! 3. a bridge run: the real Magento export in `../shared/feeds/` (first run: every item
//!    created and published in batches, each batch acknowledged once durable).
//!
//! The store lives in a temporary folder under `SWAPMEET_BENCH_DIR` (default: the system's
//! temp folder); point it at the disk a node would use, since tmpfs makes every sync free.
//! Run: `cargo bench -p swapmeet-node --bench durability`.

use std::sync::Arc;
use std::time::{Duration, Instant};

use swapmeet_feeds::{parse_with, Format, ParseOptions};
use swapmeet_node::authoring::{Author, ListingDraft};
use swapmeet_node::bridge::{Bridge, BridgeOptions};
use swapmeet_node::store::{StoreConfig, SyncMode};
use swapmeet_node::{Engine, EngineConfig};
use swapmeet_protocol::{Currency, SecretKey};

/// Sells per measurement: enough for a stable p99 of a few-millisecond operation.
const SELLS: usize = 400;
/// Concurrent sellers in the second part.
const WRITERS: usize = 8;

fn open(mode: SyncMode) -> (tempfile::TempDir, Engine, Author) {
    let dir = match std::env::var_os("SWAPMEET_BENCH_DIR") {
        Some(d) => tempfile::tempdir_in(d),
        None => tempfile::tempdir(),
    }
    .unwrap();
    let config = EngineConfig {
        store: StoreConfig {
            sync: mode,
            ..StoreConfig::default()
        },
        ..EngineConfig::default()
    };
    let (engine, _) = Engine::open(dir.path(), config).unwrap();
    let author = Author::new(
        SecretKey::from_bytes([3; 32]),
        Currency::new("EUR").unwrap(),
        Some((52.52, 13.405)),
        engine.clone(),
    );
    (dir, engine, author)
}

fn draft(n: usize) -> ListingDraft {
    ListingDraft {
        title: Some(format!("Road bike number {n}")),
        description: Some("Aluminium frame, new tyres, serviced last month.".into()),
        price: Some(format!("{}", 100 + n % 400)),
        condition: Some("good".into()),
        category: Some("bikes".into()),
        tags: Some(vec!["road".into(), "bike".into()]),
        ..ListingDraft::default()
    }
}

fn single(mode: SyncMode) -> (Duration, Duration) {
    let (_dir, engine, author) = open(mode);
    let mut took = Vec::with_capacity(SELLS);
    for n in 0..SELLS {
        let start = Instant::now();
        author.create(&draft(n)).unwrap();
        took.push(start.elapsed());
    }
    engine.shutdown().unwrap();
    let mean = took.iter().sum::<Duration>() / SELLS as u32;
    took.sort();
    (mean, took[SELLS * 99 / 100])
}

fn concurrent(mode: SyncMode) -> (f64, u64) {
    let (_dir, engine, author) = open(mode);
    let author = Arc::new(author);
    let syncs = engine.store().durability().completed();
    let start = Instant::now();
    let threads: Vec<_> = (0..WRITERS)
        .map(|w| {
            let author = author.clone();
            std::thread::spawn(move || {
                for n in (w..SELLS).step_by(WRITERS) {
                    author.create(&draft(n)).unwrap();
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    let rate = SELLS as f64 / start.elapsed().as_secs_f64();
    let syncs = engine.store().durability().completed() - syncs;
    engine.shutdown().unwrap();
    (rate, syncs)
}

fn bridge_run(mode: SyncMode, export: &[u8]) -> (Duration, usize) {
    let (_dir, engine, author) = open(mode);
    let bridge = Bridge::new(author).unwrap();
    let opts = ParseOptions {
        default_currency: Some(Currency::new("EUR").unwrap()),
    };
    let start = Instant::now();
    let feed = parse_with(export, Format::MagentoCsv, &opts).unwrap();
    let report = bridge.sync(&feed, &BridgeOptions::default()).unwrap();
    let took = start.elapsed();
    engine.shutdown().unwrap();
    (took, report.published())
}

fn main() {
    let export = std::fs::read(format!(
        "{}/../../shared/feeds/magento_luma_products.csv",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap();
    println!("# durability benchmark: {SELLS} sells per row");
    println!(
        "| mode | sell mean | sell p99 | {WRITERS} sellers: sells/s (syncs) | bridge run (items) |"
    );
    println!("|---|---|---|---|---|");
    for (name, mode) in [
        ("fdatasync", SyncMode::Fdatasync),
        ("flush-only", SyncMode::FlushOnly),
    ] {
        let (mean, p99) = single(mode);
        let (rate, syncs) = concurrent(mode);
        let (bridge, items) = bridge_run(mode, &export);
        println!(
            "| {name} | {:.2} ms | {:.2} ms | {rate:.0} ({syncs}) | {:.2} s ({items}) |",
            mean.as_secs_f64() * 1e3,
            p99.as_secs_f64() * 1e3,
            bridge.as_secs_f64()
        );
    }
}
