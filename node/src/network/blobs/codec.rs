//! The wire format of `/swapmeet/blob/1`: one request and one response per stream, each a
//! version byte (1), a tag byte and a body, written whole and then the stream closed (the
//! framing of `/swapmeet/sync/1` and `/swapmeet/msg/1`). The whole message is checked against
//! the cap of its direction before it is decoded, and every length before it is used.
//!
//! Request:
//! - `1 Get`: the blob's SHA-256 (32 bytes), u64 BE `offset`, u32 BE `len` (1 to
//!   [`MAX_CHUNK_BYTES`]): send bytes `offset..offset+len` of that blob (fewer at its end).
//!
//! Responses:
//! - `1 Chunk`: u64 BE `total_size` (the whole blob's size, at most [`MAX_BLOB_BYTES`]), then
//!   the bytes asked for: exactly `min(len, total_size - offset)` of them.
//! - `2 NotFound`: this node does not hold the blob.
//! - `3 Busy`: over this node's serving limits (per peer or in total); ask again later or
//!   ask another provider.
//! - `4 Refused`: UTF-8 reason (at most 1,024 bytes): the request broke a rule (an offset
//!   past the end, a length over the cap).

use std::io;

use futures::{AsyncRead, AsyncWrite};
use libp2p::StreamProtocol;
use swapmeet_protocol::limits::MAX_IMAGE_BYTES;

use crate::network::frame::{bad, Frame};

/// Wire version of blob messages.
pub const BLOB_WIRE_VERSION: u8 = 1;
/// Most bytes one chunk carries. 256 KiB: a 2 MiB photo is 8 round trips, and a chunk read
/// from disk on the serving side stays small enough to hold dozens at once.
pub const MAX_CHUNK_BYTES: u32 = 256 * 1024;
/// Largest blob the protocol moves: the largest image a listing may name.
pub const MAX_BLOB_BYTES: u64 = MAX_IMAGE_BYTES;
/// Largest request on the wire (a Get is 46 bytes).
pub const MAX_REQUEST_BYTES: usize = 64;
/// Largest response on the wire: a full chunk and its header.
pub const MAX_RESPONSE_BYTES: usize = MAX_CHUNK_BYTES as usize + 16;
/// Longest refusal reason kept.
const MAX_REASON_BYTES: usize = 1024;

const FRAME: Frame = Frame::new("blob", BLOB_WIRE_VERSION);

const REQ_GET: u8 = 1;
const RES_CHUNK: u8 = 1;
const RES_NOT_FOUND: u8 = 2;
const RES_BUSY: u8 = 3;
const RES_REFUSED: u8 = 4;

/// A request of `/swapmeet/blob/1`: a range of a blob.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BlobRequest {
    /// SHA-256 of the blob.
    pub hash: [u8; 32],
    /// First byte wanted.
    pub offset: u64,
    /// Bytes wanted (1 to [`MAX_CHUNK_BYTES`]).
    pub len: u32,
}

/// A response of `/swapmeet/blob/1`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum BlobResponse {
    /// The bytes asked for.
    Chunk {
        /// The size of the whole blob.
        total_size: u64,
        /// The bytes from the requested offset.
        bytes: Vec<u8>,
    },
    /// The blob is not held here.
    NotFound,
    /// Over the serving limits; try later or elsewhere.
    Busy,
    /// The request broke a rule.
    Refused {
        /// Which rule, naming the limit.
        reason: String,
    },
}

impl BlobRequest {
    /// Encodes the request.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(46);
        out.extend_from_slice(&[BLOB_WIRE_VERSION, REQ_GET]);
        out.extend_from_slice(&self.hash);
        out.extend_from_slice(&self.offset.to_be_bytes());
        out.extend_from_slice(&self.len.to_be_bytes());
        out
    }

    /// Decodes and bounds-checks a request.
    pub fn decode(b: &[u8]) -> io::Result<BlobRequest> {
        if b.len() > MAX_REQUEST_BYTES {
            return Err(bad(format!("blob request over {MAX_REQUEST_BYTES} bytes")));
        }
        let (tag, mut rest) = FRAME.header(b)?;
        if tag != REQ_GET {
            return Err(bad(format!("unknown blob request tag {tag}")));
        }
        let mut hash = [0u8; 32];
        hash.copy_from_slice(FRAME.take(&mut rest, 32, "the blob hash")?);
        let offset = get_u64(&mut rest, "the offset")?;
        let len = FRAME.get_u32(&mut rest, "the length")? as u32;
        if !rest.is_empty() {
            return Err(bad(format!("blob request: {} trailing bytes", rest.len())));
        }
        if len == 0 || len > MAX_CHUNK_BYTES {
            return Err(bad(format!(
                "blob request for {len} bytes (1 to {MAX_CHUNK_BYTES})"
            )));
        }
        Ok(BlobRequest { hash, offset, len })
    }
}

fn get_u64(b: &mut &[u8], what: &str) -> io::Result<u64> {
    let s = FRAME.take(b, 8, what)?;
    let mut a = [0u8; 8];
    a.copy_from_slice(s);
    Ok(u64::from_be_bytes(a))
}

impl BlobResponse {
    /// Encodes the response.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = vec![BLOB_WIRE_VERSION];
        match self {
            BlobResponse::Chunk { total_size, bytes } => {
                out.reserve(8 + bytes.len());
                out.push(RES_CHUNK);
                out.extend_from_slice(&total_size.to_be_bytes());
                out.extend_from_slice(bytes);
            }
            BlobResponse::NotFound => out.push(RES_NOT_FOUND),
            BlobResponse::Busy => out.push(RES_BUSY),
            BlobResponse::Refused { reason } => {
                out.push(RES_REFUSED);
                out.extend_from_slice(truncate(reason, MAX_REASON_BYTES).as_bytes());
            }
        }
        out
    }

    /// Decodes and bounds-checks a response. Whether a chunk is the one asked for (its length,
    /// its total size) is the requester's check ([`BlobResponse::check_chunk`]).
    pub fn decode(b: &[u8]) -> io::Result<BlobResponse> {
        if b.len() > MAX_RESPONSE_BYTES {
            return Err(bad(format!(
                "blob response over {MAX_RESPONSE_BYTES} bytes"
            )));
        }
        let (tag, mut rest) = FRAME.header(b)?;
        match tag {
            RES_CHUNK => {
                let total_size = get_u64(&mut rest, "the total size")?;
                if total_size > MAX_BLOB_BYTES {
                    return Err(bad(format!(
                        "blob of {total_size} bytes (the limit is {MAX_BLOB_BYTES})"
                    )));
                }
                if rest.len() > MAX_CHUNK_BYTES as usize {
                    return Err(bad(format!(
                        "chunk of {} bytes (the limit is {MAX_CHUNK_BYTES})",
                        rest.len()
                    )));
                }
                Ok(BlobResponse::Chunk {
                    total_size,
                    bytes: rest.to_vec(),
                })
            }
            RES_NOT_FOUND | RES_BUSY if !rest.is_empty() => Err(bad(format!(
                "blob response tag {tag}: {} trailing bytes",
                rest.len()
            ))),
            RES_NOT_FOUND => Ok(BlobResponse::NotFound),
            RES_BUSY => Ok(BlobResponse::Busy),
            RES_REFUSED => Ok(BlobResponse::Refused {
                reason: String::from_utf8_lossy(&rest[..rest.len().min(MAX_REASON_BYTES)])
                    .into_owned(),
            }),
            t => Err(bad(format!("unknown blob response tag {t}"))),
        }
    }

    /// Checks that a `Chunk` answers `req` for a blob of `total_size`: the bytes are exactly
    /// those the range holds. `Err` names what is wrong (the peer's fault).
    pub fn check_chunk(req: &BlobRequest, total_size: u64, got: usize) -> Result<(), String> {
        if total_size > MAX_BLOB_BYTES {
            return Err(format!(
                "blob of {total_size} bytes (the limit is {MAX_BLOB_BYTES})"
            ));
        }
        if req.offset >= total_size {
            return Err(format!(
                "a chunk at offset {} of a blob of {total_size} bytes",
                req.offset
            ));
        }
        let want = (total_size - req.offset).min(u64::from(req.len));
        if got as u64 != want {
            return Err(format!("a chunk of {got} bytes where {want} were due"));
        }
        Ok(())
    }
}

/// The longest prefix of `s` of at most `max` bytes that ends on a character boundary.
fn truncate(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

/// The request-response codec of `/swapmeet/blob/1`.
#[derive(Clone, Copy, Debug, Default)]
pub struct BlobCodec;

impl libp2p::request_response::Codec for BlobCodec {
    type Protocol = StreamProtocol;
    type Request = BlobRequest;
    type Response = BlobResponse;

    async fn read_request<T>(&mut self, _: &StreamProtocol, io: &mut T) -> io::Result<BlobRequest>
    where
        T: AsyncRead + Unpin + Send,
    {
        BlobRequest::decode(&FRAME.read(io, MAX_REQUEST_BYTES, None).await?)
    }

    async fn read_response<T>(&mut self, _: &StreamProtocol, io: &mut T) -> io::Result<BlobResponse>
    where
        T: AsyncRead + Unpin + Send,
    {
        BlobResponse::decode(&FRAME.read(io, MAX_RESPONSE_BYTES, None).await?)
    }

    async fn write_request<T>(
        &mut self,
        _: &StreamProtocol,
        io: &mut T,
        req: BlobRequest,
    ) -> io::Result<()>
    where
        T: AsyncWrite + Unpin + Send,
    {
        FRAME.write(io, &req.encode(), None).await
    }

    async fn write_response<T>(
        &mut self,
        _: &StreamProtocol,
        io: &mut T,
        res: BlobResponse,
    ) -> io::Result<()>
    where
        T: AsyncWrite + Unpin + Send,
    {
        FRAME.write(io, &res.encode(), None).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn get(len: u32) -> BlobRequest {
        BlobRequest {
            hash: [7; 32],
            offset: 262_144,
            len,
        }
    }

    #[test]
    fn requests_and_responses_round_trip() {
        let r = get(MAX_CHUNK_BYTES);
        assert_eq!(r.encode().len(), 46);
        assert_eq!(BlobRequest::decode(&r.encode()).unwrap(), r);
        for res in [
            BlobResponse::Chunk {
                total_size: 2 * 1024 * 1024,
                bytes: vec![9; MAX_CHUNK_BYTES as usize],
            },
            BlobResponse::Chunk {
                total_size: 0,
                bytes: Vec::new(),
            },
            BlobResponse::NotFound,
            BlobResponse::Busy,
            BlobResponse::Refused {
                reason: "offset 9 past the end of a blob of 3 bytes".into(),
            },
        ] {
            assert!(res.encode().len() <= MAX_RESPONSE_BYTES);
            assert_eq!(BlobResponse::decode(&res.encode()).unwrap(), res);
        }
    }

    #[test]
    fn the_request_bytes_are_the_documented_ones() {
        // docs/PROTOCOL.md (the blob protocol) shows this request; a change here is a change
        // to the protocol.
        let r = BlobRequest {
            hash: [0xab; 32],
            offset: 0x0102,
            len: 0x0004_0000,
        };
        let hex = hex::encode(r.encode());
        assert_eq!(
            hex,
            format!("0101{}000000000000010200040000", "ab".repeat(32))
        );
    }

    #[test]
    fn malformed_and_oversized_messages_are_refused_naming_the_rule() {
        let err = |b: &[u8]| BlobRequest::decode(b).unwrap_err().to_string();
        let mut big = get(MAX_CHUNK_BYTES + 1).encode();
        assert!(err(&big).contains("1 to 262144"), "{}", err(&big));
        big = get(0).encode();
        assert!(err(&big).contains("0 bytes"));
        let mut long = get(1).encode();
        long.push(0);
        assert!(err(&long).contains("trailing"));
        assert!(err(&get(1).encode()[..40]).contains("ends inside"));
        assert!(err(&[2, REQ_GET]).contains("version 2"));
        assert!(err(&[BLOB_WIRE_VERSION, 9]).contains("tag 9"));
        assert!(err(&[]).contains("empty"));
        assert!(err(&[0; MAX_REQUEST_BYTES + 1]).contains("over 64 bytes"));

        let rerr = |b: &[u8]| BlobResponse::decode(b).unwrap_err().to_string();
        let mut huge = vec![BLOB_WIRE_VERSION, RES_CHUNK];
        huge.extend_from_slice(&(MAX_BLOB_BYTES + 1).to_be_bytes());
        assert!(
            rerr(&huge).contains("the limit is 20971520"),
            "{}",
            rerr(&huge)
        );
        let mut fat = vec![BLOB_WIRE_VERSION, RES_CHUNK];
        fat.extend_from_slice(&10u64.to_be_bytes());
        fat.extend(vec![0; MAX_CHUNK_BYTES as usize + 1]);
        assert!(rerr(&fat).contains("chunk of 262145 bytes"));
        assert!(rerr(&[BLOB_WIRE_VERSION, RES_BUSY, 0]).contains("trailing"));
        assert!(BlobResponse::decode(&vec![1; MAX_RESPONSE_BYTES + 1]).is_err());
    }

    #[test]
    fn a_chunk_must_be_exactly_the_range_asked_for() {
        let r = BlobRequest {
            hash: [1; 32],
            offset: 100,
            len: 50,
        };
        assert!(BlobResponse::check_chunk(&r, 1000, 50).is_ok());
        // The last chunk is shorter: the blob ends.
        assert!(BlobResponse::check_chunk(&r, 120, 20).is_ok());
        assert!(BlobResponse::check_chunk(&r, 120, 50)
            .unwrap_err()
            .contains("20 were due"));
        assert!(BlobResponse::check_chunk(&r, 1000, 49).is_err());
        assert!(BlobResponse::check_chunk(&r, 100, 0)
            .unwrap_err()
            .contains("offset 100"));
        assert!(BlobResponse::check_chunk(&r, MAX_BLOB_BYTES + 1, 50).is_err());
    }

    #[test]
    fn a_long_refusal_is_cut_on_a_character_boundary() {
        let reason = "é".repeat(1000);
        let BlobResponse::Refused { reason: back } =
            BlobResponse::decode(&BlobResponse::Refused { reason }.encode()).unwrap()
        else {
            panic!("not a refusal")
        };
        assert_eq!(back.len(), 1024);
    }
}
