//! Wanted posts (kind 6) as other implementations and nodes rely on them: committed bytes, a
//! record like a listing (id, versions, withdrawal), and rejections that name the field.

use swapmeet_protocol::{
    decode_stored, geo, Category, Currency, EnvelopeKind, ListingId, Location, Price, Record,
    SecretKey, SignedEnvelope, ValidationError, Wanted, WithdrawReason, Withdrawal,
};

/// The time the vectors are checked at.
const NOW: u64 = 1_750_000_000;

fn buyer() -> SecretKey {
    SecretKey::from_bytes([2u8; 32])
}

fn wanted() -> Wanted {
    Wanted {
        item_key: "wanted-road-bike".into(),
        seq: 1,
        signed_at: 1_749_999_000,
        expires_at: 1_751_208_600,
        title: "56 cm road bike".into(),
        description: "Steel frame preferred.".into(),
        max_price: Price::Fixed {
            amount_minor: 30_000,
            currency: Currency::new("EUR").unwrap(),
        },
        category: Category::Bikes,
        location: Location {
            geohash: geo::GeoHash::new("u33dc0").unwrap(),
            place: Some("Kreuzberg".into()),
        },
    }
}

const WANTED_HEX: &str = concat!(
    "85010658208139770ea87d175f56a35466c34c7ecccb8d8a91b4ee37a25df60f5b8fc9b394586aaa0001017077616e74",
    "65642d726f61642d62696b650201031a684edd98041a68615298056f353620636d20726f61642062696b650676537465",
    "656c206672616d65207072656665727265642e0782197530634555520803098266753333646330694b7265757a626572",
    "67584078537264252ef32d02cab1fbe0a613c40516c14b4723116d29af72a0eb75f901828616290cca5dc58002c81238",
    "35501985fe66c85e9472471e796f7195c7b203",
);
const WANTED_HASH: &str = "dfeed1461d499aa84f7d7a2733ffdc578fafe24b71a46337a534ce683325c883";

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn unhex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

#[test]
fn signing_reproduces_the_committed_bytes() {
    let env = wanted().sign(&buyer()).unwrap();
    assert_eq!(hex(env.as_bytes()), WANTED_HEX);
    assert_eq!(env.hash().to_string(), WANTED_HASH);
}

#[test]
fn committed_bytes_decode_and_verify_as_a_record_of_kind_6() {
    let env = SignedEnvelope::decode(&unhex(WANTED_HEX)).unwrap();
    assert_eq!(env.kind(), EnvelopeKind::Wanted);
    assert_eq!(env.as_bytes()[2], 6, "the kind byte on the wire");
    let v = env.verify(NOW).unwrap();
    assert_eq!(v.payload(), &Record::Wanted(wanted()));
    assert_eq!(
        v.listing_id(),
        ListingId::derive(&buyer().public(), "wanted-road-bike")
    );
    // A record: routed by its cell, never to the shipping area.
    assert_eq!(v.payload().area().map(|g| g.as_str()), Some("u33dc0"));
    assert!(!v.payload().ships());
    let stored = decode_stored(env.as_bytes()).unwrap();
    assert_eq!(stored.record, Record::Wanted(wanted()));
}

#[test]
fn a_withdrawal_of_the_same_item_key_withdraws_it() {
    let w = Withdrawal {
        item_key: wanted().item_key,
        seq: 2,
        signed_at: NOW - 10,
        reason: WithdrawReason::Withdrawn,
        area: Some(wanted().location.geohash),
        ships: false,
    };
    let env = w.sign(&buyer()).unwrap();
    let v = env.verify(NOW).unwrap();
    let post = wanted().sign(&buyer()).unwrap().verify(NOW).unwrap();
    assert_eq!(v.listing_id(), post.listing_id());
    assert!(v.payload().seq() > post.payload().seq());
}

#[test]
fn invalid_posts_are_refused_naming_the_field() {
    let k = buyer();
    let mut w = wanted();
    w.title = String::new();
    assert_eq!(
        w.sign(&k).unwrap_err(),
        ValidationError::Empty { field: "title" }
    );
    let mut w = wanted();
    w.description = "x".repeat(5001);
    assert!(matches!(
        w.sign(&k).unwrap_err(),
        ValidationError::TooLong {
            field: "description",
            limit: 5000,
            actual: 5001
        }
    ));
    let mut w = wanted();
    w.expires_at = w.signed_at + 31 * 86_400;
    assert!(matches!(
        w.sign(&k).unwrap_err(),
        ValidationError::LifetimeTooLong { .. }
    ));
    let mut w = wanted();
    w.seq = 0;
    assert!(w.sign(&k).unwrap_err().to_string().contains("seq"));
    // Expired posts do not verify, as expired listings do not.
    let env = wanted().sign(&k).unwrap();
    assert!(matches!(
        env.verify(wanted().expires_at).unwrap_err(),
        ValidationError::Expired { .. }
    ));
}

#[test]
fn flipped_bytes_never_verify_and_never_panic() {
    let bytes = wanted().sign(&buyer()).unwrap().as_bytes().to_vec();
    for i in 0..bytes.len() {
        let mut b = bytes.clone();
        b[i] ^= 0x01;
        if let Ok(env) = SignedEnvelope::decode(&b) {
            assert!(env.verify(NOW).is_err(), "byte {i} flipped still verifies");
        }
    }
}
