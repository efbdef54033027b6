//! A full disk (issue 16 section 3): a node whose home is on a small tmpfs, filled while it
//! runs. Ingest (a sell, an import), a bridge run and a message send get a clear error and
//! store nothing; the node keeps serving reads; nothing acknowledged is lost; and once space
//! returns (the tmpfs enlarged) writes succeed again without a restart.
//!
//! Mounting needs root: without it the test prints why it did not run and passes.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use serde_json::{json, Value};
use swapmeet_feeds::{parse_with, Format, ParseOptions};
use swapmeet_node::home::{Home, InitOptions};
use swapmeet_node::node::{Node, NodeOptions};
use swapmeet_node::store::StoreConfig;
use swapmeet_node::EngineConfig;
use swapmeet_protocol::{
    geo, Category, Condition, Currency, Delivery, Listing, Location, Price, SecretKey,
};

const MIB: u64 = 1024 * 1024;
/// The tmpfs the home lives on, and the reserve the node keeps on it.
const DISK_MIB: u64 = 64;
const RESERVE: u64 = 16 * MIB;

/// A tmpfs mounted on a temporary folder, unmounted when dropped (also when the test fails).
struct Tmpfs {
    dir: Option<tempfile::TempDir>,
    path: PathBuf,
}

impl Tmpfs {
    fn mount(size_mib: u64) -> Tmpfs {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().to_path_buf();
        run(Command::new("mount").args([
            "-t",
            "tmpfs",
            "-o",
            &format!("size={size_mib}m"),
            "tmpfs",
            path.to_str().unwrap(),
        ]));
        Tmpfs {
            dir: Some(dir),
            path,
        }
    }

    fn resize(&self, size_mib: u64) {
        run(Command::new("mount").args([
            "-o",
            &format!("remount,size={size_mib}m"),
            self.path.to_str().unwrap(),
        ]));
    }

    /// Bytes free, as `df` reports them.
    fn free(&self) -> u64 {
        let out = Command::new("df")
            .args(["--output=avail", "-B1", self.path.to_str().unwrap()])
            .output()
            .unwrap();
        String::from_utf8(out.stdout)
            .unwrap()
            .lines()
            .nth(1)
            .unwrap()
            .trim()
            .parse()
            .unwrap()
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        // Lazy: a node thread still holding a file must not keep the mount (and the test's
        // temporary folder) around.
        let _ = Command::new("umount")
            .args(["-l", self.path.to_str().unwrap()])
            .status();
        drop(self.dir.take());
    }
}

fn run(cmd: &mut Command) {
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "{cmd:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("Uid:"))
        .and_then(|ids| ids.split_whitespace().nth(1))
        == Some("0")
}

struct Api {
    base: String,
    token: String,
    agent: ureq::Agent,
}

impl Api {
    fn new(node: &Node) -> Api {
        Api {
            base: format!("http://{}", node.api_addr()),
            token: node.token().to_string(),
            agent: ureq::Agent::new_with_config(
                ureq::Agent::config_builder()
                    .http_status_as_error(false)
                    .timeout_global(Some(Duration::from_secs(30)))
                    .build(),
            ),
        }
    }

    fn call(&self, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
        let url = format!("{}{}", self.base, path);
        let auth = format!("Bearer {}", self.token);
        let resp = match body {
            None => self.agent.get(&url).header("Authorization", &auth).call(),
            Some(b) if method == "POST" => self
                .agent
                .post(&url)
                .header("Authorization", &auth)
                .header("Content-Type", "application/json")
                .send(b.to_string()),
            Some(_) => unreachable!(),
        };
        let mut resp = resp.unwrap();
        let status = resp.status().as_u16();
        let text = resp.body_mut().read_to_string().unwrap_or_default();
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }

    fn post(&self, path: &str, body: Value) -> (u16, Value) {
        self.call("POST", path, Some(body))
    }

    fn get(&self, path: &str) -> (u16, Value) {
        self.call("GET", path, None)
    }

    fn sell(&self, title: &str) -> (u16, Value) {
        self.post(
            "/v1/listings",
            json!({"title": title, "price": "25", "condition": "good", "category": "bikes"}),
        )
    }

    fn mine(&self) -> Vec<String> {
        let (s, v) = self.get("/v1/mine");
        assert_eq!(s, 200, "{v}");
        v["listings"]
            .as_array()
            .unwrap()
            .iter()
            .map(|l| l["id"].as_str().unwrap().to_string())
            .collect()
    }
}

async fn start(home: &Path) -> Node {
    start_with_reserve(home, RESERVE).await
}

async fn start_with_reserve(home: &Path, reserve_bytes: u64) -> Node {
    let engine = EngineConfig {
        store: StoreConfig {
            reserve_bytes,
            // tmpfs-sized: sled's default cache is far larger than the disk.
            cache_capacity: 8 * MIB,
            ..StoreConfig::default()
        },
        ..EngineConfig::default()
    };
    Node::start(
        Home::new(home.to_path_buf()),
        NodeOptions {
            api: Some("127.0.0.1:0".parse().unwrap()),
            no_mdns: true,
            listen: vec!["/ip4/127.0.0.1/tcp/0".into()],
            engine: Some(engine),
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

/// A listing of another seller near the node, as a line to import.
fn foreign_line(item_key: &str) -> String {
    let t = now();
    let l = Listing {
        item_key: item_key.into(),
        seq: 1,
        signed_at: t,
        expires_at: t + 7 * 86_400,
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
    };
    swapmeet_node::api::envelope_to_text(
        l.sign(&SecretKey::from_bytes([9; 32])).unwrap().as_bytes(),
    )
}

/// A bridge request with `n` items of a JSON feed, as a shop system sends it.
fn bridge_items(prefix: &str, n: usize) -> Value {
    let items: Vec<Value> = (0..n)
        .map(|i| json!({"id": format!("{prefix}{i}"), "title": format!("Chair {i}"), "price": "30", "ships": true}))
        .collect();
    let feed = json!({"currency": "EUR", "items": items}).to_string();
    let parsed = parse_with(
        feed.as_bytes(),
        Format::Json,
        &ParseOptions {
            default_currency: Some(Currency::new("EUR").unwrap()),
        },
    )
    .unwrap();
    json!({"items": parsed.items})
}

fn assert_disk_full(what: &str, status: u16, v: &Value) {
    println!("{what}: {status} {v}");
    assert!(
        status >= 500,
        "{what} must fail on a full disk: {status} {v}"
    );
    let e = v["error"].as_str().unwrap_or_default();
    assert!(
        e.contains("is full") && e.contains("free some space"),
        "{what}: the error says the disk is full and what to do: {v}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_disk_refuses_writes_clearly_keeps_reads_and_recovers_when_space_returns() {
    if !is_root() {
        println!("SKIPPED: mounting the small tmpfs this test fills needs root");
        return;
    }
    let disk = Tmpfs::mount(DISK_MIB);
    let home = disk.path.join("home");
    Home::new(home.clone())
        .init(&InitOptions {
            location: Some((52.52, 13.405)),
            currency: Some(Currency::new("EUR").unwrap()),
        })
        .unwrap();
    let node = start(&home).await;
    let api = Api::new(&node);
    let filler = disk.path.join("filler");
    let result = tokio::time::timeout(
        Duration::from_secs(120),
        tokio::task::spawn_blocking(move || {
            // Acknowledged before the disk fills: a sell, an imported listing, a bridge run.
            let (s, sold) = api.sell("Road bike");
            assert_eq!(s, 201, "{sold}");
            let sold = sold["id"].as_str().unwrap().to_string();
            let (s, imported) = api.post("/v1/import", json!({"lines": [foreign_line("lamp")]}));
            assert_eq!(s, 200, "{imported}");
            let theirs = imported["results"][0]["id"].as_str().unwrap().to_string();
            let (s, run) = api.post("/v1/bridge/items", bridge_items("a", 3));
            assert_eq!(s, 200, "{run}");
            let acknowledged = api.mine();
            assert_eq!(acknowledged.len(), 4, "{acknowledged:?}");

            // Something else fills the disk to below the node's reserve.
            let free = disk.free();
            let fill = free - RESERVE / 2;
            let f = std::fs::File::create(&filler).unwrap();
            std::io::Write::write_all(&mut &f, &vec![1u8; fill as usize]).unwrap();
            f.sync_all().unwrap();
            assert!(disk.free() < RESERVE);

            // Every kind of write is refused, saying what to do, and stores nothing.
            let (s, v) = api.sell("Kettle");
            assert_disk_full("a sell", s, &v);
            let (s, v) = api.post("/v1/import", json!({"lines": [foreign_line("rug")]}));
            assert_disk_full("an import", s, &v);
            let (s, v) = api.post("/v1/bridge/items", bridge_items("b", 3));
            assert_disk_full("a bridge run", s, &v);
            let (s, v) = api.post(
                "/v1/messages",
                json!({"listing": theirs, "text": "Is the lamp still there?"}),
            );
            assert_disk_full("a message", s, &v);
            assert_eq!(api.mine(), acknowledged, "nothing half-written");
            let (s, inbox) = api.get("/v1/inbox");
            assert_eq!(s, 200, "{inbox}");
            assert_eq!(inbox["threads"].as_array().unwrap().len(), 0, "{inbox}");

            // Reads go on: a listing, a search, the status.
            let (s, v) = api.get(&format!("/v1/listings/{sold}"));
            assert_eq!((s, v["title"].as_str()), (200, Some("Road bike")), "{v}");
            let (s, v) = api.post("/v1/search", json!({"text": "chair"}));
            assert_eq!(s, 200, "{v}");
            assert_eq!(v["total"], 3, "{v}");
            assert_eq!(api.get("/v1/status").0, 200);

            // Space returns: writes succeed again without a restart.
            disk.resize(DISK_MIB * 2);
            let (s, v) = api.sell("Kettle");
            assert_eq!(s, 201, "{v}");
            let (s, v) = api.post(
                "/v1/messages",
                json!({"listing": theirs, "text": "Is the lamp still there?"}),
            );
            assert_eq!(s, 201, "{v}");
            let (s, v) = api.post("/v1/bridge/items", bridge_items("b", 3));
            assert_eq!(s, 200, "{v}");
            assert_eq!(api.mine().len(), 8);
            disk
        }),
    )
    .await;
    node.shutdown().await.unwrap();
    let disk = result.expect("timed out").unwrap();

    // Restarted: everything acknowledged is there.
    let node = start(&home).await;
    let api = Api::new(&node);
    let mine = tokio::task::spawn_blocking(move || api.mine())
        .await
        .unwrap();
    node.shutdown().await.unwrap();
    assert_eq!(mine.len(), 8, "{mine:?}");
    drop(disk);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_disk_filled_to_the_last_byte_fails_writes_clearly_and_a_restart_recovers() {
    if !is_root() {
        println!("SKIPPED: mounting the small tmpfs this test fills needs root");
        return;
    }
    let disk = Tmpfs::mount(DISK_MIB);
    let home = disk.path.join("home");
    Home::new(home.clone())
        .init(&InitOptions {
            location: Some((52.52, 13.405)),
            currency: Some(Currency::new("EUR").unwrap()),
        })
        .unwrap();
    // No reserve: sled itself meets ENOSPC, as it would when another program takes the
    // reserve too.
    let node = start_with_reserve(&home, 0).await;
    let api = Api::new(&node);
    let filler = disk.path.join("filler");
    let result = tokio::time::timeout(
        Duration::from_secs(120),
        tokio::task::spawn_blocking(move || {
            let (s, sold) = api.sell("Road bike");
            assert_eq!(s, 201, "{sold}");
            let sold = sold["id"].as_str().unwrap().to_string();
            let mut f = std::fs::File::create(&filler).unwrap();
            let chunk = vec![1u8; MIB as usize];
            while std::io::Write::write_all(&mut f, &chunk).is_ok() {}
            // Whatever fits of a last partial chunk.
            while std::io::Write::write_all(&mut f, &[1u8; 512]).is_ok() {}
            // sled writes into log space it allocated before the disk filled, so the first
            // sells may still fit and be acknowledged (durably: the sync succeeded). Sell
            // until the disk refuses; every acknowledged one must survive the restart.
            let mut acknowledged = vec![sold.clone()];
            let (s, v) = loop {
                let (s, v) = api.sell("Kettle");
                println!("sell on a full disk: {s} {v}");
                if s != 201 || acknowledged.len() > 200 {
                    break (s, v);
                }
                acknowledged.push(v["id"].as_str().unwrap().to_string());
            };
            assert!(s >= 500, "{s} {v}");
            let e = v["error"].as_str().unwrap_or_default();
            assert!(
                e.contains("the disk is full") && e.contains("restart the node"),
                "{v}"
            );
            // Reads go on.
            let (s, v) = api.get(&format!("/v1/listings/{sold}"));
            assert_eq!(s, 200, "{v}");
            (disk, acknowledged)
        }),
    )
    .await;
    let _ = node.shutdown().await;
    let (disk, acknowledged) = result.expect("timed out").unwrap();
    disk.resize(DISK_MIB * 2);
    let node = start_with_reserve(&home, 0).await;
    let api = Api::new(&node);
    let (mine, sell) = tokio::task::spawn_blocking(move || (api.mine(), api.sell("Kettle")))
        .await
        .unwrap();
    node.shutdown().await.unwrap();
    // The refused sell was not acknowledged: it may or may not have reached the disk (docs/
    // API.md says so); every acknowledged one must be there.
    for sold in &acknowledged {
        assert!(
            mine.contains(sold),
            "the acknowledged sell {sold} survived: {mine:?}"
        );
    }
    assert_eq!(sell.0, 201, "{}", sell.1);
    drop(disk);
}
