//! The DHT: a private Kademlia (`/swapmeet/kad/1.0.0`) for peer routing, listing records and
//! area provider records.
//!
//! - **Listing records** live under `/listing/<listing id>` and hold the signed envelope bytes as
//!   they were signed (a listing or its withdrawal). A record expires with the listing (the
//!   withdrawal's retention for a withdrawal). Every node that holds one re-puts it to the
//!   closest peers on Kademlia's replication interval, so a listing stays reachable while its
//!   seller is offline, until it expires.
//! - **Inbound puts are filtered** (`StoreInserts::FilterBoth`): a record is stored only if its
//!   envelope verifies, its key is the key of the listing inside, and it is newer than the
//!   version held (the store's version order: seq, then envelope hash).
//! - **Records are persisted** in the sled tree [`KAD_TREE`] so they survive a restart.
//!   Kademlia calls the store on the event loop, so the store never writes there: changes wait
//!   in memory (and are read from there) until the loop hands them to its executor as one
//!   [`DhtWrites`] batch. Provider records are kept in memory: their providers re-announce
//!   them.
//! - **Provider records** live under `/area/<area tag>`: every node announces the areas it
//!   follows, so a new node finds peers that carry its area and syncs from them; and under
//!   `/blob/<hex hash>`: every node announces the photos and thumbnails it holds
//!   (`network/blobs.rs`), so a buyer finds a copy while the seller is offline.

use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use libp2p::kad::store::{self, MemoryStore, MemoryStoreConfig, RecordStore};
use libp2p::kad::{ProviderRecord, Record, RecordKey};
use libp2p::PeerId;
use sha2::{Digest, Sha256};
use swapmeet_protocol::limits::{DHT_AREA_PREFIX, DHT_LISTING_PREFIX, MAX_ENVELOPE_BYTES};
use swapmeet_protocol::{EnvelopeHash, ListingId, SignedEnvelope, ValidationError, Verified};

use crate::engine::Clock;
use crate::network::gossip::is_area_tag;

/// The sled tree of the node's DHT records.
pub const KAD_TREE: &str = "kad-records/v1";
/// Most listing records a node holds for the DHT (beyond that, puts of new keys are refused).
pub const MAX_DHT_RECORDS: usize = 20_000;
/// Most keys with provider records held (areas and blobs; see `ListingRecordStore::open`).
pub const MAX_PROVIDER_KEYS: usize = 32_768;
/// Format byte of the values in [`KAD_TREE`].
const RECORD_FORMAT: u8 = 1;
/// Fixed part of a stored value: format, expires-at, seq, hash, publisher length.
const HEADER_LEN: usize = 1 + 8 + 8 + 32 + 1;

/// The DHT key of a listing.
pub fn listing_key(id: &ListingId) -> RecordKey {
    RecordKey::new(&format!("{DHT_LISTING_PREFIX}{id}"))
}

/// The DHT key of an area's providers.
pub fn area_key(area: &str) -> RecordKey {
    RecordKey::new(&format!("{DHT_AREA_PREFIX}{area}"))
}

/// The listing id of a listing key. Only the key [`listing_key`] writes is one: listing ids
/// parse in either case, and a key in another case would let a peer store one listing under
/// many keys, each counted against [`MAX_DHT_RECORDS`] (found by `node/fuzz`'s `dht_record`).
pub fn parse_listing_key(key: &RecordKey) -> Option<ListingId> {
    let id: ListingId = std::str::from_utf8(key.as_ref())
        .ok()?
        .strip_prefix(DHT_LISTING_PREFIX)?
        .parse()
        .ok()?;
    (listing_key(&id) == *key).then_some(id)
}

/// The area tag of an area key.
pub fn parse_area_key(key: &RecordKey) -> Option<&str> {
    std::str::from_utf8(key.as_ref())
        .ok()?
        .strip_prefix(DHT_AREA_PREFIX)
        .filter(|a| is_area_tag(a))
}

/// What the store keeps beside a record's bytes, taken from the verified envelope.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Meta {
    /// When the record may be forgotten (unix seconds).
    pub expires_at: u64,
    /// The version.
    pub seq: u64,
    /// The envelope hash (tie-break of equal versions).
    pub hash: EnvelopeHash,
}

impl Meta {
    /// The meta of a verified record.
    pub fn of(v: &Verified<swapmeet_protocol::Record>) -> Meta {
        Meta {
            expires_at: v.payload().expires_at(),
            seq: v.payload().seq(),
            hash: v.hash(),
        }
    }

    /// Whether this version replaces `other` (greater seq, ties to the greater hash: the
    /// store's version order).
    pub fn newer_than(&self, other: &Meta) -> bool {
        (self.seq, self.hash.0) > (other.seq, other.hash.0)
    }
}

/// Why a record is refused.
#[derive(Debug, thiserror::Error)]
pub enum RecordError {
    /// The key is not a listing key.
    #[error("key is not /listing/<id>")]
    BadKey,
    /// The envelope is invalid.
    #[error("invalid envelope: {0}")]
    Invalid(#[from] ValidationError),
    /// The key names another listing than the envelope holds.
    #[error("key {key} holds listing {actual}")]
    WrongKey {
        /// The listing id of the key.
        key: ListingId,
        /// The listing id of the envelope.
        actual: ListingId,
    },
}

impl RecordError {
    /// Whether the sender is at fault (as opposed to a clock difference).
    pub fn is_peer_fault(&self) -> bool {
        !matches!(
            self,
            RecordError::Invalid(
                ValidationError::Expired { .. } | ValidationError::FromFuture { .. }
            )
        )
    }
}

/// Verifies a record's envelope and that it sits under its own key.
pub fn verify_record(
    key: &RecordKey,
    value: &[u8],
    now: u64,
) -> Result<Verified<swapmeet_protocol::Record>, RecordError> {
    let id = parse_listing_key(key).ok_or(RecordError::BadKey)?;
    let v = SignedEnvelope::decode(value)?.verify(now)?;
    if v.listing_id() != id {
        return Err(RecordError::WrongKey {
            key: id,
            actual: v.listing_id(),
        });
    }
    Ok(v)
}

/// A record checked off the event loop, ready to be stored.
#[derive(Debug)]
pub struct CheckedRecord {
    /// The record.
    pub record: Record,
    /// Its meta.
    pub meta: Meta,
}

/// What to do with a record a peer put. Blocking (verifies a signature, reads sled).
pub fn check_put(
    tree: &sled::Tree,
    record: Record,
    now: u64,
) -> Result<Option<CheckedRecord>, RecordError> {
    let v = verify_record(&record.key, &record.value, now)?;
    let meta = Meta::of(&v);
    let held = tree
        .get(record.key.as_ref())
        .ok()
        .flatten()
        .and_then(|b| decode_value(&b).map(|(m, _, _)| m));
    if held.is_some_and(|h| !meta.newer_than(&h)) {
        return Ok(None);
    }
    Ok(Some(CheckedRecord { record, meta }))
}

fn encode_value(meta: &Meta, publisher: Option<&PeerId>, value: &[u8]) -> Vec<u8> {
    let publisher = publisher.map(|p| p.to_bytes()).unwrap_or_default();
    let mut out = Vec::with_capacity(HEADER_LEN + publisher.len() + value.len());
    out.push(RECORD_FORMAT);
    out.extend_from_slice(&meta.expires_at.to_be_bytes());
    out.extend_from_slice(&meta.seq.to_be_bytes());
    out.extend_from_slice(&meta.hash.0);
    // A PeerId is at most 64 bytes (identity multihash of a key, or a sha256 multihash).
    out.push(publisher.len().min(255) as u8);
    out.extend_from_slice(&publisher);
    out.extend_from_slice(value);
    out
}

fn decode_value(b: &[u8]) -> Option<(Meta, Option<PeerId>, &[u8])> {
    if b.len() < HEADER_LEN || b[0] != RECORD_FORMAT {
        return None;
    }
    let expires_at = u64::from_be_bytes(b[1..9].try_into().ok()?);
    let seq = u64::from_be_bytes(b[9..17].try_into().ok()?);
    let hash = EnvelopeHash(b[17..49].try_into().ok()?);
    let plen = b[49] as usize;
    let rest = &b[HEADER_LEN..];
    if rest.len() < plen {
        return None;
    }
    let publisher = if plen == 0 {
        None
    } else {
        Some(PeerId::from_bytes(&rest[..plen]).ok()?)
    };
    Some((
        Meta {
            expires_at,
            seq,
            hash,
        },
        publisher,
        &rest[plen..],
    ))
}

/// The node's Kademlia record store: listing records in sled (verified, versioned, expiring
/// with the listing), provider records in memory.
pub struct ListingRecordStore {
    tree: sled::Tree,
    providers: MemoryStore,
    clock: Clock,
    max_records: usize,
    // sled's `Tree::len` scans the whole tree; the status asks every 500 ms and every new
    // record checks the cap, so the count is kept here.
    count: usize,
    /// Changes not handed to a write yet (`None`: removed). At most one per key, so bounded by
    /// the records held plus those removed since the last write.
    pending: HashMap<Vec<u8>, Option<Vec<u8>>>,
    /// Changes being written now; read from here until the write is done.
    writing: Arc<HashMap<Vec<u8>, Option<Vec<u8>>>>,
    /// Signers whose records are not served (the sellers the user blocked): held records of
    /// theirs are neither answered nor republished, and are removed when the engine deletes
    /// their records (`remove`).
    hidden_signers: Option<SignerFilter>,
}

/// Whether records of a signer (its 32 key bytes) are held back.
pub type SignerFilter = Arc<dyn Fn(&[u8; 32]) -> bool + Send + Sync>;

/// A batch of DHT record changes to write off the event loop.
pub struct DhtWrites {
    tree: sled::Tree,
    changes: Arc<HashMap<Vec<u8>, Option<Vec<u8>>>>,
}

impl DhtWrites {
    /// Writes the batch (sled makes it durable on its next flush; the engine flushes on
    /// shutdown). Blocking.
    pub fn write(self) {
        let mut batch = sled::Batch::default();
        for (k, v) in self.changes.iter() {
            match v {
                Some(v) => batch.insert(k.as_slice(), v.as_slice()),
                None => batch.remove(k.as_slice()),
            }
        }
        if let Err(e) = self.tree.apply_batch(batch) {
            tracing::warn!(error = %e, "writing DHT records failed");
        }
    }
}

impl ListingRecordStore {
    /// Opens the store over `tree`, dropping records that expired while the node was off.
    pub fn open(tree: sled::Tree, local_id: PeerId, clock: Clock) -> ListingRecordStore {
        let now = clock();
        let mut expired = Vec::new();
        let mut count = 0;
        for (k, v) in tree.iter().flatten() {
            match decode_value(&v) {
                Some((m, _, _)) if m.expires_at > now => count += 1,
                _ => expired.push(k),
            }
        }
        for k in expired {
            let _ = tree.remove(k);
        }
        let providers = MemoryStore::with_config(
            local_id,
            MemoryStoreConfig {
                max_records: 0,
                max_value_bytes: 0,
                max_providers_per_key: libp2p::kad::K_VALUE.get(),
                // Keys with provider records, this node's and its peers' together: the areas
                // plus every photo and thumbnail held here or announced to us (a node carrying
                // 10,000 listings with thumbnails announces 10,000 or more). At most ~20
                // providers of ~100 bytes per key, so a full map stays in the tens of MB.
                max_provided_keys: MAX_PROVIDER_KEYS,
            },
        );
        ListingRecordStore {
            tree,
            providers,
            clock,
            max_records: MAX_DHT_RECORDS,
            count,
            pending: HashMap::new(),
            writing: Arc::default(),
            hidden_signers: None,
        }
    }

    /// The stored bytes under `key`: the latest change if one waits, else the tree's.
    fn raw(&self, key: &[u8]) -> Option<Vec<u8>> {
        if let Some(v) = self.pending.get(key).or_else(|| self.writing.get(key)) {
            return v.clone();
        }
        self.tree.get(key).ok().flatten().map(|v| v.to_vec())
    }

    /// The changes to write, unless none wait or the last batch is still being written (so
    /// batches land in order).
    pub fn take_writes(&mut self) -> Option<DhtWrites> {
        if self.pending.is_empty() || !self.writing.is_empty() {
            return None;
        }
        self.writing = Arc::new(std::mem::take(&mut self.pending));
        Some(DhtWrites {
            tree: self.tree.clone(),
            changes: self.writing.clone(),
        })
    }

    /// The batch from [`ListingRecordStore::take_writes`] was written.
    pub fn writes_done(&mut self) {
        self.writing = Arc::default();
    }

    /// Changes not written yet.
    pub fn unwritten(&self) -> usize {
        self.pending.len() + self.writing.len()
    }

    /// The sled tree (readable from blocking tasks).
    pub fn tree(&self) -> &sled::Tree {
        &self.tree
    }

    /// Number of listing records held.
    pub fn len(&self) -> usize {
        self.count
    }

    /// Whether no record is held.
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// Stores a record that was checked off the event loop, unless a newer version arrived
    /// meanwhile.
    pub fn put_checked(&mut self, c: CheckedRecord) -> store::Result<()> {
        self.write(&c.record, c.meta)
    }

    fn write(&mut self, r: &Record, meta: Meta) -> store::Result<()> {
        if r.value.len() > MAX_ENVELOPE_BYTES {
            return Err(store::Error::ValueTooLarge);
        }
        let held = self.raw(r.key.as_ref());
        let is_new = held.is_none();
        match held.as_deref().and_then(decode_value) {
            Some((h, _, _)) if !meta.newer_than(&h) => return Ok(()),
            Some(_) => {}
            None if self.count >= self.max_records => return Err(store::Error::MaxRecords),
            None => {}
        }
        let bytes = encode_value(&meta, r.publisher.as_ref(), &r.value);
        self.pending.insert(r.key.to_vec(), Some(bytes));
        if is_new {
            self.count += 1;
        }
        Ok(())
    }

    fn instant_of(&self, expires_at: u64) -> Instant {
        let left = expires_at.saturating_sub((self.clock)());
        Instant::now() + Duration::from_secs(left)
    }

    /// Holds back the records of the signers `filter` names (checked on every read, so a block
    /// takes effect at once).
    pub fn hide_signers(mut self, filter: SignerFilter) -> ListingRecordStore {
        self.hidden_signers = Some(filter);
        self
    }

    fn record_of(&self, key: &[u8], b: &[u8]) -> Option<Record> {
        let (meta, publisher, value) = decode_value(b)?;
        if let Some(hide) = &self.hidden_signers {
            // Stored, so verified when it was put: the header names its signer.
            if swapmeet_protocol::stored_signer(value).is_ok_and(|k| hide(&k)) {
                return None;
            }
        }
        Some(Record {
            key: RecordKey::new(&key),
            value: value.to_vec(),
            publisher,
            expires: Some(self.instant_of(meta.expires_at)),
        })
    }
}

impl RecordStore for ListingRecordStore {
    type RecordsIter<'a> = std::vec::IntoIter<Cow<'a, Record>>;
    type ProvidedIter<'a> = <MemoryStore as RecordStore>::ProvidedIter<'a>;

    fn get(&self, k: &RecordKey) -> Option<Cow<'_, Record>> {
        let b = self.raw(k.as_ref())?;
        self.record_of(k.as_ref(), &b).map(Cow::Owned)
    }

    /// Local puts (the node's own listings, through `put_record`). Verifies the envelope:
    /// nothing unverified is ever stored, whatever path it took.
    fn put(&mut self, r: Record) -> store::Result<()> {
        let now = (self.clock)();
        match verify_record(&r.key, &r.value, now) {
            Ok(v) => self.write(&r, Meta::of(&v)),
            Err(e) => {
                tracing::debug!(error = %e, "not storing an invalid DHT record");
                Err(store::Error::ValueTooLarge)
            }
        }
    }

    fn remove(&mut self, k: &RecordKey) {
        if self.raw(k.as_ref()).is_some() {
            self.count = self.count.saturating_sub(1);
            self.pending.insert(k.to_vec(), None);
        }
    }

    fn records(&self) -> Self::RecordsIter<'_> {
        let mut all: std::collections::BTreeMap<Vec<u8>, Option<Vec<u8>>> = self
            .tree
            .iter()
            .flatten()
            .map(|(k, v)| (k.to_vec(), Some(v.to_vec())))
            .collect();
        for (k, v) in self.writing.iter().chain(self.pending.iter()) {
            all.insert(k.clone(), v.clone());
        }
        all.into_iter()
            .filter_map(|(k, v)| self.record_of(&k, &v?).map(Cow::Owned))
            .collect::<Vec<_>>()
            .into_iter()
    }

    fn add_provider(&mut self, record: ProviderRecord) -> store::Result<()> {
        self.providers.add_provider(record)
    }

    fn providers(&self, key: &RecordKey) -> Vec<ProviderRecord> {
        self.providers.providers(key)
    }

    fn provided(&self) -> Self::ProvidedIter<'_> {
        self.providers.provided()
    }

    fn remove_provider(&mut self, k: &RecordKey, p: &PeerId) {
        self.providers.remove_provider(k, p)
    }
}

/// The hash of a record value (the envelope hash, for a valid one).
pub fn value_hash(value: &[u8]) -> EnvelopeHash {
    EnvelopeHash(Sha256::digest(value).into())
}

#[cfg(test)]
mod tests {
    use super::*;
    use swapmeet_protocol::{
        Category, Condition, Delivery, GeoHash, Listing, Location, Price, SecretKey,
    };

    fn listing(seq: u64, now: u64) -> Listing {
        Listing {
            item_key: "bike".into(),
            seq,
            signed_at: now,
            expires_at: now + 3600,
            title: format!("Road bike v{seq}"),
            description: String::new(),
            price: Price::Free,
            condition: Condition::Good,
            category: Category::Bikes,
            tags: vec![],
            quantity: 1,
            location: Some(Location {
                geohash: GeoHash::new("u33dc0").unwrap(),
                place: None,
            }),
            delivery: Delivery {
                pickup: true,
                shipping: false,
                ships_to: vec![],
            },
            images: vec![],
            variants: vec![],
            stamp: None,
        }
    }

    #[test]
    fn records_persist_verify_and_keep_the_newest() {
        let dir = tempfile::tempdir().unwrap();
        let db = sled::Config::new()
            .temporary(true)
            .path(dir.path())
            .open()
            .unwrap();
        let now = 1_700_000_000;
        let clock: Clock = Arc::new(move || now);
        let key = SecretKey::from_bytes([7; 32]);
        let me = PeerId::random();
        let mut store =
            ListingRecordStore::open(db.open_tree(KAD_TREE).unwrap(), me, clock.clone());
        let v1 = listing(1, now).sign(&key).unwrap();
        let v2 = listing(2, now).sign(&key).unwrap();
        let id = listing(1, now).id(&key.public());
        let k = listing_key(&id);
        assert_eq!(parse_listing_key(&k), Some(id));

        store
            .put(Record::new(k.clone(), v2.as_bytes().to_vec()))
            .unwrap();
        // An older version does not replace a newer one.
        store
            .put(Record::new(k.clone(), v1.as_bytes().to_vec()))
            .unwrap();
        assert_eq!(store.get(&k).unwrap().value, v2.as_bytes());
        assert_eq!(store.len(), 1, "a newer version replaces, it does not add");
        let held = store.get(&k).unwrap().into_owned();
        assert!(held.expires.is_some());
        // Nothing was written on the loop; the write batch carries it.
        assert!(db.open_tree(KAD_TREE).unwrap().is_empty());
        store.take_writes().unwrap().write();
        store.writes_done();

        // A forged value is refused; so is a valid envelope under another listing's key.
        let mut forged = v2.as_bytes().to_vec();
        let last = forged.len() - 1;
        forged[last] ^= 1;
        assert!(store.put(Record::new(k.clone(), forged)).is_err());
        let other = listing_key(&ListingId::from_bytes([1; 16]));
        assert!(matches!(
            verify_record(&other, v2.as_bytes(), now),
            Err(RecordError::WrongKey { .. })
        ));
        assert!(check_put(
            store.tree(),
            Record::new(k.clone(), v1.as_bytes().to_vec()),
            now
        )
        .unwrap()
        .is_none());

        // Reopening keeps it; once expired it is dropped on open.
        drop(store);
        let mut store = ListingRecordStore::open(db.open_tree(KAD_TREE).unwrap(), me, clock);
        assert_eq!(store.records().count(), 1);
        assert_eq!(store.len(), 1);
        store.remove(&k);
        assert!(store.is_empty());
        store
            .put(Record::new(k.clone(), v2.as_bytes().to_vec()))
            .unwrap();
        store.take_writes().unwrap().write();
        drop(store);
        let later: Clock = Arc::new(move || now + 7200);
        let store = ListingRecordStore::open(db.open_tree(KAD_TREE).unwrap(), me, later);
        assert_eq!(store.records().count(), 0);
    }

    #[test]
    fn a_blocked_signers_records_are_not_served() {
        use std::sync::atomic::{AtomicBool, Ordering};
        let dir = tempfile::tempdir().unwrap();
        let db = sled::Config::new()
            .temporary(true)
            .path(dir.path())
            .open()
            .unwrap();
        let now = 1_700_000_000;
        let clock: Clock = Arc::new(move || now);
        let key = SecretKey::from_bytes([7; 32]);
        let blocked = Arc::new(AtomicBool::new(false));
        let b = blocked.clone();
        let signer = *key.public().as_bytes();
        let mut store =
            ListingRecordStore::open(db.open_tree(KAD_TREE).unwrap(), PeerId::random(), clock)
                .hide_signers(Arc::new(move |k| *k == signer && b.load(Ordering::SeqCst)));
        let env = listing(1, now).sign(&key).unwrap();
        let k = listing_key(&listing(1, now).id(&key.public()));
        store
            .put(Record::new(k.clone(), env.as_bytes().to_vec()))
            .unwrap();
        assert!(store.get(&k).is_some());
        blocked.store(true, Ordering::SeqCst);
        // Neither answered nor republished, and removable when the engine deletes it.
        assert!(store.get(&k).is_none());
        assert_eq!(store.records().count(), 0);
        store.remove(&k);
        assert!(store.is_empty());
    }

    #[test]
    fn area_keys() {
        assert_eq!(parse_area_key(&area_key("u33d")), Some("u33d"));
        assert_eq!(parse_area_key(&area_key("ship")), Some("ship"));
        assert_eq!(parse_area_key(&RecordKey::new(&"/area/zz")), None);
    }
}
