//! Keeping room for the connections that matter (`network/trim.rs` decides which to close):
//! what the loop records for it (each connection's direction and age, when a peer last
//! delivered a new listing or exchanged a request, relay reservations and circuits) and the
//! periodic trim.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use libp2p::core::ConnectedPoint;
use libp2p::swarm::ConnectionId;
use libp2p::{relay, request_response, PeerId};

use super::EventLoop;
use crate::network::trim::{self, Candidate, Direction, Protection, Watermarks, GRACE};

/// How often the connection counts are checked against the high-water mark.
pub(super) const TRIM_EVERY: Duration = Duration::from_secs(5);

/// What the trimming knows of the connections and peers (every map pruned when a peer's last
/// connection closes).
#[derive(Default)]
pub(super) struct ConnBook {
    conns: HashMap<ConnectionId, (PeerId, Direction, Instant)>,
    /// Connections per peer (the peers in `conns`).
    peers: HashMap<PeerId, usize>,
    /// When each peer last delivered a listing this node had not seen.
    useful: HashMap<PeerId, Instant>,
    /// When each peer last sent or answered a request (sync, messaging, blobs).
    active: HashMap<PeerId, Instant>,
    /// Reservations and circuits each peer holds on this node's relay.
    relayed: HashMap<PeerId, usize>,
    /// Connections closed for room since start.
    pub(super) trimmed: u64,
}

impl ConnBook {
    pub(super) fn opened(&mut self, id: ConnectionId, peer: PeerId, endpoint: &ConnectedPoint) {
        let dir = if endpoint.is_dialer() {
            Direction::Outbound
        } else {
            Direction::Inbound
        };
        if self.conns.insert(id, (peer, dir, Instant::now())).is_none() {
            *self.peers.entry(peer).or_insert(0) += 1;
        }
    }

    pub(super) fn closed(&mut self, id: ConnectionId) {
        if let Some((peer, _, _)) = self.conns.remove(&id) {
            if let Some(n) = self.peers.get_mut(&peer) {
                *n -= 1;
                if *n == 0 {
                    self.peers.remove(&peer);
                }
            }
        }
    }

    /// The peer's last connection closed.
    pub(super) fn forget(&mut self, peer: &PeerId) {
        self.useful.remove(peer);
        self.active.remove(peer);
        self.relayed.remove(peer);
    }

    /// Whether the peer has a connection in the book: what is recorded of a peer that has
    /// none (a request to a peer that could not be dialled) would never be pruned.
    fn connected(&self, peer: &PeerId) -> bool {
        self.peers.contains_key(peer)
    }

    pub(super) fn delivered(&mut self, peer: PeerId) {
        if self.connected(&peer) {
            self.useful.insert(peer, Instant::now());
        }
    }

    /// Any event of a request-response protocol: the peer has a request under way or just
    /// finished one.
    pub(super) fn request<Req, Resp>(&mut self, ev: &request_response::Event<Req, Resp>) {
        let peer = match ev {
            request_response::Event::Message { peer, .. }
            | request_response::Event::OutboundFailure { peer, .. }
            | request_response::Event::InboundFailure { peer, .. }
            | request_response::Event::ResponseSent { peer, .. } => *peer,
        };
        if self.connected(&peer) {
            self.active.insert(peer, Instant::now());
        }
    }

    /// Reservations and circuits on this node's relay.
    pub(super) fn relay(&mut self, ev: &relay::Event) {
        let mut add = |p: PeerId, n: isize| {
            if n > 0 && !self.peers.contains_key(&p) {
                return;
            }
            let e = self.relayed.entry(p).or_insert(0);
            *e = e.saturating_add_signed(n);
            if *e == 0 {
                self.relayed.remove(&p);
            }
        };
        match ev {
            relay::Event::ReservationReqAccepted {
                src_peer_id,
                renewed: false,
            } => add(*src_peer_id, 1),
            relay::Event::ReservationTimedOut { src_peer_id } => add(*src_peer_id, -1),
            relay::Event::CircuitReqAccepted {
                src_peer_id,
                dst_peer_id,
            } => {
                add(*src_peer_id, 1);
                add(*dst_peer_id, 1);
            }
            relay::Event::CircuitClosed {
                src_peer_id,
                dst_peer_id,
                ..
            } => {
                add(*src_peer_id, -1);
                add(*dst_peer_id, -1);
            }
            _ => {}
        }
    }

    /// Established connections (inbound, outbound).
    fn counts(&self) -> (usize, usize) {
        let inbound = self
            .conns
            .values()
            .filter(|(_, d, _)| *d == Direction::Inbound)
            .count();
        (inbound, self.conns.len() - inbound)
    }
}

impl EventLoop {
    /// Closes the least useful connections of a direction past its high-water mark
    /// (`network/trim.rs`).
    pub(super) fn trim_connections(&mut self) {
        let Some(marks) = Watermarks::of(self.per_direction) else {
            return;
        };
        let (inbound, outbound) = self.conn_book.counts();
        if inbound <= marks.high && outbound <= marks.high {
            return;
        }
        let now = Instant::now();
        let recent = |t: Option<&Instant>| t.is_some_and(|t| now.duration_since(*t) < GRACE);
        let mut peers: HashMap<PeerId, Candidate> = HashMap::new();
        for (peer, dir, since) in self.conn_book.conns.values() {
            let c = peers.entry(*peer).or_insert_with(|| Candidate {
                peer: *peer,
                connections: (0, 0),
                protected: Protection::None,
                shared_topics: 0,
                meshes: 0,
                last_useful: self.conn_book.useful.get(peer).copied(),
            });
            match dir {
                Direction::Inbound => c.connections.0 += 1,
                Direction::Outbound => c.connections.1 += 1,
            }
            if now.duration_since(*since) < GRACE {
                c.protected = Protection::ForNow;
            }
        }
        let mut kept: Vec<PeerId> = self.relay_listens.values().map(|(r, _)| *r).collect();
        // The peers the user named (config, `--bootstrap`, `swapmeet join`): the user chose
        // them.
        kept.extend(self.bootstrap.iter().filter_map(super::peers::peer_in));
        // The nearest of its mailboxes (at most six), asked for mail every minute.
        kept.extend_from_slice(self.msg.nearest_mailboxes());
        for (peer, c) in peers.iter_mut() {
            if self.sessions.contains_key(peer)
                || self.conn_book.relayed.contains_key(peer)
                || kept.contains(peer)
            {
                c.protected = Protection::Always;
            } else if recent(self.conn_book.active.get(peer)) {
                c.protected = Protection::ForNow;
            }
        }
        let ours: Vec<libp2p::gossipsub::TopicHash> = self
            .areas
            .iter()
            .map(|a| crate::network::gossip::topic(a).hash())
            .collect();
        let gossip = &self.swarm.behaviour().gossip;
        for (peer, topics) in gossip.all_peers() {
            if let Some(c) = peers.get_mut(peer) {
                c.shared_topics = topics.iter().filter(|t| ours.contains(t)).count();
            }
        }
        for t in &ours {
            for peer in gossip.mesh_peers(t) {
                if let Some(c) = peers.get_mut(peer) {
                    c.meshes += 1;
                }
            }
        }
        let chosen = trim::choose(peers.into_values().collect(), inbound, outbound, marks);
        if chosen.is_empty() {
            return;
        }
        tracing::debug!(
            inbound,
            outbound,
            closing = chosen.len(),
            "over the connection high-water mark: closing the least useful"
        );
        for peer in chosen {
            let n = self.conn_book.peers.get(&peer).copied().unwrap_or(0);
            if self.swarm.disconnect_peer_id(peer).is_ok() {
                self.conn_book.trimmed += n as u64;
            }
        }
    }
}
