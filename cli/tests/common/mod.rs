//! A temporary home running the real `swapmeet` binary, for the CLI tests.
//!
//! `cli.rs` keeps its own copy of these helpers for now; new test files share this one.

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

    pub fn start_node(&mut self) {
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
            .env("SWAPMEET_HOME", self.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
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

    /// POSTs a raw body to the node's API as a shop system would; status and answer.
    pub fn api_post(&self, path: &str, body: &[u8]) -> (u16, Value) {
        let node: Value =
            serde_json::from_slice(&std::fs::read(self.path().join("node.json")).unwrap()).unwrap();
        let token = std::fs::read_to_string(self.path().join("api.token")).unwrap();
        let agent = ureq::Agent::new_with_config(
            ureq::Agent::config_builder()
                .http_status_as_error(false)
                .build(),
        );
        let mut r = agent
            .post(format!("http://{}{path}", node["api"].as_str().unwrap()))
            .header("Authorization", format!("Bearer {}", token.trim()))
            .header("Content-Type", "application/json")
            .send(body)
            .unwrap();
        let status = r.status().as_u16();
        let text = r.body_mut().read_to_string().unwrap();
        (status, serde_json::from_str(&text).unwrap())
    }
}

impl Drop for Home {
    fn drop(&mut self) {
        if let Some(mut c) = self.node.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

pub fn json_lines(text: &str) -> Vec<Value> {
    text.lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON: {l}: {e}")))
        .collect()
}
