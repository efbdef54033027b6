//! Paging through a result set that does not change shows every match exactly once, for every
//! sort, when many listings tie on the sort key (a bridge run signs everything in the same
//! second; shops use round prices; equal titles score the same) and the index has several
//! segments with replaced documents in them.

use std::collections::HashMap;
use std::sync::Arc;

use swapmeet_node::search::{GeoFilter, PriceFilter, SearchQuery, Sort};
use swapmeet_node::{Engine, EngineConfig, Source};
use swapmeet_protocol::{
    geo, Category, Condition, Currency, Delivery, Listing, ListingId, Location, Price, SecretKey,
    SignedEnvelope,
};

const NOW: u64 = 1_800_000_000;
/// Every listing is signed in this one second.
const SIGNED: u64 = NOW - 100;
const WRITERS: u8 = 8;
const PER_WRITER: usize = 200;
const PAGE: usize = 100;

/// Listing `n` of writer `w`: one of four titles (so text scores tie in groups), one of five
/// prices (one of them free), one of three places (so distances tie).
fn listing(w: u8, n: usize, seq: u64) -> Listing {
    let titles = [
        "Pullover hoodie",
        "Zip hoodie, grey",
        "Hoodie with pockets and a hood",
        "Hoodie",
    ];
    let places = [(52.52, 13.405), (52.50, 13.30), (48.14, 11.58)];
    let i = n + usize::from(w);
    let price = match i % 5 {
        0 => Price::Free,
        k => Price::Fixed {
            amount_minor: 1000 * k as u64,
            currency: Currency::new("EUR").unwrap(),
        },
    };
    let (lat, lon) = places[i % places.len()];
    Listing {
        item_key: format!("w{w}-item-{n}"),
        seq,
        signed_at: SIGNED,
        expires_at: NOW + 7 * 86_400,
        title: titles[i % titles.len()].into(),
        description: String::new(),
        price,
        condition: Condition::Good,
        category: Category::Other,
        tags: vec![],
        quantity: 1,
        location: Some(Location {
            geohash: geo::encode(lat, lon, 6),
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

fn engine(dir: &std::path::Path) -> Engine {
    let config = EngineConfig {
        clock: Arc::new(|| NOW),
        ..EngineConfig::default()
    };
    Engine::open(dir, config).unwrap().0
}

/// Every page of `q` with `PAGE` hits, concatenated; and the total the first page reported.
/// Without `exact_total` a search past 1,000 matches prunes (skips what cannot make its
/// heap, hands tantivy a score threshold, starts later segments from the earlier ones' best):
/// the paths where a tie at the boundary is decided.
fn all_pages(e: &Engine, q: &SearchQuery) -> (Vec<ListingId>, usize) {
    let mut ids = Vec::new();
    let mut total = None;
    for page in 0.. {
        let r = e
            .search(&SearchQuery {
                limit: Some(PAGE),
                offset: Some(page * PAGE),
                ..q.clone()
            })
            .unwrap();
        total.get_or_insert(r.total);
        if r.hits.is_empty() {
            break;
        }
        ids.extend(r.hits.iter().map(|h| h.id));
    }
    (ids, total.unwrap_or(0))
}

fn assert_each_once(what: &str, ids: &[ListingId], expected: usize) {
    let mut seen: HashMap<ListingId, usize> = HashMap::new();
    for id in ids {
        *seen.entry(*id).or_default() += 1;
    }
    let repeated = seen.values().filter(|&&n| n > 1).count();
    assert_eq!(
        repeated, 0,
        "{what}: {repeated} listings on more than one page"
    );
    assert_eq!(
        seen.len(),
        expected,
        "{what}: {} distinct listings over all pages, {expected} match",
        seen.len()
    );
}

#[test]
fn paging_with_ties_shows_every_match_exactly_once_for_every_sort() {
    let dir = tempfile::tempdir().unwrap();
    let e = engine(dir.path());
    let keys: Vec<SecretKey> = (1..=WRITERS)
        .map(|w| SecretKey::from_bytes([w; 32]))
        .collect();
    let mut all: Vec<SignedEnvelope> = Vec::new();
    for (w, k) in (1..=WRITERS).zip(&keys) {
        for n in 0..PER_WRITER {
            all.push(listing(w, n, 1).sign(k).unwrap());
        }
    }
    // Six commits make six segments (tantivy's merge policy merges from eight), each
    // holding listings of every writer.
    let batches = 6;
    let per = all.len().div_ceil(batches);
    for batch in all.chunks(per) {
        e.ingest(batch.to_vec(), Source::Import).unwrap();
        e.commit().unwrap();
    }
    // A second version of some listings, in the same second: their first documents, in
    // older segments, are now deleted ones the collector must skip.
    let updates: Vec<SignedEnvelope> = (1..=WRITERS)
        .zip(&keys)
        .flat_map(|(w, k)| {
            (0..PER_WRITER)
                .step_by(7)
                .map(move |n| listing(w, n, 2).sign(k).unwrap())
        })
        .collect();
    e.ingest(updates, Source::Import).unwrap();
    e.commit().unwrap();

    let everyone = usize::from(WRITERS) * PER_WRITER;
    let berlin = GeoFilter {
        lat: 52.52,
        lon: 13.405,
        radius_km: None,
    };
    let sorts = [
        Sort::Relevance,
        Sort::PriceAsc,
        Sort::PriceDesc,
        Sort::Newest,
        Sort::Nearest,
    ];
    for sort in sorts {
        for text in [None, Some("hoodie"), Some("hoodie pockets")] {
            for exact_total in [true, false] {
                let q = SearchQuery {
                    text: text.map(str::to_string),
                    sort,
                    near: Some(berlin),
                    exact_total,
                    ..Default::default()
                };
                let (ids, total) = all_pages(&e, &q);
                let what = format!("{sort:?}, text {text:?}, exact_total {exact_total}");
                let expected = if text == Some("hoodie pockets") {
                    everyone / 4
                } else {
                    everyone
                };
                if exact_total {
                    assert_eq!(total, expected, "{what}: total");
                }
                assert_each_once(&what, &ids, expected);
            }
        }
    }

    // With a filter that drops some matches, and without a point.
    let q = SearchQuery {
        text: Some("hoodie".into()),
        sort: Sort::PriceAsc,
        price: Some(PriceFilter {
            currency: Currency::new("EUR").unwrap(),
            min_minor: Some(1500),
            max_minor: Some(3000),
        }),
        ..Default::default()
    };
    let (ids, _) = all_pages(&e, &q);
    assert_each_once("price-asc within 15..30 EUR", &ids, everyone * 2 / 5);

    // A first page asked for alone is the first page of the paged walk: a deeper search
    // does not reorder the top.
    for sort in sorts {
        let q = SearchQuery {
            text: Some("hoodie".into()),
            sort,
            near: Some(berlin),
            ..Default::default()
        };
        let (paged, _) = all_pages(&e, &q);
        let first: Vec<ListingId> = e
            .search(&SearchQuery {
                limit: Some(PAGE),
                ..q.clone()
            })
            .unwrap()
            .hits
            .iter()
            .map(|h| h.id)
            .collect();
        assert_eq!(first, paged[..PAGE], "{sort:?}: first page");
    }
}

/// A radius search past 1,000 matches drops documents on one column before reading the others
/// (the sort key once counting stops, the latitude for the radius) and a nearest-first search
/// drops points the flat estimate puts beyond its farthest kept hit: every order must come out
/// as a full ranking of every listing in the radius would give it.
#[test]
fn pruned_radius_searches_rank_as_a_full_ranking_would() {
    let dir = tempfile::tempdir().unwrap();
    let e = engine(dir.path());
    let mut seed = 0x2545_f491_4f6c_dd1du64;
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        (seed >> 11) as f64 / (1u64 << 53) as f64
    };
    let (lat0, lon0) = (52.52, 13.405);
    let radius = 12.0;
    // (geohash, signed at, price in cents) of every listing.
    let mut facts: Vec<(geo::GeoHash, u64, u64)> = Vec::new();
    let mut all: Vec<SignedEnvelope> = Vec::new();
    // A second version of every fourth listing (the same facts): signed in a second
    // commit, it leaves the first versions as deleted documents of the first segment.
    let mut again: Vec<SignedEnvelope> = Vec::new();
    for w in 1..=WRITERS {
        let key = SecretKey::from_bytes([w; 32]);
        for n in 0..400 {
            // Most within 15 km of the centre (about 2,000 inside the radius), one in ten in
            // Munich.
            let (lat, lon) = if n % 10 == 9 {
                (48.14 + next() * 0.1, 11.58 + next() * 0.1)
            } else {
                let d = 15.0 * next().sqrt();
                let bearing = next() * std::f64::consts::TAU;
                (
                    lat0 + d * bearing.cos() / 111.2,
                    lon0 + d * bearing.sin() / (111.2 * lat0.to_radians().cos()),
                )
            };
            let gh = geo::encode(lat, lon, 6);
            let signed_at = SIGNED - (next() * 100_000.0) as u64;
            let cents = 100 + (next() * 500.0) as u64 * 100;
            let mut l = listing(w, n, 1);
            l.title = format!("Road bike number {n}");
            l.signed_at = signed_at;
            l.price = Price::Fixed {
                amount_minor: cents,
                currency: Currency::new("EUR").unwrap(),
            };
            l.location = Some(Location {
                geohash: gh.clone(),
                place: None,
            });
            facts.push((gh, signed_at, cents));
            all.push(l.sign(&key).unwrap());
            if n % 4 == 0 {
                l.seq = 2;
                again.push(l.sign(&key).unwrap());
            }
        }
    }
    let inside: Vec<(f64, u64, u64)> = facts
        .iter()
        .map(|(gh, s, p)| (geo::haversine_km((lat0, lon0), geo::decode(gh)), *s, *p))
        .filter(|(d, _, _)| *d <= radius)
        .collect();
    assert!(inside.len() > 1_500, "{} inside", inside.len());
    let near = GeoFilter {
        lat: lat0,
        lon: lon0,
        radius_km: Some(radius),
    };
    // First one segment (one heap decides, so a wrong cut shows), then two with deleted
    // documents in the first.
    for phase in [all, again] {
        e.ingest(phase, Source::Import).unwrap();
        e.commit().unwrap();
        for text in [None, Some("road bike")] {
            for sort in [
                Sort::Relevance,
                Sort::Newest,
                Sort::PriceAsc,
                Sort::PriceDesc,
                Sort::Nearest,
            ] {
                if sort == Sort::Relevance && text.is_some() {
                    // Scored: the text's scores order it, not a column.
                    continue;
                }
                let what = format!("{sort:?}, text {text:?}");
                let q = SearchQuery {
                    text: text.map(str::to_string),
                    sort,
                    near: Some(near),
                    limit: Some(50),
                    ..Default::default()
                };
                let r = e.search(&q).unwrap();
                // Nearest-first measures every match (its key is a distance); the other orders
                // stop counting and prune.
                assert_eq!(r.total_exact, sort == Sort::Nearest, "{what}: total exact");
                let got: Vec<f64> = r
                    .hits
                    .iter()
                    .map(|h| match sort {
                        Sort::Nearest => h.distance_km.unwrap(),
                        Sort::PriceAsc | Sort::PriceDesc => h.summary.price_minor.unwrap() as f64,
                        _ => h.signed_at as f64,
                    })
                    .collect();
                let mut want: Vec<f64> = inside
                    .iter()
                    .map(|(d, s, p)| match sort {
                        Sort::Nearest => *d,
                        Sort::PriceAsc | Sort::PriceDesc => *p as f64,
                        _ => *s as f64,
                    })
                    .collect();
                want.sort_by(|a, b| match sort {
                    Sort::Nearest | Sort::PriceAsc => a.total_cmp(b),
                    _ => b.total_cmp(a),
                });
                want.truncate(50);
                assert_eq!(got.len(), want.len(), "{what}");
                for (i, (g, w)) in got.iter().zip(&want).enumerate() {
                    assert!(
                        (g - w).abs() < 1e-9,
                        "{what}: hit {i} has {g}, a full ranking {w}"
                    );
                }
                // Counted exactly, every listing inside and no other.
                let exact = e
                    .search(&SearchQuery {
                        exact_total: true,
                        ..q.clone()
                    })
                    .unwrap();
                assert_eq!(exact.total, inside.len(), "{what}: total");
            }
        }
    }
}
