//! Every format on fixtures written for each quirk real feeds have, and the real exports in
//! `../shared/feeds/` with exact counts.

use swapmeet_feeds::{detect, parse_with, Feed, Format, ParseOptions};
use swapmeet_protocol::{Category, Condition, Currency, Price};

fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(format!(
        "{}/tests/fixtures/{name}",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap()
}

fn shared(name: &str) -> Vec<u8> {
    let path = format!("{}/../../shared/feeds/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read(&path)
        .unwrap_or_else(|e| panic!("{path}: {e} (the shared feeds sit beside the project)"))
}

fn parse(bytes: &[u8], currency: Option<&str>) -> Feed {
    let format = detect(bytes).unwrap();
    let opts = ParseOptions {
        default_currency: currency.map(|c| Currency::new(c).unwrap()),
    };
    parse_with(bytes, format, &opts).unwrap()
}

fn price(minor: u64, c: &str) -> Price {
    Price::Fixed {
        amount_minor: minor,
        currency: Currency::new(c).unwrap(),
    }
}

#[test]
fn gmc_rss_quirks() {
    let bytes = fixture("gmc_rss.xml");
    assert_eq!(detect(&bytes).unwrap(), Format::GmcXml);
    let f = parse(&bytes, None);
    let keys: Vec<&str> = f.items.iter().map(|i| i.key.as_str()).collect();
    assert_eq!(
        keys,
        [
            "gmc:TV-1",
            "gmc:SOFA-2",
            "gmc:SHIRT-S",
            "gmc:SHIRT-M",
            "gmc:MUG-1"
        ]
    );
    let tv = &f.items[0];
    assert_eq!(tv.title, "Retro TV"); // plain RSS <title>
    assert_eq!(tv.price, price(1500, "USD")); // "15.00 USD"
    assert!(tv.available); // in_stock
    assert_eq!(tv.condition, Some(Condition::New)); // " new "
    assert_eq!(tv.category, Some(Category::Electronics));
    assert_eq!(tv.gtin.as_deref(), Some("4006381333931"));
    assert_eq!(tv.ships, Some(true)); // nested g:shipping
    assert_eq!(tv.image_links.len(), 2);
    let sofa = &f.items[1];
    assert_eq!(sofa.title, "Sofa \"Berlin\" – 3 seats"); // g:title in CDATA
    assert_eq!(sofa.description, "Grey & soft"); // entity-escaped HTML
    assert_eq!(sofa.price, price(59900, "EUR")); // "649,00 EUR", sale "599,00 EUR"
    assert!(sofa.available); // "in stock"
    assert_eq!(sofa.condition, Some(Condition::Good)); // "USED"
    assert_eq!(sofa.link.as_deref(), Some("https://shop.example/sofa"));
    assert_eq!(f.items[2].price, price(4999, "JPY"));
    assert!(!f.items[2].available); // out of stock
    assert!(
        f.items[2].image_links.is_empty()
            && f.items[2].brand.is_none()
            && f.items[2].group_id.is_none()
    );
    assert_eq!(f.items[3].price, price(1250, "USD")); // "$12.50"
    assert!(f.items[3].available); // preorder
    assert_eq!(f.items[4].price, price(1200, "EUR")); // non-standard g:currency
    assert_eq!(f.skipped.len(), 2);
    assert_eq!(f.skipped[0].shop_id.as_deref(), Some("BROKEN-1"));
    assert!(f.skipped[0].reason.contains("price"), "{:?}", f.skipped[0]);
    assert!(f.skipped[1].reason.contains("id is missing"));
}

#[test]
fn gmc_tsv_quirks_and_encodings() {
    let f = parse(&fixture("gmc.tsv"), None);
    assert_eq!(f.format, Format::GmcTsv);
    assert_eq!(f.items.len(), 2);
    assert_eq!(f.items[0].condition, Some(Condition::LikeNew)); // refurbished
    assert_eq!(f.items[1].price, price(2999, "EUR"));
    assert!(!f.items[1].available); // out_of_stock
    assert_eq!(f.items[1].group_id.as_deref(), Some("LAMPS"));
    assert_eq!(f.skipped.len(), 1);
    assert!(f.skipped[0].reason.contains("negative"), "{:?}", f.skipped);
    assert_eq!(f.skipped[0].row, 4);

    let f = parse(&fixture("gmc_latin1.tsv"), None);
    assert_eq!(f.items[0].title, "Café table");
    assert!(f.warnings[0].message.contains("Latin-1"));
    let f = parse(&fixture("gmc_bom.tsv"), None);
    assert_eq!(f.items[0].title, "Bügeleisen");
    assert!(f.warnings.is_empty());
}

#[test]
fn shopify_2024_header_quirks() {
    let bytes = fixture("shopify_2024.csv");
    assert_eq!(detect(&bytes).unwrap(), Format::ShopifyCsv);
    let f = parse(&bytes, Some("EUR"));
    let keys: Vec<&str> = f.items.iter().map(|i| i.key.as_str()).collect();
    assert_eq!(
        keys,
        [
            "shopify:wool-sweater:WS-S",
            "shopify:wool-sweater:WS-M",
            "shopify:old-lamp"
        ]
    );
    let s = &f.items[0];
    assert_eq!(s.title, "Wool Sweater - S");
    assert_eq!(s.description, "Warm merino wool.");
    assert_eq!(s.price, price(4900, "EUR"));
    assert_eq!(s.gtin.as_deref(), Some("0123456789012")); // leading ' removed
    assert!(s.available);
    assert_eq!(s.quantity, Some(3));
    // The image-only continuation row adds its image to the product's variants.
    assert_eq!(
        s.image_links,
        ["https://cdn.example/ws1.jpg", "https://cdn.example/ws2.jpg"]
    );
    assert_eq!(f.items[1].title, "Wool Sweater - M");
    assert!(
        !f.items[1].available,
        "tracked, 0 in stock, deny overselling"
    );
    assert!(!f.items[2].available, "archived");
    assert_eq!(f.skipped.len(), 1);
    assert!(f.skipped[0].reason.contains("price"));
    // Shopify exports carry no currency: without a default, every item is skipped with why.
    let f = parse(&bytes, None);
    assert!(f.items.is_empty());
    assert!(
        f.skipped
            .iter()
            .filter(|s| s.shop_id.as_deref() != Some("BP-1"))
            .all(|s| s.reason.contains("no currency")),
        "{:?}",
        f.skipped
    );
}

#[test]
fn json_feed() {
    let f = parse(&fixture("feed.json"), None);
    assert_eq!(f.format, Format::Json);
    assert_eq!(f.items.len(), 2);
    assert_eq!(f.items[0].price, price(18000, "EUR"));
    assert_eq!(f.items[0].condition, Some(Condition::Good));
    assert_eq!(f.items[0].category, Some(Category::Bikes));
    assert_eq!(f.items[0].tags, ["city", "gazelle"]);
    assert_eq!(f.items[0].quantity, Some(2));
    assert!(!f.items[1].available);
    let reasons: Vec<&str> = f.skipped.iter().map(|s| s.reason.as_str()).collect();
    assert_eq!(f.skipped.len(), 3, "{reasons:?}");
    assert!(reasons[0].contains("condition 'mint'"));
    assert!(reasons[1].contains("id is missing"));
    assert!(reasons[2].contains("not a JSON object"));
}

#[test]
fn undetectable_and_wrong_files() {
    assert!(detect(b"hello,world\n1,2\n").is_err());
    assert!(detect(b"<html><body>no</body></html>").is_err());
    assert!(parse_with(b"{\"x\": 1}", Format::Json, &ParseOptions::default()).is_err());
    assert!(parse_with(b"<rss><channel>", Format::GmcXml, &ParseOptions::default()).is_ok());
}

#[test]
fn real_shopify_export() {
    let f = parse(&shared("shopify_packt_products.csv"), Some("USD"));
    assert_eq!(f.format, Format::ShopifyCsv);
    // 20 products, one of them (gardening gloves) in two colour variants: 21 listings.
    assert_eq!(f.items.len(), 21);
    assert!(f.skipped.is_empty(), "{:?}", f.skipped);
    let gloves: Vec<_> = f
        .items
        .iter()
        .filter(|i| i.group_id.as_deref() == Some("gardening-gloves"))
        .collect();
    assert_eq!(gloves.len(), 2);
    assert_eq!(gloves[0].title, "Gardening Gloves - Green");
    assert_eq!(gloves[1].title, "Gardening Gloves - Yellow");
    assert_eq!(gloves[1].price, price(1599, "USD"));
    // Inventory is not tracked in this shop (empty tracker), so zero quantities do not
    // make items unavailable.
    assert!(f.items.iter().all(|i| i.available));
    let keys: std::collections::HashSet<&str> = f.items.iter().map(|i| i.key.as_str()).collect();
    assert_eq!(keys.len(), 21, "keys are unique");
    assert!(
        f.items.iter().all(|i| !i.description.contains('<')),
        "HTML was converted"
    );
}

#[test]
fn real_woocommerce_export() {
    let f = parse(&shared("woocommerce_sample_products.csv"), Some("USD"));
    assert_eq!(f.format, Format::WooCommerceCsv);
    // 24 rows: 9 simple + 1 external + 9 variations are items; 2 variable parents and 1
    // grouped product are containers; 2 virtual downloads are skipped.
    assert_eq!(f.items.len(), 19);
    assert_eq!(f.containers, 3);
    assert_eq!(f.skipped.len(), 2);
    assert!(f
        .skipped
        .iter()
        .all(|s| s.reason.contains("virtual/downloadable")));
    let skipped: Vec<_> = f
        .skipped
        .iter()
        .map(|s| s.shop_id.as_deref().unwrap())
        .collect();
    assert_eq!(skipped, ["cc-album", "cc-single"]);
    let variations = f.items.iter().filter(|i| i.group_id.is_some()).count();
    assert_eq!(variations, 9);
    let red = f
        .items
        .iter()
        .find(|i| i.key == "woo:cc-hoodie-red")
        .unwrap();
    assert_eq!(red.title, "Hoodie - Red, No");
    assert_eq!(red.price, price(4200, "USD")); // sale price 42 < regular 45
    assert_eq!(red.group_id.as_deref(), Some("cc-hoodie"));
    assert!(
        !red.description.is_empty(),
        "a variation takes its parent's description"
    );
    let beanie = f.items.iter().find(|i| i.key == "woo:cc-beanie").unwrap();
    assert_eq!(beanie.price, price(1800, "USD"));
    let donation = f.items.iter().find(|i| i.key == "woo:cp-donation").unwrap();
    assert!(donation.link.is_some(), "external products keep their URL");
}

#[test]
fn real_magento_export() {
    let f = parse(&shared("magento_luma_products.csv"), Some("USD"));
    assert_eq!(f.format, Format::MagentoCsv);
    // 147 configurable parents, 1,847 simple children: every child is a listing.
    assert_eq!(f.items.len(), 1847);
    assert_eq!(f.containers, 147);
    assert!(
        f.skipped.is_empty(),
        "{:?}",
        &f.skipped[..f.skipped.len().min(3)]
    );
    let hoodie = f
        .items
        .iter()
        .find(|i| i.key == "magento:MH01-XS-Black")
        .unwrap();
    assert_eq!(hoodie.title, "Chaz Kangeroo Hoodie-XS-Black");
    assert_eq!(hoodie.group_id.as_deref(), Some("MH01"));
    assert_eq!(hoodie.price, price(5200, "USD"));
    assert_eq!(hoodie.category, Some(Category::ClothingShoes));
    assert!(hoodie.tags.contains(&"black".to_string()) && hoodie.tags.contains(&"xs".to_string()));
    assert!(!hoodie.description.contains("<p>"));
    let with_parent = f.items.iter().filter(|i| i.group_id.is_some()).count();
    assert_eq!(
        with_parent, 1847,
        "every simple product belongs to a configurable parent"
    );
}
