//! Reviews as anyone who reads them relies on: bound to a real deal by its co-signed receipt,
//! written by a party about the other, one per party per deal, and never a listing.

use swapmeet_protocol::{
    decode_stored, review_replaces, Currency, DealError, DealReceipt, DealTerms, EnvelopeHash,
    Party, Review, ReviewError, SecretKey, SignedEnvelope, ValidationError,
};

const NOW: u64 = 1_750_000_000;

fn seller() -> SecretKey {
    SecretKey::from_bytes([1; 32])
}
fn buyer() -> SecretKey {
    SecretKey::from_bytes([2; 32])
}
fn stranger() -> SecretKey {
    SecretKey::from_bytes([3; 32])
}

fn terms() -> DealTerms {
    DealTerms {
        seller: seller().public(),
        item_key: "bike-1".into(),
        version: EnvelopeHash([7; 32]),
        buyer: buyer().public(),
        amount_minor: 20_000,
        currency: Currency::new("EUR").unwrap(),
        quantity: 1,
        accepted_at: NOW - 1000,
        accept: EnvelopeHash([9; 32]),
    }
}

fn receipt() -> DealReceipt {
    let t = terms();
    DealReceipt::assemble(&t, t.sign(&buyer()).unwrap(), t.sign(&seller()).unwrap()).unwrap()
}

fn review(about: &SecretKey) -> Review {
    Review {
        receipt: receipt(),
        about: about.public(),
        rating: 4,
        text: "Quick and fair.".into(),
        written_at: NOW - 10,
    }
}

#[test]
fn both_parties_review_each_other_and_anyone_verifies() {
    let by_buyer = review(&seller()).sign(&buyer()).unwrap();
    let by_seller = review(&buyer()).sign(&seller()).unwrap();
    for env in [by_buyer, by_seller] {
        let back = SignedEnvelope::decode(env.as_bytes()).unwrap();
        let v = back.verify_review(NOW).unwrap();
        assert_eq!(v.summary().deal, terms().id());
    }
}

#[test]
fn a_third_party_or_a_self_review_is_refused() {
    assert_eq!(
        review(&seller()).sign(&stranger()).unwrap_err(),
        ReviewError::SignerNotAParty
    );
    assert_eq!(
        review(&buyer()).sign(&buyer()).unwrap_err(),
        ReviewError::NotAboutTheOtherParty
    );
    assert_eq!(
        review(&stranger()).sign(&buyer()).unwrap_err(),
        ReviewError::NotAboutTheOtherParty
    );
}

#[test]
fn a_receipt_signed_by_one_party_only_is_refused_even_when_the_review_is_signed() {
    // The seller forges the buyer's consent by signing twice; decode does not check signatures,
    // so build the forged receipt through the wire form of a real one.
    let t = terms();
    let real = receipt().encode();
    let seller_sig = t.sign(&seller()).unwrap();
    let mut forged = real.clone();
    // [1, terms, buyer sig, seller sig]: the buyer's signature is the 64 bytes before the
    // seller's (each with a 2-byte header).
    let n = forged.len();
    forged[n - 130..n - 66].copy_from_slice(&seller_sig.to_bytes());
    let forged = DealReceipt::decode(&forged).unwrap();
    assert_eq!(
        forged.verify().unwrap_err(),
        DealError::BadSignature {
            party: Party::Buyer
        }
    );
    let mut r = review(&buyer());
    r.receipt = forged;
    assert!(matches!(
        r.sign(&seller()).unwrap_err(),
        ReviewError::Receipt(DealError::BadSignature { .. })
    ));
}

#[test]
fn out_of_range_ratings_and_long_texts_name_the_field_and_the_limit() {
    let mut r = review(&seller());
    r.rating = 6;
    assert_eq!(
        r.sign(&buyer()).unwrap_err().to_string(),
        "rating is out of range: 6, allowed 1..=5"
    );
    r.rating = 0;
    assert!(r.sign(&buyer()).is_err());
    r.rating = 3;
    r.text = "x".repeat(1001);
    assert_eq!(
        r.sign(&buyer()).unwrap_err().to_string(),
        "text is too long: 1001 characters, the limit is 1000"
    );
    r.text = String::new();
    assert!(
        r.sign(&buyer()).is_ok(),
        "a rating without text is a review"
    );
    r.written_at = terms().accepted_at - 1;
    assert!(matches!(
        r.sign(&buyer()).unwrap_err(),
        ReviewError::BeforeTheDeal { .. }
    ));
}

#[test]
fn a_review_from_the_future_is_refused() {
    let mut r = review(&seller());
    r.written_at = NOW + 3600;
    let env = r.sign(&buyer()).unwrap();
    assert!(matches!(
        env.verify_review(NOW).unwrap_err(),
        ReviewError::Invalid(ValidationError::FromFuture { .. })
    ));
}

#[test]
fn the_later_review_of_a_party_replaces_its_earlier_one() {
    let first = review(&seller())
        .sign(&buyer())
        .unwrap()
        .verify_review(NOW)
        .unwrap();
    let mut later = review(&seller());
    later.rating = 2;
    later.written_at = NOW - 5;
    let later = later.sign(&buyer()).unwrap().verify_review(NOW).unwrap();
    assert!(review_replaces(&later, &first));
    assert!(!review_replaces(&first, &later));
    // The other party's review is its own: neither replaces the other.
    let other = review(&buyer())
        .sign(&seller())
        .unwrap()
        .verify_review(NOW)
        .unwrap();
    assert!(!review_replaces(&other, &first) && !review_replaces(&first, &other));
}

#[test]
fn a_review_is_not_a_listing_and_not_a_message() {
    let env = review(&seller()).sign(&buyer()).unwrap();
    assert_eq!(
        env.verify(NOW).unwrap_err(),
        ValidationError::WrongKind {
            expected: "listing, withdrawal, wanted or blocklist",
            found: 5
        }
    );
    assert!(decode_stored(env.as_bytes()).is_err());
    assert!(matches!(
        env.verify_message(NOW).unwrap_err(),
        ValidationError::WrongKind { found: 5, .. }
    ));
}

mod hostile_bytes {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        /// A flipped bit anywhere in a review envelope or a receipt is refused: the encoding,
        /// a signature, the terms or the review's fields no longer hold.
        #[test]
        fn any_flipped_bit_is_refused(at in any::<prop::sample::Index>(), bit in 0u8..8) {
            let env = review(&seller()).sign(&buyer()).unwrap();
            let mut bytes = env.as_bytes().to_vec();
            let i = at.index(bytes.len());
            bytes[i] ^= 1 << bit;
            let verified = SignedEnvelope::decode(&bytes).map(|e| e.verify_review(NOW).is_ok());
            prop_assert!(!matches!(verified, Ok(true)));

            let mut bytes = receipt().encode();
            let i = at.index(bytes.len());
            bytes[i] ^= 1 << bit;
            let verified = DealReceipt::decode(&bytes).map(|r| r.verify().is_ok());
            prop_assert!(!matches!(verified, Ok(true)));
        }

        /// Truncations and arbitrary bytes never panic and never verify.
        #[test]
        fn truncations_and_arbitrary_bytes_never_verify(
            cut in any::<prop::sample::Index>(),
            junk in prop::collection::vec(any::<u8>(), 0..1200),
        ) {
            let real = receipt().encode();
            let short = &real[..cut.index(real.len())];
            prop_assert!(DealReceipt::decode(short).is_err());
            if let Ok(r) = DealReceipt::decode(&junk) {
                prop_assert!(r.verify().is_err());
            }
            if let Ok(env) = SignedEnvelope::decode(&junk) {
                prop_assert!(env.verify_review(NOW).is_err());
            }
        }
    }
}
