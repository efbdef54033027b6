//! `swapmeet invite` and `swapmeet join` through the real binary with two running nodes in
//! temporary homes on 127.0.0.1 (no mDNS, no bootstrap: the invite is the only way they meet),
//! and the node settings they share a config with, checked at start and reported by status.

use crate::common;

use std::time::{Duration, Instant};

use common::Home;
use serde_json::Value;

fn status(h: &Home) -> Value {
    h.json_ok(&["status"]).remove(0)
}

fn wait_for(what: &str, mut ok: impl FnMut() -> bool) {
    let start = Instant::now();
    while !ok() {
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "gave up waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn fails(h: &Home, args: &[&str]) -> String {
    let o = h.cmd(args);
    assert_eq!(o.status.code(), Some(2), "swapmeet {args:?} should fail");
    String::from_utf8(o.stderr).unwrap()
}

#[test]
fn a_node_joined_by_invite_gets_the_inviters_listing_and_keeps_the_peer_after_a_restart() {
    let a = Home::with_node("EUR");
    let mut b = Home::with_node("EUR");

    let text = a.ok(&["invite"]);
    let line = text.lines().next().unwrap();
    assert!(line.starts_with("swapmeet:"), "{text}");
    // The QR code: rows of half blocks after the text.
    assert!(
        text.contains('\u{2580}') || text.contains('\u{2584}'),
        "{text}"
    );
    let inv = a.json_ok(&["invite"]).remove(0);
    let invite = inv["invite"].as_str().unwrap().to_string();
    let a_peer = status(&a)["peer_id"].as_str().unwrap().to_string();
    assert_eq!(inv["peer_id"], a_peer.as_str());
    assert!(inv["addresses"][0]
        .as_str()
        .unwrap()
        .starts_with("/ip4/127.0.0.1/tcp/"));

    // Bad invites: each named, nothing changed.
    let e = fails(&b, &["join", &invite.replace("swapmeet:", "swapmeat:")]);
    assert!(e.contains("starts with 'swapmeet:'"), "{e}");
    let mut typo = invite.clone().into_bytes();
    let i = typo.len() - 10;
    typo[i] = if typo[i] == b'a' { b'b' } else { b'a' };
    let e = fails(&b, &["join", std::str::from_utf8(&typo).unwrap()]);
    assert!(e.contains("checksum"), "{e}");
    let e = fails(&b, &["join", &format!("{invite}{}", "a".repeat(1300))]);
    assert!(e.contains("the limit is 1200"), "{e}");
    let e = fails(&b, &["join", "swapmeet:!!"]);
    assert!(e.contains("not base32"), "{e}");
    // The API checks it too (any program may call it).
    let (code, body) = b.api("POST", "/v1/join", &serde_json::json!({"invite": "x"}));
    assert_eq!(code, 400);
    assert_eq!(body["field"], "invite", "{body}");
    let own = b.json_ok(&["invite"]).remove(0);
    let e = fails(&b, &["join", own["invite"].as_str().unwrap()]);
    assert!(e.contains("own invite"), "{e}");
    assert_eq!(status(&b)["network"]["known_peers"], 0);
    assert_eq!(status(&b)["network"]["connected_peers"], 0);

    let joined = b.json_ok(&["join", &invite]).remove(0);
    assert_eq!(joined["peer_id"], a_peer.as_str());
    assert_eq!(joined["connected"], true, "{joined}");

    let id = a.sell("Invited tandem bicycle", "120 EUR");
    let hits = b.search_until(&["tandem"], 1);
    assert_eq!(hits.len(), 1, "{hits:?}");
    assert_eq!(hits[0]["id"], id.as_str());

    // The peer survives B's crash: B, killed and started again, dials A from its book.
    b.kill_node();
    b.start_node();
    wait_for("B to reconnect to A after the restart", || {
        status(&b)["network"]["connected_peers"].as_u64() == Some(1)
    });
    let peers = b.json_lines(&["peers"]);
    assert!(
        peers.iter().any(|p| p["peer_id"] == a_peer.as_str()),
        "{peers:?}"
    );

    // Once each has confirmed the other reachable (AutoNAT), both answer the DHT, and a new
    // listing of A's is put into it: B holds the record, A's status says its put was stored.
    for h in [&a, &b] {
        wait_for("AutoNAT to confirm the node and Kademlia to serve", || {
            status(h)["network"]["reachability"]["kad_mode"] == "server"
        });
    }
    let before = status(&a)["network"]["dht_puts"]["stored"]
        .as_u64()
        .unwrap();
    a.sell("Invited garden bench", "40 EUR");
    wait_for("A's put to be stored by B", || {
        status(&a)["network"]["dht_puts"]["stored"]
            .as_u64()
            .unwrap()
            > before
    });
    assert!(status(&b)["network"]["dht_records"].as_u64().unwrap() >= 1);
    // The same figures in the status for people (read again if a retry landed in between).
    let mut human = String::new();
    wait_for("the status text to show the puts", || {
        let puts = status(&a)["network"]["dht_puts"].clone();
        human = a.ok(&["status"]);
        human.contains(&format!(
            "puts of my listings: {} stored, {} tried again, {} given up",
            puts["stored"], puts["retried"], puts["given_up"]
        ))
    });
    assert!(human.contains("dht mode:      server"), "{human}");
}

#[test]
fn a_limit_out_of_range_or_a_bad_dnsaddr_domain_stops_the_node_with_the_field_named() {
    let cases = [
        (
            ("reach", "relay_circuit_kib", "8"),
            "reach.relay_circuit_kib: 8 is out of range: 16 to 65536",
        ),
        (
            ("reach", "relay_max_circuits", "0"),
            "reach.relay_max_circuits: 0 is out of range: 1 to 1024",
        ),
        (("reach", "relay_server", "\"sometimes\""), "relay_server"),
        (
            ("node", "memory_mib", "10"),
            "node.memory_mib: 10 is out of range: 64 to 1048576",
        ),
        (
            ("node", "bootstrap_dnsaddr", "[\"not a domain\"]"),
            "node.bootstrap_dnsaddr: 'not a domain' is not a domain name",
        ),
    ];
    for ((section, key, value), expect) in cases {
        let h = Home::new();
        h.ok(&["init", "--location", "52.52,13.405"]);
        h.set_config(section, key, value);
        let o = h.cmd(&["node", "--api", "127.0.0.1:0", "--no-mdns"]);
        assert_eq!(o.status.code(), Some(2), "{key}");
        let e = String::from_utf8_lossy(&o.stderr);
        assert!(e.contains(expect), "{key}: {e}");
        assert!(!h.path().join("node.json").exists());
    }
}

#[test]
fn the_memory_budget_from_the_config_is_what_status_reports_beside_the_resident_memory() {
    let mut h = Home::new();
    h.ok(&["init", "--location", "52.52,13.405"]);
    h.set_config("node", "memory_mib", "96");
    h.start_node();
    let st = status(&h);
    assert_eq!(st["memory"]["budget_bytes"], 96 * 1024 * 1024, "{st}");
    let resident = st["memory"]["resident_bytes"].as_u64().unwrap();
    assert!(resident > 0, "{st}");
    let text = h.ok(&["status"]);
    assert!(
        text.contains("resident (caches sized from a budget of 96.0 MiB)"),
        "{text}"
    );
    // The node runs with mimalloc handing freed memory back at once: it ran itself again in
    // place (the process a service manager started, same id) with the option set.
    let pid = h.node_pid().unwrap();
    let environ = std::fs::read(format!("/proc/{pid}/environ")).unwrap();
    assert!(
        environ
            .split(|b| *b == 0)
            .any(|v| v == b"MIMALLOC_PURGE_DELAY=0"),
        "the node's environment lacks MIMALLOC_PURGE_DELAY=0"
    );
}
