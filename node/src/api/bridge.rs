//! `POST /v1/bridge/items`: a shop system (or `swapmeet bridge sync`) pushes its catalogue.
//!
//! Without a `run`, a request is a partial push: the given items are listed or updated and the
//! keys in `withdraw` are withdrawn; nothing else is touched. With a `run`, the requests of one
//! run together form the whole catalogue. They are **staged**: the node holds their items and
//! publishes nothing until the request with `"final": true` arrives, then applies the whole run
//! at once and withdraws what no request mentioned, behind the same guard as a file sync. A run
//! that never completes (the client died, a request was rejected) publishes nothing; it is
//! dropped after [`RUN_TTL`] idle, or at once with `"abort": true`. Staged runs are bounded in
//! number ([`MAX_RUNS`], 429), in items and bytes per run ([`MAX_RUN_ITEMS`],
//! [`MAX_RUN_BYTES`], 413) and in bytes all together ([`MAX_STAGED_BYTES`], 429).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};
use swapmeet_feeds::{FeedItem, Skip};
use swapmeet_protocol::{Category, Condition};

use super::{
    blocking, json_body_sized, searchable, wait_of, ApiError, ApiResult, ApiState, St, WaitParam,
};
use crate::bridge::{Bridge, BridgeError, BridgeOptions, Run, DEFAULT_MAX_WITHDRAW_SHARE};

/// How long a run may sit idle between its requests before it is dropped (unpublished).
pub const RUN_TTL: Duration = Duration::from_secs(600);
/// Most runs open at once.
pub const MAX_RUNS: usize = 8;
/// Most items in one request (the 64 KiB body cap usually binds first).
pub const MAX_ITEMS: usize = 1000;
/// Most items one run may stage: the most a feed file may hold, so any file `bridge sync`
/// accepts fits in one run.
pub const MAX_RUN_ITEMS: usize = swapmeet_feeds::MAX_ITEMS;
/// Most request bytes one run may stage: the largest feed file `bridge sync` reads. Parsed
/// items take about as much memory as their JSON, so this bounds what one run holds.
pub const MAX_RUN_BYTES: usize = swapmeet_feeds::MAX_FEED_BYTES;
/// Most request bytes all open runs may stage together: the largest run twice over, so a shop
/// can restart a sync while its abandoned first attempt still waits for [`RUN_TTL`].
pub const MAX_STAGED_BYTES: usize = 2 * MAX_RUN_BYTES;

/// Open runs by id, and the lock that keeps two runs from applying at once.
#[derive(Default)]
pub struct Runs {
    open: Mutex<HashMap<String, Staged>>,
    /// Held while a run or a partial push is applied: the shop's listings and the bridge state
    /// are read, then written, and two runs interleaving would each withdraw by a stale view.
    applying: Mutex<()>,
}

/// A run's requests so far, held until its final request.
#[derive(Debug)]
struct Staged {
    touched: Instant,
    dry_run: bool,
    items: Vec<FeedItem>,
    skipped: Vec<Skip>,
    withdraw: Vec<String>,
    /// Request bytes staged: the measure the bounds apply to.
    bytes: usize,
}

/// What one request adds to its run.
struct Part {
    dry_run: bool,
    items: Vec<FeedItem>,
    skipped: Vec<Skip>,
    withdraw: Vec<String>,
    bytes: usize,
}

/// Where a run stands after a request.
#[derive(Debug)]
enum Staging {
    /// More requests to come: what is staged so far.
    Open { items: usize, bytes: usize },
    /// The final request arrived: everything the run staged, to apply now.
    Complete(Staged),
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RunRef {
    id: String,
    #[serde(default, rename = "final")]
    last: bool,
    /// Drops the run's staged requests without publishing anything.
    #[serde(default)]
    abort: bool,
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
///
/// What a run or a partial push published is searchable when the answer comes (`?wait=false`
/// to answer without waiting), like every other write of the API.
pub(crate) async fn items(
    State(s): St,
    w: Result<Query<WaitParam>, QueryRejection>,
    body: Body,
) -> ApiResult<Json<Value>> {
    let wait = wait_of(w)?;
    let (b, bytes): (ItemsBody, usize) = json_body_sized(body).await?;
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
        if r.abort && r.last {
            return Err(ApiError::field(
                "run.abort",
                "a request cannot both finish and abort a run",
            ));
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
    let Some(run_ref) = b.run else {
        // A partial push: applied at once, nothing else touched.
        let part = Part {
            dry_run: b.dry_run,
            items: b.items,
            skipped: b.skipped,
            withdraw: b.withdraw,
            bytes,
        };
        return publish(s, part, opts, wait).await;
    };
    if run_ref.abort {
        let dropped = s.bridge_runs.abort(&run_ref.id)?;
        return Ok(Json(json!({
            "run": run_ref.id,
            "aborted": dropped.is_some(),
            "items": dropped.unwrap_or(0),
        })));
    }
    let part = Part {
        dry_run: b.dry_run,
        items: b.items,
        skipped: b.skipped,
        withdraw: b.withdraw,
        bytes,
    };
    match s
        .bridge_runs
        .stage(&run_ref.id, part, run_ref.last, Instant::now())?
    {
        Staging::Open { items, bytes } => Ok(Json(json!({
            "run": run_ref.id,
            "final": false,
            "items": items,
            "staged_bytes": bytes,
        }))),
        Staging::Complete(staged) => {
            let part = Part {
                dry_run: staged.dry_run,
                items: staged.items,
                skipped: staged.skipped,
                withdraw: staged.withdraw,
                bytes: staged.bytes,
            };
            publish(s, part, opts, wait).await
        }
    }
}

/// Applies a partial push or a whole run, one at a time, and answers its report once what it
/// published is searchable (when the caller waits).
async fn publish(
    s: Arc<ApiState>,
    part: Part,
    opts: BridgeOptions,
    wait: bool,
) -> ApiResult<Json<Value>> {
    let report = blocking(move || {
        let _applying = s.bridge_runs.lock_applying()?;
        let bridge = Bridge::new(s.author.clone())?;
        let mut run = Run::new(part.dry_run);
        run.note_skips(&part.skipped);
        run.add_withdrawals(&part.withdraw);
        let report = bridge.complete(run, &part.items, &opts)?;
        let mut answer = searchable(&s.engine, wait && !part.dry_run, json!(report));
        // What local people are looking for that the shop sells (issue 14).
        answer["wanted"] = json!(crate::wanted::demand::catalogue_demand(
            &s.engine,
            &s.author.key().public()
        )?);
        keep_last_report(&s, &answer);
        Ok(answer)
    })
    .await?;
    Ok(Json(report))
}

impl Runs {
    fn lock_applying(&self) -> ApiResult<std::sync::MutexGuard<'_, ()>> {
        // A panic while applying left the bridge state as it was after its last flushed item;
        // the next run reconciles from there, so a poisoned lock is safe to take over.
        Ok(self
            .applying
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner))
    }

    fn open(&self) -> ApiResult<std::sync::MutexGuard<'_, HashMap<String, Staged>>> {
        self.open
            .lock()
            .map_err(|_| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "runs lock poisoned"))
    }

    /// Drops a run's staged requests; the number of items it held, if it was open.
    fn abort(&self, id: &str) -> ApiResult<Option<usize>> {
        Ok(self.open()?.remove(id).map(|r| r.items.len()))
    }

    /// Adds a request to its run, or rejects it (413, 429, 400) leaving every run as it was.
    /// With `last`, the run is taken out whole to be applied.
    fn stage(&self, id: &str, part: Part, last: bool, now: Instant) -> ApiResult<Staging> {
        let mut map = self.open()?;
        // Abandoned runs go first, so they never hold a slot or bytes a live run needs.
        map.retain(|_, r| now.duration_since(r.touched) < RUN_TTL);
        let staged_elsewhere: usize = map
            .iter()
            .filter(|(k, _)| k.as_str() != id)
            .map(|(_, r)| r.bytes)
            .sum();
        let (items, bytes) = match map.get(id) {
            Some(r) => {
                if r.dry_run != part.dry_run {
                    return Err(ApiError::field(
                        "dry_run",
                        format!(
                            "run '{id}' was started with dry_run {}; every request of a run must say the same",
                            r.dry_run
                        ),
                    ));
                }
                (r.items.len(), r.bytes)
            }
            None => {
                if !last && map.len() >= MAX_RUNS {
                    return Err(ApiError::new(
                        StatusCode::TOO_MANY_REQUESTS,
                        format!(
                            "run: {MAX_RUNS} bridge runs are already open (the limit); finish one (\"final\": true), \
                             abort one (\"abort\": true) or wait up to {} s until abandoned ones are dropped",
                            RUN_TTL.as_secs()
                        ),
                    ));
                }
                (0, 0)
            }
        };
        let items = items + part.items.len();
        let bytes = bytes + part.bytes;
        if items > MAX_RUN_ITEMS {
            return Err(ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                format!(
                    "run: this request would make run '{id}' hold {items} items, the limit is {MAX_RUN_ITEMS} per run"
                ),
            ));
        }
        if bytes > MAX_RUN_BYTES {
            return Err(ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                format!(
                    "run: this request would make run '{id}' hold {bytes} bytes of requests, the limit is {MAX_RUN_BYTES} per run"
                ),
            ));
        }
        if staged_elsewhere + bytes > MAX_STAGED_BYTES {
            return Err(ApiError::new(
                StatusCode::TOO_MANY_REQUESTS,
                format!(
                    "run: open bridge runs would hold {} bytes, the limit for all runs together is {MAX_STAGED_BYTES}; \
                     finish or abort the other runs, or wait up to {} s until abandoned ones are dropped",
                    staged_elsewhere + bytes,
                    RUN_TTL.as_secs()
                ),
            ));
        }
        // Every check passed: only now is anything changed.
        let run = map.entry(id.to_string()).or_insert_with(|| Staged {
            touched: now,
            dry_run: part.dry_run,
            items: Vec::new(),
            skipped: Vec::new(),
            withdraw: Vec::new(),
            bytes: 0,
        });
        run.touched = now;
        run.items.extend(part.items);
        run.skipped.extend(part.skipped);
        run.withdraw.extend(part.withdraw);
        run.bytes = bytes;
        if last {
            match map.remove(id) {
                Some(run) => Ok(Staging::Complete(run)),
                None => Err(ApiError::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "a staged run vanished while its lock was held",
                )),
            }
        } else {
            Ok(Staging::Open { items, bytes })
        }
    }
}

/// The sled tree holding the last run's report (`GET /v1/bridge/last`).
pub const TREE_BRIDGE_LAST: &str = "bridge/last_report/v1";
const LAST_KEY: &[u8] = b"last";

/// Keeps a run's report for the node's status page: what the shop's last sync did, after the
/// terminal that ran it is closed. A derived record, not an acknowledged write: a failure to
/// keep it is logged and the run's answer goes out as it is.
fn keep_last_report(s: &ApiState, report: &Value) {
    let kept = json!({"at": s.engine.now(), "report": report});
    let stored = s
        .engine
        .store()
        .tree(TREE_BRIDGE_LAST)
        .map_err(|e| e.to_string())
        .and_then(|t| {
            t.insert(LAST_KEY, kept.to_string().into_bytes())
                .map_err(|e| e.to_string())
        });
    if let Err(e) = stored {
        tracing::warn!(error = %e, "keeping the bridge run's report failed");
    }
}

/// `GET /v1/bridge/last`: the last run's report with when it ran (`{"at", "report"}`), or 404
/// when no run has been made.
pub(crate) async fn last(State(s): St) -> ApiResult<Json<Value>> {
    blocking(move || {
        let tree = s
            .engine
            .store()
            .tree(TREE_BRIDGE_LAST)
            .map_err(ApiError::internal)?;
        let bytes = tree
            .get(LAST_KEY)
            .map_err(ApiError::internal)?
            .ok_or_else(|| {
                ApiError::new(
                    StatusCode::NOT_FOUND,
                    "no bridge run has been made on this node (`swapmeet bridge sync FEED` makes one)",
                )
            })?;
        serde_json::from_slice(&bytes)
            .map(Json)
            .map_err(ApiError::internal)
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn item(key: &str) -> FeedItem {
        serde_json::from_value(json!({
            "key": key, "row": 1, "shop_id": key, "title": "Mug",
            "price": "free", "available": true,
        }))
        .unwrap()
    }

    fn part(keys: &[&str], bytes: usize) -> Part {
        Part {
            dry_run: false,
            items: keys.iter().map(|k| item(k)).collect(),
            skipped: vec![Skip {
                row: 9,
                shop_id: None,
                reason: "price is missing".into(),
            }],
            withdraw: Vec::new(),
            bytes,
        }
    }

    fn status(r: ApiResult<Staging>) -> StatusCode {
        r.expect_err("the request should be rejected").status
    }

    #[test]
    fn parts_are_held_until_the_final_one_then_given_whole() {
        let runs = Runs::default();
        let now = Instant::now();
        let open = runs.stage("r", part(&["a", "b"], 100), false, now).unwrap();
        assert!(matches!(
            open,
            Staging::Open {
                items: 2,
                bytes: 100
            }
        ));
        let Staging::Complete(run) = runs.stage("r", part(&["c"], 50), true, now).unwrap() else {
            panic!("the final request completes the run");
        };
        let keys: Vec<&str> = run.items.iter().map(|i| i.key.as_str()).collect();
        assert_eq!(keys, ["a", "b", "c"]);
        assert_eq!(
            run.skipped.len(),
            2,
            "every request's skipped rows are kept"
        );
        assert!(runs.open().unwrap().is_empty(), "a completed run is gone");
    }

    #[test]
    fn a_rejected_request_leaves_the_run_as_it_was() {
        let runs = Runs::default();
        let now = Instant::now();
        runs.stage("r", part(&["a"], 100), false, now).unwrap();
        let over = status(runs.stage("r", part(&["b"], MAX_RUN_BYTES), false, now));
        assert_eq!(over, StatusCode::PAYLOAD_TOO_LARGE);
        let mut dry = part(&["b"], 10);
        dry.dry_run = true;
        assert_eq!(
            status(runs.stage("r", dry, false, now)),
            StatusCode::BAD_REQUEST
        );
        let Staging::Complete(run) = runs.stage("r", part(&[], 10), true, now).unwrap() else {
            panic!("completes");
        };
        assert_eq!(run.items.len(), 1);
        assert_eq!(run.bytes, 110);
    }

    #[test]
    fn runs_are_bounded_in_number_and_bytes_and_abandoned_ones_expire() {
        let runs = Runs::default();
        let now = Instant::now();
        for i in 0..MAX_RUNS {
            runs.stage(&format!("r{i}"), part(&["a"], 10), false, now)
                .unwrap();
        }
        assert_eq!(
            status(runs.stage("one-more", part(&["a"], 10), false, now)),
            StatusCode::TOO_MANY_REQUESTS
        );
        // A single-request run needs no slot: it is applied at once.
        assert!(matches!(
            runs.stage("whole", part(&["a"], 10), true, now),
            Ok(Staging::Complete(_))
        ));
        assert_eq!(runs.abort("r0").unwrap(), Some(1));
        assert_eq!(runs.abort("r0").unwrap(), None);
        runs.stage("big", part(&["a"], MAX_RUN_BYTES), false, now)
            .unwrap();
        assert_eq!(
            status(runs.stage("big2", part(&["a"], MAX_RUN_BYTES), true, now)),
            StatusCode::TOO_MANY_REQUESTS,
            "all runs together are bounded too"
        );
        // Idle past the TTL: every run is dropped, and their slots and bytes are free again.
        let later = now + RUN_TTL + Duration::from_secs(1);
        runs.stage("new", part(&["a"], MAX_RUN_BYTES), false, later)
            .unwrap();
        assert_eq!(runs.open().unwrap().len(), 1);
    }
}
