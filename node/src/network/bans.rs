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

#[cfg(test)]
mod tests {
    use super::*;

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
