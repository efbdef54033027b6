//! bridge sync: parse a shop export locally, push it to the node in chunks (one run), print
//! the report.

use std::io::IsTerminal;
use std::time::{Duration, SystemTime};

use anyhow::{anyhow, Context, Result};
use serde_json::{json, Value};
use swapmeet_feeds::{detect, parse_with, Format, ParseOptions};
use swapmeet_node::home::Home;
use swapmeet_protocol::{Category, Condition, Currency};

use crate::args::{BridgeCommand, BridgeSyncArgs};
use crate::client::Client;
use crate::output::{s, Out};
use crate::util::{duration_secs_any, lat_lon};
use crate::Done;

/// Request bodies stay under the API's 64 KiB cap.
const CHUNK_BYTES: usize = 48 * 1024;

pub fn run(home: &Home, out: &Out, cmd: BridgeCommand) -> Result<Done> {
    match cmd {
        BridgeCommand::Sync(a) => sync(home, out, a),
    }
}

fn sync(home: &Home, out: &Out, a: BridgeSyncArgs) -> Result<Done> {
    // Check everything before contacting the node.
    if let Some(l) = &a.location {
        lat_lon("--location", l)?;
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
    let currency = match &a.currency {
        Some(c) => Currency::new(c).map_err(|e| anyhow!("--currency: {e}"))?,
        None => home.load_config()?.currency()?,
    };
    let forced: Option<Format> = match a.format.as_str() {
        "auto" => None,
        f => Some(f.parse().map_err(|e| anyhow!("--format: {e}"))?),
    };
    if let Some(u) = &a.shop_url {
        swapmeet_feeds::normalize::shop_url(u).map_err(|e| anyhow!("--shop-url: {e}"))?;
    }
    let interval = a
        .watch
        .as_deref()
        .map(|w| duration_secs_any("--watch", w))
        .transpose()?;
    let client = Client::connect(home)?;
    let mut last_modified: Option<SystemTime> = None;
    loop {
        let modified = std::fs::metadata(&a.file).and_then(|m| m.modified()).ok();
        if interval.is_none() || modified != last_modified {
            last_modified = modified;
            let done = sync_once(&client, out, &a, forced, currency, category, condition)?;
            if interval.is_none() {
                return Ok(done);
            }
        }
        if let Some(secs) = interval {
            std::thread::sleep(Duration::from_secs(secs));
        }
    }
}

fn sync_once(
    client: &Client,
    out: &Out,
    a: &BridgeSyncArgs,
    forced: Option<Format>,
    currency: Currency,
    category: Option<Category>,
    condition: Option<Condition>,
) -> Result<Done> {
    let bytes = std::fs::read(&a.file).with_context(|| format!("reading {}", a.file.display()))?;
    let format = match forced {
        Some(f) => f,
        None => {
            let f = detect(&bytes)?;
            if !out.json {
                eprintln!("{}: detected format {f}", a.file.display());
            }
            f
        }
    };
    let mut feed = parse_with(
        &bytes,
        format,
        &ParseOptions {
            default_currency: Some(currency),
        },
    )?;
    // Checked in `sync`, before the node was contacted.
    let shop_url = a
        .shop_url
        .as_deref()
        .and_then(|u| swapmeet_feeds::normalize::shop_url(u).ok());
    if let Some(base) = shop_url.as_deref() {
        for item in &mut feed.items {
            item.link = item
                .link
                .as_deref()
                .and_then(|l| swapmeet_feeds::normalize::absolute_link(l, Some(base)));
        }
    }
    let progress =
        (!out.json && std::io::stderr().is_terminal() && feed.items.len() > 200).then(|| {
            let bar = indicatif::ProgressBar::new(feed.items.len() as u64);
            bar.set_style(
                indicatif::ProgressStyle::with_template(
                    "{spinner} syncing {pos}/{len} items {wide_bar} {eta}",
                )
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
            );
            bar
        });
    // Split into chunks that fit the API's body cap; the last request finishes the run.
    let mut chunks: Vec<Vec<Value>> = vec![Vec::new()];
    let mut size = 0;
    for item in &feed.items {
        let v = serde_json::to_value(item)?;
        let n = v.to_string().len();
        if size + n > CHUNK_BYTES && !chunks.last().is_some_and(Vec::is_empty) {
            chunks.push(Vec::new());
            size = 0;
        }
        size += n;
        if let Some(c) = chunks.last_mut() {
            c.push(v);
        }
    }
    let run_id = format!(
        "cli-{}-{}",
        std::process::id(),
        SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0)
    );
    let skipped = serde_json::to_value(&feed.skipped)?;
    let total = chunks.len();
    let mut report = Value::Null;
    for (i, chunk) in chunks.into_iter().enumerate() {
        let last = i + 1 == total;
        let n = chunk.len();
        let body = json!({
            "items": chunk,
            "skipped": if i == 0 { skipped.clone() } else { json!([]) },
            "run": {"id": run_id, "final": last},
            "dry_run": a.dry_run,
            "force": a.force,
            "location": a.location,
            "category": category,
            "condition": condition,
        });
        report = client.post("/v1/bridge/items", &body)?;
        if let Some(b) = &progress {
            b.inc(n as u64);
        }
    }
    if let Some(b) = progress {
        b.finish_and_clear();
    }
    report["format"] = json!(format.as_str());
    report["warnings"] = json!(feed.warnings);
    out.emit(&report, || human(&report))?;
    Ok(Done::Ok)
}

fn human(r: &Value) -> String {
    let n = |k: &str| r[k].as_array().map_or(0, Vec::len);
    let mut t = format!(
        "{}{} items: {} created, {} updated, {} relisted, {} withdrawn, {} unchanged, {} renewed, {} out of stock, {} skipped",
        if r["dry_run"] == true { "dry run (nothing published): " } else { "" },
        s(&r["items"]),
        n("created"),
        n("updated"),
        n("relisted"),
        n("withdrawn"),
        s(&r["unchanged"]),
        n("renewed"),
        s(&r["out_of_stock"]),
        n("skipped"),
    );
    for k in r["skipped"].as_array().into_iter().flatten() {
        let id = k["shop_id"]
            .as_str()
            .map(|i| format!(" ({i})"))
            .unwrap_or_default();
        t.push_str(&format!(
            "\n  skipped row {}{id}: {}",
            s(&k["row"]),
            s(&k["reason"])
        ));
    }
    for w in r["warnings"].as_array().into_iter().flatten() {
        t.push_str(&format!(
            "\n  warning row {}: {}",
            s(&w["row"]),
            s(&w["message"])
        ));
    }
    if let Some(why) = r["withdrawals_refused"].as_str() {
        t.push_str(&format!("\n  withdrawals refused: {why}"));
    }
    t
}
