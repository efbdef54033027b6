//! Reviews through the real binary: `verify` of good and tampered receipts and reviews,
//! `reviews`, `search --min-rating`, the rating in `show` and search, and `review`'s refusals.
//!
//! Receipts and reviews are built with the protocol's API: the node's own key is read from its
//! home, a buyer's key is seeded, so both signatures of a deal are real. They reach the node the
//! way any signed line does: `swapmeet import`.

use crate::common;

use common::{seller_and_buyer, wait_for, Home};
use serde_json::Value;
use swapmeet_node::api::envelope_to_text;
use swapmeet_node::authoring::{Author, ListingDraft};
use swapmeet_node::engine::{Engine, EngineConfig};
use swapmeet_protocol::{
    Currency, DealReceipt, DealTerms, EnvelopeHash, PublicKey, Review, SecretKey,
};

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

fn receipt(
    seller: &SecretKey,
    buyer: &SecretKey,
    item_key: &str,
    amount_minor: u64,
) -> DealReceipt {
    let t = DealTerms {
        seller: seller.public(),
        item_key: item_key.into(),
        version: EnvelopeHash([1; 32]),
        buyer: buyer.public(),
        amount_minor,
        currency: Currency::new("EUR").unwrap(),
        quantity: 1,
        accepted_at: now() - 3600,
        accept: EnvelopeHash([2; 32]),
    };
    DealReceipt::assemble(&t, t.sign(buyer).unwrap(), t.sign(seller).unwrap()).unwrap()
}

fn review_line(
    by: &SecretKey,
    r: &DealReceipt,
    about: PublicKey,
    rating: u8,
    text: &str,
) -> String {
    let env = Review {
        receipt: r.clone(),
        about,
        rating,
        text: text.into(),
        written_at: now() - 60,
    }
    .sign(by)
    .unwrap();
    envelope_to_text(env.as_bytes())
}

fn write(dir: &std::path::Path, name: &str, text: &str) -> String {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p.to_str().unwrap().to_string()
}

fn stderr(o: &std::process::Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[test]
fn verify_checks_receipts_and_reviews_offline() {
    let h = Home::new();
    let dir = tempfile::tempdir().unwrap();
    let (s, b) = (
        SecretKey::from_bytes([1; 32]),
        SecretKey::from_bytes([2; 32]),
    );
    let r = receipt(&s, &b, "bike-1", 25_000);

    // A good receipt: exit 0, the terms printed.
    let good = write(dir.path(), "deal.txt", &format!("{}\n", r.to_text()));
    let out = h.ok(&["verify", &good]);
    assert!(out.contains("valid deal receipt"), "{out}");
    assert!(out.contains("250.00 EUR"), "{out}");
    assert!(out.contains(&s.public().to_string()) && out.contains(&b.public().to_string()));
    let v = h.json_ok(&["verify", &good]);
    assert_eq!(v[0]["valid"], true);
    assert_eq!(v[0]["deal"], r.id().to_string());
    assert_eq!(v[0]["amount_minor"], 25_000);

    // The same receipt with the last byte of the seller's signature changed: exit 2, why.
    let mut bytes = r.encode();
    let last = bytes.len() - 1;
    bytes[last] ^= 0x01;
    let tampered = DealReceipt::decode(&bytes).unwrap();
    let bad = write(dir.path(), "tampered.txt", &tampered.to_text());
    let o = h.cmd(&["verify", &bad]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("Seller signature: does not verify"),
        "{}",
        stderr(&o)
    );
    let v = h.json_lines(&["verify", &bad]);
    assert_eq!(v[0]["valid"], false);

    // A review carrying the receipt verifies too, and shows who rated whom.
    let line = review_line(&b, &r, s.public(), 5, "Great bike");
    let rv = write(dir.path(), "review.txt", &line);
    let out = h.ok(&["verify", &rv]);
    assert!(out.contains("valid review: 5★"), "{out}");
    assert!(out.contains("Great bike"), "{out}");

    // Not a receipt or a review at all.
    let junk = write(dir.path(), "junk.txt", "hello\n");
    let o = h.cmd(&["verify", &junk]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("does not start with"), "{}", stderr(&o));
}

#[test]
fn reviews_show_and_search_carry_the_rating_and_min_rating_filters() {
    let h = Home::with_node("EUR");
    let dir = tempfile::tempdir().unwrap();
    let me = swapmeet_node::home::Home::new(h.path().to_path_buf())
        .load_key()
        .unwrap();
    let mine = h.sell("Road bike, 56 cm", "250");

    // Another seller's listing, signed elsewhere and imported.
    let other = SecretKey::from_bytes([7; 32]);
    let other_line = {
        let tmp = tempfile::tempdir().unwrap();
        let engine = Engine::open(tmp.path(), EngineConfig::default()).unwrap().0;
        let author = Author::new(
            other.clone(),
            Currency::new("EUR").unwrap(),
            Some((52.52, 13.405)),
            engine.clone(),
        );
        let p = author
            .create(&ListingDraft {
                title: Some("City bike".into()),
                price: Some("90 EUR".into()),
                location: Some("52.52,13.405".into()),
                pickup: Some(true),
                ..ListingDraft::default()
            })
            .unwrap();
        let line = envelope_to_text(&engine.get(&p.id).unwrap().unwrap().envelope);
        engine.shutdown().unwrap();
        line
    };

    // Two buyers review me well, one buyer reviews the other seller badly.
    let (b1, b2) = (
        SecretKey::from_bytes([21; 32]),
        SecretKey::from_bytes([22; 32]),
    );
    let r1 = receipt(&me, &b1, "old-lamp", 2_000);
    let r2 = receipt(&me, &b2, "old-chair", 3_000);
    let r3 = receipt(&other, &b1, "old-desk", 4_000);
    let lines = [
        other_line,
        review_line(&b1, &r1, me.public(), 5, "Friendly, as described"),
        review_line(&b2, &r2, me.public(), 4, "Good"),
        review_line(&b1, &r3, other.public(), 2, "Late"),
    ];
    let file = write(dir.path(), "import.txt", &lines.join("\n"));
    let results = h.json_ok(&["import", &file]);
    assert_eq!(results.len(), 4);
    assert!(
        results.iter().all(|r| r["outcome"] == "stored"),
        "{results:?}"
    );
    assert_eq!(results[1]["kind"], "review");
    // Importing them again: duplicates, said in words too.
    let again = h.ok(&["import", &file]);
    assert!(again.contains("duplicate review of deal"), "{again}");

    // reviews: the figures and the list.
    let v = h.json_ok(&["reviews", &me.public().to_string()]);
    assert_eq!(v[0]["reputation"]["deals"], 2);
    assert_eq!(v[0]["reputation"]["reviews"], 2);
    assert_eq!(v[0]["reputation"]["average_rating"], 4.5);
    assert_eq!(v[0]["reviews"].as_array().unwrap().len(), 2);
    let text = h.ok(&["reviews", &me.public().to_string()]);
    assert!(text.contains("4.5★ from 2 reviews, 2 deals"), "{text}");
    assert!(text.contains("Friendly, as described"), "{text}");
    // Nobody reviewed the buyer's friend: exit 1, nothing found.
    let nobody = SecretKey::from_bytes([30; 32]).public().to_string();
    assert_eq!(h.cmd(&["reviews", &nobody]).status.code(), Some(1));
    let o = h.cmd(&["reviews", "not-a-seller"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("SELLER"), "{}", stderr(&o));

    // search: both without the filter, each hit with its seller's figures.
    let hits = h.search_until(&["bike"], 2);
    assert_eq!(hits.len(), 2);
    let my_hit = hits.iter().find(|x| x["id"] == mine.as_str()).unwrap();
    assert_eq!(my_hit["seller_reputation"]["average_rating"], 4.5);
    assert_eq!(my_hit["seller_reputation"]["deals"], 2);
    let table = h.ok(&["search", "bike"]);
    assert!(
        table.contains("4.5★ (2)") && table.contains("2.0★ (1)"),
        "{table}"
    );
    // --min-rating keeps only sellers rated that well.
    let good: Vec<Value> = h.search(&["bike", "--min-rating", "4"]);
    assert_eq!(good.len(), 1);
    assert_eq!(good[0]["id"], mine.as_str());
    assert_eq!(h.search(&["bike", "--min-rating", "2"]).len(), 2);
    assert_eq!(
        h.cmd(&["search", "bike", "--min-rating", "4.6"])
            .status
            .code(),
        Some(1)
    );
    let o = h.cmd(&["search", "bike", "--min-rating", "7"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("1..=5"), "{}", stderr(&o));

    // show: the seller's rating.
    let shown = h.ok(&["show", &mine]);
    assert!(
        shown.contains("rating:   4.5★ from 2 reviews, 2 deals"),
        "{shown}"
    );
    let v = h.json_ok(&["show", &mine]);
    assert_eq!(v[0]["seller_reputation"]["reviews"], 2);
}

#[test]
fn review_refuses_bad_ratings_long_texts_and_deals_that_are_not_mine() {
    let h = Home::with_node("EUR");
    // Out of 1..5: refused before the node is asked.
    for bad in ["0", "6"] {
        let o = h.cmd(&["review", "abcdef12", "--rating", bad]);
        assert_eq!(o.status.code(), Some(2), "rating {bad}");
        assert!(stderr(&o).contains("1..=5"), "{}", stderr(&o));
    }
    let long = "x".repeat(1001);
    let o = h.cmd(&["review", "abcdef12", "--rating", "5", "--text", &long]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("1001 characters, the limit is 1000"),
        "{}",
        stderr(&o)
    );
    // A deal this node is not a party of (someone else's, or none at all).
    let o = h.cmd(&["review", "abcdef12", "--rating", "5"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("no deal abcdef12"), "{}", stderr(&o));
    let o = h.cmd(&["review", "xyz", "--rating", "5"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("not a deal id"), "{}", stderr(&o));
    // The API names the field and the limit too.
    let (status, body) = h.api(
        "POST",
        "/v1/reviews",
        &serde_json::json!({"deal": "abcdef12", "rating": 9, "text": ""}),
    );
    assert_eq!(status, 400);
    assert_eq!(body["field"], "rating");
}

/// The whole path through the binary: a real deal between two nodes, the buyer's review (and
/// its replacement), the seller's review back, the figures on both nodes, the rating in the
/// buyer's search and show, and the exported receipt checked by `verify`.
#[test]
fn review_after_a_real_deal_replaces_on_the_second_try_and_shows_everywhere() {
    let (mut seller, mut buyer) = seller_and_buyer();
    let listing = seller.sell("Cargo bike, two kids", "900 EUR");
    assert_eq!(buyer.search_until(&["cargo"], 1).len(), 1);
    let seller_id = seller.json_ok(&["id"])[0]["seller"]
        .as_str()
        .unwrap()
        .to_string();
    let buyer_id = buyer.json_ok(&["id"])[0]["seller"]
        .as_str()
        .unwrap()
        .to_string();

    buyer.ok(&["offer", &listing, "--price", "850"]);
    let thread = wait_for("the offer at the seller's node", || {
        seller
            .json_ok(&["offers"])
            .into_iter()
            .find(|n| n["listing"] == listing.as_str())
            .and_then(|n| n["thread"].as_str().map(str::to_string))
    });
    seller.ok(&["accept", &thread[..10]]);
    let confirmed = |h: &Home| {
        wait_for("a confirmed deal with its receipt", || {
            h.json_ok(&["deals"])
                .into_iter()
                .find(|d| d["state"] == "confirmed" && d["receipt"].is_string())
        })
    };
    let deal = confirmed(&buyer);
    confirmed(&seller);
    let id = deal["id"].as_str().unwrap().to_string();

    // The buyer reviews the seller, then changes its mind: the second replaces the first.
    let out = buyer.ok(&[
        "review",
        &id[..10],
        "--rating",
        "5",
        "--text",
        "Smooth handover",
    ]);
    assert!(out.contains("5★") && out.contains(&seller_id), "{out}");
    assert!(!out.contains("replaces"), "{out}");
    let again = buyer.json_ok(&[
        "review",
        &id[..10],
        "--rating",
        "4",
        "--text",
        "Good, a bit late",
    ]);
    assert_eq!(again[0]["replaced"], true);
    assert_eq!(again[0]["reputation"]["reviews"], 1);
    assert_eq!(again[0]["reputation"]["average_rating"], 4.0);
    let third = buyer.ok(&["review", &id[..10], "--rating", "4"]);
    assert!(third.contains("replaces your earlier review"), "{third}");

    // The seller's node has it by gossip; the seller reviews the buyer back.
    let seen = wait_for("the buyer's review at the seller's node", || {
        let v = seller.json_ok(&["reviews", &seller_id]);
        (v[0]["reputation"]["reviews"] == 1 && v[0]["reviews"][0]["rating"] == 4).then_some(v)
    });
    assert_eq!(seen[0]["reviews"][0]["by"], buyer_id.as_str());
    assert_eq!(seen[0]["reviews"][0]["listing"], listing.as_str());
    seller.ok(&[
        "review",
        &id[..10],
        "--rating",
        "5",
        "--text",
        "Paid on time",
    ]);
    wait_for("the seller's review at the buyer's node", || {
        let v = buyer.json_ok(&["reviews", &buyer_id]);
        (v[0]["reputation"]["reviews"] == 1).then_some(())
    });

    // The buyer sees the seller's rating on the listing.
    let shown = buyer.ok(&["show", &listing]);
    assert!(
        shown.contains("rating:   4.0★ from 1 review, 1 deal"),
        "{shown}"
    );

    // The exported receipt and the review's own line verify offline.
    let dir = tempfile::tempdir().unwrap();
    let receipt = write(
        dir.path(),
        "deal.txt",
        &buyer.ok(&["deals", "--export", &id[..12]]),
    );
    let out = buyer.ok(&["verify", &receipt]);
    assert!(
        out.contains("valid deal receipt") && out.contains(&id),
        "{out}"
    );
    let line = seen[0]["reviews"][0]["line"].as_str().unwrap();
    let review = write(dir.path(), "review.txt", line);
    assert!(seller.ok(&["verify", &review]).contains("valid review: 4★"));

    buyer.stop_node();
    seller.stop_node();
}
