//! One listing per product through the real binary: a real Magento export (the rows of its
//! hoodies) and the real WooCommerce export are bridged, `search hoodie` shows each hoodie
//! once (with "from" where its variants' prices differ), and `show` lists the sizes and
//! colours with their price and stock.

use crate::common;

use common::Home;

fn shared(name: &str) -> String {
    let path = format!("{}/../../shared/feeds/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// The header and the records whose SKU starts with one of `prefixes`, of a CSV whose quoted
/// fields may span lines (a record ends at a newline outside quotes).
fn csv_rows(text: &str, prefixes: &[&str]) -> String {
    let mut records = Vec::new();
    let mut current = String::new();
    let mut quoted = false;
    for c in text.chars() {
        current.push(c);
        if c == '"' {
            quoted = !quoted;
        } else if c == '\n' && !quoted {
            records.push(std::mem::take(&mut current));
        }
    }
    if !current.is_empty() {
        records.push(current);
    }
    let mut out = records[0].clone();
    for r in &records[1..] {
        if prefixes.iter().any(|p| r.starts_with(p)) {
            out.push_str(r);
        }
    }
    out
}

#[test]
fn a_bridged_magento_hoodie_is_one_listing_with_its_sizes_and_colours() {
    let h = Home::with_node("USD");
    // The real export's rows of four products: the Hera Pullover Hoodie (WH02) and the
    // men's hoodies MH01..MH03, parents and children, as Magento wrote them.
    let file = h.path().join("hoodies.csv");
    let rows = csv_rows(
        &shared("magento_luma_products.csv"),
        &["WH02", "MH01", "MH02", "MH03"],
    );
    std::fs::write(&file, rows).unwrap();
    let report = h.json_ok(&["bridge", "sync", file.to_str().unwrap()]);
    // 4 configurable parents, 15 + 15 + 15 + 15 children (verified in the file).
    assert_eq!(
        report[0]["created"].as_array().unwrap().len(),
        4,
        "{report:?}"
    );
    assert!(report[0]["skipped"].as_array().unwrap().is_empty());

    let hits = h.search_until(&["hoodie", "--limit", "100"], 4);
    let titles: Vec<&str> = hits.iter().map(|h| h["title"].as_str().unwrap()).collect();
    assert_eq!(
        titles
            .iter()
            .filter(|t| **t == "Hera Pullover Hoodie")
            .count(),
        1,
        "{titles:?}"
    );
    assert!(titles.iter().all(|t| !t.contains("-XS-")), "{titles:?}");
    let hera = hits
        .iter()
        .find(|h| h["title"] == "Hera Pullover Hoodie")
        .unwrap();
    assert_eq!(hera["variant_count"], 15);
    let human = h.ok(&["search", "hoodie"]);
    assert_eq!(human.matches("Hera Pullover Hoodie").count(), 1, "{human}");

    // show lists every size and colour with its price and stock.
    let id = hera["id"].as_str().unwrap();
    let shown = h.json_ok(&["show", id]).remove(0);
    let variants = shown["variants"].as_array().unwrap();
    assert_eq!(variants.len(), 15);
    let mut sizes: Vec<&str> = variants
        .iter()
        .map(|v| v["options"][0]["value"].as_str().unwrap())
        .collect();
    sizes.dedup();
    assert_eq!(sizes, ["XS", "S", "M", "L", "XL"]);
    assert_eq!(variants[0]["options"][1]["name"], "color");
    assert_eq!(variants[0]["quantity"], 100);
    let text = h.ok(&["show", id]);
    let table_header = text
        .lines()
        .find(|l| l.starts_with("SIZE"))
        .unwrap_or_else(|| panic!("no variant table: {text}"));
    assert!(table_header.contains("COLOR") && table_header.contains("STOCK"));
    assert_eq!(text.matches("100 in stock").count(), 15, "{text}");
    assert!(text.contains("WH02-XS-Blue"), "{text}");
}

#[test]
fn a_woocommerce_variable_product_shows_its_from_price() {
    let h = Home::with_node("USD");
    let file = format!(
        "{}/../../shared/feeds/woocommerce_sample_products.csv",
        env!("CARGO_MANIFEST_DIR")
    );
    h.ok(&["bridge", "sync", &file]);
    // "Hoodie" (a variable product of 6 variations), "Hoodie with Pocket and Logo" and
    // "Hoodie with Pocket" (simple products): each once.
    let hits = h.search_until(&["hoodie", "--limit", "100"], 3);
    let hoodie = hits
        .iter()
        .find(|h| h["title"] == "Hoodie")
        .unwrap_or_else(|| panic!("{hits:?}"));
    // The red one is on sale at 42, the others cost 45.
    assert_eq!(hoodie["price_minor"], 4200);
    assert_eq!(hoodie["price_max_minor"], 4500);
    assert_eq!(hoodie["price_from"], true);
    let human = h.ok(&["search", "hoodie"]);
    let line = human
        .lines()
        .find(|l| l.ends_with("  Hoodie"))
        .unwrap_or_else(|| panic!("{human}"));
    assert!(line.contains("from 42.00 USD"), "{human}");
    let text = h.ok(&["show", hoodie["id"].as_str().unwrap()]);
    assert!(text.contains("from 42.00 USD"), "{text}");
    let header = text.lines().find(|l| l.starts_with("COLOR")).unwrap();
    assert!(header.contains("LOGO"), "{text}");
}
