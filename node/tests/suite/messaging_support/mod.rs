//! What the tests of private messages between nodes share: seeded keys, the clock, and
//! messages a test signs and seals itself (as a peer holding the buyer's key could).

use std::time::{SystemTime, UNIX_EPOCH};

use swapmeet_protocol::limits::MAX_MESSAGE_LIFETIME_SECS;
use swapmeet_protocol::{
    seal, DirectMessage, EnvelopeHash, ListingRef, MessageBody, Sealed, SecretKey, ThreadId,
};

/// The key seeded with `n`.
pub fn key(n: u8) -> SecretKey {
    SecretKey::from_bytes([n; 32])
}

/// Unix seconds now.
pub fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// A listing of `seller`'s, as a message refers to it.
pub fn about(seller: &SecretKey, item: &str) -> ListingRef {
    ListingRef {
        seller: seller.public(),
        item_key: item.into(),
        version: EnvelopeHash([7; 32]),
    }
}

/// A message from `buyer` to `seller` about `item`, signed and sealed by the test itself (as
/// a peer with the buyer's key could), valid at `verify_at`.
pub fn sealed_from_buyer(
    buyer: &SecretKey,
    seller: &SecretKey,
    item: &str,
    seq: u64,
    text: &str,
    (sent_at, expires_at): (u64, u64),
    verify_at: u64,
) -> Sealed {
    let about = about(seller, item);
    let message = DirectMessage {
        recipient: seller.public(),
        buyer: buyer.public(),
        thread: ThreadId::derive(&about.id(), &buyer.public()),
        seq,
        sent_at,
        expires_at,
        about,
        body: MessageBody::Text(text.into()),
    };
    let verified = message
        .sign(buyer)
        .unwrap()
        .verify_message(verify_at)
        .unwrap();
    seal(&verified, &seller.public()).unwrap()
}

/// Sent now, for the longest lifetime a message may have.
pub fn fresh() -> (u64, u64) {
    let t = now();
    (t, t + MAX_MESSAGE_LIFETIME_SECS)
}
