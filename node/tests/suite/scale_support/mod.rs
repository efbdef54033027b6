//! A network of many swapmeet nodes in one process, for `node/benches/scale.rs` (figures) and
//! `node/tests/suite/scale_sim.rs` (behaviour): docs/SCALE.md and issue 15, section 4.
//!
//! Every simulated node is a real node without its API: `LocalNode` (engine with its sled
//! store and search index, messaging, market, the network's event loop with the real
//! gossipsub, Kademlia, sync and the rest of the behaviours), with the network's transport
//! switched to libp2p's memory transport (`network/memory.rs`), which also counts each node's
//! bytes. Nodes live in a few cities with a skewed spread of users (a few big ones holding
//! most, a long tail), follow the default 50 km around their home like a real node, and find
//! their area's peers the way a real node does: a few bootstrap peers, then the area's
//! provider records in the DHT.
//!
//! `measure.rs` runs the phases (publish, DHT look-ups, churn) and computes the figures.

#![allow(dead_code)]

pub mod measure;

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use libp2p::multiaddr::Protocol;
use libp2p::{Multiaddr, PeerId};
use swapmeet_node::engine::EngineConfig;
use swapmeet_node::messaging::MessagingConfig;
use swapmeet_node::network::gossip::Following;
use swapmeet_node::network::limits::Limits;
use swapmeet_node::network::local::LocalNode;
use swapmeet_node::network::memory::{TransportChoice, WireBytes};
use swapmeet_node::network::NetworkConfig;
use swapmeet_node::store::{StoreConfig, AREA_PRECISION};
use swapmeet_node::synth::Rng;
use swapmeet_node::{Change, Source};
use swapmeet_protocol::{ListingId, SecretKey};

/// Cities users live in: name, latitude, longitude. All pairs are more than 150 km apart, so
/// with the default 50 km follow radius no node follows another city's cells and each city is
/// an area of its own.
pub const CITIES: [(&str, f64, f64); 16] = [
    ("Paris", 48.857, 2.352),
    ("Berlin", 52.520, 13.405),
    ("Madrid", 40.417, -3.704),
    ("Rome", 41.903, 12.496),
    ("Warsaw", 52.230, 21.012),
    ("Vienna", 48.208, 16.373),
    ("Hamburg", 53.551, 9.994),
    ("Barcelona", 41.385, 2.173),
    ("Munich", 48.135, 11.582),
    ("Milan", 45.464, 9.190),
    ("Prague", 50.076, 14.438),
    ("Copenhagen", 55.676, 12.568),
    ("Stockholm", 59.329, 18.069),
    ("Lisbon", 38.722, -9.139),
    ("Dublin", 53.350, -6.260),
    ("Amsterdam", 52.370, 4.895),
];

/// Zipf exponent of the users per city: with 16 cities, the top 3 hold about 55% of the
/// users and the last 8 about 20%, roughly how a country's population spreads over its
/// largest cities.
const CITY_ZIPF: f64 = 1.1;

/// The simulation's knobs (environment variables of the bench; the test sets them directly).
#[derive(Clone, Debug)]
pub struct SimConfig {
    /// Nodes (`SWAPMEET_SIM_NODES`).
    pub nodes: usize,
    /// Cities used, the first ones of [`CITIES`] (`SWAPMEET_SIM_CITIES`).
    pub cities: usize,
    /// Listings published while every node is up (`SWAPMEET_SIM_LISTINGS`).
    pub listings: usize,
    /// Listings published while the churned nodes are down (`SWAPMEET_SIM_CHURN_LISTINGS`).
    pub churn_listings: usize,
    /// Share of nodes taken down (`SWAPMEET_SIM_CHURN`).
    pub churn: f64,
    /// Bootstrap peers each node is given: earlier nodes, picked at random
    /// (`SWAPMEET_SIM_BOOTSTRAP`).
    pub bootstrap: usize,
    /// DHT look-ups of each kind (`SWAPMEET_SIM_LOOKUPS`).
    pub lookups: usize,
    /// Gap between two publications (`SWAPMEET_SIM_PUBLISH_GAP_MS`).
    pub publish_gap: Duration,
    /// How long the network is left to settle after the last node started before anything is
    /// measured (`SWAPMEET_SIM_SETTLE_SECS`).
    pub settle: Duration,
    /// Longest wait for a listing to reach everyone, or for a churned node to catch up.
    pub deadline: Duration,
    /// Seed of keys, homes and choices (`SWAPMEET_SIM_SEED`).
    pub seed: u64,
    /// Established connections a node keeps in each direction (`SWAPMEET_SIM_CONNECTIONS`;
    /// a real node's default, 96, unless set). In one process every connection's upkeep
    /// (pings, yamux windows, timers) shares the same two cores.
    pub connections: usize,
    /// How long a connection no protocol uses stays open (`SWAPMEET_SIM_IDLE_SECS`; a real
    /// node's default, 600 s, unless set). Connections Kademlia's queries open stay that
    /// long; at 500 nodes, 60 s did not free slots for the next query (docs/SCALE.md).
    pub idle: Duration,
}

impl SimConfig {
    /// The defaults for `nodes` nodes, overridden by the environment.
    pub fn from_env(nodes: usize) -> SimConfig {
        fn var<T: std::str::FromStr>(name: &str, default: T) -> T {
            std::env::var(name)
                .ok()
                .and_then(|v| v.parse().ok())
                .unwrap_or(default)
        }
        let nodes = var("SWAPMEET_SIM_NODES", nodes);
        SimConfig {
            nodes,
            cities: var("SWAPMEET_SIM_CITIES", CITIES.len()).clamp(1, CITIES.len()),
            listings: var("SWAPMEET_SIM_LISTINGS", 100),
            churn_listings: var("SWAPMEET_SIM_CHURN_LISTINGS", 50),
            churn: var("SWAPMEET_SIM_CHURN", 0.2),
            bootstrap: var("SWAPMEET_SIM_BOOTSTRAP", 3),
            lookups: var("SWAPMEET_SIM_LOOKUPS", 50),
            publish_gap: Duration::from_millis(var("SWAPMEET_SIM_PUBLISH_GAP_MS", 200)),
            settle: Duration::from_secs(var("SWAPMEET_SIM_SETTLE_SECS", 30)),
            deadline: Duration::from_secs(var("SWAPMEET_SIM_DEADLINE_SECS", 120)),
            seed: var("SWAPMEET_SIM_SEED", 15),
            connections: var("SWAPMEET_SIM_CONNECTIONS", Limits::default().per_direction),
            idle: Duration::from_secs(var(
                "SWAPMEET_SIM_IDLE_SECS",
                NetworkConfig::default().idle_timeout.as_secs(),
            )),
        }
    }
}

/// When each node stored each listing it got from a peer.
pub type Arrivals = Arc<Mutex<HashMap<ListingId, Vec<(usize, Instant)>>>>;

/// One simulated node: its identity, home and folder, and the running node while it is up.
pub struct SimNode {
    /// Position in the simulation.
    pub index: usize,
    /// The user's key (the node's PeerId).
    pub key: SecretKey,
    /// Its PeerId.
    pub peer: PeerId,
    /// Which of [`CITIES`] it is in.
    pub city: usize,
    /// Home location.
    pub home: (f64, f64),
    /// The cells it follows (the real node's rule: 50 km around home).
    pub following: Following,
    /// Its memory address with `/p2p/` (a new port at each restart, see [`Sim::start_node`]).
    pub addr: Multiaddr,
    /// How many times it was started.
    pub starts: u64,
    /// Its bootstrap peers.
    pub bootstrap: Vec<Multiaddr>,
    /// Bytes it moved over the memory transport (kept across restarts).
    pub bytes: Arc<WireBytes>,
    /// The node while it runs.
    pub node: Option<LocalNode>,
    dir: PathBuf,
}

impl SimNode {
    /// Whether it follows the cell `area`.
    pub fn follows(&self, area: &str) -> bool {
        self.following.cells.iter().any(|c| c == area)
    }

    /// The running node (panics if it is down: a bug in the simulation).
    pub fn up(&self) -> &LocalNode {
        self.node.as_ref().expect("the node is up")
    }
}

/// Errors of the simulation.
#[derive(Debug, thiserror::Error)]
pub enum SimError {
    /// A node failed to start or stop.
    #[error("node {index}: {source}")]
    Node {
        /// Which.
        index: usize,
        /// Why.
        #[source]
        source: swapmeet_node::network::local::LocalNodeError,
    },
    /// A temporary folder.
    #[error("temporary folder: {0}")]
    Io(#[from] std::io::Error),
    /// A task panicked or was cancelled.
    #[error("task: {0}")]
    Join(#[from] tokio::task::JoinError),
    /// The engine refused a listing.
    #[error("publishing: {0}")]
    Engine(#[from] swapmeet_node::EngineError),
    /// The network refused a command.
    #[error("network: {0}")]
    Network(#[from] swapmeet_node::network::NetworkError),
    /// A synthetic listing did not sign (a bug in the generator).
    #[error("signing a listing: {0}")]
    Publish(String),
}

/// The running simulation.
pub struct Sim {
    /// Its settings.
    pub config: SimConfig,
    /// The nodes, in start order.
    pub nodes: Vec<SimNode>,
    /// Listings stored from peers, by listing, with who stored them when.
    pub arrivals: Arrivals,
    /// Resident memory before the first node started, in bytes.
    pub rss_before: u64,
    /// How long starting every node took.
    pub start_time: Duration,
    rng: Rng,
    _root: tempfile::TempDir,
}

/// The first memory port; node `i` listens on `/memory/<PORT_BASE + i>` at its first start.
const PORT_BASE: u64 = 40_000;
/// Ports of a restart are this much further on (more than any simulation's nodes).
const PORT_RESTART_STEP: u64 = 1_000_000;

/// Resident set size of this process in bytes, and its thread count.
pub fn rss_and_threads() -> (u64, u64) {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.split_whitespace().next()?.parse::<u64>().ok())
            .unwrap_or(0)
    };
    (field("VmRSS:") * 1024, field("Threads:"))
}

/// The cell (area tag) of a location.
pub fn cell_of(lat: f64, lon: f64) -> String {
    swapmeet_protocol::geo::encode(lat, lon, AREA_PRECISION)
        .as_str()
        .to_string()
}

/// Each node's engine: the defaults except no search index (a relaying node's network
/// behaviour does not depend on search, and an index writer's term table and threads would
/// not let a thousand nodes fit; see docs/SCALE.md), a small store cache, one thread for the
/// records' tables and less frequent background flushes, so a thousand of them fit in memory
/// and do not take the disk.
fn engine_config() -> EngineConfig {
    EngineConfig {
        search_index: false,
        store: StoreConfig {
            cache_capacity: 4 * 1024 * 1024,
            flush_every_ms: 5_000,
            background_threads: 1,
            ..StoreConfig::default()
        },
        commit_interval: Duration::from_secs(2),
        ..EngineConfig::default()
    }
}

impl Sim {
    /// Lays the nodes out (keys, homes, bootstrap peers) and starts them one by one.
    pub async fn start(config: SimConfig) -> Result<Sim, SimError> {
        let root = tempfile::Builder::new().prefix("swapmeet-sim").tempdir()?;
        let mut rng = Rng::new(config.seed);
        let weights: Vec<f64> = (0..config.cities)
            .map(|i| 1.0 / ((i + 1) as f64).powf(CITY_ZIPF))
            .collect();
        let total: f64 = weights.iter().sum();
        let mut nodes = Vec::with_capacity(config.nodes);
        for index in 0..config.nodes {
            let mut seed = [0u8; 32];
            for chunk in seed.chunks_mut(8) {
                chunk.copy_from_slice(&rng.next_u64().to_le_bytes());
            }
            let key = SecretKey::from_bytes(seed);
            let peer = swapmeet_node::network::behaviour::keypair(&key)
                .map_err(SimError::Network)?
                .public()
                .to_peer_id();
            let mut pick = rng.unit() * total;
            let mut city = config.cities - 1;
            for (i, w) in weights.iter().enumerate() {
                if pick < *w {
                    city = i;
                    break;
                }
                pick -= w;
            }
            // Homes within about 10 km of the centre: a city's users spread over a few cells.
            let (_, lat, lon) = CITIES[city];
            let home = (
                lat + (rng.unit() - 0.5) * 0.18,
                lon + (rng.unit() - 0.5) * 0.27,
            );
            let net = NetworkConfig::default();
            let following = Following::around(Some(home), net.follow_radius_km);
            let addr = Multiaddr::empty()
                .with(Protocol::Memory(PORT_BASE + index as u64))
                .with(Protocol::P2p(peer));
            let mut bootstrap = Vec::new();
            for _ in 0..config.bootstrap.min(index) {
                let b: &SimNode = &nodes[rng.below(index)];
                if !bootstrap.contains(&b.addr) {
                    bootstrap.push(b.addr.clone());
                }
            }
            nodes.push(SimNode {
                index,
                key,
                peer,
                city,
                home,
                following,
                addr,
                starts: 0,
                bootstrap,
                bytes: Arc::new(WireBytes::default()),
                node: None,
                dir: root.path().join(format!("n{index}")),
            });
        }
        let mut sim = Sim {
            config,
            nodes,
            arrivals: Arc::default(),
            rss_before: rss_and_threads().0,
            start_time: Duration::ZERO,
            rng,
            _root: root,
        };
        let started = Instant::now();
        for i in 0..sim.nodes.len() {
            sim.start_node(i).await?;
            if (i + 1) % 100 == 0 {
                let (rss, threads) = rss_and_threads();
                eprintln!(
                    "{} nodes up after {:.1} s: rss {} MiB, {threads} threads",
                    i + 1,
                    started.elapsed().as_secs_f64(),
                    rss >> 20
                );
            }
        }
        sim.start_time = started.elapsed();
        Ok(sim)
    }

    /// Starts (or restarts) node `i` on its folder and key. A restart listens on a new port:
    /// libp2p-core 0.44's memory transport frees a listening port only when the listener is
    /// removed, not when the swarm holding it is dropped, so the old port stays taken (a home
    /// node coming back often has a new address too). The node finds its peers again from its
    /// bootstrap peers and its address book.
    pub async fn start_node(&mut self, i: usize) -> Result<(), SimError> {
        let port = PORT_BASE + i as u64 + self.nodes[i].starts * PORT_RESTART_STEP;
        self.nodes[i].starts += 1;
        self.nodes[i].addr = Multiaddr::empty()
            .with(Protocol::Memory(port))
            .with(Protocol::P2p(self.nodes[i].peer));
        let n = &self.nodes[i];
        let config = NetworkConfig {
            listen: vec![Multiaddr::empty().with(Protocol::Memory(port))],
            bootstrap: n.bootstrap.clone(),
            mdns: false,
            home: Some(n.home),
            transport: TransportChoice::Memory(n.bytes.clone()),
            reach: swapmeet_node::network::reach::ReachConfig {
                // Every simulated node can be dialled: Kademlia stays a server from the start.
                assume_public: true,
                ..Default::default()
            },
            limits: Limits {
                per_direction: self.config.connections,
                ..Limits::default()
            },
            idle_timeout: self.config.idle,
            ..NetworkConfig::default()
        };
        let node = LocalNode::start_with(
            &n.dir,
            n.key.clone(),
            config,
            engine_config(),
            MessagingConfig::default(),
        )
        .await
        .map_err(|source| SimError::Node { index: i, source })?;
        let mut events = node.engine.subscribe();
        let arrivals = self.arrivals.clone();
        tokio::spawn(async move {
            loop {
                match events.recv().await {
                    Ok(ev) => {
                        if ev.change == Change::Listed && matches!(ev.source, Source::Peer(_)) {
                            if let Ok(mut a) = arrivals.lock() {
                                a.entry(ev.id).or_default().push((i, Instant::now()));
                            }
                        }
                    }
                    Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => continue,
                    Err(tokio::sync::broadcast::error::RecvError::Closed) => break,
                }
            }
        });
        self.nodes[i].node = Some(node);
        Ok(())
    }

    /// Stops node `i` in order (network, then engine), keeping its folder.
    pub async fn stop_node(&mut self, i: usize) -> Result<(), SimError> {
        if let Some(node) = self.nodes[i].node.take() {
            node.stop()
                .await
                .map_err(|source| SimError::Node { index: i, source })?;
        }
        Ok(())
    }

    /// Stops every node.
    pub async fn stop_all(&mut self) -> Result<(), SimError> {
        for i in 0..self.nodes.len() {
            self.stop_node(i).await?;
        }
        Ok(())
    }

    /// Users per city, largest first, as (name, nodes).
    pub fn spread(&self) -> Vec<(&'static str, usize)> {
        let mut per: BTreeMap<usize, usize> = BTreeMap::new();
        for n in &self.nodes {
            *per.entry(n.city).or_default() += 1;
        }
        let mut out: Vec<(&'static str, usize)> =
            per.into_iter().map(|(c, k)| (CITIES[c].0, k)).collect();
        out.sort_by_key(|b| std::cmp::Reverse(b.1));
        out
    }

    /// Waits until every node that has peers in its city is connected to at least one of
    /// them (the gossip of a city needs its nodes connected to each other), or `limit`.
    /// Returns the nodes still without one. Asks every node at once: a thousand busy event
    /// loops asked in turn would each make the question wait for a turn of the runtime.
    pub async fn wait_for_areas(&self, limit: Duration) -> usize {
        let start = Instant::now();
        let city_of: HashMap<PeerId, usize> = self.nodes.iter().map(|n| (n.peer, n.city)).collect();
        let mut people: HashMap<usize, usize> = HashMap::new();
        for n in &self.nodes {
            *people.entry(n.city).or_default() += 1;
        }
        loop {
            let asked = self
                .nodes
                .iter()
                .filter(|n| people.get(&n.city).copied().unwrap_or(0) > 1)
                .filter_map(|n| {
                    let net = n.node.as_ref()?.net().clone();
                    Some(async move { (n.city, net.connected_peers().await.unwrap_or_default()) })
                });
            let lonely = futures::future::join_all(asked)
                .await
                .into_iter()
                .filter(|(city, peers)| !peers.iter().any(|p| city_of.get(p) == Some(city)))
                .count();
            if lonely == 0 || start.elapsed() > limit {
                return lonely;
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    }

    /// The nodes that are up, by index.
    pub fn up(&self) -> Vec<usize> {
        self.nodes
            .iter()
            .filter(|n| n.node.is_some())
            .map(|n| n.index)
            .collect()
    }

    /// The simulation's random numbers (publishers, churned nodes, look-ups).
    pub fn rng(&mut self) -> &mut Rng {
        &mut self.rng
    }
}

/// Resident memory of one node's parts, from opening `n` of each in this process: an engine
/// alone (sled store, lookups, reviews; no index), and a whole node with its network up but
/// no peer. Bytes per node.
#[derive(Clone, Copy, Debug, Default)]
pub struct Breakdown {
    /// Nodes opened.
    pub n: usize,
    /// An engine (store) alone.
    pub engine: u64,
    /// The rest of an unconnected node: messaging, market, blob store, the swarm and its
    /// event loop.
    pub network: u64,
}

/// Opens `n` engines, then `n` unconnected nodes on them, measuring the process's RSS at each
/// step; everything is closed again before it returns.
pub async fn breakdown(n: usize) -> Result<Breakdown, SimError> {
    let root = tempfile::Builder::new()
        .prefix("swapmeet-sim-parts")
        .tempdir()?;
    let (r0, _) = rss_and_threads();
    let mut engines = Vec::with_capacity(n);
    for i in 0..n {
        let dir = root.path().join(format!("e{i}"));
        let (engine, _) =
            tokio::task::spawn_blocking(move || swapmeet_node::Engine::open(&dir, engine_config()))
                .await??;
        engines.push(engine);
    }
    // The engines stay open while the nodes start: memory the allocator keeps after closing
    // them would otherwise be counted as the nodes' own.
    let (r1, _) = rss_and_threads();
    let mut nodes = Vec::with_capacity(n);
    for i in 0..n {
        let mut seed = [7u8; 32];
        seed[..8].copy_from_slice(&(i as u64).to_le_bytes());
        let key = SecretKey::from_bytes(seed);
        let config = NetworkConfig {
            listen: vec![Multiaddr::empty().with(Protocol::Memory(PORT_BASE / 2 + i as u64))],
            mdns: false,
            home: Some((CITIES[0].1, CITIES[0].2)),
            transport: TransportChoice::Memory(Arc::default()),
            ..NetworkConfig::default()
        };
        let node = LocalNode::start_with(
            &root.path().join(format!("n{i}")),
            key,
            config,
            engine_config(),
            MessagingConfig::default(),
        )
        .await
        .map_err(|source| SimError::Node { index: i, source })?;
        nodes.push(node);
    }
    let (r2, _) = rss_and_threads();
    for (i, node) in nodes.into_iter().enumerate() {
        node.stop()
            .await
            .map_err(|source| SimError::Node { index: i, source })?;
    }
    for e in engines {
        tokio::task::spawn_blocking(move || e.shutdown()).await??;
    }
    let per = |a: u64, b: u64| a.saturating_sub(b) / n.max(1) as u64;
    let engine = per(r1, r0);
    Ok(Breakdown {
        n,
        engine,
        network: per(r2, r1).saturating_sub(engine),
    })
}
