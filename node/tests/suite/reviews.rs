//! Reviews and reputation in one engine (the rules that need no network) and through a real
//! node's API: typed refusals, replacement, the figures, search by rating, the `review` event.
//!
//! Deals are built with the protocol's API: in a test both parties' keys are known, so the
//! receipt carries two real signatures.

use crate::reviews_support;

use reviews_support::*;
use swapmeet_node::authoring::Author;
use swapmeet_node::market::reputation::Reputation;
use swapmeet_node::search::SearchQuery;
use swapmeet_node::{IngestOutcome, Source};
use swapmeet_protocol::{Currency, ListingId};

#[test]
fn invalid_reviews_are_refused_with_their_typed_reason_and_not_stored() {
    let dir = tempfile::tempdir().unwrap();
    let e = engine(dir.path());
    let (s, b, x) = (key(1), key(2), key(3));
    let receipt = deal(&s, &b, "bike-1", 1);
    for (what, bytes, is_reason) in invalid_reviews(&s, &b, &x, &receipt) {
        let out = e.ingest_bytes(&[&bytes], Source::Import).unwrap();
        match &out[0] {
            IngestOutcome::ReviewRejected { error, reason } => {
                assert!(is_reason(error), "{what}: {error:?}");
                assert!(!reason.is_empty());
            }
            other => panic!("{what} was not rejected: {other:?}"),
        }
    }
    assert!(e.reviews().is_empty());
    assert_eq!(e.reputation(&s.public()), Reputation::default());
    // The valid one is stored.
    let ok = review(&b, &receipt, s.public(), 5, now());
    assert!(stored(&e.ingest_bytes(&[&ok], Source::Import).unwrap()[0]));
}

#[test]
fn a_later_review_replaces_the_earlier_and_reputation_counts_deal_bound_reviews_once() {
    let dir = tempfile::tempdir().unwrap();
    let (s, b1, b2) = (key(1), key(2), key(4));
    let t = now();
    let first = deal(&s, &b1, "bike-1", 1);
    let second = deal(&s, &b2, "lamp-1", 2);
    {
        let e = engine(dir.path());
        let early = review(&b1, &first, s.public(), 2, t - 30);
        let late = review(&b1, &first, s.public(), 5, t - 10);
        // The later one arrives first: the earlier one is then stale, not a second review.
        assert!(stored(
            &e.ingest_bytes(&[&late], Source::Import).unwrap()[0]
        ));
        let out = e.ingest_bytes(&[&early], Source::Import).unwrap();
        assert!(
            matches!(out[0], IngestOutcome::ReviewStale { .. }),
            "{out:?}"
        );
        // The same review again is a duplicate.
        let out = e.ingest_bytes(&[&late], Source::Import).unwrap();
        assert!(
            matches!(out[0], IngestOutcome::ReviewDuplicate { .. }),
            "{out:?}"
        );
        // A review written later still replaces it (the buyer changed its mind).
        let latest = review(&b1, &first, s.public(), 4, t - 5);
        match &e.ingest_bytes(&[&latest], Source::Import).unwrap()[0] {
            IngestOutcome::ReviewStored { replaced, .. } => assert!(replaced),
            o => panic!("{o:?}"),
        }
        // The seller reviews the buyer: the same deal, counted once.
        let back = review(&s, &first, b1.public(), 5, t - 5);
        assert!(stored(
            &e.ingest_bytes(&[&back], Source::Import).unwrap()[0]
        ));
        // A second deal with another buyer, reviewed 5.
        let other = review(&b2, &second, s.public(), 5, t - 5);
        assert!(stored(
            &e.ingest_bytes(&[&other], Source::Import).unwrap()[0]
        ));
        let rep = e.reputation(&s.public());
        assert_eq!(
            rep,
            Reputation {
                deals: 2,
                reviews: 2,
                average_rating: Some(4.5)
            }
        );
        assert_eq!(
            e.reputation(&b1.public()),
            Reputation {
                deals: 1,
                reviews: 1,
                average_rating: Some(5.0)
            }
        );
        let about = e.reviews().about(&s.public(), 10, now()).unwrap();
        assert_eq!(about.len(), 2);
        assert!(about.iter().any(|r| r.summary.rating == 4));
        assert!(!about.iter().any(|r| r.summary.rating == 2));
        e.shutdown().unwrap();
    }
    // Figures are rebuilt the same when the node starts again.
    let e = engine(dir.path());
    assert_eq!(e.reviews().len(), 3);
    assert_eq!(
        e.reputation(&s.public()),
        Reputation {
            deals: 2,
            reviews: 2,
            average_rating: Some(4.5)
        }
    );
}

#[test]
fn reviews_by_a_blocked_writer_are_refused_and_not_shown() {
    let dir = tempfile::tempdir().unwrap();
    let (s, b1, b2) = (key(1), key(2), key(4));
    let t = now();
    let first = deal(&s, &b1, "bike-1", 1);
    let second = deal(&s, &b2, "lamp-1", 2);
    let e = engine(dir.path());
    for r in [
        review(&b1, &first, s.public(), 1, t - 30),
        review(&b2, &second, s.public(), 5, t - 30),
    ] {
        assert!(stored(&e.ingest_bytes(&[&r], Source::Import).unwrap()[0]));
    }
    e.block_seller(&b1.public()).unwrap();
    // What the blocked key wrote is not shown; what it writes later is not taken.
    let shown = e
        .reviews()
        .about_except(&s.public(), 10, now(), |by| e.moderation().is_blocked(by))
        .unwrap();
    assert_eq!(shown.len(), 1);
    assert_eq!(shown[0].summary.rating, 5);
    let later = review(&b1, &first, s.public(), 2, t - 5);
    let out = e.ingest_bytes(&[&later], Source::Import).unwrap();
    assert!(
        matches!(out[0], IngestOutcome::ReviewBlocked { .. }),
        "{out:?}"
    );
    assert_eq!(e.reviews().len(), 2);
    e.shutdown().unwrap();
}

#[test]
fn search_hits_carry_the_sellers_rating_and_min_rating_filters_by_it() {
    let dir = tempfile::tempdir().unwrap();
    let e = engine(dir.path());
    let eur = Currency::new("EUR").unwrap();
    let (good, poor, unrated, buyer) = (key(1), key(5), key(6), key(2));
    let mut ids = Vec::new();
    for k in [&good, &poor, &unrated] {
        let a = Author::new(k.clone(), eur, Some(BERLIN), e.clone());
        ids.push(a.create(&draft("Road bike")).unwrap().id);
    }
    for (k, rating, n) in [(&good, 5, 1), (&poor, 2, 2)] {
        let r = deal(k, &buyer, "old-item", n);
        let bytes = review(&buyer, &r, k.public(), rating, now());
        assert!(stored(
            &e.ingest_bytes(&[&bytes], Source::Import).unwrap()[0]
        ));
    }
    e.commit().unwrap();
    let search = |min_rating| {
        e.search(&SearchQuery {
            text: Some("bike".into()),
            min_rating,
            ..SearchQuery::default()
        })
        .unwrap()
    };
    let all = search(None);
    assert_eq!(all.hits.len(), 3);
    let hit = all.hits.iter().find(|h| h.id == ids[0]).unwrap();
    assert_eq!(hit.seller_reputation.average_rating, Some(5.0));
    assert_eq!(hit.seller_reputation.deals, 1);
    let unrated_hit = all.hits.iter().find(|h| h.id == ids[2]).unwrap();
    assert_eq!(unrated_hit.seller_reputation, Reputation::default());

    let at_least_4 = search(Some(4.0));
    assert_eq!(
        at_least_4
            .hits
            .iter()
            .map(|h| h.id)
            .collect::<Vec<ListingId>>(),
        vec![ids[0]]
    );
    assert_eq!(at_least_4.total, 1);
    let at_least_2 = search(Some(2.0));
    assert_eq!(at_least_2.hits.len(), 2);
    // Nobody is rated 5 and above but the good seller; nobody above 5 exists.
    assert!(search(Some(5.0)).hits.iter().all(|h| h.id == ids[0]));
    // Out of range is refused, naming the field.
    let err = e
        .search(&SearchQuery {
            min_rating: Some(6.0),
            ..SearchQuery::default()
        })
        .unwrap_err()
        .to_string();
    assert!(err.contains("min_rating"), "{err}");
}

/// A real node with its API: a review imported as a `swapmeet1:` line is announced on the
/// event stream as a `review` event, and `GET /v1/reviews` lists it with the figures.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_api_lists_reviews_and_streams_a_review_event() {
    use std::io::BufRead;
    use swapmeet_node::home::{Home, InitOptions};
    use swapmeet_node::node::{Node, NodeOptions};

    let dir = tempfile::tempdir().unwrap();
    let home = Home::new(dir.path().to_path_buf());
    home.init(&InitOptions {
        location: Some(BERLIN),
        currency: Some(Currency::new("EUR").unwrap()),
    })
    .unwrap();
    let node = Node::start(
        home,
        NodeOptions {
            api: Some("127.0.0.1:0".parse().unwrap()),
            no_mdns: true,
            listen: vec!["/ip4/127.0.0.1/tcp/0".into()],
            ..Default::default()
        },
    )
    .await
    .unwrap();
    let base = format!("http://{}", node.api_addr());
    let auth = format!("Bearer {}", node.token());
    let (s, b) = (key(110), key(111));
    let r = deal(&s, &b, "bike-1", 7);
    let line = swapmeet_node::api::envelope_to_text(&review(&b, &r, s.public(), 4, now()));
    let about = s.public().to_string();
    let result = tokio::time::timeout(
        DEADLINE,
        tokio::task::spawn_blocking(move || {
            let agent = ureq::Agent::new_with_config(
                ureq::Agent::config_builder()
                    .http_status_as_error(false)
                    .build(),
            );
            let get = |path: &str| -> (u16, serde_json::Value) {
                let mut resp = agent
                    .get(format!("{base}{path}"))
                    .header("Authorization", &auth)
                    .call()
                    .unwrap();
                let status = resp.status().as_u16();
                (status, resp.body_mut().read_json().unwrap())
            };
            let events = agent
                .get(format!("{base}/v1/events"))
                .header("Authorization", &auth)
                .call()
                .unwrap();
            let mut lines = std::io::BufReader::new(events.into_body().into_reader()).lines();
            let mut resp = agent
                .post(format!("{base}/v1/import"))
                .header("Authorization", &auth)
                .header("Content-Type", "application/json")
                .send(serde_json::json!({ "lines": [line] }).to_string())
                .unwrap();
            let imported: serde_json::Value = resp.body_mut().read_json().unwrap();
            assert_eq!(imported["results"][0]["outcome"], "stored", "{imported}");
            // The named event, then its data.
            loop {
                let l = lines.next().expect("stream ended").unwrap();
                if l.trim() == "event: review" {
                    break;
                }
            }
            let data = lines.next().expect("stream ended").unwrap();
            let ev: serde_json::Value =
                serde_json::from_str(data.trim_start_matches("data:").trim()).unwrap();
            assert_eq!(ev["rating"], 4);
            assert_eq!(ev["about"], about.as_str());
            assert_eq!(ev["source"]["kind"], "import");

            let (status, listed) = get(&format!("/v1/reviews?about={about}"));
            assert_eq!(status, 200);
            assert_eq!(listed["reputation"]["deals"], 1);
            assert_eq!(listed["reputation"]["average_rating"], 4.0);
            assert_eq!(listed["reviews"][0]["text"], "4 stars");
            assert!(listed["reviews"][0]["line"]
                .as_str()
                .unwrap()
                .starts_with("swapmeet1:"));
            let (status, err) = get("/v1/reviews?about=nobody");
            assert_eq!(status, 400);
            assert_eq!(err["field"], "about");
            let (status, err) = get(&format!("/v1/reviews?about={about}&limit=0"));
            assert_eq!(status, 400);
            assert_eq!(err["field"], "limit");
        }),
    )
    .await;
    result.expect("test timed out").unwrap();
    tokio::time::timeout(DEADLINE, node.shutdown())
        .await
        .expect("shutdown hung")
        .unwrap();
}

/// A saved search with `min_rating` alerts as the same search finds: on the listings of
/// sellers rated at least that, not on unrated or poorly rated ones.
#[test]
fn a_saved_search_with_min_rating_alerts_only_on_well_rated_sellers() {
    use swapmeet_node::alerts::{Alerts, AlertsConfig};
    let dir = tempfile::tempdir().unwrap();
    let e = engine(dir.path());
    let alerts = Alerts::open(e.clone(), AlertsConfig::default()).unwrap();
    let (good, poor, unrated, buyer) = (key(1), key(5), key(6), key(2));
    for (k, rating, n) in [(&good, 5, 1), (&poor, 2, 2)] {
        let r = deal(k, &buyer, "old-item", n);
        let bytes = review(&buyer, &r, k.public(), rating, now());
        assert!(stored(
            &e.ingest_bytes(&[&bytes], Source::Import).unwrap()[0]
        ));
    }
    alerts
        .add(
            Some("good bikes".into()),
            SearchQuery {
                text: Some("bike".into()),
                min_rating: Some(4.0),
                ..SearchQuery::default()
            },
        )
        .unwrap();
    let eur = Currency::new("EUR").unwrap();
    let mut rx = e.subscribe();
    let mut ids = Vec::new();
    for k in [&good, &poor, &unrated] {
        let a = Author::new(k.clone(), eur, Some(BERLIN), e.clone());
        ids.push(a.create(&draft("Road bike")).unwrap().id);
    }
    let mut events = Vec::new();
    while let Ok(ev) = rx.try_recv() {
        events.push(ev);
    }
    assert_eq!(alerts.process(&events).unwrap(), 1);
    let (found, _) = alerts.alerts(10, false).unwrap();
    let listings: Vec<String> = found.iter().filter_map(|a| a.listing.clone()).collect();
    assert_eq!(listings, vec![ids[0].to_string()], "{found:?}");
}
