//! Peers as the loop sees them: connections opening and closing, what identify and mDNS
//! report, the bootstrap peers redialled, the strikes that ban a misbehaving peer for a while,
//! and the per-peer state forgotten when a peer leaves.

use std::time::Instant;

use libp2p::core::ConnectedPoint;
use libp2p::swarm::dial_opts::DialOpts;
use libp2p::swarm::SwarmEvent;
use libp2p::{identify, mdns, Multiaddr, PeerId};
use swapmeet_protocol::limits::KAD_PROTOCOL;

use super::EventLoop;
use crate::network::behaviour::BehaviourEvent;
use crate::network::STRIKES_TO_BAN;

/// Bootstrap peers are redialled while the node has fewer peers than this.
pub(super) const REDIAL_BOOTSTRAP_BELOW: usize = 8;

/// The PeerId an address names (`/p2p/...`), if it names one.
pub(super) fn peer_in(addr: &Multiaddr) -> Option<PeerId> {
    addr.iter().find_map(|p| match p {
        libp2p::multiaddr::Protocol::P2p(id) => Some(id),
        _ => None,
    })
}

/// What the status shows of a connected peer.
pub(super) struct PeerMeta {
    pub(super) address: Multiaddr,
    pub(super) direction: &'static str,
    pub(super) agent: Option<String>,
    /// Whether its last identify listed the Kademlia protocol (a server).
    pub(super) kad_server: bool,
}

impl EventLoop {
    /// Dials again the bootstrap peers that are not connected, while the node has fewer than
    /// [`REDIAL_BOOTSTRAP_BELOW`] peers: a node started while its bootstrap peer was down (or
    /// that lost it) would otherwise stay alone until someone dials it, and its outbox would
    /// wait with it. A node with more peers has found the network; redialling a bootstrap peer
    /// that closed its connection for room (`network/trim.rs`) would only be closed again. An
    /// address without a PeerId is dialled only while the node has no connection at all.
    pub(super) fn redial_bootstrap(&mut self) {
        let connected = self.swarm.connected_peers().count();
        if connected >= REDIAL_BOOTSTRAP_BELOW {
            return;
        }
        let alone = connected == 0;
        for addr in self.bootstrap.clone() {
            let peer = peer_in(&addr);
            let wanted = match peer {
                Some(id) => !self.swarm.is_connected(&id),
                None => alone,
            };
            if wanted {
                if let Err(e) = self.swarm.dial(addr.clone()) {
                    tracing::debug!(%addr, error = %e, "cannot redial a bootstrap peer");
                }
            }
        }
    }

    /// Counts a misbehaviour against `peer`; at [`STRIKES_TO_BAN`] the peer is banned for
    /// [`NetworkConfig::ban_for`](crate::network::NetworkConfig): disconnected, and its
    /// connections refused until the ban ends.
    pub(super) fn strike(&mut self, peer: PeerId, why: &str) {
        // Kept across the peer's connections: reconnecting does not wipe its record.
        let s = self.strikes.add(peer, Instant::now());
        tracing::info!(%peer, strikes = s, why, "peer misbehaved");
        if s >= STRIKES_TO_BAN {
            self.ban(peer, why);
        }
    }

    fn ban(&mut self, peer: PeerId, why: &str) {
        tracing::warn!(%peer, why, for_secs = self.ban_for.as_secs(), "banning a misbehaving peer");
        if let Some(evicted) = self.bans.ban(peer, Instant::now(), self.ban_for) {
            // The list was full: the ban closest to its end made room.
            self.lift_block(evicted);
        }
        self.swarm.behaviour_mut().blocked.block_peer(peer);
        let _ = self.swarm.disconnect_peer_id(peer);
        self.sessions.remove(&peer);
    }

    fn lift_block(&mut self, peer: PeerId) {
        if !self.user_blocked.contains(&peer) {
            self.swarm.behaviour_mut().blocked.unblock_peer(peer);
        }
    }

    /// Lets banned peers and addresses back in once their bans end.
    pub(super) fn expire_bans(&mut self) {
        let now = Instant::now();
        for peer in self.bans.expire(now) {
            tracing::info!(%peer, "a ban ended");
            self.lift_block(peer);
        }
        self.swarm.behaviour_mut().limits.expire(now);
        self.strikes.expire(now);
    }

    /// Forgets what the loop kept about a peer whose last connection closed.
    fn forget(&mut self, peer: PeerId) {
        // Strikes are not forgotten here: they outlive the connection (`StrikeBook`).
        self.peer_meta.remove(&peer);
        self.rejected_from.remove(&peer);
        self.gossip_buckets.remove(&peer);
        self.msg.on_disconnected(peer);
        self.blobs.on_disconnected(&peer);
        self.relay_candidates.remove(&peer);
        self.conn_book.forget(&peer);
        if let Some(s) = self.sessions.remove(&peer) {
            self.finish_session(peer, s, Some("peer disconnected".into()));
        }
    }

    /// Connections opening, closing and failing.
    pub(super) fn on_connection(&mut self, ev: SwarmEvent<BehaviourEvent>) {
        match ev {
            SwarmEvent::ConnectionEstablished {
                peer_id,
                connection_id,
                endpoint,
                num_established,
                ..
            } => {
                if let Some(dial) = self.dials.remove(&connection_id) {
                    let _ = dial.reply.send(Ok(peer_id));
                }
                self.conn_book.opened(connection_id, peer_id, &endpoint);
                let (address, direction) = match &endpoint {
                    ConnectedPoint::Dialer { address, .. } => {
                        self.addrbook
                            .record(peer_id, [address.clone()], self.engine.now());
                        self.swarm
                            .behaviour_mut()
                            .kad
                            .add_address(&peer_id, address.clone());
                        (address.clone(), "outbound")
                    }
                    ConnectedPoint::Listener { send_back_addr, .. } => {
                        (send_back_addr.clone(), "inbound")
                    }
                };
                if num_established.get() > 1 {
                    // A direct connection beside a relayed one (DCUtR's hole punch, or a dial
                    // that found a direct address): the status shows the direct one.
                    if let Some(m) = self.peer_meta.get_mut(&peer_id) {
                        if crate::network::reach::is_relayed(&m.address)
                            && !crate::network::reach::is_relayed(&address)
                        {
                            m.address = address.clone();
                            m.direction = direction;
                        }
                    }
                }
                if num_established.get() == 1 {
                    self.peer_meta.insert(
                        peer_id,
                        PeerMeta {
                            address,
                            direction,
                            agent: None,
                            kad_server: false,
                        },
                    );
                    tracing::debug!(peer = %peer_id, "connected");
                    self.sync_on_connect(peer_id);
                    self.msg
                        .on_connected(&mut self.swarm, &mut self.exec, peer_id);
                    if !self.provided {
                        self.provided = true;
                        self.provide_and_discover();
                    }
                }
            }
            SwarmEvent::ConnectionClosed {
                peer_id,
                connection_id,
                num_established,
                ..
            } => {
                self.conn_book.closed(connection_id);
                if num_established == 0 {
                    self.forget(peer_id);
                }
            }
            SwarmEvent::OutgoingConnectionError {
                connection_id,
                error,
                ..
            } => {
                if let Some(dial) = self.dials.remove(&connection_id) {
                    self.user_dial_failed(dial, &error);
                }
            }
            _ => {}
        }
    }

    pub(super) fn on_identify(&mut self, ev: identify::Event) {
        let identify::Event::Received { peer_id, info, .. } = ev else {
            return;
        };
        let speaks_kad = info.protocols.iter().any(|p| p.as_ref() == KAD_PROTOCOL);
        if let Some(m) = self.peer_meta.get_mut(&peer_id) {
            let turned_server = m.agent.is_some() && !m.kad_server && speaks_kad;
            m.agent = Some(info.agent_version.chars().take(128).collect());
            m.kad_server = speaks_kad;
            if turned_server {
                self.kad_refresh.want();
            }
        }
        let hop = info.protocols.contains(&libp2p::relay::HOP_PROTOCOL_NAME);
        self.note_relay_candidate(peer_id, hop);
        let addrs: Vec<Multiaddr> = info.listen_addrs.into_iter().take(16).collect();
        if speaks_kad {
            for a in &addrs {
                self.swarm
                    .behaviour_mut()
                    .kad
                    .add_address(&peer_id, a.clone());
            }
        }
        self.addrbook.record(peer_id, addrs, self.engine.now());
    }

    pub(super) fn on_mdns(&mut self, ev: mdns::Event) {
        let mdns::Event::Discovered(found) = ev else {
            return;
        };
        for (peer, addr) in found {
            self.swarm
                .behaviour_mut()
                .kad
                .add_address(&peer, addr.clone());
            if !self.swarm.is_connected(&peer) {
                let opts = DialOpts::peer_id(peer).addresses(vec![addr]).build();
                let _ = self.swarm.dial(opts);
            }
        }
    }
}
