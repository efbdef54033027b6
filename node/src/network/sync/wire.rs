//! The bytes of sync messages: a version byte, a tag byte, then the body, every length
//! bounded before anything is allocated (docs/PROTOCOL.md, "Sync").

use std::io;

use swapmeet_protocol::limits::MAX_ENVELOPE_BYTES;
use swapmeet_protocol::EnvelopeHash;

use super::{
    MAX_FETCH_HASHES, MAX_RECONCILE_MESSAGE, MAX_REQUEST_BYTES, MAX_RESPONSE_BYTES, MAX_SYNC_AREAS,
    SYNC_WIRE_VERSION,
};
use crate::network::frame::{bad, put_u32, Frame};
use crate::network::gossip::is_area_tag;

/// The sync protocol's framing.
pub(super) const FRAME: Frame = Frame::new("sync", SYNC_WIRE_VERSION);

const TAG_RECONCILE: u8 = 1;
const TAG_FETCH: u8 = 2;
const TAG_ENVELOPES: u8 = 3;
const TAG_REFUSED: u8 = 4;

/// A sync request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SyncRequest {
    /// A negentropy message over the union of these areas.
    Reconcile {
        /// Area tags.
        areas: Vec<String>,
        /// The negentropy message.
        message: Vec<u8>,
    },
    /// Send these envelopes.
    Fetch {
        /// Envelope hashes.
        hashes: Vec<EnvelopeHash>,
    },
}

/// A sync response.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SyncResponse {
    /// The negentropy reply.
    Reconcile {
        /// The message.
        message: Vec<u8>,
    },
    /// The envelopes asked for that the responder has.
    Envelopes {
        /// Envelope bytes as signed.
        envelopes: Vec<Vec<u8>>,
    },
    /// The request was refused.
    Refused {
        /// Why.
        reason: String,
    },
}

impl SyncRequest {
    /// Encodes the request.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = vec![SYNC_WIRE_VERSION];
        match self {
            SyncRequest::Reconcile { areas, message } => {
                out.push(TAG_RECONCILE);
                out.push(areas.len().min(255) as u8);
                for a in areas.iter().take(255) {
                    out.push(a.len().min(255) as u8);
                    out.extend_from_slice(&a.as_bytes()[..a.len().min(255)]);
                }
                out.extend_from_slice(message);
            }
            SyncRequest::Fetch { hashes } => {
                out.push(TAG_FETCH);
                for h in hashes {
                    out.extend_from_slice(&h.0);
                }
            }
        }
        out
    }

    /// Decodes and bounds-checks a request.
    pub fn decode(b: &[u8]) -> io::Result<SyncRequest> {
        if b.len() > MAX_REQUEST_BYTES {
            return Err(bad(format!("sync request over {MAX_REQUEST_BYTES} bytes")));
        }
        let (tag, mut rest) = FRAME.header(b)?;
        match tag {
            TAG_RECONCILE => {
                let n = FRAME.take(&mut rest, 1, "the area count")?[0] as usize;
                if n == 0 || n > MAX_SYNC_AREAS {
                    return Err(bad(format!(
                        "areas: {n} areas (1 to {MAX_SYNC_AREAS} allowed)"
                    )));
                }
                let mut areas = Vec::with_capacity(n);
                for _ in 0..n {
                    let len = FRAME.take(&mut rest, 1, "an area length")?[0] as usize;
                    let a = FRAME.take(&mut rest, len, "an area")?;
                    let a = std::str::from_utf8(a)
                        .ok()
                        .filter(|a| is_area_tag(a))
                        .ok_or_else(|| {
                            bad("areas: not an area tag (a 4-character geohash cell, ship or all)")
                        })?;
                    areas.push(a.to_string());
                }
                if rest.len() > MAX_RECONCILE_MESSAGE {
                    return Err(bad(format!(
                        "reconcile message over {MAX_RECONCILE_MESSAGE} bytes"
                    )));
                }
                Ok(SyncRequest::Reconcile {
                    areas,
                    message: rest.to_vec(),
                })
            }
            TAG_FETCH => {
                if rest.len() % 32 != 0 {
                    return Err(bad("fetch: not a whole number of 32-byte hashes"));
                }
                let n = rest.len() / 32;
                if n == 0 || n > MAX_FETCH_HASHES {
                    return Err(bad(format!(
                        "fetch: {n} hashes (1 to {MAX_FETCH_HASHES} allowed)"
                    )));
                }
                let hashes = rest
                    .chunks_exact(32)
                    .map(|c| {
                        let mut h = [0u8; 32];
                        h.copy_from_slice(c);
                        EnvelopeHash(h)
                    })
                    .collect();
                Ok(SyncRequest::Fetch { hashes })
            }
            t => Err(bad(format!("unknown sync request tag {t}"))),
        }
    }
}

impl SyncResponse {
    /// Encodes the response.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = vec![SYNC_WIRE_VERSION];
        match self {
            SyncResponse::Reconcile { message } => {
                out.push(TAG_RECONCILE);
                out.extend_from_slice(message);
            }
            SyncResponse::Envelopes { envelopes } => {
                out.push(TAG_ENVELOPES);
                put_u32(&mut out, envelopes.len());
                for e in envelopes {
                    put_u32(&mut out, e.len());
                    out.extend_from_slice(e);
                }
            }
            SyncResponse::Refused { reason } => {
                out.push(TAG_REFUSED);
                out.extend_from_slice(&reason.as_bytes()[..reason.len().min(1024)]);
            }
        }
        out
    }

    /// Decodes and bounds-checks a response.
    pub fn decode(b: &[u8]) -> io::Result<SyncResponse> {
        if b.len() > MAX_RESPONSE_BYTES {
            return Err(bad(format!(
                "sync response over {MAX_RESPONSE_BYTES} bytes"
            )));
        }
        let (tag, mut rest) = FRAME.header(b)?;
        match tag {
            TAG_RECONCILE => {
                if rest.len() > MAX_RECONCILE_MESSAGE {
                    return Err(bad(format!(
                        "reconcile message over {MAX_RECONCILE_MESSAGE} bytes"
                    )));
                }
                Ok(SyncResponse::Reconcile {
                    message: rest.to_vec(),
                })
            }
            TAG_ENVELOPES => {
                let n = FRAME.get_u32(&mut rest, "the envelope count")?;
                if n > MAX_FETCH_HASHES {
                    return Err(bad(format!(
                        "envelopes: {n} (at most {MAX_FETCH_HASHES} can be asked for)"
                    )));
                }
                let mut envelopes = Vec::with_capacity(n);
                for _ in 0..n {
                    let len = FRAME.get_u32(&mut rest, "an envelope length")?;
                    if len > MAX_ENVELOPE_BYTES {
                        return Err(bad(format!(
                            "envelope of {len} bytes (the protocol's limit is {MAX_ENVELOPE_BYTES})"
                        )));
                    }
                    envelopes.push(FRAME.take(&mut rest, len, "an envelope")?.to_vec());
                }
                if !rest.is_empty() {
                    return Err(bad("envelopes: trailing bytes"));
                }
                Ok(SyncResponse::Envelopes { envelopes })
            }
            TAG_REFUSED => Ok(SyncResponse::Refused {
                reason: String::from_utf8_lossy(&rest[..rest.len().min(1024)]).into_owned(),
            }),
            t => Err(bad(format!("unknown sync response tag {t}"))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_and_responses_round_trip() {
        let r = SyncRequest::Reconcile {
            areas: vec!["u33d".into(), "ship".into()],
            message: vec![0x61, 1, 2, 3],
        };
        assert_eq!(SyncRequest::decode(&r.encode()).unwrap(), r);
        let f = SyncRequest::Fetch {
            hashes: vec![EnvelopeHash([7; 32]), EnvelopeHash([8; 32])],
        };
        assert_eq!(SyncRequest::decode(&f.encode()).unwrap(), f);
        let e = SyncResponse::Envelopes {
            envelopes: vec![vec![1, 2], vec![]],
        };
        assert_eq!(SyncResponse::decode(&e.encode()).unwrap(), e);
        let x = SyncResponse::Refused {
            reason: "no".into(),
        };
        assert_eq!(SyncResponse::decode(&x.encode()).unwrap(), x);
    }

    #[test]
    fn garbage_is_refused_with_the_rule_it_broke() {
        let err = |b: &[u8]| SyncRequest::decode(b).unwrap_err().to_string();
        assert!(err(&[]).contains("empty"));
        assert!(err(&[2, 1]).contains("version 2"));
        assert!(err(&[1, 9]).contains("tag 9"));
        assert!(err(&[1, TAG_RECONCILE, 0]).contains("0 areas"));
        assert!(err(&[1, TAG_RECONCILE, 1, 4, b'a', b'a', b'a', b'a']).contains("area tag"));
        assert!(err(&[1, TAG_RECONCILE, 2, 4, b'u', b'3', b'3']).contains("ends inside"));
        assert!(err(&[1, TAG_FETCH, 1, 2, 3]).contains("32-byte"));
        let mut huge = vec![1, TAG_FETCH];
        huge.extend(std::iter::repeat_n(0u8, 32 * (MAX_FETCH_HASHES + 1)));
        assert!(err(&huge).contains("hashes"));
        let mut lying = vec![1, TAG_ENVELOPES];
        lying.extend_from_slice(&(u32::MAX).to_be_bytes());
        assert!(SyncResponse::decode(&lying).is_err());
        let mut big_env = vec![1, TAG_ENVELOPES, 0, 0, 0, 1];
        big_env.extend_from_slice(&(u32::MAX).to_be_bytes());
        assert!(SyncResponse::decode(&big_env)
            .unwrap_err()
            .to_string()
            .contains("protocol's limit"));
    }
}
