//! The blob store: photos and thumbnails as files named by their SHA-256.
//!
//! A blob lives at `DIR/ab/<64 hex>` (`ab`: the first byte of its hash, so no directory holds
//! more than a few hundred files). It is written to `DIR/tmp/`, fsynced, renamed into place and
//! its directory fsynced, so a blob `put` acknowledged survives kill -9 and power loss, and a
//! crash mid-write leaves only a temp file (removed on open). Files rather than sled because
//! values run up to 20 MiB: sled keeps values in its page cache and log, rewrites them on
//! compaction and would hold each photo in memory while serving it; a file is streamed in
//! chunks straight from the page cache (see docs/ARCHITECTURE.md).
//!
//! Every write is checked against its hash (`put_expected`), and every full read (`get`) hashes
//! the bytes again: a file that rotted on disk or was edited is removed and reported, never
//! served as the photo it claims to be.
//!
//! Classes decide what may go: [`BlobClass::Own`] (the user's photos) is never evicted or
//! collected; [`BlobClass::Thumb`] (thumbnails of listings carried) stays until
//! [`BlobStore::collect`] finds no live listing naming it; [`BlobClass::Cached`] (photos fetched
//! on demand) is evicted least recently used first once their total passes the cache budget.
//! The class of Own and Thumb blobs is kept in `DIR/classes` (an append-only journal, fsynced
//! before a put is acknowledged, compacted on open); a blob absent from it is Cached.
//!
//! Beside the blobs, `DIR/cards/` keeps local derived data: the card-size thumbnails of the
//! search page, one per thumbnail, going with it (`blobs/cards.rs`).

use std::collections::HashMap;
use std::fs::{self, File};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::SystemTime;

use serde::Serialize;

mod cards;
mod journal;
use journal::read_journal;
use sha2::{Digest, Sha256};
use swapmeet_protocol::limits::MAX_IMAGE_BYTES;

/// SHA-256 of a blob's bytes: its name.
pub type BlobHash = [u8; 32];

/// The journal of classes other than Cached (see `blobs/journal.rs`).
const CLASSES_FILE: &str = "classes";
/// Where blobs are written before they are renamed into place.
const TMP_DIR: &str = "tmp";

/// Why a blob is kept, which decides when it may go.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum BlobClass {
    /// Fetched on demand: evicted least recently used first when over the cache budget.
    Cached,
    /// A thumbnail of a listing this node carries: kept until no live listing names it.
    Thumb,
    /// The user's own photo: never evicted or collected (only [`BlobStore::set_class`] demotes it).
    Own,
}

/// Errors of the blob store.
#[derive(Debug, thiserror::Error)]
pub enum BlobError {
    /// A file operation failed.
    #[error("blob store: {what} {}: {source}", path.display())]
    Io {
        /// What was being done.
        what: &'static str,
        /// The file or directory.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// The bytes are not the blob they were expected to be; nothing was kept.
    #[error("blob {expected}: the bytes hash to {actual}; nothing was kept")]
    HashMismatch {
        /// The hash asked for (hex).
        expected: String,
        /// The hash of the bytes (hex).
        actual: String,
    },
    /// The stored file no longer matches its hash (disk corruption or tampering); it was
    /// removed, so a later fetch can bring a good copy.
    #[error("blob {hash}: the stored file {} is corrupt (its bytes no longer match the hash); it was removed", path.display())]
    Corrupt {
        /// The blob (hex).
        hash: String,
        /// The file that was removed.
        path: PathBuf,
    },
    /// A blob larger than any image a listing may name.
    #[error("blob of {actual} bytes: at most {limit} bytes are stored")]
    TooLarge {
        /// The limit.
        limit: u64,
        /// The size offered.
        actual: u64,
    },
    /// A chunk was asked for beyond the blob's end.
    #[error("blob {hash}: offset {offset} is beyond its size of {size} bytes")]
    Range {
        /// The blob (hex).
        hash: String,
        /// The offset asked for.
        offset: u64,
        /// The blob's size.
        size: u64,
    },
    /// The blob is not in the store.
    #[error("blob {0} is not in the store")]
    NotFound(String),
}

/// Bytes and counts of blobs by class.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct BlobUsage {
    /// The user's own photos: count.
    pub own_count: u64,
    /// The user's own photos: bytes.
    pub own_bytes: u64,
    /// Thumbnails of carried listings: count.
    pub thumb_count: u64,
    /// Thumbnails of carried listings: bytes.
    pub thumb_bytes: u64,
    /// Photos cached on demand: count.
    pub cached_count: u64,
    /// Photos cached on demand: bytes (kept at or under `cache_budget`).
    pub cached_bytes: u64,
    /// The cache budget, bytes.
    pub cache_budget: u64,
}

/// What a [`BlobStore::collect`] did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct CollectReport {
    /// Blobs removed because no live listing names them.
    pub removed: u64,
    /// Their bytes.
    pub removed_bytes: u64,
    /// Blobs whose class changed.
    pub reclassified: u64,
    /// Blobs kept.
    pub kept: u64,
}

#[derive(Clone, Copy, Debug)]
struct Entry {
    size: u64,
    class: BlobClass,
    /// Tick of the last put or get: the LRU order of Cached blobs.
    used: u64,
}

struct State {
    entries: HashMap<BlobHash, Entry>,
    /// Lines in the class journal, to know when compacting is worth it.
    journal_lines: u64,
}

struct Inner {
    dir: PathBuf,
    budget: u64,
    state: Mutex<State>,
    tick: AtomicU64,
    tmp_seq: AtomicU64,
}

/// The content-addressed blob store (cheap to clone; Send + Sync).
#[derive(Clone)]
pub struct BlobStore {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for BlobStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BlobStore")
            .field("dir", &self.inner.dir)
            .field("budget", &self.inner.budget)
            .finish()
    }
}

fn io(what: &'static str, path: &Path) -> impl FnOnce(std::io::Error) -> BlobError {
    let path = path.to_path_buf();
    move |source| BlobError::Io { what, path, source }
}

/// SHA-256 of `bytes`.
pub fn hash_of(bytes: &[u8]) -> BlobHash {
    Sha256::digest(bytes).into()
}

fn parse_hex(s: &str) -> Option<BlobHash> {
    let v = hex::decode(s).ok()?;
    v.try_into().ok()
}

/// fsyncs a directory so a rename into it is durable.
fn sync_dir(dir: &Path) -> Result<(), BlobError> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(io("syncing", dir))
}

impl BlobStore {
    /// Opens (creating) the store in `dir`, keeping cached photos within `cache_budget_bytes`.
    /// Scans the files once (their sizes; modification times give the LRU order across
    /// restarts) and removes temp files a crash left behind.
    pub fn open(dir: &Path, cache_budget_bytes: u64) -> Result<BlobStore, BlobError> {
        fs::create_dir_all(dir).map_err(io("creating", dir))?;
        let tmp = dir.join(TMP_DIR);
        if tmp.exists() {
            fs::remove_dir_all(&tmp).map_err(io("clearing", &tmp))?;
        }
        fs::create_dir_all(&tmp).map_err(io("creating", &tmp))?;

        let mut found: Vec<(BlobHash, u64, SystemTime)> = Vec::new();
        for shard in fs::read_dir(dir).map_err(io("reading", dir))? {
            let shard = shard.map_err(io("reading", dir))?;
            let name = shard.file_name();
            let Some(name) = name.to_str() else { continue };
            if name.len() != 2 || parse_hex_byte(name).is_none() {
                continue;
            }
            let path = shard.path();
            for f in fs::read_dir(&path).map_err(io("reading", &path))? {
                let f = f.map_err(io("reading", &path))?;
                let fname = f.file_name();
                let Some(hash) = fname.to_str().and_then(parse_hex) else {
                    continue;
                };
                let meta = f.metadata().map_err(io("reading", &f.path()))?;
                let mtime = meta.modified().unwrap_or(SystemTime::UNIX_EPOCH);
                found.push((hash, meta.len(), mtime));
            }
        }
        // Oldest first, so ticks follow the last use recorded in the modification times.
        found.sort_by_key(|(_, _, t)| *t);
        let classes_path = dir.join(CLASSES_FILE);
        let (classes, journal_lines) = read_journal(&classes_path)?;
        let mut entries = HashMap::with_capacity(found.len());
        for (i, (hash, size, _)) in found.into_iter().enumerate() {
            let class = classes.get(&hash).copied().unwrap_or(BlobClass::Cached);
            entries.insert(
                hash,
                Entry {
                    size,
                    class,
                    used: i as u64 + 1,
                },
            );
        }
        let tick = entries.len() as u64 + 1;
        let store = BlobStore {
            inner: Arc::new(Inner {
                dir: dir.to_path_buf(),
                budget: cache_budget_bytes,
                state: Mutex::new(State {
                    entries,
                    journal_lines,
                }),
                tick: AtomicU64::new(tick),
                tmp_seq: AtomicU64::new(0),
            }),
        };
        {
            let mut st = store.lock();
            store.compact_journal(&mut st)?;
            // The budget may have shrunk since the last run.
            store.evict(&mut st, None);
        }
        store.remove_orphan_cards()?;
        Ok(store)
    }

    /// The store's directory.
    pub fn dir(&self) -> &Path {
        &self.inner.dir
    }

    /// The cache budget in bytes.
    pub fn cache_budget(&self) -> u64 {
        self.inner.budget
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock leaves the map consistent (every mutation is one
        // insert or remove), so a poisoned lock is still usable.
        self.inner
            .state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn next_tick(&self) -> u64 {
        self.inner.tick.fetch_add(1, Ordering::Relaxed)
    }

    /// Where the blob `hash` lives.
    pub fn path_of(&self, hash: &BlobHash) -> PathBuf {
        let h = hex::encode(hash);
        self.inner.dir.join(&h[..2]).join(h)
    }

    /// Stores `bytes` (hashing them) as `class`; returns the hash. Storing a blob already
    /// present keeps one copy and raises its class if `class` is higher (Own > Thumb > Cached).
    pub fn put(&self, bytes: &[u8], class: BlobClass) -> Result<BlobHash, BlobError> {
        let hash = hash_of(bytes);
        self.store(&hash, bytes, class)?;
        Ok(hash)
    }

    /// Stores `bytes` as the blob `expected` if they hash to it; otherwise
    /// [`BlobError::HashMismatch`] and nothing is kept.
    pub fn put_expected(
        &self,
        expected: &BlobHash,
        bytes: &[u8],
        class: BlobClass,
    ) -> Result<(), BlobError> {
        let actual = hash_of(bytes);
        if &actual != expected {
            return Err(BlobError::HashMismatch {
                expected: hex::encode(expected),
                actual: hex::encode(actual),
            });
        }
        self.store(expected, bytes, class)
    }

    fn store(&self, hash: &BlobHash, bytes: &[u8], class: BlobClass) -> Result<(), BlobError> {
        if bytes.len() as u64 > MAX_IMAGE_BYTES {
            return Err(BlobError::TooLarge {
                limit: MAX_IMAGE_BYTES,
                actual: bytes.len() as u64,
            });
        }
        let present = self.lock().entries.get(hash).copied();
        let path = self.path_of(hash);
        if present.is_none() || !path.exists() {
            self.write_file(&path, bytes)?;
        }
        let mut st = self.lock();
        let class = match st.entries.get(hash) {
            Some(e) if e.class > class => e.class,
            _ => class,
        };
        let before = st.entries.get(hash).map(|e| e.class);
        if before != Some(class) && (class != BlobClass::Cached || before.is_some()) {
            self.journal(&mut st, hash, class)?;
        }
        let used = self.next_tick();
        st.entries.insert(
            *hash,
            Entry {
                size: bytes.len() as u64,
                class,
                used,
            },
        );
        if class == BlobClass::Cached {
            self.evict(&mut st, Some(hash));
        }
        Ok(())
    }

    /// Writes `bytes` to a temp file, fsyncs it, renames it to `path` and fsyncs the directory.
    fn write_file(&self, path: &Path, bytes: &[u8]) -> Result<(), BlobError> {
        self.write_via_temp(path, &[bytes], true)
    }

    /// Writes `parts` one after the other to a temp file and renames it to `path`, so a reader
    /// never sees a half-written file. `durable`: the file and its directory are fsynced (a
    /// blob); otherwise not (derived data such as a card, checked by hash when read).
    fn write_via_temp(&self, path: &Path, parts: &[&[u8]], durable: bool) -> Result<(), BlobError> {
        let shard = path.parent().unwrap_or(&self.inner.dir).to_path_buf();
        let new_shard = !shard.exists();
        fs::create_dir_all(&shard).map_err(io("creating", &shard))?;
        if new_shard && durable {
            sync_dir(&self.inner.dir)?;
        }
        let n = self.inner.tmp_seq.fetch_add(1, Ordering::Relaxed);
        let tmp = self
            .inner
            .dir
            .join(TMP_DIR)
            .join(format!("{}-{n}", std::process::id()));
        let write = || -> std::io::Result<()> {
            let mut f = File::create(&tmp)?;
            for part in parts {
                f.write_all(part)?;
            }
            if durable {
                f.sync_all()?;
            }
            Ok(())
        };
        if let Err(e) = write() {
            let _ = fs::remove_file(&tmp);
            return Err(io("writing", &tmp)(e));
        }
        if let Err(e) = fs::rename(&tmp, path) {
            let _ = fs::remove_file(&tmp);
            return Err(io("renaming into", path)(e));
        }
        if durable {
            sync_dir(&shard)?;
        }
        Ok(())
    }

    /// The blob's bytes, verified against its hash; `None` when it is not here. A file that no
    /// longer matches is removed and reported as [`BlobError::Corrupt`].
    pub fn get(&self, hash: &BlobHash) -> Result<Option<Vec<u8>>, BlobError> {
        let path = self.path_of(hash);
        let bytes = match fs::read(&path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                self.lock().entries.remove(hash);
                self.remove_card(hash);
                return Ok(None);
            }
            Err(e) => return Err(io("reading", &path)(e)),
        };
        if &hash_of(&bytes) != hash {
            self.forget(hash, &path);
            return Err(BlobError::Corrupt {
                hash: hex::encode(hash),
                path,
            });
        }
        let mut st = self.lock();
        let used = self.next_tick();
        match st.entries.get_mut(hash) {
            Some(e) => {
                e.used = used;
                if e.class == BlobClass::Cached {
                    // Best effort: the modification time carries the LRU order across restarts.
                    let _ = File::options()
                        .write(true)
                        .open(&path)
                        .and_then(|f| f.set_modified(SystemTime::now()));
                }
            }
            None => {
                // A file put there from outside (or by another store on the same dir).
                st.entries.insert(
                    *hash,
                    Entry {
                        size: bytes.len() as u64,
                        class: BlobClass::Cached,
                        used,
                    },
                );
                self.evict(&mut st, Some(hash));
            }
        }
        Ok(Some(bytes))
    }

    fn forget(&self, hash: &BlobHash, path: &Path) {
        let _ = fs::remove_file(path);
        self.remove_card(hash);
        let mut st = self.lock();
        if let Some(e) = st.entries.remove(hash) {
            self.journal_removed(&mut st, hash, e.class);
        }
    }

    /// Up to `len` bytes of the blob from `offset`, for serving it in chunks; `None` when it is
    /// not here. Not verified (a reader checks the whole blob against its hash).
    pub fn read_chunk(
        &self,
        hash: &BlobHash,
        offset: u64,
        len: u32,
    ) -> Result<Option<Vec<u8>>, BlobError> {
        let path = self.path_of(hash);
        let mut f = match File::open(&path) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(io("opening", &path)(e)),
        };
        let size = f.metadata().map_err(io("reading", &path))?.len();
        if offset > size {
            return Err(BlobError::Range {
                hash: hex::encode(hash),
                offset,
                size,
            });
        }
        let want = (size - offset).min(u64::from(len)) as usize;
        let mut buf = vec![0u8; want];
        f.seek(SeekFrom::Start(offset))
            .and_then(|_| f.read_exact(&mut buf))
            .map_err(io("reading", &path))?;
        if let Some(e) = self.lock().entries.get_mut(hash) {
            e.used = self.next_tick();
        }
        Ok(Some(buf))
    }

    /// Every blob held (for announcing them to the network at start).
    pub fn hashes(&self) -> Vec<BlobHash> {
        self.lock().entries.keys().copied().collect()
    }

    /// The blob's size, if it is here.
    pub fn size(&self, hash: &BlobHash) -> Option<u64> {
        self.lock().entries.get(hash).map(|e| e.size)
    }

    /// Whether the blob is here.
    pub fn has(&self, hash: &BlobHash) -> bool {
        self.lock().entries.contains_key(hash)
    }

    /// The blob's class, if it is here.
    pub fn class(&self, hash: &BlobHash) -> Option<BlobClass> {
        self.lock().entries.get(hash).map(|e| e.class)
    }

    /// Removes the blob (whatever its class); whether it was here.
    pub fn remove(&self, hash: &BlobHash) -> Result<bool, BlobError> {
        let path = self.path_of(hash);
        let mut st = self.lock();
        match fs::remove_file(&path) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(io("removing", &path)(e)),
        }
        self.remove_card(hash);
        match st.entries.remove(hash) {
            Some(e) => {
                self.journal_removed(&mut st, hash, e.class);
                Ok(true)
            }
            None => Ok(false),
        }
    }

    /// Every blob of `class`.
    pub fn hashes_of_class(&self, class: BlobClass) -> Vec<BlobHash> {
        self.lock()
            .entries
            .iter()
            .filter(|(_, e)| e.class == class)
            .map(|(h, _)| *h)
            .collect()
    }

    /// Sets the blob's class (e.g. pins an own photo, or demotes one no listing names any more
    /// to Cached, where the LRU may evict it).
    pub fn set_class(&self, hash: &BlobHash, class: BlobClass) -> Result<(), BlobError> {
        let mut st = self.lock();
        let Some(before) = st.entries.get(hash).map(|e| e.class) else {
            return Err(BlobError::NotFound(hex::encode(hash)));
        };
        if before == class {
            return Ok(());
        }
        self.journal(&mut st, hash, class)?;
        if let Some(e) = st.entries.get_mut(hash) {
            e.class = class;
        }
        if class == BlobClass::Cached {
            self.evict(&mut st, None);
        }
        Ok(())
    }

    /// Garbage collection: asks `live` about every blob but the user's own; a blob no live
    /// listing names (`None`) is removed, one that is named takes the class `live` gives.
    /// Own blobs are kept whatever `live` says.
    pub fn collect(
        &self,
        live: &dyn Fn(&BlobHash) -> Option<BlobClass>,
    ) -> Result<CollectReport, BlobError> {
        let candidates: Vec<(BlobHash, BlobClass)> = self
            .lock()
            .entries
            .iter()
            .map(|(h, e)| (*h, e.class))
            .collect();
        let mut report = CollectReport::default();
        for (hash, class) in candidates {
            if class == BlobClass::Own {
                report.kept += 1;
                continue;
            }
            match live(&hash) {
                None => {
                    let mut st = self.lock();
                    if st.entries.get(&hash).map(|e| e.class) == Some(BlobClass::Own) {
                        // Became the user's own while we asked.
                        report.kept += 1;
                        continue;
                    }
                    let path = self.path_of(&hash);
                    match fs::remove_file(&path) {
                        Ok(()) => {}
                        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                        Err(e) => return Err(io("removing", &path)(e)),
                    }
                    self.remove_card(&hash);
                    if let Some(e) = st.entries.remove(&hash) {
                        report.removed += 1;
                        report.removed_bytes += e.size;
                        self.journal_removed(&mut st, &hash, e.class);
                    }
                }
                Some(new) => {
                    report.kept += 1;
                    if new != class {
                        self.set_class(&hash, new)?;
                        report.reclassified += 1;
                    }
                }
            }
        }
        Ok(report)
    }

    /// Bytes and counts by class.
    pub fn usage(&self) -> BlobUsage {
        let st = self.lock();
        let mut u = BlobUsage {
            cache_budget: self.inner.budget,
            ..BlobUsage::default()
        };
        for e in st.entries.values() {
            let (c, b) = match e.class {
                BlobClass::Own => (&mut u.own_count, &mut u.own_bytes),
                BlobClass::Thumb => (&mut u.thumb_count, &mut u.thumb_bytes),
                BlobClass::Cached => (&mut u.cached_count, &mut u.cached_bytes),
            };
            *c += 1;
            *b += e.size;
        }
        u
    }

    /// Evicts Cached blobs, least recently used first, until their total is within the budget.
    /// `keep` (the blob just stored) goes last: a budget smaller than one photo still lets the
    /// photo being shown through.
    fn evict(&self, st: &mut State, keep: Option<&BlobHash>) {
        let mut total: u64 = st
            .entries
            .values()
            .filter(|e| e.class == BlobClass::Cached)
            .map(|e| e.size)
            .sum();
        if total <= self.inner.budget {
            return;
        }
        let mut cached: Vec<(u64, BlobHash, u64)> = st
            .entries
            .iter()
            .filter(|(h, e)| e.class == BlobClass::Cached && Some(*h) != keep)
            .map(|(h, e)| (e.used, *h, e.size))
            .collect();
        cached.sort_unstable();
        for (_, hash, size) in cached {
            if total <= self.inner.budget {
                break;
            }
            let path = self.path_of(&hash);
            match fs::remove_file(&path) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => {
                    // Leave it counted: a blob that cannot be removed still takes the space.
                    tracing::warn!(path = %path.display(), error = %e, "evicting a cached blob failed");
                    continue;
                }
            }
            self.remove_card(&hash);
            st.entries.remove(&hash);
            total -= size;
        }
    }
}

fn parse_hex_byte(s: &str) -> Option<u8> {
    u8::from_str_radix(s, 16).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn blob(n: u8, len: usize) -> Vec<u8> {
        (0..len).map(|i| (i as u8).wrapping_mul(31) ^ n).collect()
    }

    #[test]
    fn put_then_get_returns_the_bytes_and_survives_reopening() {
        let dir = tempfile::tempdir().unwrap();
        let s = BlobStore::open(dir.path(), 1 << 20).unwrap();
        let b = blob(1, 5000);
        let h = s.put(&b, BlobClass::Own).unwrap();
        assert_eq!(h, hash_of(&b));
        assert!(s.has(&h));
        assert_eq!(s.size(&h), Some(5000));
        assert_eq!(s.get(&h).unwrap().unwrap(), b);
        let hex = hex::encode(h);
        assert!(dir.path().join(&hex[..2]).join(&hex).is_file());
        drop(s);
        let s = BlobStore::open(dir.path(), 1 << 20).unwrap();
        assert_eq!(s.get(&h).unwrap().unwrap(), b);
        assert_eq!(
            s.class(&h),
            Some(BlobClass::Own),
            "class kept across restarts"
        );
        assert_eq!(s.get(&[7u8; 32]).unwrap(), None);
    }

    #[test]
    fn put_expected_with_the_wrong_hash_keeps_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let s = BlobStore::open(dir.path(), 1 << 20).unwrap();
        let b = blob(2, 1000);
        let wrong = [3u8; 32];
        let e = s.put_expected(&wrong, &b, BlobClass::Cached).unwrap_err();
        assert!(matches!(e, BlobError::HashMismatch { .. }), "{e}");
        assert!(!s.has(&wrong));
        assert!(!s.has(&hash_of(&b)));
        assert_eq!(s.usage().cached_count, 0);
        // Nothing on disk either: only the (empty) temp dir.
        let files: Vec<_> = fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(files, vec![std::ffi::OsString::from(TMP_DIR)]);
        // The right hash is accepted.
        s.put_expected(&hash_of(&b), &b, BlobClass::Cached).unwrap();
        assert!(s.has(&hash_of(&b)));
    }

    #[test]
    fn a_corrupt_file_is_detected_on_read_and_removed() {
        let dir = tempfile::tempdir().unwrap();
        let s = BlobStore::open(dir.path(), 1 << 20).unwrap();
        let b = blob(3, 2000);
        let h = s.put(&b, BlobClass::Cached).unwrap();
        let path = s.path_of(&h);
        let mut bad = b.clone();
        bad[100] ^= 0xff;
        fs::write(&path, &bad).unwrap();
        let e = s.get(&h).unwrap_err();
        assert!(matches!(e, BlobError::Corrupt { .. }), "{e}");
        assert!(!path.exists(), "the corrupt file is removed");
        assert!(!s.has(&h));
        assert_eq!(s.get(&h).unwrap(), None);
    }

    #[test]
    fn read_chunk_serves_ranges() {
        let dir = tempfile::tempdir().unwrap();
        let s = BlobStore::open(dir.path(), 1 << 20).unwrap();
        let b = blob(4, 3000);
        let h = s.put(&b, BlobClass::Thumb).unwrap();
        assert_eq!(s.read_chunk(&h, 0, 1000).unwrap().unwrap(), &b[..1000]);
        assert_eq!(s.read_chunk(&h, 2500, 1000).unwrap().unwrap(), &b[2500..]);
        assert_eq!(
            s.read_chunk(&h, 3000, 10).unwrap().unwrap(),
            Vec::<u8>::new()
        );
        assert!(matches!(
            s.read_chunk(&h, 3001, 10),
            Err(BlobError::Range { .. })
        ));
        assert_eq!(s.read_chunk(&[0u8; 32], 0, 10).unwrap(), None);
    }

    #[test]
    fn cached_blobs_are_evicted_least_recently_used_first_and_own_never() {
        let dir = tempfile::tempdir().unwrap();
        // Room for three 1000-byte cached blobs.
        let s = BlobStore::open(dir.path(), 3000).unwrap();
        let own = s.put(&blob(9, 4000), BlobClass::Own).unwrap();
        let thumb = s.put(&blob(8, 4000), BlobClass::Thumb).unwrap();
        let a = s.put(&blob(1, 1000), BlobClass::Cached).unwrap();
        let b = s.put(&blob(2, 1000), BlobClass::Cached).unwrap();
        let c = s.put(&blob(3, 1000), BlobClass::Cached).unwrap();
        // Reading `a` makes `b` the least recently used.
        s.get(&a).unwrap().unwrap();
        let d = s.put(&blob(4, 1000), BlobClass::Cached).unwrap();
        assert!(!s.has(&b), "the least recently used went");
        assert!(!s.path_of(&b).exists());
        for h in [a, c, d, own, thumb] {
            assert!(s.has(&h));
        }
        let u = s.usage();
        assert_eq!((u.cached_count, u.cached_bytes), (3, 3000));
        assert_eq!((u.own_count, u.own_bytes), (1, 4000));
        assert_eq!((u.thumb_count, u.thumb_bytes), (1, 4000));
        // A stream of cached photos never pushes out the own photo or the thumbnail, and the
        // cache stays within its budget all along.
        for n in 10..60 {
            s.put(&blob(n, 1000), BlobClass::Cached).unwrap();
            assert!(s.usage().cached_bytes <= 3000);
        }
        assert!(s.has(&own) && s.has(&thumb));
        // Demoted to Cached, the own photo is evictable like any other.
        s.set_class(&own, BlobClass::Cached).unwrap();
        assert!(!s.has(&own), "4000 bytes do not fit a 3000-byte budget");
        // Across a restart with a smaller budget, the cache shrinks to it.
        drop(s);
        let s = BlobStore::open(dir.path(), 1000).unwrap();
        assert!(s.usage().cached_bytes <= 1000);
        assert!(s.has(&thumb));
    }

    #[test]
    fn putting_a_blob_again_raises_its_class_never_lowers_it() {
        let dir = tempfile::tempdir().unwrap();
        let s = BlobStore::open(dir.path(), 0).unwrap();
        let b = blob(5, 100);
        let h = s.put(&b, BlobClass::Own).unwrap();
        s.put(&b, BlobClass::Cached).unwrap();
        assert_eq!(s.class(&h), Some(BlobClass::Own));
        let t = s.put(&blob(6, 100), BlobClass::Cached).unwrap();
        s.put(&blob(6, 100), BlobClass::Thumb).unwrap();
        assert_eq!(s.class(&t), Some(BlobClass::Thumb));
    }

    #[test]
    fn collect_removes_what_no_live_listing_names_and_keeps_own() {
        let dir = tempfile::tempdir().unwrap();
        let s = BlobStore::open(dir.path(), 1 << 20).unwrap();
        let own = s.put(&blob(1, 100), BlobClass::Own).unwrap();
        let live_thumb = s.put(&blob(2, 100), BlobClass::Thumb).unwrap();
        let dead_thumb = s.put(&blob(3, 100), BlobClass::Thumb).unwrap();
        let dead_cached = s.put(&blob(4, 200), BlobClass::Cached).unwrap();
        let cached_now_thumb = s.put(&blob(5, 100), BlobClass::Cached).unwrap();
        let live = move |h: &BlobHash| {
            if *h == live_thumb || *h == cached_now_thumb {
                Some(BlobClass::Thumb)
            } else {
                None
            }
        };
        let r = s.collect(&live).unwrap();
        assert_eq!(r.removed, 2);
        assert_eq!(r.removed_bytes, 300);
        assert_eq!(r.reclassified, 1);
        assert!(s.has(&own), "own photos are never collected");
        assert!(s.has(&live_thumb));
        assert!(!s.has(&dead_thumb) && !s.path_of(&dead_thumb).exists());
        assert!(!s.has(&dead_cached) && !s.path_of(&dead_cached).exists());
        assert_eq!(s.class(&cached_now_thumb), Some(BlobClass::Thumb));
    }

    #[test]
    fn a_torn_journal_line_and_a_leftover_temp_file_are_harmless() {
        let dir = tempfile::tempdir().unwrap();
        let s = BlobStore::open(dir.path(), 1 << 20).unwrap();
        let h = s.put(&blob(1, 100), BlobClass::Own).unwrap();
        drop(s);
        let mut j = std::fs::OpenOptions::new()
            .append(true)
            .open(dir.path().join(CLASSES_FILE))
            .unwrap();
        j.write_all(b"abcdef th").unwrap();
        fs::write(dir.path().join(TMP_DIR).join("123-0"), b"half a photo").unwrap();
        let s = BlobStore::open(dir.path(), 1 << 20).unwrap();
        assert_eq!(s.class(&h), Some(BlobClass::Own));
        assert_eq!(fs::read_dir(dir.path().join(TMP_DIR)).unwrap().count(), 0);
    }

    #[test]
    fn an_oversized_blob_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let s = BlobStore::open(dir.path(), 1 << 20).unwrap();
        let big = vec![0u8; MAX_IMAGE_BYTES as usize + 1];
        assert!(matches!(
            s.put(&big, BlobClass::Own),
            Err(BlobError::TooLarge { .. })
        ));
        assert_eq!(s.usage().own_count, 0);
    }
}
