//! Properties: valid records round-trip exactly; any change to signed bytes is caught;
//! decoding arbitrary bytes never panics; prices print and parse back.

use proptest::prelude::*;
use swapmeet_protocol::{
    decode_stored, geo, glance_stored, stored_signer, verify_batch, Category, Condition,
    CountryCode, Currency, Delivery, Listing, Location, Price, Record, SecretKey, SignedEnvelope,
    StoredGlance, Variant, VariantOption, WithdrawReason, Withdrawal,
};

const NOW: u64 = 1_750_000_000;

fn text(max: usize) -> impl Strategy<Value = String> {
    proptest::collection::vec(
        prop_oneof![
            Just('a'),
            Just('Z'),
            Just(' '),
            Just('é'),
            Just('€'),
            Just('7')
        ],
        1..max,
    )
    .prop_map(|v| v.into_iter().collect::<String>())
    .prop_filter("not blank", |s| !s.trim().is_empty())
}

fn listing() -> impl Strategy<Value = Listing> {
    (
        (
            "[a-z0-9-]{1,40}",
            1u64..u64::MAX / 2,
            0u64..86_400,
            1u64..(30 * 86_400),
        ),
        text(140),
        proptest::option::of(text(300)),
        prop_oneof![
            Just(None),
            (
                1u64..10_000_000,
                prop_oneof![Just("EUR"), Just("JPY"), Just("KWD"), Just("USD")]
            )
                .prop_map(Some)
        ],
        0usize..5,
        0usize..20,
        proptest::collection::vec("[a-z]{1,10}", 0..10),
        1u32..1000,
        (
            -80.0f64..80.0,
            -179.0f64..179.0,
            4usize..=6,
            proptest::option::of("[A-Za-z ]{1,20}"),
        ),
        (
            any::<bool>(),
            any::<bool>(),
            proptest::collection::vec("[A-Z]{2}", 0..5),
        ),
    )
        .prop_map(
            |(
                (key, seq, age, life),
                title,
                desc,
                price,
                cond,
                cat,
                tags,
                quantity,
                (lat, lon, prec, place),
                (pickup, shipping, to),
            )| {
                let signed_at = NOW - age;
                let shipping = shipping || !pickup;
                Listing {
                    item_key: key,
                    seq,
                    signed_at,
                    expires_at: NOW + life.min(30 * 86_400 - age),
                    title,
                    description: desc.unwrap_or_default(),
                    price: match price {
                        None => Price::Free,
                        Some((a, c)) => Price::Fixed {
                            amount_minor: a,
                            currency: Currency::new(c).unwrap(),
                        },
                    },
                    condition: Condition::ALL[cond],
                    category: Category::ALL[cat],
                    tags,
                    quantity,
                    location: Some(Location {
                        geohash: geo::encode(lat, lon, prec),
                        place: place.filter(|p| !p.trim().is_empty()),
                    }),
                    delivery: Delivery {
                        pickup,
                        shipping,
                        ships_to: if shipping {
                            to.iter().map(|c| CountryCode::new(c).unwrap()).collect()
                        } else {
                            vec![]
                        },
                    },
                    images: vec![],
                    variants: vec![],
                    stamp: None,
                }
            },
        )
}

/// Listings with 1 to 40 variants: sizes and colours, some with their own price, some out of
/// stock, some with a SKU (at least one in stock, as validation requires).
fn listing_with_variants() -> impl Strategy<Value = Listing> {
    (
        listing(),
        proptest::collection::vec(
            (
                0u32..5,
                proptest::option::of(1u64..1_000_000),
                proptest::option::of("[A-Z0-9-]{1,20}"),
                text(20),
            ),
            1..40,
        ),
    )
        .prop_map(|(mut l, vs)| {
            let currency = match l.price {
                Price::Fixed { currency, .. } => currency,
                Price::Free => Currency::new("EUR").unwrap(),
            };
            l.variants = vs
                .into_iter()
                .enumerate()
                .map(|(i, (quantity, price, sku, colour))| Variant {
                    options: vec![
                        VariantOption {
                            name: "size".into(),
                            value: format!("{i}"),
                        },
                        VariantOption {
                            name: "colour".into(),
                            value: colour,
                        },
                    ],
                    price: price
                        .map(|amount_minor| Price::Fixed {
                            amount_minor,
                            currency,
                        })
                        .filter(|p| *p != l.price),
                    quantity,
                    sku,
                })
                .collect();
            if l.variants.iter().all(|v| v.quantity == 0) {
                l.variants[0].quantity = 1;
            }
            l.quantity = l.variants.iter().map(|v| v.quantity).sum();
            l
        })
}

/// A signed listing decodes, verifies (alone and in a batch) and glances back as itself.
fn round_trip(l: Listing, k: SecretKey) -> Result<(), TestCaseError> {
    let env = l.sign(&k).unwrap();
    let again = SignedEnvelope::decode(env.as_bytes()).unwrap();
    let v = again.verify(NOW).unwrap();
    prop_assert_eq!(v.payload(), &Record::Listing(l.clone()));
    prop_assert_eq!(v.listing_id(), l.id(&k.public()));
    let batch = verify_batch(vec![again], NOW);
    prop_assert!(batch[0].is_ok());
    // What a node reads back from its own store agrees with the verified decoding.
    let public = *k.public().as_bytes();
    let stored = decode_stored(env.as_bytes()).unwrap();
    prop_assert_eq!(&stored.record, &Record::Listing(l.clone()));
    prop_assert_eq!(stored.signer, public);
    prop_assert_eq!(stored_signer(env.as_bytes()).unwrap(), public);
    let (signer, glance) = glance_stored(env.as_bytes()).unwrap();
    prop_assert_eq!(signer, public);
    let StoredGlance::Listing(g) = glance else {
        return Err(TestCaseError::fail("a listing glanced as a withdrawal"));
    };
    prop_assert_eq!(g, l.glance());
    Ok(())
}

fn key() -> impl Strategy<Value = SecretKey> {
    any::<[u8; 32]>().prop_map(SecretKey::from_bytes)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn listings_round_trip(l in listing(), k in key()) {
        round_trip(l, k)?;
    }

    #[test]
    fn listings_with_variants_round_trip(l in listing_with_variants(), k in key()) {
        prop_assert_eq!(l.payload_version(), 2);
        round_trip(l.clone(), k)?;
        // What a hit shows is the price range of what is in stock.
        let g = l.glance();
        let in_stock: Vec<u64> = l
            .variants
            .iter()
            .filter(|v| v.quantity > 0)
            .map(|v| match v.price.unwrap_or(l.price) {
                Price::Free => 0,
                Price::Fixed { amount_minor, .. } => amount_minor,
            })
            .collect();
        let amount = |p: Price| match p {
            Price::Free => 0,
            Price::Fixed { amount_minor, .. } => amount_minor,
        };
        prop_assert_eq!(amount(g.price), *in_stock.iter().min().unwrap());
        prop_assert_eq!(
            g.price_max.map_or(amount(g.price), amount),
            *in_stock.iter().max().unwrap()
        );
    }

    #[test]
    fn any_mutation_of_a_listing_with_variants_fails(l in listing_with_variants(), k in key(), at in any::<prop::sample::Index>(), bit in 0u8..8) {
        let env = l.sign(&k).unwrap();
        let mut bytes = env.as_bytes().to_vec();
        let i = at.index(bytes.len());
        bytes[i] ^= 1 << bit;
        let ok = SignedEnvelope::decode(&bytes).and_then(|e| e.verify(NOW));
        prop_assert!(ok.is_err());
    }

    #[test]
    fn withdrawals_round_trip(key_ in "[a-z]{1,20}", seq in 1u64..1000, sold in any::<bool>(), ships in any::<bool>(), k in key()) {
        let w = Withdrawal {
            item_key: key_,
            seq,
            signed_at: NOW - 5,
            reason: if sold { WithdrawReason::Sold } else { WithdrawReason::Withdrawn },
            area: Some(geo::encode(52.5, 13.4, 5)),
            ships,
        };
        let env = w.sign(&k).unwrap();
        let v = SignedEnvelope::decode(env.as_bytes()).unwrap().verify(NOW).unwrap();
        prop_assert_eq!(v.payload(), &Record::Withdrawal(w));
    }

    #[test]
    fn any_mutation_fails(l in listing(), k in key(), at in any::<prop::sample::Index>(), bit in 0u8..8) {
        let env = l.sign(&k).unwrap();
        let mut bytes = env.as_bytes().to_vec();
        let i = at.index(bytes.len());
        bytes[i] ^= 1 << bit;
        let rejected = match SignedEnvelope::decode(&bytes) {
            Err(_) => true,
            Ok(e) => e.verify(NOW).is_err() && verify_batch(vec![e], NOW)[0].is_err(),
        };
        prop_assert!(rejected, "a flipped bit at {} was accepted", i);
    }

    #[test]
    fn any_truncation_fails(l in listing(), k in key(), cut in any::<prop::sample::Index>()) {
        let env = l.sign(&k).unwrap();
        let bytes = env.as_bytes();
        let n = cut.index(bytes.len());
        prop_assert!(SignedEnvelope::decode(&bytes[..n]).is_err());
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..2048)) {
        if let Ok(e) = SignedEnvelope::decode(&bytes) {
            let _ = e.verify(NOW);
        }
    }

    #[test]
    fn prices_print_and_parse_back(amount in 1u64..10_000_000_000, c in prop_oneof![Just("EUR"), Just("JPY"), Just("KWD"), Just("GBP")]) {
        let p = Price::Fixed { amount_minor: amount, currency: Currency::new(c).unwrap() };
        prop_assert_eq!(Price::parse(&p.to_string(), None), Ok(p));
    }
}

#[test]
fn a_signature_from_another_key_fails() {
    let l = Listing {
        item_key: "x".into(),
        seq: 1,
        signed_at: NOW,
        expires_at: NOW + 100,
        title: "Lamp".into(),
        description: String::new(),
        price: Price::Free,
        condition: Condition::Good,
        category: Category::Other,
        tags: vec![],
        quantity: 1,
        location: Some(Location {
            geohash: geo::encode(52.5, 13.4, 6),
            place: None,
        }),
        delivery: Delivery {
            pickup: true,
            shipping: false,
            ships_to: vec![],
        },
        images: vec![],
        variants: vec![],
        stamp: None,
    };
    let a = l.sign(&SecretKey::from_bytes([1; 32])).unwrap();
    let b = l.sign(&SecretKey::from_bytes([2; 32])).unwrap();
    // Graft b's signature onto a's bytes.
    let mut forged = a.as_bytes().to_vec();
    let n = forged.len();
    forged[n - 64..].copy_from_slice(&b.as_bytes()[b.as_bytes().len() - 64..]);
    let e = SignedEnvelope::decode(&forged).unwrap();
    assert!(e.verify(NOW).is_err());
    assert!(verify_batch(vec![e, b.clone()], NOW)[0].is_err());
    assert!(verify_batch(vec![b], NOW)[0].is_ok());
}
