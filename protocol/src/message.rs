//! Private messages between a buyer and a seller about a listing, and the receipts that confirm
//! them: signed envelopes of kinds `message` (3) and `receipt` (4).
//!
//! A message is signed by its sender like a listing (domain-separated, over the exact payload
//! bytes) and then sealed for its recipient ([`crate::seal`](mod@crate::seal)): the signature proves who wrote
//! it, the seal hides it from everyone who stores or relays it. Both parties name a
//! conversation by the same [`ThreadId`], derived from the listing and the buyer, so no
//! coordination is needed to start one.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use sha2::{Digest, Sha256};

use crate::cbor::{encode, Keys, Reader};
use crate::deal::{DealSignature, BODY_DEAL_SIGNATURE};
use crate::encoding::{hex, hex32};
use crate::envelope::{EnvelopeHash, EnvelopeKind, SignedEnvelope, Verified};
use crate::error::ValidationError;
use crate::keys::{PublicKey, SecretKey};
use crate::limits::{
    MAX_CLOCK_SKEW_SECS, MAX_MESSAGE_BYTES, MAX_MESSAGE_LIFETIME_SECS, MAX_MESSAGE_TEXT_CHARS,
};
use crate::listing::{check_item_key, check_seq, ListingId};
use crate::negotiation::Move;

/// Version of the message payload format.
pub const MESSAGE_VERSION: u64 = 1;
/// Version of the receipt payload format.
pub const RECEIPT_VERSION: u64 = 1;
/// Domain prefix of a thread id's hash.
const THREAD_DOMAIN: &[u8] = b"swapmeet/thread/v1\0";
/// Body type tag of [`MessageBody::Text`]. Negotiation bodies take tags 2 to 6 and 8
/// ([`crate::negotiation`]), the deal signature 7 ([`crate::deal`]).
const BODY_TEXT: u64 = 1;

/// The id of a conversation: one per listing and buyer, the same on both sides.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ThreadId([u8; 32]);

impl ThreadId {
    /// SHA-256("swapmeet/thread/v1\0" || listing id (16 bytes) || buyer key (32 bytes)).
    pub fn derive(listing: &ListingId, buyer: &PublicKey) -> ThreadId {
        let mut h = Sha256::new();
        h.update(THREAD_DOMAIN);
        h.update(listing.as_bytes());
        h.update(buyer.as_bytes());
        ThreadId(h.finalize().into())
    }
    /// The 32 bytes.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }
    /// From its 32 bytes (not checked to be derived from anything).
    pub fn from_bytes(b: [u8; 32]) -> ThreadId {
        ThreadId(b)
    }
}

impl fmt::Display for ThreadId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&hex(&self.0))
    }
}
impl fmt::Debug for ThreadId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ThreadId({self})")
    }
}
impl FromStr for ThreadId {
    type Err = ValidationError;
    /// 64 hex digits (either case).
    fn from_str(s: &str) -> Result<ThreadId, ValidationError> {
        hex32(s.trim()).map(ThreadId).ok_or_else(|| {
            ValidationError::invalid(
                "thread",
                format!("'{s}' is not a thread id (64 hex digits)"),
            )
        })
    }
}
impl Serialize for ThreadId {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}
impl<'de> Deserialize<'de> for ThreadId {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<ThreadId, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// The listing version a message is about.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ListingRef {
    /// The seller (the listing's signer).
    pub seller: PublicKey,
    /// The listing's item key.
    pub item_key: String,
    /// The hash of the listing envelope the sender saw (so a later edit does not change what
    /// an earlier message was about).
    pub version: EnvelopeHash,
}

impl ListingRef {
    /// The listing id.
    pub fn id(&self) -> ListingId {
        ListingId::derive(&self.seller, &self.item_key)
    }
}

/// What a message says: chat text, or a negotiation move.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MessageBody {
    /// Plain text: at most [`MAX_MESSAGE_TEXT_CHARS`] characters, not blank, no control
    /// characters but newlines and tabs.
    Text(String),
    /// An offer, counter, accept, decline, retract or void (body tags 2 to 6 and 8). One variant wrapping
    /// [`Move`] rather than five, so the thread's state machine takes the move alone and a
    /// text-only path matches two arms.
    Negotiation(Move),
    /// One party's signature over the thread's deal terms (body tag 7): how the two
    /// signatures of a [`crate::DealReceipt`] meet.
    DealSignature(DealSignature),
}

/// A private message from one party of a thread to the other.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DirectMessage {
    /// Who it is for.
    pub recipient: PublicKey,
    /// The buyer of the thread: the signer or the recipient.
    pub buyer: PublicKey,
    /// Must equal `ThreadId::derive(&about.id(), &buyer)`.
    pub thread: ThreadId,
    /// Per sender and thread, from 1: the order the recipient shows, and its replay guard.
    pub seq: u64,
    /// Unix seconds.
    pub sent_at: u64,
    /// Unix seconds: `sent_at < expires_at <= sent_at + MAX_MESSAGE_LIFETIME_SECS`.
    pub expires_at: u64,
    /// The listing version it is about.
    pub about: ListingRef,
    /// What it says.
    pub body: MessageBody,
}

impl DirectMessage {
    /// The party that sends it: whichever of buyer and seller is not the recipient.
    pub fn sender(&self) -> PublicKey {
        if self.recipient == self.buyer {
            self.about.seller
        } else {
            self.buyer
        }
    }

    /// Structure rules that need no signer: text non-empty after trim, at most 2,000
    /// characters, no control characters but `\n` and `\t`; seq >= 1; times; the thread
    /// derivation; the buyer is not the seller; the recipient is the buyer or the seller.
    pub fn validate(&self) -> Result<(), ValidationError> {
        match &self.body {
            MessageBody::Text(text) => check_message_text(text)?,
            MessageBody::Negotiation(m) => m.validate(self.sent_at)?,
            MessageBody::DealSignature(_) => {}
        }
        check_seq(self.seq)?;
        let latest = self.sent_at.saturating_add(MAX_MESSAGE_LIFETIME_SECS);
        if self.expires_at <= self.sent_at || self.expires_at > latest {
            return Err(ValidationError::OutOfRange {
                field: "expires_at",
                min: self.sent_at.saturating_add(1),
                max: latest,
                actual: self.expires_at,
            });
        }
        check_item_key(&self.about.item_key)?;
        if self.buyer == self.about.seller {
            return Err(ValidationError::NotAParty {
                field: "buyer",
                reason: "is the seller of the listing (a thread is between the seller and a buyer)",
            });
        }
        if self.recipient != self.buyer && self.recipient != self.about.seller {
            return Err(ValidationError::NotAParty {
                field: "recipient",
                reason: "is neither the buyer nor the seller of the thread",
            });
        }
        let expected = ThreadId::derive(&self.about.id(), &self.buyer);
        if self.thread != expected {
            return Err(ValidationError::ThreadMismatch {
                expected: expected.to_string(),
                found: self.thread.to_string(),
            });
        }
        Ok(())
    }

    /// The signer must be the party that is not the recipient, so that {signer, recipient} is
    /// {buyer, seller}.
    fn check_signer(&self, signer: &PublicKey) -> Result<(), ValidationError> {
        if *signer == self.sender() {
            return Ok(());
        }
        Err(ValidationError::NotAParty {
            field: "signer",
            reason: if *signer == self.recipient {
                "is the recipient (a message is signed by the other party of the thread)"
            } else {
                "is neither the buyer nor the seller of the thread"
            },
        })
    }

    /// Validates, checks the signer is the party that is not the recipient, signs, and checks
    /// the encoded size.
    pub fn sign(&self, key: &SecretKey) -> Result<SignedEnvelope, ValidationError> {
        self.validate()?;
        self.check_signer(&key.public())?;
        let env = SignedEnvelope::sign(key, EnvelopeKind::Message, self.encode_payload())?;
        check_message_size(env.as_bytes().len())?;
        Ok(env)
    }

    pub(crate) fn encode_payload(&self) -> Vec<u8> {
        encode(|e| {
            e.map(9)?;
            e.u8(0)?.u64(MESSAGE_VERSION)?;
            e.u8(1)?.bytes(self.recipient.as_bytes())?;
            e.u8(2)?.bytes(self.buyer.as_bytes())?;
            e.u8(3)?.bytes(self.thread.as_bytes())?;
            e.u8(4)?.u64(self.seq)?;
            e.u8(5)?.u64(self.sent_at)?;
            e.u8(6)?.u64(self.expires_at)?;
            e.u8(7)?.array(3)?;
            e.bytes(self.about.seller.as_bytes())?;
            e.str(&self.about.item_key)?;
            e.bytes(&self.about.version.0)?;
            e.u8(8)?;
            match &self.body {
                MessageBody::Text(text) => {
                    e.array(2)?.u64(BODY_TEXT)?.str(text)?;
                }
                MessageBody::Negotiation(m) => m.encode(e)?,
                MessageBody::DealSignature(d) => d.encode(e)?,
            }
            Ok(())
        })
    }

    pub(crate) fn decode_payload(bytes: &[u8]) -> Result<DirectMessage, ValidationError> {
        let mut r = Reader::new(bytes, "message");
        let n = r.map(9)?;
        let mut keys = Keys::new();
        let (mut version, mut recipient, mut buyer, mut thread) = (None, None, None, None);
        let (mut seq, mut sent_at, mut expires_at, mut about, mut body) =
            (None, None, None, None, None);
        for _ in 0..n {
            match keys.next(&mut r)? {
                0 => version = Some(r.u64()?),
                1 => recipient = Some(read_key(&mut r, "recipient")?),
                2 => buyer = Some(read_key(&mut r, "buyer")?),
                3 => thread = Some(ThreadId(read_32(&mut r, "thread")?)),
                4 => seq = Some(r.u64()?),
                5 => sent_at = Some(r.u64()?),
                6 => expires_at = Some(r.u64()?),
                7 => {
                    if r.array("about", 3)? != 3 {
                        return Err(ValidationError::malformed(
                            "message",
                            "about must be [seller, item_key, version]",
                        ));
                    }
                    let seller = read_key(&mut r, "about.seller")?;
                    let item_key = r.str()?.to_string();
                    let version = EnvelopeHash(read_32(&mut r, "about.version")?);
                    about = Some(ListingRef {
                        seller,
                        item_key,
                        version,
                    });
                }
                8 => body = Some(read_body(&mut r)?),
                k => {
                    return Err(ValidationError::malformed(
                        "message",
                        format!("unknown field {k}"),
                    ))
                }
            }
        }
        r.finish()?;
        let missing =
            |f: &'static str| ValidationError::malformed("message", format!("missing {f}"));
        let version = version.ok_or_else(|| missing("version"))?;
        if version != MESSAGE_VERSION {
            return Err(ValidationError::UnsupportedVersion {
                what: "message",
                found: version,
                supported: MESSAGE_VERSION,
            });
        }
        Ok(DirectMessage {
            recipient: recipient.ok_or_else(|| missing("recipient"))?,
            buyer: buyer.ok_or_else(|| missing("buyer"))?,
            thread: thread.ok_or_else(|| missing("thread"))?,
            seq: seq.ok_or_else(|| missing("seq"))?,
            sent_at: sent_at.ok_or_else(|| missing("sent_at"))?,
            expires_at: expires_at.ok_or_else(|| missing("expires_at"))?,
            about: about.ok_or_else(|| missing("about"))?,
            body: body.ok_or_else(|| missing("body"))?,
        })
    }
}

/// The text rules of a chat message.
fn check_message_text(text: &str) -> Result<(), ValidationError> {
    if text.trim().is_empty() {
        return Err(ValidationError::Empty { field: "text" });
    }
    let n = text.chars().count();
    if n > MAX_MESSAGE_TEXT_CHARS {
        return Err(ValidationError::TooLong {
            field: "text",
            limit: MAX_MESSAGE_TEXT_CHARS,
            actual: n,
        });
    }
    // Carriage returns are refused too: one newline convention, so a text has one encoding.
    if text
        .chars()
        .any(|c| c.is_control() && c != '\n' && c != '\t')
    {
        return Err(ValidationError::invalid(
            "text",
            "contains control characters (only newlines and tabs are allowed)",
        ));
    }
    crate::encoding::check_no_bidi("text", text)
}

fn check_message_size(len: usize) -> Result<(), ValidationError> {
    if len > MAX_MESSAGE_BYTES {
        return Err(ValidationError::TooLarge {
            what: "message",
            limit: MAX_MESSAGE_BYTES,
            actual: len,
        });
    }
    Ok(())
}

fn read_body(r: &mut Reader<'_>) -> Result<MessageBody, ValidationError> {
    // Room for the fields of future body types; each type checks its own length.
    let n = r.array("body", 16)?;
    let tag = r.u64()?;
    match (tag, n) {
        (BODY_TEXT, 2) => Ok(MessageBody::Text(r.str()?.to_string())),
        (BODY_TEXT, _) => Err(ValidationError::malformed(
            "message",
            "a text body must be [1, text]",
        )),
        (BODY_DEAL_SIGNATURE, n) => DealSignature::decode(n, r).map(MessageBody::DealSignature),
        (t, n) => match Move::decode(t, n, r) {
            Some(m) => m.map(MessageBody::Negotiation),
            None => Err(ValidationError::invalid(
                "body",
                format!(
                    "unknown body type {t} (this node knows: 1 text, 2 offer, 3 counter, \
                     4 accept, 5 decline, 6 retract, 7 deal signature, 8 void)"
                ),
            )),
        },
    }
}

pub(crate) fn read_32(
    r: &mut Reader<'_>,
    field: &'static str,
) -> Result<[u8; 32], ValidationError> {
    r.bytes()?
        .try_into()
        .map_err(|_| ValidationError::invalid(field, "must be 32 bytes"))
}

fn read_key(r: &mut Reader<'_>, field: &'static str) -> Result<PublicKey, ValidationError> {
    PublicKey::from_bytes(&read_32(r, field)?).map_err(|_| {
        ValidationError::invalid(
            field,
            "not a valid ed25519 public key (or a weak, small-order one)",
        )
    })
}

/// What a recipient signs when a message reached it: proof of delivery for the sender.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Receipt {
    /// The hash of the signed message envelope received.
    pub message: EnvelopeHash,
    /// The message's sender (the receipt's signer is its recipient).
    pub sender: PublicKey,
    /// When the recipient stored it (unix seconds).
    pub received_at: u64,
}

impl Receipt {
    fn check_signer(&self, signer: &PublicKey) -> Result<(), ValidationError> {
        if *signer == self.sender {
            return Err(ValidationError::NotAParty {
                field: "signer",
                reason: "is the message's sender (a receipt is signed by the recipient)",
            });
        }
        Ok(())
    }

    /// Signs it (the signer is the message's recipient, never its sender).
    pub fn sign(&self, key: &SecretKey) -> Result<SignedEnvelope, ValidationError> {
        self.check_signer(&key.public())?;
        SignedEnvelope::sign(key, EnvelopeKind::Receipt, self.encode_payload())
    }

    pub(crate) fn encode_payload(&self) -> Vec<u8> {
        encode(|e| {
            e.map(4)?;
            e.u8(0)?.u64(RECEIPT_VERSION)?;
            e.u8(1)?.bytes(&self.message.0)?;
            e.u8(2)?.bytes(self.sender.as_bytes())?;
            e.u8(3)?.u64(self.received_at)?;
            Ok(())
        })
    }

    pub(crate) fn decode_payload(bytes: &[u8]) -> Result<Receipt, ValidationError> {
        let mut r = Reader::new(bytes, "receipt");
        let n = r.map(4)?;
        let mut keys = Keys::new();
        let (mut version, mut message, mut sender, mut received_at) = (None, None, None, None);
        for _ in 0..n {
            match keys.next(&mut r)? {
                0 => version = Some(r.u64()?),
                1 => message = Some(EnvelopeHash(read_32(&mut r, "message")?)),
                2 => sender = Some(read_key(&mut r, "sender")?),
                3 => received_at = Some(r.u64()?),
                k => {
                    return Err(ValidationError::malformed(
                        "receipt",
                        format!("unknown field {k}"),
                    ))
                }
            }
        }
        r.finish()?;
        let missing =
            |f: &'static str| ValidationError::malformed("receipt", format!("missing {f}"));
        let version = version.ok_or_else(|| missing("version"))?;
        if version != RECEIPT_VERSION {
            return Err(ValidationError::UnsupportedVersion {
                what: "receipt",
                found: version,
                supported: RECEIPT_VERSION,
            });
        }
        Ok(Receipt {
            message: message.ok_or_else(|| missing("message"))?,
            sender: sender.ok_or_else(|| missing("sender"))?,
            received_at: received_at.ok_or_else(|| missing("received_at"))?,
        })
    }
}

impl SignedEnvelope {
    fn expect_kind(&self, kind: EnvelopeKind) -> Result<(), ValidationError> {
        if self.kind() != kind {
            return Err(ValidationError::WrongKind {
                expected: kind.name(),
                found: self.kind() as u8,
            });
        }
        Ok(())
    }

    /// Verifies a private message: the kind must be `message`; the payload canonical and
    /// valid ([`DirectMessage::validate`]); the signer the party that is not the recipient;
    /// the signature strict; the clock: `sent_at <= now + MAX_CLOCK_SKEW_SECS` and
    /// `expires_at > now`.
    pub fn verify_message(&self, now: u64) -> Result<Verified<DirectMessage>, ValidationError> {
        self.expect_kind(EnvelopeKind::Message)?;
        check_message_size(self.as_bytes().len())?;
        let payload = self.payload_bytes();
        let msg = DirectMessage::decode_payload(payload)?;
        if msg.encode_payload() != payload {
            return Err(ValidationError::NonCanonical);
        }
        msg.validate()?;
        msg.check_signer(&self.signer())?;
        self.signer()
            .verify_strict(&self.signing_message(), &self.signature())?;
        if msg.sent_at > now.saturating_add(MAX_CLOCK_SKEW_SECS) {
            return Err(ValidationError::FromFuture {
                field: "sent_at",
                signed_at: msg.sent_at,
                now,
                max_skew: MAX_CLOCK_SKEW_SECS,
            });
        }
        if msg.expires_at <= now {
            return Err(ValidationError::Expired {
                expires_at: msg.expires_at,
                now,
            });
        }
        Ok(Verified::new(self.clone(), msg))
    }

    /// Verifies a receipt: the kind must be `receipt`; the payload canonical; the signer not
    /// the sender it names; the signature strict. The caller checks that the signer is the
    /// recipient of the message the receipt names.
    pub fn verify_receipt(&self) -> Result<Verified<Receipt>, ValidationError> {
        self.expect_kind(EnvelopeKind::Receipt)?;
        let payload = self.payload_bytes();
        let receipt = Receipt::decode_payload(payload)?;
        if receipt.encode_payload() != payload {
            return Err(ValidationError::NonCanonical);
        }
        receipt.check_signer(&self.signer())?;
        self.signer()
            .verify_strict(&self.signing_message(), &self.signature())?;
        Ok(Verified::new(self.clone(), receipt))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: u64 = 1_750_000_000;

    fn seller() -> SecretKey {
        SecretKey::from_bytes([1; 32])
    }
    fn buyer() -> SecretKey {
        SecretKey::from_bytes([2; 32])
    }
    fn about() -> ListingRef {
        ListingRef {
            seller: seller().public(),
            item_key: "bike-1".into(),
            version: EnvelopeHash([7; 32]),
        }
    }
    fn question() -> DirectMessage {
        let b = buyer().public();
        DirectMessage {
            recipient: seller().public(),
            buyer: b,
            thread: ThreadId::derive(&about().id(), &b),
            seq: 1,
            sent_at: NOW,
            expires_at: NOW + MAX_MESSAGE_LIFETIME_SECS,
            about: about(),
            body: MessageBody::Text("Is it still available?\nThanks".into()),
        }
    }

    #[test]
    fn a_message_and_its_receipt_round_trip() {
        let env = question().sign(&buyer()).unwrap();
        let back = SignedEnvelope::decode(env.as_bytes()).unwrap();
        let v = back.verify_message(NOW).unwrap();
        assert_eq!(v.payload(), &question());
        assert_eq!(v.signer(), buyer().public());

        let receipt = Receipt {
            message: v.hash(),
            sender: buyer().public(),
            received_at: NOW + 1,
        };
        let renv = receipt.sign(&seller()).unwrap();
        let r = SignedEnvelope::decode(renv.as_bytes())
            .unwrap()
            .verify_receipt()
            .unwrap();
        assert_eq!(r.payload(), &receipt);
        assert_eq!(r.signer(), seller().public());
    }

    #[test]
    fn the_seller_replies_in_the_same_thread() {
        let mut reply = question();
        reply.recipient = buyer().public();
        reply.body = MessageBody::Text("Yes".into());
        let v = reply.sign(&seller()).unwrap().verify_message(NOW).unwrap();
        assert_eq!(v.payload().thread, question().thread);
        // The buyer cannot sign a message addressed to itself.
        assert!(matches!(
            reply.sign(&buyer()),
            Err(ValidationError::NotAParty {
                field: "signer",
                ..
            })
        ));
    }

    #[test]
    fn thread_ids_print_and_parse_back() {
        let t = question().thread;
        let text = t.to_string();
        assert_eq!(text.len(), 64);
        assert_eq!(text.parse::<ThreadId>().unwrap(), t);
        assert_eq!(serde_json::to_string(&t).unwrap(), format!("\"{text}\""));
        assert!("xyz".parse::<ThreadId>().is_err());
        let h = EnvelopeHash([0xab; 32]);
        assert_eq!(h.to_string().parse::<EnvelopeHash>().unwrap(), h);
    }

    #[test]
    fn a_message_is_not_a_receipt_and_a_receipt_is_not_a_message() {
        let env = question().sign(&buyer()).unwrap();
        assert_eq!(
            env.verify_receipt().unwrap_err(),
            ValidationError::WrongKind {
                expected: "receipt",
                found: 3
            }
        );
        let receipt = Receipt {
            message: env.hash(),
            sender: buyer().public(),
            received_at: NOW,
        }
        .sign(&seller())
        .unwrap();
        assert_eq!(
            receipt.verify_message(NOW).unwrap_err(),
            ValidationError::WrongKind {
                expected: "message",
                found: 4
            }
        );
    }
}
