//! bridge sync: parse a shop export locally, push it to the node in chunks (one run), print
//! the report.

use std::io::IsTerminal;
use std::time::{Duration, SystemTime};

use anyhow::{anyhow, Context, Result};
use serde::Serialize;
use serde_json::{json, Value};
use swapmeet_feeds::{detect, parse_with, Format, ParseOptions, Skip};
use swapmeet_node::api::bridge::{MAX_ITEMS, RUN_TTL};
use swapmeet_node::home::Home;
use swapmeet_protocol::{Category, Condition, Currency};

use crate::args::{BridgeCommand, BridgeSyncArgs};
use crate::client::body::{Shape, MAX_BODY_BYTES};
use crate::client::{ApiFailure, Client};
use crate::output::{s, Out};
use crate::util::{duration_secs_any, lat_lon};
use crate::Done;

pub fn run(home: &Home, out: &Out, cmd: BridgeCommand) -> Result<Done> {
    match cmd {
        BridgeCommand::Sync(a) => sync(home, out, a),
        BridgeCommand::Last => last(home, out),
    }
}

/// `swapmeet bridge last`: the report the node kept of its last run.
fn last(home: &Home, out: &Out) -> Result<Done> {
    let c = Client::connect(home)?;
    let last = c.get("/v1/bridge/last")?;
    let at = last["at"].as_u64().unwrap_or(0);
    let report = &last["report"];
    out.emit(&last, || {
        let ago = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .map(|d| d.as_secs().saturating_sub(at))
            .unwrap_or(0);
        format!(
            "last bridge run: {} s ago (unix time {at})\n{}",
            ago,
            human(report)
        )
    })?;
    Ok(Done::Ok)
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
            // Image links resolve against the shop too; one that cannot is kept as it is, so
            // the node names it in a warning rather than dropping it silently.
            for img in &mut item.image_links {
                if let Some(abs) = swapmeet_feeds::normalize::absolute_link(img, Some(base)) {
                    *img = abs;
                }
            }
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
    let run_id = format!(
        "cli-{}-{}",
        std::process::id(),
        SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0)
    );
    let head = |last: bool| {
        serde_json::to_vec(&Head {
            run: RunHead { id: &run_id, last },
            dry_run: a.dry_run,
            force: a.force,
            location: a.location.as_deref(),
            category,
            condition,
        })
    };
    let heads = [head(false)?, head(true)?];
    let shape = Shape::new(
        MAX_BODY_BYTES,
        heads[0].len().max(heads[1].len()),
        &[("items", MAX_ITEMS), ("skipped", usize::MAX)],
    );
    let mut sender = RunSender {
        client,
        run_id: &run_id,
        shape: &shape,
        heads: &heads,
        sent: 0,
        progress: progress.as_ref(),
    };
    // Items are serialized once, measured, and sent as those bytes, one body at a time, so
    // memory holds one body however large the feed. The parser's skipped rows follow in the
    // same bodies: a feed can skip more rows than one body holds.
    let mut fill = shape.fill();
    let mut items: Vec<Vec<u8>> = Vec::new();
    let mut skips: Vec<Skip> = feed.skipped.clone();
    for item in &feed.items {
        let bytes = serde_json::to_vec(item)?;
        if bytes.len() > shape.room() {
            skips.push(Skip {
                row: item.row,
                shop_id: Some(item.shop_id.clone()),
                reason: format!(
                    "the item is {} bytes as JSON, more than one request to the node can carry ({} bytes besides the request's other fields); shorten its description, tags or image links",
                    bytes.len(),
                    shape.room()
                ),
            });
            continue;
        }
        if !fill.fits(0, bytes.len()) {
            sender.send(&items, &[], false)?;
            items.clear();
            fill.reset();
        }
        fill.add(0, bytes.len());
        items.push(bytes);
    }
    let mut skipped: Vec<Vec<u8>> = Vec::new();
    for skip in &skips {
        let bytes = skip_bytes(skip, shape.room())?;
        if !fill.fits(1, bytes.len()) {
            sender.send(&items, &skipped, false)?;
            items.clear();
            skipped.clear();
            fill.reset();
        }
        fill.add(1, bytes.len());
        skipped.push(bytes);
    }
    let mut report = sender.send(&items, &skipped, true)?;
    if let Some(b) = progress {
        b.finish_and_clear();
    }
    report["format"] = json!(format.as_str());
    // The parser's warnings, then the node's (images it could not publish), in one shape.
    let mut warnings = json!(feed.warnings);
    if let (Some(all), Some(node)) = (warnings.as_array_mut(), report["warnings"].as_array()) {
        for w in node {
            all.push(json!({"row": w["row"], "shop_id": w["shop_id"], "message": w["reason"]}));
        }
    }
    report["warnings"] = warnings;
    out.emit(&report, || human(&report))?;
    Ok(Done::Ok)
}

/// The options every request of a run carries (its body before the arrays).
#[derive(Serialize)]
struct Head<'a> {
    run: RunHead<'a>,
    dry_run: bool,
    force: bool,
    location: Option<&'a str>,
    category: Option<Category>,
    condition: Option<Condition>,
}

#[derive(Serialize)]
struct RunHead<'a> {
    id: &'a str,
    #[serde(rename = "final")]
    last: bool,
}

/// Sends the requests of one run, in order, and says what a failure means for the shop.
struct RunSender<'a> {
    client: &'a Client,
    run_id: &'a str,
    shape: &'a Shape,
    /// The head of a request that is not the run's last, and of the last.
    heads: &'a [Vec<u8>; 2],
    /// Requests sent so far.
    sent: usize,
    progress: Option<&'a indicatif::ProgressBar>,
}

impl RunSender<'_> {
    fn send(&mut self, items: &[Vec<u8>], skipped: &[Vec<u8>], last: bool) -> Result<Value> {
        let body = self
            .shape
            .render(&self.heads[usize::from(last)], &[items, skipped])?;
        self.sent += 1;
        match self.client.post_bytes("/v1/bridge/items", body) {
            Ok(v) => {
                if let Some(b) = self.progress {
                    b.inc(items.len() as u64);
                }
                Ok(v)
            }
            // The node refused the request (4xx): it changed nothing, so even a refused final
            // request leaves nothing published. Anything else on the final request may have
            // stopped the node half way through publishing.
            Err(e) if last && !refused(&e) => Err(e.context(format!(
                "the last request of the run (request {}) failed; if the node failed while publishing, \
                 part of the run may be published: run the same command again to complete it \
                 (a rerun publishes only what is still missing)",
                self.sent
            ))),
            Err(e) => {
                // Staged parts are dropped now rather than held for the TTL; if this fails
                // too (the node is gone), the node drops them on its own.
                let abort = serde_json::to_vec(&json!({"run": {"id": self.run_id, "abort": true}}));
                let aborted = abort
                    .ok()
                    .is_some_and(|b| self.client.post_bytes("/v1/bridge/items", b).is_ok());
                Err(e.context(format!(
                    "request {} of the run failed, so nothing was published: the node publishes a run only \
                     when its last request arrives, and {}. Fix the cause and run the same command again",
                    self.sent,
                    if aborted {
                        "it dropped this run's staged requests".to_string()
                    } else {
                        format!(
                            "it drops this incomplete run {} s after its last request",
                            RUN_TTL.as_secs()
                        )
                    }
                )))
            }
        }
    }
}

/// Whether the node answered the request with a refusal (which changes nothing).
fn refused(e: &anyhow::Error) -> bool {
    e.downcast_ref::<ApiFailure>()
        .is_some_and(|f| (400..500).contains(&f.status))
}

/// A skipped row as sent; one so long it could not travel alone (a shop id of a megabyte) is
/// shortened, keeping its row number, so it is still reported.
fn skip_bytes(skip: &Skip, room: usize) -> Result<Vec<u8>> {
    let bytes = serde_json::to_vec(skip)?;
    if bytes.len() <= room {
        return Ok(bytes);
    }
    let clip = |t: &str| t.chars().take(1000).collect::<String>();
    Ok(serde_json::to_vec(&Skip {
        row: skip.row,
        shop_id: skip.shop_id.as_deref().map(clip),
        reason: clip(&skip.reason),
    })?)
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
    if let Some(n) = r["wanted"]["count"].as_u64().filter(|n| *n > 0) {
        let titles: Vec<&str> = r["wanted"]["titles"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .collect();
        t.push_str(&format!(
            "\n  {n} wanted posts nearby match your catalogue: {} (`swapmeet search --wanted`)",
            titles.join("; ")
        ));
    }
    t
}
