//! Search as a user meets it through the real `swapmeet` binary: your own writes are in your
//! very next search (no waiting, no retry loop), and a typo finds what was meant and says so.

use crate::common;

use common::Home;

/// `sell` then `search` in a script finds the listing, and `withdraw` then `search` does not,
/// with no sleep or retry in between; repeated so that a race between the write and the
/// index commit would show.
#[test]
fn your_own_writes_are_in_your_next_search() {
    let h = Home::with_node("EUR");
    for round in 0..5 {
        let title = format!("Espresso grinder number{round}");
        let word = format!("number{round}");
        let id = h.sell(&title, "40");
        let hits = h.search(&[&word]);
        assert_eq!(
            hits.len(),
            1,
            "round {round}: sold listing not in the next search"
        );
        assert_eq!(hits[0]["id"], id.as_str());

        let updated = format!("Espresso grinder renamed{round}");
        h.ok(&["update", &id, "--title", &updated]);
        assert!(
            h.search(&[&word]).is_empty(),
            "round {round}: the old title is still found after update"
        );
        assert_eq!(h.search(&[&format!("renamed{round}")]).len(), 1);

        h.ok(&["withdraw", &id]);
        assert!(
            h.search(&[&format!("renamed{round}")]).is_empty(),
            "round {round}: a withdrawn listing is still found"
        );
        // Nothing of this round's listing is left under another word either.
        assert!(
            h.search(&["grinder"]).is_empty(),
            "round {round}: a withdrawn grinder is still found"
        );
    }
}

/// A typo finds what was meant, says what it searched, and still applies the filters; a word
/// that a listing has is searched as typed unless that finds nothing.
#[test]
fn a_typo_finds_what_was_meant_and_says_so() {
    let h = Home::with_node("EUR");
    let hoodies: Vec<String> = (0..12)
        .map(|i| h.sell(&format!("Pullover Hoodie size {i}"), &format!("{}", 20 + i)))
        .collect();
    h.sell("Wool jacket", "60");

    let o = h.cmd(&["search", "hoddie"]);
    assert_eq!(o.status.code(), Some(0));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("showing results for hoodie"), "{err}");
    let table = String::from_utf8_lossy(&o.stdout);
    assert!(table.contains("Pullover Hoodie"), "{table}");

    let hits = h.search(&["hoddie", "--limit", "50"]);
    assert_eq!(hits.len(), 12, "every hoodie");
    assert!(hits.iter().all(|h| h["corrected"] == "hoodie"));
    assert!(!hits.iter().any(|h| h["title"] == "Wool jacket"));

    // Only the word that needs it goes fuzzy; filters and sorts still apply.
    let hits = h.search(&[
        "pullover",
        "hoddie",
        "--max-price",
        "25",
        "--sort",
        "price-asc",
    ]);
    let ids: Vec<&str> = hits.iter().map(|h| h["id"].as_str().unwrap()).collect();
    assert_eq!(
        ids,
        hoodies[..6].iter().map(String::as_str).collect::<Vec<_>>()
    );
    assert!(hits.iter().all(|h| h["corrected"] == "pullover hoodie"));

    // Spelt right: searched as typed, nothing said.
    let o = h.cmd(&["search", "hoodie"]);
    assert!(!String::from_utf8_lossy(&o.stderr).contains("showing results"));
    assert!(h
        .search(&["hoodie"])
        .iter()
        .all(|h| h.get("corrected").is_none()));

    // One seller's own misspelling is what "hoddie" finds...
    let misspelt = h.sell("Hoddie for kids", "9");
    let hits = h.search(&["hoddie"]);
    assert_eq!(hits.len(), 1);
    assert_eq!(hits[0]["id"], misspelt.as_str());
    assert!(hits[0].get("corrected").is_none());
    // ...until the search as typed finds nothing: then the rare word is corrected too.
    let hits = h.search(&["hoddie", "pullover", "--limit", "50"]);
    assert_eq!(hits.len(), 12, "every pullover hoodie");
    assert!(hits.iter().all(|h| h["corrected"] == "hoodie pullover"));
}
