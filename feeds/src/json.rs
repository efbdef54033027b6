//! swapmeet's own JSON feed (docs/FEEDS.md), for shops that write their own export:
//! `{"items": [{"id": "...", "title": "...", "price": "25 EUR", ...}]}` or a bare array.
//! Items sharing a `group_id` and giving `options` (`{"size": "M"}`) are the variants of one
//! product keyed `json:group:<group_id>`, titled with its `group_title` (or what their titles
//! share).

use serde_json::Value;

use crate::error::FeedError;
use crate::format::Format;
use crate::group::{self, Product};
use crate::html::html_to_text;
use crate::item::{Feed, FeedItem, ParseOptions};
use crate::normalize;

/// Parses the JSON feed. Items that are not objects or lack required fields are skipped with
/// their position.
pub fn parse(text: &str, opts: &ParseOptions) -> Result<Feed, FeedError> {
    let mut feed = Feed::new(Format::Json);
    let doc: Value = serde_json::from_str(text).map_err(|e| FeedError::NotFormat {
        format: "swapmeet JSON feed",
        reason: e.to_string(),
    })?;
    let items = match &doc {
        Value::Array(a) => a,
        Value::Object(o) => match o.get("items") {
            Some(Value::Array(a)) => a,
            _ => {
                return Err(FeedError::NotFormat {
                    format: "swapmeet JSON feed",
                    reason: "no \"items\" array".into(),
                })
            }
        },
        _ => {
            return Err(FeedError::NotFormat {
                format: "swapmeet JSON feed",
                reason: "not an object or array".into(),
            })
        }
    };
    let currency = doc
        .get("currency")
        .and_then(Value::as_str)
        .and_then(|c| swapmeet_protocol::Currency::new(c).ok())
        .or(opts.default_currency);
    let mut group_titles: std::collections::HashMap<String, String> = Default::default();
    for (i, v) in items.iter().enumerate() {
        let row = i + 1;
        let s = |k: &str| -> Option<String> {
            match v.get(k) {
                Some(Value::String(s)) if !s.trim().is_empty() => Some(s.trim().to_string()),
                Some(Value::Number(n)) => Some(n.to_string()),
                _ => None,
            }
        };
        if !v.is_object() {
            feed.skip(row, None, "item is not a JSON object");
            continue;
        }
        let Some(id) = s("id") else {
            feed.skip(row, None, "id is missing");
            continue;
        };
        let Some(title) = s("title") else {
            feed.skip(row, Some(&id), "title is missing");
            continue;
        };
        let Some(price_text) = s("price") else {
            feed.skip(row, Some(&id), "price is missing");
            continue;
        };
        let price = match normalize::price(&price_text, currency) {
            Ok(p) => p,
            Err(e) => {
                feed.skip(row, Some(&id), format!("price: {e}"));
                continue;
            }
        };
        let available = match s("availability") {
            None => v.get("available").and_then(Value::as_bool).unwrap_or(true),
            Some(a) => match normalize::availability(&a) {
                Some(b) => b,
                None => {
                    feed.skip(row, Some(&id), format!("availability '{a}' is not one of in stock, out of stock, preorder, backorder"));
                    continue;
                }
            },
        };
        let condition = match s("condition") {
            None => None,
            Some(c) => match normalize::condition(&c) {
                Some(c) => Some(c),
                None => {
                    feed.skip(row, Some(&id), format!("condition '{c}' is not one of new, like-new, good, fair, for-parts, used, refurbished"));
                    continue;
                }
            },
        };
        let category = match s("category") {
            None => None,
            Some(c) => match c.parse() {
                Ok(c) => Some(c),
                Err(_) => normalize::category(&c),
            },
        };
        let strings = |k: &str| -> Vec<String> {
            v.get(k)
                .and_then(Value::as_array)
                .map(|a| {
                    a.iter()
                        .filter_map(Value::as_str)
                        .map(str::to_string)
                        .collect()
                })
                .unwrap_or_default()
        };
        let tags = strings("tags");
        let title = normalize::title(&mut feed, row, &id, &title);
        let description = normalize::description(
            &mut feed,
            row,
            &id,
            &html_to_text(&s("description").unwrap_or_default()),
        );
        feed.items.push(FeedItem {
            key: normalize::item_key("json", &[&id]),
            row,
            shop_id: id.clone(),
            group_id: s("group_id"),
            title,
            description,
            price,
            available,
            quantity: s("quantity").and_then(|q| normalize::quantity(&q)),
            condition,
            category,
            tags: normalize::tags(tags.iter().map(String::as_str)),
            brand: s("brand"),
            gtin: s("gtin").and_then(|g| normalize::gtin(&g)),
            mpn: s("mpn"),
            link: s("link"),
            image_links: strings("image_links"),
            ships: v.get("ships").and_then(Value::as_bool),
            // Option values in name order (a JSON object has no order of its own).
            options: v
                .get("options")
                .and_then(Value::as_object)
                .filter(|_| s("group_id").is_some())
                .map(|o| {
                    let mut opts: Vec<swapmeet_protocol::VariantOption> = o
                        .iter()
                        .filter_map(|(name, value)| {
                            let value = match value {
                                Value::String(s) => s.trim().to_string(),
                                Value::Number(n) => n.to_string(),
                                _ => return None,
                            };
                            Some(swapmeet_protocol::VariantOption {
                                name: name.trim().to_string(),
                                value,
                            })
                        })
                        .collect();
                    opts.sort_by(|a, b| a.name.cmp(&b.name));
                    opts
                })
                .unwrap_or_default(),
            variants: Vec::new(),
        });
        if let (Some(g), Some(t)) = (s("group_id"), s("group_title")) {
            if let std::collections::hash_map::Entry::Vacant(e) = group_titles.entry(g) {
                e.insert(normalize::title(&mut feed, row, &id, &t));
            }
        }
    }
    group::group(&mut feed, |g, rows| {
        Some(Product {
            key: normalize::item_key("json", &["group", g]),
            shop_id: g.to_string(),
            title: group_titles
                .get(g)
                .cloned()
                .unwrap_or_else(|| group::common_title(rows)),
            row: rows[0].row,
        })
    });
    Ok(feed)
}
