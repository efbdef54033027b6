//! Negotiation inside a message thread: the offer, counter, accept, decline, retract and void
//! bodies of a [`DirectMessage`](crate::DirectMessage), their validation and encoding, and the
//! thread's state computed from its messages ([`state`]).
//!
//! Negotiation moves are ordinary private messages (kind 3): signed by their sender, sealed for
//! the other party, delivered by the same outbox and mailbox. The listing version a move is
//! about is the message's `about`. What a move means depends on the moves before it, so the
//! rules that decide it live in one pure function, [`NegotiationState::compute`], that both
//! parties and any third party evaluate the same way.

pub mod state;

use serde::{Deserialize, Serialize};

use crate::cbor::{Enc, EncResult, Reader};
use crate::envelope::EnvelopeHash;
use crate::error::ValidationError;
use crate::limits::MAX_QUANTITY;
use crate::limits::{DEFAULT_OFFER_LIFETIME_SECS, MAX_AMOUNT_MINOR, MAX_OFFER_LIFETIME_SECS};
use crate::message::read_32;
use crate::price::Currency;

pub use state::{
    IgnoreReason, Ignored, ListingFacts, ListingVersion, NegotiationState, OfferEntry, OfferStatus,
    Party, ThreadDeal, ThreadParties, VoidedDeal,
};

/// Body tag of an offer: `[2, amount_minor, currency, quantity, expires_at]`.
pub(crate) const BODY_OFFER: u64 = 2;
/// Body tag of a counter-offer: `[3, amount_minor, currency, quantity, expires_at]`.
pub(crate) const BODY_COUNTER: u64 = 3;
/// Body tag of an accept: `[4, of]`.
pub(crate) const BODY_ACCEPT: u64 = 4;
/// Body tag of a decline: `[5, of]`.
pub(crate) const BODY_DECLINE: u64 = 5;
/// Body tag of a retract: `[6, of]`.
pub(crate) const BODY_RETRACT: u64 = 6;
/// Body tag of a void: `[8, accept, reason]` (7 is the deal signature, [`crate::deal`]).
pub(crate) const BODY_VOID: u64 = 8;

/// What an offer or a counter-offer proposes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct OfferTerms {
    /// The price for the whole quantity, in minor units of `currency`: 1..=MAX_AMOUNT_MINOR.
    pub amount_minor: u64,
    /// Must be the currency of the listing version the message is about.
    pub currency: Currency,
    /// How many items: 1..=MAX_QUANTITY.
    pub quantity: u32,
    /// Unix seconds: `sent_at < expires_at <= sent_at + MAX_OFFER_LIFETIME_SECS`.
    pub expires_at: u64,
}

impl OfferTerms {
    /// Terms that expire after the default lifetime (48 hours) from `sent_at`.
    pub fn with_default_expiry(
        amount_minor: u64,
        currency: Currency,
        quantity: u32,
        sent_at: u64,
    ) -> OfferTerms {
        OfferTerms {
            amount_minor,
            currency,
            quantity,
            expires_at: sent_at.saturating_add(DEFAULT_OFFER_LIFETIME_SECS),
        }
    }

    /// The amount, quantity and expiry rules, against the message's `sent_at`.
    pub fn validate(&self, sent_at: u64) -> Result<(), ValidationError> {
        if self.amount_minor == 0 || self.amount_minor > MAX_AMOUNT_MINOR {
            return Err(ValidationError::OutOfRange {
                field: "amount_minor",
                min: 1,
                max: MAX_AMOUNT_MINOR,
                actual: self.amount_minor,
            });
        }
        if self.quantity == 0 || self.quantity > MAX_QUANTITY {
            return Err(ValidationError::OutOfRange {
                field: "quantity",
                min: 1,
                max: u64::from(MAX_QUANTITY),
                actual: u64::from(self.quantity),
            });
        }
        let latest = sent_at.saturating_add(MAX_OFFER_LIFETIME_SECS);
        if self.expires_at <= sent_at || self.expires_at > latest {
            return Err(ValidationError::OutOfRange {
                field: "offer.expires_at",
                min: sent_at.saturating_add(1),
                max: latest,
                actual: self.expires_at,
            });
        }
        Ok(())
    }
}

/// A negotiation move: the non-text bodies of a message.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "move")]
pub enum Move {
    /// The buyer proposes terms. Several offers may be open at once (say, for different
    /// quantities); a node may cap how many.
    Offer(OfferTerms),
    /// Either party proposes terms in answer to an open offer or counter of the other party;
    /// it supersedes every earlier open offer and counter in the thread.
    Counter(OfferTerms),
    /// The other party's open offer or counter named by its message hash is taken: a deal.
    Accept {
        /// The hash of the offer's or counter's message envelope.
        of: EnvelopeHash,
    },
    /// The other party's open offer or counter is refused.
    Decline {
        /// The hash of the offer's or counter's message envelope.
        of: EnvelopeHash,
    },
    /// The author withdraws its own open offer or counter.
    Retract {
        /// The hash of the offer's or counter's message envelope.
        of: EnvelopeHash,
    },
    /// The seller cannot honour the thread's deal (it has not signed it): the deal is
    /// cleared, its offer reads as void, and the thread can negotiate again.
    Void {
        /// The hash of the deal's accept message envelope.
        accept: EnvelopeHash,
        /// Why.
        reason: VoidReason,
    },
}

/// Why a seller voids a deal it has not signed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum VoidReason {
    /// Another buyer's deal took the remaining stock first (code 1).
    SoldOut,
}

impl VoidReason {
    /// The code on the wire.
    pub fn code(self) -> u64 {
        match self {
            VoidReason::SoldOut => 1,
        }
    }

    /// The reason of a wire code. Version 1 knows only 1 (sold out): an unknown code makes
    /// the body invalid rather than a void nobody can explain.
    pub fn from_code(code: u64) -> Result<VoidReason, ValidationError> {
        match code {
            1 => Ok(VoidReason::SoldOut),
            _ => Err(ValidationError::OutOfRange {
                field: "void.reason",
                min: 1,
                max: 1,
                actual: code,
            }),
        }
    }
}

impl std::fmt::Display for VoidReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            VoidReason::SoldOut => "sold out",
        })
    }
}

impl Move {
    /// The structure rules that need only the message's `sent_at`.
    pub fn validate(&self, sent_at: u64) -> Result<(), ValidationError> {
        match self {
            Move::Offer(terms) | Move::Counter(terms) => terms.validate(sent_at),
            Move::Accept { .. }
            | Move::Decline { .. }
            | Move::Retract { .. }
            | Move::Void { .. } => Ok(()),
        }
    }

    /// Writes the body array.
    pub(crate) fn encode(&self, e: &mut Enc) -> EncResult {
        match self {
            Move::Offer(t) | Move::Counter(t) => {
                let tag = if matches!(self, Move::Offer(_)) {
                    BODY_OFFER
                } else {
                    BODY_COUNTER
                };
                e.array(5)?
                    .u64(tag)?
                    .u64(t.amount_minor)?
                    .str(t.currency.code())?
                    .u32(t.quantity)?
                    .u64(t.expires_at)?;
            }
            Move::Accept { of } => {
                e.array(2)?.u64(BODY_ACCEPT)?.bytes(&of.0)?;
            }
            Move::Decline { of } => {
                e.array(2)?.u64(BODY_DECLINE)?.bytes(&of.0)?;
            }
            Move::Retract { of } => {
                e.array(2)?.u64(BODY_RETRACT)?.bytes(&of.0)?;
            }
            Move::Void { accept, reason } => {
                e.array(3)?
                    .u64(BODY_VOID)?
                    .bytes(&accept.0)?
                    .u64(reason.code())?;
            }
        }
        Ok(())
    }

    /// Reads the rest of a body array whose header (`n` items) and tag were read. `None` when
    /// the tag is not a negotiation tag.
    pub(crate) fn decode(
        tag: u64,
        n: usize,
        r: &mut Reader<'_>,
    ) -> Option<Result<Move, ValidationError>> {
        let shape = |what: &str| {
            Err(ValidationError::malformed(
                "message",
                format!("{what} body must be {}", body_shape(tag)),
            ))
        };
        Some(match tag {
            BODY_OFFER | BODY_COUNTER => {
                if n != 5 {
                    return Some(shape("an offer or counter"));
                }
                read_terms(r).map(|t| {
                    if tag == BODY_OFFER {
                        Move::Offer(t)
                    } else {
                        Move::Counter(t)
                    }
                })
            }
            BODY_ACCEPT | BODY_DECLINE | BODY_RETRACT => {
                if n != 2 {
                    return Some(shape("an accept, decline or retract"));
                }
                read_32(r, "of").map(|of| {
                    let of = EnvelopeHash(of);
                    match tag {
                        BODY_ACCEPT => Move::Accept { of },
                        BODY_DECLINE => Move::Decline { of },
                        _ => Move::Retract { of },
                    }
                })
            }
            BODY_VOID => {
                if n != 3 {
                    return Some(shape("a void"));
                }
                read_32(r, "accept").and_then(|accept| {
                    Ok(Move::Void {
                        accept: EnvelopeHash(accept),
                        reason: VoidReason::from_code(r.u64()?)?,
                    })
                })
            }
            _ => return None,
        })
    }
}

fn body_shape(tag: u64) -> &'static str {
    match tag {
        BODY_OFFER => "[2, amount_minor, currency, quantity, expires_at]",
        BODY_COUNTER => "[3, amount_minor, currency, quantity, expires_at]",
        BODY_ACCEPT => "[4, of]",
        BODY_DECLINE => "[5, of]",
        BODY_RETRACT => "[6, of]",
        _ => "[8, accept, reason]",
    }
}

fn read_terms(r: &mut Reader<'_>) -> Result<OfferTerms, ValidationError> {
    let amount_minor = r.u64()?;
    let currency = Currency::new(r.str()?)?;
    let quantity = r.u32()?;
    let expires_at = r.u64()?;
    Ok(OfferTerms {
        amount_minor,
        currency,
        quantity,
        expires_at,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cbor::encode;

    fn eur() -> Currency {
        Currency::new("EUR").unwrap()
    }

    fn round_trip(m: Move) -> Move {
        let bytes = encode(|e| m.encode(e));
        let mut r = Reader::new(&bytes, "message");
        let n = r.array("body", 16).unwrap();
        let tag = r.u64().unwrap();
        let back = Move::decode(tag, n, &mut r).unwrap().unwrap();
        r.finish().unwrap();
        back
    }

    #[test]
    fn every_move_round_trips_with_its_own_tag() {
        let terms = OfferTerms::with_default_expiry(12_345, eur(), 2, 1_000);
        assert_eq!(terms.expires_at, 1_000 + 48 * 3600);
        let of = EnvelopeHash([5; 32]);
        for m in [
            Move::Offer(terms),
            Move::Counter(terms),
            Move::Accept { of },
            Move::Decline { of },
            Move::Retract { of },
            Move::Void {
                accept: of,
                reason: VoidReason::SoldOut,
            },
        ] {
            assert_eq!(round_trip(m), m);
        }
    }

    #[test]
    fn a_body_of_the_wrong_shape_says_which_shape() {
        let bytes = encode(|e| {
            e.array(3)?.u64(BODY_ACCEPT)?.bytes(&[0; 32])?.u8(1)?;
            Ok(())
        });
        let mut r = Reader::new(&bytes, "message");
        let n = r.array("body", 16).unwrap();
        let tag = r.u64().unwrap();
        let err = Move::decode(tag, n, &mut r).unwrap().unwrap_err();
        assert!(err.to_string().contains("[4, of]"), "{err}");
        // Tags outside 2..=6 and 8 are not moves.
        assert!(Move::decode(9, 2, &mut r).is_none());
    }

    #[test]
    fn a_void_with_an_unknown_reason_names_the_field_and_the_codes() {
        let bytes = encode(|e| {
            e.array(3)?.u64(BODY_VOID)?.bytes(&[0; 32])?.u64(7)?;
            Ok(())
        });
        let mut r = Reader::new(&bytes, "message");
        let n = r.array("body", 16).unwrap();
        let tag = r.u64().unwrap();
        assert_eq!(
            Move::decode(tag, n, &mut r).unwrap().unwrap_err(),
            ValidationError::OutOfRange {
                field: "void.reason",
                min: 1,
                max: 1,
                actual: 7
            }
        );
    }

    #[test]
    fn a_zero_amount_and_an_expiry_at_sending_are_refused() {
        let mut t = OfferTerms::with_default_expiry(0, eur(), 1, 1_000);
        assert_eq!(
            t.validate(1_000).unwrap_err(),
            ValidationError::OutOfRange {
                field: "amount_minor",
                min: 1,
                max: MAX_AMOUNT_MINOR,
                actual: 0
            }
        );
        t.amount_minor = 1;
        t.expires_at = 1_000;
        assert!(t.validate(1_000).is_err());
        t.expires_at = 1_000 + MAX_OFFER_LIFETIME_SECS;
        assert!(t.validate(1_000).is_ok());
    }
}
