//! Where the store keeps its records and its change log: an LSM tree (fjall), beside sled.
//!
//! Why not sled, which keeps everything else: sled 0.34 takes about twice a value's bytes on
//! disk (its log-structured segments are cleaned only once less than half of them is live,
//! and a leaf is rewritten whole as it changes), measured 2.03x for 435-byte values under
//! random keys, 1.77x even with keys in order, and about 120 bytes more per item; a listing
//! took 947 bytes of store for its 399-byte envelope at 10,000,000. fjall writes sorted tables
//! once per level and compacts them whole: the same records took 1.06x their bytes
//! (BENCHMARKS.md, "The records in an LSM tree").
//!
//! A write (its records, its change-log entry and the next change position) is one fjall
//! batch: one journal entry, so a crash keeps all of it or none. fjall hands each write to the
//! OS at once (it survives `kill -9`); [`Records::persist`] makes it survive a power cut, and
//! the store's durability point calls it before anything is acknowledged.

use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use fjall::config::PinningPolicy;
use fjall::{Database, Keyspace, KeyspaceCreateOptions, PersistMode};
use swapmeet_protocol::ListingId;

use super::changes::ChangeEntry;
use super::error::{is_not_writable, records_hint};
use super::{u64_from, StoreError, TREE_CHANGES, TREE_LISTINGS};

/// The folder inside the store's folder that holds the LSM tree.
const RECORDS_DIR: &str = "records";
/// Keyspace of small values that belong with the records (the next change position).
const STATE: &str = "state";
const NEXT_POSITION_KEY: &[u8] = b"next-position";
/// How far the change positions jump at every open. A power cut can lose the last writes
/// before their sync, and with them the positions they used, while the search index may
/// already have committed those positions: numbering on from the last kept position would
/// give new changes numbers the index believes it has. No open loses anywhere near this many
/// (what a node writes between two syncs), and 2^64 positions leave room for 2^40 opens.
const POSITION_JUMP: u64 = 1 << 24;

/// A record to write (`Some`) or remove (`None`).
pub(super) type RecordWrite = (ListingId, Option<Vec<u8>>);

/// The records and the change log. Cheap to clone (fjall's handles are reference counted).
#[derive(Clone)]
pub(super) struct Records {
    db: Database,
    listings: Keyspace,
    changes: Keyspace,
    state: Keyspace,
    next: std::sync::Arc<AtomicU64>,
}

/// fjall's error in the form the durability point reports (sled's), keeping an I/O error as
/// it is so a full disk is still recognised, and saying what to do about the others.
pub(super) fn as_sled_error(e: fjall::Error) -> sled::Error {
    match e {
        fjall::Error::Io(io) => sled::Error::Io(io),
        other => sled::Error::Io(std::io::Error::other(format!(
            "the records{}",
            records_hint(&other)
        ))),
    }
}

impl Records {
    /// Opens (or creates) the records under `store_dir`, with `cache_bytes` of block cache,
    /// memtables of `memtable_bytes` and `workers` threads writing and compacting tables.
    /// Waits up to `wait` for the lock of records just closed in this process (fjall's
    /// threads release it a moment after the last handle).
    pub(super) fn open(
        store_dir: &Path,
        cache_bytes: u64,
        memtable_bytes: u64,
        workers: usize,
        wait: Duration,
    ) -> Result<Records, StoreError> {
        let path = store_dir.join(RECORDS_DIR);
        let deadline = Instant::now() + wait;
        let db = loop {
            // What the journal holds beyond the tables is replayed at every open, and the
            // journal is released only once every keyspace's memtable was written out (the
            // small ones rarely fill): 64 MiB, fjall's least, bounds that replay to well
            // under a second (fjall's default, 512 MiB, made a million's reopen 1.45 s).
            let opened = Database::builder(&path)
                .cache_size(cache_bytes)
                .worker_threads(workers.max(1))
                .max_journaling_size(64 * 1024 * 1024)
                .open();
            match opened {
                Err(fjall::Error::Locked) if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(20));
                }
                Err(fjall::Error::Locked) => {
                    return Err(StoreError::Locked {
                        path: path.display().to_string(),
                    })
                }
                Err(fjall::Error::Io(e)) if is_not_writable(&e) => {
                    return Err(StoreError::NotWritable {
                        path: path.display().to_string(),
                        source: e,
                    })
                }
                // An I/O error is the disk's; anything else fjall could not make sense of.
                Err(e @ fjall::Error::Io(_)) => {
                    return Err(StoreError::records("opening the records")(e))
                }
                Err(e) => {
                    return Err(StoreError::Damaged {
                        path: store_dir.display().to_string(),
                        source: Box::new(e),
                    })
                }
                Ok(db) => break db,
            }
        };
        // Every table's index and filter blocks stay in memory (fjall pins only the first
        // levels' by default). A read by id needs both, and at 10,000,000 listings the deeper
        // levels' blocks (hundreds of KiB each) did not stay in the block cache: every search
        // re-read them, a quarter of its time (perf), doubling p50 against sled. Pinned they
        // take about 4 MB per million records. Fixed when a keyspace is created.
        let options = move || {
            KeyspaceCreateOptions::default()
                .max_memtable_size(memtable_bytes)
                .index_block_pinning_policy(PinningPolicy::all(true))
                .filter_block_pinning_policy(PinningPolicy::all(true))
        };
        let keyspace = |name: &str| {
            db.keyspace(name, options).map_err(|e| match e {
                e @ fjall::Error::Io(_) => StoreError::records("opening the records")(e),
                e => StoreError::Damaged {
                    path: store_dir.display().to_string(),
                    source: Box::new(e),
                },
            })
        };
        let records = Records {
            listings: keyspace(TREE_LISTINGS)?,
            changes: keyspace(TREE_CHANGES)?,
            state: keyspace(STATE)?,
            next: Default::default(),
            db,
        };
        let stored = match records
            .state
            .get(NEXT_POSITION_KEY)
            .map_err(StoreError::records("reading the next change position"))?
        {
            Some(v) => u64_from(&v, STATE)?,
            None => 0,
        };
        let after_last = records.last_change()?.map_or(0, |p| p.saturating_add(1));
        records.next.store(
            stored.max(after_last).saturating_add(POSITION_JUMP),
            Ordering::Release,
        );
        Ok(records)
    }

    /// The next change position; never handed out twice, and growing across opens.
    pub(super) fn next_position(&self) -> u64 {
        self.next.fetch_add(1, Ordering::AcqRel)
    }

    /// Makes every write so far durable: `sync` fsyncs fjall's journal, otherwise it is only
    /// handed to the OS (which survives the process, not a power cut).
    pub(super) fn persist(&self, sync: bool) -> Result<(), fjall::Error> {
        self.db.persist(if sync {
            PersistMode::SyncData
        } else {
            PersistMode::Buffer
        })
    }

    /// The stored bytes of a listing id's record.
    pub(super) fn get(&self, id: &ListingId) -> Result<Option<fjall::Slice>, StoreError> {
        self.listings
            .get(id.as_bytes())
            .map_err(StoreError::records("reading a listing"))
    }

    /// Every record, in id order: (id bytes, stored bytes).
    pub(super) fn iter(
        &self,
    ) -> impl Iterator<Item = Result<(fjall::Slice, fjall::Slice), StoreError>> + '_ {
        self.listings.iter().map(|kv| {
            kv.into_inner()
                .map_err(StoreError::records("reading listings"))
        })
    }

    /// Writes the records and their change-log entry as one batch.
    pub(super) fn write(
        &self,
        records: Vec<RecordWrite>,
        changes: &ChangeEntry,
    ) -> Result<(), StoreError> {
        let Some(last) = changes.last else {
            return Ok(());
        };
        let mut batch = self.db.batch();
        batch.insert(&self.changes, last.to_be_bytes(), changes.bytes.as_slice());
        batch.insert(
            &self.state,
            NEXT_POSITION_KEY,
            last.saturating_add(1).to_be_bytes(),
        );
        for (id, value) in records {
            match value {
                Some(v) => batch.insert(&self.listings, id.as_bytes(), v),
                None => batch.remove(&self.listings, id.as_bytes()),
            }
        }
        batch
            .commit()
            .map_err(StoreError::records("writing listings"))
    }

    /// Writes records and change-log entries as they are (the upgrade from a sled store),
    /// numbering on after `next_position`.
    pub(super) fn import(
        &self,
        records: Vec<(Vec<u8>, Vec<u8>)>,
        changes: Vec<(Vec<u8>, Vec<u8>)>,
        next_position: u64,
    ) -> Result<(), StoreError> {
        let mut batch = self.db.batch();
        for (k, v) in records {
            batch.insert(&self.listings, k, v);
        }
        for (k, v) in changes {
            batch.insert(&self.changes, k, v);
        }
        let next = next_position.max(self.next.load(Ordering::Acquire));
        batch.insert(&self.state, NEXT_POSITION_KEY, next.to_be_bytes());
        batch
            .commit()
            .map_err(StoreError::records("upgrading the store"))?;
        self.next.fetch_max(next, Ordering::AcqRel);
        Ok(())
    }

    /// Change-log entries keyed at or after `start`: (key bytes, entry bytes).
    pub(super) fn changes_from(
        &self,
        start: u64,
    ) -> impl Iterator<Item = Result<(fjall::Slice, fjall::Slice), StoreError>> + '_ {
        self.changes.range(start.to_be_bytes()..).map(|kv| {
            kv.into_inner()
                .map_err(StoreError::records("reading the change log"))
        })
    }

    /// The last change-log position, if any.
    pub(super) fn last_change(&self) -> Result<Option<u64>, StoreError> {
        match self.changes.last_key_value() {
            Some(kv) => {
                let key = kv
                    .key()
                    .map_err(StoreError::records("reading the change log"))?;
                Ok(Some(u64_from(&key, TREE_CHANGES)?))
            }
            None => Ok(None),
        }
    }

    /// Removes change-log entries keyed at or before `position`, in one batch.
    pub(super) fn trim_changes(&self, position: u64) -> Result<(), StoreError> {
        let ctx = StoreError::records;
        let mut batch = self.db.batch();
        for kv in self.changes.range(..=position.to_be_bytes()) {
            let key = kv.key().map_err(ctx("trimming the change log"))?;
            batch.remove(&self.changes, key);
        }
        if batch.is_empty() {
            return Ok(());
        }
        batch.commit().map_err(ctx("trimming the change log"))
    }

    /// Bytes on disk (tables and journal).
    pub(super) fn disk_bytes(&self) -> u64 {
        self.db.disk_space().unwrap_or(0)
    }
}
