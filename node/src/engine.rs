//! The engine: the store, the search index derived from it, the ingest path between them, the
//! event broadcast, and the background work that keeps them in step (committing the index,
//! trimming the change log, sweeping expired listings).
//!
//! `Engine` is a cheap cloneable handle. Its methods block (sled and tantivy are synchronous);
//! async callers use `spawn_blocking`.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc, Mutex, MutexGuard, RwLock};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde::Serialize;
use swapmeet_protocol::{EnvelopeHash, ListingId, PublicKey, Record, SignedEnvelope, Verified};
use tokio::sync::broadcast;

use crate::allowance::{Allowance, Place};
use crate::budget::MemoryBudget;
use crate::events::{Change, Event, Source};
use crate::market::reputation::Reputation;
use crate::market::reviews::{Reviews, TREE_REVIEWS};
use crate::moderation::{Moderation, TREE_MODERATION};
use crate::search::{Correction, IndexChange, OpenedHow, SearchError, SearchIndex, SearchQuery};
use crate::store::{
    LoadState, RecordKind, Store, StoreConfig, StoreError, StoredRecord, Summary, AREA_PRECISION,
    SHIPPING_AREA,
};

/// A clock in unix seconds; replaceable so tests can move time.
pub type Clock = Arc<dyn Fn() -> u64 + Send + Sync>;

/// The system clock.
pub fn system_clock() -> Clock {
    Arc::new(|| {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0)
    })
}

/// Errors of the engine.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The index failed.
    #[error(transparent)]
    Search(#[from] SearchError),
    /// The engine was opened without a search index ([`EngineConfig::search_index`]).
    #[error("this engine runs without a search index (a simulated node); it cannot search")]
    NoSearchIndex,
    /// The store holds fewer of the user's listings than the search index: it lost writes.
    #[error(
        "the store {store} holds {stored} of your listings but the search index {index} has \
         {indexed}: the store was truncated or damaged and lost writes it had acknowledged. \
         Stop here and restore {store} from a backup if you have one; to go on with what is \
         left, delete {index} (the node rebuilds it from the store, and lost listings come back \
         from peers that hold them by sync)"
    )]
    StoreLostRecords {
        /// The store's folder.
        store: PathBuf,
        /// The index's folder.
        index: PathBuf,
        /// The user's records (listings and withdrawals) in the store.
        stored: usize,
        /// The user's active listings in the index.
        indexed: usize,
    },
    /// A background thread could not be started.
    #[error("engine: starting the {what} thread")]
    Thread {
        /// Which thread.
        what: &'static str,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
}

/// Settings of the engine.
#[derive(Clone)]
pub struct EngineConfig {
    /// Store settings.
    pub store: StoreConfig,
    /// Memory the search index writer may fill before flushing a segment (see
    /// [`crate::budget`]).
    pub index_writer_bytes: usize,
    /// Least time between two index commits. A change after a quiet spell is committed at
    /// the next check ([`COMMIT_CHECK`], 50 ms); under a steady stream the index commits at
    /// most this often, because every commit costs a new segment, file syncs and a reader
    /// reload. Bounds the time until a stored listing is searchable (the figure promised is
    /// one second).
    pub commit_interval: Duration,
    /// How often expired listings are swept.
    pub sweep_interval: Duration,
    /// Capacity of the event broadcast.
    pub event_capacity: usize,
    /// The clock.
    pub clock: Clock,
    /// The node's user. While the store's lookups are built, the engine also counts this
    /// key's records and refuses a store that holds fewer of them than the search index has
    /// ([`EngineError::StoreLostRecords`]): the store recovers the valid prefix of a truncated
    /// journal without a word, and the index, in other files, is the second copy that shows
    /// the loss.
    pub owner: Option<PublicKey>,
    /// Whether the engine keeps a search index. Every real node does; a simulation of a
    /// thousand nodes in one process (`node/benches/scale.rs`) runs them without one, because
    /// each index writer holds a few MB of term table and six threads whatever it indexes,
    /// and a relaying node's network behaviour does not depend on search. Without an index
    /// the change log is trimmed at each commit turn, as if everything had been indexed.
    pub search_index: bool,
}

impl std::fmt::Debug for EngineConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EngineConfig")
            .field("store", &self.store)
            .field("commit_interval", &self.commit_interval)
            .field("sweep_interval", &self.sweep_interval)
            .field("event_capacity", &self.event_capacity)
            .field("search_index", &self.search_index)
            .finish_non_exhaustive()
    }
}

impl Default for EngineConfig {
    fn default() -> Self {
        EngineConfig {
            store: StoreConfig::default(),
            index_writer_bytes: MemoryBudget::default().index_writer_bytes(),
            commit_interval: Duration::from_millis(500),
            sweep_interval: Duration::from_secs(60),
            event_capacity: 4096,
            clock: system_clock(),
            owner: None,
            search_index: true,
        }
    }
}

/// How often the background thread looks for uncommitted changes.
pub const COMMIT_CHECK: Duration = Duration::from_millis(50);

/// Which areas the node keeps listings of (set by the network layer from the home location).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AreaFilter {
    /// Area tags (geohash cells of [`AREA_PRECISION`]) followed.
    pub areas: HashSet<String>,
    /// Whether listings that ship are kept regardless of area.
    pub shipping: bool,
}

impl AreaFilter {
    /// Whether a record with these areas is wanted.
    pub fn wants(&self, areas: &[String]) -> bool {
        areas.iter().any(|a| {
            (a == SHIPPING_AREA && self.shipping)
                || self.areas.contains(a.get(..AREA_PRECISION).unwrap_or(a))
        })
    }
}

struct Inner {
    store: Store,
    /// The places sellers' active listings take in their allowance (see [`crate::allowance`]).
    allowance: Allowance,
    /// The user's blocked sellers and hidden listings.
    moderation: Moderation,
    /// `None` only for simulated nodes ([`EngineConfig::search_index`]).
    index: Option<SearchIndex>,
    /// Reviews and the reputation they add up to (kind 5 enters through the same ingest).
    reviews: Reviews,
    events: broadcast::Sender<Event>,
    write_lock: Mutex<()>,
    area_filter: RwLock<Option<AreaFilter>>,
    clock: Clock,
    dir: PathBuf,
    background: Mutex<Option<(mpsc::Sender<()>, JoinHandle<()>)>>,
    /// The thread building the store's lookups and the allowance book, and its stop flag.
    loader: Mutex<Option<(Arc<AtomicBool>, JoinHandle<()>)>>,
}

/// The engine handle.
#[derive(Clone)]
pub struct Engine {
    inner: Arc<Inner>,
}

/// A search hit with what a person needs to see.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct SearchHit {
    /// Listing id.
    pub id: ListingId,
    /// Facts from the store.
    #[serde(flatten)]
    pub summary: Summary,
    /// Version.
    pub seq: u64,
    /// Signed at (unix seconds).
    pub signed_at: u64,
    /// Expires at (unix seconds).
    pub expires_at: u64,
    /// Distance in km from the search point.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub distance_km: Option<f64>,
    /// Relevance score.
    pub score: f32,
    /// The seller's deals and rating, from deal-bound reviews.
    pub seller_reputation: Reputation,
}

/// Results of a search.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct SearchResults {
    /// Hits in order.
    pub hits: Vec<SearchHit>,
    /// Matches in all.
    pub total: usize,
    /// Whether `total` counts every match; otherwise at least that many matched (a search
    /// stops counting past 1,000 to skip what cannot make its top hits).
    pub total_exact: bool,
    /// The query as searched when some of its words matched (next to) nothing and close
    /// spellings were searched instead ("hoddie" -> "hoodie"); `None` when searched as typed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub corrected: Option<String>,
    /// Each replaced word and what it was replaced with.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub corrections: Vec<ShownCorrection>,
}

/// A query word that was searched as its close spellings, as a person reads it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ShownCorrection {
    /// The word as typed.
    pub typed: String,
    /// The word searched instead, as the best hits spell it.
    pub shown: String,
}

/// Sizes for status reports.
#[derive(Clone, Copy, Debug, Serialize)]
pub struct EngineStats {
    /// Records in the store (listings and withdrawals).
    pub records: usize,
    /// Listings searchable.
    pub indexed: u64,
    /// Store bytes on disk.
    pub store_bytes: u64,
    /// Index bytes on disk.
    pub index_bytes: u64,
}

impl Engine {
    /// Opens the engine in `dir` (`dir/store`, `dir/index`), replaying or rebuilding the index,
    /// and starts its background threads. It returns before the store's in-memory lookups and
    /// the allowance book are built (one pass over every record, on a thread of its own):
    /// searches are answered at once, and whatever needs the lookups (ingest, sync sets, a
    /// seller's records) waits for them (see [`Engine::wait_loaded`], `store/lookups.rs`).
    pub fn open(dir: &Path, config: EngineConfig) -> Result<(Engine, OpenedHow), EngineError> {
        let store = Store::open_deferred(&dir.join("store"), &config.store)?;
        let now = (config.clock)();
        let (index, how) = if config.search_index {
            let (index, how) =
                SearchIndex::open(&dir.join("index"), &store, now, config.index_writer_bytes)?;
            if let Some(p) = index.commit()? {
                store.trim_changes(p)?;
            }
            (Some(index), how)
        } else {
            (None, OpenedHow::Without)
        };
        let (events, _) = broadcast::channel(config.event_capacity.max(16));
        let reviews = Reviews::open(store.tree(TREE_REVIEWS)?, config.event_capacity)?;
        let allowance = Allowance::default();
        let moderation = Moderation::open(store.tree(TREE_MODERATION)?)?;
        let engine = Engine {
            inner: Arc::new(Inner {
                allowance,
                moderation,
                reviews,
                store,
                index,
                events,
                write_lock: Mutex::new(()),
                area_filter: RwLock::new(None),
                clock: config.clock.clone(),
                dir: dir.to_path_buf(),
                background: Mutex::new(None),
                loader: Mutex::new(None),
            }),
        };
        engine.start_loading(config.owner)?;
        engine.start_background(config.commit_interval, config.sweep_interval)?;
        Ok((engine, how))
    }

    /// Builds the store's lookups and the allowance book in one pass over the records, then
    /// applies the trusted block lists (which needs them), on a thread of its own.
    fn start_loading(&self, owner: Option<PublicKey>) -> Result<(), EngineError> {
        let stop = Arc::new(AtomicBool::new(false));
        let (engine, flag) = (self.clone(), stop.clone());
        let handle = std::thread::Builder::new()
            .name("swapmeet-load".into())
            .spawn(move || {
                let started = Instant::now();
                match engine.load(&flag, owner) {
                    Ok(()) => {
                        tracing::info!(
                            records = engine.inner.store.stats().records,
                            secs = started.elapsed().as_secs_f64(),
                            "store lookups built"
                        );
                        if let Err(e) = engine.load_trusted_lists() {
                            tracing::warn!(error = %e, "applying trusted block lists failed");
                        }
                    }
                    Err(e) => tracing::error!(error = %e, "building the store's lookups failed"),
                }
            })
            .map_err(|source| EngineError::Thread {
                what: "load",
                source,
            })?;
        if let Ok(mut l) = self.inner.loader.lock() {
            *l = Some((stop, handle));
        }
        Ok(())
    }

    fn load(&self, stop: &AtomicBool, owner: Option<PublicKey>) -> Result<(), StoreError> {
        let inner = &self.inner;
        // Counted by the pass, read by the check after it.
        let own = std::cell::Cell::new(0usize);
        inner.store.load(
            stop,
            |id, kind, seller, bytes| {
                if owner.is_some_and(|o| o.as_bytes() == seller) {
                    own.set(own.get() + 1);
                }
                if matches!(kind, RecordKind::Listing | RecordKind::Wanted) {
                    load_place(&inner.allowance, id, bytes)?;
                }
                Ok(())
            },
            || {
                let Some(me) = owner else { return Ok(()) };
                if inner.index.is_none() {
                    return Ok(());
                }
                let indexed = self
                    .search(&SearchQuery {
                        seller: Some(me),
                        exact_total: true,
                        limit: Some(1),
                        ..Default::default()
                    })
                    .map_err(|e| e.to_string())?
                    .total;
                if indexed > own.get() {
                    let e = EngineError::StoreLostRecords {
                        store: inner.dir.join("store"),
                        index: inner.dir.join("index"),
                        stored: own.get(),
                        indexed,
                    };
                    return Err(e.to_string());
                }
                Ok(())
            },
        )?;
        inner.allowance.shrink_to_fit();
        Ok(())
    }

    /// Waits until the store's lookups and the allowance book are built; an error when they
    /// could not be (the store lost the user's records, a record could not be read, or the
    /// engine was shut down meanwhile): the engine then takes no writes. Blocking.
    pub fn wait_loaded(&self) -> Result<(), EngineError> {
        Ok(self.inner.store.wait_loaded()?)
    }

    /// Where building the store's lookups stands (without waiting).
    pub fn load_state(&self) -> LoadState {
        self.inner.store.load_state()
    }

    fn start_background(&self, commit: Duration, sweep: Duration) -> Result<(), EngineError> {
        let (stop_tx, stop_rx) = mpsc::channel::<()>();
        // A weak handle: the thread must not keep the engine alive after its last user is gone.
        let weak = Arc::downgrade(&self.inner);
        let handle = std::thread::Builder::new()
            .name("swapmeet-index".into())
            .spawn(move || {
                let mut last_sweep = Instant::now();
                let mut last_commit: Option<Instant> = None;
                let check = COMMIT_CHECK.min(commit);
                // Anything but a timeout (a stop message, or the engine dropped) ends the loop.
                while let Err(mpsc::RecvTimeoutError::Timeout) = stop_rx.recv_timeout(check) {
                    let Some(inner) = weak.upgrade() else { break };
                    let engine = Engine { inner };
                    if last_sweep.elapsed() >= sweep {
                        last_sweep = Instant::now();
                        if let Err(e) = engine.sweep() {
                            tracing::warn!(error = %e, "sweeping expired listings failed");
                        }
                    }
                    let due = last_commit.is_none_or(|t| t.elapsed() >= commit);
                    // Without an index there is nothing to check: trimming an empty change log
                    // is cheap.
                    let dirty = engine
                        .inner
                        .index
                        .as_ref()
                        .is_none_or(SearchIndex::is_dirty);
                    if due && dirty {
                        last_commit = Some(Instant::now());
                        if let Err(e) = engine.commit() {
                            tracing::warn!(error = %e, "committing the search index failed");
                        }
                    }
                }
            })
            .map_err(|source| EngineError::Thread {
                what: "index",
                source,
            })?;
        if let Ok(mut bg) = self.inner.background.lock() {
            *bg = Some((stop_tx, handle));
        }
        Ok(())
    }

    /// Stops the background thread, commits the index and flushes the store. Idempotent.
    pub fn shutdown(&self) -> Result<(), EngineError> {
        let loader = self.inner.loader.lock().ok().and_then(|mut l| l.take());
        if let Some((stop, handle)) = loader {
            stop.store(true, Ordering::Relaxed);
            let _ = handle.join();
        }
        let bg = self.inner.background.lock().ok().and_then(|mut b| b.take());
        if let Some((stop, handle)) = bg {
            let _ = stop.send(());
            let _ = handle.join();
        }
        self.commit()?;
        self.inner.store.flush()?;
        Ok(())
    }

    /// Commits the index now (making everything ingested so far searchable) and trims the
    /// change log up to what the commit covers.
    pub fn commit(&self) -> Result<(), EngineError> {
        let through = match &self.inner.index {
            Some(index) => index.commit()?,
            // No index to replay the change log into: all of it is done with.
            None => self.inner.store.last_change()?,
        };
        if let Some(p) = through {
            self.inner.store.trim_changes(p)?;
        }
        Ok(())
    }

    /// Makes every write so far searchable before it returns: what the local user just wrote
    /// (or withdrew) must be in (or gone from) their next search, not 50-500 ms later when
    /// the committer's turn comes. Called once per API write request, never per peer
    /// record, so bulk ingest from peers keeps its batched commits.
    ///
    /// The commit runs under the index writer's lock, so concurrent callers coalesce: the
    /// first commits everything added so far, and those that were waiting for the lock find
    /// their change committed and return without a commit of their own (see
    /// `SearchIndex::commit`). Peers' records arriving meanwhile queue as during any commit.
    ///
    /// Waits at most `bound` (the commit runs at background priority and a loaded machine can
    /// starve it): returns `Ok(false)` when the bound passed first; the commit then still
    /// completes, and the change is searchable as soon as it does.
    pub fn make_searchable(&self, bound: Duration) -> Result<bool, EngineError> {
        let (tx, rx) = mpsc::channel();
        let engine = self.clone();
        std::thread::Builder::new()
            .name("swapmeet-searchable".into())
            .spawn(move || {
                let _ = tx.send(engine.commit());
            })
            .map_err(|source| EngineError::Thread {
                what: "commit",
                source,
            })?;
        match rx.recv_timeout(bound) {
            Ok(result) => result.map(|()| true),
            Err(_) => Ok(false),
        }
    }

    /// Makes every write so far durable. Call before acknowledging what the local user authored.
    pub fn durable(&self) -> Result<(), EngineError> {
        self.inner.store.flush()?;
        Ok(())
    }

    /// Current time by the engine's clock.
    pub fn now(&self) -> u64 {
        (self.inner.clock)()
    }

    /// The store.
    pub fn store(&self) -> &Store {
        &self.inner.store
    }

    /// The places sellers' active listings take in their allowance, once built (waits for
    /// the store's lookups: the book is built in the same pass). Should building them fail,
    /// this is the partial book, but nothing is then stored: every write waits for the same
    /// lookups and gets the error.
    pub fn allowance(&self) -> &Allowance {
        let _ = self.inner.store.wait_loaded();
        &self.inner.allowance
    }

    /// The user's blocked sellers and hidden listings.
    pub fn moderation(&self) -> &Moderation {
        &self.inner.moderation
    }

    /// Blocks a seller: durable before it returns, then every record of theirs is deleted from
    /// the store and the index, and ingest refuses what of theirs arrives later. Returns how
    /// many records were deleted. Blocking.
    pub fn block_seller(&self, seller: &PublicKey) -> Result<usize, EngineError> {
        self.inner.moderation.block(seller, self.now())?;
        self.inner.store.flush()?;
        self.remove_seller_records(seller)
    }

    /// Deletes every record of a seller now blocked (by the user or a trusted list) from the
    /// store and the index, and makes it durable. Returns how many were deleted. Blocking.
    pub(crate) fn remove_seller_records(&self, seller: &PublicKey) -> Result<usize, EngineError> {
        let guard = self.write_lock();
        let ids = self.inner.store.ids_of_seller(seller)?;
        let removed = self.inner.store.remove(&ids)?;
        for a in &removed {
            self.inner
                .allowance
                .release(seller.as_bytes(), &a.record.id);
        }
        self.unindex(&removed)?;
        drop(guard);
        // Gone from the next search, like the user's own writes.
        self.commit()?;
        self.inner.store.flush()?;
        // Announced as the sweep announces expiry: event streams and alerts drop what they
        // held of these records (the network relays nothing of them).
        for a in &removed {
            let _ = self.inner.events.send(Event {
                change: Change::Blocked,
                id: a.record.id,
                seq: a.record.seq,
                hash: a.record.hash,
                source: Source::Store,
                areas: a.record.areas(),
                envelope: Arc::from(a.record.envelope.as_slice()),
                parts: None,
                previous: None,
            });
        }
        Ok(removed.len())
    }

    /// Unblocks a seller (their listings come back as peers offer them again: sync, gossip).
    /// Returns whether the seller was blocked. Blocking.
    pub fn unblock_seller(&self, seller: &PublicKey) -> Result<bool, EngineError> {
        let was = self.inner.moderation.unblock(seller)?;
        self.inner.store.flush()?;
        Ok(was)
    }

    /// Hides a listing from the user's searches. Returns whether it was newly hidden. Blocking.
    pub fn hide_listing(&self, id: &ListingId) -> Result<bool, EngineError> {
        let new = self.inner.moderation.hide(id, self.now())?;
        self.inner.store.flush()?;
        Ok(new)
    }

    /// Shows a hidden listing again. Returns whether it was hidden. Blocking.
    pub fn unhide_listing(&self, id: &ListingId) -> Result<bool, EngineError> {
        let was = self.inner.moderation.unhide(id)?;
        self.inner.store.flush()?;
        Ok(was)
    }

    /// Reviews and reputation.
    pub fn reviews(&self) -> &Reviews {
        &self.inner.reviews
    }

    /// A key's deals and rating, from deal-bound reviews.
    pub fn reputation(&self, key: &PublicKey) -> Reputation {
        self.inner.reviews.reputation(key)
    }

    /// The search index, `None` for a simulated node without one.
    pub(crate) fn index(&self) -> Option<&SearchIndex> {
        self.inner.index.as_ref()
    }

    pub(crate) fn events(&self) -> &broadcast::Sender<Event> {
        &self.inner.events
    }

    pub(crate) fn write_lock(&self) -> MutexGuard<'_, ()> {
        // A panic while holding this lock cannot leave a record half-written (a write is one
        // batch with its change-log entry), so a poisoned lock is still usable.
        self.inner
            .write_lock
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The folder the engine lives in.
    pub fn dir(&self) -> &Path {
        &self.inner.dir
    }

    /// Subscribes to changes.
    pub fn subscribe(&self) -> broadcast::Receiver<Event> {
        self.inner.events.subscribe()
    }

    /// Restricts which areas' listings are kept (other than the user's own). `None` keeps all.
    pub fn set_area_filter(&self, filter: Option<AreaFilter>) {
        if let Ok(mut f) = self.inner.area_filter.write() {
            *f = filter;
        }
    }

    /// The current area filter.
    pub fn area_filter(&self) -> Option<AreaFilter> {
        self.inner.area_filter.read().ok().and_then(|f| f.clone())
    }

    pub(crate) fn follows(&self, rec: &StoredRecord) -> bool {
        match self.inner.area_filter.read() {
            Ok(f) => f.as_ref().is_none_or(|f| f.wants(&rec.areas())),
            Err(_) => true,
        }
    }

    /// The stored record of a listing.
    pub fn get(&self, id: &ListingId) -> Result<Option<StoredRecord>, EngineError> {
        Ok(self.inner.store.get(id)?)
    }

    /// Whether the envelope with this hash is the stored version of listing `id` (in memory;
    /// no read of the store, unlike [`Engine::get`]).
    pub fn is_current(&self, id: &ListingId, hash: &EnvelopeHash) -> bool {
        self.inner.store.is_current(id, hash)
    }

    /// The stored record of a listing, verified again, for showing every detail.
    pub fn get_verified(&self, id: &ListingId) -> Result<Option<Verified<Record>>, EngineError> {
        let Some(rec) = self.inner.store.get(id)? else {
            return Ok(None);
        };
        let now = self.now();
        Ok(SignedEnvelope::decode(&rec.envelope)
            .ok()
            .and_then(|env| swapmeet_protocol::verify_batch(vec![env], now).pop())
            .and_then(Result::ok))
    }

    /// Searches; hits carry their summaries from the store and their seller's reputation.
    /// `min_rating` keeps only sellers rated at least that on average: the index is asked for
    /// their listings only, so totals and pages count what is shown.
    pub fn search(&self, q: &SearchQuery) -> Result<SearchResults, EngineError> {
        let now = self.now();
        let sellers = q
            .min_rating
            .map(|min| self.inner.reviews.rated_at_least(min));
        let hidden: Vec<ListingId> = self
            .inner
            .moderation
            .hidden()
            .into_iter()
            .map(|(id, _)| id)
            .collect();
        let index = self.index().ok_or(EngineError::NoSearchIndex)?;
        let found = index.search(q, sellers.as_deref(), &hidden, now)?;
        let mut hits = Vec::with_capacity(found.hits.len());
        for h in found.hits {
            // The index may briefly lag the store; show only what the store still has live.
            let Some(rec) = self.inner.store.get(&h.id)? else {
                continue;
            };
            // Hidden by the user: the index left it out; one hidden since the search began is
            // left out here too.
            if !rec.is_active(now) || self.inner.moderation.is_hidden(&h.id) {
                continue;
            }
            let seller_reputation = rec
                .seller()
                .map(|k| self.inner.reviews.reputation(&k))
                .unwrap_or_default();
            hits.push(SearchHit {
                seller_reputation,
                id: h.id,
                summary: rec.summary,
                seq: rec.seq,
                signed_at: rec.signed_at,
                expires_at: rec.expires_at,
                distance_km: h.distance_km,
                score: h.score,
            });
        }
        let (corrected, corrections) = match q.text.as_deref() {
            Some(text) if !found.corrections.is_empty() => {
                let shown = self.shown_corrections(&found.corrections, &hits)?;
                // The spans are of the trimmed text, as the index searched it.
                (
                    Some(corrected_text(text.trim(), &found.corrections, &shown)),
                    shown,
                )
            }
            _ => (None, Vec::new()),
        };
        Ok(SearchResults {
            hits,
            total: found.total,
            total_exact: found.total_exact,
            corrected,
            corrections,
        })
    }

    /// How each corrected word is shown: the index knows only stems ("hoodi"), so the word is
    /// taken from the first hit whose title has a word of that stem ("Hoodie" -> "hoodie"),
    /// and is the stem only when no title has one.
    fn shown_corrections(
        &self,
        corrections: &[Correction],
        hits: &[SearchHit],
    ) -> Result<Vec<ShownCorrection>, EngineError> {
        let mut shown: Vec<Option<String>> = vec![None; corrections.len()];
        for hit in hits {
            if shown.iter().all(Option::is_some) {
                break;
            }
            let title = &hit.summary.title;
            let Some(index) = self.index() else { break };
            for word in index.analyse(title)? {
                for (c, s) in corrections.iter().zip(shown.iter_mut()) {
                    if s.is_none() && c.term == word.term {
                        *s = title.get(word.span.0..word.span.1).map(str::to_lowercase);
                    }
                }
            }
        }
        Ok(corrections
            .iter()
            .zip(shown)
            .map(|(c, s)| ShownCorrection {
                typed: c.typed.clone(),
                shown: s.unwrap_or_else(|| c.term.clone()),
            })
            .collect())
    }

    /// A seller's stored records (listings and withdrawals), newest first.
    pub fn records_of(&self, seller: &PublicKey) -> Result<Vec<StoredRecord>, EngineError> {
        let mut out = Vec::new();
        for id in self.inner.store.ids_of_seller(seller)? {
            if let Some(r) = self.inner.store.get(&id)? {
                out.push(r);
            }
        }
        out.sort_by(|a, b| b.signed_at.cmp(&a.signed_at).then(a.id.cmp(&b.id)));
        Ok(out)
    }

    /// Takes records the store removed out of the index, in the store's change order. Called
    /// under the write lock, as every index change is.
    fn unindex(&self, removed: &[crate::store::Applied]) -> Result<(), EngineError> {
        let changes = removed
            .iter()
            .map(|a| IndexChange::Remove {
                position: a.position,
                id: a.record.id,
            })
            .collect();
        if let Some(index) = self.index() {
            index.apply(changes)?;
        }
        Ok(())
    }

    /// Removes expired listings and withdrawals past retention from store and index.
    pub fn sweep(&self) -> Result<usize, EngineError> {
        // The agenda is in the store's lookups: nothing to sweep before they are built (and
        // the background thread must not wait for them: it also commits the index).
        if self.inner.store.load_state() != LoadState::Ready {
            return Ok(0);
        }
        let now = self.now();
        let guard = self.write_lock();
        let removed = self.inner.store.sweep(now)?;
        let n = removed.len();
        self.unindex(&removed)?;
        drop(guard);
        for a in removed {
            let _ = self.inner.events.send(Event {
                change: Change::Expired,
                id: a.record.id,
                seq: a.record.seq,
                hash: a.record.hash,
                source: Source::Store,
                areas: a.record.areas(),
                envelope: Arc::from(a.record.envelope.as_slice()),
                parts: None,
                previous: None,
            });
        }
        Ok(n)
    }

    /// Sizes for status reports.
    pub fn stats(&self) -> EngineStats {
        let s = self.inner.store.stats();
        EngineStats {
            records: s.records,
            indexed: self.index().map_or(0, SearchIndex::num_docs),
            store_bytes: s.disk_bytes,
            index_bytes: self.index().map_or(0, SearchIndex::disk_bytes),
        }
    }
}

/// The query text with each corrected word replaced by how it is shown.
fn corrected_text(text: &str, corrections: &[Correction], shown: &[ShownCorrection]) -> String {
    let mut out = text.to_string();
    // From the last word back, so the earlier spans stay where they were.
    let mut pairs: Vec<(&Correction, &ShownCorrection)> = corrections.iter().zip(shown).collect();
    pairs.sort_by_key(|(c, _)| std::cmp::Reverse(c.span.0));
    for (c, s) in pairs {
        if out.is_char_boundary(c.span.0) && out.is_char_boundary(c.span.1) {
            out.replace_range(c.span.0..c.span.1, &s.shown);
        }
    }
    out.trim().to_string()
}

impl Drop for Inner {
    fn drop(&mut self) {
        // Last handle gone without an explicit shutdown: still leave a consistent index.
        if let Ok(mut bg) = self.background.lock() {
            if let Some((stop, handle)) = bg.take() {
                let _ = stop.send(());
                // The thread may be the one dropping us (it held the last strong handle).
                if handle.thread().id() != std::thread::current().id() {
                    let _ = handle.join();
                }
            }
        }
        if let Some(Ok(Some(p))) = self.index.as_ref().map(SearchIndex::commit) {
            let _ = self.store.trim_changes(p);
        }
        let _ = self.store.flush();
    }
}

/// Enters a stored listing or wanted post in the allowance book (its stamp and fingerprint
/// are in the signed record).
fn load_place(allowance: &Allowance, id: ListingId, bytes: &[u8]) -> Result<(), StoreError> {
    let rec = StoredRecord::decode(id, bytes)?;
    let Ok(parts) = swapmeet_protocol::decode_stored(&rec.envelope) else {
        // Verified when it was stored; a record that no longer decodes is left to the
        // paths that read it (they report it), not counted here.
        return Ok(());
    };
    match parts.record {
        Record::Listing(l) => allowance.load(parts.signer, rec.id, place_of(&l)),
        Record::Wanted(w) => allowance.load(parts.signer, rec.id, place_of_wanted(&w)),
        _ => {}
    }
    Ok(())
}

/// The place a wanted post takes in its poster's allowance: a free one, like a listing
/// without a stamp (a wanted post cannot carry one).
pub(crate) fn place_of_wanted(w: &swapmeet_protocol::Wanted) -> Place {
    Place {
        slot: None,
        fingerprint: None,
        expires_at: w.expires_at,
    }
}

/// The place a listing asks for in its seller's allowance.
pub(crate) fn place_of(l: &swapmeet_protocol::Listing) -> Place {
    Place {
        slot: l.stamp.map(|s| s.slot),
        fingerprint: l.duplicate_fingerprint(),
        expires_at: l.expires_at,
    }
}
