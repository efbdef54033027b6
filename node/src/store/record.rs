//! What the store keeps per listing id: the header it decides versions with, a summary for
//! display, and the exact envelope bytes; and how two versions are ordered.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use swapmeet_protocol::{
    glance_stored, seller_id_text, stored_signer, BlockList, EnvelopeHash, ListingGlance,
    ListingId, PublicKey, Record, StoredGlance, Verified, Wanted, Withdrawal,
};

use super::{StoreError, AREA_PRECISION, SHIPPING_AREA, TREE_LISTINGS};

/// The format of a record value written by this version (its first byte). Unchanged by store
/// format 3, which moved the values to fjall as they were.
pub(super) const RECORD_FORMAT: u8 = 2;

/// What kind of record is stored for a listing id.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RecordKind {
    /// An active (possibly expired, until swept) listing.
    Listing,
    /// A withdrawal (sold or withdrawn) that blocks older versions.
    Withdrawal,
    /// A wanted post (what a user is looking for); never shown as a listing.
    Wanted,
    /// A block list (one per author); applied only if the user trusts its author.
    BlockList,
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
    /// The highest price in stock, when a listing's variants in stock differ in price (then
    /// `price_minor` is the lowest: "from").
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub price_max_minor: Option<u64>,
    /// How many variants (sizes, colours) the listing has.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub variants: u32,
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
    /// SHA-256 (hex) of the first photo's thumbnail, so a result can show it without fetching
    /// the photo (`GET /v1/blobs/{thumb}`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub thumb: Option<String>,
}

fn is_zero(n: &u32) -> bool {
    *n == 0
}

impl Summary {
    /// Fills the descriptive fields a withdrawal lacks from the version it replaces.
    pub(super) fn inherit(&mut self, old: &Summary) {
        if self.title.is_empty() {
            self.title = old.title.clone();
            self.price_minor = old.price_minor;
            self.price_max_minor = old.price_max_minor;
            self.variants = old.variants;
            self.currency = old.currency.clone();
            self.condition = old.condition.clone();
            self.category = old.category.clone();
            self.place = old.place.clone();
            self.quantity = old.quantity;
            self.thumb = old.thumb.clone();
        }
    }

    /// Builds the summary of a verified record.
    pub fn of(record: &Verified<Record>) -> Summary {
        Summary::from_parts(record.signer().as_bytes(), record.payload())
    }

    /// Builds the summary of a record signed by `signer`.
    pub fn from_parts(signer: &[u8; 32], record: &Record) -> Summary {
        match record {
            Record::Listing(l) => Summary::of_listing(signer, &l.glance()),
            Record::Withdrawal(w) => Summary::of_withdrawal(signer, w),
            Record::Wanted(w) => Summary::of_wanted(signer, w),
            Record::BlockList(b) => Summary::of_blocklist(signer, b),
        }
    }

    /// Builds the summary from what [`glance_stored`] read.
    fn from_glance(signer: &[u8; 32], glance: &StoredGlance) -> Summary {
        match glance {
            StoredGlance::Listing(g) => Summary::of_listing(signer, g),
            StoredGlance::Withdrawal(w) => Summary::of_withdrawal(signer, w),
            StoredGlance::Wanted(w) => Summary::of_wanted(signer, w),
            StoredGlance::BlockList(b) => Summary::of_blocklist(signer, b),
        }
    }

    fn of_listing(signer: &[u8; 32], g: &ListingGlance) -> Summary {
        let (price_minor, currency) = match &g.price {
            swapmeet_protocol::Price::Free => (None, None),
            swapmeet_protocol::Price::Fixed {
                amount_minor,
                currency,
            } => (Some(*amount_minor), Some(currency.code().to_string())),
        };
        Summary {
            seller: seller_id_text(signer),
            title: g.title.clone(),
            price_minor,
            currency,
            price_max_minor: g.price_max.map(|p| match p {
                swapmeet_protocol::Price::Free => 0,
                swapmeet_protocol::Price::Fixed { amount_minor, .. } => amount_minor,
            }),
            variants: u32::try_from(g.variants).unwrap_or(u32::MAX),
            condition: g.condition.map(|c| c.as_str().to_string()),
            category: g.category.map(|c| c.as_str().to_string()),
            geohash: g
                .location
                .as_ref()
                .map(|loc| loc.geohash.as_str().to_string()),
            place: g.location.as_ref().and_then(|loc| loc.place.clone()),
            ships: g.shipping,
            quantity: Some(g.quantity),
            reason: None,
            thumb: g.thumb.map(hex::encode),
        }
    }

    /// A wanted post's summary: its price is the most the poster would pay.
    fn of_wanted(signer: &[u8; 32], w: &Wanted) -> Summary {
        let (price_minor, currency) = match &w.max_price {
            swapmeet_protocol::Price::Free => (None, None),
            swapmeet_protocol::Price::Fixed {
                amount_minor,
                currency,
            } => (Some(*amount_minor), Some(currency.code().to_string())),
        };
        Summary {
            seller: seller_id_text(signer),
            title: w.title.clone(),
            price_minor,
            currency,
            price_max_minor: None,
            variants: 0,
            condition: None,
            category: Some(w.category.as_str().to_string()),
            geohash: Some(w.location.geohash.as_str().to_string()),
            place: w.location.place.clone(),
            ships: false,
            quantity: None,
            reason: None,
            thumb: None,
        }
    }

    /// A summary of `signer`'s record with nothing else known: what withdrawals and block
    /// lists start from.
    fn bare(signer: &[u8; 32]) -> Summary {
        Summary {
            seller: seller_id_text(signer),
            title: String::new(),
            price_minor: None,
            currency: None,
            price_max_minor: None,
            variants: 0,
            condition: None,
            category: None,
            geohash: None,
            place: None,
            ships: false,
            quantity: None,
            reason: None,
            thumb: None,
        }
    }

    /// A block list's summary: its author, how many sellers it names (as the quantity), and
    /// the shipping area every node follows.
    fn of_blocklist(signer: &[u8; 32], b: &BlockList) -> Summary {
        Summary {
            ships: true,
            quantity: Some(u32::try_from(b.entries.len()).unwrap_or(u32::MAX)),
            ..Summary::bare(signer)
        }
    }

    fn of_withdrawal(signer: &[u8; 32], w: &Withdrawal) -> Summary {
        Summary {
            geohash: w.area.as_ref().map(|a| a.as_str().to_string()),
            ships: w.ships,
            reason: Some(
                match w.reason {
                    swapmeet_protocol::WithdrawReason::Sold => "sold",
                    swapmeet_protocol::WithdrawReason::Withdrawn => "withdrawn",
                }
                .to_string(),
            ),
            ..Summary::bare(signer)
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

/// Fixed part of a record value: format, kind, seq, signed-at, expires-at, the geohash cell
/// (length + 6 bytes), flags, and the length of a stored summary.
const HEADER_LEN: usize = 1 + 1 + 8 + 8 + 8 + 1 + 6 + 1 + 2;
/// Flag: the item ships.
const FLAG_SHIPS: u8 = 1;
/// Longest geohash a listing may carry (protocol limit); the header reserves this many bytes.
const CELL_LEN: usize = 6;
/// The format-1 header (before the store kept its lookups in memory), still read when an old
/// store is upgraded.
const V1_HEADER_LEN: usize = 1 + 1 + 8 + 8 + 8 + 32 + 4;

/// What the store needs of a record to decide versions and keep its lookups: everything but
/// the summary, read without decoding the payload.
#[derive(Clone, Debug, PartialEq)]
pub(super) struct Head {
    pub(super) kind: RecordKind,
    pub(super) seq: u64,
    pub(super) signed_at: u64,
    pub(super) expires_at: u64,
    pub(super) hash: EnvelopeHash,
    pub(super) seller: [u8; 32],
    pub(super) cell: Option<String>,
    pub(super) ships: bool,
}

fn areas_of(cell: Option<&str>, ships: bool) -> Vec<String> {
    let mut areas = Vec::with_capacity(2);
    if let Some(g) = cell {
        areas.push(g.get(..AREA_PRECISION).unwrap_or(g).to_string());
    }
    if ships {
        areas.push(SHIPPING_AREA.to_string());
    }
    areas
}

impl StoredRecord {
    /// Builds the record for a verified envelope.
    pub fn from_verified(record: &Verified<Record>) -> StoredRecord {
        let kind = match record.payload() {
            Record::Listing(_) => RecordKind::Listing,
            Record::Withdrawal(_) => RecordKind::Withdrawal,
            Record::Wanted(_) => RecordKind::Wanted,
            Record::BlockList(_) => RecordKind::BlockList,
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
        areas_of(self.summary.geohash.as_deref(), self.summary.ships)
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

    pub(super) fn head(&self) -> Result<Head, StoreError> {
        Ok(Head {
            kind: self.kind,
            seq: self.seq,
            signed_at: self.signed_at,
            expires_at: self.expires_at,
            hash: self.hash,
            seller: stored_signer(&self.envelope).map_err(|e| StoreError::Corrupt {
                tree: TREE_LISTINGS,
                reason: format!("listing {}: envelope: {e}", self.id),
            })?,
            cell: self.summary.geohash.clone(),
            ships: self.summary.ships,
        })
    }

    /// The stored value. A listing's summary is not stored: it is read back from the envelope
    /// (the envelope is most of the value, and the summary would nearly double it). A
    /// withdrawal keeps the summary of what it withdrew, which its envelope does not carry.
    pub(super) fn encode(&self) -> Vec<u8> {
        let summary = match self.kind {
            // serde_json of a struct we define cannot fail.
            RecordKind::Withdrawal => serde_json::to_vec(&self.summary).unwrap_or_default(),
            RecordKind::Listing | RecordKind::Wanted | RecordKind::BlockList => Vec::new(),
        };
        let mut out = Vec::with_capacity(HEADER_LEN + summary.len() + self.envelope.len());
        out.push(RECORD_FORMAT);
        out.push(match self.kind {
            RecordKind::Listing => 1,
            RecordKind::Withdrawal => 2,
            RecordKind::Wanted => 3,
            RecordKind::BlockList => 4,
        });
        out.extend_from_slice(&self.seq.to_be_bytes());
        out.extend_from_slice(&self.signed_at.to_be_bytes());
        out.extend_from_slice(&self.expires_at.to_be_bytes());
        let cell = self.summary.geohash.as_deref().unwrap_or("").as_bytes();
        let cell = &cell[..cell.len().min(CELL_LEN)];
        out.push(cell.len() as u8);
        let mut padded = [0u8; CELL_LEN];
        padded[..cell.len()].copy_from_slice(cell);
        out.extend_from_slice(&padded);
        out.push(if self.summary.ships { FLAG_SHIPS } else { 0 });
        // A summary is a few hundred bytes (its fields are capped by the protocol).
        out.extend_from_slice(&(summary.len().min(u16::MAX as usize) as u16).to_be_bytes());
        out.extend_from_slice(&summary);
        out.extend_from_slice(&self.envelope);
        out
    }

    /// Reads a stored value: the whole record, summary included.
    pub(crate) fn decode(id: ListingId, bytes: &[u8]) -> Result<StoredRecord, StoreError> {
        if bytes.first() == Some(&1) {
            return decode_v1(id, bytes);
        }
        let Parts {
            head,
            summary,
            envelope,
        } = split(id, bytes)?;
        let summary = match summary {
            Some(json) => {
                serde_json::from_slice(json).map_err(|e| corrupt(id, &format!("summary: {e}")))?
            }
            None => {
                let (signer, glance) =
                    glance_stored(envelope).map_err(|e| corrupt(id, &format!("envelope: {e}")))?;
                Summary::from_glance(&signer, &glance)
            }
        };
        Ok(StoredRecord {
            id,
            kind: head.kind,
            seq: head.seq,
            signed_at: head.signed_at,
            expires_at: head.expires_at,
            hash: head.hash,
            summary,
            envelope: envelope.to_vec(),
        })
    }

    /// Reads only what deciding versions and the lookups need (no payload decoding).
    pub(super) fn decode_head(id: ListingId, bytes: &[u8]) -> Result<Head, StoreError> {
        if bytes.first() == Some(&1) {
            return decode_v1(id, bytes)?.head();
        }
        split(id, bytes).map(|p| p.head)
    }

    /// Whether a stored value is in an older format and should be rewritten.
    pub(super) fn is_outdated(bytes: &[u8]) -> bool {
        bytes.first() != Some(&RECORD_FORMAT)
    }
    /// Orders versions of one listing: higher seq wins; at equal seq the higher envelope hash
    /// wins, so every node picks the same version when a seller signed two different ones.
    fn version(&self) -> (u64, [u8; 32]) {
        (self.seq, self.hash.0)
    }
}

fn corrupt(id: ListingId, reason: &str) -> StoreError {
    StoreError::Corrupt {
        tree: TREE_LISTINGS,
        reason: format!("listing {id}: {reason}"),
    }
}

fn u64_at(bytes: &[u8], at: usize) -> u64 {
    let mut b = [0u8; 8];
    b.copy_from_slice(&bytes[at..at + 8]);
    u64::from_be_bytes(b)
}

/// A format-2 value taken apart.
struct Parts<'a> {
    head: Head,
    /// The stored summary (withdrawals only).
    summary: Option<&'a [u8]>,
    envelope: &'a [u8],
}

/// Splits a format-2 value into its head, its stored summary and its envelope.
fn split(id: ListingId, bytes: &[u8]) -> Result<Parts<'_>, StoreError> {
    if bytes.len() < HEADER_LEN {
        return Err(corrupt(id, "value shorter than its header"));
    }
    if bytes[0] != RECORD_FORMAT {
        return Err(corrupt(id, "unknown record format"));
    }
    let kind = match bytes[1] {
        1 => RecordKind::Listing,
        2 => RecordKind::Withdrawal,
        3 => RecordKind::Wanted,
        4 => RecordKind::BlockList,
        _ => return Err(corrupt(id, "unknown record kind")),
    };
    let cell_len = bytes[26] as usize;
    if cell_len > CELL_LEN {
        return Err(corrupt(id, "geohash cell longer than 6"));
    }
    let cell = match cell_len {
        0 => None,
        n => Some(
            std::str::from_utf8(&bytes[27..27 + n])
                .map_err(|_| corrupt(id, "geohash cell is not text"))?
                .to_string(),
        ),
    };
    let ships = bytes[33] & FLAG_SHIPS != 0;
    let summary_len = u16::from_be_bytes([bytes[34], bytes[35]]) as usize;
    let summary_end = HEADER_LEN + summary_len;
    if summary_end > bytes.len() {
        return Err(corrupt(id, "summary runs past the value"));
    }
    let envelope = &bytes[summary_end..];
    let seller = stored_signer(envelope).map_err(|e| corrupt(id, &format!("envelope: {e}")))?;
    let head = Head {
        kind,
        seq: u64_at(bytes, 2),
        signed_at: u64_at(bytes, 10),
        expires_at: u64_at(bytes, 18),
        hash: EnvelopeHash(Sha256::digest(envelope).into()),
        seller,
        cell,
        ships,
    };
    let summary = (summary_len > 0).then(|| &bytes[HEADER_LEN..summary_end]);
    Ok(Parts {
        head,
        summary,
        envelope,
    })
}

/// Reads a format-1 value (header with the hash, JSON summary, envelope).
fn decode_v1(id: ListingId, bytes: &[u8]) -> Result<StoredRecord, StoreError> {
    if bytes.len() < V1_HEADER_LEN {
        return Err(corrupt(id, "value shorter than its header"));
    }
    let kind = match bytes[1] {
        1 => RecordKind::Listing,
        2 => RecordKind::Withdrawal,
        _ => return Err(corrupt(id, "unknown record kind")),
    };
    let mut hash = [0u8; 32];
    hash.copy_from_slice(&bytes[26..58]);
    let mut len = [0u8; 4];
    len.copy_from_slice(&bytes[58..62]);
    let summary_len = u32::from_be_bytes(len) as usize;
    let summary_end = V1_HEADER_LEN
        .checked_add(summary_len)
        .filter(|end| *end <= bytes.len())
        .ok_or_else(|| corrupt(id, "summary runs past the value"))?;
    let summary = serde_json::from_slice(&bytes[V1_HEADER_LEN..summary_end])
        .map_err(|e| corrupt(id, &format!("summary: {e}")))?;
    Ok(StoredRecord {
        id,
        kind,
        seq: u64_at(bytes, 2),
        signed_at: u64_at(bytes, 10),
        expires_at: u64_at(bytes, 18),
        hash: EnvelopeHash(hash),
        summary,
        envelope: bytes[summary_end..].to_vec(),
    })
}

/// Encodes a record in format 1, for the upgrade test.
#[cfg(test)]
pub(super) fn encode_v1(rec: &StoredRecord) -> Vec<u8> {
    let summary = serde_json::to_vec(&rec.summary).unwrap_or_default();
    let mut out = vec![
        1u8,
        if rec.kind == RecordKind::Listing {
            1
        } else {
            2
        },
    ];
    out.extend_from_slice(&rec.seq.to_be_bytes());
    out.extend_from_slice(&rec.signed_at.to_be_bytes());
    out.extend_from_slice(&rec.expires_at.to_be_bytes());
    out.extend_from_slice(&rec.hash.0);
    out.extend_from_slice(&(summary.len() as u32).to_be_bytes());
    out.extend_from_slice(&summary);
    out.extend_from_slice(&rec.envelope);
    out
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
    decide_versions(current.map(|c| (c.seq, c.hash)), incoming)
}

/// [`decide`] on the stored version's seq and hash.
pub(super) fn decide_versions(
    current: Option<(u64, EnvelopeHash)>,
    incoming: &StoredRecord,
) -> Decision {
    match current {
        None => Decision::Accept { replaced: None },
        Some((_, hash)) if hash == incoming.hash => Decision::Duplicate,
        Some((seq, hash)) if incoming.version() > (seq, hash.0) => Decision::Accept {
            replaced: Some(seq),
        },
        Some((seq, _)) => Decision::Stale { current_seq: seq },
    }
}
