//! Private messages through the real binary: `message`, `inbox`, `thread` against running
//! nodes in temporary homes, as a buyer and a seller use them.

use crate::common;

use std::process::Stdio;
use std::time::Instant;

use common::{free_port, listen_addr, seller_and_buyer, wait_for, Home, PATIENCE};
use serde_json::Value;

fn thread_json(h: &Home, thread: &str, extra: &[&str]) -> Value {
    let mut args = vec!["thread", thread];
    args.extend_from_slice(extra);
    h.json_ok(&args).remove(0)
}

/// The exit code and stderr of a command that must fail.
fn fails(h: &Home, args: &[&str]) -> (i32, String) {
    let o = h.cmd(args);
    (
        o.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

/// Opens the node's event stream and returns the named events (`event:` name, `data:` JSON)
/// as they arrive, read by a thread.
fn named_events(h: &Home) -> std::sync::mpsc::Receiver<(String, Value)> {
    let node: Value =
        serde_json::from_slice(&std::fs::read(h.path().join("node.json")).unwrap()).unwrap();
    let token = std::fs::read_to_string(h.path().join("api.token")).unwrap();
    let url = format!("http://{}/v1/events", node["api"].as_str().unwrap());
    let (tx, rx) = std::sync::mpsc::channel();
    let (ready_tx, ready_rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        use std::io::BufRead;
        let mut resp = ureq::get(&url)
            .header("Authorization", &format!("Bearer {}", token.trim()))
            .call()
            .unwrap();
        let _ = ready_tx.send(());
        let reader = std::io::BufReader::new(resp.body_mut().as_reader());
        let mut name = String::new();
        for line in reader.lines() {
            let Ok(line) = line else { return };
            if let Some(n) = line.strip_prefix("event:") {
                name = n.trim().to_string();
            } else if let Some(d) = line.strip_prefix("data:") {
                let v: Value = serde_json::from_str(d.trim()).unwrap_or(Value::Null);
                if !name.is_empty() && tx.send((std::mem::take(&mut name), v)).is_err() {
                    return;
                }
            } else if line.is_empty() {
                name.clear();
            }
        }
    });
    ready_rx.recv_timeout(PATIENCE).unwrap();
    rx
}

/// The first named event `name` whose data satisfies `f`.
fn event_where(
    rx: &std::sync::mpsc::Receiver<(String, Value)>,
    name: &str,
    f: impl Fn(&Value) -> bool,
) -> Value {
    let start = Instant::now();
    loop {
        let left = PATIENCE.saturating_sub(start.elapsed());
        let (n, v) = rx
            .recv_timeout(left)
            .unwrap_or_else(|_| panic!("no `{name}` event"));
        if n == name && f(&v) {
            return v;
        }
    }
}

/// A buyer writes to a seller about a bike; the seller sees it in the inbox and answers by a
/// thread prefix; both `thread` views agree, and the buyer's message shows delivered.
#[test]
fn buyer_and_seller_talk_about_a_listing() {
    let (mut seller, mut buyer) = seller_and_buyer();
    let id = seller.sell("Blue road bike, 56 cm", "280 EUR");
    let seller_events = named_events(&seller);
    let buyer_events = named_events(&buyer);

    let sent = buyer.json_ok(&["message", &id, "Hi! Is the bike still available?"]);
    let thread = sent[0]["thread"].as_str().unwrap().to_string();
    assert_eq!(sent[0]["state"], "queued");
    // Both sides hear of it on their event streams: the seller a new message, the buyer the
    // delivery.
    let hash = sent[0]["hash"].as_str().unwrap().to_string();
    let ev = event_where(&seller_events, "message", |v| v["hash"] == hash.as_str());
    assert_eq!(ev["thread"], thread.as_str());
    event_where(&buyer_events, "delivery", |v| {
        v["hash"] == hash.as_str() && v["state"] == "delivered"
    });
    assert_eq!(sent[0]["seq"], 1);
    assert_eq!(sent[0]["listing"], id.as_str());

    // Delivered: the seller's node signed a receipt.
    wait_for("the buyer's message to be delivered", || {
        let t = thread_json(&buyer, &thread, &[]);
        (t["conversation"][0]["state"] == "delivered").then_some(())
    });
    let inbox = seller.json_ok(&["inbox"]);
    assert_eq!(inbox.len(), 1);
    assert_eq!(inbox[0]["thread"], thread.as_str());
    assert_eq!(inbox[0]["role"], "seller");
    assert_eq!(inbox[0]["unread"], 1);
    assert_eq!(inbox[0]["title"], "Blue road bike, 56 cm");
    assert_eq!(inbox[0]["last"]["text"], "Hi! Is the bike still available?");
    let human = seller.ok(&["inbox"]);
    assert!(human.contains("Blue road bike"), "{human}");
    assert!(human.contains("selling"), "{human}");

    // The seller answers by the first 10 characters of the thread id.
    let prefix = &thread[..10];
    let reply = seller.json_ok(&["message", prefix, "Yes, come by on Saturday."]);
    assert_eq!(reply[0]["thread"], thread.as_str());
    wait_for("the seller's answer to be delivered", || {
        let t = thread_json(&seller, &thread, &[]);
        (t["conversation"][1]["state"] == "delivered").then_some(())
    });
    // Viewing the thread marked it read.
    assert_eq!(seller.json_ok(&["inbox"])[0]["unread"], 0);

    let b = thread_json(&buyer, &thread, &["--keep-unread"]);
    let s = thread_json(&seller, &thread, &[]);
    let texts = |v: &Value| -> Vec<(String, u64, bool)> {
        v["conversation"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| {
                (
                    m["text"].as_str().unwrap().to_string(),
                    m["seq"].as_u64().unwrap(),
                    m["from_me"].as_bool().unwrap(),
                )
            })
            .collect()
    };
    let (bt, st) = (texts(&b), texts(&s));
    assert_eq!(bt.len(), 2);
    assert_eq!(
        bt.iter().map(|t| (&t.0, t.1)).collect::<Vec<_>>(),
        st.iter().map(|t| (&t.0, t.1)).collect::<Vec<_>>(),
        "both sides see the same conversation in the same order"
    );
    assert!(bt[0].2 && !st[0].2, "each side knows who wrote what");
    assert_eq!(b["role"], "buyer");
    assert_eq!(b["conversation"][1]["read"], false);
    let human = buyer.ok(&["thread", prefix]);
    assert!(human.contains("come by on Saturday"), "{human}");
    assert!(human.contains("[delivered]"), "{human}");

    // A second message from the buyer continues the same thread with the next number.
    let again = buyer.json_ok(&["message", &id, "Great, see you then."]);
    assert_eq!(again[0]["thread"], thread.as_str());
    assert_eq!(again[0]["seq"], 2);

    buyer.stop_node();
    seller.stop_node();
}

/// Every bad input is refused with exit code 2, a message that says what to do, and nothing
/// stored.
#[test]
fn bad_messages_are_refused_and_change_nothing() {
    let (mut seller, mut buyer) = seller_and_buyer();
    let id = seller.sell("Oak bookshelf", "40 EUR");
    let sold = seller.sell("Lamp", "5 EUR");
    // The buyer's node must know the listings (gossip or catch-up) before testing refusals
    // that depend on their state.
    buyer.search_until(&["bookshelf"], 1);

    let (code, err) = fails(&buyer, &["message", &id, "   "]);
    assert_eq!(code, 2);
    assert!(err.contains("empty"), "{err}");
    let long = "x".repeat(2001);
    let (code, err) = fails(&buyer, &["message", &id, &long]);
    assert_eq!(code, 2);
    assert!(err.contains("2001") && err.contains("2000"), "{err}");
    // The same limits hold at the API, for clients other than the CLI.
    let (status, body) = buyer.api(
        "POST",
        "/v1/messages",
        &serde_json::json!({"listing": id, "text": long}),
    );
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["field"], "text");

    let (code, err) = fails(&seller, &["message", &id, "hello me"]);
    assert_eq!(code, 2);
    assert!(err.contains("is yours"), "{err}");

    let unknown = "aaaaaaaaaaaaaaaaaaaaaaaaaa";
    let (code, err) = fails(&buyer, &["message", unknown, "hello?"]);
    assert_eq!(code, 2);
    assert!(err.contains("no listing"), "{err}");

    let (code, err) = fails(&buyer, &["message", "deadbeefdeadbeef", "hello?"]);
    assert_eq!(code, 2);
    assert!(err.contains("no thread"), "{err}");
    let (code, err) = fails(&buyer, &["message", "not-an-id", "hello?"]);
    assert_eq!(code, 2);
    assert!(err.contains("neither a listing id"), "{err}");
    let (code, err) = fails(&buyer, &["thread", "zz"]);
    assert_eq!(code, 2);
    assert!(err.contains("not a thread id"), "{err}");

    seller.ok(&["withdraw", &sold, "--sold"]);
    wait_for("the buyer's node to hear the lamp is sold", || {
        let v = buyer.json_lines(&["show", &sold]);
        (v.first().map(|v| v["status"] == "sold") == Some(true)).then_some(())
    });
    let (code, err) = fails(&buyer, &["message", &sold, "still there?"]);
    assert_eq!(code, 2);
    assert!(err.contains("is sold"), "{err}");

    // Nothing was stored by any refusal.
    assert!(buyer.json_ok(&["inbox"]).is_empty());
    assert!(seller.json_ok(&["inbox"]).is_empty());
    buyer.stop_node();
    seller.stop_node();
}

/// The buyer's node is killed with SIGKILL right after `message` returned, while the seller is
/// offline. After both come back the message is still queued, then delivered: what the user was
/// told was queued was on disk.
#[test]
fn a_queued_message_survives_kill_9_and_is_delivered() {
    let mut seller = Home::new();
    seller.ok(&["init", "--location", "52.52,13.405", "--currency", "EUR"]);
    let port = free_port();
    let listen = format!("/ip4/127.0.0.1/tcp/{port}");
    seller.start_node_with(&["--listen", &listen], Stdio::null());
    let addr = listen_addr(&seller, port);
    // The buyer comes back on a new port while the seller is still down: it keeps redialling
    // its bootstrap peer (the seller) until the seller is back.
    let buyer_args = ["--bootstrap", &addr];
    let mut buyer = Home::new();
    buyer.ok(&["init", "--location", "52.50,13.45", "--currency", "EUR"]);
    buyer.start_node_with(&buyer_args, Stdio::null());
    let id = seller.sell("Kids' bike, 20 inch", "60 EUR");
    buyer.search_until(&["kids"], 1);

    seller.stop_node();
    let sent = buyer.json_ok(&["message", &id, "Would you take 50?"]);
    let thread = sent[0]["thread"].as_str().unwrap().to_string();
    buyer.kill_node();

    buyer.start_node_with(&buyer_args, Stdio::null());
    let t = thread_json(&buyer, &thread, &[]);
    assert_eq!(t["conversation"][0]["text"], "Would you take 50?");
    assert_eq!(t["conversation"][0]["state"], "queued");
    assert_eq!(buyer.json_ok(&["inbox"])[0]["queued"], 1);

    seller.start_node_with(&["--listen", &listen], Stdio::null());
    wait_for("the message to reach the seller", || {
        let inbox = seller.json_ok(&["inbox"]);
        inbox
            .first()
            .filter(|t| t["last"]["text"] == "Would you take 50?")
            .map(|_| ())
    });
    wait_for("the buyer to see it delivered", || {
        let t = thread_json(&buyer, &thread, &[]);
        (t["conversation"][0]["state"] == "delivered").then_some(())
    });
    // Delivered once, not once per retry.
    let s = thread_json(&seller, &thread, &[]);
    assert_eq!(s["conversation"].as_array().unwrap().len(), 1);
    buyer.stop_node();
    seller.stop_node();
}
