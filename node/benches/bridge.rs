//! Bridge benchmark: a 10,000-item Magento export, made by scaling the real one in
//! `../shared/feeds/` (each copy renames every SKU), synced twice: the first run (parse, sign,
//! ingest, index) and an unchanged re-run (parse and compare only).
//! Run: `cargo bench -p swapmeet-node --bench bridge`.

use std::time::Instant;

use swapmeet_feeds::{parse_with, Format, ParseOptions};
use swapmeet_node::authoring::Author;
use swapmeet_node::bridge::{Bridge, BridgeOptions};
use swapmeet_node::{Engine, EngineConfig};
use swapmeet_protocol::{Currency, SecretKey};

const TARGET_ITEMS: usize = 10_000;

fn scaled_export() -> (Vec<u8>, usize) {
    let path = format!(
        "{}/../../shared/feeds/magento_luma_products.csv",
        env!("CARGO_MANIFEST_DIR")
    );
    let mut r = csv::Reader::from_path(&path).unwrap();
    let headers = r.headers().unwrap().clone();
    let col = |name: &str| headers.iter().position(|h| h == name).unwrap();
    let (sku, kind, variations, url) = (
        col("sku"),
        col("product_type"),
        col("configurable_variations"),
        col("url_key"),
    );
    let records: Vec<csv::StringRecord> = r.records().map(Result::unwrap).collect();
    let simple = records.iter().filter(|r| &r[kind] == "simple").count();
    let copies = TARGET_ITEMS.div_ceil(simple);
    let mut w = csv::Writer::from_writer(Vec::new());
    w.write_record(&headers).unwrap();
    let mut items = 0;
    'copies: for c in 0..copies {
        for rec in &records {
            if &rec[kind] == "simple" && items == TARGET_ITEMS {
                break 'copies;
            }
            let fields: Vec<String> = rec
                .iter()
                .enumerate()
                .map(|(i, f)| {
                    if i == sku || i == url {
                        format!("{f}-c{c}")
                    } else if i == variations && !f.is_empty() {
                        f.split('|')
                            .map(|v| {
                                v.split(',')
                                    .map(|kv| match kv.strip_prefix("sku=") {
                                        Some(s) => format!("sku={s}-c{c}"),
                                        None => kv.to_string(),
                                    })
                                    .collect::<Vec<_>>()
                                    .join(",")
                            })
                            .collect::<Vec<_>>()
                            .join("|")
                    } else {
                        f.to_string()
                    }
                })
                .collect();
            if &rec[kind] == "simple" {
                items += 1;
            }
            w.write_record(&fields).unwrap();
        }
    }
    (w.into_inner().unwrap(), items)
}

fn main() {
    let (bytes, n) = scaled_export();
    println!(
        "# bridge benchmark: Magento export scaled to {n} items ({:.1} MiB)",
        bytes.len() as f64 / 1048576.0
    );
    let dir = tempfile::tempdir().unwrap();
    let (engine, _) = Engine::open(dir.path(), EngineConfig::default()).unwrap();
    let author = Author::new(
        SecretKey::from_bytes([3; 32]),
        Currency::new("USD").unwrap(),
        Some((52.52, 13.405)),
        engine.clone(),
    );
    let bridge = Bridge::new(author).unwrap();
    let opts = ParseOptions {
        default_currency: Some(Currency::new("USD").unwrap()),
    };
    for run in ["first run", "unchanged re-run"] {
        let start = Instant::now();
        let feed = parse_with(&bytes, Format::MagentoCsv, &opts).unwrap();
        let parsed = start.elapsed();
        let report = bridge.sync(&feed, &BridgeOptions::default()).unwrap();
        let took = start.elapsed();
        println!(
            "| {run} | {:.2} s | parse {:.2} s | {} created, {} updated, {} unchanged, {} published |",
            took.as_secs_f64(),
            parsed.as_secs_f64(),
            report.created.len(),
            report.updated.len(),
            report.unchanged,
            report.published()
        );
    }
    engine.shutdown().unwrap();
}
