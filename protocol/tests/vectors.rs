//! Committed test vectors: fixed keys and records, their exact bytes, ids and hashes. A change
//! to the wire format fails here, so it can only happen deliberately (update docs/PROTOCOL.md
//! and these vectors together). On a deliberate change, the failing assertions print the new
//! values to commit.

use swapmeet_protocol::{
    geo, Category, Condition, Currency, Delivery, EnvelopeKind, ImageRef, Listing, ListingId,
    Location, Price, Record, SecretKey, SignedEnvelope, Variant, VariantOption, WithdrawReason,
    Withdrawal,
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
        variants: vec![],
    }
}

fn eur(amount_minor: u64) -> Price {
    Price::Fixed {
        amount_minor,
        currency: Currency::new("EUR").unwrap(),
    }
}

fn option(name: &str, value: &str) -> VariantOption {
    VariantOption {
        name: name.into(),
        value: value.into(),
    }
}

/// A listing with variants (payload version 2): every variant field, a variant with its own
/// price, one without a SKU, one out of stock.
fn listing_with_variants() -> Listing {
    Listing {
        item_key: "magento:WH02".into(),
        seq: 3,
        signed_at: 1_749_999_000,
        expires_at: 1_751_208_600,
        title: "Hera Pullover Hoodie".into(),
        description: String::new(),
        price: eur(4800),
        condition: Condition::New,
        category: Category::ClothingShoes,
        tags: vec![],
        quantity: 7,
        location: None,
        delivery: Delivery {
            pickup: false,
            shipping: true,
            ships_to: vec![],
        },
        images: vec![],
        variants: vec![
            Variant {
                options: vec![option("size", "XS"), option("color", "Blue")],
                price: None,
                quantity: 4,
                sku: Some("WH02-XS-Blue".into()),
            },
            Variant {
                options: vec![option("size", "M"), option("color", "Green")],
                price: Some(eur(5200)),
                quantity: 3,
                sku: None,
            },
            Variant {
                options: vec![option("size", "L"), option("color", "Orange")],
                price: Some(eur(5600)),
                quantity: 0,
                sku: Some("WH02-L-Orange".into()),
            },
        ],
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

const VARIANTS_PAYLOAD_HEX: &str = concat!(
    "ac0002016c6d6167656e746f3a574830320203031a684edd98041a68615298057448657261205075",
    "6c6c6f76657220486f6f64696507821912c063455552080109050b070d8202800f83a30082826473",
    "697a656258538265636f6c6f7264426c75650204036c574830322d58532d426c7565a30082826473",
    "697a65614d8265636f6c6f7265477265656e0182191450634555520203a40082826473697a65614c",
    "8265636f6c6f72664f72616e676501821915e0634555520200036d574830322d4c2d4f72616e6765",
);
const VARIANTS_HEX: &str = concat!(
    "85010158208a88e3dd7409f195fd52db2d3cba5d72ca6709bf1d94121bf3748801b40f6f5c58c8ac",
    "0002016c6d6167656e746f3a574830320203031a684edd98041a686152980574486572612050756c",
    "6c6f76657220486f6f64696507821912c063455552080109050b070d8202800f83a3008282647369",
    "7a656258538265636f6c6f7264426c75650204036c574830322d58532d426c7565a3008282647369",
    "7a65614d8265636f6c6f7265477265656e0182191450634555520203a40082826473697a65614c82",
    "65636f6c6f72664f72616e676501821915e0634555520200036d574830322d4c2d4f72616e676558",
    "40a15b328176b1a8e681d9e55700613b19cf919754533978b5a99682a2ef3204eddf0d8640b789ee",
    "4783d6af42df83e64edca89a3ffe20485c45df70737c703b0e",
);
const VARIANTS_HASH: &str = "5a156757b2daec8c133a2ef73366fbb173bdccdf2aa98cfffdedf61a5dbad77a";

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

#[test]
fn listing_with_variants_reproduces_the_committed_bytes() {
    let k = seller();
    let l = listing_with_variants();
    assert_eq!(l.payload_version(), 2);
    let env = l.sign(&k).unwrap();
    assert_eq!(hex(env.payload_bytes()), VARIANTS_PAYLOAD_HEX);
    assert_eq!(hex(env.as_bytes()), VARIANTS_HEX);
    assert_eq!(env.hash().to_string(), VARIANTS_HASH);
}

#[test]
fn committed_variant_bytes_decode_and_verify() {
    let env = SignedEnvelope::decode(&unhex(VARIANTS_HEX)).unwrap();
    let v = env.verify(NOW).unwrap();
    assert_eq!(v.payload(), &Record::Listing(listing_with_variants()));
    let Record::Listing(l) = v.payload() else {
        unreachable!()
    };
    // What is in stock: 48 and 52 EUR (the 56 EUR variant is sold out).
    assert_eq!(l.price_range(), (eur(4800), eur(5200)));
}

#[test]
fn a_listing_without_variants_stays_version_1() {
    // The first byte pair of every version-1 payload map: key 0, version 1.
    let env = listing().sign(&seller()).unwrap();
    assert_eq!(listing().payload_version(), 1);
    assert_eq!(&env.payload_bytes()[1..3], &[0x00, 0x01]);
}
