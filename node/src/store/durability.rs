//! Making acknowledged writes survive a power cut, with group commit.
//!
//! sled 0.34's `flush` writes its buffers with `sync_file_range(WAIT_BEFORE | WRITE |
//! WAIT_AFTER)` (`pagecache/iobuf.rs`): the pages reach the device's queue, but neither the
//! file's size nor the drive's volatile cache is made durable. The real `fsync` comes from
//! sled's flusher thread every `flush_every_ms` (500 ms), and values larger than a quarter
//! segment go to files under `blobs/` that sled never syncs at all. `kill -9` cannot show the
//! gap (the page cache survives it); a power cut can lose the last half second of writes that
//! were acknowledged.
//!
//! [`Durability::sync`] closes it: the records' journal synced (fjall, `store/records.rs`),
//! then sled's flush and `fdatasync` of sled's data file and of any blob file written since the
//! last sync (and of the blob folder, for their names). Every write acknowledged to a user or a
//! peer waits for it.
//!
//! Group commit: callers that arrive while a sync runs join the next round, and that round's
//! one sync covers them all, so 8 concurrent writers cost about two syncs, not eight. A
//! round's sync starts only after every member joined it, so it covers every write its
//! members made before they called `sync`.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, OnceLock};

use super::records::{as_sled_error, Records};

/// How writes are made durable before they are acknowledged.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum SyncMode {
    /// sled's flush, then `fdatasync` of what it wrote: survives a power cut.
    #[default]
    Fdatasync,
    /// sled's flush only (`sync_file_range`): survives a crash of the process, but a power cut
    /// can lose writes acknowledged in the last `flush_every_ms`. What swapmeet did before;
    /// kept for the benchmark that measures the difference.
    FlushOnly,
}

/// The result of one round, shared by its members (`sled::Error` clones an I/O error by its
/// kind and text).
type RoundResult = sled::Result<()>;

#[derive(Default)]
struct Round {
    result: OnceLock<RoundResult>,
}

struct State {
    /// The round that callers join now; it starts when no sync is running.
    next: Arc<Round>,
    /// A round's sync is running (its leader does it outside the lock).
    syncing: bool,
    /// Callers waiting for a round (tests watch it to line up a group deterministically).
    waiting: usize,
}

/// What one sync does; a function so tests can hold a round open.
type SyncFn = dyn Fn() -> sled::Result<()> + Send + Sync;

struct Inner {
    /// The free space kept in reserve on the store's disk; see [`Durability::ensure_space`].
    space: Option<SpaceGuard>,
    state: Mutex<State>,
    done: Condvar,
    sync: Box<SyncFn>,
    /// Rounds whose sync completed successfully since the store opened.
    completed: AtomicU64,
}

/// The store's durability point. Cheap to clone; every clone shares the rounds.
#[derive(Clone)]
pub struct Durability {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Durability {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Durability")
            .field("completed", &self.completed())
            .finish()
    }
}

impl Durability {
    /// The durability of the store in `dir`: its records (fjall) and its sled database `db`.
    pub(super) fn for_store(
        db: sled::Db,
        records: Records,
        dir: &Path,
        mode: SyncMode,
        reserve_bytes: u64,
    ) -> std::io::Result<Self> {
        Durability::for_sled_then(db, dir, mode, reserve_bytes, move || {
            records
                .persist(mode == SyncMode::Fdatasync)
                .map_err(as_sled_error)
        })
    }

    /// The durability of the sled database `db` living in `dir`, run after `first`.
    fn for_sled_then(
        db: sled::Db,
        dir: &Path,
        mode: SyncMode,
        reserve_bytes: u64,
        first: impl Fn() -> sled::Result<()> + Send + Sync + 'static,
    ) -> std::io::Result<Self> {
        let files = match mode {
            SyncMode::FlushOnly => None,
            SyncMode::Fdatasync => {
                // The data file's name in sled 0.34 (`Config::db_path`). Opened read-only:
                // fdatasync works on any descriptor of the file and syncs all its pages.
                let data = File::open(dir.join("db"))?;
                // The data file's own name, created by this open, must survive too.
                sync_dir(dir)?;
                Some(SledFiles {
                    data,
                    blobs: dir.join("blobs"),
                    last_blob: Mutex::new(0),
                })
            }
        };
        let mut d = Durability::with(move || {
            first()?;
            db.flush()?;
            if let Some(files) = &files {
                files.sync()?;
            }
            Ok(())
        });
        if let Some(inner) = Arc::get_mut(&mut d.inner) {
            inner.space = Some(SpaceGuard {
                dir: dir.to_path_buf(),
                reserve_bytes,
            });
        }
        Ok(d)
    }

    fn with(sync: impl Fn() -> sled::Result<()> + Send + Sync + 'static) -> Self {
        Durability {
            inner: Arc::new(Inner {
                space: None,
                state: Mutex::new(State {
                    next: Arc::new(Round::default()),
                    syncing: false,
                    waiting: 0,
                }),
                done: Condvar::new(),
                sync: Box::new(sync),
                completed: AtomicU64::new(0),
            }),
        }
    }

    /// Makes every write made before this call durable, sharing one sync with the callers
    /// that arrive while another sync runs. Blocking (disk): call it on the blocking pool.
    ///
    /// An error means the writes may not be durable and must not be acknowledged.
    pub fn sync(&self) -> sled::Result<()> {
        let mut st = self.lock();
        let mine = st.next.clone();
        st.waiting += 1;
        loop {
            if let Some(result) = mine.result.get() {
                st.waiting -= 1;
                return result.clone();
            }
            if !st.syncing {
                // No round runs, so `mine` is the one callers join now: lead it. Everyone
                // who joined it did so before this point, so its sync covers their writes.
                st.syncing = true;
                let round = std::mem::take(&mut st.next);
                drop(st);
                let result = (self.inner.sync)();
                if result.is_ok() {
                    self.inner.completed.fetch_add(1, Ordering::AcqRel);
                }
                // Set before `syncing` drops: a member that sees no sync running and its
                // round unfinished would otherwise lead it a second time.
                let _ = round.result.set(result);
                st = self.lock();
                st.syncing = false;
                self.inner.done.notify_all();
                continue;
            }
            st = self.inner.done.wait(st).unwrap_or_else(|p| p.into_inner());
        }
    }

    /// Refuses a write while the store's disk has less free space than the reserve.
    ///
    /// sled 0.34 cannot recover from a failed write in place: the first `ENOSPC` while writing
    /// its log becomes a global error that fails every later write and flush until the store
    /// is reopened. So the node stops taking writes while some space is left, and takes them
    /// again by itself once space returns. Call before a write of any size (listings, a
    /// message, a deposit); small bookkeeping writes (read marks, alerts) fit in the reserve.
    pub fn ensure_space(&self) -> Result<(), NoSpace> {
        match &self.inner.space {
            Some(guard) => guard.check(),
            None => Ok(()),
        }
    }

    /// Syncs completed since the store opened (a status figure; tests check that an
    /// acknowledgement came after one).
    pub fn completed(&self) -> u64 {
        self.inner.completed.load(Ordering::Acquire)
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // The state is a few plain fields, each left consistent by every step.
        self.inner.state.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// The store's disk has less free space than the node keeps in reserve.
#[derive(Clone, Debug, thiserror::Error)]
#[error(
    "the disk holding {dir} is full: {:.1} MiB free, and the node keeps {:.1} MiB in reserve; \
     free some space (writes resume by themselves, reads go on meanwhile)",
    mib(*.free),
    mib(*.reserve)
)]
pub struct NoSpace {
    /// The store's folder.
    pub dir: String,
    /// Bytes free for unprivileged writers.
    pub free: u64,
    /// The reserve.
    pub reserve: u64,
}

fn mib(bytes: u64) -> f64 {
    bytes as f64 / (1024.0 * 1024.0)
}

struct SpaceGuard {
    dir: PathBuf,
    reserve_bytes: u64,
}

impl SpaceGuard {
    fn check(&self) -> Result<(), NoSpace> {
        let Some(free) = free_bytes(&self.dir) else {
            // Not knowing is no reason to refuse: sled reports a real failure itself.
            return Ok(());
        };
        if free < self.reserve_bytes {
            return Err(NoSpace {
                dir: self.dir.display().to_string(),
                free,
                reserve: self.reserve_bytes,
            });
        }
        Ok(())
    }
}

/// Bytes available to unprivileged writers on the filesystem holding `dir`.
#[cfg(target_os = "linux")]
fn free_bytes(dir: &Path) -> Option<u64> {
    let st = rustix::fs::statvfs(dir).ok()?;
    Some(st.f_bavail.saturating_mul(st.f_frsize))
}

#[cfg(not(target_os = "linux"))]
fn free_bytes(_dir: &Path) -> Option<u64> {
    None
}

/// The files sled writes that its flush leaves unsynced.
struct SledFiles {
    data: File,
    blobs: PathBuf,
    /// The highest blob already synced (blob files are named by a growing log sequence number).
    last_blob: Mutex<u64>,
}

impl SledFiles {
    fn sync(&self) -> std::io::Result<()> {
        self.data.sync_data()?;
        // Large values: sled writes them to their own files without any sync.
        let mut last = self.last_blob.lock().unwrap_or_else(|p| p.into_inner());
        let entries = match std::fs::read_dir(&self.blobs) {
            Ok(entries) => entries,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(e),
        };
        let mut newest = *last;
        for entry in entries {
            let entry = entry?;
            let Some(n) = entry
                .file_name()
                .to_str()
                .and_then(|s| s.parse::<u64>().ok())
            else {
                continue;
            };
            if n > *last {
                match File::open(entry.path()) {
                    Ok(f) => f.sync_data()?,
                    // Collected by sled meanwhile: nothing left to make durable.
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                    Err(e) => return Err(e),
                }
                newest = newest.max(n);
            }
        }
        if newest > *last {
            sync_dir(&self.blobs)?;
            *last = newest;
        }
        Ok(())
    }
}

/// Makes the names in a folder durable (a new file's entry lives in its folder).
fn sync_dir(dir: &Path) -> std::io::Result<()> {
    File::open(dir)?.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::mpsc;
    use std::time::Duration;

    /// Waits (without a deadline of its own: the test harness times out) until `n` callers
    /// wait for a round.
    fn until_waiting(d: &Durability, n: usize) {
        while d.lock().waiting < n {
            std::thread::sleep(Duration::from_millis(1));
        }
    }

    #[test]
    fn callers_that_arrive_during_a_sync_share_the_next_one() {
        let (release_tx, release_rx) = mpsc::channel::<()>();
        let release_rx = Mutex::new(release_rx);
        let calls = Arc::new(AtomicU64::new(0));
        let c = calls.clone();
        let d = Durability::with(move || {
            c.fetch_add(1, Ordering::SeqCst);
            // Each sync waits for the test's word, so the test decides who arrives during it.
            let _ = release_rx
                .lock()
                .unwrap()
                .recv_timeout(Duration::from_secs(30));
            Ok(())
        });
        let first = {
            let d = d.clone();
            std::thread::spawn(move || d.sync())
        };
        until_waiting(&d, 1);
        while calls.load(Ordering::SeqCst) == 0 {
            std::thread::sleep(Duration::from_millis(1));
        }
        // Seven writers arrive while the first sync runs.
        let rest: Vec<_> = (0..7)
            .map(|_| {
                let d = d.clone();
                std::thread::spawn(move || d.sync())
            })
            .collect();
        until_waiting(&d, 8);
        release_tx.send(()).unwrap();
        first.join().unwrap().unwrap();
        release_tx.send(()).unwrap();
        for t in rest {
            t.join().unwrap().unwrap();
        }
        assert_eq!(calls.load(Ordering::SeqCst), 2, "8 writers, 2 syncs");
        assert_eq!(d.completed(), 2);
    }

    #[test]
    fn a_failed_sync_fails_every_member_of_its_round_and_the_next_round_can_succeed() {
        let fail = Arc::new(std::sync::atomic::AtomicBool::new(true));
        let f = fail.clone();
        let d = Durability::with(move || {
            if f.load(Ordering::SeqCst) {
                Err(std::io::Error::other("No space left on device").into())
            } else {
                Ok(())
            }
        });
        let err = d.sync().unwrap_err();
        assert!(err.to_string().contains("No space left"), "{err}");
        assert_eq!(d.completed(), 0);
        fail.store(false, Ordering::SeqCst);
        d.sync().unwrap();
        assert_eq!(d.completed(), 1);
    }

    #[test]
    fn a_sled_store_syncs_its_data_file_and_new_blobs() {
        let dir = tempfile::tempdir().unwrap();
        let db = sled::Config::new().path(dir.path()).open().unwrap();
        let d =
            Durability::for_sled_then(db.clone(), dir.path(), SyncMode::Fdatasync, 0, || Ok(()))
                .unwrap();
        d.ensure_space().unwrap();
        db.insert(b"small", b"v").unwrap();
        d.sync().unwrap();
        assert_eq!(d.completed(), 1);
        // Over a quarter of sled's 512 KiB segment: written to a blob file, which sled's own
        // flush never syncs.
        db.insert(b"large", vec![7u8; 200 * 1024]).unwrap();
        db.flush().unwrap();
        let files = SledFiles {
            data: File::open(dir.path().join("db")).unwrap(),
            blobs: dir.path().join("blobs"),
            last_blob: Mutex::new(0),
        };
        files.sync().unwrap();
        let synced = *files.last_blob.lock().unwrap();
        assert!(synced > 0, "the blob file was synced");
        assert!(dir.path().join("blobs").join(synced.to_string()).exists());
    }
}
