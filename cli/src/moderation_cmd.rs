//! Local moderation: block, unblock, blocks, hide, unhide, hidden.
//!
//! The answers are read into the API's own types (`swapmeet_node::api::moderation`).

use anyhow::{anyhow, Result};
use serde_json::json;
use swapmeet_node::api::moderation::{BlockList, Blocked, HiddenList, HideChange, Unblocked};
use swapmeet_node::home::Home;
use swapmeet_protocol::{ListingId, PublicKey};

use crate::args::{IdArg, SellerArg};
use crate::client::Client;
use crate::message_cmd::typed;
use crate::output::{date, table, Out};
use crate::Done;

/// Checked before the node is contacted, so a typo is named at once.
fn seller(text: &str) -> Result<PublicKey> {
    text.trim()
        .parse()
        .map_err(|e| anyhow!("SELLER: {e}; search results and `swapmeet show` print it"))
}

fn listing(text: &str) -> Result<ListingId> {
    text.parse()
        .map_err(|e| anyhow!("ID: '{text}' is not a listing id: {e}"))
}

/// `swapmeet block SELLER`.
pub fn block(home: &Home, out: &Out, a: SellerArg) -> Result<Done> {
    let key = seller(&a.seller)?;
    let c = Client::connect(home)?;
    let b: Blocked = typed(c.post("/v1/blocks", &json!({ "seller": key.to_string() }))?)?;
    out.emit(&json!(b), || {
        let already = if b.new { "" } else { " (already blocked)" };
        format!(
            "blocked {}{already}: {} of their records deleted; this node no longer stores, shows or relays their listings",
            b.seller, b.removed
        )
    })?;
    Ok(Done::Ok)
}

/// `swapmeet unblock SELLER`.
pub fn unblock(home: &Home, out: &Out, a: SellerArg) -> Result<Done> {
    let key = seller(&a.seller)?;
    let c = Client::connect(home)?;
    let u: Unblocked = typed(c.delete(&format!("/v1/blocks/{key}"))?)?;
    out.emit(&json!(u), || {
        if u.was_blocked {
            format!(
                "unblocked {}; their listings come back as peers offer them",
                u.seller
            )
        } else {
            format!("{} was not blocked", u.seller)
        }
    })?;
    Ok(Done::Ok)
}

/// `swapmeet blocks`.
pub fn blocks(home: &Home, out: &Out) -> Result<Done> {
    let c = Client::connect(home)?;
    let list: BlockList = typed(c.get("/v1/blocks")?)?;
    if out.json {
        for b in &list.blocked {
            out.emit(&json!(b), String::new)?;
        }
        return Ok(Done::Ok);
    }
    if list.blocked.is_empty() {
        out.emit(&json!(list), || "no blocked sellers".into())?;
        return Ok(Done::Ok);
    }
    let rows: Vec<Vec<String>> = list
        .blocked
        .iter()
        .map(|b| vec![b.seller.clone(), date(b.since)])
        .collect();
    out.emit(&json!(list), || table(&["SELLER", "SINCE"], &rows))?;
    Ok(Done::Ok)
}

/// `swapmeet hide ID`.
pub fn hide(home: &Home, out: &Out, a: IdArg) -> Result<Done> {
    let id = listing(&a.id)?;
    let c = Client::connect(home)?;
    let h: HideChange = typed(c.post("/v1/hidden", &json!({ "id": id.to_string() }))?)?;
    out.emit(&json!(h), || {
        let already = if h.changed { "" } else { " (already hidden)" };
        format!("hid {}{already}: your searches no longer show it", h.id)
    })?;
    Ok(Done::Ok)
}

/// `swapmeet unhide ID`.
pub fn unhide(home: &Home, out: &Out, a: IdArg) -> Result<Done> {
    let id = listing(&a.id)?;
    let c = Client::connect(home)?;
    let h: HideChange = typed(c.delete(&format!("/v1/hidden/{id}"))?)?;
    out.emit(&json!(h), || {
        if h.changed {
            format!("{} is shown again", h.id)
        } else {
            format!("{} was not hidden", h.id)
        }
    })?;
    Ok(Done::Ok)
}

/// `swapmeet hidden`.
pub fn hidden(home: &Home, out: &Out) -> Result<Done> {
    let c = Client::connect(home)?;
    let list: HiddenList = typed(c.get("/v1/hidden")?)?;
    if out.json {
        for h in &list.hidden {
            out.emit(&json!(h), String::new)?;
        }
        return Ok(Done::Ok);
    }
    if list.hidden.is_empty() {
        out.emit(&json!(list), || "no hidden listings".into())?;
        return Ok(Done::Ok);
    }
    let rows: Vec<Vec<String>> = list
        .hidden
        .iter()
        .map(|h| {
            vec![
                h.id.clone(),
                h.title
                    .clone()
                    .unwrap_or_else(|| "(no longer stored)".into()),
                date(h.since),
            ]
        })
        .collect();
    out.emit(&json!(list), || table(&["ID", "TITLE", "SINCE"], &rows))?;
    Ok(Done::Ok)
}
