//! The engine as a user of it relies on: every ingest outcome, version ordering, search filters
//! and sorts on a known corpus, rebuilding the index, and crash safety with a killed process.

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use swapmeet_node::search::{GeoFilter, PriceFilter, SearchQuery, Sort};
use swapmeet_node::{Engine, EngineConfig, IngestOutcome, Source};
use swapmeet_protocol::{
    geo, Category, Condition, Currency, Delivery, Listing, ListingId, Location, Price, SecretKey,
    SignedEnvelope, WithdrawReason, Withdrawal,
};

const NOW: u64 = 1_800_000_000;

fn key(n: u8) -> SecretKey {
    SecretKey::from_bytes([n; 32])
}

fn eur(euros: u64) -> Price {
    Price::Fixed {
        amount_minor: euros * 100,
        currency: Currency::new("EUR").unwrap(),
    }
}

/// A valid listing near Berlin with the given title and price.
fn listing(item: &str, seq: u64, title: &str, price: Price) -> Listing {
    Listing {
        item_key: item.into(),
        seq,
        signed_at: NOW - 100,
        expires_at: NOW + 7 * 86_400,
        title: title.into(),
        description: String::new(),
        price,
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

fn at(l: Listing, lat: f64, lon: f64) -> Listing {
    Listing {
        location: Some(Location {
            geohash: geo::encode(lat, lon, 6),
            place: None,
        }),
        ..l
    }
}

struct Clockwork(Arc<AtomicU64>);

fn engine_at(dir: &std::path::Path) -> (Engine, Clockwork) {
    let t = Arc::new(AtomicU64::new(NOW));
    let t2 = t.clone();
    let config = EngineConfig {
        clock: Arc::new(move || t2.load(Ordering::SeqCst)),
        ..EngineConfig::default()
    };
    let (engine, _) = Engine::open(dir, config).unwrap();
    (engine, Clockwork(t))
}

fn ingest(e: &Engine, envs: Vec<SignedEnvelope>) -> Vec<IngestOutcome> {
    let out = e.ingest(envs, Source::Import).unwrap();
    e.commit().unwrap();
    out
}

fn ids(e: &Engine, q: &SearchQuery) -> Vec<ListingId> {
    e.search(q)
        .unwrap()
        .hits
        .into_iter()
        .map(|h| h.id)
        .collect()
}

#[test]
fn every_ingest_outcome() {
    let dir = tempfile::tempdir().unwrap();
    let (e, _clock) = engine_at(dir.path());
    let k = key(1);
    let v1 = listing("bike", 1, "Road bike", eur(250)).sign(&k).unwrap();
    let v2 = listing("bike", 2, "Road bike, new tyres", eur(240))
        .sign(&k)
        .unwrap();
    let expired = Listing {
        signed_at: NOW - 20 * 86_400,
        expires_at: NOW - 10,
        ..listing("old", 1, "Old lamp", eur(5))
    }
    .sign(&k)
    .unwrap();
    let future = Listing {
        signed_at: NOW + 3600,
        expires_at: NOW + 86_400,
        ..listing("future", 1, "Time machine", eur(5))
    }
    .sign(&k)
    .unwrap();
    let out = ingest(&e, vec![v1.clone(), v2.clone(), expired, future]);
    assert!(matches!(
        out[0],
        IngestOutcome::Stored {
            seq: 1,
            replaced: None,
            ..
        }
    ));
    assert!(matches!(
        out[1],
        IngestOutcome::Stored {
            seq: 2,
            replaced: Some(1),
            ..
        }
    ));
    match &out[2] {
        IngestOutcome::Rejected { reason, .. } => assert!(reason.contains("expire"), "{reason}"),
        o => panic!("expired listing: {o:?}"),
    }
    match &out[3] {
        IngestOutcome::Rejected { reason, .. } => assert!(reason.contains("future"), "{reason}"),
        o => panic!("future listing: {o:?}"),
    }
    let out = ingest(&e, vec![v2.clone(), v1.clone()]);
    assert!(matches!(out[0], IngestOutcome::Duplicate { seq: 2, .. }));
    assert!(matches!(
        out[1],
        IngestOutcome::Stale {
            seq: 1,
            current_seq: 2,
            ..
        }
    ));

    // Forged: the signature of one listing on another's bytes.
    let mut forged = v2.as_bytes().to_vec();
    let n = forged.len();
    forged[n - 70] ^= 0x01;
    let out = e
        .ingest_bytes(&[&forged, b"not cbor at all"], Source::Import)
        .unwrap();
    assert!(
        out.iter()
            .all(|o| matches!(o, IngestOutcome::Rejected { .. })),
        "{out:?}"
    );

    // Nothing of the rejected inputs changed what is stored.
    let id = ListingId::derive(&k.public(), "bike");
    let rec = e.get(&id).unwrap().unwrap();
    assert_eq!(rec.seq, 2);
    assert_eq!(rec.envelope, v2.as_bytes());
    assert_eq!(e.store().stats().records, 1);
    let hits = e
        .search(&SearchQuery {
            text: Some("tyres".into()),
            ..Default::default()
        })
        .unwrap();
    assert_eq!(hits.hits.len(), 1);
    assert_eq!(hits.hits[0].summary.title, "Road bike, new tyres");
}

#[test]
fn withdrawal_is_final_for_older_versions() {
    let dir = tempfile::tempdir().unwrap();
    let (e, _clock) = engine_at(dir.path());
    let k = key(2);
    let v1 = listing("sofa", 1, "Green sofa", eur(80)).sign(&k).unwrap();
    let v2 = listing("sofa", 2, "Green sofa, cheaper", eur(60))
        .sign(&k)
        .unwrap();
    let gone = Withdrawal {
        item_key: "sofa".into(),
        seq: 3,
        signed_at: NOW - 50,
        reason: WithdrawReason::Sold,
        area: Some(geo::encode(52.52, 13.405, 6)),
        ships: false,
    }
    .sign(&k)
    .unwrap();
    ingest(&e, vec![v1.clone()]);
    assert_eq!(
        ids(
            &e,
            &SearchQuery {
                text: Some("sofa".into()),
                ..Default::default()
            }
        )
        .len(),
        1
    );
    let out = ingest(&e, vec![gone]);
    assert!(matches!(
        out[0],
        IngestOutcome::Stored {
            withdrawal: true,
            ..
        }
    ));
    assert!(ids(
        &e,
        &SearchQuery {
            text: Some("sofa".into()),
            ..Default::default()
        }
    )
    .is_empty());
    // Older versions arriving late do not bring it back.
    let out = ingest(&e, vec![v2, v1]);
    assert!(
        out.iter()
            .all(|o| matches!(o, IngestOutcome::Stale { current_seq: 3, .. })),
        "{out:?}"
    );
    assert!(ids(
        &e,
        &SearchQuery {
            text: Some("sofa".into()),
            ..Default::default()
        }
    )
    .is_empty());
    // A newer version (relisting) does.
    let v4 = listing("sofa", 4, "Green sofa again", eur(50))
        .sign(&k)
        .unwrap();
    ingest(&e, vec![v4]);
    assert_eq!(
        ids(
            &e,
            &SearchQuery {
                text: Some("sofa".into()),
                ..Default::default()
            }
        )
        .len(),
        1
    );
}

#[test]
fn same_seq_conflict_resolves_the_same_everywhere() {
    let k = key(3);
    let a = listing("x", 5, "Version A", eur(1)).sign(&k).unwrap();
    let b = listing("x", 5, "Version B", eur(2)).sign(&k).unwrap();
    let d1 = tempfile::tempdir().unwrap();
    let d2 = tempfile::tempdir().unwrap();
    let (e1, _c1) = engine_at(d1.path());
    let (e2, _c2) = engine_at(d2.path());
    ingest(&e1, vec![a.clone(), b.clone()]);
    ingest(&e2, vec![b, a]);
    let id = ListingId::derive(&k.public(), "x");
    assert_eq!(
        e1.get(&id).unwrap().unwrap().hash,
        e2.get(&id).unwrap().unwrap().hash
    );
}

/// A row of the known corpus: (item, title, euros, category, condition, lat, lon, seller).
type Row = (
    &'static str,
    &'static str,
    u64,
    Category,
    Condition,
    f64,
    f64,
    u8,
);

fn corpus(e: &Engine) -> Vec<ListingId> {
    let rows: &[Row] = &[
        (
            "a",
            "Road bike Canyon aluminium",
            300,
            Category::Bikes,
            Condition::Good,
            52.52,
            13.40,
            1,
        ),
        (
            "b",
            "Road bike Bianchi steel",
            450,
            Category::Bikes,
            Condition::LikeNew,
            52.50,
            13.45,
            2,
        ),
        (
            "c",
            "Mountain bike Trek",
            200,
            Category::Bikes,
            Condition::Fair,
            52.40,
            13.06,
            1,
        ),
        (
            "d",
            "Road bike helmet",
            25,
            Category::SportsLeisure,
            Condition::New,
            52.53,
            13.38,
            3,
        ),
        (
            "e",
            "Oak dining table",
            120,
            Category::Furniture,
            Condition::Good,
            52.52,
            13.40,
            2,
        ),
        (
            "f",
            "Road bike Cube carbon",
            900,
            Category::Bikes,
            Condition::Good,
            48.14,
            11.58,
            3,
        ),
        (
            "g",
            "Free moving boxes",
            0,
            Category::Other,
            Condition::Good,
            52.52,
            13.41,
            1,
        ),
    ];
    let mut envs = Vec::new();
    let mut out = Vec::new();
    for (i, (item, title, euros, cat, cond, lat, lon, seller)) in rows.iter().enumerate() {
        let price = if *euros == 0 {
            Price::Free
        } else {
            eur(*euros)
        };
        let l = Listing {
            category: *cat,
            condition: *cond,
            signed_at: NOW - 1000 + i as u64 * 10,
            ..at(listing(item, 1, title, price), *lat, *lon)
        };
        envs.push(l.sign(&key(*seller)).unwrap());
        out.push(ListingId::derive(&key(*seller).public(), item));
    }
    let outcomes = ingest(e, envs);
    assert!(outcomes
        .iter()
        .all(|o| matches!(o, IngestOutcome::Stored { .. })));
    out
}

#[test]
fn search_filters_and_sorts_on_a_known_corpus() {
    let dir = tempfile::tempdir().unwrap();
    let (e, _clock) = engine_at(dir.path());
    let c = corpus(&e);
    let (a, b, cc, d, ee, f, g) = (c[0], c[1], c[2], c[3], c[4], c[5], c[6]);
    let eur_range = |min: Option<u64>, max: Option<u64>| {
        Some(PriceFilter {
            currency: Currency::new("EUR").unwrap(),
            min_minor: min.map(|v| v * 100),
            max_minor: max.map(|v| v * 100),
        })
    };
    let q = |text: &str| SearchQuery {
        text: Some(text.into()),
        ..Default::default()
    };

    // Text: all words must match; stemming finds "bikes" for "bike".
    let mut r = ids(&e, &q("road bike"));
    r.sort();
    let mut want = vec![a, b, d, f];
    want.sort();
    assert_eq!(r, want);
    assert_eq!(ids(&e, &q("bikes trek")), vec![cc]);

    // Text + price + category, sorted by price.
    let r = ids(
        &e,
        &SearchQuery {
            price: eur_range(None, Some(500)),
            category: Some(Category::Bikes),
            sort: Sort::PriceAsc,
            ..q("bike")
        },
    );
    assert_eq!(r, vec![cc, a, b]);
    let r = ids(
        &e,
        &SearchQuery {
            price: eur_range(Some(100), None),
            sort: Sort::PriceDesc,
            ..Default::default()
        },
    );
    assert_eq!(r, vec![f, b, a, cc, ee]);
    // Free items come with a range from zero.
    let r = ids(
        &e,
        &SearchQuery {
            price: eur_range(None, Some(30)),
            sort: Sort::PriceAsc,
            ..Default::default()
        },
    );
    assert_eq!(r, vec![g, d]);

    // Condition and seller.
    assert_eq!(
        ids(
            &e,
            &SearchQuery {
                condition: Some(Condition::LikeNew),
                ..Default::default()
            }
        ),
        vec![b]
    );
    let mut r = ids(
        &e,
        &SearchQuery {
            seller: Some(key(3).public()),
            ..Default::default()
        },
    );
    r.sort();
    let mut want = vec![d, f];
    want.sort();
    assert_eq!(r, want);

    // Geo: within 10 km of central Berlin, nearest first. Potsdam (cc, ~25 km) and Munich are out.
    let near = GeoFilter {
        lat: 52.52,
        lon: 13.40,
        radius_km: Some(10.0),
    };
    let hits = e
        .search(&SearchQuery {
            near: Some(near),
            sort: Sort::Nearest,
            ..Default::default()
        })
        .unwrap()
        .hits;
    let r: Vec<_> = hits.iter().map(|h| h.id).collect();
    assert_eq!(r.len(), 5);
    assert!(!r.contains(&cc) && !r.contains(&f));
    let dists: Vec<f64> = hits.iter().map(|h| h.distance_km.unwrap()).collect();
    assert!(dists.windows(2).all(|w| w[0] <= w[1]), "{dists:?}");
    assert!(dists[4] < 10.0);
    let r = ids(
        &e,
        &SearchQuery {
            near: Some(GeoFilter {
                radius_km: Some(40.0),
                ..near
            }),
            ..q("bike")
        },
    );
    assert!(r.contains(&cc) && !r.contains(&f));

    // Newest first, limit and offset.
    let r = ids(
        &e,
        &SearchQuery {
            sort: Sort::Newest,
            limit: Some(3),
            ..Default::default()
        },
    );
    assert_eq!(r, vec![g, f, ee]);
    let r = ids(
        &e,
        &SearchQuery {
            sort: Sort::Newest,
            limit: Some(3),
            offset: Some(3),
            ..Default::default()
        },
    );
    assert_eq!(r, vec![d, cc, b]);

    // Relevance: a title match ranks above a description-only match.
    assert_eq!(ids(&e, &q("helmet"))[0], d);
}

#[test]
fn expired_listings_are_never_returned_and_are_swept() {
    let dir = tempfile::tempdir().unwrap();
    let (e, clock) = engine_at(dir.path());
    let k = key(4);
    let short = Listing {
        expires_at: NOW + 60,
        ..listing("short", 1, "Short lived lamp", eur(5))
    };
    ingest(&e, vec![short.sign(&k).unwrap()]);
    assert_eq!(ids(&e, &SearchQuery::default()).len(), 1);
    clock.0.store(NOW + 61, Ordering::SeqCst);
    assert!(ids(&e, &SearchQuery::default()).is_empty());
    assert_eq!(e.sweep().unwrap(), 1);
    assert_eq!(e.store().stats().records, 0);
}

#[test]
fn index_is_rebuilt_after_being_deleted_or_damaged() {
    let dir = tempfile::tempdir().unwrap();
    {
        let (e, _c) = engine_at(dir.path());
        corpus(&e);
        e.shutdown().unwrap();
    }
    std::fs::remove_dir_all(dir.path().join("index")).unwrap();
    {
        let (e, _c) = engine_at(dir.path());
        assert_eq!(
            ids(
                &e,
                &SearchQuery {
                    text: Some("bike".into()),
                    ..Default::default()
                }
            )
            .len(),
            5
        );
        e.shutdown().unwrap();
    }
    // Damage: truncate every segment file.
    for f in std::fs::read_dir(dir.path().join("index")).unwrap() {
        let p = f.unwrap().path();
        if p.extension().is_some_and(|x| x != "json" && x != "lock") {
            std::fs::write(&p, b"").unwrap();
        }
    }
    std::fs::write(dir.path().join("index/meta.json"), b"{broken").unwrap();
    let (e, _c) = engine_at(dir.path());
    assert_eq!(
        ids(
            &e,
            &SearchQuery {
                text: Some("bike".into()),
                ..Default::default()
            }
        )
        .len(),
        5
    );
}

/// The child half of the crash test: ingests listings one at a time, printing each id only
/// after it was made durable, until it is killed.
#[test]
fn crash_child() {
    let Ok(dir) = std::env::var("SWAPMEET_CRASH_CHILD_DIR") else {
        return;
    };
    let t = NOW;
    let config = EngineConfig {
        clock: Arc::new(move || t),
        commit_interval: Duration::from_millis(50),
        ..EngineConfig::default()
    };
    let (e, _) = Engine::open(std::path::Path::new(&dir), config).unwrap();
    let k = key(9);
    let stdout = std::io::stdout();
    for i in 0.. {
        let env = listing(
            &format!("item-{i}"),
            1,
            &format!("Crash test item {i}"),
            eur(1),
        )
        .sign(&k)
        .unwrap();
        let out = e.ingest(vec![env], Source::Local).unwrap();
        assert!(matches!(out[0], IngestOutcome::Stored { .. }));
        e.durable().unwrap();
        let mut lock = stdout.lock();
        writeln!(lock, "ACK item-{i}").unwrap();
        lock.flush().unwrap();
    }
}

#[test]
fn acknowledged_writes_survive_kill_9() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([
            "engine::crash_child",
            "--exact",
            "--nocapture",
            "--test-threads",
            "1",
        ])
        .env("SWAPMEET_CRASH_CHILD_DIR", dir.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut acked = Vec::new();
    let reader = BufReader::new(child.stdout.take().unwrap());
    for line in reader.lines() {
        let line = line.unwrap();
        if let Some(item) = line.strip_prefix("ACK ") {
            acked.push(item.to_string());
            if acked.len() == 300 {
                child.kill().unwrap(); // SIGKILL: no shutdown, no final commit.
                break;
            }
        }
    }
    child.wait().unwrap();
    assert_eq!(acked.len(), 300, "the child stopped early");
    let (e, _c) = engine_at(dir.path());
    let k = key(9);
    for item in &acked {
        let id = ListingId::derive(&k.public(), item);
        assert!(
            e.get(&id).unwrap().is_some(),
            "{item} was acknowledged but is not stored"
        );
    }
    // And every one is searchable after reopening (the index replays the change log).
    let found = e
        .search(&SearchQuery {
            text: Some("crash".into()),
            limit: Some(100),
            exact_total: true,
            ..Default::default()
        })
        .unwrap();
    assert!(
        found.total >= acked.len(),
        "{} found, {} acknowledged",
        found.total,
        acked.len()
    );
}

/// A lamp of the broad-search test: id, price in euros, signed-at, whether it is in Berlin.
type Lamp = (ListingId, u64, u64, bool);

#[test]
fn a_broad_search_stops_counting_but_keeps_the_true_top_hits() {
    let dir = tempfile::tempdir().unwrap();
    let (e, _clock) = engine_at(dir.path());
    // 2,500 lamps: every other one in Berlin, the rest in Munich; distinct prices and times.
    // From three sellers: one key may have at most 1,000 active listings without a stamp
    // (docs/PROTOCOL.md section 14; `node/tests/suite/spam.rs` checks that limit).
    let mut all = Vec::new();
    let mut envs = Vec::new();
    for i in 0..2_500u64 {
        let k = key(9 + (i % 3) as u8);
        let price = (i * 7_919) % 10_007 + 1;
        let l = Listing {
            signed_at: NOW - 10_000 + (i * 3_331) % 9_973,
            ..listing(&format!("lamp-{i}"), 1, &format!("Lamp {i}"), eur(price))
        };
        let berlin = i % 2 == 0;
        let l = if berlin { l } else { at(l, 48.137, 11.575) };
        all.push((l.id(&k.public()), price, l.signed_at, berlin));
        envs.push(l.sign(&k).unwrap());
    }
    // Five commits, so the index has several segments.
    for chunk in envs.chunks(500) {
        ingest(&e, chunk.to_vec());
    }
    // The first ten ids of the lamps ordered by a key.
    let top = |mut v: Vec<Lamp>, by: &dyn Fn(&Lamp) -> i64| {
        v.sort_by_key(|x| by(x));
        v.into_iter().take(10).map(|x| x.0).collect::<Vec<_>>()
    };
    let berlin = GeoFilter {
        lat: 52.52,
        lon: 13.405,
        radius_km: Some(20.0),
    };

    let q = SearchQuery {
        text: Some("lamp".into()),
        sort: Sort::PriceAsc,
        limit: Some(10),
        ..Default::default()
    };
    let r = e.search(&q).unwrap();
    assert!(
        !r.total_exact && r.total >= 1_000,
        "{} {}",
        r.total,
        r.total_exact
    );
    assert_eq!(
        r.hits.iter().map(|h| h.id).collect::<Vec<_>>(),
        top(all.clone(), &|x| x.1 as i64)
    );

    let q = SearchQuery {
        text: Some("lamp".into()),
        near: Some(berlin),
        sort: Sort::PriceDesc,
        limit: Some(10),
        ..Default::default()
    };
    let in_berlin: Vec<_> = all.iter().filter(|x| x.3).cloned().collect();
    assert_eq!(ids(&e, &q), top(in_berlin.clone(), &|x| -(x.1 as i64)));

    // No text: newest first, within the radius.
    let q = SearchQuery {
        near: Some(berlin),
        limit: Some(10),
        ..Default::default()
    };
    assert_eq!(ids(&e, &q), top(in_berlin.clone(), &|x| -(x.2 as i64)));

    // A price range in Berlin, newest first, past the counting limit on the way.
    let q = SearchQuery {
        near: Some(berlin),
        price: Some(PriceFilter {
            currency: Currency::new("EUR").unwrap(),
            min_minor: Some(100_000),
            max_minor: Some(900_000),
        }),
        sort: Sort::Newest,
        limit: Some(10),
        ..Default::default()
    };
    let in_range: Vec<_> = in_berlin
        .iter()
        .filter(|x| (1_000..=9_000).contains(&x.1))
        .cloned()
        .collect();
    assert_eq!(ids(&e, &q), top(in_range, &|x| -(x.2 as i64)));

    // Under the limit, the count is exact.
    let q = SearchQuery {
        text: Some("lamp".into()),
        price: Some(PriceFilter {
            currency: Currency::new("EUR").unwrap(),
            min_minor: None,
            max_minor: Some(10_000),
        }),
        ..Default::default()
    };
    let r = e.search(&q).unwrap();
    assert!(r.total_exact);
    assert_eq!(r.total, all.iter().filter(|x| x.1 <= 100).count());
}

/// The nice value and name of every thread of this process, from `/proc`.
#[cfg(target_os = "linux")]
fn threads() -> Vec<(String, i32)> {
    let mut out = Vec::new();
    for t in std::fs::read_dir("/proc/self/task").unwrap() {
        let t = t.unwrap().path();
        let (Ok(comm), Ok(stat)) = (
            std::fs::read_to_string(t.join("comm")),
            std::fs::read_to_string(t.join("stat")),
        ) else {
            continue; // the thread ended meanwhile
        };
        out.push((comm.trim().to_string(), nice_in(&stat)));
    }
    out
}

/// The nice value in a thread's `/proc/.../stat` line: the 17th field after the command name
/// (which is in parentheses and may hold spaces).
#[cfg(target_os = "linux")]
fn nice_in(stat: &str) -> i32 {
    let rest = &stat[stat.rfind(')').unwrap() + 2..];
    rest.split(' ').nth(16).unwrap().parse().unwrap()
}

/// Indexing yields the cores to storing and relaying: tantivy's threads run at background
/// priority, the caller's threads do not.
#[cfg(target_os = "linux")]
#[test]
fn the_index_works_at_background_priority() {
    let my_nice = || nice_in(&std::fs::read_to_string("/proc/thread-self/stat").unwrap());
    let before = my_nice();
    let dir = tempfile::tempdir().unwrap();
    let (e, _clock) = engine_at(dir.path());
    let l = listing("bg", 1, "Background priority bike", eur(10));
    assert!(matches!(
        ingest(&e, vec![l.sign(&key(9)).unwrap()])[0],
        IngestOutcome::Stored { .. }
    ));
    e.commit().unwrap();
    let all = threads();
    let index: Vec<_> = all
        .iter()
        .filter(|(name, _)| {
            name.starts_with("thrd-tantivy")
                || name.starts_with("merge_thread")
                || name.starts_with("segment_updater")
        })
        .collect();
    assert!(!index.is_empty(), "no tantivy threads among {all:?}");
    for (name, nice) in &index {
        assert!(
            *nice >= swapmeet_node::priority::BACKGROUND_NICE,
            "{name} runs at nice {nice}"
        );
    }
    // The caller's own thread keeps its priority.
    assert_eq!(my_nice(), before);
    let q = SearchQuery {
        text: Some("background".into()),
        ..Default::default()
    };
    assert_eq!(ids(&e, &q).len(), 1);
}
