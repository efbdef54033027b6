//! Normalizers shared by every format: encodings, prices, availability, conditions,
//! categories, tags, links and the protocol's length limits.
//!
//! Titles and tags are decoded here (entities and stray markup, see [`crate::html`]), so every
//! format gets the same text; descriptions arrive already converted by
//! [`html_to_text`](crate::html::html_to_text), and are not decoded a second time.

use swapmeet_protocol::limits::{
    MAX_DESCRIPTION_CHARS, MAX_ITEM_KEY_BYTES, MAX_TAGS, MAX_TAG_CHARS, MAX_TITLE_CHARS,
};
use swapmeet_protocol::{Category, Condition, Currency, Price};

use crate::html::inline_text;
use crate::item::{Feed, Warning};

/// Decodes a file: UTF-8 with or without BOM; anything that is not valid UTF-8 is read as
/// Windows-1252 (the superset of Latin-1 that shop systems actually write), with a warning.
pub fn decode_text(bytes: &[u8]) -> (String, Option<Warning>) {
    let bytes = bytes.strip_prefix(&[0xEF, 0xBB, 0xBF]).unwrap_or(bytes);
    match std::str::from_utf8(bytes) {
        Ok(s) => (s.to_string(), None),
        Err(_) => {
            let (text, _, _) = encoding_rs::WINDOWS_1252.decode(bytes);
            (
                text.into_owned(),
                Some(Warning {
                    row: 0,
                    shop_id: None,
                    message: "the file is not UTF-8; read it as Latin-1 (Windows-1252)".into(),
                }),
            )
        }
    }
}

/// Reads a price ("15.00 USD", "649,00 EUR", "$12.50", "4999 JPY"), with `currency` for
/// prices written without one.
pub fn price(text: &str, currency: Option<Currency>) -> Result<Price, String> {
    Price::parse(text, currency).map_err(|e| e.to_string())
}

/// Availability in any spelling: true for in stock / preorder / backorder.
pub fn availability(text: &str) -> Option<bool> {
    let t = text.trim().to_ascii_lowercase().replace(['_', '-'], " ");
    match t.as_str() {
        "in stock"
        | "instock"
        | "available"
        | "available for order"
        | "preorder"
        | "pre order"
        | "backorder"
        | "onbackorder"
        | "on backorder"
        | "limited availability"
        | "1"
        | "yes"
        | "true" => Some(true),
        "out of stock" | "outofstock" | "sold out" | "discontinued" | "0" | "no" | "false" => {
            Some(false)
        }
        _ => None,
    }
}

/// A condition in any spelling; shop vocabularies map onto ours ("used" -> good,
/// "refurbished" -> like-new, "damaged" -> for-parts).
pub fn condition(text: &str) -> Option<Condition> {
    let t = text.trim().to_ascii_lowercase().replace(['_', '-'], " ");
    match t.as_str() {
        "" => None,
        "new" | "brand new" | "newcondition" => Some(Condition::New),
        "refurbished" | "like new" | "as new" | "open box" | "refurbishedcondition" => {
            Some(Condition::LikeNew)
        }
        "used" | "good" | "pre owned" | "second hand" | "usedcondition" => Some(Condition::Good),
        "fair" | "acceptable" | "worn" => Some(Condition::Fair),
        "damaged" | "for parts" | "broken" | "damagedcondition" => Some(Condition::ForParts),
        _ => t.parse().ok(),
    }
}

/// The category a shop's category path or product type suggests, when it is obvious.
pub fn category(text: &str) -> Option<Category> {
    let t = text.to_ascii_lowercase();
    const RULES: &[(&[&str], Category)] = &[
        (&["bicycle", "bike", "cycling"], Category::Bikes),
        (
            &[
                "furniture",
                "sofa",
                "couch",
                "chair",
                "table",
                "shelf",
                "cabinet",
                "armchair",
                "bed",
            ],
            Category::Furniture,
        ),
        (
            &[
                "garden",
                "lawn",
                "outdoor",
                "watering",
                "trowel",
                "wheelbarrow",
                "plant",
                "pots",
            ],
            Category::GardenOutdoor,
        ),
        (
            &[
                "clothing",
                "apparel",
                "tops",
                "tees",
                "t-shirt",
                "hoodie",
                "jacket",
                "pants",
                "shorts",
                "bottoms",
                "shoes",
                "bras",
                "tanks",
                "sweatshirt",
                "accessories",
                "beanie",
                "belt",
                "scarf",
                "cap",
            ],
            Category::ClothingShoes,
        ),
        (
            &[
                "lamp", "lighting", "kitchen", "mug", "pitcher", "vase", "bowl", "pillow", "home",
                "decor",
            ],
            Category::HomeKitchen,
        ),
        (
            &["gear", "bags", "fitness", "sport", "yoga", "equipment"],
            Category::SportsLeisure,
        ),
        (&["watch", "jewel"], Category::JewelryWatches),
        (
            &["computer", "laptop", "phone", "tablet"],
            Category::ComputersPhones,
        ),
        (
            &["electronic", "camera", "audio", "tv"],
            Category::Electronics,
        ),
        (
            &["book", "music", "album", "single", "media", "dvd"],
            Category::BooksMedia,
        ),
        (&["toy", "game"], Category::ToysGames),
        (&["baby", "kids", "children"], Category::BabyKids),
        (&["tool", "hardware", "diy"], Category::ToolsDiy),
        (&["sunglasses", "eyewear"], Category::ClothingShoes),
    ];
    RULES
        .iter()
        .find(|(words, _)| words.iter().any(|w| t.contains(w)))
        .map(|(_, c)| *c)
}

/// Tags from free words (entities decoded, markup stripped): lower case, spaces to dashes, at
/// most 10 of at most 32 characters.
pub fn tags<'a>(words: impl IntoIterator<Item = &'a str>) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for w in words {
        let t: String = inline_text(w)
            .to_lowercase()
            .split_whitespace()
            .collect::<Vec<_>>()
            .join("-")
            .chars()
            .filter(|c| !c.is_control())
            .take(MAX_TAG_CHARS)
            .collect();
        if !t.is_empty() && !out.contains(&t) && out.len() < MAX_TAGS {
            out.push(t);
        }
    }
    out
}

/// A title as one line of plain text (entities decoded once, markup stripped), shortened to
/// the protocol's limit with a warning.
pub fn title(feed: &mut Feed, row: usize, id: &str, text: &str) -> String {
    clip(feed, row, id, "title", &inline_text(text), MAX_TITLE_CHARS)
}

/// Shortens a description (plain text from [`html_to_text`](crate::html::html_to_text)) to
/// the protocol's limit, with a warning.
pub fn description(feed: &mut Feed, row: usize, id: &str, text: &str) -> String {
    let clean: String = text
        .chars()
        .filter(|c| !c.is_control() || *c == '\n' || *c == '\t')
        .collect();
    clip(feed, row, id, "description", &clean, MAX_DESCRIPTION_CHARS)
}

fn clip(feed: &mut Feed, row: usize, id: &str, field: &str, text: &str, max: usize) -> String {
    let n = text.chars().count();
    if n <= max {
        return text.to_string();
    }
    feed.warn(
        row,
        Some(id),
        format!("{field} shortened from {n} to {max} characters (the protocol's limit)"),
    );
    let mut s: String = text.chars().take(max - 1).collect();
    s.push('…');
    s
}

/// An item key from a prefix and the shop's ids; ids too long for the protocol are hashed so
/// the key stays stable and unique.
pub fn item_key(prefix: &str, parts: &[&str]) -> String {
    let key = format!("{prefix}:{}", parts.join(":"));
    if key.len() <= MAX_ITEM_KEY_BYTES {
        return key;
    }
    // FNV-1a, 64-bit: stable across runs and platforms (unlike std's default hasher).
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in key.as_bytes() {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    let keep: String = key.chars().take(MAX_ITEM_KEY_BYTES / 2).collect();
    format!("{keep}~{h:016x}")
}

/// A shop's link as an absolute `http(s)` URL: absolute links stay as they are, relative ones
/// ("hera-pullover-hoodie-xs-blue.html", "/p/42") are resolved against the shop's base URL
/// (see [`shop_url`]), and without one they are dropped: a relative link helps no one who
/// reads the listing away from the shop.
pub fn absolute_link(link: &str, shop_url: Option<&str>) -> Option<String> {
    let link = link.trim();
    if link.is_empty() || link.chars().any(char::is_whitespace) {
        return None;
    }
    if is_http_url(link) {
        return Some(link.to_string());
    }
    if has_scheme(link) {
        // "mailto:...", "javascript:...", "ftp://...": not a page of the shop.
        return None;
    }
    let base = shop_url?.trim_end_matches('/');
    let scheme_end = base.find("://")? + 3;
    if let Some(rest) = link.strip_prefix("//") {
        // Protocol-relative: the shop's scheme, another host.
        return Some(format!("{}{rest}", &base[..scheme_end]));
    }
    if link.starts_with('/') {
        // Root-relative: the shop's scheme and host.
        let host_end = base[scheme_end..]
            .find('/')
            .map_or(base.len(), |i| scheme_end + i);
        return Some(format!("{}{link}", &base[..host_end]));
    }
    // Relative to the shop's base, taken as a folder ("https://shop.example/store" and
    // ".../store/" both mean the store's root), which is how shops export their URL keys.
    Some(format!("{base}/{}", link.trim_start_matches("./")))
}

/// Whether a link starts with a URI scheme (RFC 3986: a letter, then letters, digits, '+',
/// '-' or '.', then ':'), which makes it absolute whatever follows.
fn has_scheme(link: &str) -> bool {
    link.split_once(':').is_some_and(|(scheme, _)| {
        scheme.starts_with(|c: char| c.is_ascii_alphabetic())
            && scheme
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'))
    })
}

fn is_http_url(s: &str) -> bool {
    let lower = s.get(..8).unwrap_or(s).to_ascii_lowercase();
    let rest = if lower.starts_with("https://") {
        &s[8..]
    } else if lower.starts_with("http://") {
        &s[7..]
    } else {
        return false;
    };
    // A host must follow.
    rest.chars()
        .next()
        .is_some_and(|c| c.is_alphanumeric() || c == '[')
}

/// Checks a shop's base URL (`--shop-url`): an absolute `http(s)` URL with a host, no query or
/// fragment. Returns it without a trailing slash.
pub fn shop_url(text: &str) -> Result<String, String> {
    let t = text.trim();
    if !is_http_url(t) || t.chars().any(char::is_whitespace) || t.contains(['?', '#']) {
        return Err(format!(
            "'{t}' is not the base URL of a shop (write it like https://shop.example or https://shop.example/store)"
        ));
    }
    Ok(t.trim_end_matches('/').to_string())
}

/// A whole non-negative quantity ("5", "5.0000", "" = unknown).
pub fn quantity(text: &str) -> Option<u32> {
    let t = text.trim();
    if t.is_empty() {
        return None;
    }
    let v: f64 = t.parse().ok()?;
    (v >= 0.0 && v.is_finite()).then(|| v.min(f64::from(u32::MAX)) as u32)
}

/// A GTIN/barcode: digits only (Shopify exports prefix a quote to keep spreadsheets from
/// eating leading zeros).
pub fn gtin(text: &str) -> Option<String> {
    let t = text.trim().trim_start_matches('\'').trim();
    (!t.is_empty()).then(|| t.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quirks() {
        assert_eq!(availability("in_stock"), Some(true));
        assert_eq!(availability("in stock"), Some(true));
        assert_eq!(availability("Out of Stock"), Some(false));
        assert_eq!(condition(" new "), Some(Condition::New));
        assert_eq!(condition("USED"), Some(Condition::Good));
        assert_eq!(condition("refurbished"), Some(Condition::LikeNew));
        assert_eq!(gtin("'0123456789012").as_deref(), Some("0123456789012"));
        assert_eq!(quantity("5.0000"), Some(5));
        assert_eq!(
            tags(["Road Bike", "road bike", "X"]),
            vec!["road-bike", "x"]
        );
        let eur = Currency::new("EUR").ok();
        assert!(price("649,00 EUR", None).is_ok());
        assert!(price("12.5", eur).is_ok());
        assert!(price("12.5", None).is_err());
        let (t, w) = decode_text(b"caf\xe9");
        assert_eq!(t, "café");
        assert!(w.is_some());
        let (t, w) = decode_text("\u{feff}héllo".as_bytes());
        assert_eq!(t, "héllo");
        assert!(w.is_none());
        assert!(item_key("x", &[&"a".repeat(300)]).len() <= 128);
    }

    #[test]
    fn titles_and_tags_are_decoded_once() {
        let mut feed = Feed::new(crate::Format::Json);
        assert_eq!(
            title(
                &mut feed,
                1,
                "x",
                "EverCool&trade; <b>Tee</b> &#8482; &amp;trade;"
            ),
            "EverCool™ Tee ™ &trade;"
        );
        assert_eq!(
            tags(["Caf&eacute; &amp; Bar", "Men&rsquo;s"]),
            vec!["café-&-bar", "men’s"]
        );
    }

    #[test]
    fn links_become_absolute_or_are_dropped() {
        let shop = Some("https://shop.example/store");
        let rel = "hera-pullover-hoodie-xs-blue.html";
        assert_eq!(
            absolute_link(rel, shop).as_deref(),
            Some("https://shop.example/store/hera-pullover-hoodie-xs-blue.html")
        );
        assert_eq!(
            absolute_link(rel, Some("https://shop.example/")).as_deref(),
            Some("https://shop.example/hera-pullover-hoodie-xs-blue.html")
        );
        assert_eq!(absolute_link(rel, None), None);
        assert_eq!(
            absolute_link("/p/42", shop).as_deref(),
            Some("https://shop.example/p/42")
        );
        assert_eq!(
            absolute_link("//cdn.example/x", shop).as_deref(),
            Some("https://cdn.example/x")
        );
        for abs in ["https://other.example/a", "HTTP://other.example/b"] {
            assert_eq!(absolute_link(abs, None).as_deref(), Some(abs));
            assert_eq!(absolute_link(abs, shop).as_deref(), Some(abs));
        }
        assert_eq!(absolute_link("javascript:alert(1)", shop), None);
        assert_eq!(absolute_link("javascript:alert(1)/x", shop), None);
        assert_eq!(absolute_link("ftp://shop.example/a", shop), None);
        assert_eq!(
            absolute_link("p/a:b.html", shop).as_deref(),
            Some("https://shop.example/store/p/a:b.html")
        );
        assert_eq!(absolute_link("  ", shop), None);
        assert_eq!(
            shop_url("https://shop.example/").as_deref(),
            Ok("https://shop.example")
        );
        for bad in [
            "shop.example",
            "ftp://shop.example",
            "https://",
            "https://a b",
            "https://x/?a=1",
        ] {
            let e = shop_url(bad).unwrap_err();
            assert!(e.contains("https://shop.example"), "{bad}: {e}");
        }
    }
}
