//! Reachability: whether peers can dial this node, and what it does about it when they cannot.
//!
//! - **AutoNAT v2** (client and server on every node) tests the addresses peers observe this
//!   node at (identify reports them): a server dials the address back, and an address it
//!   reached becomes a *confirmed* external address. Relay-circuit addresses never count.
//! - **Public**: a confirmed direct address. Kademlia runs in server mode (answers queries,
//!   enters routing tables) and, unless switched off, the node serves as a **circuit relay v2**
//!   within [`RelayLimits`] (the hop protocol is advertised only while a direct address is
//!   confirmed, so a node behind NAT never offers to relay).
//! - **Behind NAT**: every address AutoNAT tested failed. Kademlia stays in client mode (a
//!   peer that cannot be dialled is no use in routing tables), and the node listens through a
//!   relay: one of its peers that advertises the relay hop protocol. Its circuit address is
//!   then its address for others (status, invite, identify).
//! - **Hole punching**: a peer that reached this node through a relay tries DCUtR to open a
//!   direct connection; each success is kept for the status.
//!
//! Until AutoNAT confirms an address the node is a Kademlia client: it queries and puts but
//! answers nobody. A node whose peers cannot confirm it (the first node of a new network, or
//! one whose peers run no AutoNAT server) is a server only with `[reach] assume_public`.
//! Nodes that turn server refresh the routing tables around them ([`KadRefresh`]).
//!
//! [`ReachState`] is the pure state; `event_loop/reach.rs` feeds it the swarm's events.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use libp2p::multiaddr::Protocol;
use libp2p::{Multiaddr, PeerId};
use serde::{Deserialize, Serialize};

/// Whether this node serves as a relay for others.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RelayServe {
    /// Only while AutoNAT confirms the node is publicly reachable (the default).
    #[default]
    Auto,
    /// Always advertise the relay protocol (a node its owner knows to be public).
    On,
    /// Never relay for others.
    Off,
}

/// The limits of the relay this node runs for others. Conservative: a relayed connection is
/// for messages, a listing's sync and a thumbnail or two until DCUtR makes it direct, not for
/// bulk transfer through someone else's uplink.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RelayLimits {
    /// Peers holding a reservation (listening through this node) at once.
    pub max_reservations: usize,
    /// Circuits (relayed connections) open at once.
    pub max_circuits: usize,
    /// Circuits open at once per peer (as source or destination).
    pub max_circuits_per_peer: usize,
    /// How long one circuit may stay open; then the relay closes it.
    pub max_circuit_duration: Duration,
    /// Bytes one circuit may carry (each direction counted on its own); then the relay closes it.
    pub max_circuit_bytes: u64,
}

/// Default [`RelayLimits::max_circuit_bytes`]: 1 MiB, enough for a sync of a few hundred
/// listings, messages, and a few 256 KiB photo chunks; libp2p's default (128 KiB) is less than
/// one chunk.
pub const DEFAULT_CIRCUIT_BYTES: u64 = 1024 * 1024;
/// Default [`RelayLimits::max_circuit_duration`]: 2 minutes, libp2p's default; DCUtR upgrades
/// in seconds when the NATs allow it.
pub const DEFAULT_CIRCUIT_SECS: u64 = 120;

impl Default for RelayLimits {
    fn default() -> Self {
        RelayLimits {
            max_reservations: 32,
            max_circuits: 16,
            max_circuits_per_peer: 4,
            max_circuit_duration: Duration::from_secs(DEFAULT_CIRCUIT_SECS),
            max_circuit_bytes: DEFAULT_CIRCUIT_BYTES,
        }
    }
}

/// The accepted range of each relay limit: (config field, lowest, highest).
pub const RELAY_LIMIT_RANGES: [(&str, u64, u64); 5] = [
    ("relay_max_reservations", 1, 1024),
    ("relay_max_circuits", 1, 1024),
    ("relay_max_circuits_per_peer", 1, 64),
    ("relay_circuit_secs", 10, 3600),
    ("relay_circuit_kib", 16, 64 * 1024),
];

impl RelayLimits {
    /// The libp2p relay server's config with these limits (its rate limiters kept).
    pub fn to_relay_config(self) -> libp2p::relay::Config {
        libp2p::relay::Config {
            max_reservations: self.max_reservations,
            // One reservation per peer is all a client needs; two lets a renewal cross.
            max_reservations_per_peer: 2,
            max_circuits: self.max_circuits,
            max_circuits_per_peer: self.max_circuits_per_peer,
            max_circuit_duration: self.max_circuit_duration,
            max_circuit_bytes: self.max_circuit_bytes,
            ..libp2p::relay::Config::default()
        }
    }
}

/// How the node learns and uses its reachability.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ReachConfig {
    /// The owner says the node is publicly reachable: Kademlia server mode from the start
    /// whatever AutoNAT finds (AutoNAT still runs and the status still shows what it found).
    /// Otherwise Kademlia is a server only while AutoNAT confirms an address.
    pub assume_public: bool,
    /// Whether to relay for others.
    pub relay_serve: RelayServe,
    /// The relay's limits.
    pub relay: RelayLimits,
}

/// Whether an address goes through a relay.
pub fn is_relayed(addr: &Multiaddr) -> bool {
    addr.iter().any(|p| matches!(p, Protocol::P2pCircuit))
}

/// A peer reached directly after DCUtR hole punching.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct HolePunch {
    /// The peer.
    pub peer: String,
    /// When the direct connection opened (unix seconds).
    pub at: u64,
}

/// Whether peers can reach this node, as `swapmeet status` shows it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum ReachKind {
    /// AutoNAT has no answer yet.
    #[default]
    Unknown,
    /// Peers reached these addresses (AutoNAT dial-backs).
    Public {
        /// The confirmed addresses.
        addresses: Vec<String>,
    },
    /// No address this node was tested at is reachable, and no relay holds a reservation yet.
    BehindNat,
    /// Behind NAT, reachable through a relay.
    Relayed {
        /// The relay's PeerId.
        relay: String,
        /// The circuit address peers dial (with this node's `/p2p/`).
        circuit: String,
    },
}

/// The reachability part of the network status.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reachability {
    /// Public, behind NAT, via a relay, or not known yet.
    #[serde(flatten)]
    pub kind: ReachKind,
    /// Whether the config says the node is public (`[reach] assume_public`).
    pub assumed_public: bool,
    /// Kademlia's mode now: "server" or "client".
    pub kad_mode: String,
    /// Whether the node advertises the relay protocol to others now.
    pub relay_serving: bool,
    /// Circuits this node relays for others now.
    pub relayed_circuits: u64,
    /// Addresses AutoNAT found unreachable.
    pub unreachable: Vec<String>,
    /// Peers reached directly after a hole punch (newest last, at most [`MAX_PUNCHED`]).
    pub direct_after_hole_punch: Vec<HolePunch>,
    /// Hole punches that failed.
    pub hole_punch_failures: u64,
}

/// Least time between two routing-table refreshes for peers that turned server: peers
/// confirmed together (a network started at once) share one.
pub const KAD_REFRESH_GAP: Duration = Duration::from_secs(2);

/// Whether the routing table should be refreshed because a connected peer turned into a
/// Kademlia server, paced by [`KAD_REFRESH_GAP`].
#[derive(Debug, Default)]
pub struct KadRefresh {
    wanted: bool,
    last: Option<Instant>,
}

impl KadRefresh {
    /// A peer turned server.
    pub fn want(&mut self) {
        self.wanted = true;
    }

    /// Whether a refresh is wanted and the last one is at least the gap ago.
    pub fn due(&self, now: Instant) -> bool {
        self.wanted
            && self
                .last
                .is_none_or(|l| now.saturating_duration_since(l) >= KAD_REFRESH_GAP)
    }

    /// A look-up of the node's own key started (wanted or not).
    pub fn started(&mut self, now: Instant) {
        self.wanted = false;
        self.last = Some(now);
    }
}

/// Most hole punches remembered for the status.
pub const MAX_PUNCHED: usize = 32;

/// What the node knows of its own reachability.
#[derive(Debug, Default)]
pub struct ReachState {
    /// Confirmed direct external addresses.
    confirmed: BTreeSet<Multiaddr>,
    /// Addresses AutoNAT found unreachable (cleared when one is confirmed later).
    failed: BTreeSet<Multiaddr>,
    /// Accepted reservations: relay → its circuit listen address.
    reservations: BTreeMap<PeerId, Multiaddr>,
    /// Relays a listen was started on and not yet closed (reservation pending or held).
    listening_via: BTreeSet<PeerId>,
    punched: Vec<HolePunch>,
    punch_failures: u64,
    /// Circuits relayed for others now.
    pub circuits: u64,
}

impl ReachState {
    /// An address was confirmed reachable (relay circuits are not direct reachability).
    pub fn confirmed(&mut self, addr: Multiaddr) {
        if is_relayed(&addr) {
            return;
        }
        self.failed.remove(&addr);
        self.confirmed.insert(addr);
    }

    /// A confirmed address expired.
    pub fn expired(&mut self, addr: &Multiaddr) {
        self.confirmed.remove(addr);
    }

    /// AutoNAT found `addr` unreachable.
    pub fn unreachable(&mut self, addr: Multiaddr) {
        // Only a direct address says anything about reachability (a bare `/p2p/` or a
        // circuit does not).
        let direct = matches!(
            addr.iter().next(),
            Some(
                Protocol::Ip4(_)
                    | Protocol::Ip6(_)
                    | Protocol::Dns(_)
                    | Protocol::Dns4(_)
                    | Protocol::Dns6(_)
            )
        );
        if !direct || self.confirmed.contains(&addr) || is_relayed(&addr) {
            return;
        }
        self.failed.insert(addr);
    }

    /// Whether the node is publicly reachable (a confirmed direct address).
    pub fn is_public(&self) -> bool {
        !self.confirmed.is_empty()
    }

    /// Whether AutoNAT says the node cannot be dialled: addresses were tested, none reached.
    pub fn is_behind_nat(&self) -> bool {
        self.confirmed.is_empty() && !self.failed.is_empty()
    }

    /// Whether the node listens (or is starting to listen) through a relay.
    pub fn has_relay(&self) -> bool {
        !self.listening_via.is_empty()
    }

    /// A listen through `relay` was started.
    pub fn listening_via(&mut self, relay: PeerId) {
        self.listening_via.insert(relay);
    }

    /// Whether a listen through `relay` is under way or held.
    pub fn is_listening_via(&self, relay: &PeerId) -> bool {
        self.listening_via.contains(relay)
    }

    /// A relay accepted the reservation; `circuit` is the listen address it gave.
    pub fn reserved(&mut self, relay: PeerId, circuit: Multiaddr) {
        self.listening_via.insert(relay);
        self.reservations.insert(relay, circuit);
    }

    /// The listen through `relay` closed (the relay left, or refused).
    pub fn relay_lost(&mut self, relay: &PeerId) {
        self.listening_via.remove(relay);
        self.reservations.remove(relay);
    }

    /// A hole punch with `peer` succeeded at `now` (unix seconds).
    pub fn punched(&mut self, peer: PeerId, now: u64) {
        let peer = peer.to_string();
        self.punched.retain(|p| p.peer != peer);
        self.punched.push(HolePunch { peer, at: now });
        if self.punched.len() > MAX_PUNCHED {
            self.punched.remove(0);
        }
    }

    /// A hole punch failed.
    pub fn punch_failed(&mut self) {
        self.punch_failures += 1;
    }

    /// The status, `me` being this node's PeerId.
    pub fn status(
        &self,
        me: &PeerId,
        assumed_public: bool,
        kad_server: bool,
        relay_serving: bool,
    ) -> Reachability {
        let kind = if self.is_public() {
            ReachKind::Public {
                addresses: self
                    .confirmed
                    .iter()
                    .map(|a| format!("{a}/p2p/{me}"))
                    .collect(),
            }
        } else if let Some((relay, circuit)) = self.reservations.iter().next() {
            ReachKind::Relayed {
                relay: relay.to_string(),
                circuit: format!("{circuit}/p2p/{me}"),
            }
        } else if self.is_behind_nat() {
            ReachKind::BehindNat
        } else {
            ReachKind::Unknown
        };
        Reachability {
            kind,
            assumed_public,
            kad_mode: if kad_server { "server" } else { "client" }.into(),
            relay_serving,
            relayed_circuits: self.circuits,
            unreachable: self.failed.iter().map(|a| a.to_string()).collect(),
            direct_after_hole_punch: self.punched.clone(),
            hole_punch_failures: self.punch_failures,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn a(s: &str) -> Multiaddr {
        s.parse().unwrap()
    }

    #[test]
    fn peers_turning_server_together_share_one_refresh() {
        let t0 = Instant::now();
        let mut k = KadRefresh::default();
        assert!(!k.due(t0), "nothing turned server yet");
        k.want();
        assert!(k.due(t0));
        k.started(t0);
        k.want();
        assert!(!k.due(t0 + Duration::from_secs(1)), "within the gap");
        assert!(k.due(t0 + KAD_REFRESH_GAP), "still wanted after it");
        k.started(t0 + KAD_REFRESH_GAP);
        assert!(!k.due(t0 + KAD_REFRESH_GAP * 5), "done, not wanted again");
    }

    #[test]
    fn public_wins_over_failures_and_relays() {
        let me = PeerId::random();
        let relay = PeerId::random();
        let mut r = ReachState::default();
        assert_eq!(r.status(&me, false, true, false).kind, ReachKind::Unknown);
        r.unreachable(a("/ip4/203.0.113.5/tcp/4001"));
        assert!(r.is_behind_nat());
        assert_eq!(
            r.status(&me, false, false, false).kind,
            ReachKind::BehindNat
        );
        r.reserved(
            relay,
            a(&format!("/ip4/198.51.100.1/tcp/1/p2p/{relay}/p2p-circuit")),
        );
        match r.status(&me, false, false, false).kind {
            ReachKind::Relayed { relay: rl, circuit } => {
                assert_eq!(rl, relay.to_string());
                assert!(circuit.ends_with(&format!("/p2p-circuit/p2p/{me}")));
            }
            k => panic!("{k:?}"),
        }
        // A circuit address confirmed by the relay client is not public reachability.
        r.confirmed(a(&format!(
            "/ip4/198.51.100.1/tcp/1/p2p/{relay}/p2p-circuit"
        )));
        assert!(!r.is_public());
        r.confirmed(a("/ip4/203.0.113.5/tcp/4001"));
        assert!(r.is_public() && !r.is_behind_nat());
        assert!(matches!(
            r.status(&me, false, true, true).kind,
            ReachKind::Public { .. }
        ));
        r.relay_lost(&relay);
        assert!(!r.has_relay());
    }

    #[test]
    fn hole_punches_are_bounded_and_deduplicated() {
        let mut r = ReachState::default();
        let p = PeerId::random();
        r.punched(p, 1);
        r.punched(p, 2);
        for i in 0..(MAX_PUNCHED as u64 + 5) {
            r.punched(PeerId::random(), i);
        }
        let s = r.status(&PeerId::random(), false, true, false);
        assert_eq!(s.direct_after_hole_punch.len(), MAX_PUNCHED);
    }

    #[test]
    fn the_status_round_trips_through_json() {
        let mut r = ReachState::default();
        let relay = PeerId::random();
        r.reserved(
            relay,
            a(&format!("/ip4/10.0.0.1/tcp/1/p2p/{relay}/p2p-circuit")),
        );
        let s = r.status(&PeerId::random(), false, false, false);
        let v = serde_json::to_value(&s).unwrap();
        assert_eq!(v["state"], "relayed");
        let back: Reachability = serde_json::from_value(v).unwrap();
        assert_eq!(back, s);
    }
}
