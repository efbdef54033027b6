//! Parsers for the catalogue exports shops already have, normalized into [`FeedItem`]s that the
//! node's retailer bridge turns into signed listings.
//!
//! Every format is parsed as real shops produce it (multi-row products, variants, HTML
//! descriptions, localized numbers, odd encodings). A bad row becomes a [`Skip`] with its row
//! number and reason; it never aborts the parse. Only a file that is not the format at all, or
//! breaks a size limit, is a [`FeedError`].
//!
//! # Layout
//! - [`item`]: `Feed`, `FeedItem`, `FeedVariant`, `Skip`, `Warning`, `ParseOptions`.
//! - [`format`]: the formats and detection from content.
//! - [`normalize`]: prices, availability, conditions, categories, tags, limits, encodings.
//! - [`html`]: HTML descriptions to plain text.
//! - `group`: variant rows (sizes, colours) grouped into one item per product.
//! - [`gmc`]: Google Merchant Center RSS/XML and TSV.
//! - [`shopify`], [`woocommerce`], [`magento`]: the shop systems' CSV exports.
//! - [`json`]: swapmeet's own JSON feed format (docs/FEEDS.md).
//! - [`error`](mod@error): `FeedError`.

mod csvutil;
pub mod error;
pub mod format;
pub mod gmc;
mod group;
pub mod html;
pub mod item;
pub mod json;
pub mod magento;
pub mod normalize;
pub mod shopify;
pub mod woocommerce;

pub use error::FeedError;
pub use format::{detect, Format};
pub use item::{Feed, FeedItem, FeedVariant, ParseOptions, Skip, Warning};

/// Largest feed file accepted.
pub const MAX_FEED_BYTES: usize = 64 * 1024 * 1024;
/// Largest single row or item.
pub const MAX_ROW_BYTES: usize = 1024 * 1024;
/// Most items in one feed.
pub const MAX_ITEMS: usize = 200_000;

/// Parses a feed with default options (no default currency).
pub fn parse(bytes: &[u8], format: Format) -> Result<Feed, FeedError> {
    parse_with(bytes, format, &ParseOptions::default())
}

/// Parses a feed.
/// Skips the items whose title is empty once entities are decoded and markup stripped (a
/// title of `<!--lamp` is one; found by the `parse_feed` fuzz target): the protocol refuses a
/// listing without a title, and the row should say why here rather than fail at signing.
/// One check after every format's parser, so no format can let one through.
fn drop_untitled(feed: &mut Feed) {
    let items = std::mem::take(&mut feed.items);
    for item in items {
        if item.title.trim().is_empty() {
            feed.skip(
                item.row,
                Some(&item.shop_id),
                "title is empty once markup is removed",
            );
        } else {
            feed.items.push(item);
        }
    }
}

pub fn parse_with(bytes: &[u8], format: Format, opts: &ParseOptions) -> Result<Feed, FeedError> {
    if bytes.len() > MAX_FEED_BYTES {
        return Err(FeedError::TooLarge {
            limit: MAX_FEED_BYTES,
            actual: bytes.len(),
        });
    }
    let (text, warning) = normalize::decode_text(bytes);
    let mut feed = match format {
        Format::GmcXml => gmc::parse_xml(&text, opts)?,
        Format::GmcTsv => gmc::parse_tsv(&text, opts)?,
        Format::ShopifyCsv => shopify::parse(&text, opts)?,
        Format::WooCommerceCsv => woocommerce::parse(&text, opts)?,
        Format::MagentoCsv => magento::parse(&text, opts)?,
        Format::Json => json::parse(&text, opts)?,
    };
    if let Some(w) = warning {
        feed.warnings.insert(0, w);
    }
    drop_untitled(&mut feed);
    if feed.items.len() > MAX_ITEMS {
        return Err(FeedError::TooManyItems {
            limit: MAX_ITEMS,
            actual: feed.items.len(),
        });
    }
    Ok(feed)
}
