//! Deal receipts: the terms of a deal signed by both parties, verifiable by anyone from the two
//! public keys alone.
//!
//! A receipt is not a [`SignedEnvelope`](crate::SignedEnvelope): an envelope has one signer and
//! a receipt has two who sign the same bytes. Each party signs
//! `"swapmeet/v1/deal\0" || terms bytes`, and the receipt carries the terms bytes exactly as
//! signed with both signatures (`[1, terms, buyer signature, seller signature]`), so verifying
//! never re-serializes. Reviews embed it ([`crate::review`]). Its one-line text form
//! ([`DealReceipt::to_text`], `swapmeet-deal1:` + base64url) is what users export and paste.

use std::fmt;

use base64::Engine as _;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use sha2::{Digest, Sha256};

use crate::cbor::{encode, Keys, Reader};
use crate::encoding::hex;
use crate::envelope::EnvelopeHash;
use crate::error::ValidationError;
use crate::keys::{PublicKey, SecretKey, Signature};
use crate::limits::{MAX_AMOUNT_MINOR, MAX_DEAL_RECEIPT_BYTES, MAX_QUANTITY};
use crate::listing::{check_item_key, ListingId};
use crate::message::read_32;
use crate::negotiation::{Party, ThreadDeal, ThreadParties};
use crate::price::Currency;

/// Body tag of a [`DealSignature`] message body: `[7, accept, signature]`.
pub(crate) const BODY_DEAL_SIGNATURE: u64 = 7;

/// One party's signature over a thread's deal terms, sent to the other party inside the
/// thread (a message body), so that each ends up holding both signatures: the receipt.
///
/// Both compute the terms from the same thread state ([`DealTerms::of_thread`]); the body names
/// the deal by its accept's hash. A party signs only once its side is settled (the seller's node
/// after confirming its stock); the other party answers with its own signature.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DealSignature {
    /// The hash of the accept's message envelope (the deal of the thread).
    pub accept: EnvelopeHash,
    /// The sender's signature over `"swapmeet/v1/deal\0" || terms bytes` (hex in JSON).
    #[serde(with = "signature_hex")]
    pub signature: Signature,
}

/// A signature as 128 hex digits in JSON.
mod signature_hex {
    use serde::{Deserialize, Deserializer, Serializer};

    use crate::encoding::hex;
    use crate::keys::Signature;

    pub(super) fn serialize<S: Serializer>(sig: &Signature, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&hex(&sig.to_bytes()))
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Signature, D::Error> {
        let text = String::deserialize(d)?;
        let bad = || serde::de::Error::custom("a signature is 128 hex digits");
        if text.len() != 128 || !text.is_ascii() {
            return Err(bad());
        }
        let mut out = [0u8; 64];
        for (i, b) in out.iter_mut().enumerate() {
            *b = u8::from_str_radix(&text[2 * i..2 * i + 2], 16).map_err(|_| bad())?;
        }
        Ok(Signature::from_bytes(out))
    }
}

impl DealSignature {
    /// Checks it against the terms the receiver computed and the sender's key.
    pub fn verify(&self, terms: &DealTerms, sender: &PublicKey) -> Result<(), DealError> {
        let party = terms.party(sender).ok_or(DealError::NotAParty)?;
        if self.accept != terms.accept {
            return Err(DealError::Terms(ValidationError::invalid(
                "accept",
                "names another accept than the thread's deal",
            )));
        }
        sender
            .verify_strict(&signing_bytes(&terms.encode()), &self.signature)
            .map_err(|_| DealError::BadSignature { party })
    }

    pub(crate) fn encode(&self, e: &mut crate::cbor::Enc) -> crate::cbor::EncResult {
        e.array(3)?
            .u64(BODY_DEAL_SIGNATURE)?
            .bytes(&self.accept.0)?
            .bytes(&self.signature.to_bytes())?;
        Ok(())
    }

    /// Reads the rest of a `[7, accept, signature]` body whose header and tag were read.
    pub(crate) fn decode(n: usize, r: &mut Reader<'_>) -> Result<DealSignature, ValidationError> {
        if n != 3 {
            return Err(ValidationError::malformed(
                "message",
                "a deal signature body must be [7, accept, signature]",
            ));
        }
        Ok(DealSignature {
            accept: EnvelopeHash(read_32(r, "accept")?),
            signature: read_sig(r, "signature")?,
        })
    }
}

/// Version of the deal terms and receipt formats.
pub const DEAL_VERSION: u64 = 1;
/// Prefix of the bytes each party signs.
pub const DEAL_SIGNING_PREFIX: &[u8] = b"swapmeet/v1/deal\0";
/// Prefix of a receipt's text form.
pub const DEAL_TEXT_PREFIX: &str = "swapmeet-deal1:";

/// Why a deal receipt is not acceptable.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum DealError {
    /// The encoded receipt is over its cap (checked before decoding).
    #[error("deal receipt is too large: {actual} bytes, the limit is {limit}")]
    TooLarge {
        /// The cap.
        limit: usize,
        /// The size seen.
        actual: usize,
    },
    /// The receipt or its terms do not decode, are not canonical, or break a field rule.
    #[error("deal terms: {0}")]
    Terms(#[source] ValidationError),
    /// The buyer and the seller are the same key.
    #[error("buyer: is the seller (a deal is between two parties)")]
    SameParty,
    /// A key that is neither the buyer nor the seller tried to sign.
    #[error("signer: is neither the buyer nor the seller of the deal")]
    NotAParty,
    /// A receipt's text form is not `swapmeet-deal1:` followed by base64url.
    #[error("receipt text: {0}")]
    Text(String),
    /// One party's signature does not verify over the terms.
    #[error("{party:?} signature: does not verify over the deal terms")]
    BadSignature {
        /// Whose signature.
        party: Party,
    },
}

impl From<ValidationError> for DealError {
    fn from(e: ValidationError) -> DealError {
        DealError::Terms(e)
    }
}

/// The id of a deal: SHA-256 of its terms bytes (the same whoever signed first).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct DealId(pub [u8; 32]);

impl fmt::Display for DealId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&hex(&self.0))
    }
}
impl fmt::Debug for DealId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "DealId({self})")
    }
}
impl Serialize for DealId {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}
impl<'de> Deserialize<'de> for DealId {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<DealId, D::Error> {
        let s = String::deserialize(d)?;
        crate::encoding::hex32(s.trim())
            .map(DealId)
            .ok_or_else(|| serde::de::Error::custom(format!("'{s}' is not 64 hex digits")))
    }
}

/// What both parties sign.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DealTerms {
    /// The seller (the listing's signer).
    pub seller: PublicKey,
    /// The listing's item key (with the seller, it derives the listing id).
    pub item_key: String,
    /// The hash of the listing version the accepted offer was about.
    pub version: EnvelopeHash,
    /// The buyer.
    pub buyer: PublicKey,
    /// The price for the whole quantity, in minor units: 1..=MAX_AMOUNT_MINOR.
    pub amount_minor: u64,
    /// Its currency.
    pub currency: Currency,
    /// How many items: 1..=MAX_QUANTITY.
    pub quantity: u32,
    /// The accept's `sent_at` (unix seconds).
    pub accepted_at: u64,
    /// The hash of the accept's message envelope.
    pub accept: EnvelopeHash,
}

impl DealTerms {
    /// The terms of a thread's deal.
    pub fn of_thread(parties: &ThreadParties, item_key: &str, deal: &ThreadDeal) -> DealTerms {
        DealTerms {
            seller: parties.seller,
            item_key: item_key.to_string(),
            version: deal.version,
            buyer: parties.buyer,
            amount_minor: deal.terms.amount_minor,
            currency: deal.terms.currency,
            quantity: deal.terms.quantity,
            accepted_at: deal.accepted_at,
            accept: deal.accept,
        }
    }

    /// The listing id.
    pub fn listing(&self) -> ListingId {
        ListingId::derive(&self.seller, &self.item_key)
    }

    /// The field rules: item key, amount, quantity, two different parties.
    pub fn validate(&self) -> Result<(), DealError> {
        check_item_key(&self.item_key)?;
        if self.amount_minor == 0 || self.amount_minor > MAX_AMOUNT_MINOR {
            return Err(DealError::Terms(ValidationError::OutOfRange {
                field: "amount_minor",
                min: 1,
                max: MAX_AMOUNT_MINOR,
                actual: self.amount_minor,
            }));
        }
        if self.quantity == 0 || self.quantity > MAX_QUANTITY {
            return Err(DealError::Terms(ValidationError::OutOfRange {
                field: "quantity",
                min: 1,
                max: u64::from(MAX_QUANTITY),
                actual: u64::from(self.quantity),
            }));
        }
        if self.buyer == self.seller {
            return Err(DealError::SameParty);
        }
        Ok(())
    }

    /// The canonical terms bytes: a CBOR map with keys 0 (version) to 9 in order.
    pub fn encode(&self) -> Vec<u8> {
        encode(|e| {
            e.map(10)?;
            e.u8(0)?.u64(DEAL_VERSION)?;
            e.u8(1)?.bytes(self.seller.as_bytes())?;
            e.u8(2)?.str(&self.item_key)?;
            e.u8(3)?.bytes(&self.version.0)?;
            e.u8(4)?.bytes(self.buyer.as_bytes())?;
            e.u8(5)?.u64(self.amount_minor)?;
            e.u8(6)?.str(self.currency.code())?;
            e.u8(7)?.u32(self.quantity)?;
            e.u8(8)?.u64(self.accepted_at)?;
            e.u8(9)?.bytes(&self.accept.0)?;
            Ok(())
        })
    }

    /// Decodes canonical terms bytes and checks the field rules.
    pub fn decode(bytes: &[u8]) -> Result<DealTerms, DealError> {
        let terms = decode_terms(bytes)?;
        if terms.encode() != bytes {
            return Err(DealError::Terms(ValidationError::NonCanonical));
        }
        terms.validate()?;
        Ok(terms)
    }

    /// The deal's id.
    pub fn id(&self) -> DealId {
        DealId(Sha256::digest(self.encode()).into())
    }

    /// Which party `key` is.
    pub fn party(&self, key: &PublicKey) -> Option<Party> {
        if *key == self.buyer {
            Some(Party::Buyer)
        } else if *key == self.seller {
            Some(Party::Seller)
        } else {
            None
        }
    }

    /// One party's signature over the terms. Validates first; `key` must be the buyer's or
    /// the seller's.
    pub fn sign(&self, key: &SecretKey) -> Result<Signature, DealError> {
        self.validate()?;
        self.party(&key.public()).ok_or(DealError::NotAParty)?;
        Ok(key.sign(&signing_bytes(&self.encode())))
    }
}

fn signing_bytes(terms: &[u8]) -> Vec<u8> {
    let mut m = Vec::with_capacity(DEAL_SIGNING_PREFIX.len() + terms.len());
    m.extend_from_slice(DEAL_SIGNING_PREFIX);
    m.extend_from_slice(terms);
    m
}

fn decode_terms(bytes: &[u8]) -> Result<DealTerms, ValidationError> {
    let mut r = Reader::new(bytes, "deal terms");
    let n = r.map(10)?;
    let mut keys = Keys::new();
    let mut version = None;
    let (mut seller, mut item_key, mut listing_version, mut buyer) = (None, None, None, None);
    let (mut amount, mut currency, mut quantity, mut accepted_at, mut accept) =
        (None, None, None, None, None);
    for _ in 0..n {
        match keys.next(&mut r)? {
            0 => version = Some(r.u64()?),
            1 => seller = Some(read_party(&mut r, "seller")?),
            2 => item_key = Some(r.str()?.to_string()),
            3 => listing_version = Some(EnvelopeHash(read_32(&mut r, "version")?)),
            4 => buyer = Some(read_party(&mut r, "buyer")?),
            5 => amount = Some(r.u64()?),
            6 => currency = Some(Currency::new(r.str()?)?),
            7 => quantity = Some(r.u32()?),
            8 => accepted_at = Some(r.u64()?),
            9 => accept = Some(EnvelopeHash(read_32(&mut r, "accept")?)),
            k => {
                return Err(ValidationError::malformed(
                    "deal terms",
                    format!("unknown field {k}"),
                ))
            }
        }
    }
    r.finish()?;
    let missing =
        |f: &'static str| ValidationError::malformed("deal terms", format!("missing {f}"));
    let version = version.ok_or_else(|| missing("version"))?;
    if version != DEAL_VERSION {
        return Err(ValidationError::UnsupportedVersion {
            what: "deal terms",
            found: version,
            supported: DEAL_VERSION,
        });
    }
    Ok(DealTerms {
        seller: seller.ok_or_else(|| missing("seller"))?,
        item_key: item_key.ok_or_else(|| missing("item_key"))?,
        version: listing_version.ok_or_else(|| missing("version"))?,
        buyer: buyer.ok_or_else(|| missing("buyer"))?,
        amount_minor: amount.ok_or_else(|| missing("amount_minor"))?,
        currency: currency.ok_or_else(|| missing("currency"))?,
        quantity: quantity.ok_or_else(|| missing("quantity"))?,
        accepted_at: accepted_at.ok_or_else(|| missing("accepted_at"))?,
        accept: accept.ok_or_else(|| missing("accept"))?,
    })
}

fn read_party(r: &mut Reader<'_>, field: &'static str) -> Result<PublicKey, ValidationError> {
    PublicKey::from_bytes(&read_32(r, field)?).map_err(|_| {
        ValidationError::invalid(
            field,
            "not a valid ed25519 public key (or a weak, small-order one)",
        )
    })
}

fn read_sig(r: &mut Reader<'_>, field: &'static str) -> Result<Signature, ValidationError> {
    let b: [u8; 64] = r
        .bytes()?
        .try_into()
        .map_err(|_| ValidationError::invalid(field, "must be 64 bytes"))?;
    Ok(Signature::from_bytes(b))
}

/// A deal receipt as decoded: its terms and both signatures. Its terms are reachable only
/// through [`DealReceipt::verify`].
#[derive(Clone, PartialEq, Eq)]
pub struct DealReceipt {
    terms: DealTerms,
    terms_bytes: Vec<u8>,
    buyer_sig: Signature,
    seller_sig: Signature,
}

impl fmt::Debug for DealReceipt {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DealReceipt")
            .field("deal", &self.id())
            .finish()
    }
}

impl DealReceipt {
    /// Puts the terms and the two parties' signatures together, and verifies both.
    pub fn assemble(
        terms: &DealTerms,
        buyer_sig: Signature,
        seller_sig: Signature,
    ) -> Result<DealReceipt, DealError> {
        terms.validate()?;
        let receipt = DealReceipt {
            terms_bytes: terms.encode(),
            terms: terms.clone(),
            buyer_sig,
            seller_sig,
        };
        receipt.verify()?;
        Ok(receipt)
    }

    /// Decodes a receipt: the size cap first, then the structure, canonical encodings of the
    /// receipt and its terms, and the terms' field rules. The signatures are checked by
    /// [`DealReceipt::verify`].
    pub fn decode(bytes: &[u8]) -> Result<DealReceipt, DealError> {
        if bytes.len() > MAX_DEAL_RECEIPT_BYTES {
            return Err(DealError::TooLarge {
                limit: MAX_DEAL_RECEIPT_BYTES,
                actual: bytes.len(),
            });
        }
        let mut r = Reader::new(bytes, "deal receipt");
        if r.array("deal receipt", 4)? != 4 {
            return Err(DealError::Terms(ValidationError::malformed(
                "deal receipt",
                "expected [version, terms, buyer signature, seller signature]",
            )));
        }
        let version = r.u64()?;
        if version != DEAL_VERSION {
            return Err(DealError::Terms(ValidationError::UnsupportedVersion {
                what: "deal receipt",
                found: version,
                supported: DEAL_VERSION,
            }));
        }
        let terms_bytes = r.bytes()?;
        let buyer_sig = read_sig(&mut r, "buyer_signature")?;
        let seller_sig = read_sig(&mut r, "seller_signature")?;
        r.finish()?;
        let receipt = DealReceipt {
            terms: DealTerms::decode(terms_bytes)?,
            terms_bytes: terms_bytes.to_vec(),
            buyer_sig,
            seller_sig,
        };
        if receipt.encode() != bytes {
            return Err(DealError::Terms(ValidationError::NonCanonical));
        }
        Ok(receipt)
    }

    /// The encoding: `[1, terms bytes, buyer signature, seller signature]`.
    pub fn encode(&self) -> Vec<u8> {
        encode(|e| {
            e.array(4)?
                .u64(DEAL_VERSION)?
                .bytes(&self.terms_bytes)?
                .bytes(&self.buyer_sig.to_bytes())?
                .bytes(&self.seller_sig.to_bytes())?;
            Ok(())
        })
    }

    /// Checks both signatures (strictly) over the terms bytes with the buyer's and the
    /// seller's keys the terms name, and returns the terms.
    pub fn verify(&self) -> Result<&DealTerms, DealError> {
        let msg = signing_bytes(&self.terms_bytes);
        self.terms
            .buyer
            .verify_strict(&msg, &self.buyer_sig)
            .map_err(|_| DealError::BadSignature {
                party: Party::Buyer,
            })?;
        self.terms
            .seller
            .verify_strict(&msg, &self.seller_sig)
            .map_err(|_| DealError::BadSignature {
                party: Party::Seller,
            })?;
        Ok(&self.terms)
    }

    /// The deal's id (not a claim that it verifies).
    pub fn id(&self) -> DealId {
        DealId(Sha256::digest(&self.terms_bytes).into())
    }

    /// The text form: `swapmeet-deal1:` followed by the receipt bytes in base64url without
    /// padding. One line, safe to paste in a chat or a file.
    pub fn to_text(&self) -> String {
        format!(
            "{DEAL_TEXT_PREFIX}{}",
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(self.encode())
        )
    }

    /// Reads the text form (surrounding whitespace is ignored), with the size cap checked on
    /// the text before decoding anything, then [`DealReceipt::decode`]. The signatures are
    /// checked by [`DealReceipt::verify`].
    pub fn from_text(text: &str) -> Result<DealReceipt, DealError> {
        let b64 = text
            .trim()
            .strip_prefix(DEAL_TEXT_PREFIX)
            .ok_or_else(|| DealError::Text(format!("does not start with {DEAL_TEXT_PREFIX}")))?;
        // Base64 without padding: 4 characters per 3 bytes, rounded up.
        let longest = (MAX_DEAL_RECEIPT_BYTES * 4).div_ceil(3);
        if b64.len() > longest {
            return Err(DealError::TooLarge {
                limit: MAX_DEAL_RECEIPT_BYTES,
                actual: b64.len() / 4 * 3,
            });
        }
        let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(b64)
            .map_err(|e| DealError::Text(format!("not base64url without padding: {e}")))?;
        DealReceipt::decode(&bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn terms() -> DealTerms {
        DealTerms {
            seller: SecretKey::from_bytes([1; 32]).public(),
            item_key: "bike-1".into(),
            version: EnvelopeHash([7; 32]),
            buyer: SecretKey::from_bytes([2; 32]).public(),
            amount_minor: 20_000,
            currency: Currency::new("EUR").unwrap(),
            quantity: 1,
            accepted_at: 1_750_000_000,
            accept: EnvelopeHash([9; 32]),
        }
    }

    #[test]
    fn both_signatures_are_needed_and_a_third_key_cannot_sign() {
        let (s, b, x) = (
            SecretKey::from_bytes([1; 32]),
            SecretKey::from_bytes([2; 32]),
            SecretKey::from_bytes([3; 32]),
        );
        let t = terms();
        let bs = t.sign(&b).unwrap();
        let ss = t.sign(&s).unwrap();
        let r = DealReceipt::assemble(&t, bs, ss).unwrap();
        let back = DealReceipt::decode(&r.encode()).unwrap();
        assert_eq!(back.verify().unwrap(), &t);
        assert_eq!(back.id(), t.id());
        // The seller signing twice is not the buyer's consent.
        assert_eq!(
            DealReceipt::assemble(&t, ss, ss).unwrap_err(),
            DealError::BadSignature {
                party: Party::Buyer
            }
        );
        assert_eq!(t.sign(&x).unwrap_err(), DealError::NotAParty);
        // Changing any term breaks both signatures.
        let mut forged = t.clone();
        forged.amount_minor = 1;
        assert!(DealReceipt::assemble(&forged, bs, ss).is_err());
    }

    #[test]
    fn out_of_range_terms_name_the_field_and_the_limit() {
        let mut t = terms();
        t.quantity = 0;
        assert_eq!(
            t.validate().unwrap_err().to_string(),
            "deal terms: quantity is out of range: 0, allowed 1..=1000000"
        );
        let mut t = terms();
        t.buyer = t.seller;
        assert_eq!(t.validate().unwrap_err(), DealError::SameParty);
    }

    #[test]
    fn the_text_form_round_trips_and_names_what_is_wrong() {
        let t = terms();
        let r = DealReceipt::assemble(
            &t,
            t.sign(&SecretKey::from_bytes([2; 32])).unwrap(),
            t.sign(&SecretKey::from_bytes([1; 32])).unwrap(),
        )
        .unwrap();
        let text = r.to_text();
        assert!(text.starts_with("swapmeet-deal1:"));
        assert!(!text.contains('=') && !text.contains('+') && !text.contains('/'));
        let back = DealReceipt::from_text(&format!("  {text}\n")).unwrap();
        assert_eq!(back.verify().unwrap(), &t);
        assert!(matches!(
            DealReceipt::from_text("swapmeet1:AAAA"),
            Err(DealError::Text(m)) if m.contains("swapmeet-deal1:")
        ));
        assert!(matches!(
            DealReceipt::from_text("swapmeet-deal1:!!"),
            Err(DealError::Text(m)) if m.contains("base64url")
        ));
        let huge = format!("swapmeet-deal1:{}", "A".repeat(2_000));
        assert!(matches!(
            DealReceipt::from_text(&huge),
            Err(DealError::TooLarge { limit: 1_024, .. })
        ));
    }

    #[test]
    fn an_oversized_receipt_is_refused_before_decoding() {
        let big = vec![0u8; MAX_DEAL_RECEIPT_BYTES + 1];
        assert!(matches!(
            DealReceipt::decode(&big),
            Err(DealError::TooLarge { .. })
        ));
    }
}
