//! Saved searches and alerts: the node matches every listing it stores, from any source, against
//! its user's saved searches as it is ingested, and tells the user about new matches and lower
//! prices. Everything stays on this node; no one else learns what its user is looking for.
//!
//! - `alerts/percolator.rs`: saved searches indexed by term; which searches a listing matches.
//! - `alerts/store.rs`: the sled trees (`alerts_*`): searches, the searches listings left, the
//!   alerts, watched listings.
//! - `alerts/watched.rs`: watched listings (price changes, sold, withdrawn, expiring) and the
//!   warning before the user's own listings expire.
//! - `alerts/wanted.rs`: wanted posts: someone's post matching the user's listings
//!   (`wanted_match`), the user's own posts acting as saved searches.
//! - `alerts/desktop.rs`: desktop notifications (`[alerts] desktop = true`).
//!
//! The node runs [`Alerts::run`] as a task fed by the engine's event broadcast: it matches each
//! new or updated listing as the event carries it (with the version an update replaced), and
//! records alerts (flushed before they
//! are announced on [`Alerts::subscribe`], the API's `alert` events); the same task checks
//! the clock for listings about to expire.

pub mod desktop;
mod log;
mod matching;
pub mod percolator;
pub mod store;
mod task;
pub mod wanted;
pub mod watched;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use swapmeet_protocol::{ListingId, Price};
use tokio::sync::broadcast;

use crate::engine::Engine;
use crate::search::SearchQuery;
use crate::store::StoreError;
use percolator::Percolator;
use store::{decode, decode_matched, encode, encode_matched, Matched, TREE_LOG};
pub use store::{Alert, AlertKind, AlertStore, SavedSearch, WatchedListing};
pub use watched::{AlertsConfig, EXPIRY_CHECK_EVERY, MAX_WATCHED};

/// Most saved searches per node. Matching cost grows with the searches filed under a listing's
/// words; a thousand is more than a person keeps and what the ingest bench measures.
pub const MAX_SEARCHES: usize = 1_000;
/// Longest name of a saved search, in characters.
pub const MAX_NAME_CHARS: usize = 64;
/// Matches within [`DIGEST_WINDOW`] that are alerted one by one, both per saved search (or
/// wanted post) and in total over all of them; past either, the rest of the window's matches
/// of a search go into one digest alert of that search (a catch-up sync bringing thousands of
/// matches is a few notifications, not thousands: with a thousand saved searches a per-search
/// limit alone still let 20,000 through).
pub const DIGEST_AFTER: u64 = 20;
/// How often a growing digest is written back to the log. Only its first version is
/// announced; its count grows in memory and reaches the log this often, when its window
/// closes, and when the alert task stops (rewriting every growing digest after every batch
/// was most of the log's writes in the alerts bench).
const DIGEST_WRITE_EVERY: Duration = Duration::from_secs(1);
/// The window in which [`DIGEST_AFTER`] is counted.
pub const DIGEST_WINDOW: Duration = Duration::from_secs(10);
/// Listing ids a digest names (its count says how many there were).
pub const DIGEST_MAX_IDS: usize = 100;
/// Alerts kept; older ones are forgotten.
pub const MAX_ALERTS: usize = 10_000;
/// Events matched in one blocking batch. A batch ends with one durable sync when it wrote
/// anything, so when ingest runs ahead (a catch-up, an import) larger batches mean fewer
/// syncs; an idle node's batches are what arrived, one or a few events.
const MAX_BATCH: usize = 4_096;
/// Alerts the live stream buffers for a slow reader.
const STREAM_CAPACITY: usize = 256;

/// Errors of saved searches and alerts.
#[derive(Debug, thiserror::Error)]
pub enum AlertError {
    /// A field is out of its range.
    #[error("{field}: {reason}")]
    Invalid {
        /// The field.
        field: &'static str,
        /// What is wrong and what is allowed.
        reason: String,
    },
    /// No saved search has this name or id.
    #[error("no saved search is named or numbered '{0}'; see `swapmeet watch list`")]
    Unknown(String),
    /// This listing is not watched.
    #[error("listing {0} is not watched; see `swapmeet watch list`")]
    NotWatched(String),
    /// A saved search has this name already.
    #[error("name: a saved search is already named '{0}'; pick another name or remove it first")]
    Duplicate(String),
    /// The node holds [`MAX_SEARCHES`] already.
    #[error("watches: this node has {MAX_SEARCHES} saved searches, the limit; remove one first")]
    Full,
    /// The store.
    #[error("alerts: {0}")]
    Store(#[from] StoreError),
    /// Reading a listing.
    #[error("alerts: {0}")]
    Engine(#[from] crate::engine::EngineError),
    /// sled.
    #[error("alerts: the store failed")]
    Sled(#[from] sled::Error),
    /// A stored value could not be read.
    #[error("alerts: {tree} holds an unreadable value: {reason}")]
    Corrupt {
        /// The tree.
        tree: &'static str,
        /// Why.
        reason: String,
    },
    /// A lock was poisoned by a panic elsewhere.
    #[error("alerts: internal lock poisoned")]
    Poisoned,
}

/// What a burst of alerts is counted for: a saved search, or one of the user's wanted posts
/// (listings that answer it, or, for someone else's post, the seller's listings it matches).
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
enum BurstOf {
    Search(u64),
    Wanted(ListingId),
}

struct Matching {
    percolator: Percolator,
    searches: HashMap<u64, SavedSearch>,
    bursts: HashMap<BurstOf, log::Burst>,
    /// All alerts of searches and wanted posts in the current window: its start and count.
    window: (Instant, u64),
    /// Watched listings (also in the store), by id.
    watched: HashMap<ListingId, WatchedListing>,
    /// Alerts in the log (sled counts a tree by scanning it).
    log_len: usize,
    /// The id of the next alert (the log's last key + 1, kept rather than read per alert).
    next_alert: u64,
    /// The user's own live wanted posts, by id; `None` until the first event needs them
    /// (reading them takes the store's lookups, which are built after the node starts).
    own_wanted: Option<HashMap<ListingId, wanted::OwnWanted>>,
    /// The index's text analysis, for wanted posts.
    analyzer: tantivy::tokenizer::TextAnalyzer,
    /// Listings whose last event was passed over, by id ([`MAX_UNJUDGED`]).
    unjudged: HashMap<ListingId, matching::Before>,
}

struct Inner {
    engine: Engine,
    config: AlertsConfig,
    store: AlertStore,
    matching: Mutex<Matching>,
    events: broadcast::Sender<Alert>,
    desktop: desktop::Desktop,
}

/// The alert service: saved searches, matching, alerts. Cheap to clone.
#[derive(Clone)]
pub struct Alerts {
    inner: Arc<Inner>,
}

/// The lowest price of a listing (what a price drop compares).
fn lowest(l: &swapmeet_protocol::Listing) -> Price {
    l.price_range().0
}

/// Whether `now` is cheaper than `before` (the same currency, or now free).
pub(crate) fn is_lower(now: &Price, before: &Price) -> bool {
    match (now, before) {
        (Price::Free, Price::Fixed { .. }) => true,
        (
            Price::Fixed {
                currency: a,
                amount_minor: x,
            },
            Price::Fixed {
                currency: b,
                amount_minor: y,
            },
        ) => a == b && x < y,
        _ => false,
    }
}

impl Alerts {
    /// Opens the saved searches and watched listings of the engine's store.
    pub fn open(engine: Engine, config: AlertsConfig) -> Result<Alerts, AlertError> {
        config.validate()?;
        let store = AlertStore::open(engine.store())?;
        let mut watched = HashMap::new();
        for w in store.watched()? {
            let id: ListingId = w.listing.parse().map_err(|e| AlertError::Corrupt {
                tree: store::TREE_WATCHED,
                reason: format!("listing '{}': {e}", w.listing),
            })?;
            watched.insert(id, w);
        }
        let mut percolator = Percolator::default();
        let mut searches = HashMap::new();
        for s in store.searches()? {
            percolator.insert(s.id, s.query.clone());
            searches.insert(s.id, s);
        }
        let analyzer = percolator::analyzer();
        let (events, _) = broadcast::channel(STREAM_CAPACITY);
        let log_len = store.log.len();
        let next_alert = AlertStore::next_id(&store.log)?;
        Ok(Alerts {
            inner: Arc::new(Inner {
                engine,
                config,
                store,
                matching: Mutex::new(Matching {
                    percolator,
                    searches,
                    bursts: HashMap::new(),
                    window: (Instant::now(), 0),
                    watched,
                    log_len,
                    next_alert,
                    own_wanted: None,
                    analyzer,
                    unjudged: HashMap::new(),
                }),
                events,
                desktop: desktop::Desktop::default(),
            }),
        })
    }

    /// Alerts as they fire.
    pub fn subscribe(&self) -> broadcast::Receiver<Alert> {
        self.inner.events.subscribe()
    }

    fn lock(&self) -> Result<std::sync::MutexGuard<'_, Matching>, AlertError> {
        self.inner.matching.lock().map_err(|_| AlertError::Poisoned)
    }

    /// Announces alerts already recorded and flushed: the live stream, and the desktop when
    /// configured. Blocking when the desktop is notified.
    fn announce(&self, fired: Vec<Alert>) {
        if self.inner.config.desktop {
            self.inner.desktop.notify(&fired);
        }
        for a in fired {
            // No receiver is not an error: nobody is watching the stream right now.
            let _ = self.inner.events.send(a);
        }
    }

    /// Saves a search. The query is checked as a search's is; its sort, limit and offset are
    /// dropped (they order a result page, not what matches). Blocking (flushes).
    pub fn add(
        &self,
        name: Option<String>,
        mut query: SearchQuery,
    ) -> Result<SavedSearch, AlertError> {
        query.validate().map_err(|e| match e {
            crate::search::QueryError::Invalid { field, reason } => {
                AlertError::Invalid { field, reason }
            }
        })?;
        query.text = query
            .text
            .map(|t| t.trim().to_string())
            .filter(|t| !t.is_empty());
        if let Some(t) = &query.text {
            // The index reads quotes, fields and operators as query syntax; the percolator
            // matches plain words only, so such a search would alert on something else.
            if t.chars().any(|c| {
                matches!(
                    c,
                    '"' | ':' | '(' | ')' | '[' | ']' | '{' | '}' | '^' | '~' | '*'
                )
            }) || t.split_whitespace().any(|w| {
                w.starts_with('-') || w.starts_with('+') || matches!(w, "AND" | "OR" | "NOT")
            }) {
                return Err(AlertError::Invalid {
                    field: "text",
                    reason: "a saved search matches plain words; quotes, fields and operators (\" : ( ) * ~ ^ + - AND OR NOT) are not supported".into(),
                });
            }
        }
        query.sort = Default::default();
        query.limit = None;
        query.offset = None;
        query.exact_total = false;
        let name = name
            .map(|n| n.trim().to_string())
            .filter(|n| !n.is_empty())
            .or_else(|| query.text.clone())
            .unwrap_or_else(|| "filters".to_string());
        let n = name.chars().count();
        if n > MAX_NAME_CHARS {
            return Err(AlertError::Invalid {
                field: "name",
                reason: format!("{n} characters, the limit is {MAX_NAME_CHARS}"),
            });
        }
        if name.chars().all(|c| c.is_ascii_digit()) {
            return Err(AlertError::Invalid {
                field: "name",
                reason: format!(
                    "'{name}' is a number, which `watch rm` reads as an id; add a word"
                ),
            });
        }
        let mut m = self
            .inner
            .matching
            .lock()
            .map_err(|_| AlertError::Poisoned)?;
        if let Some(t) = &query.text {
            // Text of punctuation alone has no terms; filed under "no text" it would alert on
            // every listing.
            if m.percolator.terms_of(t).is_empty() {
                return Err(AlertError::Invalid {
                    field: "text",
                    reason: format!("'{t}' has no word to look for"),
                });
            }
        }
        if m.searches.len() >= MAX_SEARCHES {
            return Err(AlertError::Full);
        }
        if m.searches.values().any(|s| s.name == name) {
            return Err(AlertError::Duplicate(name));
        }
        let id = AlertStore::next_id(&self.inner.store.searches)?;
        let saved = SavedSearch {
            id,
            name,
            query,
            created_at: self.inner.engine.now(),
        };
        self.inner
            .store
            .searches
            .insert(id.to_be_bytes(), encode(&saved))?;
        self.inner.store.sync()?;
        m.percolator.insert(id, saved.query.clone());
        m.searches.insert(id, saved.clone());
        Ok(saved)
    }

    /// Saved searches, in id order.
    pub fn list(&self) -> Result<Vec<SavedSearch>, AlertError> {
        let m = self
            .inner
            .matching
            .lock()
            .map_err(|_| AlertError::Poisoned)?;
        let mut v: Vec<SavedSearch> = m.searches.values().cloned().collect();
        v.sort_by_key(|s| s.id);
        Ok(v)
    }

    /// Removes a saved search by name or id, with what it matched; its past alerts stay.
    /// Blocking (flushes).
    pub fn remove(&self, which: &str) -> Result<SavedSearch, AlertError> {
        let which = which.trim();
        let mut m = self
            .inner
            .matching
            .lock()
            .map_err(|_| AlertError::Poisoned)?;
        let found = m
            .searches
            .values()
            .find(|s| s.name == which)
            .or_else(|| which.parse::<u64>().ok().and_then(|id| m.searches.get(&id)))
            .cloned()
            .ok_or_else(|| AlertError::Unknown(which.to_string()))?;
        self.inner.store.searches.remove(found.id.to_be_bytes())?;
        // What it matched goes too: a later search may get the same id (ids continue from the
        // highest kept) and must not inherit it. Every record is read, as the tree is keyed
        // by listing; removing a search is rare. Key by key, never a `sled::Batch` (see `trim`).
        let matched = &self.inner.store.matched;
        for kv in matched.iter() {
            let (k, v) = kv?;
            let mut entries: Vec<Matched> = decode_matched(&v)?;
            let before = entries.len();
            entries.retain(|e| e.search != found.id);
            if entries.is_empty() {
                matched.remove(k)?;
            } else if entries.len() != before {
                matched.insert(k, encode_matched(&entries))?;
            }
        }
        self.inner.store.sync()?;
        m.percolator.remove(found.id);
        m.searches.remove(&found.id);
        m.bursts.remove(&BurstOf::Search(found.id));
        Ok(found)
    }

    /// Alerts, newest first (at most `limit`), and how many are unseen in all; with
    /// `mark_seen`, every alert is then marked seen (the answer shows them as they were).
    /// Blocking.
    pub fn alerts(&self, limit: usize, mark_seen: bool) -> Result<(Vec<Alert>, usize), AlertError> {
        // Held so a concurrent match does not write an alert between the read and the marking.
        let mut m = self
            .inner
            .matching
            .lock()
            .map_err(|_| AlertError::Poisoned)?;
        // Digests grow in memory between writes: what is shown is their count now.
        self.write_digests(&mut m, true)?;
        let log = &self.inner.store.log;
        let mut out = Vec::new();
        let mut unseen = 0;
        let mut marked = Vec::new();
        for kv in log.iter().rev() {
            let (k, v) = kv?;
            let mut a: Alert = decode(TREE_LOG, &v)?;
            if !a.seen {
                unseen += 1;
                if mark_seen {
                    let shown = a.clone();
                    a.seen = true;
                    marked.push((k, encode(&a)));
                    a = shown;
                }
            }
            if out.len() < limit {
                out.push(a);
            }
        }
        if mark_seen && !marked.is_empty() {
            // Key by key, never a `sled::Batch` (see `trim`).
            for (k, v) in marked {
                log.insert(k, v)?;
            }
            self.inner.store.sync()?;
        }
        Ok((out, unseen))
    }
}
