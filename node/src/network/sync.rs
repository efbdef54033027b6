//! Catch-up sync: two peers reconcile the listing sets of the areas they share with range-based
//! set reconciliation (negentropy), then the one that asked fetches what it lacks in batches.
//!
//! It runs over request-response `/swapmeet/sync/1`. Sync is pull-only: the peer that opens a
//! session learns what it lacks and fetches it; the other side learns nothing and stores
//! nothing. Both peers open a session when they connect, so both end up with the union of the
//! areas each follows.
//!
//! - The set of an area is its members in the store as `(signed-at, envelope hash)`: listings
//!   and withdrawals alike, so a withdrawal syncs like a listing. The set of several areas is
//!   the union of theirs; the area `all` is every record in the store.
//! - Every set also holds every review the node keeps, as `(written_at, envelope hash)`:
//!   nodes keep reviews whatever area they follow (reputation belongs to a key), so the
//!   reviews of two nodes are comparable whatever areas they share, and a node that was
//!   offline catches up on them with its first sync.
//! - **Reconcile**: the initiator sends a negentropy message for a list of areas; the
//!   responder answers with its negentropy reply over its own set of the same areas. The
//!   responder keeps no state between messages (negentropy's responder is stateless).
//! - **Fetch**: up to [`MAX_FETCH_HASHES`] envelope hashes; the answer holds the envelopes the
//!   responder has, as they were signed. What arrives goes through the batch ingest path.
//!
//! Wire format (one message per stream, the writer closes after it; see docs/PROTOCOL.md):
//! a version byte (1), a tag byte, then the body. Every length is bounded before anything is
//! allocated; a peer that sends garbage, asks for absurd ranges, or answers with records it
//! was not asked for is reported to the caller as abuse ([`SyncError::is_abuse`]).
//!
//! Layout: `sync/wire.rs` (the messages' bytes), `sync/codec.rs` (the request-response codec),
//! `sync/server.rs` (the responder), `sync/client.rs` (the initiator's session). The event
//! loop drives sessions in `event_loop/sync.rs`.

mod client;
mod codec;
mod server;
mod wire;

use std::time::Duration;

use swapmeet_protocol::limits::MAX_ENVELOPE_BYTES;

use crate::store::StoreError;

pub use client::{SyncClient, SyncProgress};
pub use codec::{SyncCodec, WireCounters};
pub use server::{area_set, SyncServer};
pub use wire::{SyncRequest, SyncResponse};

/// Wire version of sync messages.
pub const SYNC_WIRE_VERSION: u8 = 1;
/// Most areas in one reconcile request (a node follows at most 96 cells plus `ship`).
pub const MAX_SYNC_AREAS: usize = 128;
/// Negentropy frame size limit, both directions. Larger sets take more rounds, never larger
/// messages.
pub const MAX_RECONCILE_MESSAGE: usize = 256 * 1024;
/// Most hashes in one fetch request.
pub const MAX_FETCH_HASHES: usize = 512;
/// Largest request on the wire.
pub const MAX_REQUEST_BYTES: usize = MAX_RECONCILE_MESSAGE + MAX_SYNC_AREAS * 8 + 64;
/// Largest response on the wire: a full fetch batch of envelopes at the protocol's cap.
pub const MAX_RESPONSE_BYTES: usize = MAX_FETCH_HASHES * (MAX_ENVELOPE_BYTES + 4) + 64;
/// Fetch requests a session keeps in flight.
pub const FETCH_PIPELINE: usize = 4;
/// Most reconcile rounds one session may take before it gives up (a cheating or broken peer
/// could otherwise keep a session alive forever). 100,000 items need about 15 rounds.
pub const MAX_ROUNDS: u32 = 200;
/// How long a responder reuses the set it built for the same areas.
const SET_CACHE_TTL: Duration = Duration::from_secs(5);

/// Errors of sync.
#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    /// The peer sent something malformed or out of bounds.
    #[error("peer misbehaved: {0}")]
    Abuse(String),
    /// The peer refused.
    #[error("peer refused: {0}")]
    Refused(String),
    /// Negentropy failed on our side.
    #[error("reconciliation: {0}")]
    Negentropy(String),
    /// The store.
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl SyncError {
    /// Whether the peer is at fault.
    pub fn is_abuse(&self) -> bool {
        matches!(self, SyncError::Abuse(_))
    }
}
