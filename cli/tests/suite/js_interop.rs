//! Another libp2p implementation against the real binary: a js-libp2p peer
//! (`interop/js/peer.mjs`, configured only from docs/PROTOCOL.md) connects to a running
//! `swapmeet node` over TCP + noise + yamux, receives a listing the CLI published by gossipsub,
//! reads its DHT record over `/swapmeet/kad/1.0.0`, reconciles over `/swapmeet/sync/1` and
//! fetches it, then publishes three malformed messages. The node must reject each with its
//! reason and lower the peer's score, as `swapmeet peers` shows.
//!
//! Needs Node.js (20 or later) with npm: the test runs `npm ci` in `interop/js` when its
//! packages are missing (`.ci/run` runs it first); without Node.js it fails saying so, it never
//! skips.

use crate::common;

use std::io::{BufRead, BufReader, Read};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use common::Home;
use serde_json::Value;
use swapmeet_protocol::SignedEnvelope;

/// How long the JS peer may take for everything (it exits with a report at its own timeout,
/// which is shorter).
const PATIENCE: Duration = Duration::from_secs(150);
const JS_TIMEOUT_SECS: &str = "120";

fn js_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../interop/js")
}

fn hex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

/// The JS peer, killed on drop if it is still running.
struct JsPeer(Child);

impl Drop for JsPeer {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn now_secs() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

fn wait_for<T>(what: &str, mut f: impl FnMut() -> Option<T>) -> T {
    let start = Instant::now();
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(start.elapsed() < PATIENCE, "gave up waiting for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn a_js_libp2p_peer_gets_a_listing_by_gossip_dht_and_sync_and_its_malformed_messages_are_rejected()
{
    let dir = js_dir();
    if !dir.join("node_modules/libp2p").is_dir() {
        // A fresh clone: install exactly what the lock file pins, so the one test command
        // runs everything (`.ci/run` installs it first anyway).
        let out = Command::new("npm")
            .args(["ci", "--no-audit", "--no-fund"])
            .current_dir(&dir)
            .output()
            .unwrap_or_else(|e| panic!("npm (Node.js 20 or later) is needed for this test: {e}"));
        assert!(
            out.status.success() && dir.join("node_modules/libp2p").is_dir(),
            "npm ci in interop/js failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let mut h = Home::new();
    h.ok(&["init", "--location", "52.52,13.405", "--currency", "EUR"]);
    // The node's only peer is the JS one, which runs no AutoNAT server to confirm it public:
    // the owner of such a first node says it is public, or it stays a Kademlia client.
    h.set_config("reach", "assume_public", "true");
    h.start_node();
    let id = h.sell("Desk lamp", "10");
    let status = &h.json_ok(&["status"])[0];
    let addr = status["network"]["listen"][0].as_str().unwrap().to_string();
    let node_peer_id = status["network"]["peer_id"].as_str().unwrap().to_string();
    let cells: Vec<&str> = status["network"]["following"]["cells"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap())
        .collect();
    // The home's cell (Berlin), and another cell the node follows.
    assert!(cells.contains(&"u33d"), "{cells:?}");
    let wrong = *cells.iter().find(|c| **c != "u33d").unwrap();

    let child = Command::new("node")
        .arg("peer.mjs")
        .args(["--addr", &addr, "--listing", &id, "--area", "u33d"])
        .args(["--wrong-area", wrong, "--timeout-secs", JS_TIMEOUT_SECS])
        .current_dir(&dir)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run `node` (Node.js 20 or later is needed): {e}"));
    let mut js = JsPeer(child);
    let stdout = js.0.stdout.take().unwrap();
    let mut stderr = js.0.stderr.take().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let line = match rx.recv_timeout(PATIENCE) {
        Ok(Ok(line)) => line,
        other => {
            let _ = js.0.kill();
            let mut err = String::new();
            let _ = stderr.read_to_string(&mut err);
            panic!("the JS peer printed no report ({other:?}); its stderr:\n{err}");
        }
    };
    let report: Value = serde_json::from_str(&line).unwrap();
    assert!(
        report.get("error").is_none(),
        "the JS peer failed: {report:#}"
    );

    // The JS side's view.
    assert_eq!(report["connected"], true);
    assert_eq!(report["node_peer_id"], node_peer_id.as_str());
    assert_eq!(report["transport"]["encryption"], "/noise");
    assert_eq!(report["transport"]["multiplexer"], "/yamux/1.0.0");
    // The gossiped bytes are the listing the CLI published, signed as it was signed: the JS
    // side checked the signature on its own, and so does the protocol crate here.
    let gossip = &report["gossip"];
    assert_eq!(gossip["signature_valid"], true, "{gossip:#}");
    let bytes = hex(gossip["envelope_hex"].as_str().unwrap());
    let verified = SignedEnvelope::decode(&bytes)
        .unwrap()
        .verify(now_secs())
        .unwrap();
    assert_eq!(verified.listing_id().to_string(), id);
    assert_eq!(report["dht"]["from_node"], true, "{:#}", report["dht"]);
    assert_eq!(report["dht"]["equal_to_gossip"], true);
    let hash = verified.hash().to_string();
    assert_eq!(report["sync"]["ids"], serde_json::json!([hash]));
    assert_eq!(report["sync"]["fingerprints_left"], 0);
    assert_eq!(report["sync"]["fetched_equal"], true);
    let published = report["published"].as_array().unwrap();
    assert_eq!(published.len(), 3);
    assert!(
        published.iter().all(|p| p["recipients"] == 1),
        "{published:?}"
    );

    // The node's view, while the JS peer is still connected: each message rejected with its
    // reason, and the peer's score below the gossip threshold (-10).
    let js_id = report["peer_id"].as_str().unwrap().to_string();
    let peer = wait_for("the node to reject the three messages", || {
        h.json_lines(&["peers"])
            .into_iter()
            .find(|p| p["peer_id"] == js_id.as_str() && p["rejected"] == 3)
    });
    let mut classes: Vec<&str> = peer["rejections"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["class"].as_str().unwrap())
        .collect();
    classes.sort_unstable();
    assert_eq!(classes, ["decode", "signature", "wrong_topic"], "{peer:#}");
    let reason_of = |class: &str| {
        peer["rejections"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["class"] == class)
            .map(|r| r["reason"].as_str().unwrap().to_string())
            .unwrap()
    };
    assert!(reason_of("decode").starts_with("malformed envelope"));
    assert!(reason_of("signature").starts_with("signature: does not verify"));
    assert_eq!(
        reason_of("wrong_topic"),
        format!("topic: a record of u33d, all does not belong on the topic of {wrong}")
    );
    let score = peer["score"].as_f64().unwrap();
    assert!(score < -10.0, "score {score}");
    // The status is a snapshot the node refreshes every 500 ms; the peers list is read when
    // asked, so the status may still be catching up.
    wait_for("the status to count the three rejections", || {
        let status = &h.json_ok(&["status"])[0];
        (status["network"]["gossip"]["rejected"] == 3).then_some(())
    });
    // The table a user reads says it too.
    let table = h.ok(&["peers"]);
    let row = table.lines().find(|l| l.starts_with(&js_id)).unwrap();
    assert!(row.contains("  rejected 3 (last: "), "{row}");

    // Done: the JS peer disconnects and exits cleanly.
    drop(js.0.stdin.take());
    let code = wait_for("the JS peer to exit", || js.0.try_wait().unwrap());
    assert!(code.success(), "the JS peer exited with {code}");
}
