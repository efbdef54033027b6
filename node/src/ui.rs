//! The local web UI (issue 17; docs/ARCHITECTURE.md, "The web UI").
//!
//! Static pages and plain JavaScript modules, embedded in the binary and served by the node's
//! own HTTP server, that call the same `/v1` JSON API as the CLI: one contract, no second one.
//! There is no build step (no bundler, no npm at build time) and nothing is fetched from
//! elsewhere, so the UI works offline and builds on a machine with no network.
//!
//! Only the node's user gets in: `swapmeet ui` asks the API (with the bearer token) for a
//! one-time login link; opening it trades the link's token for an HttpOnly, SameSite=Strict
//! session cookie, which the API then accepts like the token ([`session`], [`guard`]).

pub mod assets;
pub mod guard;
pub mod session;

use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use std::sync::Arc;

use crate::api::{ApiError, ApiResult, ApiState};

/// The answer to `POST /v1/ui/login`: a link that logs one browser in, once.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct UiLogin {
    /// Open this in a browser on this machine.
    pub url: String,
    /// Seconds the link stays valid.
    pub expires_in_secs: u64,
}

/// `?token=` of the login link.
#[derive(Debug, Deserialize)]
pub struct LoginQuery {
    token: String,
}

/// The pages and assets, outside the API's authentication: they hold no data (the data comes
/// from `/v1`, which needs the session).
pub fn routes() -> Router<Arc<ApiState>> {
    Router::new()
        .route("/", get(index))
        .route("/ui/login", get(login))
        .route("/ui/{*path}", get(asset))
}

/// `POST /v1/ui/login` (authenticated): a new one-time login link.
pub async fn new_login(State(s): State<Arc<ApiState>>) -> ApiResult<Json<UiLogin>> {
    let token = s.ui.new_login().map_err(ApiError::internal)?;
    Ok(Json(UiLogin {
        url: format!("http://{}/ui/login?token={token}", s.api),
        expires_in_secs: session::LOGIN_TTL.as_secs(),
    }))
}

/// `POST /v1/ui/logout` (authenticated): ends the caller's session and clears its cookie.
pub async fn logout(State(s): State<Arc<ApiState>>, headers: HeaderMap) -> Response {
    if let Some(id) = session::cookie_session(&headers) {
        s.ui.end(&id);
    }
    let mut r = Json(serde_json::json!({"logged_out": true})).into_response();
    r.headers_mut().insert(
        header::SET_COOKIE,
        HeaderValue::from_static("swapmeet_session=; HttpOnly; SameSite=Strict; Path=/; Max-Age=0"),
    );
    r
}

/// The headers every UI response carries: the page may load and call only its own origin, may
/// not be framed, and sends no Referer (the login link's token must not leak through one).
fn secure(mut r: Response) -> Response {
    let h = r.headers_mut();
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' blob: data:; connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'",
        ),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    r
}

fn page(status: StatusCode, html: String) -> Response {
    secure(
        (
            status,
            [
                (header::CONTENT_TYPE, "text/html; charset=utf-8"),
                (header::CACHE_CONTROL, "no-store"),
            ],
            html,
        )
            .into_response(),
    )
}

async fn index() -> Response {
    asset_response("index.html")
}

async fn asset(Path(path): Path<String>) -> Response {
    asset_response(&path)
}

/// `Cache-Control` of the favicon. Chromium asks for the page's icon again on every
/// navigation, a change of `#/...` included; with `no-cache` (and no validator) each search
/// downloaded it anew beside the search request. An icon a day old after an upgrade is
/// harmless.
const FAVICON_CACHE: &str = "max-age=86400";

fn asset_response(path: &str) -> Response {
    match assets::get(path) {
        Some((bytes, mime)) => secure(
            (
                StatusCode::OK,
                [
                    (header::CONTENT_TYPE, mime),
                    // Revalidated on each load, so a new binary's UI is used at once.
                    (
                        header::CACHE_CONTROL,
                        if path == "favicon.svg" {
                            FAVICON_CACHE
                        } else {
                            "no-cache"
                        },
                    ),
                ],
                bytes,
            )
                .into_response(),
        ),
        None => page(
            StatusCode::NOT_FOUND,
            assets::message_page(
                "Not found",
                "There is no such page. <a href=\"/\">Start again</a>.",
            ),
        ),
    }
}

async fn login(
    State(s): State<Arc<ApiState>>,
    q: Result<Query<LoginQuery>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let session = q.ok().and_then(|Query(q)| s.ui.redeem(&q.token));
    match session {
        Some(id) => {
            // A page that moves on by itself rather than a redirect: the next request is then
            // made by this origin's own page, so the Strict cookie goes with it in every browser.
            let mut r = page(
                StatusCode::OK,
                assets::message_page_then(
                    "Logged in",
                    "You are logged in to your node. <a href=\"/\">Continue</a>.",
                    "/",
                ),
            );
            let cookie = format!(
                "{}={id}; HttpOnly; SameSite=Strict; Path=/; Max-Age={}",
                session::COOKIE,
                session::SESSION_IDLE.as_secs()
            );
            if let Ok(v) = HeaderValue::from_str(&cookie) {
                r.headers_mut().insert(header::SET_COOKIE, v);
            }
            r
        }
        None => page(
            StatusCode::UNAUTHORIZED,
            assets::message_page(
                "Login link used or expired",
                "This login link was already used or has expired (links work once, for two minutes). Run <code>swapmeet ui</code> for a new one.",
            ),
        ),
    }
}
