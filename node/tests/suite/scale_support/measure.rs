//! The phases of the simulation and the figures each gives: publishing (propagation,
//! amplification), DHT look-ups, what each node stores, churn and catch-up, memory.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use swapmeet_node::synth::Synth;
use swapmeet_node::Source;
use swapmeet_protocol::{geo, Delivery, ListingId, Location};

use super::{cell_of, rss_and_threads, Sim, SimError};

/// One listing published in the simulation.
#[derive(Clone, Debug)]
pub struct Published {
    /// Its id.
    pub id: ListingId,
    /// Its cell.
    pub area: String,
    /// The node that published it.
    pub origin: usize,
    /// When the origin's engine was handed it.
    pub at: Instant,
    /// Size of the signed envelope.
    pub bytes: usize,
    /// The nodes that follow its cell and were up when it was published (origin excluded).
    pub expected: Vec<usize>,
}

/// The `p`-th percentile (0..=100) of sorted values, nearest rank.
pub fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

fn sorted(mut v: Vec<f64>) -> Vec<f64> {
    v.sort_by(f64::total_cmp);
    v
}

/// p50 and p99 of unsorted values.
fn p50_p99(v: Vec<f64>) -> (f64, f64) {
    let v = sorted(v);
    (percentile(&v, 50.0), percentile(&v, 99.0))
}

/// The generator of the listings the simulation publishes (their times are set when they are
/// published, but the generator draws around the `now` it is given).
pub fn synth(seed: u64) -> Synth {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    Synth::new(seed, 1, now)
}

/// What counts as an idle network, in bytes read per node per second.
pub const QUIET_BYTES_PER_NODE_SEC: f64 = 4096.0;

/// Consecutive 5-second windows under [`QUIET_BYTES_PER_NODE_SEC`] that count as quiet: one
/// window fell between two bursts of a 1,000-node joining that was far from over.
const QUIET_WINDOWS: usize = 3;

/// Waits until the nodes read less than [`QUIET_BYTES_PER_NODE_SEC`] in each of
/// [`QUIET_WINDOWS`] 5-second windows in a row, or `limit`; returns the last window's rate.
/// Joining ends with a burst of DHT work (area announcements and look-ups, whose queries time
/// out after 30 s) and first syncs; publishing into it would measure that burst, and gossip
/// meshes are still forming.
pub async fn wait_until_quiet(sim: &Sim, limit: Duration) -> f64 {
    let start = Instant::now();
    let n = sim.nodes.len().max(1) as f64;
    let mut quiet = 0;
    loop {
        let b = bytes_read(sim);
        tokio::time::sleep(Duration::from_secs(5)).await;
        let rate = (bytes_read(sim) - b) as f64 / 5.0 / n;
        quiet = if rate < QUIET_BYTES_PER_NODE_SEC {
            quiet + 1
        } else {
            0
        };
        if quiet >= QUIET_WINDOWS || start.elapsed() > limit {
            return rate;
        }
    }
}

/// Bytes all nodes have read so far.
pub fn bytes_read(sim: &Sim) -> u64 {
    sim.nodes.iter().map(|n| n.bytes.read()).sum()
}

/// Publishes `count` listings, one every `publish_gap`, each from a node picked at random
/// among those up (so a city publishes in proportion to its users), located at its
/// publisher's home and not shipping (so it belongs to one cell's topic).
pub async fn publish(
    sim: &mut Sim,
    synth: &mut Synth,
    count: usize,
) -> Result<Vec<Published>, SimError> {
    let up = sim.up();
    let mut out = Vec::with_capacity(count);
    for _ in 0..count {
        let origin = up[sim.rng().below(up.len())];
        let n = &sim.nodes[origin];
        let engine = n.up().engine.clone();
        let now = engine.now();
        let (_, mut listing) = synth.listing();
        listing.signed_at = now;
        listing.expires_at = now + 14 * 86_400;
        listing.location = Some(Location {
            geohash: geo::encode(n.home.0, n.home.1, 6),
            place: None,
        });
        listing.delivery = Delivery {
            pickup: true,
            shipping: false,
            ships_to: Vec::new(),
        };
        let envelope = listing
            .sign(&n.key)
            .map_err(|e| SimError::Publish(e.to_string()))?;
        let id = listing.id(&n.key.public());
        let area = cell_of(n.home.0, n.home.1);
        let expected: Vec<usize> = sim
            .nodes
            .iter()
            .filter(|m| m.index != origin && m.node.is_some() && m.follows(&area))
            .map(|m| m.index)
            .collect();
        let bytes = envelope.as_bytes().len();
        let at = Instant::now();
        tokio::task::spawn_blocking(move || engine.ingest(vec![envelope], Source::Local)).await??;
        out.push(Published {
            id,
            area,
            origin,
            at,
            bytes,
            expected,
        });
        tokio::time::sleep(sim.config.publish_gap).await;
    }
    Ok(out)
}

/// How far and how fast the published listings went.
#[derive(Clone, Debug, Default)]
pub struct Propagation {
    /// Listings published.
    pub listings: usize,
    /// (listing, node in its area) pairs expected.
    pub expected: usize,
    /// Of those, delivered by gossip before the deadline.
    pub delivered: usize,
    /// Time from publication to each in-area node, p50 and p99, ms.
    pub each_p50_ms: f64,
    /// As above, p99.
    pub each_p99_ms: f64,
    /// Time from publication until every in-area node had it, p50 over listings, ms (listings
    /// that did not reach every node are left out and counted in `incomplete`).
    pub all_p50_ms: f64,
    /// As above, p99.
    pub all_p99_ms: f64,
    /// Listings that did not reach every in-area node before the deadline.
    pub incomplete: usize,
    /// Mean in-area nodes per listing.
    pub mean_audience: f64,
}

/// Waits until every published listing reached every node of its area (or the deadline),
/// then computes the figures.
pub async fn propagation(sim: &Sim, published: &[Published]) -> Propagation {
    let deadline = Instant::now() + sim.config.deadline;
    loop {
        let done = {
            let a = sim.arrivals.lock().map(|a| a.clone()).unwrap_or_default();
            published.iter().all(|p| {
                let got: HashSet<usize> = a
                    .get(&p.id)
                    .map(|v| v.iter().map(|(n, _)| *n).collect())
                    .unwrap_or_default();
                p.expected.iter().all(|n| got.contains(n))
            })
        };
        if done || Instant::now() > deadline {
            break;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let a = sim.arrivals.lock().map(|a| a.clone()).unwrap_or_default();
    let mut each = Vec::new();
    let mut all = Vec::new();
    let mut out = Propagation {
        listings: published.len(),
        ..Propagation::default()
    };
    for p in published {
        out.expected += p.expected.len();
        let arrived = a.get(&p.id).cloned().unwrap_or_default();
        let mut last = Duration::ZERO;
        let mut reached = 0;
        for n in &p.expected {
            if let Some((_, t)) = arrived.iter().find(|(m, _)| m == n) {
                let d = t.saturating_duration_since(p.at);
                each.push(d.as_secs_f64() * 1e3);
                last = last.max(d);
                reached += 1;
            }
        }
        out.delivered += reached;
        if reached == p.expected.len() {
            all.push(last.as_secs_f64() * 1e3);
        } else {
            out.incomplete += 1;
        }
    }
    (out.each_p50_ms, out.each_p99_ms) = p50_p99(each);
    (out.all_p50_ms, out.all_p99_ms) = p50_p99(all);
    out.mean_audience = out.expected as f64 / published.len().max(1) as f64;
    out
}

/// Look-ups through the DHT, each from a node of another city than the record's.
#[derive(Clone, Debug, Default)]
pub struct Lookups {
    /// Listing records asked for.
    pub listings: usize,
    /// Of those, found (verified, the version published).
    pub listings_found: usize,
    /// Latency of a listing look-up, p50 and p99, ms.
    pub listing_p50_ms: f64,
    /// As above, p99.
    pub listing_p99_ms: f64,
    /// PeerIds asked for.
    pub peers: usize,
    /// Of those, found with an address.
    pub peers_found: usize,
    /// Latency of a PeerId look-up, p50 and p99, ms.
    pub peer_p50_ms: f64,
    /// As above, p99.
    pub peer_p99_ms: f64,
    /// Requests (peers asked) per listing look-up, mean and max, from the asking node's
    /// status (`dht_lookups`).
    pub listing_requests_mean: f64,
    /// max.
    pub listing_requests_max: u64,
    /// Requests per PeerId look-up, mean and max.
    pub peer_requests_mean: f64,
    /// max.
    pub peer_requests_max: u64,
}

/// Requests the look-up just done by `node` sent, from its status (refreshed every 500 ms).
async fn lookup_requests(node: &swapmeet_node::network::local::LocalNode, before: u64) -> u64 {
    let deadline = Instant::now() + Duration::from_secs(2);
    loop {
        let s = node.net().status().dht_lookups;
        if s.requests != before || Instant::now() > deadline {
            return s.requests - before;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Looks up `sim.config.lookups` published listings and as many PeerIds, one at a time.
pub async fn lookups(sim: &mut Sim, published: &[Published]) -> Result<Lookups, SimError> {
    let mut out = Lookups::default();
    let mut listing_ms = Vec::new();
    let mut peer_ms = Vec::new();
    let mut listing_requests: Vec<u64> = Vec::new();
    let mut peer_requests: Vec<u64> = Vec::new();
    let up = sim.up();
    for k in 0..sim.config.lookups.min(published.len()) {
        let p = &published[k * published.len() / sim.config.lookups.min(published.len())];
        let city = sim.nodes[p.origin].city;
        let askers: Vec<usize> = up
            .iter()
            .copied()
            .filter(|i| sim.nodes[*i].city != city)
            .collect();
        if askers.is_empty() {
            break;
        }
        let asker = askers[sim.rng().below(askers.len())];
        let node = sim.nodes[asker].up();
        let before = node.net().status().dht_lookups.requests;
        let t = Instant::now();
        let found = node.net().get_listing(p.id).await?;
        listing_ms.push(t.elapsed().as_secs_f64() * 1e3);
        listing_requests.push(lookup_requests(node, before).await);
        out.listings += 1;
        if found.is_some() {
            out.listings_found += 1;
        }
    }
    for _ in 0..sim.config.lookups {
        let asker = up[sim.rng().below(up.len())];
        let target = up[sim.rng().below(up.len())];
        if asker == target {
            continue;
        }
        let node = sim.nodes[asker].up();
        let before = node.net().status().dht_lookups.requests;
        let t = Instant::now();
        let addrs = node.net().find_peer(sim.nodes[target].peer).await?;
        peer_ms.push(t.elapsed().as_secs_f64() * 1e3);
        peer_requests.push(lookup_requests(node, before).await);
        out.peers += 1;
        if !addrs.is_empty() {
            out.peers_found += 1;
        }
    }
    (out.listing_p50_ms, out.listing_p99_ms) = p50_p99(listing_ms);
    (out.peer_p50_ms, out.peer_p99_ms) = p50_p99(peer_ms);
    let mean = |v: &[u64]| v.iter().sum::<u64>() as f64 / v.len().max(1) as f64;
    out.listing_requests_mean = mean(&listing_requests);
    out.listing_requests_max = listing_requests.iter().copied().max().unwrap_or(0);
    out.peer_requests_mean = mean(&peer_requests);
    out.peer_requests_max = peer_requests.iter().copied().max().unwrap_or(0);
    Ok(out)
}

/// What each node stores of the network's listings.
#[derive(Clone, Debug, Default)]
pub struct Storage {
    /// Listings in the network.
    pub total: usize,
    /// Share of them in a node's store: mean, p50, max.
    pub share_mean: f64,
    /// p50.
    pub share_p50: f64,
    /// max.
    pub share_max: f64,
    /// Records a node holds for the DHT: mean and max.
    pub dht_mean: f64,
    /// max.
    pub dht_max: usize,
    /// Connected peers per node: mean and max.
    pub peers_mean: f64,
    /// max.
    pub peers_max: usize,
}

/// Counts what every node that is up stores (`total`: listings published so far).
pub fn storage(sim: &Sim, total: usize) -> Storage {
    let mut shares = Vec::new();
    let mut dht = Vec::new();
    let mut peers = Vec::new();
    for n in &sim.nodes {
        let Some(node) = &n.node else { continue };
        let records = node.engine.stats().records as f64;
        shares.push(records / total.max(1) as f64);
        let status = node.net().status();
        dht.push(status.dht_records);
        peers.push(status.connected_peers);
    }
    let k = shares.len().max(1) as f64;
    let s = sorted(shares.clone());
    Storage {
        total,
        share_mean: shares.iter().sum::<f64>() / k,
        share_p50: percentile(&s, 50.0),
        share_max: s.last().copied().unwrap_or(0.0),
        dht_mean: dht.iter().sum::<usize>() as f64 / k,
        dht_max: dht.iter().copied().max().unwrap_or(0),
        peers_mean: peers.iter().sum::<usize>() as f64 / k,
        peers_max: peers.iter().copied().max().unwrap_or(0),
    }
}

/// Catch-up after churn.
#[derive(Clone, Debug, Default)]
pub struct Churn {
    /// Nodes taken down and brought back.
    pub nodes: usize,
    /// Listings published while they were down.
    pub published: usize,
    /// (restarted node, listing of its area published while it was down) pairs.
    pub missed: usize,
    /// Restarted nodes that had everything they missed before the deadline.
    pub caught_up: usize,
    /// Time from its restart until a node had everything it missed, p50/p99/max, ms (over
    /// nodes that caught up; nodes that missed nothing count as 0).
    pub p50_ms: f64,
    /// p99.
    pub p99_ms: f64,
    /// max.
    pub max_ms: f64,
    /// Listings stored from peers while the churned nodes were down, of those expected
    /// (propagation among the nodes still up).
    pub gossip_while_down: Propagation,
}

/// Takes `config.churn` of the nodes down, publishes `config.churn_listings` meanwhile, brings
/// them back (same folder, key and address) and measures how long each needs to hold every
/// listing of its area it missed (sync on connect).
pub async fn churn(sim: &mut Sim, synth: &mut Synth) -> Result<Churn, SimError> {
    let count = ((sim.nodes.len() as f64) * sim.config.churn).round() as usize;
    let mut down: Vec<usize> = (0..sim.nodes.len()).collect();
    // A partial shuffle: the first `count` are a uniform sample.
    for i in 0..count.min(down.len()) {
        let j = i + sim.rng().below(down.len() - i);
        down.swap(i, j);
    }
    down.truncate(count);
    down.sort_unstable();
    for &i in &down {
        sim.stop_node(i).await?;
    }
    let count = sim.config.churn_listings;
    let published = publish(sim, synth, count).await?;
    let gossip_while_down = propagation(sim, &published).await;
    let missed_by: Vec<(usize, Vec<ListingId>)> = down
        .iter()
        .map(|&i| {
            let ids = published
                .iter()
                .filter(|p| sim.nodes[i].follows(&p.area))
                .map(|p| p.id)
                .collect();
            (i, ids)
        })
        .collect();
    let mut restarted = Vec::with_capacity(down.len());
    for &i in &down {
        let at = Instant::now();
        sim.start_node(i).await?;
        restarted.push(at);
    }
    let deadline = Instant::now() + sim.config.deadline;
    let mut done: Vec<Option<Duration>> = vec![None; down.len()];
    loop {
        for (k, (i, ids)) in missed_by.iter().enumerate() {
            if done[k].is_some() {
                continue;
            }
            let store = sim.nodes[*i].up().engine.store().clone();
            let ids = ids.clone();
            let all = tokio::task::spawn_blocking(move || {
                ids.iter().all(|id| matches!(store.get(id), Ok(Some(_))))
            })
            .await?;
            if all {
                done[k] = Some(restarted[k].elapsed());
            }
        }
        if done.iter().all(Option::is_some) || Instant::now() > deadline {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let times = sorted(
        done.iter()
            .flatten()
            .map(|d| d.as_secs_f64() * 1e3)
            .collect(),
    );
    Ok(Churn {
        nodes: down.len(),
        published: published.len(),
        missed: missed_by.iter().map(|(_, ids)| ids.len()).sum(),
        caught_up: times.len(),
        p50_ms: percentile(&times, 50.0),
        p99_ms: percentile(&times, 99.0),
        max_ms: times.last().copied().unwrap_or(f64::NAN),
        gossip_while_down,
    })
}

/// Memory of the process per node.
#[derive(Clone, Copy, Debug, Default)]
pub struct Memory {
    /// Resident set now, bytes.
    pub rss: u64,
    /// (rss - rss before the first node) / nodes, bytes.
    pub per_node: u64,
    /// Threads of the process.
    pub threads: u64,
}

/// The process's memory now, per node.
pub fn memory(sim: &Sim) -> Memory {
    let (rss, threads) = rss_and_threads();
    Memory {
        rss,
        per_node: rss.saturating_sub(sim.rss_before) / sim.nodes.len().max(1) as u64,
        threads,
    }
}
