//! Shopify product CSV exports, legacy header (`Handle`, `Variant Price`, ...) and the
//! 2024+ header (`URL handle`, `Price`, ...).
//!
//! A product spans several rows sharing its handle: the first carries the product's fields,
//! the following ones are variants (with their own price/SKU/options) or image-only rows.
//! Every product becomes one item keyed `shopify:<handle>`; when its rows name options
//! (anything but the single "Default Title" variant), each row is one of its variants.

use crate::csvutil::Table;
use crate::error::FeedError;
use crate::format::Format;
use crate::group::{self, Product as Grouped};
use crate::html::html_to_text;
use crate::item::{Feed, FeedItem, ParseOptions};
use crate::normalize;

const HANDLE: &[&str] = &["Handle", "URL handle"];
const TITLE: &[&str] = &["Title"];
const BODY: &[&str] = &["Body (HTML)", "Description"];
const VENDOR: &[&str] = &["Vendor"];
const TYPE: &[&str] = &["Type", "Product type"];
const CATEGORY: &[&str] = &[
    "Product category",
    "Google Shopping / Google Product Category",
    "Product Category",
];
const TAGS: &[&str] = &["Tags"];
const PUBLISHED: &[&str] = &["Published", "Published on online store"];
const STATUS: &[&str] = &["Status"];
const SKU: &[&str] = &["Variant SKU", "SKU"];
const PRICE: &[&str] = &["Variant Price", "Price"];
const QTY: &[&str] = &["Variant Inventory Qty", "Inventory quantity"];
const TRACKER: &[&str] = &["Variant Inventory Tracker", "Inventory tracker"];
const POLICY: &[&str] = &[
    "Variant Inventory Policy",
    "Continue selling when out of stock",
];
const SHIPPING: &[&str] = &["Variant Requires Shipping", "Requires shipping"];
const BARCODE: &[&str] = &["Variant Barcode", "Barcode"];
const IMAGE: &[&str] = &["Image Src", "Product image URL"];
const VARIANT_IMAGE: &[&str] = &["Variant Image", "Variant image URL"];
const CONDITION: &[&str] = &["Google Shopping / Condition", "Condition"];
const MPN: &[&str] = &["Google Shopping / MPN"];
const OPTION_NAMES: [&[&str]; 3] = [
    &["Option1 Name", "Option1 name"],
    &["Option2 Name", "Option2 name"],
    &["Option3 Name", "Option3 name"],
];
const OPTIONS: [&[&str]; 3] = [
    &["Option1 Value", "Option1 value"],
    &["Option2 Value", "Option2 value"],
    &["Option3 Value", "Option3 value"],
];

struct Product {
    handle: String,
    title: String,
    body: String,
    vendor: String,
    kind: String,
    category: String,
    tags: String,
    published: bool,
    status_ok: bool,
    images: Vec<String>,
    first_item: usize,
    /// Option names from the product's first row ("Size", "Color").
    option_names: Vec<String>,
}

fn truthy(v: &str) -> bool {
    matches!(
        v.trim().to_ascii_lowercase().as_str(),
        "true" | "yes" | "1" | "active"
    )
}

/// Parses a Shopify product CSV.
pub fn parse(text: &str, opts: &ParseOptions) -> Result<Feed, FeedError> {
    let mut feed = Feed::new(Format::ShopifyCsv);
    let t = Table::read(text, b',', "Shopify product CSV")?;
    if !t.has(HANDLE) {
        return Err(FeedError::NotFormat {
            format: "Shopify product CSV",
            reason: "no Handle / URL handle column".into(),
        });
    }
    for (line, reason) in &t.broken {
        feed.skip(*line, None, reason.clone());
    }
    let mut product: Option<Product> = None;
    let mut grouped: std::collections::HashMap<String, Grouped> = Default::default();
    for (line, rec) in &t.rows {
        let line = *line;
        let handle = t.get(rec, HANDLE);
        if handle.is_empty() {
            feed.skip(line, None, "Handle is empty");
            continue;
        }
        let title = t.get(rec, TITLE);
        let new_product = product.as_ref().is_none_or(|p| p.handle != handle);
        if new_product {
            if title.is_empty() {
                feed.skip(
                    line,
                    Some(handle),
                    "Title is empty on the first row of the product",
                );
                product = None;
                continue;
            }
            let status = t.get(rec, STATUS).to_ascii_lowercase();
            product = Some(Product {
                handle: handle.to_string(),
                title: title.to_string(),
                body: t.get(rec, BODY).to_string(),
                vendor: t.get(rec, VENDOR).to_string(),
                kind: t.get(rec, TYPE).to_string(),
                category: t.get(rec, CATEGORY).to_string(),
                tags: t.get(rec, TAGS).to_string(),
                // Legacy exports leave Published empty on variant rows only; an empty value on
                // the product row means unpublished... except very old exports without it.
                published: t.get(rec, PUBLISHED).is_empty() || truthy(t.get(rec, PUBLISHED)),
                // archived and draft products are not for sale.
                status_ok: status.is_empty() || status == "active",
                images: Vec::new(),
                first_item: feed.items.len(),
                option_names: OPTION_NAMES
                    .iter()
                    .map(|n| t.get(rec, n).to_string())
                    .collect(),
            });
            grouped.insert(
                handle.to_string(),
                Grouped {
                    key: normalize::item_key("shopify", &[handle]),
                    shop_id: handle.to_string(),
                    title: normalize::title(&mut feed, line, handle, title),
                    row: line,
                },
            );
        }
        let Some(p) = product.as_mut() else { continue };
        let image = t.get(rec, IMAGE);
        let price_text = t.get(rec, PRICE);
        let sku = t.get(rec, SKU);
        let options: Vec<&str> = OPTIONS
            .iter()
            .map(|o| t.get(rec, o))
            .filter(|v| !v.is_empty())
            .collect();
        if price_text.is_empty() && sku.is_empty() && options.is_empty() {
            // An image-only continuation row.
            if !image.is_empty() {
                p.images.push(image.to_string());
                for item in feed.items[p.first_item..].iter_mut() {
                    item.image_links.push(image.to_string());
                }
            }
            continue;
        }
        if !image.is_empty() && !p.images.iter().any(|i| i == image) {
            p.images.push(image.to_string());
        }
        let default_variant = options.is_empty() || options == ["Default Title"];
        let named_options: Vec<swapmeet_protocol::VariantOption> = if default_variant {
            Vec::new()
        } else {
            OPTIONS
                .iter()
                .zip(&p.option_names)
                .enumerate()
                .filter(|(_, (o, _))| !t.get(rec, o).is_empty())
                .map(|(k, (o, name))| swapmeet_protocol::VariantOption {
                    name: if name.is_empty() {
                        format!("option {}", k + 1)
                    } else {
                        name.clone()
                    },
                    value: t.get(rec, o).to_string(),
                })
                .collect()
        };
        let key = if default_variant && new_product {
            normalize::item_key("shopify", &[handle])
        } else if !sku.is_empty() {
            normalize::item_key("shopify", &[handle, sku])
        } else {
            normalize::item_key("shopify", &[handle, &options.join("/")])
        };
        let shop_id = if sku.is_empty() {
            handle.to_string()
        } else {
            sku.to_string()
        };
        let price = match normalize::price(price_text, opts.default_currency) {
            Ok(p) => p,
            Err(e) => {
                feed.skip(line, Some(&shop_id), format!("price: {e}"));
                continue;
            }
        };
        let full_title = if default_variant {
            p.title.clone()
        } else {
            format!("{} - {}", p.title, options.join(", "))
        };
        let title = normalize::title(&mut feed, line, &shop_id, &full_title);
        let description = normalize::description(&mut feed, line, &shop_id, &html_to_text(&p.body));
        let tracked = !t.get(rec, TRACKER).is_empty();
        let qty = normalize::quantity(t.get(rec, QTY));
        let policy = t.get(rec, POLICY).to_ascii_lowercase();
        let oversell = policy == "continue" || policy == "true";
        let in_stock = !tracked || oversell || qty.is_none_or(|q| q > 0);
        let tags_src: Vec<&str> = p
            .tags
            .split(',')
            .chain([p.vendor.as_str(), p.kind.as_str()])
            .collect();
        let mut images = p.images.clone();
        let vimg = t.get(rec, VARIANT_IMAGE);
        if !vimg.is_empty() {
            images.insert(0, vimg.to_string());
        }
        feed.items.push(FeedItem {
            key,
            row: line,
            shop_id,
            group_id: Some(p.handle.clone()),
            title,
            description,
            price,
            available: p.published && p.status_ok && in_stock,
            quantity: qty.filter(|q| *q > 0),
            condition: normalize::condition(t.get(rec, CONDITION)),
            category: normalize::category(&format!(
                "{} {} {} {}",
                p.category, p.kind, p.tags, p.title
            )),
            tags: normalize::tags(tags_src),
            brand: Some(p.vendor.clone()).filter(|v| !v.is_empty()),
            gtin: normalize::gtin(t.get(rec, BARCODE)),
            mpn: Some(t.get(rec, MPN).to_string()).filter(|v| !v.is_empty()),
            link: None,
            image_links: images,
            ships: Some(t.get(rec, SHIPPING))
                .filter(|v| !v.is_empty())
                .map(truthy),
            options: named_options,
            variants: Vec::new(),
        });
    }
    group::group(&mut feed, |g, _| grouped.get(g).cloned());
    Ok(feed)
}
