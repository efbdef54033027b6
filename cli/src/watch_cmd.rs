//! watch add/listing/list/rm, alerts: saved searches, watched listings and what they found.
//!
//! The answers are read into the API's own types (`swapmeet_node::api::alerts`), the same ones
//! the node serializes.

use std::io::{BufRead, BufReader};

use anyhow::{bail, Context, Result};
use serde::de::DeserializeOwned;
use serde_json::{json, Value};
use swapmeet_node::alerts::{Alert, AlertKind, SavedSearch, WatchedListing, MAX_NAME_CHARS};
use swapmeet_node::api::alerts::{AlertsJson, WatchesJson, MAX_ALERTS_PAGE};
use swapmeet_node::home::Home;
use swapmeet_protocol::Price;

use crate::args::{AlertsArgs, WatchAddArgs, WatchCommand, WatchListingArgs, WatchRmArgs};
use crate::client::{is_not_found, Client};
use crate::output::{clip, date, table, Out};
use crate::search::query_of;
use crate::Done;

fn typed<T: DeserializeOwned>(v: Value) -> Result<T> {
    serde_json::from_value(v).context("the node's answer is not what this version expects")
}

/// Runs a `watch` subcommand.
pub fn run(home: &Home, out: &Out, cmd: WatchCommand) -> Result<Done> {
    match cmd {
        WatchCommand::Add(a) => add(home, out, *a),
        WatchCommand::Listing(a) => watch_listing(home, out, a),
        WatchCommand::List => list(home, out),
        WatchCommand::Rm(a) => rm(home, out, a),
    }
}

/// What a saved search looks for, in a few words.
fn describe(s: &SavedSearch) -> String {
    let q = &s.query;
    let mut parts = Vec::new();
    if let Some(t) = &q.text {
        parts.push(format!("\"{t}\""));
    }
    if let Some(p) = &q.price {
        let cur = p.currency.code();
        match (p.min_minor, p.max_minor) {
            (Some(lo), Some(hi)) => parts.push(format!("{}-{} {cur}", money(lo), money(hi))),
            (Some(lo), None) => parts.push(format!(">= {} {cur}", money(lo))),
            (None, Some(hi)) => parts.push(format!("<= {} {cur}", money(hi))),
            (None, None) => {}
        }
    }
    // The names the flags take (`--category bikes`), as the API writes them.
    let name = |v: Value| v.as_str().map(str::to_string).unwrap_or_default();
    if let Some(c) = q.category {
        parts.push(name(json!(c)));
    }
    if let Some(c) = q.condition {
        parts.push(name(json!(c)));
    }
    if let Some(g) = &q.near {
        match g.radius_km {
            Some(r) => parts.push(format!("within {r} km of {:.4},{:.4}", g.lat, g.lon)),
            None => parts.push(format!("near {:.4},{:.4}", g.lat, g.lon)),
        }
    }
    if let Some(sl) = &q.seller {
        parts.push(format!("seller {}", clip(&sl.to_string(), 12)));
    }
    if let Some(r) = q.min_rating {
        parts.push(format!("sellers rated {r}+"));
    }
    if parts.is_empty() {
        "everything".to_string()
    } else {
        parts.join(", ")
    }
}

fn money(minor: u64) -> String {
    if minor.is_multiple_of(100) {
        (minor / 100).to_string()
    } else {
        format!("{}.{:02}", minor / 100, minor % 100)
    }
}

fn show_price(p: &Option<Price>) -> String {
    match p {
        None => String::new(),
        Some(Price::Free) => "free".to_string(),
        Some(Price::Fixed {
            amount_minor,
            currency,
        }) => format!("{} {}", money(*amount_minor), currency.code()),
    }
}

fn add(home: &Home, out: &Out, a: WatchAddArgs) -> Result<Done> {
    if let Some(n) = &a.name {
        let len = n.chars().count();
        if len > MAX_NAME_CHARS {
            bail!("--name: {len} characters, the limit is {MAX_NAME_CHARS}");
        }
    }
    let (query, _) = query_of(home, &a.filters)?;
    let mut body = json!({ "query": query });
    if let Some(n) = &a.name {
        body["name"] = json!(n);
    }
    let c = Client::connect(home)?;
    let saved: SavedSearch = typed(c.post("/v1/watches", &body)?)?;
    // What already matches is not alerted on (those are the search's results now); say how
    // many, so the user knows to look at them with `search`.
    let now = matching_now(&c, &body["query"]);
    out.emit(&serde_json::to_value(&saved)?, || {
        let mut line = format!(
            "saved search {} '{}': {}",
            saved.id,
            saved.name,
            describe(&saved)
        );
        match now {
            Some((n, exact)) => line.push_str(&format!(
                "\n{}{n} listing{} match now (`swapmeet search` with the same words and filters shows them); new ones and lower prices will alert",
                if exact { "" } else { "at least " },
                if n == 1 { "" } else { "s" },
            )),
            None => line.push_str("\nnew matches and lower prices will alert"),
        }
        line
    })?;
    Ok(Done::Ok)
}

/// How many listings the saved query matches now, and whether that count is exact; `None`
/// when the search corrected a word (the saved search matches words as typed) or failed.
fn matching_now(c: &Client, query: &serde_json::Value) -> Option<(u64, bool)> {
    let mut q = query.clone();
    q["limit"] = json!(1);
    let r = c.post("/v1/search", &q).ok()?;
    if !r["corrected"].is_null() {
        return None;
    }
    Some((r["total"].as_u64()?, r["total_exact"].as_bool()?))
}

fn watch_listing(home: &Home, out: &Out, a: WatchListingArgs) -> Result<Done> {
    let c = Client::connect(home)?;
    let w: WatchedListing = typed(c.post("/v1/watches/listings", &json!({"listing": a.id}))?)?;
    out.emit(&serde_json::to_value(&w)?, || {
        format!(
            "watching {} '{}': {}, expires {}",
            w.listing,
            w.title,
            show_price(&Some(w.price)),
            date(w.expires_at)
        )
    })?;
    Ok(Done::Ok)
}

fn list(home: &Home, out: &Out) -> Result<Done> {
    let c = Client::connect(home)?;
    let w: WatchesJson = typed(c.get("/v1/watches")?)?;
    if w.watches.is_empty() && w.listings.is_empty() {
        if !out.json {
            eprintln!(
                "no saved searches; add one with `swapmeet watch add WORDS [--max-price ..]`, or watch a listing with `swapmeet watch listing ID`"
            );
        }
        return Ok(Done::Ok);
    }
    if out.json {
        // Saved searches, then watched listings (these have a `listing` field).
        for s in &w.watches {
            out.emit(&serde_json::to_value(s)?, String::new)?;
        }
        for l in &w.listings {
            out.emit(&serde_json::to_value(l)?, String::new)?;
        }
        return Ok(Done::Ok);
    }
    if !w.listings.is_empty() {
        let rows: Vec<Vec<String>> = w
            .listings
            .iter()
            .map(|l| {
                vec![
                    l.listing.clone(),
                    show_price(&Some(l.price)),
                    date(l.expires_at),
                    clip(&l.title, 40),
                ]
            })
            .collect();
        out.emit(&Value::Null, || {
            table(&["WATCHED LISTING", "PRICE", "EXPIRES", "TITLE"], &rows)
        })?;
    }
    if w.watches.is_empty() {
        return Ok(Done::Ok);
    }
    let rows: Vec<Vec<String>> = w
        .watches
        .iter()
        .map(|s| {
            vec![
                s.id.to_string(),
                clip(&s.name, 30),
                date(s.created_at),
                describe(s),
            ]
        })
        .collect();
    out.emit(&Value::Null, || {
        table(&["ID", "NAME", "SAVED", "LOOKS FOR"], &rows)
    })?;
    Ok(Done::Ok)
}

fn rm(home: &Home, out: &Out, a: WatchRmArgs) -> Result<Done> {
    let c = Client::connect(home)?;
    // A listing id is 26 base32 characters; a saved search could be named like one, so an id
    // that is not a watched listing is then tried as a saved search.
    if a.watch.parse::<swapmeet_protocol::ListingId>().is_ok() {
        match c.post("/v1/watches/listings/remove", &json!({"listing": a.watch})) {
            Ok(v) => {
                let w: WatchedListing = typed(v)?;
                out.emit(&serde_json::to_value(&w)?, || {
                    format!("stopped watching {} '{}'", w.listing, w.title)
                })?;
                return Ok(Done::Ok);
            }
            Err(e) if is_not_found(&e) => {}
            Err(e) => return Err(e),
        }
    }
    let removed: SavedSearch = typed(c.post("/v1/watches/remove", &json!({"watch": a.watch}))?)?;
    out.emit(&serde_json::to_value(&removed)?, || {
        format!("removed saved search {} '{}'", removed.id, removed.name)
    })?;
    Ok(Done::Ok)
}

/// One alert as a table row: unseen mark, time, what raised it, kind, price, listing, title
/// (for an own listing about to expire: the command that renews it).
fn row(a: &Alert) -> Vec<String> {
    let listing = a.listing.clone().unwrap_or_default();
    let (kind, what) = match a.kind {
        AlertKind::Match => ("new", listing),
        AlertKind::PriceDrop => ("cheaper", listing),
        AlertKind::Digest => ("digest", format!("{} listings", a.count)),
        AlertKind::PriceChange => ("price", listing),
        AlertKind::Sold => ("sold", listing),
        AlertKind::Withdrawn => ("withdrawn", listing),
        AlertKind::Expiring => ("expiring", listing),
        AlertKind::Expired => ("expired", listing),
        AlertKind::Renew => ("expiring", listing),
        AlertKind::WantedMatch => ("wanted", listing),
    };
    let price = match a.kind {
        AlertKind::PriceDrop | AlertKind::PriceChange => format!(
            "{} (was {})",
            show_price(&a.price),
            show_price(&a.previous_price)
        ),
        _ => show_price(&a.price),
    };
    let source = match a.kind {
        AlertKind::Renew => "your listing".to_string(),
        AlertKind::WantedMatch => "wanted post".to_string(),
        // A listing that answers one of the user's own wanted posts.
        _ if a.wanted.is_some() => clip(&a.search_name, 20),
        _ if a.search.is_none() => "watched".to_string(),
        _ => clip(&a.search_name, 20),
    };
    let mut title = clip(a.title.as_deref().unwrap_or(""), 40);
    if let Some(at) = a.expires_at {
        title = format!("{title} (expires {})", date(at));
    }
    if let Some(cmd) = &a.command {
        let what = if a.kind == AlertKind::WantedMatch {
            "answer"
        } else {
            "renew"
        };
        title = format!("{title}; {what}: {cmd}");
    }
    vec![
        if a.seen { " " } else { "*" }.to_string(),
        date(a.at),
        source,
        kind.to_string(),
        price,
        what,
        title,
    ]
}

const HEADER: [&str; 7] = ["", "WHEN", "FROM", "KIND", "PRICE", "LISTING", "TITLE"];

/// `swapmeet alerts [--follow]`.
pub fn alerts(home: &Home, out: &Out, a: AlertsArgs) -> Result<Done> {
    if a.limit == 0 || a.limit > MAX_ALERTS_PAGE {
        bail!("--limit: {} is not in 1..={MAX_ALERTS_PAGE}", a.limit);
    }
    let c = Client::connect(home)?;
    // Subscribed before the list is read, so an alert firing in between is not lost (it may
    // then show twice, in the list and on the stream).
    let stream = if a.follow {
        Some(c.stream("/v1/events")?)
    } else {
        None
    };
    let path = format!("/v1/alerts?limit={}&keep_unseen={}", a.limit, a.keep_unseen);
    let r: AlertsJson = typed(c.get(&path)?)?;
    if out.json {
        for al in &r.alerts {
            out.emit(&serde_json::to_value(al)?, String::new)?;
        }
    } else if r.alerts.is_empty() {
        if !a.follow {
            eprintln!("no alerts");
        }
    } else {
        let rows: Vec<Vec<String>> = r.alerts.iter().map(row).collect();
        out.emit(&Value::Null, || {
            let mut t = table(&HEADER, &rows);
            t.push_str(&format!("\n({} unseen)", r.unseen));
            t
        })?;
    }
    let Some(stream) = stream else {
        return Ok(Done::Ok);
    };
    // Server-sent events: an `event: alert` line, then its `data:` line.
    let mut alert_next = false;
    for line in BufReader::new(stream).lines() {
        let line = line.context("reading the node's event stream")?;
        if let Some(name) = line.strip_prefix("event:") {
            alert_next = name.trim() == "alert";
        } else if let Some(data) = line.strip_prefix("data:") {
            if !alert_next {
                continue;
            }
            alert_next = false;
            let Ok(al) = serde_json::from_str::<Alert>(data.trim()) else {
                // A `lagged` notice: some alerts went by too fast; they are in `swapmeet alerts`.
                eprintln!(
                    "some alerts were missed on the stream; run `swapmeet alerts` to see them"
                );
                continue;
            };
            out.emit(&serde_json::to_value(&al)?, || table(&HEADER, &[row(&al)]))?;
        } else if line.is_empty() {
            alert_next = false;
        }
    }
    eprintln!("the node closed the event stream (it stopped)");
    Ok(Done::Ok)
}
