#![no_main]
//! Deal receipts and reviews from arbitrary bytes. The first byte picks the decoder: even, the
//! rest is a deal receipt (`DealReceipt::decode`, then `verify`); odd, the rest is a signed
//! envelope verified as a review (`verify_review`, which decodes the receipt inside). Nothing may
//! panic; a receipt that decodes re-encodes to its input, and a review that verifies names the
//! deal of a receipt that verifies.

use libfuzzer_sys::fuzz_target;
use swapmeet_protocol::{DealReceipt, SignedEnvelope};

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    if mode % 2 == 0 {
        if let Ok(receipt) = DealReceipt::decode(rest) {
            assert_eq!(receipt.encode(), rest);
            let _ = receipt.verify();
        }
    } else if let Ok(env) = SignedEnvelope::decode(rest) {
        if let Ok(review) = env.verify_review(1_750_000_000) {
            assert!(review.payload().receipt.verify().is_ok());
        }
    }
});
