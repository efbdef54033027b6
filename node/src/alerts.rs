//! Saved searches and alerts: the node matches every listing it stores, from any source, against
//! its user's saved searches as it is ingested, and tells the user about new matches and lower
//! prices. Everything stays on this node; no one else learns what its user is looking for.
//!
//! - `alerts/percolator.rs`: saved searches indexed by term; which searches a listing matches.
//! - `alerts/store.rs`: the sled trees (`alerts_*`): searches, what each matched, the alerts.
//!
//! The node runs [`Alerts::run`] as a task fed by the engine's event broadcast: it reads each
//! new or updated listing from the store, matches it, and records alerts (flushed before they
//! are announced on [`Alerts::subscribe`], the API's `alert` events).

pub mod percolator;
pub mod store;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use swapmeet_protocol::{decode_stored, ListingId, Price, Record};
use tantivy::tokenizer::TextAnalyzer;
use tokio::sync::{broadcast, watch};

use crate::engine::Engine;
use crate::events::{Change, Event};
use crate::search::SearchQuery;
use crate::store::StoreError;
use percolator::Percolator;
use store::{decode, encode, matched_key, Matched, TREE_LOG, TREE_MATCHED};
pub use store::{Alert, AlertKind, AlertStore, SavedSearch};

/// Most saved searches per node. Matching cost grows with the searches filed under a listing's
/// words; a thousand is more than a person keeps and what the ingest bench measures.
pub const MAX_SEARCHES: usize = 1_000;
/// Longest name of a saved search, in characters.
pub const MAX_NAME_CHARS: usize = 64;
/// Matches of one search within [`DIGEST_WINDOW`] that are alerted one by one; past these, the
/// rest of the window's matches go into one digest alert (a catch-up sync bringing thousands
/// of matches is one notification, not thousands).
pub const DIGEST_AFTER: u64 = 20;
/// The window in which [`DIGEST_AFTER`] is counted.
pub const DIGEST_WINDOW: Duration = Duration::from_secs(10);
/// Listing ids a digest names (its count says how many there were).
pub const DIGEST_MAX_IDS: usize = 100;
/// Alerts kept; older ones are forgotten.
pub const MAX_ALERTS: usize = 10_000;
/// Events matched in one blocking batch.
const MAX_BATCH: usize = 512;
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

/// Matches of one search in the current window.
struct Burst {
    started: Instant,
    count: u64,
    digest: Option<u64>,
}

struct Matching {
    percolator: Percolator,
    analyzer: TextAnalyzer,
    searches: HashMap<u64, SavedSearch>,
    bursts: HashMap<u64, Burst>,
    /// Alerts in the log (sled counts a tree by scanning it).
    log_len: usize,
}

struct Inner {
    engine: Engine,
    store: AlertStore,
    matching: Mutex<Matching>,
    events: broadcast::Sender<Alert>,
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
fn is_lower(now: &Price, before: &Price) -> bool {
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
    /// Opens the saved searches of the engine's store.
    pub fn open(engine: Engine) -> Result<Alerts, AlertError> {
        let store = AlertStore::open(engine.store())?;
        let mut analyzer = percolator::analyzer();
        let mut percolator = Percolator::default();
        let mut searches = HashMap::new();
        for s in store.searches()? {
            percolator.insert(&mut analyzer, s.id, s.query.clone());
            searches.insert(s.id, s);
        }
        let (events, _) = broadcast::channel(STREAM_CAPACITY);
        let log_len = store.log.len();
        Ok(Alerts {
            inner: Arc::new(Inner {
                engine,
                store,
                matching: Mutex::new(Matching {
                    percolator,
                    analyzer,
                    searches,
                    bursts: HashMap::new(),
                    log_len,
                }),
                events,
            }),
        })
    }

    /// Alerts as they fire.
    pub fn subscribe(&self) -> broadcast::Receiver<Alert> {
        self.inner.events.subscribe()
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
            if percolator::terms_of(&mut m.analyzer, t).is_empty() {
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
        self.inner.store.searches.flush()?;
        let Matching {
            percolator,
            analyzer,
            searches,
            ..
        } = &mut *m;
        percolator.insert(analyzer, id, saved.query.clone());
        searches.insert(id, saved.clone());
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
        // Key by key, never a `sled::Batch` (see `trim`).
        let matched: Vec<sled::IVec> = self
            .inner
            .store
            .matched
            .scan_prefix(found.id.to_be_bytes())
            .keys()
            .collect::<Result<_, _>>()?;
        for k in matched {
            self.inner.store.matched.remove(k)?;
        }
        self.inner.store.searches.flush()?;
        m.percolator.remove(found.id);
        m.searches.remove(&found.id);
        m.bursts.remove(&found.id);
        Ok(found)
    }

    /// Alerts, newest first (at most `limit`), and how many are unseen in all; with
    /// `mark_seen`, every alert is then marked seen (the answer shows them as they were).
    /// Blocking.
    pub fn alerts(&self, limit: usize, mark_seen: bool) -> Result<(Vec<Alert>, usize), AlertError> {
        // Held so a concurrent match does not write an alert between the read and the marking.
        let _m = self
            .inner
            .matching
            .lock()
            .map_err(|_| AlertError::Poisoned)?;
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
            log.flush()?;
        }
        Ok((out, unseen))
    }

    /// Matches the listings these events stored against the saved searches and records the
    /// alerts (flushed, then announced). Blocking.
    pub fn process(&self, events: &[Event]) -> Result<usize, AlertError> {
        let mut m = self
            .inner
            .matching
            .lock()
            .map_err(|_| AlertError::Poisoned)?;
        if m.percolator.is_empty() {
            return Ok(0);
        }
        let now = self.inner.engine.now();
        let mut fired = Vec::new();
        for ev in events {
            if !matches!(ev.change, Change::Listed | Change::Updated) {
                continue;
            }
            // The event carries the envelope it stored (verified then); decoding it skips a
            // store read for the many listings that match nothing.
            let Ok(parts) = decode_stored(&ev.envelope) else {
                tracing::warn!(id = %ev.id, "a stored listing could not be decoded for alerts");
                continue;
            };
            let Record::Listing(listing) = parts.record else {
                continue;
            };
            let Matching {
                percolator,
                analyzer,
                ..
            } = &mut *m;
            let ids = percolator.matches(analyzer, &parts.signer, &listing, now);
            if ids.is_empty() {
                continue;
            }
            // Still the stored version? A newer one may have replaced it since (it has its
            // own event), and an old version must not alert after a newer one did.
            if self.inner.engine.get(&ev.id)?.map(|r| r.hash) != Some(ev.hash) {
                continue;
            }
            for search in ids {
                if let Some(a) = self.record_match(&mut m, search, &ev.id, &listing, now)? {
                    fired.push(a);
                }
            }
        }
        if !fired.is_empty() {
            self.trim(&mut m)?;
            self.inner.store.log.flush()?;
        }
        let n = fired.len();
        for a in fired {
            // No receiver is not an error: nobody is watching the stream right now.
            let _ = self.inner.events.send(a);
        }
        Ok(n)
    }

    /// Records one (search, listing) match; the alert to announce, if any.
    fn record_match(
        &self,
        m: &mut Matching,
        search: u64,
        id: &ListingId,
        l: &swapmeet_protocol::Listing,
        now: u64,
    ) -> Result<Option<Alert>, AlertError> {
        let key = matched_key(search, id);
        let price = lowest(l);
        let before: Option<Matched> = match self.inner.store.matched.get(key)? {
            Some(v) => Some(decode(TREE_MATCHED, &v)?),
            None => None,
        };
        let (kind, previous) = match &before {
            // A stale re-delivery or the same version again.
            Some(b) if b.seq >= l.seq => return Ok(None),
            Some(b) if is_lower(&price, &b.price) => (AlertKind::PriceDrop, Some(b.price)),
            Some(_) => (AlertKind::Match, None),
            None => (AlertKind::Match, None),
        };
        self.inner
            .store
            .matched
            .insert(key, encode(&Matched { seq: l.seq, price }))?;
        // A newer version at the same or a higher price is not news.
        if before.is_some() && kind == AlertKind::Match {
            return Ok(None);
        }
        let name = m
            .searches
            .get(&search)
            .map(|s| s.name.clone())
            .unwrap_or_default();
        let burst = m.bursts.entry(search).or_insert(Burst {
            started: Instant::now(),
            count: 0,
            digest: None,
        });
        if burst.started.elapsed() > DIGEST_WINDOW {
            *burst = Burst {
                started: Instant::now(),
                count: 0,
                digest: None,
            };
        }
        burst.count += 1;
        let log = &self.inner.store.log;
        if burst.count > DIGEST_AFTER {
            if let Some(did) = burst.digest {
                if let Some(v) = log.get(did.to_be_bytes())? {
                    let mut d: Alert = decode(TREE_LOG, &v)?;
                    d.count += 1;
                    if d.listings.len() < DIGEST_MAX_IDS {
                        d.listings.push(id.to_string());
                    }
                    log.insert(did.to_be_bytes(), encode(&d))?;
                    return Ok(None);
                }
            }
            let aid = AlertStore::next_id(log)?;
            let d = Alert {
                id: aid,
                search,
                search_name: name,
                kind: AlertKind::Digest,
                listing: None,
                title: None,
                price: None,
                previous_price: None,
                listings: vec![id.to_string()],
                count: 1,
                at: now,
                seen: false,
            };
            log.insert(aid.to_be_bytes(), encode(&d))?;
            burst.digest = Some(aid);
            m.log_len += 1;
            return Ok(Some(d));
        }
        let aid = AlertStore::next_id(log)?;
        let a = Alert {
            id: aid,
            search,
            search_name: name,
            kind,
            listing: Some(id.to_string()),
            title: Some(l.title.clone()),
            price: Some(price),
            previous_price: previous,
            listings: Vec::new(),
            count: 1,
            at: now,
            seen: false,
        };
        log.insert(aid.to_be_bytes(), encode(&a))?;
        m.log_len += 1;
        Ok(Some(a))
    }

    /// Forgets the oldest alerts past [`MAX_ALERTS`].
    fn trim(&self, m: &mut Matching) -> Result<(), AlertError> {
        let log = &self.inner.store.log;
        let excess = m.log_len.saturating_sub(MAX_ALERTS);
        if excess == 0 {
            return Ok(());
        }
        // Key by key, never a `sled::Batch`: in sled 0.34 a batch takes a lock global to the
        // process, and from the first batch on every read and write of every tree takes it
        // too, which stalls the engine's ingest (see store.rs). A crash part way leaves a few
        // old alerts, which the next trim removes.
        let oldest: Vec<sled::IVec> = log.iter().keys().take(excess).collect::<Result<_, _>>()?;
        for k in oldest {
            log.remove(k)?;
        }
        m.log_len = m.log_len.saturating_sub(excess);
        Ok(())
    }

    /// Matches what the engine stores until `stop` turns true, then matches what is already
    /// queued and returns. The broadcast is bounded: if matching falls behind by its whole
    /// capacity, the missed events are logged (those listings alert on their next version).
    /// `rx` is the engine's subscription, taken by the caller before anything is ingested.
    pub async fn run(self, mut rx: broadcast::Receiver<Event>, mut stop: watch::Receiver<bool>) {
        loop {
            let first = tokio::select! {
                biased;
                _ = stop.wait_for(|s| *s) => break,
                r = rx.recv() => r,
            };
            let mut batch = Vec::new();
            match first {
                Ok(ev) => batch.push(ev),
                Err(broadcast::error::RecvError::Lagged(n)) => {
                    tracing::warn!(
                        missed = n,
                        "alerts fell behind ingest; some listings were not matched"
                    );
                }
                Err(broadcast::error::RecvError::Closed) => break,
            }
            if !self.drain_into(&mut rx, &mut batch) {
                break;
            }
            self.process_batch(batch).await;
        }
        // Drain at shutdown: what was stored before the stop is matched.
        loop {
            let mut batch = Vec::new();
            let open = self.drain_into(&mut rx, &mut batch);
            if batch.is_empty() {
                break;
            }
            self.process_batch(batch).await;
            if !open {
                break;
            }
        }
    }

    /// Takes what is queued (up to a batch); false when the broadcast closed.
    fn drain_into(&self, rx: &mut broadcast::Receiver<Event>, batch: &mut Vec<Event>) -> bool {
        while batch.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(ev) => batch.push(ev),
                Err(broadcast::error::TryRecvError::Lagged(n)) => {
                    tracing::warn!(
                        missed = n,
                        "alerts fell behind ingest; some listings were not matched"
                    );
                }
                Err(broadcast::error::TryRecvError::Empty) => return true,
                Err(broadcast::error::TryRecvError::Closed) => return false,
            }
        }
        true
    }

    async fn process_batch(&self, batch: Vec<Event>) {
        let me = self.clone();
        match tokio::task::spawn_blocking(move || me.process(&batch)).await {
            Ok(Ok(_)) => {}
            Ok(Err(e)) => tracing::error!(error = %e, "matching saved searches failed"),
            Err(e) => tracing::error!(error = %e, "matching saved searches panicked"),
        }
    }
}
