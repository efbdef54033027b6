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
fn gmc_item_groups_are_one_product() {
    let f = parse(&fixture("gmc_variants.xml"), None);
    let keys: Vec<&str> = f.items.iter().map(|i| i.key.as_str()).collect();
    assert_eq!(keys, ["gmc:group:TEE", "gmc:MUG-1"]);
    let tee = &f.items[0];
    // The words every variant's title shares; no "- Blue - M".
    assert_eq!(tee.title, "Basic Tee");
    assert_eq!(tee.description, "Organic cotton.");
    assert_eq!(
        option_values(tee),
        ["size=M,color=Blue", "size=L,color=Blue", "size=M,color=Red"]
    );
    let stock: Vec<bool> = tee.variants.iter().map(|v| v.available).collect();
    assert_eq!(stock, [true, false, true]);
    assert_eq!(tee.variants[2].price, price(1200, "EUR")); // sale price
                                                           // The lowest price in stock.
    assert_eq!(tee.price, price(1200, "EUR"));
    assert!(tee.available);
    // A second row with the same size and colour is skipped with why.
    assert_eq!(f.skipped.len(), 1, "{:?}", f.skipped);
    assert_eq!(f.skipped[0].shop_id.as_deref(), Some("TEE-RED-M-2"));
    assert!(f.skipped[0]
        .reason
        .contains("same options as variant TEE-RED-M"));
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
    // The two sizes of the sweater are one product with two variants.
    assert_eq!(keys, ["shopify:wool-sweater", "shopify:old-lamp"]);
    let s = &f.items[0];
    assert_eq!(s.title, "Wool Sweater");
    assert_eq!(s.description, "Warm merino wool.");
    assert_eq!(s.price, price(4900, "EUR"));
    assert!(s.available, "one size is in stock");
    // The image-only continuation row adds its image to the product.
    assert_eq!(
        s.image_links,
        ["https://cdn.example/ws1.jpg", "https://cdn.example/ws2.jpg"]
    );
    let sizes: Vec<(&str, &str, Option<u32>, bool)> = s
        .variants
        .iter()
        .map(|v| {
            assert_eq!(v.options.len(), 1);
            (
                v.options[0].name.as_str(),
                v.options[0].value.as_str(),
                v.quantity,
                v.available,
            )
        })
        .collect();
    // S: 3 in stock; M: tracked, 0 in stock, deny overselling.
    assert_eq!(
        sizes,
        [("Size", "S", Some(3), true), ("Size", "M", None, false)]
    );
    assert_eq!(s.variants[0].shop_id, "WS-S");
    assert_eq!(s.variants[0].gtin.as_deref(), Some("0123456789012")); // leading ' removed
    assert_eq!(s.variants[1].price, price(4900, "EUR"));
    assert!(!f.items[1].available, "archived");
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
fn json_feed_groups_variants_by_group_id() {
    let text = br#"{"currency": "EUR", "items": [
        {"id": "tee-s", "title": "Tee S", "group_id": "tee", "group_title": "Organic Tee", "options": {"size": "S", "colour": "white"}, "price": "20", "quantity": 4},
        {"id": "mug", "title": "Mug", "price": "8"},
        {"id": "tee-m", "title": "Tee M", "group_id": "tee", "options": {"size": "M", "colour": "white"}, "price": "22", "availability": "out of stock"}
    ]}"#;
    let f = parse_with(text, Format::Json, &ParseOptions::default()).unwrap();
    let keys: Vec<&str> = f.items.iter().map(|i| i.key.as_str()).collect();
    assert_eq!(keys, ["json:group:tee", "json:mug"]);
    let tee = &f.items[0];
    assert_eq!(tee.title, "Organic Tee");
    assert_eq!(
        option_values(tee),
        ["colour=white,size=S", "colour=white,size=M"]
    );
    assert_eq!(tee.variants[0].quantity, Some(4));
    assert!(!tee.variants[1].available);
    assert_eq!(tee.price, price(2000, "EUR"));
}

#[test]
fn undetectable_and_wrong_files() {
    assert!(detect(b"hello,world\n1,2\n").is_err());
    assert!(detect(b"<html><body>no</body></html>").is_err());
    assert!(parse_with(b"{\"x\": 1}", Format::Json, &ParseOptions::default()).is_err());
    assert!(parse_with(b"<rss><channel>", Format::GmcXml, &ParseOptions::default()).is_ok());
}

/// The option values of each variant of an item, as "name=value" joined by ",".
fn option_values(item: &swapmeet_feeds::FeedItem) -> Vec<String> {
    item.variants
        .iter()
        .map(|v| {
            v.options
                .iter()
                .map(|o| format!("{}={}", o.name, o.value))
                .collect::<Vec<_>>()
                .join(",")
        })
        .collect()
}

#[test]
fn real_shopify_export() {
    let f = parse(&shared("shopify_packt_products.csv"), Some("USD"));
    assert_eq!(f.format, Format::ShopifyCsv);
    // 20 products (21 rows): the gardening gloves' two colour rows are one product.
    assert_eq!(f.items.len(), 20);
    assert!(f.skipped.is_empty(), "{:?}", f.skipped);
    let gloves = f
        .items
        .iter()
        .find(|i| i.key == "shopify:gardening-gloves")
        .unwrap();
    assert_eq!(gloves.title, "Gardening Gloves");
    assert_eq!(option_values(gloves), ["Color=Green", "Color=Yellow"]);
    assert_eq!(gloves.variants[0].price, price(999, "USD"));
    assert_eq!(gloves.variants[1].price, price(1599, "USD"));
    assert_eq!(gloves.variants[1].quantity, Some(3));
    // The product's price is its lowest: what "from" shows.
    assert_eq!(gloves.price, price(999, "USD"));
    // The 19 single "Default Title" products have no variants, as before.
    assert_eq!(f.items.iter().filter(|i| i.variants.is_empty()).count(), 19);
    assert!(f.items.iter().all(|i| !i.title.contains("Default Title")));
    // Inventory is not tracked in this shop (empty tracker), so zero quantities do not
    // make items unavailable.
    assert!(f.items.iter().all(|i| i.available));
    let keys: std::collections::HashSet<&str> = f.items.iter().map(|i| i.key.as_str()).collect();
    assert_eq!(keys.len(), 20, "keys are unique");
    assert!(
        f.items.iter().all(|i| !i.description.contains('<')),
        "HTML was converted"
    );
}

#[test]
fn real_woocommerce_export() {
    let f = parse(&shared("woocommerce_sample_products.csv"), Some("USD"));
    assert_eq!(f.format, Format::WooCommerceCsv);
    // 24 rows: 9 simple + 1 external are items; the 9 variations are the variants of the 2
    // variable products (T-Shirt: 3, Hoodie: 6), which are items too; 2 variable parents and
    // 1 grouped product are containers; 2 virtual downloads are skipped.
    assert_eq!(f.items.len(), 12);
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
    let variants: usize = f.items.iter().map(|i| i.variants.len()).sum();
    assert_eq!(variants, 9);
    let hoodie = f.items.iter().find(|i| i.key == "woo:cc-hoodie").unwrap();
    assert_eq!(hoodie.title, "Hoodie");
    assert_eq!(
        option_values(hoodie),
        [
            "Color=Red,Logo=No",
            "Color=Green,Logo=No",
            "Color=Blue,Logo=No",
            "Color=Red,Logo=Yes",
            "Color=Blue,Logo=Yes",
            "Color=Green,Logo=Yes"
        ]
    );
    let red = &hoodie.variants[0];
    assert_eq!(red.shop_id, "cc-hoodie-red");
    assert_eq!(red.price, price(4200, "USD")); // sale price 42 < regular 45
    assert_eq!(hoodie.variants[1].price, price(4500, "USD"));
    // From 42 USD: the lowest variant price.
    assert_eq!(hoodie.price, price(4200, "USD"));
    assert!(
        !hoodie.description.is_empty(),
        "a variable product has its parent's description"
    );
    // The T-shirt's variations leave Size empty ("any size"): only Color is an option.
    let tee = f.items.iter().find(|i| i.key == "woo:cc-tee").unwrap();
    assert_eq!(tee.title, "T-Shirt");
    assert_eq!(
        option_values(tee),
        ["Color=Blue", "Color=Green", "Color=Red"]
    );
    let beanie = f.items.iter().find(|i| i.key == "woo:cc-beanie").unwrap();
    assert_eq!(beanie.price, price(1800, "USD"));
    assert!(beanie.variants.is_empty());
    let donation = f.items.iter().find(|i| i.key == "woo:cp-donation").unwrap();
    assert!(donation.link.is_some(), "external products keep their URL");
}

#[test]
fn real_magento_export() {
    let f = parse(&shared("magento_luma_products.csv"), Some("USD"));
    assert_eq!(f.format, Format::MagentoCsv);
    // 147 configurable parents, 1,847 simple children: 147 products whose variants are the
    // children (4 to 15 each).
    assert_eq!(f.items.len(), 147);
    assert_eq!(f.containers, 147);
    assert!(
        f.skipped.is_empty(),
        "{:?}",
        &f.skipped[..f.skipped.len().min(3)]
    );
    let variants: usize = f.items.iter().map(|i| i.variants.len()).sum();
    assert_eq!(variants, 1847);
    assert!(f.items.iter().all(|i| (4..=15).contains(&i.variants.len())));
    let hera = f.items.iter().find(|i| i.key == "magento:WH02").unwrap();
    assert_eq!(hera.title, "Hera Pullover Hoodie");
    assert_eq!(hera.variants.len(), 15);
    let hoodie = f.items.iter().find(|i| i.key == "magento:MH01").unwrap();
    assert_eq!(hoodie.title, "Chaz Kangeroo Hoodie");
    assert_eq!(hoodie.group_id.as_deref(), Some("MH01"));
    assert_eq!(hoodie.price, price(5200, "USD"));
    assert_eq!(hoodie.category, Some(Category::ClothingShoes));
    let first = &hoodie.variants[0];
    assert_eq!(first.shop_id, "MH01-XS-Black");
    assert_eq!(option_values(hoodie)[0], "size=XS,color=Black");
    assert_eq!(first.quantity, Some(100));
    assert!(first.available);
    // The product's tags are what every variant shares: no single size or colour.
    assert!(
        !hoodie.tags.contains(&"black".to_string()) && !hoodie.tags.contains(&"xs".to_string())
    );
    assert!(!hoodie.tags.is_empty());
    assert!(!hoodie.description.contains("<p>"));
    assert!(f.items.iter().all(|i| !i.title.contains("-XS-")));
}

#[test]
fn real_exports_carry_their_image_links_for_the_bridge() {
    // WooCommerce `Images`: a comma-separated list of absolute URLs; every real item has one.
    let woo = parse(&shared("woocommerce_sample_products.csv"), Some("USD"));
    let beanie = woo.items.iter().find(|i| i.shop_id == "cc-beanie").unwrap();
    assert_eq!(
        beanie.image_links,
        ["https://classiccommerce.cc/wp-content/downloads/sample-data-images/beanie.png"]
    );
    assert!(woo
        .items
        .iter()
        .all(|i| !i.image_links.is_empty()
            && i.image_links.iter().all(|u| u.starts_with("https://"))));
    // Magento `base_image` then `additional_images`: paths relative to the shop's media folder
    // (the bridge joins them to `--shop-url`), the parent's when a child has none.
    let magento = parse(&shared("magento_luma_products.csv"), Some("USD"));
    let hoodie = magento
        .items
        .iter()
        .find(|i| i.key == "magento:MH01")
        .unwrap();
    assert!(
        hoodie.image_links[0].starts_with("/m/h/mh01-"),
        "{:?}",
        hoodie.image_links
    );
    assert!(magento.items.iter().all(|i| !i.image_links.is_empty()
        && i.image_links
            .iter()
            .all(|p| p.starts_with('/') && !p.contains(','))));
}
