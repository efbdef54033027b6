//! A listing: one item for sale, as its seller signed it.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use sha2::{Digest, Sha256};

use crate::category::{Category, Condition};
use crate::cbor::{encode, Keys, Reader};
use crate::encoding::{base32_decode, base32_encode, check_line, check_text};
use crate::envelope::{EnvelopeKind, SignedEnvelope};
use crate::error::ValidationError;
use crate::geo::GeoHash;
use crate::keys::{PublicKey, SecretKey};
use crate::limits::*;
use crate::price::{Currency, Price};
use crate::stamp::Stamp;
use crate::variant::{self, Variant};

/// Version of the listing payload format without variants.
pub const LISTING_VERSION: u64 = 1;
/// Version of the listing payload format with variants (version 1 plus key 15). An encoder
/// writes version 1 whenever a listing has no variants, so every version-1 byte stays valid.
pub const LISTING_VERSION_VARIANTS: u64 = 2;

/// A listing's id: stable across versions, derived from the seller and the seller's item key,
/// so a shop can map its SKU onto it and nobody can claim another seller's id.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ListingId([u8; 16]);

impl ListingId {
    /// The id of `item_key` of `seller`: the first 16 bytes of
    /// SHA-256("swapmeet/listing-id/v1\0" || seller || item_key).
    pub fn derive(seller: &PublicKey, item_key: &str) -> ListingId {
        let mut h = Sha256::new();
        h.update(b"swapmeet/listing-id/v1\0");
        h.update(seller.as_bytes());
        h.update(item_key.as_bytes());
        let d = h.finalize();
        let mut id = [0u8; 16];
        id.copy_from_slice(&d[..16]);
        ListingId(id)
    }
    /// From its bytes.
    pub fn from_bytes(b: [u8; 16]) -> ListingId {
        ListingId(b)
    }
    /// Its bytes.
    pub fn as_bytes(&self) -> &[u8; 16] {
        &self.0
    }
}

impl fmt::Display for ListingId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&base32_encode(&self.0))
    }
}
impl fmt::Debug for ListingId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ListingId({self})")
    }
}
impl FromStr for ListingId {
    type Err = ValidationError;
    fn from_str(s: &str) -> Result<ListingId, ValidationError> {
        base32_decode::<16>(s.trim()).map(ListingId).ok_or_else(|| {
            ValidationError::invalid("id", "a listing id is 26 base32 characters (a-z, 2-7)")
        })
    }
}
impl Serialize for ListingId {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}
impl<'de> Deserialize<'de> for ListingId {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<ListingId, D::Error> {
        String::deserialize(d)?
            .parse()
            .map_err(serde::de::Error::custom)
    }
}

/// A two-letter ISO 3166-1 country code.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CountryCode([u8; 2]);

impl CountryCode {
    /// Validates (and uppercases) a two-letter code.
    pub fn new(s: &str) -> Result<CountryCode, ValidationError> {
        let up = s.trim().to_ascii_uppercase();
        let b = up.as_bytes();
        if b.len() == 2 && b.iter().all(u8::is_ascii_uppercase) {
            Ok(CountryCode([b[0], b[1]]))
        } else {
            Err(ValidationError::invalid(
                "ships_to",
                format!("'{}' is not a two-letter country code", s.trim()),
            ))
        }
    }
    /// The code.
    pub fn as_str(&self) -> &str {
        std::str::from_utf8(&self.0).unwrap_or("XX")
    }
}
impl fmt::Display for CountryCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}
impl fmt::Debug for CountryCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.as_str())
    }
}
impl Serialize for CountryCode {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}
impl<'de> Deserialize<'de> for CountryCode {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<CountryCode, D::Error> {
        CountryCode::new(&String::deserialize(d)?).map_err(serde::de::Error::custom)
    }
}

/// Where the item can be seen: a coarse cell, never an address.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Location {
    /// Geohash of 4 to 6 characters.
    pub geohash: GeoHash,
    /// A place name ("Kreuzberg").
    pub place: Option<String>,
}

/// How the item changes hands.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Delivery {
    /// Can be picked up.
    pub pickup: bool,
    /// Can be shipped.
    pub shipping: bool,
    /// Countries it ships to (empty: ask the seller).
    pub ships_to: Vec<CountryCode>,
}

/// A reference to an image, fetched later by content hash.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImageRef {
    /// SHA-256 of the image bytes.
    pub hash: [u8; 32],
    /// MIME type ("image/jpeg").
    pub mime: String,
    /// Size in bytes.
    pub size: u64,
    /// A small rendition, so a search result can show the photo without fetching it.
    /// Absent in references written before thumbnails (they encode as before).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub thumb: Option<ImageThumb>,
}

/// The thumbnail of an image: a separate blob named by its own hash.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImageThumb {
    /// SHA-256 of the thumbnail bytes.
    pub hash: [u8; 32],
    /// MIME type ("image/jpeg").
    pub mime: String,
    /// Size in bytes (at most [`MAX_THUMB_BYTES`]).
    pub size: u64,
}

fn check_image_mime(field: &'static str, mime: &str) -> Result<(), ValidationError> {
    check_line(field, mime, MAX_MIME_CHARS, true)?;
    if !mime.starts_with("image/") {
        return Err(ValidationError::invalid(
            field,
            format!("'{mime}' is not an image type"),
        ));
    }
    Ok(())
}

impl ImageRef {
    /// Checks the mime types and sizes of the image and its thumbnail.
    pub fn validate(&self) -> Result<(), ValidationError> {
        check_image_mime("images.mime", &self.mime)?;
        if self.size == 0 || self.size > MAX_IMAGE_BYTES {
            return Err(ValidationError::OutOfRange {
                field: "images.size",
                min: 1,
                max: MAX_IMAGE_BYTES,
                actual: self.size,
            });
        }
        if let Some(t) = &self.thumb {
            check_image_mime("images.thumb_mime", &t.mime)?;
            if t.size == 0 || t.size > MAX_THUMB_BYTES {
                return Err(ValidationError::OutOfRange {
                    field: "images.thumb_size",
                    min: 1,
                    max: MAX_THUMB_BYTES,
                    actual: t.size,
                });
            }
        }
        Ok(())
    }
}

/// What a search result shows of a listing (see [`crate::envelope::glance_stored`]).
#[derive(Clone, Debug, PartialEq)]
pub struct ListingGlance {
    /// Title.
    pub title: String,
    /// Price: the lowest price in stock (of the variants in stock, when it has variants).
    pub price: Price,
    /// The highest price in stock, when the variants in stock differ in price ("from"
    /// [`price`](Self::price) up to this).
    pub price_max: Option<Price>,
    /// Condition.
    pub condition: Option<Condition>,
    /// Category.
    pub category: Option<Category>,
    /// Coarse location.
    pub location: Option<Location>,
    /// Whether it ships.
    pub shipping: bool,
    /// Quantity on offer (with variants: their total).
    pub quantity: u32,
    /// How many variants it has (0: none).
    pub variants: usize,
    /// SHA-256 of the first photo's thumbnail, so a result can show it without the photo.
    pub thumb: Option<[u8; 32]>,
}

/// A listing.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Listing {
    /// The seller's key for the item (stable across versions).
    pub item_key: String,
    /// Version: every new version has a higher seq.
    pub seq: u64,
    /// Signing time, unix seconds.
    pub signed_at: u64,
    /// Expiry, unix seconds (at most 30 days after signing).
    pub expires_at: u64,
    /// Title.
    pub title: String,
    /// Plain-text description.
    pub description: String,
    /// Price.
    pub price: Price,
    /// Condition.
    pub condition: Condition,
    /// Category.
    pub category: Category,
    /// Free tags.
    pub tags: Vec<String>,
    /// Quantity on offer; with variants, the total of their quantities.
    pub quantity: u32,
    /// Coarse location (required unless it ships).
    pub location: Option<Location>,
    /// Pickup / shipping.
    pub delivery: Delivery,
    /// Image references.
    pub images: Vec<ImageRef>,
    /// Variants (sizes, colours, ...), each with its own stock and, where it differs, price.
    /// A listing with variants is payload version 2.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub variants: Vec<Variant>,
    /// The proof-of-work stamp of a listing beyond its seller's free allowance (key 16; see
    /// [`crate::stamp`]). Absent within the allowance, and then encoded as before.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stamp: Option<Stamp>,
}

pub(crate) fn check_item_key(key: &str) -> Result<(), ValidationError> {
    if key.is_empty() {
        return Err(ValidationError::Empty { field: "item_key" });
    }
    if key.len() > MAX_ITEM_KEY_BYTES {
        return Err(ValidationError::TooLong {
            field: "item_key",
            limit: MAX_ITEM_KEY_BYTES,
            actual: key.len(),
        });
    }
    if key.chars().any(char::is_control) {
        return Err(ValidationError::invalid(
            "item_key",
            "contains control characters",
        ));
    }
    // Shown with the listing (the shop's SKU), so held to the rule of displayed text.
    crate::encoding::check_no_bidi("item_key", key)
}

pub(crate) fn check_seq(seq: u64) -> Result<(), ValidationError> {
    if seq == 0 {
        return Err(ValidationError::OutOfRange {
            field: "seq",
            min: 1,
            max: u64::MAX,
            actual: 0,
        });
    }
    Ok(())
}

pub(crate) fn check_geohash(field: &'static str, g: &GeoHash) -> Result<(), ValidationError> {
    if g.len() < MIN_GEOHASH_CHARS || g.len() > MAX_GEOHASH_CHARS {
        return Err(ValidationError::invalid(
            field,
            format!(
                "geohash '{g}' has {} characters; {MIN_GEOHASH_CHARS} to {MAX_GEOHASH_CHARS} are allowed (coarse, never an address)",
                g.len()
            ),
        ));
    }
    Ok(())
}

/// A record's life: it expires after it was signed, within [`MAX_LIFETIME_SECS`] (listings
/// and wanted posts alike).
pub(crate) fn check_lifetime(signed_at: u64, expires_at: u64) -> Result<(), ValidationError> {
    if expires_at <= signed_at {
        return Err(ValidationError::invalid(
            "expires_at",
            "must be after signed_at",
        ));
    }
    let life = expires_at - signed_at;
    if life > MAX_LIFETIME_SECS {
        return Err(ValidationError::LifetimeTooLong {
            limit_secs: MAX_LIFETIME_SECS,
            actual_secs: life,
        });
    }
    Ok(())
}

impl Listing {
    /// This listing's id under `seller`.
    pub fn id(&self, seller: &PublicKey) -> ListingId {
        ListingId::derive(seller, &self.item_key)
    }

    /// Checks every structural rule (not the clock: see `SignedEnvelope::verify`).
    pub fn validate(&self) -> Result<(), ValidationError> {
        check_item_key(&self.item_key)?;
        check_seq(self.seq)?;
        check_lifetime(self.signed_at, self.expires_at)?;
        check_line("title", &self.title, MAX_TITLE_CHARS, true)?;
        check_text("description", &self.description, MAX_DESCRIPTION_CHARS)?;
        self.price.validate()?;
        if self.tags.len() > MAX_TAGS {
            return Err(ValidationError::TooMany {
                field: "tags",
                limit: MAX_TAGS,
                actual: self.tags.len(),
            });
        }
        for t in &self.tags {
            check_line("tags", t, MAX_TAG_CHARS, true)?;
            if t.chars().any(char::is_whitespace) {
                return Err(ValidationError::invalid(
                    "tags",
                    format!("'{t}' contains whitespace; use '-'"),
                ));
            }
        }
        if self.quantity == 0 || self.quantity > MAX_QUANTITY {
            return Err(ValidationError::OutOfRange {
                field: "quantity",
                min: 1,
                max: u64::from(MAX_QUANTITY),
                actual: u64::from(self.quantity),
            });
        }
        match &self.location {
            Some(loc) => {
                check_geohash("location", &loc.geohash)?;
                if let Some(p) = &loc.place {
                    check_line("place", p, MAX_PLACE_CHARS, true)?;
                }
            }
            None if !self.delivery.shipping => {
                return Err(ValidationError::invalid(
                    "location",
                    "is required unless the item ships",
                ))
            }
            None => {}
        }
        if !self.delivery.pickup && !self.delivery.shipping {
            return Err(ValidationError::invalid(
                "delivery",
                "pickup or shipping (or both) must be offered",
            ));
        }
        if self.delivery.pickup && self.location.is_none() {
            return Err(ValidationError::invalid(
                "delivery",
                "pickup needs a location",
            ));
        }
        if self.delivery.ships_to.len() > MAX_SHIPS_TO {
            return Err(ValidationError::TooMany {
                field: "ships_to",
                limit: MAX_SHIPS_TO,
                actual: self.delivery.ships_to.len(),
            });
        }
        if !self.delivery.ships_to.is_empty() && !self.delivery.shipping {
            return Err(ValidationError::invalid(
                "ships_to",
                "given but the item does not ship",
            ));
        }
        if self.images.len() > MAX_IMAGES {
            return Err(ValidationError::TooMany {
                field: "images",
                limit: MAX_IMAGES,
                actual: self.images.len(),
            });
        }
        for img in &self.images {
            img.validate()?;
        }
        variant::validate(&self.variants, self.price, self.quantity)?;
        Ok(())
    }

    /// The lowest and the highest price of what is in stock: of the variants in stock, or the
    /// listing's price when it has no variants.
    pub fn price_range(&self) -> (Price, Price) {
        variant::price_range(&self.variants, self.price)
    }

    /// The payload version this listing is written in.
    pub fn payload_version(&self) -> u64 {
        if self.variants.is_empty() {
            LISTING_VERSION
        } else {
            LISTING_VERSION_VARIANTS
        }
    }

    /// Validates, encodes and signs.
    pub fn sign(&self, key: &SecretKey) -> Result<SignedEnvelope, ValidationError> {
        self.validate()?;
        SignedEnvelope::sign(key, EnvelopeKind::Listing, self.encode_payload())
    }

    /// The canonical payload bytes.
    pub(crate) fn encode_payload(&self) -> Vec<u8> {
        let desc = !self.description.is_empty();
        let priced = matches!(self.price, Price::Fixed { .. });
        let tags = !self.tags.is_empty();
        let qty = self.quantity != 1;
        let loc = self.location.is_some();
        let imgs = !self.images.is_empty();
        let vars = !self.variants.is_empty();
        let stamped = self.stamp.is_some();
        // Always present: 0-5, 8 (condition), 9 (category), 13 (delivery).
        let n = 9 + [desc, priced, tags, qty, loc, imgs, vars, stamped]
            .iter()
            .filter(|b| **b)
            .count() as u64;
        encode(|e| {
            e.map(n)?;
            e.u8(0)?.u64(self.payload_version())?;
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
            } = &self.price
            {
                e.u8(7)?
                    .array(2)?
                    .u64(*amount_minor)?
                    .str(currency.code())?;
            }
            e.u8(8)?.u8(self.condition.code())?;
            e.u8(9)?.u8(self.category.code())?;
            if tags {
                e.u8(10)?.array(self.tags.len() as u64)?;
                for t in &self.tags {
                    e.str(t)?;
                }
            }
            if qty {
                e.u8(11)?.u32(self.quantity)?;
            }
            if let Some(l) = &self.location {
                e.u8(12)?;
                match &l.place {
                    Some(p) => e.array(2)?.str(l.geohash.as_str())?.str(p)?,
                    None => e.array(1)?.str(l.geohash.as_str())?,
                };
            }
            let flags = u8::from(self.delivery.pickup) | (u8::from(self.delivery.shipping) << 1);
            e.u8(13)?
                .array(2)?
                .u8(flags)?
                .array(self.delivery.ships_to.len() as u64)?;
            for c in &self.delivery.ships_to {
                e.str(c.as_str())?;
            }
            if imgs {
                e.u8(14)?.array(self.images.len() as u64)?;
                for i in &self.images {
                    // Without a thumbnail an image stays the 3-element array of version 1,
                    // so references written before thumbnails keep their exact bytes.
                    match &i.thumb {
                        None => e.array(3)?.bytes(&i.hash)?.str(&i.mime)?.u64(i.size)?,
                        Some(t) => e
                            .array(6)?
                            .bytes(&i.hash)?
                            .str(&i.mime)?
                            .u64(i.size)?
                            .bytes(&t.hash)?
                            .str(&t.mime)?
                            .u64(t.size)?,
                    };
                }
            }
            if vars {
                e.u8(15)?;
                variant::encode(e, &self.variants)?;
            }
            if let Some(st) = &self.stamp {
                e.u8(16)?.array(2)?.u32(st.slot)?.u64(st.nonce)?;
            }
            Ok(())
        })
    }

    /// What a search result shows of this listing.
    pub fn glance(&self) -> ListingGlance {
        let (lo, hi) = self.price_range();
        ListingGlance {
            title: self.title.clone(),
            price: lo,
            price_max: (hi != lo).then_some(hi),
            condition: Some(self.condition),
            category: Some(self.category),
            location: self.location.clone(),
            shipping: self.delivery.shipping,
            quantity: self.quantity,
            variants: self.variants.len(),
            thumb: self
                .images
                .first()
                .and_then(|i| i.thumb.as_ref())
                .map(|t| t.hash),
        }
    }

    /// Reads only what a search result shows from payload bytes of a listing that was
    /// verified before (a node's own store), skipping the description, tags and images so
    /// that showing a page of hits allocates little.
    pub(crate) fn glance_payload(bytes: &[u8]) -> Result<ListingGlance, ValidationError> {
        let mut r = Reader::new(bytes, "listing");
        let n = r.map(17)?;
        let mut variants = Vec::new();
        let mut g = ListingGlance {
            title: String::new(),
            price: Price::Free,
            price_max: None,
            condition: None,
            category: None,
            location: None,
            shipping: false,
            quantity: 1,
            variants: 0,
            thumb: None,
        };
        for _ in 0..n {
            match r.u64()? {
                5 => g.title = r.str()?.to_string(),
                7 => g.price = read_price(&mut r)?,
                8 => g.condition = Condition::from_code(r.u8()?),
                9 => g.category = Category::from_code(r.u8()?),
                11 => g.quantity = r.u32()?,
                12 => g.location = Some(read_location(&mut r)?),
                13 => {
                    if r.array("delivery", 2)? != 2 {
                        return Err(ValidationError::malformed(
                            "listing",
                            "delivery is [flags, ships_to]",
                        ));
                    }
                    g.shipping = r.u8()? & 2 == 2;
                    r.skip()?;
                }
                14 => {
                    // Only the first image's thumbnail is shown; the rest is skipped.
                    let k = r.array("images", MAX_IMAGES)?;
                    for i in 0..k {
                        let img = read_image(&mut r)?;
                        if i == 0 {
                            g.thumb = img.thumb.map(|t| t.hash);
                        }
                    }
                }
                15 => variants = variant::decode(&mut r)?,
                _ => r.skip()?,
            }
        }
        // Hits show what can be bought: the price range of the variants in stock.
        let (lo, hi) = variant::price_range(&variants, g.price);
        g.price = lo;
        g.price_max = (hi != lo).then_some(hi);
        g.variants = variants.len();
        Ok(g)
    }

    /// Decodes payload bytes (structure only; `validate` follows).
    pub(crate) fn decode_payload(bytes: &[u8]) -> Result<Listing, ValidationError> {
        let mut r = Reader::new(bytes, "listing");
        let n = r.map(17)?;
        let mut keys = Keys::new();
        let mut version = None;
        let (mut item_key, mut seq, mut signed_at, mut expires_at, mut title) =
            (None, None, None, None, None);
        let mut description = String::new();
        let mut price = Price::Free;
        let (mut condition, mut category) = (None, None);
        let mut tags = Vec::new();
        let mut quantity = 1u32;
        let mut location = None;
        let mut delivery = None;
        let mut images = Vec::new();
        let mut variants = Vec::new();
        let mut has_variants = false;
        let mut stamp = None;
        for _ in 0..n {
            match keys.next(&mut r)? {
                0 => version = Some(r.u64()?),
                1 => item_key = Some(r.str()?.to_string()),
                2 => seq = Some(r.u64()?),
                3 => signed_at = Some(r.u64()?),
                4 => expires_at = Some(r.u64()?),
                5 => title = Some(r.str()?.to_string()),
                6 => description = r.str()?.to_string(),
                7 => price = read_price(&mut r)?,
                8 => {
                    let c = r.u8()?;
                    condition = Some(Condition::from_code(c).ok_or_else(|| {
                        ValidationError::invalid("condition", format!("unknown condition code {c}"))
                    })?);
                }
                9 => {
                    let c = r.u8()?;
                    category = Some(Category::from_code(c).ok_or_else(|| {
                        ValidationError::invalid("category", format!("unknown category code {c}"))
                    })?);
                }
                10 => {
                    let k = r.array("tags", MAX_TAGS)?;
                    for _ in 0..k {
                        tags.push(r.str()?.to_string());
                    }
                }
                11 => quantity = r.u32()?,
                12 => location = Some(read_location(&mut r)?),
                13 => {
                    if r.array("delivery", 2)? != 2 {
                        return Err(ValidationError::malformed(
                            "listing",
                            "delivery is [flags, ships_to]",
                        ));
                    }
                    let flags = r.u8()?;
                    if flags > 3 {
                        return Err(ValidationError::invalid(
                            "delivery",
                            format!("unknown flags {flags}"),
                        ));
                    }
                    let k = r.array("ships_to", MAX_SHIPS_TO)?;
                    let mut ships_to = Vec::with_capacity(k);
                    for _ in 0..k {
                        ships_to.push(CountryCode::new(r.str()?)?);
                    }
                    delivery = Some(Delivery {
                        pickup: flags & 1 == 1,
                        shipping: flags & 2 == 2,
                        ships_to,
                    });
                }
                14 => {
                    let k = r.array("images", MAX_IMAGES)?;
                    for _ in 0..k {
                        images.push(read_image(&mut r)?);
                    }
                }
                15 => {
                    has_variants = true;
                    variants = variant::decode(&mut r)?;
                }
                16 => {
                    if r.array("stamp", 2)? != 2 {
                        return Err(ValidationError::malformed(
                            "listing",
                            "stamp is [slot, nonce]",
                        ));
                    }
                    stamp = Some(Stamp {
                        slot: r.u32()?,
                        nonce: r.u64()?,
                    });
                }
                k => {
                    return Err(ValidationError::malformed(
                        "listing",
                        format!("unknown field {k}"),
                    ))
                }
            }
        }
        r.finish()?;
        let missing =
            |f: &'static str| ValidationError::malformed("listing", format!("missing {f}"));
        let version = version.ok_or_else(|| missing("version"))?;
        match (version, has_variants) {
            (LISTING_VERSION, false) | (LISTING_VERSION_VARIANTS, true) => {}
            (LISTING_VERSION, true) => {
                return Err(ValidationError::invalid(
                    "variants",
                    "a version 1 listing has no variants (key 15); a listing with variants is version 2",
                ))
            }
            (LISTING_VERSION_VARIANTS, false) => {
                return Err(ValidationError::invalid(
                    "variants",
                    "a version 2 listing has variants (key 15); a listing without them is version 1",
                ))
            }
            _ => {
                return Err(ValidationError::UnsupportedVersion {
                    what: "listing",
                    found: version,
                    supported: LISTING_VERSION_VARIANTS,
                })
            }
        }
        Ok(Listing {
            item_key: item_key.ok_or_else(|| missing("item_key"))?,
            seq: seq.ok_or_else(|| missing("seq"))?,
            signed_at: signed_at.ok_or_else(|| missing("signed_at"))?,
            expires_at: expires_at.ok_or_else(|| missing("expires_at"))?,
            title: title.ok_or_else(|| missing("title"))?,
            description,
            price,
            condition: condition.ok_or_else(|| missing("condition"))?,
            category: category.ok_or_else(|| missing("category"))?,
            tags,
            quantity,
            location,
            delivery: delivery.ok_or_else(|| missing("delivery"))?,
            images,
            variants,
            stamp,
        })
    }
}

/// Reads a price: `[amount, currency]`.
pub(crate) fn read_price(r: &mut Reader<'_>) -> Result<Price, ValidationError> {
    if r.array("price", 2)? != 2 {
        return Err(ValidationError::malformed(
            "listing",
            "price is [amount, currency]",
        ));
    }
    let amount_minor = r.u64()?;
    let currency = Currency::new(r.str()?)?;
    Ok(Price::Fixed {
        amount_minor,
        currency,
    })
}

/// Reads an image: `[hash, mime, size]` or `[hash, mime, size, thumb_hash, thumb_mime,
/// thumb_size]`.
fn read_image(r: &mut Reader<'_>) -> Result<ImageRef, ValidationError> {
    let k = r.array("images", 6)?;
    if k != 3 && k != 6 {
        return Err(ValidationError::malformed(
            "listing",
            "an image is [hash, mime, size] or [hash, mime, size, thumb_hash, thumb_mime, thumb_size]",
        ));
    }
    let hash = read_hash(r, "images.hash")?;
    let mime = r.str()?.to_string();
    let size = r.u64()?;
    let thumb = if k == 6 {
        let hash = read_hash(r, "images.thumb_hash")?;
        let mime = r.str()?.to_string();
        let size = r.u64()?;
        Some(ImageThumb { hash, mime, size })
    } else {
        None
    };
    Ok(ImageRef {
        hash,
        mime,
        size,
        thumb,
    })
}

fn read_hash(r: &mut Reader<'_>, field: &'static str) -> Result<[u8; 32], ValidationError> {
    r.bytes()?
        .try_into()
        .map_err(|_| ValidationError::invalid(field, "must be 32 bytes"))
}

/// Reads a location: `[geohash, place?]`.
pub(crate) fn read_location(r: &mut Reader<'_>) -> Result<Location, ValidationError> {
    let k = r.array("location", 2)?;
    if k == 0 {
        return Err(ValidationError::malformed(
            "listing",
            "location is [geohash, place?]",
        ));
    }
    let geohash = GeoHash::new(r.str()?)?;
    let place = if k == 2 {
        Some(r.str()?.to_string())
    } else {
        None
    };
    Ok(Location { geohash, place })
}
