#![no_main]
//! libFuzzer's entry for `harness/dht_record.rs`, which says what it feeds and asserts. The test
//! suite replays this target's corpus and seeds through the same harness
//! (`node/tests/suite/fuzz_corpora.rs`), so a regression on a known input fails `cargo nextest run`.

#[path = "../harness/dht_record.rs"]
mod harness;

libfuzzer_sys::fuzz_target!(|data: &[u8]| harness::run(data));
