//! Network benchmarks, all on 127.0.0.1 with real TCP + noise + yamux:
//!
//! - **propagation**: 30 nodes, 100 listings published from random nodes; for each, the time
//!   from the call that publishes it until the last of the 30 nodes has stored it.
//! - **catch-up**: a fresh node connects to a peer holding 100,000 listings; the time until it
//!   has stored all of them and search returns them all.
//! - **reconcile**: a node holding the same 100,000 listings but for 10 connects to the same
//!   peer; round trips and bytes its sync session used.
//! - **idle**: the real `swapmeet node` binary bootstrapped with the 30 nodes, left idle;
//!   its resident memory and connections.
//!
//! Run: `cargo bench -p swapmeet --bench network`. Lower the sizes for a quick look:
//! `SWAPMEET_BENCH_NODES=10 SWAPMEET_BENCH_LISTINGS=20000`. `SWAPMEET_BENCH_DETAIL=1` prints, for
//! the slowest listings of the propagation run, when each node stored them.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

// The allocator the `swapmeet` binary uses, so the figures are the product's.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

use swapmeet_node::authoring::ListingDraft;
use swapmeet_node::network::local::{loopback_config, LocalNode};
use swapmeet_node::search::SearchQuery;
use swapmeet_node::synth::{signed_corpus, Rng};
use swapmeet_node::{Engine, EngineConfig, Source};
use swapmeet_protocol::{SecretKey, SignedEnvelope};

const BIN: &str = env!("CARGO_BIN_EXE_swapmeet");
const BERLIN: (f64, f64) = (52.52, 13.405);

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn key(n: u32) -> SecretKey {
    let mut seed = [0u8; 32];
    seed[..4].copy_from_slice(&n.to_le_bytes());
    seed[31] = 0x5a;
    SecretKey::from_bytes(seed)
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1000.0)
}

async fn wait_for(what: &str, limit: Duration, mut check: impl FnMut() -> bool) {
    let start = Instant::now();
    while !check() {
        assert!(start.elapsed() < limit, "gave up waiting for {what}");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

fn fill(dir: &std::path::Path, envelopes: Vec<SignedEnvelope>) {
    let (engine, _) = Engine::open(dir, EngineConfig::default()).unwrap();
    let mut rest = envelopes;
    while !rest.is_empty() {
        let tail = rest.split_off(rest.len().min(10_000));
        let batch = std::mem::replace(&mut rest, tail);
        engine.ingest(batch, Source::Import).unwrap();
    }
    engine.shutdown().unwrap();
}

fn copy_dir(from: &std::path::Path, to: &std::path::Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let target = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &target);
        } else {
            std::fs::copy(e.path(), target).unwrap();
        }
    }
}

async fn propagation(nodes: usize, listings: usize) -> (Vec<LocalNode>, Vec<tempfile::TempDir>) {
    println!("## propagation: {nodes} nodes, {listings} listings");
    let mut dirs = Vec::new();
    let mut net = Vec::new();
    for i in 0..nodes {
        let dir = tempfile::tempdir().unwrap();
        // All the nodes share 127.0.0.1, where a real network's have an address each: the
        // per-address limit (16 inbound) would refuse the DHT's introductions past it.
        let mut config = loopback_config(Some(BERLIN));
        config.limits.per_ip = 64;
        net.push(
            LocalNode::start(dir.path(), key(i as u32), config)
                .await
                .unwrap(),
        );
        dirs.push(dir);
    }
    // Each node dials the one before it and one random earlier node: a connected, sparse
    // graph; the DHT then introduces nodes of the same area to each other.
    let mut rng = Rng::new(7);
    for i in 1..nodes {
        net[i].connect(&net[i - 1]).await.unwrap();
        let j = rng.below(i);
        net[i].connect(&net[j]).await.unwrap();
    }
    tokio::time::sleep(Duration::from_secs(3)).await;
    let mut degree = Vec::new();
    for n in &net {
        degree.push(n.net().connected_peers().await.unwrap().len());
    }
    degree.sort();
    println!(
        "connections per node after discovery: min {}, median {}, max {}",
        degree[0],
        degree[degree.len() / 2],
        degree[degree.len() - 1]
    );

    // Every node reports when it stored a listing.
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    for (i, n) in net.iter().enumerate() {
        let mut events = n.engine.subscribe();
        let tx = tx.clone();
        tokio::spawn(async move {
            while let Ok(ev) = events.recv().await {
                let _ = tx.send((i, ev.id, Instant::now()));
            }
        });
    }
    let mut published = std::collections::HashMap::new();
    let mut publisher = std::collections::HashMap::new();
    let start = Instant::now();
    for k in 0..listings {
        let from = rng.below(nodes);
        let author = net[from].author.clone();
        let draft = ListingDraft {
            title: Some(format!("Bench bicycle number {k}")),
            price: Some("100 EUR".into()),
            location: Some(format!("{},{}", BERLIN.0, BERLIN.1)),
            ..ListingDraft::default()
        };
        let t0 = Instant::now();
        let p = tokio::task::spawn_blocking(move || author.create(&draft).unwrap())
            .await
            .unwrap();
        published.insert(p.id, t0);
        publisher.insert(p.id, from);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let mut first = std::collections::HashMap::new();
    let mut last = std::collections::HashMap::new();
    let mut seen = std::collections::HashMap::<_, usize>::new();
    let mut arrivals = std::collections::HashMap::new();
    let deadline = Instant::now() + Duration::from_secs(120);
    while seen.values().filter(|c| **c == nodes).count() < listings {
        let left = deadline.saturating_duration_since(Instant::now());
        let Ok(Some((node, id, at))) = tokio::time::timeout(left, rx.recv()).await else {
            break;
        };
        if published.contains_key(&id) {
            arrivals.entry(id).or_insert_with(Vec::new).push((node, at));
            *seen.entry(id).or_default() += 1;
            first.entry(id).or_insert(at);
            last.insert(id, at);
        }
    }
    let complete = seen.values().filter(|c| **c == nodes).count();
    let mut lat: Vec<Duration> = published
        .iter()
        .filter(|(id, _)| seen.get(*id) == Some(&nodes))
        .map(|(id, t0)| last[id] - *t0)
        .collect();
    lat.sort();
    println!("listings that reached all {nodes} nodes: {complete} of {listings}");
    if !lat.is_empty() {
        println!(
            "publish -> stored on every node: p50 {}, p90 {}, p99 {}, max {}",
            ms(percentile(&lat, 0.5)),
            ms(percentile(&lat, 0.9)),
            ms(percentile(&lat, 0.99)),
            ms(*lat.last().unwrap())
        );
        // The first node to store a listing is its publisher: signing, storing and the flush
        // that makes it durable before `create` returns.
        let mut own: Vec<Duration> = published
            .iter()
            .filter_map(|(id, t0)| first.get(id).map(|f| *f - *t0))
            .collect();
        own.sort();
        println!(
            "  of which stored on the publishing node: p50 {}, p99 {}",
            ms(percentile(&own, 0.5)),
            ms(percentile(&own, 0.99))
        );
    }
    if std::env::var_os("SWAPMEET_BENCH_DETAIL").is_some() {
        // The slowest listings: when they were published, by whom, and when each node stored
        // them (ms after publishing, node number in brackets for the publisher and the last).
        let mut worst: Vec<_> = published
            .iter()
            .filter_map(|(id, t0)| last.get(id).map(|l| (*l - *t0, *id, *t0)))
            .collect();
        worst.sort_by_key(|w| std::cmp::Reverse(w.0));
        for (_, id, t0) in worst.iter().take(6) {
            let mut at: Vec<(Duration, usize)> =
                arrivals[id].iter().map(|(n, a)| (*a - *t0, *n)).collect();
            at.sort();
            let list: Vec<String> = at
                .iter()
                .map(|(d, n)| {
                    let mark = if *n == publisher[id] { "P" } else { "" };
                    format!("{}{mark}", d.as_millis())
                })
                .collect();
            println!(
                "  published at {:.2} s by node {}: {} (last: node {})",
                (*t0 - start).as_secs_f64(),
                publisher[id],
                list.join(" "),
                at.last().map(|x| x.1).unwrap_or(0)
            );
        }
    }
    (net, dirs)
}

async fn idle(net: &[LocalNode]) {
    println!("## idle: the swapmeet binary with {} peers", net.len());
    let home = tempfile::tempdir().unwrap();
    let mut args = vec![
        "node".to_string(),
        "--api".into(),
        "127.0.0.1:0".into(),
        "--no-mdns".into(),
        "--listen".into(),
        "/ip4/127.0.0.1/tcp/0".into(),
    ];
    for n in net {
        args.push("--bootstrap".into());
        args.push(n.addr().await.unwrap().to_string());
    }
    let run = |args: &[&str]| {
        Command::new(BIN)
            .args(args)
            .env("SWAPMEET_HOME", home.path())
            .output()
            .unwrap()
    };
    assert!(run(&["init", "--location", "52.52,13.405"])
        .status
        .success());
    let mut child = Command::new(BIN)
        .args(&args)
        .env("SWAPMEET_HOME", home.path())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let settle = Duration::from_secs(env_usize("SWAPMEET_BENCH_IDLE_SECS", 30) as u64);
    tokio::time::sleep(settle).await;
    let status = run(&["--json", "status"]);
    let st: serde_json::Value = serde_json::from_slice(&status.stdout).unwrap_or_default();
    let status_kib = |field: &str| {
        std::fs::read_to_string(format!("/proc/{}/status", child.id()))
            .ok()
            .and_then(|s| {
                s.lines()
                    .find(|l| l.starts_with(field))
                    .and_then(|l| l.split_whitespace().nth(1))
                    .and_then(|kb| kb.parse::<f64>().ok())
            })
            .unwrap_or(0.0)
    };
    let fds = std::fs::read_dir(format!("/proc/{}/fd", child.id()))
        .map(|d| d.count())
        .unwrap_or(0);
    let threads = std::fs::read_dir(format!("/proc/{}/task", child.id()))
        .map(|d| d.count())
        .unwrap_or(0);
    // File-backed is mostly the binary's own code, paged in from the executable.
    println!(
        "after {} s idle: connected peers {}, resident memory {:.1} MiB ({:.1} MiB anonymous, {:.1} MiB file-backed), open file descriptors {}, threads {}",
        settle.as_secs(),
        st["network"]["connected_peers"],
        status_kib("VmRSS:") / 1024.0,
        status_kib("RssAnon:") / 1024.0,
        status_kib("RssFile:") / 1024.0,
        fds,
        threads
    );
    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    let _ = child.wait();
}

async fn catch_up_and_reconcile(n: usize) {
    println!("## catch-up and reconcile: {n} listings");
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let t = Instant::now();
    let mut all = signed_corpus(1000, n, now);
    let extra = all.split_off(n - 10);
    let holder_dir = tempfile::tempdir().unwrap();
    let almost_dir = tempfile::tempdir().unwrap();
    let path = holder_dir.path().to_path_buf();
    tokio::task::spawn_blocking(move || fill(&path, all))
        .await
        .unwrap();
    copy_dir(holder_dir.path(), almost_dir.path());
    let path = holder_dir.path().to_path_buf();
    tokio::task::spawn_blocking(move || fill(&path, extra))
        .await
        .unwrap();
    println!(
        "(setup: signed and stored the corpus twice in {:.0} s)",
        t.elapsed().as_secs_f64()
    );

    let holder = LocalNode::start(holder_dir.path(), key(9001), loopback_config(None))
        .await
        .unwrap();
    assert_eq!(holder.engine.stats().records, n);

    // A fresh node.
    let fresh_dir = tempfile::tempdir().unwrap();
    let fresh = LocalNode::start(fresh_dir.path(), key(9002), loopback_config(None))
        .await
        .unwrap();
    let t0 = Instant::now();
    fresh.connect(&holder).await.unwrap();
    wait_for(
        "the fresh node to store everything",
        Duration::from_secs(600),
        || fresh.engine.stats().records == n,
    )
    .await;
    let stored = t0.elapsed();
    wait_for(
        "everything to be searchable",
        Duration::from_secs(600),
        || {
            let every = SearchQuery {
                exact_total: true,
                ..Default::default()
            };
            fresh.engine.search(&every).unwrap().total == n
        },
    )
    .await;
    let searchable = t0.elapsed();
    wait_for("the sync to finish", Duration::from_secs(60), || {
        fresh.net().status().last_sync.is_some()
    })
    .await;
    let last = fresh.net().status().last_sync.unwrap();
    println!(
        "fresh catch-up of {n}: all stored after {:.2} s, all searchable after {:.2} s ({:.0} listings/s)",
        stored.as_secs_f64(),
        searchable.as_secs_f64(),
        n as f64 / searchable.as_secs_f64()
    );
    println!("  session: {}", last.progress);
    fresh.stop().await.unwrap();

    // A node that lacks 10.
    let almost = LocalNode::start(almost_dir.path(), key(9003), loopback_config(None))
        .await
        .unwrap();
    assert_eq!(almost.engine.stats().records, n - 10);
    let t0 = Instant::now();
    almost.connect(&holder).await.unwrap();
    wait_for("the 10 differences", Duration::from_secs(120), || {
        almost.engine.stats().records == n
    })
    .await;
    let took = t0.elapsed();
    wait_for("the sync to finish", Duration::from_secs(60), || {
        almost.net().status().last_sync.is_some()
    })
    .await;
    let last = almost.net().status().last_sync.unwrap();
    let p = &last.progress;
    println!(
        "reconcile {n} vs {}: {} reconcile round trips + {} fetch round trip(s); {} bytes sent, {} bytes received ({} bytes in all, the 10 envelopes included); done in {}",
        n - 10,
        p["rounds"],
        p["fetches"],
        p["bytes_sent"],
        p["bytes_received"],
        p["bytes_sent"].as_u64().unwrap_or(0) + p["bytes_received"].as_u64().unwrap_or(0),
        ms(took)
    );
    println!("  session: {p}");
    almost.stop().await.unwrap();
    holder.stop().await.unwrap();
}

fn main() {
    // As the binary runs: mimalloc hands freed memory back at once.
    swapmeet_node::allocator::purge_promptly_or_say();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let which = std::env::var("SWAPMEET_BENCH_NET").unwrap_or_else(|_| "all".into());
    let on = |s: &str| which == "all" || which.split(',').any(|w| w == s);
    let cpus = std::thread::available_parallelism().map_or(0, |p| p.get());
    println!("# network benchmarks ({cpus} cores)");
    rt.block_on(async {
        if on("propagation") || on("idle") {
            let nodes = env_usize("SWAPMEET_BENCH_NODES", 30);
            let (net, _dirs) = propagation(nodes, env_usize("SWAPMEET_BENCH_PUBLISH", 100)).await;
            if on("idle") {
                idle(&net).await;
            }
            for n in net {
                n.stop().await.unwrap();
            }
        }
        if on("catchup") {
            catch_up_and_reconcile(env_usize("SWAPMEET_BENCH_LISTINGS", 100_000)).await;
        }
    });
}
