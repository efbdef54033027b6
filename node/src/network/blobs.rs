//! Photos and other blobs over the network: the `/swapmeet/blob/1` request-response protocol,
//! what this node serves and within which limits, and the Kademlia provider records that say
//! who holds a blob.
//!
//! - **Serving.** A peer asks for a range of a blob by hash ([`codec::BlobRequest`]); the
//!   chunk is read from the [`BlobStore`] on the network's executor (the loop never touches
//!   disk) and sent back. At most [`ServeLimits::per_peer`] requests of one peer and
//!   [`ServeLimits::total`] of all peers (the executor's `blob_serve` cap) are being read at
//!   once, and a peer may ask at most
//!   [`ServeLimits::peer_chunks_per_sec`] chunks a second on average: beyond, the answer is
//!   `Busy` (the requester tries another provider or later). A peer that keeps asking past
//!   its rate is struck like one that sends invalid gossip.
//! - **Providers.** The node announces every blob it holds (Kademlia `start_providing` under
//!   [`blob_key`]) and stops when the blob is collected; it keeps provider records other
//!   peers announce under blob keys, as it does for area keys. New announcements are paced
//!   ([`ANNOUNCE_PER_TICK`] a second): each is a Kademlia query and about 20 requests, and a
//!   node that starts with 10,000 thumbnails (or syncs 10,000 listings) would otherwise send
//!   200,000 requests at once.
//! - **Fetching** is `crate::media::fetch`: it asks through [`NetworkHandle::blob_request`]
//!   and [`NetworkHandle::blob_providers`], and reports a peer whose bytes did not match
//!   their hash with [`NetworkHandle::penalize`].
//!
//! Every per-peer map is pruned when the peer's last connection closes.

pub mod codec;

use std::collections::VecDeque;
use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

use libp2p::kad::{self, QueryId, RecordKey};
use libp2p::request_response::{self, OutboundRequestId, ResponseChannel};
use libp2p::{PeerId, Swarm};
use serde::Serialize;
use swapmeet_protocol::limits::DHT_BLOB_PREFIX;
use tokio::sync::{mpsc, oneshot};

pub use self::codec::{BlobCodec, BlobRequest, BlobResponse, MAX_CHUNK_BYTES};
use super::behaviour::Behaviour;
use super::executor::{caught, Executor, Kind};
use super::messaging::bucket::{Rate, TokenBucket, Verdict};
use super::{Command, NetworkError, NetworkHandle};
use crate::media::blobs::{BlobHash, BlobStore};

/// What a node serves at once and how fast, per peer and in total (config `[media]`).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ServeLimits {
    /// Chunk requests of one peer being read at once; more are answered `Busy`.
    pub per_peer: usize,
    /// Chunk requests of all peers being read at once; more are answered `Busy`.
    pub total: usize,
    /// Chunks one peer may ask for a second, on average (a chunk is up to 256 KiB).
    pub peer_chunks_per_sec: f64,
    /// Chunks one peer may ask for at once after a quiet spell.
    pub peer_chunk_burst: u32,
}

impl Default for ServeLimits {
    fn default() -> Self {
        // A fetch asks one chunk at a time, so 4 at once per peer lets a buyer fetch a few
        // photos side by side; 32 in total (8 MiB of chunks in memory) serves a page of
        // search results to a handful of buyers. 64 chunks a second is 16 MiB/s per peer,
        // far above what one person browsing asks for, bounding a peer that mirrors us.
        ServeLimits {
            per_peer: 4,
            total: 32,
            peer_chunks_per_sec: 64.0,
            peer_chunk_burst: 128,
        }
    }
}

/// Blobs announced per [`ANNOUNCE_TICK`] at most; the rest wait their turn. 16 a second
/// announces 10,000 thumbnails in about ten minutes, a few hundred Kademlia requests a second.
pub const ANNOUNCE_PER_TICK: usize = 16;
/// How often waiting announcements are started.
pub const ANNOUNCE_TICK: Duration = Duration::from_secs(1);

/// The DHT key under which the holders of a blob are announced: `/blob/<64 hex>`.
pub fn blob_key(hash: &BlobHash) -> RecordKey {
    RecordKey::new(&format!("{DHT_BLOB_PREFIX}{}", hex::encode(hash)))
}

/// Whether a DHT key is a blob key (a provider record under it is kept).
pub fn is_blob_key(key: &RecordKey) -> bool {
    std::str::from_utf8(key.as_ref())
        .ok()
        .and_then(|k| k.strip_prefix(DHT_BLOB_PREFIX))
        .is_some_and(|h| h.len() == 64 && h.bytes().all(|b| b.is_ascii_hexdigit()))
}

/// What the status shows about serving and fetching blobs.
#[derive(Clone, Debug, Default, Serialize)]
pub struct BlobNetStatus {
    /// Chunks served since start.
    pub chunks_served: u64,
    /// Bytes of chunks served since start.
    pub bytes_served: u64,
    /// Requests answered `Busy` (over a serving limit) since start.
    pub busy: u64,
    /// Requests for blobs this node does not hold since start.
    pub not_found: u64,
    /// Chunk requests being read now.
    pub serving: usize,
    /// Blob keys this node announces as a provider now (or will, at 16 a second).
    pub providing: usize,
}

/// A command of the blob part, sent through [`NetworkHandle`].
pub(crate) enum BlobCommand {
    /// Ask a peer for a chunk.
    Request(
        PeerId,
        BlobRequest,
        oneshot::Sender<Result<BlobResponse, String>>,
    ),
    /// Announce these blobs as held here.
    Provide(Vec<BlobHash>),
    /// Stop announcing these blobs.
    Unprovide(Vec<BlobHash>),
    /// Stop announcing the blobs the store no longer holds (collected, evicted).
    Prune,
    /// Who announces this blob (never this node).
    Providers(BlobHash, oneshot::Sender<Vec<PeerId>>),
}

/// What woke the blob part of the loop.
pub(crate) enum BlobWake {
    /// A chunk was read: answer it.
    Served(Served),
    /// Time to start more announcements.
    Announce,
}

/// A served request, back from the blocking pool.
pub(crate) struct Served {
    peer: PeerId,
    channel: ResponseChannel<BlobResponse>,
    response: BlobResponse,
}

/// The blob state the event loop drives.
pub(crate) struct BlobWire {
    store: BlobStore,
    limits: ServeLimits,
    buckets: HashMap<PeerId, TokenBucket>,
    serving_of: HashMap<PeerId, usize>,
    outbound: HashMap<OutboundRequestId, oneshot::Sender<Result<BlobResponse, String>>>,
    providers: HashMap<QueryId, (oneshot::Sender<Vec<PeerId>>, HashSet<PeerId>)>,
    provided: HashSet<BlobHash>,
    /// Blobs to announce, oldest first (each at most once: see `provided`).
    to_announce: VecDeque<BlobHash>,
    announce_tick: tokio::time::Interval,
    done_tx: mpsc::Sender<Served>,
    done_rx: mpsc::Receiver<Served>,
    strikes: Vec<(PeerId, &'static str)>,
    status: BlobNetStatus,
}

impl BlobWire {
    /// Serving from `store` within `limits`.
    pub(crate) fn new(store: BlobStore, limits: ServeLimits) -> BlobWire {
        // Every read in flight is one slot of `limits.total`, so the channel never fills.
        let (done_tx, done_rx) = mpsc::channel(limits.total.max(1));
        BlobWire {
            store,
            limits,
            buckets: HashMap::new(),
            serving_of: HashMap::new(),
            outbound: HashMap::new(),
            providers: HashMap::new(),
            provided: HashSet::new(),
            to_announce: VecDeque::new(),
            announce_tick: {
                let mut t = tokio::time::interval(ANNOUNCE_TICK);
                t.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
                t
            },
            done_tx,
            done_rx,
            strikes: Vec::new(),
            status: BlobNetStatus::default(),
        }
    }

    /// The next thing to act on. Cancel-safe (a channel receive, a tick).
    pub(crate) async fn next(&mut self) -> BlobWake {
        tokio::select! {
            Some(s) = self.done_rx.recv() => BlobWake::Served(s),
            _ = self.announce_tick.tick() => BlobWake::Announce,
        }
    }

    /// Acts on what [`BlobWire::next`] gave.
    pub(crate) fn on_wake(&mut self, swarm: &mut Swarm<Behaviour>, wake: BlobWake) {
        match wake {
            BlobWake::Served(s) => self.on_served(swarm, s),
            BlobWake::Announce => self.announce(swarm),
        }
    }

    /// Starts the next [`ANNOUNCE_PER_TICK`] waiting announcements.
    fn announce(&mut self, swarm: &mut Swarm<Behaviour>) {
        let mut started = 0;
        while started < ANNOUNCE_PER_TICK {
            let Some(h) = self.to_announce.pop_front() else {
                break;
            };
            // Unprovided (collected) while it waited.
            if !self.provided.contains(&h) {
                continue;
            }
            started += 1;
            if let Err(e) = swarm.behaviour_mut().kad.start_providing(blob_key(&h)) {
                // The provider store is full: not announced, and not counted as provided.
                self.provided.remove(&h);
                tracing::debug!(blob = %hex::encode(h), error = ?e, "cannot announce a blob");
            }
        }
    }

    /// Peers that misbehaved since the last call, with why.
    pub(crate) fn take_strikes(&mut self) -> Vec<(PeerId, &'static str)> {
        std::mem::take(&mut self.strikes)
    }

    /// The next chunk read, for the shutdown's drain.
    pub(crate) async fn next_served(&mut self) -> Option<Served> {
        self.done_rx.recv().await
    }

    /// The status part; `serving` is the executor's count of chunk reads in flight.
    pub(crate) fn status(&self, serving: usize) -> BlobNetStatus {
        BlobNetStatus {
            serving,
            providing: self.provided.len(),
            ..self.status.clone()
        }
    }

    /// Entries in the per-peer maps (for the status; 0 with no peer connected).
    pub(crate) fn peer_state_len(&self) -> usize {
        self.buckets.len() + self.serving_of.len()
    }

    /// A peer's last connection closed: forget its per-peer state.
    pub(crate) fn on_disconnected(&mut self, peer: &PeerId) {
        self.buckets.remove(peer);
        // Reads in flight still come back and are answered into a closed channel; the
        // executor counts them until then.
        self.serving_of.remove(peer);
    }

    /// Carries out a command.
    pub(crate) fn on_command(&mut self, swarm: &mut Swarm<Behaviour>, cmd: BlobCommand) {
        match cmd {
            BlobCommand::Request(peer, req, reply) => {
                let id = swarm.behaviour_mut().blob.send_request(&peer, req);
                self.outbound.insert(id, reply);
            }
            BlobCommand::Provide(hashes) => {
                for h in hashes {
                    if self.provided.insert(h) {
                        self.to_announce.push_back(h);
                    }
                }
            }
            BlobCommand::Unprovide(hashes) => {
                for h in hashes {
                    if self.provided.remove(&h) {
                        swarm.behaviour_mut().kad.stop_providing(&blob_key(&h));
                    }
                }
            }
            BlobCommand::Prune => {
                // An in-memory look-up per announced blob: no disk.
                let gone: Vec<BlobHash> = self
                    .provided
                    .iter()
                    .filter(|h| !self.store.has(h))
                    .copied()
                    .collect();
                for h in gone {
                    self.provided.remove(&h);
                    swarm.behaviour_mut().kad.stop_providing(&blob_key(&h));
                }
            }
            BlobCommand::Providers(hash, reply) => {
                let q = swarm.behaviour_mut().kad.get_providers(blob_key(&hash));
                self.providers.insert(q, (reply, HashSet::new()));
            }
        }
    }

    /// A provider query progressed; `false` if it was not one of ours. The answer goes out
    /// with the first providers found besides this node (a fetch wants one that holds the
    /// blob now, not the complete list), or when the query ends.
    pub(crate) fn on_providers(
        &mut self,
        swarm: &mut Swarm<Behaviour>,
        id: QueryId,
        result: &kad::GetProvidersResult,
    ) -> bool {
        let Some((_, found)) = self.providers.get_mut(&id) else {
            return false;
        };
        let me = *swarm.local_peer_id();
        let done = match result {
            Ok(kad::GetProvidersOk::FoundProviders { providers, .. }) => {
                found.extend(providers.iter().filter(|p| **p != me));
                !found.is_empty()
            }
            Ok(kad::GetProvidersOk::FinishedWithNoAdditionalRecord { .. }) | Err(_) => true,
        };
        if done {
            if let Some((reply, found)) = self.providers.remove(&id) {
                let _ = reply.send(found.into_iter().collect());
            }
            if let Some(mut q) = swarm.behaviour_mut().kad.query_mut(&id) {
                q.finish();
            }
        }
        true
    }

    /// Whether `peer` may have a chunk read now: `None`, or the answer to give instead.
    fn admit(&mut self, exec: &mut Executor, peer: PeerId) -> Option<BlobResponse> {
        let rate = Rate {
            per_sec: self.limits.peer_chunks_per_sec,
            burst: self.limits.peer_chunk_burst,
        };
        let now = Instant::now();
        let verdict = self
            .buckets
            .entry(peer)
            .or_insert_with(|| TokenBucket::new(rate, now))
            .take(rate, now);
        if verdict == Verdict::RefuseAndStrike {
            self.strikes
                .push((peer, "kept asking for blobs past its rate"));
        }
        let busy = verdict != Verdict::Allow
            || self.serving_of.get(&peer).copied().unwrap_or(0) >= self.limits.per_peer
            // Last, so that only a request refused for the total counts as the executor's.
            || exec.admit(Kind::BlobServe).is_err();
        busy.then_some(BlobResponse::Busy)
    }

    /// An event of the `/swapmeet/blob/1` behaviour.
    pub(crate) fn on_event(
        &mut self,
        swarm: &mut Swarm<Behaviour>,
        exec: &mut Executor,
        ev: request_response::Event<BlobRequest, BlobResponse>,
    ) {
        match ev {
            request_response::Event::Message {
                peer,
                message:
                    request_response::Message::Request {
                        request, channel, ..
                    },
                ..
            } => {
                // At a limit the answer is `Busy` at once: the fetcher tries another
                // provider, or this one later.
                if let Some(answer) = self.admit(exec, peer) {
                    self.status.busy += 1;
                    let _ = swarm.behaviour_mut().blob.send_response(channel, answer);
                    return;
                }
                *self.serving_of.entry(peer).or_default() += 1;
                let store = self.store.clone();
                let tx = self.done_tx.clone();
                // `admit` found room just now on this task, so the spawn takes the job.
                let spawned = exec.spawn(Kind::BlobServe, move || {
                    // A panic still answers the peer (`Busy`: it tries elsewhere).
                    let response = caught("reading a blob chunk", || serve(&store, &request))
                        .unwrap_or(BlobResponse::Busy);
                    let _ = tx.blocking_send(Served {
                        peer,
                        channel,
                        response,
                    });
                });
                if let Err(e) = spawned {
                    tracing::error!(%peer, error = %e, "a blob request was not answered");
                    self.release(&peer);
                }
            }
            request_response::Event::Message {
                message:
                    request_response::Message::Response {
                        request_id,
                        response,
                    },
                ..
            } => {
                if let Some(reply) = self.outbound.remove(&request_id) {
                    let _ = reply.send(Ok(response));
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
                    self.strikes.push((peer, "malformed blob response"));
                }
                if let Some(reply) = self.outbound.remove(&request_id) {
                    let _ = reply.send(Err(error.to_string()));
                }
            }
            request_response::Event::InboundFailure { peer, error, .. } => {
                if matches!(error, request_response::InboundFailure::Io(ref e) if e.kind() == std::io::ErrorKind::InvalidData)
                {
                    self.strikes.push((peer, "malformed blob request"));
                }
            }
            request_response::Event::ResponseSent { .. } => {}
        }
    }

    /// Frees one of the peer's reading slots.
    fn release(&mut self, peer: &PeerId) {
        if let Some(n) = self.serving_of.get_mut(peer) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                self.serving_of.remove(peer);
            }
        }
    }

    /// A chunk was read: answer the peer and free its slot (the executor freed its own).
    pub(crate) fn on_served(&mut self, swarm: &mut Swarm<Behaviour>, s: Served) {
        self.release(&s.peer);
        match &s.response {
            BlobResponse::Chunk { bytes, .. } => {
                self.status.chunks_served += 1;
                self.status.bytes_served += bytes.len() as u64;
            }
            BlobResponse::NotFound => self.status.not_found += 1,
            BlobResponse::Busy | BlobResponse::Refused { .. } => {}
        }
        let _ = swarm
            .behaviour_mut()
            .blob
            .send_response(s.channel, s.response);
    }
}

/// Reads the chunk a request asks for (on the blocking pool).
fn serve(store: &BlobStore, req: &BlobRequest) -> BlobResponse {
    let Some(total_size) = store.size(&req.hash) else {
        return BlobResponse::NotFound;
    };
    if req.offset >= total_size {
        return BlobResponse::Refused {
            reason: format!(
                "offset {} is past the end of a blob of {total_size} bytes",
                req.offset
            ),
        };
    }
    match store.read_chunk(&req.hash, req.offset, req.len) {
        Ok(Some(bytes)) => BlobResponse::Chunk { total_size, bytes },
        // Collected between the size and the read.
        Ok(None) => BlobResponse::NotFound,
        Err(e) => {
            tracing::warn!(blob = %hex::encode(req.hash), error = %e, "cannot read a blob to serve it");
            BlobResponse::NotFound
        }
    }
}

impl NetworkHandle {
    /// Asks `peer` for a range of a blob; the answer, or why there is none (the peer is
    /// unreachable, the request timed out, the answer was malformed). Dials the peer if it is
    /// not connected.
    pub async fn blob_request(
        &self,
        peer: PeerId,
        req: BlobRequest,
    ) -> Result<Result<BlobResponse, String>, NetworkError> {
        self.ask(|tx| Command::Blob(BlobCommand::Request(peer, req, tx)))
            .await
    }

    /// Announces blobs as held by this node (Kademlia provider records, renewed by Kademlia
    /// until [`NetworkHandle::unprovide_blobs`]).
    pub async fn provide_blobs(&self, hashes: Vec<BlobHash>) -> Result<(), NetworkError> {
        self.commands
            .send(Command::Blob(BlobCommand::Provide(hashes)))
            .await
            .map_err(|_| NetworkError::Stopped)
    }

    /// Stops announcing blobs (they were collected).
    pub async fn unprovide_blobs(&self, hashes: Vec<BlobHash>) -> Result<(), NetworkError> {
        self.commands
            .send(Command::Blob(BlobCommand::Unprovide(hashes)))
            .await
            .map_err(|_| NetworkError::Stopped)
    }

    /// Stops announcing the blobs the store no longer holds.
    pub async fn prune_provided(&self) -> Result<(), NetworkError> {
        self.commands
            .send(Command::Blob(BlobCommand::Prune))
            .await
            .map_err(|_| NetworkError::Stopped)
    }

    /// The peers that announce a blob (never this node); empty when the DHT knows none.
    pub async fn blob_providers(&self, hash: BlobHash) -> Result<Vec<PeerId>, NetworkError> {
        self.ask(|tx| Command::Blob(BlobCommand::Providers(hash, tx)))
            .await
    }

    /// Counts a misbehaviour against a peer (bytes that did not match their hash): the same
    /// strikes invalid gossip earns, cutting the peer off at the third.
    pub async fn penalize(&self, peer: PeerId, why: &'static str) -> Result<(), NetworkError> {
        self.commands
            .send(Command::Penalize(peer, why))
            .await
            .map_err(|_| NetworkError::Stopped)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store() -> (tempfile::TempDir, BlobStore) {
        let dir = tempfile::tempdir().unwrap();
        let store = BlobStore::open(&dir.path().join("blobs"), 1 << 20).unwrap();
        (dir, store)
    }

    #[test]
    fn chunks_are_served_from_the_store_and_bad_ranges_refused() {
        let (_dir, store) = store();
        let bytes: Vec<u8> = (0..1000u32).map(|i| i as u8).collect();
        let hash = store.put(&bytes, crate::media::BlobClass::Own).unwrap();
        let req = |offset, len| BlobRequest { hash, offset, len };
        assert_eq!(
            serve(&store, &req(0, 600)),
            BlobResponse::Chunk {
                total_size: 1000,
                bytes: bytes[..600].to_vec()
            }
        );
        // The last chunk is what is left.
        assert_eq!(
            serve(&store, &req(600, 600)),
            BlobResponse::Chunk {
                total_size: 1000,
                bytes: bytes[600..].to_vec()
            }
        );
        let BlobResponse::Refused { reason } = serve(&store, &req(1000, 1)) else {
            panic!("an offset at the end was served")
        };
        assert!(
            reason.contains("past the end of a blob of 1000 bytes"),
            "{reason}"
        );
        assert_eq!(
            serve(
                &store,
                &BlobRequest {
                    hash: [9; 32],
                    offset: 0,
                    len: 1
                }
            ),
            BlobResponse::NotFound
        );
    }

    // A runtime for the wire's announcement tick.
    #[tokio::test]
    async fn serving_is_bounded_per_peer_in_total_and_in_rate_and_a_flood_is_struck() {
        let (_dir, store) = store();
        let limits = ServeLimits {
            per_peer: 2,
            total: 3,
            peer_chunks_per_sec: 0.001,
            peer_chunk_burst: 4,
        };
        let mut w = BlobWire::new(store, limits);
        let mut exec = Executor::default();
        exec.set_cap(Kind::BlobServe, limits.total);
        // Reads in flight: executor jobs that wait for the test's word.
        let (go_tx, go_rx) = std::sync::mpsc::channel::<()>();
        let go_rx = std::sync::Arc::new(std::sync::Mutex::new(go_rx));
        let (a, b) = (PeerId::random(), PeerId::random());
        let take = |w: &mut BlobWire, exec: &mut Executor, p: PeerId| {
            let r = w.admit(exec, p);
            if r.is_none() {
                let rx = go_rx.clone();
                exec.spawn(Kind::BlobServe, move || {
                    let _ = rx.lock().unwrap().recv();
                })
                .unwrap();
                *w.serving_of.entry(p).or_default() += 1;
            }
            r
        };
        assert_eq!(take(&mut w, &mut exec, a), None);
        assert_eq!(take(&mut w, &mut exec, a), None);
        // Two of a's reads in flight: a third is Busy; b still gets one.
        assert_eq!(take(&mut w, &mut exec, a), Some(BlobResponse::Busy));
        assert_eq!(take(&mut w, &mut exec, b), None);
        // Three in total: b's second is Busy too, counted as the executor's refusal.
        assert_eq!(take(&mut w, &mut exec, b), Some(BlobResponse::Busy));
        let blob_serve = exec.status().into_iter().find(|k| k.kind == "blob_serve");
        assert_eq!(
            blob_serve.map(|k| (k.in_flight, k.cap, k.refused)),
            Some((3, 3, 1))
        );
        assert!(w.take_strikes().is_empty());
        // Disconnecting forgets a peer's state; its bucket was nearly empty.
        w.on_disconnected(&a);
        assert!(!w.buckets.contains_key(&a) && !w.serving_of.contains_key(&a));
        // A peer past its rate by a whole burst is struck (rate ~0: the burst of 4 is all
        // it gets).
        for _ in 0..3 {
            go_tx.send(()).unwrap();
        }
        while exec.join_next().await {}
        w.serving_of.clear();
        let c = PeerId::random();
        for _ in 0..4 {
            assert_eq!(w.admit(&mut exec, c), None);
        }
        for _ in 0..4 {
            assert_eq!(w.admit(&mut exec, c), Some(BlobResponse::Busy));
        }
        assert_eq!(w.take_strikes().len(), 1);
    }

    #[test]
    fn the_serving_limits_come_from_the_config_and_are_checked() {
        let mut c = crate::home::Config::default();
        assert_eq!(c.blob_serve().unwrap(), ServeLimits::default());
        c.media.serve_per_peer = 0;
        let e = c.blob_serve().unwrap_err().to_string();
        assert!(
            e.contains("media.serve_per_peer: 0 is out of range: 1 to 64"),
            "{e}"
        );
        c.media.serve_per_peer = 8;
        c.media.serve_total = 5000;
        let e = c.blob_serve().unwrap_err().to_string();
        assert!(e.contains("media.serve_total"), "{e}");
    }

    #[test]
    fn blob_keys_name_the_hash_in_hex() {
        let h = [0xab; 32];
        let k = blob_key(&h);
        assert_eq!(k.as_ref(), format!("/blob/{}", "ab".repeat(32)).as_bytes());
        assert!(is_blob_key(&k));
        assert!(!is_blob_key(&RecordKey::new(&"/blob/abc")));
        assert!(!is_blob_key(&RecordKey::new(&format!(
            "/area/{}",
            "ab".repeat(32)
        ))));
        assert!(!is_blob_key(&RecordKey::new(&format!(
            "/blob/{}",
            "zz".repeat(32)
        ))));
    }
}
