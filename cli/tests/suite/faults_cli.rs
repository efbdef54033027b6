//! Faults as a user meets them through the real `swapmeet` binary (issue 16 section 3):
//! spoofing text refused with the field named, and a damaged, read-only or full home giving a
//! clear error that says what to do (or a rebuild of what is derived), never a panic or a
//! silent loss.

use crate::common;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::Home;

#[test]
fn a_title_with_a_bidi_control_is_refused_naming_the_field_and_nothing_is_published() {
    let h = Home::with_node("EUR");
    for title in ["Rolex watch \u{202E}gpj.exe", "Bike\u{2066} for sale"] {
        let o = h.cmd(&["sell", "--title", title, "--price", "100"]);
        assert_eq!(o.status.code(), Some(2), "sell {title:?} must fail");
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(
            err.contains("title") && err.contains("bidirectional control character U+"),
            "{err}"
        );
        assert!(!err.contains("panicked"), "{err}");
    }
    let o = h.cmd(&[
        "sell",
        "--title",
        "Bike",
        "--price",
        "100",
        "--tag",
        "road\u{200F}",
    ]);
    assert_eq!(o.status.code(), Some(2));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("tags") && err.contains("U+200F"), "{err}");
    // Nothing was published.
    assert!(h.json_ok(&["mine"]).is_empty());
}

/// Runs `swapmeet node` on the home expecting it to refuse to start: its exit code and
/// stderr. A node that starts after all is killed after 30 s and fails the test.
fn node_refuses(home: &Path) -> (Option<i32>, String) {
    let mut child = Command::new(common::BIN)
        .args([
            "node",
            "--api",
            "127.0.0.1:0",
            "--no-mdns",
            "--listen",
            "/ip4/127.0.0.1/tcp/0",
        ])
        .env("SWAPMEET_HOME", home)
        .env_remove("RUST_LOG")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let start = Instant::now();
    while child.try_wait().unwrap().is_none() {
        if start.elapsed() > Duration::from_secs(30) {
            let _ = child.kill();
            panic!("the node started on a home it should have refused");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let out = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr).to_string();
    assert!(!err.contains("panicked"), "{err}");
    (out.status.code(), err)
}

/// A home with a stopped node that sold `n` listings (after a first session of 2, so sled's
/// snapshot covers only the start of its log): their ids.
fn home_with_listings(n: usize) -> (Home, Vec<String>) {
    let mut h = Home::with_node("EUR");
    let mut ids = vec![h.sell("Road bike", "100"), h.sell("Kettle", "5")];
    h.stop_node();
    h.start_node();
    for i in 0..n {
        ids.push(h.sell(&format!("Item {i}"), "7"));
    }
    h.stop_node();
    (h, ids)
}

fn mine(h: &Home) -> Vec<String> {
    h.json_ok(&["mine"])
        .iter()
        .map(|l| l["id"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn garbage_in_config_toml_is_a_clear_error_saying_what_to_do_and_init_repairs_it() {
    let h = Home::new();
    h.ok(&["init", "--location", "52.52,13.405", "--currency", "EUR"]);
    let seller = h.json_ok(&["id"]);
    let config = h.path().join("config.toml");
    std::fs::write(&config, "[node\napi = 5\n\u{0}\u{1}garbage").unwrap();
    let (code, err) = node_refuses(h.path());
    assert_eq!(code, Some(2), "{err}");
    assert!(
        err.contains(&config.display().to_string()) && err.contains("line 1"),
        "names the file and the line: {err}"
    );
    assert!(err.contains("swapmeet init"), "says what to do: {err}");
    // Doing what it says keeps the identity.
    std::fs::rename(&config, h.path().join("config.toml.bad")).unwrap();
    h.ok(&["init", "--location", "52.52,13.405", "--currency", "EUR"]);
    assert_eq!(h.json_ok(&["id"]), seller);
}

#[test]
fn a_deleted_index_folder_is_rebuilt_from_the_store() {
    let (mut h, ids) = home_with_listings(3);
    std::fs::remove_dir_all(h.path().join("data/index")).unwrap();
    h.start_node();
    let mut have = mine(&h);
    have.sort();
    let mut want = ids.clone();
    want.sort();
    assert_eq!(have, want);
    let hits = h.search_until(&["bike"], 1);
    assert_eq!(hits.len(), 1, "searchable again: {hits:?}");
}

#[test]
fn a_store_truncated_before_its_snapshot_is_refused_as_damaged_saying_what_to_do() {
    let (h, _) = home_with_listings(3);
    let db = h.path().join("data/store/db");
    std::fs::File::options()
        .write(true)
        .open(&db)
        .unwrap()
        .set_len(1000)
        .unwrap();
    let (code, err) = node_refuses(h.path());
    assert_eq!(code, Some(2), "{err}");
    assert!(
        err.contains("is damaged") && err.contains("restore it from a backup"),
        "{err}"
    );
    assert!(
        err.contains("store.damaged"),
        "says how to move it away: {err}"
    );
}

/// The newest file of the records' journal (fjall names them by a growing number).
fn newest_journal(store: &Path) -> std::path::PathBuf {
    std::fs::read_dir(store.join("records"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "jnl"))
        .max_by_key(|p| {
            p.file_stem()
                .and_then(|s| s.to_str())
                .and_then(|s| s.parse::<u64>().ok())
        })
        .unwrap()
}

#[test]
fn a_store_whose_records_were_overwritten_is_refused_as_damaged_saying_what_to_do() {
    let (h, _) = home_with_listings(3);
    // Every file of the records' keyspaces (their manifests, and their tables if any were
    // written yet) overwritten with garbage of the same length, as a bad disk or a stray
    // program would leave them.
    fn overwrite_all(dir: &Path) -> usize {
        let mut n = 0;
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                n += overwrite_all(&path);
            } else {
                let len = std::fs::metadata(&path).unwrap().len() as usize;
                std::fs::write(&path, vec![0x5a; len.max(1)]).unwrap();
                n += 1;
            }
        }
        n
    }
    assert!(overwrite_all(&h.path().join("data/store/records/keyspaces")) > 0);
    let (code, err) = node_refuses(h.path());
    assert_eq!(code, Some(2), "{err}");
    assert!(
        err.contains("is damaged") && err.contains("restore it from a backup"),
        "{err}"
    );
}

#[test]
fn a_store_truncated_so_it_lost_listings_is_refused_not_silently_opened() {
    // Two listings in a first session, 30 more in a second that is killed: all of them in
    // the records' journal, in that order (far from filling a memtable, none in a table).
    let mut h = Home::with_node("EUR");
    let mut ids = vec![h.sell("Road bike", "100"), h.sell("Kettle", "5")];
    h.stop_node();
    h.start_node();
    for i in 0..30 {
        ids.push(h.sell(&format!("Item {i}"), "7"));
    }
    h.kill_node();
    // Half of the journal: the store keeps its valid prefix without a word, and the later
    // listings are gone.
    let journal = newest_journal(&h.path().join("data/store"));
    let len = std::fs::metadata(&journal).unwrap().len();
    std::fs::File::options()
        .write(true)
        .open(&journal)
        .unwrap()
        .set_len(len / 2)
        .unwrap();
    let (code, err) = node_refuses(h.path());
    assert_eq!(code, Some(2), "{err}");
    assert!(
        err.contains("lost writes") && err.contains(&format!("has {}", ids.len())),
        "{err}"
    );
    assert!(err.contains("restore") && err.contains("delete"), "{err}");
    // Doing what it says: the node starts with what is left.
    std::fs::remove_dir_all(h.path().join("data/index")).unwrap();
    h.start_node();
    let left = mine(&h);
    assert!(
        !left.is_empty() && left.len() < ids.len(),
        "{} of {}",
        left.len(),
        ids.len()
    );
}

#[test]
fn a_read_only_home_is_a_clear_error_saying_what_to_do() {
    if !is_root() {
        println!("SKIPPED: mounting the read-only disk this test needs requires root");
        return;
    }
    let (h, _) = home_with_listings(1);
    let disk = Tmpfs::mount(64);
    run(Command::new("cp").args([
        "-a",
        &format!("{}/.", h.path().display()),
        disk.path.to_str().unwrap(),
    ]));
    run(Command::new("mount").args(["-o", "remount,ro", disk.path.to_str().unwrap()]));
    let (code, err) = node_refuses(&disk.path);
    assert_eq!(code, Some(2), "{err}");
    assert!(
        err.contains("cannot be written") && err.contains("read-write"),
        "{err}"
    );
}

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
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
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
