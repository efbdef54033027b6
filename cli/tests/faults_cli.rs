//! Faults as a user meets them through the real `swapmeet` binary (issue 16 section 3):
//! spoofing text refused with the field named, and a damaged, read-only or full home giving a
//! clear error that says what to do (or a rebuild of what is derived), never a panic or a
//! silent loss.

#[allow(dead_code)] // shared helpers; this file uses some of them
mod common;

use common::Home;

#[test]
fn a_title_with_a_bidi_control_is_refused_naming_the_field_and_nothing_is_published() {
    let h = Home::with_node("EUR");
    for title in ["Rolex watch \u{202E}gpj.exe", "Bike\u{2066} for sale"] {
        let o = h.cmd(&["sell", "--title", title, "--price", "100"]);
        assert_eq!(o.status.code(), Some(2), "sell {title:?} must fail");
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(
            err.contains("title") && err.contains("bidirectional control character U+"),
            "{err}"
        );
        assert!(!err.contains("panicked"), "{err}");
    }
    let o = h.cmd(&[
        "sell",
        "--title",
        "Bike",
        "--price",
        "100",
        "--tag",
        "road\u{200F}",
    ]);
    assert_eq!(o.status.code(), Some(2));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("tags") && err.contains("U+200F"), "{err}");
    // Nothing was published.
    assert!(h.json_ok(&["mine"]).is_empty());
}
