//! The local HTTP API: JSON on 127.0.0.1, every request guarded by a bearer token.
//!
//! It is the only way the CLI (or a shop system, or a UI) reaches the node. Every body is capped
//! at [`MAX_BODY_BYTES`] and parsed strictly; every error is JSON naming the field and the rule.
//! Storage work runs on the blocking pool, never on the async workers.

pub mod alerts;
pub mod auth;
pub mod blobs;
pub mod blocklists;
pub mod bridge;
pub mod events;
pub mod hello;
pub mod import;
pub mod market;
pub mod messages;
pub mod moderation;
pub mod photos;
pub mod reach;
pub mod reviews;
pub mod search;
pub mod wanted;

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Instant;

use axum::body::Body;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::middleware;
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use base64::Engine as _;
use futures::{Stream, StreamExt};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use swapmeet_protocol::{Currency, ListingId, Price, Record, SignedEnvelope, WithdrawReason};
use tokio::sync::watch;

use crate::authoring::{Author, AuthorError};
use crate::engine::{Engine, EngineError, SearchHit};
use crate::events::Source;
use crate::ingest::IngestOutcome;
use crate::search::{SearchError, SearchQuery};
use crate::store::{RecordKind, StoredRecord};

/// Largest request body accepted.
pub const MAX_BODY_BYTES: usize = 64 * 1024;
/// Most lines one import request may carry.
pub const MAX_IMPORT_LINES: usize = 1000;
/// Prefix of the text form of a signed envelope.
pub const TEXT_PREFIX: &str = "swapmeet1:";

/// The text form of a signed envelope: one line, safe to paste anywhere.
pub fn envelope_to_text(bytes: &[u8]) -> String {
    format!(
        "{TEXT_PREFIX}{}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
    )
}

/// Parses the text form of a signed envelope (size checked before decoding).
pub fn envelope_from_text(line: &str) -> Result<Vec<u8>, String> {
    let line = line.trim();
    let b64 = line
        .strip_prefix(TEXT_PREFIX)
        .ok_or_else(|| format!("does not start with {TEXT_PREFIX}"))?;
    let max = swapmeet_protocol::limits::MAX_ENVELOPE_BYTES;
    if b64.len() > max.div_ceil(3) * 4 {
        return Err(format!(
            "envelope is over {max} bytes (the protocol's limit)"
        ));
    }
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(b64)
        .map_err(|e| format!("not base64url: {e}"))
}

/// Shared state of the handlers.
pub struct ApiState {
    /// The engine.
    pub engine: Engine,
    /// The local user's writer.
    pub author: Author,
    /// The bearer token.
    pub token: String,
    /// When the node started.
    pub started: Instant,
    /// Seller id (text).
    pub seller: String,
    /// PeerId (text).
    pub peer_id: String,
    /// The API address (text).
    pub api: String,
    /// The network, when it runs.
    pub net: Option<crate::network::NetworkHandle>,
    /// Resolves when the node shuts down (ends event streams so shutdown is not held up).
    pub shutdown: watch::Receiver<bool>,
    /// The home currency.
    pub home_currency: Currency,
    /// The home location (lat, lon) from the config, when set.
    pub home_location: Option<(f64, f64)>,
    /// The memory budget from the config (reported by status beside what the node uses).
    pub memory_budget: crate::budget::MemoryBudget,
    /// Open bridge runs.
    pub bridge_runs: bridge::Runs,
    /// Private messages: outbox, inbox, and the mailbox kept for others.
    pub messenger: crate::messaging::Messenger,
    /// Saved searches and alerts.
    pub alerts: crate::alerts::Alerts,
    /// Negotiations, the seller's stock and deals (issue 12).
    pub market: crate::market::Market,
    /// Photos and thumbnails (issue 13).
    pub blobs: crate::media::BlobStore,
    /// The web UI's login links and sessions (issue 17).
    pub ui: crate::ui::session::Sessions,
}

/// An error response: status and a JSON body naming what was wrong.
#[derive(Debug)]
pub struct ApiError {
    pub(crate) status: StatusCode,
    pub(crate) message: String,
    pub(crate) field: Option<&'static str>,
}

impl ApiError {
    /// A 400 about a field.
    pub fn field(field: &'static str, message: impl std::fmt::Display) -> ApiError {
        ApiError {
            status: StatusCode::BAD_REQUEST,
            message: format!("{field}: {message}"),
            field: Some(field),
        }
    }
    /// An error with a status.
    pub fn new(status: StatusCode, message: impl std::fmt::Display) -> ApiError {
        ApiError {
            status,
            message: message.to_string(),
            field: None,
        }
    }
    pub(crate) fn internal(e: impl std::fmt::Display) -> ApiError {
        tracing::error!(error = %e, "API request failed");
        ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, e)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (
            self.status,
            Json(json!({"error": self.message, "field": self.field})),
        )
            .into_response()
    }
}

impl From<AuthorError> for ApiError {
    fn from(e: AuthorError) -> ApiError {
        match &e {
            AuthorError::Invalid { field, .. } => ApiError {
                status: StatusCode::BAD_REQUEST,
                message: e.to_string(),
                field: Some(field),
            },
            AuthorError::Rejected(_) => ApiError::new(StatusCode::BAD_REQUEST, e),
            AuthorError::Refused(v) => ApiError {
                status: StatusCode::BAD_REQUEST,
                message: e.to_string(),
                field: v.field(),
            },
            AuthorError::NotFound(_) => ApiError::new(StatusCode::NOT_FOUND, e),
            AuthorError::NotYours(_) => ApiError::new(StatusCode::FORBIDDEN, e),
            AuthorError::Withdrawn(_) => ApiError::new(StatusCode::CONFLICT, e),
            AuthorError::Engine(_) => ApiError::internal(e),
        }
    }
}

impl From<EngineError> for ApiError {
    fn from(e: EngineError) -> ApiError {
        match e {
            EngineError::Search(SearchError::Query(q)) => ApiError::new(StatusCode::BAD_REQUEST, q),
            e => ApiError::internal(e),
        }
    }
}

pub(crate) type ApiResult<T> = Result<T, ApiError>;
pub(crate) type St = State<Arc<ApiState>>;

/// Reads a JSON body with the size cap, strictly (unknown fields are errors).
pub async fn json_body<T: DeserializeOwned>(body: Body) -> ApiResult<T> {
    json_body_sized(body).await.map(|(v, _)| v)
}

/// [`json_body`], also giving the body's size in bytes (what a staged bridge run holds).
pub async fn json_body_sized<T: DeserializeOwned>(body: Body) -> ApiResult<(T, usize)> {
    let bytes = axum::body::to_bytes(body, MAX_BODY_BYTES)
        .await
        .map_err(|_| {
            ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                format!("request body is over {MAX_BODY_BYTES} bytes"),
            )
        })?;
    if bytes.is_empty() {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "request body: expected JSON, got nothing",
        ));
    }
    serde_json::from_slice(&bytes)
        .map(|v| (v, bytes.len()))
        .map_err(|e| {
            ApiError::new(
                StatusCode::BAD_REQUEST,
                format!("request body: invalid JSON: {e}"),
            )
        })
}

/// Runs blocking storage work off the async workers.
pub async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> ApiResult<T> + Send + 'static,
) -> ApiResult<T> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(ApiError::internal)?
}

fn parse_id(s: &str) -> ApiResult<ListingId> {
    parse_listing_field("id", s)
}

/// Parses a listing id given in `field`.
fn parse_listing_field(field: &'static str, s: &str) -> ApiResult<ListingId> {
    s.trim()
        .parse::<ListingId>()
        .map_err(|e| ApiError::field(field, format!("'{s}' is not a listing id: {e}")))
}

/// The router with every endpoint, guarded by the token.
pub fn router(state: Arc<ApiState>) -> Router {
    Router::new()
        .route("/v1/status", get(status))
        .route("/v1/id", get(id))
        .route("/v1/listings", post(create))
        .route("/v1/listings/{id}", get(show).put(update))
        .route("/v1/listings/{id}/withdraw", post(withdraw))
        .route("/v1/listings/{id}/renew", post(renew))
        .route("/v1/listings/{id}/export", get(export))
        .route("/v1/mine", get(mine))
        .route("/v1/photos", post(photos::upload))
        .route("/v1/photos/{hash}", axum::routing::delete(photos::discard))
        .route("/v1/search", post(search::search))
        .route(
            "/v1/blocks",
            get(moderation::blocks).post(moderation::block),
        )
        .route(
            "/v1/blocks/{seller}",
            axum::routing::delete(moderation::unblock),
        )
        .route("/v1/blocklist", post(blocklists::publish))
        .route(
            "/v1/blocklist/trusted",
            get(blocklists::trusted).post(blocklists::trust),
        )
        .route(
            "/v1/blocklist/trusted/{author}",
            axum::routing::delete(blocklists::untrust),
        )
        .route("/v1/hidden", get(moderation::hidden).post(moderation::hide))
        .route("/v1/hidden/{id}", axum::routing::delete(moderation::unhide))
        .route("/v1/import", post(import::import))
        .route("/v1/events", get(events::events))
        .route("/v1/peers", get(peers))
        .route("/v1/invite", get(reach::invite))
        .route("/v1/join", post(reach::join))
        .route("/v1/bridge/items", post(bridge::items))
        .route("/v1/bridge/last", get(bridge::last))
        .route("/v1/messages", post(messages::send))
        .route("/v1/inbox", get(messages::inbox))
        .route("/v1/threads/{id}", get(messages::thread))
        // Negotiations and deals (issue 12).
        .route("/v1/offers", get(market::list).post(market::offer))
        .route("/v1/offers/{thread}", get(market::one))
        .route("/v1/offers/{thread}/counter", post(market::counter))
        .route("/v1/offers/{thread}/accept", post(market::accept))
        .route("/v1/offers/{thread}/decline", post(market::decline))
        .route("/v1/offers/{thread}/retract", post(market::retract))
        .route("/v1/deals", get(market::deals))
        .route("/v1/deals/{id}", get(market::deal))
        .route(
            "/v1/listings/{id}/market",
            get(market::get_settings).put(market::set_settings),
        )
        .route("/v1/watches", get(alerts::list).post(alerts::add))
        .route("/v1/watches/remove", post(alerts::remove))
        .route("/v1/watches/listings", post(alerts::watch_listing))
        .route("/v1/watches/listings/remove", post(alerts::unwatch_listing))
        .route("/v1/alerts", get(alerts::alerts))
        // Reviews and reputation (issue 12).
        .route("/v1/reviews", get(reviews::list).post(reviews::write))
        // Photos over the network (issue 13).
        .route("/v1/blobs/{hash}", get(blobs::get))
        // Wanted posts and the demand summary (issue 14).
        .route("/v1/wanted", post(wanted::post_wanted))
        .route("/v1/wanted/mine", get(wanted::mine))
        .route("/v1/wanted/search", post(wanted::search_wanted))
        .route("/v1/wanted/{id}/withdraw", post(wanted::withdraw))
        .route("/v1/wanted/{id}/renew", post(wanted::renew))
        .route("/v1/demand", get(wanted::demand_summary))
        // The web UI's login links and logout (issue 17).
        .route("/v1/ui/login", post(crate::ui::new_login))
        .route("/v1/ui/logout", post(crate::ui::logout))
        .fallback(|| async {
            ApiError::new(StatusCode::NOT_FOUND, "no such endpoint; see docs/API.md")
        })
        .layer(middleware::from_fn_with_state(state.clone(), auth::auth))
        // Added after the auth layer, so outside it: the client checks the node's proof here
        // before it sends the token at all (see `hello`).
        .route("/v1/hello", post(hello::hello))
        // The UI's pages and assets hold no data: outside the auth layer too.
        .merge(crate::ui::routes())
        // Outermost, so it covers every route and the fallback: a request to any other Host
        // (DNS rebinding) is refused before anything else runs.
        .layer(middleware::from_fn_with_state(
            state.clone(),
            crate::ui::guard::host,
        ))
        .with_state(state)
}

fn price_text(price_minor: Option<u64>, currency: Option<&str>) -> String {
    match (price_minor, currency.and_then(|c| Currency::new(c).ok())) {
        (Some(amount_minor), Some(currency)) => Price::Fixed {
            amount_minor,
            currency,
        }
        .to_string(),
        _ => "free".into(),
    }
}

fn status_of(rec: &StoredRecord, now: u64) -> &'static str {
    match rec.kind {
        RecordKind::Withdrawal => match rec.summary.reason.as_deref() {
            Some("sold") => "sold",
            _ => "withdrawn",
        },
        RecordKind::Listing | RecordKind::Wanted | RecordKind::BlockList
            if rec.expires_at <= now =>
        {
            "expired"
        }
        RecordKind::Listing | RecordKind::Wanted | RecordKind::BlockList => "active",
    }
}

/// The fields a listing's summary gives every answer about it (search hits and stored records
/// alike); callers add what their source knows (status, version, score...).
pub(crate) fn summary_fields(id: &ListingId, s: &crate::store::Summary) -> Value {
    json!({
        "id": id.to_string(),
        "seller": s.seller,
        "title": s.title,
        "price": price_text(s.price_minor, s.currency.as_deref()),
        "price_minor": s.price_minor,
        "price_max_minor": s.price_max_minor,
        "price_from": s.price_max_minor.is_some(),
        "variant_count": s.variants,
        "currency": s.currency,
        "condition": s.condition,
        "category": s.category,
        "geohash": s.geohash,
        "place": s.place,
        "ships": s.ships,
        "quantity": s.quantity,
        "thumb": s.thumb,
    })
}

/// The JSON summary of a stored record.
pub fn summary_json(rec: &StoredRecord, now: u64) -> Value {
    let mut v = summary_fields(&rec.id, &rec.summary);
    v["status"] = json!(status_of(rec, now));
    v["seq"] = json!(rec.seq);
    v["signed_at"] = json!(rec.signed_at);
    v["expires_at"] = json!(rec.expires_at);
    v["hash"] = json!(rec.hash.to_string());
    v
}

async fn status(State(s): St) -> ApiResult<Json<Value>> {
    let st = s.clone();
    let (stats, own, lookups) = blocking(move || {
        // While the store's lookups are being built (after a restart) the user's own count
        // needs them: the status says how far the building is instead of waiting for it.
        let lookups = st.engine.load_state();
        let own = if lookups == crate::store::LoadState::Ready {
            let seller = st.author.key().public();
            let now = st.engine.now();
            let mine = st.engine.records_of(&seller)?;
            Some(mine.iter().filter(|r| r.is_active(now)).count())
        } else {
            None
        };
        Ok((st.engine.stats(), own, lookups))
    })
    .await?;
    Ok(Json(json!({
        "seller": s.seller,
        "peer_id": s.peer_id,
        "version": env!("CARGO_PKG_VERSION"),
        "api": s.api,
        "records": stats.records,
        "own_listings": own,
        "lookups": lookups,
        "indexed": stats.indexed,
        "store_bytes": stats.store_bytes,
        "index_bytes": stats.index_bytes,
        "uptime_secs": s.started.elapsed().as_secs(),
        "memory": {
            "budget_bytes": s.memory_budget.bytes(),
            "resident_bytes": crate::budget::resident_bytes(),
        },
        "network": s.net.as_ref().map(|n| json!(n.status())),
    })))
}

async fn id(State(s): St) -> Json<Value> {
    // The home location and currency are what the CLI reads from the config; the web UI has
    // no config to read, so it gets them here (distance from home, prices in the home currency).
    let home = s
        .home_location
        .map(|(lat, lon)| json!({"lat": lat, "lon": lon}));
    Json(json!({
        "seller": s.seller,
        "peer_id": s.peer_id,
        "currency": s.home_currency.code(),
        "home": home,
    }))
}

async fn peers(State(s): St) -> ApiResult<Json<Value>> {
    let peers = match &s.net {
        Some(n) => n
            .peers()
            .await
            .map_err(|e| ApiError::new(StatusCode::SERVICE_UNAVAILABLE, e))?,
        // A node started without the network has no peers.
        None => Vec::new(),
    };
    Ok(Json(json!({ "peers": peers })))
}

/// The `wait` option of the write calls (`?wait=false`): by default a write returns once its
/// change is searchable, so the caller's next search sees it.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct WaitParam {
    #[serde(default = "wait_by_default")]
    wait: bool,
}

fn wait_by_default() -> bool {
    true
}

/// The `wait` option, or a JSON error naming the query string (an unknown option or a value
/// other than true/false), like every other error of the API.
pub(crate) fn wait_of(q: Result<Query<WaitParam>, QueryRejection>) -> ApiResult<bool> {
    q.map(|Query(w)| w.wait).map_err(|e| {
        ApiError::field(
            "query",
            format!("{}; a write takes only wait=true|false", e.body_text()),
        )
    })
}

/// Longest a write call waits for its change to become searchable. A commit takes tens of
/// milliseconds, a few hundred on a loaded machine (it runs at background priority); past
/// this the answer says `"searchable": false` rather than hold the caller.
pub const SEARCHABLE_WAIT: std::time::Duration = std::time::Duration::from_secs(5);

/// Makes the engine's writes so far searchable when the caller waits, and says in the answer
/// whether they are (`"searchable"`). The write itself is already stored and durable: a
/// failed or slow commit is logged and reported, not turned into a failed write (the
/// committer retries within a second).
pub(crate) fn searchable(engine: &Engine, wait: bool, mut answer: Value) -> Value {
    let done = wait
        && match engine.make_searchable(SEARCHABLE_WAIT) {
            Ok(true) => true,
            Ok(false) => {
                tracing::warn!(
                    bound = ?SEARCHABLE_WAIT,
                    "a write is not searchable yet: the index commit is slow"
                );
                false
            }
            Err(e) => {
                tracing::warn!(error = %e, "making a write searchable failed");
                false
            }
        };
    answer["searchable"] = json!(done);
    answer
}

async fn create(
    State(s): St,
    w: Result<Query<WaitParam>, QueryRejection>,
    body: Body,
) -> ApiResult<Response> {
    let wait = wait_of(w)?;
    let (draft, update) = market::draft_body(body).await?;
    let p = blocking(move || {
        // The local market settings are checked before anything is published (issue 12).
        let settings = if update.is_empty() {
            None
        } else {
            let currency = match draft
                .price
                .as_deref()
                .map(|p| Price::parse(p, Some(s.home_currency)))
            {
                Some(Ok(Price::Fixed { currency, .. })) => currency,
                _ => s.home_currency,
            };
            Some(update.apply(Default::default(), currency)?)
        };
        let p = s.author.create(&draft)?;
        if let Some(settings) = settings {
            s.market.store_settings(&p.id, &settings)?;
        }
        Ok(searchable(&s.engine, wait, json!(p)))
    })
    .await?;
    Ok((StatusCode::CREATED, Json(p)).into_response())
}

async fn update(
    State(s): St,
    Path(id): Path<String>,
    w: Result<Query<WaitParam>, QueryRejection>,
    body: Body,
) -> ApiResult<Json<Value>> {
    let wait = wait_of(w)?;
    let id = parse_id(&id)?;
    let (draft, update) = market::draft_body(body).await?;
    let p = blocking(move || {
        // The local market settings are checked before anything is published (issue 12).
        if !update.is_empty() {
            let currency = match draft
                .price
                .as_deref()
                .map(|p| Price::parse(p, Some(s.home_currency)))
            {
                Some(Ok(Price::Fixed { currency, .. })) => Some(currency),
                _ => s
                    .engine
                    .get(&id)?
                    .and_then(|r| r.summary.currency)
                    .and_then(|c| Currency::new(&c).ok()),
            };
            if let Some(c) = currency {
                s.market.check_settings(&id, &update, c)?;
            }
        }
        let p = s.author.update(&id, &draft)?;
        if !update.is_empty() {
            s.market.set_settings(&id, &update)?;
        }
        Ok(searchable(&s.engine, wait, json!(p)))
    })
    .await?;
    Ok(Json(p))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct WithdrawBody {
    #[serde(default)]
    reason: Option<String>,
}

async fn withdraw(
    State(s): St,
    Path(id): Path<String>,
    w: Result<Query<WaitParam>, QueryRejection>,
    body: Body,
) -> ApiResult<Json<Value>> {
    let wait = wait_of(w)?;
    let id = parse_id(&id)?;
    let b: WithdrawBody = json_body(body).await?;
    let reason = match b.reason.as_deref().unwrap_or("withdrawn") {
        "sold" => WithdrawReason::Sold,
        "withdrawn" => WithdrawReason::Withdrawn,
        other => {
            return Err(ApiError::field(
                "reason",
                format!("'{other}' is not one of sold, withdrawn"),
            ))
        }
    };
    let p = blocking(move || {
        let p = s.author.withdraw(&id, reason)?;
        Ok(searchable(&s.engine, wait, json!(p)))
    })
    .await?;
    Ok(Json(p))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RenewBody {
    #[serde(default)]
    expires_in_secs: Option<u64>,
}

async fn renew(
    State(s): St,
    Path(id): Path<String>,
    w: Result<Query<WaitParam>, QueryRejection>,
    body: Body,
) -> ApiResult<Json<Value>> {
    let wait = wait_of(w)?;
    let id = parse_id(&id)?;
    let b: RenewBody = json_body(body).await?;
    let p = blocking(move || {
        let p = s.author.renew(&id, b.expires_in_secs)?;
        Ok(searchable(&s.engine, wait, json!(p)))
    })
    .await?;
    Ok(Json(p))
}

/// How long `show` waits for the DHT when the listing is not stored here.
const DHT_LOOKUP_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(15);

/// A listing (or its withdrawal) from the store or, when this node does not have it, from the
/// DHT (verified); and which of the two it came from, `"store"` or `"dht"`. Shared by `show`
/// and by messaging, which must know the seller and version of a listing it may not carry.
pub(crate) async fn lookup_listing(
    s: &Arc<ApiState>,
    id: ListingId,
) -> ApiResult<(swapmeet_protocol::Verified<Record>, &'static str)> {
    let st = s.clone();
    if let Some(v) = blocking(move || Ok(st.engine.get_verified(&id)?)).await? {
        return Ok((v, "store"));
    }
    let not_found = || {
        ApiError::new(
            StatusCode::NOT_FOUND,
            format!("no listing {id} is known to this node or found in the DHT; check the id (`swapmeet search`, `swapmeet show ID`)"),
        )
    };
    let net = s.net.as_ref().ok_or_else(not_found)?;
    let found = tokio::time::timeout(DHT_LOOKUP_TIMEOUT, net.get_listing(id))
        .await
        .ok()
        .and_then(Result::ok)
        .flatten()
        .ok_or_else(not_found)?;
    let v = SignedEnvelope::decode(&found)
        .and_then(|e| e.verify(s.engine.now()))
        .map_err(|_| not_found())?;
    Ok((v, "dht"))
}

/// Looks a listing up locally and, when the node does not have it, in the DHT (the answer
/// says `"source": "dht"`; the listing is shown, not stored: it may be of an area the node
/// does not follow).
async fn show(State(s): St, Path(id): Path<String>) -> ApiResult<Json<Value>> {
    let id = parse_id(&id)?;
    let (verified, source) = lookup_listing(&s, id).await?;
    let now = s.engine.now();
    let view = {
        let rec = StoredRecord::from_verified(&verified);
        let mut v = summary_json(&rec, now);
        v["source"] = json!(source);
        // The seller's deals and rating from the reviews this node holds (issue 12).
        v["seller_reputation"] = json!(s.engine.reputation(&verified.signer()));
        {
            v["item_key"] = json!(verified.payload().item_key());
            if let Record::Listing(l) = verified.payload() {
                v["description"] = json!(l.description);
                v["tags"] = json!(l.tags);
                v["delivery"] = json!({
                    "pickup": l.delivery.pickup,
                    "shipping": l.delivery.shipping,
                    "ships_to": l.delivery.ships_to.iter().map(|c| c.to_string()).collect::<Vec<_>>(),
                });
                v["images"] = json!(l
                    .images
                    .iter()
                    .map(photos::PhotoJson::from)
                    .collect::<Vec<_>>());
                // Whether each photo is here (shown without a fetch) or on the network.
                if let Some(shown) = v["images"].as_array_mut() {
                    for (img, i) in shown.iter_mut().zip(&l.images) {
                        img["local"] = json!(s.blobs.has(&i.hash));
                    }
                }
                v["variants"] = json!(l
                    .variants
                    .iter()
                    .map(|x| {
                        let price = x.effective_price(l.price);
                        json!({
                            "options": x.options,
                            "price": price.to_string(),
                            "price_minor": match price {
                                Price::Free => None,
                                Price::Fixed { amount_minor, .. } => Some(amount_minor),
                            },
                            "quantity": x.quantity,
                            "in_stock": x.in_stock(),
                            "sku": x.sku,
                        })
                    })
                    .collect::<Vec<_>>());
            }
        }
        v
    };
    Ok(Json(view))
}

async fn export(State(s): St, Path(id): Path<String>) -> ApiResult<Json<Value>> {
    let id = parse_id(&id)?;
    let rec = blocking(move || Ok(s.engine.get(&id)?)).await?;
    let rec = rec.ok_or_else(|| {
        ApiError::new(
            StatusCode::NOT_FOUND,
            format!("no listing {id} is known to this node"),
        )
    })?;
    Ok(Json(
        json!({"id": id.to_string(), "line": envelope_to_text(&rec.envelope)}),
    ))
}

async fn mine(State(s): St) -> ApiResult<Json<Value>> {
    let list = blocking(move || {
        let now = s.engine.now();
        let recs = s.engine.records_of(&s.author.key().public())?;
        // Wanted posts have their own list (`/v1/wanted/mine`), the block list its own
        // command (`swapmeet blocklist`).
        Ok(recs
            .iter()
            .filter(|r| !matches!(r.kind, RecordKind::Wanted | RecordKind::BlockList))
            .map(|r| summary_json(r, now))
            .collect::<Vec<_>>())
    })
    .await?;
    Ok(Json(json!({"listings": list})))
}

/// A serializable error body, for clients.
#[derive(Debug, Serialize, Deserialize)]
pub struct ErrorBody {
    /// The message.
    pub error: String,
    /// The field, when one is at fault.
    pub field: Option<String>,
}
