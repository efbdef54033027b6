//! Who may call the API: a script or the CLI with the bearer token of `<home>/api.token`, or
//! the web UI with the session cookie a one-time login link gave it (`crate::ui::session`).
//! A cookie-authenticated request that changes something must also come from the UI's own
//! origin (`crate::ui::guard`); the token needs no such check, since no other page has it.

use axum::extract::{Request, State};
use axum::http::{header, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::{ApiError, St};
use crate::ui::{guard, session};

/// The authentication layer of every `/v1` route but `hello`.
pub async fn auth(State(s): St, req: Request, next: Next) -> Response {
    let given = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    if let Some(given) = given {
        if constant_time_eq(given.trim().as_bytes(), s.token.as_bytes()) {
            return next.run(req).await;
        }
    } else if let Some(id) = session::cookie_session(req.headers()) {
        if s.ui.check(&id) {
            if let Err(refused) = guard::check_origin(&s.api, req.method(), req.headers()) {
                return refused.into_response();
            }
            return next.run(req).await;
        }
        return ApiError::new(
            StatusCode::UNAUTHORIZED,
            "your web UI session has ended (the node restarted or it expired): run `swapmeet ui` to log in again",
        )
        .into_response();
    }
    ApiError::new(
        StatusCode::UNAUTHORIZED,
        "missing or wrong API token: send `Authorization: Bearer <token>` with the token from <home>/api.token",
    )
    .into_response()
}

/// Compares without leaking where the first difference is.
pub(crate) fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}
