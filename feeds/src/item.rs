//! What a parsed feed is made of.

use serde::{Deserialize, Serialize};
use swapmeet_protocol::{Category, Condition, Currency, Price, VariantOption};

use crate::format::Format;

/// Options of a parse.
#[derive(Clone, Debug, Default)]
pub struct ParseOptions {
    /// Currency of prices written without one (Shopify, WooCommerce and Magento exports carry
    /// none).
    pub default_currency: Option<Currency>,
}

/// One shop item, normalized.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FeedItem {
    /// Stable item key derived from the shop's own ids ("shopify:floor-lamp", "magento:MH01").
    pub key: String,
    /// Where it is in the file: the CSV line the row starts on, or the XML/JSON item number.
    pub row: usize,
    /// The shop's own id or SKU, as written.
    pub shop_id: String,
    /// The parent product / item group.
    #[serde(default)]
    pub group_id: Option<String>,
    /// Plain-text title, within the protocol's limit.
    pub title: String,
    /// Plain-text description, within the protocol's limit.
    #[serde(default)]
    pub description: String,
    /// Price (the sale price when lower).
    pub price: Price,
    /// In stock and published.
    pub available: bool,
    /// Quantity, where the format has it.
    #[serde(default)]
    pub quantity: Option<u32>,
    /// Condition, where the format has it.
    #[serde(default)]
    pub condition: Option<Condition>,
    /// Category, where the shop's categories make it obvious.
    #[serde(default)]
    pub category: Option<Category>,
    /// Tags (at most 10, each at most 32 characters, lower case).
    #[serde(default)]
    pub tags: Vec<String>,
    /// Brand.
    #[serde(default)]
    pub brand: Option<String>,
    /// GTIN / barcode.
    #[serde(default)]
    pub gtin: Option<String>,
    /// MPN.
    #[serde(default)]
    pub mpn: Option<String>,
    /// Product page.
    #[serde(default)]
    pub link: Option<String>,
    /// Image URLs.
    #[serde(default)]
    pub image_links: Vec<String>,
    /// Whether it ships, where the format says.
    #[serde(default)]
    pub ships: Option<bool>,
    /// A variant row's option values (size, colour) before grouping; empty after it.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub options: Vec<VariantOption>,
    /// A product's variants, one per size/colour row of the export (empty: no variants).
    /// Then `price` is the lowest price in stock, `available` says whether any variant is,
    /// and `quantity` is unused.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub variants: Vec<FeedVariant>,
}

/// One variant of a product: what its row said.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FeedVariant {
    /// The row it came from.
    pub row: usize,
    /// The shop's id or SKU of the variant.
    pub shop_id: String,
    /// Its option values, with the same names in the same order in every variant.
    pub options: Vec<VariantOption>,
    /// Its price (the sale price when lower).
    pub price: Price,
    /// Quantity, where the format has it.
    #[serde(default)]
    pub quantity: Option<u32>,
    /// In stock and published.
    pub available: bool,
    /// GTIN / barcode of the variant.
    #[serde(default)]
    pub gtin: Option<String>,
}

/// A row that did not become an item, and why.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Skip {
    /// Row or item number.
    pub row: usize,
    /// The shop's id, when known.
    #[serde(default)]
    pub shop_id: Option<String>,
    /// Why, naming the field.
    pub reason: String,
}

/// Something changed or guessed while normalizing (a shortened title, an encoding).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Warning {
    /// Row or item number (0: the whole file).
    pub row: usize,
    /// The shop's id, when known.
    #[serde(default)]
    pub shop_id: Option<String>,
    /// What happened.
    pub message: String,
}

/// A parsed feed.
#[derive(Clone, Debug, PartialEq)]
pub struct Feed {
    /// Its format.
    pub format: Format,
    /// Items.
    pub items: Vec<FeedItem>,
    /// Rows skipped.
    pub skipped: Vec<Skip>,
    /// Warnings.
    pub warnings: Vec<Warning>,
    /// Rows that are containers of other items (variable, grouped or configurable parents),
    /// listed through their children rather than themselves.
    pub containers: usize,
}

impl Feed {
    /// An empty feed of a format.
    pub fn new(format: Format) -> Feed {
        Feed {
            format,
            items: Vec::new(),
            skipped: Vec::new(),
            warnings: Vec::new(),
            containers: 0,
        }
    }

    /// Records a skipped row.
    pub fn skip(&mut self, row: usize, shop_id: Option<&str>, reason: impl Into<String>) {
        self.skipped.push(Skip {
            row,
            shop_id: shop_id.filter(|s| !s.is_empty()).map(str::to_string),
            reason: reason.into(),
        });
    }

    /// Records a warning.
    pub fn warn(&mut self, row: usize, shop_id: Option<&str>, message: impl Into<String>) {
        self.warnings.push(Warning {
            row,
            shop_id: shop_id.filter(|s| !s.is_empty()).map(str::to_string),
            message: message.into(),
        });
    }
}
