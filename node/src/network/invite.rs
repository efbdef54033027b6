//! Invites: a first peer without a server. `swapmeet invite` prints one, `swapmeet join` reads
//! it, and the joining node dials the peer and keeps it in its address book.
//!
//! The text is `swapmeet:` followed by the RFC 4648 base32 (no padding, either case) of:
//!
//! | bytes | what |
//! | --- | --- |
//! | 1 | format version, [`INVITE_VERSION`] |
//! | 1 + n | length n of the PeerId's bytes, then those bytes |
//! | 1 | number of addresses, 1 to [`MAX_INVITE_ADDRS`] |
//! | per address: 1 + n | length n (1 to 255) of the multiaddr's binary form, then its bytes (without `/p2p/` of the peer; a relay circuit keeps its relay part) |
//! | 4 | the first 4 bytes of SHA-256 over everything before |
//!
//! Base32 in upper case is what a QR code carries in its compact alphanumeric mode; a typo
//! is caught by the checksum before anything is dialled.

use data_encoding::BASE32_NOPAD;
use libp2p::multiaddr::Protocol;
use libp2p::{Multiaddr, PeerId};
use sha2::{Digest, Sha256};

/// What an invite starts with.
pub const INVITE_PREFIX: &str = "swapmeet:";
/// The format version this node writes and reads.
pub const INVITE_VERSION: u8 = 1;
/// Most addresses in an invite.
pub const MAX_INVITE_ADDRS: usize = 8;
/// Longest invite text read (8 addresses of ~60 bytes fit well within it).
pub const MAX_INVITE_CHARS: usize = 1200;
const CHECKSUM_BYTES: usize = 4;

/// Why an invite was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum InviteError {
    /// It does not start with the prefix.
    #[error(
        "an invite starts with '{INVITE_PREFIX}' (copy the whole line `swapmeet invite` printed)"
    )]
    Prefix,
    /// Longer than [`MAX_INVITE_CHARS`].
    #[error("the invite is {len} characters, the limit is {MAX_INVITE_CHARS}")]
    TooLong {
        /// Its length.
        len: usize,
    },
    /// Not base32.
    #[error("the invite is not base32 after '{INVITE_PREFIX}' (letters A-Z and digits 2-7): {0}")]
    Encoding(String),
    /// The checksum does not match: a typo, or a cut-off copy.
    #[error("the invite's checksum does not match: it was mistyped or cut off")]
    Checksum,
    /// A format version this node does not read.
    #[error(
        "invite format version {0} is not supported (this node reads version {INVITE_VERSION})"
    )]
    Version(u8),
    /// It ends in the middle of a field.
    #[error("the invite ends in the middle of its {0}")]
    Truncated(&'static str),
    /// Bytes after the last address.
    #[error("the invite has {0} bytes after its last address")]
    Trailing(usize),
    /// The PeerId is not one.
    #[error("the invite's peer id is not valid: {0}")]
    Peer(String),
    /// No address to dial.
    #[error("the invite holds no address to dial (the inviting node had no reachable address: is its network on?)")]
    NoAddress,
    /// More than [`MAX_INVITE_ADDRS`].
    #[error("the invite holds {0} addresses, the limit is {MAX_INVITE_ADDRS}")]
    TooManyAddrs(usize),
    /// An address is not a multiaddr.
    #[error("the invite's address {index} is not valid: {reason}")]
    Address {
        /// Which one (from 1).
        index: usize,
        /// Why.
        reason: String,
    },
}

/// A peer and where to reach it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Invite {
    /// The inviting node.
    pub peer: PeerId,
    /// Its addresses (without its own `/p2p/`).
    pub addrs: Vec<Multiaddr>,
}

/// `addr` without a trailing `/p2p/<peer>`.
fn without_peer(addr: &Multiaddr, peer: &PeerId) -> Multiaddr {
    let mut a = addr.clone();
    if a.iter().last() == Some(Protocol::P2p(*peer)) {
        a.pop();
    }
    a
}

impl Invite {
    /// An invite to `peer` at `addrs`: trailing `/p2p/<peer>` dropped, duplicates and
    /// addresses too long to encode left out, at most [`MAX_INVITE_ADDRS`] kept (in order).
    pub fn new(peer: PeerId, addrs: impl IntoIterator<Item = Multiaddr>) -> Invite {
        let mut out: Vec<Multiaddr> = Vec::new();
        for a in addrs {
            let a = without_peer(&a, &peer);
            if a.is_empty() || a.to_vec().len() > 255 || out.contains(&a) {
                continue;
            }
            out.push(a);
            if out.len() == MAX_INVITE_ADDRS {
                break;
            }
        }
        Invite { peer, addrs: out }
    }

    /// The addresses to dial, each with `/p2p/<peer>`.
    pub fn dial_addrs(&self) -> Vec<Multiaddr> {
        self.addrs
            .iter()
            .map(|a| a.clone().with(Protocol::P2p(self.peer)))
            .collect()
    }

    /// The invite's text (lower case, to copy and paste).
    pub fn encode(&self) -> String {
        let mut b = vec![INVITE_VERSION];
        let peer = self.peer.to_bytes();
        // A PeerId is at most 42 bytes for the key types libp2p has (ed25519's is 38).
        b.push(peer.len() as u8);
        b.extend_from_slice(&peer);
        b.push(self.addrs.len() as u8);
        for a in &self.addrs {
            let bytes = a.to_vec();
            b.push(bytes.len() as u8);
            b.extend_from_slice(&bytes);
        }
        let sum = Sha256::digest(&b);
        b.extend_from_slice(&sum[..CHECKSUM_BYTES]);
        format!(
            "{INVITE_PREFIX}{}",
            BASE32_NOPAD.encode(&b).to_ascii_lowercase()
        )
    }

    /// Reads an invite (surrounding white space ignored, either case), checking its length,
    /// prefix, checksum, version, peer id and every address before anything is dialled.
    pub fn parse(text: &str) -> Result<Invite, InviteError> {
        let text = text.trim();
        if text.len() > MAX_INVITE_CHARS {
            return Err(InviteError::TooLong { len: text.len() });
        }
        let body = match text.get(..INVITE_PREFIX.len()) {
            Some(p) if p.eq_ignore_ascii_case(INVITE_PREFIX) => &text[INVITE_PREFIX.len()..],
            _ => return Err(InviteError::Prefix),
        };
        let bytes = BASE32_NOPAD
            .decode(body.to_ascii_uppercase().as_bytes())
            .map_err(|e| InviteError::Encoding(e.to_string()))?;
        if bytes.len() < 1 + CHECKSUM_BYTES {
            return Err(InviteError::Truncated("header"));
        }
        let (content, sum) = bytes.split_at(bytes.len() - CHECKSUM_BYTES);
        if Sha256::digest(content)[..CHECKSUM_BYTES] != *sum {
            return Err(InviteError::Checksum);
        }
        let mut r = Reader(content);
        let version = r.byte("version")?;
        if version != INVITE_VERSION {
            return Err(InviteError::Version(version));
        }
        let n = r.byte("peer id")? as usize;
        let peer = PeerId::from_bytes(r.take(n, "peer id")?)
            .map_err(|e| InviteError::Peer(e.to_string()))?;
        let count = r.byte("address count")? as usize;
        if count == 0 {
            return Err(InviteError::NoAddress);
        }
        if count > MAX_INVITE_ADDRS {
            return Err(InviteError::TooManyAddrs(count));
        }
        let mut addrs = Vec::with_capacity(count);
        for index in 1..=count {
            let n = r.byte("address")? as usize;
            let a = Multiaddr::try_from(r.take(n, "address")?.to_vec()).map_err(|e| {
                InviteError::Address {
                    index,
                    reason: e.to_string(),
                }
            })?;
            if a.is_empty() {
                return Err(InviteError::Address {
                    index,
                    reason: "empty".into(),
                });
            }
            addrs.push(a);
        }
        if !r.0.is_empty() {
            return Err(InviteError::Trailing(r.0.len()));
        }
        Ok(Invite { peer, addrs })
    }
}

struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn byte(&mut self, what: &'static str) -> Result<u8, InviteError> {
        Ok(self.take(1, what)?[0])
    }

    fn take(&mut self, n: usize, what: &'static str) -> Result<&'a [u8], InviteError> {
        if self.0.len() < n {
            return Err(InviteError::Truncated(what));
        }
        let (a, b) = self.0.split_at(n);
        self.0 = b;
        Ok(a)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Invite {
        let peer = libp2p::identity::Keypair::ed25519_from_bytes([7; 32])
            .unwrap()
            .public()
            .to_peer_id();
        let relay = libp2p::identity::Keypair::ed25519_from_bytes([8; 32])
            .unwrap()
            .public()
            .to_peer_id();
        Invite::new(
            peer,
            [
                format!("/ip4/203.0.113.7/tcp/4001/p2p/{peer}")
                    .parse()
                    .unwrap(),
                "/ip4/203.0.113.7/udp/4001/quic-v1".parse().unwrap(),
                format!("/ip4/198.51.100.1/tcp/4001/p2p/{relay}/p2p-circuit")
                    .parse()
                    .unwrap(),
                "/ip4/203.0.113.7/udp/4001/quic-v1".parse().unwrap(),
            ],
        )
    }

    #[test]
    fn round_trips_in_either_case_and_stays_short() {
        let inv = sample();
        assert_eq!(inv.addrs.len(), 3, "duplicates dropped");
        let text = inv.encode();
        assert!(text.starts_with(INVITE_PREFIX));
        assert!(text.len() < 300, "{} chars", text.len());
        assert_eq!(Invite::parse(&text).unwrap(), inv);
        assert_eq!(Invite::parse(&text.to_ascii_uppercase()).unwrap(), inv);
        assert_eq!(Invite::parse(&format!("  {text}\n")).unwrap(), inv);
        for a in inv.dial_addrs() {
            assert!(a.to_string().ends_with(&format!("/p2p/{}", inv.peer)));
        }
    }

    #[test]
    fn a_typo_a_cut_or_a_wrong_prefix_is_named() {
        let text = sample().encode();
        let mut typo = text.clone().into_bytes();
        let i = INVITE_PREFIX.len() + 20;
        typo[i] = if typo[i] == b'a' { b'b' } else { b'a' };
        assert_eq!(
            Invite::parse(std::str::from_utf8(&typo).unwrap()),
            Err(InviteError::Checksum)
        );
        assert_eq!(
            Invite::parse(&text[..text.len() - 8]),
            Err(InviteError::Checksum)
        );
        assert_eq!(
            Invite::parse(&text.replace("swapmeet:", "swapmeat:")),
            Err(InviteError::Prefix)
        );
        assert!(matches!(
            Invite::parse(&format!("{text}{}", "a".repeat(MAX_INVITE_CHARS))),
            Err(InviteError::TooLong { .. })
        ));
        assert!(matches!(
            Invite::parse("swapmeet:not base32!"),
            Err(InviteError::Encoding(_))
        ));
        assert_eq!(
            Invite::parse("swapmeet:"),
            Err(InviteError::Truncated("header"))
        );
    }

    /// Bytes with a valid checksum, to reach the checks behind it.
    fn with_sum(mut b: Vec<u8>) -> String {
        let sum = Sha256::digest(&b);
        b.extend_from_slice(&sum[..CHECKSUM_BYTES]);
        format!("{INVITE_PREFIX}{}", BASE32_NOPAD.encode(&b))
    }

    #[test]
    fn well_summed_but_wrong_contents_are_refused_by_name() {
        let peer = sample().peer.to_bytes();
        let mut head = vec![INVITE_VERSION, peer.len() as u8];
        head.extend_from_slice(&peer);
        let mut none = head.clone();
        none.push(0);
        assert_eq!(Invite::parse(&with_sum(none)), Err(InviteError::NoAddress));
        let mut many = head.clone();
        many.push(9);
        assert_eq!(
            Invite::parse(&with_sum(many)),
            Err(InviteError::TooManyAddrs(9))
        );
        let mut bad = head.clone();
        bad.extend_from_slice(&[1, 3, 0xff, 0xff, 0xff]);
        assert!(matches!(
            Invite::parse(&with_sum(bad)),
            Err(InviteError::Address { index: 1, .. })
        ));
        let mut cut = head.clone();
        cut.extend_from_slice(&[1, 40, 4]);
        assert_eq!(
            Invite::parse(&with_sum(cut)),
            Err(InviteError::Truncated("address"))
        );
        let mut v2 = head.clone();
        v2[0] = 2;
        assert_eq!(Invite::parse(&with_sum(v2)), Err(InviteError::Version(2)));
        assert!(matches!(
            Invite::parse(&with_sum(vec![INVITE_VERSION, 3, 1, 2, 3, 1])),
            Err(InviteError::Peer(_))
        ));
    }
}
