//! `POST /v1/bridge/items`: a shop system (or `swapmeet bridge sync`) pushes its catalogue.
//!
//! Without a `run`, a request is a partial push: the given items are listed or updated and the
//! keys in `withdraw` are withdrawn; nothing else is touched. With a `run`, the requests of one
//! run together form the whole catalogue: the final one withdraws what no request mentioned,
//! behind the same guard as a file sync. Runs live in memory for [`RUN_TTL`] between requests.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};
use swapmeet_feeds::{FeedItem, Skip};
use swapmeet_protocol::{Category, Condition};

use super::{blocking, json_body, ApiError, ApiResult, St};
use crate::bridge::{Bridge, BridgeError, BridgeOptions, Run, DEFAULT_MAX_WITHDRAW_SHARE};

/// How long a run may sit idle between its requests.
pub const RUN_TTL: Duration = Duration::from_secs(600);
/// Most runs open at once.
pub const MAX_RUNS: usize = 8;
/// Most items in one request (the 64 KiB body cap usually binds first).
pub const MAX_ITEMS: usize = 1000;

/// Open runs by id.
#[derive(Default)]
pub struct Runs(Mutex<HashMap<String, (Instant, Run)>>);

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RunRef {
    id: String,
    #[serde(default, rename = "final")]
    last: bool,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ItemsBody {
    #[serde(default)]
    items: Vec<FeedItem>,
    /// Rows the sender's parser skipped, carried into the run's report.
    #[serde(default)]
    skipped: Vec<Skip>,
    #[serde(default)]
    withdraw: Vec<String>,
    #[serde(default)]
    run: Option<RunRef>,
    #[serde(default)]
    dry_run: bool,
    #[serde(default)]
    force: bool,
    #[serde(default)]
    location: Option<String>,
    #[serde(default)]
    category: Option<Category>,
    #[serde(default)]
    condition: Option<Condition>,
    #[serde(default)]
    max_withdraw_share: Option<f64>,
}

impl From<BridgeError> for ApiError {
    fn from(e: BridgeError) -> ApiError {
        ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, e)
    }
}

/// The handler.
pub async fn items(State(s): St, body: Body) -> ApiResult<Json<Value>> {
    let b: ItemsBody = json_body(body).await?;
    if b.items.len() > MAX_ITEMS {
        return Err(ApiError::field(
            "items",
            format!(
                "{} items, the limit is {MAX_ITEMS} per request",
                b.items.len()
            ),
        ));
    }
    if let Some(share) = b.max_withdraw_share {
        if !(0.0..=1.0).contains(&share) {
            return Err(ApiError::field(
                "max_withdraw_share",
                format!("{share} is not in 0..=1"),
            ));
        }
    }
    if let Some(r) = &b.run {
        if r.id.is_empty() || r.id.len() > 64 {
            return Err(ApiError::field("run.id", "must be 1 to 64 characters"));
        }
    }
    let opts = BridgeOptions {
        dry_run: b.dry_run,
        force: b.force,
        location: b.location.clone(),
        category: b.category,
        condition: b.condition,
        max_withdraw_share: b.max_withdraw_share.unwrap_or(DEFAULT_MAX_WITHDRAW_SHARE),
        withdraw_missing: b.run.is_some(),
    };
    let report = blocking(move || {
        let bridge = Bridge::new(s.author.clone())?;
        let mut run = match &b.run {
            Some(r) => take_run(&s.bridge_runs, &r.id, b.dry_run)?,
            None => Run::new(b.dry_run),
        };
        run.note_skips(&b.skipped);
        bridge.apply(&mut run, &b.items, &opts)?;
        match &b.run {
            Some(r) if !r.last => {
                let progress = json!({"run": r.id, "items": run.report().items, "final": false});
                put_run(&s.bridge_runs, &r.id, run);
                Ok(progress)
            }
            _ => {
                run.add_withdrawals(&b.withdraw);
                let mut report = bridge.finish(run, &opts)?;
                report.dry_run = b.dry_run;
                Ok(json!(report))
            }
        }
    })
    .await?;
    Ok(Json(report))
}

fn take_run(runs: &Runs, id: &str, dry_run: bool) -> ApiResult<Run> {
    let mut map = runs
        .0
        .lock()
        .map_err(|_| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "runs lock poisoned"))?;
    map.retain(|_, (t, _)| t.elapsed() < RUN_TTL);
    if let Some((_, run)) = map.remove(id) {
        return Ok(run);
    }
    if map.len() >= MAX_RUNS {
        return Err(ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            format!(
                "{MAX_RUNS} bridge runs are already open; finish one (final: true) or wait {} s",
                RUN_TTL.as_secs()
            ),
        ));
    }
    Ok(Run::new(dry_run))
}

fn put_run(runs: &Runs, id: &str, run: Run) {
    if let Ok(mut map) = runs.0.lock() {
        map.insert(id.to_string(), (Instant::now(), run));
    }
}
