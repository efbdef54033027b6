//! Every way a private message or a sealed message is refused, each with its typed error.
//!
//! Inside the crate so that it can sign and seal what the public API never would (a thread id
//! not derived from the listing, a message signed by a stranger, non-zero padding, a header
//! that disagrees with the signed message): what a hostile peer can send.

use crate::envelope::{EnvelopeHash, EnvelopeKind, SignedEnvelope};
use crate::error::ValidationError;
use crate::keys::{PublicKey, SecretKey};
use crate::limits::{
    MAX_CLOCK_SKEW_SECS, MAX_ENVELOPE_BYTES, MAX_ITEM_KEY_BYTES, MAX_MESSAGE_LIFETIME_SECS,
    MAX_MESSAGE_TEXT_CHARS, MAX_SEALED_BYTES, SEAL_BUCKETS,
};
use crate::message::{DirectMessage, ListingRef, MessageBody, Receipt, ThreadId};
use crate::seal::{open, seal, seal_plaintext, RecipientTag, Sealed};

const NOW: u64 = 1_750_000_000;
const EPHEMERAL: [u8; 32] = [5; 32];

fn seller() -> SecretKey {
    SecretKey::from_bytes([1; 32])
}
fn buyer() -> SecretKey {
    SecretKey::from_bytes([2; 32])
}
fn stranger() -> SecretKey {
    SecretKey::from_bytes([3; 32])
}

fn about() -> ListingRef {
    ListingRef {
        seller: seller().public(),
        item_key: "bike-1".into(),
        version: EnvelopeHash([7; 32]),
    }
}

/// The buyer's first message to the seller.
fn question() -> DirectMessage {
    let b = buyer().public();
    DirectMessage {
        recipient: seller().public(),
        buyer: b,
        thread: ThreadId::derive(&about().id(), &b),
        seq: 1,
        sent_at: NOW,
        expires_at: NOW + MAX_MESSAGE_LIFETIME_SECS,
        about: about(),
        body: MessageBody::Text("Is it still available?".into()),
    }
}

fn with_text(text: &str) -> DirectMessage {
    DirectMessage {
        body: MessageBody::Text(text.into()),
        ..question()
    }
}

/// Signs the payload as it is, skipping every check `DirectMessage::sign` makes.
fn raw_sign(msg: &DirectMessage, key: &SecretKey) -> SignedEnvelope {
    SignedEnvelope::sign(key, EnvelopeKind::Message, msg.encode_payload()).unwrap()
}

/// A plaintext as `seal` builds it: length prefix, envelope, zeros up to `bucket`.
fn plaintext(env: &[u8], bucket: usize) -> Vec<u8> {
    let mut p = (env.len() as u16).to_be_bytes().to_vec();
    p.extend_from_slice(env);
    p.resize(bucket, 0);
    p
}

/// Seals `env` to `to` under a header naming `tag` and `expires_at`, with no checks.
fn raw_seal(env: &SignedEnvelope, to: &PublicKey, tag: RecipientTag, expires_at: u64) -> Sealed {
    seal_plaintext(
        to,
        tag,
        expires_at,
        &plaintext(env.as_bytes(), 1024),
        EPHEMERAL,
    )
    .unwrap()
}

/// The same check at both ends: `sign` refuses to make it, and `verify_message` refuses it
/// when a hostile sender signs it anyway.
fn refused_both_ways(msg: &DirectMessage, signer: &SecretKey, expected: ValidationError) {
    assert_eq!(msg.sign(signer).unwrap_err(), expected, "sign");
    let env = raw_sign(msg, signer);
    assert_eq!(env.verify_message(NOW).unwrap_err(), expected, "verify");
}

#[test]
fn text_must_be_non_blank_short_plain_text() {
    for blank in ["", "   ", "\n\t "] {
        refused_both_ways(
            &with_text(blank),
            &buyer(),
            ValidationError::Empty { field: "text" },
        );
    }
    let long = "€".repeat(MAX_MESSAGE_TEXT_CHARS + 1);
    refused_both_ways(
        &with_text(&long),
        &buyer(),
        ValidationError::TooLong {
            field: "text",
            limit: MAX_MESSAGE_TEXT_CHARS,
            actual: MAX_MESSAGE_TEXT_CHARS + 1,
        },
    );
    for control in ["a\rb", "bell\u{7}", "nul\0", "esc\u{1b}[31m"] {
        let err = with_text(control).sign(&buyer()).unwrap_err();
        assert!(
            matches!(err, ValidationError::Invalid { field: "text", .. }),
            "{control:?}: {err}"
        );
    }
    // The limit is in characters, and newlines and tabs are text.
    let longest = "€".repeat(MAX_MESSAGE_TEXT_CHARS);
    with_text(&longest).sign(&buyer()).unwrap();
    with_text("line 1\n\tline 2").sign(&buyer()).unwrap();
}

#[test]
fn seq_and_times_must_be_in_range() {
    refused_both_ways(
        &DirectMessage {
            seq: 0,
            ..question()
        },
        &buyer(),
        ValidationError::OutOfRange {
            field: "seq",
            min: 1,
            max: u64::MAX,
            actual: 0,
        },
    );
    for expires_at in [NOW, NOW - 1, NOW + MAX_MESSAGE_LIFETIME_SECS + 1] {
        refused_both_ways(
            &DirectMessage {
                expires_at,
                ..question()
            },
            &buyer(),
            ValidationError::OutOfRange {
                field: "expires_at",
                min: NOW + 1,
                max: NOW + MAX_MESSAGE_LIFETIME_SECS,
                actual: expires_at,
            },
        );
    }
}

#[test]
fn the_clock_bounds_sending_and_expiry() {
    let env = question().sign(&buyer()).unwrap();
    // Sent more than the allowed skew ahead of the receiver's clock.
    let early = NOW - MAX_CLOCK_SKEW_SECS - 1;
    assert_eq!(
        env.verify_message(early).unwrap_err(),
        ValidationError::FromFuture {
            field: "sent_at",
            signed_at: NOW,
            now: early,
            max_skew: MAX_CLOCK_SKEW_SECS,
        }
    );
    env.verify_message(NOW - MAX_CLOCK_SKEW_SECS).unwrap();
    let end = NOW + MAX_MESSAGE_LIFETIME_SECS;
    assert_eq!(
        env.verify_message(end).unwrap_err(),
        ValidationError::Expired {
            expires_at: end,
            now: end
        }
    );
    env.verify_message(end - 1).unwrap();
}

#[test]
fn the_thread_must_be_derived_from_the_listing_and_the_buyer() {
    let other_listing = ListingRef {
        item_key: "bike-2".into(),
        ..about()
    };
    for thread in [
        ThreadId::from_bytes([0; 32]),
        ThreadId::derive(&other_listing.id(), &buyer().public()),
        ThreadId::derive(&about().id(), &stranger().public()),
    ] {
        let msg = DirectMessage {
            thread,
            ..question()
        };
        refused_both_ways(
            &msg,
            &buyer(),
            ValidationError::ThreadMismatch {
                expected: question().thread.to_string(),
                found: thread.to_string(),
            },
        );
    }
}

#[test]
fn only_the_two_parties_talk_and_the_signer_is_the_sender() {
    // The seller cannot be the buyer of its own listing.
    let s = seller().public();
    let own = DirectMessage {
        buyer: s,
        thread: ThreadId::derive(&about().id(), &s),
        ..question()
    };
    let err = own.sign(&seller()).unwrap_err();
    assert!(
        matches!(err, ValidationError::NotAParty { field: "buyer", .. }),
        "{err}"
    );
    // A message to a third key.
    let elsewhere = DirectMessage {
        recipient: stranger().public(),
        ..question()
    };
    let err = elsewhere.sign(&buyer()).unwrap_err();
    assert!(
        matches!(
            err,
            ValidationError::NotAParty {
                field: "recipient",
                ..
            }
        ),
        "{err}"
    );
    // Signed by a stranger, or by the recipient itself.
    for signer in [stranger(), seller()] {
        let err = question().sign(&signer).unwrap_err();
        assert!(
            matches!(
                err,
                ValidationError::NotAParty {
                    field: "signer",
                    ..
                }
            ),
            "{err}"
        );
        let err = raw_sign(&question(), &signer)
            .verify_message(NOW)
            .unwrap_err();
        assert!(
            matches!(
                err,
                ValidationError::NotAParty {
                    field: "signer",
                    ..
                }
            ),
            "{err}"
        );
    }
    // A receipt is signed by the recipient, not by the sender.
    let receipt = Receipt {
        message: EnvelopeHash([1; 32]),
        sender: buyer().public(),
        received_at: NOW,
    };
    assert!(matches!(
        receipt.sign(&buyer()).unwrap_err(),
        ValidationError::NotAParty {
            field: "signer",
            ..
        }
    ));
    let forged =
        SignedEnvelope::sign(&buyer(), EnvelopeKind::Receipt, receipt.encode_payload()).unwrap();
    assert!(matches!(
        forged.verify_receipt().unwrap_err(),
        ValidationError::NotAParty {
            field: "signer",
            ..
        }
    ));
}

#[test]
fn a_bad_signature_is_refused() {
    let env = question().sign(&buyer()).unwrap();
    let mut bytes = env.as_bytes().to_vec();
    // The last byte is inside the signature's S.
    *bytes.last_mut().unwrap() ^= 0x01;
    let tampered = SignedEnvelope::decode(&bytes).unwrap();
    assert_eq!(
        tampered.verify_message(NOW).unwrap_err(),
        ValidationError::BadSignature
    );
    // A signature over the same payload under the kind "listing" does not verify as a message
    // (the kind is in the signed bytes).
    let as_listing =
        SignedEnvelope::sign(&buyer(), EnvelopeKind::Listing, question().encode_payload()).unwrap();
    let mut bytes = as_listing.as_bytes().to_vec();
    bytes[2] = EnvelopeKind::Message as u8;
    let relabelled = SignedEnvelope::decode(&bytes).unwrap();
    assert_eq!(
        relabelled.verify_message(NOW).unwrap_err(),
        ValidationError::BadSignature
    );
}

#[test]
fn oversize_input_is_refused_before_decoding() {
    let big = vec![0u8; MAX_ENVELOPE_BYTES + 1];
    assert!(matches!(
        SignedEnvelope::decode(&big).unwrap_err(),
        ValidationError::TooLarge {
            what: "envelope",
            ..
        }
    ));
    // docs/PROTOCOL.md states this figure.
    assert_eq!(MAX_SEALED_BYTES, 16_484);
    let big = vec![0u8; MAX_SEALED_BYTES + 1];
    assert_eq!(
        Sealed::decode(&big).unwrap_err(),
        ValidationError::TooLarge {
            what: "sealed message",
            limit: MAX_SEALED_BYTES,
            actual: MAX_SEALED_BYTES + 1
        }
    );
}

#[test]
fn the_largest_message_fits_the_largest_bucket() {
    // The longest text in the widest characters, the longest item key, the largest times.
    let sent_at = u64::MAX - MAX_MESSAGE_LIFETIME_SECS;
    let about = ListingRef {
        item_key: "k".repeat(MAX_ITEM_KEY_BYTES),
        ..about()
    };
    let b = buyer().public();
    let msg = DirectMessage {
        thread: ThreadId::derive(&about.id(), &b),
        about,
        seq: u64::MAX,
        sent_at,
        expires_at: u64::MAX,
        body: MessageBody::Text("𝄞".repeat(MAX_MESSAGE_TEXT_CHARS)),
        ..question()
    };
    let v = msg.sign(&buyer()).unwrap().verify_message(sent_at).unwrap();
    let sealed = seal(&v, &seller().public()).unwrap();
    assert!(sealed.as_bytes().len() <= MAX_SEALED_BYTES);
    let back = Sealed::decode(sealed.as_bytes()).unwrap();
    assert_eq!(open(&back, &seller(), sent_at).unwrap().payload(), &msg);
}

#[test]
fn a_sealed_message_for_another_key_is_refused() {
    let env = question().sign(&buyer()).unwrap();
    let sealed = raw_seal(
        &env,
        &seller().public(),
        RecipientTag::of(&seller().public()),
        question().expires_at,
    );
    open(&sealed, &seller(), NOW).unwrap();
    // The tag names the seller: the buyer does not even try.
    assert_eq!(
        open(&sealed, &buyer(), NOW).unwrap_err(),
        ValidationError::WrongRecipient { field: "tag" }
    );
    // The tag names the buyer but the ciphertext was sealed to the seller's key.
    let mislabelled = raw_seal(
        &env,
        &seller().public(),
        RecipientTag::of(&buyer().public()),
        question().expires_at,
    );
    assert_eq!(
        open(&mislabelled, &buyer(), NOW).unwrap_err(),
        ValidationError::Undecryptable
    );
    // Sealed to the seller, but the signed message inside is for the buyer (the seller's
    // reply, forwarded): the inner recipient field decides.
    let mut reply = question();
    reply.recipient = buyer().public();
    let reply = reply.sign(&seller()).unwrap();
    let forwarded = raw_seal(
        &reply,
        &seller().public(),
        RecipientTag::of(&seller().public()),
        question().expires_at,
    );
    assert_eq!(
        open(&forwarded, &seller(), NOW).unwrap_err(),
        ValidationError::WrongRecipient { field: "recipient" }
    );
}

#[test]
fn a_relay_cannot_change_the_header() {
    let env = question().sign(&buyer()).unwrap();
    let v = env.verify_message(NOW).unwrap();
    let sealed = seal(&v, &seller().public()).unwrap();
    // The same enc and ciphertext under a later expiry: the AAD no longer matches.
    let later = sealed.reheadered(sealed.tag(), sealed.expires_at() + 86_400);
    let later = Sealed::decode(&later).unwrap();
    assert_eq!(
        open(&later, &seller(), NOW).unwrap_err(),
        ValidationError::Undecryptable
    );
    // Relabelled for another recipient: that one cannot decrypt it.
    let relabelled = sealed.reheadered(RecipientTag::of(&buyer().public()), sealed.expires_at());
    let relabelled = Sealed::decode(&relabelled).unwrap();
    assert_eq!(
        open(&relabelled, &buyer(), NOW).unwrap_err(),
        ValidationError::Undecryptable
    );
}

#[test]
fn expiry_is_checked_in_the_header_and_inside() {
    let env = question().sign(&buyer()).unwrap();
    let inner = question().expires_at;
    let tag = RecipientTag::of(&seller().public());
    let to = seller().public();
    // The header has expired.
    let sealed = raw_seal(&env, &to, tag, inner);
    assert_eq!(
        open(&sealed, &seller(), inner).unwrap_err(),
        ValidationError::Expired {
            expires_at: inner,
            now: inner
        }
    );
    // The header was sealed with a later expiry than the signed message (a sender trying to
    // make mailboxes keep it longer): refused once the message itself has expired...
    let stretched = raw_seal(&env, &to, tag, inner + 100);
    assert_eq!(
        open(&stretched, &seller(), inner + 10).unwrap_err(),
        ValidationError::Expired {
            expires_at: inner,
            now: inner + 10
        }
    );
    // ...and before, because the two disagree.
    assert_eq!(
        open(&stretched, &seller(), NOW).unwrap_err(),
        ValidationError::ExpiryMismatch {
            header: inner + 100,
            inner
        }
    );
    let shortened = raw_seal(&env, &to, tag, inner - 100);
    assert_eq!(
        open(&shortened, &seller(), NOW).unwrap_err(),
        ValidationError::ExpiryMismatch {
            header: inner - 100,
            inner
        }
    );
}

#[test]
fn the_padding_must_be_zeros_and_the_length_must_fit() {
    let env = question().sign(&buyer()).unwrap();
    let to = seller().public();
    let tag = RecipientTag::of(&to);
    let expires_at = question().expires_at;
    let mut dirty = plaintext(env.as_bytes(), 1024);
    *dirty.last_mut().unwrap() = 1;
    let sealed = seal_plaintext(&to, tag, expires_at, &dirty, EPHEMERAL).unwrap();
    assert!(matches!(
        open(&sealed, &seller(), NOW).unwrap_err(),
        ValidationError::BadPadding { .. }
    ));
    let mut long = plaintext(env.as_bytes(), 1024);
    long[..2].copy_from_slice(&1023u16.to_be_bytes());
    let sealed = seal_plaintext(&to, tag, expires_at, &long, EPHEMERAL).unwrap();
    assert!(matches!(
        open(&sealed, &seller(), NOW).unwrap_err(),
        ValidationError::BadPadding { .. }
    ));
    let sealed = seal_plaintext(&to, tag, expires_at, &[0], EPHEMERAL).unwrap();
    assert!(matches!(
        open(&sealed, &seller(), NOW).unwrap_err(),
        ValidationError::BadPadding { .. }
    ));
    // A ciphertext whose length is not a bucket is refused before anyone tries to open it.
    let odd = seal_plaintext(
        &to,
        tag,
        expires_at,
        &plaintext(env.as_bytes(), 1000),
        EPHEMERAL,
    )
    .unwrap();
    assert!(matches!(
        Sealed::decode(odd.as_bytes()).unwrap_err(),
        ValidationError::Invalid {
            field: "ciphertext",
            ..
        }
    ));
    assert_eq!(SEAL_BUCKETS[1], 1024);
}

#[test]
fn what_is_inside_must_be_a_valid_signed_message() {
    let to = seller().public();
    let tag = RecipientTag::of(&to);
    let expires_at = question().expires_at;
    // A receipt is not a message.
    let receipt = Receipt {
        message: EnvelopeHash([1; 32]),
        sender: buyer().public(),
        received_at: NOW,
    }
    .sign(&seller())
    .unwrap();
    let sealed = raw_seal(&receipt, &to, tag, expires_at);
    assert_eq!(
        open(&sealed, &seller(), NOW).unwrap_err(),
        ValidationError::WrongKind {
            expected: "message",
            found: 4
        }
    );
    // A message with a broken signature.
    let env = question().sign(&buyer()).unwrap();
    let mut bytes = env.as_bytes().to_vec();
    *bytes.last_mut().unwrap() ^= 0x01;
    let broken = SignedEnvelope::decode(&bytes).unwrap();
    let sealed = raw_seal(&broken, &to, tag, expires_at);
    assert_eq!(
        open(&sealed, &seller(), NOW).unwrap_err(),
        ValidationError::BadSignature
    );
    // A message signed by a stranger.
    let forged = raw_sign(&question(), &stranger());
    let sealed = raw_seal(&forged, &to, tag, expires_at);
    assert!(matches!(
        open(&sealed, &seller(), NOW).unwrap_err(),
        ValidationError::NotAParty {
            field: "signer",
            ..
        }
    ));
}

#[test]
fn an_unknown_sealed_version_is_named() {
    let v = question()
        .sign(&buyer())
        .unwrap()
        .verify_message(NOW)
        .unwrap();
    let sealed = seal(&v, &seller().public()).unwrap();
    let mut bytes = sealed.into_bytes();
    // [0x85, version, ...]: version 1 is the second byte.
    assert_eq!(bytes[1], 1);
    bytes[1] = 2;
    assert_eq!(
        Sealed::decode(&bytes).unwrap_err(),
        ValidationError::UnsupportedVersion {
            what: "sealed message",
            found: 2,
            supported: 1
        }
    );
}
