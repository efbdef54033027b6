//! Saved searches and alerts through the API. The request and answer types here are the
//! contract the CLI reads and writes: one set of types, serialized by the server and
//! deserialized by the clients.

use axum::body::Body;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::Json;
use serde::{Deserialize, Serialize};

use super::{blocking, json_body, ApiError, ApiResult, St};
use crate::alerts::{Alert, AlertError, SavedSearch, WatchedListing};
use crate::search::SearchQuery;

/// Most alerts one `GET /v1/alerts` returns by default.
pub const DEFAULT_ALERTS: usize = 50;
/// Most alerts one `GET /v1/alerts` may ask for.
pub const MAX_ALERTS_PAGE: usize = 1_000;

/// `POST /v1/watches`: save a search.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WatchRequest {
    /// Its name (default: its text); unique, up to 64 characters, not a bare number.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// What it looks for: the body of `POST /v1/search` (sort, limit and offset are ignored).
    pub query: SearchQuery,
}

/// `POST /v1/watches/remove`: remove a saved search.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RemoveWatchRequest {
    /// Its name or id.
    pub watch: String,
}

/// `POST /v1/watches/listings` (watch a listing) and `POST /v1/watches/listings/remove`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WatchListingRequest {
    /// The listing id.
    pub listing: String,
}

/// `GET /v1/watches`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct WatchesJson {
    /// Saved searches, oldest first.
    pub watches: Vec<SavedSearch>,
    /// Watched listings, soonest expiry first.
    #[serde(default)]
    pub listings: Vec<WatchedListing>,
}

/// `GET /v1/alerts` parameters.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AlertsParams {
    /// Most alerts returned (1..=1000, default 50).
    #[serde(default)]
    pub limit: Option<usize>,
    /// Leave them unseen (by default reading them marks them seen).
    #[serde(default)]
    pub keep_unseen: bool,
}

/// `GET /v1/alerts`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AlertsJson {
    /// Alerts, newest first, each as it was before this request marked it seen.
    pub alerts: Vec<Alert>,
    /// How many alerts were unseen before this request.
    pub unseen: usize,
}

impl From<AlertError> for ApiError {
    fn from(e: AlertError) -> ApiError {
        match &e {
            AlertError::Invalid { field, .. } => ApiError {
                status: StatusCode::BAD_REQUEST,
                message: e.to_string(),
                field: Some(field),
            },
            AlertError::Duplicate(_) => ApiError {
                status: StatusCode::CONFLICT,
                message: e.to_string(),
                field: Some("name"),
            },
            AlertError::Full => ApiError {
                status: StatusCode::CONFLICT,
                message: e.to_string(),
                field: Some("watches"),
            },
            AlertError::Unknown(_) | AlertError::NotWatched(_) => {
                ApiError::new(StatusCode::NOT_FOUND, e)
            }
            _ => ApiError::internal(e),
        }
    }
}

/// `POST /v1/watches`.
pub async fn add(State(s): St, body: Body) -> ApiResult<Json<SavedSearch>> {
    let req: WatchRequest = json_body(body).await?;
    let alerts = s.alerts.clone();
    let saved = blocking(move || Ok(alerts.add(req.name, req.query)?)).await?;
    Ok(Json(saved))
}

/// `GET /v1/watches`.
pub async fn list(State(s): St) -> ApiResult<Json<WatchesJson>> {
    Ok(Json(WatchesJson {
        watches: s.alerts.list()?,
        listings: s.alerts.watched()?,
    }))
}

/// `POST /v1/watches/listings`.
pub async fn watch_listing(State(s): St, body: Body) -> ApiResult<Json<WatchedListing>> {
    let req: WatchListingRequest = json_body(body).await?;
    let alerts = s.alerts.clone();
    let w = blocking(move || Ok(alerts.watch_listing(&req.listing)?)).await?;
    Ok(Json(w))
}

/// `POST /v1/watches/listings/remove`.
pub async fn unwatch_listing(State(s): St, body: Body) -> ApiResult<Json<WatchedListing>> {
    let req: WatchListingRequest = json_body(body).await?;
    let alerts = s.alerts.clone();
    let w = blocking(move || Ok(alerts.unwatch_listing(&req.listing)?)).await?;
    Ok(Json(w))
}

/// `POST /v1/watches/remove`.
pub async fn remove(State(s): St, body: Body) -> ApiResult<Json<SavedSearch>> {
    let req: RemoveWatchRequest = json_body(body).await?;
    let alerts = s.alerts.clone();
    let removed = blocking(move || Ok(alerts.remove(&req.watch)?)).await?;
    Ok(Json(removed))
}

/// `GET /v1/alerts`.
pub async fn alerts(
    State(s): St,
    params: Result<Query<AlertsParams>, axum::extract::rejection::QueryRejection>,
) -> ApiResult<Json<AlertsJson>> {
    let Query(p) = params.map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, e.body_text()))?;
    let limit = p.limit.unwrap_or(DEFAULT_ALERTS);
    if limit == 0 || limit > MAX_ALERTS_PAGE {
        return Err(ApiError::field(
            "limit",
            format!("{limit} is not in 1..={MAX_ALERTS_PAGE}"),
        ));
    }
    let a = s.alerts.clone();
    let (alerts, unseen) = blocking(move || Ok(a.alerts(limit, !p.keep_unseen)?)).await?;
    Ok(Json(AlertsJson { alerts, unseen }))
}
