//! The libp2p network: how a node finds peers, hears new listings, and catches up.
//!
//! One task owns the libp2p `Swarm` (the event loop in `network/event_loop.rs`); the rest of
//! the node talks to it through a cloneable [`NetworkHandle`], whose methods send a command over
//! a bounded channel and await a `oneshot` reply. Every method is cancel-safe: dropping its
//! future only drops the reply.
//!
//! What enters from peers goes through the engine's one ingest path
//! (`Engine::ingest_bytes(.., Source::Peer(peer id))`) on the blocking pool, and what the local
//! user, the bridge or an import stored is published from the engine's event broadcast.
//!
//! The identity is the user's ed25519 key: a seller's id and its node's PeerId are one key.
//!
//! # Layout
//! - [`behaviour`]: the protocols and the swarm (TCP + noise + yamux, QUIC, DNS; gossipsub,
//!   Kademlia, sync request-response, identify, ping, mDNS, block list, connection limits).
//! - [`gossip`]: topics per area, the content-derived message id, what a node follows, how an
//!   ingest outcome becomes a gossipsub verdict, peer scoring.
//! - [`dht`]: Kademlia keys, the persisted and verifying record store, area provider keys.
//! - [`addrbook`]: the persisted address book a restarted node redials.
//! - [`reach`]: reachability behind NAT: AutoNAT v2, circuit relay v2 (client, and server
//!   within limits while public), DCUtR hole punching, Kademlia's mode.
//! - [`invite`]: invites (`swapmeet invite` / `join`): a peer id and its addresses as a short
//!   text with a checksum.
//! - [`sync`]: catch-up sync sessions between two peers (set reconciliation per area).
//! - [`blobs`]: photos and thumbnails by hash over `/swapmeet/blob/1`: serving within limits,
//!   provider records, the requests `crate::media::fetch` is built on.
//! - [`messaging`]: private messages over `/swapmeet/msg/1`: direct delivery, mailbox
//!   deposits and collection, receipts, rate limits.
//! - `event_loop`: the task that owns the swarm; beside it in `event_loop/` one file per
//!   protocol it drives (`gossip`, `kad`, `sync`, `peers`, `reviews`) plus `commands`,
//!   `status` and `trim` (the connections' book and the periodic trim).
//! - [`local`]: an engine + network without the API, for tests, benchmarks and examples.
//! - [`memory`]: the choice of transports; libp2p's memory transport (with byte counters) for
//!   simulations of many nodes in one process.
//!
//! - [`executor`]: the one bounded executor for the blocking work the loop starts, each kind
//!   with its own cap; the loop itself never touches the disk.
//! - [`limits`]: connection limits (per direction, pending, per peer, per IP address) and
//!   bans of addresses that keep knocking.
//! - [`trim`]: which connections to close, least useful first, when a direction nears its
//!   limit, so the peers a node needs still find room.
//! - [`bans`]: peers banned for a while after [`STRIKES_TO_BAN`] strikes.
//!
//! Shutdown ([`Network::shutdown`]): stop taking commands, close the executor to new work and
//! drain what is in flight (ingest, answers, checks), write the address book and the DHT
//! records, fail pending dials, drop the swarm (closing every connection). The node stops the
//! network after the API and before the engine, whose shutdown flushes the store.

pub mod addrbook;
pub mod bans;
pub mod behaviour;
pub mod blobs;
pub mod dht;
mod event_loop;
pub mod executor;
mod frame;
pub mod gossip;
pub mod invite;
pub mod limits;
pub mod local;
pub mod memory;
pub mod messaging;
pub mod reach;
pub mod sync;
pub mod trim;

use std::collections::BTreeMap;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use libp2p::{Multiaddr, PeerId};
use serde::Serialize;
use swapmeet_protocol::{ListingId, SecretKey};
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

use crate::engine::Engine;
use crate::home::Config;
use crate::media::blobs::BlobStore;
use crate::messaging::Messenger;
use gossip::Following;

/// Listen addresses when neither the config nor the command line names any.
pub const DEFAULT_LISTEN: [&str; 2] = ["/ip4/0.0.0.0/tcp/0", "/ip4/0.0.0.0/udp/0/quic-v1"];

/// Capacity of the command channel (callers wait when it is full).
pub const COMMAND_CAPACITY: usize = 64;

/// Errors of the network.
#[derive(Debug, thiserror::Error)]
pub enum NetworkError {
    /// An address in the options or config is not a multiaddr.
    #[error("'{addr}' is not a libp2p address (e.g. /ip4/0.0.0.0/tcp/4001): {reason}")]
    BadAddress {
        /// The text given.
        addr: String,
        /// Why it does not parse.
        reason: String,
    },
    /// Listening failed.
    #[error("cannot listen on {addr}: {reason}")]
    Listen {
        /// The address.
        addr: Multiaddr,
        /// Why.
        reason: String,
    },
    /// Building the swarm failed.
    #[error("network setup: {0}")]
    Setup(String),
    /// The store could not be opened for the network's state.
    #[error("network state: {0}")]
    Store(#[from] crate::store::StoreError),
    /// A dial failed.
    #[error("dialing {addr} failed: {reason}")]
    Dial {
        /// The address.
        addr: String,
        /// Why.
        reason: String,
    },
    /// Publishing failed.
    #[error("publishing failed: {0}")]
    Publish(String),
    /// The network has stopped.
    #[error("the network is not running")]
    Stopped,
}

/// Settings of the network.
#[derive(Clone, Debug)]
pub struct NetworkConfig {
    /// Addresses to listen on.
    pub listen: Vec<Multiaddr>,
    /// Peers to dial at start.
    pub bootstrap: Vec<Multiaddr>,
    /// Discover peers on the local network.
    pub mdns: bool,
    /// The home location: the centre of the area followed. `None` follows everything.
    pub home: Option<(f64, f64)>,
    /// Radius around home whose listings the node keeps, in km.
    pub follow_radius_km: f64,
    /// Gossipsub heartbeat (mesh upkeep and gossip of what was seen).
    pub heartbeat: Duration,
    /// How often the node syncs with one of its peers besides when it connects.
    pub sync_interval: Duration,
    /// How long an idle connection stays open.
    pub idle_timeout: Duration,
    /// How many messaging requests a peer may send (token bucket per peer).
    pub msg_rate: messaging::bucket::Rate,
    /// What the node serves of its blobs at once and how fast.
    pub blob_serve: blobs::ServeLimits,
    /// How many gossip messages a peer may forward to this node (token bucket per peer).
    pub gossip_rate: messaging::bucket::Rate,
    /// Connection limits: per direction, pending, per peer, per IP address; address bans.
    pub limits: limits::Limits,
    /// How long a peer that earned [`STRIKES_TO_BAN`] strikes stays banned.
    pub ban_for: Duration,
    /// The wait before a failed DHT put of the node's own listing is tried again (doubled for
    /// each next try; `event_loop/puts.rs`).
    pub dht_put_retry: Duration,
    /// Reachability: AutoNAT, the relay this node runs for others, Kademlia's mode.
    pub reach: reach::ReachConfig,
    /// The transports: the system's (TCP, QUIC, DNS) for every real node, libp2p's memory
    /// transport for simulations of many nodes in one process (`network/memory.rs`).
    pub transport: memory::TransportChoice,
}

/// Strikes (invalid records, garbage requests, floods) before a peer is banned.
pub const STRIKES_TO_BAN: u32 = 3;

/// The gossip a peer may forward: 200 messages a second, 2,000 at once. A node's own burst
/// (an import of a shop's stock) is bigger, and reaches peers through sync instead of gossip
/// when it exceeds this; a relay forwarding a busy area stays well within it.
pub const DEFAULT_GOSSIP_RATE: messaging::bucket::Rate = messaging::bucket::Rate {
    per_sec: 200.0,
    burst: 2000,
};

/// How long a misbehaving peer is banned by default.
pub const DEFAULT_BAN: Duration = Duration::from_secs(30 * 60);

impl Default for NetworkConfig {
    fn default() -> Self {
        NetworkConfig {
            listen: Vec::new(),
            bootstrap: Vec::new(),
            mdns: true,
            home: None,
            follow_radius_km: 50.0,
            heartbeat: Duration::from_millis(300),
            sync_interval: Duration::from_secs(5 * 60),
            idle_timeout: Duration::from_secs(10 * 60),
            msg_rate: messaging::DEFAULT_RATE,
            blob_serve: blobs::ServeLimits::default(),
            gossip_rate: DEFAULT_GOSSIP_RATE,
            limits: limits::Limits::default(),
            ban_for: DEFAULT_BAN,
            dht_put_retry: Duration::from_secs(60),
            reach: reach::ReachConfig::default(),
            transport: memory::TransportChoice::System,
        }
    }
}

fn parse_addrs<'a>(
    items: impl IntoIterator<Item = &'a String>,
) -> Result<Vec<Multiaddr>, NetworkError> {
    let mut out: Vec<Multiaddr> = Vec::new();
    for s in items {
        let a: Multiaddr =
            s.trim()
                .parse()
                .map_err(|e: libp2p::multiaddr::Error| NetworkError::BadAddress {
                    addr: s.clone(),
                    reason: e.to_string(),
                })?;
        if !out.contains(&a) {
            out.push(a);
        }
    }
    Ok(out)
}

impl NetworkConfig {
    /// The settings of a home's config plus the command line's additions. Listen addresses
    /// given on the command line replace the config's (so two nodes on one machine can pick
    /// ports); bootstrap peers are added to the config's.
    pub fn from_home(
        config: &Config,
        home: Option<(f64, f64)>,
        listen: &[String],
        bootstrap: &[String],
        no_mdns: bool,
    ) -> Result<NetworkConfig, NetworkError> {
        let mut listen = if listen.is_empty() {
            parse_addrs(&config.node.listen)?
        } else {
            parse_addrs(listen)?
        };
        if listen.is_empty() {
            // Any free port on every interface, TCP and QUIC; the status shows what was
            // picked. A node meant to be a bootstrap peer sets fixed ports in its config.
            listen = parse_addrs(&DEFAULT_LISTEN.map(String::from))?;
        }
        let dnsaddr = config
            .dnsaddr_bootstrap()
            .map_err(|e| NetworkError::Setup(e.to_string()))?;
        let bootstrap = parse_addrs(
            config
                .node
                .bootstrap
                .iter()
                .chain(&dnsaddr)
                .chain(bootstrap),
        )?;
        let reach = config
            .reach()
            .map_err(|e| NetworkError::Setup(e.to_string()))?;
        let blob_serve = config
            .blob_serve()
            .map_err(|e| NetworkError::Setup(e.to_string()))?;
        Ok(NetworkConfig {
            listen,
            bootstrap,
            mdns: config.node.mdns && !no_mdns,
            home,
            follow_radius_km: config.node.follow_radius_km,
            msg_rate: messaging::bucket::Rate {
                per_sec: f64::from(config.messaging.peer_requests_per_sec),
                burst: config.messaging.peer_burst,
            },
            blob_serve,
            reach,
            ..NetworkConfig::default()
        })
    }
}

/// Counters of gossip traffic.
#[derive(Clone, Copy, Debug, Default, Serialize)]
pub struct GossipCounters {
    /// Messages received.
    pub received: u64,
    /// Accepted (stored, or already stored) and forwarded.
    pub accepted: u64,
    /// Ignored (stale, out of area, clock rules, queue full).
    pub ignored: u64,
    /// Rejected as invalid (counted against the sender).
    pub rejected: u64,
    /// Dropped unread because the forwarding peer exceeded its gossip rate.
    pub rate_limited: u64,
    /// Listings this node published.
    pub published: u64,
}

/// The cost of the DHT look-ups a node asked for (listing records and PeerIds, not Kademlia's
/// own upkeep), summed over those finished: `requests / finished` is how many peers a look-up
/// asks. libp2p's Kademlia does not report how many rounds (hops) a query took.
#[derive(Clone, Copy, Debug, Default, Serialize)]
pub struct DhtLookups {
    /// Look-ups finished.
    pub finished: u64,
    /// Requests they sent to peers.
    pub requests: u64,
    /// Of those, answered.
    pub answered: u64,
    /// Their time, summed, in milliseconds.
    pub millis: u64,
}

/// The node's own listings put into the DHT (`event_loop/puts.rs`).
#[derive(Clone, Copy, Debug, Default, Serialize, serde::Deserialize)]
pub struct DhtPuts {
    /// Puts a peer took.
    pub stored: u64,
    /// Puts tried again after a failure.
    pub retried: u64,
    /// Puts given up after their last attempt (Kademlia's hourly replication tries again), or
    /// whose listing was gone when their retry came.
    pub given_up: u64,
}

/// A sync this node asked for, in progress or finished.
#[derive(Clone, Debug, Serialize)]
pub struct SyncInfo {
    /// The peer.
    pub peer: String,
    /// When it started (unix seconds).
    pub started_at: u64,
    /// When it finished (unix seconds), if it did.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub finished_at: Option<u64>,
    /// Progress as the session reports it.
    pub progress: serde_json::Value,
    /// The error, if it failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// What the status shows about the network.
#[derive(Clone, Debug, Default, Serialize)]
pub struct NetworkStatus {
    /// The node's PeerId.
    pub peer_id: String,
    /// Where it listens, each with `/p2p/<peer id>` so it can be given to `--bootstrap`.
    pub listen: Vec<String>,
    /// Whether peers can dial it: public, behind NAT via a relay, hole punches.
    pub reachability: reach::Reachability,
    /// Connected peers.
    pub connected_peers: usize,
    /// Peers in the address book.
    pub known_peers: usize,
    /// What the node follows.
    pub following: Option<Following>,
    /// Listings (and withdrawals) stored per followed area.
    pub listings_per_area: BTreeMap<String, usize>,
    /// Records held for the DHT.
    pub dht_records: usize,
    /// What the look-ups this node asked for (listing records, PeerIds) cost.
    pub dht_lookups: DhtLookups,
    /// The node's own listings put into the DHT.
    pub dht_puts: DhtPuts,
    /// Gossip counters.
    pub gossip: GossipCounters,
    /// Syncs in progress.
    pub syncing: Vec<SyncInfo>,
    /// The last sync that finished.
    pub last_sync: Option<SyncInfo>,
    /// Syncs finished since start.
    pub syncs_completed: u64,
    /// Bytes of sync messages this node wrote (requests and answers).
    pub sync_bytes_sent: u64,
    /// Bytes of sync messages this node read.
    pub sync_bytes_received: u64,
    /// Private messages: the mailbox held for others, my messages under way, counters.
    pub messaging: messaging::MessagingStatus,
    /// Blobs served, refused as busy, announced.
    pub blobs: blobs::BlobNetStatus,
    /// Peers banned now (for misbehaving; they expire).
    pub banned_peers: usize,
    /// Connection limits: refusals, banned addresses.
    pub limits: limits::LimitsStatus,
    /// The blocking work the network runs, per kind: in flight, cap, refused.
    pub executor: Vec<executor::KindStatus>,
    /// Sizes of the per-peer maps (all pruned when a peer leaves).
    pub peer_state: PeerStateSizes,
}

/// Entries in each per-peer map of the network. Every one is pruned when its peer's last
/// connection closes, so with no peer connected they are all 0.
#[derive(Clone, Copy, Debug, Default, Serialize)]
pub struct PeerStateSizes {
    /// Connected peers' addresses and agents.
    pub peers: usize,
    /// Peers whose strikes are remembered: kept across their connections (a reconnect does
    /// not wipe them), at most [`bans::MAX_STRIKE_RECORDS`], forgotten
    /// [`bans::STRIKE_MEMORY`] after a peer's last strike; not counted by `is_empty`.
    pub strikes: usize,
    /// Invalid-message counts of connected peers.
    pub rejected: usize,
    /// Sync sessions.
    pub sync_sessions: usize,
    /// Gossip rate buckets.
    pub gossip_buckets: usize,
    /// Messaging rate buckets.
    pub msg_buckets: usize,
    /// Blob serving buckets and counts.
    pub blob_buckets: usize,
}

impl PeerStateSizes {
    /// Whether every map of connected peers' state is empty (strike records outlive
    /// connections on purpose, bounded and pruned by time).
    pub fn is_empty(&self) -> bool {
        let PeerStateSizes {
            peers,
            strikes: _,
            rejected,
            sync_sessions,
            gossip_buckets,
            msg_buckets,
            blob_buckets,
        } = *self;
        peers + rejected + sync_sessions + gossip_buckets + msg_buckets + blob_buckets == 0
    }
}

/// What [`NetworkHandle::join`] did.
#[derive(Clone, Debug, Serialize, serde::Deserialize)]
pub struct JoinOutcome {
    /// Whether a connection to the peer is open now.
    pub connected: bool,
    /// Why each address dialled before that failed.
    pub errors: Vec<String>,
}

/// A connected peer, as `GET /v1/peers` shows it.
#[derive(Clone, Debug, Serialize)]
pub struct PeerView {
    /// PeerId.
    pub peer_id: String,
    /// The address of the connection.
    pub address: String,
    /// "outbound" or "inbound".
    pub direction: &'static str,
    /// What it calls itself (identify agent version).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub agent: Option<String>,
    /// Gossipsub score.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub score: Option<f64>,
    /// Invalid messages it sent us.
    pub rejected: u64,
    /// Why the newest of them were rejected (at most 8, oldest first).
    pub rejections: Vec<RejectionView>,
    /// Misbehaviours counted against it (invalid records, bytes that did not match their
    /// hash, floods); at 3 it is banned for a while.
    pub strikes: u32,
}

/// Why a peer's gossip message was rejected, as `GET /v1/peers` shows it.
#[derive(Clone, Debug, Serialize)]
pub struct RejectionView {
    /// What failed: `decode`, `signature`, `validation`, `review` or `wrong_topic`.
    pub class: &'static str,
    /// The topic it came on.
    pub topic: String,
    /// The rule it broke, naming the field and the limit.
    pub reason: String,
}

/// State the event loop publishes for synchronous readers (the API's status).
#[derive(Default)]
pub(crate) struct Shared {
    pub(crate) status: RwLock<NetworkStatus>,
}

/// A command to the event loop.
pub(crate) enum Command {
    ListenAddrs(oneshot::Sender<Vec<Multiaddr>>),
    Dial(Multiaddr, oneshot::Sender<Result<PeerId, NetworkError>>),
    ConnectedPeers(oneshot::Sender<Vec<PeerId>>),
    Peers(oneshot::Sender<Vec<PeerView>>),
    Block(PeerId, oneshot::Sender<()>),
    Unblock(PeerId, oneshot::Sender<()>),
    GetListing(ListingId, oneshot::Sender<Option<Vec<u8>>>),
    FindPeer(PeerId, oneshot::Sender<Vec<Multiaddr>>),
    PublishRaw(String, Vec<u8>, oneshot::Sender<Result<(), NetworkError>>),
    PeerScore(PeerId, oneshot::Sender<Option<f64>>),
    SyncRaw(PeerId, sync::SyncRequest, oneshot::Sender<()>),
    MsgRaw(
        PeerId,
        messaging::MsgRequest,
        oneshot::Sender<Result<messaging::MsgResponse, String>>,
    ),
    SyncNow(oneshot::Sender<usize>),
    Blob(blobs::BlobCommand),
    Penalize(PeerId, &'static str),
    Invite(oneshot::Sender<invite::Invite>),
    Join(invite::Invite, oneshot::Sender<Option<addrbook::BookWrite>>),
    Shutdown(oneshot::Sender<()>),
}

/// The cloneable handle of the network.
#[derive(Clone)]
pub struct NetworkHandle {
    commands: mpsc::Sender<Command>,
    peer_id: PeerId,
    shared: Arc<Shared>,
}

impl std::fmt::Debug for NetworkHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NetworkHandle")
            .field("peer_id", &self.peer_id)
            .finish_non_exhaustive()
    }
}

impl NetworkHandle {
    async fn ask<T>(
        &self,
        make: impl FnOnce(oneshot::Sender<T>) -> Command,
    ) -> Result<T, NetworkError> {
        let (tx, rx) = oneshot::channel();
        self.commands
            .send(make(tx))
            .await
            .map_err(|_| NetworkError::Stopped)?;
        rx.await.map_err(|_| NetworkError::Stopped)
    }

    /// The node's PeerId.
    pub fn peer_id(&self) -> PeerId {
        self.peer_id
    }

    /// The addresses the node listens on (without `/p2p/`).
    pub async fn listen_addrs(&self) -> Result<Vec<Multiaddr>, NetworkError> {
        self.ask(Command::ListenAddrs).await
    }

    /// Dials an address and waits until the connection is established; returns the peer.
    pub async fn dial(&self, addr: Multiaddr) -> Result<PeerId, NetworkError> {
        self.ask(|tx| Command::Dial(addr, tx)).await?
    }

    /// An invite to this node: its confirmed public addresses, relay circuits, then the
    /// concrete addresses it listens on.
    pub async fn invite(&self) -> Result<invite::Invite, NetworkError> {
        self.ask(Command::Invite).await
    }

    /// Joins through an invite: the peer goes into the address book (written to disk before
    /// this returns) and the bootstrap peers redialled while not connected (and the node has
    /// fewer than 8 peers); then its addresses are dialled in turn. Returns the outcome of the
    /// dials (the peer stays known either way).
    pub async fn join(&self, invite: invite::Invite) -> Result<JoinOutcome, NetworkError> {
        let addrs = invite.dial_addrs();
        let book = self.ask(|tx| Command::Join(invite, tx)).await?;
        if let Some(book) = book {
            tokio::task::spawn_blocking(move || book.write_durably())
                .await
                .map_err(|e| NetworkError::Setup(e.to_string()))?
                .map_err(|e| NetworkError::Setup(format!("writing the address book: {e}")))?;
        }
        let mut errors = Vec::new();
        for a in addrs {
            match self.dial(a).await {
                Ok(_) => {
                    return Ok(JoinOutcome {
                        connected: true,
                        errors,
                    })
                }
                Err(e) => errors.push(e.to_string()),
            }
        }
        Ok(JoinOutcome {
            connected: false,
            errors,
        })
    }

    /// The peers connected now.
    pub async fn connected_peers(&self) -> Result<Vec<PeerId>, NetworkError> {
        self.ask(Command::ConnectedPeers).await
    }

    /// Cuts a peer off until [`NetworkHandle::unblock`]: closes its connections and refuses
    /// new ones.
    pub async fn block(&self, peer: PeerId) -> Result<(), NetworkError> {
        self.ask(|tx| Command::Block(peer, tx)).await
    }

    /// Lifts a block.
    pub async fn unblock(&self, peer: PeerId) -> Result<(), NetworkError> {
        self.ask(|tx| Command::Unblock(peer, tx)).await
    }

    /// Looks a listing up in the DHT: the signed envelope bytes of the first valid version
    /// found (verified before it is returned), or `None`.
    pub async fn get_listing(&self, id: ListingId) -> Result<Option<Vec<u8>>, NetworkError> {
        self.ask(|tx| Command::GetListing(id, tx)).await
    }

    /// Finds the addresses of a peer (any seller's PeerId) through the DHT.
    pub async fn find_peer(&self, peer: PeerId) -> Result<Vec<Multiaddr>, NetworkError> {
        self.ask(|tx| Command::FindPeer(peer, tx)).await
    }

    /// Publishes bytes as they are on the topic of `area`, bypassing ingest. For tests of how
    /// peers treat bad input; a node never does this on its own.
    #[doc(hidden)]
    pub async fn publish_raw(&self, area: &str, bytes: Vec<u8>) -> Result<(), NetworkError> {
        self.ask(|tx| Command::PublishRaw(area.to_string(), bytes, tx))
            .await?
    }

    /// Sends a sync request as it is, outside any session, and forgets the answer. For tests
    /// of how peers treat bad requests; a node never does this on its own.
    #[doc(hidden)]
    pub async fn sync_raw(&self, peer: PeerId, req: sync::SyncRequest) -> Result<(), NetworkError> {
        self.ask(|tx| Command::SyncRaw(peer, req, tx)).await
    }

    /// Sends a messaging request as it is and returns the answer (or why there is none). For
    /// tests of how peers treat forged, replayed or flooding requests; a node never does this
    /// on its own.
    #[doc(hidden)]
    pub async fn msg_raw(
        &self,
        peer: PeerId,
        req: messaging::MsgRequest,
    ) -> Result<Result<messaging::MsgResponse, String>, NetworkError> {
        self.ask(|tx| Command::MsgRaw(peer, req, tx)).await
    }

    /// The gossipsub score this node gives a peer.
    pub async fn peer_score(&self, peer: PeerId) -> Result<Option<f64>, NetworkError> {
        self.ask(|tx| Command::PeerScore(peer, tx)).await
    }

    /// Starts a sync with every connected peer now (normally it runs on connect and every
    /// `sync_interval`); returns how many were started or queued.
    pub async fn sync_now(&self) -> Result<usize, NetworkError> {
        self.ask(Command::SyncNow).await
    }

    /// The status as last published by the event loop (does not wait for it).
    pub fn status(&self) -> NetworkStatus {
        self.shared
            .status
            .read()
            .map(|s| s.clone())
            .unwrap_or_default()
    }

    /// The connected peers, as the event loop sees them now. Built when asked, not with the
    /// status: a view of every peer (its PeerId as text, its gossip score) costs in proportion
    /// to the connections, and refreshing it twice a second was the largest steady cost of the
    /// many-node simulation (docs/SCALE.md).
    pub async fn peers(&self) -> Result<Vec<PeerView>, NetworkError> {
        self.ask(Command::Peers).await
    }
}

/// The running network: its handle and its task.
pub struct Network {
    handle: NetworkHandle,
    task: Option<JoinHandle<()>>,
}

impl Network {
    /// Starts the network: builds the swarm with the user's key, listens, dials the bootstrap
    /// peers and the address book, and spawns the event loop. Sets the engine's area filter to
    /// what the node follows. `messenger` (opened on the same store and key) is what private
    /// messages are delivered from and into; `blobs` is what photos are served from.
    pub async fn start(
        engine: Engine,
        key: &SecretKey,
        config: NetworkConfig,
        messenger: Messenger,
        blobs: BlobStore,
    ) -> Result<Network, NetworkError> {
        let (handle, task) = event_loop::spawn(engine, key, config, messenger, blobs).await?;
        Ok(Network {
            handle,
            task: Some(task),
        })
    }

    /// The handle.
    pub fn handle(&self) -> &NetworkHandle {
        &self.handle
    }

    /// Stops the network in order and waits for its task.
    pub async fn shutdown(mut self) {
        let (tx, rx) = oneshot::channel();
        if self
            .handle
            .commands
            .send(Command::Shutdown(tx))
            .await
            .is_ok()
        {
            let _ = rx.await;
        }
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

impl Drop for Network {
    fn drop(&mut self) {
        // Dropped without `shutdown` (a test that panicked): stop the task rather than leave
        // it running with the engine.
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}
