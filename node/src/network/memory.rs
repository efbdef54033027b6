//! Which transports a node's swarm runs, and the in-process one simulations use.
//!
//! A real node speaks TCP, QUIC and DNS ([`TransportChoice::System`], the default). A
//! simulation of hundreds of nodes in one process (`node/benches/scale.rs`,
//! `node/tests/suite/scale_sim.rs`) runs the same behaviours and event loop over libp2p's
//! `MemoryTransport` instead ([`TransportChoice::Memory`]): no sockets, ports or file
//! descriptors per connection, so a thousand nodes fit on one machine, with the same noise and
//! yamux upgrades on top as over TCP. The memory transport also counts the bytes each node
//! reads and writes ([`WireBytes`]), which is how a simulation measures what gossip, Kademlia
//! and sync cost in bandwidth.

use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};

use futures::{AsyncRead, AsyncWrite};
use libp2p::core::muxing::StreamMuxerBox;
use libp2p::core::transport::{Boxed, MemoryTransport};
use libp2p::core::{upgrade, Transport};
use libp2p::{identity, noise, yamux, PeerId};

/// The transports of a swarm.
#[derive(Clone, Debug, Default)]
pub enum TransportChoice {
    /// TCP (noise, yamux), QUIC and DNS: what every real node runs.
    #[default]
    System,
    /// libp2p's in-process memory transport (`/memory/<n>` addresses) with noise and yamux,
    /// counting bytes into the given counters. Only for simulations in one process.
    Memory(Arc<WireBytes>),
}

/// Bytes a node moved over the memory transport, all connections together (noise and yamux
/// framing included: what a link would carry).
#[derive(Debug, Default)]
pub struct WireBytes {
    read: AtomicU64,
    written: AtomicU64,
}

impl WireBytes {
    /// Bytes read from peers so far.
    pub fn read(&self) -> u64 {
        self.read.load(Ordering::Relaxed)
    }

    /// Bytes written to peers so far.
    pub fn written(&self) -> u64 {
        self.written.load(Ordering::Relaxed)
    }
}

/// The memory transport with noise and yamux, counting into `bytes`.
pub fn memory_transport(
    key: &identity::Keypair,
    bytes: Arc<WireBytes>,
) -> Result<Boxed<(PeerId, StreamMuxerBox)>, noise::Error> {
    Ok(MemoryTransport::default()
        .map(move |stream, _| Counted {
            inner: stream,
            bytes: bytes.clone(),
        })
        .upgrade(upgrade::Version::V1)
        .authenticate(noise::Config::new(key)?)
        .multiplex(yamux::Config::default())
        .map(|(peer, muxer), _| (peer, StreamMuxerBox::new(muxer)))
        .boxed())
}

/// A raw connection that adds what passes through it to its node's counters.
struct Counted<S> {
    inner: S,
    bytes: Arc<WireBytes>,
}

impl<S: AsyncRead + Unpin> AsyncRead for Counted<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        let polled = Pin::new(&mut self.inner).poll_read(cx, buf);
        if let Poll::Ready(Ok(n)) = polled {
            self.bytes.read.fetch_add(n as u64, Ordering::Relaxed);
        }
        polled
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Counted<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let polled = Pin::new(&mut self.inner).poll_write(cx, buf);
        if let Poll::Ready(Ok(n)) = polled {
            self.bytes.written.fetch_add(n as u64, Ordering::Relaxed);
        }
        polled
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_close(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_close(cx)
    }
}
