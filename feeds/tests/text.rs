//! Text that shops write (issue 10 §3): entities and markup are decoded once, in every format,
//! for titles, descriptions and tags; checked on the real exports in `../shared/feeds/` and on
//! small feeds of each format written here.

use swapmeet_feeds::html::decode_entities;
use swapmeet_feeds::{detect, parse_with, Feed, Format, ParseOptions};
use swapmeet_protocol::Currency;

fn shared(name: &str) -> Vec<u8> {
    let path = format!("{}/../../shared/feeds/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read(&path)
        .unwrap_or_else(|e| panic!("{path}: {e} (the shared feeds sit beside the project)"))
}

fn parse(bytes: &[u8], format: Format) -> Feed {
    let opts = ParseOptions {
        default_currency: Some(Currency::new("EUR").unwrap()),
    };
    parse_with(bytes, format, &opts).unwrap()
}

/// Every piece of text a buyer sees of each item, with what it is.
fn texts(feed: &Feed) -> Vec<(String, &str)> {
    let mut out = Vec::new();
    for item in &feed.items {
        out.push((format!("{} title", item.key), item.title.as_str()));
        out.push((
            format!("{} description", item.key),
            item.description.as_str(),
        ));
        for t in &item.tags {
            out.push((format!("{} tag", item.key), t.as_str()));
        }
    }
    out
}

/// Fails on any character reference left in the parsed text (decoding once more would change
/// it) and on any tag left in it.
fn assert_plain(feed: &Feed, file: &str) {
    assert!(!feed.items.is_empty(), "{file}: no items");
    for (what, text) in texts(feed) {
        assert_eq!(
            decode_entities(text),
            text,
            "{file}: {what} keeps an entity: {text:?}"
        );
        for tag in ["<p", "<br", "<li", "<span", "<h6", "</"] {
            assert!(!text.contains(tag), "{file}: {what} keeps markup: {text:?}");
        }
    }
}

#[test]
fn the_magento_export_keeps_no_entity() {
    let bytes = shared("magento_luma_products.csv");
    let raw = String::from_utf8_lossy(&bytes);
    // The export is what the issue says it is, so this test can fail.
    assert!(raw.matches("&bull;").count() > 8000);
    assert!(raw.matches("&trade;").count() > 500);
    assert!(raw.matches("&reg;").count() > 400);
    let feed = parse(&bytes, Format::MagentoCsv);
    assert_plain(&feed, "magento_luma_products.csv");
    for (what, text) in texts(&feed) {
        for entity in ["&bull;", "&trade;", "&reg;", "&amp;", "&ndash;", "&frac14;"] {
            assert!(!text.contains(entity), "{what}: {text:?}");
        }
    }
    let mars = feed
        .items
        .iter()
        .find(|i| i.title.starts_with("Mars HeatTech"))
        .unwrap();
    assert!(
        mars.title.starts_with("Mars HeatTech™ Pullover"),
        "{}",
        mars.title
    );
    let bullets = feed
        .items
        .iter()
        .filter(|i| i.description.contains('•'))
        .count();
    // One item per product (variants grouped): nearly every product's description has them.
    assert!(
        bullets * 10 > feed.items.len() * 9,
        "{bullets} of {} descriptions show bullets",
        feed.items.len()
    );
}

#[test]
fn the_other_real_exports_keep_no_entity_or_markup() {
    for (file, format) in [
        ("shopify_packt_products.csv", Format::ShopifyCsv),
        ("woocommerce_sample_products.csv", Format::WooCommerceCsv),
    ] {
        let bytes = shared(file);
        assert_eq!(detect(&bytes).unwrap(), format);
        assert_plain(&parse(&bytes, format), file);
    }
}

#[test]
fn every_format_decodes_titles_descriptions_and_tags() {
    // The XML's own escaping is one layer; the text inside is HTML, decoded once more:
    // `&amp;trade;` in the XML is the HTML `&trade;`, so "™".
    let xml = r#"<?xml version="1.0"?>
<rss version="2.0" xmlns:g="http://base.google.com/ns/1.0"><channel>
<item>
  <g:id>1</g:id>
  <g:title>EverCool&amp;trade; Tee &amp;#8482;</g:title>
  <g:description><![CDATA[<p>&bull; Snug fit.</p><p>Caf&eacute; &amp; bar &hellip;</p>]]></g:description>
  <g:price>12.50 EUR</g:price>
  <g:brand>Luma&amp;reg;</g:brand>
  <g:product_type>Men &gt; Tops &amp;amp; Tees</g:product_type>
</item>
</channel></rss>"#;
    let f = parse(xml.as_bytes(), Format::GmcXml);
    let i = &f.items[0];
    assert_eq!(i.title, "EverCool™ Tee ™");
    assert_eq!(i.description, "• Snug fit.\n\nCafé & bar …");
    assert_eq!(i.tags, vec!["luma®", "tops-&-tees"]);

    // In a TSV, a CSV or JSON there is only the HTML layer: decoded once, so a double-escaped
    // `&amp;trade;` shows as the text "&trade;" (what a browser shows for that HTML).
    let tsv = "id\ttitle\tdescription\tprice\tbrand\nA\tEverCool&trade; Tee &amp;trade;\t&bull; Snug&nbsp;fit<br>&#x2122;\t5.00 EUR\tLuma&reg;\n";
    let f = parse(tsv.as_bytes(), Format::GmcTsv);
    let i = &f.items[0];
    assert_eq!(i.title, "EverCool™ Tee &trade;");
    assert_eq!(i.description, "• Snug fit\n™");
    assert_eq!(i.tags, vec!["luma®"]);

    let json = r#"{"items": [{"id": "j1", "title": "<b>Hera</b> Hoodie&trade;",
        "description": "&bull; Warm &mdash; soft", "price": "48 EUR",
        "tags": ["Caf&eacute;", "Q&A"]}]}"#;
    let f = parse(json.as_bytes(), Format::Json);
    let i = &f.items[0];
    assert_eq!(i.title, "Hera Hoodie™");
    assert_eq!(i.description, "• Warm — soft");
    assert_eq!(i.tags, vec!["café", "q&a"]);

    let magento = "sku,product_type,name,price,description,additional_attributes,categories\nX-1,simple,Fusion&reg; Bag &amp;trade;,10,&lt;b&gt;<p>&bull; Roomy</p>,\"material=Nylon&trade;,color=Black\",Default Category/Gear/Bags\n";
    let f = parse(magento.as_bytes(), Format::MagentoCsv);
    let i = &f.items[0];
    assert_eq!(i.title, "Fusion® Bag &trade;");
    assert_eq!(i.description, "<b>\n• Roomy");
    assert_eq!(i.tags, vec!["black", "nylon™", "bags"]);
}

#[test]
fn a_title_that_is_only_markup_skips_the_row_saying_why() {
    // Found by the `parse_feed` fuzz target: `<!--lamp` opens a comment, so nothing of the
    // title is left once markup is stripped. The row is skipped with its reason; the others
    // are kept.
    let tsv = "id\ttitle\tdescription\tprice\nLAMP-1\t<!--lamp\tA lamp\t19.99 EUR\nLAMP-2\tDesk lamp\tA lamp\t19.99 EUR\n";
    let f = parse(tsv.as_bytes(), Format::GmcTsv);
    assert_eq!(f.items.len(), 1);
    assert_eq!(f.items[0].title, "Desk lamp");
    assert_eq!(f.skipped.len(), 1);
    assert_eq!(f.skipped[0].shop_id.as_deref(), Some("LAMP-1"));
    assert_eq!(f.skipped[0].reason, "title is empty once markup is removed");
    let json = r#"{"items": [{"id": "j1", "title": "<b></b>", "price": "48 EUR"}]}"#;
    let f = parse(json.as_bytes(), Format::Json);
    assert!(f.items.is_empty());
    assert_eq!(f.skipped[0].reason, "title is empty once markup is removed");
}
