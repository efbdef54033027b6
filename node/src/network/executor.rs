//! The one executor for the blocking work the event loop starts: ingest of gossip batches and
//! fetched sync batches, sync answers and session starts, checks of DHT records peers put,
//! store scans for the status, and the network's disk writes (the address book, DHT records).
//!
//! Every kind of work has its own cap on the jobs in flight. At the cap a job is refused,
//! never queued: the caller decides what refusal means for its peer (a sync request is
//! answered "busy", a DHT put is dropped and counted, gossip waits in its own bounded queue).
//! So a flood of one kind cannot starve another, and nothing grows without bound.
//!
//! The executor is owned by the event loop; jobs run on tokio's blocking pool. Shutdown
//! closes it to new work and waits for the jobs in flight ([`Executor::drain`]).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use serde::Serialize;
use tokio::task::JoinSet;

/// The kinds of blocking work, each with its own cap.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// Ingest of a batch of gossiped records.
    GossipIngest,
    /// Answering a sync request.
    SyncServe,
    /// Building the set a sync session starts from.
    SyncStart,
    /// Ingest of records a sync session fetched.
    SyncIngest,
    /// Verifying a record a peer put into the DHT.
    DhtCheck,
    /// Writing the DHT records stored since the last write.
    DhtWrite,
    /// Writing the address book.
    BookWrite,
    /// Counting the listings per area for the status.
    Stats,
}

impl Kind {
    const ALL: [Kind; 8] = [
        Kind::GossipIngest,
        Kind::SyncServe,
        Kind::SyncStart,
        Kind::SyncIngest,
        Kind::DhtCheck,
        Kind::DhtWrite,
        Kind::BookWrite,
        Kind::Stats,
    ];

    fn index(self) -> usize {
        self as usize
    }

    /// The most jobs of this kind in flight. The blocking pool is shared with the API and the
    /// engine; these caps keep the network's share of it small whatever peers send.
    pub const fn cap(self) -> usize {
        match self {
            // Two batches of up to 512 records: one ingesting while the next fills.
            Kind::GossipIngest => 2,
            // Each answer may build a set of the store's size; more would only queue on the
            // store.
            Kind::SyncServe => 4,
            // One per session (`event_loop/sync.rs` runs at most 8).
            Kind::SyncStart | Kind::SyncIngest => 8,
            Kind::DhtCheck => 8,
            // Writes of one store go one after the other, so they land in order.
            Kind::DhtWrite | Kind::BookWrite | Kind::Stats => 1,
        }
    }

    fn name(self) -> &'static str {
        match self {
            Kind::GossipIngest => "gossip_ingest",
            Kind::SyncServe => "sync_serve",
            Kind::SyncStart => "sync_start",
            Kind::SyncIngest => "sync_ingest",
            Kind::DhtCheck => "dht_check",
            Kind::DhtWrite => "dht_write",
            Kind::BookWrite => "book_write",
            Kind::Stats => "stats",
        }
    }
}

/// A job was refused: its kind is at its cap, or the executor is draining.
#[derive(Debug, thiserror::Error)]
#[error("{kind:?} work is at its cap of {cap} jobs in flight")]
pub struct Busy {
    /// The kind refused.
    pub kind: Kind,
    /// Its cap.
    pub cap: usize,
}

/// What the status shows of one kind of work.
#[derive(Clone, Debug, Default, Serialize)]
pub struct KindStatus {
    /// The kind.
    pub kind: &'static str,
    /// Jobs running now.
    pub in_flight: usize,
    /// The cap.
    pub cap: usize,
    /// Jobs refused at the cap since start.
    pub refused: u64,
}

/// The executor.
pub struct Executor {
    tasks: JoinSet<()>,
    in_flight: Vec<Arc<AtomicUsize>>,
    refused: Vec<u64>,
    closed: bool,
}

impl Default for Executor {
    fn default() -> Self {
        Executor {
            tasks: JoinSet::new(),
            in_flight: Kind::ALL.iter().map(|_| Arc::default()).collect(),
            refused: vec![0; Kind::ALL.len()],
            closed: false,
        }
    }
}

/// Gives a job's slot back when the job ends, panic included.
struct Slot(Arc<AtomicUsize>);

impl Drop for Slot {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

impl Executor {
    /// Runs `job` on the blocking pool unless its kind is at its cap.
    pub fn spawn(&mut self, kind: Kind, job: impl FnOnce() + Send + 'static) -> Result<(), Busy> {
        self.reap();
        let count = &self.in_flight[kind.index()];
        // Only the loop's task spawns, so the load and the add cannot race with another
        // spawn; jobs ending meanwhile only make room.
        if self.closed || count.load(Ordering::Acquire) >= kind.cap() {
            self.refused[kind.index()] += 1;
            return Err(Busy {
                kind,
                cap: kind.cap(),
            });
        }
        count.fetch_add(1, Ordering::AcqRel);
        let slot = Slot(count.clone());
        self.tasks.spawn_blocking(move || {
            let _slot = slot;
            job();
        });
        Ok(())
    }

    /// Jobs of `kind` running now.
    pub fn in_flight(&self, kind: Kind) -> usize {
        self.in_flight[kind.index()].load(Ordering::Acquire)
    }

    /// Whether another job of `kind` would be taken now.
    pub fn has_room(&self, kind: Kind) -> bool {
        !self.closed && self.in_flight(kind) < kind.cap()
    }

    /// Forgets the handles of finished jobs (the join set keeps them until asked).
    pub fn reap(&mut self) {
        while let Some(r) = self.tasks.try_join_next() {
            if let Err(e) = r {
                if e.is_panic() {
                    tracing::error!(error = %e, "a network job panicked");
                }
            }
        }
    }

    /// Refuses new jobs from now on.
    pub fn close(&mut self) {
        self.closed = true;
    }

    /// Waits for the next job in flight to end; `false` when none is left.
    pub async fn join_next(&mut self) -> bool {
        self.tasks.join_next().await.is_some()
    }

    /// Jobs in flight, all kinds.
    pub fn len(&self) -> usize {
        self.tasks.len()
    }

    /// Whether no job is in flight.
    pub fn is_empty(&self) -> bool {
        self.tasks.is_empty()
    }

    /// Per kind: in flight, cap, refused.
    pub fn status(&self) -> Vec<KindStatus> {
        Kind::ALL
            .iter()
            .map(|k| KindStatus {
                kind: k.name(),
                in_flight: self.in_flight(*k),
                cap: k.cap(),
                refused: self.refused[k.index()],
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn each_kind_is_capped_on_its_own_and_draining_waits_for_all() {
        let mut ex = Executor::default();
        let (go_tx, go_rx) = std::sync::mpsc::channel::<()>();
        let go_rx = Arc::new(std::sync::Mutex::new(go_rx));
        for _ in 0..Kind::SyncServe.cap() {
            let rx = go_rx.clone();
            ex.spawn(Kind::SyncServe, move || {
                let _ = rx.lock().unwrap().recv();
            })
            .unwrap();
        }
        let err = ex.spawn(Kind::SyncServe, || {}).unwrap_err();
        assert_eq!(err.cap, Kind::SyncServe.cap());
        // Another kind still has room.
        ex.spawn(Kind::DhtCheck, || {}).unwrap();
        let refused = ex.status().into_iter().find(|s| s.kind == "sync_serve");
        assert_eq!(refused.map(|s| s.refused), Some(1));
        ex.close();
        assert!(ex.spawn(Kind::Stats, || {}).is_err());
        for _ in 0..Kind::SyncServe.cap() {
            go_tx.send(()).unwrap();
        }
        while ex.join_next().await {}
        assert!(ex.is_empty());
        assert_eq!(ex.in_flight(Kind::SyncServe), 0);
    }
}
