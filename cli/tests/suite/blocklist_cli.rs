//! Signed block lists through the real binary: `blocklist publish` (from a file and from the
//! user's blocks), `blocklist trust`, `untrust`, `list`, against running nodes in temporary
//! homes; the list travels as a signed line (`export` / `import`), as any record can.

use crate::common;

use common::Home;

/// The ids of `swapmeet --json search WORDS` (waiting for the index to show `want` of them).
fn ids(h: &Home, words: &str, want: usize) -> Vec<String> {
    let mut ids: Vec<String> = h
        .search_until(&[words], want)
        .iter()
        .map(|hit| hit["id"].as_str().unwrap().to_string())
        .collect();
    ids.sort();
    ids
}

fn seller_id(h: &Home) -> String {
    h.json_ok(&["id"])[0]["seller"]
        .as_str()
        .unwrap()
        .to_string()
}

#[test]
fn publish_trust_untrust_through_the_binary() {
    // A spammer whose listings reach the user's node as signed lines.
    let spammer = Home::with_node("EUR");
    let a = spammer.sell("Cheap replica watch", "10 EUR");
    let b = spammer.sell("Another replica watch", "12 EUR");
    let spammer_id = seller_id(&spammer);
    let dir = tempfile::tempdir().unwrap();
    let spam_lines = dir.path().join("spam.txt");
    std::fs::write(
        &spam_lines,
        [spammer.ok(&["export", &a]), spammer.ok(&["export", &b])].concat(),
    )
    .unwrap();
    let spam_lines = spam_lines.to_str().unwrap();

    // The author publishes a list from a file of entries.
    let author = Home::with_node("EUR");
    let author_id = seller_id(&author);
    let entries = dir.path().join("entries.txt");
    std::fs::write(
        &entries,
        format!("# known spammers\n\n{spammer_id} replica watches\n"),
    )
    .unwrap();
    let p = author.json_ok(&["blocklist", "publish", "--file", entries.to_str().unwrap()]);
    assert_eq!(p[0]["entries"], 1, "{p:?}");
    let list_id = p[0]["id"].as_str().unwrap().to_string();
    let human = author.ok(&["blocklist", "publish", "--file", entries.to_str().unwrap()]);
    assert!(
        human.contains("published your block list") && human.contains(&author_id),
        "{human}"
    );
    // The list is not a listing of the author's.
    assert!(author.json_ok(&["mine"]).is_empty());
    let list_lines = dir.path().join("list.txt");
    std::fs::write(&list_lines, author.ok(&["export", &list_id])).unwrap();
    let list_lines = list_lines.to_str().unwrap();

    // A user holds the spammer's listings and the list, but trusts nobody: the list blocks
    // nothing.
    let mut user = Home::with_node("EUR");
    let own = user.sell("My honest watch", "50 EUR");
    user.ok(&["import", spam_lines]);
    user.ok(&["import", list_lines]);
    let mut all = vec![a.clone(), b.clone(), own.clone()];
    all.sort();
    assert_eq!(ids(&user, "watch", 3), all);
    assert_eq!(
        user.ok(&["blocklist", "list"]).trim(),
        "you trust no block list"
    );

    // Trusting the author applies the list the node holds: the spammer's listings are gone.
    let t = user.json_ok(&["blocklist", "trust", &author_id]);
    assert_eq!(t[0]["author"], author_id.as_str());
    assert_eq!(t[0]["has_list"], true);
    assert_eq!(t[0]["newly_blocked"], 1);
    assert_eq!(t[0]["removed"], 2);
    assert_eq!(ids(&user, "watch", 1), vec![own.clone()]);
    let listed = user.json_ok(&["blocklist", "list"]);
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0]["author"], author_id.as_str());
    assert_eq!(listed[0]["entries"][0]["seller"], spammer_id.as_str());
    assert_eq!(listed[0]["entries"][0]["reason"], "replica watches");
    let table = user.ok(&["blocklist", "list"]);
    assert!(
        table.starts_with("AUTHOR") && table.contains(&spammer_id) && table.contains("replica"),
        "{table}"
    );

    // Their listings arriving again are refused, also after a restart.
    user.stop_node();
    user.start_node();
    let o = user.cmd(&["--json", "import", spam_lines]);
    let out = String::from_utf8_lossy(&o.stdout);
    assert_eq!(out.matches("\"outcome\":\"blocked\"").count(), 2, "{out}");

    // Bad input names the argument and changes nothing.
    let o = user.cmd(&["blocklist", "trust", "not-a-key"]);
    assert_eq!(o.status.code(), Some(2));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("KEY"), "{err}");
    let o = user.cmd(&["blocklist", "trust", &seller_id(&user)]);
    assert_eq!(o.status.code(), Some(2));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("author") && err.contains("own key"), "{err}");
    let bad = dir.path().join("bad.txt");
    std::fs::write(&bad, format!("{spammer_id} ok\nsmNOPE typo\n")).unwrap();
    let o = user.cmd(&["blocklist", "publish", "--file", bad.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("line 2") && err.contains("seller"), "{err}");
    assert_eq!(user.json_ok(&["blocklist", "list"]).len(), 1);

    // Untrusting lifts it: the spammer's listings are taken again when offered.
    let u = user.json_ok(&["blocklist", "untrust", &author_id]);
    assert_eq!(u[0]["was_trusted"], true);
    user.ok(&["import", spam_lines]);
    assert_eq!(ids(&user, "watch", 3), all);

    // Publishing from the user's own blocks.
    user.ok(&["block", &spammer_id]);
    let p = user.json_ok(&["blocklist", "publish", "--reason", "spam"]);
    assert_eq!(p[0]["entries"], 1, "{p:?}");
}
