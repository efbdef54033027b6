use std::time::Instant;
use swapmeet_node::store::{Store, StoreConfig, StoredRecord};
use swapmeet_node::synth::Synth;
fn main() {
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
    let mut s = Synth::new(1, 2000, now);
    let envs: Vec<_> = (0..20000).map(|_| s.signed()).collect();
    let t = Instant::now();
    let v = swapmeet_protocol::verify_batch(envs.clone(), now);
    println!("verify_batch: {:?} per item", t.elapsed() / 20000);
    let t = Instant::now();
    for e in envs.iter().take(2000) { let _ = e.verify(now); }
    println!("verify single: {:?} per item", t.elapsed() / 2000);
    let t = Instant::now();
    for e in envs.iter().take(2000) { let _ = swapmeet_protocol::SignedEnvelope::decode(e.as_bytes()); }
    println!("decode: {:?} per item", t.elapsed() / 2000);
    let v: Vec<_> = v.into_iter().map(|r| r.unwrap()).collect();
    let t = Instant::now();
    let recs: Vec<StoredRecord> = v.iter().map(StoredRecord::from_verified).collect();
    println!("from_verified: {:?} per item", t.elapsed() / 20000);
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path(), &StoreConfig::default()).unwrap();
    let t = Instant::now();
    for chunk in recs.chunks(4096) { store.apply(chunk).unwrap(); }
    println!("store.apply: {:?} per item", t.elapsed() / 20000);
    let db = sled::Config::new().path(dir.path().join("raw")).cache_capacity(128 << 20).mode(sled::Mode::HighThroughput).open().unwrap();
    let tree = db.open_tree("x").unwrap();
    let val = vec![7u8; 1200];
    let t = Instant::now();
    let mut b = sled::Batch::default();
    for i in 0u64..20000 { b.insert(&i.to_be_bytes(), val.clone()); }
    tree.apply_batch(b).unwrap();
    println!("sled batch 1200B: {:?} per item", t.elapsed() / 20000);
    let t = Instant::now();
    let mut b = sled::Batch::default();
    for i in 0u64..20000 { b.insert(&(i * 7919).to_be_bytes(), &[1u8; 16]); }
    tree.apply_batch(b).unwrap();
    println!("sled batch 16B random keys: {:?} per item", t.elapsed() / 20000);
    let t = Instant::now();
    for i in 0u64..20000 { let _ = tree.get(&(i * 7).to_be_bytes()); }
    println!("sled get: {:?} per item", t.elapsed() / 20000);
}

#[allow(dead_code)]
fn sled_raw() {}
