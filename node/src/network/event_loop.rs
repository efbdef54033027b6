//! The one task that owns the swarm.
//!
//! It reacts to three sources: commands from [`NetworkHandle`]s, swarm events, and the results
//! of blocking work it handed to tokio's blocking pool (ingest, sync answers, record checks).
//! Nothing slow runs on this task: signature checks of batches, store scans and ingest all go
//! to the blocking pool and come back as [`Done`] messages, so the swarm keeps being polled.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use libp2p::core::ConnectedPoint;
use libp2p::gossipsub::{self, MessageAcceptance, MessageId, PublishError, TopicHash};
use libp2p::kad::{QueryId, Quorum, Record};
use libp2p::request_response::{OutboundRequestId, ResponseChannel};
use libp2p::swarm::dial_opts::DialOpts;
use libp2p::swarm::{ConnectionId, SwarmEvent};
use libp2p::{identify, mdns, Multiaddr, PeerId, Swarm};
use swapmeet_protocol::limits::KAD_PROTOCOL;
use swapmeet_protocol::SecretKey;
use tokio::sync::{broadcast, mpsc, oneshot};
use tokio::task::JoinHandle;

use super::addrbook::{AddressBook, ADDRBOOK_TREE};
use super::behaviour::{build_swarm, Behaviour, BehaviourEvent};
use super::blobs::BlobWire;
use super::dht::{self, ListingRecordStore, KAD_TREE};
use super::gossip::{self, Following};
use super::messaging::MessagingWire;
use super::sync::{SyncClient, SyncError, SyncRequest, SyncResponse, SyncServer, WireCounters};
use super::{
    Command, GossipCounters, NetworkConfig, NetworkError, NetworkHandle, Shared, SyncInfo,
    COMMAND_CAPACITY,
};
use crate::engine::{Clock, Engine};
use crate::events::{Change, Event, Source};
use crate::ingest::IngestOutcome;
use crate::messaging::Messenger;
use kad_events::GetQuery;
use sync_sessions::Session;

mod commands;
mod kad_events;
mod reviews;
mod status;
mod sync_sessions;

/// Gossip messages waiting for ingest; beyond this, new ones are ignored (not forwarded).
const MAX_PENDING_GOSSIP: usize = 8192;
/// Gossip messages ingested in one batch.
const GOSSIP_BATCH: usize = 512;
/// Ingest batches of gossip in flight at once.
const GOSSIP_INFLIGHT: usize = 2;
/// Publications kept for retry when no peer was subscribed yet.
const MAX_UNSENT: usize = 1024;
/// Strikes before a peer is cut off.
const STRIKES_TO_BLOCK: u32 = 3;
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
    Gossip(Vec<(MessageId, PeerId, IngestOutcome)>),
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
        result: Result<Option<dht::CheckedRecord>, dht::RecordError>,
    },
    AreaCounts(std::collections::BTreeMap<String, usize>),
}

struct PeerMeta {
    address: Multiaddr,
    direction: &'static str,
    agent: Option<String>,
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
    pending_gossip: VecDeque<(MessageId, PeerId, Vec<u8>)>,
    gossip_in_flight: usize,
    unsent: VecDeque<(TopicHash, Vec<u8>)>,
    dials: HashMap<ConnectionId, (Multiaddr, oneshot::Sender<Result<PeerId, NetworkError>>)>,
    gets: HashMap<QueryId, GetQuery>,
    finds: HashMap<QueryId, (PeerId, oneshot::Sender<Vec<Multiaddr>>)>,
    sessions: HashMap<PeerId, Session>,
    raw_requests: std::collections::HashSet<OutboundRequestId>,
    server: SyncServer,
    counters: GossipCounters,
    strikes: HashMap<PeerId, u32>,
    rejected_from: HashMap<PeerId, u64>,
    peer_meta: HashMap<PeerId, PeerMeta>,
    last_sync: Option<SyncInfo>,
    syncs_completed: u64,
    area_counts: std::collections::BTreeMap<String, usize>,
    wire: Arc<WireCounters>,
    sync_interval: Duration,
    sync_turn: usize,
    provided: bool,
    /// Private messages (`network/messaging.rs`).
    msg: MessagingWire,
    /// Photos and thumbnails (`network/blobs.rs`).
    blobs: BlobWire,
    /// The bootstrap addresses, redialled while their peers are not connected.
    bootstrap: Vec<Multiaddr>,
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
    let (store, addrbook) = tokio::task::spawn_blocking(move || {
        (
            ListingRecordStore::open(kad_tree, local, clock),
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
            .subscribe(&gossip::topic(t))
            .map_err(|e| NetworkError::Setup(format!("subscribing to {t}: {e}")))?;
    }
    for addr in &config.listen {
        port_free(addr)?;
        swarm
            .listen_on(addr.clone())
            .map_err(|e| NetworkError::Listen {
                addr: addr.clone(),
                reason: e.to_string(),
            })?;
    }
    for addr in &config.bootstrap {
        if let Err(e) = swarm.dial(addr.clone()) {
            tracing::warn!(%addr, error = %e, "cannot dial bootstrap peer");
        }
    }
    for (peer, addrs) in addrbook.recent(REDIAL) {
        if peer == local || addrs.is_empty() {
            continue;
        }
        for a in &addrs {
            swarm.behaviour_mut().kad.add_address(&peer, a.clone());
        }
        let opts = DialOpts::peer_id(peer).addresses(addrs).build();
        if let Err(e) = swarm.dial(opts) {
            tracing::debug!(%peer, error = %e, "cannot redial a known peer");
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
        gossip_in_flight: 0,
        unsent: VecDeque::new(),
        dials: HashMap::new(),
        gets: HashMap::new(),
        finds: HashMap::new(),
        sessions: HashMap::new(),
        raw_requests: Default::default(),
        counters: GossipCounters::default(),
        strikes: HashMap::new(),
        rejected_from: HashMap::new(),
        peer_meta: HashMap::new(),
        last_sync: None,
        syncs_completed: 0,
        area_counts: Default::default(),
        wire,
        sync_interval: config.sync_interval,
        sync_turn: 0,
        provided: false,
        bootstrap: config.bootstrap.clone(),
    };
    let task = tokio::spawn(event_loop.run());
    Ok((handle, task))
}

/// How often bootstrap peers that are not connected are dialled again.
const BOOTSTRAP_REDIAL_EVERY: Duration = Duration::from_secs(15);

impl EventLoop {
    /// Dials again the bootstrap peers that are not connected: a node started while its
    /// bootstrap peer was down (or that lost it) would otherwise stay alone until someone
    /// dials it, and its outbox would wait with it. An address without a PeerId is dialled
    /// only while the node has no connection at all.
    fn redial_bootstrap(&mut self) {
        let alone = self.swarm.connected_peers().next().is_none();
        for addr in self.bootstrap.clone() {
            let peer = addr.iter().find_map(|p| match p {
                libp2p::multiaddr::Protocol::P2p(id) => Some(id),
                _ => None,
            });
            let wanted = match peer {
                Some(id) => !self.swarm.is_connected(&id),
                None => alone,
            };
            if wanted {
                if let Err(e) = self.swarm.dial(addr.clone()) {
                    tracing::debug!(%addr, error = %e, "cannot redial a bootstrap peer");
                }
            }
        }
    }
}

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
        loop {
            tokio::select! {
                cmd = self.commands.recv() => match cmd {
                    Some(cmd) => {
                        if !self.on_command(cmd) {
                            return;
                        }
                    }
                    None => {
                        self.shutdown();
                        return;
                    }
                },
                ev = self.swarm.select_next_some() => self.on_swarm(ev),
                Some(done) = self.done_rx.recv() => self.on_done(done),
                wake = self.msg.next() => self.msg.on_wake(&mut self.swarm, wake),
                wake = self.blobs.next() => self.blobs.on_wake(&mut self.swarm, wake),
                ev = self.events.recv() => match ev {
                    Ok(ev) => self.on_engine_event(ev),
                    Err(broadcast::error::RecvError::Lagged(n)) => {
                        // Those listings still reach peers through sync and the DHT.
                        tracing::warn!(missed = n, "fell behind the store's events; some listings were not gossiped");
                    }
                    Err(broadcast::error::RecvError::Closed) => {
                        self.shutdown();
                        return;
                    }
                },
                ev = self.reviews.recv() => self.on_review_event(ev),
                _ = status_tick.tick() => self.publish_status(),
                _ = area_tick.tick() => self.count_areas(),
                _ = sync_tick.tick() => self.periodic_sync(),
                _ = provide_tick.tick() => self.provide_and_discover(),
                _ = save_tick.tick() => self.addrbook.save(),
                _ = redial_tick.tick() => self.redial_bootstrap(),
            }
            self.pump_gossip();
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
        }
    }

    fn shutdown(&mut self) {
        self.addrbook.save();
        for (_, (_, d)) in self.dials.drain() {
            let _ = d.send(Err(NetworkError::Stopped));
        }
        tracing::debug!("network stopping");
        self.publish_status();
    }

    fn on_engine_event(&mut self, ev: Event) {
        // What peers sent is relayed by gossipsub itself once accepted; what sync brought is
        // known to the peer it came from. Only records that entered here are published.
        if matches!(ev.source, Source::Peer(_) | Source::Store) || ev.change == Change::Expired {
            return;
        }
        let data = ev.envelope.to_vec();
        for area in gossip::publish_areas(&ev.areas) {
            self.publish(gossip::topic(&area).hash(), data.clone());
        }
        self.counters.published += 1;
        // The DHT keeps the node's own listings (the user's and the bridge's) reachable while
        // the node is offline; an import of someone else's listing is theirs to put.
        if !matches!(ev.source, Source::Local | Source::Bridge) {
            return;
        }
        let record = Record::new(dht::listing_key(&ev.id), data);
        if let Err(e) = self
            .swarm
            .behaviour_mut()
            .kad
            .put_record(record, Quorum::One)
        {
            tracing::warn!(id = %ev.id, error = ?e, "cannot put the listing into the DHT");
        }
    }

    fn publish(&mut self, topic: TopicHash, data: Vec<u8>) {
        match self
            .swarm
            .behaviour_mut()
            .gossip
            .publish(topic.clone(), data.clone())
        {
            Ok(_) | Err(PublishError::Duplicate) => {}
            Err(PublishError::NoPeersSubscribedToTopic) => {
                // Nobody listening yet: keep it for the first peer that subscribes. Sync covers
                // whatever falls out of this bounded queue.
                if self.unsent.len() >= MAX_UNSENT {
                    self.unsent.pop_front();
                }
                self.unsent.push_back((topic, data));
            }
            Err(e) => tracing::debug!(%topic, error = %e, "publishing failed"),
        }
    }

    fn retry_unsent(&mut self, topic: &TopicHash) {
        let (now, keep): (Vec<_>, Vec<_>) = self.unsent.drain(..).partition(|(t, _)| t == topic);
        self.unsent = keep.into();
        for (t, d) in now {
            self.publish(t, d);
        }
    }

    fn strike(&mut self, peer: PeerId, why: &str) {
        let s = self.strikes.entry(peer).or_insert(0);
        *s += 1;
        tracing::info!(%peer, strikes = *s, why, "peer misbehaved");
        if *s >= STRIKES_TO_BLOCK {
            tracing::warn!(%peer, "cutting off a misbehaving peer");
            self.swarm.behaviour_mut().blocked.block_peer(peer);
            let _ = self.swarm.disconnect_peer_id(peer);
            self.sessions.remove(&peer);
        }
    }

    fn pump_gossip(&mut self) {
        while self.gossip_in_flight < GOSSIP_INFLIGHT && !self.pending_gossip.is_empty() {
            let n = self.pending_gossip.len().min(GOSSIP_BATCH);
            let batch: Vec<_> = self.pending_gossip.drain(..n).collect();
            self.gossip_in_flight += 1;
            let engine = self.engine.clone();
            let tx = self.done_tx.clone();
            tokio::task::spawn_blocking(move || {
                // One ingest call per sending peer, so each stored record names where it came
                // from; the batch still shares one store transaction per peer.
                let mut by_peer: HashMap<PeerId, Vec<usize>> = HashMap::new();
                for (i, (_, p, _)) in batch.iter().enumerate() {
                    by_peer.entry(*p).or_default().push(i);
                }
                let mut outcomes: Vec<Option<IngestOutcome>> = vec![None; batch.len()];
                for (peer, idx) in by_peer {
                    let items: Vec<&[u8]> = idx.iter().map(|&i| batch[i].2.as_slice()).collect();
                    match engine.ingest_bytes(&items, Source::Peer(peer.to_string())) {
                        Ok(out) => {
                            for (i, o) in idx.into_iter().zip(out) {
                                outcomes[i] = Some(o);
                            }
                        }
                        Err(e) => tracing::error!(error = %e, "ingest of gossip failed"),
                    }
                }
                let results = batch
                    .into_iter()
                    .zip(outcomes)
                    .map(|((id, peer, _), o)| {
                        (
                            id,
                            peer,
                            o.unwrap_or(IngestOutcome::Rejected {
                                reason: "internal: not ingested".into(),
                                error: None,
                            }),
                        )
                    })
                    .collect();
                let _ = tx.blocking_send(Done::Gossip(results));
            });
        }
    }

    fn on_done(&mut self, done: Done) {
        match done {
            Done::Gossip(results) => {
                self.gossip_in_flight -= 1;
                for (id, peer, outcome) in results {
                    let verdict = gossip::acceptance(&outcome);
                    match verdict {
                        MessageAcceptance::Accept => self.counters.accepted += 1,
                        MessageAcceptance::Ignore => self.counters.ignored += 1,
                        MessageAcceptance::Reject => {
                            self.counters.rejected += 1;
                            *self.rejected_from.entry(peer).or_default() += 1;
                            tracing::info!(%peer, reason = %outcome.label(), "rejected a gossiped record");
                        }
                    }
                    self.swarm
                        .behaviour_mut()
                        .gossip
                        .report_message_validation_result(&id, &peer, verdict);
                }
            }
            Done::Served {
                peer,
                channel,
                result,
            } => {
                let response = match result {
                    Ok(r) => r,
                    Err(e) => {
                        if e.is_abuse() {
                            self.strike(peer, "bad sync request");
                        } else {
                            tracing::warn!(%peer, error = %e, "answering a sync request failed");
                        }
                        SyncResponse::Refused {
                            reason: e.to_string(),
                        }
                    }
                };
                let _ = self
                    .swarm
                    .behaviour_mut()
                    .sync
                    .send_response(channel, response);
            }
            Done::SyncStarted { peer, result } => match result {
                Ok((client, req)) => {
                    if !self.swarm.is_connected(&peer) {
                        self.sessions.remove(&peer);
                        return;
                    }
                    self.swarm.behaviour_mut().sync.send_request(&peer, req);
                    if let Some(s) = self.sessions.get_mut(&peer) {
                        s.client = Some(client);
                    }
                }
                Err(e) => {
                    tracing::warn!(%peer, error = %e, "cannot start a sync");
                    self.sessions.remove(&peer);
                }
            },
            Done::SyncIngested {
                peer,
                stored,
                rejected_by_fault,
                rejected,
            } => {
                if rejected_by_fault > 0 {
                    self.strike(peer, "sync sent invalid records");
                }
                if let Some(s) = self.sessions.get_mut(&peer) {
                    s.ingesting = false;
                    if let Some(c) = s.client.as_mut() {
                        c.on_ingested(stored, rejected);
                    }
                }
                self.pump_ingest(peer);
                self.pump_fetches(peer);
                self.maybe_finish(peer);
            }
            Done::DhtChecked { peer, result } => match result {
                Ok(Some(checked)) => {
                    if let Err(e) = self
                        .swarm
                        .behaviour_mut()
                        .kad
                        .store_mut()
                        .put_checked(checked)
                    {
                        tracing::debug!(%peer, error = ?e, "not storing a DHT record");
                    }
                }
                Ok(None) => {}
                Err(e) if e.is_peer_fault() => self.strike(peer, "invalid DHT record"),
                Err(e) => tracing::debug!(%peer, error = %e, "ignoring a DHT record"),
            },
            Done::AreaCounts(c) => self.area_counts = c,
        }
    }

    fn on_swarm(&mut self, ev: SwarmEvent<BehaviourEvent>) {
        match ev {
            SwarmEvent::NewListenAddr { address, .. } => {
                let me = *self.swarm.local_peer_id();
                tracing::info!("listening on {address}/p2p/{me}");
                self.publish_status();
            }
            SwarmEvent::ConnectionEstablished {
                peer_id,
                connection_id,
                endpoint,
                num_established,
                ..
            } => {
                if let Some((_, reply)) = self.dials.remove(&connection_id) {
                    let _ = reply.send(Ok(peer_id));
                }
                let (address, direction) = match &endpoint {
                    ConnectedPoint::Dialer { address, .. } => {
                        self.addrbook
                            .record(peer_id, [address.clone()], self.engine.now());
                        self.swarm
                            .behaviour_mut()
                            .kad
                            .add_address(&peer_id, address.clone());
                        (address.clone(), "outbound")
                    }
                    ConnectedPoint::Listener { send_back_addr, .. } => {
                        (send_back_addr.clone(), "inbound")
                    }
                };
                if num_established.get() == 1 {
                    self.peer_meta.insert(
                        peer_id,
                        PeerMeta {
                            address,
                            direction,
                            agent: None,
                        },
                    );
                    tracing::debug!(peer = %peer_id, "connected");
                    self.start_sync(peer_id);
                    self.msg.on_connected(&mut self.swarm, peer_id);
                    if !self.provided {
                        self.provided = true;
                        self.provide_and_discover();
                    }
                }
            }
            SwarmEvent::ConnectionClosed {
                peer_id,
                num_established: 0,
                ..
            } => {
                self.peer_meta.remove(&peer_id);
                self.msg.on_disconnected(peer_id);
                self.blobs.on_disconnected(&peer_id);
                if let Some(s) = self.sessions.remove(&peer_id) {
                    self.finish_session(peer_id, s, Some("peer disconnected".into()));
                }
            }
            SwarmEvent::OutgoingConnectionError {
                connection_id,
                error,
                ..
            } => {
                if let Some((addr, reply)) = self.dials.remove(&connection_id) {
                    // A connection the node opened meanwhile (the DHT and mDNS find peers
                    // too) can win the race, and this one is then refused: connected to that
                    // peer is what was asked for.
                    let peer = match addr.iter().last() {
                        Some(libp2p::multiaddr::Protocol::P2p(peer)) => Some(peer),
                        _ => None,
                    };
                    let _ = match peer.filter(|p| self.swarm.is_connected(p)) {
                        Some(peer) => reply.send(Ok(peer)),
                        None => reply.send(Err(NetworkError::Dial {
                            addr: addr.to_string(),
                            reason: match &error {
                                // libp2p prints only "Dial error" for these.
                                libp2p::swarm::DialError::Denied { cause } => {
                                    format!("refused by this node's connection rules: {cause}")
                                }
                                e => e.to_string(),
                            },
                        })),
                    };
                }
            }
            SwarmEvent::Behaviour(ev) => self.on_behaviour(ev),
            _ => {}
        }
    }

    fn on_behaviour(&mut self, ev: BehaviourEvent) {
        match ev {
            BehaviourEvent::Gossip(gossipsub::Event::Message {
                propagation_source,
                message_id,
                message,
            }) => {
                self.counters.received += 1;
                if self.pending_gossip.len() >= MAX_PENDING_GOSSIP {
                    self.counters.ignored += 1;
                    self.swarm
                        .behaviour_mut()
                        .gossip
                        .report_message_validation_result(
                            &message_id,
                            &propagation_source,
                            MessageAcceptance::Ignore,
                        );
                    return;
                }
                self.pending_gossip
                    .push_back((message_id, propagation_source, message.data));
            }
            BehaviourEvent::Gossip(gossipsub::Event::Subscribed { topic, .. }) => {
                self.retry_unsent(&topic);
            }
            BehaviourEvent::Gossip(_) => {}
            BehaviourEvent::Kad(ev) => self.on_kad(ev),
            BehaviourEvent::Sync(ev) => self.on_sync(ev),
            BehaviourEvent::Msg(ev) => self.msg.on_event(&mut self.swarm, ev),
            BehaviourEvent::Blob(ev) => self.blobs.on_event(&mut self.swarm, ev),
            BehaviourEvent::Identify(identify::Event::Received { peer_id, info, .. }) => {
                if let Some(m) = self.peer_meta.get_mut(&peer_id) {
                    m.agent = Some(info.agent_version.chars().take(128).collect());
                }
                let speaks_kad = info.protocols.iter().any(|p| p.as_ref() == KAD_PROTOCOL);
                let addrs: Vec<Multiaddr> = info.listen_addrs.into_iter().take(16).collect();
                if speaks_kad {
                    for a in &addrs {
                        self.swarm
                            .behaviour_mut()
                            .kad
                            .add_address(&peer_id, a.clone());
                    }
                }
                self.addrbook.record(peer_id, addrs, self.engine.now());
            }
            BehaviourEvent::Identify(_) | BehaviourEvent::Ping(_) => {}
            BehaviourEvent::Mdns(mdns::Event::Discovered(found)) => {
                for (peer, addr) in found {
                    self.swarm
                        .behaviour_mut()
                        .kad
                        .add_address(&peer, addr.clone());
                    if !self.swarm.is_connected(&peer) {
                        let opts = DialOpts::peer_id(peer).addresses(vec![addr]).build();
                        let _ = self.swarm.dial(opts);
                    }
                }
            }
            BehaviourEvent::Mdns(_) => {}
            BehaviourEvent::Blocked(v) => match v {},
            BehaviourEvent::Limits(v) => match v {},
        }
    }
}
