//! Magento 2 product import CSV.
//!
//! Configurable parents list their simple children in `configurable_variations`
//! (`sku=MH01-XS-Black,size=XS,color=Black|sku=...`): a configurable product becomes one item
//! keyed `magento:<parent sku>` with the parent's name, and each child is one of its variants
//! with the option values the parent names for it. A simple product of no configurable is an
//! item keyed `magento:<sku>`. Children take the parent's description and categories when
//! they have none. Rows with a `store_view_code` are translations of another row, not products.

use std::collections::HashMap;

use swapmeet_protocol::VariantOption;

use crate::csvutil::Table;
use crate::error::FeedError;
use crate::format::Format;
use crate::group::{self, Product};
use crate::html::html_to_text;
use crate::item::{Feed, FeedItem, ParseOptions};
use crate::normalize;

/// Parses a Magento 2 product CSV.
pub fn parse(text: &str, opts: &ParseOptions) -> Result<Feed, FeedError> {
    let mut feed = Feed::new(Format::MagentoCsv);
    let t = Table::read(text, b',', "Magento product CSV")?;
    if !t.has(&["sku"]) || !t.has(&["product_type"]) {
        return Err(FeedError::NotFormat {
            format: "Magento product CSV",
            reason: "no sku / product_type columns".into(),
        });
    }
    for (line, reason) in &t.broken {
        feed.skip(*line, None, reason.clone());
    }
    // child sku -> (parent row index, the child's option values as the parent names them)
    let mut parent_of: HashMap<String, (usize, Vec<VariantOption>)> = HashMap::new();
    let mut products: HashMap<String, Product> = HashMap::new();
    for (i, (line, rec)) in t.rows.iter().enumerate() {
        if t.get(rec, &["product_type"]) == "configurable"
            && t.get(rec, &["store_view_code"]).is_empty()
        {
            let sku = t.get(rec, &["sku"]);
            let name = t.get(rec, &["name"]);
            if !sku.is_empty() && !name.is_empty() {
                products.insert(
                    sku.to_string(),
                    Product {
                        key: normalize::item_key("magento", &[sku]),
                        shop_id: sku.to_string(),
                        title: normalize::title(&mut feed, *line, sku, name),
                        row: *line,
                    },
                );
            }
            for variant in t.get(rec, &["configurable_variations"]).split('|') {
                let mut child = None;
                let mut options = Vec::new();
                for kv in variant.split(',') {
                    match kv.trim().split_once('=') {
                        Some(("sku", sku)) => child = Some(sku.to_string()),
                        Some((name, value)) => options.push(VariantOption {
                            name: name.trim().to_string(),
                            value: value.trim().to_string(),
                        }),
                        None => {}
                    }
                }
                if let Some(sku) = child {
                    parent_of.insert(sku, (i, options));
                }
            }
        }
    }
    for (line, rec) in &t.rows {
        let line = *line;
        let sku = t.get(rec, &["sku"]);
        let kind = t.get(rec, &["product_type"]);
        if sku.is_empty() {
            feed.skip(line, None, "sku is empty");
            continue;
        }
        if !t.get(rec, &["store_view_code"]).is_empty() {
            feed.skip(
                line,
                Some(sku),
                "store view row (a translation of another row), not a product",
            );
            continue;
        }
        match kind {
            "configurable" | "bundle" | "grouped" => {
                feed.containers += 1;
                continue;
            }
            "simple" => {}
            "virtual" | "downloadable" => {
                feed.skip(
                    line,
                    Some(sku),
                    format!("{kind} product: nothing to pick up or ship"),
                );
                continue;
            }
            other => {
                feed.skip(
                    line,
                    Some(sku),
                    format!("product_type '{other}' is not a product swapmeet can list"),
                );
                continue;
            }
        }
        let parent = parent_of.get(sku).map(|(i, _)| &t.rows[*i].1);
        let own_or_parent = |name: &str| -> String {
            let own = t.get(rec, &[name]);
            if own.is_empty() {
                parent.map(|p| t.get(p, &[name])).unwrap_or("").to_string()
            } else {
                own.to_string()
            }
        };
        let name = t.get(rec, &["name"]);
        if name.is_empty() {
            feed.skip(line, Some(sku), "name is empty");
            continue;
        }
        let price_text = t.get(rec, &["price"]);
        let mut price = match normalize::price(price_text, opts.default_currency) {
            Ok(p) => p,
            Err(e) => {
                feed.skip(line, Some(sku), format!("price: {e}"));
                continue;
            }
        };
        let special = t.get(rec, &["special_price"]);
        if let Ok(s) = normalize::price(special, opts.default_currency) {
            if !special.is_empty() && crate::gmc::lower(&s, &price) {
                price = s;
            }
        }
        let mut description = own_or_parent("description");
        if description.is_empty() {
            description = own_or_parent("short_description");
        }
        let description = html_to_text(&description);
        let attrs: HashMap<&str, &str> = t
            .get(rec, &["additional_attributes"])
            .split(',')
            .filter_map(|kv| kv.split_once('='))
            .collect();
        let categories = own_or_parent("categories");
        // "Default Category" is Magento's root, not a category anyone searches for.
        let leaf_categories: Vec<&str> = categories
            .split(',')
            .filter(|c| c.contains('/'))
            .filter_map(|c| c.rsplit('/').next())
            .collect();
        let online = t.get(rec, &["product_online"]);
        let qty = normalize::quantity(t.get(rec, &["qty"]));
        let manage_stock = t.get(rec, &["manage_stock"]) != "0";
        let available = online != "2"
            && online != "0"
            && t.get(rec, &["is_in_stock"]) != "0"
            && (!manage_stock
                || qty.is_none_or(|q| q > 0)
                || t.get(rec, &["allow_backorders"]) == "1");
        let title = normalize::title(&mut feed, line, sku, name);
        let description = normalize::description(&mut feed, line, sku, &description);
        let images: Vec<String> = [own_or_parent("base_image")]
            .into_iter()
            .chain(
                own_or_parent("additional_images")
                    .split(',')
                    .map(str::to_string),
            )
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty())
            .collect();
        feed.items.push(FeedItem {
            key: normalize::item_key("magento", &[sku]),
            row: line,
            shop_id: sku.to_string(),
            group_id: parent.map(|p| t.get(p, &["sku"]).to_string()),
            title,
            description,
            price,
            available,
            quantity: qty.filter(|q| *q > 0),
            condition: None,
            category: normalize::category(&format!("{categories} {name}")),
            tags: normalize::tags(
                ["color", "size", "material"]
                    .iter()
                    .filter_map(|k| attrs.get(k).copied())
                    .chain(leaf_categories.iter().copied()),
            ),
            brand: None,
            gtin: None,
            mpn: None,
            link: Some(own_or_parent("url_key"))
                .filter(|u| !u.is_empty())
                .map(|u| format!("{u}.html")),
            image_links: images,
            ships: Some(
                t.get(rec, &["weight"])
                    .parse::<f64>()
                    .is_ok_and(|w| w > 0.0),
            )
            .filter(|s| *s),
            options: parent_of
                .get(sku)
                .map(|(_, o)| o.clone())
                .unwrap_or_default(),
            variants: Vec::new(),
        });
    }
    group::group(&mut feed, |g, _| products.get(g).cloned());
    Ok(feed)
}
