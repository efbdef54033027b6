//! Private messages through the public API: seal -> open round-trips for random messages in
//! either direction; any flipped byte of a sealed or a signed message is refused; arbitrary
//! bytes never panic the opener; and the listing paths never take a message or a receipt.

use proptest::prelude::*;
use swapmeet_protocol::limits::{
    MAX_MESSAGE_LIFETIME_SECS, MAX_MESSAGE_TEXT_CHARS, SEAL_AEAD_TAG_BYTES, SEAL_BUCKETS,
    SEAL_LENGTH_PREFIX_BYTES,
};
use swapmeet_protocol::{
    decode_stored, glance_stored, open, seal, stored_signer, verify_batch, Category, Condition,
    Delivery, DirectMessage, EnvelopeHash, Listing, ListingRef, MessageBody, Price, Receipt,
    RecipientTag, Sealed, SecretKey, SignedEnvelope, ThreadId, ValidationError,
};

const NOW: u64 = 1_750_000_000;

/// Texts a person writes: short and long, multi-byte, several lines, or anything printable.
fn text() -> impl Strategy<Value = String> {
    prop_oneof![
        proptest::collection::vec(
            prop_oneof![
                Just('a'),
                Just('Z'),
                Just(' '),
                Just('\n'),
                Just('\t'),
                Just('é'),
                Just('€'),
                Just('𝄞'),
                Just('?'),
            ],
            1..=MAX_MESSAGE_TEXT_CHARS,
        )
        .prop_map(|v| v.into_iter().collect::<String>()),
        "\\PC{1,300}",
    ]
    .prop_filter("not blank", |s| !s.trim().is_empty())
}

/// A message about a random listing, from the buyer to the seller or back.
fn message() -> impl Strategy<Value = (DirectMessage, SecretKey, SecretKey)> {
    (
        any::<[u8; 32]>(),
        any::<[u8; 32]>(),
        "[a-z0-9:-]{1,40}",
        any::<[u8; 32]>(),
        1u64..u64::MAX,
        0u64..3600,
        1u64..=MAX_MESSAGE_LIFETIME_SECS,
        any::<bool>(),
        text(),
    )
        .prop_filter("two parties", |t| t.0 != t.1)
        .prop_map(
            |(s, b, item_key, version, seq, age, life, from_buyer, text)| {
                let (seller, buyer) = (SecretKey::from_bytes(s), SecretKey::from_bytes(b));
                let about = ListingRef {
                    seller: seller.public(),
                    item_key,
                    version: EnvelopeHash(version),
                };
                let sent_at = NOW - age;
                let m = DirectMessage {
                    recipient: if from_buyer {
                        seller.public()
                    } else {
                        buyer.public()
                    },
                    buyer: buyer.public(),
                    thread: ThreadId::derive(&about.id(), &buyer.public()),
                    seq,
                    sent_at,
                    expires_at: sent_at + life.max(age + 1),
                    about,
                    body: MessageBody::Text(text),
                };
                if from_buyer {
                    (m, buyer, seller)
                } else {
                    (m, seller, buyer)
                }
            },
        )
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn seal_then_open_round_trips((m, from, to) in message()) {
        let v = m.sign(&from).unwrap().verify_message(NOW).unwrap();
        let sealed = seal(&v, &to.public()).unwrap();
        let relayed = Sealed::decode(sealed.as_bytes()).unwrap();
        prop_assert_eq!(relayed.tag(), RecipientTag::of(&to.public()));
        prop_assert_eq!(relayed.expires_at(), m.expires_at);
        // Padded to the smallest bucket that holds it: the size reveals only the bucket.
        let needed = SEAL_LENGTH_PREFIX_BYTES + v.envelope().as_bytes().len();
        let bucket = SEAL_BUCKETS.iter().copied().find(|b| *b >= needed).unwrap();
        let header = relayed.as_bytes().len() - bucket - SEAL_AEAD_TAG_BYTES;
        prop_assert!(header <= 82, "header of {} bytes", header);
        // What a relay holds shows neither the text nor the signed envelope.
        // The generator makes text bodies only.
        let MessageBody::Text(t) = &m.body else {
            return Err(TestCaseError::fail("the generator makes text messages"));
        };
        if t.len() >= 8 {
            prop_assert!(!contains(relayed.as_bytes(), t.as_bytes()));
        }
        prop_assert!(!contains(relayed.as_bytes(), &v.envelope().as_bytes()[..40]));
        let opened = open(&relayed, &to, NOW).unwrap();
        prop_assert_eq!(opened.payload(), &m);
        prop_assert_eq!(opened.signer(), from.public());
        prop_assert_eq!(opened.hash(), v.hash());
        // Nobody else opens it, not even its sender.
        prop_assert!(open(&relayed, &from, NOW).is_err());
    }

    #[test]
    fn any_flipped_bit_of_a_sealed_message_is_refused(
        (m, from, to) in message(),
        at in any::<prop::sample::Index>(),
        bit in 0u8..8,
    ) {
        let v = m.sign(&from).unwrap().verify_message(NOW).unwrap();
        let mut bytes = seal(&v, &to.public()).unwrap().into_bytes();
        let i = at.index(bytes.len());
        bytes[i] ^= 1 << bit;
        let opened = Sealed::decode(&bytes).and_then(|s| open(&s, &to, NOW));
        prop_assert!(opened.is_err(), "a flipped bit at {} of {} was accepted", i, bytes.len());
    }

    #[test]
    fn any_flipped_bit_of_a_signed_message_is_refused(
        (m, from, _to) in message(),
        at in any::<prop::sample::Index>(),
        bit in 0u8..8,
    ) {
        let mut bytes = m.sign(&from).unwrap().into_bytes();
        let i = at.index(bytes.len());
        bytes[i] ^= 1 << bit;
        let verified = SignedEnvelope::decode(&bytes).and_then(|e| e.verify_message(NOW));
        prop_assert!(verified.is_err(), "a flipped bit at {} was accepted", i);
    }

    #[test]
    fn any_flipped_bit_of_a_receipt_is_refused(
        (_m, from, to) in message(),
        hash in any::<[u8; 32]>(),
        at in any::<prop::sample::Index>(),
        bit in 0u8..8,
    ) {
        let r = Receipt { message: EnvelopeHash(hash), sender: from.public(), received_at: NOW };
        let env = r.sign(&to).unwrap();
        let verified = env.verify_receipt().unwrap();
        prop_assert_eq!(verified.payload(), &r);
        let mut bytes = env.into_bytes();
        let i = at.index(bytes.len());
        bytes[i] ^= 1 << bit;
        let verified = SignedEnvelope::decode(&bytes).and_then(|e| e.verify_receipt());
        prop_assert!(verified.is_err(), "a flipped bit at {} was accepted", i);
    }

    #[test]
    fn arbitrary_bytes_never_panic_the_opener(bytes in proptest::collection::vec(any::<u8>(), 0..4096)) {
        let key = SecretKey::from_bytes([1; 32]);
        if let Ok(s) = Sealed::decode(&bytes) {
            prop_assert_eq!(s.as_bytes(), &bytes[..]);
            let _ = open(&s, &key, NOW);
        }
        if let Ok(e) = SignedEnvelope::decode(&bytes) {
            let _ = e.verify_message(NOW);
            let _ = e.verify_receipt();
        }
    }
}

fn lamp(seller: &SecretKey) -> SignedEnvelope {
    Listing {
        item_key: "lamp".into(),
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
        location: None,
        delivery: Delivery {
            pickup: false,
            shipping: true,
            ships_to: vec![],
        },
        images: vec![],
        variants: vec![],
        stamp: None,
    }
    .sign(seller)
    .unwrap()
}

#[test]
fn the_listing_paths_refuse_messages_and_receipts() {
    let seller = SecretKey::from_bytes([1; 32]);
    let buyer = SecretKey::from_bytes([2; 32]);
    let listing = lamp(&seller);
    let about = ListingRef {
        seller: seller.public(),
        item_key: "lamp".into(),
        version: listing.hash(),
    };
    let message = DirectMessage {
        recipient: seller.public(),
        buyer: buyer.public(),
        thread: ThreadId::derive(&about.id(), &buyer.public()),
        seq: 1,
        sent_at: NOW,
        expires_at: NOW + 3600,
        about,
        body: MessageBody::Text("Still there?".into()),
    }
    .sign(&buyer)
    .unwrap();
    let receipt = Receipt {
        message: message.hash(),
        sender: buyer.public(),
        received_at: NOW,
    }
    .sign(&seller)
    .unwrap();

    for (env, code) in [(&message, 3u8), (&receipt, 4)] {
        let wrong = ValidationError::WrongKind {
            expected: "listing, withdrawal, wanted or blocklist",
            found: code,
        };
        // A batch as gossip and sync hand it over: the listing passes, the message does not.
        let results = verify_batch(vec![listing.clone(), env.clone(), listing.clone()], NOW);
        assert!(results[0].is_ok() && results[2].is_ok());
        assert_eq!(results[1].as_ref().unwrap_err(), &wrong);
        assert_eq!(
            verify_batch(vec![env.clone()], NOW)[0]
                .as_ref()
                .unwrap_err(),
            &wrong
        );
        assert_eq!(env.verify(NOW).unwrap_err(), wrong);
        assert_eq!(decode_stored(env.as_bytes()).unwrap_err(), wrong);
        assert_eq!(glance_stored(env.as_bytes()).unwrap_err(), wrong);
        assert_eq!(stored_signer(env.as_bytes()).unwrap_err(), wrong);
    }
}
