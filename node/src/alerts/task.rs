//! The alert task: fed by the engine's change events, it matches them in batches on the
//! blocking pool, checks the clock for listings about to expire, writes growing digests, and
//! at shutdown matches what was already stored before it ends.

use tokio::sync::{broadcast, watch};

use super::{Alerts, DIGEST_WRITE_EVERY, EXPIRY_CHECK_EVERY, MAX_BATCH};
use crate::events::Event;

impl Alerts {
    /// Matches what the engine stores until `stop` turns true, then matches what is already
    /// queued and returns. The broadcast is bounded: if matching falls behind by its whole
    /// capacity, the missed events are logged (those listings alert on their next version).
    /// `rx` is the engine's subscription, taken by the caller before anything is ingested.
    pub async fn run(self, mut rx: broadcast::Receiver<Event>, mut stop: watch::Receiver<bool>) {
        // The first tick is at once: what came within its warning while the node was down.
        let mut clock = tokio::time::interval(EXPIRY_CHECK_EVERY);
        clock.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        // Digests that grew while the node went quiet reach the log this often.
        let mut digests = tokio::time::interval(DIGEST_WRITE_EVERY);
        digests.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        enum Wake {
            Event(Result<Event, broadcast::error::RecvError>),
            Expiry,
            Digests,
        }
        loop {
            // The select only chooses; awaiting inside a branch would hold the stop flag's
            // read guard (not `Send`) across the await.
            let wake = tokio::select! {
                biased;
                _ = stop.wait_for(|s| *s) => break,
                r = rx.recv() => Wake::Event(r),
                _ = clock.tick() => Wake::Expiry,
                _ = digests.tick() => Wake::Digests,
            };
            let first = match wake {
                Wake::Event(r) => r,
                Wake::Expiry => {
                    self.check_expiry_blocking().await;
                    continue;
                }
                Wake::Digests => {
                    if self.digests_dirty() {
                        self.flush_digests_blocking().await;
                    }
                    continue;
                }
            };
            let mut batch = Vec::new();
            match first {
                Ok(ev) => batch.push(ev),
                Err(broadcast::error::RecvError::Lagged(n)) => {
                    tracing::warn!(
                        missed = n,
                        "alerts fell behind ingest; some listings were not matched"
                    );
                }
                Err(broadcast::error::RecvError::Closed) => break,
            }
            if !self.drain_into(&mut rx, &mut batch) {
                break;
            }
            self.process_batch(batch).await;
        }
        // Drain at shutdown: what was stored before the stop is matched.
        loop {
            let mut batch = Vec::new();
            let open = self.drain_into(&mut rx, &mut batch);
            if batch.is_empty() {
                break;
            }
            self.process_batch(batch).await;
            if !open {
                break;
            }
        }
        self.flush_digests_blocking().await;
    }

    async fn flush_digests_blocking(&self) {
        let me = self.clone();
        match tokio::task::spawn_blocking(move || me.flush_digests()).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => tracing::error!(error = %e, "writing alert digests failed"),
            Err(e) => tracing::error!(error = %e, "writing alert digests panicked"),
        }
    }

    /// Takes what is queued (up to a batch); false when the broadcast closed.
    fn drain_into(&self, rx: &mut broadcast::Receiver<Event>, batch: &mut Vec<Event>) -> bool {
        while batch.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(ev) => batch.push(ev),
                Err(broadcast::error::TryRecvError::Lagged(n)) => {
                    tracing::warn!(
                        missed = n,
                        "alerts fell behind ingest; some listings were not matched"
                    );
                }
                Err(broadcast::error::TryRecvError::Empty) => return true,
                Err(broadcast::error::TryRecvError::Closed) => return false,
            }
        }
        true
    }

    async fn check_expiry_blocking(&self) {
        let me = self.clone();
        match tokio::task::spawn_blocking(move || me.check_expiry()).await {
            Ok(Ok(_)) => {}
            Ok(Err(e)) => tracing::error!(error = %e, "checking listings about to expire failed"),
            Err(e) => tracing::error!(error = %e, "checking listings about to expire panicked"),
        }
    }

    async fn process_batch(&self, batch: Vec<Event>) {
        let me = self.clone();
        match tokio::task::spawn_blocking(move || me.process(&batch)).await {
            Ok(Ok(_)) => {}
            Ok(Err(e)) => tracing::error!(error = %e, "matching saved searches failed"),
            Err(e) => tracing::error!(error = %e, "matching saved searches panicked"),
        }
    }
}
