//! A Kademlia record as a peer puts it, through the node's record checks. The first byte is
//! the length of the key, the next bytes the key, the rest the value (an envelope, when the
//! peer is honest).
//!
//! The record goes through `check_put` (what the event loop runs before storing a peer's
//! record: key form, envelope decoding, verification, the key naming the envelope's listing,
//! the version against the one held) and the store's own `put`. The key is also read as an
//! area provider key. Nothing may panic, and a record that passes the checks verifies and
//! sits under its own listing's key.

use std::sync::{Arc, OnceLock};

use libp2p::kad::store::RecordStore;
use libp2p::kad::{Record, RecordKey};
use libp2p::PeerId;
use swapmeet_node::network::dht::{
    check_put, listing_key, parse_area_key, parse_listing_key, ListingRecordStore,
};
use swapmeet_protocol::SignedEnvelope;

/// The time of the test vectors: the committed records are valid then.
const NOW: u64 = 1_750_000_000;

/// A tree in a temporary sled database (memory-backed, removed when the process ends).
fn tree() -> &'static sled::Tree {
    static TREE: OnceLock<sled::Tree> = OnceLock::new();
    TREE.get_or_init(|| {
        let db = sled::Config::new()
            .temporary(true)
            .open()
            .expect("open a temporary sled database");
        db.open_tree("kad").expect("open the tree")
    })
}

fn local_id() -> PeerId {
    static ID: OnceLock<PeerId> = OnceLock::new();
    *ID.get_or_init(PeerId::random)
}

/// One input, as libFuzzer and the corpus replay (`node/tests/suite/fuzz_corpora.rs`) give it.
pub fn run(data: &[u8]) {
    let Some((&n, rest)) = data.split_first() else {
        return;
    };
    let Some((key, value)) = rest.split_at_checked(usize::from(n)) else {
        return;
    };
    let key = RecordKey::new(&key);
    let _ = parse_area_key(&key);
    let record = Record {
        key: key.clone(),
        value: value.to_vec(),
        publisher: None,
        expires: None,
    };
    // Each input starts from an empty store, so a crash reproduces from its input alone.
    let t = tree();
    let _ = t.clear();
    if let Ok(Some(checked)) = check_put(t, record.clone(), NOW) {
        let id = parse_listing_key(&key).expect("a checked record has a listing key");
        assert_eq!(listing_key(&id), key);
        let v = SignedEnvelope::decode(value)
            .and_then(|e| e.verify(NOW))
            .expect("a checked record verifies");
        assert_eq!(v.listing_id(), id);
        assert_eq!(checked.record.value, value);
    }
    // The store's own put (local puts): it verifies again, and nothing unverified is stored.
    let mut store = ListingRecordStore::open(t.clone(), local_id(), Arc::new(|| NOW));
    if store.put(record).is_ok() {
        let held = store.get(&key).expect("a record put is held");
        assert_eq!(held.value, value);
    }
}
