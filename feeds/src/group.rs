//! One item per product: the rows a shop exports per size and colour (Shopify rows sharing a
//! handle, Magento children of a configurable, WooCommerce variations, Google Merchant items
//! sharing an `item_group_id`) become one item whose variants carry the option values, price
//! and stock of each row.
//!
//! Parsers emit one item per row with its `group_id` and `options`; [`group`] then merges the
//! rows of each group that have options. Rows without options (a product with a single
//! "Default Title" variant, an item group of one lamp) stay items of their own, as before.

use std::collections::HashMap;

use swapmeet_protocol::limits::{MAX_OPTION_NAME_CHARS, MAX_OPTION_VALUE_CHARS, MAX_VARIANTS};
use swapmeet_protocol::{Price, VariantOption};

use crate::item::{Feed, FeedItem, FeedVariant};

/// What the parser knows of a product that its variant rows do not say.
#[derive(Clone, Debug)]
pub(crate) struct Product {
    /// The product's item key ("magento:WH02").
    pub key: String,
    /// The shop's id of the product (parent SKU, handle).
    pub shop_id: String,
    /// The product's title, without any variant suffix.
    pub title: String,
    /// The row of the product (its parent row, or its first variant).
    pub row: usize,
}

/// The value of an option a variant does not name while its siblings do: WooCommerce writes
/// an empty attribute for "any size".
const ANY: &str = "any";

/// Merges each group's variant rows into one item. `product` names the product of a group id
/// (`None`: the group is not a product of variants, its rows stay as they are).
pub(crate) fn group(feed: &mut Feed, product: impl Fn(&str, &[&FeedItem]) -> Option<Product>) {
    let items = std::mem::take(&mut feed.items);
    // Group members in file order; the product takes the place of its first variant.
    let mut members: HashMap<String, Vec<usize>> = HashMap::new();
    for (i, item) in items.iter().enumerate() {
        if let (Some(g), false) = (&item.group_id, item.options.is_empty()) {
            members.entry(g.clone()).or_default().push(i);
        }
    }
    let mut slots: Vec<Option<FeedItem>> = items.into_iter().map(Some).collect();
    let mut out = Vec::with_capacity(slots.len());
    for i in 0..slots.len() {
        let Some(item) = slots[i].take() else {
            continue;
        };
        let group = match (&item.group_id, item.options.is_empty()) {
            (Some(g), false) => g.clone(),
            _ => {
                out.push(item);
                continue;
            }
        };
        let idx = members.remove(&group).unwrap_or_default();
        let mut rows = vec![item];
        rows.extend(idx.iter().skip(1).filter_map(|j| slots[*j].take()));
        let refs: Vec<&FeedItem> = rows.iter().collect();
        match product(&group, &refs) {
            Some(p) => out.push(merge(feed, p, rows)),
            None => out.extend(rows),
        }
    }
    feed.items = out;
}

/// One item of a product from its variant rows (at least one).
fn merge(feed: &mut Feed, p: Product, rows: Vec<FeedItem>) -> FeedItem {
    // Option names in order of first appearance; an option no row gives is dropped, one that
    // some rows leave out is "any" there.
    let mut names: Vec<String> = Vec::new();
    for r in &rows {
        for o in &r.options {
            if !o.value.trim().is_empty() && !names.contains(&o.name) {
                names.push(o.name.clone());
            }
        }
    }
    let mut variants: Vec<FeedVariant> = Vec::with_capacity(rows.len());
    let mut kept: Vec<&FeedItem> = Vec::with_capacity(rows.len());
    for r in &rows {
        let options: Vec<VariantOption> = names
            .iter()
            .map(|n| VariantOption {
                name: n.clone(),
                value: r
                    .options
                    .iter()
                    .find(|o| o.name == *n && !o.value.trim().is_empty())
                    .map_or(ANY.to_string(), |o| o.value.trim().to_string()),
            })
            .collect();
        let reason = if let Some(o) = options
            .iter()
            .find(|o| o.name.chars().count() > MAX_OPTION_NAME_CHARS)
        {
            Some(format!(
                "option name '{}' is longer than {MAX_OPTION_NAME_CHARS} characters",
                o.name
            ))
        } else if let Some(o) = options
            .iter()
            .find(|o| o.value.chars().count() > MAX_OPTION_VALUE_CHARS)
        {
            Some(format!(
                "option {} = '{}' is longer than {MAX_OPTION_VALUE_CHARS} characters",
                o.name, o.value
            ))
        } else if let Some(k) = variants.iter().position(|v| v.options == options) {
            Some(format!(
                "the same options as variant {} of product {} (a product lists each combination once)",
                variants[k].shop_id, p.shop_id
            ))
        } else if variants.len() >= MAX_VARIANTS {
            Some(format!(
                "product {} has more than {MAX_VARIANTS} variants, the most a listing can carry",
                p.shop_id
            ))
        } else if currency(&r.price)
            .zip(currency(&rows[0].price))
            .is_some_and(|(a, b)| a != b)
        {
            Some(format!(
                "price is in another currency than the product's first variant {}",
                rows[0].shop_id
            ))
        } else {
            None
        };
        if let Some(reason) = reason {
            feed.skip(r.row, Some(&r.shop_id), reason);
            continue;
        }
        variants.push(FeedVariant {
            row: r.row,
            shop_id: r.shop_id.clone(),
            options,
            price: r.price,
            quantity: r.quantity,
            available: r.available,
            gtin: r.gtin.clone(),
        });
        kept.push(r);
    }
    let first = kept.first().copied().unwrap_or(&rows[0]);
    // The product's price is its lowest in stock (what "from" shows), else its lowest.
    let lowest = |only_available: bool| {
        variants
            .iter()
            .filter(|v| v.available || !only_available)
            .map(|v| v.price)
            .min_by_key(|p| match p {
                Price::Free => 0,
                Price::Fixed { amount_minor, .. } => *amount_minor,
            })
    };
    let price = lowest(true).or(lowest(false)).unwrap_or(first.price);
    // Tags every variant has: the product's, not one size's or colour's.
    let tags: Vec<String> = first
        .tags
        .iter()
        .filter(|t| kept.iter().all(|r| r.tags.contains(t)))
        .cloned()
        .collect();
    let mut images: Vec<String> = Vec::new();
    for r in &kept {
        for i in &r.image_links {
            if !images.contains(i) {
                images.push(i.clone());
            }
        }
    }
    FeedItem {
        key: p.key,
        row: p.row,
        shop_id: p.shop_id.clone(),
        group_id: Some(p.shop_id),
        title: p.title,
        description: first.description.clone(),
        price,
        available: variants.iter().any(|v| v.available),
        quantity: None,
        condition: first.condition,
        category: first.category,
        tags,
        brand: first.brand.clone(),
        gtin: None,
        mpn: None,
        link: first.link.clone(),
        image_links: images,
        ships: first.ships,
        options: Vec::new(),
        variants,
    }
}

fn currency(p: &Price) -> Option<swapmeet_protocol::Currency> {
    match p {
        Price::Free => None,
        Price::Fixed { currency, .. } => Some(*currency),
    }
}

/// The title words every variant title shares ("Shirt - Blue - M", "Shirt - Red - L" ->
/// "Shirt"), for formats that carry no product title; the first title if they share none.
pub(crate) fn common_title(rows: &[&FeedItem]) -> String {
    let first: Vec<&str> = rows[0].title.split_whitespace().collect();
    let mut n = first.len();
    for r in &rows[1..] {
        let words: Vec<&str> = r.title.split_whitespace().collect();
        n = n.min(first.iter().zip(&words).take_while(|(a, b)| a == b).count());
    }
    if rows.len() == 1 {
        // A single variant: drop its option values from the end of the title.
        let values: Vec<String> = rows[0]
            .options
            .iter()
            .map(|o| o.value.to_lowercase())
            .collect();
        while n > 1
            && values.contains(
                &first[n - 1]
                    .trim_matches(|c: char| !c.is_alphanumeric())
                    .to_lowercase(),
            )
        {
            n -= 1;
        }
    }
    let t = first[..n]
        .join(" ")
        .trim_end_matches(|c: char| {
            c == '-' || c == ',' || c == '/' || c == '|' || c.is_whitespace()
        })
        .to_string();
    if t.is_empty() {
        rows[0].title.clone()
    } else {
        t
    }
}
