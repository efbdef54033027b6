//! The per-key listing allowance: free listings, proof-of-work stamps beyond them, and the
//! duplicate fingerprint.
//!
//! Every key may have [`FREE_LISTINGS_PER_KEY`] active listings without a stamp. Beyond that a
//! listing carries a [`Stamp`]: a slot number the seller commits to (each slot holds one
//! active listing of the key) and a nonce whose hash, bound to the seller, the listing id and
//! the slot, has as many leading zero bits as [`required_bits`] asks of that slot. The
//! difficulty is a function of the slot alone, so any node checks a stamp from the record
//! itself, whatever order it learnt the seller's listings in; and it grows with the slot, so a
//! shop's catalogue costs seconds once while a key's hundred thousandth listing costs more
//! than its first thousand together. A stamp is bound to the listing id, not the version: a
//! seller's later versions (price changes, renewals) keep it and cost nothing.
//!
//! What a node does with the slots (one listing per slot, at most the free allowance of
//! unstamped listings, re-posts of the same title and photos) is in `docs/PROTOCOL.md`.

use sha2::{Digest, Sha256};

use crate::error::ValidationError;
use crate::keys::PublicKey;
use crate::limits::{FREE_LISTINGS_PER_KEY, MAX_LISTINGS_PER_KEY, STAMP_BASE_BITS};
use crate::listing::{Listing, ListingId};

/// Domain separation of the stamp's first hash.
const STAMP_DOMAIN: &[u8] = b"swapmeet/stamp/v1\0";
/// Domain separation of the duplicate fingerprint.
const FINGERPRINT_DOMAIN: &[u8] = b"swapmeet/listing-fingerprint/v1\0";

/// A proof-of-work stamp: the slot a listing takes beyond its seller's free allowance, and the
/// nonce that pays for it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub struct Stamp {
    /// The seller's slot for this listing, [`FREE_LISTINGS_PER_KEY`] up to (not including)
    /// [`MAX_LISTINGS_PER_KEY`].
    pub slot: u32,
    /// The nonce found by [`Stamp::mint`].
    pub nonce: u64,
}

/// Leading zero bits a stamp for `slot` must have: [`STAMP_BASE_BITS`] for the first free
/// allowance's worth of slots beyond it, then two more each time the slot doubles. The expected
/// work (2^bits hashes) thus grows eightfold per doubling of the slot while the count of slots
/// only doubles: a key's cost per listing rises with its volume.
pub fn required_bits(slot: u32) -> u32 {
    let free = FREE_LISTINGS_PER_KEY;
    let doublings = (slot / free).max(1).ilog2();
    STAMP_BASE_BITS + 2 * doublings
}

/// The hash a stamp's nonce is tried against: SHA-256(domain || seller || listing id || slot,
/// big-endian u32). Computed once per stamp; each try is then one SHA-256 block.
fn stamp_base(seller: &PublicKey, id: &ListingId, slot: u32) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(STAMP_DOMAIN);
    h.update(seller.as_bytes());
    h.update(id.as_bytes());
    h.update(slot.to_be_bytes());
    h.finalize().into()
}

/// SHA-256(base || nonce, big-endian u64): the hash of one try.
fn try_hash(base: &[u8; 32], nonce: u64) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(base);
    h.update(nonce.to_be_bytes());
    h.finalize().into()
}

/// Leading zero bits of SHA-256(base || nonce, big-endian u64).
fn work(base: &[u8; 32], nonce: u64) -> u32 {
    let mut zeros = 0;
    for b in try_hash(base, nonce) {
        zeros += b.leading_zeros();
        if b != 0 {
            break;
        }
    }
    zeros
}

impl Stamp {
    /// Finds a stamp for listing `id` of `seller` in `slot` (expected 2^[`required_bits`]
    /// hashes). Refuses a slot outside the stamped range.
    pub fn mint(seller: &PublicKey, id: &ListingId, slot: u32) -> Result<Stamp, ValidationError> {
        check_slot(slot)?;
        let base = stamp_base(seller, id, slot);
        let bits = required_bits(slot);
        // The nonce space is 2^64; no difficulty here needs more than 2^24 tries on average.
        let nonce = (0..=u64::MAX)
            .find(|n| work(&base, *n) >= bits)
            .unwrap_or(u64::MAX);
        Ok(Stamp { slot, nonce })
    }

    /// Checks the stamp of listing `id` of `seller`: the slot is in the stamped range and the
    /// work is enough for it.
    pub fn check(&self, seller: &PublicKey, id: &ListingId) -> Result<(), ValidationError> {
        check_slot(self.slot)?;
        let need = required_bits(self.slot);
        let got = work(&stamp_base(seller, id, self.slot), self.nonce);
        if got < need {
            return Err(ValidationError::invalid(
                "stamp",
                format!(
                    "the stamp for slot {} has {got} leading zero bits; the slot needs {need} (a listing beyond a key's first {FREE_LISTINGS_PER_KEY} pays with a proof of work)",
                    self.slot
                ),
            ));
        }
        Ok(())
    }
}

fn check_slot(slot: u32) -> Result<(), ValidationError> {
    if !(FREE_LISTINGS_PER_KEY..MAX_LISTINGS_PER_KEY).contains(&slot) {
        return Err(ValidationError::OutOfRange {
            field: "stamp.slot",
            min: u64::from(FREE_LISTINGS_PER_KEY),
            max: u64::from(MAX_LISTINGS_PER_KEY - 1),
            actual: u64::from(slot),
        });
    }
    Ok(())
}

/// The normalized title: lowercase letters and digits, words separated by single spaces, so
/// "Road Bike!!" and "road   bike" are the same item.
pub fn normalized_title(title: &str) -> String {
    let cleaned: String = title
        .chars()
        .flat_map(char::to_lowercase)
        .map(|c| if c.is_alphanumeric() { c } else { ' ' })
        .collect();
    cleaned.split_whitespace().collect::<Vec<_>>().join(" ")
}

impl Listing {
    /// What makes two listings of one seller the same item for duplicate detection: the first
    /// 16 bytes of SHA-256(domain || normalized title || 0x00 || the photos' hashes, sorted).
    /// `None` for a listing without photos: a title alone is too weak a sign of a re-post (two
    /// "IKEA Poang chair" listings of one seller are often two chairs), the same photos under a
    /// new id are a strong one.
    pub fn duplicate_fingerprint(&self) -> Option<[u8; 16]> {
        if self.images.is_empty() {
            return None;
        }
        let mut photos: Vec<&[u8; 32]> = self.images.iter().map(|i| &i.hash).collect();
        photos.sort();
        let mut h = Sha256::new();
        h.update(FINGERPRINT_DOMAIN);
        h.update(normalized_title(&self.title).as_bytes());
        h.update([0]);
        for p in photos {
            h.update(p);
        }
        let d = h.finalize();
        let mut out = [0u8; 16];
        out.copy_from_slice(&d[..16]);
        Some(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::SecretKey;

    #[test]
    fn difficulty_grows_two_bits_per_doubling() {
        assert_eq!(required_bits(FREE_LISTINGS_PER_KEY), STAMP_BASE_BITS);
        assert_eq!(
            required_bits(2 * FREE_LISTINGS_PER_KEY - 1),
            STAMP_BASE_BITS
        );
        assert_eq!(
            required_bits(2 * FREE_LISTINGS_PER_KEY),
            STAMP_BASE_BITS + 2
        );
        assert_eq!(
            required_bits(8 * FREE_LISTINGS_PER_KEY),
            STAMP_BASE_BITS + 6
        );
        assert_eq!(
            required_bits(MAX_LISTINGS_PER_KEY - 1),
            STAMP_BASE_BITS + 2 * ((MAX_LISTINGS_PER_KEY - 1) / FREE_LISTINGS_PER_KEY).ilog2()
        );
    }

    #[test]
    fn a_minted_stamp_checks_and_binds_seller_id_and_slot() {
        let k = SecretKey::from_bytes([7; 32]).public();
        let other = SecretKey::from_bytes([8; 32]).public();
        let id = ListingId::derive(&k, "sku-1");
        let slot = FREE_LISTINGS_PER_KEY + 5;
        let s = Stamp::mint(&k, &id, slot).unwrap();
        s.check(&k, &id).unwrap();
        // The same nonce almost never pays for another seller, listing or slot (2^-8 each);
        // find one that does not and check it fails with a clear error.
        let moved = (0..64)
            .map(|i| Stamp {
                slot: slot + 1 + i,
                nonce: s.nonce,
            })
            .find(|m| m.check(&k, &id).is_err())
            .unwrap();
        let err = moved.check(&k, &id).unwrap_err().to_string();
        assert!(
            err.contains("stamp") && err.contains("leading zero bits"),
            "{err}"
        );
        let elsewhere = (0..64)
            .map(|i| ListingId::derive(&other, &format!("sku-{i}")))
            .any(|other_id| s.check(&other, &other_id).is_err());
        assert!(elsewhere);
    }

    #[test]
    fn slots_outside_the_stamped_range_are_refused_naming_the_field() {
        let k = SecretKey::from_bytes([7; 32]).public();
        let id = ListingId::derive(&k, "x");
        for slot in [0, FREE_LISTINGS_PER_KEY - 1, MAX_LISTINGS_PER_KEY] {
            let err = Stamp { slot, nonce: 0 }.check(&k, &id).unwrap_err();
            assert!(
                matches!(
                    err,
                    ValidationError::OutOfRange {
                        field: "stamp.slot",
                        ..
                    }
                ),
                "{err:?}"
            );
            assert!(Stamp::mint(&k, &id, slot).is_err());
        }
    }

    #[test]
    fn work_counts_leading_zero_bits() {
        let base = [0xabu8; 32];
        for nonce in 0..2000u64 {
            let d = try_hash(&base, nonce);
            let bits = d.iter().map(|b| format!("{b:08b}")).collect::<String>();
            let zeros = bits.chars().take_while(|c| *c == '0').count() as u32;
            assert_eq!(work(&base, nonce), zeros);
        }
    }

    #[test]
    fn titles_are_normalized_for_duplicates() {
        assert_eq!(normalized_title("  Road BIKE!!  28\"  "), "road bike 28");
        assert_eq!(normalized_title("Straße"), "straße");
    }
}
