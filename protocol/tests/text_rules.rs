//! Displayed text cannot be spoofed with Unicode bidirectional controls: every text field a
//! client shows (listing title, description, tags, place, item key, variant option names and
//! values and SKUs, message text, review text) refuses each of them, naming the field and the
//! character, while right-to-left text itself (Hebrew, Arabic) is fine.

use swapmeet_protocol::encoding::BIDI_CONTROLS;
use swapmeet_protocol::{
    geo, Category, Condition, Currency, DealReceipt, DealTerms, Delivery, DirectMessage,
    EnvelopeHash, Listing, ListingRef, Location, MessageBody, Price, Review, SecretKey, ThreadId,
    ValidationError, Variant, VariantOption,
};

const NOW: u64 = 1_750_000_000;

fn seller() -> SecretKey {
    SecretKey::from_bytes([1; 32])
}
fn buyer() -> SecretKey {
    SecretKey::from_bytes([2; 32])
}

fn listing() -> Listing {
    Listing {
        item_key: "bike-1".into(),
        seq: 1,
        signed_at: NOW - 100,
        expires_at: NOW + 86_400,
        title: "Road bike".into(),
        description: "Steel frame.".into(),
        price: Price::Fixed {
            amount_minor: 25_000,
            currency: Currency::new("EUR").unwrap(),
        },
        condition: Condition::Good,
        category: Category::Bikes,
        tags: vec!["road".into()],
        quantity: 2,
        location: Some(Location {
            geohash: geo::GeoHash::new("u33dc0").unwrap(),
            place: Some("Kreuzberg".into()),
        }),
        delivery: Delivery {
            pickup: true,
            shipping: false,
            ships_to: vec![],
        },
        images: vec![],
        variants: vec![
            Variant {
                options: vec![VariantOption {
                    name: "size".into(),
                    value: "56 cm".into(),
                }],
                price: None,
                quantity: 1,
                sku: Some("BIKE-56".into()),
            },
            Variant {
                options: vec![VariantOption {
                    name: "size".into(),
                    value: "58 cm".into(),
                }],
                price: None,
                quantity: 1,
                sku: None,
            },
        ],
        stamp: None,
    }
}

/// Puts `s` into one text field of a listing; the names are the fields the error must name.
fn listing_with(field: &str, s: &str) -> Listing {
    let mut l = listing();
    match field {
        "title" => l.title = format!("Road {s}bike"),
        "description" => l.description = format!("Steel {s}frame."),
        "tags" => l.tags = vec![format!("ro{s}ad")],
        "place" => l.location.as_mut().unwrap().place = Some(format!("Kreuz{s}berg")),
        "item_key" => l.item_key = format!("bike{s}-1"),
        "name" => l.variants[0].options[0].name = format!("si{s}ze"),
        "value" => l.variants[0].options[0].value = format!("56{s} cm"),
        "sku" => l.variants[0].sku = Some(format!("BIKE{s}-56")),
        other => unreachable!("{other}"),
    }
    l
}

const LISTING_FIELDS: [&str; 8] = [
    "title",
    "description",
    "tags",
    "place",
    "item_key",
    "name",
    "value",
    "sku",
];

fn assert_names(err: &ValidationError, field: &str, c: char) {
    // Variant fields are wrapped with their place ("variants[0].options[0].name ...").
    let text = err.to_string();
    assert!(
        text.contains(&format!(
            "{field} is invalid: contains the bidirectional control character U+{:04X}",
            u32::from(c)
        )),
        "{field} with U+{:04X}: {text}",
        u32::from(c)
    );
}

#[test]
fn every_displayed_listing_field_refuses_every_bidi_control() {
    assert!(listing().sign(&seller()).is_ok());
    for field in LISTING_FIELDS {
        for c in BIDI_CONTROLS {
            let err = listing_with(field, &c.to_string())
                .sign(&seller())
                .unwrap_err();
            assert_names(&err, field, c);
        }
    }
}

#[test]
fn the_spoofed_title_of_the_issue_is_refused() {
    // Shows as "Rolex watch gpj.exe" reversed: U+202E makes "exe.jpg" read backwards.
    let mut l = listing();
    l.title = "Rolex watch \u{202E}gpj.exe".into();
    let err = l.sign(&seller()).unwrap_err();
    assert_eq!(
        err.to_string(),
        "title is invalid: contains the bidirectional control character U+202E, which changes \
         how the text around it reads; remove it"
    );
}

#[test]
fn right_to_left_text_itself_is_accepted() {
    let mut l = listing();
    l.title = "אופניים כביש".into();
    l.description = "دراجة هوائية، إطارات جديدة".into();
    l.tags = vec!["אופניים".into()];
    assert!(l.sign(&seller()).is_ok());
}

fn message(text: &str) -> DirectMessage {
    let about = ListingRef {
        seller: seller().public(),
        item_key: "bike-1".into(),
        version: EnvelopeHash([7; 32]),
    };
    let b = buyer().public();
    DirectMessage {
        recipient: seller().public(),
        buyer: b,
        thread: ThreadId::derive(&about.id(), &b),
        seq: 1,
        sent_at: NOW - 60,
        expires_at: NOW - 60 + 14 * 86_400,
        about,
        body: MessageBody::Text(text.into()),
    }
}

#[test]
fn message_text_refuses_every_bidi_control() {
    message("Still available?").sign(&buyer()).unwrap();
    for c in BIDI_CONTROLS {
        let err = message(&format!("Still {c}available?"))
            .sign(&buyer())
            .unwrap_err();
        assert_names(&err, "text", c);
    }
}

fn review(text: &str) -> Review {
    let terms = DealTerms {
        seller: seller().public(),
        item_key: "bike-1".into(),
        version: EnvelopeHash([7; 32]),
        buyer: buyer().public(),
        amount_minor: 20_000,
        currency: Currency::new("EUR").unwrap(),
        quantity: 1,
        accepted_at: NOW - 1000,
        accept: EnvelopeHash([9; 32]),
    };
    let receipt = DealReceipt::assemble(
        &terms,
        terms.sign(&buyer()).unwrap(),
        terms.sign(&seller()).unwrap(),
    )
    .unwrap();
    Review {
        receipt,
        about: seller().public(),
        rating: 5,
        text: text.into(),
        written_at: NOW - 10,
    }
}

#[test]
fn review_text_refuses_every_bidi_control() {
    assert!(review("Quick and fair.").sign(&buyer()).is_ok());
    for c in BIDI_CONTROLS {
        let err = review(&format!("Quick {c}and fair."))
            .sign(&buyer())
            .unwrap_err();
        // A review's error wraps the text rule.
        let text = err.to_string();
        assert!(text.contains("text"), "{text}");
        assert!(
            text.contains(&format!("U+{:04X}", u32::from(c))),
            "the error names the character: {text}"
        );
    }
}
