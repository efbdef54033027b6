//! WooCommerce product CSV (the built-in importer/exporter format).
//!
//! `simple` and `external` products are items; a `variable` product is one item keyed
//! `woo:<parent SKU>` (or `woo:id:<ID>`) with the parent's name, whose variants are its
//! `variation` rows (their `Parent` is `id:NN` or the parent's SKU) with their attribute
//! values as options; `grouped` products only bundle other products.
//! Virtual or downloadable products have nothing to hand over and are skipped.

use std::collections::HashMap;

use crate::csvutil::Table;
use crate::error::FeedError;
use crate::format::Format;
use crate::group::{self, Product};
use crate::html::html_to_text;
use crate::item::{Feed, FeedItem, ParseOptions};
use crate::normalize;

/// Parses a WooCommerce product CSV.
pub fn parse(text: &str, opts: &ParseOptions) -> Result<Feed, FeedError> {
    let mut feed = Feed::new(Format::WooCommerceCsv);
    let t = Table::read(text, b',', "WooCommerce product CSV")?;
    if !t.has(&["Type"]) || !t.has(&["Regular price"]) {
        return Err(FeedError::NotFormat {
            format: "WooCommerce product CSV",
            reason: "no Type / Regular price columns".into(),
        });
    }
    for (line, reason) in &t.broken {
        feed.skip(*line, None, reason.clone());
    }
    // Parents by "id:NN" and by SKU, for variations.
    let mut parents: HashMap<String, usize> = HashMap::new();
    // Variable products by the group id their variations carry (SKU, else ID).
    let mut products: HashMap<String, Product> = HashMap::new();
    for (i, (line, rec)) in t.rows.iter().enumerate() {
        let id = t.get(rec, &["ID"]);
        let sku = t.get(rec, &["SKU"]);
        let name = t.get(rec, &["Name"]);
        let variable = t
            .get(rec, &["Type"])
            .split(',')
            .any(|k| k.trim().eq_ignore_ascii_case("variable"));
        if variable && !name.is_empty() && !(id.is_empty() && sku.is_empty()) {
            let (group_id, key) = if sku.is_empty() {
                (id, normalize::item_key("woo", &["id", id]))
            } else {
                (sku, normalize::item_key("woo", &[sku]))
            };
            products.insert(
                group_id.to_string(),
                Product {
                    key,
                    shop_id: group_id.to_string(),
                    title: normalize::title(&mut feed, *line, group_id, name),
                    row: *line,
                },
            );
        }
        if !id.is_empty() {
            parents.insert(format!("id:{id}"), i);
        }
        if !sku.is_empty() {
            parents.insert(sku.to_string(), i);
        }
    }
    for (line, rec) in &t.rows {
        let line = *line;
        let kinds: Vec<String> = t
            .get(rec, &["Type"])
            .split(',')
            .map(|k| k.trim().to_ascii_lowercase())
            .collect();
        let has = |k: &str| kinds.iter().any(|x| x == k);
        let id = t.get(rec, &["ID"]);
        let sku = t.get(rec, &["SKU"]);
        let shop_id = if sku.is_empty() {
            id.to_string()
        } else {
            sku.to_string()
        };
        if has("variable") || has("grouped") {
            feed.containers += 1;
            continue;
        }
        if has("virtual") || has("downloadable") {
            feed.skip(
                line,
                Some(&shop_id),
                "virtual/downloadable product: nothing to pick up or ship",
            );
            continue;
        }
        if !(has("simple") || has("external") || has("variation")) {
            feed.skip(
                line,
                Some(&shop_id),
                format!(
                    "Type '{}' is not a product swapmeet can list",
                    kinds.join(", ")
                ),
            );
            continue;
        }
        let parent = if has("variation") {
            let p = t.get(rec, &["Parent"]);
            match parents.get(p) {
                Some(i) => Some(&t.rows[*i].1),
                None => {
                    feed.skip(
                        line,
                        Some(&shop_id),
                        format!("Parent '{p}' is not in the file"),
                    );
                    continue;
                }
            }
        } else {
            None
        };
        let from_parent = |names: &[&str]| -> String {
            let own = t.get(rec, names);
            if own.is_empty() {
                parent.map(|p| t.get(p, names)).unwrap_or("").to_string()
            } else {
                own.to_string()
            }
        };
        let name = t.get(rec, &["Name"]);
        let attrs: Vec<&str> = (1..=4)
            .map(|n| t.get(rec, &[&format!("Attribute {n} value(s)")]))
            .filter(|v| !v.is_empty())
            .collect();
        let title_text = if !name.is_empty() {
            name.to_string()
        } else if let Some(p) = parent {
            format!("{} - {}", t.get(p, &["Name"]), attrs.join(", "))
        } else {
            feed.skip(line, Some(&shop_id), "Name is empty");
            continue;
        };
        let regular = t.get(rec, &["Regular price"]);
        let sale = t.get(rec, &["Sale price"]);
        if regular.is_empty() && sale.is_empty() {
            feed.skip(line, Some(&shop_id), "Regular price is empty");
            continue;
        }
        let mut price = match normalize::price(
            if regular.is_empty() { sale } else { regular },
            opts.default_currency,
        ) {
            Ok(p) => p,
            Err(e) => {
                feed.skip(line, Some(&shop_id), format!("Regular price: {e}"));
                continue;
            }
        };
        if let Ok(s) = normalize::price(sale, opts.default_currency) {
            if !sale.is_empty() && crate::gmc::lower(&s, &price) {
                price = s;
            }
        }
        let published = t.get(rec, &["Published"]);
        let in_stock = t.get(rec, &["In stock?"]);
        let stock = normalize::quantity(t.get(rec, &["Stock"]));
        let available = published == "1"
            && normalize::availability(in_stock).unwrap_or(true)
            && stock.is_none_or(|q| q > 0);
        let description = {
            let d = from_parent(&["Description"]);
            let d = if d.is_empty() {
                from_parent(&["Short description"])
            } else {
                d
            };
            html_to_text(&d)
        };
        let categories = from_parent(&["Categories"]);
        let tags_text = from_parent(&["Tags"]);
        let title = normalize::title(&mut feed, line, &shop_id, &title_text);
        let description = normalize::description(&mut feed, line, &shop_id, &description);
        let key = if sku.is_empty() {
            normalize::item_key("woo", &["id", id])
        } else {
            normalize::item_key("woo", &[sku])
        };
        let images: Vec<String> = from_parent(&["Images"])
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_string)
            .collect();
        feed.items.push(FeedItem {
            key,
            row: line,
            shop_id: shop_id.clone(),
            group_id: parent.map(|p| {
                let s = t.get(p, &["SKU"]);
                if s.is_empty() {
                    t.get(p, &["ID"]).to_string()
                } else {
                    s.to_string()
                }
            }),
            title,
            description,
            price,
            available,
            quantity: stock.filter(|q| *q > 0),
            condition: None,
            category: normalize::category(&format!("{categories} {title_text}")),
            tags: normalize::tags(
                tags_text
                    .split(',')
                    .chain(attrs.iter().copied().flat_map(|a| a.split(','))),
            ),
            brand: None,
            gtin: None,
            mpn: None,
            link: Some(t.get(rec, &["External URL"]).to_string()).filter(|l| !l.is_empty()),
            image_links: images,
            ships: None,
            // A variation's attributes are its options; an empty value means "any".
            options: if parent.is_some() {
                (1..=4)
                    .filter_map(|n| {
                        let name = t.get(rec, &[&format!("Attribute {n} name")]);
                        (!name.is_empty()).then(|| swapmeet_protocol::VariantOption {
                            name: name.to_string(),
                            value: t
                                .get(rec, &[&format!("Attribute {n} value(s)")])
                                .to_string(),
                        })
                    })
                    .collect()
            } else {
                Vec::new()
            },
            variants: Vec::new(),
        });
    }
    group::group(&mut feed, |g, _| products.get(g).cloned());
    Ok(feed)
}
