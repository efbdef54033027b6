//! The dials the user asked for (`swapmeet connect`, `join`, the API): started, answered when
//! the connection opens or fails, and retried once from a fresh port when reusing the listen
//! port clashed.
//!
//! A dial reuses the node's listen port by default, so the peer sees an address it can dial back
//! and NATs keep one mapping (hole punching relies on it). That binding can clash with a socket
//! already on the same ports: the two nodes dialling each other at once, or a connection between
//! the same two ports still in TIME_WAIT. The TCP transport retries from a fresh port when
//! `connect` reports the clash, but not when `bind` does (EADDRINUSE), and the user's dial then
//! failed for no reason they could act on.

use std::error::Error;
use std::io;

use libp2p::core::transport::{PortUse, TransportError};
use libp2p::swarm::dial_opts::DialOpts;
use libp2p::swarm::DialError;
use libp2p::{Multiaddr, PeerId};
use tokio::sync::oneshot;

use super::EventLoop;
use crate::network::NetworkError;

/// A dial the user is waiting for.
pub(super) struct PendingDial {
    pub(super) addr: Multiaddr,
    pub(super) reply: oneshot::Sender<Result<PeerId, NetworkError>>,
    port_use: PortUse,
}

impl EventLoop {
    /// Starts the user's dial; the answer goes to `reply` when it connects or fails.
    pub(super) fn dial_for_user(
        &mut self,
        addr: Multiaddr,
        reply: oneshot::Sender<Result<PeerId, NetworkError>>,
        port_use: PortUse,
    ) {
        let opts = match port_use {
            PortUse::Reuse => DialOpts::unknown_peer_id().address(addr.clone()).build(),
            PortUse::New => DialOpts::unknown_peer_id()
                .address(addr.clone())
                .allocate_new_port()
                .build(),
        };
        let id = opts.connection_id();
        match self.swarm.dial(opts) {
            Ok(()) => {
                self.dials.insert(
                    id,
                    PendingDial {
                        addr,
                        reply,
                        port_use,
                    },
                );
            }
            Err(e) => {
                let _ = reply.send(Err(NetworkError::Dial {
                    addr: addr.to_string(),
                    reason: e.to_string(),
                }));
            }
        }
    }

    /// A user's dial failed: tried again from a fresh port if reusing the listen port clashed,
    /// answered otherwise.
    pub(super) fn user_dial_failed(&mut self, dial: PendingDial, error: &DialError) {
        // A connection the node opened meanwhile (the DHT and mDNS find peers too) can win
        // the race, and this one is then refused: connected to that peer is what was asked for.
        let peer = match dial.addr.iter().last() {
            Some(libp2p::multiaddr::Protocol::P2p(peer)) => Some(peer),
            _ => None,
        };
        if let Some(peer) = peer.filter(|p| self.swarm.is_connected(p)) {
            let _ = dial.reply.send(Ok(peer));
            return;
        }
        if dial.port_use == PortUse::Reuse && port_clash(error) {
            tracing::debug!(addr = %dial.addr, "reusing the listen port clashed; dialling from a fresh port");
            self.dial_for_user(dial.addr, dial.reply, PortUse::New);
            return;
        }
        let _ = dial.reply.send(Err(NetworkError::Dial {
            addr: dial.addr.to_string(),
            reason: match error {
                // libp2p prints only "Dial error" for these.
                DialError::Denied { cause } => {
                    format!("refused by this node's connection rules: {cause}")
                }
                e => e.to_string(),
            },
        }));
    }
}

/// Whether a dial failed because binding the listen port for it clashed with another socket.
fn port_clash(error: &DialError) -> bool {
    let DialError::Transport(attempts) = error else {
        return false;
    };
    attempts.iter().any(|(_, e)| match e {
        // Some transport wrappers (`either::Either`, DNS's "multiple dial errors") do not hand
        // out the I/O error they hold as a source, but all of them print it.
        TransportError::Other(io) => {
            let printed = io.to_string();
            names_port_clash(io) || clash_messages().iter().any(|m| printed.contains(m))
        }
        TransportError::MultiaddrNotSupported(_) => false,
    })
}

/// What the operating system prints for the two clashes, where the node knows the codes.
fn clash_messages() -> Vec<String> {
    #[cfg(target_os = "linux")]
    {
        use rustix::io::Errno;
        [Errno::ADDRINUSE, Errno::ADDRNOTAVAIL]
            .into_iter()
            .map(|e| io::Error::from(e).to_string())
            .collect()
    }
    #[cfg(not(target_os = "linux"))]
    {
        Vec::new()
    }
}

/// Whether `error` or anything it wraps is an I/O error saying the address is taken.
fn names_port_clash(error: &(dyn Error + 'static)) -> bool {
    let mut next = Some(error);
    while let Some(e) = next {
        if let Some(io) = e.downcast_ref::<io::Error>() {
            if matches!(
                io.kind(),
                io::ErrorKind::AddrInUse | io::ErrorKind::AddrNotAvailable
            ) {
                return true;
            }
            // `io::Error::source` skips the error it wraps; look at that one too.
            if io.get_ref().is_some_and(|inner| names_port_clash(inner)) {
                return true;
            }
        }
        next = e.source();
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    fn transport_failure(e: io::Error) -> DialError {
        DialError::Transport(vec![(
            "/ip4/127.0.0.1/tcp/4001".parse().unwrap(),
            TransportError::Other(e),
        )])
    }

    #[test]
    fn a_clash_is_found_however_deep_the_transports_wrapped_it() {
        let bind = io::Error::from(io::ErrorKind::AddrInUse);
        assert!(port_clash(&transport_failure(bind)));
        let wrapped = io::Error::other(io::Error::other(io::Error::from(
            io::ErrorKind::AddrNotAvailable,
        )));
        assert!(port_clash(&transport_failure(wrapped)));
        // As the DNS transport reports it: the inner error only in the text.
        #[cfg(target_os = "linux")]
        {
            let os = io::Error::from(rustix::io::Errno::ADDRINUSE);
            let printed = io::Error::other(format!("Multiple dial errors occurred:\n - {os}"));
            assert!(port_clash(&transport_failure(printed)));
        }
    }

    #[test]
    fn other_failures_are_not_clashes() {
        let refused = io::Error::from(io::ErrorKind::ConnectionRefused);
        assert!(!port_clash(&transport_failure(refused)));
        assert!(!port_clash(&DialError::Aborted));
    }
}
