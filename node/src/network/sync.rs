//! Catch-up sync: two peers reconcile the listing sets of the areas they share with range-based
//! set reconciliation (negentropy), then the one that asked fetches what it lacks in batches.
//!
//! It runs over request-response `/swapmeet/sync/1`. Sync is pull-only: the peer that opens a
//! session learns what it lacks and fetches it; the other side learns nothing and stores
//! nothing. Both peers open a session when they connect, so both end up with the union of the
//! areas each follows.
//!
//! - The set of an area is its members in the store as `(signed-at, envelope hash)`: listings
//!   and withdrawals alike, so a withdrawal syncs like a listing. The set of several areas is
//!   the union of theirs; the area `all` is every record in the store.
//! - Every set also holds every review the node keeps, as `(written_at, envelope hash)`:
//!   nodes keep reviews whatever area they follow (reputation belongs to a key), so the
//!   reviews of two nodes are comparable whatever areas they share, and a node that was
//!   offline catches up on them with its first sync.
//! - **Reconcile**: the initiator sends a negentropy message for a list of areas; the
//!   responder answers with its negentropy reply over its own set of the same areas. The
//!   responder keeps no state between messages (negentropy's responder is stateless).
//! - **Fetch**: up to [`MAX_FETCH_HASHES`] envelope hashes; the answer holds the envelopes the
//!   responder has, as they were signed. What arrives goes through the batch ingest path.
//!
//! Wire format (one message per stream, the writer closes after it; see docs/PROTOCOL.md):
//! a version byte (1), a tag byte, then the body. Every length is bounded before anything is
//! allocated; a peer that sends garbage, asks for absurd ranges, or answers with records it
//! was not asked for is reported to the caller as abuse ([`SyncError::is_abuse`]).

use std::collections::{HashSet, VecDeque};
use std::io;
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::{AsyncRead, AsyncWrite};
use libp2p::StreamProtocol;
use negentropy::{Id, Negentropy, NegentropyStorageVector};
use serde::Serialize;
use swapmeet_protocol::limits::{GOSSIP_ALL_AREA, MAX_ENVELOPE_BYTES};
use swapmeet_protocol::EnvelopeHash;

use crate::engine::Engine;
use crate::network::frame::{bad, put_u32, Frame};
use crate::network::gossip::is_area_tag;
use crate::store::StoreError;

/// Wire version of sync messages.
pub const SYNC_WIRE_VERSION: u8 = 1;
/// Most areas in one reconcile request (a node follows at most 96 cells plus `ship`).
pub const MAX_SYNC_AREAS: usize = 128;
/// Negentropy frame size limit, both directions. Larger sets take more rounds, never larger
/// messages.
pub const MAX_RECONCILE_MESSAGE: usize = 256 * 1024;
/// Most hashes in one fetch request.
pub const MAX_FETCH_HASHES: usize = 512;
/// Largest request on the wire.
pub const MAX_REQUEST_BYTES: usize = MAX_RECONCILE_MESSAGE + MAX_SYNC_AREAS * 8 + 64;
/// Largest response on the wire: a full fetch batch of envelopes at the protocol's cap.
pub const MAX_RESPONSE_BYTES: usize = MAX_FETCH_HASHES * (MAX_ENVELOPE_BYTES + 4) + 64;
/// Fetch requests a session keeps in flight.
pub const FETCH_PIPELINE: usize = 4;
/// Most reconcile rounds one session may take before it gives up (a cheating or broken peer
/// could otherwise keep a session alive forever). 100,000 items need about 15 rounds.
pub const MAX_ROUNDS: u32 = 200;
/// How long a responder reuses the set it built for the same areas.
const SET_CACHE_TTL: Duration = Duration::from_secs(5);

/// The sync protocol's framing.
const FRAME: Frame = Frame::new("sync", SYNC_WIRE_VERSION);

const TAG_RECONCILE: u8 = 1;
const TAG_FETCH: u8 = 2;
const TAG_ENVELOPES: u8 = 3;
const TAG_REFUSED: u8 = 4;

/// A sync request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SyncRequest {
    /// A negentropy message over the union of these areas.
    Reconcile {
        /// Area tags.
        areas: Vec<String>,
        /// The negentropy message.
        message: Vec<u8>,
    },
    /// Send these envelopes.
    Fetch {
        /// Envelope hashes.
        hashes: Vec<EnvelopeHash>,
    },
}

/// A sync response.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SyncResponse {
    /// The negentropy reply.
    Reconcile {
        /// The message.
        message: Vec<u8>,
    },
    /// The envelopes asked for that the responder has.
    Envelopes {
        /// Envelope bytes as signed.
        envelopes: Vec<Vec<u8>>,
    },
    /// The request was refused.
    Refused {
        /// Why.
        reason: String,
    },
}

/// Errors of sync.
#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    /// The peer sent something malformed or out of bounds.
    #[error("peer misbehaved: {0}")]
    Abuse(String),
    /// The peer refused.
    #[error("peer refused: {0}")]
    Refused(String),
    /// Negentropy failed on our side.
    #[error("reconciliation: {0}")]
    Negentropy(String),
    /// The store.
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl SyncError {
    /// Whether the peer is at fault.
    pub fn is_abuse(&self) -> bool {
        matches!(self, SyncError::Abuse(_))
    }
}

impl SyncRequest {
    /// Encodes the request.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = vec![SYNC_WIRE_VERSION];
        match self {
            SyncRequest::Reconcile { areas, message } => {
                out.push(TAG_RECONCILE);
                out.push(areas.len().min(255) as u8);
                for a in areas.iter().take(255) {
                    out.push(a.len().min(255) as u8);
                    out.extend_from_slice(&a.as_bytes()[..a.len().min(255)]);
                }
                out.extend_from_slice(message);
            }
            SyncRequest::Fetch { hashes } => {
                out.push(TAG_FETCH);
                for h in hashes {
                    out.extend_from_slice(&h.0);
                }
            }
        }
        out
    }

    /// Decodes and bounds-checks a request.
    pub fn decode(b: &[u8]) -> io::Result<SyncRequest> {
        if b.len() > MAX_REQUEST_BYTES {
            return Err(bad(format!("sync request over {MAX_REQUEST_BYTES} bytes")));
        }
        let (tag, mut rest) = FRAME.header(b)?;
        match tag {
            TAG_RECONCILE => {
                let n = FRAME.take(&mut rest, 1, "the area count")?[0] as usize;
                if n == 0 || n > MAX_SYNC_AREAS {
                    return Err(bad(format!(
                        "areas: {n} areas (1 to {MAX_SYNC_AREAS} allowed)"
                    )));
                }
                let mut areas = Vec::with_capacity(n);
                for _ in 0..n {
                    let len = FRAME.take(&mut rest, 1, "an area length")?[0] as usize;
                    let a = FRAME.take(&mut rest, len, "an area")?;
                    let a = std::str::from_utf8(a)
                        .ok()
                        .filter(|a| is_area_tag(a))
                        .ok_or_else(|| {
                            bad("areas: not an area tag (a 4-character geohash cell, ship or all)")
                        })?;
                    areas.push(a.to_string());
                }
                if rest.len() > MAX_RECONCILE_MESSAGE {
                    return Err(bad(format!(
                        "reconcile message over {MAX_RECONCILE_MESSAGE} bytes"
                    )));
                }
                Ok(SyncRequest::Reconcile {
                    areas,
                    message: rest.to_vec(),
                })
            }
            TAG_FETCH => {
                if rest.len() % 32 != 0 {
                    return Err(bad("fetch: not a whole number of 32-byte hashes"));
                }
                let n = rest.len() / 32;
                if n == 0 || n > MAX_FETCH_HASHES {
                    return Err(bad(format!(
                        "fetch: {n} hashes (1 to {MAX_FETCH_HASHES} allowed)"
                    )));
                }
                let hashes = rest
                    .chunks_exact(32)
                    .map(|c| {
                        let mut h = [0u8; 32];
                        h.copy_from_slice(c);
                        EnvelopeHash(h)
                    })
                    .collect();
                Ok(SyncRequest::Fetch { hashes })
            }
            t => Err(bad(format!("unknown sync request tag {t}"))),
        }
    }
}

impl SyncResponse {
    /// Encodes the response.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = vec![SYNC_WIRE_VERSION];
        match self {
            SyncResponse::Reconcile { message } => {
                out.push(TAG_RECONCILE);
                out.extend_from_slice(message);
            }
            SyncResponse::Envelopes { envelopes } => {
                out.push(TAG_ENVELOPES);
                put_u32(&mut out, envelopes.len());
                for e in envelopes {
                    put_u32(&mut out, e.len());
                    out.extend_from_slice(e);
                }
            }
            SyncResponse::Refused { reason } => {
                out.push(TAG_REFUSED);
                out.extend_from_slice(&reason.as_bytes()[..reason.len().min(1024)]);
            }
        }
        out
    }

    /// Decodes and bounds-checks a response.
    pub fn decode(b: &[u8]) -> io::Result<SyncResponse> {
        if b.len() > MAX_RESPONSE_BYTES {
            return Err(bad(format!(
                "sync response over {MAX_RESPONSE_BYTES} bytes"
            )));
        }
        let (tag, mut rest) = FRAME.header(b)?;
        match tag {
            TAG_RECONCILE => {
                if rest.len() > MAX_RECONCILE_MESSAGE {
                    return Err(bad(format!(
                        "reconcile message over {MAX_RECONCILE_MESSAGE} bytes"
                    )));
                }
                Ok(SyncResponse::Reconcile {
                    message: rest.to_vec(),
                })
            }
            TAG_ENVELOPES => {
                let n = FRAME.get_u32(&mut rest, "the envelope count")?;
                if n > MAX_FETCH_HASHES {
                    return Err(bad(format!(
                        "envelopes: {n} (at most {MAX_FETCH_HASHES} can be asked for)"
                    )));
                }
                let mut envelopes = Vec::with_capacity(n);
                for _ in 0..n {
                    let len = FRAME.get_u32(&mut rest, "an envelope length")?;
                    if len > MAX_ENVELOPE_BYTES {
                        return Err(bad(format!(
                            "envelope of {len} bytes (the protocol's limit is {MAX_ENVELOPE_BYTES})"
                        )));
                    }
                    envelopes.push(FRAME.take(&mut rest, len, "an envelope")?.to_vec());
                }
                if !rest.is_empty() {
                    return Err(bad("envelopes: trailing bytes"));
                }
                Ok(SyncResponse::Envelopes { envelopes })
            }
            TAG_REFUSED => Ok(SyncResponse::Refused {
                reason: String::from_utf8_lossy(&rest[..rest.len().min(1024)]).into_owned(),
            }),
            t => Err(bad(format!("unknown sync response tag {t}"))),
        }
    }
}

/// Bytes that crossed the wire in sync messages (both directions, this node's view).
#[derive(Debug, Default)]
pub struct WireCounters {
    /// Bytes written (requests and responses).
    pub sent: AtomicU64,
    /// Bytes read.
    pub received: AtomicU64,
}

/// The request-response codec of `/swapmeet/sync/1`: one message per stream, read to the end
/// with a cap, counting bytes.
#[derive(Clone, Default)]
pub struct SyncCodec {
    counters: Arc<WireCounters>,
}

impl SyncCodec {
    /// A codec that counts into `counters`.
    pub fn new(counters: Arc<WireCounters>) -> SyncCodec {
        SyncCodec { counters }
    }
}

impl libp2p::request_response::Codec for SyncCodec {
    type Protocol = StreamProtocol;
    type Request = SyncRequest;
    type Response = SyncResponse;

    async fn read_request<T>(&mut self, _: &StreamProtocol, io: &mut T) -> io::Result<SyncRequest>
    where
        T: AsyncRead + Unpin + Send,
    {
        let b = FRAME
            .read(io, MAX_REQUEST_BYTES, Some(&self.counters.received))
            .await?;
        SyncRequest::decode(&b)
    }

    async fn read_response<T>(&mut self, _: &StreamProtocol, io: &mut T) -> io::Result<SyncResponse>
    where
        T: AsyncRead + Unpin + Send,
    {
        let b = FRAME
            .read(io, MAX_RESPONSE_BYTES, Some(&self.counters.received))
            .await?;
        SyncResponse::decode(&b)
    }

    async fn write_request<T>(
        &mut self,
        _: &StreamProtocol,
        io: &mut T,
        req: SyncRequest,
    ) -> io::Result<()>
    where
        T: AsyncWrite + Unpin + Send,
    {
        FRAME
            .write(io, &req.encode(), Some(&self.counters.sent))
            .await
    }

    async fn write_response<T>(
        &mut self,
        _: &StreamProtocol,
        io: &mut T,
        res: SyncResponse,
    ) -> io::Result<()>
    where
        T: AsyncWrite + Unpin + Send,
    {
        FRAME
            .write(io, &res.encode(), Some(&self.counters.sent))
            .await
    }
}

/// The set of a list of areas, sealed for negentropy. Blocking (scans the store).
pub fn area_set(engine: &Engine, areas: &[String]) -> Result<NegentropyStorageVector, SyncError> {
    let store = engine.store();
    let items = if areas.iter().any(|a| a == GOSSIP_ALL_AREA) {
        store.all_area_items()?
    } else {
        let mut all = Vec::new();
        for a in areas {
            all.extend(store.area_items(a)?);
        }
        all
    };
    let reviews = engine.reviews().sync_items();
    let mut set = NegentropyStorageVector::with_capacity(items.len() + reviews.len());
    for (signed_at, hash) in items.into_iter().chain(reviews) {
        set.insert(signed_at, Id::from_byte_array(hash.0))
            .map_err(|e| SyncError::Negentropy(e.to_string()))?;
    }
    // Sorts and removes duplicates (a listing that ships is in its cell and in `ship`).
    set.seal()
        .map_err(|e| SyncError::Negentropy(e.to_string()))?;
    Ok(set)
}

struct CachedSet {
    areas: Vec<String>,
    built: Instant,
    /// The store's and the reviews' write generations the set was built at. Not the last
    /// change-log position: the index commit trims the log back to empty, so a set built on
    /// the empty store would look current again after any number of writes.
    generation: (u64, u64),
    set: Arc<NegentropyStorageVector>,
}

/// The responder side. Cheap to clone; `handle` is blocking.
#[derive(Clone)]
pub struct SyncServer {
    engine: Engine,
    // The set of the last areas asked for: a session's rounds all ask for the same areas, and
    // rebuilding a 100,000-item set per round would cost more than the reconciliation.
    cache: Arc<Mutex<Option<CachedSet>>>,
}

impl SyncServer {
    /// A responder over `engine`'s store.
    pub fn new(engine: Engine) -> SyncServer {
        SyncServer {
            engine,
            cache: Arc::default(),
        }
    }

    fn set_for(&self, areas: &[String]) -> Result<Arc<NegentropyStorageVector>, SyncError> {
        // Read before the set is built: a write during the build then makes the next request
        // build again rather than serve a set that may have missed it.
        let generation = (
            self.engine.store().generation(),
            self.engine.reviews().generation(),
        );
        if let Ok(cache) = self.cache.lock() {
            if let Some(c) = cache.as_ref() {
                if c.areas == areas
                    && c.generation == generation
                    && c.built.elapsed() < SET_CACHE_TTL
                {
                    return Ok(c.set.clone());
                }
            }
        }
        let set = Arc::new(area_set(&self.engine, areas)?);
        if let Ok(mut cache) = self.cache.lock() {
            *cache = Some(CachedSet {
                areas: areas.to_vec(),
                built: Instant::now(),
                generation,
                set: set.clone(),
            });
        }
        Ok(set)
    }

    /// Answers a request. Blocking. An error that [`SyncError::is_abuse`] is the peer's fault.
    pub fn handle(&self, req: SyncRequest) -> Result<SyncResponse, SyncError> {
        match req {
            SyncRequest::Reconcile { areas, message } => {
                let set = self.set_for(&areas)?;
                let mut neg = Negentropy::borrowed(&*set, MAX_RECONCILE_MESSAGE as u64)
                    .map_err(|e| SyncError::Negentropy(e.to_string()))?;
                let reply = neg
                    .reconcile(&message)
                    .map_err(|e| SyncError::Abuse(format!("bad reconcile message: {e}")))?;
                Ok(SyncResponse::Reconcile { message: reply })
            }
            SyncRequest::Fetch { hashes } => {
                let mut envelopes = Vec::with_capacity(hashes.len());
                for h in &hashes {
                    if let Some(rec) = self.engine.store().get_by_hash(h)? {
                        envelopes.push(rec.envelope.to_vec());
                    } else if let Some(review) = self.engine.reviews().get_by_hash(h)? {
                        envelopes.push(review);
                    }
                }
                Ok(SyncResponse::Envelopes { envelopes })
            }
        }
    }
}

/// Progress of a session, as the status shows it.
#[derive(Clone, Debug, Default, Serialize)]
pub struct SyncProgress {
    /// Areas reconciled.
    pub areas: usize,
    /// Items in this node's set when the session started.
    pub local_items: usize,
    /// Reconcile round trips so far.
    pub rounds: u32,
    /// Whether reconciliation has finished (fetching may go on).
    pub reconciled: bool,
    /// Records the peer has that this node lacks.
    pub missing: usize,
    /// Records received so far.
    pub fetched: usize,
    /// Of those, newly stored.
    pub stored: usize,
    /// Of those, rejected by ingest.
    pub rejected: usize,
    /// Fetch requests sent.
    pub fetches: u32,
    /// Bytes this session wrote (its requests, as encoded on the wire).
    pub bytes_sent: u64,
    /// Bytes this session read (the answers, as encoded on the wire).
    pub bytes_received: u64,
}

/// The initiator side of one session with one peer. Not blocking except [`SyncClient::start`].
pub struct SyncClient {
    neg: Negentropy<'static, NegentropyStorageVector>,
    areas: Vec<String>,
    need: VecDeque<EnvelopeHash>,
    asked: HashSet<EnvelopeHash>,
    fetches_in_flight: usize,
    reconcile_in_flight: bool,
    progress: SyncProgress,
}

impl SyncClient {
    /// Opens a session over `areas` and returns the first request. Blocking (builds the set).
    pub fn start(
        engine: &Engine,
        areas: Vec<String>,
    ) -> Result<(SyncClient, SyncRequest), SyncError> {
        let set = area_set(engine, &areas)?;
        let local_items = negentropy::NegentropyStorageBase::size(&set).unwrap_or(0);
        let mut neg = Negentropy::owned(set, MAX_RECONCILE_MESSAGE as u64)
            .map_err(|e| SyncError::Negentropy(e.to_string()))?;
        let message = neg
            .initiate()
            .map_err(|e| SyncError::Negentropy(e.to_string()))?;
        let first = SyncRequest::Reconcile {
            areas: areas.clone(),
            message,
        };
        let client = SyncClient {
            progress: SyncProgress {
                areas: areas.len(),
                local_items,
                bytes_sent: first.encode().len() as u64,
                ..SyncProgress::default()
            },
            neg,
            areas,
            need: VecDeque::new(),
            asked: HashSet::new(),
            fetches_in_flight: 0,
            reconcile_in_flight: true,
        };
        Ok((client, first))
    }

    /// Takes the responder's reconcile reply; returns the next reconcile request, if any.
    pub fn on_reconcile(&mut self, message: &[u8]) -> Result<Option<SyncRequest>, SyncError> {
        self.reconcile_in_flight = false;
        self.progress.rounds += 1;
        self.progress.bytes_received += 2 + message.len() as u64;
        if self.progress.rounds > MAX_ROUNDS {
            return Err(SyncError::Abuse(format!(
                "reconciliation did not end after {MAX_ROUNDS} rounds"
            )));
        }
        let mut have = Vec::new();
        let mut need = Vec::new();
        let next = self
            .neg
            .reconcile_with_ids(message, &mut have, &mut need)
            .map_err(|e| SyncError::Abuse(format!("bad reconcile reply: {e}")))?;
        for id in need {
            let h = EnvelopeHash(*id);
            if self.asked.insert(h) {
                self.need.push_back(h);
                self.progress.missing += 1;
            }
        }
        match next {
            Some(message) => {
                self.reconcile_in_flight = true;
                let req = SyncRequest::Reconcile {
                    areas: self.areas.clone(),
                    message,
                };
                self.progress.bytes_sent += req.encode().len() as u64;
                Ok(Some(req))
            }
            None => {
                self.progress.reconciled = true;
                Ok(None)
            }
        }
    }

    /// The next fetch request, if there is something to fetch and room in the pipeline.
    pub fn next_fetch(&mut self) -> Option<SyncRequest> {
        if self.need.is_empty() || self.fetches_in_flight >= FETCH_PIPELINE {
            return None;
        }
        let n = self.need.len().min(MAX_FETCH_HASHES);
        let hashes: Vec<EnvelopeHash> = self.need.drain(..n).collect();
        self.fetches_in_flight += 1;
        self.progress.fetches += 1;
        // Version, tag, 32 bytes per hash.
        self.progress.bytes_sent += 2 + 32 * hashes.len() as u64;
        Some(SyncRequest::Fetch { hashes })
    }

    /// Takes a fetch reply: checks that every envelope was asked for and returns them for
    /// ingest.
    pub fn on_envelopes(&mut self, envelopes: Vec<Vec<u8>>) -> Result<Vec<Vec<u8>>, SyncError> {
        self.fetches_in_flight = self.fetches_in_flight.saturating_sub(1);
        // Version, tag, count, then a length before each envelope.
        self.progress.bytes_received +=
            6 + envelopes.iter().map(|e| 4 + e.len() as u64).sum::<u64>();
        for e in &envelopes {
            let h = crate::network::dht::value_hash(e);
            if !self.asked.contains(&h) {
                return Err(SyncError::Abuse(
                    "sent an envelope that was not asked for".into(),
                ));
            }
        }
        self.progress.fetched += envelopes.len();
        Ok(envelopes)
    }

    /// A fetch failed (the hashes are not retried in this session; the next one will).
    pub fn on_fetch_failed(&mut self) {
        self.fetches_in_flight = self.fetches_in_flight.saturating_sub(1);
    }

    /// Counts what ingest made of fetched records.
    pub fn on_ingested(&mut self, stored: usize, rejected: usize) {
        self.progress.stored += stored;
        self.progress.rejected += rejected;
    }

    /// Whether nothing is left to do (the caller also waits for its ingest of the last batch).
    pub fn is_done(&self) -> bool {
        !self.reconcile_in_flight
            && self.progress.reconciled
            && self.need.is_empty()
            && self.fetches_in_flight == 0
    }

    /// Progress so far.
    pub fn progress(&self) -> &SyncProgress {
        &self.progress
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::EngineConfig;
    use crate::events::Source;
    use crate::synth::Synth;

    fn engine(dir: &std::path::Path) -> Engine {
        Engine::open(dir, EngineConfig::default()).unwrap().0
    }

    /// Runs a whole session between two engines without a network.
    fn run_session(client_engine: &Engine, server: &SyncServer) -> SyncProgress {
        let (mut client, first) = SyncClient::start(client_engine, vec!["all".into()]).unwrap();
        let mut queue = vec![first];
        while let Some(req) = queue.pop() {
            match server
                .handle(SyncRequest::decode(&req.encode()).unwrap())
                .unwrap()
            {
                SyncResponse::Reconcile { message } => {
                    queue.extend(client.on_reconcile(&message).unwrap());
                }
                SyncResponse::Envelopes { envelopes } => {
                    let got = client.on_envelopes(envelopes).unwrap();
                    let items: Vec<&[u8]> = got.iter().map(Vec::as_slice).collect();
                    let out = client_engine
                        .ingest_bytes(&items, Source::Peer("test".into()))
                        .unwrap();
                    let stored = out
                        .iter()
                        .filter(|o| matches!(o, crate::IngestOutcome::Stored { .. }))
                        .count();
                    client.on_ingested(stored, 0);
                }
                SyncResponse::Refused { reason } => panic!("refused: {reason}"),
            }
            while let Some(f) = client.next_fetch() {
                queue.push(f);
            }
        }
        assert!(client.is_done());
        client.progress().clone()
    }

    #[test]
    fn a_session_finds_exactly_the_differences() {
        let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        let (holder, lacking) = (engine(a.path()), engine(b.path()));
        let mut synth = Synth::new(5, 40, holder.now());
        let all: Vec<_> = (0..3000).map(|_| synth.signed()).collect();
        holder.ingest(all.clone(), Source::Import).unwrap();
        // The lacking side misses ten, and has two the holder does not.
        lacking.ingest(all[10..].to_vec(), Source::Import).unwrap();
        let extra: Vec<_> = (0..2).map(|_| synth.signed()).collect();
        lacking.ingest(extra, Source::Import).unwrap();

        let p = run_session(&lacking, &SyncServer::new(holder.clone()));
        assert_eq!(p.missing, 10);
        assert_eq!(p.stored, 10);
        assert_eq!(p.fetches, 1);
        assert!(p.rounds <= 3, "{p:?}");
        assert_eq!(lacking.stats().records, 3002);
        // Pull-only: the holder learned nothing.
        assert_eq!(holder.stats().records, 3000);
        // A second session finds nothing more.
        let again = run_session(&lacking, &SyncServer::new(holder.clone()));
        assert_eq!(again.missing, 0);
    }

    /// Issue 10: a node that joined late was told by every peer that it had everything, while
    /// it had nothing. The responder's set, built on its empty store at start-up, was keyed by
    /// the last change-log position, which the index commit's trim returns to "none": after
    /// hundreds of writes the empty set looked current again for its 5 s lifetime.
    #[test]
    fn a_set_cached_on_the_empty_store_is_not_served_after_writes() {
        let dirs: Vec<_> = (0..3).map(|_| tempfile::tempdir().unwrap()).collect();
        let holder = engine(dirs[0].path());
        let server = SyncServer::new(holder.clone());
        // An early peer syncs with the responder while its store is empty: the empty set is
        // cached.
        let early = engine(dirs[1].path());
        assert_eq!(run_session(&early, &server).missing, 0);
        // 201 listings arrive, and the index commit trims the change log (it does so every
        // 50-500 ms on a running node).
        let mut synth = Synth::new(5, 40, holder.now());
        let all: Vec<_> = (0..201).map(|_| synth.signed()).collect();
        holder.ingest(all, Source::Import).unwrap();
        holder.commit().unwrap();
        assert_eq!(
            holder.store().last_change().unwrap(),
            None,
            "the trim emptied the change log, as on the running node"
        );
        // A late joiner, well within the cache's lifetime, gets all 201.
        let late = engine(dirs[2].path());
        let p = run_session(&late, &server);
        assert_eq!(p.missing, 201, "{p:?}");
        assert_eq!(late.stats().records, 201);
    }

    #[test]
    fn the_responder_calls_garbage_abuse_and_answers_unknown_hashes_with_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let server = SyncServer::new(engine(dir.path()));
        let err = server
            .handle(SyncRequest::Reconcile {
                areas: vec!["u33d".into()],
                // A fingerprint range cut short: bound, mode 1, no fingerprint.
                message: vec![0x61, 0x00, 0x00, 0x01],
            })
            .unwrap_err();
        assert!(err.is_abuse(), "{err}");
        let r = server
            .handle(SyncRequest::Fetch {
                hashes: vec![EnvelopeHash([3; 32])],
            })
            .unwrap();
        assert_eq!(r, SyncResponse::Envelopes { envelopes: vec![] });
    }

    #[test]
    fn a_reply_with_records_not_asked_for_is_abuse() {
        let dir = tempfile::tempdir().unwrap();
        let e = engine(dir.path());
        let (mut client, _) = SyncClient::start(&e, vec!["u33d".into()]).unwrap();
        let err = client.on_envelopes(vec![b"unasked".to_vec()]).unwrap_err();
        assert!(err.is_abuse());
    }

    #[test]
    fn requests_and_responses_round_trip() {
        let r = SyncRequest::Reconcile {
            areas: vec!["u33d".into(), "ship".into()],
            message: vec![0x61, 1, 2, 3],
        };
        assert_eq!(SyncRequest::decode(&r.encode()).unwrap(), r);
        let f = SyncRequest::Fetch {
            hashes: vec![EnvelopeHash([7; 32]), EnvelopeHash([8; 32])],
        };
        assert_eq!(SyncRequest::decode(&f.encode()).unwrap(), f);
        let e = SyncResponse::Envelopes {
            envelopes: vec![vec![1, 2], vec![]],
        };
        assert_eq!(SyncResponse::decode(&e.encode()).unwrap(), e);
        let x = SyncResponse::Refused {
            reason: "no".into(),
        };
        assert_eq!(SyncResponse::decode(&x.encode()).unwrap(), x);
    }

    #[test]
    fn garbage_is_refused_with_the_rule_it_broke() {
        let err = |b: &[u8]| SyncRequest::decode(b).unwrap_err().to_string();
        assert!(err(&[]).contains("empty"));
        assert!(err(&[2, 1]).contains("version 2"));
        assert!(err(&[1, 9]).contains("tag 9"));
        assert!(err(&[1, TAG_RECONCILE, 0]).contains("0 areas"));
        assert!(err(&[1, TAG_RECONCILE, 1, 4, b'a', b'a', b'a', b'a']).contains("area tag"));
        assert!(err(&[1, TAG_RECONCILE, 2, 4, b'u', b'3', b'3']).contains("ends inside"));
        assert!(err(&[1, TAG_FETCH, 1, 2, 3]).contains("32-byte"));
        let mut huge = vec![1, TAG_FETCH];
        huge.extend(std::iter::repeat_n(0u8, 32 * (MAX_FETCH_HASHES + 1)));
        assert!(err(&huge).contains("hashes"));
        let mut lying = vec![1, TAG_ENVELOPES];
        lying.extend_from_slice(&(u32::MAX).to_be_bytes());
        assert!(SyncResponse::decode(&lying).is_err());
        let mut big_env = vec![1, TAG_ENVELOPES, 0, 0, 0, 1];
        big_env.extend_from_slice(&(u32::MAX).to_be_bytes());
        assert!(SyncResponse::decode(&big_env)
            .unwrap_err()
            .to_string()
            .contains("protocol's limit"));
    }
}
