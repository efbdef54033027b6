//! Bans: peers cut off for misbehaving, for a while.
//!
//! A peer that collects [`STRIKES_TO_BAN`](crate::network::STRIKES_TO_BAN) strikes (invalid
//! records, garbage sync requests, floods) is disconnected and its reconnections are refused
//! until its ban expires. The list is bounded: when it is full, the ban closest to expiring
//! makes room. A ban is not a block: the user's blocks (`swapmeet peers block`) never expire.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use libp2p::PeerId;

/// Most peers banned at once. Each entry is ~60 bytes; a node attacked from more identities
/// than this relies on the connection limits (per address and in total) instead.
pub const MAX_BANS: usize = 4096;

/// The ban list.
#[derive(Debug, Default)]
pub struct BanList {
    until: HashMap<PeerId, Instant>,
}

impl BanList {
    /// Bans `peer` until `now + dur` (a ban already longer is kept). Returns the peer whose
    /// ban was cut short to make room, if the list was full.
    pub fn ban(&mut self, peer: PeerId, now: Instant, dur: Duration) -> Option<PeerId> {
        let until = now + dur;
        if let Some(u) = self.until.get_mut(&peer) {
            *u = (*u).max(until);
            return None;
        }
        let mut evicted = None;
        if self.until.len() >= MAX_BANS {
            if let Some(p) = self.until.iter().min_by_key(|(_, u)| **u).map(|(p, _)| *p) {
                self.until.remove(&p);
                evicted = Some(p);
            }
        }
        self.until.insert(peer, until);
        evicted
    }

    /// Whether `peer` is banned.
    pub fn contains(&self, peer: &PeerId) -> bool {
        self.until.contains_key(peer)
    }

    /// Lifts a ban; whether there was one.
    pub fn lift(&mut self, peer: &PeerId) -> bool {
        self.until.remove(peer).is_some()
    }

    /// Removes and returns the bans that expired by `now`.
    pub fn expire(&mut self, now: Instant) -> Vec<PeerId> {
        let gone: Vec<PeerId> = self
            .until
            .iter()
            .filter(|(_, u)| **u <= now)
            .map(|(p, _)| *p)
            .collect();
        for p in &gone {
            self.until.remove(p);
        }
        gone
    }

    /// Peers banned now.
    pub fn len(&self) -> usize {
        self.until.len()
    }

    /// Whether nobody is banned.
    pub fn is_empty(&self) -> bool {
        self.until.is_empty()
    }
}

/// Most peers whose strikes are remembered at once; when full, the record struck longest ago
/// makes room. A record is ~60 bytes.
pub const MAX_STRIKE_RECORDS: usize = 4096;

/// How long a peer's strikes are remembered after its last one: long enough that
/// disconnecting and reconnecting does not wipe a misbehaving peer's record, short enough that
/// an honest peer's rare stray (a record its clock signed too early) is forgotten.
pub const STRIKE_MEMORY: Duration = Duration::from_secs(30 * 60);

/// Strikes per peer, kept across its connections (not reset when it disconnects), bounded,
/// and forgotten [`STRIKE_MEMORY`] after a peer's last strike.
#[derive(Debug, Default)]
pub struct StrikeBook {
    by: HashMap<PeerId, (u32, Instant)>,
}

impl StrikeBook {
    /// Counts a strike against `peer` at `now`; returns its strikes now.
    pub fn add(&mut self, peer: PeerId, now: Instant) -> u32 {
        if !self.by.contains_key(&peer) && self.by.len() >= MAX_STRIKE_RECORDS {
            if let Some(p) = self
                .by
                .iter()
                .min_by_key(|(_, (_, at))| *at)
                .map(|(p, _)| *p)
            {
                self.by.remove(&p);
            }
        }
        let e = self.by.entry(peer).or_insert((0, now));
        if e.1 + STRIKE_MEMORY <= now {
            e.0 = 0;
        }
        e.0 += 1;
        e.1 = now;
        e.0
    }

    /// The strikes remembered of `peer`.
    pub fn get(&self, peer: &PeerId) -> u32 {
        self.by.get(peer).map_or(0, |(n, _)| *n)
    }

    /// Forgets a peer's strikes (a ban lifted by the user).
    pub fn remove(&mut self, peer: &PeerId) {
        self.by.remove(peer);
    }

    /// Forgets the strikes whose memory ended by `now`.
    pub fn expire(&mut self, now: Instant) {
        self.by.retain(|_, (_, at)| *at + STRIKE_MEMORY > now);
    }

    /// Peers with strikes remembered.
    pub fn len(&self) -> usize {
        self.by.len()
    }

    /// Whether no strike is remembered.
    pub fn is_empty(&self) -> bool {
        self.by.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strikes_outlive_a_connection_and_are_bounded_and_forgotten_in_time() {
        let mut book = StrikeBook::default();
        let t = Instant::now();
        let p = PeerId::random();
        assert_eq!(book.add(p, t), 1);
        // Nothing a connection does resets it: only time does.
        assert_eq!(book.add(p, t + Duration::from_secs(60)), 2);
        assert_eq!(book.get(&p), 2);
        book.expire(t + Duration::from_secs(61) + STRIKE_MEMORY);
        assert_eq!(book.get(&p), 0);
        for _ in 0..MAX_STRIKE_RECORDS + 10 {
            book.add(PeerId::random(), t);
        }
        assert_eq!(book.len(), MAX_STRIKE_RECORDS);
    }

    #[test]
    fn bans_expire_and_the_list_stays_bounded() {
        let mut bans = BanList::default();
        let t0 = Instant::now();
        let first = PeerId::random();
        assert_eq!(bans.ban(first, t0, Duration::from_secs(1)), None);
        for i in 0..MAX_BANS {
            let p = PeerId::random();
            let evicted = bans.ban(p, t0, Duration::from_secs(10 + i as u64));
            if i == MAX_BANS - 1 {
                // Full: the ban closest to its end (the first) made room.
                assert_eq!(evicted, Some(first));
            } else {
                assert_eq!(evicted, None);
            }
        }
        assert_eq!(bans.len(), MAX_BANS);
        assert!(!bans.contains(&first));
        let gone = bans.expire(t0 + Duration::from_secs(12));
        assert_eq!(gone.len(), 3);
        assert_eq!(bans.len(), MAX_BANS - 3);
        assert!(bans.expire(t0 + Duration::from_secs(100_000)).len() == MAX_BANS - 3);
        assert!(bans.is_empty());
    }
}
