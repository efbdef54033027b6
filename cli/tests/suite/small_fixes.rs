//! Issue 10 §3 and §5 through the real binary in temporary homes: prices that must not be off
//! by a factor of 1,000, an update that changes nothing, a node log without colour codes when
//! it goes to a file, and shop text and links from `bridge sync`.

use crate::common;

use std::process::{Output, Stdio};

use common::Home;
use serde_json::{json, Value};

fn stderr_of(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[test]
fn a_price_is_never_read_a_thousand_times_too_high() {
    let mut h = Home::new();
    h.ok(&["init", "--location", "52.52,13.405", "--currency", "EUR"]);
    h.start_node();
    // "0.001" used to be stored as 1.00 EUR, "0.005 EUR" as 5.00 EUR.
    for (price, says) in [
        ("0.001", "'0.001' has 3 decimals, but EUR has 2"),
        ("0.005 EUR", "'0.005 EUR' has 3 decimals, but EUR has 2"),
        ("1.999", "ambiguous"),
        ("1,999", "write 1999 for 1999 EUR"),
    ] {
        let o = h.cmd(&["sell", "--title", "Lamp", "--price", price]);
        assert_eq!(
            o.status.code(),
            Some(2),
            "--price {price}: {}",
            stderr_of(&o)
        );
        let err = stderr_of(&o);
        assert!(
            err.contains("--price") && err.contains(says),
            "--price {price}: {err}"
        );
    }
    assert!(h.json_ok(&["mine"]).is_empty(), "nothing is stored");
    // The API refuses the same, naming the field, whoever sends it.
    let (status, body) = h.api(
        "POST",
        "/v1/listings",
        &json!({"title": "Lamp", "price": "0.001"}),
    );
    assert_eq!(status, 400, "{body}");
    assert!(body.to_string().contains("price"), "{body}");
    assert!(h.json_ok(&["mine"]).is_empty(), "nothing is stored");
    // Where the separators say which is which, the price is read.
    let sold = h.json_ok(&["sell", "--title", "Sofa", "--price", "1.999,50"]);
    let shown = h.json_ok(&["show", sold[0]["id"].as_str().unwrap()]);
    assert_eq!(shown[0]["price"], "1999.50 EUR");
}

#[test]
fn an_update_that_changes_nothing_signs_nothing() {
    let mut h = Home::new();
    h.ok(&["init", "--location", "52.52,13.405", "--currency", "EUR"]);
    h.start_node();
    let id = h
        .ok(&["sell", "--title", "Lamp", "--price", "15", "--tag", "light"])
        .trim()
        .to_string();
    let before = h.json_ok(&["show", &id]);
    // Every field given equals the current value.
    let out = h.ok(&[
        "update",
        &id,
        "--price",
        "15.00 EUR",
        "--title",
        "Lamp",
        "--tag",
        "light",
    ]);
    assert!(out.contains("nothing changed"), "{out}");
    let r = h.json_ok(&["update", &id, "--title", "Lamp"]);
    assert_eq!(r[0]["changed"], false);
    assert_eq!(r[0]["seq"], before[0]["seq"]);
    // Through the API: an empty body and a body of current values are no-ops, not versions.
    for body in [json!({}), json!({"title": "Lamp", "price": "15"})] {
        let (status, r) = h.api("PUT", &format!("/v1/listings/{id}"), &body);
        assert_eq!(status, 200, "{r}");
        assert_eq!(r["changed"], false, "{body}: {r}");
        assert_eq!(r["seq"], before[0]["seq"], "{body}: {r}");
        assert_eq!(r["hash"], before[0]["hash"], "{body}: {r}");
    }
    let after = h.json_ok(&["show", &id]);
    assert_eq!(after[0]["seq"], before[0]["seq"]);
    assert_eq!(after[0]["hash"], before[0]["hash"]);
    // A real change is still a new version.
    let r = h.json_ok(&["update", &id, "--price", "16"]);
    assert_eq!(r[0]["changed"], true);
    assert!(r[0]["seq"].as_u64().unwrap() > before[0]["seq"].as_u64().unwrap());
    assert_eq!(h.json_ok(&["show", &id])[0]["price"], "16.00 EUR");
}

#[test]
fn the_node_log_in_a_file_has_no_colour_codes() {
    let mut h = Home::new();
    h.ok(&["init", "--location", "52.52,13.405"]);
    let log = h.path().join("node.log");
    h.start_node_with(&[], Stdio::from(std::fs::File::create(&log).unwrap()));
    h.ok(&["sell", "--title", "Lamp", "--price", "15"]);
    h.stop_node();
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(text.contains("INFO"), "the log has lines: {text}");
    assert!(
        !text.contains("\u{1b}["),
        "colour codes in a log file: {text:?}"
    );
}

/// A Magento export of two products: names and descriptions with entities, relative URL keys.
const MAGENTO: &str = "sku,product_type,name,price,description,url_key,qty,is_in_stock,weight
MH01,simple,Mars HeatTech&trade; Pullover,54,\"<p>&bull; Snug fit.</p><p>Men&rsquo;s &amp; warm&hellip;</p>\",mars-heattech-pullover,10,1,1
MH02,simple,Hera Hoodie &#8482;,48,&lt;b&gt; is shown as written,https://other.example/hera,5,1,1
";

#[test]
fn bridge_sync_shows_shop_text_decoded_and_links_absolute() {
    let mut h = Home::new();
    h.ok(&["init", "--location", "52.52,13.405", "--currency", "EUR"]);
    h.start_node();
    let file = h.path().join("products.csv");
    std::fs::write(&file, MAGENTO).unwrap();
    let file = file.to_str().unwrap();
    let by_title = |h: &Home| -> Vec<Value> {
        let mut v: Vec<Value> = h
            .json_ok(&["mine"])
            .iter()
            .map(|m| h.json_ok(&["show", m["id"].as_str().unwrap()]).remove(0))
            .collect();
        v.sort_by_key(|l| l["title"].as_str().unwrap().to_string());
        v
    };

    // A bad base URL is refused before anything is published.
    let sync = |extra: &[&'static str]| -> Vec<&str> {
        let mut a = vec!["bridge", "sync", file, "--format", "magento-csv"];
        a.extend_from_slice(extra);
        a
    };
    let o = h.cmd(&sync(&["--shop-url", "shop.example"]));
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr_of(&o).contains("--shop-url"), "{}", stderr_of(&o));
    assert!(h.json_ok(&["mine"]).is_empty());

    // Without a base URL the relative link is left out; the absolute one stays.
    h.ok(&sync(&[]));
    let l = by_title(&h);
    assert_eq!(l.len(), 2);
    assert_eq!(l[0]["title"], "Hera Hoodie ™");
    assert_eq!(l[1]["title"], "Mars HeatTech™ Pullover");
    let mars = l[1]["description"].as_str().unwrap();
    assert_eq!(mars, "• Snug fit.\n\nMen’s & warm…", "{mars}");
    let hera = l[0]["description"].as_str().unwrap();
    assert_eq!(
        hera,
        "<b> is shown as written\n\nMore at the shop: https://other.example/hera.html"
    );

    // With it, the relative link becomes a link under the shop.
    h.ok(&sync(&["--shop-url", "https://shop.example/"]));
    let l = by_title(&h);
    assert_eq!(
        l[1]["description"],
        "• Snug fit.\n\nMen’s & warm…\n\nMore at the shop: https://shop.example/mars-heattech-pullover.html"
    );
    assert_eq!(l[0]["description"], hera, "absolute links stay");
}
