//! The wire format of `/swapmeet/msg/1`: one request and one response per stream, each a
//! version byte (1), a tag byte and a body, written whole and then the stream closed (the same
//! framing as `/swapmeet/sync/1`). Every length is checked against its cap before anything is
//! allocated, and the whole message against the cap of its direction before it is decoded.
//!
//! Requests:
//! - `1 Deliver`: the sealed message (the rest of the message), for the recipient itself.
//! - `2 Deposit`: the sealed message, for a mailbox to hold until its recipient collects it.
//! - `3 Collect`: u32 BE `max_bytes`: the mail held for the requester, up to that many bytes.
//! - `4 Ack`: u32 BE count, then that many 32-byte sealed ids: delete these (collected) items.
//! - `5 Receipt`: a signed receipt envelope for a message the requester received.
//!
//! Responses:
//! - `1 Receipt`: the recipient's signed receipt envelope (answers Deliver).
//! - `2 Held`: the mailbox holds the deposit.
//! - `3 Mail`: a byte (1 = more mail remains, 0 = none), u32 BE count, then per item a u32 BE
//!   length and the sealed bytes.
//! - `4 Acked`: u32 BE: how many items were deleted.
//! - `5 Refused`: UTF-8 reason (at most 1,024 bytes): what limit or rule the request broke.
//! - `6 Ok`: the request was taken (answers Receipt).

use std::io;

use futures::{AsyncRead, AsyncWrite};
use libp2p::StreamProtocol;
use swapmeet_protocol::limits::{MAX_ENVELOPE_BYTES, MAX_SEALED_BYTES};
use swapmeet_protocol::EnvelopeHash;

use crate::network::frame::{bad, put_u32, Frame};

/// Wire version of messaging messages.
pub const MSG_WIRE_VERSION: u8 = 1;
/// Most bytes of mail one Collect answer carries (the requester asks for less or this).
pub const MAX_MAIL_BYTES: usize = 1024 * 1024;
/// Most items in one Mail answer, and most ids in one Ack. Mail fills at most
/// [`MAX_MAIL_BYTES`], and no sealed message is shorter than 512 bytes, so 2,048 items cover it.
pub const MAX_MAIL_ITEMS: usize = 2048;
/// Most bytes of a receipt envelope (a hash, a key, a time and a signature: about 200).
pub const MAX_RECEIPT_BYTES: usize = MAX_ENVELOPE_BYTES;
/// Largest request on the wire: a sealed message, or a full Ack.
pub const MAX_REQUEST_BYTES: usize = max(MAX_SEALED_BYTES, MAX_MAIL_ITEMS * 32) + 16;
/// Largest response on the wire: a full Mail answer.
pub const MAX_RESPONSE_BYTES: usize = MAX_MAIL_BYTES + MAX_SEALED_BYTES + MAX_MAIL_ITEMS * 4 + 16;
/// Longest refusal reason kept.
const MAX_REASON_BYTES: usize = 1024;

const fn max(a: usize, b: usize) -> usize {
    if a > b {
        a
    } else {
        b
    }
}

/// The messaging protocol's framing.
const FRAME: Frame = Frame::new("msg", MSG_WIRE_VERSION);

const REQ_DELIVER: u8 = 1;
const REQ_DEPOSIT: u8 = 2;
const REQ_COLLECT: u8 = 3;
const REQ_ACK: u8 = 4;
const REQ_RECEIPT: u8 = 5;
const RES_RECEIPT: u8 = 1;
const RES_HELD: u8 = 2;
const RES_MAIL: u8 = 3;
const RES_ACKED: u8 = 4;
const RES_REFUSED: u8 = 5;
const RES_OK: u8 = 6;

/// A request of `/swapmeet/msg/1`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MsgRequest {
    /// A sealed message for the node that receives the request.
    Deliver(Vec<u8>),
    /// A sealed message for someone else, to hold as a mailbox.
    Deposit(Vec<u8>),
    /// Send the mail held for me.
    Collect {
        /// Most bytes of sealed messages in the answer.
        max_bytes: u32,
    },
    /// Delete these held items (by sealed id): I have them.
    Ack(Vec<EnvelopeHash>),
    /// My signed receipt for a message you sent me.
    Receipt(Vec<u8>),
}

/// A response of `/swapmeet/msg/1`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MsgResponse {
    /// The recipient's signed receipt.
    Receipt(Vec<u8>),
    /// The deposit is held.
    Held,
    /// Held mail.
    Mail {
        /// Sealed messages, oldest first.
        items: Vec<Vec<u8>>,
        /// Whether more remains.
        more: bool,
    },
    /// How many items an Ack deleted.
    Acked(u32),
    /// The request was refused.
    Refused {
        /// Why, naming the rule or the limit.
        reason: String,
    },
    /// Taken.
    Ok,
}

fn end(rest: &[u8], what: &str) -> io::Result<()> {
    if rest.is_empty() {
        Ok(())
    } else {
        Err(bad(format!("{what}: {} trailing bytes", rest.len())))
    }
}

fn capped(rest: &[u8], max: usize, what: &str) -> io::Result<Vec<u8>> {
    if rest.len() > max {
        return Err(bad(format!(
            "{what} of {} bytes (the limit is {max})",
            rest.len()
        )));
    }
    if rest.is_empty() {
        return Err(bad(format!("{what} is empty")));
    }
    Ok(rest.to_vec())
}

impl MsgRequest {
    /// Encodes the request.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = vec![MSG_WIRE_VERSION];
        match self {
            MsgRequest::Deliver(b) => {
                out.push(REQ_DELIVER);
                out.extend_from_slice(b);
            }
            MsgRequest::Deposit(b) => {
                out.push(REQ_DEPOSIT);
                out.extend_from_slice(b);
            }
            MsgRequest::Collect { max_bytes } => {
                out.push(REQ_COLLECT);
                out.extend_from_slice(&max_bytes.to_be_bytes());
            }
            MsgRequest::Ack(ids) => {
                out.push(REQ_ACK);
                put_u32(&mut out, ids.len());
                for id in ids {
                    out.extend_from_slice(&id.0);
                }
            }
            MsgRequest::Receipt(b) => {
                out.push(REQ_RECEIPT);
                out.extend_from_slice(b);
            }
        }
        out
    }

    /// Decodes and bounds-checks a request.
    pub fn decode(b: &[u8]) -> io::Result<MsgRequest> {
        if b.len() > MAX_REQUEST_BYTES {
            return Err(bad(format!("msg request over {MAX_REQUEST_BYTES} bytes")));
        }
        let (tag, mut rest) = FRAME.header(b)?;
        match tag {
            REQ_DELIVER => Ok(MsgRequest::Deliver(capped(
                rest,
                MAX_SEALED_BYTES,
                "a delivered sealed message",
            )?)),
            REQ_DEPOSIT => Ok(MsgRequest::Deposit(capped(
                rest,
                MAX_SEALED_BYTES,
                "a deposited sealed message",
            )?)),
            REQ_COLLECT => {
                let max_bytes = FRAME.get_u32(&mut rest, "collect's max_bytes")? as u32;
                end(rest, "collect")?;
                Ok(MsgRequest::Collect { max_bytes })
            }
            REQ_ACK => {
                let n = FRAME.get_u32(&mut rest, "the ack count")?;
                if n > MAX_MAIL_ITEMS {
                    return Err(bad(format!(
                        "ack of {n} ids (the limit is {MAX_MAIL_ITEMS})"
                    )));
                }
                let mut ids = Vec::with_capacity(n);
                for _ in 0..n {
                    let s = FRAME.take(&mut rest, 32, "an acked id")?;
                    let mut id = [0u8; 32];
                    id.copy_from_slice(s);
                    ids.push(EnvelopeHash(id));
                }
                end(rest, "ack")?;
                Ok(MsgRequest::Ack(ids))
            }
            REQ_RECEIPT => Ok(MsgRequest::Receipt(capped(
                rest,
                MAX_RECEIPT_BYTES,
                "a receipt",
            )?)),
            t => Err(bad(format!("unknown msg request tag {t}"))),
        }
    }
}

impl MsgResponse {
    /// Encodes the response.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = vec![MSG_WIRE_VERSION];
        match self {
            MsgResponse::Receipt(b) => {
                out.push(RES_RECEIPT);
                out.extend_from_slice(b);
            }
            MsgResponse::Held => out.push(RES_HELD),
            MsgResponse::Mail { items, more } => {
                out.push(RES_MAIL);
                out.push(u8::from(*more));
                put_u32(&mut out, items.len());
                for i in items {
                    put_u32(&mut out, i.len());
                    out.extend_from_slice(i);
                }
            }
            MsgResponse::Acked(n) => {
                out.push(RES_ACKED);
                out.extend_from_slice(&n.to_be_bytes());
            }
            MsgResponse::Refused { reason } => {
                out.push(RES_REFUSED);
                out.extend_from_slice(truncate(reason, MAX_REASON_BYTES).as_bytes());
            }
            MsgResponse::Ok => out.push(RES_OK),
        }
        out
    }

    /// Decodes and bounds-checks a response.
    pub fn decode(b: &[u8]) -> io::Result<MsgResponse> {
        if b.len() > MAX_RESPONSE_BYTES {
            return Err(bad(format!("msg response over {MAX_RESPONSE_BYTES} bytes")));
        }
        let (tag, mut rest) = FRAME.header(b)?;
        match tag {
            RES_RECEIPT => Ok(MsgResponse::Receipt(capped(
                rest,
                MAX_RECEIPT_BYTES,
                "a receipt",
            )?)),
            RES_HELD => end(rest, "held").map(|()| MsgResponse::Held),
            RES_MAIL => {
                let more = match FRAME.take(&mut rest, 1, "mail's more flag")?[0] {
                    0 => false,
                    1 => true,
                    v => return Err(bad(format!("mail's more flag is {v} (0 or 1)"))),
                };
                let n = FRAME.get_u32(&mut rest, "the mail count")?;
                if n > MAX_MAIL_ITEMS {
                    return Err(bad(format!(
                        "mail of {n} items (the limit is {MAX_MAIL_ITEMS})"
                    )));
                }
                let mut items = Vec::with_capacity(n);
                for _ in 0..n {
                    let len = FRAME.get_u32(&mut rest, "a mail item length")?;
                    if len > MAX_SEALED_BYTES {
                        return Err(bad(format!(
                            "mail item of {len} bytes (the limit is {MAX_SEALED_BYTES})"
                        )));
                    }
                    items.push(FRAME.take(&mut rest, len, "a mail item")?.to_vec());
                }
                end(rest, "mail")?;
                Ok(MsgResponse::Mail { items, more })
            }
            RES_ACKED => {
                let n = FRAME.get_u32(&mut rest, "the acked count")? as u32;
                end(rest, "acked")?;
                Ok(MsgResponse::Acked(n))
            }
            RES_REFUSED => Ok(MsgResponse::Refused {
                reason: String::from_utf8_lossy(&rest[..rest.len().min(MAX_REASON_BYTES)])
                    .into_owned(),
            }),
            RES_OK => end(rest, "ok").map(|()| MsgResponse::Ok),
            t => Err(bad(format!("unknown msg response tag {t}"))),
        }
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

/// The request-response codec of `/swapmeet/msg/1`.
#[derive(Clone, Copy, Debug, Default)]
pub struct MsgCodec;

impl libp2p::request_response::Codec for MsgCodec {
    type Protocol = StreamProtocol;
    type Request = MsgRequest;
    type Response = MsgResponse;

    async fn read_request<T>(&mut self, _: &StreamProtocol, io: &mut T) -> io::Result<MsgRequest>
    where
        T: AsyncRead + Unpin + Send,
    {
        MsgRequest::decode(&FRAME.read(io, MAX_REQUEST_BYTES, None).await?)
    }

    async fn read_response<T>(&mut self, _: &StreamProtocol, io: &mut T) -> io::Result<MsgResponse>
    where
        T: AsyncRead + Unpin + Send,
    {
        MsgResponse::decode(&FRAME.read(io, MAX_RESPONSE_BYTES, None).await?)
    }

    async fn write_request<T>(
        &mut self,
        _: &StreamProtocol,
        io: &mut T,
        req: MsgRequest,
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
        res: MsgResponse,
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

    #[test]
    fn requests_and_responses_round_trip() {
        let reqs = [
            MsgRequest::Deliver(vec![7; 600]),
            MsgRequest::Deposit(vec![8; MAX_SEALED_BYTES]),
            MsgRequest::Collect { max_bytes: 65_536 },
            MsgRequest::Ack(vec![EnvelopeHash([1; 32]), EnvelopeHash([2; 32])]),
            MsgRequest::Ack(Vec::new()),
            MsgRequest::Receipt(vec![3; 180]),
        ];
        for r in reqs {
            assert_eq!(MsgRequest::decode(&r.encode()).unwrap(), r);
        }
        let ress = [
            MsgResponse::Receipt(vec![4; 180]),
            MsgResponse::Held,
            MsgResponse::Mail {
                items: vec![vec![5; 600], vec![6; 1200]],
                more: true,
            },
            MsgResponse::Mail {
                items: Vec::new(),
                more: false,
            },
            MsgResponse::Acked(3),
            MsgResponse::Refused {
                reason: "recipient holds 200 messages (the limit is 200)".into(),
            },
            MsgResponse::Ok,
        ];
        for r in ress {
            assert_eq!(MsgResponse::decode(&r.encode()).unwrap(), r);
        }
    }

    #[test]
    fn oversized_and_malformed_messages_are_refused_with_the_rule_they_broke() {
        let err = |r: io::Result<MsgRequest>| r.unwrap_err().to_string();
        let mut big = vec![MSG_WIRE_VERSION, REQ_DEPOSIT];
        big.extend(vec![0; MAX_SEALED_BYTES + 1]);
        assert!(err(MsgRequest::decode(&big)).contains("the limit is"));
        assert!(err(MsgRequest::decode(&[MSG_WIRE_VERSION, REQ_DELIVER])).contains("empty"));
        assert!(err(MsgRequest::decode(&[2, REQ_COLLECT, 0, 0, 0, 1])).contains("version 2"));
        assert!(err(MsgRequest::decode(&[MSG_WIRE_VERSION, 99])).contains("tag 99"));
        assert!(err(MsgRequest::decode(&[])).contains("empty"));
        // An ack announcing more ids than allowed is refused before anything is allocated.
        let mut ack = vec![MSG_WIRE_VERSION, REQ_ACK];
        ack.extend_from_slice(&u32::MAX.to_be_bytes());
        assert!(err(MsgRequest::decode(&ack)).contains("the limit is 2048"));
        // An ack whose count promises more than it carries.
        let mut short = vec![MSG_WIRE_VERSION, REQ_ACK];
        short.extend_from_slice(&2u32.to_be_bytes());
        short.extend_from_slice(&[0; 32]);
        assert!(err(MsgRequest::decode(&short)).contains("ends inside"));
        let mut long = MsgRequest::Collect { max_bytes: 1 }.encode();
        long.push(0);
        assert!(err(MsgRequest::decode(&long)).contains("trailing"));

        let mut mail = vec![MSG_WIRE_VERSION, RES_MAIL, 0];
        mail.extend_from_slice(&1u32.to_be_bytes());
        mail.extend_from_slice(&(MAX_SEALED_BYTES as u32 + 1).to_be_bytes());
        let e = MsgResponse::decode(&mail).unwrap_err().to_string();
        assert!(e.contains("mail item of"), "{e}");
        let e = MsgResponse::decode(&[MSG_WIRE_VERSION, RES_MAIL, 2, 0, 0, 0, 0])
            .unwrap_err()
            .to_string();
        assert!(e.contains("more flag"), "{e}");
        let too_big = vec![MSG_WIRE_VERSION; MAX_RESPONSE_BYTES + 1];
        assert!(MsgResponse::decode(&too_big).is_err());
    }

    #[test]
    fn a_long_refusal_is_cut_on_a_character_boundary() {
        let reason = "é".repeat(1000);
        let MsgResponse::Refused { reason: back } =
            MsgResponse::decode(&MsgResponse::Refused { reason }.encode()).unwrap()
        else {
            panic!("not a refusal")
        };
        assert_eq!(back.len(), 1024);
        assert!(back.chars().all(|c| c == 'é'));
    }

    #[test]
    fn the_caps_are_the_documented_ones() {
        // docs/PROTOCOL.md 11.7 states these; a change here is a change to the protocol.
        assert_eq!(MAX_SEALED_BYTES, 16_484);
        assert_eq!(MAX_REQUEST_BYTES, 65_552);
        assert_eq!(MAX_RESPONSE_BYTES, 1_073_268);
    }

    #[test]
    fn a_full_mail_answer_fits_the_response_cap() {
        let items = vec![vec![0; MAX_SEALED_BYTES]; MAX_MAIL_BYTES / MAX_SEALED_BYTES + 1];
        let r = MsgResponse::Mail { items, more: true };
        assert!(r.encode().len() <= MAX_RESPONSE_BYTES);
    }
}
