#![no_main]
//! Arbitrary bytes through the whole untrusted path: decode, verify (single and batch). Nothing
//! may panic, and anything that verifies must re-encode to the same bytes.

use libfuzzer_sys::fuzz_target;
use swapmeet_protocol::{verify_batch, SignedEnvelope};

fuzz_target!(|data: &[u8]| {
    if let Ok(env) = SignedEnvelope::decode(data) {
        assert_eq!(env.as_bytes(), data);
        let single = env.verify(1_750_000_000).is_ok();
        let batch = verify_batch(vec![env], 1_750_000_000)
            .pop()
            .map(|r| r.is_ok());
        assert_eq!(
            Some(single),
            batch,
            "batch and single verification disagree"
        );
    }
});
