//! The alert log: alerts recorded one by one until a burst, then counted in a digest per
//! search (or wanted post) that grows in memory and reaches the log at most every
//! [`DIGEST_WRITE_EVERY`]; the log trimmed to [`MAX_ALERTS`].

use std::time::Instant;

use super::store::encode;
use super::{
    Alert, AlertError, AlertKind, Alerts, BurstOf, Matching, DIGEST_AFTER, DIGEST_MAX_IDS,
    DIGEST_WINDOW, DIGEST_WRITE_EVERY, MAX_ALERTS,
};

/// Matches of one search (or wanted post) in the current window.
pub(super) struct Burst {
    started: Instant,
    count: u64,
    /// The window's digest, kept here as it grows and written to the log once per batch
    /// (rewriting it for every match was a fifth of the matching time, BENCHMARKS.md).
    digest: Option<Alert>,
    /// Whether `digest` grew since it was last written.
    dirty: bool,
    /// When `digest` was last written.
    written: Instant,
}

impl Burst {
    pub(super) fn new() -> Burst {
        Burst {
            started: Instant::now(),
            count: 0,
            digest: None,
            dirty: false,
            written: Instant::now(),
        }
    }
}

impl Alerts {
    /// Writes a new alert (numbered `m.next_alert`) to the log.
    pub(super) fn log_alert(&self, m: &mut Matching, a: &Alert) -> Result<(), AlertError> {
        self.inner.store.log.insert(a.id.to_be_bytes(), encode(a))?;
        m.next_alert = a.id + 1;
        m.log_len += 1;
        Ok(())
    }

    /// Writes the digests that grew since they were last written: those written more than
    /// [`DIGEST_WRITE_EVERY`] ago, or all of them when `all`. True when it wrote.
    pub(super) fn write_digests(&self, m: &mut Matching, all: bool) -> Result<bool, AlertError> {
        let log = &self.inner.store.log;
        let mut wrote = false;
        let now = Instant::now();
        for b in m.bursts.values_mut() {
            if !b.dirty || (!all && now.duration_since(b.written) < DIGEST_WRITE_EVERY) {
                continue;
            }
            if let (true, Some(d)) = (b.dirty, &b.digest) {
                log.insert(d.id.to_be_bytes(), encode(d))?;
                b.dirty = false;
                b.written = now;
                wrote = true;
            }
        }
        Ok(wrote)
    }

    /// Whether a digest grew since it was last written. Called on the async task: it does not
    /// wait for the lock (a batch being matched holds it, and writes what is due itself).
    pub(super) fn digests_dirty(&self) -> bool {
        self.inner
            .matching
            .try_lock()
            .map(|m| m.bursts.values().any(|b| b.dirty))
            .unwrap_or(false)
    }

    /// Writes every digest that grew since it was last written, durably (the alert task does
    /// this when it goes quiet and when it stops). Blocking.
    pub fn flush_digests(&self) -> Result<(), AlertError> {
        let mut m = self.lock()?;
        if self.write_digests(&mut m, true)? {
            self.inner.store.sync()?;
        }
        Ok(())
    }

    /// Records alert `a` (its id the next one), or, past [`DIGEST_AFTER`] alerts of `of` or of
    /// all searches and wanted posts together in a [`DIGEST_WINDOW`], counts it in the
    /// window's digest of `of`: a catch-up sync that brings thousands of matches at once makes
    /// one digest per search, not thousands of notifications. The alert to announce, if any.
    pub(super) fn fire(
        &self,
        m: &mut Matching,
        of: BurstOf,
        a: Alert,
    ) -> Result<Option<Alert>, AlertError> {
        let log = &self.inner.store.log;
        if m.window.0.elapsed() > DIGEST_WINDOW {
            m.window = (Instant::now(), 0);
        }
        m.window.1 += 1;
        let within_all = m.window.1 <= DIGEST_AFTER;
        let burst = m.bursts.entry(of).or_insert_with(Burst::new);
        if burst.started.elapsed() > DIGEST_WINDOW {
            // The closing window's digest is written before it is let go.
            if let (true, Some(d)) = (burst.dirty, &burst.digest) {
                log.insert(d.id.to_be_bytes(), encode(d))?;
            }
            *burst = Burst::new();
        }
        burst.count += 1;
        if burst.count <= DIGEST_AFTER && within_all {
            self.log_alert(m, &a)?;
            return Ok(Some(a));
        }
        if let Some(d) = &mut burst.digest {
            d.count += 1;
            if let Some(listing) = a.listing {
                if d.listings.len() < DIGEST_MAX_IDS {
                    d.listings.push(listing);
                }
            }
            burst.dirty = true;
            return Ok(None);
        }
        let search_name = match (&of, a.search_name.is_empty(), &a.title) {
            // A seller's digest of someone's wanted post is named after the post.
            (BurstOf::Wanted(_), true, Some(t)) => format!("wanted: {t}"),
            _ => a.search_name,
        };
        let d = Alert {
            id: a.id,
            search: a.search,
            search_name,
            kind: AlertKind::Digest,
            listing: None,
            title: None,
            price: None,
            previous_price: None,
            expires_at: None,
            command: a.command,
            wanted: a.wanted,
            listings: a.listing.into_iter().collect(),
            count: 1,
            at: a.at,
            seen: false,
        };
        burst.digest = Some(d.clone());
        self.log_alert(m, &d)?;
        Ok(Some(d))
    }

    /// Forgets the oldest alerts past [`MAX_ALERTS`].
    pub(super) fn trim(&self, m: &mut Matching) -> Result<(), AlertError> {
        let log = &self.inner.store.log;
        let excess = m.log_len.saturating_sub(MAX_ALERTS);
        if excess == 0 {
            return Ok(());
        }
        // Key by key, never a `sled::Batch`: in sled 0.34 a batch takes a lock global to the
        // process, and from the first batch on every read and write of every tree takes it
        // too, which stalls the engine's ingest (see store.rs). A crash part way leaves a few
        // old alerts, which the next trim removes.
        let oldest: Vec<sled::IVec> = log.iter().keys().take(excess).collect::<Result<_, _>>()?;
        let mut newest_gone = 0;
        for k in oldest {
            if let Ok(b) = <[u8; 8]>::try_from(k.as_ref()) {
                newest_gone = newest_gone.max(u64::from_be_bytes(b));
            }
            log.remove(k)?;
        }
        // A digest forgotten here must not be written back by its burst.
        for b in m.bursts.values_mut() {
            if b.digest.as_ref().is_some_and(|d| d.id <= newest_gone) {
                b.digest = None;
                b.dirty = false;
            }
        }
        m.log_len = m.log_len.saturating_sub(excess);
        Ok(())
    }
}
