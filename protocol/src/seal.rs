//! Sealing a signed private message for its recipient, so whoever stores or relays it learns
//! only a recipient tag, a size bucket and an expiry.
//!
//! The construction is HPKE (RFC 9180) in base mode with DHKEM(X25519, HKDF-SHA256),
//! HKDF-SHA256 and ChaCha20-Poly1305, via the `hpke` crate: no home-made cipher. The recipient's
//! X25519 key is derived from its ed25519 identity (the Montgomery form of the public point; the
//! ed25519 secret scalar), so a message can be sealed to any seller id with no key exchange.
//!
//! Sealed bytes: the CBOR array `[version, tag, expires_at, enc, ciphertext]`. The header
//! `[version, tag, expires_at]` is the AEAD's associated data, so a relay cannot change the tag
//! or the expiry without the recipient noticing. The plaintext is the signed message envelope
//! behind a 2-byte big-endian length, zero-padded to one of [`SEAL_BUCKETS`].

use std::convert::Infallible;
use std::fmt;

use hpke::aead::ChaCha20Poly1305;
use hpke::kdf::HkdfSha256;
use hpke::kem::X25519HkdfSha256;
use hpke::rand_core::{TryCryptoRng, TryRng};
use hpke::{Deserializable, Kem, OpModeR, OpModeS, Serializable};
use serde::{Serialize, Serializer};
use sha2::{Digest, Sha256};

use crate::cbor::{encode, Reader};
use crate::encoding::hex;
use crate::envelope::{EnvelopeHash, SignedEnvelope, Verified};
use crate::error::ValidationError;
use crate::keys::{PublicKey, SecretKey};
use crate::limits::{
    MAX_MESSAGE_BYTES, MAX_SEALED_BYTES, SEAL_AEAD_TAG_BYTES, SEAL_BUCKETS,
    SEAL_LENGTH_PREFIX_BYTES,
};
use crate::message::{read_32, DirectMessage};

/// Version of the sealed format.
pub const SEALED_VERSION: u64 = 1;
/// The HPKE `info`: binds the key schedule to this protocol and use.
pub const SEAL_INFO: &[u8] = b"swapmeet/v1/seal";
/// Domain prefix of a recipient tag's hash.
const TAG_DOMAIN: &[u8] = b"swapmeet/mailbox-tag/v1\0";

type Suite = X25519HkdfSha256;
type PrivateX = <Suite as Kem>::PrivateKey;
type PublicX = <Suite as Kem>::PublicKey;
type Encapped = <Suite as Kem>::EncappedKey;

/// Who a sealed message is for, as a mailbox sees it: a hash of the recipient's key, so a
/// mailbox can hand mail to its owner without holding a list of keys in the clear next to it.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RecipientTag([u8; 32]);

impl RecipientTag {
    /// SHA-256("swapmeet/mailbox-tag/v1\0" || recipient key).
    pub fn of(key: &PublicKey) -> RecipientTag {
        let mut h = Sha256::new();
        h.update(TAG_DOMAIN);
        h.update(key.as_bytes());
        RecipientTag(h.finalize().into())
    }
    /// The 32 bytes.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }
    /// From its 32 bytes.
    pub fn from_bytes(b: [u8; 32]) -> RecipientTag {
        RecipientTag(b)
    }
}

impl fmt::Display for RecipientTag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&hex(&self.0))
    }
}
impl fmt::Debug for RecipientTag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "RecipientTag({self})")
    }
}
impl Serialize for RecipientTag {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// A sealed message as stored and relayed. Decoding checks only its structure; only the
/// recipient can [`open`] it.
#[derive(Clone, PartialEq, Eq)]
pub struct Sealed {
    bytes: Vec<u8>,
    tag: RecipientTag,
    expires_at: u64,
    enc: [u8; 32],
    /// Where the ciphertext starts (it runs to the end of the bytes).
    ciphertext: usize,
}

impl fmt::Debug for Sealed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Sealed")
            .field("tag", &self.tag)
            .field("expires_at", &self.expires_at)
            .field("bytes", &self.bytes.len())
            .finish()
    }
}

fn encode_sealed(tag: &RecipientTag, expires_at: u64, enc: &[u8; 32], ct: &[u8]) -> Vec<u8> {
    encode(|e| {
        e.array(5)?
            .u64(SEALED_VERSION)?
            .bytes(&tag.0)?
            .u64(expires_at)?
            .bytes(enc)?
            .bytes(ct)?;
        Ok(())
    })
}

/// The associated data: the header a relay sees, `[version, tag, expires_at]` in CBOR.
fn header_aad(tag: &RecipientTag, expires_at: u64) -> Vec<u8> {
    encode(|e| {
        e.array(3)?
            .u64(SEALED_VERSION)?
            .bytes(&tag.0)?
            .u64(expires_at)?;
        Ok(())
    })
}

impl Sealed {
    /// Decodes sealed bytes: the size cap first, then the canonical CBOR structure, then the
    /// ciphertext length (a padding bucket plus the AEAD tag). No key is needed, and nothing
    /// is decrypted: a mailbox calls this on what it is asked to hold.
    pub fn decode(bytes: &[u8]) -> Result<Sealed, ValidationError> {
        if bytes.len() > MAX_SEALED_BYTES {
            return Err(ValidationError::TooLarge {
                what: "sealed message",
                limit: MAX_SEALED_BYTES,
                actual: bytes.len(),
            });
        }
        let mut r = Reader::new(bytes, "sealed message");
        if r.array("sealed message", 5)? != 5 {
            return Err(ValidationError::malformed(
                "sealed message",
                "expected [version, tag, expires_at, enc, ciphertext]",
            ));
        }
        let version = r.u64()?;
        if version != SEALED_VERSION {
            return Err(ValidationError::UnsupportedVersion {
                what: "sealed message",
                found: version,
                supported: SEALED_VERSION,
            });
        }
        let tag = RecipientTag(read_32(&mut r, "tag")?);
        let expires_at = r.u64()?;
        let enc = read_32(&mut r, "enc")?;
        let ct = r.bytes()?;
        r.finish()?;
        if !SEAL_BUCKETS
            .iter()
            .any(|b| b + SEAL_AEAD_TAG_BYTES == ct.len())
        {
            return Err(ValidationError::invalid(
                "ciphertext",
                format!(
                    "{} bytes is not a padding bucket {SEAL_BUCKETS:?} plus the \
                     {SEAL_AEAD_TAG_BYTES}-byte AEAD tag",
                    ct.len()
                ),
            ));
        }
        if encode_sealed(&tag, expires_at, &enc, ct) != bytes {
            return Err(ValidationError::NonCanonical);
        }
        Ok(Sealed {
            bytes: bytes.to_vec(),
            tag,
            expires_at,
            enc,
            ciphertext: bytes.len() - ct.len(),
        })
    }

    /// The exact bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes
    }
    /// The exact bytes, owned.
    pub fn into_bytes(self) -> Vec<u8> {
        self.bytes
    }
    /// Who it is for (as a tag).
    pub fn tag(&self) -> RecipientTag {
        self.tag
    }
    /// When mailboxes may drop it (unix seconds); the recipient checks it equals the signed
    /// message's expiry.
    pub fn expires_at(&self) -> u64 {
        self.expires_at
    }
    /// SHA-256 of the sealed bytes: a mailbox's key for it. Not the message's hash (that is
    /// inside, and only the recipient sees it).
    pub fn id(&self) -> EnvelopeHash {
        EnvelopeHash(Sha256::digest(&self.bytes).into())
    }
    fn ciphertext(&self) -> &[u8] {
        &self.bytes[self.ciphertext..]
    }

    /// The same enc and ciphertext under another header: what a relay altering the header
    /// would produce.
    #[cfg(test)]
    pub(crate) fn reheadered(&self, tag: RecipientTag, expires_at: u64) -> Vec<u8> {
        encode_sealed(&tag, expires_at, &self.enc, self.ciphertext())
    }
}

/// An "RNG" that yields one fixed 32-byte seed: HPKE draws exactly one private key's worth of
/// input keying material for the ephemeral key, and sealing supplies it (fresh from the
/// operating system, or fixed for test vectors).
struct EphemeralSeed([u8; 32]);

impl TryRng for EphemeralSeed {
    type Error = Infallible;
    fn try_next_u32(&mut self) -> Result<u32, Infallible> {
        let mut b = [0u8; 4];
        self.try_fill_bytes(&mut b)?;
        Ok(u32::from_le_bytes(b))
    }
    fn try_next_u64(&mut self) -> Result<u64, Infallible> {
        let mut b = [0u8; 8];
        self.try_fill_bytes(&mut b)?;
        Ok(u64::from_le_bytes(b))
    }
    fn try_fill_bytes(&mut self, dst: &mut [u8]) -> Result<(), Infallible> {
        for (d, s) in dst.iter_mut().zip(self.0.iter().cycle()) {
            *d = *s;
        }
        Ok(())
    }
}
impl TryCryptoRng for EphemeralSeed {}

/// Seals a verified message for `recipient`, which must be its recipient field.
pub fn seal(
    message: &Verified<DirectMessage>,
    recipient: &PublicKey,
) -> Result<Sealed, ValidationError> {
    // Not wiped after use: the ephemeral secret opens only this message, whose plaintext the
    // sender's node keeps in its own thread store anyway.
    let mut seed = [0u8; 32];
    getrandom::fill(&mut seed).map_err(|e| ValidationError::NoRandomness(e.to_string()))?;
    seal_with_ephemeral(message, recipient, seed)
}

/// [`seal`] with a fixed ephemeral seed: for test vectors only (a reused seed makes two
/// messages to the same recipient share a key).
#[doc(hidden)]
pub fn seal_with_ephemeral(
    message: &Verified<DirectMessage>,
    recipient: &PublicKey,
    ephemeral: [u8; 32],
) -> Result<Sealed, ValidationError> {
    let msg = message.payload();
    if msg.recipient != *recipient {
        return Err(ValidationError::WrongRecipient { field: "recipient" });
    }
    let env = message.envelope().as_bytes();
    let too_large = || ValidationError::TooLarge {
        what: "message",
        limit: MAX_MESSAGE_BYTES,
        actual: env.len(),
    };
    let len = u16::try_from(env.len()).map_err(|_| too_large())?;
    let needed = SEAL_LENGTH_PREFIX_BYTES + env.len();
    let bucket = SEAL_BUCKETS
        .iter()
        .copied()
        .find(|b| *b >= needed)
        .ok_or_else(too_large)?;
    let mut plaintext = Vec::with_capacity(bucket);
    plaintext.extend_from_slice(&len.to_be_bytes());
    plaintext.extend_from_slice(env);
    plaintext.resize(bucket, 0);
    seal_plaintext(
        recipient,
        RecipientTag::of(recipient),
        msg.expires_at,
        &plaintext,
        ephemeral,
    )
}

/// The HPKE step of sealing: encrypts `plaintext` to `recipient`'s X25519 key with the header
/// (`tag`, `expires_at`) as associated data. The other callers are tests and fuzz targets that
/// build hostile sealed messages (wrong padding, mismatched headers).
pub(crate) fn seal_plaintext(
    recipient: &PublicKey,
    tag: RecipientTag,
    expires_at: u64,
    plaintext: &[u8],
    ephemeral: [u8; 32],
) -> Result<Sealed, ValidationError> {
    let aad = header_aad(&tag, expires_at);
    let unsealable = |e: hpke::HpkeError| {
        ValidationError::invalid("recipient", format!("cannot seal to this key: {e}"))
    };
    let pk = PublicX::from_bytes(&recipient.x25519()).map_err(unsealable)?;
    let (enc, ct) = hpke::single_shot_seal_with_rng::<ChaCha20Poly1305, HkdfSha256, Suite>(
        &OpModeS::Base,
        &pk,
        SEAL_INFO,
        plaintext,
        &aad,
        &mut EphemeralSeed(ephemeral),
    )
    .map_err(unsealable)?;
    let mut enc_bytes = [0u8; 32];
    enc_bytes.copy_from_slice(&enc.to_bytes());
    let bytes = encode_sealed(&tag, expires_at, &enc_bytes, &ct);
    Ok(Sealed {
        ciphertext: bytes.len() - ct.len(),
        bytes,
        tag,
        expires_at,
        enc: enc_bytes,
    })
}

/// Opens a sealed message with the recipient's key: the tag must be this key's, the header
/// not expired, the ciphertext must decrypt (with the header as associated data), the padding
/// must be zeros, the signed message must verify at `now`, name this key as recipient, and
/// carry the header's expiry.
pub fn open(
    sealed: &Sealed,
    key: &SecretKey,
    now: u64,
) -> Result<Verified<DirectMessage>, ValidationError> {
    let me = key.public();
    if sealed.tag != RecipientTag::of(&me) {
        return Err(ValidationError::WrongRecipient { field: "tag" });
    }
    if sealed.expires_at <= now {
        return Err(ValidationError::Expired {
            expires_at: sealed.expires_at,
            now,
        });
    }
    // The derived scalar is not wiped after use: the signing key it comes from stays in memory
    // for as long as the node runs anyway.
    let sk =
        PrivateX::from_bytes(&key.x25519_scalar()).map_err(|_| ValidationError::Undecryptable)?;
    let enc = Encapped::from_bytes(&sealed.enc).map_err(|_| ValidationError::Undecryptable)?;
    let aad = header_aad(&sealed.tag, sealed.expires_at);
    let plaintext = hpke::single_shot_open::<ChaCha20Poly1305, HkdfSha256, Suite>(
        &OpModeR::Base,
        &sk,
        &enc,
        SEAL_INFO,
        sealed.ciphertext(),
        &aad,
    )
    .map_err(|_| ValidationError::Undecryptable)?;
    let (prefix, rest) = plaintext.split_at_checked(SEAL_LENGTH_PREFIX_BYTES).ok_or(
        ValidationError::BadPadding {
            reason: "the plaintext is shorter than its length prefix",
        },
    )?;
    let len = usize::from(u16::from_be_bytes([prefix[0], prefix[1]]));
    let (inner, padding) = rest
        .split_at_checked(len)
        .ok_or(ValidationError::BadPadding {
            reason: "the length prefix points past the end of the plaintext",
        })?;
    if padding.iter().any(|b| *b != 0) {
        return Err(ValidationError::BadPadding {
            reason: "the padding is not all zero bytes",
        });
    }
    let verified = SignedEnvelope::decode(inner)?.verify_message(now)?;
    let msg = verified.payload();
    if msg.recipient != me {
        return Err(ValidationError::WrongRecipient { field: "recipient" });
    }
    if msg.expires_at != sealed.expires_at {
        return Err(ValidationError::ExpiryMismatch {
            header: sealed.expires_at,
            inner: msg.expires_at,
        });
    }
    Ok(verified)
}

/// For the fuzz targets only (feature `fuzzing`): seals an arbitrary plaintext, so a fuzzer can
/// reach what [`open`] does after decryption (length prefix, padding, the signed envelope).
#[cfg(feature = "fuzzing")]
pub mod fuzzing {
    use super::*;

    /// Seals `plaintext` to `recipient` under the header `(RecipientTag::of(recipient),
    /// expires_at)`, with no checks on the plaintext.
    pub fn seal_plaintext_unchecked(
        recipient: &PublicKey,
        expires_at: u64,
        plaintext: &[u8],
    ) -> Result<Sealed, ValidationError> {
        seal_plaintext(
            recipient,
            RecipientTag::of(recipient),
            expires_at,
            plaintext,
            [7; 32],
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::limits::MAX_MESSAGE_LIFETIME_SECS;
    use crate::message::{ListingRef, MessageBody, ThreadId};

    const NOW: u64 = 1_750_000_000;

    fn seller() -> SecretKey {
        SecretKey::from_bytes([1; 32])
    }
    fn buyer() -> SecretKey {
        SecretKey::from_bytes([2; 32])
    }
    fn question(text: &str) -> Verified<DirectMessage> {
        let b = buyer().public();
        let about = ListingRef {
            seller: seller().public(),
            item_key: "bike-1".into(),
            version: EnvelopeHash([7; 32]),
        };
        DirectMessage {
            recipient: seller().public(),
            buyer: b,
            thread: ThreadId::derive(&about.id(), &b),
            seq: 1,
            sent_at: NOW,
            expires_at: NOW + MAX_MESSAGE_LIFETIME_SECS,
            about,
            body: MessageBody::Text(text.into()),
        }
        .sign(&buyer())
        .unwrap()
        .verify_message(NOW)
        .unwrap()
    }

    #[test]
    fn the_x25519_key_pairs_derived_from_an_identity_agree() {
        for seed in 0..16u8 {
            let key = SecretKey::from_bytes([seed; 32]);
            let public = key.public().x25519();
            // X25519(scalar, basepoint) is the Montgomery form of the ed25519 public point.
            let by_scalar =
                curve25519_dalek::MontgomeryPoint::mul_base_clamped(key.x25519_scalar());
            assert_eq!(by_scalar.to_bytes(), public);
            // And HPKE computes the same public key from the private key it deserializes.
            let sk = PrivateX::from_bytes(&key.x25519_scalar()).unwrap();
            assert_eq!(Suite::sk_to_pk(&sk), PublicX::from_bytes(&public).unwrap());
        }
    }

    #[test]
    fn a_sealed_message_opens_for_its_recipient_only() {
        let m = question("Is it still available?");
        let sealed = seal(&m, &seller().public()).unwrap();
        let back = Sealed::decode(sealed.as_bytes()).unwrap();
        assert_eq!(back, sealed);
        assert_eq!(back.tag(), RecipientTag::of(&seller().public()));
        assert_eq!(back.expires_at(), m.payload().expires_at);
        let opened = open(&back, &seller(), NOW).unwrap();
        assert_eq!(opened.payload(), m.payload());
        assert_eq!(opened.hash(), m.hash());
        // The smallest bucket that holds it, plus the AEAD tag.
        assert_eq!(back.ciphertext().len(), 512 + SEAL_AEAD_TAG_BYTES);
        assert_eq!(
            open(&back, &buyer(), NOW).unwrap_err(),
            ValidationError::WrongRecipient { field: "tag" }
        );
        assert_eq!(
            seal(&m, &buyer().public()).unwrap_err(),
            ValidationError::WrongRecipient { field: "recipient" }
        );
    }
}
