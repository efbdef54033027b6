//! Negotiation through the local API of two real nodes (homes in temporary folders, TCP on
//! 127.0.0.1): the sell body's local settings, an offer the seller's node accepts on its own,
//! the `negotiation` and `deal` events, the deal with its verifiable receipt and pickup place,
//! and wrong moves answered 400/409 with the field or the reason, changing nothing.

use std::io::BufRead;
use std::time::{Duration, Instant};

use libp2p::multiaddr::Protocol;
use serde_json::{json, Value};
use swapmeet_node::home::{Home, InitOptions};
use swapmeet_node::node::{Node, NodeOptions};
use swapmeet_protocol::{Currency, DealReceipt};

struct Api {
    base: String,
    token: String,
    agent: ureq::Agent,
}

impl Api {
    fn new(node: &Node) -> Api {
        let config = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(Duration::from_secs(30)))
            .build();
        Api {
            base: format!("http://{}", node.api_addr()),
            token: node.token().to_string(),
            agent: ureq::Agent::new_with_config(config),
        }
    }

    fn call(&self, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
        let url = format!("{}{}", self.base, path);
        let auth = format!("Bearer {}", self.token);
        let bytes = body.map(|b| b.to_string()).unwrap_or_default();
        let resp = match method {
            "GET" => self.agent.get(&url).header("Authorization", &auth).call(),
            "POST" => self
                .agent
                .post(&url)
                .header("Authorization", &auth)
                .header("Content-Type", "application/json")
                .send(bytes.as_bytes()),
            _ => self
                .agent
                .put(&url)
                .header("Authorization", &auth)
                .header("Content-Type", "application/json")
                .send(bytes.as_bytes()),
        };
        let mut resp = resp.unwrap();
        let status = resp.status().as_u16();
        let text = resp.body_mut().read_to_string().unwrap_or_default();
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }
}

async fn start(dir: &std::path::Path) -> Node {
    let home = Home::new(dir.to_path_buf());
    home.init(&InitOptions {
        location: Some((52.52, 13.405)),
        currency: Some(Currency::new("EUR").unwrap()),
    })
    .unwrap();
    Node::start(
        home,
        NodeOptions {
            api: Some("127.0.0.1:0".parse().unwrap()),
            no_mdns: true,
            listen: vec!["/ip4/127.0.0.1/tcp/0".into()],
            ..Default::default()
        },
    )
    .await
    .unwrap()
}

async fn connect(a: &Node, b: &Node) {
    let net = b.network().unwrap();
    let start = Instant::now();
    let addr = loop {
        if let Some(addr) = net.listen_addrs().await.unwrap().into_iter().next() {
            break addr.with(Protocol::P2p(net.peer_id()));
        }
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "no listen address"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    a.network().unwrap().dial(addr).await.unwrap();
}

/// Polls `f` on the blocking pool until it returns Some, for at most a minute.
fn wait_for<T>(what: &str, mut f: impl FnMut() -> Option<T>) -> T {
    let start = Instant::now();
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "timed out waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_offer_over_the_api_becomes_a_deal_with_events_and_wrong_moves_change_nothing() {
    let dirs: Vec<_> = (0..2).map(|_| tempfile::tempdir().unwrap()).collect();
    let seller = start(dirs[0].path()).await;
    let buyer = start(dirs[1].path()).await;
    connect(&buyer, &seller).await;
    let (s, b) = (Api::new(&seller), Api::new(&buyer));

    let result = tokio::time::timeout(
        Duration::from_secs(240),
        tokio::task::spawn_blocking(move || {
            // The sell body carries the local settings beside the listing's fields; a bad one
            // is refused before anything is published.
            let (code, err) = s.call(
                "POST",
                "/v1/listings",
                Some(json!({"title": "Cargo bike", "price": "900", "quantity": 1,
                            "auto_accept": "800", "auto_decline": "850"})),
            );
            assert_eq!(code, 400, "{err}");
            assert_eq!(err["field"], "auto_decline");
            let (_, mine) = s.call("GET", "/v1/mine", None);
            assert_eq!(mine["listings"].as_array().unwrap().len(), 0);
            let (code, created) = s.call(
                "POST",
                "/v1/listings",
                Some(json!({"title": "Cargo bike", "price": "900", "quantity": 1,
                            "auto_accept": "800", "pickup_at": "Oderberger Str. 3"})),
            );
            assert_eq!(code, 201, "{created}");
            let id = created["id"].as_str().unwrap().to_string();
            // Nothing published carries the local settings.
            let (_, shown) = s.call("GET", &format!("/v1/listings/{id}"), None);
            assert!(!shown.to_string().contains("Oderberger"), "{shown}");
            let (code, settings) = s.call("GET", &format!("/v1/listings/{id}/market"), None);
            assert_eq!(code, 200);
            assert_eq!(settings["auto_accept"], "800.00 EUR");
            assert_eq!(settings["pickup_at"], "Oderberger Str. 3");
            let (code, bad) = s.call(
                "PUT",
                &format!("/v1/listings/{id}/market"),
                Some(json!({"pickup_at": "x".repeat(201)})),
            );
            assert_eq!(code, 400, "{bad}");
            assert_eq!(bad["field"], "pickup_at");
            assert_eq!(
                s.call("GET", &format!("/v1/listings/{id}/market"), None).1,
                settings
            );

            // The buyer has the listing by gossip (an offer on a listing its node does not
            // hold looks it up in the DHT, which answers only once AutoNAT has confirmed a
            // node: seconds after start, longer than gossip on a loaded machine).
            let started = std::time::Instant::now();
            while b.call("GET", &format!("/v1/listings/{id}"), None).0 != 200 {
                assert!(
                    started.elapsed() < Duration::from_secs(60),
                    "the listing never reached the buyer"
                );
                std::thread::sleep(Duration::from_millis(50));
            }

            // Wrong moves: the seller's own listing, a bad price, above the asking price.
            let (code, e) = s.call(
                "POST",
                "/v1/offers",
                Some(json!({"listing": id, "price": "500"})),
            );
            assert_eq!(code, 409, "{e}");
            assert!(e["error"].as_str().unwrap().contains("own listing"), "{e}");
            let (code, e) = b.call(
                "POST",
                "/v1/offers",
                Some(json!({"listing": id, "price": "lots"})),
            );
            assert_eq!(code, 400, "{e}");
            assert_eq!(e["field"], "price");
            let (code, e) = b.call(
                "POST",
                "/v1/offers",
                Some(json!({"listing": id, "price": "950"})),
            );
            assert_eq!(code, 409, "{e}");
            assert!(e["error"].as_str().unwrap().contains("asking price"), "{e}");
            let (code, e) = b.call(
                "POST",
                "/v1/offers",
                Some(json!({"listing": id, "price": "700", "expires_in_secs": 700_000})),
            );
            assert_eq!(code, 400, "{e}");
            assert_eq!(e["field"], "expires_in_secs");
            let (_, none) = b.call("GET", "/v1/offers", None);
            assert_eq!(none["negotiations"].as_array().unwrap().len(), 0);

            // The seller's events, then an offer its node accepts on its own.
            let events = s
                .agent
                .get(format!("{}/v1/events", s.base))
                .header("Authorization", format!("Bearer {}", s.token))
                .call()
                .unwrap();
            let mut lines = std::io::BufReader::new(events.into_body().into_reader()).lines();
            let (code, n) = b.call(
                "POST",
                "/v1/offers",
                Some(json!({"listing": id, "price": "820", "message": "Cash on pickup?"})),
            );
            assert_eq!(code, 201, "{n}");
            assert_eq!(n["role"], "buyer");
            assert_eq!(n["offers"][0]["status"], "open");
            assert_eq!(n["offers"][0]["price"], "820.00 EUR");
            let thread = n["thread"].as_str().unwrap().to_string();
            let mut seen = Vec::new();
            while !(seen.contains(&"negotiation".to_string()) && seen.contains(&"deal".to_string()))
            {
                let line = lines.next().expect("event stream ended").unwrap();
                if let Some(name) = line.strip_prefix("event:") {
                    seen.push(name.trim().to_string());
                }
            }

            let deal = wait_for("the buyer's confirmed deal", || {
                let (_, d) = b.call("GET", "/v1/deals", None);
                d["deals"]
                    .as_array()
                    .and_then(|a| a.first().cloned())
                    .filter(|d| d["state"] == "confirmed" && d["pickup_at"].is_string())
            });
            assert_eq!(deal["thread"], thread.as_str());
            assert_eq!(deal["price"], "820.00 EUR");
            assert_eq!(deal["pickup_at"], "Oderberger Str. 3");
            let receipt = DealReceipt::from_text(deal["receipt"].as_str().unwrap()).unwrap();
            let terms = receipt.verify().unwrap();
            assert_eq!(terms.amount_minor, 82_000);
            // The same deal on the seller's side, by prefix.
            let prefix = &deal["id"].as_str().unwrap()[..10];
            let sd = wait_for("the seller's confirmed deal", || {
                let (code, d) = s.call("GET", &format!("/v1/deals/{prefix}"), None);
                (code == 200 && d["state"] == "confirmed").then_some(d)
            });
            assert_eq!(sd["role"], "seller");
            assert_eq!(sd["receipt"], deal["receipt"]);
            // The negotiation shows the deal; a second accept is a 409 that says why.
            let (_, n) = b.call("GET", &format!("/v1/offers/{}", &thread[..12]), None);
            assert_eq!(n["deal"]["state"], "confirmed");
            assert_eq!(n["offers"][0]["status"], "accepted");
            let (code, e) = b.call(
                "POST",
                &format!("/v1/offers/{thread}/accept"),
                Some(json!({})),
            );
            assert_eq!(code, 409, "{e}");
            let (code, e) = b.call("GET", "/v1/deals/zz", None);
            assert_eq!(code, 400, "{e}");
            // The deal took the last unit, so the seller's node withdrew the listing as sold:
            // once the buyer's node holds the withdrawal, an offer on it is refused with the
            // reason (before that, the thread's deal refuses it; neither sends anything).
            let e = wait_for("an offer on the sold listing refused as withdrawn", || {
                let (code, e) = b.call(
                    "POST",
                    "/v1/offers",
                    Some(json!({"listing": id, "price": "700"})),
                );
                assert_eq!(code, 409, "{e}");
                e["error"]
                    .as_str()
                    .is_some_and(|m| m.contains("withdrawn"))
                    .then_some(e)
            });
            assert!(e["error"].as_str().unwrap().contains("no offers"), "{e}");
            let (_, n) = b.call("GET", &format!("/v1/offers/{}", &thread[..12]), None);
            assert_eq!(n["offers"].as_array().unwrap().len(), 1, "{n}");
        }),
    )
    .await;
    result.expect("test timed out").unwrap();
    for n in [buyer, seller] {
        tokio::time::timeout(Duration::from_secs(30), n.shutdown())
            .await
            .expect("shutdown hung")
            .unwrap();
    }
}
