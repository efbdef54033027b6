//! What the store keeps per listing id: the header it decides versions with, a summary for
//! display, and the exact envelope bytes; and how two versions are ordered.

use serde::{Deserialize, Serialize};
use swapmeet_protocol::{EnvelopeHash, ListingId, PublicKey, Record, Verified};

use super::{StoreError, AREA_PRECISION, SHIPPING_AREA, STORE_FORMAT, TREE_LISTINGS};

/// What kind of record is stored for a listing id.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RecordKind {
    /// An active (possibly expired, until swept) listing.
    Listing,
    /// A withdrawal (sold or withdrawn) that blocks older versions.
    Withdrawal,
}

/// The denormalized, already-verified facts about a record that searches and listings of
/// listings show, so that showing a hit never needs to decode and re-verify its envelope.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    /// Seller id (text form).
    pub seller: String,
    /// Listing title (empty for withdrawals).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub title: String,
    /// Price in minor units; `None` means free.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub price_minor: Option<u64>,
    /// ISO 4217 code; `None` means free.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub currency: Option<String>,
    /// Condition slug.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub condition: Option<String>,
    /// Category slug.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub category: Option<String>,
    /// Geohash cell of the listing (or of the withdrawn listing).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub geohash: Option<String>,
    /// Place name, if the seller gave one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub place: Option<String>,
    /// Whether the item ships.
    #[serde(default)]
    pub ships: bool,
    /// Quantity on offer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quantity: Option<u32>,
    /// For withdrawals: "sold" or "withdrawn".
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

impl Summary {
    /// Fills the descriptive fields a withdrawal lacks from the version it replaces.
    pub(super) fn inherit(&mut self, old: &Summary) {
        if self.title.is_empty() {
            self.title = old.title.clone();
            self.price_minor = old.price_minor;
            self.currency = old.currency.clone();
            self.condition = old.condition.clone();
            self.category = old.category.clone();
            self.place = old.place.clone();
            self.quantity = old.quantity;
        }
    }

    /// Builds the summary of a verified record.
    pub fn of(record: &Verified<Record>) -> Summary {
        let seller = record.signer().to_string();
        match record.payload() {
            Record::Listing(l) => {
                let (price_minor, currency) = match &l.price {
                    swapmeet_protocol::Price::Free => (None, None),
                    swapmeet_protocol::Price::Fixed {
                        amount_minor,
                        currency,
                    } => (Some(*amount_minor), Some(currency.code().to_string())),
                };
                Summary {
                    seller,
                    title: l.title.clone(),
                    price_minor,
                    currency,
                    condition: Some(l.condition.as_str().to_string()),
                    category: Some(l.category.as_str().to_string()),
                    geohash: l
                        .location
                        .as_ref()
                        .map(|loc| loc.geohash.as_str().to_string()),
                    place: l.location.as_ref().and_then(|loc| loc.place.clone()),
                    ships: l.delivery.shipping,
                    quantity: Some(l.quantity),
                    reason: None,
                }
            }
            Record::Withdrawal(w) => Summary {
                seller,
                title: String::new(),
                price_minor: None,
                currency: None,
                condition: None,
                category: None,
                geohash: w.area.as_ref().map(|a| a.as_str().to_string()),
                place: None,
                ships: w.ships,
                quantity: None,
                reason: Some(
                    match w.reason {
                        swapmeet_protocol::WithdrawReason::Sold => "sold",
                        swapmeet_protocol::WithdrawReason::Withdrawn => "withdrawn",
                    }
                    .to_string(),
                ),
            },
        }
    }
}

/// One stored record: the header the store decides with, the summary, and the exact envelope.
#[derive(Clone, Debug, PartialEq)]
pub struct StoredRecord {
    /// The listing id.
    pub id: ListingId,
    /// Listing or withdrawal.
    pub kind: RecordKind,
    /// Version number.
    pub seq: u64,
    /// When it was signed (unix seconds).
    pub signed_at: u64,
    /// When the store may forget it (listing expiry, or withdrawal retention).
    pub expires_at: u64,
    /// Hash of the envelope bytes.
    pub hash: EnvelopeHash,
    /// Denormalized facts for display.
    pub summary: Summary,
    /// The exact signed envelope bytes as received.
    pub envelope: Vec<u8>,
}

const HEADER_LEN: usize = 1 + 1 + 8 + 8 + 8 + 32 + 4;

impl StoredRecord {
    /// Builds the record for a verified envelope.
    pub fn from_verified(record: &Verified<Record>) -> StoredRecord {
        let kind = match record.payload() {
            Record::Listing(_) => RecordKind::Listing,
            Record::Withdrawal(_) => RecordKind::Withdrawal,
        };
        StoredRecord {
            id: record.listing_id(),
            kind,
            seq: record.payload().seq(),
            signed_at: record.payload().signed_at(),
            expires_at: record.payload().expires_at(),
            hash: record.hash(),
            summary: Summary::of(record),
            envelope: record.envelope().as_bytes().to_vec(),
        }
    }

    /// The area tags this record belongs to (its cell, and the shipping area if it ships).
    pub fn areas(&self) -> Vec<String> {
        let mut areas = Vec::with_capacity(2);
        if let Some(g) = &self.summary.geohash {
            let end = g.len().min(AREA_PRECISION);
            areas.push(g[..end].to_string());
        }
        if self.summary.ships {
            areas.push(SHIPPING_AREA.to_string());
        }
        areas
    }

    /// The seller's key.
    pub fn seller(&self) -> Result<PublicKey, StoreError> {
        self.summary
            .seller
            .parse()
            .map_err(|e| StoreError::Corrupt {
                tree: TREE_LISTINGS,
                reason: format!("seller id: {e}"),
            })
    }

    /// Whether this record is a live listing at `now`.
    pub fn is_active(&self, now: u64) -> bool {
        self.kind == RecordKind::Listing && self.expires_at > now
    }

    pub(super) fn encode(&self) -> Vec<u8> {
        // serde_json of a struct we define cannot fail.
        let summary = serde_json::to_vec(&self.summary).unwrap_or_default();
        let mut out = Vec::with_capacity(HEADER_LEN + summary.len() + self.envelope.len());
        out.push(STORE_FORMAT);
        out.push(match self.kind {
            RecordKind::Listing => 1,
            RecordKind::Withdrawal => 2,
        });
        out.extend_from_slice(&self.seq.to_be_bytes());
        out.extend_from_slice(&self.signed_at.to_be_bytes());
        out.extend_from_slice(&self.expires_at.to_be_bytes());
        out.extend_from_slice(&self.hash.0);
        out.extend_from_slice(&(summary.len() as u32).to_be_bytes());
        out.extend_from_slice(&summary);
        out.extend_from_slice(&self.envelope);
        out
    }

    pub(super) fn decode(id: ListingId, bytes: &[u8]) -> Result<StoredRecord, StoreError> {
        let corrupt = |reason: &str| StoreError::Corrupt {
            tree: TREE_LISTINGS,
            reason: format!("listing {id}: {reason}"),
        };
        if bytes.len() < HEADER_LEN {
            return Err(corrupt("value shorter than its header"));
        }
        if bytes[0] != STORE_FORMAT {
            return Err(corrupt("unknown record format"));
        }
        let kind = match bytes[1] {
            1 => RecordKind::Listing,
            2 => RecordKind::Withdrawal,
            _ => return Err(corrupt("unknown record kind")),
        };
        let u64_at = |at: usize| {
            let mut b = [0u8; 8];
            b.copy_from_slice(&bytes[at..at + 8]);
            u64::from_be_bytes(b)
        };
        let mut hash = [0u8; 32];
        hash.copy_from_slice(&bytes[26..58]);
        let mut len = [0u8; 4];
        len.copy_from_slice(&bytes[58..62]);
        let summary_len = u32::from_be_bytes(len) as usize;
        let summary_end = HEADER_LEN
            .checked_add(summary_len)
            .filter(|end| *end <= bytes.len())
            .ok_or_else(|| corrupt("summary runs past the value"))?;
        let summary = serde_json::from_slice(&bytes[HEADER_LEN..summary_end])
            .map_err(|e| corrupt(&format!("summary: {e}")))?;
        Ok(StoredRecord {
            id,
            kind,
            seq: u64_at(2),
            signed_at: u64_at(10),
            expires_at: u64_at(18),
            hash: EnvelopeHash(hash),
            summary,
            envelope: bytes[summary_end..].to_vec(),
        })
    }

    /// Orders versions of one listing: higher seq wins; at equal seq the higher envelope hash
    /// wins, so every node picks the same version when a seller signed two different ones.
    fn version(&self) -> (u64, [u8; 32]) {
        (self.seq, self.hash.0)
    }
}

/// How the store judged an incoming record against what it had.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Decision {
    /// New or newer: store it. `replaced` is the previous version's seq.
    Accept {
        /// The seq it replaces, if there was a stored version.
        replaced: Option<u64>,
    },
    /// Exactly the stored version.
    Duplicate,
    /// Older than (or losing the tie-break against) the stored version.
    Stale {
        /// The seq of what is stored.
        current_seq: u64,
    },
}

/// Decides between a stored record and an incoming one.
pub fn decide(current: Option<&StoredRecord>, incoming: &StoredRecord) -> Decision {
    match current {
        None => Decision::Accept { replaced: None },
        Some(cur) if cur.hash == incoming.hash => Decision::Duplicate,
        Some(cur) if incoming.version() > cur.version() => Decision::Accept {
            replaced: Some(cur.seq),
        },
        Some(cur) => Decision::Stale {
            current_seq: cur.seq,
        },
    }
}
