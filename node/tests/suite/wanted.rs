//! Wanted posts in the engine, as users rely on them: one ingest path (stored, versioned,
//! withdrawn, never a listing-search hit), found by the wanted search with the index's text
//! analysis, counted by the demand summary, and alerting both sides once per pair, also across
//! a restart.

use std::sync::Arc;

use swapmeet_node::alerts::{AlertKind, Alerts, AlertsConfig};
use swapmeet_node::ingest::IngestOutcome;
use swapmeet_node::search::{GeoFilter, PriceFilter, SearchQuery};
use swapmeet_node::wanted::demand::{catalogue_demand, demand};
use swapmeet_node::wanted::{search, DemandQuery};
use swapmeet_node::{Engine, EngineConfig, Event, Source};
use swapmeet_protocol::{
    geo, Category, Condition, Currency, Delivery, Listing, Location, Price, SecretKey,
    SignedEnvelope, Wanted, WithdrawReason, Withdrawal,
};

const NOW: u64 = 1_800_000_000;

fn engine(dir: &std::path::Path) -> Engine {
    let config = EngineConfig {
        clock: Arc::new(|| NOW),
        ..EngineConfig::default()
    };
    Engine::open(dir, config).unwrap().0
}

fn eur(euros: u64) -> Price {
    Price::Fixed {
        amount_minor: euros * 100,
        currency: Currency::new("EUR").unwrap(),
    }
}

fn seller() -> SecretKey {
    SecretKey::from_bytes([3; 32])
}
fn buyer() -> SecretKey {
    SecretKey::from_bytes([4; 32])
}

fn listing(item: &str, seq: u64, title: &str, price: Price, at: (f64, f64)) -> Listing {
    Listing {
        item_key: item.into(),
        seq,
        signed_at: NOW - 100 + seq,
        expires_at: NOW + 7 * 86_400,
        title: title.into(),
        description: String::new(),
        price,
        condition: Condition::Good,
        category: Category::Bikes,
        tags: vec![],
        quantity: 1,
        location: Some(Location {
            geohash: geo::encode(at.0, at.1, 6),
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

fn wanted(item: &str, seq: u64, title: &str, max: Price) -> Wanted {
    Wanted {
        item_key: item.into(),
        seq,
        signed_at: NOW - 50 + seq,
        expires_at: NOW + 7 * 86_400,
        title: title.into(),
        description: "Steel frame preferred".into(),
        max_price: max,
        category: Category::Bikes,
        location: Location {
            geohash: geo::encode(52.50, 13.45, 6),
            place: None,
        },
    }
}

/// Ingests and returns the outcomes and the events the ingest broadcast.
fn ingest(e: &Engine, envs: Vec<SignedEnvelope>) -> (Vec<IngestOutcome>, Vec<Event>) {
    let mut rx = e.subscribe();
    let out = e.ingest(envs, Source::Import).unwrap();
    e.commit().unwrap();
    let mut events = Vec::new();
    while let Ok(ev) = rx.try_recv() {
        events.push(ev);
    }
    (out, events)
}

fn text(t: &str) -> SearchQuery {
    SearchQuery {
        text: Some(t.into()),
        ..Default::default()
    }
}

#[test]
fn wanted_posts_take_the_one_ingest_path_and_have_their_own_search() {
    let dir = tempfile::tempdir().unwrap();
    let e = engine(dir.path());
    let post = wanted("wanted-1", 2, "Road bikes", eur(300));
    let env = post.sign(&buyer()).unwrap();
    let (out, events) = ingest(&e, vec![env.clone()]);
    assert!(matches!(out[0], IngestOutcome::Stored { .. }), "{out:?}");
    assert_eq!(events.len(), 1);
    let id = post.id(&buyer().public());
    assert_eq!(e.store().wanted_ids().unwrap(), vec![id]);
    // Stored, not indexed: the listing search never shows it.
    assert_eq!(e.search(&text("road bike")).unwrap().total, 0);
    // The wanted search stems and folds case as the index does ("Road bikes" ~ "road bike").
    let hits = search(&e, &text("ROAD bike")).unwrap();
    assert_eq!(hits.len(), 1);
    assert_eq!(hits[0].id, id);
    assert_eq!(search(&e, &text("steel")).unwrap().len(), 1, "description");
    assert!(search(&e, &text("tandem")).unwrap().is_empty());
    let eur_c = Currency::new("EUR").unwrap();
    let willing = |min: u64| SearchQuery {
        price: Some(PriceFilter {
            currency: eur_c,
            min_minor: Some(min * 100),
            max_minor: None,
        }),
        ..Default::default()
    };
    assert_eq!(search(&e, &willing(250)).unwrap().len(), 1);
    assert!(search(&e, &willing(350)).unwrap().is_empty());
    let near = |lat: f64, lon: f64| SearchQuery {
        near: Some(GeoFilter {
            lat,
            lon,
            radius_km: Some(20.0),
        }),
        ..Default::default()
    };
    assert_eq!(search(&e, &near(52.52, 13.405)).unwrap().len(), 1);
    assert!(search(&e, &near(48.14, 11.58)).unwrap().is_empty());
    let d = demand(&e, &DemandQuery::default()).unwrap();
    assert_eq!(d.posts, 1);
    assert_eq!(d.by_category.get("bikes"), Some(&1));
    assert_eq!(d.by_area.get("u33d"), Some(&1));
    assert!(d.top_words.iter().any(|(w, n)| w == "bikes" && *n == 1));

    // Versions as listings: an older one is stale, the same one a duplicate.
    let (out, _) = ingest(
        &e,
        vec![wanted("wanted-1", 1, "Old", eur(1)).sign(&buyer()).unwrap()],
    );
    assert!(matches!(out[0], IngestOutcome::Stale { .. }), "{out:?}");
    let (out, _) = ingest(&e, vec![env]);
    assert!(matches!(out[0], IngestOutcome::Duplicate { .. }), "{out:?}");

    // A withdrawal of its item key takes it down everywhere it is stored.
    let w = Withdrawal {
        item_key: "wanted-1".into(),
        seq: 3,
        signed_at: NOW - 10,
        reason: WithdrawReason::Withdrawn,
        area: Some(post.location.geohash.clone()),
        ships: false,
    };
    let (out, _) = ingest(&e, vec![w.sign(&buyer()).unwrap()]);
    assert!(matches!(
        out[0],
        IngestOutcome::Stored {
            withdrawal: true,
            ..
        }
    ));
    assert!(e.store().wanted_ids().unwrap().is_empty());
    assert!(search(&e, &text("road")).unwrap().is_empty());
    assert_eq!(demand(&e, &DemandQuery::default()).unwrap().posts, 0);
}

fn alerts_of(e: &Engine, owner: &SecretKey) -> Alerts {
    Alerts::open(
        e.clone(),
        AlertsConfig {
            owner: Some(owner.public()),
            ..AlertsConfig::default()
        },
    )
    .unwrap()
}

#[test]
fn both_sides_alert_once_per_pair_and_not_again_after_a_restart() {
    let seller_dir = tempfile::tempdir().unwrap();
    let buyer_dir = tempfile::tempdir().unwrap();
    let berlin = (52.52, 13.405);
    let hamburg = (53.55, 9.99);
    let bike = listing("bike-1", 1, "Road bike, 56 cm", eur(250), berlin);
    let far = listing("bike-2", 1, "Road bike", eur(200), hamburg);
    let dear = listing("bike-3", 1, "Road bike, carbon", eur(400), berlin);
    let post = wanted("wanted-1", 1, "road bike", eur(300));
    let post_env = post.sign(&buyer()).unwrap();
    let listing_envs: Vec<SignedEnvelope> = [&bike, &far, &dear]
        .iter()
        .map(|l| l.sign(&seller()).unwrap())
        .collect();

    // The seller's node: its own listings first, then someone's wanted post.
    {
        let e = engine(seller_dir.path());
        let a = alerts_of(&e, &seller());
        let (_, evs) = ingest(&e, listing_envs.clone());
        a.process(&evs).unwrap();
        assert!(a.alerts(10, false).unwrap().0.is_empty());
        let (_, evs) = ingest(&e, vec![post_env.clone()]);
        a.process(&evs).unwrap();
        let (got, _) = a.alerts(10, false).unwrap();
        assert_eq!(got.len(), 1, "{got:?}");
        assert_eq!(got[0].kind, AlertKind::WantedMatch);
        assert_eq!(
            got[0].listing,
            Some(bike.id(&seller().public()).to_string())
        );
        assert_eq!(got[0].wanted, Some(post.id(&buyer().public()).to_string()));
        // A renewal of the post is not news to the seller.
        let renewed = Wanted {
            seq: 2,
            signed_at: post.signed_at + 1,
            ..post.clone()
        };
        let (_, evs) = ingest(&e, vec![renewed.sign(&buyer()).unwrap()]);
        a.process(&evs).unwrap();
        assert_eq!(a.alerts(10, false).unwrap().0.len(), 1);
    }

    // The buyer's node: the post acts as a saved search.
    {
        let e = engine(buyer_dir.path());
        let a = alerts_of(&e, &buyer());
        let (_, evs) = ingest(&e, vec![post_env.clone()]);
        a.process(&evs).unwrap();
        let (_, evs) = ingest(&e, listing_envs.clone());
        a.process(&evs).unwrap();
        let (got, _) = a.alerts(10, false).unwrap();
        assert_eq!(got.len(), 1, "only the near, affordable bike: {got:?}");
        assert_eq!(got[0].kind, AlertKind::Match);
        assert_eq!(
            got[0].listing,
            Some(bike.id(&seller().public()).to_string())
        );
        assert_eq!(got[0].search_name, "wanted: road bike");
    }
    // Restarted: the own post is loaded from the store; a re-delivery does not alert again,
    // a lower price does.
    {
        let e = engine(buyer_dir.path());
        let a = alerts_of(&e, &buyer());
        let mut rx = e.subscribe();
        let again = vec![listing_envs[0].clone()];
        e.ingest(again, Source::Import).unwrap();
        let mut evs = Vec::new();
        while let Ok(ev) = rx.try_recv() {
            evs.push(ev);
        }
        a.process(&evs).unwrap();
        assert_eq!(a.alerts(10, false).unwrap().0.len(), 1);
        let cheaper = Listing {
            seq: 2,
            price: eur(220),
            ..bike.clone()
        };
        let (_, evs) = ingest(&e, vec![cheaper.sign(&seller()).unwrap()]);
        a.process(&evs).unwrap();
        let (got, _) = a.alerts(10, false).unwrap();
        assert_eq!(got.len(), 2, "{got:?}");
        assert_eq!(got[0].kind, AlertKind::PriceDrop);
        assert_eq!(got[0].previous_price, Some(eur(250)));
    }
}

#[test]
fn a_catch_up_that_brings_many_answers_to_a_wanted_post_becomes_one_digest() {
    let dir = tempfile::tempdir().unwrap();
    let berlin = (52.52, 13.405);
    let e = engine(dir.path());
    let a = alerts_of(&e, &buyer());
    let post = wanted("wanted-1", 1, "road bike", eur(300));
    let (_, evs) = ingest(&e, vec![post.sign(&buyer()).unwrap()]);
    a.process(&evs).unwrap();
    // A sync brings 60 road bikes at once, all answering the post.
    let bikes: Vec<SignedEnvelope> = (0..60)
        .map(|i| {
            listing(&format!("bike-{i}"), 1, "Road bike", eur(100 + i), berlin)
                .sign(&seller())
                .unwrap()
        })
        .collect();
    let (_, evs) = ingest(&e, bikes);
    a.process(&evs).unwrap();
    let (got, _) = a.alerts(100, false).unwrap();
    let single = swapmeet_node::alerts::DIGEST_AFTER as usize;
    assert_eq!(got.len(), single + 1, "{got:?}");
    let digest = &got[0];
    assert_eq!(digest.kind, AlertKind::Digest);
    assert_eq!(digest.count as usize, 60 - single);
    assert_eq!(digest.listings.len(), 60 - single);
    assert_eq!(digest.search_name, "wanted: road bike");
    assert_eq!(digest.wanted, Some(post.id(&buyer().public()).to_string()));
    assert!(got[1..].iter().all(|x| x.kind == AlertKind::Match));
}

#[test]
fn the_bridge_report_names_wanted_posts_the_catalogue_answers() {
    let dir = tempfile::tempdir().unwrap();
    let e = engine(dir.path());
    let shop = seller();
    let bike = listing("sku-1", 1, "Road bike, 56 cm", eur(250), (52.52, 13.405));
    let sofa = listing("sku-2", 1, "Green sofa", eur(90), (52.52, 13.405));
    ingest(
        &e,
        vec![bike.sign(&shop).unwrap(), sofa.sign(&shop).unwrap()],
    );
    assert_eq!(catalogue_demand(&e, &shop.public()).unwrap().count, 0);
    let posts = [
        wanted("wanted-1", 1, "road bike", eur(300)),
        wanted("wanted-2", 1, "road bike", eur(100)),
        wanted("wanted-3", 1, "tandem", eur(900)),
    ];
    ingest(
        &e,
        posts.iter().map(|p| p.sign(&buyer()).unwrap()).collect(),
    );
    // The shop's own wanted post does not count.
    ingest(
        &e,
        vec![wanted("wanted-4", 1, "road bike", eur(900))
            .sign(&shop)
            .unwrap()],
    );
    let d = catalogue_demand(&e, &shop.public()).unwrap();
    assert_eq!(d.count, 1, "{d:?}");
    assert_eq!(d.titles, vec!["road bike".to_string()]);
}
