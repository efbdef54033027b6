//! The store's in-memory lookups, derived from the records, and the gate their readers pass.
//!
//! Building the lookups reads every record: a million take 5 to 10 s from a warm page cache and
//! far longer from a cold disk. An opening engine therefore builds them on a thread of its own
//! ([`super::Store::open_deferred`], [`super::Store::load`]) while the search index, which is
//! persisted, already answers searches. Whatever needs the lookups (storing a record, sync sets,
//! the sweeper's agenda, a seller's records) waits at the gate until they are built; nothing
//! ever reads half-built lookups, and nothing is written to the store before they are built
//! (a write decides against the stored version through them).

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Condvar, Mutex, RwLock, RwLockReadGuard, RwLockWriteGuard};

use super::StoreError;

mod intern;
mod table;

pub(super) use table::Lookups;

/// Where building the lookups stands, as status reports show it.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum LoadState {
    /// Being built: this many records read so far.
    Loading {
        /// Records read so far.
        read: usize,
    },
    /// Built; the store is fully usable.
    Ready,
    /// Building stopped (the node shut down meanwhile, or a record could not be read): the
    /// store takes no writes until it is opened again.
    Failed(String),
}

enum Gate {
    Loading,
    Ready,
    Failed(String),
}

/// The lookups behind a gate that holds their readers until they are built.
pub(super) struct GatedLookups {
    lookups: RwLock<Lookups>,
    gate: Mutex<Gate>,
    opened: Condvar,
    /// The gate's state without its lock, for the path every read takes once built.
    ready: AtomicBool,
    read_so_far: AtomicUsize,
}

impl GatedLookups {
    /// Lookups still to be built: readers wait until [`GatedLookups::install`] or
    /// [`GatedLookups::fail`].
    pub(super) fn loading() -> GatedLookups {
        GatedLookups {
            lookups: RwLock::new(Lookups::default()),
            gate: Mutex::new(Gate::Loading),
            opened: Condvar::new(),
            ready: AtomicBool::new(false),
            read_so_far: AtomicUsize::new(0),
        }
    }

    fn lock_gate(&self) -> std::sync::MutexGuard<'_, Gate> {
        // The gate only ever moves forward by a plain assignment: a panic elsewhere cannot
        // leave it half-changed.
        self.gate.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Waits until the lookups are built; an error when building them stopped.
    pub(super) fn wait(&self) -> Result<(), StoreError> {
        if self.ready.load(Ordering::Acquire) {
            return Ok(());
        }
        let mut gate = self.lock_gate();
        loop {
            match &*gate {
                Gate::Ready => return Ok(()),
                Gate::Failed(why) => {
                    return Err(StoreError::NotLoaded {
                        reason: why.clone(),
                    })
                }
                Gate::Loading => {
                    gate = self.opened.wait(gate).unwrap_or_else(|p| p.into_inner());
                }
            }
        }
    }

    pub(super) fn state(&self) -> LoadState {
        match &*self.lock_gate() {
            Gate::Ready => LoadState::Ready,
            Gate::Failed(why) => LoadState::Failed(why.clone()),
            Gate::Loading => LoadState::Loading {
                read: self.read_so_far.load(Ordering::Relaxed),
            },
        }
    }

    /// Counts records read while building (for status reports).
    pub(super) fn progress(&self, read: usize) {
        self.read_so_far.store(read, Ordering::Relaxed);
    }

    /// The lookups, once built.
    pub(super) fn read(&self) -> Result<RwLockReadGuard<'_, Lookups>, StoreError> {
        self.wait()?;
        // Lookups are updated by plain inserts and removes; a panic elsewhere cannot leave
        // them half-changed in a way a reader could trip over.
        Ok(self.lookups.read().unwrap_or_else(|p| p.into_inner()))
    }

    /// The lookups for a change, once built.
    pub(super) fn write(&self) -> Result<RwLockWriteGuard<'_, Lookups>, StoreError> {
        self.wait()?;
        Ok(self.lookups.write().unwrap_or_else(|p| p.into_inner()))
    }

    /// Installs the built lookups and lets every waiting reader through.
    pub(super) fn install(&self, built: Lookups) {
        *self.lookups.write().unwrap_or_else(|p| p.into_inner()) = built;
        let mut gate = self.lock_gate();
        if matches!(*gate, Gate::Loading) {
            *gate = Gate::Ready;
            self.ready.store(true, Ordering::Release);
        }
        drop(gate);
        self.opened.notify_all();
    }

    /// Ends the building without lookups: waiting readers get an error naming `why`.
    pub(super) fn fail(&self, why: String) {
        let mut gate = self.lock_gate();
        if matches!(*gate, Gate::Loading) {
            *gate = Gate::Failed(why);
        }
        drop(gate);
        self.opened.notify_all();
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::AtomicBool;
    use std::sync::mpsc;
    use std::time::Duration;

    use super::super::tests::record;
    use super::super::{LoadState, Store, StoreConfig, StoreError};

    fn stored(n: u64) -> (tempfile::TempDir, Vec<super::super::StoredRecord>) {
        let dir = tempfile::tempdir().unwrap();
        let recs: Vec<_> = (1..=n).map(record).collect();
        let store = Store::open(dir.path(), &StoreConfig::default()).unwrap();
        store.apply(recs.clone()).unwrap();
        store.flush().unwrap();
        drop(store);
        (dir, recs)
    }

    #[test]
    fn a_store_opened_deferred_reads_by_id_at_once_and_holds_lookup_readers_until_built() {
        let (dir, recs) = stored(3);
        let store = Store::open_deferred(dir.path(), &StoreConfig::default()).unwrap();
        assert_eq!(store.load_state(), LoadState::Loading { read: 0 });
        // A record by id needs no lookup.
        assert_eq!(store.get(&recs[0].id).unwrap().as_ref(), Some(&recs[0]));
        // A seller's records do: the reader waits for the lookups.
        let (tx, rx) = mpsc::channel();
        let (reader, seller) = (store.clone(), recs[1].seller().unwrap());
        let waiting = std::thread::spawn(move || {
            tx.send(reader.ids_of_seller(&seller)).unwrap();
        });
        assert!(
            rx.recv_timeout(Duration::from_millis(200)).is_err(),
            "answered before the lookups were built"
        );
        let mut seen = Vec::new();
        store
            .load(
                &AtomicBool::new(false),
                |id, _, _, _| {
                    seen.push(id);
                    Ok(())
                },
                || Ok(()),
            )
            .unwrap();
        assert_eq!(rx.recv().unwrap().unwrap(), vec![recs[1].id]);
        waiting.join().unwrap();
        assert_eq!(seen.len(), 3, "every record handed to the pass once");
        assert_eq!(store.load_state(), LoadState::Ready);
        assert_eq!(store.stats().records, 3);
    }

    #[test]
    fn a_store_whose_lookups_were_not_built_takes_no_writes_and_says_why() {
        let (dir, recs) = stored(2);
        // Stopped (the node shut down while building).
        let store = Store::open_deferred(dir.path(), &StoreConfig::default()).unwrap();
        let stop = AtomicBool::new(true);
        let err = store
            .load(&stop, |_, _, _, _| Ok(()), || Ok(()))
            .unwrap_err();
        assert!(matches!(err, StoreError::NotLoaded { .. }), "{err}");
        assert!(matches!(store.load_state(), LoadState::Failed(_)));
        let refused = store.apply(vec![record(9)]).unwrap_err();
        assert!(refused.to_string().contains("stopped"), "{refused}");
        drop(store);
        // Refused by the opener's last check: the reason is what readers and writers get.
        let store = Store::open_deferred(dir.path(), &StoreConfig::default()).unwrap();
        let err = store
            .load(
                &AtomicBool::new(false),
                |_, _, _, _| Ok(()),
                || Err("the store lost writes; restore it".to_string()),
            )
            .unwrap_err();
        assert_eq!(err.to_string(), "the store lost writes; restore it");
        let refused = store.ids_of_seller(&recs[0].seller().unwrap()).unwrap_err();
        assert_eq!(refused.to_string(), "the store lost writes; restore it");
        assert!(store.apply(vec![record(9)]).is_err());
        drop(store);
        // Nothing was written: a plain open finds the two records.
        let store = Store::open(dir.path(), &StoreConfig::default()).unwrap();
        assert_eq!(store.stats().records, 2);
        assert!(store.get(&record(9).id).unwrap().is_none());
    }
}
