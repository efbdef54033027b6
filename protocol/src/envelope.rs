//! Signed envelopes: the exact payload bytes, who signed them, and the signature, with the
//! contents reachable only through verification ([`Verified`]).
//!
//! The signature covers a domain-separation prefix naming the protocol version and the kind,
//! then the payload bytes as they travel: nothing is ever re-serialized before verifying.

use std::fmt;

use curve25519_dalek::edwards::CompressedEdwardsY;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use sha2::{Digest, Sha256};

use crate::blocklist::{BlockList, BLOCKLIST_ITEM_KEY};
use crate::cbor::{encode, Reader};
use crate::error::ValidationError;
use crate::keys::{PublicKey, SecretKey, Signature};
use crate::limits::{MAX_CLOCK_SKEW_SECS, MAX_ENVELOPE_BYTES};
use crate::listing::{Listing, ListingId};
use crate::wanted::Wanted;
use crate::withdrawal::Withdrawal;

/// Version of the envelope format.
pub const ENVELOPE_VERSION: u64 = 1;
/// Prefix of every signed message.
pub const SIGNING_PREFIX: &[u8] = b"swapmeet/v1/";

/// What an envelope carries.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum EnvelopeKind {
    /// A listing.
    Listing = 1,
    /// A withdrawal.
    Withdrawal = 2,
    /// A private message ([`crate::DirectMessage`]); never a listing record.
    Message = 3,
    /// A receipt for a private message ([`crate::Receipt`]); never a listing record.
    Receipt = 4,
    /// A review of a deal's other party ([`crate::Review`]); not a listing record (until
    /// nodes ingest reviews on their own path, the listing paths refuse it).
    Review = 5,
    /// A wanted post ([`crate::Wanted`]): a record, stored, gossiped and synced like a listing.
    Wanted = 6,
    /// A block list ([`crate::BlockList`]): a record, stored, gossiped and synced like a
    /// listing; applied only by nodes whose users trust its author.
    BlockList = 7,
}

impl EnvelopeKind {
    /// The name used in the signing prefix.
    pub fn name(&self) -> &'static str {
        match self {
            EnvelopeKind::Listing => "listing",
            EnvelopeKind::Withdrawal => "withdrawal",
            EnvelopeKind::Message => "message",
            EnvelopeKind::Receipt => "receipt",
            EnvelopeKind::Review => "review",
            EnvelopeKind::Wanted => "wanted",
            EnvelopeKind::BlockList => "blocklist",
        }
    }
    fn from_code(c: u8) -> Option<EnvelopeKind> {
        match c {
            1 => Some(EnvelopeKind::Listing),
            2 => Some(EnvelopeKind::Withdrawal),
            3 => Some(EnvelopeKind::Message),
            4 => Some(EnvelopeKind::Receipt),
            5 => Some(EnvelopeKind::Review),
            6 => Some(EnvelopeKind::Wanted),
            7 => Some(EnvelopeKind::BlockList),
            _ => None,
        }
    }
    /// Whether envelopes of this kind are records (stored, gossiped, synced by area): listings,
    /// withdrawals, wanted posts and block lists. Messages, receipts and reviews are not: the listing paths
    /// refuse them, so a private message can never be ingested, gossiped or shown as a listing.
    pub fn is_record(&self) -> bool {
        matches!(
            self,
            EnvelopeKind::Listing
                | EnvelopeKind::Withdrawal
                | EnvelopeKind::Wanted
                | EnvelopeKind::BlockList
        )
    }
}

/// The error of a listing path handed a message or a receipt.
fn not_a_record(kind: EnvelopeKind) -> ValidationError {
    ValidationError::WrongKind {
        expected: "listing, withdrawal, wanted or blocklist",
        found: kind as u8,
    }
}

/// SHA-256 of an envelope's bytes: its identity on the wire (gossip ids, sync items).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct EnvelopeHash(pub [u8; 32]);

impl fmt::Display for EnvelopeHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for b in &self.0 {
            write!(f, "{b:02x}")?;
        }
        Ok(())
    }
}
impl fmt::Debug for EnvelopeHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "EnvelopeHash({self})")
    }
}
impl Serialize for EnvelopeHash {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}
impl<'de> Deserialize<'de> for EnvelopeHash {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<EnvelopeHash, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}
impl FromStr for EnvelopeHash {
    type Err = ValidationError;
    /// 64 hex digits (either case).
    fn from_str(s: &str) -> Result<EnvelopeHash, ValidationError> {
        crate::encoding::hex32(s.trim())
            .map(EnvelopeHash)
            .ok_or_else(|| ValidationError::invalid("hash", format!("'{s}' is not 64 hex digits")))
    }
}

/// A signed envelope, as received (or as signed). Its contents are only reachable through
/// [`SignedEnvelope::verify`] or [`verify_batch`].
#[derive(Clone, PartialEq, Eq)]
pub struct SignedEnvelope {
    bytes: Vec<u8>,
    kind: EnvelopeKind,
    signer: PublicKey,
    payload: std::ops::Range<usize>,
    signature: Signature,
}

impl fmt::Debug for SignedEnvelope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SignedEnvelope")
            .field("kind", &self.kind)
            .field("signer", &self.signer)
            .field("bytes", &self.bytes.len())
            .finish()
    }
}

fn signing_message(kind: EnvelopeKind, payload: &[u8]) -> Vec<u8> {
    let mut m = Vec::with_capacity(SIGNING_PREFIX.len() + 12 + payload.len());
    m.extend_from_slice(SIGNING_PREFIX);
    m.extend_from_slice(kind.name().as_bytes());
    m.push(0);
    m.extend_from_slice(payload);
    m
}

fn encode_envelope(
    kind: EnvelopeKind,
    signer: &PublicKey,
    payload: &[u8],
    sig: &Signature,
) -> Vec<u8> {
    encode(|e| {
        e.array(5)?
            .u64(ENVELOPE_VERSION)?
            .u8(kind as u8)?
            .bytes(signer.as_bytes())?
            .bytes(payload)?
            .bytes(&sig.0)?;
        Ok(())
    })
}

impl SignedEnvelope {
    pub(crate) fn sign(
        key: &SecretKey,
        kind: EnvelopeKind,
        payload: Vec<u8>,
    ) -> Result<SignedEnvelope, ValidationError> {
        let signature = key.sign(&signing_message(kind, &payload));
        let signer = key.public();
        let bytes = encode_envelope(kind, &signer, &payload, &signature);
        if bytes.len() > MAX_ENVELOPE_BYTES {
            return Err(ValidationError::TooLarge {
                what: "envelope",
                limit: MAX_ENVELOPE_BYTES,
                actual: bytes.len(),
            });
        }
        SignedEnvelope::decode(&bytes)
    }

    /// Decodes an envelope. The size cap is checked first; nothing panics; only the canonical
    /// encoding is accepted (so every envelope has exactly one byte form and one hash).
    pub fn decode(bytes: &[u8]) -> Result<SignedEnvelope, ValidationError> {
        if bytes.len() > MAX_ENVELOPE_BYTES {
            return Err(ValidationError::TooLarge {
                what: "envelope",
                limit: MAX_ENVELOPE_BYTES,
                actual: bytes.len(),
            });
        }
        let mut r = Reader::new(bytes, "envelope");
        let (kind, signer, payload) = read_head(&mut r)?;
        let signer = PublicKey::from_bytes(&signer)?;
        let sig: [u8; 64] = r
            .bytes()?
            .try_into()
            .map_err(|_| ValidationError::BadSignature)?;
        r.finish()?;
        let signature = Signature(sig);
        let canonical = encode_envelope(kind, &signer, payload, &signature);
        if canonical != bytes {
            return Err(ValidationError::NonCanonical);
        }
        // The payload is the tail of the envelope just before the 64-byte signature and its
        // 2-byte header.
        let end = bytes.len() - 66;
        let start = end - payload.len();
        Ok(SignedEnvelope {
            bytes: bytes.to_vec(),
            kind,
            signer,
            payload: start..end,
            signature,
        })
    }

    /// The exact encoded bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes
    }
    /// The exact encoded bytes, owned.
    pub fn into_bytes(self) -> Vec<u8> {
        self.bytes
    }
    /// SHA-256 of the bytes.
    pub fn hash(&self) -> EnvelopeHash {
        EnvelopeHash(Sha256::digest(&self.bytes).into())
    }
    /// The kind.
    pub fn kind(&self) -> EnvelopeKind {
        self.kind
    }
    /// Who signed it (not yet verified!).
    pub fn signer(&self) -> PublicKey {
        self.signer
    }
    /// The payload bytes (not yet verified!).
    pub fn payload_bytes(&self) -> &[u8] {
        &self.bytes[self.payload.clone()]
    }
    /// The signature.
    pub fn signature(&self) -> Signature {
        self.signature
    }
    /// The message the signature covers.
    pub fn signing_message(&self) -> Vec<u8> {
        signing_message(self.kind, self.payload_bytes())
    }

    /// The record this envelope says it carries, decoded and validated but **not verified**:
    /// the signature is unchecked, so nothing in it may be stored, shown or trusted. Only for
    /// a routing decision that verification confirms before it counts against anyone (a
    /// gossip receiver reads the area a record names to check the topic it came on, and
    /// verifies the envelope before calling a mismatch the sender's fault).
    pub fn decode_record_unverified(&self) -> Result<Record, ValidationError> {
        self.decode_record()
    }

    /// Decodes and checks the payload's structure (no signature, no clock).
    fn decode_record(&self) -> Result<Record, ValidationError> {
        let payload = self.payload_bytes();
        let record = match self.kind {
            EnvelopeKind::Message | EnvelopeKind::Receipt | EnvelopeKind::Review => {
                return Err(not_a_record(self.kind))
            }
            EnvelopeKind::Listing => {
                let l = Listing::decode_payload(payload)?;
                if l.encode_payload() != payload {
                    return Err(ValidationError::NonCanonical);
                }
                l.validate()?;
                // Bound to the seller and the listing id, so checked here where both are known.
                if let Some(stamp) = &l.stamp {
                    stamp.check(&self.signer, &l.id(&self.signer))?;
                }
                Record::Listing(l)
            }
            EnvelopeKind::Withdrawal => {
                let w = Withdrawal::decode_payload(payload)?;
                if w.encode_payload() != payload {
                    return Err(ValidationError::NonCanonical);
                }
                w.validate()?;
                Record::Withdrawal(w)
            }
            EnvelopeKind::Wanted => {
                let w = Wanted::decode_payload(payload)?;
                if w.encode_payload() != payload {
                    return Err(ValidationError::NonCanonical);
                }
                w.validate()?;
                Record::Wanted(w)
            }
            EnvelopeKind::BlockList => {
                let b = BlockList::decode_payload(payload)?;
                if b.encode_payload() != payload {
                    return Err(ValidationError::NonCanonical);
                }
                b.validate()?;
                Record::BlockList(b)
            }
        };
        Ok(record)
    }

    /// Verifies the signature (strictly), decodes and validates the payload, and applies the
    /// clock rules at `now` (unix seconds).
    pub fn verify(&self, now: u64) -> Result<Verified<Record>, ValidationError> {
        let record = self.decode_record()?;
        self.signer
            .verify_strict(&self.signing_message(), &self.signature)?;
        check_time(&record, now)?;
        Ok(Verified::new(self.clone(), record))
    }
}

/// What [`decode_stored`] reads back from envelope bytes.
#[derive(Clone, Debug)]
pub struct StoredParts {
    /// The kind.
    pub kind: EnvelopeKind,
    /// The signer's key bytes.
    pub signer: [u8; 32],
    /// The decoded payload.
    pub record: Record,
}

/// Reads an envelope up to its payload: the array header, the version (which must be this
/// one), the kind, the signer's key bytes (not checked to be a key) and the payload bytes.
fn read_head<'b>(
    r: &mut Reader<'b>,
) -> Result<(EnvelopeKind, [u8; 32], &'b [u8]), ValidationError> {
    if r.array("envelope", 5)? != 5 {
        return Err(ValidationError::malformed(
            "envelope",
            "expected [version, kind, signer, payload, signature]",
        ));
    }
    let version = r.u64()?;
    if version != ENVELOPE_VERSION {
        return Err(ValidationError::UnsupportedVersion {
            what: "envelope",
            found: version,
            supported: ENVELOPE_VERSION,
        });
    }
    let code = r.u8()?;
    let kind = EnvelopeKind::from_code(code).ok_or(ValidationError::WrongKind {
        expected: "listing, withdrawal, message, receipt, review, wanted or blocklist",
        found: code,
    })?;
    let signer: [u8; 32] = r.bytes()?.try_into().map_err(|_| ValidationError::BadKey)?;
    let payload = r.bytes()?;
    Ok((kind, signer, payload))
}

/// Splits envelope bytes into kind, signer bytes and payload bytes: the structure only, no
/// key decompression, no canonical check.
fn split_stored(bytes: &[u8]) -> Result<(EnvelopeKind, [u8; 32], &[u8]), ValidationError> {
    let (kind, signer, payload) = read_head(&mut Reader::new(bytes, "envelope"))?;
    if !kind.is_record() {
        return Err(not_a_record(kind));
    }
    Ok((kind, signer, payload))
}

/// The signer's key bytes of envelope bytes this node verified when it stored them.
///
/// Not a verification: only for re-reading the node's own store, where every envelope passed
/// [`verify_batch`] before it was written. Cheap (no curve arithmetic), so a store can rebuild
/// its lookups from a million records at startup.
pub fn stored_signer(bytes: &[u8]) -> Result<[u8; 32], ValidationError> {
    split_stored(bytes).map(|(_, signer, _)| signer)
}

/// The kind of envelope bytes this node verified when it stored them: the header only, no
/// payload decoding (so a consumer of stored records can skip the kinds it does not handle).
/// Not a verification: only for re-reading the node's own store.
pub fn stored_kind(bytes: &[u8]) -> Result<EnvelopeKind, ValidationError> {
    split_stored(bytes).map(|(kind, _, _)| kind)
}

/// Decodes envelope bytes this node verified when it stored them, without verifying them again.
///
/// Not a verification: only for re-reading the node's own store (showing a search hit must
/// not cost a signature check). Bytes from anywhere else go through [`SignedEnvelope::decode`]
/// and [`verify_batch`].
pub fn decode_stored(bytes: &[u8]) -> Result<StoredParts, ValidationError> {
    let (kind, signer, payload) = split_stored(bytes)?;
    let record = match kind {
        EnvelopeKind::Listing => Record::Listing(Listing::decode_payload(payload)?),
        EnvelopeKind::Withdrawal => Record::Withdrawal(Withdrawal::decode_payload(payload)?),
        EnvelopeKind::Wanted => Record::Wanted(Wanted::decode_payload(payload)?),
        EnvelopeKind::BlockList => Record::BlockList(BlockList::decode_payload(payload)?),
        EnvelopeKind::Message | EnvelopeKind::Receipt | EnvelopeKind::Review => {
            return Err(not_a_record(kind))
        }
    };
    Ok(StoredParts {
        kind,
        signer,
        record,
    })
}

/// What [`glance_stored`] reads: a listing's shown fields, or a withdrawal in full (it is small).
#[derive(Clone, Debug)]
pub enum StoredGlance {
    /// A listing's shown fields.
    Listing(crate::listing::ListingGlance),
    /// A withdrawal.
    Withdrawal(Withdrawal),
    /// A wanted post in full (it is small).
    Wanted(Wanted),
    /// A block list in full (within the envelope cap).
    BlockList(BlockList),
}

/// Like [`decode_stored`], but reads only what a search result shows of a listing. Not a
/// verification: only for the node's own store.
pub fn glance_stored(bytes: &[u8]) -> Result<([u8; 32], StoredGlance), ValidationError> {
    let (kind, signer, payload) = split_stored(bytes)?;
    let glance = match kind {
        EnvelopeKind::Listing => StoredGlance::Listing(Listing::glance_payload(payload)?),
        EnvelopeKind::Withdrawal => StoredGlance::Withdrawal(Withdrawal::decode_payload(payload)?),
        EnvelopeKind::Wanted => StoredGlance::Wanted(Wanted::decode_payload(payload)?),
        EnvelopeKind::BlockList => StoredGlance::BlockList(BlockList::decode_payload(payload)?),
        EnvelopeKind::Message | EnvelopeKind::Receipt | EnvelopeKind::Review => {
            return Err(not_a_record(kind))
        }
    };
    Ok((signer, glance))
}

fn check_time(record: &Record, now: u64) -> Result<(), ValidationError> {
    let signed_at = record.signed_at();
    if signed_at > now.saturating_add(MAX_CLOCK_SKEW_SECS) {
        return Err(ValidationError::FromFuture {
            field: "signed_at",
            signed_at,
            now,
            max_skew: MAX_CLOCK_SKEW_SECS,
        });
    }
    let expires_at = record.expires_at();
    if expires_at <= now {
        return Err(ValidationError::Expired { expires_at, now });
    }
    Ok(())
}

/// Verifies many envelopes at once: structure and clock first (cheap), then one ed25519 batch
/// verification of the survivors; if the batch fails, each is verified alone to find the bad
/// ones. Accepts exactly what [`SignedEnvelope::verify`] accepts: the batch equation is
/// completed with the checks `verify_strict` adds (R canonical and not of small order; weak
/// keys are already refused when the envelope is decoded). Results are in input order.
pub fn verify_batch(
    envs: Vec<SignedEnvelope>,
    now: u64,
) -> Vec<Result<Verified<Record>, ValidationError>> {
    let mut out: Vec<Option<Result<Verified<Record>, ValidationError>>> =
        Vec::with_capacity(envs.len());
    let mut pending: Vec<(usize, SignedEnvelope, Record, Vec<u8>)> = Vec::new();
    for (i, env) in envs.into_iter().enumerate() {
        let checked = env
            .decode_record()
            .and_then(|r| check_time(&r, now).map(|()| r))
            .and_then(|r| {
                if strict_r(&env.signature) {
                    Ok(r)
                } else {
                    Err(ValidationError::BadSignature)
                }
            });
        match checked {
            Ok(record) => {
                let msg = env.signing_message();
                pending.push((i, env, record, msg));
                out.push(None);
            }
            Err(e) => out.push(Some(Err(e))),
        }
    }
    let batch_ok = !pending.is_empty() && {
        let msgs: Vec<&[u8]> = pending.iter().map(|p| p.3.as_slice()).collect();
        let sigs: Vec<ed25519_dalek::Signature> = pending
            .iter()
            .map(|p| ed25519_dalek::Signature::from_bytes(&p.1.signature.0))
            .collect();
        let keys: Vec<ed25519_dalek::VerifyingKey> =
            pending.iter().map(|p| *p.1.signer.dalek()).collect();
        ed25519_dalek::verify_batch(&msgs, &sigs, &keys).is_ok()
    };
    for (i, env, record, msg) in pending {
        let result = if batch_ok {
            Ok(Verified::new(env, record))
        } else {
            env.signer
                .verify_strict(&msg, &env.signature)
                .map(|()| Verified::new(env, record))
        };
        out[i] = Some(result);
    }
    out.into_iter()
        .map(|r| r.unwrap_or(Err(ValidationError::BadSignature)))
        .collect()
}

/// The part of `verify_strict` a batch equation does not check: R must be a canonical encoding
/// of a point that is not of small order.
fn strict_r(sig: &Signature) -> bool {
    let mut r = [0u8; 32];
    r.copy_from_slice(&sig.0[..32]);
    if !canonical_y(&r) {
        return false;
    }
    match CompressedEdwardsY(r).decompress() {
        Some(p) => !p.is_small_order(),
        None => false,
    }
}

/// Whether an encoded point's y (its low 255 bits) is below p = 2^255 - 19, i.e. the encoding
/// is canonical. This is what comparing `decompress().compress()` with the input decides, but
/// without the field inversion `compress` costs (a fifth of a signature check): the only other
/// non-canonical encodings put the sign bit on x = 0, which happens only for y = 1 and y = -1,
/// both of small order and refused by the caller anyway.
fn canonical_y(r: &[u8; 32]) -> bool {
    // y >= p exactly when y is one of p..=2^255-1: bytes 30..1 all 0xff, the top byte 0x7f
    // (sign bit aside) and the lowest byte at least 0xed.
    !(r[31] & 0x7f == 0x7f && r[1..31].iter().all(|b| *b == 0xff) && r[0] >= 0xed)
}

/// A listing, a withdrawal, a wanted post or a block list.
#[derive(Clone, Debug, PartialEq)]
pub enum Record {
    /// A listing version.
    Listing(Listing),
    /// A withdrawal (of a listing or of a wanted post).
    Withdrawal(Withdrawal),
    /// A wanted post version.
    Wanted(Wanted),
    /// A block list version (one list per author).
    BlockList(BlockList),
}

impl Record {
    /// The item key.
    pub fn item_key(&self) -> &str {
        match self {
            Record::Listing(l) => &l.item_key,
            Record::Withdrawal(w) => &w.item_key,
            Record::Wanted(w) => &w.item_key,
            Record::BlockList(_) => BLOCKLIST_ITEM_KEY,
        }
    }
    /// The version.
    pub fn seq(&self) -> u64 {
        match self {
            Record::Listing(l) => l.seq,
            Record::Withdrawal(w) => w.seq,
            Record::Wanted(w) => w.seq,
            Record::BlockList(b) => b.seq,
        }
    }
    /// The signing time.
    pub fn signed_at(&self) -> u64 {
        match self {
            Record::Listing(l) => l.signed_at,
            Record::Withdrawal(w) => w.signed_at,
            Record::Wanted(w) => w.signed_at,
            Record::BlockList(b) => b.signed_at,
        }
    }
    /// When stores may forget it: a listing's expiry, a withdrawal's retention end.
    pub fn expires_at(&self) -> u64 {
        match self {
            Record::Listing(l) => l.expires_at,
            Record::Withdrawal(w) => w.retain_until(),
            Record::Wanted(w) => w.expires_at,
            Record::BlockList(b) => b.expires_at,
        }
    }
    /// The geohash it is routed by.
    pub fn area(&self) -> Option<&crate::geo::GeoHash> {
        match self {
            Record::Listing(l) => l.location.as_ref().map(|l| &l.geohash),
            Record::Withdrawal(w) => w.area.as_ref(),
            Record::Wanted(w) => Some(&w.location.geohash),
            Record::BlockList(_) => None,
        }
    }
    /// Whether it belongs to the shipping area.
    pub fn ships(&self) -> bool {
        match self {
            Record::Listing(l) => l.delivery.shipping,
            Record::Withdrawal(w) => w.ships,
            Record::Wanted(_) => false,
            // Routed where every node listens (see `crate::blocklist`).
            Record::BlockList(_) => true,
        }
    }
    /// The listing id under `seller`.
    pub fn id(&self, seller: &PublicKey) -> ListingId {
        ListingId::derive(seller, self.item_key())
    }
}

/// Contents that passed verification. Only this crate can make one.
#[derive(Clone, Debug)]
pub struct Verified<T> {
    envelope: SignedEnvelope,
    payload: T,
}

impl<T> Verified<T> {
    pub(crate) fn new(envelope: SignedEnvelope, payload: T) -> Verified<T> {
        Verified { envelope, payload }
    }
    /// The envelope it came in.
    pub fn envelope(&self) -> &SignedEnvelope {
        &self.envelope
    }
    /// The verified contents.
    pub fn payload(&self) -> &T {
        &self.payload
    }
    /// The verified signer.
    pub fn signer(&self) -> PublicKey {
        self.envelope.signer
    }
    /// The envelope hash.
    pub fn hash(&self) -> EnvelopeHash {
        self.envelope.hash()
    }
    /// Envelope and contents.
    pub fn into_parts(self) -> (SignedEnvelope, T) {
        (self.envelope, self.payload)
    }
}

impl Verified<Record> {
    /// The listing id (derived from the verified signer and item key).
    pub fn listing_id(&self) -> ListingId {
        self.payload.id(&self.envelope.signer)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What `strict_r` decided before `canonical_y` replaced the round trip through `compress`.
    fn strict_r_by_round_trip(r: [u8; 32]) -> bool {
        let compressed = CompressedEdwardsY(r);
        match compressed.decompress() {
            Some(p) => !p.is_small_order() && p.compress() == compressed,
            None => false,
        }
    }

    fn strict_r_of(r: [u8; 32]) -> bool {
        let mut sig = [0u8; 64];
        sig[..32].copy_from_slice(&r);
        strict_r(&Signature(sig))
    }

    #[test]
    fn canonical_check_agrees_with_the_round_trip() {
        // Every non-canonical y (p..=2^255-1) with either sign bit, and y = 0, 1, -1 and their
        // neighbours.
        let mut cases: Vec<[u8; 32]> = Vec::new();
        for low in 0xe0..=0xffu8 {
            for sign in [0u8, 0x80] {
                let mut r = [0xffu8; 32];
                r[0] = low;
                r[31] = 0x7f | sign;
                cases.push(r);
            }
        }
        for y in 0..4u8 {
            for sign in [0u8, 0x80] {
                let mut r = [0u8; 32];
                r[0] = y;
                r[31] = sign;
                cases.push(r);
            }
        }
        // Real R values of signatures, and pseudo-random byte strings.
        for seed in 0..64u8 {
            let key = SecretKey::from_bytes([seed; 32]);
            let sig = key.sign(&[seed]);
            cases.push(sig.0[..32].try_into().unwrap());
            let mut r: [u8; 32] = Sha256::digest([seed]).into();
            cases.push(r);
            r[31] |= 0x80;
            cases.push(r);
        }
        for r in cases {
            assert_eq!(strict_r_of(r), strict_r_by_round_trip(r), "R = {r:02x?}");
        }
    }
}
