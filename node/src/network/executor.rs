//! The one executor for the blocking work the event loop starts: ingest of gossip batches and
//! fetched sync batches, sync answers and session starts, checks of DHT records peers put,
//! store scans for the status, the network's disk writes (the address book, DHT records),
//! private messages (answering peers' requests, looking at the outbox, recording receipts and
//! deposits, receiving collected mail, sweeping expired mail) and reading blob chunks to serve.
//!
//! Every kind of work has its own cap on the jobs in flight. At the cap a job is refused,
//! never queued: the caller decides what refusal means for its peer (a sync or messaging
//! request is answered "busy", a blob request `Busy`, a DHT put is dropped and counted, gossip
//! and the outbox's writes wait in their own bounded queues). So a flood of one kind cannot
//! starve another, and nothing grows without bound.
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
    /// Answering a peer's messaging request (deliver, deposit, collect, ack, receipt).
    MsgServe,
    /// Looking at the outbox for the messages due for a try.
    OutboxLook,
    /// Recording receipts for my messages and the deposits mailbox peers took.
    OutboxWrite,
    /// Receiving (opening, verifying, storing) mail collected from a mailbox peer.
    MailReceive,
    /// Dropping expired mail held for others and marking my expired messages.
    MailSweep,
    /// Reading a blob chunk a peer asked for.
    BlobServe,
}

impl Kind {
    const ALL: [Kind; 14] = [
        Kind::GossipIngest,
        Kind::SyncServe,
        Kind::SyncStart,
        Kind::SyncIngest,
        Kind::DhtCheck,
        Kind::DhtWrite,
        Kind::BookWrite,
        Kind::Stats,
        Kind::MsgServe,
        Kind::OutboxLook,
        Kind::OutboxWrite,
        Kind::MailReceive,
        Kind::MailSweep,
        Kind::BlobServe,
    ];

    fn index(self) -> usize {
        self as usize
    }

    /// The most jobs of this kind in flight, unless the config sets it
    /// ([`Executor::set_cap`]: blob serving follows `media.serve_total`). The blocking pool is
    /// shared with the API and the engine; these caps keep the network's share of it small
    /// whatever peers send.
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
            // Each answer holds at most one Collect answer's mail (256 KiB) in memory, so 32
            // bound it to 8 MiB; a sender keeps at most 32 requests open to one peer, so one
            // busy sender does not fill it and a flood is answered "busy; try again" (the
            // sender's outbox tries again after its backoff, a mailbox's depositor too).
            Kind::MsgServe => crate::network::messaging::MAX_INBOUND_JOBS,
            // One look at a time; a wake meanwhile looks again when it ends (`due_again`).
            // Receipts and deposit records are written one batch after the other, so they
            // land in order, from a bounded queue that waits meanwhile. One sweep at a time:
            // a sweep refused is done on the next minute's tick.
            Kind::OutboxLook | Kind::OutboxWrite | Kind::MailSweep => 1,
            // Each batch is one collect answer (up to 256 KiB) and one flush. Past the cap the
            // mail stays with its mailbox (not acknowledged) and is collected again when a
            // batch ends.
            Kind::MailReceive => 4,
            // `media.serve_total` sets it (`ServeLimits`, 32 by default).
            Kind::BlobServe => 32,
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
            Kind::MsgServe => "msg_serve",
            Kind::OutboxLook => "outbox_look",
            Kind::OutboxWrite => "outbox_write",
            Kind::MailReceive => "mail_receive",
            Kind::MailSweep => "mail_sweep",
            Kind::BlobServe => "blob_serve",
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
    caps: Vec<usize>,
    refused: Vec<u64>,
    closed: bool,
}

impl Default for Executor {
    fn default() -> Self {
        Executor {
            tasks: JoinSet::new(),
            in_flight: Kind::ALL.iter().map(|_| Arc::default()).collect(),
            caps: Kind::ALL.iter().map(|k| k.cap()).collect(),
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
    /// Sets the cap of `kind` (from the config; at least 1).
    pub fn set_cap(&mut self, kind: Kind, cap: usize) {
        self.caps[kind.index()] = cap.max(1);
    }

    /// The cap of `kind`.
    pub fn cap(&self, kind: Kind) -> usize {
        self.caps[kind.index()]
    }

    /// Runs `job` on the blocking pool unless its kind is at its cap.
    pub fn spawn(&mut self, kind: Kind, job: impl FnOnce() + Send + 'static) -> Result<(), Busy> {
        self.reap();
        self.admit(kind)?;
        let count = &self.in_flight[kind.index()];
        count.fetch_add(1, Ordering::AcqRel);
        let slot = Slot(count.clone());
        self.tasks.spawn_blocking(move || {
            let _slot = slot;
            job();
        });
        Ok(())
    }

    /// Whether a job of `kind` would be taken now; a refusal is counted in the status. For a
    /// caller that answers a peer "busy" before it has built the job.
    pub fn admit(&mut self, kind: Kind) -> Result<(), Busy> {
        // Only the loop's task spawns, so this check and the spawn after it cannot race with
        // another spawn; jobs ending meanwhile only make room.
        if self.has_room(kind) {
            return Ok(());
        }
        self.refused[kind.index()] += 1;
        Err(Busy {
            kind,
            cap: self.cap(kind),
        })
    }

    /// Jobs of `kind` running now.
    pub fn in_flight(&self, kind: Kind) -> usize {
        self.in_flight[kind.index()].load(Ordering::Acquire)
    }

    /// Whether another job of `kind` would be taken now.
    pub fn has_room(&self, kind: Kind) -> bool {
        !self.closed && self.in_flight(kind) < self.cap(kind)
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
                cap: self.cap(*k),
                refused: self.refused[k.index()],
            })
            .collect()
    }
}

/// Runs `f`, turning a panic into an error naming `what`. A job whose result frees state on
/// the loop (a peer's pending answer, a "look running" flag) reports through a channel, so
/// it must report even when it panics; the executor's slot is freed either way.
pub fn caught<T>(what: &str, f: impl FnOnce() -> T) -> Result<T, String> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)).map_err(|p| {
        let why = p
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| p.downcast_ref::<String>().cloned())
            .unwrap_or_default();
        tracing::error!(panic = %why, "{what} panicked");
        format!("{what} failed")
    })
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

    #[test]
    fn a_configured_cap_replaces_the_default_and_every_kind_is_in_the_status() {
        let mut ex = Executor::default();
        ex.set_cap(Kind::BlobServe, 5);
        assert_eq!(ex.cap(Kind::BlobServe), 5);
        // Never 0: a kind with no room at all would refuse every peer for good.
        ex.set_cap(Kind::BlobServe, 0);
        assert_eq!(ex.cap(Kind::BlobServe), 1);
        assert!(ex.admit(Kind::MsgServe).is_ok());
        ex.close();
        assert!(ex.admit(Kind::MsgServe).is_err());
        let status = ex.status();
        let names: Vec<&str> = status.iter().map(|k| k.kind).collect();
        assert_eq!(
            names,
            [
                "gossip_ingest",
                "sync_serve",
                "sync_start",
                "sync_ingest",
                "dht_check",
                "dht_write",
                "book_write",
                "stats",
                "msg_serve",
                "outbox_look",
                "outbox_write",
                "mail_receive",
                "mail_sweep",
                "blob_serve"
            ]
        );
        let msg = status.iter().find(|k| k.kind == "msg_serve");
        assert_eq!(msg.map(|k| (k.cap, k.refused)), Some((32, 1)));
    }
}
