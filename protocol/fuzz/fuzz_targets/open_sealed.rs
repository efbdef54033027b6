#![no_main]
//! Arbitrary bytes through a recipient's untrusted path. The first byte picks what the rest is:
//! - even: sealed bytes as a mailbox or a peer hands them over: `Sealed::decode`, then `open`
//!   with a fixed key (the seller of the test vectors, so the committed sealed vector opens);
//! - odd: a plaintext, sealed to that key and opened, to reach what `open` does after
//!   decryption (length prefix, zero padding, the signed envelope inside).
//!
//! The raw bytes also go through `SignedEnvelope::decode` and `verify_message` /
//! `verify_receipt`. Nothing may panic; whatever opens names this key and the header's expiry.

use libfuzzer_sys::fuzz_target;
use swapmeet_protocol::seal::fuzzing::seal_plaintext_unchecked;
use swapmeet_protocol::{open, Sealed, SecretKey, SignedEnvelope};

/// The time of the test vectors: the committed message is valid then.
const NOW: u64 = 1_750_000_000;
/// The committed sealed message's expiry.
const EXPIRES_AT: u64 = 1_751_209_200;

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let key = SecretKey::from_bytes([1; 32]);
    let sealed = if mode % 2 == 0 {
        Sealed::decode(rest)
            .ok()
            .inspect(|s| assert_eq!(s.as_bytes(), rest))
    } else {
        seal_plaintext_unchecked(&key.public(), EXPIRES_AT, rest).ok()
    };
    if let Some(s) = sealed {
        if let Ok(v) = open(&s, &key, NOW) {
            assert_eq!(v.payload().recipient, key.public());
            assert_eq!(v.payload().expires_at, s.expires_at());
        }
    }
    if let Ok(env) = SignedEnvelope::decode(rest) {
        assert_eq!(env.as_bytes(), rest);
        let _ = env.verify_message(NOW);
        let _ = env.verify_receipt();
    }
});
