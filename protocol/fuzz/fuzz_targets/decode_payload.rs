#![no_main]
//! Every payload kind from arbitrary bytes, past the envelope framing. A fuzzer that starts
//! from whole envelopes spends most of its inputs on the CBOR frame (a payload whose length
//! changes breaks the frame's length prefix), so this target frames the payload itself: the
//! first byte picks what the rest is.
//!
//! - low 3 bits 1 to 6: the payload of an envelope of that kind (listing, withdrawal,
//!   message, receipt, review, wanted post), signed (as far as the frame says) by the seller
//!   (bit 3 clear) or the buyer (bit 3 set) of the test vectors, with a bad signature. It goes
//!   through the path a peer's bytes take for that kind: `verify` (and `verify_batch`) for
//!   records, `verify_message` (text, negotiation moves, deal signatures), `verify_receipt`,
//!   `verify_review` (and the deal receipt inside), plus the store's re-reading paths
//!   (`decode_stored`, `glance_stored`). Every decoder and `validate` runs before the signature
//!   check, so the bad signature costs no coverage.
//! - 0: deal terms (`DealTerms::decode`), as a peer's deal signature names them.
//! - 7: a deal receipt's text form (`DealReceipt::from_text`), as a user pastes it.
//!
//! Nothing may panic; a structure that decodes re-encodes to its input.

use libfuzzer_sys::fuzz_target;
use swapmeet_protocol::{
    decode_stored, glance_stored, verify_batch, DealReceipt, DealTerms, EnvelopeKind,
    SignedEnvelope,
};

/// The time of the test vectors: the committed records are valid then.
const NOW: u64 = 1_750_000_000;
/// The public keys of the seller (`SecretKey::from_bytes([1; 32])`) and the buyer (`[2; 32]`)
/// of the test vectors, written out: deriving them is a scalar multiplication, which would
/// cost more than the decoding under test on every input.
const SELLER: [u8; 32] = hex32("8a88e3dd7409f195fd52db2d3cba5d72ca6709bf1d94121bf3748801b40f6f5c");
const BUYER: [u8; 32] = hex32("8139770ea87d175f56a35466c34c7ecccb8d8a91b4ee37a25df60f5b8fc9b394");
/// A signature whose scalar is not canonical, so the signature check refuses it at once (every
/// decoder runs before it).
const SIGNATURE: [u8; 64] = [0xff; 64];

const fn hex32(s: &str) -> [u8; 32] {
    const fn digit(c: u8) -> u8 {
        match c {
            b'0'..=b'9' => c - b'0',
            _ => c - b'a' + 10,
        }
    }
    let b = s.as_bytes();
    let mut out = [0; 32];
    let mut i = 0;
    while i < 32 {
        out[i] = digit(b[2 * i]) << 4 | digit(b[2 * i + 1]);
        i += 1;
    }
    out
}

/// An envelope around `payload`, framed as `SignedEnvelope::decode` expects it (docs/PROTOCOL.md:
/// `[version, kind, signer, payload, signature]` in canonical CBOR).
fn frame(kind: u8, signer: &[u8; 32], payload: &[u8]) -> Vec<u8> {
    let mut b = Vec::with_capacity(payload.len() + 110);
    b.extend_from_slice(&[0x85, 0x01, kind, 0x58, 0x20]);
    b.extend_from_slice(signer);
    let n = payload.len();
    if n < 24 {
        b.push(0x40 | n as u8);
    } else if n < 0x100 {
        b.extend_from_slice(&[0x58, n as u8]);
    } else if n < 0x1_0000 {
        b.push(0x59);
        b.extend_from_slice(&(n as u16).to_be_bytes());
    } else {
        b.push(0x5a);
        b.extend_from_slice(&(n as u32).to_be_bytes());
    }
    b.extend_from_slice(payload);
    b.extend_from_slice(&[0x58, 0x40]);
    b.extend_from_slice(&SIGNATURE);
    b
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    match mode & 7 {
        0 => {
            if let Ok(terms) = DealTerms::decode(rest) {
                assert_eq!(terms.encode(), rest);
                let _ = terms.validate();
            }
        }
        7 => {
            if let Ok(text) = std::str::from_utf8(rest) {
                if let Ok(receipt) = DealReceipt::from_text(text) {
                    let again = DealReceipt::from_text(&receipt.to_text());
                    // The signatures are `decode_deal`'s part: checking them here would cost
                    // two curve verifications per input for no decoder coverage.
                    assert_eq!(again.map(|r| r.encode()).ok(), Some(receipt.encode()));
                }
            }
        }
        kind => {
            // Kind 7 (block lists) shares wanted posts' low bits: bit 4 picks it.
            let kind = if kind == 6 && mode & 16 != 0 { 7 } else { kind };
            let signer = if mode & 8 == 0 { &SELLER } else { &BUYER };
            let bytes = frame(kind, signer, rest);
            let Ok(env) = SignedEnvelope::decode(&bytes) else {
                return;
            };
            assert_eq!(env.payload_bytes(), rest);
            match env.kind() {
                EnvelopeKind::Message => {
                    let _ = env.verify_message(NOW);
                }
                EnvelopeKind::Receipt => {
                    let _ = env.verify_receipt();
                }
                EnvelopeKind::Review => {
                    let _ = env.verify_review(NOW);
                }
                EnvelopeKind::Listing
                | EnvelopeKind::Withdrawal
                | EnvelopeKind::Wanted
                | EnvelopeKind::BlockList => {
                    // Both store paths read what decodes; neither may panic on any payload.
                    let stored = decode_stored(&bytes).is_ok();
                    let _ = glance_stored(&bytes);
                    let single = env.verify(NOW);
                    if single.is_ok() {
                        assert!(stored, "a record that verifies must re-read from the store");
                    }
                    let batch = verify_batch(vec![env], NOW).pop();
                    assert_eq!(
                        batch.map(|r| r.is_ok()),
                        Some(single.is_ok()),
                        "batch and single verification disagree"
                    );
                }
            }
        }
    }
});
