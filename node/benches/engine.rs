//! Engine benchmarks: batch ingest throughput, search latency over a large corpus, disk use
//! and resident memory. Run: `cargo bench -p swapmeet-node --bench engine`.
//!
//! Sizes can be lowered for a quick look: `SWAPMEET_BENCH_INGEST=20000 SWAPMEET_BENCH_SEARCH=100000`.
//! `SWAPMEET_BENCH_INGEST=0` skips the ingest figure; `SWAPMEET_BENCH_KEEP=DIR` keeps the loaded
//! search corpus in DIR and reuses it on the next run. The corpus is deterministic
//! (`swapmeet_node::synth`), so runs are comparable.
//!
//! The 10,000,000-listing mode (issue 18; not run in CI: about 25 minutes, 6 GB of disk):
//! `SWAPMEET_BENCH_INGEST=0 SWAPMEET_BENCH_SEARCH=10000000 SWAPMEET_BENCH_KEEP=DIR`. Each slice
//! of 200,000 is generated and signed before its clock starts; the load rate is printed per
//! slice and per million, then the same figures as for a million (reopen, the 64 queries,
//! disk, memory). With `SWAPMEET_BENCH_KEEP` a second run reuses the loaded store and measures
//! only those. `SWAPMEET_BENCH_KINDS=nearest|no text` runs only the query kinds whose names
//! contain one of those (for a profile of one kind).

use std::time::{Duration, Instant};

// The allocator the `swapmeet` binary uses, so the figures are the product's.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

use swapmeet_node::search::{GeoFilter, PriceFilter, SearchQuery, Sort};
use swapmeet_node::synth::{signed_corpus, Synth};
use swapmeet_node::{Engine, EngineConfig, IngestOutcome, Source};
use swapmeet_protocol::{Category, Currency, SignedEnvelope};

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

/// A line of `/proc/self/status` in MiB (`VmRSS`, `RssAnon`, `RssFile`).
fn status_mib(field: &str) -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with(field))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<f64>().ok())
        })
        .map_or(0.0, |kb| kb / 1024.0)
}

fn rss_mib() -> f64 {
    status_mib("VmRSS:")
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

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

fn main() {
    // As the binary runs: mimalloc hands freed memory back at once.
    swapmeet_node::allocator::purge_promptly_or_say();
    // `cargo bench` passes `--bench`; nothing else is parsed.
    let ingest_n = env_usize("SWAPMEET_BENCH_INGEST", 100_000);
    let search_n = env_usize("SWAPMEET_BENCH_SEARCH", 1_000_000);
    let t = now();
    println!("# swapmeet engine benchmark");
    println!(
        "machine: {} cores, {}",
        std::thread::available_parallelism().map_or(0, |p| p.get()),
        cpu_model()
    );

    // 1. Ingest throughput.
    if ingest_n > 0 {
        let envs = signed_corpus(1, ingest_n, t);
        let dir = tempfile::tempdir().unwrap();
        let (engine, _) = Engine::open(dir.path(), EngineConfig::default()).unwrap();
        let took = ingest_all(&engine, envs);
        println!(
            "ingest: {ingest_n} listings in {:.2} s = {:.0} listings/s (verify + store + index, batches of 4096, final commit included)",
            took.as_secs_f64(),
            ingest_n as f64 / took.as_secs_f64()
        );
        engine.shutdown().unwrap();
    }

    // 2. Search over a large corpus. `SWAPMEET_BENCH_KEEP=DIR` keeps the loaded corpus in DIR
    // and reuses it on the next run (for working on search without reloading a million
    // listings each time).
    let kept = std::env::var_os("SWAPMEET_BENCH_KEEP").map(std::path::PathBuf::from);
    let temp = tempfile::tempdir().unwrap();
    let dir = kept.clone().unwrap_or_else(|| temp.path().to_path_buf());
    let raw_file = dir.join("bench-raw-bytes");
    let reuse = kept.is_some() && raw_file.exists();
    let (engine, _) = Engine::open(&dir, EngineConfig::default()).unwrap();
    let mut raw_bytes: u64 = if reuse {
        std::fs::read_to_string(&raw_file)
            .unwrap()
            .trim()
            .parse()
            .unwrap()
    } else {
        0
    };
    if !reuse {
        let mut loaded = 0;
        // The time spent loading the current million (signing excluded).
        let mut million = Duration::ZERO;
        while loaded < search_n {
            let n = (search_n - loaded).min(200_000);
            let envs = signed_corpus(100 + loaded as u64, n, t);
            raw_bytes += envs.iter().map(|e| e.as_bytes().len() as u64).sum::<u64>();
            let took = ingest_all(&engine, envs);
            loaded += n;
            million += took;
            eprintln!("loaded {loaded} ({:.0}/s)", n as f64 / took.as_secs_f64());
            if loaded % 1_000_000 == 0 {
                println!(
                    "load: million {} at {:.0} listings/s",
                    loaded / 1_000_000,
                    1_000_000.0 / million.as_secs_f64()
                );
                million = Duration::ZERO;
            }
        }
    }
    if kept.is_some() && !reuse {
        std::fs::write(&raw_file, raw_bytes.to_string()).unwrap();
    }
    engine.shutdown().unwrap();
    drop(engine);
    // Reopen, as a user's node would after a restart, so the figures include a cold-ish open.
    // The engine answers searches before the store's lookups are built (a thread of its own
    // builds them); ingest waits for them. Both moments are reported.
    let open_start = Instant::now();
    let (engine, how) = Engine::open(&dir, EngineConfig::default()).unwrap();
    let opened = open_start.elapsed();
    let first = engine
        .search(&SearchQuery {
            text: Some("road bike".into()),
            ..Default::default()
        })
        .unwrap();
    let answered = open_start.elapsed();
    engine.wait_loaded().unwrap();
    println!(
        "reopen with {search_n} listings: open {:.2} s ({how:?}), first search answered at {:.2} s ({} hits), lookups built (ingest possible) at {:.2} s",
        opened.as_secs_f64(),
        answered.as_secs_f64(),
        first.total,
        open_start.elapsed().as_secs_f64()
    );

    let eur = Currency::new("EUR").unwrap();
    let berlin = GeoFilter {
        lat: 52.52,
        lon: 13.405,
        radius_km: Some(20.0),
    };
    let texts = [
        "road bike",
        "sofa",
        "vintage camera",
        "lego",
        "winter jacket",
        "coffee machine",
        "ikea desk",
        "guitar",
    ];
    let mut mix: Vec<(&str, SearchQuery)> = Vec::new();
    for (i, text) in texts.iter().enumerate() {
        mix.push((
            "text",
            SearchQuery {
                text: Some(text.to_string()),
                ..Default::default()
            },
        ));
        mix.push((
            "text+price+category",
            SearchQuery {
                text: Some(text.to_string()),
                price: Some(PriceFilter {
                    currency: eur,
                    min_minor: None,
                    max_minor: Some(30_000),
                }),
                category: Some(Category::ALL[i % Category::ALL.len()]),
                ..Default::default()
            },
        ));
        mix.push((
            "geo radius",
            SearchQuery {
                near: Some(berlin),
                text: Some(text.to_string()),
                ..Default::default()
            },
        ));
        mix.push((
            "geo radius, no text",
            SearchQuery {
                near: Some(GeoFilter {
                    radius_km: Some(5.0 + i as f64),
                    ..berlin
                }),
                ..Default::default()
            },
        ));
        for sort in [Sort::PriceAsc, Sort::PriceDesc, Sort::Newest, Sort::Nearest] {
            mix.push((
                match sort {
                    Sort::PriceAsc => "sort price-asc",
                    Sort::PriceDesc => "sort price-desc",
                    Sort::Newest => "sort newest",
                    _ => "sort nearest (20 km)",
                },
                SearchQuery {
                    text: Some(text.to_string()),
                    near: if sort == Sort::Nearest {
                        Some(berlin)
                    } else {
                        None
                    },
                    sort,
                    ..Default::default()
                },
            ));
        }
    }
    // `SWAPMEET_BENCH_KINDS=nearest|no text` keeps only the kinds whose names contain one of
    // those (for a profile of one kind).
    if let Ok(kinds) = std::env::var("SWAPMEET_BENCH_KINDS") {
        mix.retain(|(kind, _)| kinds.split('|').any(|k| kind.contains(k)));
    }
    // Warm up once (page cache, lazily opened columns), then measure. The warm-up also
    // records how many listings each kind of query matches.
    let mut matches: std::collections::BTreeMap<&str, (usize, usize, bool)> = Default::default();
    for (kind, q) in &mix {
        let r = engine.search(q).unwrap();
        let m = matches.entry(kind).or_default();
        m.0 += r.total;
        m.1 += 1;
        m.2 |= !r.total_exact;
    }
    let rounds = env_usize("SWAPMEET_BENCH_ROUNDS", 25);
    let mut all = Vec::new();
    let mut by_kind: std::collections::BTreeMap<&str, Vec<Duration>> = Default::default();
    for _ in 0..rounds {
        for (kind, q) in &mix {
            let s = Instant::now();
            let r = engine.search(q).unwrap();
            let d = s.elapsed();
            std::hint::black_box(r);
            all.push(d);
            by_kind.entry(kind).or_default().push(d);
        }
    }
    all.sort();
    println!("\nsearch over {search_n} listings, {} queries ({} kinds x {rounds} rounds), results loaded from the store:", all.len(), mix.len());
    println!("| query | matches (mean) | p50 | p99 | max |");
    println!("|---|---|---|---|---|");
    for (kind, mut v) in by_kind {
        v.sort();
        let (sum, n, lower_bound) = matches[kind];
        println!(
            "| {kind} | {}{} | {:.3} ms | {:.3} ms | {:.3} ms |",
            sum / n.max(1),
            if lower_bound { " (at least)" } else { "" },
            ms(percentile(&v, 0.5)),
            ms(percentile(&v, 0.99)),
            ms(*v.last().unwrap())
        );
    }
    println!(
        "| **all** | | **{:.3} ms** | **{:.3} ms** | {:.3} ms |",
        ms(percentile(&all, 0.5)),
        ms(percentile(&all, 0.99)),
        ms(*all.last().unwrap())
    );

    // 3. Freshness: how long after ingest returns (the listing is stored) it shows up in
    // search on this loaded index, with listings arriving one at a time, as gossip brings
    // them. Searched by a seller that only these probes use, polled every millisecond.
    let fresh_n = env_usize("SWAPMEET_BENCH_FRESH", 50);
    if fresh_n > 0 {
        // One seller of its own (a seed the corpus does not use).
        let mut probes = Synth::new(0x5eed_f2e5, 1, t);
        let probe = probes.sellers()[0].clone();
        let q = SearchQuery {
            seller: Some(probe.public()),
            exact_total: true,
            ..Default::default()
        };
        let mut lag = Vec::with_capacity(fresh_n);
        for k in 0..fresh_n {
            let env = probes.listing().1.sign(&probe).unwrap();
            let out = engine.ingest(vec![env], Source::Import).unwrap();
            assert!(matches!(out[0], IngestOutcome::Stored { .. }), "{out:?}");
            let stored = Instant::now();
            while engine.search(&q).unwrap().total < k + 1 {
                assert!(
                    stored.elapsed() < Duration::from_secs(30),
                    "probe {k} never searchable"
                );
                std::thread::sleep(Duration::from_millis(1));
            }
            lag.push(stored.elapsed());
            // Arrivals at varied points of the commit interval (a fixed pause would lock onto
            // one phase of it).
            std::thread::sleep(Duration::from_millis(20 + (k as u64 * 211) % 600));
        }
        lag.sort();
        println!(
            "\nstored -> searchable, {fresh_n} listings one at a time on the loaded index: p50 {:.0} ms, p99 {:.0} ms, max {:.0} ms",
            ms(percentile(&lag, 0.5)),
            ms(percentile(&lag, 0.99)),
            ms(*lag.last().unwrap())
        );
    }

    let stats = engine.stats();
    let disk = stats.store_bytes + stats.index_bytes;
    println!(
        "\ndisk: store {:.1} MiB + index {:.1} MiB = {:.1} MiB for {:.1} MiB of signed envelopes = {:.2}x ({:.0} bytes/listing, envelopes average {:.0} bytes)",
        mib(stats.store_bytes), mib(stats.index_bytes), mib(disk), mib(raw_bytes),
        disk as f64 / raw_bytes as f64, disk as f64 / search_n as f64, raw_bytes as f64 / search_n as f64
    );
    // Anonymous memory is the node's own; file-backed is the index's memory-mapped files,
    // which the OS pages in as searches read them and may drop under pressure.
    println!(
        "resident memory with {search_n} listings loaded (after the searches): {:.0} MiB ({:.0} MiB anonymous, {:.0} MiB file-backed)",
        rss_mib(),
        status_mib("RssAnon:"),
        status_mib("RssFile:")
    );
    engine.shutdown().unwrap();
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn mib(b: u64) -> f64 {
    b as f64 / 1024.0 / 1024.0
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
