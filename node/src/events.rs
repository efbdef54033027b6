//! What changed in the store, broadcast to whoever listens (the network, the API's event
//! stream). A slow listener misses events (and is told how many) rather than slowing ingest.

use std::sync::Arc;

use serde::Serialize;
use std::borrow::Cow;

use swapmeet_protocol::{decode_stored, EnvelopeHash, ListingId, StoredParts, ValidationError};

/// Where a record came from.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "kind", content = "peer")]
pub enum Source {
    /// Authored by this node's user.
    Local,
    /// Received from a peer (its PeerId).
    Peer(String),
    /// Produced by the retailer bridge.
    Bridge,
    /// Imported by the user from a file or the API.
    Import,
    /// Read back from the store (rebuilds, sweeps).
    Store,
}

/// The kind of change.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Change {
    /// A listing the node did not have.
    Listed,
    /// A newer version of a listing it had.
    Updated,
    /// A withdrawal (sold or withdrawn).
    Withdrawn,
    /// Removed by the sweeper because its time was up.
    Expired,
    /// Removed because its seller is now blocked (by the user, or by a block list the user
    /// trusts). Never relayed: the block is this user's choice.
    Blocked,
}

/// One change.
#[derive(Clone, Debug, Serialize)]
pub struct Event {
    /// What happened.
    pub change: Change,
    /// Which listing.
    pub id: ListingId,
    /// Its version.
    pub seq: u64,
    /// Hash of the envelope now stored.
    pub hash: EnvelopeHash,
    /// Where it came from.
    pub source: Source,
    /// The areas it belongs to (gossip topics are derived from these).
    pub areas: Vec<String>,
    /// The signed envelope (for relaying), absent from the JSON form.
    #[serde(skip)]
    pub envelope: Arc<[u8]>,
    /// The envelope decoded, when the writer had it decoded already (ingest verified it), so
    /// listeners that look inside (alerts, photos) do not decode it again; see
    /// [`Event::decoded`].
    #[serde(skip)]
    pub parts: Option<Arc<StoredParts>>,
    /// The signed envelope of the version this one replaced (an update only), absent from the
    /// JSON form: what the alerts compare the new version with (did it match before, was it
    /// dearer).
    #[serde(skip)]
    pub previous: Option<Arc<[u8]>>,
}

impl Event {
    /// The stored record, decoded: the one ingest verified when the event carries it, else read
    /// back from the envelope (stored, so verified: not checked again).
    pub fn decoded(&self) -> Result<Cow<'_, StoredParts>, ValidationError> {
        match &self.parts {
            Some(p) => Ok(Cow::Borrowed(p)),
            None => decode_stored(&self.envelope).map(Cow::Owned),
        }
    }
}
