//! Saved searches and alerts: the node matches every listing it stores, from any source, against
//! its user's saved searches as it is ingested, and tells the user about new matches and lower
//! prices. Everything stays on this node; no one else learns what its user is looking for.
//!
//! - `alerts/percolator.rs`: saved searches indexed by term; which searches a listing matches.
//! - `alerts/store.rs`: the sled trees (`alerts_*`): searches, what each matched, the alerts,
//!   watched listings.
//! - `alerts/watched.rs`: watched listings (price changes, sold, withdrawn, expiring) and the
//!   warning before the user's own listings expire.
//! - `alerts/wanted.rs`: wanted posts: someone's post matching the user's listings
//!   (`wanted_match`), the user's own posts acting as saved searches.
//! - `alerts/desktop.rs`: desktop notifications (`[alerts] desktop = true`).
//!
//! The node runs [`Alerts::run`] as a task fed by the engine's event broadcast: it reads each
//! new or updated listing from the store, matches it, and records alerts (flushed before they
//! are announced on [`Alerts::subscribe`], the API's `alert` events); the same task checks
//! the clock for listings about to expire.

pub mod desktop;
pub mod percolator;
pub mod store;
pub mod wanted;
pub mod watched;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use swapmeet_protocol::{ListingId, Price, PublicKey, Record};
use tokio::sync::{broadcast, watch};

use crate::engine::Engine;
use crate::events::{Change, Event};
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

/// Matches of one search (or wanted post) in the current window.
struct Burst {
    started: Instant,
    count: u64,
    /// The window's digest, kept here as it grows and written to the log once per batch
    /// (rewriting it for every match was a fifth of the matching time, BENCHMARKS.md).
    digest: Option<Alert>,
    /// Whether `digest` grew since it was last written.
    dirty: bool,
    /// When `digest` was last written.
    written: Instant,
}

impl Burst {
    fn new() -> Burst {
        Burst {
            started: Instant::now(),
            count: 0,
            digest: None,
            dirty: false,
            written: Instant::now(),
        }
    }
}

struct Matching {
    percolator: Percolator,
    searches: HashMap<u64, SavedSearch>,
    bursts: HashMap<BurstOf, Burst>,
    /// All alerts of searches and wanted posts in the current window: its start and count.
    window: (Instant, u64),
    /// Watched listings (also in the store), by id.
    watched: HashMap<ListingId, WatchedListing>,
    /// Alerts in the log (sled counts a tree by scanning it).
    log_len: usize,
    /// The id of the next alert (the log's last key + 1, kept rather than read per alert).
    next_alert: u64,
    /// The user's own live wanted posts, by id.
    own_wanted: HashMap<ListingId, wanted::OwnWanted>,
    /// The index's text analysis, for wanted posts.
    analyzer: tantivy::tokenizer::TextAnalyzer,
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
        let mut analyzer = percolator::analyzer();
        let own_wanted = match &config.owner {
            Some(owner) => Alerts::load_own_wanted(&engine, owner, &mut analyzer)?
                .into_iter()
                .collect(),
            None => HashMap::new(),
        };
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
                    own_wanted,
                    analyzer,
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

    /// Writes a new alert (numbered `m.next_alert`) to the log.
    fn log_alert(&self, m: &mut Matching, a: &Alert) -> Result<(), AlertError> {
        self.inner.store.log.insert(a.id.to_be_bytes(), encode(a))?;
        m.next_alert = a.id + 1;
        m.log_len += 1;
        Ok(())
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

    /// Matches the listings these events stored against the saved searches and records the
    /// alerts (flushed, then announced). Blocking.
    pub fn process(&self, events: &[Event]) -> Result<usize, AlertError> {
        let mut m = self
            .inner
            .matching
            .lock()
            .map_err(|_| AlertError::Poisoned)?;
        let now = self.inner.engine.now();
        // A listing stored twice in one batch is matched once, as its last version: the earlier
        // one was replaced before it could be looked at.
        let mut last: HashMap<ListingId, usize> = HashMap::with_capacity(events.len());
        for (i, ev) in events.iter().enumerate() {
            last.insert(ev.id, i);
        }
        let mut fired = Vec::new();
        let mut wrote = false;
        for (i, ev) in events.iter().enumerate() {
            if last.get(&ev.id) != Some(&i) {
                continue;
            }
            wrote |= self.listing_event(&mut m, ev, now, &mut fired)?;
            wrote |= self.wanted_event(&mut m, ev, now, &mut fired)?;
            match ev.change {
                Change::Listed | Change::Updated => {}
                Change::Withdrawn | Change::Expired | Change::Blocked => {
                    // What the searches matched of it is needed only while it is offered.
                    if self.inner.store.matched.remove(ev.id.as_bytes())?.is_some() {
                        wrote = true;
                    }
                    continue;
                }
            }
            if m.percolator.is_empty() {
                continue;
            }
            // The event carries the envelope it stored (verified then); decoding it skips a
            // store read for the many listings that match nothing.
            let Ok(parts) = ev.decoded() else {
                tracing::warn!(id = %ev.id, "a stored listing could not be decoded for alerts");
                continue;
            };
            let Record::Listing(listing) = &parts.record else {
                continue;
            };
            let mut hits = m.percolator.matches(&parts.signer, listing, now);
            let wants_rating =
                |m: &Matching, id: &u64| m.searches.get(id).and_then(|s| s.query.min_rating);
            if hits.iter().any(|id| wants_rating(&m, id).is_some()) {
                // As the search does: a seller rated at least `min_rating` on average, from
                // deal-bound reviews, read when the listing is stored (an unrated seller does
                // not pass).
                let average = PublicKey::from_bytes(&parts.signer)
                    .ok()
                    .and_then(|k| self.inner.engine.reputation(&k).average_rating);
                hits.retain(|id| {
                    wants_rating(&m, id).is_none_or(|min| average.is_some_and(|a| a >= min))
                });
            }
            if hits.is_empty() {
                continue;
            }
            // Still the stored version? A newer one may have replaced it since (it has its
            // own event), and an old version must not alert after a newer one did.
            if !self.inner.engine.is_current(&ev.id, &ev.hash) {
                continue;
            }
            // A listing new to the store has no matched record to read: a withdrawal or the
            // expiry removed its last version's with it.
            let fresh = ev.change == Change::Listed;
            wrote |= self.record_matches(&mut m, &ev.id, listing, fresh, &hits, now, &mut fired)?;
        }
        wrote |= self.write_digests(&mut m, false)?;
        if !fired.is_empty() {
            self.trim(&mut m)?;
        }
        if wrote || !fired.is_empty() {
            // One flush for the batch: the matched records, the alerts and the digests are
            // durable together before any alert is announced.
            self.inner.store.sync()?;
        }
        drop(m);
        let n = fired.len();
        self.announce(fired);
        Ok(n)
    }

    /// Records what the searches `hits` matched of one listing, in one read (none when the
    /// listing is `fresh` to the store) and one write of its record, and the alerts that makes
    /// (pushed to `fired`). True when it wrote.
    #[allow(clippy::too_many_arguments)]
    fn record_matches(
        &self,
        m: &mut Matching,
        id: &ListingId,
        l: &swapmeet_protocol::Listing,
        fresh: bool,
        hits: &[u64],
        now: u64,
        fired: &mut Vec<Alert>,
    ) -> Result<bool, AlertError> {
        let mut entries = if fresh {
            Vec::new()
        } else {
            self.inner.store.matched_of(id)?
        };
        let price = lowest(l);
        let mut changed = false;
        for &search in hits {
            let pos = entries.iter().position(|e| e.search == search);
            let (kind, previous) = match pos.map(|p| &entries[p]) {
                // A stale re-delivery or the same version again.
                Some(b) if b.seq >= l.seq => continue,
                Some(b) if is_lower(&price, &b.price) => (AlertKind::PriceDrop, Some(b.price)),
                // A newer version at the same or a higher price is not news.
                Some(_) => (AlertKind::Match, None),
                None => (AlertKind::Match, None),
            };
            let news = pos.is_none() || kind == AlertKind::PriceDrop;
            let now_matched = Matched {
                search,
                seq: l.seq,
                price,
            };
            match pos {
                Some(p) => entries[p] = now_matched,
                None => entries.push(now_matched),
            }
            changed = true;
            if news {
                if let Some(a) = self.alert(m, search, id, l, kind, previous, now)? {
                    fired.push(a);
                }
            }
        }
        if changed {
            // Searches removed since are dropped on the way.
            entries.retain(|e| m.searches.contains_key(&e.search));
            self.inner
                .store
                .matched
                .insert(id.as_bytes(), encode_matched(&entries))?;
        }
        Ok(changed)
    }

    /// Records an alert of one (search, listing), or counts it in the search's digest; the
    /// alert to announce, if any.
    #[allow(clippy::too_many_arguments)]
    fn alert(
        &self,
        m: &mut Matching,
        search: u64,
        id: &ListingId,
        l: &swapmeet_protocol::Listing,
        kind: AlertKind,
        previous: Option<Price>,
        now: u64,
    ) -> Result<Option<Alert>, AlertError> {
        let name = m
            .searches
            .get(&search)
            .map(|s| s.name.clone())
            .unwrap_or_default();
        let a = Alert {
            id: m.next_alert,
            search: Some(search),
            search_name: name,
            kind,
            listing: Some(id.to_string()),
            title: Some(l.title.clone()),
            price: Some(lowest(l)),
            previous_price: previous,
            expires_at: None,
            command: None,
            wanted: None,
            listings: Vec::new(),
            count: 1,
            at: now,
            seen: false,
        };
        self.fire(m, BurstOf::Search(search), a)
    }

    /// Writes the digests that grew since they were last written: those written more than
    /// [`DIGEST_WRITE_EVERY`] ago, or all of them when `all`. True when it wrote.
    fn write_digests(&self, m: &mut Matching, all: bool) -> Result<bool, AlertError> {
        let log = &self.inner.store.log;
        let mut wrote = false;
        let now = Instant::now();
        for b in m.bursts.values_mut() {
            if !b.dirty || (!all && now.duration_since(b.written) < DIGEST_WRITE_EVERY) {
                continue;
            }
            if let (true, Some(d)) = (b.dirty, &b.digest) {
                log.insert(d.id.to_be_bytes(), encode(d))?;
                b.dirty = false;
                b.written = now;
                wrote = true;
            }
        }
        Ok(wrote)
    }

    /// Whether a digest grew since it was last written. Called on the async task: it does not
    /// wait for the lock (a batch being matched holds it, and writes what is due itself).
    fn digests_dirty(&self) -> bool {
        self.inner
            .matching
            .try_lock()
            .map(|m| m.bursts.values().any(|b| b.dirty))
            .unwrap_or(false)
    }

    /// Writes every digest that grew since it was last written, durably (the alert task does
    /// this when it goes quiet and when it stops). Blocking.
    pub fn flush_digests(&self) -> Result<(), AlertError> {
        let mut m = self.lock()?;
        if self.write_digests(&mut m, true)? {
            self.inner.store.sync()?;
        }
        Ok(())
    }

    /// Records alert `a` (its id the next one), or, past [`DIGEST_AFTER`] alerts of `of` or of
    /// all searches and wanted posts together in a [`DIGEST_WINDOW`], counts it in the
    /// window's digest of `of`: a catch-up sync that brings thousands of matches at once makes
    /// one digest per search, not thousands of notifications. The alert to announce, if any.
    fn fire(&self, m: &mut Matching, of: BurstOf, a: Alert) -> Result<Option<Alert>, AlertError> {
        let log = &self.inner.store.log;
        if m.window.0.elapsed() > DIGEST_WINDOW {
            m.window = (Instant::now(), 0);
        }
        m.window.1 += 1;
        let within_all = m.window.1 <= DIGEST_AFTER;
        let burst = m.bursts.entry(of).or_insert_with(Burst::new);
        if burst.started.elapsed() > DIGEST_WINDOW {
            // The closing window's digest is written before it is let go.
            if let (true, Some(d)) = (burst.dirty, &burst.digest) {
                log.insert(d.id.to_be_bytes(), encode(d))?;
            }
            *burst = Burst::new();
        }
        burst.count += 1;
        if burst.count <= DIGEST_AFTER && within_all {
            self.log_alert(m, &a)?;
            return Ok(Some(a));
        }
        if let Some(d) = &mut burst.digest {
            d.count += 1;
            if let Some(listing) = a.listing {
                if d.listings.len() < DIGEST_MAX_IDS {
                    d.listings.push(listing);
                }
            }
            burst.dirty = true;
            return Ok(None);
        }
        let search_name = match (&of, a.search_name.is_empty(), &a.title) {
            // A seller's digest of someone's wanted post is named after the post.
            (BurstOf::Wanted(_), true, Some(t)) => format!("wanted: {t}"),
            _ => a.search_name,
        };
        let d = Alert {
            id: a.id,
            search: a.search,
            search_name,
            kind: AlertKind::Digest,
            listing: None,
            title: None,
            price: None,
            previous_price: None,
            expires_at: None,
            command: a.command,
            wanted: a.wanted,
            listings: a.listing.into_iter().collect(),
            count: 1,
            at: a.at,
            seen: false,
        };
        burst.digest = Some(d.clone());
        self.log_alert(m, &d)?;
        Ok(Some(d))
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
        let mut newest_gone = 0;
        for k in oldest {
            if let Ok(b) = <[u8; 8]>::try_from(k.as_ref()) {
                newest_gone = newest_gone.max(u64::from_be_bytes(b));
            }
            log.remove(k)?;
        }
        // A digest forgotten here must not be written back by its burst.
        for b in m.bursts.values_mut() {
            if b.digest.as_ref().is_some_and(|d| d.id <= newest_gone) {
                b.digest = None;
                b.dirty = false;
            }
        }
        m.log_len = m.log_len.saturating_sub(excess);
        Ok(())
    }

    /// Matches what the engine stores until `stop` turns true, then matches what is already
    /// queued and returns. The broadcast is bounded: if matching falls behind by its whole
    /// capacity, the missed events are logged (those listings alert on their next version).
    /// `rx` is the engine's subscription, taken by the caller before anything is ingested.
    pub async fn run(self, mut rx: broadcast::Receiver<Event>, mut stop: watch::Receiver<bool>) {
        // The first tick is at once: what came within its warning while the node was down.
        let mut clock = tokio::time::interval(EXPIRY_CHECK_EVERY);
        clock.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        // Digests that grew while the node went quiet reach the log this often.
        let mut digests = tokio::time::interval(DIGEST_WRITE_EVERY);
        digests.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        enum Wake {
            Event(Result<Event, broadcast::error::RecvError>),
            Expiry,
            Digests,
        }
        loop {
            // The select only chooses; awaiting inside a branch would hold the stop flag's
            // read guard (not `Send`) across the await.
            let wake = tokio::select! {
                biased;
                _ = stop.wait_for(|s| *s) => break,
                r = rx.recv() => Wake::Event(r),
                _ = clock.tick() => Wake::Expiry,
                _ = digests.tick() => Wake::Digests,
            };
            let first = match wake {
                Wake::Event(r) => r,
                Wake::Expiry => {
                    self.check_expiry_blocking().await;
                    continue;
                }
                Wake::Digests => {
                    if self.digests_dirty() {
                        self.flush_digests_blocking().await;
                    }
                    continue;
                }
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
        self.flush_digests_blocking().await;
    }

    async fn flush_digests_blocking(&self) {
        let me = self.clone();
        match tokio::task::spawn_blocking(move || me.flush_digests()).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => tracing::error!(error = %e, "writing alert digests failed"),
            Err(e) => tracing::error!(error = %e, "writing alert digests panicked"),
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

    async fn check_expiry_blocking(&self) {
        let me = self.clone();
        match tokio::task::spawn_blocking(move || me.check_expiry()).await {
            Ok(Ok(_)) => {}
            Ok(Err(e)) => tracing::error!(error = %e, "checking listings about to expire failed"),
            Err(e) => tracing::error!(error = %e, "checking listings about to expire panicked"),
        }
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
