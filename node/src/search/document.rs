//! The index schema and how a verified listing becomes a document.
//!
//! Nothing is stored in the index: hits are ids, and everything shown comes from the store.
//! That keeps the index small and makes it purely derived data.

use swapmeet_protocol::{geo, Listing, ListingId, Price};
use tantivy::schema::{
    Field, IndexRecordOption, NumericOptions, Schema, TextFieldIndexing, TextOptions, FAST,
    INDEXED, STRING,
};
use tantivy::TantivyDocument;

/// Bumped whenever the schema or what goes into it changes; a mismatch rebuilds the index.
pub const SCHEMA_VERSION: u32 = 4;

pub const F_ID: &str = "id";
pub const F_ID_HI: &str = "id_hi";
pub const F_ID_LO: &str = "id_lo";
pub const F_TEXT: &str = "text";
pub const F_CATEGORY: &str = "category";
pub const F_CONDITION: &str = "condition";
pub const F_SELLER: &str = "seller";
pub const F_CURRENCY: &str = "currency";
pub const F_PRICE: &str = "price";
pub const F_PRICE_MAX: &str = "price_max";
pub const F_VARIANT_PRICES: &str = "variant_prices";
pub const F_SIGNED: &str = "signed_at";
pub const F_EXPIRES: &str = "expires_at";
pub const F_LAT: &str = "lat";
pub const F_LON: &str = "lon";
pub const F_CELL: &str = "cell";

/// The currency term of free items, so a price filter can include them.
/// How many times a title is indexed: a word in the title counts as much as in three
/// descriptions.
const TITLE_WEIGHT: usize = 3;
/// How many times each tag is indexed.
const TAG_WEIGHT: usize = 2;
/// The latitude and longitude of a listing without a location (it only ships): outside
/// every valid coordinate.
pub const NO_LOCATION: f64 = 999.0;

/// The currency code of free listings (no ISO 4217 code packs to 0).
pub const FREE_CURRENCY: u64 = 0;
/// Shortest geohash prefix indexed: one character is a sixth of a continent, never useful.
pub const MIN_CELL_PRECISION: usize = 2;

/// Field handles of the schema.
#[derive(Clone, Copy, Debug)]
pub struct Fields {
    pub id: Field,
    pub id_hi: Field,
    pub id_lo: Field,
    pub text: Field,
    pub category: Field,
    pub condition: Field,
    pub seller: Field,
    pub currency: Field,
    pub price: Field,
    pub price_max: Field,
    pub variant_prices: Field,
    pub signed_at: Field,
    pub expires_at: Field,
    pub lat: Field,
    pub lon: Field,
    pub cell: Field,
}

/// Builds the schema.
pub fn schema() -> (Schema, Fields) {
    let mut b = Schema::builder();
    let text = |tokenizer: &str, record: IndexRecordOption| {
        TextOptions::default().set_indexing_options(
            TextFieldIndexing::default()
                .set_tokenizer(tokenizer)
                .set_index_option(record),
        )
    };
    let fast = NumericOptions::default().set_fast();
    let indexed = NumericOptions::default().set_indexed();
    let fields = Fields {
        id: b.add_bytes_field(F_ID, INDEXED),
        id_hi: b.add_u64_field(F_ID_HI, fast.clone()),
        id_lo: b.add_u64_field(F_ID_LO, fast.clone()),
        // One text field for title, tags and description: a word of the query is then one
        // posting list, and a two-word search intersects two lists instead of two unions of
        // three (measured: 4.0 ms against 1.4 ms for a 16,000-match search over a million
        // listings). The title and the tags weigh more by being indexed three and two times.
        // Positions are kept for quoted phrases.
        text: b.add_text_field(
            F_TEXT,
            text("en_stem", IndexRecordOption::WithFreqsAndPositions),
        ),
        category: b.add_u64_field(F_CATEGORY, indexed.clone()),
        condition: b.add_u64_field(F_CONDITION, indexed),
        seller: b.add_bytes_field(F_SELLER, INDEXED),
        // A fast field, not a term: price filters run in the collector on the documents the
        // rest of the query matched, instead of as a range scan over every document.
        currency: b.add_u64_field(F_CURRENCY, fast.clone()),
        // What is in stock: the lowest price (price-asc, "from"), the highest (price-desc),
        // and, only for listings whose variants in stock differ in price, each of their
        // prices, so a range between the lowest and the highest is checked exactly.
        price: b.add_u64_field(F_PRICE, fast.clone()),
        price_max: b.add_u64_field(F_PRICE_MAX, fast.clone()),
        variant_prices: b.add_u64_field(F_VARIANT_PRICES, fast.clone()),
        signed_at: b.add_u64_field(F_SIGNED, fast.clone()),
        expires_at: b.add_u64_field(F_EXPIRES, fast),
        lat: b.add_f64_field(F_LAT, FAST),
        lon: b.add_f64_field(F_LON, FAST),
        cell: b.add_text_field(F_CELL, STRING),
    };
    (b.build(), fields)
}

/// The two u64 halves of a listing id (fast fields hold u64s).
pub fn id_halves(id: &ListingId) -> (u64, u64) {
    let b = id.as_bytes();
    let mut hi = [0u8; 8];
    let mut lo = [0u8; 8];
    hi.copy_from_slice(&b[..8]);
    lo.copy_from_slice(&b[8..]);
    (u64::from_be_bytes(hi), u64::from_be_bytes(lo))
}

/// The document for a verified listing.
/// An ISO 4217 code as a number: its three ASCII letters, big-endian.
pub fn currency_code(code: &str) -> u64 {
    code.bytes().fold(0u64, |acc, b| (acc << 8) | u64::from(b))
}

pub fn document(f: &Fields, id: &ListingId, seller: &[u8; 32], l: &Listing) -> TantivyDocument {
    let mut d = TantivyDocument::new();
    d.add_bytes(f.id, id.as_bytes());
    let (hi, lo) = id_halves(id);
    d.add_u64(f.id_hi, hi);
    d.add_u64(f.id_lo, lo);
    for _ in 0..TITLE_WEIGHT {
        d.add_text(f.text, &l.title);
    }
    for _ in 0..TAG_WEIGHT {
        for t in &l.tags {
            d.add_text(f.text, t);
        }
    }
    if !l.description.is_empty() {
        d.add_text(f.text, &l.description);
    }
    // A variant's option values ("blue", "xl") are words a shopper searches for; each
    // distinct value once.
    let mut values: Vec<&str> = Vec::new();
    for o in l.variants.iter().flat_map(|v| &v.options) {
        if !values.contains(&o.value.as_str()) {
            values.push(&o.value);
        }
    }
    if !values.is_empty() {
        d.add_text(f.text, values.join(" "));
    }
    d.add_u64(f.category, u64::from(l.category.code()));
    d.add_u64(f.condition, condition_code(l.condition));
    d.add_bytes(f.seller, seller.as_slice());
    let p = PriceFacts::of(l);
    d.add_u64(f.currency, p.currency);
    d.add_u64(f.price, p.lo);
    d.add_u64(f.price_max, p.hi);
    for v in p.variant_prices(l) {
        d.add_u64(f.variant_prices, v);
    }
    d.add_u64(f.signed_at, l.signed_at);
    d.add_u64(f.expires_at, l.expires_at);
    // Every document has a latitude and longitude, so the columns are dense and reading one
    // costs no lookup of whether the document has a value.
    let (lat, lon) = l
        .location
        .as_ref()
        .map_or((NO_LOCATION, NO_LOCATION), |loc| geo::decode(&loc.geohash));
    d.add_f64(f.lat, lat);
    d.add_f64(f.lon, lon);
    if let Some(loc) = &l.location {
        let g = loc.geohash.as_str();
        for n in MIN_CELL_PRECISION..=g.len() {
            d.add_text(f.cell, &g[..n]);
        }
    }
    d
}

/// The indexed code of a condition.
pub fn condition_code(c: swapmeet_protocol::Condition) -> u64 {
    use swapmeet_protocol::Condition::*;
    match c {
        New => 1,
        LikeNew => 2,
        Good => 3,
        Fair => 4,
        ForParts => 5,
    }
}

/// What the index keeps of a listing's price, which the saved-search percolator must read the
/// same way: the currency code ([`FREE_CURRENCY`] when nothing has a price), the lowest and
/// highest price in minor units (free counts as 0), and, when they differ, the in-stock
/// variants' prices.
pub(crate) struct PriceFacts {
    /// Currency code (`currency_code`), or `FREE_CURRENCY`.
    pub currency: u64,
    /// Lowest price, minor units.
    pub lo: u64,
    /// Highest price, minor units.
    pub hi: u64,
}

fn amount(p: &Price) -> u64 {
    match p {
        Price::Free => 0,
        Price::Fixed { amount_minor, .. } => *amount_minor,
    }
}

impl PriceFacts {
    pub(crate) fn of(l: &Listing) -> PriceFacts {
        let (lo, hi) = l.price_range();
        // The protocol keeps one currency per listing; free variants have none of their own.
        let currency = [lo, hi, l.price].into_iter().find_map(|p| match p {
            Price::Free => None,
            Price::Fixed { currency, .. } => Some(currency),
        });
        PriceFacts {
            currency: currency.map_or(FREE_CURRENCY, |c| currency_code(c.code())),
            lo: amount(&lo),
            hi: amount(&hi),
        }
    }

    /// The in-stock variants' prices, only when the listing's prices differ (otherwise the
    /// range says everything).
    pub(crate) fn variant_prices<'l>(&self, l: &'l Listing) -> impl Iterator<Item = u64> + 'l {
        let spread = self.lo != self.hi;
        l.variants
            .iter()
            .filter(move |v| spread && v.in_stock())
            .map(move |v| amount(&v.effective_price(l.price)))
    }
}
