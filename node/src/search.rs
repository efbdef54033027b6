//! The tantivy search index: derived from the store, rebuildable, searchable within a second.
//!
//! The store's change log is the bridge between the two. Every write the store applies gets a
//! change position; the index adds the matching documents and records, in each commit's payload,
//! the last position it has. On open, the positions after that are replayed; a missing, corrupt or
//! outdated index is rebuilt from the store. A background committer (see `engine.rs`) commits
//! at most every few hundred milliseconds, which bounds how long a stored listing is invisible.

mod collector;
pub mod document;
mod exclusion;
mod fuzzy;
pub mod query;

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use serde::{Deserialize, Serialize};
use swapmeet_protocol::{geo, ListingId, PublicKey, Record, Verified};
use tantivy::query::{
    AllQuery, BooleanQuery, ConstScoreQuery, Occur, Query, QueryParser, TermQuery, TermSetQuery,
};
use tantivy::schema::IndexRecordOption;
use tantivy::{Index, IndexReader, IndexWriter, ReloadPolicy, TantivyDocument, Term};

use crate::store::{Store, StoreError, StoredRecord};
use collector::{ColumnCache, Fruit, ListingCollector, PriceCut};
use document::{Fields, MIN_CELL_PRECISION, SCHEMA_VERSION};
pub use fuzzy::Correction;

/// Most geohash cells a radius search matches as terms. Finer cells follow the circle more
/// closely, so fewer documents outside it are read and measured; a 12 km radius at the
/// latitude of Berlin needs about 70 cells of 5 characters.
const MAX_CELLS: usize = 160;
pub use query::{GeoFilter, PriceFilter, QueryError, SearchQuery, Sort};

/// Errors of the search index.
#[derive(Debug, thiserror::Error)]
pub enum SearchError {
    /// tantivy failed.
    #[error("search index: {context}")]
    Index {
        /// What was being done.
        context: &'static str,
        /// The cause.
        #[source]
        source: tantivy::TantivyError,
    },
    /// Reading the store (to replay or rebuild) failed.
    #[error("search index: reading the store")]
    Store(#[from] StoreError),
    /// Removing or creating the index folder failed.
    #[error("search index: {context} {path}")]
    Io {
        /// What was being done.
        context: &'static str,
        /// Where.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// The query was refused.
    #[error("invalid search: {0}")]
    Query(#[from] QueryError),
    /// A lock was poisoned by a panic elsewhere.
    #[error("search index: internal lock poisoned")]
    Poisoned,
}

fn tv(context: &'static str) -> impl FnOnce(tantivy::TantivyError) -> SearchError {
    move |source| SearchError::Index { context, source }
}

/// What a commit payload records.
#[derive(Serialize, Deserialize)]
struct CommitPayload {
    schema: u32,
    /// Last change-log position whose effect is in this commit.
    through: Option<u64>,
}

/// One change for the index, from the store's change log.
pub enum IndexChange {
    /// (Re)index this listing.
    Upsert {
        /// Change position.
        position: u64,
        /// Listing id.
        id: ListingId,
        /// The new document.
        doc: Box<TantivyDocument>,
        /// The store had no version of this listing before, so the index has no document
        /// of it to delete (a delete costs a term lookup per segment at every commit).
        fresh: bool,
    },
    /// Drop this listing from the index (withdrawn, expired, replaced by a withdrawal).
    Remove {
        /// Change position.
        position: u64,
        /// Listing id.
        id: ListingId,
    },
}

struct WriterState {
    writer: IndexWriter,
    /// Last change position added to the writer (not necessarily committed).
    added_through: Option<u64>,
    /// Last change position committed.
    committed_through: Option<u64>,
}

/// One hit, as the index knows it.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct IndexHit {
    /// The listing.
    pub id: ListingId,
    /// BM25 score when sorted by relevance with text.
    pub score: f32,
    /// Distance in km from the search point, when given.
    pub distance_km: Option<f64>,
}

/// The hits of a search.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct IndexResults {
    /// Hits in order.
    pub hits: Vec<IndexHit>,
    /// How many listings matched in all (at least this many when `total_exact` is false).
    pub total: usize,
    /// Whether `total` counts every match. A search stops counting past
    /// [`collector::TRACK_TOTAL`] matches to skip documents that cannot make its top hits.
    pub total_exact: bool,
    /// The query words that matched (next to) nothing and were searched as close spellings
    /// instead, in query order; empty when every word was searched as typed.
    pub corrections: Vec<Correction>,
}

/// How the index was opened.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OpenedHow {
    /// It was there and current (possibly after replaying a gap of the change log).
    Opened {
        /// Changes replayed.
        replayed: usize,
    },
    /// It was missing, corrupt or outdated and was rebuilt from the store.
    Rebuilt {
        /// Why.
        reason: &'static str,
        /// Listings indexed.
        indexed: usize,
    },
    /// The engine runs without an index (`EngineConfig::search_index`, simulated nodes).
    Without,
}

/// The search index.
pub struct SearchIndex {
    dir: PathBuf,
    reader: IndexReader,
    fields: Fields,
    parser: QueryParser,
    writer: Mutex<WriterState>,
    /// Changes waiting for the writer while a commit holds it, in change-log order.
    pending: Mutex<Vec<IndexChange>>,
    /// Fast-field columns of the searched segments.
    columns: ColumnCache,
}

/// Most changes queued behind a commit before `apply` waits for the writer (a few MB of
/// documents).
const MAX_PENDING: usize = 16_384;

/// Indexing threads of the writer.
const WRITER_THREADS: usize = 1;

impl SearchIndex {
    /// Opens the index in `dir`, replaying what the store changed since its last commit, or
    /// rebuilds it from the store when it is missing, unreadable or of another schema.
    /// `writer_bytes` is the indexing memory the writer may fill before flushing a segment
    /// (from the node's memory budget, `budget.rs`).
    pub fn open(
        dir: &Path,
        store: &Store,
        now: u64,
        writer_bytes: usize,
    ) -> Result<(SearchIndex, OpenedHow), SearchError> {
        match Self::try_open(dir) {
            Ok(Some((index, through))) => {
                let idx = Self::with_index(dir, index, through, writer_bytes)?;
                let replayed = idx.replay(store, now)?;
                Ok((idx, OpenedHow::Opened { replayed }))
            }
            Ok(None) => Self::rebuild(
                dir,
                store,
                now,
                writer_bytes,
                "no index, or an index of another schema",
            ),
            Err(_) => Self::rebuild(dir, store, now, writer_bytes, "the index could not be read"),
        }
    }

    /// Opens an existing index of the current schema; `None` when absent or outdated.
    fn try_open(dir: &Path) -> Result<Option<(Index, Option<u64>)>, SearchError> {
        if !dir.join("meta.json").exists() {
            return Ok(None);
        }
        let index = Index::open_in_dir(dir).map_err(tv("opening"))?;
        let metas = index.load_metas().map_err(tv("reading commit metadata"))?;
        let payload: Option<CommitPayload> = metas
            .payload
            .as_deref()
            .and_then(|p| serde_json::from_str(p).ok());
        match payload {
            Some(p) if p.schema == SCHEMA_VERSION => {
                // Touch every segment once so a damaged file fails here (and triggers a
                // rebuild) rather than in the middle of a search.
                let reader = index.reader().map_err(tv("opening a reader"))?;
                reader.searcher().num_docs();
                Ok(Some((index, p.through)))
            }
            _ => Ok(None),
        }
    }

    fn rebuild(
        dir: &Path,
        store: &Store,
        now: u64,
        writer_bytes: usize,
        reason: &'static str,
    ) -> Result<(SearchIndex, OpenedHow), SearchError> {
        if dir.exists() {
            std::fs::remove_dir_all(dir).map_err(|source| SearchError::Io {
                context: "removing the old index at",
                path: dir.to_path_buf(),
                source,
            })?;
        }
        std::fs::create_dir_all(dir).map_err(|source| SearchError::Io {
            context: "creating the index folder",
            path: dir.to_path_buf(),
            source,
        })?;
        let (schema, _) = document::schema();
        let index = Index::create_in_dir(dir, schema).map_err(tv("creating"))?;
        // The position the rebuild covers is read before scanning, so any write that lands
        // during the scan is replayed again afterwards (re-adding is idempotent).
        let through = store.last_change()?;
        let idx = Self::with_index(dir, index, None, writer_bytes)?;
        let mut indexed = 0usize;
        let mut batch: Vec<StoredRecord> = Vec::with_capacity(1024);
        for rec in store.iter() {
            let rec = rec?;
            if rec.is_active(now) {
                batch.push(rec);
            }
            if batch.len() == 1024 {
                indexed += idx.add_stored(&std::mem::take(&mut batch), now)?;
            }
        }
        indexed += idx.add_stored(&batch, now)?;
        {
            let mut w = idx.writer.lock().map_err(|_| SearchError::Poisoned)?;
            w.added_through = through;
        }
        idx.commit()?;
        Ok((idx, OpenedHow::Rebuilt { reason, indexed }))
    }

    fn with_index(
        dir: &Path,
        index: Index,
        through: Option<u64>,
        writer_bytes: usize,
    ) -> Result<SearchIndex, SearchError> {
        let (_, fields) = document::schema();
        let reader = index
            .reader_builder()
            .reload_policy(ReloadPolicy::Manual)
            .try_into()
            .map_err(tv("opening a reader"))?;
        // One indexing thread: documents are small and the store, not tantivy, limits ingest;
        // each thread starts a fresh segment (and zeroes its term table) after every commit,
        // which is what a node committing several times a second pays for.
        // Created on a background-priority thread, so that tantivy's indexing, segment and
        // merge threads inherit that priority (see `priority`).
        let writer = crate::priority::in_background(|| {
            index.writer_with_num_threads(WRITER_THREADS, writer_bytes)
        })
        .map_err(tv("opening the writer"))?;
        let mut parser = QueryParser::for_index(&index, vec![fields.text]);
        // A marketplace search for "road bike" means both words, not either.
        parser.set_conjunction_by_default();
        Ok(SearchIndex {
            dir: dir.to_path_buf(),
            reader,
            fields,
            parser,
            writer: Mutex::new(WriterState {
                writer,
                added_through: through,
                committed_through: through,
            }),
            pending: Mutex::new(Vec::new()),
            columns: ColumnCache::default(),
        })
    }

    /// The field handles.
    pub fn fields(&self) -> &Fields {
        &self.fields
    }

    /// Adds stored records (used by rebuild and replay, where there is no `Verified` value at
    /// hand). Returns how many were indexed.
    fn add_stored(&self, recs: &[StoredRecord], now: u64) -> Result<usize, SearchError> {
        let w = self.writer.lock().map_err(|_| SearchError::Poisoned)?;
        let mut n = 0;
        for rec in recs.iter().filter(|r| r.is_active(now)) {
            // The store holds only envelopes that were verified when they arrived.
            let parts = swapmeet_protocol::decode_stored(&rec.envelope).map_err(|e| {
                SearchError::Store(StoreError::Corrupt {
                    tree: crate::store::TREE_LISTINGS,
                    reason: format!("listing {}: envelope: {e}", rec.id),
                })
            })?;
            if let Record::Listing(l) = &parts.record {
                w.writer
                    .delete_term(Term::from_field_bytes(self.fields.id, rec.id.as_bytes()));
                w.writer
                    .add_document(document::document(&self.fields, &rec.id, &parts.signer, l))
                    .map_err(tv("adding a document"))?;
                n += 1;
            }
        }
        Ok(n)
    }

    /// The document of a verified record, or `None` for a withdrawal (which is never indexed).
    pub fn document_for(&self, v: &Verified<Record>) -> Option<TantivyDocument> {
        match v.payload() {
            Record::Listing(l) => Some(document::document(
                &self.fields,
                &v.listing_id(),
                v.signer().as_bytes(),
                l,
            )),
            // Wanted posts have their own search (`wanted.rs`): the listing index stays
            // listings only.
            Record::Withdrawal(_) | Record::Wanted(_) | Record::BlockList(_) => None,
        }
    }

    /// Replays the store's change log after the last committed position.
    fn replay(&self, store: &Store, now: u64) -> Result<usize, SearchError> {
        let from = self
            .writer
            .lock()
            .map_err(|_| SearchError::Poisoned)?
            .added_through;
        let mut last = None;
        let mut ids = Vec::new();
        for change in store.changes_after(from) {
            let (pos, id) = change?;
            last = Some(pos);
            ids.push(id);
        }
        let Some(last) = last else { return Ok(0) };
        ids.sort();
        ids.dedup();
        let mut active = Vec::new();
        {
            let w = self.writer.lock().map_err(|_| SearchError::Poisoned)?;
            for id in &ids {
                w.writer
                    .delete_term(Term::from_field_bytes(self.fields.id, id.as_bytes()));
            }
        }
        for id in &ids {
            if let Some(rec) = store.get(id)? {
                if rec.is_active(now) {
                    active.push(rec);
                }
            }
        }
        self.add_stored(&active, now)?;
        self.writer
            .lock()
            .map_err(|_| SearchError::Poisoned)?
            .added_through = Some(last);
        self.commit()?;
        Ok(ids.len())
    }

    /// Applies changes in change-log order. They become visible at the next commit.
    ///
    /// While a commit holds the writer (tens to hundreds of milliseconds while a segment is
    /// written and synced) the changes wait in a queue instead of holding up the caller, which
    /// is the ingest path with the store's write lock held; the commit takes them in. Past
    /// [`MAX_PENDING`] queued changes the caller waits after all.
    pub fn apply(&self, changes: Vec<IndexChange>) -> Result<(), SearchError> {
        let queued = {
            let mut p = self.pending.lock().map_err(|_| SearchError::Poisoned)?;
            p.extend(changes);
            p.len()
        };
        let w = if queued > MAX_PENDING {
            Some(self.writer.lock().map_err(|_| SearchError::Poisoned)?)
        } else {
            match self.writer.try_lock() {
                Ok(w) => Some(w),
                Err(std::sync::TryLockError::WouldBlock) => None,
                Err(std::sync::TryLockError::Poisoned(_)) => return Err(SearchError::Poisoned),
            }
        };
        if let Some(mut w) = w {
            self.drain_pending(&mut w)?;
        }
        Ok(())
    }

    /// Moves the queued changes into the writer (whose lock the caller holds, so no other
    /// drain can interleave and the change-log order is kept).
    fn drain_pending(&self, w: &mut WriterState) -> Result<(), SearchError> {
        let changes = std::mem::take(&mut *self.pending.lock().map_err(|_| SearchError::Poisoned)?);
        for change in changes {
            let (position, id, doc, fresh) = match change {
                IndexChange::Upsert {
                    position,
                    id,
                    doc,
                    fresh,
                } => (position, id, Some(doc), fresh),
                IndexChange::Remove { position, id } => (position, id, None, false),
            };
            if !fresh {
                w.writer
                    .delete_term(Term::from_field_bytes(self.fields.id, id.as_bytes()));
            }
            if let Some(doc) = doc {
                w.writer
                    .add_document(*doc)
                    .map_err(tv("adding a document"))?;
            }
            w.added_through = Some(w.added_through.map_or(position, |p| p.max(position)));
        }
        Ok(())
    }

    /// Commits what was added, if anything, and makes it searchable. Returns the change
    /// position the index now covers, so the store can trim its change log.
    pub fn commit(&self) -> Result<Option<u64>, SearchError> {
        let mut w = self.writer.lock().map_err(|_| SearchError::Poisoned)?;
        self.drain_pending(&mut w)?;
        if w.added_through == w.committed_through && w.committed_through.is_some() {
            return Ok(w.committed_through);
        }
        let through = w.added_through;
        let payload = serde_json::to_string(&CommitPayload {
            schema: SCHEMA_VERSION,
            through,
        })
        .unwrap_or_default();
        // On a background-priority thread: tantivy starts the next segment's indexing
        // threads from the thread that commits, and they inherit its priority (see `priority`).
        let writer = &mut w.writer;
        crate::priority::in_background(move || {
            let mut prepared = writer.prepare_commit().map_err(tv("preparing a commit"))?;
            prepared.set_payload(&payload);
            prepared.commit().map_err(tv("committing"))
        })?;
        w.committed_through = through;
        // Reloaded before the writer is released: a commit that finds nothing new returns
        // at once, and must not return before the reader shows what the last commit wrote
        // (a search right after it would still see a withdrawn listing).
        self.reader.reload().map_err(tv("reloading the reader"))?;
        drop(w);
        let live: Vec<_> = self
            .reader
            .searcher()
            .segment_readers()
            .iter()
            .map(|r| r.segment_id())
            .collect();
        self.columns.retain(&live);
        Ok(through)
    }

    /// Whether there are added changes not yet committed.
    pub fn is_dirty(&self) -> bool {
        let queued = self.pending.lock().map(|p| !p.is_empty()).unwrap_or(false);
        queued
            || self
                .writer
                .lock()
                .map(|w| w.added_through != w.committed_through)
                .unwrap_or(false)
    }

    /// Documents in the committed index.
    pub fn num_docs(&self) -> u64 {
        self.reader.searcher().num_docs()
    }

    /// Bytes the index takes on disk.
    pub fn disk_bytes(&self) -> u64 {
        std::fs::read_dir(&self.dir)
            .map(|entries| {
                entries
                    .filter_map(Result::ok)
                    .filter_map(|e| e.metadata().ok())
                    .filter(|m| m.is_file())
                    .map(|m| m.len())
                    .sum()
            })
            .unwrap_or(0)
    }

    /// Runs a search against the committed index. `sellers`, when given, keeps only those
    /// sellers' listings (the engine's answer to `min_rating`); none at all finds nothing.
    pub fn search(
        &self,
        q: &SearchQuery,
        sellers: Option<&[PublicKey]>,
        hidden: &[ListingId],
        now: u64,
    ) -> Result<IndexResults, SearchError> {
        q.validate()?;
        if sellers.is_some_and(<[PublicKey]>::is_empty) {
            return Ok(IndexResults {
                hits: Vec::new(),
                total: 0,
                total_exact: true,
                corrections: Vec::new(),
            });
        }
        let f = &self.fields;
        // One searcher for the whole search: the words' frequencies that decide the fuzzy
        // fallback are those of the segments searched.
        let searcher = self.reader.searcher();
        let mut filters: Vec<(Occur, Box<dyn Query>)> = Vec::new();
        let filter = |q: Box<dyn Query>| -> (Occur, Box<dyn Query>) {
            (Occur::Must, Box::new(ConstScoreQuery::new(q, 0.0)))
        };
        if let Some(c) = q.category {
            filters.push(filter(Box::new(TermQuery::new(
                Term::from_field_u64(f.category, u64::from(c.code())),
                IndexRecordOption::Basic,
            ))));
        }
        if let Some(c) = q.condition {
            filters.push(filter(Box::new(TermQuery::new(
                Term::from_field_u64(f.condition, document::condition_code(c)),
                IndexRecordOption::Basic,
            ))));
        }
        if let Some(s) = &q.seller {
            filters.push(filter(Box::new(TermQuery::new(
                Term::from_field_bytes(f.seller, s.as_bytes()),
                IndexRecordOption::Basic,
            ))));
        }
        if let Some(keys) = sellers {
            let terms = keys
                .iter()
                .map(|k| Term::from_field_bytes(f.seller, k.as_bytes()));
            filters.push(filter(Box::new(TermSetQuery::new(terms))));
        }
        let text = q.text.as_deref().map(str::trim).filter(|t| !t.is_empty());
        // The geohash cells narrow a radius search that has nothing else to narrow it. With
        // text, the text's matches are fewer than the documents in the cells (which must all
        // be read to build the cell set), and the collector measures the distance of each.
        if let Some(g) = q.near.filter(|_| filters.is_empty() && text.is_none()) {
            if let Some(r) = g.radius_km {
                if let Some(cells) = self.cells_query(g.lat, g.lon, r) {
                    filters.push(filter(cells));
                }
            }
        }
        // The user's hidden listings are left out of the count as well as the page (so a total
        // says what the user can page through).
        let exclude: Option<Box<dyn Query>> = (!hidden.is_empty()).then(|| {
            let terms = hidden
                .iter()
                .map(|id| Term::from_field_bytes(f.id, id.as_bytes()));
            Box::new(TermSetQuery::new(terms)) as Box<dyn Query>
        });
        let offset = q.offset.unwrap_or(0);
        let run = |text_query: Option<Box<dyn Query>>| -> Result<Fruit, SearchError> {
            let mut clauses: Vec<(Occur, Box<dyn Query>)> = Vec::with_capacity(filters.len() + 3);
            if let Some(t) = text_query {
                clauses.push((Occur::Must, t));
            }
            clauses.extend(filters.iter().map(|(o, q)| (*o, q.box_clone())));
            if let Some(ex) = &exclude {
                // A query of exclusions alone matches nothing: exclude from everything.
                if clauses.is_empty() {
                    clauses.push((Occur::Must, Box::new(AllQuery)));
                }
                clauses.push((Occur::MustNot, ex.box_clone()));
            }
            let query: Box<dyn Query> = if clauses.is_empty() {
                Box::new(AllQuery)
            } else {
                Box::new(BooleanQuery::new(clauses))
            };
            let collector = ListingCollector {
                columns: &self.columns,
                counted: Default::default(),
                best: Default::default(),
                track_total: if q.exact_total {
                    usize::MAX
                } else {
                    collector::TRACK_TOTAL
                },
                now,
                near: q.near.map(|g| (g.lat, g.lon, g.radius_km)),
                price: q.price.as_ref().map(|p| PriceCut {
                    currency: document::currency_code(p.currency.code()),
                    min: p.min_minor.unwrap_or(0),
                    max: p.max_minor.unwrap_or(u64::MAX),
                    free: p.min_minor.unwrap_or(0) == 0,
                }),
                sort: q.sort,
                scored: text.is_some(),
                depth: offset + q.limit(),
            };
            searcher
                .search(query.as_ref(), &collector)
                .map_err(tv("searching"))
        };
        let (mut fruit, mut corrections) = match text {
            None => (run(None)?, Vec::new()),
            Some(t) => match self.forgiving_query(&searcher, t, fuzzy::Rare::AsTyped)? {
                Some((query, corrected)) => (run(Some(query))?, corrected),
                // Lenient: a stray quote or colon in what someone typed is not an error.
                // Excluded phrases guarded: `exclusion.rs` says why.
                None => (
                    run(Some(exclusion::guard_exclusions(
                        self.parser
                            .parse_query_lenient(&exclusion::without_boosts(t))
                            .0,
                    )))?,
                    Vec::new(),
                ),
            },
        };
        // Nothing found: words that a few listings have may be typos of a common word (one
        // seller's "hoddie" among hundreds of hoodies). Only now, because a rare word is as
        // often a real one ("gloves" next to "love"), and a search that finds something
        // should show it.
        if let (Some(t), 0) = (text, fruit.total) {
            if let Some((query, corrected)) =
                self.forgiving_query(&searcher, t, fuzzy::Rare::Correct)?
            {
                if corrected.len() > corrections.len() {
                    fruit = run(Some(query))?;
                    corrections = corrected;
                }
            }
        }
        let Fruit { hits, total, exact } = fruit;
        Ok(IndexResults {
            hits: hits
                .into_iter()
                .skip(offset)
                .map(|c| IndexHit {
                    id: c.id,
                    score: c.score,
                    distance_km: c.distance_km,
                })
                .collect(),
            total,
            total_exact: exact,
            corrections,
        })
    }

    /// A query for the geohash cells covering the circle: a cheap first cut that the collector
    /// then refines with the exact distance. Uses the finest precision that needs at most
    /// [`MAX_CELLS`] cells, matched as a union of the cells' terms (a term set, which tantivy
    /// matches by filling a bitset over the whole segment first, took a third longer at
    /// 1,000,000 and 10,000,000 listings, BENCHMARKS.md); `None` when even the coarsest
    /// indexed precision would need more (a continent-sized radius), in which case the
    /// collector alone decides.
    fn cells_query(&self, lat: f64, lon: f64, radius_km: f64) -> Option<Box<dyn Query>> {
        for precision in (MIN_CELL_PRECISION..=swapmeet_protocol::limits::MAX_GEOHASH_CHARS).rev() {
            // Estimate first so a tiny precision for a huge radius is never enumerated.
            let (height, width) = cell_size_km(precision);
            // Cells narrow towards the poles; scale the width so the estimate stays an upper bound.
            let width = width * lat.to_radians().cos().max(0.01);
            let estimate = ((2.0 * radius_km / height) + 2.0) * ((2.0 * radius_km / width) + 2.0);
            if estimate > 2.0 * MAX_CELLS as f64 {
                continue;
            }
            let cells = geo::cells_within(lat, lon, radius_km, precision);
            if cells.len() > MAX_CELLS {
                continue;
            }
            let clauses: Vec<(Occur, Box<dyn Query>)> = cells
                .iter()
                .map(|c| {
                    (
                        Occur::Should,
                        Box::new(TermQuery::new(
                            Term::from_field_text(self.fields.cell, c.as_str()),
                            IndexRecordOption::Basic,
                        )) as Box<dyn Query>,
                    )
                })
                .collect();
            return Some(Box::new(BooleanQuery::new(clauses)));
        }
        None
    }
}

/// Approximate (height, width) in km of a geohash cell of this precision at the equator.
fn cell_size_km(precision: usize) -> (f64, f64) {
    match precision {
        1 => (5000.0, 5000.0),
        2 => (625.0, 1250.0),
        3 => (156.0, 156.0),
        4 => (19.5, 39.1),
        5 => (4.9, 4.9),
        _ => (0.61, 1.2),
    }
}
