//! What the spam limits cost: proof-of-work stamps for a shop and for a spammer, and ingest
//! with the spam checks against the machine's own limit (batched ed25519 verification alone on
//! every core), measured in one run. Run: `cargo bench -p swapmeet-node --bench spam`.
//!
//! `SWAPMEET_BENCH_SHOP=10000` sets the shop's catalogue; `SWAPMEET_BENCH_INGEST=200000` the
//! ingest corpus (deterministic, `swapmeet_node::synth`).

use std::time::{Duration, Instant};

// The allocator the `swapmeet` binary uses, so the figures are the product's.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

use swapmeet_node::allowance::{Allowance, Place};
use swapmeet_node::synth::signed_corpus;
use swapmeet_node::{Engine, EngineConfig, Source};
use swapmeet_protocol::limits::{FREE_LISTINGS_PER_KEY, MAX_LISTINGS_PER_KEY};
use swapmeet_protocol::stamp::required_bits;
use swapmeet_protocol::{verify_batch, ListingId, Record, SecretKey, SignedEnvelope, Stamp};

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

fn cpu_model() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split(':').nth(1))
                .map(|m| m.trim().to_string())
        })
        .unwrap_or_else(|| "unknown CPU".into())
}

/// Expected hashes to stamp slots `from..to` of one key.
fn expected_hashes(from: u32, to: u32) -> f64 {
    (from.max(FREE_LISTINGS_PER_KEY)..to)
        .map(|s| 2f64.powi(required_bits(s) as i32))
        .sum()
}

/// Verifies on every core, as ingest does, and nothing else: the machine's limit.
fn verify_all(envs: &[SignedEnvelope], now: u64) -> Duration {
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let start = Instant::now();
    for batch in envs.chunks(4096) {
        let per = batch.len().div_ceil(threads);
        std::thread::scope(|s| {
            for part in batch.chunks(per) {
                s.spawn(move || {
                    let out = verify_batch(part.to_vec(), now);
                    assert!(out.iter().all(Result::is_ok));
                });
            }
        });
    }
    start.elapsed()
}

fn ingest_all(engine: &Engine, envs: Vec<SignedEnvelope>) -> Duration {
    let start = Instant::now();
    let mut rest = envs;
    while !rest.is_empty() {
        let tail = rest.split_off(rest.len().min(4096));
        let batch = std::mem::replace(&mut rest, tail);
        engine.ingest(batch, Source::Import).unwrap();
    }
    engine.commit().unwrap();
    start.elapsed()
}

fn main() {
    // As the binary runs: mimalloc hands freed memory back at once.
    swapmeet_node::allocator::purge_promptly_or_say();
    let shop = env_usize("SWAPMEET_BENCH_SHOP", 10_000) as u32;
    let ingest_n = env_usize("SWAPMEET_BENCH_INGEST", 200_000);
    let t = now();
    println!("# swapmeet spam-limit benchmark");
    println!(
        "machine: {} cores, {}",
        std::thread::available_parallelism().map_or(0, |p| p.get()),
        cpu_model()
    );

    // 1. A shop's catalogue: every item beyond the free allowance gets a stamp, minted on one
    // core (as the bridge does).
    let key = SecretKey::from_bytes([5; 32]).public();
    let start = Instant::now();
    for slot in FREE_LISTINGS_PER_KEY..shop.max(FREE_LISTINGS_PER_KEY) {
        let id = ListingId::derive(&key, &format!("sku-{slot}"));
        Stamp::mint(&key, &id, slot).unwrap();
    }
    let took = start.elapsed().as_secs_f64();
    let shop_hashes = expected_hashes(FREE_LISTINGS_PER_KEY, shop);
    let rate = shop_hashes / took;
    println!(
        "shop of {shop} items: {} stamps in {took:.2} s on one core (expected {:.1} M hashes; measured {:.1} M hashes/s)",
        shop.saturating_sub(FREE_LISTINGS_PER_KEY),
        shop_hashes / 1e6,
        rate / 1e6
    );

    // 2. A spammer's 1,000,000 listings, at that hash rate.
    let full_key = expected_hashes(FREE_LISTINGS_PER_KEY, MAX_LISTINGS_PER_KEY);
    println!(
        "one key filled to {MAX_LISTINGS_PER_KEY}: {:.1} G hashes = {:.0} core-seconds; 1,000,000 listings in 10 such keys: {:.0} core-hours",
        full_key / 1e9,
        full_key / rate,
        10.0 * full_key / rate / 3600.0
    );
    println!(
        "1,000,000 listings in {} keys of {FREE_LISTINGS_PER_KEY} free listings each: no stamps (per-key rules cannot price fresh keys)",
        1_000_000 / FREE_LISTINGS_PER_KEY
    );

    // 3. Ingest with the spam checks against the machine's limit, on one corpus.
    if ingest_n > 0 {
        let envs = signed_corpus(1, ingest_n, t);
        let limit = verify_all(&envs, t);
        // The checks ingest adds: the allowance's book per listing (stamps are checked in
        // verification; this corpus is within the free allowance, as almost all listings are).
        let places: Vec<_> = verify_batch(envs.clone(), t)
            .into_iter()
            .map(|v| {
                let v = v.unwrap();
                let Record::Listing(l) = v.payload() else {
                    unreachable!("the corpus is listings")
                };
                (
                    v.signer(),
                    v.listing_id(),
                    Place {
                        slot: l.stamp.map(|s| s.slot),
                        fingerprint: l.duplicate_fingerprint(),
                        expires_at: l.expires_at,
                    },
                )
            })
            .collect();
        let book = Allowance::default();
        let start = Instant::now();
        for (k, id, p) in places {
            book.admit(&k, id, p, t).unwrap();
        }
        let checks = start.elapsed();
        let dir = tempfile::tempdir().unwrap();
        let (engine, _) = Engine::open(dir.path(), EngineConfig::default()).unwrap();
        let took = ingest_all(&engine, envs);
        engine.shutdown().unwrap();
        let per_s = |d: Duration| ingest_n as f64 / d.as_secs_f64();
        println!(
            "verify alone (all cores, batches of 4096): {:.0} listings/s = the limit",
            per_s(limit)
        );
        println!(
            "ingest with spam checks: {:.0} listings/s = {:.0}% of the limit",
            per_s(took),
            100.0 * limit.as_secs_f64() / took.as_secs_f64()
        );
        println!(
            "ingest without them (the same run less the checks' {:.0} ms): {:.0} listings/s = {:.0}% of the limit",
            checks.as_secs_f64() * 1e3,
            per_s(took.saturating_sub(checks)),
            100.0 * limit.as_secs_f64() / took.saturating_sub(checks).as_secs_f64()
        );
    }
}
