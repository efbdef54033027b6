//! A wanted post: what a user is looking for (title, description, category, the most they
//! would pay, where), signed by that user. Envelopes of kind `wanted` (6).
//!
//! A wanted post is a record like a listing: its id is derived from the signer and its item
//! key ([`ListingId::derive`]), later versions (higher `seq`) replace earlier ones, a
//! [`Withdrawal`](crate::Withdrawal) of the same item key withdraws it, and it is routed,
//! stored and synced by its area. It is a distinct kind rather than a listing flag so that no
//! listing path (search, offers, deals, stock) can take a wanted post for an item on sale:
//! code that matches on [`Record`](crate::Record) must decide what a wanted post means to it.

use serde::{Deserialize, Serialize};

use crate::category::Category;
use crate::cbor::{encode, Keys, Reader};
use crate::encoding::{check_line, check_text};
use crate::envelope::{EnvelopeKind, SignedEnvelope};
use crate::error::ValidationError;
use crate::keys::{PublicKey, SecretKey};
use crate::limits::{MAX_DESCRIPTION_CHARS, MAX_PLACE_CHARS, MAX_TITLE_CHARS};
use crate::listing::{check_geohash, check_item_key, check_seq, read_location, read_price};
use crate::listing::{ListingId, Location};
use crate::price::Price;

/// Version of the wanted payload format.
pub const WANTED_VERSION: u64 = 1;

/// A wanted post.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Wanted {
    /// The poster's key for the post (stable across versions; shares the id space of the
    /// poster's listings, so nodes author wanted posts under keys of their own, `wanted-...`).
    pub item_key: String,
    /// Version: every new version (a renewal, an edit) has a higher seq.
    pub seq: u64,
    /// Signing time, unix seconds.
    pub signed_at: u64,
    /// Expiry, unix seconds (at most [`MAX_LIFETIME_SECS`] after signing, as a listing).
    pub expires_at: u64,
    /// What is wanted ("56 cm road bike").
    pub title: String,
    /// More about it; may be empty.
    pub description: String,
    /// The most the poster would pay. `Free` means only a gift is wanted.
    pub max_price: Price,
    /// Category.
    pub category: Category,
    /// Where the poster is: a coarse cell (4 to 6 geohash characters), never an address.
    /// Required: a wanted post is local, and is routed by this cell.
    pub location: Location,
}

impl Wanted {
    /// This post's id under `poster`.
    pub fn id(&self, poster: &PublicKey) -> ListingId {
        ListingId::derive(poster, &self.item_key)
    }

    /// Checks every structural rule (not the clock: see `SignedEnvelope::verify`), with the
    /// limits of listings.
    pub fn validate(&self) -> Result<(), ValidationError> {
        check_item_key(&self.item_key)?;
        check_seq(self.seq)?;
        crate::listing::check_lifetime(self.signed_at, self.expires_at)?;
        check_line("title", &self.title, MAX_TITLE_CHARS, true)?;
        check_text("description", &self.description, MAX_DESCRIPTION_CHARS)?;
        self.max_price.validate()?;
        check_geohash("location", &self.location.geohash)?;
        if let Some(p) = &self.location.place {
            check_line("place", p, MAX_PLACE_CHARS, true)?;
        }
        Ok(())
    }

    /// Validates, encodes and signs.
    pub fn sign(&self, key: &SecretKey) -> Result<SignedEnvelope, ValidationError> {
        self.validate()?;
        SignedEnvelope::sign(key, EnvelopeKind::Wanted, self.encode_payload())
    }

    /// The canonical payload bytes: a map with keys in ascending order; `description` (6) is
    /// left out when empty and `max_price` (7) when it is `Free`.
    pub(crate) fn encode_payload(&self) -> Vec<u8> {
        let desc = !self.description.is_empty();
        let priced = matches!(self.max_price, Price::Fixed { .. });
        let n = 8 + u64::from(desc) + u64::from(priced);
        encode(|e| {
            e.map(n)?;
            e.u8(0)?.u64(WANTED_VERSION)?;
            e.u8(1)?.str(&self.item_key)?;
            e.u8(2)?.u64(self.seq)?;
            e.u8(3)?.u64(self.signed_at)?;
            e.u8(4)?.u64(self.expires_at)?;
            e.u8(5)?.str(&self.title)?;
            if desc {
                e.u8(6)?.str(&self.description)?;
            }
            if let Price::Fixed {
                amount_minor,
                currency,
            } = &self.max_price
            {
                e.u8(7)?
                    .array(2)?
                    .u64(*amount_minor)?
                    .str(currency.code())?;
            }
            e.u8(8)?.u8(self.category.code())?;
            e.u8(9)?;
            match &self.location.place {
                Some(p) => e.array(2)?.str(self.location.geohash.as_str())?.str(p)?,
                None => e.array(1)?.str(self.location.geohash.as_str())?,
            };
            Ok(())
        })
    }

    /// Decodes payload bytes (structure only; `validate` follows).
    pub(crate) fn decode_payload(bytes: &[u8]) -> Result<Wanted, ValidationError> {
        let mut r = Reader::new(bytes, "wanted");
        let n = r.map(10)?;
        let mut keys = Keys::new();
        let mut version = None;
        let (mut item_key, mut seq, mut signed_at, mut expires_at, mut title) =
            (None, None, None, None, None);
        let mut description = String::new();
        let mut max_price = Price::Free;
        let (mut category, mut location) = (None, None);
        for _ in 0..n {
            match keys.next(&mut r)? {
                0 => version = Some(r.u64()?),
                1 => item_key = Some(r.str()?.to_string()),
                2 => seq = Some(r.u64()?),
                3 => signed_at = Some(r.u64()?),
                4 => expires_at = Some(r.u64()?),
                5 => title = Some(r.str()?.to_string()),
                6 => description = r.str()?.to_string(),
                7 => max_price = read_price(&mut r)?,
                8 => {
                    let c = r.u8()?;
                    category = Some(Category::from_code(c).ok_or_else(|| {
                        ValidationError::invalid("category", format!("unknown category code {c}"))
                    })?);
                }
                9 => location = Some(read_location(&mut r)?),
                k => {
                    return Err(ValidationError::malformed(
                        "wanted",
                        format!("unknown field {k}"),
                    ))
                }
            }
        }
        r.finish()?;
        let missing =
            |f: &'static str| ValidationError::malformed("wanted", format!("missing {f}"));
        let version = version.ok_or_else(|| missing("version"))?;
        if version != WANTED_VERSION {
            return Err(ValidationError::UnsupportedVersion {
                what: "wanted",
                found: version,
                supported: WANTED_VERSION,
            });
        }
        Ok(Wanted {
            item_key: item_key.ok_or_else(|| missing("item_key"))?,
            seq: seq.ok_or_else(|| missing("seq"))?,
            signed_at: signed_at.ok_or_else(|| missing("signed_at"))?,
            expires_at: expires_at.ok_or_else(|| missing("expires_at"))?,
            title: title.ok_or_else(|| missing("title"))?,
            description,
            max_price,
            category: category.ok_or_else(|| missing("category"))?,
            location: location.ok_or_else(|| missing("location"))?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::geo::GeoHash;
    use crate::limits::MAX_LIFETIME_SECS;
    use crate::price::Currency;

    fn post() -> Wanted {
        Wanted {
            item_key: "wanted-1".into(),
            seq: 1,
            signed_at: 1_750_000_000,
            expires_at: 1_750_000_000 + 86_400,
            title: "56 cm road bike".into(),
            description: String::new(),
            max_price: Price::Fixed {
                amount_minor: 30_000,
                currency: Currency::new("EUR").unwrap(),
            },
            category: Category::Bikes,
            location: Location {
                geohash: GeoHash::new("u33d").unwrap(),
                place: None,
            },
        }
    }

    #[test]
    fn round_trips_with_and_without_optional_fields() {
        let mut w = post();
        assert_eq!(Wanted::decode_payload(&w.encode_payload()).unwrap(), w);
        w.description = "Steel preferred.".into();
        w.max_price = Price::Free;
        w.location.place = Some("Kreuzberg".into());
        assert_eq!(Wanted::decode_payload(&w.encode_payload()).unwrap(), w);
    }

    #[test]
    fn rejections_name_the_field_and_the_limit() {
        let mut w = post();
        w.title = "x".repeat(MAX_TITLE_CHARS + 1);
        let e = w.validate().unwrap_err().to_string();
        assert!(e.contains("title") && e.contains("140"), "{e}");

        let mut w = post();
        w.expires_at = w.signed_at + MAX_LIFETIME_SECS + 1;
        let e = w.validate().unwrap_err().to_string();
        assert!(e.contains(&MAX_LIFETIME_SECS.to_string()), "{e}");

        let mut w = post();
        w.location.geohash = GeoHash::new("u3").unwrap();
        let e = w.validate().unwrap_err().to_string();
        assert!(e.contains("location") && e.contains("4 to 6"), "{e}");

        let mut w = post();
        w.title = "  ".into();
        assert!(w.validate().unwrap_err().to_string().contains("title"));
    }
}
