//! Issue 16 §3 through the real binary in temporary homes: the CLI gives its API token only to a
//! listener that proves it knows it (a stale `node.json` after `kill -9` must not hand the token
//! to whatever took the port), and the node closes a connection whose header is trickled.

use crate::common;

use std::io::{ErrorKind, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::Home;
use serde_json::Value;

fn node_file(h: &Home) -> Value {
    serde_json::from_slice(&std::fs::read(h.path().join("node.json")).unwrap()).unwrap()
}

/// `kill -9` of the node the test started (by its pid), leaving `node.json` behind.
fn kill_9(pid: u64) {
    let status = std::process::Command::new("kill")
        .args(["-9", &pid.to_string()])
        .status()
        .unwrap();
    assert!(status.success());
}

/// A listener that is not a swapmeet node: it records every byte it is sent and answers each
/// request with the current `answer` (a whole HTTP response), then closes.
fn stranger(listener: TcpListener, answer: Arc<Mutex<&'static str>>) -> Arc<Mutex<Vec<u8>>> {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = seen.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { return };
            stream
                .set_read_timeout(Some(Duration::from_secs(2)))
                .unwrap();
            let mut got = Vec::new();
            let mut buf = [0u8; 4096];
            // Read until the header is complete and the body (Content-Length) has arrived, or
            // the client stops sending.
            loop {
                match stream.read(&mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => got.extend_from_slice(&buf[..n]),
                }
                let text = String::from_utf8_lossy(&got).to_string();
                if let Some(end) = text.find("\r\n\r\n") {
                    let len = text[..end]
                        .lines()
                        .find_map(|l| {
                            let (k, v) = l.split_once(':')?;
                            k.eq_ignore_ascii_case("content-length")
                                .then(|| v.trim().parse::<usize>().ok())?
                        })
                        .unwrap_or(0);
                    if got.len() >= end + 4 + len {
                        break;
                    }
                }
            }
            log.lock().unwrap().extend_from_slice(&got);
            let reply = *answer.lock().unwrap();
            let _ = stream.write_all(reply.as_bytes());
        }
    });
    seen
}

fn bind_again(api: &str) -> TcpListener {
    // The killed node's port is free at once (std sets SO_REUSEADDR); retry briefly anyway in
    // case the kernel has not finished tearing the process down.
    let start = Instant::now();
    loop {
        match TcpListener::bind(api) {
            Ok(l) => return l,
            Err(e) if start.elapsed() < Duration::from_secs(10) => {
                eprintln!("binding {api}: {e}; retrying");
                std::thread::sleep(Duration::from_millis(100));
            }
            Err(e) => panic!("cannot take over {api}: {e}"),
        }
    }
}

#[test]
fn a_stranger_on_a_stale_node_json_port_never_receives_the_token() {
    let mut h = Home::new();
    h.start_node();
    // The real node passes the identity check: commands work as before.
    h.ok(&["status"]);
    let file = node_file(&h);
    let api = file["api"].as_str().unwrap().to_string();
    let token = std::fs::read_to_string(h.path().join("api.token"))
        .unwrap()
        .trim()
        .to_string();
    assert!(token.len() >= 32);

    kill_9(file["pid"].as_u64().unwrap());
    let start = Instant::now();
    // Nothing listens: the message says so (wait until the dead node's socket is gone).
    let stderr = loop {
        let o = h.cmd(&["status"]);
        let stderr = String::from_utf8_lossy(&o.stderr).to_string();
        if stderr.contains("no node is running") || start.elapsed() > Duration::from_secs(20) {
            assert_eq!(o.status.code(), Some(2), "{stderr}");
            break stderr;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    assert!(
        stderr.contains(&format!("no node is running at {api}")),
        "{stderr}"
    );
    assert!(
        h.path().join("node.json").exists(),
        "kill -9 leaves node.json"
    );

    // Another process takes the port. Two kinds of stranger: an HTTP server that answers the
    // identity check with a made-up proof, and one that answers everything with 404.
    let answers: [&'static str; 2] = [
        concat!(
            "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 76\r\n",
            "Connection: close\r\n\r\n",
            "{\"proof\":\"0000000000000000000000000000000000000000000000000000000000000000\"}",
        ),
        "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
    ];
    let current = Arc::new(Mutex::new(answers[0]));
    let seen = stranger(bind_again(&api), current.clone());
    for answer in answers {
        *current.lock().unwrap() = answer;
        seen.lock().unwrap().clear();
        for args in [&["status"][..], &["mine"][..], &["search", "bike"][..]] {
            let o = h.cmd(args);
            let stderr = String::from_utf8_lossy(&o.stderr);
            assert_eq!(o.status.code(), Some(2), "{args:?}: {stderr}");
            assert!(
                stderr.contains(&format!("the process at {api} is not your swapmeet node"))
                    && stderr.contains("node.json is stale: was the node killed?")
                    && stderr.contains("start one with `swapmeet node`"),
                "{args:?}: {stderr}"
            );
        }
        let seen = String::from_utf8_lossy(&seen.lock().unwrap()).to_string();
        // The stranger was asked (so the test saw real traffic) and never told the token.
        assert!(seen.contains("POST /v1/hello"), "{seen}");
        assert!(
            !seen.contains(&token),
            "the token was sent to a stranger:\n{seen}"
        );
        assert!(
            !seen.to_ascii_lowercase().contains("authorization"),
            "{seen}"
        );
    }
}

#[test]
fn a_trickled_header_is_cut_off_and_the_node_keeps_serving() {
    let mut h = Home::new();
    h.start_node();
    let api = node_file(&h)["api"].as_str().unwrap().to_string();
    let mut stream = TcpStream::connect(&api).unwrap();
    // One byte per 500 ms: this header would take 40 s to arrive.
    let header: Vec<u8> = format!("GET /v1/status HTTP/1.1\r\nHost: {api}\r\nX-Slow: ")
        .into_bytes()
        .into_iter()
        .chain(std::iter::repeat(b'a'))
        .take(80)
        .collect();
    stream
        .set_read_timeout(Some(Duration::from_millis(500)))
        .unwrap();
    let start = Instant::now();
    let mut closed_after = None;
    let mut buf = [0u8; 1024];
    'trickle: for (sent, byte) in header.iter().enumerate() {
        if stream.write_all(&[*byte]).is_err() {
            closed_after = Some(sent);
            break;
        }
        // Doubles as the 500 ms pause: a read that times out means the connection is open.
        loop {
            match stream.read(&mut buf) {
                Ok(0) => {
                    closed_after = Some(sent + 1);
                    break 'trickle;
                }
                // Whatever the node says before closing (a 408, say), keep reading to the end.
                Ok(_) => continue,
                Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => break,
                Err(_) => {
                    closed_after = Some(sent + 1);
                    break 'trickle;
                }
            }
        }
    }
    let elapsed = start.elapsed();
    let sent = closed_after.unwrap_or_else(|| {
        panic!("the node kept a trickled header open for {elapsed:?}, the whole trickle")
    });
    // The bound is 5 s (10 bytes); allow 4x for a loaded test machine, but stop well before
    // the 40 s the trickle would take.
    assert!(
        elapsed < Duration::from_secs(20),
        "closed only after {elapsed:?} ({sent} bytes)"
    );
    // The node is still fine for well-behaved clients.
    h.ok(&["status"]);
}

#[test]
fn hello_needs_no_token_but_everything_else_still_does() {
    let mut h = Home::new();
    h.start_node();
    let api = node_file(&h)["api"].as_str().unwrap().to_string();
    let agent = ureq::Agent::new_with_config(
        ureq::Agent::config_builder()
            .http_status_as_error(false)
            .build(),
    );
    let hello = |body: &str| {
        let mut r = agent
            .post(format!("http://{api}/v1/hello"))
            .header("Content-Type", "application/json")
            .send(body.as_bytes())
            .unwrap();
        let status = r.status().as_u16();
        let v: Value = serde_json::from_str(&r.body_mut().read_to_string().unwrap()).unwrap();
        (status, v)
    };
    let (status, v) = hello(&format!("{{\"nonce\":\"{}\"}}", "ab".repeat(32)));
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["proof"].as_str().unwrap().len(), 64, "{v}");
    // A bad nonce is refused naming the field and the rule.
    for bad in ["\"abc\"", "\"abab\""] {
        let (status, v) = hello(&format!("{{\"nonce\":{bad}}}"));
        assert_eq!(status, 400, "{bad}: {v}");
        let msg = v["error"].as_str().unwrap();
        assert!(msg.contains("nonce"), "{bad}: {msg}");
    }
    assert_eq!(hello("{\"nonce\":42}").0, 400);
    let (status, v) = hello(&format!("{{\"nonce\":\"{}\"}}", "ab".repeat(31)));
    assert!(
        v["error"].as_str().unwrap().contains("must be 32 bytes"),
        "{status} {v}"
    );
    // The token guard still covers every other path, unknown ones included.
    for path in ["/v1/status", "/v1/mine", "/v1/nothing-here"] {
        let r = agent.get(format!("http://{api}{path}")).call().unwrap();
        assert_eq!(r.status().as_u16(), 401, "{path}");
    }
}
