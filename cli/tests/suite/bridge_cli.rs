//! `swapmeet bridge sync` and `swapmeet import` through the real binary against a real node in
//! a temporary home: every real export in `../shared/feeds/`, generated catalogues larger than
//! any request body, a run that fails part way (nothing published, a rerun completes it), and
//! import input that needs escaping, is too long, or never ends (`/dev/zero`).

use crate::common;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use common::{json_lines, Home};
use serde_json::{json, Value};
use swapmeet_feeds::{detect, parse_with, Feed, ParseOptions};
use swapmeet_protocol::Currency;

/// The node's body cap, which the generated catalogues must exceed to test anything.
const MAX_BODY_BYTES: usize = 64 * 1024;

fn shared_feeds() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/feeds")
}

/// What the feeds library itself makes of a file, for the CLI's report to agree with.
fn library_parse(file: &Path) -> Feed {
    let bytes = std::fs::read(file).unwrap();
    let format = detect(&bytes).unwrap();
    parse_with(
        &bytes,
        format,
        &ParseOptions {
            default_currency: Some(Currency::new("USD").unwrap()),
        },
    )
    .unwrap()
}

fn shop() -> Home {
    let mut h = Home::new();
    h.ok(&["init", "--location", "52.52,13.405", "--currency", "USD"]);
    h.start_node();
    h
}

/// One `--json bridge sync` that must exit 0; its report.
fn sync(h: &Home, file: &Path, extra: &[&str]) -> Value {
    let mut args = vec!["bridge", "sync", file.to_str().unwrap()];
    args.extend_from_slice(extra);
    let lines = h.json_ok(&args);
    assert_eq!(lines.len(), 1, "one report: {lines:?}");
    lines.into_iter().next().unwrap()
}

fn ids(report: &Value, key: &str) -> BTreeSet<String> {
    report[key]
        .as_array()
        .unwrap_or_else(|| panic!("{key} missing: {report}"))
        .iter()
        .map(|v| v.as_str().unwrap().to_string())
        .collect()
}

fn skipped_rows(report: &Value) -> BTreeSet<(u64, String)> {
    report["skipped"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["row"].as_u64().unwrap(),
                s["reason"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

fn published(report: &Value) -> usize {
    ["created", "updated", "relisted", "withdrawn", "renewed"]
        .iter()
        .map(|k| report[k].as_array().unwrap().len())
        .sum()
}

fn mine(h: &Home) -> BTreeSet<String> {
    h.json_ok(&["mine"])
        .iter()
        .filter(|l| l["status"] == "active")
        .map(|l| l["id"].as_str().unwrap().to_string())
        .collect()
}

/// The whole cycle a shop goes through with one file: a dry run that publishes nothing, a
/// real run that publishes what the dry run said, listings the shop and buyers can find, and
/// a rerun that publishes nothing.
fn dry_real_rerun(h: &Home, file: &Path, lib: &Feed) -> Value {
    let name = file.display();
    let dry = sync(h, file, &["--dry-run"]);
    assert_eq!(dry["dry_run"], true, "{name}");
    assert_eq!(
        dry["items"],
        lib.items.len(),
        "{name}: the library's item count"
    );
    let lib_skips: BTreeSet<(u64, String)> = lib
        .skipped
        .iter()
        .map(|s| (s.row as u64, s.reason.clone()))
        .collect();
    assert!(
        skipped_rows(&dry).is_superset(&lib_skips),
        "{name}: every row the parser skipped is reported with its reason"
    );
    assert!(mine(h).is_empty(), "{name}: a dry run publishes nothing");

    let real = sync(h, file, &[]);
    assert_eq!(real["dry_run"], false);
    assert_eq!(real["items"], dry["items"], "{name}");
    assert_eq!(
        ids(&real, "created"),
        ids(&dry, "created"),
        "{name}: the run publishes what the dry run said"
    );
    assert_eq!(skipped_rows(&real), skipped_rows(&dry), "{name}");
    assert!(real["withdrawals_refused"].is_null(), "{name}");
    let created = ids(&real, "created");
    assert!(!created.is_empty(), "{name}: something was listed");
    assert_eq!(
        mine(h),
        created,
        "{name}: `mine` shows what the run created"
    );

    let again = sync(h, file, &[]);
    assert_eq!(published(&again), 0, "{name}: a rerun publishes nothing");
    assert_eq!(again["unchanged"], created.len(), "{name}");
    real
}

/// A listing the run created is found by a buyer's search for its title, at once: the run's
/// answer comes once what it published is searchable.
fn findable(h: &Home, id: &str) {
    let shown = h.json_ok(&["show", id]);
    let title = shown[0]["title"].as_str().unwrap().to_string();
    let hits = search(h, &[&title, "--limit", "100"]);
    assert!(
        hits.iter().any(|hit| hit["id"] == id),
        "{id} ('{title}') is not among {} hits",
        hits.len()
    );
}

#[test]
fn every_real_export_syncs_through_the_cli() {
    let mut files: Vec<PathBuf> = std::fs::read_dir(shared_feeds())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_file() && p.extension().is_some_and(|e| e != "md"))
        .collect();
    files.sort();
    assert!(files.len() >= 3, "the shared exports: {files:?}");
    for file in &files {
        let lib = library_parse(file);
        let h = shop();
        let real = dry_real_rerun(&h, file, &lib);
        let first = real["created"][0].as_str().unwrap();
        findable(&h, first);
        if file.ends_with("magento_luma_products.csv") {
            // One listing per product: the hoodie's 15 sizes and colours are one hit.
            let hits = search(&h, &["hoodie", "--limit", "100"]);
            let hera: Vec<&Value> = hits
                .iter()
                .filter(|hit| hit["title"] == "Hera Pullover Hoodie")
                .collect();
            assert_eq!(hera.len(), 1, "{hits:?}");
            assert!(hits
                .iter()
                .all(|hit| !hit["title"].as_str().unwrap().contains("-XS-")));
        }
    }
}

/// One search through the CLI, no retries.
fn search(h: &Home, args: &[&str]) -> Vec<Value> {
    let mut a = vec!["--json", "search"];
    a.extend_from_slice(args);
    let o = h.cmd(&a);
    json_lines(&String::from_utf8(o.stdout).unwrap())
}

/// A Google Merchant RSS feed of `n` items.
fn gmc_rss(n: usize) -> String {
    let mut x = String::from(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<rss version=\"2.0\" xmlns:g=\"http://base.google.com/ns/1.0\">\n<channel>\n<title>Big shop</title>\n",
    );
    for i in 0..n {
        x.push_str(&format!(
            "<item><g:id>GMC-{i}</g:id><title>Camping lantern model {i}</title>\
             <description>&lt;p&gt;Bright &amp; light, model {i}. &quot;Runs for days&quot;&lt;/p&gt;</description>\
             <link>https://shop.example/lantern-{i}</link><g:price>{}.{:02} EUR</g:price>\
             <g:availability>in stock</g:availability><g:condition>new</g:condition></item>\n",
            10 + i % 90,
            i % 100
        ));
    }
    x.push_str("</channel>\n</rss>\n");
    x
}

/// A swapmeet JSON feed of `n` items; every `bad_every`-th has a condition no shop word maps
/// to, so the parser skips it with a long reason.
fn json_feed(n: usize, bad_every: usize, description: &str) -> String {
    let items: Vec<Value> = (0..n)
        .map(|i| {
            json!({
                "id": format!("sku-{i}"),
                "title": format!("Tent peg set \"{i}\""),
                "description": description,
                "price": format!("{}.50", 1 + i % 40),
                "condition": if bad_every > 0 && i % bad_every == 0 { format!("slightly-dented-{i}") } else { "new".into() },
                "tags": ["camping", "outdoor"],
                "ships": true,
            })
        })
        .collect();
    json!({"currency": "EUR", "items": items}).to_string()
}

#[test]
fn a_2200_item_merchant_feed_syncs() {
    let h = shop();
    let file = h.path().join("merchant.xml");
    std::fs::write(&file, gmc_rss(2200)).unwrap();
    let lib = library_parse(&file);
    assert_eq!(lib.items.len(), 2200);
    let real = dry_real_rerun(&h, &file, &lib);
    assert_eq!(ids(&real, "created").len(), 2200);
    findable(&h, real["created"][2199].as_str().unwrap());
    // The node keeps the last run's report for its status page and `bridge last`: the rerun
    // of `dry_real_rerun`, which changed nothing.
    let last = &h.json_ok(&["bridge", "last"])[0];
    assert_eq!(last["report"]["items"], 2200, "{last}");
    assert_eq!(last["report"]["unchanged"], 2200, "{last}");
    assert!(last["at"].as_u64().unwrap() > 0);
    let human = h.ok(&["bridge", "last"]);
    assert!(human.starts_with("last bridge run:"), "{human}");
}

#[test]
fn bridge_last_says_when_there_was_no_run() {
    let h = shop();
    let o = h.cmd(&["bridge", "last"]);
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("no bridge run"), "{err}");
}

#[test]
fn a_9800_item_json_feed_syncs_dry() {
    let h = shop();
    let file = h.path().join("feed.json");
    std::fs::write(&file, json_feed(9800, 0, "Steel, 10 pieces.")).unwrap();
    let dry = sync(&h, &file, &["--dry-run"]);
    assert_eq!(dry["items"], 9800);
    assert_eq!(ids(&dry, "created").len(), 9800);
    assert!(mine(&h).is_empty(), "a dry run publishes nothing");
}

#[test]
fn a_20000_item_catalogue_whose_skipped_rows_exceed_a_request_syncs() {
    let h = shop();
    let file = h.path().join("catalogue.json");
    std::fs::write(&file, json_feed(20_000, 8, "Steel, 10 pieces.")).unwrap();
    let lib = library_parse(&file);
    assert_eq!(lib.skipped.len(), 2500);
    assert!(
        serde_json::to_vec(&lib.skipped).unwrap().len() > MAX_BODY_BYTES,
        "the skipped rows alone must not fit in one request, or this tests nothing"
    );
    let real = dry_real_rerun(&h, &file, &lib);
    assert_eq!(ids(&real, "created").len(), 17_500);
    assert_eq!(skipped_rows(&real).len(), 2500);

    // People read every skipped row and its reason too.
    let text = h.ok(&["bridge", "sync", file.to_str().unwrap()]);
    assert!(text.contains("17500 unchanged"), "{}", &text[..200]);
    let rows = text
        .lines()
        .filter(|l| l.contains("skipped row") && l.contains("slightly-dented"))
        .count();
    assert_eq!(rows, 2500);
}

#[test]
fn an_item_too_large_for_any_request_is_a_skipped_row() {
    let h = shop();
    let links: Vec<String> = (0..3000)
        .map(|i| format!("https://shop.example/img/{i}.jpg"))
        .collect();
    let feed = json!({"currency": "EUR", "items": [
        {"id": "a", "title": "Lamp", "price": "10", "ships": true},
        {"id": "huge", "title": "Rug", "price": "20", "ships": true, "image_links": links},
        {"id": "c", "title": "Chair", "price": "30", "ships": true},
    ]});
    let file = h.path().join("feed.json");
    std::fs::write(&file, feed.to_string()).unwrap();
    let real = sync(&h, &file, &[]);
    assert_eq!(ids(&real, "created").len(), 2);
    let skipped = real["skipped"].as_array().unwrap();
    assert_eq!(skipped.len(), 1, "{skipped:?}");
    assert_eq!(skipped[0]["row"], 2);
    assert_eq!(skipped[0]["shop_id"], "huge");
    assert!(
        skipped[0]["reason"]
            .as_str()
            .unwrap()
            .contains("more than one request to the node can carry"),
        "{skipped:?}"
    );
}

/// A request body for `POST /v1/bridge/items` in run `run` with these items.
fn run_body(run: &str, last: bool, items: &[swapmeet_feeds::FeedItem]) -> Vec<u8> {
    serde_json::to_vec(&json!({"run": {"id": run, "final": last}, "items": items})).unwrap()
}

#[test]
fn a_run_that_fails_part_way_publishes_nothing_and_a_rerun_completes_it() {
    let h = shop();
    let file = h.path().join("feed.json");
    // 300 items of about 700 bytes: more than one request.
    std::fs::write(&file, json_feed(300, 0, &"Galvanised steel. ".repeat(30))).unwrap();
    let lib = library_parse(&file);

    // A shop system's run: the first request is staged, the second is rejected (an item
    // without a title), and the run never completes.
    let (status, staged) = h.api_post(
        "/v1/bridge/items",
        &run_body("shop-1", false, &lib.items[..50]),
    );
    assert_eq!(status, 200, "{staged}");
    assert_eq!(staged["final"], false);
    assert_eq!(staged["items"], 50);
    let mut broken = serde_json::to_value(&lib.items[100]).unwrap();
    broken.as_object_mut().unwrap().remove("title");
    let (status, err) = h.api_post(
        "/v1/bridge/items",
        &serde_json::to_vec(&json!({"run": {"id": "shop-1", "final": false}, "items": [broken]}))
            .unwrap(),
    );
    assert_eq!(status, 400, "{err}");
    assert!(err["error"].as_str().unwrap().contains("title"), "{err}");
    assert!(
        mine(&h).is_empty(),
        "nothing of an incomplete run is published"
    );
    let status_now = h.json_ok(&["status"]);
    assert_eq!(status_now[0]["own_listings"], 0, "{}", status_now[0]);

    // The CLI's own run, while eight runs (the limit) are open: refused before anything is
    // staged, and the error says nothing was published and what to do.
    for i in 2..=8 {
        let (s, v) = h.api_post(
            "/v1/bridge/items",
            &run_body(&format!("shop-{i}"), false, &lib.items[..1]),
        );
        assert_eq!(s, 200, "{v}");
    }
    let o = h.cmd(&["bridge", "sync", file.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("bridge runs are already open") && err.contains("nothing was published"),
        "{err}"
    );
    assert!(err.contains("run the same command again"), "{err}");
    assert!(mine(&h).is_empty());

    // The shop system gives up on its runs; the same command now completes the sync.
    for i in 1..=8 {
        let body = json!({"run": {"id": format!("shop-{i}"), "abort": true}});
        let (s, v) = h.api_post("/v1/bridge/items", &serde_json::to_vec(&body).unwrap());
        assert_eq!((s, &v["aborted"]), (200, &json!(true)), "{v}");
    }
    let report = sync(&h, &file, &[]);
    assert_eq!(ids(&report, "created").len(), 300);
    assert_eq!(mine(&h).len(), 300);
    let again = sync(&h, &file, &[]);
    assert_eq!(published(&again), 0);
}

#[test]
fn a_staged_run_completes_on_its_final_request_and_keeps_the_withdrawal_guard() {
    let h = shop();
    let file = h.path().join("feed.json");
    std::fs::write(&file, json_feed(40, 0, "Steel.")).unwrap();
    let lib = library_parse(&file);
    let (s, v) = h.api_post("/v1/bridge/items", &run_body("r", false, &lib.items[..20]));
    assert_eq!(s, 200, "{v}");
    assert!(mine(&h).is_empty(), "staged, not published");
    let (s, v) = h.api_post("/v1/bridge/items", &run_body("r", true, &lib.items[20..]));
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["created"].as_array().unwrap().len(), 40);
    assert_eq!(mine(&h).len(), 40);

    // A run that names 10 of the 40 would withdraw 30: the guard refuses, nothing changes.
    let (s, v) = h.api_post("/v1/bridge/items", &run_body("r2", true, &lib.items[..10]));
    assert_eq!(s, 200, "{v}");
    assert!(v["withdrawals_refused"].is_string(), "{v}");
    assert_eq!(mine(&h).len(), 40);
}

#[test]
fn import_sizes_what_it_sends_and_reads_lines_with_a_limit() {
    let mut h = Home::new();
    h.ok(&["init", "--location", "52.52,13.405", "--currency", "EUR"]);
    h.start_node();
    let id = h
        .ok(&["sell", "--title", "Kettle", "--price", "12"])
        .trim()
        .to_string();
    let line = h.ok(&["export", &id]).trim().to_string();

    // 300 lines that double in size as JSON, a line past the limit, then a real one.
    let mut input = String::new();
    for i in 0..300 {
        input.push_str(&format!("swapmeet1:{i}{}\n", "\"\\".repeat(100)));
    }
    // Under the body cap as text, twice over it as JSON: what the old import measured.
    let escaped: usize = input
        .lines()
        .map(|l| serde_json::to_string(l).unwrap().len())
        .sum();
    assert!(input.len() < MAX_BODY_BYTES && escaped > MAX_BODY_BYTES);
    input.push_str(&"A".repeat(40 * 1024));
    input.push('\n');
    input.push_str(&line);
    input.push('\n');
    let file = h.path().join("lines.txt");
    std::fs::write(&file, input).unwrap();
    let o = h.cmd(&["--json", "import", file.to_str().unwrap()]);
    assert_eq!(
        o.status.code(),
        Some(2),
        "rejected lines: exit 2\n{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let results = json_lines(&String::from_utf8(o.stdout).unwrap());
    assert_eq!(results.len(), 302, "every line gets its outcome");
    assert!(results[..301].iter().all(|r| r["outcome"] == "rejected"));
    assert_eq!(results[300]["line"], 301);
    assert!(
        results[300]["reason"].as_str().unwrap().contains("32768"),
        "{}",
        results[300]
    );
    assert_eq!(results[301]["line"], 302);
    assert_eq!(results[301]["outcome"], "duplicate");
    assert_eq!(results[301]["id"], id.as_str());

    // Input without line breaks is not held whole: a clear error after a bounded read.
    #[cfg(unix)]
    {
        let o = h.cmd(&["import", "/dev/zero"]);
        assert_eq!(o.status.code(), Some(2));
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(
            err.contains("line 1") && err.contains("32768") && err.contains("stopped"),
            "{err}"
        );
    }
}
