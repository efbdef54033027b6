//! sell, update, withdraw, renew, show, mine.

use anyhow::{anyhow, bail, Context, Result};
use serde_json::{json, Value};
use swapmeet_node::authoring::ListingDraft;
use swapmeet_node::home::Home;
use swapmeet_protocol::{Category, Condition, CountryCode, ListingId};

use crate::args::{
    IdArg, ListingFields, MarketFlags, RenewArgs, SellArgs, UpdateArgs, WithdrawArgs,
};
use crate::client::{is_not_found, Client};
use crate::output::{clip, date, price, s, table, variants, Out};
use crate::photo_upload;
use crate::util::{check_price, duration_secs, lat_lon, offer_amount};
use crate::Done;

/// Largest listing file read by `sell --file`.
const MAX_FILE_BYTES: u64 = 64 * 1024;

/// Turns flags into a draft, checking every value first.
fn draft(home: &Home, f: &ListingFields) -> Result<ListingDraft> {
    let currency = home.load_config()?.currency()?;
    if let Some(p) = &f.price {
        check_price("--price", p, currency)?;
    }
    if let Some(c) = &f.condition {
        c.parse::<Condition>()
            .map_err(|e| anyhow!("--condition: {e}"))?;
    }
    if let Some(c) = &f.category {
        c.parse::<Category>()
            .map_err(|e| anyhow!("--category: {e}"))?;
    }
    if let Some(l) = &f.location {
        lat_lon("--location", l)?;
    }
    for c in &f.ships_to {
        CountryCode::new(c).map_err(|e| anyhow!("--ships-to: {e}"))?;
    }
    let expires_in_secs = f
        .expires_in
        .as_deref()
        .map(|d| duration_secs("--expires-in", d))
        .transpose()?;
    Ok(ListingDraft {
        title: f.title.clone(),
        description: f.description.clone(),
        price: f.price.clone(),
        condition: f.condition.clone(),
        category: f.category.clone(),
        tags: if f.tags.is_empty() {
            None
        } else {
            Some(f.tags.clone())
        },
        location: f.location.clone(),
        place: f.place.clone(),
        quantity: f.quantity,
        pickup: if f.pickup { Some(true) } else { None },
        shipping: if f.ships_to.is_empty() {
            None
        } else {
            Some(true)
        },
        ships_to: if f.ships_to.is_empty() {
            None
        } else {
            Some(f.ships_to.clone())
        },
        expires_in_secs,
        key: None,
        variants: None,
        photos: None,
    })
}

/// Longest `--pickup-at` text (the node's limit too).
const MAX_PICKUP_CHARS: usize = 200;

/// The seller's local market settings as the API takes them: only the flags given, "off" as
/// null (cleared), each checked first.
fn market_settings(m: &MarketFlags) -> Result<serde_json::Map<String, Value>> {
    let mut out = serde_json::Map::new();
    for (flag, key, value) in [
        ("--auto-accept", "auto_accept", &m.auto_accept),
        ("--auto-decline", "auto_decline", &m.auto_decline),
    ] {
        if let Some(v) = value {
            let v = if v.trim().eq_ignore_ascii_case("off") {
                Value::Null
            } else {
                Value::String(offer_amount(flag, v)?)
            };
            out.insert(key.into(), v);
        }
    }
    if let (Some(Value::String(accept)), Some(Value::String(decline))) =
        (out.get("auto_accept"), out.get("auto_decline"))
    {
        let (a, d) = (accept.parse::<f64>(), decline.parse::<f64>());
        if let (Ok(a), Ok(d)) = (a, d) {
            if d >= a {
                bail!(
                    "--auto-decline: {decline} is not below --auto-accept {accept}; an offer \
                     cannot be both accepted and declined"
                );
            }
        }
    }
    if let Some(p) = &m.pickup_at {
        let v = if p.trim().eq_ignore_ascii_case("off") {
            Value::Null
        } else {
            let n = p.chars().count();
            if p.trim().is_empty() {
                bail!("--pickup-at: the place is empty; write where the buyer picks the item up, or \"off\"");
            }
            if n > MAX_PICKUP_CHARS {
                bail!("--pickup-at: {n} characters, the limit is {MAX_PICKUP_CHARS}");
            }
            if p.chars().any(|c| c.is_control() && c != '\n') {
                bail!("--pickup-at: control characters are not allowed (only line breaks)");
            }
            Value::String(p.clone())
        };
        out.insert("pickup_at".into(), v);
    }
    Ok(out)
}

fn check_id(id: &str) -> Result<()> {
    id.parse::<ListingId>().map(|_| ()).map_err(|_| {
        anyhow!("'{id}' is not a listing id (26 characters a-z, 2-7; see `swapmeet mine`)")
    })
}

pub fn sell(home: &Home, out: &Out, a: SellArgs) -> Result<Done> {
    let mut d = match &a.file {
        Some(path) => {
            let meta =
                std::fs::metadata(path).with_context(|| format!("reading {}", path.display()))?;
            if meta.len() > MAX_FILE_BYTES {
                bail!(
                    "{}: {} bytes, the limit is {MAX_FILE_BYTES}",
                    path.display(),
                    meta.len()
                );
            }
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("reading {}", path.display()))?;
            toml::from_str::<ListingDraft>(&text).map_err(|e| anyhow!("{}: {e}", path.display()))?
        }
        None => draft(home, &a.fields)?,
    };
    if a.key.is_some() {
        d.key = a.key.clone();
    }
    if d.title.is_none() {
        bail!("--title is required (or --file)");
    }
    if d.price.is_none() {
        bail!("--price is required, e.g. --price \"25 EUR\" or --price free");
    }
    let market = market_settings(&a.market)?;
    photo_upload::check(&a.fields.photos, 0)?;
    let c = Client::connect(home)?;
    // Uploaded first; removed again if anything below fails, so a refused sell stores nothing.
    let uploads = photo_upload::upload(&c, &a.fields.photos)?;
    if !uploads.hashes().is_empty() {
        d.photos = Some(uploads.hashes().to_vec());
    }
    let mut body = serde_json::to_value(&d)?;
    // In the same request as the listing, so no offer arrives before its settings apply.
    if let Value::Object(fields) = &mut body {
        fields.extend(market);
    }
    let r = c.post("/v1/listings", &body)?;
    uploads.keep();
    note_if_not_searchable(&r);
    out.emit(
        &json!({"id": r["id"], "seq": r["seq"], "expires_at": r["expires_at"]}),
        || s(&r["id"]),
    )?;
    Ok(Done::Ok)
}

/// The node answers a write once it is searchable (the API's default `wait`), so a script's
/// next `search` sees it; says so on stderr in the rare case it could not make it searchable
/// at once (the write itself is stored).
fn note_if_not_searchable(r: &Value) {
    if r["searchable"].as_bool() == Some(false) {
        eprintln!(
            "note: stored, but not yet searchable: the node's search index did not commit \
             within its bound (see its log); it will show in searches shortly"
        );
    }
}

pub fn update(home: &Home, out: &Out, a: UpdateArgs) -> Result<Done> {
    check_id(&a.id)?;
    let mut d = draft(home, &a.fields)?;
    let market = market_settings(&a.market)?;
    let photos_change = !a.fields.photos.is_empty() || !a.remove_photos.is_empty();
    if d == ListingDraft::default() && !photos_change {
        if market.is_empty() {
            bail!("nothing to change: give at least one of --title, --price, --description, --auto-accept, ...");
        }
        // Local settings only: no new version of the listing is published.
        let c = Client::connect(home)?;
        let r = c.put(
            &format!("/v1/listings/{}/market", a.id),
            &Value::Object(market),
        )?;
        out.emit(&r, || {
            let show = |k: &str| match &r[k] {
                Value::String(v) => v.clone(),
                _ => "off".into(),
            };
            format!(
                "market settings of {}: auto-accept {}, auto-decline {}, pickup at {}",
                a.id,
                show("auto_accept"),
                show("auto_decline"),
                show("pickup_at")
            )
        })?;
        return Ok(Done::Ok);
    }
    let c = Client::connect(home)?;
    let mut uploads = None;
    if photos_change {
        let listing = c.get(&format!("/v1/listings/{}", a.id))?;
        let kept = photo_upload::without(&photo_upload::current(&listing), &a.remove_photos)?;
        photo_upload::check(&a.fields.photos, kept.len())?;
        let up = photo_upload::upload(&c, &a.fields.photos)?;
        d.photos = Some(
            kept.into_iter()
                .chain(up.hashes().iter().cloned())
                .collect(),
        );
        uploads = Some(up);
    }
    let mut body = serde_json::to_value(&d)?;
    if let Value::Object(fields) = &mut body {
        fields.extend(market);
    }
    let r = c.put(&format!("/v1/listings/{}", a.id), &body)?;
    if let Some(up) = uploads {
        up.keep();
    }
    note_if_not_searchable(&r);
    out.emit(&r, || {
        if r["changed"] == false {
            format!(
                "nothing changed: {} already has these values (still version {})",
                s(&r["id"]),
                s(&r["seq"])
            )
        } else {
            format!("updated {} (version {})", s(&r["id"]), s(&r["seq"]))
        }
    })?;
    Ok(Done::Ok)
}

pub fn withdraw(home: &Home, out: &Out, a: WithdrawArgs) -> Result<Done> {
    check_id(&a.id)?;
    let c = Client::connect(home)?;
    let reason = if a.sold { "sold" } else { "withdrawn" };
    let r = c.post(
        &format!("/v1/listings/{}/withdraw", a.id),
        &json!({"reason": reason}),
    )?;
    note_if_not_searchable(&r);
    out.emit(
        &json!({"id": r["id"], "seq": r["seq"], "status": reason}),
        || {
            format!(
                "{} {}",
                if a.sold {
                    "marked as sold:"
                } else {
                    "withdrew"
                },
                s(&r["id"])
            )
        },
    )?;
    Ok(Done::Ok)
}

pub fn renew(home: &Home, out: &Out, a: RenewArgs) -> Result<Done> {
    check_id(&a.id)?;
    let secs = a
        .expires_in
        .as_deref()
        .map(|d| duration_secs("--expires-in", d))
        .transpose()?;
    let c = Client::connect(home)?;
    let r = c.post(
        &format!("/v1/listings/{}/renew", a.id),
        &json!({"expires_in_secs": secs}),
    )?;
    note_if_not_searchable(&r);
    out.emit(&r, || {
        format!(
            "renewed {} until {}",
            s(&r["id"]),
            date(r["expires_at"].as_u64().unwrap_or(0))
        )
    })?;
    Ok(Done::Ok)
}

pub fn show(home: &Home, out: &Out, a: IdArg) -> Result<Done> {
    check_id(&a.id)?;
    let c = Client::connect(home)?;
    let v = match c.get(&format!("/v1/listings/{}", a.id)) {
        Ok(v) => v,
        Err(e) if is_not_found(&e) => {
            eprintln!("{e}");
            return Ok(Done::NothingFound);
        }
        Err(e) => return Err(e),
    };
    out.emit(&v, || {
        let mut t = format!(
            "{}\n{}  ·  {}  ·  {}  ·  {}\nid:       {}\nseller:   {}\nwhere:    {}{}\nversion:  {} signed {}, expires {}",
            s(&v["title"]),
            price(&v),
            s(&v["condition"]),
            s(&v["category"]),
            s(&v["status"]),
            s(&v["id"]),
            s(&v["seller"]),
            s(&v["geohash"]),
            v["place"].as_str().map(|p| format!(" ({p})")).unwrap_or_default(),
            s(&v["seq"]),
            date(v["signed_at"].as_u64().unwrap_or(0)),
            date(v["expires_at"].as_u64().unwrap_or(0)),
        );
        if let Some(r) = crate::review_cmd::show_line(&v) {
            t.push_str(&format!("\nrating:   {r}"));
        }
        if let Some(tags) = v["tags"].as_array().filter(|t| !t.is_empty()) {
            t.push_str(&format!("\ntags:     {}", tags.iter().map(s).collect::<Vec<_>>().join(", ")));
        }
        if v["delivery"].is_object() {
            let d = &v["delivery"];
            let mut ways = Vec::new();
            if d["pickup"] == true {
                ways.push("pickup".to_string());
            }
            if d["shipping"] == true {
                let to: Vec<String> = d["ships_to"].as_array().map(|a| a.iter().map(s).collect()).unwrap_or_default();
                ways.push(if to.is_empty() { "shipping".into() } else { format!("shipping to {}", to.join(", ")) });
            }
            t.push_str(&format!("\ndelivery: {}", ways.join(", ")));
        }
        let vs = variants(&v);
        if !vs.is_empty() {
            t.push_str(&format!("\n\n{vs}"));
        }
        if let Some(p) = crate::photo_cmd::show_lines(&v) {
            t.push_str(&format!("\n\n{p}"));
        }
        if let Some(d) = v["description"].as_str().filter(|d| !d.is_empty()) {
            t.push_str(&format!("\n\n{d}"));
        }
        t
    })?;
    Ok(Done::Ok)
}

pub fn mine(home: &Home, out: &Out) -> Result<Done> {
    let c = Client::connect(home)?;
    let v = c.get("/v1/mine")?;
    let list = v["listings"].as_array().cloned().unwrap_or_default();
    if out.json {
        for l in &list {
            out.emit(l, String::new)?;
        }
        return Ok(Done::Ok);
    }
    if list.is_empty() {
        out.emit(&Value::Null, || {
            "you have no listings; create one with `swapmeet sell`".into()
        })?;
        return Ok(Done::Ok);
    }
    let rows: Vec<Vec<String>> = list
        .iter()
        .map(|l| {
            vec![
                s(&l["id"]),
                s(&l["status"]),
                price(l),
                date(l["expires_at"].as_u64().unwrap_or(0)),
                clip(&s(&l["title"]), 50),
            ]
        })
        .collect();
    out.emit(&Value::Null, || {
        table(&["ID", "STATUS", "PRICE", "EXPIRES", "TITLE"], &rows)
    })?;
    Ok(Done::Ok)
}
