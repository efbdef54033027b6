//! The one task that owns the swarm.
//!
//! It reacts to three sources: commands from [`NetworkHandle`]s, swarm events, and the results
//! of blocking work it handed to the network's executor (ingest, sync answers, record checks,
//! disk writes; messaging and blob serving hand theirs to it too, `network/messaging.rs`,
//! `network/blobs.rs`). Nothing slow runs on this task, and it never writes to disk: signature
//! checks of batches, store scans, ingest and the writes of the address book and DHT records
//! all go to the executor (`network/executor.rs`, one cap per kind) and come back as [`Done`]
//! messages, so the swarm keeps being polled and relaying whatever the disk does.
//!
//! The `select!` in [`EventLoop::run`] is the table of contents; each protocol's handling
//! lives beside this file in `event_loop/`.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use libp2p::gossipsub::TopicHash;
use libp2p::kad::QueryId;
use libp2p::request_response::{OutboundRequestId, ResponseChannel};
use libp2p::swarm::dial_opts::DialOpts;
use libp2p::swarm::{ConnectionId, SwarmEvent};
use libp2p::{Multiaddr, PeerId, Swarm};
use swapmeet_protocol::SecretKey;
use tokio::sync::{broadcast, mpsc, oneshot};
use tokio::task::JoinHandle;

use super::addrbook::{AddressBook, ADDRBOOK_TREE};
use super::bans::BanList;
use super::behaviour::{build_swarm, Behaviour, BehaviourEvent};
use super::blobs::BlobWire;
use super::dht::{CheckedRecord, ListingRecordStore, RecordError, KAD_TREE};
use super::executor::{Executor, Kind};
use super::gossip::Following;
use super::messaging::bucket::Rate;
use super::messaging::MessagingWire;
use super::sync::{SyncClient, SyncError, SyncRequest, SyncResponse, SyncServer, WireCounters};
use super::{
    Command, GossipCounters, NetworkConfig, NetworkError, NetworkHandle, Shared, SyncInfo,
    COMMAND_CAPACITY,
};
use crate::engine::{Clock, Engine};
use crate::events::Event;
use crate::messaging::Messenger;
use kad::GetQuery;
use peers::PeerMeta;
use sync::Session;

mod commands;
mod dials;
mod gossip;
mod kad;
mod peers;
mod puts;
mod reach;
mod reviews;
mod status;
mod sync;
mod trim;

/// Peers from the address book redialled at start.
const REDIAL: usize = 32;
/// How often the status is refreshed for readers.
const STATUS_EVERY: Duration = Duration::from_millis(500);
/// How often per-area counts are refreshed (they scan the store).
const AREA_COUNTS_EVERY: Duration = Duration::from_secs(10);
/// How often the node announces its areas and looks for peers carrying them.
const PROVIDE_EVERY: Duration = Duration::from_secs(10 * 60);

/// Results of blocking work, sent back to the loop.
enum Done {
    Gossip(Vec<gossip::GossipChecked>),
    Served {
        peer: PeerId,
        channel: ResponseChannel<SyncResponse>,
        result: Result<SyncResponse, SyncError>,
    },
    SyncStarted {
        peer: PeerId,
        result: Result<(SyncClient, SyncRequest), SyncError>,
    },
    SyncIngested {
        peer: PeerId,
        stored: usize,
        rejected_by_fault: usize,
        rejected: usize,
    },
    DhtChecked {
        peer: PeerId,
        result: Result<Option<CheckedRecord>, RecordError>,
    },
    AreaCounts(std::collections::BTreeMap<String, usize>),
    /// A batch of DHT record changes was written.
    DhtWritten,
}

struct EventLoop {
    swarm: Swarm<Behaviour>,
    commands: mpsc::Receiver<Command>,
    events: broadcast::Receiver<Event>,
    /// Reviews stored (`event_loop/reviews.rs`).
    reviews: broadcast::Receiver<crate::market::reviews::ReviewEvent>,
    engine: Engine,
    following: Following,
    /// The area tags followed (subscribed, synced, announced).
    areas: Vec<String>,
    shared: Arc<Shared>,
    addrbook: AddressBook,
    done_tx: mpsc::Sender<Done>,
    done_rx: mpsc::Receiver<Done>,
    pending_gossip: VecDeque<gossip::PendingGossip>,
    /// Gossip rate per forwarding peer (pruned when the peer leaves).
    gossip_buckets: HashMap<PeerId, gossip::PeerRate>,
    gossip_rate: Rate,
    /// The blocking work this loop starts (`network/executor.rs`).
    exec: Executor,
    /// Peers banned for misbehaving, until their ban ends.
    bans: BanList,
    ban_for: Duration,
    /// Peers the user blocked (never unblocked by a ban's end).
    user_blocked: HashSet<PeerId>,
    /// Where `Command::Shutdown` wants its answer once the loop has drained.
    stop_reply: Option<oneshot::Sender<()>>,
    unsent: VecDeque<(TopicHash, Vec<u8>)>,
    dials: HashMap<ConnectionId, dials::PendingDial>,
    gets: HashMap<QueryId, GetQuery>,
    finds: HashMap<QueryId, (PeerId, oneshot::Sender<Vec<Multiaddr>>)>,
    sessions: HashMap<PeerId, Session>,
    /// Peers that connected while every sync slot was taken, in arrival order
    /// (`event_loop/sync.rs`).
    sync_waiting: VecDeque<PeerId>,
    raw_requests: std::collections::HashSet<OutboundRequestId>,
    server: SyncServer,
    counters: GossipCounters,
    /// What the look-ups asked for through the handle cost (`event_loop/kad.rs`).
    dht_lookups: super::DhtLookups,
    /// The node's own DHT puts, and their retries (`event_loop/puts.rs`).
    own_puts: puts::OwnPuts,
    dht_put_retry: Duration,
    strikes: super::bans::StrikeBook,
    /// Gossip messages each connected peer sent that were rejected, with the last reasons.
    rejected_from: HashMap<PeerId, gossip::PeerRejections>,
    peer_meta: HashMap<PeerId, PeerMeta>,
    last_sync: Option<SyncInfo>,
    syncs_completed: u64,
    area_counts: std::collections::BTreeMap<String, usize>,
    wire: Arc<WireCounters>,
    sync_interval: Duration,
    sync_turn: usize,
    provided: bool,
    /// Area announcements and provider look-ups (`event_loop/kad.rs`).
    areas_found: kad::AreaDiscovery,
    /// Private messages (`network/messaging.rs`).
    msg: MessagingWire,
    /// Photos and thumbnails (`network/blobs.rs`).
    blobs: BlobWire,
    /// The bootstrap addresses, redialled while their peers are not connected.
    bootstrap: Vec<Multiaddr>,
    /// What AutoNAT, the relays and DCUtR found (`network/reach.rs`).
    reach: super::reach::ReachState,
    /// The config says the node is public (Kademlia stays a server).
    assume_public: bool,
    /// A connected peer turned into a Kademlia server: refresh the routing table
    /// (`event_loop/reach.rs`).
    kad_refresh: super::reach::KadRefresh,
    /// Listens through relays: listener → (relay, circuit address).
    relay_listens: HashMap<libp2p::core::transport::ListenerId, (PeerId, Multiaddr)>,
    /// Whether the bootstrap peers and the address book were dialled at start yet.
    dialled_at_start: bool,
    /// Connected peers that offer to relay.
    relay_candidates: std::collections::BTreeSet<PeerId>,
    /// Whether this node advertises the relay protocol now.
    relay_serving: bool,
    /// Whether it relays for others: always, never, or while public.
    relay_serve: super::reach::RelayServe,
    /// The connections and what makes each worth keeping (`event_loop/trim.rs`).
    conn_book: trim::ConnBook,
    /// The cap of established connections in each direction (the trimming's marks).
    per_direction: usize,
}

/// Builds the swarm, listens, dials, and spawns the loop.
pub(super) async fn spawn(
    engine: Engine,
    key: &SecretKey,
    config: NetworkConfig,
    messenger: Messenger,
    blob_store: crate::media::blobs::BlobStore,
) -> Result<(NetworkHandle, JoinHandle<()>), NetworkError> {
    let following = Following::around(config.home, config.follow_radius_km);
    engine.set_area_filter(following.area_filter());
    let areas = following.areas();
    let local = super::behaviour::keypair(key)?.public().to_peer_id();
    let clock = clock_of(&engine);
    let kad_tree = engine.store().tree(KAD_TREE)?;
    let book_tree = engine.store().tree(ADDRBOOK_TREE)?;
    // The DHT serves nothing of the sellers the user blocked.
    let hidden: crate::network::dht::SignerFilter = {
        let engine = engine.clone();
        Arc::new(move |k: &[u8; 32]| engine.moderation().is_blocked(k))
    };
    let (store, addrbook) = tokio::task::spawn_blocking(move || {
        (
            ListingRecordStore::open(kad_tree, local, clock).hide_signers(hidden),
            AddressBook::load(book_tree),
        )
    })
    .await
    .map_err(|e| NetworkError::Setup(e.to_string()))?;
    let wire = Arc::new(WireCounters::default());
    let mut swarm = build_swarm(key, &config, store, &following, wire.clone())?;
    for t in &areas {
        swarm
            .behaviour_mut()
            .gossip
            .subscribe(&super::gossip::topic(t))
            .map_err(|e| NetworkError::Setup(format!("subscribing to {t}: {e}")))?;
    }
    let mut listeners = HashSet::new();
    for addr in &config.listen {
        port_free(addr)?;
        let id = swarm
            .listen_on(addr.clone())
            .map_err(|e| NetworkError::Listen {
                addr: addr.clone(),
                reason: e.to_string(),
            })?;
        listeners.insert(id);
    }
    for (peer, addrs) in addrbook.recent(REDIAL) {
        if peer == local || addrs.is_empty() {
            continue;
        }
        for a in &addrs {
            swarm.behaviour_mut().kad.add_address(&peer, a.clone());
        }
    }
    let (cmd_tx, cmd_rx) = mpsc::channel(COMMAND_CAPACITY);
    let (done_tx, done_rx) = mpsc::channel(1024);
    let shared = Arc::new(Shared::default());
    let handle = NetworkHandle {
        commands: cmd_tx,
        peer_id: local,
        shared: shared.clone(),
    };
    let msg = MessagingWire::new(messenger, clock_of(&engine), config.msg_rate);
    let mut exec = Executor::default();
    // The config's total of blob chunks read at once is that kind's cap.
    exec.set_cap(Kind::BlobServe, config.blob_serve.total);
    let event_loop = EventLoop {
        msg,
        blobs: BlobWire::new(blob_store, config.blob_serve),
        swarm,
        commands: cmd_rx,
        events: engine.subscribe(),
        reviews: engine.reviews().subscribe(),
        server: SyncServer::new(engine.clone()),
        engine,
        following,
        areas,
        shared,
        addrbook,
        done_tx,
        done_rx,
        pending_gossip: VecDeque::new(),
        gossip_buckets: HashMap::new(),
        gossip_rate: config.gossip_rate,
        exec,
        bans: BanList::default(),
        ban_for: config.ban_for,
        user_blocked: HashSet::new(),
        stop_reply: None,
        unsent: VecDeque::new(),
        dials: HashMap::new(),
        gets: HashMap::new(),
        finds: HashMap::new(),
        sessions: HashMap::new(),
        sync_waiting: VecDeque::new(),
        raw_requests: Default::default(),
        counters: GossipCounters::default(),
        dht_lookups: Default::default(),
        own_puts: puts::OwnPuts::default(),
        dht_put_retry: config.dht_put_retry,
        strikes: super::bans::StrikeBook::default(),
        rejected_from: HashMap::new(),
        peer_meta: HashMap::new(),
        last_sync: None,
        syncs_completed: 0,
        area_counts: Default::default(),
        wire,
        sync_interval: config.sync_interval,
        sync_turn: 0,
        provided: false,
        areas_found: Default::default(),
        bootstrap: config.bootstrap.clone(),
        reach: Default::default(),
        assume_public: config.reach.assume_public,
        kad_refresh: Default::default(),
        relay_listens: HashMap::new(),
        dialled_at_start: false,
        relay_candidates: Default::default(),
        relay_serving: config.reach.relay_serve == super::reach::RelayServe::On,
        relay_serve: config.reach.relay_serve,
        conn_book: Default::default(),
        per_direction: config.limits.per_direction,
    };
    let mut event_loop = event_loop;
    event_loop.wait_for_listeners(listeners).await;
    event_loop.dial_at_start();
    let task = tokio::spawn(event_loop.run());
    Ok((handle, task))
}

/// Longest wait at start for the listeners to report their addresses.
const LISTEN_WAIT: Duration = Duration::from_secs(2);

/// How often bootstrap peers that are not connected are dialled again.
const BOOTSTRAP_REDIAL_EVERY: Duration = Duration::from_secs(15);

fn clock_of(engine: &Engine) -> Clock {
    let e = engine.clone();
    Arc::new(move || e.now())
}

/// Refuses a TCP listen address whose port another program holds. libp2p listens with
/// SO_REUSEPORT, so without this check a second node on the same port would start and share
/// the port's incoming connections with the first.
fn port_free(addr: &Multiaddr) -> Result<(), NetworkError> {
    use libp2p::multiaddr::Protocol;
    let mut parts = addr.iter();
    let ip: std::net::IpAddr = match parts.next() {
        Some(Protocol::Ip4(ip)) => ip.into(),
        Some(Protocol::Ip6(ip)) => ip.into(),
        _ => return Ok(()),
    };
    let Some(Protocol::Tcp(port)) = parts.next() else {
        return Ok(());
    };
    if port == 0 {
        return Ok(());
    }
    match std::net::TcpListener::bind((ip, port)) {
        Ok(_) => Ok(()),
        Err(e) => Err(NetworkError::Listen {
            addr: addr.clone(),
            reason: format!("{e} (is another node running? pick another port with --listen)"),
        }),
    }
}

impl EventLoop {
    async fn run(mut self) {
        let mut status_tick = tokio::time::interval(STATUS_EVERY);
        let mut area_tick = tokio::time::interval(AREA_COUNTS_EVERY);
        let mut sync_tick = tokio::time::interval(self.sync_interval);
        sync_tick.tick().await;
        let mut provide_tick = tokio::time::interval(PROVIDE_EVERY);
        provide_tick.tick().await;
        let mut save_tick = tokio::time::interval(Duration::from_secs(30));
        let mut redial_tick = tokio::time::interval(BOOTSTRAP_REDIAL_EVERY);
        redial_tick.tick().await;
        let mut trim_tick = tokio::time::interval(trim::TRIM_EVERY);
        let mut puts_tick = tokio::time::interval(puts::RETRY_CHECK_EVERY);
        trim_tick.tick().await;
        loop {
            tokio::select! {
                cmd = self.commands.recv() => match cmd {
                    Some(cmd) => {
                        if !self.on_command(cmd) {
                            break;
                        }
                    }
                    None => break,
                },
                ev = self.swarm.select_next_some() => self.on_swarm(ev),
                Some(done) = self.done_rx.recv() => self.on_done(done),
                wake = self.msg.next() => {
                    self.msg.on_wake(&mut self.swarm, &mut self.exec, wake)
                }
                wake = self.blobs.next() => self.blobs.on_wake(&mut self.swarm, wake),
                ev = self.events.recv() => match ev {
                    Ok(ev) => self.on_engine_event(ev),
                    Err(broadcast::error::RecvError::Lagged(n)) => {
                        // Those listings still reach peers through sync and the DHT.
                        tracing::warn!(missed = n, "fell behind the store's events; some listings were not gossiped");
                    }
                    Err(broadcast::error::RecvError::Closed) => break,
                },
                ev = self.reviews.recv() => self.on_review_event(ev),
                _ = status_tick.tick() => {
                    self.expire_bans();
                    self.publish_status();
                }
                _ = area_tick.tick() => self.count_areas(),
                _ = sync_tick.tick() => self.periodic_sync(),
                _ = provide_tick.tick() => self.provide_and_discover(),
                _ = save_tick.tick() => self.save_book(),
                _ = redial_tick.tick() => self.redial_bootstrap(),
                _ = trim_tick.tick() => self.trim_connections(),
                _ = puts_tick.tick() => self.retry_puts(),
            }
            self.pump_gossip();
            self.start_waiting_syncs();
            self.refresh_kad_if_wanted();
            self.write_dht();
            self.msg.pump(&mut self.swarm, &mut self.exec);
            for (peer, why) in self
                .msg
                .take_strikes()
                .into_iter()
                .chain(self.blobs.take_strikes())
            {
                self.strike(peer, why);
            }
            // A message's recipient is dialled with what the address book knows of it too
            // (Kademlia only holds the peers redialled at start and those seen since).
            for peer in self.msg.take_dialling() {
                for a in self.addrbook.addrs_of(&peer) {
                    self.swarm.behaviour_mut().kad.add_address(&peer, a);
                }
            }
            self.exec.reap();
        }
        self.shutdown().await;
        if let Some(reply) = self.stop_reply.take() {
            let _ = reply.send(());
        }
    }

    /// Stops in order: no new work (the swarm is no longer polled, so no request is read, and
    /// the executor refuses what the drained results would start), drain the work in flight
    /// (its results still handled, so ingest verdicts, DHT records and receipts land, and
    /// each message or deposit a peer was answered for is stored before the engine and the
    /// messenger close), write the address book, the DHT records and the outbox's queued
    /// receipts and deposit records, fail the dials that wait.
    async fn shutdown(&mut self) {
        use futures::FutureExt;
        tracing::debug!("network stopping");
        self.exec.close();
        // Every result channel is read while draining, so no job waits on a full one.
        loop {
            tokio::select! {
                more = self.exec.join_next() => if !more { break },
                Some(done) = self.done_rx.recv() => self.on_done(done),
                Some(done) = self.msg.next_done() => {
                    self.msg.on_done(&mut self.swarm, &mut self.exec, done)
                }
                Some(s) = self.blobs.next_served() => self.blobs.on_served(&mut self.swarm, s),
            }
        }
        while let Ok(done) = self.done_rx.try_recv() {
            self.on_done(done);
        }
        while let Some(Some(done)) = self.msg.next_done().now_or_never() {
            self.msg.on_done(&mut self.swarm, &mut self.exec, done);
        }
        while let Some(Some(s)) = self.blobs.next_served().now_or_never() {
            self.blobs.on_served(&mut self.swarm, s);
        }
        let book = self.addrbook.snapshot();
        let outbox = self.msg.take_writes();
        let store = self.swarm.behaviour_mut().kad.store_mut();
        // A batch still marked as being written was written: its job was drained above.
        store.writes_done();
        let dht = store.take_writes();
        let wrote = tokio::task::spawn_blocking(move || {
            if let Some(b) = book {
                b.write();
            }
            if let Some(d) = dht {
                d.write();
            }
            if let Some(o) = outbox {
                o();
            }
        })
        .await;
        if let Err(e) = wrote {
            tracing::error!(error = %e, "writing the network's state at shutdown failed");
        }
        for (_, d) in self.dials.drain() {
            let _ = d.reply.send(Err(NetworkError::Stopped));
        }
        self.publish_status();
    }

    /// Polls the swarm (handling what it reports) until every listener reported its
    /// addresses, then a moment more for the rest of their burst (one per interface), at most
    /// [`LISTEN_WAIT`]. Before that, a TCP dial leaves from an ephemeral port instead of the
    /// listening one, so peers observe (and AutoNAT tests) an address that never answers, and
    /// a public node would take itself for one behind NAT.
    async fn wait_for_listeners(
        &mut self,
        mut waiting: HashSet<libp2p::core::transport::ListenerId>,
    ) {
        let deadline = tokio::time::Instant::now() + LISTEN_WAIT;
        loop {
            let wait = if waiting.is_empty() {
                // The burst's other addresses are ready at once.
                tokio::time::Instant::now() + Duration::from_millis(20)
            } else {
                deadline
            };
            match tokio::time::timeout_at(wait.min(deadline), self.swarm.select_next_some()).await {
                Ok(ev) => {
                    match &ev {
                        SwarmEvent::NewListenAddr { listener_id, .. }
                        | SwarmEvent::ListenerClosed { listener_id, .. }
                        | SwarmEvent::ListenerError { listener_id, .. } => {
                            waiting.remove(listener_id);
                        }
                        _ => {}
                    }
                    self.on_swarm(ev);
                }
                Err(_) => return,
            }
        }
    }

    /// Dials the bootstrap peers and redials the address book's recent peers, once, when the
    /// listeners are up (`wait_for_listeners`).
    fn dial_at_start(&mut self) {
        if self.dialled_at_start {
            return;
        }
        self.dialled_at_start = true;
        for addr in self.bootstrap.clone() {
            if let Err(e) = self.swarm.dial(addr.clone()) {
                tracing::warn!(%addr, error = %e, "cannot dial bootstrap peer");
            }
        }
        let me = *self.swarm.local_peer_id();
        for (peer, addrs) in self.addrbook.recent(REDIAL) {
            if peer == me || addrs.is_empty() {
                continue;
            }
            let opts = DialOpts::peer_id(peer).addresses(addrs).build();
            if let Err(e) = self.swarm.dial(opts) {
                tracing::debug!(%peer, error = %e, "cannot redial a known peer");
            }
        }
    }

    /// Hands the address book to the executor if it changed.
    fn save_book(&mut self) {
        if !self.exec.has_room(Kind::BookWrite) {
            return;
        }
        if let Some(book) = self.addrbook.snapshot() {
            if let Err(e) = self.exec.spawn(Kind::BookWrite, move || book.write()) {
                tracing::debug!(error = %e, "address book not written this time");
            }
        }
    }

    /// Hands the DHT record changes to the executor, one batch at a time.
    fn write_dht(&mut self) {
        if !self.exec.has_room(Kind::DhtWrite) {
            return;
        }
        let Some(writes) = self.swarm.behaviour_mut().kad.store_mut().take_writes() else {
            return;
        };
        let tx = self.done_tx.clone();
        let spawned = self.exec.spawn(Kind::DhtWrite, move || {
            writes.write();
            let _ = tx.blocking_send(Done::DhtWritten);
        });
        if let Err(e) = spawned {
            // Only while draining; the shutdown writes what is left.
            tracing::debug!(error = %e, "DHT records not written this time");
        }
    }

    fn on_done(&mut self, done: Done) {
        match done {
            Done::Gossip(results) => self.on_gossip_ingested(results),
            Done::Served {
                peer,
                channel,
                result,
            } => self.on_served(peer, channel, result),
            Done::SyncStarted { peer, result } => self.on_sync_started(peer, result),
            Done::SyncIngested {
                peer,
                stored,
                rejected_by_fault,
                rejected,
            } => self.on_sync_ingested(peer, stored, rejected_by_fault, rejected),
            Done::DhtChecked { peer, result } => self.on_dht_checked(peer, result),
            Done::AreaCounts(c) => self.area_counts = c,
            Done::DhtWritten => self.swarm.behaviour_mut().kad.store_mut().writes_done(),
        }
    }

    fn on_swarm(&mut self, ev: SwarmEvent<BehaviourEvent>) {
        match ev {
            SwarmEvent::NewListenAddr {
                address,
                listener_id,
            } => {
                let me = *self.swarm.local_peer_id();
                tracing::info!("listening on {address}/p2p/{me}");
                self.on_new_listen_addr(listener_id, &address);
                self.publish_status();
            }
            SwarmEvent::ListenerClosed { listener_id, .. } => self.on_listener_closed(listener_id),
            SwarmEvent::ExternalAddrConfirmed { address } => self.on_external_confirmed(address),
            SwarmEvent::ExternalAddrExpired { address } => self.on_external_expired(&address),
            SwarmEvent::Behaviour(ev) => self.on_behaviour(ev),
            ev => self.on_connection(ev),
        }
    }

    fn on_behaviour(&mut self, ev: BehaviourEvent) {
        // What makes a connection worth keeping when the node needs room.
        match &ev {
            BehaviourEvent::Gossip(libp2p::gossipsub::Event::Message {
                propagation_source,
                ..
            }) => self.conn_book.delivered(*propagation_source),
            BehaviourEvent::Sync(e) => self.conn_book.request(e),
            BehaviourEvent::Msg(e) => self.conn_book.request(e),
            BehaviourEvent::Blob(e) => self.conn_book.request(e),
            BehaviourEvent::Relay(e) => self.conn_book.relay(e),
            _ => {}
        }
        match ev {
            BehaviourEvent::Gossip(ev) => self.on_gossip(ev),
            BehaviourEvent::Kad(ev) => self.on_kad(ev),
            BehaviourEvent::Sync(ev) => self.on_sync(ev),
            BehaviourEvent::Msg(ev) => self.msg.on_event(&mut self.swarm, &mut self.exec, ev),
            BehaviourEvent::Blob(ev) => self.blobs.on_event(&mut self.swarm, &mut self.exec, ev),
            BehaviourEvent::Identify(ev) => self.on_identify(ev),
            BehaviourEvent::Mdns(ev) => self.on_mdns(ev),
            BehaviourEvent::Ping(_) => {}
            BehaviourEvent::RelayClient(ev) => self.on_relay_client(ev),
            BehaviourEvent::Relay(ev) => self.on_relay_server(ev),
            BehaviourEvent::Autonat(ev) => self.on_autonat(ev),
            BehaviourEvent::AutonatServer(ev) => {
                tracing::debug!(addr = %ev.tested_addr, client = %ev.client, ok = ev.result.is_ok(), "AutoNAT: tested a peer's address")
            }
            BehaviourEvent::Dcutr(ev) => self.on_dcutr(ev),
            BehaviourEvent::Blocked(v) => match v {},
            BehaviourEvent::Limits(v) => match v {},
        }
    }
}
