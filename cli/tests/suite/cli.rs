//! The real `swapmeet` binary in temporary homes: the walkthrough, JSON shapes, exit codes,
//! the no-node error, bad input, and crash safety under SIGKILL.

use crate::common;

use std::path::PathBuf;
use std::process::Stdio;
use std::time::{Duration, Instant};

use common::Home;
use serde_json::Value;

#[test]
fn walkthrough_init_sell_search_withdraw() {
    let mut h = Home::new();
    let out = h.ok(&["init", "--location", "52.52,13.405", "--currency", "EUR"]);
    assert!(out.contains("created a new identity"), "{out}");
    let again = h.ok(&["init"]);
    assert!(again.contains("kept the existing identity"), "{again}");
    h.start_node();

    let id = h
        .ok(&[
            "sell",
            "--title",
            "Road bike, 56 cm",
            "--price",
            "250",
            "--category",
            "bikes",
            "--condition",
            "good",
            "--tag",
            "road",
        ])
        .trim()
        .to_string();
    assert_eq!(id.len(), 26, "{id}");
    let created = h.json_lines(&[
        "sell",
        "--title",
        "Oak table",
        "--price",
        "80 EUR",
        "--category",
        "furniture",
    ]);
    assert_eq!(created.len(), 1);
    assert_eq!(created[0]["id"].as_str().unwrap().len(), 26);

    let hits = h.search_until(&["bike", "--near", "52.52,13.40", "--radius-km", "20"], 1);
    assert_eq!(hits.len(), 1);
    let hit = &hits[0];
    assert_eq!(hit["id"], id.as_str());
    assert_eq!(hit["title"], "Road bike, 56 cm");
    assert_eq!(hit["price"], "250.00 EUR");
    assert_eq!(hit["currency"], "EUR");
    assert_eq!(hit["condition"], "good");
    assert!(hit["seller"].as_str().unwrap().starts_with("sm"));
    assert!(hit["distance_km"].as_f64().unwrap() < 2.0);

    // The table for people.
    let table = h.ok(&["search", "bike"]);
    assert!(table.starts_with("ID"), "{table}");
    assert!(table.contains("Road bike, 56 cm") && table.contains("250.00 EUR"));

    // show, export, mine.
    let shown = h.json_lines(&["show", &id]);
    assert_eq!(shown[0]["status"], "active");
    let line = h.ok(&["export", &id]);
    assert!(line.trim().starts_with("swapmeet1:"));
    assert_eq!(h.json_lines(&["mine"]).len(), 2);

    // Withdraw: gone from search (exit 1), still in `mine` as sold.
    h.ok(&["withdraw", &id, "--sold"]);
    let start = Instant::now();
    loop {
        let o = h.cmd(&["search", "bike"]);
        if o.status.code() == Some(1) {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "withdrawn listing still found"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let mine = h.json_lines(&["mine"]);
    let sold = mine.iter().find(|l| l["id"] == id.as_str()).unwrap();
    assert_eq!(sold["status"], "sold");
    assert_eq!(sold["title"], "Road bike, 56 cm");

    // Importing the old version back: stale, and exit 0 (nothing rejected).
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("old.txt");
    std::fs::write(&file, &line).unwrap();
    let o = h.cmd(&["--json", "import", file.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(0));
    let r: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(r["outcome"], "stale");

    // A garbage line is rejected with the reason, exit 2.
    std::fs::write(&file, "swapmeet1:AAAA\n").unwrap();
    let o = h.cmd(&["import", file.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stdout).contains("rejected"));

    // Ordered shutdown removes node.json; commands then say how to start a node.
    h.stop_node();
    assert!(!h.path().join("node.json").exists());
    let o = h.cmd(&["status"]);
    assert_eq!(o.status.code(), Some(2));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("no node is running") && err.contains("swapmeet node"),
        "{err}"
    );
}

#[test]
fn no_node_and_bad_values() {
    let h = Home::new();
    h.ok(&["init", "--location", "52.52,13.405"]);
    for args in [
        &["status"][..],
        &["search", "bike"],
        &["mine"],
        &["sell", "--title", "x", "--price", "5"],
    ] {
        let o = h.cmd(args);
        assert_eq!(o.status.code(), Some(2), "{args:?}");
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(
            err.contains("no node is running") && err.contains("swapmeet node"),
            "{args:?}: {err}"
        );
    }
    // Bad values are refused before any node is contacted, naming the flag.
    let cases: &[(&[&str], &str)] = &[
        (&["sell", "--title", "x", "--price", "abc"], "--price"),
        (
            &[
                "sell",
                "--title",
                "x",
                "--price",
                "5",
                "--condition",
                "mint",
            ],
            "--condition",
        ),
        (
            &[
                "sell",
                "--title",
                "x",
                "--price",
                "5",
                "--category",
                "spaceships",
            ],
            "--category",
        ),
        (
            &[
                "sell",
                "--title",
                "x",
                "--price",
                "5",
                "--expires-in",
                "90d",
            ],
            "--expires-in",
        ),
        (
            &["sell", "--title", "x", "--price", "5", "--location", "91,0"],
            "--location",
        ),
        (&["search", "bike", "--near", "200,10"], "--near"),
        (&["search", "bike", "--max-price", "cheap"], "--max-price"),
        (&["search", "bike", "--sort", "sideways"], "--sort"),
        (&["search", "--limit", "500"], "--limit"),
        (&["show", "not-an-id"], "listing id"),
        (&["init", "--currency", "XYZ"], "--currency"),
    ];
    for (args, flag) in cases {
        let o = h.cmd(args);
        assert_eq!(o.status.code(), Some(2), "{args:?}");
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(err.contains(flag), "{args:?}: {err}");
        assert!(
            !err.contains("no node"),
            "{args:?} reached for the node: {err}"
        );
    }
    // `id` works without a node; completions print a script.
    let id = h.json_lines(&["id"]);
    assert!(id[0]["seller"].as_str().unwrap().starts_with("sm"));
    assert!(id[0]["peer_id"].as_str().unwrap().starts_with("12D3"));
    assert!(h.ok(&["completions", "bash"]).contains("swapmeet"));
}

#[test]
fn bad_input_through_the_cli_leaves_listings_untouched() {
    let mut h = Home::new();
    h.ok(&["init", "--location", "52.52,13.405"]);
    h.start_node();
    let id = h
        .ok(&["sell", "--title", "Lamp", "--price", "15"])
        .trim()
        .to_string();
    let before = h.json_lines(&["show", &id]);
    for args in [
        &["update", id.as_str(), "--title", &"x".repeat(141)][..],
        &["update", id.as_str(), "--price", "5 XYZ"],
        &["update", id.as_str(), "--tag", "has space"],
        &["update", "aaaaaaaaaaaaaaaaaaaaaaaaaa", "--price", "5"],
    ] {
        let o = h.cmd(args);
        assert_eq!(o.status.code(), Some(2), "{args:?}");
        assert!(!o.stderr.is_empty());
    }
    let after = h.json_lines(&["show", &id]);
    assert_eq!(before[0]["hash"], after[0]["hash"]);
    assert_eq!(before[0]["seq"], after[0]["seq"]);
    // A file listing with an unknown field is refused with its name.
    let f = h.path().join("listing.toml");
    std::fs::write(&f, "title = \"Chair\"\nprice = \"10\"\ncolour = \"red\"\n").unwrap();
    let o = h.cmd(&["sell", "--file", f.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("colour"));
    std::fs::write(
        &f,
        "title = \"Chair\"\nprice = \"10\"\ncategory = \"furniture\"\n",
    )
    .unwrap();
    let o = h.cmd(&["sell", "--file", f.to_str().unwrap()]);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
}

#[test]
fn acknowledged_creates_survive_sigkill() {
    let mut h = Home::new();
    h.ok(&["init", "--location", "52.52,13.405"]);
    h.start_node();
    let node_file: PathBuf = h.path().join("node.json");
    let v: Value = serde_json::from_slice(&std::fs::read(&node_file).unwrap()).unwrap();
    let addr = v["api"].as_str().unwrap().to_string();
    let token = std::fs::read_to_string(h.path().join("api.token"))
        .unwrap()
        .trim()
        .to_string();

    // Stream creates through the API from another thread, recording every acknowledged id,
    // and SIGKILL the node mid-stream.
    let (tx, rx) = std::sync::mpsc::channel::<String>();
    let streamer = std::thread::spawn(move || {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .timeout_global(Some(Duration::from_secs(10)))
            .build()
            .into();
        for i in 0.. {
            let r = agent
                .post(format!("http://{addr}/v1/listings"))
                .header("Authorization", format!("Bearer {token}"))
                .send_json(serde_json::json!({"title": format!("Crash item {i}"), "price": "1"}));
            match r {
                Ok(mut resp) if resp.status() == 201 => {
                    let v: Value = resp.body_mut().read_json().unwrap();
                    if tx.send(v["id"].as_str().unwrap().to_string()).is_err() {
                        return;
                    }
                }
                _ => return, // the node is gone
            }
        }
    });
    let mut acked = Vec::new();
    while acked.len() < 150 {
        acked.push(
            rx.recv_timeout(Duration::from_secs(60))
                .expect("creates stalled"),
        );
    }
    h.kill_node();
    streamer.join().unwrap();
    while let Ok(id) = rx.try_recv() {
        acked.push(id);
    }
    // node.json is stale now: a command says no node is running.
    let o = h.cmd(&["status"]);
    assert_eq!(o.status.code(), Some(2));

    h.start_node();
    let mine = h.json_lines(&["mine"]);
    let stored: std::collections::HashSet<&str> =
        mine.iter().map(|l| l["id"].as_str().unwrap()).collect();
    for id in &acked {
        assert!(stored.contains(id.as_str()), "acknowledged {id} was lost");
    }
    let found = h.search_until(&["crash", "--limit", "100"], 100);
    assert_eq!(
        found.len(),
        100,
        "acknowledged listings are searchable after restart"
    );
    let o = h.cmd(&["--json", "show", &acked[acked.len() - 1]]);
    assert_eq!(o.status.code(), Some(0));
}

#[test]
fn bridge_sync_of_a_real_export() {
    let mut h = Home::new();
    h.ok(&["init", "--location", "52.52,13.405", "--currency", "USD"]);
    h.start_node();
    let file = format!(
        "{}/../../shared/feeds/woocommerce_sample_products.csv",
        env!("CARGO_MANIFEST_DIR")
    );
    let dry = h.json_lines(&["bridge", "sync", &file, "--dry-run"]);
    assert_eq!(dry.len(), 1);
    assert_eq!(dry[0]["dry_run"], true);
    assert_eq!(dry[0]["format"], "woocommerce-csv");
    assert_eq!(dry[0]["created"].as_array().unwrap().len(), 12);
    assert!(
        h.json_lines(&["mine"]).is_empty(),
        "a dry run publishes nothing"
    );

    let real = h.json_lines(&["bridge", "sync", &file]);
    assert_eq!(real[0]["created"].as_array().unwrap().len(), 12);
    assert_eq!(real[0]["skipped"].as_array().unwrap().len(), 2);
    assert_eq!(h.json_lines(&["mine"]).len(), 12);
    let again = h.json_lines(&["bridge", "sync", &file, "--format", "woocommerce-csv"]);
    assert_eq!(again[0]["unchanged"], 12);
    assert!(again[0]["created"].as_array().unwrap().is_empty());

    // The human report names skipped rows and their reasons.
    let text = h.ok(&["bridge", "sync", &file]);
    assert!(
        text.contains("12 unchanged") && text.contains("virtual/downloadable"),
        "{text}"
    );
    // A file that is no feed at all: exit 2 with the reason.
    let bad = h.path().join("bad.csv");
    std::fs::write(&bad, "a,b\n1,2\n").unwrap();
    let o = h.cmd(&["bridge", "sync", bad.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("--format"));
}

/// Two real nodes in two homes, as in the README's two-terminal walkthrough: the second
/// bootstraps from the first, finds the first one's listing by a local search, and a node
/// that does not carry that area still shows it, from the DHT.
#[test]
fn two_nodes_find_each_others_listings() {
    let mut seller = Home::new();
    seller.ok(&["init", "--location", "52.52,13.405"]);
    seller.start_node();
    // The listen address shows once the node has bound its port.
    let start = Instant::now();
    let (status, addr) = loop {
        let status = seller.json_lines(&["status"]).remove(0);
        if let Some(a) = status["network"]["listen"][0].as_str() {
            let a = a.to_string();
            break (status, a);
        }
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "no listen address"
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    assert!(addr.contains("/p2p/"), "{addr}");

    let mut buyer = Home::new();
    buyer.ok(&["init", "--location", "52.50,13.45"]);
    buyer.start_node_with(&["--bootstrap", &addr], Stdio::null());
    let mut far = Home::new();
    far.ok(&["init", "--location", "48.137,11.575"]);
    far.start_node_with(&["--bootstrap", &addr], Stdio::null());

    let start = Instant::now();
    while seller.json_lines(&["peers"]).len() < 2 {
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "peers did not connect"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let id = seller.json_lines(&[
        "sell",
        "--title",
        "Blue road bike, 56 cm",
        "--price",
        "280 EUR",
        "--category",
        "bikes",
    ])[0]["id"]
        .as_str()
        .unwrap()
        .to_string();

    let hits = buyer.search_until(&["road bike", "--max-price", "300"], 1);
    assert_eq!(hits.len(), 1, "the buyer did not find the bike");
    assert_eq!(hits[0]["id"], id.as_str());
    assert_eq!(hits[0]["seller"], status["seller"]);

    // Munich does not carry Berlin's listings, but `show` finds it in the DHT.
    assert!(far.json_lines(&["search", "road bike"]).is_empty());
    let start = Instant::now();
    let shown = loop {
        let out = far.json_lines(&["show", &id]);
        if let Some(v) = out.first().filter(|v| v["id"] == id.as_str()) {
            break v.clone();
        }
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "show did not find it in the DHT"
        );
        std::thread::sleep(Duration::from_millis(200));
    };
    assert_eq!(shown["source"], "dht");
    assert_eq!(shown["title"], "Blue road bike, 56 cm");

    let ids = far.json_lines(&["id"]);
    assert!(ids[0]["peer_id"].as_str().unwrap().starts_with("12D3"));
    for h in [&mut far, &mut buyer, &mut seller] {
        h.stop_node();
    }
}

/// A node refuses a libp2p port someone else holds and a bootstrap address that does not
/// parse, saying which and why, instead of starting half-connected.
#[test]
fn bad_network_options_stop_the_node_with_a_reason() {
    let h = Home::new();
    h.ok(&["init"]);
    let held = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = held.local_addr().unwrap().port();
    let listen = format!("/ip4/127.0.0.1/tcp/{port}");
    let o = h.cmd(&[
        "node",
        "--api",
        "127.0.0.1:0",
        "--no-mdns",
        "--listen",
        &listen,
    ]);
    assert_eq!(o.status.code(), Some(2));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("cannot listen on") && err.contains(&listen),
        "{err}"
    );

    let o = h.cmd(&[
        "node",
        "--api",
        "127.0.0.1:0",
        "--no-mdns",
        "--bootstrap",
        "not-an-address",
    ]);
    assert_eq!(o.status.code(), Some(2));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("'not-an-address' is not a libp2p address"),
        "{err}"
    );
    assert!(!h.path().join("node.json").exists());
}
