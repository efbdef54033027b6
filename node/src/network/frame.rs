//! The framing both of the node's request-response protocols (sync, messaging) share: one
//! message per stream, read whole with a size cap before anything is decoded, starting with a
//! version byte and a tag, lengths as u32 big-endian.

use std::io;
use std::sync::atomic::{AtomicU64, Ordering};

use futures::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

/// A malformed message: the peer's fault, named.
pub(crate) fn bad(what: impl Into<String>) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, what.into())
}

/// Appends a length or count as u32 big-endian (callers bound it far below 2^32).
pub(crate) fn put_u32(out: &mut Vec<u8>, n: usize) {
    out.extend_from_slice(&(n as u32).to_be_bytes());
}

/// One protocol's framing: its name (for errors) and its wire version.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Frame {
    name: &'static str,
    version: u8,
}

impl Frame {
    pub(crate) const fn new(name: &'static str, version: u8) -> Frame {
        Frame { name, version }
    }

    /// The next `n` bytes of `b`.
    pub(crate) fn take<'a>(&self, b: &mut &'a [u8], n: usize, what: &str) -> io::Result<&'a [u8]> {
        if b.len() < n {
            return Err(bad(format!("{} message ends inside {what}", self.name)));
        }
        let (head, rest) = b.split_at(n);
        *b = rest;
        Ok(head)
    }

    /// The next u32 big-endian of `b`.
    pub(crate) fn get_u32(&self, b: &mut &[u8], what: &str) -> io::Result<usize> {
        let s = self.take(b, 4, what)?;
        Ok(u32::from_be_bytes([s[0], s[1], s[2], s[3]]) as usize)
    }

    /// The tag and the rest of a message whose version is this one.
    pub(crate) fn header<'a>(&self, b: &'a [u8]) -> io::Result<(u8, &'a [u8])> {
        match b {
            [v, tag, rest @ ..] if *v == self.version => Ok((*tag, rest)),
            [v, ..] => Err(bad(format!(
                "{} wire version {v} is not supported ({} is)",
                self.name, self.version
            ))),
            [] => Err(bad(format!("empty {} message", self.name))),
        }
    }

    /// Reads the rest of the stream, at most `max` bytes (a longer message fails before it is
    /// buffered whole), adding what was read to `counter`.
    pub(crate) async fn read<T: AsyncRead + Unpin + Send>(
        &self,
        io: &mut T,
        max: usize,
        counter: Option<&AtomicU64>,
    ) -> io::Result<Vec<u8>> {
        let mut buf = Vec::new();
        io.take(max as u64 + 1).read_to_end(&mut buf).await?;
        if let Some(c) = counter {
            c.fetch_add(buf.len() as u64, Ordering::Relaxed);
        }
        if buf.len() > max {
            return Err(bad(format!("{} message over {max} bytes", self.name)));
        }
        Ok(buf)
    }

    /// Writes one message and closes the stream, adding its size to `counter`.
    pub(crate) async fn write<T: AsyncWrite + Unpin + Send>(
        &self,
        io: &mut T,
        bytes: &[u8],
        counter: Option<&AtomicU64>,
    ) -> io::Result<()> {
        if let Some(c) = counter {
            c.fetch_add(bytes.len() as u64, Ordering::Relaxed);
        }
        io.write_all(bytes).await?;
        io.close().await
    }
}
