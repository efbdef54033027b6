//! Connection limits: in each direction, while being set up, per peer and per IP address,
//! plus bans of addresses that keep knocking past their limit.
//!
//! This replaces libp2p's `connection_limits` behaviour, which keeps an entry for every peer
//! that ever connected (its per-peer map is never pruned), so a node that saw 10,000 peers
//! come and go held 10,000 empty sets. Here every map is keyed by a live connection or by an
//! address with live connections, and is pruned when they close.
//!
//! An address (an IP) gets [`Limits::per_ip`] connections at once, pending and established
//! inbound together: one machine opening thousands of connections takes a few slots, not the
//! node's whole budget. An address refused [`Limits::refusals_to_ban`] times while at its
//! limit is banned for [`Limits::ban_for`]: its connections are refused before any handshake.
//! A direction at its limit of established connections refuses new ones before the handshake
//! too (after it, they would be refused the same way).

use std::collections::{HashMap, HashSet};
use std::convert::Infallible;
use std::net::IpAddr;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use libp2p::core::transport::PortUse;
use libp2p::core::{ConnectedPoint, Endpoint};
use libp2p::multiaddr::Protocol;
use libp2p::swarm::behaviour::{ConnectionEstablished, DialFailure, ListenFailure};
use libp2p::swarm::{
    dummy, ConnectionClosed, ConnectionDenied, ConnectionId, FromSwarm, NetworkBehaviour, THandler,
    THandlerInEvent, THandlerOutEvent, ToSwarm,
};
use libp2p::{Multiaddr, PeerId};
use serde::Serialize;

/// Most addresses banned at once (each entry ~40 bytes); beyond it the ban closest to its end
/// makes room.
pub const MAX_BANNED_ADDRS: usize = 4096;

/// The limits.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    /// Established connections in each direction.
    pub per_direction: usize,
    /// Connections being set up (before the handshake ends), in each direction.
    pub pending: usize,
    /// Established connections per peer.
    pub per_peer: usize,
    /// Inbound connections (pending and established) per IP address.
    pub per_ip: usize,
    /// Refusals of an address at its limit before it is banned.
    pub refusals_to_ban: u32,
    /// How long an address ban lasts.
    pub ban_for: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            per_direction: 96,
            pending: 32,
            // Four: a dial each way can cross, and beside them a relayed connection can be
            // joined by DCUtR's direct one and an AutoNAT dial-back (a dial-back refused here
            // would tell the peer it is not reachable when it is).
            per_peer: 4,
            // Several nodes behind one NAT, or a few on one test machine, still fit.
            per_ip: 16,
            refusals_to_ban: 64,
            ban_for: Duration::from_secs(10 * 60),
        }
    }
}

/// What the status shows of the limits.
#[derive(Clone, Debug, Default, Serialize)]
pub struct LimitsStatus {
    /// Inbound connections refused (any limit, or a banned address).
    pub refused_inbound: u64,
    /// Addresses banned now.
    pub banned_addresses: usize,
    /// Addresses with inbound connections now (the per-address map's size).
    pub addresses: usize,
    /// Peers with established connections now (the per-peer map's size).
    pub peers: usize,
    /// Connections closed to keep room below the limits (`network/trim.rs`), since start.
    pub trimmed: u64,
}

fn ip_of(addr: &Multiaddr) -> Option<IpAddr> {
    addr.iter().find_map(|p| match p {
        Protocol::Ip4(ip) => Some(IpAddr::V4(ip)),
        Protocol::Ip6(ip) => Some(IpAddr::V6(ip)),
        _ => None,
    })
}

#[derive(Debug, thiserror::Error)]
enum Refused {
    #[error("{what}: at the limit of {limit}")]
    Limit { what: &'static str, limit: usize },
    #[error("address {0} is banned for knocking past its connection limit")]
    Banned(IpAddr),
}

fn check(what: &'static str, n: usize, limit: usize) -> Result<(), ConnectionDenied> {
    if n >= limit {
        return Err(ConnectionDenied::new(Refused::Limit { what, limit }));
    }
    Ok(())
}

/// The behaviour.
pub struct Behaviour {
    limits: Limits,
    pending_in: HashMap<ConnectionId, Option<IpAddr>>,
    pending_out: HashSet<ConnectionId>,
    established_in: HashMap<ConnectionId, Option<IpAddr>>,
    established_out: HashSet<ConnectionId>,
    per_peer: HashMap<PeerId, HashSet<ConnectionId>>,
    per_ip: HashMap<IpAddr, usize>,
    refusals: HashMap<IpAddr, u32>,
    banned: HashMap<IpAddr, Instant>,
    refused_inbound: u64,
}

impl Behaviour {
    /// A behaviour enforcing `limits`.
    pub fn new(limits: Limits) -> Behaviour {
        Behaviour {
            limits,
            pending_in: HashMap::new(),
            pending_out: HashSet::new(),
            established_in: HashMap::new(),
            established_out: HashSet::new(),
            per_peer: HashMap::new(),
            per_ip: HashMap::new(),
            refusals: HashMap::new(),
            banned: HashMap::new(),
            refused_inbound: 0,
        }
    }

    /// Counts and sizes for the status.
    pub fn status(&self) -> LimitsStatus {
        LimitsStatus {
            refused_inbound: self.refused_inbound,
            banned_addresses: self.banned.len(),
            addresses: self.per_ip.len(),
            peers: self.per_peer.len(),
            trimmed: 0,
        }
    }

    /// Lifts the address bans that ended by `now`, and forgets refusals of addresses with no
    /// connection left (so the refusal map stays as small as the address map).
    pub fn expire(&mut self, now: Instant) {
        self.banned.retain(|_, until| *until > now);
        let per_ip = &self.per_ip;
        self.refusals.retain(|ip, _| per_ip.contains_key(ip));
    }

    fn ban(&mut self, ip: IpAddr, now: Instant) {
        if self.banned.len() >= MAX_BANNED_ADDRS && !self.banned.contains_key(&ip) {
            if let Some(first) = self.banned.iter().min_by_key(|(_, u)| **u).map(|(i, _)| *i) {
                self.banned.remove(&first);
            }
        }
        tracing::warn!(%ip, "banning an address that keeps opening connections past its limit");
        self.banned.insert(ip, now + self.limits.ban_for);
        self.refusals.remove(&ip);
    }

    fn admit_inbound(&mut self, ip: Option<IpAddr>) -> Result<(), ConnectionDenied> {
        let now = Instant::now();
        if let Some(ip) = ip {
            match self.banned.get(&ip) {
                Some(until) if *until > now => {
                    return Err(ConnectionDenied::new(Refused::Banned(ip)))
                }
                Some(_) => {
                    self.banned.remove(&ip);
                }
                None => {}
            }
            if self.per_ip.get(&ip).copied().unwrap_or(0) >= self.limits.per_ip {
                let n = self.refusals.entry(ip).or_insert(0);
                *n += 1;
                if *n >= self.limits.refusals_to_ban {
                    self.ban(ip, now);
                }
                return Err(ConnectionDenied::new(Refused::Limit {
                    what: "inbound connections from one address",
                    limit: self.limits.per_ip,
                }));
            }
        }
        check(
            "inbound connections being set up",
            self.pending_in.len(),
            self.limits.pending,
        )?;
        // Refused now rather than after the handshake, which would be refused the same way.
        check(
            "established connections in this direction",
            self.established_in.len(),
            self.limits.per_direction,
        )
    }

    fn release_ip(&mut self, ip: Option<IpAddr>) {
        let Some(ip) = ip else { return };
        if let Some(n) = self.per_ip.get_mut(&ip) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                self.per_ip.remove(&ip);
                self.refusals.remove(&ip);
            }
        }
    }

    fn check_established(&self, peer: &PeerId, dir_len: usize) -> Result<(), ConnectionDenied> {
        check(
            "established connections in this direction",
            dir_len,
            self.limits.per_direction,
        )?;
        check(
            "established connections per peer",
            self.per_peer.get(peer).map_or(0, HashSet::len),
            self.limits.per_peer,
        )
    }
}

impl NetworkBehaviour for Behaviour {
    type ConnectionHandler = dummy::ConnectionHandler;
    type ToSwarm = Infallible;

    fn handle_pending_inbound_connection(
        &mut self,
        connection_id: ConnectionId,
        _: &Multiaddr,
        remote: &Multiaddr,
    ) -> Result<(), ConnectionDenied> {
        let ip = ip_of(remote);
        if let Err(e) = self.admit_inbound(ip) {
            self.refused_inbound += 1;
            return Err(e);
        }
        if let Some(ip) = ip {
            *self.per_ip.entry(ip).or_insert(0) += 1;
        }
        self.pending_in.insert(connection_id, ip);
        Ok(())
    }

    fn handle_established_inbound_connection(
        &mut self,
        connection_id: ConnectionId,
        peer: PeerId,
        _: &Multiaddr,
        _: &Multiaddr,
    ) -> Result<THandler<Self>, ConnectionDenied> {
        let ip = self.pending_in.remove(&connection_id).flatten();
        if let Err(e) = self.check_established(&peer, self.established_in.len()) {
            self.refused_inbound += 1;
            self.release_ip(ip);
            return Err(e);
        }
        // Counted against its address until it closes.
        self.established_in.insert(connection_id, ip);
        Ok(dummy::ConnectionHandler)
    }

    fn handle_pending_outbound_connection(
        &mut self,
        connection_id: ConnectionId,
        _: Option<PeerId>,
        _: &[Multiaddr],
        _: Endpoint,
    ) -> Result<Vec<Multiaddr>, ConnectionDenied> {
        check(
            "outbound connections being set up",
            self.pending_out.len(),
            self.limits.pending,
        )?;
        // A dial that would be refused once established is not started: its handshake was
        // the largest cost of a node at its limit (docs/SCALE.md).
        check(
            "established connections in this direction",
            self.established_out.len(),
            self.limits.per_direction,
        )?;
        self.pending_out.insert(connection_id);
        Ok(vec![])
    }

    fn handle_established_outbound_connection(
        &mut self,
        connection_id: ConnectionId,
        peer: PeerId,
        _: &Multiaddr,
        _: Endpoint,
        _: PortUse,
    ) -> Result<THandler<Self>, ConnectionDenied> {
        self.pending_out.remove(&connection_id);
        self.check_established(&peer, self.established_out.len())?;
        self.established_out.insert(connection_id);
        Ok(dummy::ConnectionHandler)
    }

    fn on_swarm_event(&mut self, event: FromSwarm) {
        match event {
            FromSwarm::ConnectionEstablished(ConnectionEstablished {
                peer_id,
                connection_id,
                endpoint,
                ..
            }) => {
                // Inbound and outbound were recorded when they were admitted; another
                // behaviour may still have refused them, which is why the peer is only
                // counted here.
                if let ConnectedPoint::Dialer { .. } = endpoint {
                    self.established_out.insert(connection_id);
                }
                self.per_peer
                    .entry(peer_id)
                    .or_default()
                    .insert(connection_id);
            }
            FromSwarm::ConnectionClosed(ConnectionClosed {
                peer_id,
                connection_id,
                ..
            }) => {
                if let Some(ip) = self.established_in.remove(&connection_id) {
                    self.release_ip(ip);
                }
                self.established_out.remove(&connection_id);
                if let Some(set) = self.per_peer.get_mut(&peer_id) {
                    set.remove(&connection_id);
                    if set.is_empty() {
                        self.per_peer.remove(&peer_id);
                    }
                }
            }
            FromSwarm::ListenFailure(ListenFailure { connection_id, .. }) => {
                // A pending inbound connection that failed, or one another behaviour refused
                // once established (then it was moved to `established_in` already).
                if let Some(ip) = self.pending_in.remove(&connection_id) {
                    self.release_ip(ip);
                }
                if let Some(ip) = self.established_in.remove(&connection_id) {
                    self.release_ip(ip);
                }
            }
            FromSwarm::DialFailure(DialFailure { connection_id, .. }) => {
                self.pending_out.remove(&connection_id);
                self.established_out.remove(&connection_id);
            }
            _ => {}
        }
    }

    fn on_connection_handler_event(
        &mut self,
        _: PeerId,
        _: ConnectionId,
        event: THandlerOutEvent<Self>,
    ) {
        libp2p::core::util::unreachable(event)
    }

    fn poll(&mut self, _: &mut Context<'_>) -> Poll<ToSwarm<Infallible, THandlerInEvent<Self>>> {
        Poll::Pending
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(i: u8) -> Multiaddr {
        format!("/ip4/10.0.0.{i}/tcp/4001").parse().unwrap()
    }

    #[test]
    fn a_direction_at_its_limit_refuses_before_the_handshake() {
        let mut b = Behaviour::new(Limits {
            per_direction: 2,
            ..Limits::default()
        });
        let local = addr(0);
        for i in 1..=2 {
            let id = ConnectionId::new_unchecked(i);
            b.handle_pending_inbound_connection(id, &local, &addr(i as u8))
                .unwrap();
            b.handle_established_inbound_connection(id, PeerId::random(), &local, &addr(i as u8))
                .unwrap();
            let id = ConnectionId::new_unchecked(10 + i);
            b.handle_pending_outbound_connection(id, None, &[], Endpoint::Dialer)
                .unwrap();
            b.handle_established_outbound_connection(
                id,
                PeerId::random(),
                &addr(20 + i as u8),
                Endpoint::Dialer,
                PortUse::Reuse,
            )
            .unwrap();
        }
        let refused = b
            .handle_pending_inbound_connection(ConnectionId::new_unchecked(3), &local, &addr(3))
            .unwrap_err();
        assert!(matches!(
            refused.downcast_ref::<Refused>(),
            Some(Refused::Limit {
                what: "established connections in this direction",
                limit: 2
            })
        ));
        assert_eq!(b.status().refused_inbound, 1);
        assert!(b
            .handle_pending_outbound_connection(
                ConnectionId::new_unchecked(13),
                None,
                &[],
                Endpoint::Dialer
            )
            .is_err());
        // Neither refusal is held against the address (the node is full, not the peer rude).
        assert!(b.refusals.is_empty() && b.banned.is_empty());
    }
}
