//! Local moderation through the real binary: `block`, `unblock`, `blocks`, `hide`, `unhide`,
//! `hidden`, against a running node in a temporary home.

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

#[test]
fn block_and_hide_through_the_binary() {
    // A seller whose listings reach the user's node as signed lines (`export` / `import`).
    let seller = Home::with_node("EUR");
    let a = seller.sell("Cheap replica watch", "10 EUR");
    let b = seller.sell("Another replica watch", "12 EUR");
    let seller_id = seller.json_ok(&["id"])[0]["seller"]
        .as_str()
        .unwrap()
        .to_string();
    let dir = tempfile::tempdir().unwrap();
    let lines = dir.path().join("theirs.txt");
    let text = [seller.ok(&["export", &a]), seller.ok(&["export", &b])].concat();
    std::fs::write(&lines, text).unwrap();
    let lines = lines.to_str().unwrap();

    let user = Home::with_node("EUR");
    let own = user.sell("My honest watch", "50 EUR");
    user.ok(&["import", lines]);
    let mut all = vec![a.clone(), b.clone(), own.clone()];
    all.sort();
    assert_eq!(ids(&user, "watch", 3), all);

    // Block: their listings are gone from search at once, and listed under `blocks`.
    let blocked = user.json_ok(&["block", &seller_id]);
    assert_eq!(blocked[0]["seller"], seller_id.as_str());
    assert_eq!(blocked[0]["removed"], 2);
    assert_eq!(ids(&user, "watch", 1), vec![own.clone()]);
    let list = user.json_ok(&["blocks"]);
    assert_eq!(list.len(), 1);
    assert_eq!(list[0]["seller"], seller_id.as_str());
    let table = user.ok(&["blocks"]);
    assert!(
        table.starts_with("SELLER") && table.contains(&seller_id),
        "{table}"
    );

    // Their listings arriving again are refused, and nothing is stored.
    let o = user.cmd(&["--json", "import", lines]);
    let out = String::from_utf8_lossy(&o.stdout);
    assert_eq!(out.matches("\"outcome\":\"blocked\"").count(), 2, "{out}");
    assert_eq!(ids(&user, "watch", 1), vec![own.clone()]);
    let status = user.json_ok(&["status"]);
    assert_eq!(status[0]["records"], 1, "{status:?}");

    // Bad input names the argument and changes nothing.
    let o = user.cmd(&["block", "not-a-seller"]);
    assert_eq!(o.status.code(), Some(2));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("SELLER") && err.contains("seller id"), "{err}");
    let me = user.json_ok(&["id"])[0]["seller"]
        .as_str()
        .unwrap()
        .to_string();
    let o = user.cmd(&["block", &me]);
    assert_eq!(o.status.code(), Some(2));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("seller") && err.contains("own seller id"),
        "{err}"
    );
    assert_eq!(user.json_ok(&["blocks"]).len(), 1);

    // Unblock: their listings come back when offered again.
    let un = user.json_ok(&["unblock", &seller_id]);
    assert_eq!(un[0]["was_blocked"], true);
    assert!(user.json_ok(&["blocks"]).is_empty());
    assert_eq!(user.ok(&["blocks"]).trim(), "no blocked sellers");
    user.ok(&["import", lines]);
    assert_eq!(ids(&user, "watch", 3), all);

    // Hide one listing: not in the user's searches, listed under `hidden` with its title.
    let hid = user.json_ok(&["hide", &a]);
    assert_eq!(hid[0]["hidden"], true);
    assert_eq!(hid[0]["changed"], true);
    let mut rest = vec![b.clone(), own.clone()];
    rest.sort();
    assert_eq!(ids(&user, "watch", 2), rest);
    let hidden = user.json_ok(&["hidden"]);
    assert_eq!(hidden.len(), 1);
    assert_eq!(hidden[0]["id"], a.as_str());
    assert_eq!(hidden[0]["title"], "Cheap replica watch");
    // Hiding twice says so; a bad id names the argument.
    assert_eq!(user.json_ok(&["hide", &a])[0]["changed"], false);
    let o = user.cmd(&["hide", "nope"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("ID: 'nope' is not a listing id"));

    // Hides and blocks survive a restart of the node.
    let mut user = user;
    user.stop_node();
    user.start_node();
    assert_eq!(user.json_ok(&["hidden"]).len(), 1);
    assert_eq!(ids(&user, "watch", 2), rest);

    user.ok(&["unhide", &a]);
    assert!(user.json_ok(&["hidden"]).is_empty());
    assert_eq!(ids(&user, "watch", 3), all);
}
