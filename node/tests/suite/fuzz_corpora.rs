//! The node's fuzz targets on every test run, through the same harnesses libFuzzer runs
//! (`node/fuzz/harness/`), with the normal test build (the instrumented fuzz build of the node
//! costs more than CI's budget: docs/TESTING.md, "In CI"):
//! - every committed corpus and seed input is replayed: an input that once passed and now
//!   panics fails here, named;
//! - then each target is fuzzed briefly: [`MUTATIONS`] inputs made from the committed ones by
//!   random byte flips, insertions, deletions, truncations and splices. Not coverage-guided
//!   (libFuzzer's runs are), but it reaches past the corpus on every push. The seed is printed;
//!   `SWAPMEET_FUZZ_SEED=N` repeats a run, and an input that panics is written out for
//!   `cargo fuzz run <target> <file>`.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};

use swapmeet_node::synth::Rng;

#[path = "../../fuzz/harness/api_json.rs"]
mod api_json;
#[path = "../../fuzz/harness/dht_record.rs"]
mod dht_record;
#[path = "../../fuzz/harness/peer_wire.rs"]
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

/// Mutated inputs per target after the replay.
const MUTATIONS: usize = 4_000;

fn panics(run: fn(&[u8]), data: &[u8]) -> bool {
    catch_unwind(AssertUnwindSafe(|| run(data))).is_err()
}

/// Replays every committed input, then runs [`MUTATIONS`] mutated ones; names each input that
/// panicked (mutated ones are written under the test's temporary folder).
fn replay(target: &str, run: fn(&[u8])) {
    let files = inputs(target);
    assert!(files.len() > 1, "{target}: no committed corpus to replay");
    let inputs: Vec<Vec<u8>> = files
        .iter()
        .map(|f| std::fs::read(f).unwrap_or_else(|e| panic!("read {}: {e}", f.display())))
        .collect();
    let mut failed: Vec<String> = files
        .iter()
        .zip(&inputs)
        .filter(|(_, data)| panics(run, data))
        .map(|(f, _)| f.display().to_string())
        .collect();

    let seed = std::env::var("SWAPMEET_FUZZ_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(1, |d| d.as_nanos() as u64)
        });
    println!(
        "{target}: {} committed inputs, then {MUTATIONS} mutations with SWAPMEET_FUZZ_SEED={seed}",
        inputs.len()
    );
    let mut rng = Rng::new(seed);
    let out = Path::new(env!("CARGO_TARGET_TMPDIR")).join("fuzz-failures");
    for i in 0..MUTATIONS {
        let data = mutate(&mut rng, &inputs);
        if panics(run, &data) {
            std::fs::create_dir_all(&out).expect("a folder for failing inputs");
            let file = out.join(format!("{target}-{seed}-{i}"));
            std::fs::write(&file, &data).expect("write the failing input");
            failed.push(file.display().to_string());
        }
    }
    assert!(
        failed.is_empty(),
        "{target}: {} inputs panic (seed {seed}): {failed:#?}",
        failed.len()
    );
}

/// One of the inputs with one to four random edits, the kinds libFuzzer's mutators make most.
fn mutate(rng: &mut Rng, inputs: &[Vec<u8>]) -> Vec<u8> {
    let mut d = inputs[rng.below(inputs.len())].clone();
    for _ in 0..1 + rng.below(4) {
        let at = rng.below(d.len() + 1);
        match rng.below(6) {
            0 if at < d.len() => d[at] ^= 1 << rng.below(8),
            1 if at < d.len() => d[at] = rng.next_u64() as u8,
            2 if at < d.len() => {
                d.remove(at);
            }
            3 => d.truncate(at),
            4 => d.insert(at, rng.next_u64() as u8),
            _ => {
                // A run of bytes from another input: fields that parse, in a new place.
                let other = &inputs[rng.below(inputs.len())];
                let from = rng.below(other.len() + 1);
                let len = rng.below(64).min(other.len() - from);
                d.splice(at..at, other[from..from + len].iter().copied());
            }
        }
    }
    d
}

#[test]
fn peer_wire_survives_its_corpus_and_mutations_of_it() {
    let dir = tempfile::tempdir().expect("a temporary folder");
    peer_wire::set_store_dir(dir.path().join("store"));
    replay("peer_wire", peer_wire::run);
}

#[test]
fn dht_record_survives_its_corpus_and_mutations_of_it() {
    replay("dht_record", dht_record::run);
}

#[test]
fn api_json_survives_its_corpus_and_mutations_of_it() {
    let dir = tempfile::tempdir().expect("a temporary folder");
    api_json::set_store_dir(dir.path().join("store"));
    replay("api_json", api_json::run);
}
