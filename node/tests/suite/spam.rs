//! The spam limits as a node applies them at ingest: a key's free allowance, stamps beyond it,
//! one listing per stamp slot, re-posts, places freed by withdrawals and expiry, the book
//! rebuilt after a restart; the seller's own node stamping what needs it; local blocks and
//! hides.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use swapmeet_node::authoring::{Author, ListingDraft};
use swapmeet_node::search::SearchQuery;
use swapmeet_node::{Engine, EngineConfig, IngestOutcome, Source};
use swapmeet_protocol::limits::FREE_LISTINGS_PER_KEY;
use swapmeet_protocol::{
    geo, Category, Condition, Currency, Delivery, ImageRef, Listing, Location, Price, SecretKey,
    SignedEnvelope, Stamp, WithdrawReason, Withdrawal,
};

const NOW: u64 = 1_800_000_000;

fn key(n: u8) -> SecretKey {
    SecretKey::from_bytes([n; 32])
}

fn listing(item: &str, title: &str) -> Listing {
    Listing {
        item_key: item.into(),
        seq: 1,
        signed_at: NOW - 100,
        expires_at: NOW + 7 * 86_400,
        title: title.into(),
        description: String::new(),
        price: Price::Fixed {
            amount_minor: 1000,
            currency: Currency::new("EUR").unwrap(),
        },
        condition: Condition::Good,
        category: Category::Other,
        tags: vec![],
        quantity: 1,
        location: Some(Location {
            geohash: geo::encode(52.52, 13.405, 6),
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
    }
}

fn with_photo(mut l: Listing, photo: u8) -> Listing {
    l.images = vec![ImageRef {
        hash: [photo; 32],
        mime: "image/jpeg".into(),
        size: 1000,
        thumb: None,
    }];
    l
}

fn stamped(mut l: Listing, k: &SecretKey, slot: u32) -> Listing {
    let id = l.id(&k.public());
    l.stamp = Some(Stamp::mint(&k.public(), &id, slot).unwrap());
    l
}

fn engine_at(dir: &std::path::Path, clock: Arc<AtomicU64>) -> Engine {
    let config = EngineConfig {
        clock: Arc::new(move || clock.load(Ordering::SeqCst)),
        ..EngineConfig::default()
    };
    Engine::open(dir, config).unwrap().0
}

fn one(engine: &Engine, env: SignedEnvelope) -> IngestOutcome {
    engine.ingest(vec![env], Source::Import).unwrap().remove(0)
}

fn over_reason(o: &IngestOutcome) -> String {
    match o {
        IngestOutcome::OverAllowance { reason, .. } => reason.clone(),
        other => panic!("expected over-allowance, got {other:?}"),
    }
}

#[test]
fn a_key_gets_its_free_allowance_then_pays_with_stamps() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(AtomicU64::new(NOW));
    let engine = engine_at(dir.path(), clock.clone());
    let (s, other) = (key(7), key(8));
    let free: Vec<SignedEnvelope> = (0..FREE_LISTINGS_PER_KEY)
        .map(|n| {
            listing(&format!("free-{n}"), &format!("Item {n}"))
                .sign(&s)
                .unwrap()
        })
        .collect();
    let out = engine.ingest(free, Source::Import).unwrap();
    assert!(out
        .iter()
        .all(|o| matches!(o, IngestOutcome::Stored { .. })));

    // One more without a stamp: refused, naming the field and the limit, and not stored.
    let extra = listing("extra", "One too many").sign(&s).unwrap();
    let o = one(&engine, extra.clone());
    let reason = over_reason(&o);
    assert!(
        reason.starts_with("stamp:") && reason.contains("1000 active listings without a stamp"),
        "{reason}"
    );
    assert!(engine
        .get(&listing("extra", "x").id(&s.public()))
        .unwrap()
        .is_none());
    // Another key is not held back by it.
    assert!(matches!(
        one(&engine, listing("extra", "Mine").sign(&other).unwrap()),
        IngestOutcome::Stored { .. }
    ));
    // A wanted post takes a free place too: at the cap, the key cannot post one either.
    let want = |item: &str| swapmeet_protocol::Wanted {
        item_key: item.into(),
        seq: 1,
        signed_at: NOW - 100,
        expires_at: NOW + 7 * 86_400,
        title: "Road bike".into(),
        description: String::new(),
        max_price: Price::Free,
        category: Category::Bikes,
        location: Location {
            geohash: geo::encode(52.52, 13.405, 6),
            place: None,
        },
    };
    let o = one(&engine, want("wanted-1").sign(&s).unwrap());
    assert!(over_reason(&o).starts_with("stamp:"), "{o:?}");
    assert!(matches!(
        one(&engine, want("wanted-1").sign(&other).unwrap()),
        IngestOutcome::Stored { .. }
    ));

    // With a stamp it goes in; its slot then holds it, and a second listing cannot take it.
    let paid = stamped(listing("paid", "Paid for"), &s, FREE_LISTINGS_PER_KEY);
    assert!(matches!(
        one(&engine, paid.sign(&s).unwrap()),
        IngestOutcome::Stored { .. }
    ));
    let squatter = stamped(listing("squatter", "Same slot"), &s, FREE_LISTINGS_PER_KEY);
    let reason = over_reason(&one(&engine, squatter.sign(&s).unwrap()));
    assert!(
        reason.contains("slot 1000 of this seller is held"),
        "{reason}"
    );
    // A new version of the stamped listing keeps its slot.
    let paid2 = Listing {
        seq: 2,
        title: "Paid for, cheaper".into(),
        ..paid.clone()
    };
    assert!(matches!(
        one(&engine, paid2.sign(&s).unwrap()),
        IngestOutcome::Stored { .. }
    ));

    // A stamp that does not pay for its slot is invalid, like any bad field.
    let mut forged = listing("forged", "Forged stamp");
    let id = forged.id(&s.public());
    let good = Stamp::mint(&s.public(), &id, 1500).unwrap();
    forged.stamp = Some(Stamp {
        slot: 1500,
        nonce: (0..)
            .map(|d| good.nonce.wrapping_add(d))
            .find(|n| {
                Stamp {
                    slot: 1500,
                    nonce: *n,
                }
                .check(&s.public(), &id)
                .is_err()
            })
            .unwrap(),
    });
    match one(&engine, forged.sign(&s).unwrap()) {
        IngestOutcome::Rejected { reason, .. } => {
            assert!(reason.starts_with("stamp is invalid"), "{reason}")
        }
        other => panic!("{other:?}"),
    }

    // A withdrawal frees a place: the refused listing now goes in.
    let w = Withdrawal {
        item_key: "free-0".into(),
        seq: 2,
        signed_at: NOW - 50,
        reason: WithdrawReason::Sold,
        area: Some(geo::encode(52.52, 13.405, 6)),
        ships: false,
    };
    assert!(matches!(
        one(&engine, w.sign(&s).unwrap()),
        IngestOutcome::Stored { .. }
    ));
    assert!(matches!(one(&engine, extra), IngestOutcome::Stored { .. }));
    let again = listing("extra-2", "Still too many").sign(&s).unwrap();
    over_reason(&one(&engine, again.clone()));
    assert_eq!(
        engine.allowance().counts(&s.public(), NOW),
        (FREE_LISTINGS_PER_KEY as usize, 1)
    );

    // After a restart the node holds the seller to the same count.
    engine.shutdown().unwrap();
    drop(engine);
    let engine = engine_at(dir.path(), clock.clone());
    assert_eq!(
        engine.allowance().counts(&s.public(), NOW),
        (FREE_LISTINGS_PER_KEY as usize, 1)
    );
    over_reason(&one(&engine, again.clone()));

    // Expired listings free their places (the free ones expire a week after signing).
    clock.store(NOW + 7 * 86_400, Ordering::SeqCst);
    let later = Listing {
        signed_at: NOW + 7 * 86_400 - 10,
        expires_at: NOW + 14 * 86_400,
        ..listing("extra-3", "A week later")
    };
    assert!(matches!(
        one(&engine, later.sign(&s).unwrap()),
        IngestOutcome::Stored { .. }
    ));
    engine.shutdown().unwrap();
}

#[test]
fn a_repost_with_the_same_title_and_photos_needs_a_stamp() {
    let dir = tempfile::tempdir().unwrap();
    let engine = engine_at(dir.path(), Arc::new(AtomicU64::new(NOW)));
    let s = key(9);
    let first = with_photo(listing("bike-1", "Road bike, 28 inch"), 1);
    assert!(matches!(
        one(&engine, first.sign(&s).unwrap()),
        IngestOutcome::Stored { .. }
    ));
    // The same photo and title (differently written) under a new id.
    let repost = with_photo(listing("bike-1-again", "ROAD BIKE  28 inch!"), 1);
    let reason = over_reason(&one(&engine, repost.sign(&s).unwrap()));
    assert!(reason.contains("re-post"), "{reason}");
    // Paid for, it is accepted; so is the same title with another photo.
    let paid = stamped(repost, &s, FREE_LISTINGS_PER_KEY);
    assert!(matches!(
        one(&engine, paid.sign(&s).unwrap()),
        IngestOutcome::Stored { .. }
    ));
    let other_photo = with_photo(listing("bike-2", "Road bike, 28 inch"), 2);
    assert!(matches!(
        one(&engine, other_photo.sign(&s).unwrap()),
        IngestOutcome::Stored { .. }
    ));
    // Another seller's identical listing is no re-post.
    let o = key(10);
    let theirs = with_photo(listing("bike-1", "Road bike, 28 inch"), 1);
    assert!(matches!(
        one(&engine, theirs.sign(&o).unwrap()),
        IngestOutcome::Stored { .. }
    ));
    engine.shutdown().unwrap();
}

#[test]
fn the_sellers_own_node_stamps_what_goes_beyond_the_free_allowance() {
    let dir = tempfile::tempdir().unwrap();
    let engine = engine_at(dir.path(), Arc::new(AtomicU64::new(NOW)));
    let s = key(11);
    let author = Author::new(
        s.clone(),
        Currency::new("EUR").unwrap(),
        Some((52.52, 13.405)),
        engine.clone(),
    );
    // One batch, as the bridge publishes a catalogue.
    let n = FREE_LISTINGS_PER_KEY + 5;
    let envs: Vec<SignedEnvelope> = (0..n)
        .map(|i| {
            let draft = ListingDraft {
                title: Some(format!("Catalogue item {i}")),
                price: Some("10 EUR".into()),
                ..ListingDraft::default()
            };
            author.prepare_upsert(&format!("sku-{i}"), &draft).unwrap()
        })
        .collect();
    let results = author.publish_batch(envs).unwrap();
    assert!(results.iter().all(Result::is_ok), "{results:?}");
    assert_eq!(
        engine.allowance().counts(&s.public(), NOW),
        (FREE_LISTINGS_PER_KEY as usize, 5)
    );
    // A new version of a stamped listing keeps its stamp.
    let id = Listing {
        item_key: format!("sku-{}", n - 1),
        ..listing("x", "x")
    }
    .id(&s.public());
    let updated = author
        .update(
            &id,
            &ListingDraft {
                price: Some("9 EUR".into()),
                ..ListingDraft::default()
            },
        )
        .unwrap();
    assert!(updated.changed);
    assert_eq!(
        engine.allowance().counts(&s.public(), NOW),
        (FREE_LISTINGS_PER_KEY as usize, 5)
    );
    engine.shutdown().unwrap();
}

#[test]
fn a_blocked_seller_is_deleted_refused_and_a_hidden_listing_is_not_shown() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(AtomicU64::new(NOW));
    let engine = engine_at(dir.path(), clock.clone());
    let (bad, good) = (key(12), key(13));
    let theirs: Vec<SignedEnvelope> = (0..3)
        .map(|n| {
            listing(&format!("b{n}"), &format!("Cheap watch {n}"))
                .sign(&bad)
                .unwrap()
        })
        .collect();
    let mine = listing("g1", "Honest watch").sign(&good).unwrap();
    let hidden = listing("g2", "Boring watch").sign(&good).unwrap();
    engine
        .ingest(
            theirs.iter().cloned().chain([mine, hidden]).collect(),
            Source::Import,
        )
        .unwrap();
    engine.commit().unwrap();
    let titles = |e: &Engine| {
        let mut t: Vec<String> = e
            .search(&SearchQuery {
                text: Some("watch".into()),
                ..SearchQuery::default()
            })
            .unwrap()
            .hits
            .into_iter()
            .map(|h| h.summary.title)
            .collect();
        t.sort();
        t
    };
    assert_eq!(titles(&engine).len(), 5);
    // The totals count what the user can see: with text, and with no query at all.
    let totals = |e: &Engine| {
        let with_text = SearchQuery {
            text: Some("watch".into()),
            exact_total: true,
            ..SearchQuery::default()
        };
        let everything = SearchQuery {
            exact_total: true,
            ..SearchQuery::default()
        };
        (
            e.search(&with_text).unwrap().total,
            e.search(&everything).unwrap().total,
        )
    };
    assert_eq!(totals(&engine), (5, 5));

    let mut events = engine.subscribe();
    assert_eq!(engine.block_seller(&bad.public()).unwrap(), 3);
    assert_eq!(totals(&engine), (2, 2));
    // Event streams and alerts hear of each deleted record.
    let mut gone: Vec<_> = (0..3)
        .map(|_| {
            let ev = events.try_recv().unwrap();
            assert_eq!(ev.change, swapmeet_node::Change::Blocked);
            ev.id
        })
        .collect();
    gone.sort();
    let mut theirs_ids: Vec<_> = theirs
        .iter()
        .map(|e| e.clone().verify(NOW).unwrap().listing_id())
        .collect();
    theirs_ids.sort();
    assert_eq!(gone, theirs_ids);
    assert_eq!(titles(&engine), ["Boring watch", "Honest watch"]);
    assert_eq!(engine.stats().records, 2);
    // What arrives later from them is refused, and stays refused after a restart.
    assert!(matches!(
        one(&engine, theirs[0].clone()),
        IngestOutcome::Blocked { .. }
    ));
    let hidden_id = listing("g2", "x").id(&good.public());
    assert!(engine.hide_listing(&hidden_id).unwrap());
    assert_eq!(titles(&engine), ["Honest watch"]);
    assert_eq!(totals(&engine), (1, 1));
    engine.shutdown().unwrap();
    drop(engine);
    let engine = engine_at(dir.path(), clock);
    assert!(matches!(
        one(&engine, theirs[1].clone()),
        IngestOutcome::Blocked { .. }
    ));
    assert_eq!(titles(&engine), ["Honest watch"]);
    // Lifted, both come back (the seller's listings as they are offered again).
    assert!(engine.unhide_listing(&hidden_id).unwrap());
    assert!(engine.unblock_seller(&bad.public()).unwrap());
    assert!(matches!(
        one(&engine, theirs[1].clone()),
        IngestOutcome::Stored { .. }
    ));
    engine.commit().unwrap();
    assert_eq!(
        titles(&engine),
        ["Boring watch", "Cheap watch 1", "Honest watch"]
    );
    engine.shutdown().unwrap();
}
