//! The sled store: the node's source of truth.
//!
//! Everything the node knows about listings lives here; the search index is derived from it and
//! can always be rebuilt from it. Each listing id maps to exactly one record: the newest version
//! (listing or withdrawal) the node has accepted. Secondary trees make the lookups the rest of the
//! node needs cheap. A write goes to every tree in a fixed order inside a pending marker, so a
//! crash never leaves them disagreeing for long: the next open repairs them (see `Store::write`).
//!
//! Trees (names are constants so an operator can inspect them with sled tooling):
//! - [`TREE_LISTINGS`]: listing id -> [`StoredRecord`] (header, summary, exact envelope bytes).
//! - [`TREE_BY_HASH`]: envelope hash -> listing id (sync fetches by hash).
//! - [`TREE_AREAS`]: area tag + signed-at + hash -> listing id (per-area sets for sync).
//! - [`TREE_EXPIRY`]: expires-at + listing id (the sweeper's agenda).
//! - [`TREE_BY_SELLER`]: seller key + listing id (a seller's own listings).
//! - [`TREE_CHANGES`]: change position -> listing id (what the index has yet to see).
//! - [`TREE_META`]: store format version and small node state.

use std::path::Path;

mod record;

use std::collections::HashMap;

use serde::Serialize;
use swapmeet_protocol::{EnvelopeHash, ListingId, PublicKey};

pub use record::{decide, Decision, RecordKind, StoredRecord, Summary};

/// Tree of the newest record per listing id.
pub const TREE_LISTINGS: &str = "listings/v1";
/// Tree from envelope hash to listing id.
pub const TREE_BY_HASH: &str = "by-hash/v1";
/// Tree of per-area membership, ordered by signing time (for set reconciliation).
pub const TREE_AREAS: &str = "areas/v1";
/// Tree of expiry times, ordered, for the sweeper.
pub const TREE_EXPIRY: &str = "expiry/v1";
/// Tree of listings per seller.
pub const TREE_BY_SELLER: &str = "by-seller/v1";
/// Ordered change log consumed by the search index.
pub const TREE_CHANGES: &str = "changes/v1";
/// Small metadata values.
pub const TREE_META: &str = "meta";

/// Present while a write is spread over several trees; found on open, it means a crash cut
/// the write short and the secondary trees are rebuilt.
const META_PENDING_KEY: &[u8] = b"write-pending";

/// The batches of one write, one per tree.
#[derive(Default)]
struct Writes {
    listings: sled::Batch,
    by_hash: sled::Batch,
    areas: sled::Batch,
    expiry: sled::Batch,
    by_seller: sled::Batch,
    changes: sled::Batch,
    len: usize,
}

impl Writes {
    fn is_empty(&self) -> bool {
        self.len == 0
    }

    fn link(&mut self, rec: &StoredRecord) -> Result<(), StoreError> {
        self.listings
            .insert(rec.id.as_bytes().as_slice(), rec.encode());
        self.link_secondary(rec)
    }

    fn link_secondary(&mut self, rec: &StoredRecord) -> Result<(), StoreError> {
        self.len += 1;
        self.by_hash
            .insert(&rec.hash.0, rec.id.as_bytes().as_slice());
        for area in rec.areas() {
            self.areas.insert(
                area_key(&area, rec.signed_at, &rec.hash),
                rec.id.as_bytes().as_slice(),
            );
        }
        self.expiry
            .insert(expiry_key(rec.expires_at, &rec.id).as_slice(), &[]);
        self.by_seller
            .insert(seller_key(&rec.seller()?, &rec.id).as_slice(), &[]);
        Ok(())
    }

    fn unlink(&mut self, rec: &StoredRecord) {
        self.len += 1;
        self.by_hash.remove(&rec.hash.0);
        for area in rec.areas() {
            self.areas.remove(area_key(&area, rec.signed_at, &rec.hash));
        }
        self.expiry
            .remove(expiry_key(rec.expires_at, &rec.id).as_slice());
    }
}

/// The format of the values written by this version; checked on open.
const STORE_FORMAT: u8 = 1;
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

/// Errors of the store. Each names what was being done.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// sled failed (disk full, I/O error, corruption).
    #[error("store: {context}")]
    Sled {
        /// What the store was doing.
        context: &'static str,
        /// The underlying error.
        #[source]
        source: sled::Error,
    },
    /// A value in the store could not be read back; the store is damaged or from another version.
    #[error("store: corrupt value in {tree}: {reason}")]
    Corrupt {
        /// Which tree.
        tree: &'static str,
        /// What was wrong.
        reason: String,
    },
    /// The store was written by an incompatible version of swapmeet.
    #[error("store format {found} is not supported by this version (expects {expected}); use a matching swapmeet or a new home")]
    Format {
        /// Found on disk.
        found: u8,
        /// What this build writes.
        expected: u8,
    },
}

impl StoreError {
    fn sled(context: &'static str) -> impl FnOnce(sled::Error) -> StoreError {
        move |source| StoreError::Sled { context, source }
    }
}

/// Counts the store can report cheaply.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct StoreStats {
    /// Records (listings and withdrawals) stored.
    pub records: usize,
    /// Bytes on disk.
    pub disk_bytes: u64,
}

/// The sled store. Cheap to clone (sled handles are reference counted).
#[derive(Clone)]
pub struct Store {
    db: sled::Db,
    listings: sled::Tree,
    by_hash: sled::Tree,
    areas: sled::Tree,
    expiry: sled::Tree,
    by_seller: sled::Tree,
    changes: sled::Tree,
    meta: sled::Tree,
}

/// Settings of the store.
#[derive(Clone, Debug)]
pub struct StoreConfig {
    /// sled page cache in bytes. Set explicitly because sled's default (1 GiB) is far more
    /// than a consumer's background process should take.
    pub cache_capacity: u64,
    /// How often sled flushes on its own. Local writes are flushed explicitly before they are
    /// acknowledged; this bounds what peers' data a crash can lose (it comes back by sync).
    pub flush_every_ms: u64,
}

impl Default for StoreConfig {
    fn default() -> Self {
        StoreConfig {
            cache_capacity: 128 * 1024 * 1024,
            flush_every_ms: 500,
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
}

fn area_key(area: &str, signed_at: u64, hash: &EnvelopeHash) -> Vec<u8> {
    let mut k = Vec::with_capacity(area.len() + 1 + 8 + 32);
    k.extend_from_slice(area.as_bytes());
    // Area tags have different lengths; a separator keeps "u33d" from being a prefix scan
    // match of a longer tag.
    k.push(b'/');
    k.extend_from_slice(&signed_at.to_be_bytes());
    k.extend_from_slice(&hash.0);
    k
}

fn expiry_key(expires_at: u64, id: &ListingId) -> [u8; 24] {
    let mut k = [0u8; 24];
    k[..8].copy_from_slice(&expires_at.to_be_bytes());
    k[8..].copy_from_slice(id.as_bytes());
    k
}

fn seller_key(seller: &PublicKey, id: &ListingId) -> [u8; 48] {
    let mut k = [0u8; 48];
    k[..32].copy_from_slice(seller.as_bytes());
    k[32..].copy_from_slice(id.as_bytes());
    k
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

impl Store {
    /// Opens (or creates) the store in `dir`.
    pub fn open(dir: &Path, config: &StoreConfig) -> Result<Store, StoreError> {
        let db = sled::Config::new()
            .path(dir)
            .cache_capacity(config.cache_capacity)
            .flush_every_ms(Some(config.flush_every_ms))
            .open()
            .map_err(StoreError::sled("opening the store"))?;
        let tree = |name: &'static str| {
            db.open_tree(name)
                .map_err(StoreError::sled("opening a tree"))
        };
        let store = Store {
            listings: tree(TREE_LISTINGS)?,
            by_hash: tree(TREE_BY_HASH)?,
            areas: tree(TREE_AREAS)?,
            expiry: tree(TREE_EXPIRY)?,
            by_seller: tree(TREE_BY_SELLER)?,
            changes: tree(TREE_CHANGES)?,
            meta: tree(TREE_META)?,
            db,
        };
        match store
            .meta
            .get(META_FORMAT_KEY)
            .map_err(StoreError::sled("reading the store format"))?
        {
            Some(v) if v.as_ref() == [STORE_FORMAT] => {}
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
        if store
            .meta
            .get(META_PENDING_KEY)
            .map_err(StoreError::sled("reading the write marker"))?
            .is_some()
        {
            tracing::warn!(
                "the last write was cut short (crash?); rebuilding the store's secondary trees"
            );
            store.repair()?;
        }
        Ok(store)
    }

    /// The stored record of a listing id.
    pub fn get(&self, id: &ListingId) -> Result<Option<StoredRecord>, StoreError> {
        match self
            .listings
            .get(id.as_bytes())
            .map_err(StoreError::sled("reading a listing"))?
        {
            Some(v) => Ok(Some(StoredRecord::decode(*id, &v)?)),
            None => Ok(None),
        }
    }

    /// The stored record whose envelope has this hash (only the current version of a listing
    /// is stored, so older hashes are not found).
    pub fn get_by_hash(&self, hash: &EnvelopeHash) -> Result<Option<StoredRecord>, StoreError> {
        let Some(id) = self
            .by_hash
            .get(hash.0)
            .map_err(StoreError::sled("reading the hash index"))?
        else {
            return Ok(None);
        };
        let id = id_from(&id, TREE_BY_HASH)?;
        Ok(self.get(&id)?.filter(|r| r.hash == *hash))
    }

    /// Applies a batch of verified records, deciding each against what is stored (and against
    /// earlier items of the same batch). Returns the decision per item, in order, and the writes
    /// applied in change-log order. Callers serialize writers (the engine's write lock).
    pub fn apply(
        &self,
        records: &[StoredRecord],
    ) -> Result<(Vec<Decision>, Vec<Applied>), StoreError> {
        let mut w = Writes::default();
        let mut overlay: HashMap<ListingId, StoredRecord> = HashMap::new();
        let mut decisions = Vec::with_capacity(records.len());
        let mut applied: Vec<Applied> = Vec::new();
        for incoming in records {
            let current = match overlay.get(&incoming.id) {
                Some(r) => Some(r.clone()),
                None => self.get(&incoming.id)?,
            };
            let decision = decide(current.as_ref(), incoming);
            if let Decision::Accept { replaced } = &decision {
                let mut incoming = incoming.clone();
                if let Some(old) = &current {
                    w.unlink(old);
                    // A withdrawal carries no title or price; keep what it withdrew so
                    // "sold: Road bike, 250 EUR" can still be shown.
                    if incoming.kind == RecordKind::Withdrawal {
                        incoming.summary.inherit(&old.summary);
                    }
                }
                w.link(&incoming)?;
                let position = self
                    .db
                    .generate_id()
                    .map_err(StoreError::sled("numbering a change"))?;
                w.changes
                    .insert(&position.to_be_bytes(), incoming.id.as_bytes());
                overlay.insert(incoming.id, incoming.clone());
                applied.push(Applied {
                    position,
                    record: incoming,
                    replaced: *replaced,
                });
            }
            decisions.push(decision);
        }
        self.write(w)?;
        Ok((decisions, applied))
    }

    /// Writes one batch per tree. sled makes each batch atomic and recovers a prefix of its log
    /// after a crash, so the order matters: the change log first (a crash after it only makes
    /// the index re-read what is stored), then the records, then the secondary trees, inside a
    /// pending marker that makes the next open rebuild the secondary trees if a crash cut the
    /// sequence short. One batch per tree is much cheaper than a multi-tree transaction
    /// (measured: 108 us per listing with a transaction).
    fn write(&self, w: Writes) -> Result<(), StoreError> {
        if w.is_empty() {
            return Ok(());
        }
        let ctx = StoreError::sled;
        self.meta
            .insert(META_PENDING_KEY, &[1])
            .map_err(ctx("marking a write"))?;
        self.changes
            .apply_batch(w.changes)
            .map_err(ctx("writing the change log"))?;
        self.listings
            .apply_batch(w.listings)
            .map_err(ctx("writing listings"))?;
        self.by_hash
            .apply_batch(w.by_hash)
            .map_err(ctx("writing the hash index"))?;
        self.areas
            .apply_batch(w.areas)
            .map_err(ctx("writing the area index"))?;
        self.expiry
            .apply_batch(w.expiry)
            .map_err(ctx("writing the expiry index"))?;
        self.by_seller
            .apply_batch(w.by_seller)
            .map_err(ctx("writing the seller index"))?;
        self.meta
            .remove(META_PENDING_KEY)
            .map_err(ctx("marking a write"))?;
        Ok(())
    }

    /// Rebuilds the secondary trees from the records (after a crash in the middle of a write).
    fn repair(&self) -> Result<(), StoreError> {
        let ctx = StoreError::sled;
        for t in [&self.by_hash, &self.areas, &self.expiry, &self.by_seller] {
            t.clear().map_err(ctx("clearing a secondary tree"))?;
        }
        let mut w = Writes::default();
        for rec in self.iter() {
            let rec = rec?;
            w.link_secondary(&rec)?;
            if w.len >= 10_000 {
                self.write(std::mem::take(&mut w))?;
            }
        }
        self.write(w)?;
        self.meta
            .remove(META_PENDING_KEY)
            .map_err(ctx("marking a write"))?;
        Ok(())
    }

    /// Removes every record whose time is up (listings past expiry, withdrawals past
    /// retention). Returns the removed records with their change-log positions.
    pub fn sweep(&self, now: u64) -> Result<Vec<Applied>, StoreError> {
        let due: Vec<ListingId> = self
            .expiry
            .range(..expiry_key(now.saturating_add(1), &ListingId::from_bytes([0; 16])))
            .keys()
            .map(|k| {
                let k = k.map_err(StoreError::sled("scanning expiries"))?;
                id_from(&k[8..], TREE_EXPIRY)
            })
            .collect::<Result<_, _>>()?;
        let mut removed = Vec::new();
        for chunk in due.chunks(1000) {
            let mut w = Writes::default();
            for id in chunk {
                let Some(rec) = self.get(id)? else { continue };
                if rec.expires_at > now {
                    continue; // replaced by a newer version meanwhile
                }
                w.unlink(&rec);
                w.listings.remove(id.as_bytes().as_slice());
                w.by_seller
                    .remove(seller_key(&rec.seller()?, id).as_slice());
                let position = self
                    .db
                    .generate_id()
                    .map_err(StoreError::sled("numbering a change"))?;
                w.changes.insert(&position.to_be_bytes(), id.as_bytes());
                removed.push(Applied {
                    position,
                    record: rec,
                    replaced: None,
                });
            }
            self.write(w)?;
        }
        Ok(removed)
    }

    /// Makes everything written so far durable (fsync). Call before acknowledging a write the
    /// local user authored.
    pub fn flush(&self) -> Result<(), StoreError> {
        self.db
            .flush()
            .map_err(StoreError::sled("flushing to disk"))?;
        Ok(())
    }

    /// Change-log entries after `position`, in order: (position, listing id).
    pub fn changes_after(
        &self,
        position: Option<u64>,
    ) -> impl Iterator<Item = Result<(u64, ListingId), StoreError>> + '_ {
        let start = position.map(|p| p.saturating_add(1)).unwrap_or(0);
        self.changes.range(start.to_be_bytes()..).map(|kv| {
            let (k, v) = kv.map_err(StoreError::sled("reading the change log"))?;
            Ok((u64_from(&k, TREE_CHANGES)?, id_from(&v, TREE_CHANGES)?))
        })
    }

    /// The last change-log position, if any.
    pub fn last_change(&self) -> Result<Option<u64>, StoreError> {
        match self
            .changes
            .last()
            .map_err(StoreError::sled("reading the change log"))?
        {
            Some((k, _)) => Ok(Some(u64_from(&k, TREE_CHANGES)?)),
            None => Ok(None),
        }
    }

    /// Forgets change-log entries up to and including `position` (the index has them).
    pub fn trim_changes(&self, position: u64) -> Result<(), StoreError> {
        let mut batch = sled::Batch::default();
        for k in self.changes.range(..=position.to_be_bytes()).keys() {
            batch.remove(k.map_err(StoreError::sled("trimming the change log"))?);
        }
        self.changes
            .apply_batch(batch)
            .map_err(StoreError::sled("trimming the change log"))
    }

    /// Every stored record, in id order.
    pub fn iter(&self) -> impl Iterator<Item = Result<StoredRecord, StoreError>> + '_ {
        self.listings.iter().map(|kv| {
            let (k, v) = kv.map_err(StoreError::sled("scanning listings"))?;
            StoredRecord::decode(id_from(&k, TREE_LISTINGS)?, &v)
        })
    }

    /// The ids of a seller's stored records.
    pub fn ids_of_seller(&self, seller: &PublicKey) -> Result<Vec<ListingId>, StoreError> {
        self.by_seller
            .scan_prefix(seller.as_bytes())
            .keys()
            .map(|k| {
                let k = k.map_err(StoreError::sled("scanning a seller's listings"))?;
                id_from(&k[32..], TREE_BY_SELLER)
            })
            .collect()
    }

    /// The members of an area, ordered by signing time: (signed-at, envelope hash).
    pub fn area_items(&self, area: &str) -> Result<Vec<(u64, EnvelopeHash)>, StoreError> {
        let mut prefix = area.as_bytes().to_vec();
        prefix.push(b'/');
        self.areas
            .scan_prefix(&prefix)
            .keys()
            .map(|k| {
                let k = k.map_err(StoreError::sled("scanning an area"))?;
                let rest = &k[prefix.len()..];
                if rest.len() != 40 {
                    return Err(StoreError::Corrupt {
                        tree: TREE_AREAS,
                        reason: format!("key of {} bytes", k.len()),
                    });
                }
                let signed_at = u64_from(&rest[..8], TREE_AREAS)?;
                let mut h = [0u8; 32];
                h.copy_from_slice(&rest[8..]);
                Ok((signed_at, EnvelopeHash(h)))
            })
            .collect()
    }

    /// Every record of every area as (signed-at, envelope hash), unsorted and with duplicates
    /// (a listing that ships is in its cell and in `ship`): the set of a node that follows
    /// everything.
    pub fn all_area_items(&self) -> Result<Vec<(u64, EnvelopeHash)>, StoreError> {
        self.areas
            .iter()
            .keys()
            .map(|k| {
                let k = k.map_err(StoreError::sled("scanning the areas"))?;
                if k.len() < 41 {
                    return Err(StoreError::Corrupt {
                        tree: TREE_AREAS,
                        reason: format!("key of {} bytes", k.len()),
                    });
                }
                let rest = &k[k.len() - 40..];
                let signed_at = u64_from(&rest[..8], TREE_AREAS)?;
                let mut h = [0u8; 32];
                h.copy_from_slice(&rest[8..]);
                Ok((signed_at, EnvelopeHash(h)))
            })
            .collect()
    }

    /// Number of records in an area.
    pub fn area_len(&self, area: &str) -> usize {
        let mut prefix = area.as_bytes().to_vec();
        prefix.push(b'/');
        self.areas.scan_prefix(&prefix).count()
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

    /// Counts and size on disk.
    pub fn stats(&self) -> StoreStats {
        StoreStats {
            records: self.listings.len(),
            disk_bytes: self.db.size_on_disk().unwrap_or(0),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use swapmeet_protocol::SignedEnvelope;

    fn record(n: u64) -> StoredRecord {
        let mut synth = crate::synth::Synth::new(n, 1, 1_800_000_000);
        let env: SignedEnvelope = synth.signed();
        let v = swapmeet_protocol::verify_batch(vec![env], 1_800_000_000)
            .pop()
            .unwrap()
            .unwrap();
        StoredRecord::from_verified(&v)
    }

    #[test]
    fn a_write_cut_short_is_repaired_on_open() {
        let dir = tempfile::tempdir().unwrap();
        let rec = record(1);
        {
            let store = Store::open(dir.path(), &StoreConfig::default()).unwrap();
            store.apply(std::slice::from_ref(&rec)).unwrap();
            // Simulate a crash after the records were written but before the secondary trees:
            // the marker is still set and a secondary entry is missing.
            store.by_hash.remove(rec.hash.0).unwrap();
            store.meta.insert(META_PENDING_KEY, &[1]).unwrap();
            store.flush().unwrap();
        }
        let store = Store::open(dir.path(), &StoreConfig::default()).unwrap();
        assert_eq!(
            store.get_by_hash(&rec.hash).unwrap().map(|r| r.id),
            Some(rec.id)
        );
        assert!(store.meta.get(META_PENDING_KEY).unwrap().is_none());
        assert_eq!(store.area_items(&rec.areas()[0]).unwrap().len(), 1);
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
