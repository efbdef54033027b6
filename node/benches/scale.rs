//! The network at scale (issue 15, section 4; docs/SCALE.md): hundreds of real nodes in one
//! process over libp2p's memory transport, in 16 cities with a skewed spread of users.
//! Prints, in order: start-up and memory per node; propagation of new listings within an
//! area (p50/p99 per node, and until every node of the area had it); bytes and gossip
//! deliveries per node per listing (amplification); DHT look-ups of listing records and of
//! PeerIds; what share of the network's listings each node stores; catch-up after 20% of
//! the nodes went down while listings were published.
//!
//! Run: `cargo bench -p swapmeet-node --bench scale`. Knobs (environment): `SWAPMEET_SIM_NODES`
//! (1,000), `SWAPMEET_SIM_CITIES` (16), `SWAPMEET_SIM_LISTINGS` (100),
//! `SWAPMEET_SIM_CHURN_LISTINGS` (50), `SWAPMEET_SIM_CHURN` (0.2), `SWAPMEET_SIM_BOOTSTRAP` (3),
//! `SWAPMEET_SIM_LOOKUPS` (50), `SWAPMEET_SIM_PUBLISH_GAP_MS` (200),
//! `SWAPMEET_SIM_SETTLE_SECS` (30), `SWAPMEET_SIM_DEADLINE_SECS` (120), `SWAPMEET_SIM_SEED`,
//! `SWAPMEET_SIM_CONNECTIONS` (96, each way), `SWAPMEET_SIM_IDLE_SECS` (600),
//! `SWAPMEET_SIM_MAX_RSS_GIB` (18: the run stops when the process passes it).
//! `SWAPMEET_SIM_BREAKDOWN=1` measures instead the memory of a node's parts (an engine, an
//! unconnected node), `SWAPMEET_SIM_NODES` of each, and exits.

#[path = "../tests/suite/scale_support/mod.rs"]
mod scale_support;

use std::time::{Duration, Instant};

use scale_support::measure::{self, bytes_read};
use scale_support::{rss_and_threads, Sim, SimConfig, SimError};

// The allocator of the `swapmeet` binary, so memory per node is what a real node would use.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Stops the process when its resident memory passes `SWAPMEET_SIM_MAX_RSS_GIB` (18 by
/// default), printing how far the simulation got: the machine is shared, and the kernel's
/// out-of-memory killer would pick a process at random.
fn watch_memory() {
    let cap_gib: f64 = std::env::var("SWAPMEET_SIM_MAX_RSS_GIB")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(18.0);
    let cap = (cap_gib * 1024.0 * 1024.0 * 1024.0) as u64;
    let started = Instant::now();
    std::thread::spawn(move || loop {
        let (rss, threads) = rss_and_threads();
        if rss > cap {
            println!(
                "stopped: rss {:.1} MiB passed the cap of {cap_gib} GiB after {:.0} s ({threads} threads)",
                mib(rss),
                started.elapsed().as_secs_f64()
            );
            std::process::exit(2);
        }
        std::thread::sleep(Duration::from_millis(500));
    });
}

fn mib(b: u64) -> f64 {
    b as f64 / (1024.0 * 1024.0)
}

async fn run(config: SimConfig) -> Result<(), SimError> {
    println!("config: {config:?}");
    let (rss0, threads0) = rss_and_threads();
    println!("before: rss {:.1} MiB, {threads0} threads", mib(rss0));
    if std::env::var_os("SWAPMEET_SIM_BREAKDOWN").is_some() {
        // A run of its own: the allocator keeps what the closed parts used, which would be
        // counted against the simulation's nodes.
        let parts = scale_support::breakdown(config.nodes).await?;
        println!(
            "memory of a node's parts ({} of each opened): engine without index {:.2} MiB, \
             the rest of an unconnected node (messaging, market, blobs, swarm, loop) {:.2} MiB",
            parts.n,
            mib(parts.engine),
            mib(parts.network)
        );
        return Ok(());
    }
    watch_memory();
    let mut sim = Sim::start(config).await?;
    let n = sim.nodes.len();
    let mem = measure::memory(&sim);
    println!(
        "started {n} nodes in {:.1} s: rss {:.1} MiB ({:.2} MiB per node), {} threads",
        sim.start_time.as_secs_f64(),
        mib(mem.rss),
        mib(mem.per_node),
        mem.threads
    );
    let spread: Vec<String> = sim
        .spread()
        .iter()
        .map(|(c, k)| format!("{c} {k}"))
        .collect();
    println!("users per city: {}", spread.join(", "));
    tokio::time::sleep(sim.config.settle).await;
    let lonely = sim.wait_for_areas(Duration::from_secs(60)).await;
    // Joining ends with a burst of DHT work (area announcements and look-ups, whose queries
    // time out after 30 s); publishing starts once the traffic has fallen to what an idle
    // network reads, so that a listing's bytes can be told from it. Two cores take longer to
    // get through a larger network's joining: 4 minutes per 500 nodes at most.
    let quiet_from = Instant::now();
    let limit = Duration::from_secs(240) * (n as u32).div_ceil(500).max(1);
    let rate = measure::wait_until_quiet(&sim, limit).await;
    println!(
        "quiet after {:.0} s more: {rate:.0} bytes read per node per second",
        quiet_from.elapsed().as_secs_f64()
    );
    let peers: Vec<usize> = sim
        .nodes
        .iter()
        .map(|n| n.up().net().status().connected_peers)
        .collect();
    println!(
        "settled: {lonely} nodes without a peer of their city; connected peers per node mean \
         {:.1}, max {}; joining (start, DHT bootstrap, area announcements and look-ups, first \
         syncs) read {:.0} bytes per node",
        peers.iter().sum::<usize>() as f64 / n as f64,
        peers.iter().max().copied().unwrap_or(0),
        bytes_read(&sim) as f64 / n as f64
    );

    // Idle traffic, measured over as long a window as the publishing takes, so that it can be
    // taken out of the publishing window's bytes.
    let window = sim.config.publish_gap * sim.config.listings as u32;
    let sync_read = |sim: &Sim| -> u64 {
        sim.nodes
            .iter()
            .map(|n| n.up().net().status().sync_bytes_received)
            .sum()
    };
    let idle_rate = |sim: &Sim, before: (u64, u64), t: Instant, when: &str| -> f64 {
        let secs = t.elapsed().as_secs_f64();
        let rate = (bytes_read(sim) - before.0) as f64 / secs;
        println!(
            "idle traffic {when}: {:.0} bytes read per node per second, of which sync {:.0}",
            rate / n as f64,
            (sync_read(sim) - before.1) as f64 / secs / n as f64
        );
        rate
    };
    let (before, t0) = ((bytes_read(&sim), sync_read(&sim)), Instant::now());
    tokio::time::sleep(window).await;
    let idle_before = idle_rate(&sim, before, t0, "before publishing");

    let mut synth = measure::synth(sim.config.seed);
    let gossip0: u64 = sim
        .nodes
        .iter()
        .map(|n| n.up().net().status().gossip.received)
        .sum();
    let b1 = bytes_read(&sim);
    let t1 = Instant::now();
    let count = sim.config.listings;
    let published = measure::publish(&mut sim, &mut synth, count).await?;
    let prop = measure::propagation(&sim, &published).await;
    // The status is refreshed every 500 ms.
    tokio::time::sleep(Duration::from_millis(600)).await;
    let during = bytes_read(&sim) - b1;
    let secs = t1.elapsed().as_secs_f64();
    let gossip1: u64 = sim
        .nodes
        .iter()
        .map(|n| n.up().net().status().gossip.received)
        .sum();
    let (before, t2) = ((bytes_read(&sim), sync_read(&sim)), Instant::now());
    tokio::time::sleep(window).await;
    let idle_after = idle_rate(&sim, before, t2, "after publishing");
    let listings = published.len() as f64;
    let envelope = published.iter().map(|p| p.bytes).sum::<usize>() as f64 / listings;
    // The idle rate is taken as the mean of the windows before and after.
    let extra = during as f64 - (idle_before + idle_after) / 2.0 * secs;
    println!(
        "propagation within an area: {} listings, {:.1} in-area nodes each on average; \
         delivered {}/{}; per node p50 {:.1} ms p99 {:.1} ms; until the whole area had it \
         p50 {:.1} ms p99 {:.1} ms ({} listings incomplete)",
        prop.listings,
        prop.mean_audience,
        prop.delivered,
        prop.expected,
        prop.each_p50_ms,
        prop.each_p99_ms,
        prop.all_p50_ms,
        prop.all_p99_ms,
        prop.incomplete
    );
    println!(
        "amplification: envelope {envelope:.0} bytes; gossip messages delivered to nodes \
         {:.2} per in-area node per listing; bytes read above idle {:.0} per listing network-wide, \
         {:.0} per in-area node per listing = {:.2} envelopes",
        (gossip1 - gossip0) as f64 / prop.expected.max(1) as f64,
        extra / listings,
        extra / prop.expected.max(1) as f64,
        extra / prop.expected.max(1) as f64 / envelope
    );
    let mem = measure::memory(&sim);
    println!(
        "memory after publishing: rss {:.1} MiB, {:.2} MiB per node",
        mib(mem.rss),
        mib(mem.per_node)
    );

    let (b3, t3) = (bytes_read(&sim), Instant::now());
    let look = measure::lookups(&mut sim, &published).await?;
    let lookup_bytes = bytes_read(&sim) as f64
        - b3 as f64
        - (idle_before + idle_after) / 2.0 * t3.elapsed().as_secs_f64();
    println!(
        "dht: listing records found {}/{}, p50 {:.1} ms p99 {:.1} ms, peers asked per look-up \
         mean {:.1} max {}; PeerIds found {}/{}, p50 {:.1} ms p99 {:.1} ms, peers asked mean \
         {:.1} max {}",
        look.listings_found,
        look.listings,
        look.listing_p50_ms,
        look.listing_p99_ms,
        look.listing_requests_mean,
        look.listing_requests_max,
        look.peers_found,
        look.peers,
        look.peer_p50_ms,
        look.peer_p99_ms,
        look.peer_requests_mean,
        look.peer_requests_max
    );
    println!(
        "dht: bytes read network-wide above idle per look-up {:.0}",
        lookup_bytes / (look.listings + look.peers).max(1) as f64
    );
    let puts = sim
        .nodes
        .iter()
        .filter_map(|n| n.node.as_ref())
        .fold((0, 0, 0), |t, n| {
            let p = n.net().status().dht_puts;
            (t.0 + p.stored, t.1 + p.retried, t.2 + p.given_up)
        });
    println!(
        "dht: puts of the {} listings published: stored {}, retried {}, given up {}",
        published.len(),
        puts.0,
        puts.1,
        puts.2
    );

    let store = measure::storage(&sim, published.len());
    println!(
        "storage: of {} listings a node stores mean {:.2}% p50 {:.2}% max {:.2}%; DHT records \
         per node mean {:.1} max {}; connected peers mean {:.1} max {}",
        store.total,
        store.share_mean * 100.0,
        store.share_p50 * 100.0,
        store.share_max * 100.0,
        store.dht_mean,
        store.dht_max,
        store.peers_mean,
        store.peers_max
    );

    // Inbound connections the nodes that stay up refuse (any limit) while the others are down
    // and come back: a node at its cap turns away a returning peer.
    let trimmed = |sim: &Sim| -> u64 {
        sim.nodes
            .iter()
            .filter_map(|n| n.node.as_ref())
            .map(|node| node.net().status().limits.trimmed)
            .sum()
    };
    println!(
        "connections closed for room (network/trim.rs) by the nodes up now, since their start: {}",
        trimmed(&sim)
    );
    let refused = |sim: &Sim| -> Vec<(u64, u64)> {
        sim.nodes
            .iter()
            .map(|n| {
                let r = n
                    .node
                    .as_ref()
                    .map_or(0, |node| node.net().status().limits.refused_inbound);
                (n.starts, r)
            })
            .collect()
    };
    let refused_before = refused(&sim);
    let churn = measure::churn(&mut sim, &mut synth).await?;
    let refused_during: u64 = refused_before
        .iter()
        .zip(refused(&sim))
        .filter(|((s0, _), (s1, _))| s0 == s1)
        .map(|((_, r0), (_, r1))| r1.saturating_sub(*r0))
        .sum();
    println!(
        "churn: inbound connections refused by the nodes that stayed up: {refused_during}; \
         connections closed for room by the nodes up now, since their start: {}",
        trimmed(&sim)
    );
    println!(
        "churn: {} nodes down while {} listings were published (gossip among the rest: \
         delivered {}/{}, p50 {:.1} ms p99 {:.1} ms); back up: {}/{} caught up with the {} \
         (node, listing) pairs they missed; time from restart p50 {:.0} ms p99 {:.0} ms max \
         {:.0} ms",
        churn.nodes,
        churn.published,
        churn.gossip_while_down.delivered,
        churn.gossip_while_down.expected,
        churn.gossip_while_down.each_p50_ms,
        churn.gossip_while_down.each_p99_ms,
        churn.caught_up,
        churn.nodes,
        churn.missed,
        churn.p50_ms,
        churn.p99_ms,
        churn.max_ms
    );
    let mem = measure::memory(&sim);
    println!(
        "memory at the end: rss {:.1} MiB, {:.2} MiB per node, {} threads",
        mib(mem.rss),
        mib(mem.per_node),
        mem.threads
    );
    let t = Instant::now();
    sim.stop_all().await?;
    println!("stopped in {:.1} s", t.elapsed().as_secs_f64());
    Ok(())
}

fn main() -> std::process::ExitCode {
    // As the binary runs: mimalloc hands freed memory back at once.
    swapmeet_node::allocator::purge_promptly_or_say();
    let config = SimConfig::from_env(1000);
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("runtime: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    match rt.block_on(run(config)) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("simulation failed: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}
