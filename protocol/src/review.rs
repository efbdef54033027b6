//! Reviews: a rating and a text about the other party of a deal, signed by a party and
//! carrying the deal's co-signed receipt, so anyone verifies from keys alone that the review is
//! bound to a real deal. Envelopes of kind `review` (5).
//!
//! One review per party per deal: of two reviews with the same deal and signer, the one with
//! the later `written_at` replaces the other, the larger envelope hash on a tie
//! ([`review_replaces`]).

use serde::Serialize;

use crate::cbor::{encode, Keys, Reader};
use crate::deal::{DealError, DealId, DealReceipt, DealTerms};
use crate::encoding::check_text;
use crate::envelope::{EnvelopeKind, SignedEnvelope, Verified};
use crate::error::ValidationError;
use crate::keys::{PublicKey, SecretKey};
use crate::limits::{MAX_CLOCK_SKEW_SECS, MAX_REVIEW_TEXT_CHARS, REVIEW_RATING_RANGE};
use crate::message::read_32;

/// Version of the review payload format.
pub const REVIEW_VERSION: u64 = 1;

/// Why a review is not acceptable.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ReviewError {
    /// The envelope or the payload breaks a rule (kind, encoding, rating, text, clock,
    /// signature).
    #[error(transparent)]
    Invalid(#[from] ValidationError),
    /// The receipt it carries does not decode or does not verify.
    #[error("receipt: {0}")]
    Receipt(#[source] DealError),
    /// The signer is not a party of the deal.
    #[error("signer: is neither the buyer nor the seller of the deal")]
    SignerNotAParty,
    /// The review is not about the other party of the deal.
    #[error("about: must be the other party of the deal (the review's signer cannot review itself or a third key)")]
    NotAboutTheOtherParty,
    /// Written before the deal was made.
    #[error("written_at: {written_at} is before the deal was accepted at {accepted_at}")]
    BeforeTheDeal {
        /// The review's time.
        written_at: u64,
        /// The deal's acceptance time.
        accepted_at: u64,
    },
}

/// A review of the other party of a deal.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Review {
    /// The deal's co-signed receipt.
    pub receipt: DealReceipt,
    /// Who is reviewed: the party of the deal that is not the signer.
    pub about: PublicKey,
    /// Stars, 1 to 5.
    pub rating: u8,
    /// At most [`MAX_REVIEW_TEXT_CHARS`] characters; may be empty; no control characters but
    /// newlines and tabs.
    pub text: String,
    /// Unix seconds; not before the deal's `accepted_at`.
    pub written_at: u64,
}

/// What a verified review says, for the API and indexes.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ReviewSummary {
    /// The deal.
    pub deal: DealId,
    /// Who wrote it.
    pub by: PublicKey,
    /// Who is reviewed.
    pub about: PublicKey,
    /// Stars.
    pub rating: u8,
    /// The text.
    pub text: String,
    /// When.
    pub written_at: u64,
}

impl Review {
    /// The field rules that need no signer: rating and text.
    pub fn validate(&self) -> Result<(), ValidationError> {
        if !REVIEW_RATING_RANGE.contains(&self.rating) {
            return Err(ValidationError::OutOfRange {
                field: "rating",
                min: u64::from(*REVIEW_RATING_RANGE.start()),
                max: u64::from(*REVIEW_RATING_RANGE.end()),
                actual: u64::from(self.rating),
            });
        }
        // One newline convention, as in messages, so a text has one encoding.
        check_text("text", &self.text, MAX_REVIEW_TEXT_CHARS)?;
        if self.text.contains('\r') {
            return Err(ValidationError::invalid(
                "text",
                "contains carriage returns (newlines are \\n only)",
            ));
        }
        Ok(())
    }

    /// The receipt verifies, the signer is a party, `about` is the other one, and the review
    /// is not older than the deal. Returns the deal's terms.
    fn check_deal(&self, signer: &PublicKey) -> Result<&DealTerms, ReviewError> {
        let terms = self.receipt.verify().map_err(ReviewError::Receipt)?;
        let me = terms.party(signer).ok_or(ReviewError::SignerNotAParty)?;
        if terms.party(&self.about).is_none_or(|other| other == me) {
            return Err(ReviewError::NotAboutTheOtherParty);
        }
        if self.written_at < terms.accepted_at {
            return Err(ReviewError::BeforeTheDeal {
                written_at: self.written_at,
                accepted_at: terms.accepted_at,
            });
        }
        Ok(terms)
    }

    /// Validates, checks the deal and the signer, and signs.
    pub fn sign(&self, key: &SecretKey) -> Result<SignedEnvelope, ReviewError> {
        self.validate()?;
        self.check_deal(&key.public())?;
        Ok(SignedEnvelope::sign(
            key,
            EnvelopeKind::Review,
            self.encode_payload(),
        )?)
    }

    /// The deal reviewed.
    pub fn deal(&self) -> DealId {
        self.receipt.id()
    }

    pub(crate) fn encode_payload(&self) -> Vec<u8> {
        encode(|e| {
            e.map(6)?;
            e.u8(0)?.u64(REVIEW_VERSION)?;
            e.u8(1)?.bytes(&self.receipt.encode())?;
            e.u8(2)?.bytes(self.about.as_bytes())?;
            e.u8(3)?.u8(self.rating)?;
            e.u8(4)?.str(&self.text)?;
            e.u8(5)?.u64(self.written_at)?;
            Ok(())
        })
    }

    pub(crate) fn decode_payload(bytes: &[u8]) -> Result<Review, ReviewError> {
        let mut r = Reader::new(bytes, "review");
        let n = r.map(6)?;
        let mut keys = Keys::new();
        let (mut version, mut receipt, mut about) = (None, None, None);
        let (mut rating, mut text, mut written_at) = (None, None, None);
        for _ in 0..n {
            match keys.next(&mut r)? {
                0 => version = Some(r.u64()?),
                1 => receipt = Some(DealReceipt::decode(r.bytes()?).map_err(ReviewError::Receipt)?),
                2 => {
                    about = Some(PublicKey::from_bytes(&read_32(&mut r, "about")?).map_err(
                        |_| ValidationError::invalid("about", "not a valid ed25519 public key"),
                    )?)
                }
                3 => rating = Some(r.u8()?),
                4 => text = Some(r.str()?.to_string()),
                5 => written_at = Some(r.u64()?),
                k => {
                    return Err(
                        ValidationError::malformed("review", format!("unknown field {k}")).into(),
                    )
                }
            }
        }
        r.finish()?;
        let missing =
            |f: &'static str| ValidationError::malformed("review", format!("missing {f}"));
        let version = version.ok_or_else(|| missing("version"))?;
        if version != REVIEW_VERSION {
            return Err(ValidationError::UnsupportedVersion {
                what: "review",
                found: version,
                supported: REVIEW_VERSION,
            }
            .into());
        }
        Ok(Review {
            receipt: receipt.ok_or_else(|| missing("receipt"))?,
            about: about.ok_or_else(|| missing("about"))?,
            rating: rating.ok_or_else(|| missing("rating"))?,
            text: text.ok_or_else(|| missing("text"))?,
            written_at: written_at.ok_or_else(|| missing("written_at"))?,
        })
    }
}

impl Verified<Review> {
    /// The review in the form the API shows.
    pub fn summary(&self) -> ReviewSummary {
        let r = self.payload();
        ReviewSummary {
            deal: r.deal(),
            by: self.signer(),
            about: r.about,
            rating: r.rating,
            text: r.text.clone(),
            written_at: r.written_at,
        }
    }
}

/// Whether review `a` replaces review `b`: the same deal and signer, and `a` is later
/// (`written_at`, then the larger envelope hash). Reviews of different deals or signers never
/// replace each other.
pub fn review_replaces(a: &Verified<Review>, b: &Verified<Review>) -> bool {
    a.payload().deal() == b.payload().deal()
        && a.signer() == b.signer()
        && (a.payload().written_at, a.hash()) > (b.payload().written_at, b.hash())
}

impl SignedEnvelope {
    /// Verifies a review: the kind must be `review`; the payload canonical and valid; its
    /// receipt canonical with both signatures valid; the signer a party of the deal and
    /// `about` the other party; written not before the deal nor after `now` plus the clock
    /// skew; the signature strict.
    pub fn verify_review(&self, now: u64) -> Result<Verified<Review>, ReviewError> {
        if self.kind() != EnvelopeKind::Review {
            return Err(ValidationError::WrongKind {
                expected: "review",
                found: self.kind() as u8,
            }
            .into());
        }
        let payload = self.payload_bytes();
        let review = Review::decode_payload(payload)?;
        if review.encode_payload() != payload {
            return Err(ValidationError::NonCanonical.into());
        }
        review.validate()?;
        review.check_deal(&self.signer())?;
        if review.written_at > now.saturating_add(MAX_CLOCK_SKEW_SECS) {
            return Err(ValidationError::FromFuture {
                field: "written_at",
                signed_at: review.written_at,
                now,
                max_skew: MAX_CLOCK_SKEW_SECS,
            }
            .into());
        }
        self.signer()
            .verify_strict(&self.signing_message(), &self.signature())?;
        Ok(Verified::new(self.clone(), review))
    }
}
