//! search.

use anyhow::{anyhow, Result};
use serde_json::{json, Value};
use swapmeet_node::home::Home;
use swapmeet_protocol::{Category, Condition, Currency, PublicKey};

use crate::args::{SearchArgs, SearchFilters};
use crate::client::Client;
use crate::output::{clip, price, s, table, Out};
use crate::review_cmd::rating_cell;
use crate::util::{amount_minor, lat_lon};
use crate::Done;

/// The query of a search's filters, checked as the node checks it (`POST /v1/search`'s body
/// without sort and paging); also whether it has a point (`--near`).
pub fn query_of(home: &Home, a: &SearchFilters) -> Result<(Value, bool)> {
    let currency = match &a.currency {
        Some(c) => Currency::new(c).map_err(|e| anyhow!("--currency: {e}"))?,
        None => home.load_config()?.currency()?,
    };
    let min = a
        .min_price
        .as_deref()
        .map(|p| amount_minor("--min-price", p, currency))
        .transpose()?;
    let max = a
        .max_price
        .as_deref()
        .map(|p| amount_minor("--max-price", p, currency))
        .transpose()?;
    if let (Some(lo), Some(hi)) = (min, max) {
        if lo > hi {
            anyhow::bail!("--min-price is above --max-price");
        }
    }
    let category = a
        .category
        .as_deref()
        .map(|c| {
            c.parse::<Category>()
                .map_err(|e| anyhow!("--category: {e}"))
        })
        .transpose()?;
    let condition = a
        .condition
        .as_deref()
        .map(|c| {
            c.parse::<Condition>()
                .map_err(|e| anyhow!("--condition: {e}"))
        })
        .transpose()?;
    let seller = a
        .seller
        .as_deref()
        .map(|c| c.parse::<PublicKey>().map_err(|e| anyhow!("--seller: {e}")))
        .transpose()?;
    let near = a
        .near
        .as_deref()
        .map(|n| lat_lon("--near", n))
        .transpose()?;
    if let Some(r) = a.radius_km {
        if !(r > 0.0 && r <= 20_038.0) {
            anyhow::bail!("--radius-km: {r} is not in (0, 20038]");
        }
    }
    let text = a.text.join(" ");
    let mut q = json!({});
    if !text.trim().is_empty() {
        q["text"] = json!(text);
    }
    if min.is_some() || max.is_some() {
        q["price"] = json!({"currency": currency.code(), "min_minor": min, "max_minor": max});
    }
    if let Some(c) = category {
        q["category"] = json!(c);
    }
    if let Some(c) = condition {
        q["condition"] = json!(c);
    }
    if let Some(sl) = seller {
        q["seller"] = json!(sl.to_string());
    }
    if let Some((lat, lon)) = near {
        q["near"] = json!({"lat": lat, "lon": lon, "radius_km": a.radius_km});
    }
    if let Some(r) = a.min_rating {
        q["min_rating"] = json!(r);
    }
    Ok((q, near.is_some()))
}

pub fn search(home: &Home, out: &Out, a: SearchArgs) -> Result<Done> {
    let (mut q, has_near) = query_of(home, &a.filters)?;
    if a.wanted {
        return crate::want_cmd::search_wanted(home, out, q, &a);
    }
    let sort: swapmeet_node::Sort = a.sort.parse().map_err(|e| anyhow!("--sort: {e}"))?;
    if sort == swapmeet_node::Sort::Nearest && !has_near {
        anyhow::bail!("--sort nearest needs --near LAT,LON");
    }
    if a.limit == 0 || a.limit > 100 {
        anyhow::bail!("--limit: {} is not in 1..=100", a.limit);
    }
    q["sort"] = json!(sort);
    q["limit"] = json!(a.limit);
    q["offset"] = json!(a.offset);
    q["exact_total"] = json!(a.exact_total);
    let c = Client::connect(home)?;
    let r = c.post("/v1/search", &q)?;
    let hits = r["hits"].as_array().cloned().unwrap_or_default();
    // Words that matched nothing were searched as close spellings; say so, as a search box
    // does ("showing results for hoodie").
    let corrected = r["corrected"].as_str().map(str::to_string);
    if hits.is_empty() {
        if !out.json {
            eprintln!("no listings match");
        }
        return Ok(Done::NothingFound);
    }
    if out.json {
        for h in &hits {
            let mut h = h.clone();
            if let Some(c) = &corrected {
                h["corrected"] = json!(c);
            }
            out.emit(&h, String::new)?;
        }
        return Ok(Done::Ok);
    }
    if let Some(c) = &corrected {
        eprintln!("showing results for {c}");
    }
    let with_distance = has_near;
    let rows: Vec<Vec<String>> = hits
        .iter()
        .map(|h| {
            let mut row = vec![s(&h["id"]), price(h), s(&h["condition"])];
            if with_distance {
                row.push(
                    h["distance_km"]
                        .as_f64()
                        .map(|d| format!("{d:.1} km"))
                        .unwrap_or_default(),
                );
            }
            row.push(rating_cell(&h["seller_reputation"]));
            row.push(clip(&s(&h["title"]), 60));
            row
        })
        .collect();
    // SELLER: the seller's average rating and deal count ("4.5★ (3)"), "-" when unrated.
    let header: Vec<&str> = if with_distance {
        vec!["ID", "PRICE", "CONDITION", "DISTANCE", "SELLER", "TITLE"]
    } else {
        vec!["ID", "PRICE", "CONDITION", "SELLER", "TITLE"]
    };
    let total = r["total"].as_u64().unwrap_or(hits.len() as u64);
    // Past 1,000 matches a search stops counting and reports "at least".
    let more = if r["total_exact"].as_bool() == Some(false) {
        "+"
    } else {
        ""
    };
    out.emit(&Value::Null, || {
        let mut t = table(&header, &rows);
        if total as usize > hits.len() {
            t.push_str(&format!(
                "\n({} of {total}{more} shown; --limit / --offset for more)",
                hits.len()
            ));
        }
        t
    })?;
    Ok(Done::Ok)
}
