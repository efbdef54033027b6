//! The formats, and telling them apart from their content.

use std::fmt;
use std::str::FromStr;

use crate::error::FeedError;
use crate::normalize::decode_text;

/// A feed format.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// Google Merchant Center RSS 2.0 / Atom with the `g:` namespace.
    GmcXml,
    /// Google Merchant Center tab-separated.
    GmcTsv,
    /// Shopify product CSV (legacy and 2024+ headers).
    ShopifyCsv,
    /// WooCommerce product CSV (importer format).
    WooCommerceCsv,
    /// Magento 2 product import CSV.
    MagentoCsv,
    /// swapmeet's own JSON (docs/FEEDS.md).
    Json,
}

impl Format {
    /// The name used on the command line.
    pub fn as_str(&self) -> &'static str {
        match self {
            Format::GmcXml => "gmc-xml",
            Format::GmcTsv => "gmc-tsv",
            Format::ShopifyCsv => "shopify-csv",
            Format::WooCommerceCsv => "woocommerce-csv",
            Format::MagentoCsv => "magento-csv",
            Format::Json => "json",
        }
    }
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Format {
    type Err = FeedError;
    fn from_str(s: &str) -> Result<Format, FeedError> {
        Ok(match s.trim().to_ascii_lowercase().as_str() {
            "gmc-xml" | "gmc" | "google" | "xml" => Format::GmcXml,
            "gmc-tsv" | "tsv" => Format::GmcTsv,
            "shopify-csv" | "shopify" => Format::ShopifyCsv,
            "woocommerce-csv" | "woocommerce" | "woo" => Format::WooCommerceCsv,
            "magento-csv" | "magento" => Format::MagentoCsv,
            "json" => Format::Json,
            other => return Err(FeedError::UnknownFormat(other.to_string())),
        })
    }
}

/// Tells the format from the content, where that is unambiguous.
pub fn detect(bytes: &[u8]) -> Result<Format, FeedError> {
    let head = &bytes[..bytes.len().min(64 * 1024)];
    let (text, _) = decode_text(head);
    let t = text.trim_start();
    if t.starts_with('<') {
        if t.contains("http://base.google.com/ns/1.0") || t.contains("<g:") {
            return Ok(Format::GmcXml);
        }
        return Err(FeedError::Undetected(
            "an XML file without the Google Merchant namespace (http://base.google.com/ns/1.0)"
                .into(),
        ));
    }
    if t.starts_with('{') || t.starts_with('[') {
        return Ok(Format::Json);
    }
    let header = t.lines().next().unwrap_or("");
    let fields: Vec<String> = if header.contains('\t') {
        header
            .split('\t')
            .map(|f| f.trim().trim_matches('"').to_ascii_lowercase())
            .collect()
    } else {
        // A header line is simple enough to split on commas (names never contain them here).
        header
            .split(',')
            .map(|f| f.trim().trim_matches('"').to_ascii_lowercase())
            .collect()
    };
    let has = |name: &str| fields.iter().any(|f| f == name);
    if header.contains('\t') && (has("id") || has("g:id")) && (has("title") || has("g:title")) {
        return Ok(Format::GmcTsv);
    }
    if (has("handle") || has("url handle"))
        && (has("variant price") || has("price") || has("title"))
    {
        return Ok(Format::ShopifyCsv);
    }
    if has("regular price") && has("type") && (has("id") || has("sku")) {
        return Ok(Format::WooCommerceCsv);
    }
    if has("sku") && has("product_type") && has("attribute_set_code") {
        return Ok(Format::MagentoCsv);
    }
    Err(FeedError::Undetected(format!(
        "the first line does not look like a known header ({})",
        header.chars().take(80).collect::<String>()
    )))
}
