//! Reachability as the loop drives it (`network/reach.rs` says what and why): AutoNAT's
//! verdicts and confirmed addresses, Kademlia's mode, the relay this node listens through
//! when it is behind NAT, the relay it runs for others, and DCUtR's hole punches.

use libp2p::multiaddr::Protocol;
use libp2p::{autonat, dcutr, kad, relay, Multiaddr, PeerId};

use super::EventLoop;
use crate::network::addrbook::BookWrite;
use crate::network::invite::Invite;
use crate::network::reach::{is_relayed, ReachKind, RelayServe};

impl EventLoop {
    /// An external address was confirmed (AutoNAT's dial-back reached it, or a relay gave a
    /// circuit address).
    pub(super) fn on_external_confirmed(&mut self, address: Multiaddr) {
        tracing::info!(%address, "external address confirmed");
        self.reach.confirmed(address);
        self.update_reach();
    }

    /// A confirmed address expired.
    pub(super) fn on_external_expired(&mut self, address: &Multiaddr) {
        self.reach.expired(address);
        self.update_reach();
    }

    pub(super) fn on_autonat(&mut self, ev: autonat::v2::client::Event) {
        match ev.result {
            Ok(()) => {
                tracing::debug!(addr = %ev.tested_addr, server = %ev.server, "AutoNAT: reachable")
            }
            Err(e) => {
                tracing::info!(addr = %ev.tested_addr, server = %ev.server, error = %e, "AutoNAT: not reachable");
                self.reach.unreachable(ev.tested_addr);
                self.update_reach();
            }
        }
    }

    pub(super) fn on_relay_client(&mut self, ev: relay::client::Event) {
        match ev {
            relay::client::Event::ReservationReqAccepted {
                relay_peer_id,
                renewal,
                limit,
            } => {
                // The circuit address comes with the listener's `NewListenAddr`.
                tracing::info!(relay = %relay_peer_id, renewal, ?limit, "a relay holds a reservation for this node");
            }
            relay::client::Event::OutboundCircuitEstablished {
                relay_peer_id,
                limit,
            } => {
                tracing::debug!(relay = %relay_peer_id, ?limit, "dialled a peer through a relay")
            }
            relay::client::Event::InboundCircuitEstablished { src_peer_id, limit } => {
                tracing::debug!(peer = %src_peer_id, ?limit, "a peer reached this node through a relay")
            }
        }
    }

    pub(super) fn on_relay_server(&mut self, ev: relay::Event) {
        match ev {
            relay::Event::CircuitReqAccepted { .. } => self.reach.circuits += 1,
            relay::Event::CircuitClosed { .. } => {
                self.reach.circuits = self.reach.circuits.saturating_sub(1)
            }
            ev => tracing::debug!(?ev, "relay"),
        }
    }

    pub(super) fn on_dcutr(&mut self, ev: dcutr::Event) {
        match ev.result {
            Ok(_) => {
                tracing::info!(peer = %ev.remote_peer_id, "direct connection after hole punch");
                self.reach.punched(ev.remote_peer_id, self.engine.now());
            }
            Err(e) => {
                tracing::info!(peer = %ev.remote_peer_id, error = %e, "hole punch failed");
                self.reach.punch_failed();
            }
        }
    }

    /// A listener closed: if it was a relay circuit, the node looks for another relay.
    pub(super) fn on_listener_closed(&mut self, id: libp2p::core::transport::ListenerId) {
        if let Some((relay, _)) = self.relay_listens.remove(&id) {
            tracing::info!(%relay, "the relay listen closed");
            self.reach.relay_lost(&relay);
            self.update_reach();
        }
    }

    /// Whether `peer` offers to relay (identify listed the hop protocol).
    pub(super) fn note_relay_candidate(&mut self, peer: PeerId, hop: bool) {
        if hop {
            self.relay_candidates.insert(peer);
            self.update_reach();
        } else {
            self.relay_candidates.remove(&peer);
        }
    }

    /// Sets Kademlia's mode and, behind NAT without a relay, listens through one.
    pub(super) fn update_reach(&mut self) {
        // A server only while peers can dial it: a client-mode node answers no queries and
        // enters no routing table, so peers do not waste look-ups on a node they cannot reach.
        let server = self.assume_public || self.reach.is_public();
        let mode = if server {
            kad::Mode::Server
        } else {
            kad::Mode::Client
        };
        if self.swarm.behaviour().kad.mode() != mode {
            tracing::info!(?mode, "Kademlia mode");
            let kad = &mut self.swarm.behaviour_mut().kad;
            kad.set_mode(Some(mode));
            if server {
                // Peers that looked the network up while this node was a client did not learn
                // of it: a look-up of its own key now makes it known to the nodes nearest it
                // (each adds it when identify shows the protocol) and fills its own table.
                // With no peer yet there is nobody to tell; the first one added triggers
                // Kademlia's own bootstrap.
                let _ = kad.bootstrap();
                self.kad_refresh.started(std::time::Instant::now());
            }
        }
        // "auto" is decided here, not by libp2p's own switch: that one counts the circuit
        // address a relay gives this node as an external address, and would have a node
        // behind NAT offer to relay through its own relay.
        if self.relay_serve == RelayServe::Auto {
            let serve = self.reach.is_public();
            if serve != self.relay_serving {
                tracing::info!(serving = serve, "relay for others");
                self.relay_serving = serve;
                self.swarm.behaviour_mut().relay.set_status(Some(if serve {
                    relay::Status::Enable
                } else {
                    relay::Status::Disable
                }));
            }
        }
        if self.reach.is_behind_nat() && !self.reach.has_relay() {
            self.listen_via_relay();
        }
    }

    /// Looks up this node's own key again when a connected peer turned into a Kademlia
    /// server. Kademlia refreshes its table by itself when a peer first enters it, and every
    /// 30 minutes; a peer this node dialled entered it while still a client, and what that
    /// peer has learned since (other servers, found as they too were confirmed) reaches this
    /// node only through a look-up. Without it a network whose nodes start together, all
    /// clients until AutoNAT confirms them, stays partly unknown to itself for half an hour.
    pub(super) fn refresh_kad_if_wanted(&mut self) {
        let now = std::time::Instant::now();
        if !self.kad_refresh.due(now) {
            return;
        }
        let _ = self.swarm.behaviour_mut().kad.bootstrap();
        self.kad_refresh.started(now);
    }

    /// Listens through the first connected peer that offers to relay and whose address this
    /// node dialled (a circuit listen needs the relay's address).
    fn listen_via_relay(&mut self) {
        let candidates: Vec<PeerId> = self.relay_candidates.iter().copied().collect();
        for relay in candidates {
            if self.reach.is_listening_via(&relay) || !self.swarm.is_connected(&relay) {
                continue;
            }
            let Some(addr) = self.relay_address(&relay) else {
                continue;
            };
            let circuit = addr.with(Protocol::P2p(relay)).with(Protocol::P2pCircuit);
            match self.swarm.listen_on(circuit.clone()) {
                Ok(id) => {
                    tracing::info!(%circuit, "behind NAT: listening through a relay");
                    self.reach.listening_via(relay);
                    self.relay_listens.insert(id, (relay, circuit));
                    return;
                }
                Err(e) => tracing::info!(%circuit, error = %e, "cannot listen through a relay"),
            }
        }
    }

    /// A direct address of `relay` to reach it at: the one this node dialled, else one it
    /// reported through identify.
    fn relay_address(&self, relay: &PeerId) -> Option<Multiaddr> {
        let strip = |a: &Multiaddr| -> Multiaddr {
            a.iter()
                .take_while(|p| !matches!(p, Protocol::P2p(_)))
                .collect()
        };
        let dialled = self
            .peer_meta
            .get(relay)
            .filter(|m| m.direction == "outbound" && !is_relayed(&m.address))
            .map(|m| strip(&m.address));
        dialled.or_else(|| {
            self.addrbook
                .addrs_of(relay)
                .into_iter()
                .find(|a| !is_relayed(a))
        })
    }

    /// A new listen address: a circuit address means a relay accepted this node's reservation
    /// (whether the node asked for it on its own or the config listens through the relay).
    pub(super) fn on_new_listen_addr(
        &mut self,
        id: libp2p::core::transport::ListenerId,
        address: &Multiaddr,
    ) {
        // Every node of the process can dial a memory address, as AutoNAT would confirm of a
        // reachable TCP one. AutoNAT cannot confirm it here: the address a peer observes for a
        // memory connection is the dialler's ephemeral port, never its listen port (TCP reuses
        // the listen port for its dials). Without an external address a node's provider
        // records carry no address (docs/SCALE.md).
        if matches!(address.iter().next(), Some(Protocol::Memory(_))) {
            self.swarm.add_external_address(address.clone());
            return;
        }
        if !is_relayed(address) {
            return;
        }
        let relay = address
            .iter()
            .take_while(|p| !matches!(p, Protocol::P2pCircuit))
            .filter_map(|p| match p {
                Protocol::P2p(id) => Some(id),
                _ => None,
            })
            .last();
        // Kept without this node's own `/p2p/` (the relay client appends it).
        let mut circuit = address.clone();
        if matches!(circuit.iter().last(), Some(Protocol::P2p(_))) {
            circuit.pop();
        }
        if let Some(relay) = relay {
            self.reach.reserved(relay, circuit.clone());
            self.relay_listens.insert(id, (relay, circuit));
        }
    }

    /// An invite to this node: confirmed public addresses first, then relay circuits, then
    /// the concrete addresses it listens on (a LAN address still helps a peer on the same
    /// network; loopback ones come last).
    pub(super) fn invite(&self) -> Invite {
        let me = *self.swarm.local_peer_id();
        let status = self.reach.status(&me, false, true, false);
        let mut addrs: Vec<Multiaddr> = Vec::new();
        if let ReachKind::Public { addresses } = &status.kind {
            addrs.extend(addresses.iter().filter_map(|a| a.parse().ok()));
        }
        addrs.extend(self.relay_listens.values().map(|(_, c)| c.clone()));
        let concrete = |a: &&Multiaddr| {
            !a.iter().any(|p| match p {
                Protocol::Ip4(ip) => ip.is_unspecified(),
                Protocol::Ip6(ip) => ip.is_unspecified(),
                _ => false,
            })
        };
        let loopback = |a: &Multiaddr| {
            a.iter().any(|p| match p {
                Protocol::Ip4(ip) => ip.is_loopback(),
                Protocol::Ip6(ip) => ip.is_loopback(),
                _ => false,
            })
        };
        // Loopback last: useful only on the same machine, and an invite holds 8 at most.
        let (lo, other): (Vec<Multiaddr>, Vec<Multiaddr>) = self
            .swarm
            .listeners()
            .filter(concrete)
            .filter(|a| !is_relayed(a))
            .cloned()
            .partition(loopback);
        addrs.extend(other);
        addrs.extend(lo);
        Invite::new(me, addrs)
    }

    /// A peer from an invite: into the address book, Kademlia and the bootstrap peers
    /// redialled while not connected. Returns the book to write (off the loop).
    pub(super) fn join(&mut self, invite: Invite) -> Option<BookWrite> {
        let peer = invite.peer;
        for a in &invite.addrs {
            self.swarm.behaviour_mut().kad.add_address(&peer, a.clone());
        }
        self.addrbook
            .record(peer, invite.addrs.iter().cloned(), self.engine.now());
        for a in invite.dial_addrs() {
            if !self.bootstrap.contains(&a) {
                self.bootstrap.push(a);
            }
        }
        self.addrbook.snapshot()
    }
}
