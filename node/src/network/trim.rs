//! Which connections to close before the limits have to refuse anyone: a connection manager.
//!
//! The limits (`limits.rs`) are a hard cap: at it, every new connection is refused, whoever
//! it is. A node whose gossipsub meshes and Kademlia contacts fill its budget would then turn
//! away the peers it most needs to let in: a node coming back after a restart, a DHT look-up
//! asking for a record, a buyer sending a message, a newcomer to the area (500 simulated nodes
//! with a 32-connection cap refused 46,206 inbound connections during a churn, and only 13 of
//! 100 returning nodes caught up: docs/SCALE.md). So a node keeps room: when the established
//! connections in a direction pass a high-water mark below the cap, it closes the least
//! useful ones until that direction is back at a low-water mark. The cap stays for floods.
//!
//! Least useful, in order: a peer that shares none of the node's area topics (a Kademlia
//! contact from elsewhere), then one in fewer of its gossipsub meshes, then the one that
//! delivered a new listing first the longest ago (or never). Not closed yet: a connection in
//! its first [`GRACE`] (a look-up or a message still being answered) or a peer with a request
//! answered or sent in the last [`GRACE`]; the trim waits for it rather than close a more
//! useful peer in its place. Never closed: a peer with a sync session, a relay this node
//! listens through, a peer holding a reservation or circuit on this node's relay, and a peer
//! the user named (a bootstrap peer, a joined one). Gossipsub grafts the meshes again from the
//! peers that stay, which share the same areas.

use std::cmp::Ordering;
use std::time::{Duration, Instant};

use libp2p::PeerId;

/// How long a new connection, or a peer after its last request or response, is never
/// closed for room: Kademlia's queries and the messaging and blob requests finish within it.
pub const GRACE: Duration = Duration::from_secs(30);

/// Caps below this are not trimmed: a node allowed that few connections is a test or a
/// deliberately small node, and closing any of them would cost more than it frees.
pub const MIN_TRIMMED_CAP: usize = 16;

/// When to trim and down to what, per direction.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Watermarks {
    /// Trimming starts above this many established connections in a direction.
    pub high: usize,
    /// It closes connections until the direction is back at this many.
    pub low: usize,
}

impl Watermarks {
    /// The marks for a cap of `per_direction` established connections in each direction:
    /// trim above 7/8 of it, down to 3/4; `None` below [`MIN_TRIMMED_CAP`].
    pub fn of(per_direction: usize) -> Option<Watermarks> {
        if per_direction < MIN_TRIMMED_CAP {
            return None;
        }
        Some(Watermarks {
            high: per_direction - per_direction / 8,
            low: per_direction - per_direction / 4,
        })
    }
}

/// Which side opened a connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Direction {
    /// The peer dialled this node.
    Inbound,
    /// This node dialled the peer.
    Outbound,
}

/// Whether a peer may be closed for room.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Protection {
    /// It may.
    None,
    /// Not yet (a young connection, a request under way): it keeps its rank, and a trim that
    /// would close it waits for it rather than close a more useful peer in its place.
    ForNow,
    /// Never (a relay in use, a peer the user named, a sync session, a nearest mailbox).
    Always,
}

/// A connected peer as the trimming sees it.
#[derive(Clone, Debug)]
pub struct Candidate {
    /// The peer.
    pub peer: PeerId,
    /// Its established connections with this node, by direction: (inbound, outbound).
    pub connections: (usize, usize),
    /// Whether it may be closed for room now.
    pub protected: Protection,
    /// How many of the node's area topics the peer subscribes to.
    pub shared_topics: usize,
    /// In how many of the node's gossipsub meshes the peer is.
    pub meshes: usize,
    /// When it last delivered a listing the node had not seen; `None` if never.
    pub last_useful: Option<Instant>,
}

impl Candidate {
    /// Least useful first.
    fn rank(&self, other: &Candidate) -> Ordering {
        self.shared_topics
            .cmp(&other.shared_topics)
            .then(self.meshes.cmp(&other.meshes))
            // `None` (never useful) sorts before any time.
            .then(self.last_useful.cmp(&other.last_useful))
    }
}

/// The peers to disconnect so that each direction above `marks.high` comes back to
/// `marks.low` (or as close as the unprotected peers allow), least useful first. A peer
/// protected for now counts as closed later: the peers ranked above it are not closed in its
/// place. `inbound` and `outbound` are the established connections in each direction now.
pub fn choose(
    mut candidates: Vec<Candidate>,
    mut inbound: usize,
    mut outbound: usize,
    marks: Watermarks,
) -> Vec<PeerId> {
    let trim_in = inbound > marks.high;
    let trim_out = outbound > marks.high;
    if !trim_in && !trim_out {
        return Vec::new();
    }
    candidates.retain(|c| c.protected != Protection::Always);
    candidates.sort_by(Candidate::rank);
    let mut chosen = Vec::new();
    for c in candidates {
        let frees_in = trim_in && inbound > marks.low && c.connections.0 > 0;
        let frees_out = trim_out && outbound > marks.low && c.connections.1 > 0;
        if !frees_in && !frees_out {
            if (!trim_in || inbound <= marks.low) && (!trim_out || outbound <= marks.low) {
                break;
            }
            continue;
        }
        inbound = inbound.saturating_sub(c.connections.0);
        outbound = outbound.saturating_sub(c.connections.1);
        if c.protected == Protection::None {
            chosen.push(c.peer);
        }
    }
    chosen
}

#[cfg(test)]
mod tests {
    use super::*;

    fn peer(connections: (usize, usize), shared_topics: usize, meshes: usize) -> Candidate {
        Candidate {
            peer: PeerId::random(),
            connections,
            protected: Protection::None,
            shared_topics,
            meshes,
            last_useful: None,
        }
    }

    #[test]
    fn marks_follow_the_cap_and_small_caps_are_left_alone() {
        assert_eq!(Watermarks::of(96), Some(Watermarks { high: 84, low: 72 }));
        assert_eq!(Watermarks::of(32), Some(Watermarks { high: 28, low: 24 }));
        assert_eq!(Watermarks::of(8), None);
    }

    #[test]
    fn below_the_high_mark_nothing_is_closed() {
        let marks = Watermarks { high: 28, low: 24 };
        let cands: Vec<_> = (0..28).map(|_| peer((1, 0), 0, 0)).collect();
        assert!(choose(cands, 28, 0, marks).is_empty());
    }

    #[test]
    fn the_least_useful_go_first_and_only_down_to_the_low_mark() {
        let marks = Watermarks { high: 28, low: 24 };
        let now = Instant::now();
        let mut cands = Vec::new();
        // 21 area peers in meshes, recently useful.
        for _ in 0..21 {
            let mut c = peer((1, 0), 12, 3);
            c.last_useful = Some(now);
            cands.push(c);
        }
        // 5 area peers outside the meshes, one useful long ago, four never.
        let mut stale = peer((1, 0), 12, 0);
        stale.last_useful = Some(now - Duration::from_secs(600));
        let stale_id = stale.peer;
        cands.push(stale);
        let never: Vec<_> = (0..4).map(|_| peer((1, 0), 12, 0)).collect();
        let never_ids: Vec<_> = never.iter().map(|c| c.peer).collect();
        cands.extend(never);
        // 4 Kademlia contacts from elsewhere, one of them protected (a look-up under way).
        let far: Vec<_> = (0..4).map(|_| peer((1, 0), 0, 0)).collect();
        let far_ids: Vec<_> = far.iter().map(|c| c.peer).collect();
        cands.extend(far);
        cands[29].protected = Protection::Always;
        // 30 inbound: trim 6, to 24.
        let chosen = choose(cands, 30, 0, marks);
        assert_eq!(chosen.len(), 6);
        assert_eq!(
            &chosen[..3],
            &far_ids[..3],
            "other areas' contacts go first"
        );
        assert!(!chosen.contains(&far_ids[3]), "a protected peer stays");
        assert!(never_ids.iter().filter(|p| chosen.contains(p)).count() == 3);
        assert!(
            !chosen.contains(&stale_id),
            "the useful-once peer outlives the never-useful"
        );
    }

    #[test]
    fn only_the_direction_over_its_mark_is_trimmed() {
        let marks = Watermarks { high: 28, low: 24 };
        let mut cands: Vec<_> = (0..20).map(|_| peer((0, 1), 0, 0)).collect();
        let inbound: Vec<_> = (0..30).map(|_| peer((1, 0), 5, 1)).collect();
        cands.extend(inbound);
        let chosen = choose(cands.clone(), 30, 20, marks);
        // The outbound contacts rank lower but their direction has room: they stay.
        assert_eq!(chosen.len(), 6);
        for p in &chosen {
            let c = cands.iter().find(|c| c.peer == *p).unwrap();
            assert_eq!(c.connections, (1, 0));
        }
    }

    #[test]
    fn a_young_peer_of_another_area_is_waited_for_not_replaced() {
        let marks = Watermarks { high: 28, low: 24 };
        let mut cands: Vec<_> = (0..26).map(|_| peer((1, 0), 12, 2)).collect();
        let far: Vec<_> = (0..4)
            .map(|_| {
                let mut c = peer((1, 0), 0, 0);
                c.protected = Protection::ForNow;
                c
            })
            .collect();
        cands.extend(far);
        // 30 inbound, 6 to close: the 4 young ones count as closed later, so only 2 of the
        // area's peers go now (not 6).
        let chosen = choose(cands, 30, 0, marks);
        assert_eq!(chosen.len(), 2);
    }

    #[test]
    fn when_everyone_is_protected_nothing_is_closed() {
        let marks = Watermarks { high: 28, low: 24 };
        let cands: Vec<_> = (0..32)
            .map(|_| {
                let mut c = peer((1, 0), 0, 0);
                c.protected = Protection::Always;
                c
            })
            .collect();
        assert!(choose(cands, 32, 0, marks).is_empty());
    }
}
