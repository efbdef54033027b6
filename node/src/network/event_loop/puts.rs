//! The node's own listings put into the DHT, and put again when a put fails.
//!
//! A put is a Kademlia query (find the 20 peers closest to the listing's key, then store the
//! record with them) and fails when the query times out or no peer takes the record: in a
//! 1,000-node simulation most of the puts made while the network was busy failed, and their
//! listings could not be looked up until Kademlia's hourly replication (docs/SCALE.md). A
//! failed put is tried again after 1 minute, then 2, then 4; the record is read back from the
//! node's own DHT store, so a listing replaced or withdrawn meanwhile is put as it is now (or
//! not at all once it is gone). At most 64 retries start every 5 s, oldest first.

use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant};

use libp2p::kad::{self, store::RecordStore, QueryId, Quorum};
use swapmeet_protocol::ListingId;

use super::EventLoop;
use crate::network::{dht, DhtPuts};

/// Attempts at putting one listing: the first and three retries.
const PUT_ATTEMPTS: u8 = 4;
/// How often the waiting retries are looked at.
pub(super) const RETRY_CHECK_EVERY: Duration = Duration::from_secs(5);
/// Retries started at one look at most (about 13 queries a second): a shop that synced
/// thousands of listings while offline has them all fail at once and come due together.
const RETRIES_PER_CHECK: usize = 64;
/// Retries waiting at most (a bridge publishes thousands of listings at once); past it the
/// first in line is dropped, and Kademlia's hourly replication puts it again.
const MAX_WAITING: usize = 4096;

/// Own puts under way and waiting to be tried again (`Q` is Kademlia's query id; another
/// type in the unit tests, as a query id cannot be made outside a query).
pub(super) struct OwnPuts<Q = QueryId> {
    /// Queries under way: the listing and which attempt (1 for the first).
    running: HashMap<Q, (ListingId, u8)>,
    /// Failed puts waiting, in the order they are due.
    waiting: VecDeque<(Instant, ListingId, u8)>,
    /// What the status shows.
    pub(super) counts: DhtPuts,
}

impl<Q> Default for OwnPuts<Q> {
    fn default() -> Self {
        OwnPuts {
            running: HashMap::new(),
            waiting: VecDeque::new(),
            counts: DhtPuts::default(),
        }
    }
}

impl<Q: std::hash::Hash + Eq> OwnPuts<Q> {
    /// A put query ended. Returns whether it was a put of the node's own.
    fn ended(&mut self, query: Q, ok: bool, first_retry: Duration, now: Instant) -> bool {
        let Some((id, attempt)) = self.running.remove(&query) else {
            return false;
        };
        if ok {
            self.counts.stored += 1;
        } else if attempt < PUT_ATTEMPTS {
            if self.waiting.len() >= MAX_WAITING {
                self.waiting.pop_front();
            }
            let wait = first_retry * 2u32.pow(u32::from(attempt - 1));
            let due = now + wait;
            // Waits grow with the attempt, so a later failure can be due before an earlier
            // one: kept in order of due time.
            let at = self.waiting.partition_point(|(d, _, _)| *d <= due);
            self.waiting.insert(at, (due, id, attempt + 1));
        } else {
            self.counts.given_up += 1;
        }
        true
    }

    /// The retries due at `now`, at most `max`, taken out (the rest stay first in line).
    fn due(&mut self, now: Instant, max: usize) -> Vec<(ListingId, u8)> {
        let n = self.waiting.partition_point(|(d, _, _)| *d <= now);
        self.waiting
            .drain(..n.min(max))
            .map(|(_, id, a)| (id, a))
            .collect()
    }
}

impl EventLoop {
    /// Puts one of the node's own listings into the DHT.
    pub(super) fn put_own_listing(&mut self, id: &ListingId, data: Vec<u8>) {
        self.start_put(*id, kad::Record::new(dht::listing_key(id), data), 1);
    }

    fn start_put(&mut self, id: ListingId, record: kad::Record, attempt: u8) {
        match self
            .swarm
            .behaviour_mut()
            .kad
            .put_record(record, Quorum::One)
        {
            Ok(q) => {
                self.own_puts.running.insert(q, (id, attempt));
                if attempt > 1 {
                    self.own_puts.counts.retried += 1;
                }
            }
            Err(e) => tracing::warn!(%id, error = ?e, "cannot put the listing into the DHT"),
        }
    }

    /// A put query ended (one that is not of the node's own listings is only logged).
    pub(super) fn on_put_ended(&mut self, query: QueryId, result: &kad::PutRecordResult) {
        if let Err(e) = result {
            tracing::debug!(error = %e, "a DHT put failed");
        }
        let retry = self.dht_put_retry;
        self.own_puts
            .ended(query, result.is_ok(), retry, Instant::now());
    }

    /// Puts again the listings whose retry is due, as the node's DHT store holds them now.
    pub(super) fn retry_puts(&mut self) {
        for (id, attempt) in self.own_puts.due(Instant::now(), RETRIES_PER_CHECK) {
            let key = dht::listing_key(&id);
            let record = self
                .swarm
                .behaviour_mut()
                .kad
                .store_mut()
                .get(&key)
                .map(std::borrow::Cow::into_owned);
            match record {
                Some(r) => self.start_put(id, r, attempt),
                // Gone from the DHT store (withdrawn and dropped, or expired). A listing
                // replaced meanwhile is found here as its newer version and put as it is.
                None => self.own_puts.counts.given_up += 1,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(n: u8) -> ListingId {
        ListingId::from_bytes([n; 16])
    }

    #[test]
    fn a_failed_put_waits_one_then_two_then_four_minutes_and_is_given_up_after_four_attempts() {
        let minute = Duration::from_secs(60);
        let t0 = Instant::now();
        let mut p = OwnPuts::<u32>::default();
        let q = 7;
        p.running.insert(q, (id(1), 1));
        assert!(p.ended(q, false, minute, t0));
        assert!(p.due(t0 + minute - Duration::from_secs(1), 64).is_empty());
        assert_eq!(p.due(t0 + minute, 64), vec![(id(1), 2)]);
        p.running.insert(q, (id(1), 2));
        assert!(p.ended(q, false, minute, t0));
        assert!(p.due(t0 + minute, 64).is_empty());
        assert_eq!(p.due(t0 + 2 * minute, 64), vec![(id(1), 3)]);
        p.running.insert(q, (id(1), 3));
        p.ended(q, false, minute, t0);
        assert_eq!(p.due(t0 + 4 * minute, 64), vec![(id(1), 4)]);
        p.running.insert(q, (id(1), 4));
        p.ended(q, false, minute, t0);
        assert!(p.waiting.is_empty());
        assert_eq!(p.counts.given_up, 1);
        // A query that is not a put of the node's own is not counted.
        assert!(!p.ended(q, true, minute, t0));
        assert_eq!(p.counts.stored, 0);
    }

    #[test]
    fn retries_come_due_in_order_whatever_order_they_failed_in() {
        let minute = Duration::from_secs(60);
        let t0 = Instant::now();
        let mut p = OwnPuts::<u32>::default();
        let (a, b) = (1, 2);
        // A third attempt failing now is due in 4 minutes; a first failing a second later, in 1.
        p.running.insert(a, (id(1), 3));
        p.ended(a, false, minute, t0);
        p.running.insert(b, (id(2), 1));
        p.ended(b, false, minute, t0 + Duration::from_secs(1));
        assert_eq!(p.due(t0 + 2 * minute, 64), vec![(id(2), 2)]);
        assert_eq!(p.due(t0 + 4 * minute, 64), vec![(id(1), 4)]);
    }

    #[test]
    fn retries_due_together_start_a_few_at_a_time_oldest_first() {
        let minute = Duration::from_secs(60);
        let t0 = Instant::now();
        let mut p = OwnPuts::<u32>::default();
        for q in 0..10u8 {
            p.running.insert(u32::from(q), (id(q), 1));
            p.ended(u32::from(q), false, minute, t0);
        }
        let later = t0 + 2 * minute;
        assert_eq!(
            p.due(later, 4),
            (0..4).map(|q| (id(q), 2)).collect::<Vec<_>>()
        );
        assert_eq!(
            p.due(later, 4),
            (4..8).map(|q| (id(q), 2)).collect::<Vec<_>>()
        );
        assert_eq!(p.due(later, 4).len(), 2);
        assert!(p.waiting.is_empty());
    }
}
