//! Google Merchant Center product feeds: RSS 2.0 / Atom XML with the `g:` namespace, and TSV.
//!
//! Both forms carry the same attributes (<https://support.google.com/merchants/answer/7052112>);
//! they are collected per item by local name (`g:price` and `price` alike) and normalized once.

use std::collections::HashMap;

use quick_xml::events::Event;
use quick_xml::Reader;

use crate::csvutil::Table;
use crate::error::FeedError;
use crate::format::Format;
use crate::group::{self, Product};
use crate::html::{decode_entities, html_to_text};
use crate::item::{Feed, FeedItem, ParseOptions};
use crate::normalize;

/// Parses RSS/Atom XML.
pub fn parse_xml(text: &str, opts: &ParseOptions) -> Result<Feed, FeedError> {
    let mut feed = Feed::new(Format::GmcXml);
    let mut reader = Reader::from_str(text);
    // Not trimmed: entity references arrive as separate events, and trimming the text around
    // them would glue "Grey &amp; soft" into "Grey&soft". Values are trimmed when read.
    reader.config_mut().trim_text(false);
    let mut in_item = false;
    let mut item_no = 0usize;
    let mut fields: HashMap<String, String> = HashMap::new();
    let mut stack: Vec<String> = Vec::new();
    let mut saw_root = false;
    loop {
        let ev = match reader.read_event() {
            Ok(ev) => ev,
            Err(e) => {
                if !saw_root {
                    return Err(FeedError::NotFormat {
                        format: "Google Merchant XML",
                        reason: e.to_string(),
                    });
                }
                // A broken tail (a truncated export): keep what was read, say where it broke.
                feed.skip(item_no + 1, None, format!("the XML breaks here: {e}"));
                break;
            }
        };
        match ev {
            Event::Start(e) => {
                saw_root = true;
                let name = String::from_utf8_lossy(e.local_name().as_ref()).to_ascii_lowercase();
                if !in_item && (name == "item" || name == "entry") {
                    in_item = true;
                    item_no += 1;
                    fields.clear();
                    stack.clear();
                } else if in_item {
                    if stack.first().is_some_and(|f| f == "shipping") || name == "shipping" {
                        fields.insert("shipping".into(), "yes".into());
                    }
                    stack.push(name);
                }
            }
            Event::Empty(e) => {
                saw_root = true;
                let name = String::from_utf8_lossy(e.local_name().as_ref()).to_ascii_lowercase();
                if in_item && name == "link" {
                    // Atom: <link href="..."/>
                    if let Some(Ok(a)) = e.attributes().find(|a| {
                        a.as_ref()
                            .is_ok_and(|a| a.key.local_name().as_ref() == b"href")
                    }) {
                        fields
                            .entry("link".into())
                            .or_insert_with(|| String::from_utf8_lossy(&a.value).into_owned());
                    }
                }
            }
            // Text counts only directly inside an item's attribute element.
            Event::Text(t) if in_item && stack.len() == 1 => {
                let v = t.xml_content().map(|c| c.into_owned()).unwrap_or_default();
                append(&mut fields, &stack[0], &v);
            }
            Event::CData(t) if in_item && stack.len() == 1 => {
                let v = String::from_utf8_lossy(&t.into_inner()).into_owned();
                append(&mut fields, &stack[0], &v);
            }
            Event::GeneralRef(r) if in_item && stack.len() == 1 => {
                let name = String::from_utf8_lossy(&r.into_inner()).into_owned();
                let v = decode_entities(&format!("&{name};"));
                append(&mut fields, &stack[0], &v);
            }
            Event::End(e) => {
                let name = String::from_utf8_lossy(e.local_name().as_ref()).to_ascii_lowercase();
                if in_item && stack.is_empty() && (name == "item" || name == "entry") {
                    in_item = false;
                    item(&mut feed, item_no, &fields, opts);
                } else if in_item {
                    stack.pop();
                }
            }
            Event::Eof => break,
            _ => {}
        }
    }
    if !saw_root {
        return Err(FeedError::NotFormat {
            format: "Google Merchant XML",
            reason: "no XML elements".into(),
        });
    }
    group_items(&mut feed);
    Ok(feed)
}

fn append(fields: &mut HashMap<String, String>, key: &str, v: &str) {
    let e = fields.entry(key.to_string()).or_default();
    // Several additional images are separated by spaces.
    if key == "additional_image_link" && !e.is_empty() && !v.is_empty() && !e.ends_with(' ') {
        e.push(' ');
    }
    e.push_str(v);
}

/// Parses the tab-separated form.
pub fn parse_tsv(text: &str, opts: &ParseOptions) -> Result<Feed, FeedError> {
    let mut feed = Feed::new(Format::GmcTsv);
    let table = Table::read(text, b'\t', "Google Merchant TSV")?;
    if !table.has(&["id", "g:id"]) {
        return Err(FeedError::NotFormat {
            format: "Google Merchant TSV",
            reason: "no id column".into(),
        });
    }
    for (line, reason) in &table.broken {
        feed.skip(*line, None, reason.clone());
    }
    const NAMES: &[&str] = &[
        "id",
        "title",
        "description",
        "link",
        "image_link",
        "additional_image_link",
        "availability",
        "price",
        "sale_price",
        "condition",
        "brand",
        "gtin",
        "mpn",
        "item_group_id",
        "google_product_category",
        "product_type",
        "shipping",
        "quantity",
        "sell_on_google_quantity",
        "currency",
        "size",
        "color",
        "material",
        "pattern",
        "age_group",
    ];
    for (line, rec) in &table.rows {
        let mut fields = HashMap::new();
        for n in NAMES {
            let prefixed = format!("g:{n}");
            let v = table.get(rec, &[n, &prefixed]);
            if !v.is_empty() {
                fields.insert(n.to_string(), v.to_string());
            }
        }
        item(&mut feed, *line, &fields, opts);
    }
    group_items(&mut feed);
    Ok(feed)
}

/// Normalizes one item's attributes.
fn item(feed: &mut Feed, row: usize, f: &HashMap<String, String>, opts: &ParseOptions) {
    let get = |k: &str| f.get(k).map(|v| v.trim()).filter(|v| !v.is_empty());
    let Some(id) = get("id") else {
        feed.skip(row, None, "id is missing");
        return;
    };
    let Some(raw_title) = get("title") else {
        feed.skip(row, Some(id), "title is missing");
        return;
    };
    // A non-standard but common <g:currency> applies to prices written without one.
    let currency = get("currency")
        .and_then(|c| swapmeet_protocol::Currency::new(c).ok())
        .or(opts.default_currency);
    let Some(price_text) = get("price") else {
        feed.skip(row, Some(id), "price is missing");
        return;
    };
    let mut price = match normalize::price(price_text, currency) {
        Ok(p) => p,
        Err(e) => {
            feed.skip(row, Some(id), format!("price: {e}"));
            return;
        }
    };
    if let Some(sale) = get("sale_price").and_then(|s| normalize::price(s, currency).ok()) {
        if lower(&sale, &price) {
            price = sale;
        }
    }
    let available = match get("availability") {
        Some(a) => match normalize::availability(a) {
            Some(v) => v,
            None => {
                feed.warn(
                    row,
                    Some(id),
                    format!("availability '{a}' is not known; taken as in stock"),
                );
                true
            }
        },
        None => true,
    };
    let title = normalize::title(feed, row, id, raw_title);
    let description = get("description").map(html_to_text).unwrap_or_default();
    let description = normalize::description(feed, row, id, &description);
    let category_text = [get("google_product_category"), get("product_type")]
        .into_iter()
        .flatten()
        .collect::<Vec<_>>()
        .join(" ");
    let product_type_leaf = get("product_type")
        .and_then(|p| p.rsplit('>').next())
        .map(str::trim);
    let mut images: Vec<String> = get("image_link")
        .map(|s| vec![s.to_string()])
        .unwrap_or_default();
    if let Some(more) = get("additional_image_link") {
        images.extend(
            more.split([' ', ','])
                .filter(|s| !s.is_empty())
                .map(str::to_string),
        );
    }
    feed.items.push(FeedItem {
        key: normalize::item_key("gmc", &[id]),
        row,
        shop_id: id.to_string(),
        group_id: get("item_group_id").map(str::to_string),
        title,
        description,
        price,
        available,
        quantity: get("quantity")
            .or(get("sell_on_google_quantity"))
            .and_then(normalize::quantity),
        condition: get("condition").and_then(normalize::condition),
        category: normalize::category(&category_text),
        tags: normalize::tags(get("brand").into_iter().chain(product_type_leaf)),
        brand: get("brand").map(str::to_string),
        gtin: get("gtin").and_then(normalize::gtin),
        mpn: get("mpn").map(str::to_string),
        link: get("link").map(str::to_string),
        image_links: images,
        ships: get("shipping").map(|_| true),
        // Google's variant attributes; items sharing an item_group_id differ in these.
        options: if get("item_group_id").is_some() {
            VARIANT_ATTRIBUTES
                .iter()
                .filter_map(|(attr, name)| {
                    get(attr).map(|v| swapmeet_protocol::VariantOption {
                        name: name.to_string(),
                        value: decode_entities(v),
                    })
                })
                .collect()
        } else {
            Vec::new()
        },
        variants: Vec::new(),
    });
}

/// The attributes Google's product data specification lets items of one group differ in, and
/// the option name each is shown as.
const VARIANT_ATTRIBUTES: &[(&str, &str)] = &[
    ("size", "size"),
    ("color", "color"),
    ("material", "material"),
    ("pattern", "pattern"),
    ("age_group", "age group"),
];

/// Groups items sharing an `item_group_id` and differing in variant attributes into one item
/// keyed `gmc:<item_group_id>`, titled with what their titles share.
fn group_items(feed: &mut Feed) {
    group::group(feed, |g, rows| {
        Some(Product {
            key: normalize::item_key("gmc", &["group", g]),
            shop_id: g.to_string(),
            title: group::common_title(rows),
            row: rows[0].row,
        })
    });
}

/// Whether `a` is a lower price than `b` in the same currency.
pub(crate) fn lower(a: &swapmeet_protocol::Price, b: &swapmeet_protocol::Price) -> bool {
    use swapmeet_protocol::Price::*;
    match (a, b) {
        (
            Fixed {
                amount_minor: x,
                currency: c1,
            },
            Fixed {
                amount_minor: y,
                currency: c2,
            },
        ) => c1 == c2 && x < y,
        (Free, Fixed { .. }) => true,
        _ => false,
    }
}
