//! The store: the node's source of truth.
//!
//! Everything the node knows about listings lives here; the search index is derived from it and
//! can always be rebuilt from it. Each listing id maps to exactly one record: the newest version
//! (listing or withdrawal) the node has accepted.
//!
//! On disk there are two keyspaces per write, written as one batch: the records and the change
//! log, kept in an LSM tree (fjall, `store/records.rs`) because sled took twice their bytes on
//! disk. sled keeps everything else (node state, messages, deals, the DHT's records). The
//! lookups the rest of the node needs (by envelope hash for sync, per area for sync sets, by
//! expiry for the sweeper, per seller) are kept in memory and rebuilt from the records when the
//! store opens.
//! Measured on sled 0.34, every extra entry costs about 10 us to write and 225 bytes on disk, and
//! four lookup trees made a listing cost seven sled writes and about 9 times its signed bytes on
//! disk; a record's head is enough to rebuild them (measured: 5.5 to 9 s for a million), and
//! lookups that are derived cannot disagree with the records after a crash.
//!
//! Keyspaces and trees (names are constants so an operator can inspect them with tooling):
//! - [`TREE_LISTINGS`] (fjall, under `records/`): listing id -> [`StoredRecord`] (head, a
//!   withdrawal's summary, exact envelope bytes).
//! - [`TREE_CHANGES`] (fjall): change position -> listing id (what the index has yet to see;
//!   `store/changes.rs`).
//! - [`TREE_META`] (sled): store format version and small node state.

use std::collections::HashMap;
use std::path::Path;
use std::sync::atomic::AtomicBool;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

mod changes;
mod durability;
mod error;
mod lookups;
mod record;
mod records;
mod upgrade;

use serde::Serialize;
use swapmeet_protocol::{EnvelopeHash, ListingId, PublicKey};

use changes::ChangeEntry;
pub use durability::{Durability, NoSpace, SyncMode};
use error::is_not_writable;
pub use error::StoreError;
pub use lookups::LoadState;
use lookups::{GatedLookups, Lookups};
pub use record::{decide, Decision, RecordKind, StoredRecord, Summary};
use record::{decide_versions, Head};
use records::{RecordWrite, Records};

/// Keyspace of the newest record per listing id (sled's tree of that name before store
/// format 3).
pub const TREE_LISTINGS: &str = "listings/v1";
/// Ordered change log consumed by the search index: one entry per write, keyed by its last
/// position, holding every (position, listing id) of the write. One entry per write instead of
/// per listing saves a write per listing.
pub const TREE_CHANGES: &str = "changes/v2";
/// Small metadata values.
pub const TREE_META: &str = "meta";

/// The store's layout written by this version; checked on open. 3: the records and the change
/// log in fjall (2: in sled).
const STORE_FORMAT: u8 = 3;
const META_FORMAT_KEY: &[u8] = b"store-format";

/// Geohash precision of an "area": the unit of gossip topics and of sync sets.
///
/// Four characters is a cell of about 39 x 20 km at the equator (narrower towards the poles): small
/// enough that a node following 50 km around its home stores only its region, large enough that
/// such a radius is ~30 cells, well under gossipsub's topic cap.
pub const AREA_PRECISION: usize = 4;
/// The area tag of listings that ship: not a valid geohash (the alphabet has no `i`), so it can
/// never collide with a cell.
pub const SHIPPING_AREA: &str = "ship";

/// Counts the store can report cheaply.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct StoreStats {
    /// Records (listings and withdrawals) stored.
    pub records: usize,
    /// Bytes on disk.
    pub disk_bytes: u64,
}

/// The store. Cheap to clone (sled's and fjall's handles and the lookups are reference
/// counted).
#[derive(Clone)]
pub struct Store {
    db: sled::Db,
    records: Records,
    meta: sled::Tree,
    lookups: Arc<GatedLookups>,
    /// Counts the writes applied since the store was opened; see [`Store::generation`].
    generation: Arc<AtomicU64>,
    /// Where every acknowledged write waits until it is on disk.
    durability: Durability,
}

/// Settings of the store.
#[derive(Clone, Debug)]
pub struct StoreConfig {
    /// Cache in bytes: three quarters for the records' blocks, a quarter for sled's pages
    /// (what sled keeps is small). Set explicitly because sled's default (1 GiB) is far more
    /// than a consumer's background process should take. The records' memtables take half
    /// as much more while writes come in (with a quarter, ingest's last 200,000 of a million
    /// ran at 76-82% of its first; with half at 82-87%).
    pub cache_capacity: u64,
    /// How often sled flushes (and fsyncs) on its own. Acknowledged writes are made durable
    /// before they are acknowledged ([`Store::flush`]); this bounds what peers' data a power
    /// cut can lose (it comes back by sync).
    pub flush_every_ms: u64,
    /// Threads that write the records' memtables to tables and compact them (fjall's
    /// workers; at least one). Two keep up with the engine's ingest on the project's machine;
    /// fjall's own default is one per core up to four.
    pub background_threads: usize,
    /// How [`Store::flush`] makes writes durable.
    pub sync: SyncMode,
    /// Free space kept on the store's disk: writes are refused below it (see
    /// [`Durability::ensure_space`]). 64 MiB holds the largest write the node makes at once
    /// (a bridge batch of 1,000 listings at the 16 KiB envelope cap is 16 MiB, written with
    /// its change log and index segment) several times over.
    pub reserve_bytes: u64,
}

impl Default for StoreConfig {
    fn default() -> Self {
        StoreConfig {
            cache_capacity: crate::budget::MemoryBudget::default().store_cache_bytes(),
            flush_every_ms: 500,
            background_threads: 2,
            sync: SyncMode::default(),
            reserve_bytes: 64 * 1024 * 1024,
        }
    }
}

/// One write the store applied, in change-log order.
#[derive(Clone, Debug)]
pub struct Applied {
    /// The change-log position of this write.
    pub position: u64,
    /// The record now stored.
    pub record: StoredRecord,
    /// The seq of the version it replaced.
    pub replaced: Option<u64>,
    /// The signed envelope of the version it replaced, from the read that decided the new
    /// version (no extra read): listeners that compare versions (the alerts' "price
    /// drop") need it after the store has let it go.
    pub previous: Option<Vec<u8>>,
}

fn id_from(bytes: &[u8], tree: &'static str) -> Result<ListingId, StoreError> {
    let arr: [u8; 16] = bytes.try_into().map_err(|_| StoreError::Corrupt {
        tree,
        reason: format!("listing id of {} bytes", bytes.len()),
    })?;
    Ok(ListingId::from_bytes(arr))
}

fn u64_from(bytes: &[u8], tree: &'static str) -> Result<u64, StoreError> {
    let arr: [u8; 8] = bytes.try_into().map_err(|_| StoreError::Corrupt {
        tree,
        reason: format!("position of {} bytes", bytes.len()),
    })?;
    Ok(u64::from_be_bytes(arr))
}

/// How long `open` waits for the lock of a store that was just closed in this process.
const LOCK_WAIT: Duration = Duration::from_secs(5);

/// Opens sled, waiting a moment for its lock. sled's background I/O threads can still hold the
/// data file (and with it the lock) for a moment after the last handle of a store is dropped,
/// so a store closed and reopened in one process (a node restarted in place) may find it still
/// locked. Another process holding it for longer than `LOCK_WAIT` is another node on the same
/// home, which gets a clear error.
fn open_db(dir: &Path, config: &StoreConfig, wait: Duration) -> Result<sled::Db, StoreError> {
    let deadline = Instant::now() + wait;
    loop {
        let opened = sled::Config::new()
            .path(dir)
            .cache_capacity(config.cache_capacity / 4)
            .flush_every_ms(Some(config.flush_every_ms))
            .open();
        match opened {
            Err(sled::Error::Io(e)) if is_lock_busy(&e) => {
                if Instant::now() >= deadline {
                    return Err(StoreError::Locked {
                        path: dir.display().to_string(),
                    });
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            Err(sled::Error::Io(e)) if is_not_writable(&e) => {
                return Err(StoreError::NotWritable {
                    path: dir.display().to_string(),
                    source: e,
                })
            }
            Err(source @ sled::Error::Corruption { .. }) => {
                return Err(StoreError::Damaged {
                    path: dir.display().to_string(),
                    source: Box::new(source),
                })
            }
            other => return other.map_err(StoreError::sled("opening the store")),
        }
    }
}

/// sled reports a held lock only as text (an `Other` I/O error naming the lock).
fn is_lock_busy(e: &std::io::Error) -> bool {
    e.kind() == std::io::ErrorKind::Other && e.to_string().starts_with("could not acquire lock")
}

impl Store {
    /// Opens (or creates) the store in `dir`, upgrading a store of an older format, and builds
    /// the lookups from the records before it returns.
    pub fn open(dir: &Path, config: &StoreConfig) -> Result<Store, StoreError> {
        let store = Store::open_deferred(dir, config)?;
        store.load(&AtomicBool::new(false), |_, _, _, _| Ok(()), || Ok(()))?;
        Ok(store)
    }

    /// Opens (or creates) the store in `dir`, upgrading a store of an older format, without
    /// building its lookups: [`Store::load`] builds them, on a thread of the caller's choosing.
    /// Until then a record can be read by id, and everything that needs the lookups (writes,
    /// sync sets, a seller's records, the sweeper) waits (`store/lookups.rs`).
    pub fn open_deferred(dir: &Path, config: &StoreConfig) -> Result<Store, StoreError> {
        let db = open_db(dir, config, LOCK_WAIT)?;
        // Opened after sled: sled's lock is what tells two nodes on one home apart.
        let records = Records::open(
            dir,
            config.cache_capacity / 4 * 3,
            (config.cache_capacity / 2).max(1024 * 1024),
            config.background_threads,
            LOCK_WAIT,
        )?;
        let durability = Durability::for_store(
            db.clone(),
            records.clone(),
            dir,
            config.sync,
            config.reserve_bytes,
        )
        .map_err(|e| {
            StoreError::sled("opening the store's files to sync them")(sled::Error::Io(e))
        })?;
        let store = Store {
            durability,
            records,
            meta: db
                .open_tree(TREE_META)
                .map_err(StoreError::sled("opening a tree"))?,
            lookups: Arc::new(GatedLookups::loading()),
            generation: Arc::new(AtomicU64::new(0)),
            db,
        };
        match store
            .meta
            .get(META_FORMAT_KEY)
            .map_err(StoreError::sled("reading the store format"))?
        {
            Some(v) if v.as_ref() == [STORE_FORMAT] => store.finish_upgrade_from_2()?,
            Some(v) if v.as_ref() == [1] => {
                store.upgrade_from_1()?;
                store.upgrade_from_2()?;
            }
            Some(v) if v.as_ref() == [2] => store.upgrade_from_2()?,
            Some(v) => {
                return Err(StoreError::Format {
                    found: v.first().copied().unwrap_or(0),
                    expected: STORE_FORMAT,
                })
            }
            None => {
                store
                    .meta
                    .insert(META_FORMAT_KEY, &[STORE_FORMAT])
                    .map_err(StoreError::sled("writing the store format"))?;
            }
        }
        Ok(store)
    }

    /// Builds the lookups from the records and lets whatever waits for them through. Each
    /// record is also handed to `also` as (id, kind, seller key, stored bytes): the engine
    /// builds its allowance book in the same pass instead of reading every record a second
    /// time. `accept` has the last word before the lookups are let through (the engine refuses
    /// a store that lost the user's records). Stops early when `stop` is set (the node is
    /// shutting down); waiting readers then get an error, as they do when a record cannot be
    /// read or `accept` refuses.
    pub fn load(
        &self,
        stop: &AtomicBool,
        mut also: impl FnMut(ListingId, RecordKind, &[u8; 32], &[u8]) -> Result<(), StoreError>,
        accept: impl FnOnce() -> Result<(), String>,
    ) -> Result<(), StoreError> {
        let refused = |reason: String| {
            self.lookups.fail(reason.clone());
            StoreError::NotLoaded { reason }
        };
        match self.build_lookups(stop, &mut also) {
            Ok(Some(built)) => {
                accept().map_err(refused)?;
                self.lookups.install(built);
                Ok(())
            }
            Ok(None) => Err(refused(
                "the node stopped before the store's lookups were built".to_string(),
            )),
            Err(e) => Err(refused(format!(
                "the store's records could not all be read ({e}); the node takes no writes \
                 until it is restarted"
            ))),
        }
    }

    fn build_lookups(
        &self,
        stop: &AtomicBool,
        also: &mut impl FnMut(ListingId, RecordKind, &[u8; 32], &[u8]) -> Result<(), StoreError>,
    ) -> Result<Option<Lookups>, StoreError> {
        let mut l = Lookups::default();
        for (n, kv) in self.records.iter().enumerate() {
            if n % 4096 == 0 {
                if stop.load(Ordering::Relaxed) {
                    return Ok(None);
                }
                self.lookups.progress(n);
            }
            let (k, v) = kv?;
            let id = id_from(&k, TREE_LISTINGS)?;
            let head = StoredRecord::decode_head(id, &v)?;
            l.link(id, &head);
            also(id, head.kind, &head.seller, &v)?;
        }
        Ok(Some(l))
    }

    /// Where building the lookups stands (without waiting).
    pub fn load_state(&self) -> LoadState {
        self.lookups.state()
    }

    /// Waits until the lookups are built; an error when building them stopped. Blocking.
    pub fn wait_loaded(&self) -> Result<(), StoreError> {
        self.lookups.wait()
    }

    /// The stored bytes of a listing id's record.
    fn raw(&self, id: &ListingId) -> Result<Option<fjall::Slice>, StoreError> {
        self.records.get(id)
    }

    /// The stored record of a listing id.
    pub fn get(&self, id: &ListingId) -> Result<Option<StoredRecord>, StoreError> {
        self.raw(id)?
            .map(|v| StoredRecord::decode(*id, &v))
            .transpose()
    }

    /// Whether the envelope with this hash is the stored version of listing `id`: an in-memory
    /// lookup, no read of the store.
    pub fn is_current(&self, id: &ListingId, hash: &EnvelopeHash) -> bool {
        self.lookups
            .read()
            .is_ok_and(|l| l.id_of_hash(hash).as_ref() == Some(id))
    }

    fn has_id(&self, id: &ListingId) -> Result<bool, StoreError> {
        Ok(self.lookups.read()?.has_id(id))
    }

    /// The stored record whose envelope has this hash (only the current version of a listing
    /// is stored, so older hashes are not found).
    pub fn get_by_hash(&self, hash: &EnvelopeHash) -> Result<Option<StoredRecord>, StoreError> {
        let Some(id) = self.lookups.read()?.id_of_hash(hash) else {
            return Ok(None);
        };
        Ok(self.get(&id)?.filter(|r| r.hash == *hash))
    }

    /// Applies a batch of verified records, deciding each against what is stored (and against
    /// earlier items of the same batch). Returns the decision per item, in order, and the writes
    /// applied in change-log order. Callers serialize writers (the engine's write lock).
    pub fn apply(
        &self,
        records: Vec<StoredRecord>,
    ) -> Result<(Vec<Decision>, Vec<Applied>), StoreError> {
        // Each record is decided against the stored version through the lookups.
        self.lookups.wait()?;
        if !records.is_empty() {
            self.durability.ensure_space()?;
        }
        let mut listings: Vec<RecordWrite> = Vec::new();
        let mut changes = ChangeEntry::default();
        // What the lookups lose and gain once the trees are written, in order (a batch may
        // hold two versions of one listing).
        let mut ops: Vec<(bool, ListingId, Head)> = Vec::new();
        // Items of this batch already accepted, by id -> index in `applied`.
        let mut earlier: HashMap<ListingId, usize> = HashMap::new();
        let mut decisions = Vec::with_capacity(records.len());
        let mut applied: Vec<Applied> = Vec::new();
        for mut incoming in records {
            let head = incoming.head()?;
            // The version this one is decided against, and its stored bytes when it is not
            // an earlier item of this batch.
            let (current, stored): (Option<Head>, Option<fjall::Slice>) =
                match earlier.get(&incoming.id) {
                    Some(&i) => (Some(applied[i].record.head()?), None),
                    // A listing id is derived from its seller's key, so a seller without this
                    // id means the store has no version of it: skip the read (most of what a
                    // node ingests is new to it).
                    None if !self.has_id(&incoming.id)? => (None, None),
                    None => match self.raw(&incoming.id)? {
                        Some(v) => (Some(StoredRecord::decode_head(incoming.id, &v)?), Some(v)),
                        None => (None, None),
                    },
                };
            // The stored version decoded, once, if something below needs it.
            let stored = || {
                stored
                    .as_ref()
                    .map(|v| StoredRecord::decode(incoming.id, v))
                    .transpose()
            };
            let decision = decide_versions(current.as_ref().map(|c| (c.seq, c.hash)), &incoming);
            if let Decision::Accept { replaced } = &decision {
                if let Some(old) = current {
                    // A withdrawal carries no title or price; keep what it withdrew so
                    // "sold: Road bike, 250 EUR" can still be shown.
                    if incoming.kind == RecordKind::Withdrawal && old.kind != RecordKind::Withdrawal
                    {
                        let old_summary = match earlier.get(&incoming.id) {
                            Some(&i) => Some(applied[i].record.summary.clone()),
                            None => stored()?.map(|r| r.summary),
                        };
                        if let Some(s) = old_summary {
                            incoming.summary.inherit(&s);
                        }
                    }
                    ops.push((false, incoming.id, old));
                }
                // The replaced envelope, for listeners that compare versions. A stored version
                // that no longer decodes only leaves them without it.
                let previous = match (replaced, earlier.get(&incoming.id)) {
                    (None, _) => None,
                    (Some(_), Some(&i)) => Some(applied[i].record.envelope.clone()),
                    (Some(_), None) => stored().ok().flatten().map(|r| r.envelope),
                };
                ops.push((true, incoming.id, head));
                listings.push((incoming.id, Some(incoming.encode())));
                let position = self.records.next_position();
                changes.push(position, &incoming.id);
                earlier.insert(incoming.id, applied.len());
                applied.push(Applied {
                    position,
                    record: incoming,
                    replaced: *replaced,
                    previous,
                });
            }
            decisions.push(decision);
        }
        if !applied.is_empty() {
            self.records.write(listings, &changes)?;
            let mut l = self.lookups.write()?;
            for (link, id, head) in &ops {
                if *link {
                    l.link(*id, head);
                } else {
                    l.unlink(*id, head);
                }
            }
            drop(l);
            self.bump_generation();
        }
        Ok((decisions, applied))
    }

    /// Removes every record whose time is up (listings past expiry, withdrawals past
    /// retention). Returns the removed records with their change-log positions.
    pub fn sweep(&self, now: u64) -> Result<Vec<Applied>, StoreError> {
        let due = self.lookups.read()?.due(now);
        // A record replaced by a newer version meanwhile is not due any more.
        self.remove_where(&due, |rec| rec.expires_at <= now)
    }

    /// Removes the records of these ids (every version the store has of them: listings,
    /// withdrawals, wanted posts), e.g. a seller the user blocked. Returns the removed records
    /// with their change-log positions.
    pub fn remove(&self, ids: &[ListingId]) -> Result<Vec<Applied>, StoreError> {
        self.remove_where(ids, |_| true)
    }

    fn remove_where(
        &self,
        ids: &[ListingId],
        keep_out: impl Fn(&StoredRecord) -> bool,
    ) -> Result<Vec<Applied>, StoreError> {
        self.lookups.wait()?;
        let mut removed = Vec::new();
        for chunk in ids.chunks(1000) {
            let mut listings: Vec<RecordWrite> = Vec::new();
            let mut changes = ChangeEntry::default();
            let mut unlinks = Vec::new();
            for id in chunk {
                let Some(rec) = self.get(id)? else { continue };
                if !keep_out(&rec) {
                    continue;
                }
                unlinks.push((*id, rec.head()?));
                listings.push((*id, None));
                let position = self.records.next_position();
                changes.push(position, id);
                removed.push(Applied {
                    position,
                    record: rec,
                    replaced: None,
                    previous: None,
                });
            }
            self.records.write(listings, &changes)?;
            let mut l = self.lookups.write()?;
            for (id, head) in &unlinks {
                l.unlink(*id, head);
            }
            drop(l);
            if !unlinks.is_empty() {
                self.bump_generation();
            }
        }
        Ok(removed)
    }

    /// Makes everything written so far, in any tree, durable (sled's flush, then fdatasync;
    /// see [`Durability`]), sharing the sync with concurrent callers. Call before
    /// acknowledging a write to the local user or a peer. Blocking.
    pub fn flush(&self) -> Result<(), StoreError> {
        self.durability
            .sync()
            .map_err(StoreError::sled("making writes durable"))
    }

    /// The durability point, for components that keep their own trees in this store: they
    /// call [`Durability::sync`] before acknowledging what they wrote.
    pub fn durability(&self) -> &Durability {
        &self.durability
    }

    /// A number that every write (a stored version, a swept record) changes, and nothing else:
    /// a cache of what the store holds is current while it stays the same. Unlike
    /// [`Store::last_change`] it never goes back (trimming the change log empties it, which made
    /// a set built on the empty store look current again after hundreds of writes). It counts
    /// from 0 at every open, so it is for caches in memory, never for anything persisted.
    ///
    /// It moves after the lookups are updated: a reader that saw the old number may have read
    /// the new data (harmless: it rebuilds once more), but one that sees the new number reads
    /// the new data.
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    fn bump_generation(&self) {
        self.generation.fetch_add(1, Ordering::AcqRel);
    }

    /// Every stored record, in id order.
    pub fn iter(&self) -> impl Iterator<Item = Result<StoredRecord, StoreError>> + '_ {
        self.records.iter().map(|kv| {
            let (k, v) = kv?;
            StoredRecord::decode(id_from(&k, TREE_LISTINGS)?, &v)
        })
    }

    /// The ids of a seller's stored records.
    pub fn ids_of_seller(&self, seller: &PublicKey) -> Result<Vec<ListingId>, StoreError> {
        Ok(self.lookups.read()?.ids_of_seller(seller.as_bytes()))
    }

    /// The ids of the stored wanted posts (current versions that are wanted posts, expired
    /// ones until the sweeper removes them).
    pub fn wanted_ids(&self) -> Result<Vec<ListingId>, StoreError> {
        Ok(self.lookups.read()?.wanted_ids())
    }

    /// The members of an area as (signed-at, envelope hash), in no particular order.
    pub fn area_items(&self, area: &str) -> Result<Vec<(u64, EnvelopeHash)>, StoreError> {
        Ok(self.lookups.read()?.area_items(area))
    }

    /// Every record of every area as (signed-at, envelope hash), once each and unsorted: the
    /// set of a node that follows everything.
    pub fn all_area_items(&self) -> Result<Vec<(u64, EnvelopeHash)>, StoreError> {
        Ok(self.lookups.read()?.all_area_items())
    }

    /// Number of records in an area (0 when the lookups could not be built). Waits for the
    /// lookups.
    pub fn area_len(&self, area: &str) -> usize {
        self.lookups.read().map_or(0, |l| l.area_len(area))
    }

    /// A small persisted value of node state (address book, bridge state...).
    pub fn meta_get(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self
            .meta
            .get(key.as_bytes())
            .map_err(StoreError::sled("reading node state"))?
            .map(|v| v.to_vec()))
    }

    /// Stores a small value of node state.
    pub fn meta_put(&self, key: &str, value: &[u8]) -> Result<(), StoreError> {
        self.meta
            .insert(key.as_bytes(), value)
            .map_err(StoreError::sled("writing node state"))?;
        Ok(())
    }

    /// A named tree for another component's own state (e.g. the DHT record store, the bridge).
    pub fn tree(&self, name: &str) -> Result<sled::Tree, StoreError> {
        self.db
            .open_tree(name)
            .map_err(StoreError::sled("opening a tree"))
    }

    /// Counts and size on disk, without waiting: while the lookups are being built, the
    /// records counted so far (see [`Store::load_state`]).
    pub fn stats(&self) -> StoreStats {
        let records = match self.lookups.state() {
            LoadState::Ready => self.lookups.read().map_or(0, |l| l.len()),
            LoadState::Loading { read } => read,
            LoadState::Failed(_) => 0,
        };
        StoreStats {
            records,
            disk_bytes: self.db.size_on_disk().unwrap_or(0) + self.records.disk_bytes(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use swapmeet_protocol::SignedEnvelope;

    pub(super) fn record(n: u64) -> StoredRecord {
        let mut synth = crate::synth::Synth::new(n, 1, 1_800_000_000);
        let env: SignedEnvelope = synth.signed();
        let v = swapmeet_protocol::verify_batch(vec![env], 1_800_000_000)
            .pop()
            .unwrap()
            .unwrap();
        StoredRecord::from_verified(&v)
    }

    #[test]
    fn lookups_are_rebuilt_when_the_store_opens() {
        let dir = tempfile::tempdir().unwrap();
        let rec = record(1);
        {
            let store = Store::open(dir.path(), &StoreConfig::default()).unwrap();
            store.apply(vec![rec.clone()]).unwrap();
            store.flush().unwrap();
        }
        let store = Store::open(dir.path(), &StoreConfig::default()).unwrap();
        assert_eq!(store.get(&rec.id).unwrap().as_ref(), Some(&rec));
        assert_eq!(
            store.get_by_hash(&rec.hash).unwrap().map(|r| r.id),
            Some(rec.id)
        );
        assert_eq!(
            store.area_items(&rec.areas()[0]).unwrap(),
            vec![(rec.signed_at, rec.hash)]
        );
        assert_eq!(
            store.ids_of_seller(&rec.seller().unwrap()).unwrap(),
            vec![rec.id]
        );
        assert_eq!(store.stats().records, 1);
        assert_eq!(store.sweep(rec.expires_at).unwrap().len(), 1);
        assert_eq!(store.stats().records, 0);
        assert!(store.area_items(&rec.areas()[0]).unwrap().is_empty());
    }

    #[test]
    fn a_store_in_use_is_refused_with_a_clear_error_and_reopens_once_closed() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path(), &StoreConfig::default()).unwrap();
        let (_, applied) = store.apply(vec![record(5)]).unwrap();
        assert_eq!(applied.len(), 1);
        let err = open_db(
            dir.path(),
            &StoreConfig::default(),
            Duration::from_millis(50),
        )
        .unwrap_err();
        assert!(matches!(err, StoreError::Locked { .. }), "{err:?}");
        assert!(
            err.to_string().contains("in use by another process"),
            "{err}"
        );
        drop(store);
        // Closed and reopened at once, as a node restarted in place does.
        let store = Store::open(dir.path(), &StoreConfig::default()).unwrap();
        assert_eq!(store.stats().records, 1);
    }

    #[test]
    fn two_versions_in_one_batch_leave_only_the_newer_in_the_lookups() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path(), &StoreConfig::default()).unwrap();
        let a = record(4);
        let mut b = a.clone();
        b.seq += 1;
        b.hash = EnvelopeHash([0xff; 32]);
        let (decisions, applied) = store.apply(vec![a.clone(), b.clone()]).unwrap();
        assert_eq!(decisions.len(), 2);
        assert_eq!(applied.len(), 2);
        assert!(store.get_by_hash(&a.hash).unwrap().is_none());
        assert_eq!(
            store.area_items(&a.areas()[0]).unwrap(),
            vec![(b.signed_at, b.hash)]
        );
        assert_eq!(store.stats().records, 1);
    }

    #[test]
    fn the_generation_moves_with_every_write_and_never_back() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path(), &StoreConfig::default()).unwrap();
        let g0 = store.generation();
        let (_, a) = store.apply((20..23).map(record).collect()).unwrap();
        let g1 = store.generation();
        assert!(g1 > g0);
        // Trimming the whole change log (what an index commit does) is no write.
        store.trim_changes(a[2].position).unwrap();
        assert_eq!(store.last_change().unwrap(), None);
        assert_eq!(store.generation(), g1);
        // A batch that stores nothing (versions already held) is no write either.
        store.apply((20..23).map(record).collect()).unwrap();
        assert_eq!(store.generation(), g1);
        store.apply(vec![record(24)]).unwrap();
        assert!(store.generation() > g1);
    }

    #[test]
    fn versions_are_decided_the_same_way_everywhere() {
        let a = record(2);
        let mut newer = a.clone();
        newer.seq += 1;
        newer.hash = EnvelopeHash([0; 32]);
        assert_eq!(decide(None, &a), Decision::Accept { replaced: None });
        assert_eq!(decide(Some(&a), &a), Decision::Duplicate);
        assert_eq!(
            decide(Some(&a), &newer),
            Decision::Accept {
                replaced: Some(a.seq)
            }
        );
        assert_eq!(
            decide(Some(&newer), &a),
            Decision::Stale {
                current_seq: newer.seq
            }
        );
    }
}
