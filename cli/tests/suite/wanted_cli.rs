//! Wanted posts through the real binary, across three nodes on the real network: a buyer posts
//! what they want, another node finds it with `search --wanted` and counts it in `demand`, the
//! seller whose listing matches it gets a `wanted_match` alert and answers it, and listings
//! that match it alert the buyer as a saved search does. And the desktop switch, with a fake
//! `notify-send` on PATH.

use crate::common;

use std::path::Path;
use std::process::{Child, Command, Stdio};
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

fn sell_bike(h: &Home, title: &str, price: &str) -> String {
    h.ok(&[
        "sell",
        "--title",
        title,
        "--price",
        price,
        "--category",
        "bikes",
    ])
    .trim()
    .to_string()
}

fn wanted_search(h: &Home, args: &[&str]) -> Vec<Value> {
    let mut a = vec!["--json", "search", "--wanted"];
    a.extend_from_slice(args);
    let o = h.cmd(&a);
    assert!(
        matches!(o.status.code(), Some(0) | Some(1)),
        "search --wanted failed: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    common::json_lines(&String::from_utf8_lossy(&o.stdout))
}

#[test]
fn a_wanted_post_travels_alerts_both_sides_and_is_answered() {
    let mut seller = Home::new();
    seller.ok(&["init", "--location", "52.52,13.405", "--currency", "EUR"]);
    let listen = format!("/ip4/127.0.0.1/tcp/{}", free_port());
    seller.start_node_with(&["--listen", &listen], Stdio::null());
    let addr = listen_addr(&seller);
    let mut buyer = Home::new();
    buyer.ok(&["init", "--location", "52.50,13.45", "--currency", "EUR"]);
    buyer.start_node_with(&["--bootstrap", &addr], Stdio::null());
    let mut shop = Home::new();
    shop.ok(&["init", "--location", "52.53,13.38", "--currency", "EUR"]);
    shop.start_node_with(&["--bootstrap", &addr], Stdio::null());

    // The seller's own listings, before any wanted post exists.
    let bike = sell_bike(&seller, "Road bike, 56 cm, steel", "250 EUR");
    let sofa = seller.ok(&["sell", "--title", "Road sofa", "--price", "100 EUR"]);
    buyer.search_until(&["steel"], 1);

    // Bad posts are refused naming the field and the limit, and nothing is published.
    let long = "x".repeat(141);
    for (args, needle) in [
        (
            vec![
                "want",
                "--title",
                &long,
                "--max-price",
                "300",
                "--category",
                "bikes",
            ],
            "140",
        ),
        (
            vec![
                "want",
                "--title",
                "bike",
                "--max-price",
                "cheap",
                "--category",
                "bikes",
            ],
            "--max-price",
        ),
        (
            vec![
                "want",
                "--title",
                "bike",
                "--max-price",
                "300",
                "--category",
                "spaceships",
            ],
            "--category",
        ),
        (
            vec![
                "want",
                "--title",
                "bike",
                "--max-price",
                "300",
                "--category",
                "bikes",
                "--expires-days",
                "31",
            ],
            "30",
        ),
        (
            vec!["want", "--max-price", "300", "--category", "bikes"],
            "--title",
        ),
    ] {
        let (code, err) = fails(&buyer, &args);
        assert_eq!(code, 2, "{args:?}: {err}");
        assert!(err.contains(needle), "{args:?}: {err}");
    }
    assert_eq!(buyer.cmd(&["want", "list"]).status.code(), Some(1));

    // The buyer posts; it is theirs to list.
    let id = buyer
        .ok(&[
            "want",
            "--title",
            "road bike",
            "--max-price",
            "300",
            "--category",
            "bikes",
            "--description",
            "56 cm frame",
        ])
        .lines()
        .next()
        .unwrap()
        .trim()
        .to_string();
    let mine = buyer.json_ok(&["want", "list"]);
    assert_eq!(mine.len(), 1);
    assert_eq!(mine[0]["id"], id.as_str());
    assert_eq!(mine[0]["status"], "active");
    assert_eq!(mine[0]["max_price"], "300.00 EUR");
    // It is not a listing: `mine` and the listing search do not show it.
    assert!(buyer
        .json_ok(&["mine"])
        .iter()
        .all(|l| l["id"] != id.as_str()));

    // A third node finds it with `search --wanted`, with the usual filters, and counts it.
    let found = wait_for("the wanted post on the shop's node", || {
        let h = wanted_search(&shop, &["road", "bikes", "--category", "bikes"]);
        (!h.is_empty()).then_some(h)
    });
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(found[0]["id"], id.as_str());
    assert_eq!(found[0]["title"], "road bike");
    assert!(wanted_search(&shop, &["road", "--category", "furniture"]).is_empty());
    assert!(wanted_search(&shop, &["road", "--min-price", "400"]).is_empty());
    assert!(wanted_search(&shop, &["tandem"]).is_empty());
    let near = wanted_search(&shop, &["--near", "52.50,13.45", "--radius-km", "5"]);
    assert_eq!(near.len(), 1);
    assert!(wanted_search(&shop, &["--near", "48.14,11.58", "--radius-km", "50"]).is_empty());
    assert!(
        shop.search(&["road"])
            .iter()
            .all(|l| l["id"] != id.as_str()),
        "a wanted post is no listing"
    );
    let (code, err) = fails(
        &shop,
        &["search", "--wanted", "bike", "--condition", "good"],
    );
    assert_eq!(code, 2);
    assert!(err.contains("--condition"), "{err}");
    let demand = shop.json_ok(&["demand"]);
    assert_eq!(demand[0]["posts"], 1);
    assert_eq!(demand[0]["by_category"]["bikes"], 1);
    assert_eq!(demand[0]["by_price_band"]["250-1000 EUR"], 1);
    assert_eq!(demand[0]["top_words"][0][1], 1);
    let human = shop.ok(&["demand", "--category", "bikes", "--radius-km", "30"]);
    assert!(
        human.contains("1 wanted posts") && human.contains("road"),
        "{human}"
    );
    assert_eq!(
        shop.cmd(&["demand", "--category", "toys-games"])
            .status
            .code(),
        Some(1)
    );

    // The seller's node: the steel road bike answers it (the sofa is no bike).
    let got = wait_for("the seller's wanted_match alert", || {
        let a: Vec<Value> = alerts(&seller)
            .into_iter()
            .filter(|a| a["kind"] == "wanted_match")
            .collect();
        (!a.is_empty()).then_some(a)
    });
    assert_eq!(got.len(), 1, "{got:?}");
    assert_eq!(got[0]["listing"], bike.as_str());
    assert_eq!(got[0]["wanted"], id.as_str());
    assert_eq!(got[0]["title"], "road bike");
    assert_ne!(got[0]["listing"], sofa.trim());
    let human = seller.ok(&["alerts", "--keep-unseen"]);
    assert!(
        human.contains("wanted") && human.contains("want answer"),
        "{human}"
    );

    // The buyer's post acts as a saved search: a matching listing alerts, a dear one does not.
    let dear = sell_bike(&seller, "Road bike, carbon", "400 EUR");
    buyer.search_until(&["carbon"], 1);
    let cheap = sell_bike(&seller, "Road bike for the city", "200 EUR");
    let got = wait_for("the buyer's alert", || {
        let a: Vec<Value> = alerts(&buyer)
            .into_iter()
            .filter(|a| a["kind"] == "match")
            .collect();
        (!a.is_empty()).then_some(a)
    });
    assert_eq!(got.len(), 1, "{got:?}");
    assert_eq!(got[0]["listing"], cheap.as_str());
    assert_eq!(got[0]["wanted"], id.as_str());
    assert_eq!(got[0]["search_name"], "wanted: road bike");
    assert_ne!(got[0]["listing"], dear.as_str());

    // Answering opens a thread with the poster.
    let sent = seller.json_ok(&["want", "answer", &id, "--text", "I have a 56 cm one"]);
    assert_eq!(sent[0]["listing"], id.as_str());
    let inbox = wait_for("the answer in the buyer's inbox", || {
        let t = buyer.json_ok(&["inbox"]);
        t.iter().any(|t| t["listing"] == id.as_str()).then_some(t)
    });
    assert!(inbox.iter().any(|t| t["title"] == "road bike"), "{inbox:?}");

    // Renew moves the expiry; withdraw takes it off every node; a listing id is refused.
    let before = mine[0]["expires_at"].as_u64().unwrap();
    let renewed = buyer.json_ok(&["want", "renew", &id, "--expires-days", "30"]);
    assert!(renewed[0]["expires_at"].as_u64().unwrap() > before);
    let (code, err) = fails(&seller, &["want", "withdraw", &bike]);
    assert_eq!(code, 2);
    assert!(err.contains("not a live wanted post"), "{err}");
    buyer.ok(&["want", "withdraw", &id]);
    wait_for("the withdrawal on the shop's node", || {
        wanted_search(&shop, &["road"]).is_empty().then_some(())
    });
    assert_eq!(buyer.cmd(&["want", "list"]).status.code(), Some(1));
}

/// A node started with PATH holding a fake `notify-send` that records its arguments.
fn start_with_path(h: &Home, bin_dir: &Path) -> Child {
    let node_file = h.path().join("node.json");
    let _ = std::fs::remove_file(&node_file);
    let path = format!(
        "{}:{}",
        bin_dir.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let child = Command::new(BIN)
        .args([
            "node",
            "--api",
            "127.0.0.1:0",
            "--no-mdns",
            "--listen",
            "/ip4/127.0.0.1/tcp/0",
        ])
        .env("SWAPMEET_HOME", h.path())
        .env("PATH", path)
        .env_remove("RUST_LOG")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    wait_for("the node", || node_file.exists().then_some(()));
    child
}

#[cfg(unix)]
#[test]
fn desktop_notifications_follow_the_config_switch() {
    use std::os::unix::fs::PermissionsExt;
    let bin = tempfile::tempdir().unwrap();
    let record = bin.path().join("calls");
    let script = bin.path().join("notify-send");
    std::fs::write(
        &script,
        format!(
            "#!/bin/sh\nprintf '%s|' \"$@\" >> '{}'\necho >> '{}'\n",
            record.display(),
            record.display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();

    let calls = || std::fs::read_to_string(&record).unwrap_or_default();
    let mut nodes = Vec::new();
    for desktop in [false, true] {
        let h = Home::new();
        h.ok(&["init", "--location", "52.52,13.405", "--currency", "EUR"]);
        if desktop {
            let cfg = h.path().join("config.toml");
            let text = std::fs::read_to_string(&cfg).unwrap();
            assert!(text.contains("desktop = false"), "{text}");
            std::fs::write(&cfg, text.replace("desktop = false", "desktop = true")).unwrap();
        }
        let child = start_with_path(&h, bin.path());
        h.ok(&["watch", "add", "lamp", "--name", "lamps"]);
        let title = if desktop {
            "Brass desk lamp"
        } else {
            "Green floor lamp"
        };
        h.sell(title, "15 EUR");
        wait_for("the alert", || (!alerts(&h).is_empty()).then_some(()));
        nodes.push((h, child));
    }
    let got = wait_for("the desktop notification", || {
        let c = calls();
        c.contains("Brass desk lamp").then_some(c)
    });
    assert!(
        got.contains("--app-name=swapmeet|swapmeet: lamps|"),
        "{got}"
    );
    // The node with the switch off (the default) never called it.
    assert!(!got.contains("Green floor lamp"), "{got}");
    assert_eq!(got.lines().count(), 1, "{got}");
    for (_, mut c) in nodes {
        let _ = c.kill();
        let _ = c.wait();
    }
}
