//! A block list: a key's signed list of the seller keys it blocks, each with a short reason.
//! Envelopes of kind `blocklist` (7).
//!
//! A block list is a record like a listing (stored, gossiped, synced, put in the DHT), so a
//! list reaches the nodes whose users chose to trust its author the way listings reach them.
//! It acts on nobody by itself: a node applies a list only when its user trusts the list's
//! author (`swapmeet blocklist trust KEY`), never one list imposed on everyone.
//!
//! Each author has one list: its id is derived from the author and the reserved item key
//! [`BLOCKLIST_ITEM_KEY`], which contains a control character no listing's or wanted post's
//! item key may contain, so the id never collides with theirs. A newer list (higher `seq`)
//! replaces an older one whole. A list has no location: it is routed in the shipping area
//! (`ship`), which every node follows, so it reaches trusting users wherever they live.

use serde::{Deserialize, Serialize};

use crate::cbor::{encode, Keys, Reader};
use crate::encoding::check_line;
use crate::envelope::{EnvelopeKind, SignedEnvelope};
use crate::error::ValidationError;
use crate::keys::{PublicKey, SecretKey};
use crate::limits::{MAX_BLOCKLIST_ENTRIES, MAX_BLOCK_REASON_CHARS};
use crate::listing::{check_lifetime, check_seq, ListingId};

/// Version of the block list payload format.
pub const BLOCKLIST_VERSION: u64 = 1;

/// The item key every block list's id is derived from (`ListingId::derive(author, this)`).
/// It starts with U+0001, a control character that listing and wanted item keys may not hold.
pub const BLOCKLIST_ITEM_KEY: &str = "\u{1}blocklist";

/// One blocked seller and why.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BlockEntry {
    /// The blocked seller's key.
    pub seller: PublicKey,
    /// Why, shown to the users who trust the list (at most [`MAX_BLOCK_REASON_CHARS`]
    /// characters, one line; may be empty).
    pub reason: String,
}

/// A key's block list.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BlockList {
    /// Version: a list with a higher seq replaces the author's earlier one whole.
    pub seq: u64,
    /// Signing time, unix seconds.
    pub signed_at: u64,
    /// Expiry, unix seconds (at most 30 days after signing, as a listing: the author
    /// republishes the list to keep it alive).
    pub expires_at: u64,
    /// The blocked sellers, sorted by key bytes, each key once; at most
    /// [`MAX_BLOCKLIST_ENTRIES`] (and the whole envelope within its byte cap).
    pub entries: Vec<BlockEntry>,
}

impl BlockList {
    /// The id of `author`'s block list.
    pub fn id_of(author: &PublicKey) -> ListingId {
        ListingId::derive(author, BLOCKLIST_ITEM_KEY)
    }

    /// Sorts the entries into their canonical order (by key bytes) and drops repeated keys,
    /// keeping the first reason given for each.
    pub fn normalize(&mut self) {
        let mut seen = std::collections::HashSet::new();
        self.entries.retain(|e| seen.insert(*e.seller.as_bytes()));
        self.entries
            .sort_by(|a, b| a.seller.as_bytes().cmp(b.seller.as_bytes()));
    }

    /// Whether the list names `seller`.
    pub fn blocks(&self, seller: &[u8; 32]) -> bool {
        self.entries
            .binary_search_by(|e| e.seller.as_bytes().cmp(seller))
            .is_ok()
    }

    /// Checks every structural rule (not the clock: see `SignedEnvelope::verify`).
    pub fn validate(&self) -> Result<(), ValidationError> {
        check_seq(self.seq)?;
        check_lifetime(self.signed_at, self.expires_at)?;
        if self.entries.len() > MAX_BLOCKLIST_ENTRIES {
            return Err(ValidationError::TooMany {
                field: "entries",
                limit: MAX_BLOCKLIST_ENTRIES,
                actual: self.entries.len(),
            });
        }
        for pair in self.entries.windows(2) {
            if pair[0].seller.as_bytes() >= pair[1].seller.as_bytes() {
                return Err(ValidationError::invalid(
                    "entries",
                    "must be sorted by seller key bytes, each key once",
                ));
            }
        }
        for e in &self.entries {
            check_line("reason", &e.reason, MAX_BLOCK_REASON_CHARS, false)?;
        }
        Ok(())
    }

    /// Validates, encodes and signs (the envelope's byte cap applies to the whole list).
    pub fn sign(&self, key: &SecretKey) -> Result<SignedEnvelope, ValidationError> {
        self.validate()?;
        SignedEnvelope::sign(key, EnvelopeKind::BlockList, self.encode_payload())
    }

    /// The canonical payload bytes: a map with keys in ascending order; `entries` (4) is an
    /// array of `[seller key bytes, reason]` pairs.
    pub(crate) fn encode_payload(&self) -> Vec<u8> {
        encode(|e| {
            e.map(5)?;
            e.u8(0)?.u64(BLOCKLIST_VERSION)?;
            e.u8(1)?.u64(self.seq)?;
            e.u8(2)?.u64(self.signed_at)?;
            e.u8(3)?.u64(self.expires_at)?;
            e.u8(4)?.array(self.entries.len() as u64)?;
            for entry in &self.entries {
                e.array(2)?
                    .bytes(entry.seller.as_bytes())?
                    .str(&entry.reason)?;
            }
            Ok(())
        })
    }

    /// Decodes payload bytes (structure only; `validate` follows).
    pub(crate) fn decode_payload(bytes: &[u8]) -> Result<BlockList, ValidationError> {
        let mut r = Reader::new(bytes, "blocklist");
        let n = r.map(5)?;
        let mut keys = Keys::new();
        let (mut version, mut seq, mut signed_at, mut expires_at, mut entries) =
            (None, None, None, None, None);
        for _ in 0..n {
            match keys.next(&mut r)? {
                0 => version = Some(r.u64()?),
                1 => seq = Some(r.u64()?),
                2 => signed_at = Some(r.u64()?),
                3 => expires_at = Some(r.u64()?),
                4 => {
                    // The length is checked against the limit before anything is allocated.
                    let len = r.array("entries", MAX_BLOCKLIST_ENTRIES)?;
                    let mut list = Vec::with_capacity(len);
                    for _ in 0..len {
                        if r.array("entry", 2)? != 2 {
                            return Err(ValidationError::malformed(
                                "blocklist",
                                "an entry is [seller, reason]",
                            ));
                        }
                        let seller: [u8; 32] = r
                            .bytes()?
                            .try_into()
                            .map_err(|_| ValidationError::invalid("seller", "not 32 bytes"))?;
                        let seller = PublicKey::from_bytes(&seller)?;
                        let reason = r.str()?.to_string();
                        list.push(BlockEntry { seller, reason });
                    }
                    entries = Some(list);
                }
                k => {
                    return Err(ValidationError::malformed(
                        "blocklist",
                        format!("unknown field {k}"),
                    ))
                }
            }
        }
        r.finish()?;
        let missing =
            |f: &'static str| ValidationError::malformed("blocklist", format!("missing {f}"));
        let version = version.ok_or_else(|| missing("version"))?;
        if version != BLOCKLIST_VERSION {
            return Err(ValidationError::UnsupportedVersion {
                what: "blocklist",
                found: version,
                supported: BLOCKLIST_VERSION,
            });
        }
        Ok(BlockList {
            seq: seq.ok_or_else(|| missing("seq"))?,
            signed_at: signed_at.ok_or_else(|| missing("signed_at"))?,
            expires_at: expires_at.ok_or_else(|| missing("expires_at"))?,
            entries: entries.ok_or_else(|| missing("entries"))?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::limits::MAX_ENVELOPE_BYTES;

    fn key(n: u8) -> PublicKey {
        SecretKey::from_bytes([n; 32]).public()
    }

    fn list(entries: Vec<BlockEntry>) -> BlockList {
        let mut l = BlockList {
            seq: 1,
            signed_at: 1_750_000_000,
            expires_at: 1_750_000_000 + 86_400,
            entries,
        };
        l.normalize();
        l
    }

    #[test]
    fn round_trips_and_verifies() {
        let l = list(vec![
            BlockEntry {
                seller: key(2),
                reason: "fake sneakers".into(),
            },
            BlockEntry {
                seller: key(3),
                reason: String::new(),
            },
        ]);
        assert_eq!(BlockList::decode_payload(&l.encode_payload()).unwrap(), l);
        let author = SecretKey::from_bytes([1; 32]);
        let env = l.sign(&author).unwrap();
        let v = env.verify(1_750_000_100).unwrap();
        assert_eq!(v.listing_id(), BlockList::id_of(&author.public()));
        match v.payload() {
            crate::Record::BlockList(got) => {
                assert_eq!(got, &l);
                assert!(got.blocks(key(2).as_bytes()));
                assert!(!got.blocks(key(4).as_bytes()));
            }
            other => panic!("not a block list: {other:?}"),
        }
    }

    #[test]
    fn rejections_name_the_field_and_the_limit() {
        let mut l = list(vec![BlockEntry {
            seller: key(2),
            reason: "x".repeat(MAX_BLOCK_REASON_CHARS + 1),
        }]);
        let e = l.validate().unwrap_err().to_string();
        assert!(
            e.contains("reason") && e.contains(&MAX_BLOCK_REASON_CHARS.to_string()),
            "{e}"
        );

        l.entries = (0..=MAX_BLOCKLIST_ENTRIES)
            .map(|i| BlockEntry {
                seller: SecretKey::from_bytes([(i % 251) as u8; 32]).public(),
                reason: String::new(),
            })
            .collect();
        let e = l.validate().unwrap_err().to_string();
        assert!(
            e.contains("entries") && e.contains(&MAX_BLOCKLIST_ENTRIES.to_string()),
            "{e}"
        );

        // Unsorted or repeated keys have a second byte form: refused.
        let mut l = list(vec![
            BlockEntry {
                seller: key(2),
                reason: String::new(),
            },
            BlockEntry {
                seller: key(3),
                reason: String::new(),
            },
        ]);
        l.entries.reverse();
        assert!(l.validate().unwrap_err().to_string().contains("entries"));
    }

    #[test]
    fn a_full_list_fits_the_envelope_with_short_reasons() {
        let mut entries = Vec::new();
        let mut n = 0u32;
        while entries.len() < MAX_BLOCKLIST_ENTRIES {
            let mut seed = [0u8; 32];
            seed[..4].copy_from_slice(&n.to_be_bytes());
            n += 1;
            entries.push(BlockEntry {
                seller: SecretKey::from_bytes(seed).public(),
                reason: "spam".into(),
            });
        }
        let l = list(entries);
        let env = l.sign(&SecretKey::from_bytes([1; 32])).unwrap();
        assert!(env.as_bytes().len() <= MAX_ENVELOPE_BYTES);
    }
}
