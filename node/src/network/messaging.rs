//! Private messages over the network: the `/swapmeet/msg/1` request-response protocol and
//! the state the event loop drives it with.
//!
//! The store side ([`crate::messaging::Messenger`]) decides everything that touches disk: what
//! is due, what a receipt means, what a mailbox holds. This part moves bytes:
//! - **Outbound.** Woken by a `Queued` event and a 1 s tick, it takes the due outbox items
//!   (one look at a time, on the network's executor). A connected recipient gets a `Deliver`;
//!   otherwise the recipient is dialled (`Deliver` dials it through the addresses Kademlia and
//!   the address book know) and a Kademlia query for the peers closest to the recipient's key
//!   picks up to `mailbox_copies` mailbox peers (never this node or the recipient) that get a
//!   `Deposit`, topped up on later tries while the message is queued. A `Receipt` answer marks
//!   it delivered; a refusal (busy, rate) leaves it queued for its next try. Receipts and the
//!   deposits mailbox peers took are recorded from a bounded queue ([`MAX_OUTBOX_WRITES`]), one
//!   batch at a time, and whatever is queued at shutdown is written before the network stops.
//! - **Collect.** On each new connection, every [`FIND_MAILBOXES_EVERY`] from the peers
//!   closest to this node's key (looked up again each time), and every [`COLLECT_EVERY`] from
//!   the nearest of them, it asks for the mail held for it (`Collect`, repeated while `more`), receives
//!   each item (open, verify, store, flush: on the executor; past its cap the mail stays with
//!   the mailbox and is collected again when a batch ends), acknowledges what was stored or is
//!   invalid for good, and sends each receipt to its sender (now if connected, else when it
//!   connects; the sender's own retry of `Deliver` also gets it back).
//! - **Inbound.** A token bucket per peer (refused past it, and the peer struck when it keeps
//!   flooding), at most [`MAX_INBOUND_JOBS`] requests being worked on at once (the executor's
//!   `msg_serve` cap; refused "busy: ...; try again" beyond), sizes checked by the codec before
//!   decoding. Mailbox requests act for the requester's key, which is its PeerId: the noise
//!   handshake proved it.
//!
//! Every per-peer map is pruned when the peer's last connection closes.
//!
//! # Layout
//! - this file: the state, the outbound side (due messages, direct delivery, deposits), the
//!   dispatch of behaviour events and finished blocking work;
//! - [`codec`]: the wire format; [`bucket`]: the per-peer token bucket;
//! - `inbound`: admitting and answering peers' requests; `mail`: collecting my mail and the
//!   receipts owed to its senders; `writes`: the outbox's queued receipts and deposit records.

pub mod bucket;
pub mod codec;
mod inbound;
mod mail;
mod writes;

use std::collections::{HashMap, HashSet, VecDeque};
use std::time::Duration;

use libp2p::request_response::{self, OutboundRequestId, ResponseChannel};
use libp2p::{identity, kad, PeerId, Swarm};
use serde::Serialize;
use swapmeet_protocol::{EnvelopeHash, PublicKey};
use tokio::sync::{broadcast, mpsc, oneshot};

use self::bucket::{Rate, TokenBucket};
pub use self::codec::{MsgCodec, MsgRequest, MsgResponse};
pub use self::writes::MAX_OUTBOX_WRITES;
use self::writes::{OutboxWrite, ReceiptTaken};
use super::behaviour::Behaviour;
use super::executor::{caught, Executor, Kind};
use crate::engine::Clock;
use crate::messaging::{DeliveryState, MailboxStats, MessagingEvent, Messenger, OutboxItem};

/// Requests from peers being worked on at once; more are refused as busy.
pub const MAX_INBOUND_JOBS: usize = 32;
/// Bytes of mail asked for per Collect.
pub const COLLECT_BYTES: u32 = 256 * 1024;
/// How often the outbox is looked at for due messages.
pub const OUTBOX_TICK: Duration = Duration::from_secs(1);
/// How often the node collects from its nearest mailboxes (besides on connect).
pub const COLLECT_EVERY: Duration = Duration::from_secs(60);
/// How often the node looks up the peers closest to its own key (its mailboxes) again, and
/// collects from all of them. A look-up asks 20 or more peers, most of them not connected:
/// run every minute by every node, these look-ups and the collects after them opened most of
/// the connections of an idle 500-node simulation, which its nodes then closed again for room
/// (docs/SCALE.md).
pub const FIND_MAILBOXES_EVERY: Duration = Duration::from_secs(10 * 60);
/// Of the mailboxes found, the nearest this many times `mailbox_copies` are asked every
/// [`COLLECT_EVERY`], dialled if need be: a sender deposits with the `mailbox_copies` nearest
/// it finds, and its view of the nearest can differ from this node's by a few.
const NEAREST_MAILBOXES_PER_COPY: usize = 2;
/// Receipts kept for senders that are not connected, in all (the oldest go first; the
/// sender's next try of `Deliver` gets its receipt anyway).
const MAX_HELD_RECEIPTS: usize = 4096;
/// Messages to one recipient in an attempt at once; the rest wait for the next look at the
/// outbox. Keeps a sender with a long queue (a recipient back after days) well inside the
/// recipient's rate limit.
pub const MAX_TRYING_PER_RECIPIENT: usize = 32;
/// The default request rate per peer: 200 a second, bursts of 400. A sender keeps at most
/// [`MAX_TRYING_PER_RECIPIENT`] requests to one peer open, so only a peer that ignores the
/// protocol's pacing hits it.
pub const DEFAULT_RATE: Rate = Rate {
    per_sec: 200.0,
    burst: 400,
};

/// What the status shows about messaging.
#[derive(Clone, Debug, Default, Serialize)]
pub struct MessagingStatus {
    /// What this node holds as a mailbox for others.
    pub mailbox: MailboxStats,
    /// My messages waiting for a receipt (as of the last look at the outbox, every second).
    pub outbox_queued: usize,
    /// My messages being tried right now (direct delivery or deposit under way).
    pub outbox_trying: usize,
    /// My messages delivered (receipt received) since start.
    pub delivered: u64,
    /// Messages for me accepted since start, directly or from a mailbox (a copy of one
    /// already held counts again: it is answered with its receipt again).
    pub received: u64,
    /// Direct deliveries of my messages the recipient refused since start (busy, its rate
    /// limit, or the message itself); each stays queued and is tried again after its backoff.
    pub deliveries_refused: u64,
    /// Copies of my messages mailbox peers accepted since start.
    pub deposits_held: u64,
    /// Copies of my messages mailbox peers refused since start (quota, expiry).
    pub deposits_refused: u64,
    /// Deposits this node refused as a mailbox since start.
    pub deposits_refused_here: u64,
    /// Requests from peers refused for rate or load since start.
    pub requests_refused: u64,
}

/// The PeerId of a key (a node's PeerId is its user's ed25519 key).
pub fn peer_of(key: &PublicKey) -> Option<PeerId> {
    identity::ed25519::PublicKey::try_from_bytes(key.as_bytes())
        .ok()
        .map(|pk| identity::PublicKey::from(pk).to_peer_id())
}

/// The key of a PeerId, when it is an ed25519 one (every swapmeet node's is).
pub fn key_of(peer: &PeerId) -> Option<PublicKey> {
    let mh: &libp2p::multihash::Multihash<64> = peer.as_ref();
    // An ed25519 PeerId inlines its key (identity multihash, code 0).
    if mh.code() != 0 {
        return None;
    }
    let pk = identity::PublicKey::try_decode_protobuf(mh.digest()).ok()?;
    let ed = pk.try_into_ed25519().ok()?;
    PublicKey::from_bytes(&ed.to_bytes()).ok()
}

/// What an outbound request was for.
enum Pending {
    Deliver {
        hash: EnvelopeHash,
    },
    Deposit {
        hash: EnvelopeHash,
    },
    Collect,
    /// `more`: the mailbox has more mail for me, to collect once this Ack is answered.
    Ack {
        more: bool,
    },
    Receipt,
    /// A test's request, answered as it comes.
    Raw(oneshot::Sender<Result<MsgResponse, String>>),
}

/// A message of mine in an attempt now.
struct Try {
    item: OutboxItem,
    /// Requests and queries of this attempt not finished yet.
    outstanding: u32,
    /// A receipt came: no more deposits.
    delivered: bool,
}

/// Results of blocking work.
pub(crate) enum MsgDone {
    /// The due items, and how many messages the outbox holds.
    Due(Result<(Vec<OutboxItem>, usize), String>),
    Served {
        peer: PeerId,
        channel: ResponseChannel<MsgResponse>,
        response: MsgResponse,
        abuse: Option<&'static str>,
        refused_deposit: bool,
    },
    /// A batch of outbox writes was done; the receipts' outcomes.
    Written(Vec<ReceiptTaken>),
    Collected {
        peer: PeerId,
        acks: Vec<EnvelopeHash>,
        receipts: Vec<(PeerId, Vec<u8>)>,
        received: u64,
        more: bool,
        abuse: bool,
    },
}

/// What woke the messaging part of the loop.
pub(crate) enum MsgWake {
    Done(MsgDone),
    /// A message was queued (or events were missed): look at the outbox.
    Queued,
    /// An event the wire does not act on.
    Other,
    Tick,
    CollectTick,
}

/// The messaging state the event loop drives.
pub(crate) struct MessagingWire {
    messenger: Messenger,
    clock: Clock,
    rate: Rate,
    buckets: HashMap<PeerId, TokenBucket>,
    outbound: HashMap<OutboundRequestId, (PeerId, Pending)>,
    trying: HashMap<EnvelopeHash, Try>,
    closest: HashMap<kad::QueryId, Option<EnvelopeHash>>,
    /// The peers closest to this node's key at the last look-up, nearest first, and when that
    /// look-up started.
    mailboxes: Vec<PeerId>,
    mailboxes_found: Option<std::time::Instant>,
    held_receipts: HashMap<PeerId, Vec<Vec<u8>>>,
    held_receipt_count: usize,
    /// Receipts and deposit records waiting for the executor (at most [`MAX_OUTBOX_WRITES`]).
    outbox_writes: VecDeque<OutboxWrite>,
    /// Peers whose mail was not taken in (the executor was at its cap): asked again once a
    /// batch ends. Pruned when the peer leaves.
    recollect: HashSet<PeerId>,
    due_running: bool,
    due_again: bool,
    /// Peers that connected since the last look at the outbox: their messages are due now.
    came_online: Vec<PublicKey>,
    done_tx: mpsc::Sender<MsgDone>,
    done_rx: mpsc::Receiver<MsgDone>,
    events: broadcast::Receiver<MessagingEvent>,
    tick: tokio::time::Interval,
    collect_tick: tokio::time::Interval,
    strikes: Vec<(PeerId, &'static str)>,
    /// Recipients not connected that a Deliver is about to dial: the loop gives the swarm
    /// their address-book addresses first.
    dialling: Vec<PeerId>,
    status: MessagingStatus,
}

impl MessagingWire {
    /// Messaging for `messenger`, with `rate` per peer, on the engine's clock.
    pub(crate) fn new(messenger: Messenger, clock: Clock, rate: Rate) -> MessagingWire {
        let (done_tx, done_rx) = mpsc::channel(256);
        let mut collect_tick = tokio::time::interval(COLLECT_EVERY);
        collect_tick.reset();
        let mut tick = tokio::time::interval(OUTBOX_TICK);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        MessagingWire {
            events: messenger.subscribe(),
            messenger,
            clock,
            rate,
            buckets: HashMap::new(),
            outbound: HashMap::new(),
            trying: HashMap::new(),
            closest: HashMap::new(),
            mailboxes: Vec::new(),
            mailboxes_found: None,
            held_receipts: HashMap::new(),
            held_receipt_count: 0,
            outbox_writes: VecDeque::new(),
            recollect: HashSet::new(),
            due_running: false,
            due_again: false,
            came_online: Vec::new(),
            done_tx,
            done_rx,
            tick,
            collect_tick,
            strikes: Vec::new(),
            dialling: Vec::new(),
            status: MessagingStatus::default(),
        }
    }

    /// The next thing to act on. Cancel-safe: each source is (a channel receive, a tick).
    pub(crate) async fn next(&mut self) -> MsgWake {
        tokio::select! {
            Some(d) = self.done_rx.recv() => MsgWake::Done(d),
            ev = self.events.recv() => match ev {
                Ok(MessagingEvent::Delivery { state: DeliveryState::Queued, .. }) => MsgWake::Queued,
                // Missed events: one of them may have been a queued message.
                Err(broadcast::error::RecvError::Lagged(_)) => MsgWake::Queued,
                // Closed cannot happen: `self.messenger` holds the sender.
                Ok(_) | Err(broadcast::error::RecvError::Closed) => MsgWake::Other,
            },
            _ = self.tick.tick() => MsgWake::Tick,
            _ = self.collect_tick.tick() => MsgWake::CollectTick,
        }
    }

    /// The next finished blocking work, for the shutdown's drain (the ticks start no more).
    pub(crate) async fn next_done(&mut self) -> Option<MsgDone> {
        self.done_rx.recv().await
    }

    /// Hands the queued receipts and deposit records to the executor, one batch at a time,
    /// and asks the peers whose mail waited for room again.
    pub(crate) fn pump(&mut self, swarm: &mut Swarm<Behaviour>, exec: &mut Executor) {
        self.flush_writes(exec);
        // As many as there are free slots now: each answer takes one when it comes (one
        // refused again waits here again).
        let mut free = if exec.has_room(Kind::MailReceive) {
            exec.cap(Kind::MailReceive) - exec.in_flight(Kind::MailReceive)
        } else {
            0
        };
        while free > 0 {
            let Some(peer) = self.recollect.iter().next().copied() else {
                break;
            };
            self.recollect.remove(&peer);
            if swarm.is_connected(&peer) {
                self.collect_from(swarm, peer);
                free -= 1;
            }
        }
    }

    /// Sends a request as it is; the answer goes to `reply`.
    pub(crate) fn send_raw(
        &mut self,
        swarm: &mut Swarm<Behaviour>,
        peer: PeerId,
        req: MsgRequest,
        reply: oneshot::Sender<Result<MsgResponse, String>>,
    ) {
        let id = swarm.behaviour_mut().msg.send_request(&peer, req);
        self.outbound.insert(id, (peer, Pending::Raw(reply)));
    }

    /// Recipients this node is about to dial for a message, since the last call.
    pub(crate) fn take_dialling(&mut self) -> Vec<PeerId> {
        std::mem::take(&mut self.dialling)
    }

    /// Peers that misbehaved since the last call, with why.
    pub(crate) fn take_strikes(&mut self) -> Vec<(PeerId, &'static str)> {
        std::mem::take(&mut self.strikes)
    }

    /// The status part.
    pub(crate) fn status(&self) -> MessagingStatus {
        MessagingStatus {
            mailbox: self.messenger.mailbox_stats(),
            outbox_trying: self.trying.len(),
            ..self.status.clone()
        }
    }

    pub(crate) fn on_wake(
        &mut self,
        swarm: &mut Swarm<Behaviour>,
        exec: &mut Executor,
        wake: MsgWake,
    ) {
        match wake {
            MsgWake::Done(d) => self.on_done(swarm, exec, d),
            MsgWake::Queued | MsgWake::Tick => self.take_due(exec),
            MsgWake::Other => {}
            MsgWake::CollectTick => {
                // Mail held for others past its expiry goes, and my expired messages are
                // marked (and the user told). A sweep still running (or a draining executor)
                // leaves it to the next tick: nothing is lost by sweeping a minute later.
                let m = self.messenger.clone();
                let now = (self.clock)();
                let swept = exec.spawn(Kind::MailSweep, move || {
                    if let Err(e) = m.sweep(now) {
                        tracing::warn!(error = %e, "cannot sweep expired messages");
                    }
                });
                if let Err(e) = swept {
                    tracing::debug!(error = %e, "expired messages swept on the next tick");
                }
                self.collect_from_mailboxes(swarm);
            }
        }
    }

    /// The nearest of this node's mailboxes, asked for mail every [`COLLECT_EVERY`]: the
    /// connection manager keeps their connections (`event_loop/trim.rs`), which would
    /// otherwise be closed between two collects and dialled again for the next.
    pub(crate) fn nearest_mailboxes(&self) -> &[PeerId] {
        let n = self.messenger.config().mailbox_copies * NEAREST_MAILBOXES_PER_COPY;
        &self.mailboxes[..n.min(self.mailboxes.len())]
    }

    /// Every [`COLLECT_EVERY`]: looks up the peers closest to this node's key when the last
    /// look-up is [`FIND_MAILBOXES_EVERY`] old (or there was none), collecting from all it finds;
    /// otherwise collects from the nearest of the mailboxes it found (dialling them) and from
    /// the others it is connected to.
    fn collect_from_mailboxes(&mut self, swarm: &mut Swarm<Behaviour>) {
        let stale = self
            .mailboxes_found
            .is_none_or(|t| t.elapsed() >= FIND_MAILBOXES_EVERY);
        let looking = self.closest.values().any(Option::is_none);
        if stale && !looking {
            self.mailboxes_found = Some(std::time::Instant::now());
            let me = *swarm.local_peer_id();
            let q = swarm.behaviour_mut().kad.get_closest_peers(me);
            self.closest.insert(q, None);
            return;
        }
        let nearest = self.nearest_mailboxes().len();
        for (i, p) in self.mailboxes.clone().into_iter().enumerate() {
            if i < nearest || swarm.is_connected(&p) {
                self.collect_from(swarm, p);
            }
        }
    }

    /// Asks the store for due messages, one look at a time; a wake meanwhile looks again after.
    fn take_due(&mut self, exec: &mut Executor) {
        if self.due_running {
            self.due_again = true;
            return;
        }
        self.due_running = true;
        let m = self.messenger.clone();
        let now = (self.clock)();
        let busy: HashSet<EnvelopeHash> = self.trying.keys().copied().collect();
        let mut per_recipient: HashMap<PublicKey, usize> = HashMap::new();
        for t in self.trying.values() {
            *per_recipient.entry(t.item.recipient).or_default() += 1;
        }
        let tx = self.done_tx.clone();
        let came_online = std::mem::take(&mut self.came_online);
        let look = move || -> Result<(Vec<OutboxItem>, usize), String> {
            for key in &came_online {
                m.due_now_for(key, now).map_err(|e| e.to_string())?;
            }
            m.due(now).map_err(|e| e.to_string()).and_then(|items| {
                // An item still in its last attempt is not tried again on top of it, and a
                // recipient gets at most MAX_TRYING_PER_RECIPIENT at once; the others keep
                // their turn (no attempt counted) for the next look.
                let items: Vec<OutboxItem> = items
                    .into_iter()
                    .filter(|i| !busy.contains(&i.hash))
                    .filter(|i| {
                        let n = per_recipient.entry(i.recipient).or_default();
                        *n += 1;
                        *n <= MAX_TRYING_PER_RECIPIENT
                    })
                    .collect();
                for i in &items {
                    m.attempted(&i.hash, now).map_err(|e| e.to_string())?;
                }
                // Counted here, off the loop, rather than when the status is read.
                let queued = m.queued().map_err(|e| e.to_string())?;
                Ok((items, queued))
            })
        };
        // The result comes back even if the look panics, so `due_running` is cleared.
        let spawned = exec.spawn(Kind::OutboxLook, move || {
            let result = caught("the look at the outbox", look).and_then(|r| r);
            let _ = tx.blocking_send(MsgDone::Due(result));
        });
        if let Err(e) = spawned {
            // Only while draining (one look at a time is `due_running`'s doing): the outbox
            // keeps the messages, looked at again after a restart.
            tracing::debug!(error = %e, "the outbox was not looked at");
            self.due_running = false;
        }
    }

    fn try_item(&mut self, swarm: &mut Swarm<Behaviour>, item: OutboxItem) {
        let Some(recipient) = peer_of(&item.recipient) else {
            tracing::warn!(hash = %item.hash, "outbox item for a key that is no PeerId");
            return;
        };
        let hash = item.hash;
        let connected = swarm.is_connected(&recipient);
        // `send_request` dials a peer that is not connected, with the addresses Kademlia and
        // the address book gave the swarm; a failed dial comes back as an outbound failure.
        let id = swarm.behaviour_mut().msg.send_request(
            &recipient,
            MsgRequest::Deliver(item.sealed.as_bytes().to_vec()),
        );
        self.outbound
            .insert(id, (recipient, Pending::Deliver { hash }));
        let mut outstanding = 1;
        if !connected {
            self.dialling.push(recipient);
            // Not reachable right now, as far as we know: look for its addresses (a reachable
            // recipient is among the closest peers to its own key) and for mailbox peers, if
            // fewer than `mailbox_copies` hold a copy.
            let q = swarm.behaviour_mut().kad.get_closest_peers(recipient);
            self.closest.insert(q, Some(hash));
            outstanding += 1;
        }
        self.trying.insert(
            hash,
            Try {
                item,
                outstanding,
                delivered: false,
            },
        );
    }

    /// One request or query of an attempt finished.
    fn settle(&mut self, hash: &EnvelopeHash) {
        if let Some(t) = self.trying.get_mut(hash) {
            t.outstanding = t.outstanding.saturating_sub(1);
            if t.outstanding == 0 {
                self.trying.remove(hash);
            }
        }
    }

    /// A Kademlia closest-peers query finished; `false` if it was not messaging's.
    pub(crate) fn on_closest(
        &mut self,
        swarm: &mut Swarm<Behaviour>,
        id: kad::QueryId,
        peers: Vec<kad::PeerInfo>,
    ) -> bool {
        let Some(purpose) = self.closest.remove(&id) else {
            return false;
        };
        let me = *swarm.local_peer_id();
        match purpose {
            None => {
                let mut found: Vec<PeerId> = peers
                    .into_iter()
                    .map(|p| p.peer_id)
                    .filter(|p| *p != me)
                    .collect();
                let key = kad::KBucketKey::from(me);
                found.sort_by_key(|p| key.distance(&kad::KBucketKey::from(*p)));
                for p in &found {
                    self.collect_from(swarm, *p);
                }
                if found.is_empty() {
                    // Not in the network yet: look again at the next tick.
                    self.mailboxes_found = None;
                } else {
                    self.mailboxes = found;
                }
            }
            Some(hash) => {
                let Some(t) = self.trying.get(&hash) else {
                    return true;
                };
                let recipient = peer_of(&t.item.recipient);
                let wanted = self
                    .messenger
                    .config()
                    .mailbox_copies
                    .saturating_sub(t.item.deposited_with.len());
                let mut requests = Vec::new();
                let mut found = None;
                if !t.delivered {
                    for info in &peers {
                        let p = info.peer_id;
                        if Some(p) == recipient {
                            found = Some(p);
                            for a in &info.addrs {
                                swarm.behaviour_mut().kad.add_address(&p, a.clone());
                            }
                            continue;
                        }
                        if p == me || t.item.deposited_with.contains(&p.to_string()) {
                            continue;
                        }
                        if requests.len() < wanted {
                            requests.push(p);
                        }
                    }
                }
                let bytes = t.item.sealed.as_bytes().to_vec();
                let mut sent = requests.len() as u32;
                if let Some(r) = found.filter(|r| !swarm.is_connected(r)) {
                    // Online after all, at addresses this node did not know when the Deliver
                    // went out (it most likely failed to dial): try it again now rather than
                    // after the backoff.
                    let id = swarm
                        .behaviour_mut()
                        .msg
                        .send_request(&r, MsgRequest::Deliver(bytes.clone()));
                    self.outbound.insert(id, (r, Pending::Deliver { hash }));
                    sent += 1;
                }
                for p in &requests {
                    let id = swarm
                        .behaviour_mut()
                        .msg
                        .send_request(p, MsgRequest::Deposit(bytes.clone()));
                    self.outbound.insert(id, (*p, Pending::Deposit { hash }));
                }
                if let Some(t) = self.trying.get_mut(&hash) {
                    t.outstanding += sent;
                }
                if requests.is_empty() && !peers.is_empty() && wanted > 0 {
                    tracing::debug!(%hash, "no mailbox peer besides the recipient is known yet");
                }
                self.settle(&hash);
            }
        }
        true
    }

    /// An event of the `/swapmeet/msg/1` behaviour.
    pub(crate) fn on_event(
        &mut self,
        swarm: &mut Swarm<Behaviour>,
        exec: &mut Executor,
        ev: request_response::Event<MsgRequest, MsgResponse>,
    ) {
        match ev {
            request_response::Event::Message {
                peer,
                message:
                    request_response::Message::Request {
                        request, channel, ..
                    },
                ..
            } => self.on_request(swarm, exec, peer, request, channel),
            request_response::Event::Message {
                peer,
                message:
                    request_response::Message::Response {
                        request_id,
                        response,
                    },
                ..
            } => {
                if let Some((_, what)) = self.outbound.remove(&request_id) {
                    self.on_response(swarm, exec, peer, what, response);
                }
            }
            request_response::Event::OutboundFailure {
                peer,
                request_id,
                error,
                ..
            } => {
                if matches!(error, request_response::OutboundFailure::Io(ref e) if e.kind() == std::io::ErrorKind::InvalidData)
                {
                    self.strikes.push((peer, "malformed msg response"));
                }
                let Some((_, what)) = self.outbound.remove(&request_id) else {
                    return;
                };
                match what {
                    Pending::Deliver { hash } | Pending::Deposit { hash } => {
                        tracing::debug!(%peer, %hash, %error, "message request failed");
                        self.settle(&hash);
                    }
                    // The sender's next try of Deliver gets the receipt again; the mailbox
                    // hands unacknowledged mail over again on the next collect.
                    Pending::Raw(reply) => {
                        let _ = reply.send(Err(error.to_string()));
                    }
                    Pending::Receipt | Pending::Collect | Pending::Ack { .. } => {
                        tracing::debug!(%peer, %error, "messaging request failed");
                    }
                }
            }
            request_response::Event::InboundFailure { peer, error, .. } => {
                if matches!(error, request_response::InboundFailure::Io(ref e) if e.kind() == std::io::ErrorKind::InvalidData)
                {
                    self.strikes.push((peer, "malformed msg request"));
                }
            }
            request_response::Event::ResponseSent { .. } => {}
        }
    }

    fn on_response(
        &mut self,
        swarm: &mut Swarm<Behaviour>,
        exec: &mut Executor,
        peer: PeerId,
        what: Pending,
        response: MsgResponse,
    ) {
        match (what, response) {
            (Pending::Raw(reply), response) => {
                let _ = reply.send(Ok(response));
            }
            (Pending::Deliver { hash }, MsgResponse::Receipt(bytes)) => {
                if let Some(t) = self.trying.get_mut(&hash) {
                    t.delivered = true;
                }
                self.take_receipt(Some(hash), peer, bytes);
                self.settle(&hash);
            }
            (Pending::Deliver { hash }, MsgResponse::Refused { reason }) => {
                self.status.deliveries_refused += 1;
                tracing::debug!(%peer, %hash, %reason, "the recipient refused a message");
                self.settle(&hash);
            }
            (Pending::Deposit { hash }, MsgResponse::Held) => {
                self.status.deposits_held += 1;
                let p = peer.to_string();
                if let Some(t) = self.trying.get_mut(&hash) {
                    t.item.deposited_with.push(p.clone());
                }
                self.queue_write(OutboxWrite::Deposited { hash, peer: p });
                self.settle(&hash);
            }
            (Pending::Deposit { hash }, MsgResponse::Refused { reason }) => {
                self.status.deposits_refused += 1;
                tracing::info!(%peer, %hash, %reason, "a mailbox peer refused a deposit");
                self.settle(&hash);
            }
            (Pending::Collect, MsgResponse::Mail { items, more }) => {
                self.receive_mail(exec, peer, items, more);
            }
            (Pending::Collect, MsgResponse::Refused { reason }) => {
                tracing::debug!(%peer, %reason, "a peer refused to hand over mail");
            }
            (Pending::Ack { more }, MsgResponse::Acked(_)) => {
                if more && swarm.is_connected(&peer) {
                    self.collect_from(swarm, peer);
                }
            }
            (Pending::Ack { .. }, MsgResponse::Refused { .. })
            | (Pending::Receipt, MsgResponse::Ok | MsgResponse::Refused { .. }) => {}
            (what, _) => {
                if let Pending::Deliver { hash } | Pending::Deposit { hash } = what {
                    self.settle(&hash);
                }
                self.strikes
                    .push((peer, "answered a msg request with the wrong kind"));
            }
        }
    }

    pub(crate) fn on_done(
        &mut self,
        swarm: &mut Swarm<Behaviour>,
        exec: &mut Executor,
        done: MsgDone,
    ) {
        match done {
            MsgDone::Due(result) => {
                self.due_running = false;
                match result {
                    Ok((items, queued)) => {
                        self.status.outbox_queued = queued;
                        for item in items {
                            self.try_item(swarm, item);
                        }
                    }
                    Err(e) => tracing::error!(error = %e, "cannot read the outbox"),
                }
                if std::mem::take(&mut self.due_again) {
                    self.take_due(exec);
                }
            }
            MsgDone::Served {
                peer,
                channel,
                response,
                abuse,
                refused_deposit,
            } => {
                if let Some(why) = abuse {
                    self.strikes.push((peer, why));
                }
                if refused_deposit {
                    self.status.deposits_refused_here += 1;
                }
                // Only a delivered message is answered with a receipt.
                if let MsgResponse::Receipt(_) = &response {
                    self.status.received += 1;
                }
                let _ = swarm.behaviour_mut().msg.send_response(channel, response);
            }
            MsgDone::Written(taken) => {
                for (hash, peer, result) in taken {
                    match result {
                        Ok(true) => self.status.delivered += 1,
                        Ok(false) => {}
                        Err(e) => {
                            tracing::info!(%peer, hash = ?hash, error = %e, "refused a receipt");
                            self.strikes.push((peer, "sent an invalid receipt"));
                        }
                    }
                }
            }
            MsgDone::Collected {
                peer,
                acks,
                receipts,
                received,
                more,
                abuse,
            } => {
                self.status.received += received;
                if abuse {
                    self.strikes.push((peer, "handed over malformed mail"));
                }
                if !acks.is_empty() && swarm.is_connected(&peer) {
                    // The next Collect goes once the Ack is answered, so that it does not get
                    // the same items again; with nothing to acknowledge, nothing moved, and
                    // asking again would get the same answer.
                    let id = swarm
                        .behaviour_mut()
                        .msg
                        .send_request(&peer, MsgRequest::Ack(acks));
                    self.outbound.insert(id, (peer, Pending::Ack { more }));
                }
                for (sender, r) in receipts {
                    if swarm.is_connected(&sender) {
                        self.send_receipt(swarm, sender, r);
                    } else {
                        self.hold_receipt(sender, r);
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use swapmeet_protocol::SecretKey;

    #[test]
    fn a_key_and_its_peer_id_convert_both_ways() {
        let key = SecretKey::from_bytes([5; 32]).public();
        let peer = peer_of(&key).unwrap();
        assert_eq!(peer.to_string(), crate::home::peer_id_of(&key));
        assert_eq!(key_of(&peer), Some(key));
        assert_eq!(key_of(&PeerId::random()), None);
    }
}
