//! want (post, list, withdraw, renew, answer), search --wanted, demand.
//!
//! The answers are read into the API's own types (`swapmeet_node::api::wanted`).

use anyhow::{anyhow, bail, Result};
use serde_json::{json, Value};
use swapmeet_node::api::messages::SentJson;
use swapmeet_node::api::wanted::{WantedHitJson, WantedList};
use swapmeet_node::authoring::Published;
use swapmeet_node::home::Home;
use swapmeet_node::wanted::{Demand, WantedDraft};
use swapmeet_protocol::{Category, ListingId};

use crate::args::{DemandArgs, SearchArgs, WantArgs, WantCommand, WantPostArgs};
use crate::client::Client;
use crate::message_cmd::{message_text, typed};
use crate::output::{clip, date, table, Out};
use crate::util::{check_price, lat_lon};
use crate::Done;

/// Longest lifetime of a wanted post, in days (the protocol's, as for listings).
const MAX_DAYS: u64 = swapmeet_protocol::limits::MAX_LIFETIME_SECS / 86_400;

fn days(flag: &str, d: u64) -> Result<u64> {
    if d == 0 || d > MAX_DAYS {
        bail!("{flag}: {d} is not in 1..={MAX_DAYS} days");
    }
    Ok(d * 86_400)
}

fn wanted_id(text: &str) -> Result<ListingId> {
    text.parse()
        .map_err(|e| anyhow!("ID: '{text}' is not a wanted post id: {e}"))
}

pub fn want(home: &Home, out: &Out, a: WantArgs) -> Result<Done> {
    match a.command {
        None => post(home, out, a.post),
        Some(WantCommand::List) => list(home, out),
        Some(WantCommand::Withdraw(w)) => {
            let id = wanted_id(&w.id)?;
            let c = Client::connect(home)?;
            let p: Published = typed(c.post(&format!("/v1/wanted/{id}/withdraw"), &json!({}))?)?;
            out.emit(&json!(p), || format!("withdrew wanted post {id}"))?;
            Ok(Done::Ok)
        }
        Some(WantCommand::Renew(r)) => {
            let id = wanted_id(&r.id)?;
            let secs = r
                .expires_days
                .map(|d| days("--expires-days", d))
                .transpose()?;
            let c = Client::connect(home)?;
            let p: Published = typed(c.post(
                &format!("/v1/wanted/{id}/renew"),
                &json!({ "expires_in_secs": secs }),
            )?)?;
            out.emit(&json!(p), || {
                format!("renewed wanted post {id} until {}", date(p.expires_at))
            })?;
            Ok(Done::Ok)
        }
        Some(WantCommand::Answer(x)) => {
            let id = wanted_id(&x.id)?;
            let text = message_text(&x.text)?;
            let c = Client::connect(home)?;
            let sent: SentJson = typed(c.post(
                "/v1/messages",
                &json!({ "listing": id.to_string(), "text": text }),
            )?)?;
            out.emit(&json!(sent), || {
                format!(
                    "queued to the poster in thread {} (`swapmeet thread {}` follows it)",
                    sent.thread, sent.thread
                )
            })?;
            Ok(Done::Ok)
        }
    }
}

fn post(home: &Home, out: &Out, a: WantPostArgs) -> Result<Done> {
    let currency = home.load_config()?.currency()?;
    // clap requires these three when no subcommand is given.
    let (Some(title), Some(max_price), Some(category)) = (a.title, a.max_price, a.category) else {
        bail!("want: --title, --max-price and --category are required");
    };
    check_price("--max-price", &max_price, currency)?;
    category
        .parse::<Category>()
        .map_err(|e| anyhow!("--category: {e}"))?;
    if let Some(n) = &a.near {
        lat_lon("--near", n)?;
    }
    let expires_in_secs = a
        .expires_days
        .map(|d| days("--expires-days", d))
        .transpose()?;
    let draft = WantedDraft {
        title,
        description: a.description,
        max_price,
        category,
        location: a.near,
        place: a.place,
        expires_in_secs,
    };
    let c = Client::connect(home)?;
    let p: Published = typed(c.post("/v1/wanted", &json!(draft))?)?;
    out.emit(&json!(p), || {
        format!(
            "{}\n(wanted post published until {}; `swapmeet want withdraw {}` takes it down)",
            p.id,
            date(p.expires_at),
            p.id
        )
    })?;
    Ok(Done::Ok)
}

fn rows(hits: &[WantedHitJson], with_distance: bool) -> (Vec<&'static str>, Vec<Vec<String>>) {
    let rows = hits
        .iter()
        .map(|h| {
            let mut row = vec![h.id.clone(), h.max_price.clone(), h.category.clone()];
            if with_distance {
                row.push(
                    h.distance_km
                        .map(|d| format!("{d:.1} km"))
                        .unwrap_or_default(),
                );
            }
            row.push(date(h.expires_at));
            row.push(clip(&h.title, 60));
            row
        })
        .collect();
    let header = if with_distance {
        vec!["ID", "UP TO", "CATEGORY", "DISTANCE", "EXPIRES", "TITLE"]
    } else {
        vec!["ID", "UP TO", "CATEGORY", "EXPIRES", "TITLE"]
    };
    (header, rows)
}

fn list(home: &Home, out: &Out) -> Result<Done> {
    let c = Client::connect(home)?;
    let l: WantedList = typed(c.get("/v1/wanted/mine")?)?;
    if l.wanted.is_empty() {
        if !out.json {
            eprintln!("you have no wanted posts; post one with `swapmeet want --title .. --max-price .. --category ..`");
        }
        return Ok(Done::NothingFound);
    }
    if out.json {
        for h in &l.wanted {
            out.emit(&json!(h), String::new)?;
        }
        return Ok(Done::Ok);
    }
    let (header, mut rows) = rows(&l.wanted, false);
    for (r, h) in rows.iter_mut().zip(&l.wanted) {
        r.insert(1, h.status.clone());
    }
    let mut header = header;
    header.insert(1, "STATUS");
    out.emit(&Value::Null, || table(&header, &rows))?;
    Ok(Done::Ok)
}

/// `search --wanted`: the query of the search's filters over the wanted posts.
pub fn search_wanted(home: &Home, out: &Out, mut q: Value, a: &SearchArgs) -> Result<Done> {
    if a.filters.condition.is_some() {
        bail!("--condition: wanted posts have no condition; leave it out with --wanted");
    }
    if a.filters.min_rating.is_some() {
        bail!("--min-rating: wanted posts are not rated; leave it out with --wanted");
    }
    if !matches!(a.sort.as_str(), "relevance" | "newest") {
        bail!("--sort: wanted posts are shown newest first; leave --sort out with --wanted");
    }
    if a.limit == 0 || a.limit > 100 {
        bail!("--limit: {} is not in 1..=100", a.limit);
    }
    q["limit"] = json!(a.limit);
    q["offset"] = json!(a.offset);
    let c = Client::connect(home)?;
    let l: WantedList = typed(c.post("/v1/wanted/search", &q)?)?;
    if l.wanted.is_empty() {
        if !out.json {
            eprintln!("no wanted posts match");
        }
        return Ok(Done::NothingFound);
    }
    if out.json {
        for h in &l.wanted {
            out.emit(&json!(h), String::new)?;
        }
        return Ok(Done::Ok);
    }
    let (header, rows) = rows(&l.wanted, a.filters.near.is_some());
    out.emit(&Value::Null, || {
        format!(
            "{}\n(`swapmeet want answer ID --text ..` writes to a poster)",
            table(&header, &rows)
        )
    })?;
    Ok(Done::Ok)
}

pub fn demand(home: &Home, out: &Out, a: DemandArgs) -> Result<Done> {
    let mut params = Vec::new();
    if let Some(c) = &a.category {
        c.parse::<Category>()
            .map_err(|e| anyhow!("--category: {e}"))?;
        params.push(format!("category={c}"));
    }
    if let Some(n) = &a.near {
        let (lat, lon) = lat_lon("--near", n)?;
        params.push(format!("near={lat},{lon}"));
    }
    if let Some(r) = a.radius_km {
        if !(r > 0.0 && r <= 20_000.0) {
            bail!("--radius-km: {r} is not in (0, 20000]");
        }
        params.push(format!("radius_km={r}"));
    }
    let path = if params.is_empty() {
        "/v1/demand".to_string()
    } else {
        format!("/v1/demand?{}", params.join("&"))
    };
    let c = Client::connect(home)?;
    let d: Demand = typed(c.get(&path)?)?;
    out.emit(&json!(d), || demand_text(&d))?;
    Ok(if d.posts == 0 {
        Done::NothingFound
    } else {
        Done::Ok
    })
}

fn demand_text(d: &Demand) -> String {
    if d.posts == 0 {
        return "no wanted posts match".into();
    }
    let counts = |m: &std::collections::BTreeMap<String, u64>| {
        let mut v: Vec<(&String, &u64)> = m.iter().collect();
        v.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
        v.iter()
            .map(|(k, n)| format!("{k} {n}"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let words = d
        .top_words
        .iter()
        .map(|(w, n)| format!("{w} {n}"))
        .collect::<Vec<_>>()
        .join(", ");
    format!(
        "{} wanted posts\ncategories: {}\nprice bands: {}\nareas: {}\nwords: {}",
        d.posts,
        counts(&d.by_category),
        counts(&d.by_price_band),
        counts(&d.by_area),
        words
    )
}
