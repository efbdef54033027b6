//! Committed test vectors: fixed keys and records, their exact bytes, ids and hashes. A change
//! to the wire format fails here, so it can only happen deliberately (update docs/PROTOCOL.md
//! and these vectors together). On a deliberate change, the failing assertions print the new
//! values to commit.

use swapmeet_protocol::{
    geo, Category, Condition, Currency, Delivery, EnvelopeKind, ImageRef, Listing, ListingId,
    Location, Price, Record, SecretKey, SignedEnvelope, WithdrawReason, Withdrawal,
};

/// The time the vectors are checked at.
const NOW: u64 = 1_750_000_000;

fn seller() -> SecretKey {
    SecretKey::from_bytes([1u8; 32])
}

fn listing() -> Listing {
    Listing {
        item_key: "bike-1".into(),
        seq: 1,
        signed_at: 1_749_999_000,
        expires_at: 1_751_208_600,
        title: "Road bike, 56 cm".into(),
        description: "Steel frame.\nNew tyres.".into(),
        price: Price::Fixed {
            amount_minor: 25_000,
            currency: Currency::new("EUR").unwrap(),
        },
        condition: Condition::Good,
        category: Category::Bikes,
        tags: vec!["road".into(), "steel".into()],
        quantity: 1,
        location: Some(Location {
            geohash: geo::GeoHash::new("u33dc0").unwrap(),
            place: Some("Kreuzberg".into()),
        }),
        delivery: Delivery {
            pickup: true,
            shipping: false,
            ships_to: vec![],
        },
        images: vec![ImageRef {
            hash: [9u8; 32],
            mime: "image/jpeg".into(),
            size: 123_456,
        }],
    }
}

fn withdrawal() -> Withdrawal {
    Withdrawal {
        item_key: "bike-1".into(),
        seq: 2,
        signed_at: 1_749_999_500,
        reason: WithdrawReason::Sold,
        area: Some(geo::GeoHash::new("u33dc0").unwrap()),
        ships: false,
    }
}

const SELLER_ID: &str = "smrkeohxlubhyzl7ks3mwtzos5olfgocn7dwkbeg7toseadnapn5oa";
const LISTING_ID: &str = "43pcp7j3ji3c3ijlq4ut3v2zgi";
const LISTING_HEX: &str = concat!(
    "85010158208a88e3dd7409f195fd52db2d3cba5d72ca6709bf1d94121bf3748801b40f6f5c58aaae",
    "0001016662696b652d310201031a684edd98041a686152980570526f61642062696b652c20353620",
    "636d0677537465656c206672616d652e0a4e65772074797265732e07821961a86345555208030903",
    "0a8264726f616465737465656c0c8266753333646330694b7265757a626572670d8201800e818358",
    "2009090909090909090909090909090909090909090909090909090909090909096a696d6167652f",
    "6a7065671a0001e2405840444241948b84196db7929c82d501c7448c8350a350e3fd86968034d226",
    "6b260b3aa0abdc50768bd36de086c8032bb9617b92dd9655ba6ef3e1b1c6b16d817007",
);
const LISTING_HASH: &str = "d232b641e8497063ff8c479433655efe9feeb98e2d0cc314ea78764d98098cac";
const WITHDRAWAL_HEX: &str = concat!(
    "85010258208a88e3dd7409f195fd52db2d3cba5d72ca6709bf1d94121bf3748801b40f6f5c581da6",
    "0001016662696b652d310202031a684edf8c04010566753333646330584001b68e058a013774350d",
    "e63324dc5425d85badd9814b8b04b86cac0755c95a4e54c3507f330bfc00c863a474fcb7423f4cbe",
    "e4f685f94b1119d7a0cda15e1a02",
);
const WITHDRAWAL_HASH: &str = "84dcc9d1858de9ce196a0cc7d6a525b7c735269e6b6ad0c71f9c7fb8c3a59c17";

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
    let k = seller();
    assert_eq!(k.public().to_string(), SELLER_ID);
    assert_eq!(
        ListingId::derive(&k.public(), "bike-1").to_string(),
        LISTING_ID
    );
    // ed25519 signatures are deterministic, so the whole envelope is.
    let l = listing().sign(&k).unwrap();
    assert_eq!(hex(l.as_bytes()), LISTING_HEX);
    assert_eq!(l.hash().to_string(), LISTING_HASH);
    let w = withdrawal().sign(&k).unwrap();
    assert_eq!(hex(w.as_bytes()), WITHDRAWAL_HEX);
    assert_eq!(w.hash().to_string(), WITHDRAWAL_HASH);
}

#[test]
fn committed_bytes_decode_and_verify() {
    let env = SignedEnvelope::decode(&unhex(LISTING_HEX)).unwrap();
    assert_eq!(env.kind(), EnvelopeKind::Listing);
    let v = env.verify(NOW).unwrap();
    assert_eq!(v.listing_id().to_string(), LISTING_ID);
    assert_eq!(v.signer().to_string(), SELLER_ID);
    assert_eq!(v.payload(), &Record::Listing(listing()));

    let env = SignedEnvelope::decode(&unhex(WITHDRAWAL_HEX)).unwrap();
    let v = env.verify(NOW).unwrap();
    assert_eq!(v.listing_id().to_string(), LISTING_ID);
    assert_eq!(v.payload(), &Record::Withdrawal(withdrawal()));
}
