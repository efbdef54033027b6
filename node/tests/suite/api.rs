//! The local API as the CLI and shop systems use it: every endpoint, and every kind of bad
//! input getting a 4xx that names the field or rule while leaving what is stored untouched.

use std::time::Duration;

use serde_json::{json, Value};
use swapmeet_node::home::{Home, InitOptions};
use swapmeet_node::node::{Node, NodeOptions};
use swapmeet_protocol::{
    geo, Category, Condition, Currency, Delivery, Listing, Location, Price, SecretKey,
};

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

    fn call(
        &self,
        method: &str,
        path: &str,
        body: Option<&[u8]>,
        token: Option<&str>,
    ) -> (u16, Value) {
        let url = format!("{}{}", self.base, path);
        let auth = format!("Bearer {}", token.unwrap_or(&self.token));
        let resp = match (method, body) {
            ("GET", _) => self.agent.get(&url).header("Authorization", &auth).call(),
            ("POST", b) => self
                .agent
                .post(&url)
                .header("Authorization", &auth)
                .header("Content-Type", "application/json")
                .send(b.unwrap_or(b"")),
            ("PUT", b) => self
                .agent
                .put(&url)
                .header("Authorization", &auth)
                .header("Content-Type", "application/json")
                .send(b.unwrap_or(b"")),
            _ => unreachable!(),
        };
        let mut resp = resp.unwrap();
        let status = resp.status().as_u16();
        let text = resp.body_mut().read_to_string().unwrap_or_default();
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }

    fn post(&self, path: &str, v: Value) -> (u16, Value) {
        self.call("POST", path, Some(v.to_string().as_bytes()), None)
    }
    fn get(&self, path: &str) -> (u16, Value) {
        self.call("GET", path, None, None)
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

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

fn line_of(l: &Listing, k: &SecretKey) -> String {
    swapmeet_node::api::envelope_to_text(l.sign(k).unwrap().as_bytes())
}

fn foreign_listing(seq: u64, signed_at: u64, expires_at: u64) -> Listing {
    Listing {
        item_key: "lamp".into(),
        seq,
        signed_at,
        expires_at,
        title: "Brass lamp".into(),
        description: String::new(),
        price: Price::Fixed {
            amount_minor: 1500,
            currency: Currency::new("EUR").unwrap(),
        },
        condition: Condition::Good,
        category: Category::HomeKitchen,
        tags: vec![],
        quantity: 1,
        location: Some(Location {
            geohash: geo::encode(52.5, 13.4, 6),
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api_end_to_end_and_bad_input_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let node = start(dir.path()).await;
    let api = Api::new(&node);
    let result = tokio::time::timeout(Duration::from_secs(120), tokio::task::spawn_blocking(move || {
        // Create, then find it.
        let (s, created) = api.post(
            "/v1/listings",
            json!({"title": "Road bike Canyon", "price": "250", "condition": "good", "category": "bikes", "tags": ["road", "canyon"], "description": "Aluminium frame"}),
        );
        assert_eq!(s, 201, "{created}");
        let id = created["id"].as_str().unwrap().to_string();
        let hash = created["hash"].as_str().unwrap().to_string();
        let (s, shown) = api.get(&format!("/v1/listings/{id}"));
        assert_eq!(s, 200);
        assert_eq!(shown["price"], "250.00 EUR");
        assert_eq!(shown["description"], "Aluminium frame");
        assert_eq!(shown["status"], "active");

        // Searchable within the commit interval.
        let mut found = Value::Null;
        for _ in 0..50 {
            let (s, r) = api.post("/v1/search", json!({"text": "canyon", "near": {"lat": 52.52, "lon": 13.4, "radius_km": 10.0}}));
            assert_eq!(s, 200, "{r}");
            if r["total"] == 1 {
                found = r;
                break;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        assert_eq!(found["hits"][0]["id"], id.as_str(), "{found}");
        assert!(found["hits"][0]["distance_km"].as_f64().unwrap() < 2.0);

        // --- Bad input, each with a 4xx naming the problem. ---
        let (s, e) = api.call("GET", "/v1/status", None, Some("wrong-token"));
        assert_eq!(s, 401);
        assert!(e["error"].as_str().unwrap().contains("token"));
        let (s, e) = api.call("POST", "/v1/listings", Some(b"{\"title\": "), None);
        assert_eq!(s, 400);
        assert!(e["error"].as_str().unwrap().contains("invalid JSON"), "{e}");
        let big = vec![b' '; 70 * 1024];
        let (s, _) = api.call("POST", "/v1/listings", Some(&big), None);
        assert_eq!(s, 413);
        let (s, e) = api.post("/v1/listings", json!({"title": "x".repeat(141), "price": "5"}));
        assert_eq!(s, 400);
        assert!(e["error"].as_str().unwrap().contains("title is too long"), "{e}");
        let (s, e) = api.post("/v1/listings", json!({"title": "Lamp", "price": "5 ABC"}));
        assert_eq!(s, 400);
        assert!(e["error"].as_str().unwrap().contains("price"), "{e}");
        let (s, e) = api.post("/v1/listings", json!({"title": "Lamp", "price": "abc"}));
        assert_eq!(s, 400, "{e}");
        let (s, e) = api.post("/v1/listings", json!({"title": "Lamp", "price": "5", "location": "200,10"}));
        assert_eq!(s, 400);
        assert!(e["error"].as_str().unwrap().contains("latitude"), "{e}");
        let (s, e) = api.post("/v1/listings", json!({"title": "Lamp", "price": "5", "colour": "red"}));
        assert_eq!(s, 400);
        assert!(e["error"].as_str().unwrap().contains("colour"), "{e}");
        let (s, e) = api.post("/v1/listings", json!({"title": "Lamp", "price": "5", "expires_in_secs": 40 * 86400}));
        assert_eq!(s, 400);
        assert!(e["error"].as_str().unwrap().contains("expires_at"), "{e}");
        let (s, e) = api.post("/v1/search", json!({"limit": 1000}));
        assert_eq!(s, 400);
        assert!(e["error"].as_str().unwrap().contains("limit"), "{e}");
        let (s, _) = api.get("/v1/listings/not-an-id");
        assert_eq!(s, 400);

        // Imports: forged, stale, expired, future-dated, garbage.
        let other = SecretKey::from_bytes([42; 32]);
        let t = now();
        let v2 = line_of(&foreign_listing(2, t - 10, t + 3600), &other);
        let (s, r) = api.post("/v1/import", json!({"lines": [v2.clone()]}));
        assert_eq!(s, 200);
        assert_eq!(r["results"][0]["outcome"], "stored", "{r}");
        let stale = line_of(&foreign_listing(1, t - 20, t + 3600), &other);
        let expired = line_of(&foreign_listing(3, t - 7200, t - 3600), &other);
        let future = line_of(&foreign_listing(4, t + 7200, t + 9000), &other);
        let mut forged_bytes = foreign_listing(5, t - 5, t + 3600).sign(&other).unwrap().as_bytes().to_vec();
        let n = forged_bytes.len();
        forged_bytes[n - 1] ^= 0xff;
        let forged = swapmeet_node::api::envelope_to_text(&forged_bytes);
        let (s, r) = api.post("/v1/import", json!({"lines": [stale, expired, future, forged, "swapmeet1:!!!", "hello", v2]}));
        assert_eq!(s, 200);
        let outcomes: Vec<&str> = r["results"].as_array().unwrap().iter().map(|x| x["outcome"].as_str().unwrap()).collect();
        assert_eq!(outcomes, ["stale", "rejected", "rejected", "rejected", "rejected", "rejected", "duplicate"], "{r}");
        let reasons: Vec<String> = r["results"].as_array().unwrap().iter().map(|x| x["reason"].as_str().unwrap_or("").to_string()).collect();
        assert!(reasons[1].contains("expired"), "{reasons:?}");
        assert!(reasons[2].contains("future"), "{reasons:?}");
        assert!(reasons[3].contains("signature"), "{reasons:?}");

        // Nothing stored was altered by any of it.
        let (_, shown_after) = api.get(&format!("/v1/listings/{id}"));
        assert_eq!(shown_after["hash"], hash.as_str());
        let (_, status) = api.get("/v1/status");
        assert_eq!(status["records"], 2, "{status}");
        assert_eq!(status["own_listings"], 1);

        // Update, export, withdraw; a withdrawn listing is gone from search and cannot be updated.
        let (s, u) = api.call("PUT", &format!("/v1/listings/{id}"), Some(json!({"price": "230 EUR"}).to_string().as_bytes()), None);
        assert_eq!(s, 200, "{u}");
        assert!(u["seq"].as_u64().unwrap() > created["seq"].as_u64().unwrap());
        let (s, x) = api.get(&format!("/v1/listings/{id}/export"));
        assert_eq!(s, 200);
        assert!(x["line"].as_str().unwrap().starts_with("swapmeet1:"));
        let (s, _) = api.post(&format!("/v1/listings/{id}/withdraw"), json!({"reason": "sold"}));
        assert_eq!(s, 200);
        let (s, _) = api.call("PUT", &format!("/v1/listings/{id}"), Some(b"{\"price\": \"1\"}"), None);
        assert_eq!(s, 409);
        let (_, shown) = api.get(&format!("/v1/listings/{id}"));
        assert_eq!(shown["status"], "sold");
        // Re-importing the old (pre-withdrawal) version is stale: a withdrawal is final.
        let (s, r) = api.post("/v1/import", json!({"lines": [x["line"]]}));
        assert_eq!(s, 200);
        assert_eq!(r["results"][0]["outcome"], "stale", "{r}");
        // Another seller's listing cannot be changed.
        let foreign_id = swapmeet_protocol::ListingId::derive(&other.public(), "lamp");
        let (s, e) = api.post(&format!("/v1/listings/{foreign_id}/withdraw"), json!({}));
        assert_eq!(s, 403, "{e}");
    }))
    .await;
    result.expect("test timed out").unwrap();
    node.shutdown().await.unwrap();
    assert!(
        !dir.path().join("node.json").exists(),
        "node.json is removed on shutdown"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shop_systems_push_items_without_files() {
    let dir = tempfile::tempdir().unwrap();
    let node = start(dir.path()).await;
    let api = Api::new(&node);
    let result = tokio::time::timeout(Duration::from_secs(120), tokio::task::spawn_blocking(move || {
        let item = |id: &str, price: u64, available: bool| {
            json!({
                "key": format!("pos:{id}"), "row": 1, "shop_id": id, "title": format!("Item {id}"),
                "price": {"fixed": {"amount_minor": price, "currency": "EUR"}}, "available": available,
            })
        };
        // A partial push: upsert two items.
        let (s, r) = api.post("/v1/bridge/items", json!({"items": [item("a", 1000, true), item("b", 2000, true)]}));
        assert_eq!(s, 200, "{r}");
        assert_eq!(r["created"].as_array().unwrap().len(), 2);
        // A partial push never withdraws what it does not mention...
        let (_, r) = api.post("/v1/bridge/items", json!({"items": [item("a", 900, true)]}));
        assert_eq!(r["updated"].as_array().unwrap().len(), 1);
        assert!(r["withdrawn"].as_array().unwrap().is_empty());
        // ...but withdraws the keys it names.
        let (_, r) = api.post("/v1/bridge/items", json!({"withdraw": ["pos:b"]}));
        assert_eq!(r["withdrawn"].as_array().unwrap().len(), 1, "{r}");
        let (_, mine) = api.get("/v1/mine");
        let statuses: Vec<&str> = mine["listings"].as_array().unwrap().iter().map(|l| l["status"].as_str().unwrap()).collect();
        assert_eq!(statuses.iter().filter(|s| **s == "active").count(), 1, "{mine}");
        // Bad input names the problem.
        let (s, e) = api.post("/v1/bridge/items", json!({"items": [{"key": "x"}]}));
        assert_eq!(s, 400);
        assert!(e["error"].as_str().unwrap().contains("missing field"), "{e}");
        let (s, e) = api.post("/v1/bridge/items", json!({"max_withdraw_share": 2.0}));
        assert_eq!(s, 400);
        assert!(e["error"].as_str().unwrap().contains("max_withdraw_share"), "{e}");
    }))
    .await;
    result.expect("test timed out").unwrap();
    node.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_stream_what_changes() {
    let dir = tempfile::tempdir().unwrap();
    let node = start(dir.path()).await;
    let api = Api::new(&node);
    let result = tokio::time::timeout(
        Duration::from_secs(60),
        tokio::task::spawn_blocking(move || {
            use std::io::BufRead;
            let resp = api
                .agent
                .get(format!("{}/v1/events", api.base))
                .header("Authorization", format!("Bearer {}", api.token))
                .call()
                .unwrap();
            assert_eq!(resp.status().as_u16(), 200);
            let mut lines = std::io::BufReader::new(resp.into_body().into_reader()).lines();
            let (s, created) = api.post("/v1/listings", json!({"title": "Desk", "price": "40"}));
            assert_eq!(s, 201);
            let event: Value = loop {
                let line = lines.next().expect("stream ended").unwrap();
                if let Some(data) = line.strip_prefix("data:") {
                    break serde_json::from_str(data.trim()).unwrap();
                }
            };
            assert_eq!(event["change"], "listed");
            assert_eq!(event["id"], created["id"]);
            assert_eq!(event["source"]["kind"], "local");
        }),
    )
    .await;
    result.expect("test timed out").unwrap();
    // Shutdown ends open event streams instead of waiting for them.
    tokio::time::timeout(Duration::from_secs(30), node.shutdown())
        .await
        .expect("shutdown hung")
        .unwrap();
}
