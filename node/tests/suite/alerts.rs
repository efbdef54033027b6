//! Saved searches as a user relies on them: a saved search alerts on exactly what the same
//! search finds, once per listing, again for a lower price, in a digest for a burst, and not
//! after it is removed or the node restarts.

use std::sync::Arc;

use swapmeet_node::alerts::percolator::Percolator;
use swapmeet_node::alerts::{AlertError, AlertKind, Alerts, AlertsConfig, DIGEST_AFTER};
use swapmeet_node::search::{GeoFilter, PriceFilter, SearchQuery};
use swapmeet_node::{Engine, EngineConfig, Event, Source};
use swapmeet_protocol::{
    decode_stored, geo, Category, Condition, Currency, Delivery, Listing, Location, Price, Record,
    SecretKey, SignedEnvelope, WithdrawReason, Withdrawal,
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

fn listing(item: &str, seq: u64, title: &str, price: Price) -> Listing {
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

/// Ingests and returns the events the ingest broadcast.
fn ingest(e: &Engine, envs: Vec<SignedEnvelope>) -> Vec<Event> {
    let mut rx = e.subscribe();
    e.ingest(envs, Source::Import).unwrap();
    e.commit().unwrap();
    let mut events = Vec::new();
    while let Ok(ev) = rx.try_recv() {
        events.push(ev);
    }
    events
}

fn sign(l: &Listing) -> SignedEnvelope {
    l.sign(&SecretKey::from_bytes([3; 32])).unwrap()
}

fn text(t: &str) -> SearchQuery {
    SearchQuery {
        text: Some(t.into()),
        ..Default::default()
    }
}

#[test]
fn a_saved_search_alerts_on_exactly_what_the_search_finds() {
    let dir = tempfile::tempdir().unwrap();
    let e = engine(dir.path());
    let mut synth = swapmeet_node::synth::Synth::new(11, 50, NOW);
    let envs: Vec<SignedEnvelope> = (0..3000).map(|_| synth.signed()).collect();
    ingest(&e, envs.clone());
    let eur = Currency::new("EUR").unwrap();
    let berlin = GeoFilter {
        lat: 52.52,
        lon: 13.405,
        radius_km: Some(15.0),
    };
    let queries = vec![
        text("road bike"),
        text("Bikes"),
        text("bike helmet"),
        text("sofa"),
        SearchQuery {
            category: Some(Category::Furniture),
            ..Default::default()
        },
        SearchQuery {
            price: Some(PriceFilter {
                currency: eur,
                min_minor: None,
                max_minor: Some(5_000),
            }),
            ..text("bike")
        },
        SearchQuery {
            near: Some(berlin),
            ..text("chair")
        },
        SearchQuery {
            near: Some(berlin),
            condition: Some(Condition::Good),
            ..Default::default()
        },
        SearchQuery {
            price: Some(PriceFilter {
                currency: eur,
                min_minor: Some(10_000),
                max_minor: Some(40_000),
            }),
            category: Some(Category::Bikes),
            ..Default::default()
        },
    ];
    let mut p = Percolator::default();
    for (i, q) in queries.iter().enumerate() {
        p.insert(i as u64, q.clone());
    }
    let mut matched: Vec<Vec<swapmeet_protocol::ListingId>> = vec![Vec::new(); queries.len()];
    for env in &envs {
        let parts = decode_stored(env.as_bytes()).unwrap();
        let Record::Listing(l) = parts.record else {
            unreachable!()
        };
        let id = l.id(&env.signer());
        for s in p.matches(&parts.signer, &l, NOW) {
            matched[s as usize].push(id);
        }
    }
    for (i, q) in queries.iter().enumerate() {
        let found = e
            .search(&SearchQuery {
                exact_total: true,
                limit: Some(100),
                ..q.clone()
            })
            .unwrap();
        assert!(found.total > 0, "query {i} finds nothing: a weak test");
        assert_eq!(found.total, matched[i].len(), "query {i}: {q:?}");
        for h in &found.hits {
            assert!(
                matched[i].contains(&h.id),
                "query {i}: {:?} not alerted",
                h.id
            );
        }
    }
}

/// Saves "road bike" under 300 EUR as "bikes".
fn save_road_bikes(alerts: &Alerts) -> swapmeet_node::alerts::SavedSearch {
    alerts
        .add(
            Some("bikes".into()),
            SearchQuery {
                price: Some(PriceFilter {
                    currency: Currency::new("EUR").unwrap(),
                    min_minor: None,
                    max_minor: Some(30_000),
                }),
                ..text("road bike")
            },
        )
        .unwrap()
}

#[test]
fn alerts_fire_once_again_on_a_lower_price_and_persist() {
    let dir = tempfile::tempdir().unwrap();
    let e = engine(dir.path());
    let alerts = Alerts::open(e.clone(), AlertsConfig::default()).unwrap();
    let saved = save_road_bikes(&alerts);
    let evs = ingest(
        &e,
        vec![sign(&listing("a", 1, "Road bike, 56 cm", eur(250)))],
    );
    assert_eq!(alerts.process(&evs).unwrap(), 1);
    // Not matching: too dear, another word.
    let evs = ingest(
        &e,
        vec![
            sign(&listing("b", 1, "Road bike", eur(400))),
            sign(&listing("c", 1, "Mountain bike", eur(100))),
        ],
    );
    assert_eq!(alerts.process(&evs).unwrap(), 0);
    // The same events again (a re-delivery) do not alert twice.
    let again = ingest(
        &e,
        vec![sign(&listing("a", 1, "Road bike, 56 cm", eur(250)))],
    );
    assert_eq!(alerts.process(&again).unwrap(), 0);
    // A dearer version is not news; a cheaper one is.
    let evs = ingest(
        &e,
        vec![sign(&listing("a", 2, "Road bike, 56 cm", eur(280)))],
    );
    assert_eq!(alerts.process(&evs).unwrap(), 0);
    let evs = ingest(
        &e,
        vec![sign(&listing("a", 3, "Road bike, 56 cm", eur(200)))],
    );
    assert_eq!(alerts.process(&evs).unwrap(), 1);
    let (list, unseen) = alerts.alerts(10, true).unwrap();
    assert_eq!(unseen, 2);
    assert_eq!(list[0].kind, AlertKind::PriceDrop);
    assert_eq!(list[0].previous_price, Some(eur(280)));
    assert_eq!(list[1].kind, AlertKind::Match);
    assert!(list.iter().all(|a| a.search == Some(saved.id) && !a.seen));
    assert_eq!(alerts.alerts(10, false).unwrap().1, 0);
    drop(alerts);

    // After a restart the search is still there and the same listing, delivered again (by a
    // peer's sync, say), does not alert again: the store already has that version, so no
    // change reaches the alerts; an older version is stale and does not either.
    let alerts = Alerts::open(e.clone(), AlertsConfig::default()).unwrap();
    assert_eq!(alerts.list().unwrap(), vec![saved.clone()]);
    let again = ingest(
        &e,
        vec![
            sign(&listing("a", 3, "Road bike, 56 cm", eur(200))),
            sign(&listing("a", 2, "Road bike, 56 cm", eur(280))),
        ],
    );
    assert!(again.is_empty());
    assert_eq!(alerts.process(&again).unwrap(), 0);
    assert_eq!(alerts.alerts(10, false).unwrap().0.len(), 2);

    // Removed: no more alerts.
    alerts.remove("bikes").unwrap();
    let evs = ingest(&e, vec![sign(&listing("d", 1, "Road bike", eur(90)))]);
    assert_eq!(alerts.process(&evs).unwrap(), 0);
    assert!(matches!(
        alerts.remove("bikes"),
        Err(AlertError::Unknown(_))
    ));
}

/// An update alerts when the listing enters a search, or is cheaper than the version it
/// replaced in a search it stays in; leaving a search and coming back is not news unless it
/// comes back cheaper; a version nobody judged (replaced in the same batch, or before its
/// batch was matched) does not count as alerted on.
#[test]
fn updates_alert_on_entering_a_search_or_getting_cheaper_once_per_listing() {
    let dir = tempfile::tempdir().unwrap();
    let e = engine(dir.path());
    let alerts = Alerts::open(e.clone(), AlertsConfig::default()).unwrap();
    save_road_bikes(&alerts);
    let step = |l: Listing| alerts.process(&ingest(&e, vec![sign(&l)])).unwrap();
    let last = |alerts: &Alerts| {
        let a = alerts.alerts(1, false).unwrap().0.remove(0);
        (a.kind, a.price, a.previous_price)
    };
    // Too dear at first; an update into the price range enters the search: a match.
    assert_eq!(step(listing("a", 1, "Road bike", eur(350))), 0);
    assert_eq!(step(listing("a", 2, "Road bike", eur(290))), 1);
    assert_eq!(last(&alerts), (AlertKind::Match, Some(eur(290)), None));
    // Out of range again, then back at the same price: already alerted.
    assert_eq!(step(listing("a", 3, "Road bike", eur(320))), 0);
    assert_eq!(step(listing("a", 4, "Road bike", eur(290))), 0);
    // Out (another title), then back cheaper than when it left: a price drop from then.
    assert_eq!(step(listing("a", 5, "Road bicycle", eur(290))), 0);
    assert_eq!(step(listing("a", 6, "Road bike", eur(260))), 1);
    assert_eq!(
        last(&alerts),
        (AlertKind::PriceDrop, Some(eur(260)), Some(eur(290)))
    );
    // A new listing and its update in one batch: the update is its first judged version.
    let both = ingest(
        &e,
        vec![
            sign(&listing("b", 1, "Road bike", eur(250))),
            sign(&listing("b", 2, "Road bike", eur(240))),
        ],
    );
    assert_eq!(both.len(), 2);
    assert_eq!(alerts.process(&both).unwrap(), 1);
    assert_eq!(last(&alerts), (AlertKind::Match, Some(eur(240)), None));
    // A new listing whose next version was stored before its batch was matched: passed
    // over, and the next version is a match, not an update of something alerted.
    let first = ingest(&e, vec![sign(&listing("c", 1, "Road bike", eur(220)))]);
    let second = ingest(&e, vec![sign(&listing("c", 2, "Road bike", eur(230)))]);
    assert_eq!(alerts.process(&first).unwrap(), 0);
    assert_eq!(alerts.process(&second).unwrap(), 1);
    assert_eq!(last(&alerts), (AlertKind::Match, Some(eur(230)), None));
    // Withdrawn and the id's record gone: nothing alerts for it any more.
    let evs = ingest(&e, vec![withdrawal("c", 3, WithdrawReason::Sold)]);
    assert_eq!(alerts.process(&evs).unwrap(), 0);
}

#[test]
fn a_burst_of_matches_becomes_one_digest() {
    let dir = tempfile::tempdir().unwrap();
    let e = engine(dir.path());
    let alerts = Alerts::open(e.clone(), AlertsConfig::default()).unwrap();
    alerts.add(None, text("lamp")).unwrap();
    let n = DIGEST_AFTER as usize + 30;
    let envs: Vec<SignedEnvelope> = (0..n)
        .map(|i| sign(&listing(&format!("l{i}"), 1, "Desk lamp", eur(10))))
        .collect();
    let evs = ingest(&e, envs);
    assert_eq!(alerts.process(&evs).unwrap(), DIGEST_AFTER as usize + 1);
    let (list, _) = alerts.alerts(100, false).unwrap();
    assert_eq!(list.len(), DIGEST_AFTER as usize + 1);
    assert_eq!(list[0].kind, AlertKind::Digest);
    assert_eq!(list[0].count, 30);
    assert_eq!(list[0].listings.len(), 30);
}

/// With many saved searches, a catch-up that matches a few listings of each is still a few
/// notifications: past DIGEST_AFTER alerts in the window over all searches, each search's
/// further matches go into one digest of that search, and the digests' counts are kept.
#[test]
fn a_burst_over_many_searches_is_limited_in_total_and_digested_per_search() {
    let dir = tempfile::tempdir().unwrap();
    let e = engine(dir.path());
    let alerts = Alerts::open(e.clone(), AlertsConfig::default()).unwrap();
    let items = ["lamp", "chair", "table", "mirror", "rug"];
    for item in items {
        alerts.add(Some(item.into()), text(item)).unwrap();
    }
    // 10 of each: no search reaches DIGEST_AFTER alone, 50 together do.
    let per = 10;
    let envs: Vec<SignedEnvelope> = (0..per)
        .flat_map(|i| items.map(|item| (i, item)))
        .map(|(i, item)| {
            sign(&listing(
                &format!("{item}{i}"),
                1,
                &format!("Old {item}"),
                eur(10),
            ))
        })
        .collect();
    let evs = ingest(&e, envs);
    let announced = alerts.process(&evs).unwrap();
    let (list, unseen) = alerts.alerts(1_000, false).unwrap();
    let singles = list.iter().filter(|a| a.kind == AlertKind::Match).count();
    let digests: Vec<_> = list
        .iter()
        .filter(|a| a.kind == AlertKind::Digest)
        .collect();
    assert_eq!(singles, DIGEST_AFTER as usize);
    assert_eq!(announced, singles + digests.len());
    assert_eq!(unseen, list.len());
    // Every match is counted exactly once, in an alert of its own search.
    let total: u64 = list.iter().map(|a| a.count).sum();
    assert_eq!(total, (per * items.len()) as u64);
    for d in &digests {
        assert!(items.contains(&d.search_name.as_str()), "{d:?}");
        assert_eq!(d.listings.len() as u64, d.count);
        assert!(d
            .listings
            .iter()
            .all(|l| list.iter().all(|a| a.listing.as_ref() != Some(l))));
    }
    // The digests' counts are in the log, so they outlive the process.
    alerts.flush_digests().unwrap();
    drop(alerts);
    let again = Alerts::open(e.clone(), AlertsConfig::default()).unwrap();
    let (after, _) = again.alerts(1_000, false).unwrap();
    assert_eq!(after.iter().map(|a| a.count).sum::<u64>(), total);
}

#[test]
fn bad_saved_searches_are_refused_and_nothing_is_stored() {
    let dir = tempfile::tempdir().unwrap();
    let e = engine(dir.path());
    let alerts = Alerts::open(e.clone(), AlertsConfig::default()).unwrap();
    let refused =
        |name: Option<&str>, q: SearchQuery| alerts.add(name.map(str::to_string), q).unwrap_err();
    assert!(matches!(
        refused(Some(&"x".repeat(65)), text("bike")),
        AlertError::Invalid { field: "name", .. }
    ));
    assert!(matches!(
        refused(Some("42"), text("bike")),
        AlertError::Invalid { field: "name", .. }
    ));
    assert!(matches!(
        refused(None, text("\"road bike\"")),
        AlertError::Invalid { field: "text", .. }
    ));
    assert!(matches!(
        refused(
            None,
            SearchQuery {
                near: Some(GeoFilter {
                    lat: 95.0,
                    lon: 0.0,
                    radius_km: None
                }),
                ..Default::default()
            }
        ),
        AlertError::Invalid { field: "near", .. }
    ));
    assert!(matches!(
        refused(None, text("!!! ...")),
        AlertError::Invalid { field: "text", .. }
    ));
    assert!(alerts.list().unwrap().is_empty());
    alerts.add(None, text("bike")).unwrap();
    assert!(matches!(
        refused(None, text("bike")),
        AlertError::Duplicate(_)
    ));
    assert_eq!(alerts.list().unwrap().len(), 1);
}

/// An engine whose clock the test moves.
fn engine_at(dir: &std::path::Path, clock: Arc<std::sync::atomic::AtomicU64>) -> Engine {
    let config = EngineConfig {
        clock: Arc::new(move || clock.load(std::sync::atomic::Ordering::SeqCst)),
        ..EngineConfig::default()
    };
    Engine::open(dir, config).unwrap().0
}

fn withdrawal(item: &str, seq: u64, reason: WithdrawReason) -> SignedEnvelope {
    Withdrawal {
        item_key: item.into(),
        seq,
        signed_at: NOW - 10,
        reason,
        area: Some(geo::encode(52.52, 13.405, 6)),
        ships: false,
    }
    .sign(&SecretKey::from_bytes([3; 32]))
    .unwrap()
}

fn kinds(alerts: &Alerts) -> Vec<AlertKind> {
    alerts
        .alerts(100, false)
        .unwrap()
        .0
        .into_iter()
        .map(|a| a.kind)
        .collect()
}

/// A watched listing alerts when its price changes (either way), when it comes within its
/// expiry warning (once per expiry), and when it is sold; a stale re-delivery changes nothing;
/// the watch survives a restart and ends with the listing.
#[test]
fn a_watched_listing_alerts_on_price_expiry_and_sale() {
    let dir = tempfile::tempdir().unwrap();
    let e = engine(dir.path());
    let config = AlertsConfig {
        expiry_warning: std::time::Duration::from_secs(48 * 3600),
        ..AlertsConfig::default()
    };
    let alerts = Alerts::open(e.clone(), config.clone()).unwrap();
    let first = sign(&listing("a", 1, "Road bike", eur(250)));
    let id = ingest(&e, vec![first.clone()])[0].id;
    // Refused: not an id, not stored, twice.
    assert!(matches!(
        alerts.watch_listing("bike"),
        Err(AlertError::Invalid {
            field: "listing",
            ..
        })
    ));
    let unknown =
        listing("zz", 1, "Other", eur(1)).id(&sign(&listing("zz", 1, "Other", eur(1))).signer());
    assert!(matches!(
        alerts.watch_listing(&unknown.to_string()),
        Err(AlertError::Invalid {
            field: "listing",
            ..
        })
    ));
    let w = alerts.watch_listing(&id.to_string()).unwrap();
    assert_eq!((w.price, w.seq), (eur(250), 1));
    assert!(matches!(
        alerts.watch_listing(&id.to_string()),
        Err(AlertError::Invalid {
            field: "listing",
            ..
        })
    ));
    assert!(kinds(&alerts).is_empty(), "a week from expiry: no warning");

    // Dearer: a price change alerts too (the watcher wants to know either way).
    let evs = ingest(&e, vec![sign(&listing("a", 2, "Road bike", eur(280)))]);
    assert_eq!(alerts.process(&evs).unwrap(), 1);
    let (list, _) = alerts.alerts(10, false).unwrap();
    assert_eq!(list[0].kind, AlertKind::PriceChange);
    assert_eq!(list[0].listing.as_deref(), Some(id.to_string().as_str()));
    assert_eq!(
        (list[0].price, list[0].previous_price),
        (Some(eur(280)), Some(eur(250)))
    );
    assert_eq!(list[0].search, None);
    // The first version again, as a late re-delivery would bring it: nothing.
    let stale = vec![swapmeet_node::Event {
        seq: 1,
        envelope: Arc::from(first.as_bytes().to_vec()),
        ..evs[0].clone()
    }];
    assert_eq!(alerts.process(&stale).unwrap(), 0);

    // Renewed to expire within the warning, same price: one warning, not two.
    let mut soon = listing("a", 3, "Road bike", eur(280));
    soon.expires_at = NOW + 86_400;
    let evs = ingest(&e, vec![sign(&soon)]);
    assert_eq!(alerts.process(&evs).unwrap(), 1);
    assert_eq!(alerts.check_expiry().unwrap(), 0);
    let (list, _) = alerts.alerts(10, false).unwrap();
    assert_eq!(list[0].kind, AlertKind::Expiring);
    assert_eq!(list[0].expires_at, Some(NOW + 86_400));
    drop(alerts);

    // After a restart it is still watched and still warned; a sale alerts and ends the watch.
    let alerts = Alerts::open(e.clone(), config).unwrap();
    assert_eq!(alerts.watched().unwrap().len(), 1);
    assert_eq!(alerts.check_expiry().unwrap(), 0);
    let evs = ingest(&e, vec![withdrawal("a", 4, WithdrawReason::Sold)]);
    assert_eq!(alerts.process(&evs).unwrap(), 1);
    assert_eq!(
        kinds(&alerts),
        vec![AlertKind::Sold, AlertKind::Expiring, AlertKind::PriceChange]
    );
    assert!(alerts.watched().unwrap().is_empty());
    assert!(matches!(
        alerts.unwatch_listing(&id.to_string()),
        Err(AlertError::NotWatched(_))
    ));
}

/// The user's own listing warns before it expires, once per expiry, naming the command that
/// renews it; after a renewal the new expiry warns in its time.
#[test]
fn own_listings_warn_before_they_expire_with_the_renew_command() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(std::sync::atomic::AtomicU64::new(NOW));
    let e = engine_at(dir.path(), clock.clone());
    let key = SecretKey::from_bytes([3; 32]);
    let config = AlertsConfig {
        owner: Some(key.public()),
        expiry_warning: std::time::Duration::from_secs(24 * 3600),
        ..AlertsConfig::default()
    };
    let alerts = Alerts::open(e.clone(), config).unwrap();
    let mut mine = listing("lamp", 1, "Desk lamp", eur(15));
    mine.expires_at = NOW + 3 * 86_400;
    let mut rx = e.subscribe();
    e.ingest(vec![sign(&mine)], Source::Local).unwrap();
    let ev = rx.try_recv().unwrap();
    let id = ev.id;
    assert_eq!(
        alerts.process(std::slice::from_ref(&ev)).unwrap(),
        0,
        "3 days left"
    );
    // Two days later it is within the day's warning.
    clock.store(NOW + 2 * 86_400 + 60, std::sync::atomic::Ordering::SeqCst);
    assert_eq!(alerts.check_expiry().unwrap(), 1);
    assert_eq!(alerts.check_expiry().unwrap(), 0, "warned once");
    let (list, _) = alerts.alerts(10, false).unwrap();
    assert_eq!(list[0].kind, AlertKind::Renew);
    assert_eq!(
        list[0].command.as_deref(),
        Some(format!("swapmeet renew {id}").as_str())
    );
    assert_eq!(list[0].expires_at, Some(NOW + 3 * 86_400));
    // Renewed for a week: no warning now, one a day before the new expiry.
    let mut renewed = mine.clone();
    renewed.seq = 2;
    renewed.expires_at = NOW + 9 * 86_400;
    e.ingest(vec![sign(&renewed)], Source::Local).unwrap();
    let ev = rx.try_recv().unwrap();
    assert_eq!(alerts.process(&[ev]).unwrap(), 0);
    assert_eq!(alerts.check_expiry().unwrap(), 0);
    clock.store(NOW + 8 * 86_400 + 60, std::sync::atomic::Ordering::SeqCst);
    assert_eq!(alerts.check_expiry().unwrap(), 1);
    // Someone else's listing never warns.
    let other = Listing {
        expires_at: NOW + 8 * 86_400 + 600,
        ..listing("x", 1, "Chair", eur(5))
    };
    e.ingest(
        vec![other.sign(&SecretKey::from_bytes([4; 32])).unwrap()],
        Source::Import,
    )
    .unwrap();
    let ev = rx.try_recv().unwrap();
    assert_eq!(alerts.process(&[ev]).unwrap(), 0);
    assert_eq!(alerts.check_expiry().unwrap(), 0);
}
