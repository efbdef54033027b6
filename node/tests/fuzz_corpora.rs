//! The node's fuzz targets' corpora and seeds, replayed on every test run through the same
//! harnesses libFuzzer runs (`node/fuzz/harness/`): an input that once passed and now panics
//! fails here, without the instrumented fuzz build that CI leaves to a separate run
//! (docs/TESTING.md, "In CI").

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};

#[path = "../fuzz/harness/api_json.rs"]
mod api_json;
#[path = "../fuzz/harness/dht_record.rs"]
mod dht_record;
#[path = "../fuzz/harness/peer_wire.rs"]
mod peer_wire;

/// Every committed input of a target: its minimized corpus and its hand-made seeds.
fn inputs(target: &str) -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz");
    let mut files = Vec::new();
    for kind in ["corpus", "seeds"] {
        let dir = root.join(kind).join(target);
        let entries =
            std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("read {}: {e}", dir.display()));
        files.extend(entries.map(|e| e.expect("a directory entry").path()));
    }
    files.sort();
    files
}

/// Runs every input and names each one that panicked, so it can be replayed alone with
/// `cargo fuzz run <target> <file>` in `node/fuzz`.
fn replay(target: &str, run: fn(&[u8])) {
    let files = inputs(target);
    assert!(files.len() > 1, "{target}: no committed corpus to replay");
    let failed: Vec<_> = files
        .iter()
        .filter(|f| {
            let data = std::fs::read(f).unwrap_or_else(|e| panic!("read {}: {e}", f.display()));
            catch_unwind(AssertUnwindSafe(|| run(&data))).is_err()
        })
        .map(|f| f.display().to_string())
        .collect();
    assert!(
        failed.is_empty(),
        "{target}: {} of {} committed inputs panic: {failed:#?}",
        failed.len(),
        files.len()
    );
}

#[test]
fn peer_wire_corpus_replays_without_a_panic() {
    let dir = tempfile::tempdir().expect("a temporary folder");
    peer_wire::set_store_dir(dir.path().join("store"));
    replay("peer_wire", peer_wire::run);
}

#[test]
fn dht_record_corpus_replays_without_a_panic() {
    replay("dht_record", dht_record::run);
}

#[test]
fn api_json_corpus_replays_without_a_panic() {
    let dir = tempfile::tempdir().expect("a temporary folder");
    api_json::set_store_dir(dir.path().join("store"));
    replay("api_json", api_json::run);
}
