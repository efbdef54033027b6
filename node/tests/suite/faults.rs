//! Faults a user must be protected from (issue 16 section 3): writes acknowledged only once
//! durable (a power cut cannot be simulated, so these check that a completed sync precedes
//! every acknowledgement), and a node whose clock is a day off.

use std::time::Duration;

use serde_json::{json, Value};
use swapmeet_node::home::{Home, InitOptions};
use swapmeet_node::node::{Node, NodeOptions};
use swapmeet_node::EngineConfig;
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

    fn send(&self, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
        let url = format!("{}{}", self.base, path);
        let auth = format!("Bearer {}", self.token);
        let resp = match (method, body) {
            ("GET", _) => self.agent.get(&url).header("Authorization", &auth).call(),
            ("PUT", b) => self
                .agent
                .put(&url)
                .header("Authorization", &auth)
                .header("Content-Type", "application/json")
                .send(b.unwrap_or(json!({})).to_string()),
            (_, b) => self
                .agent
                .post(&url)
                .header("Authorization", &auth)
                .header("Content-Type", "application/json")
                .send(b.unwrap_or(json!({})).to_string()),
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

async fn start(dir: &std::path::Path, engine: Option<EngineConfig>) -> Node {
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
            engine,
            ..Default::default()
        },
    )
    .await
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_api_write_is_acknowledged_after_a_completed_sync() {
    let dir = tempfile::tempdir().unwrap();
    let node = start(dir.path(), None).await;
    let api = Api::new(&node);
    let durability = node.engine().store().durability().clone();
    let result = tokio::time::timeout(
        Duration::from_secs(120),
        tokio::task::spawn_blocking(move || {
            // Each write, and how many syncs had completed when its answer arrived: sled's
            // own flusher does not count, so only a sync made for a write moves it.
            let acknowledged = |method: &str, path: &str, body: Value, ok: u16| -> Value {
                let before = durability.completed();
                let (s, v) = api.send(method, path, Some(body));
                assert_eq!(s, ok, "{method} {path}: {v}");
                assert!(
                    durability.completed() > before,
                    "{method} {path} was answered before any sync completed"
                );
                v
            };
            let sold = acknowledged(
                "POST",
                "/v1/listings",
                json!({"title": "Road bike Canyon", "price": "250", "condition": "good", "category": "bikes"}),
                201,
            );
            let id = sold["id"].as_str().unwrap().to_string();
            acknowledged(
                "PUT",
                &format!("/v1/listings/{id}"),
                json!({"price": "240"}),
                200,
            );
            acknowledged(
                "POST",
                &format!("/v1/listings/{id}/renew"),
                json!({"expires_in_secs": 86_400}),
                200,
            );
            acknowledged(
                "POST",
                "/v1/watches",
                json!({"query": {"text": "lamp"}, "name": "lamps"}),
                200,
            );
            // A listing of another seller, imported, then a message to them.
            let theirs = foreign_listing(now());
            let line = swapmeet_node::api::envelope_to_text(
                theirs.sign(&SecretKey::from_bytes([9; 32])).unwrap().as_bytes(),
            );
            let imported = acknowledged("POST", "/v1/import", json!({"lines": [line]}), 200);
            assert_eq!(imported["results"][0]["outcome"], "stored", "{imported}");
            let their_id = imported["results"][0]["id"].as_str().unwrap().to_string();
            acknowledged(
                "POST",
                "/v1/messages",
                json!({"listing": their_id, "text": "Is the lamp still there?"}),
                201,
            );
            acknowledged(
                "POST",
                &format!("/v1/listings/{id}/withdraw"),
                json!({"reason": "sold"}),
                200,
            );
        }),
    )
    .await;
    node.shutdown().await.unwrap();
    result.expect("timed out").unwrap();
}

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// A listing of another seller near the test node, signed at `signed_at`.
fn foreign_listing(signed_at: u64) -> Listing {
    Listing {
        item_key: "lamp".into(),
        seq: 1,
        signed_at,
        expires_at: signed_at + 7 * 86_400,
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
