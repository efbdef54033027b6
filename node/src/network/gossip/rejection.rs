//! Why a gossiped message is rejected, as the log and `GET /v1/peers` say it, and the topic
//! rule: a record is accepted only on the topics it is published to.
//!
//! A record belongs to the topic of its cell, to `ship` when it ships (a wanted post never
//! does), and to `all` ([`super::publish_areas`] of its areas, exactly what its publisher uses).
//! A valid listing replayed on another area's topic would otherwise be forwarded into a mesh
//! of nodes that did not ask for it, and count for the replaying peer as a first delivery.
//! Reviews belong to every topic (docs/PROTOCOL.md 12.6: they go to the topics of their
//! deal's listing as the publisher knows it).

use std::fmt;

use swapmeet_protocol::limits::GOSSIP_ALL_AREA;
use swapmeet_protocol::{geo::GeoHash, Record, ReviewError, SignedEnvelope, ValidationError};

use crate::ingest::IngestOutcome;
use crate::store::{AREA_PRECISION, SHIPPING_AREA};

/// Why a gossiped message was rejected (a penalty in the sender's peer score).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Rejection {
    /// The bytes are not a signed envelope: malformed or non-canonical CBOR, an unknown
    /// version or kind, over the size cap.
    Decode(ValidationError),
    /// The signature does not verify, or the signer is not a valid ed25519 key.
    Signature(ValidationError),
    /// A field breaks a rule of the protocol (the error names the field and the limit).
    Validation(ValidationError),
    /// A review the rules refuse (no valid receipt, not by a party, ...).
    Review(ReviewError),
    /// A valid record on a topic it does not belong to.
    WrongTopic {
        /// The area tag of the topic it came on.
        topic: String,
        /// The area tags it belongs to.
        belongs: Vec<String>,
    },
}

impl Rejection {
    /// Classifies a validation error by what failed.
    pub fn of_validation(e: ValidationError) -> Rejection {
        match e {
            ValidationError::TooLarge { .. }
            | ValidationError::Malformed { .. }
            | ValidationError::NonCanonical
            | ValidationError::UnsupportedVersion { .. }
            | ValidationError::WrongKind { .. } => Rejection::Decode(e),
            ValidationError::BadSignature | ValidationError::BadKey => Rejection::Signature(e),
            _ => Rejection::Validation(e),
        }
    }

    /// The reason of an ingest outcome that gossip rejects; `None` for any other outcome.
    pub fn of_outcome(outcome: &IngestOutcome) -> Option<Rejection> {
        if super::acceptance(outcome) != libp2p::gossipsub::MessageAcceptance::Reject {
            return None;
        }
        match outcome {
            IngestOutcome::Rejected { error: Some(e), .. } => {
                Some(Rejection::of_validation(e.clone()))
            }
            IngestOutcome::ReviewRejected {
                error: ReviewError::Invalid(e),
                ..
            } => Some(Rejection::of_validation(e.clone())),
            IngestOutcome::ReviewRejected { error, .. } => Some(Rejection::Review(error.clone())),
            _ => None,
        }
    }

    /// One word for what failed: `decode`, `signature`, `validation`, `review` or
    /// `wrong_topic`.
    pub fn class(&self) -> &'static str {
        match self {
            Rejection::Decode(_) => "decode",
            Rejection::Signature(_) => "signature",
            Rejection::Validation(_) => "validation",
            Rejection::Review(_) => "review",
            Rejection::WrongTopic { .. } => "wrong_topic",
        }
    }
}

impl fmt::Display for Rejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Rejection::Decode(e) | Rejection::Signature(e) | Rejection::Validation(e) => {
                write!(f, "{e}")
            }
            Rejection::Review(e) => write!(f, "{e}"),
            Rejection::WrongTopic { topic, belongs } => write!(
                f,
                "topic: a record of {} does not belong on the topic of {topic}",
                belongs.join(", ")
            ),
        }
    }
}

/// The area tags a record is published to: its cell, `ship` when it ships, and `all`.
pub fn record_topics(record: &Record) -> Vec<String> {
    let mut areas = Vec::with_capacity(3);
    if let Some(cell) = record.area().map(GeoHash::as_str) {
        areas.push(cell.get(..AREA_PRECISION).unwrap_or(cell).to_string());
    }
    if record.ships() {
        areas.push(SHIPPING_AREA.to_string());
    }
    super::publish_areas(&areas)
}

/// Checks that a message that came on the topic of `area` belongs there. `None` when it does,
/// and also when its area cannot be read or it does not verify: ingest then refuses it for
/// that reason (or ignores it, for a clock rule), which is the truer reason. Blocking in the
/// rare mismatch case (one signature check); otherwise one payload decode.
pub fn check_topic(area: &str, data: &[u8], now: u64) -> Option<Rejection> {
    if area == GOSSIP_ALL_AREA {
        return None;
    }
    let env = SignedEnvelope::decode(data).ok()?;
    if !env.kind().is_record() {
        return None;
    }
    let belongs = record_topics(&env.decode_record_unverified().ok()?);
    if belongs.iter().any(|a| a == area) {
        return None;
    }
    // A mismatch counts against the sender only for a record its signer really published:
    // a forged copy is refused by ingest for its signature instead.
    env.verify(now).ok()?;
    Some(Rejection::WrongTopic {
        topic: area.to_string(),
        belongs,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use swapmeet_protocol::{
        Category, Condition, Delivery, Listing, Location, Price, SecretKey, WithdrawReason,
        Withdrawal,
    };

    const NOW: u64 = 1_800_000_000;

    fn listing(geohash: &str, shipping: bool) -> Vec<u8> {
        let key = SecretKey::from_bytes([7; 32]);
        Listing {
            item_key: "bike".into(),
            seq: 1,
            signed_at: NOW - 10,
            expires_at: NOW + 3600,
            title: "Road bike".into(),
            description: String::new(),
            price: Price::Free,
            condition: Condition::Good,
            category: Category::Bikes,
            tags: vec![],
            quantity: 1,
            location: Some(Location {
                geohash: GeoHash::new(geohash).unwrap(),
                place: None,
            }),
            delivery: Delivery {
                pickup: true,
                shipping,
                ships_to: vec![],
            },
            images: vec![],
            variants: vec![],
            stamp: None,
        }
        .sign(&key)
        .unwrap()
        .into_bytes()
    }

    #[test]
    fn a_listing_belongs_to_its_cell_ship_when_it_ships_and_all() {
        let shipped = listing("u33dbc", true);
        for area in ["u33d", "ship", "all"] {
            assert_eq!(check_topic(area, &shipped, NOW), None, "{area}");
        }
        let local = listing("u33dbc", false);
        assert_eq!(check_topic("u33d", &local, NOW), None);
        let wrong = check_topic("ship", &local, NOW).unwrap();
        assert_eq!(wrong.class(), "wrong_topic");
        let wrong = check_topic("u33e", &shipped, NOW).unwrap();
        assert_eq!(
            wrong.to_string(),
            "topic: a record of u33d, ship, all does not belong on the topic of u33e"
        );
    }

    #[test]
    fn a_forged_copy_on_a_wrong_topic_is_left_to_ingest() {
        let mut bytes = listing("u33dbc", false);
        let last = bytes.len() - 1;
        bytes[last] ^= 1;
        assert_eq!(check_topic("u33e", &bytes, NOW), None);
        assert_eq!(check_topic("u33e", b"not cbor", NOW), None);
    }

    #[test]
    fn a_withdrawal_follows_its_listing() {
        let key = SecretKey::from_bytes([7; 32]);
        let w = Withdrawal {
            item_key: "bike".into(),
            seq: 2,
            signed_at: NOW - 10,
            reason: WithdrawReason::Sold,
            area: Some(GeoHash::new("u33dbc").unwrap()),
            ships: false,
        };
        let bytes = w.sign(&key).unwrap().into_bytes();
        assert_eq!(check_topic("u33d", &bytes, NOW), None);
        assert!(check_topic("u33e", &bytes, NOW).is_some());
    }

    #[test]
    fn ingest_outcomes_that_gossip_rejects_carry_their_reason() {
        let bad_sig = IngestOutcome::rejected(ValidationError::BadSignature);
        assert_eq!(
            Rejection::of_outcome(&bad_sig).map(|r| r.class()),
            Some("signature")
        );
        let receipt = IngestOutcome::review_rejected(ReviewError::SignerNotAParty);
        assert_eq!(
            Rejection::of_outcome(&receipt).map(|r| r.class()),
            Some("review")
        );
        // Not rejections: a clock difference, an internal failure.
        let expired = IngestOutcome::rejected(ValidationError::Expired {
            expires_at: 1,
            now: 2,
        });
        assert_eq!(Rejection::of_outcome(&expired), None);
        let internal = IngestOutcome::Rejected {
            reason: "internal".into(),
            error: None,
        };
        assert_eq!(Rejection::of_outcome(&internal), None);
    }

    #[test]
    fn validation_errors_are_classified_by_what_failed() {
        let class = |e| Rejection::of_validation(e).class();
        assert_eq!(class(ValidationError::BadSignature), "signature");
        assert_eq!(class(ValidationError::NonCanonical), "decode");
        assert_eq!(
            class(ValidationError::TooLong {
                field: "title",
                limit: 200,
                actual: 300
            }),
            "validation"
        );
    }
}
