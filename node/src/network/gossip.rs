//! Gossip: new listings travel on gossipsub topics, one per area.
//!
//! - **Topics** are `/swapmeet/listings/1/<area>` as plain (identity-hashed) topic strings, so a
//!   peer written in another language computes them without our code. An area is a geohash cell
//!   of [`AREA_PRECISION`] characters, [`SHIPPING_AREA`] for listings that ship, or
//!   [`GOSSIP_ALL_AREA`], which carries every listing.
//! - **Publishing**: a listing goes to the topic of its cell, to the shipping topic when it ships,
//!   and to the `all` topic. Three messages instead of one is the price of letting a node with no
//!   home location follow everything without subscribing to a million cell topics, and of letting
//!   located nodes ignore the rest of the world: nodes that do not subscribe to `all` never
//!   receive or relay it (gossipsub only forwards along a topic's own mesh).
//! - **Message id** = SHA-256 of the data (for a valid message, the envelope hash) followed by the
//!   topic's area tag. Content-derived, so the same listing relayed by different peers, or
//!   re-published by another node, is one message; per topic, because a message id already seen
//!   cannot be published again, and a listing must go out on several topics.
//! - **Reviews** (kind 5) travel on the same topics: the topics of the deal's listing (its
//!   cell, `ship` when it ships, as the publishing node knows the listing) and `all`. Nodes
//!   keep every valid review whatever topic brought it (reputation belongs to a key, not to an
//!   area); reviews of other areas reach a located node by sync.
//! - **Topics are checked** (`gossip/rejection.rs`): a record is accepted only on the topics
//!   it is published to (its cell, `ship` when it ships, `all`); a valid record on another
//!   topic is rejected before ingest, so it is neither stored from that message nor relayed.
//! - **Validation** (`validate_messages`): nothing is forwarded before it passed ingest. Stored
//!   or already stored: accept (forward). Older than what the node has, or of an area the node
//!   does not follow, or failing only a clock rule (expired, from the future: the sender's clock
//!   may differ from ours): ignore. Anything else invalid: reject, which counts against the
//!   sender in its peer score.

mod rejection;

use std::time::Duration;

use libp2p::gossipsub::{
    self, IdentTopic, MessageAcceptance, MessageId, PeerScoreParams, PeerScoreThresholds,
    TopicHash, TopicScoreParams, TopicSubscriptionFilter,
};
use sha2::{Digest, Sha256};
use swapmeet_protocol::limits::{
    GOSSIP_ALL_AREA, GOSSIP_MAX_TRANSMIT_BYTES, PROTOCOL_GOSSIP_PREFIX,
};
use swapmeet_protocol::{geo, ReviewError, ValidationError};

use crate::engine::AreaFilter;
use crate::ingest::IngestOutcome;
use crate::store::{AREA_PRECISION, SHIPPING_AREA};

pub use rejection::{check_topic, record_topics, Rejection};

/// Most cells a node follows. A 50 km radius is 20 to 45 cells depending on latitude; larger
/// radii are shrunk until they fit, which keeps a node's subscriptions (cells + shipping) under
/// the topic cap peers apply ([`MAX_PEER_TOPICS`]) and its store regional.
pub const MAX_FOLLOWED_CELLS: usize = 96;

/// Most topics a remote peer may be subscribed to before its subscriptions are refused, and most
/// subscriptions in one RPC. Raised deliberately from gossipsub's usual 100 so that a node
/// following [`MAX_FOLLOWED_CELLS`] plus the shipping and `all` topics fits with room to spare.
pub const MAX_PEER_TOPICS: usize = 128;

/// The gossipsub topic of an area tag.
pub fn topic(area: &str) -> IdentTopic {
    IdentTopic::new(format!("{PROTOCOL_GOSSIP_PREFIX}{area}"))
}

/// Whether `s` is an area tag: a geohash cell of [`AREA_PRECISION`], `ship` or `all`.
pub fn is_area_tag(s: &str) -> bool {
    s == SHIPPING_AREA
        || s == GOSSIP_ALL_AREA
        || (s.len() == AREA_PRECISION && geo::GeoHash::new(s).is_ok())
}

/// The area tag of a swapmeet topic, if it is one.
pub fn area_of_topic(topic: &TopicHash) -> Option<&str> {
    topic
        .as_str()
        .strip_prefix(PROTOCOL_GOSSIP_PREFIX)
        .filter(|a| is_area_tag(a))
}

/// The message id: SHA-256 of the data followed by the topic's area tag (or the whole topic
/// string for a topic that is not ours).
pub fn message_id(msg: &gossipsub::Message) -> MessageId {
    let mut id = Sha256::digest(&msg.data).to_vec();
    let topic = msg.topic.as_str();
    id.extend_from_slice(
        topic
            .strip_prefix(PROTOCOL_GOSSIP_PREFIX)
            .unwrap_or(topic)
            .as_bytes(),
    );
    MessageId::new(&id)
}

/// The areas a record with these area tags is published to: its own plus `all`.
pub fn publish_areas(areas: &[String]) -> Vec<String> {
    let mut out: Vec<String> = areas.iter().filter(|a| is_area_tag(a)).cloned().collect();
    out.push(GOSSIP_ALL_AREA.to_string());
    out
}

/// What the node follows: the cells around its home, the shipping area, or everything.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct Following {
    /// Cells followed, sorted (empty when following everything).
    pub cells: Vec<String>,
    /// Whether listings that ship are followed.
    pub shipping: bool,
    /// Whether the node follows every listing (no home location).
    pub everything: bool,
    /// The radius actually used, in km (the configured one unless it was shrunk to fit
    /// [`MAX_FOLLOWED_CELLS`]).
    pub radius_km: f64,
}

impl Following {
    /// Follows the cells within `radius_km` of `home` plus the shipping area; with no home,
    /// everything.
    pub fn around(home: Option<(f64, f64)>, radius_km: f64) -> Following {
        let Some((lat, lon)) = home else {
            return Following {
                cells: Vec::new(),
                shipping: true,
                everything: true,
                radius_km: 0.0,
            };
        };
        let mut radius = if radius_km.is_finite() {
            radius_km.clamp(0.0, 20_000.0)
        } else {
            0.0
        };
        let mut cells = geo::cells_within(lat, lon, radius, AREA_PRECISION);
        while cells.len() > MAX_FOLLOWED_CELLS {
            radius *= 0.85;
            cells = geo::cells_within(lat, lon, radius, AREA_PRECISION);
        }
        if radius < radius_km {
            tracing::warn!(
                configured_km = radius_km,
                used_km = radius,
                "follow_radius_km is too large for the topic cap; following a smaller radius"
            );
        }
        let mut cells: Vec<String> = cells.iter().map(|c| c.as_str().to_string()).collect();
        if cells.is_empty() {
            cells.push(geo::encode(lat, lon, AREA_PRECISION).as_str().to_string());
        }
        Following {
            cells,
            shipping: true,
            everything: false,
            radius_km: radius,
        }
    }

    /// The area tags the node follows: it subscribes to their topics, syncs their sets and
    /// announces them in the DHT. `all` for a node that follows everything.
    pub fn areas(&self) -> Vec<String> {
        if self.everything {
            return vec![GOSSIP_ALL_AREA.to_string()];
        }
        let mut t = self.cells.clone();
        if self.shipping {
            t.push(SHIPPING_AREA.to_string());
        }
        t
    }

    /// The engine's filter: `None` (keep everything) for a node that follows everything.
    pub fn area_filter(&self) -> Option<AreaFilter> {
        if self.everything {
            return None;
        }
        Some(AreaFilter {
            areas: self.cells.iter().cloned().collect(),
            shipping: self.shipping,
        })
    }
}

/// How gossipsub is told to treat a received message, from its ingest outcome.
pub fn acceptance(outcome: &IngestOutcome) -> MessageAcceptance {
    match outcome {
        // Already stored (it came on another topic, or by sync) is still a valid message on
        // this topic: forward it. Gossipsub's message id includes the topic, so each node
        // forwards a (listing, topic) pair once.
        IngestOutcome::Stored { .. }
        | IngestOutcome::Duplicate { .. }
        | IngestOutcome::ReviewStored { .. }
        | IngestOutcome::ReviewDuplicate { .. } => MessageAcceptance::Accept,
        // Beyond the seller's allowance as this node holds the seller's listings: not relayed,
        // but the sender may not have the withdrawal that freed a place yet, so no penalty.
        IngestOutcome::Stale { .. }
        | IngestOutcome::OutOfArea { .. }
        | IngestOutcome::OverAllowance { .. }
        // The user's own choice: not relayed, and no fault of the sender.
        | IngestOutcome::Blocked { .. }
        | IngestOutcome::ReviewBlocked { .. }
        | IngestOutcome::ReviewStale { .. } => MessageAcceptance::Ignore,
        // A review "from the future" may be the sender's clock, as for listings.
        IngestOutcome::ReviewRejected {
            error: ReviewError::Invalid(ValidationError::FromFuture { .. }),
            ..
        } => MessageAcceptance::Ignore,
        // No valid receipt, a third party, the wrong party, a bad signature: the sender's
        // fault, like an invalid listing.
        IngestOutcome::ReviewRejected { .. } => MessageAcceptance::Reject,
        IngestOutcome::Rejected {
            error: Some(ValidationError::Expired { .. } | ValidationError::FromFuture { .. }),
            ..
        } => MessageAcceptance::Ignore,
        // An internal failure (no structured error) is not the sender's fault.
        IngestOutcome::Rejected { error: None, .. } => MessageAcceptance::Ignore,
        IngestOutcome::Rejected { .. } => MessageAcceptance::Reject,
    }
}

/// The gossipsub configuration.
pub fn config(heartbeat: Duration) -> Result<gossipsub::Config, gossipsub::ConfigBuilderError> {
    gossipsub::ConfigBuilder::default()
        .validation_mode(gossipsub::ValidationMode::Strict)
        .validate_messages()
        .message_id_fn(message_id)
        .heartbeat_interval(heartbeat)
        // Publishing goes to every connected subscriber, not just the mesh: a new listing
        // reaches the seller's neighbours in one hop.
        .flood_publish(true)
        .max_transmit_size(GOSSIP_MAX_TRANSMIT_BYTES)
        // Long enough that a listing relayed around the mesh is recognised as seen.
        .duplicate_cache_time(Duration::from_secs(120))
        .build()
}

/// Scoring of one topic. Deliberately gentle on quiet topics (a marketplace cell may see a
/// listing an hour): no penalty for few mesh deliveries, a small reward for time in the mesh
/// and for first deliveries, and a steep one for invalid messages: one costs 10 points (the
/// gossip threshold), three put the peer under the graylist threshold. The penalty halves in
/// about two minutes.
pub fn topic_score_params() -> TopicScoreParams {
    TopicScoreParams {
        topic_weight: 1.0,
        time_in_mesh_weight: 0.01,
        time_in_mesh_quantum: Duration::from_secs(1),
        time_in_mesh_cap: 100.0,
        first_message_deliveries_weight: 0.5,
        first_message_deliveries_decay: 0.99,
        first_message_deliveries_cap: 20.0,
        mesh_message_deliveries_weight: 0.0,
        mesh_failure_penalty_weight: 0.0,
        invalid_message_deliveries_weight: -10.0,
        invalid_message_deliveries_decay: 0.995,
        ..TopicScoreParams::default()
    }
}

/// Peer scoring for the topics followed.
pub fn score_params(topics: &[String]) -> (PeerScoreParams, PeerScoreThresholds) {
    let mut params = PeerScoreParams {
        // Several nodes behind one address are normal on a LAN; only loopback is exempt from
        // the colocation penalty (tests and benchmarks run many nodes on 127.0.0.1).
        ip_colocation_factor_whitelist: [
            std::net::IpAddr::from([127, 0, 0, 1]),
            std::net::IpAddr::from(std::net::Ipv6Addr::LOCALHOST),
        ]
        .into_iter()
        .collect(),
        ..PeerScoreParams::default()
    };
    for t in topics {
        params.topics.insert(topic(t).hash(), topic_score_params());
    }
    (params, PeerScoreThresholds::default())
}

/// Accepts only swapmeet topics, and at most [`MAX_PEER_TOPICS`] of them per peer.
pub type SubscriptionFilter = gossipsub::MaxCountSubscriptionFilter<SwapmeetTopics>;

/// The subscription filter.
pub fn subscription_filter() -> SubscriptionFilter {
    gossipsub::MaxCountSubscriptionFilter {
        filter: SwapmeetTopics,
        max_subscribed_topics: MAX_PEER_TOPICS,
        max_subscriptions_per_request: MAX_PEER_TOPICS,
    }
}

/// Allows the swapmeet listing topics and nothing else.
#[derive(Clone, Copy, Debug, Default)]
pub struct SwapmeetTopics;

impl TopicSubscriptionFilter for SwapmeetTopics {
    fn can_subscribe(&mut self, topic: &TopicHash) -> bool {
        area_of_topic(topic).is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fifty_km_around_berlin_fits_the_cap() {
        let f = Following::around(Some((52.52, 13.405)), 50.0);
        assert!(f.cells.len() > 10 && f.cells.len() <= MAX_FOLLOWED_CELLS);
        assert_eq!(f.radius_km, 50.0);
        assert!(f.cells.contains(&"u33d".to_string()));
        assert!(f.areas().len() <= MAX_PEER_TOPICS);
        // Munich is far away.
        let munich = geo::encode(48.137, 11.575, AREA_PRECISION);
        assert!(!f.cells.contains(&munich.as_str().to_string()));
    }

    #[test]
    fn a_huge_radius_is_shrunk() {
        let f = Following::around(Some((52.52, 13.405)), 2000.0);
        assert!(f.cells.len() <= MAX_FOLLOWED_CELLS);
        assert!(f.radius_km < 2000.0 && f.radius_km > 10.0);
    }

    #[test]
    fn no_home_follows_everything() {
        let f = Following::around(None, 50.0);
        assert!(f.everything);
        assert_eq!(f.areas(), vec!["all".to_string()]);
        assert!(f.area_filter().is_none());
    }

    #[test]
    fn topics_round_trip_and_foreign_topics_are_refused() {
        let t = topic("u33d");
        assert_eq!(t.hash().as_str(), "/swapmeet/listings/1/u33d");
        assert_eq!(area_of_topic(&t.hash()), Some("u33d"));
        assert_eq!(area_of_topic(&topic("ship").hash()), Some("ship"));
        assert_eq!(area_of_topic(&topic("all").hash()), Some("all"));
        assert_eq!(area_of_topic(&topic("u33").hash()), None);
        assert_eq!(area_of_topic(&topic("aaaa").hash()), None);
        assert!(!SwapmeetTopics.can_subscribe(&IdentTopic::new("chat").hash()));
    }

    #[test]
    fn message_ids_depend_on_content_and_topic_only() {
        let m = |data: &[u8], area: &str, seq: u64| gossipsub::Message {
            source: None,
            data: data.to_vec(),
            sequence_number: Some(seq),
            topic: topic(area).hash(),
        };
        assert_eq!(
            message_id(&m(b"x", "u33d", 1)),
            message_id(&m(b"x", "u33d", 2))
        );
        assert_ne!(
            message_id(&m(b"x", "u33d", 1)),
            message_id(&m(b"x", "all", 1))
        );
        assert_ne!(
            message_id(&m(b"x", "u33d", 1)),
            message_id(&m(b"y", "u33d", 1))
        );
    }

    #[test]
    fn invalid_reviews_count_against_the_sender_unless_only_the_clock_differs() {
        use swapmeet_protocol::{DealError, DealId, Party, SecretKey};
        let by = SecretKey::from_bytes([1; 32]).public();
        let deal = DealId([2; 32]);
        let rejected = |e: ReviewError| acceptance(&IngestOutcome::review_rejected(e));
        for e in [
            ReviewError::Receipt(DealError::BadSignature {
                party: Party::Seller,
            }),
            ReviewError::SignerNotAParty,
            ReviewError::NotAboutTheOtherParty,
        ] {
            assert_eq!(rejected(e), MessageAcceptance::Reject);
        }
        let future = ValidationError::FromFuture {
            field: "written_at",
            signed_at: 2_000,
            now: 1_000,
            max_skew: 600,
        };
        assert_eq!(
            rejected(ReviewError::Invalid(future)),
            MessageAcceptance::Ignore
        );
        let stale = IngestOutcome::ReviewStale {
            deal,
            by,
            current: swapmeet_protocol::EnvelopeHash([3; 32]),
        };
        assert_eq!(acceptance(&stale), MessageAcceptance::Ignore);
        let dup = IngestOutcome::ReviewDuplicate { deal, by };
        assert_eq!(acceptance(&dup), MessageAcceptance::Accept);
    }

    #[test]
    fn score_parameters_are_valid() {
        let (p, t) = score_params(&["u33d".into(), "ship".into()]);
        p.validate().unwrap();
        t.validate().unwrap();
        config(Duration::from_millis(300)).unwrap();
    }
}
