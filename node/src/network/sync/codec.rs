//! The request-response codec of `/swapmeet/sync/1`.

use std::io;
use std::sync::atomic::AtomicU64;
use std::sync::Arc;

use futures::{AsyncRead, AsyncWrite};
use libp2p::StreamProtocol;

use super::wire::FRAME;
use super::{SyncRequest, SyncResponse, MAX_REQUEST_BYTES, MAX_RESPONSE_BYTES};

/// Bytes that crossed the wire in sync messages (both directions, this node's view).
#[derive(Debug, Default)]
pub struct WireCounters {
    /// Bytes written (requests and responses).
    pub sent: AtomicU64,
    /// Bytes read.
    pub received: AtomicU64,
}

/// The request-response codec of `/swapmeet/sync/1`: one message per stream, read to the end
/// with a cap, counting bytes.
#[derive(Clone, Default)]
pub struct SyncCodec {
    counters: Arc<WireCounters>,
}

impl SyncCodec {
    /// A codec that counts into `counters`.
    pub fn new(counters: Arc<WireCounters>) -> SyncCodec {
        SyncCodec { counters }
    }
}

impl libp2p::request_response::Codec for SyncCodec {
    type Protocol = StreamProtocol;
    type Request = SyncRequest;
    type Response = SyncResponse;

    async fn read_request<T>(&mut self, _: &StreamProtocol, io: &mut T) -> io::Result<SyncRequest>
    where
        T: AsyncRead + Unpin + Send,
    {
        let b = FRAME
            .read(io, MAX_REQUEST_BYTES, Some(&self.counters.received))
            .await?;
        SyncRequest::decode(&b)
    }

    async fn read_response<T>(&mut self, _: &StreamProtocol, io: &mut T) -> io::Result<SyncResponse>
    where
        T: AsyncRead + Unpin + Send,
    {
        let b = FRAME
            .read(io, MAX_RESPONSE_BYTES, Some(&self.counters.received))
            .await?;
        SyncResponse::decode(&b)
    }

    async fn write_request<T>(
        &mut self,
        _: &StreamProtocol,
        io: &mut T,
        req: SyncRequest,
    ) -> io::Result<()>
    where
        T: AsyncWrite + Unpin + Send,
    {
        FRAME
            .write(io, &req.encode(), Some(&self.counters.sent))
            .await
    }

    async fn write_response<T>(
        &mut self,
        _: &StreamProtocol,
        io: &mut T,
        res: SyncResponse,
    ) -> io::Result<()>
    where
        T: AsyncWrite + Unpin + Send,
    {
        FRAME
            .write(io, &res.encode(), Some(&self.counters.sent))
            .await
    }
}
