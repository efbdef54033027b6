#![no_main]
//! A shop's catalogue file from arbitrary bytes, through the parser `swapmeet import` and the
//! retailer bridge run. The first byte picks the format: 0 to 5 one of the six formats
//! (Google Merchant XML and TSV, Shopify, WooCommerce and Magento CSV, swapmeet JSON), named
//! as a user names it on the command line; otherwise the format detected from the content, as
//! when none is named. With bit 3 set, prices without a currency are read in EUR.
//!
//! Nothing may panic, and what a parse returns keeps the promises the bridge relies on: at
//! most `MAX_ITEMS` items, each with a non-empty key and title.

use libfuzzer_sys::fuzz_target;
use swapmeet_feeds::{detect, parse_with, Format, ParseOptions, MAX_ITEMS};
use swapmeet_protocol::Currency;

const FORMATS: [Format; 6] = [
    Format::GmcXml,
    Format::GmcTsv,
    Format::ShopifyCsv,
    Format::WooCommerceCsv,
    Format::MagentoCsv,
    Format::Json,
];

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let format = match FORMATS.get(usize::from(mode & 7)) {
        Some(f) => *f,
        None => match detect(rest) {
            Ok(f) => f,
            Err(_) => return,
        },
    };
    let opts = ParseOptions {
        default_currency: (mode & 8 != 0).then(|| Currency::new("EUR").expect("a valid code")),
    };
    let Ok(feed) = parse_with(rest, format, &opts) else {
        return;
    };
    assert!(feed.items.len() <= MAX_ITEMS);
    for item in &feed.items {
        assert!(!item.key.is_empty(), "an item without a key: {item:?}");
        assert!(
            !item.title.trim().is_empty(),
            "an item without a title: {item:?}"
        );
    }
});
