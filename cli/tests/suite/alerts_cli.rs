//! Saved searches and alerts through the real binary: `watch add/list/rm` and `alerts` against
//! running nodes in temporary homes, as a buyer waiting for a bike uses them.

use crate::common;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{Home, BIN};
use serde_json::Value;

/// How long a condition may take before the test fails.
const PATIENCE: Duration = Duration::from_secs(90);

fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

fn listen_addr(h: &Home) -> String {
    wait_for("a listen address", || {
        h.json_lines(&["status"])
            .first()
            .and_then(|s| s["network"]["listen"][0].as_str())
            .map(str::to_string)
    })
}

fn wait_for<T>(what: &str, mut f: impl FnMut() -> Option<T>) -> T {
    let start = Instant::now();
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(start.elapsed() < PATIENCE, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// The exit code and stderr of a command that must fail.
fn fails(h: &Home, args: &[&str]) -> (i32, String) {
    let o = h.cmd(args);
    (
        o.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

/// Alerts without marking them seen.
fn alerts(h: &Home) -> Vec<Value> {
    h.json_ok(&["alerts", "--keep-unseen"])
}

/// A buyer saves "road bike" under 300 EUR within 20 km; a seller's listings reach the buyer's
/// node by gossip: the matching one alerts once, the others never; a lower price alerts again;
/// after `watch rm`, nothing alerts.
#[test]
fn a_watch_alerts_on_a_matching_listing_from_another_node() {
    let mut seller = Home::new();
    seller.ok(&["init", "--location", "52.52,13.405", "--currency", "EUR"]);
    let listen = format!("/ip4/127.0.0.1/tcp/{}", free_port());
    seller.start_node_with(&["--listen", &listen], Stdio::null());
    let addr = listen_addr(&seller);
    let mut buyer = Home::new();
    buyer.ok(&["init", "--location", "52.50,13.45", "--currency", "EUR"]);
    buyer.start_node_with(&["--bootstrap", &addr], Stdio::null());

    let saved = buyer.json_ok(&[
        "watch",
        "add",
        "road",
        "bike",
        "--max-price",
        "300",
        "--near",
        "52.50,13.45",
        "--radius-km",
        "20",
        "--name",
        "bikes",
    ]);
    assert_eq!(saved[0]["name"], "bikes");
    let listed = buyer.json_ok(&["watch", "list"]);
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0]["query"]["text"], "road bike");

    // Not matching: too dear, other words. Sold first and seen arriving, so they were matched
    // (the alert task takes listings in order) before the matching one.
    let dear = seller.sell("Road bike, carbon", "400 EUR");
    let sofa = seller.sell("Green sofa", "100 EUR");
    buyer.search_until(&["carbon"], 1);
    buyer.search_until(&["sofa"], 1);
    let bike = seller.sell("Road bike, 56 cm", "250 EUR");
    let got = wait_for("the alert", || {
        let a = alerts(&buyer);
        (!a.is_empty()).then_some(a)
    });
    assert_eq!(got.len(), 1, "{got:?}");
    assert_eq!(got[0]["kind"], "match");
    assert_eq!(got[0]["listing"], bike.as_str());
    assert_eq!(got[0]["search_name"], "bikes");
    assert_eq!(got[0]["seen"], false);
    for other in [&dear, &sofa] {
        assert_ne!(got[0]["listing"], other.as_str());
    }
    // The human list marks it unseen, and reading it marks it seen.
    let human = buyer.ok(&["alerts"]);
    assert!(
        human.contains("Road bike, 56 cm") && human.contains('*'),
        "{human}"
    );
    assert_eq!(alerts(&buyer)[0]["seen"], true);

    // A lower price alerts again, as a price drop.
    seller.ok(&["update", &bike, "--price", "200 EUR"]);
    let got = wait_for("the price-drop alert", || {
        let a = alerts(&buyer);
        (a.len() >= 2).then_some(a)
    });
    assert_eq!(got.len(), 2, "{got:?}");
    assert_eq!(got[0]["kind"], "price_drop");
    assert_eq!(got[0]["listing"], bike.as_str());
    assert_eq!(got[0]["previous_price"]["fixed"]["amount_minor"], 25_000);

    // Removed: a new matching listing arrives and nothing alerts.
    buyer.ok(&["watch", "rm", "bikes"]);
    assert!(buyer.json_ok(&["watch", "list"]).is_empty());
    seller.sell("Road bike for kids", "90 EUR");
    buyer.search_until(&["kids"], 1);
    assert_eq!(alerts(&buyer).len(), 2);
}

/// Bad input is refused with exit 2 and a sentence naming the field, and nothing is stored;
/// `alerts --follow` prints an alert as it fires.
#[test]
fn bad_watches_are_refused_and_follow_streams_alerts() {
    let h = Home::with_node("EUR");
    let refused = [
        vec!["watch", "add", "bike", "--max-price", "cheap"],
        vec!["watch", "add", "bike", "--category", "spaceships"],
        vec!["watch", "add", "\"road bike\""],
        vec!["watch", "add", "bike", "--name", "42"],
        vec!["watch", "add", "bike", "--min-rating", "9"],
    ];
    for args in &refused {
        let (code, err) = fails(&h, args);
        assert_eq!(code, 2, "{args:?}: {err}");
        assert!(!err.trim().is_empty());
    }
    let long = "x".repeat(65);
    let (code, err) = fails(&h, &["watch", "add", "bike", "--name", &long]);
    assert_eq!(code, 2);
    assert!(err.contains("64"), "{err}");
    assert!(h.json_ok(&["watch", "list"]).is_empty());

    // A saved search keeps the rating bound of the same search (matched on ingest against
    // the seller's reputation: node/tests/suite/reviews.rs).
    let rated = h.json_ok(&[
        "watch",
        "add",
        "chair",
        "--min-rating",
        "4",
        "--name",
        "chairs4",
    ]);
    assert_eq!(rated[0]["query"]["min_rating"], 4.0);
    h.ok(&["watch", "rm", "chairs4"]);
    // Saving says what matches already (not alerted on: the search's results now).
    let said = h.ok(&["watch", "add", "lamp", "--name", "lamps"]);
    assert!(said.contains("0 listings match now"), "{said}");
    let (code, err) = fails(&h, &["watch", "add", "desk", "lamp", "--name", "lamps"]);
    assert_eq!(code, 2);
    assert!(err.contains("already named"), "{err}");
    let (code, err) = fails(&h, &["watch", "rm", "chairs"]);
    assert_eq!(code, 2);
    assert!(err.contains("chairs"), "{err}");
    assert_eq!(h.json_ok(&["watch", "list"]).len(), 1);

    // Follow: the listing sold before is in the list it prints first; once that line is out,
    // the stream is open (it is opened before the list is read), so the next alert can only
    // come from the stream.
    let first = h.sell("Brass desk lamp", "15 EUR");
    wait_for("the first alert", || (!alerts(&h).is_empty()).then_some(()));
    let said = h.ok(&["watch", "add", "brass", "lamp", "--name", "brass"]);
    assert!(said.contains("1 listing match now"), "{said}");
    h.ok(&["watch", "rm", "brass"]);
    let mut child = Command::new(BIN)
        .args(["--json", "alerts", "--follow"])
        .env("SWAPMEET_HOME", h.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            if tx.send(line.unwrap()).is_err() {
                break;
            }
        }
    });
    let line = rx.recv_timeout(PATIENCE).expect("no alert listed");
    let v: Value = serde_json::from_str(&line).unwrap();
    assert_eq!(v["listing"], first.as_str());
    let id = h.sell("Green lamp", "12 EUR");
    let line = rx.recv_timeout(PATIENCE).expect("no alert on the stream");
    let v: Value = serde_json::from_str(&line).unwrap();
    assert_eq!(v["kind"], "match");
    assert_eq!(v["listing"], id.as_str());
    child.kill().unwrap();
    let _ = child.wait();
}

/// `watch listing ID`: the listing's price change and its sale alert, as `alerts` shows them,
/// and the sale ends the watch. The user's own listing about to expire warns with the command
/// that renews it, and that command works.
#[test]
fn watched_and_own_listings_alert_through_the_binary() {
    let h = Home::with_node("EUR");
    // Within the default 48-hour warning from the start.
    let soon = h
        .ok(&[
            "sell",
            "--title",
            "Brass desk lamp",
            "--price",
            "15 EUR",
            "--expires-in",
            "1d",
        ])
        .trim()
        .to_string();
    let warned = wait_for("the expiry warning", || {
        alerts(&h).into_iter().find(|a| a["kind"] == "renew")
    });
    assert_eq!(warned["listing"], soon.as_str());
    let command = warned["command"].as_str().unwrap().to_string();
    assert_eq!(command, format!("swapmeet renew {soon}"));
    let human = h.ok(&["alerts", "--keep-unseen"]);
    assert!(human.contains(&command), "{human}");
    // The command it names renews the listing (30 days): no second warning.
    let args: Vec<&str> = command.split_whitespace().skip(1).collect();
    h.ok(&args);

    let (code, err) = fails(&h, &["watch", "listing", "not-an-id"]);
    assert_eq!(code, 2);
    assert!(err.contains("listing"), "{err}");
    let sofa = h.sell("Green sofa", "100 EUR");
    let w = h.json_ok(&["watch", "listing", &sofa]);
    assert_eq!(w[0]["listing"], sofa.as_str());
    let listed = h.json_ok(&["watch", "list"]);
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0]["listing"], sofa.as_str());
    let (code, err) = fails(&h, &["watch", "listing", &sofa]);
    assert_eq!(code, 2);
    assert!(err.contains("already"), "{err}");

    h.ok(&["update", &sofa, "--price", "80 EUR"]);
    let changed = wait_for("the price alert", || {
        alerts(&h).into_iter().find(|a| a["kind"] == "price_change")
    });
    assert_eq!(changed["listing"], sofa.as_str());
    assert_eq!(changed["previous_price"]["fixed"]["amount_minor"], 10_000);
    assert_eq!(changed["price"]["fixed"]["amount_minor"], 8_000);

    h.ok(&["withdraw", &sofa, "--sold"]);
    wait_for("the sold alert", || {
        alerts(&h).into_iter().find(|a| a["kind"] == "sold")
    });
    assert!(h.json_ok(&["watch", "list"]).is_empty());
    let kinds: Vec<String> = alerts(&h)
        .iter()
        .map(|a| a["kind"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(kinds, ["sold", "price_change", "renew"], "one warning only");

    // Stop watching: by id, through `watch rm`.
    let lamp = h.sell("Green lamp", "12 EUR");
    h.ok(&["watch", "listing", &lamp]);
    h.ok(&["watch", "rm", &lamp]);
    assert!(h.json_ok(&["watch", "list"]).is_empty());
}
