//! A temporary home running the real `swapmeet` binary, shared by all the CLI tests.

use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

pub const BIN: &str = env!("CARGO_BIN_EXE_swapmeet");

/// A temporary home with (optionally) a running node, killed on drop.
pub struct Home {
    dir: tempfile::TempDir,
    node: Option<Child>,
}

impl Home {
    pub fn new() -> Home {
        Home {
            dir: tempfile::tempdir().unwrap(),
            node: None,
        }
    }

    /// Sets `section.key = value` (a TOML value) in the home's config.toml.
    pub fn set_config(&self, section: &str, key: &str, value: &str) {
        let path = self.path().join("config.toml");
        let mut doc: toml::Table = std::fs::read_to_string(&path).unwrap().parse().unwrap();
        let v: toml::Table = format!("v = {value}").parse().unwrap();
        doc.entry(section)
            .or_insert_with(|| toml::Value::Table(toml::Table::new()))
            .as_table_mut()
            .unwrap()
            .insert(key.to_string(), v["v"].clone());
        std::fs::write(&path, toml::to_string(&doc).unwrap()).unwrap();
    }

    /// A home with a location and `currency`, and its node started.
    pub fn with_node(currency: &str) -> Home {
        let mut h = Home::new();
        h.ok(&["init", "--location", "52.52,13.405", "--currency", currency]);
        h.start_node();
        h
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    pub fn cmd(&self, args: &[&str]) -> Output {
        Command::new(BIN)
            .args(args)
            .env("SWAPMEET_HOME", self.path())
            .env_remove("RUST_LOG")
            .output()
            .unwrap()
    }

    /// Runs a command that must succeed; its standard output.
    pub fn ok(&self, args: &[&str]) -> String {
        let o = self.cmd(args);
        assert!(
            o.status.success(),
            "swapmeet {args:?} failed: {}\n{}",
            o.status,
            String::from_utf8_lossy(&o.stderr)
        );
        String::from_utf8(o.stdout).unwrap()
    }

    /// Runs a command with `--json` that must succeed; its JSON lines.
    pub fn json_ok(&self, args: &[&str]) -> Vec<Value> {
        let mut a = vec!["--json"];
        a.extend_from_slice(args);
        json_lines(&self.ok(&a))
    }

    /// Runs `swapmeet --json ARGS` whatever its exit status; the JSON lines of its output.
    pub fn json_lines(&self, args: &[&str]) -> Vec<Value> {
        let mut a = vec!["--json"];
        a.extend_from_slice(args);
        let o = self.cmd(&a);
        json_lines(&String::from_utf8(o.stdout).unwrap())
    }

    /// The hits of `swapmeet --json search ARGS` (none when it exits 1, "nothing found").
    pub fn search(&self, args: &[&str]) -> Vec<Value> {
        let mut a = vec!["--json", "search"];
        a.extend_from_slice(args);
        let o = self.cmd(&a);
        assert!(
            matches!(o.status.code(), Some(0 | 1)),
            "swapmeet {a:?} failed: {}\n{}",
            o.status,
            String::from_utf8_lossy(&o.stderr)
        );
        json_lines(&String::from_utf8(o.stdout).unwrap())
    }

    /// Searches until the index shows `want` hits (commits run at most every 500 ms), or 20 s pass.
    pub fn search_until(&self, args: &[&str], want: usize) -> Vec<Value> {
        let start = Instant::now();
        loop {
            let mut a = vec!["search"];
            a.extend_from_slice(args);
            let hits = self.json_lines(&a);
            if hits.len() == want || start.elapsed() > Duration::from_secs(20) {
                return hits;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// `swapmeet sell` with a title and price; the new listing's id.
    pub fn sell(&self, title: &str, price: &str) -> String {
        self.ok(&["sell", "--title", title, "--price", price])
            .trim()
            .to_string()
    }

    pub fn start_node(&mut self) {
        self.start_node_with(&[], Stdio::null());
    }

    /// Starts `swapmeet node` with `extra` arguments and its stderr going to `stderr`, and waits
    /// for it to listen.
    pub fn start_node_with(&mut self, extra: &[&str], stderr: Stdio) {
        let node_file = self.path().join("node.json");
        let _ = std::fs::remove_file(&node_file);
        let child = Command::new(BIN)
            .args([
                "node",
                "--api",
                "127.0.0.1:0",
                "--no-mdns",
                "--listen",
                "/ip4/127.0.0.1/tcp/0",
            ])
            .args(extra)
            .env("SWAPMEET_HOME", self.path())
            .env_remove("RUST_LOG")
            .env_remove("NO_COLOR")
            .stdout(Stdio::null())
            .stderr(stderr)
            .spawn()
            .unwrap();
        self.node = Some(child);
        let start = Instant::now();
        while !node_file.exists() {
            assert!(
                start.elapsed() < Duration::from_secs(60),
                "the node did not start"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// The process id of the running node, as spawned.
    pub fn node_pid(&self) -> Option<u32> {
        self.node.as_ref().map(Child::id)
    }

    /// Kills the node (SIGKILL) and waits for it.
    pub fn kill_node(&mut self) {
        if let Some(mut c) = self.node.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Stops the node with SIGTERM, as a service manager does, and waits for it to exit.
    pub fn stop_node(&mut self) {
        if let Some(mut c) = self.node.take() {
            #[cfg(unix)]
            {
                let _ = Command::new("kill")
                    .arg("-TERM")
                    .arg(c.id().to_string())
                    .status();
            }
            let start = Instant::now();
            loop {
                if c.try_wait().unwrap().is_some() {
                    break;
                }
                if start.elapsed() > Duration::from_secs(30) {
                    let _ = c.kill();
                    break;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
        }
    }

    /// A JSON request to the node's API as any program would send it: (status, body).
    pub fn api(&self, method: &str, path: &str, body: &Value) -> (u16, Value) {
        let (status, text) = self.request(method, path, &serde_json::to_vec(body).unwrap());
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    /// POSTs a raw body to the node's API as a shop system would; status and answer.
    pub fn api_post(&self, path: &str, body: &[u8]) -> (u16, Value) {
        let (status, text) = self.request("POST", path, body);
        (status, serde_json::from_str(&text).unwrap())
    }

    /// One request with the home's token to the address in its node.json: status and body.
    fn request(&self, method: &str, path: &str, body: &[u8]) -> (u16, String) {
        let node: Value =
            serde_json::from_slice(&std::fs::read(self.path().join("node.json")).unwrap()).unwrap();
        let token = std::fs::read_to_string(self.path().join("api.token")).unwrap();
        let agent = ureq::Agent::new_with_config(
            ureq::Agent::config_builder()
                .http_status_as_error(false)
                .build(),
        );
        let url = format!("http://{}{path}", node["api"].as_str().unwrap());
        let auth = format!("Bearer {}", token.trim());
        let mut r = match method {
            "PUT" => agent
                .put(&url)
                .header("Authorization", &auth)
                .header("Content-Type", "application/json")
                .send(body),
            _ => agent
                .post(&url)
                .header("Authorization", &auth)
                .header("Content-Type", "application/json")
                .send(body),
        }
        .unwrap();
        let status = r.status().as_u16();
        (status, r.body_mut().read_to_string().unwrap_or_default())
    }
}

impl Drop for Home {
    fn drop(&mut self) {
        self.kill_node();
    }
}

pub fn json_lines(text: &str) -> Vec<Value> {
    text.lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON: {l}: {e}")))
        .collect()
}

/// How long a condition may take before the test fails (delivery retries back off from 1 s).
pub const PATIENCE: Duration = Duration::from_secs(90);

/// A free TCP port on 127.0.0.1.
pub fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

/// The node's listen address on `port` with its PeerId, once it has bound.
pub fn listen_addr(h: &Home, port: u16) -> String {
    wait_for(&format!("a listen address on port {port}"), || {
        let want = format!("/tcp/{port}/");
        let status = h.json_lines(&["status"]);
        status.first().and_then(|s| {
            s["network"]["listen"]
                .as_array()?
                .iter()
                .filter_map(Value::as_str)
                .find(|a| a.contains(&want))
                .map(str::to_string)
        })
    })
}

/// Polls `f` until it returns Some, or fails after PATIENCE saying `what`.
pub fn wait_for<T>(what: &str, mut f: impl FnMut() -> Option<T>) -> T {
    let start = Instant::now();
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(start.elapsed() < PATIENCE, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// A seller in Berlin and a buyer 3 km away, each running a node; the buyer's bootstraps from
/// the seller's.
pub fn seller_and_buyer() -> (Home, Home) {
    let mut seller = Home::new();
    seller.ok(&["init", "--location", "52.52,13.405", "--currency", "EUR"]);
    let port = free_port();
    let listen = format!("/ip4/127.0.0.1/tcp/{port}");
    seller.start_node_with(&["--listen", &listen], Stdio::null());
    let addr = listen_addr(&seller, port);
    let mut buyer = Home::new();
    buyer.ok(&["init", "--location", "52.50,13.45", "--currency", "EUR"]);
    buyer.start_node_with(&["--bootstrap", &addr], Stdio::null());
    (seller, buyer)
}
