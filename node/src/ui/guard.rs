//! The checks that keep other web pages out of the node's API (docs/API.md, "The web UI").
//!
//! - **Host**: every request must name the node's own loopback address as its `Host`. A page
//!   on some domain that re-resolves to 127.0.0.1 (DNS rebinding) sends its own name there,
//!   so it is refused before any handler runs, whether it carries a cookie or not.
//! - **Origin**: a request authenticated by the UI's session cookie that changes something
//!   (any method but GET and HEAD) must come from the UI's own origin. SameSite=Strict already
//!   keeps the cookie off other sites' requests; the Origin check is the second lock, and the
//!   one that holds for browsers that ignore SameSite.
//!
//! The bearer-token API is unaffected by the second: scripts send no Origin and need none.

use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use std::sync::Arc;

use crate::api::{ApiError, ApiState};

/// The `Host` values this node answers to: its API address as bound (`127.0.0.1:PORT`) and
/// `localhost` with the same port.
pub fn allowed_hosts(api: &str) -> Vec<String> {
    let mut hosts = vec![api.to_string()];
    if let Some((_, port)) = api.rsplit_once(':') {
        hosts.push(format!("localhost:{port}"));
    }
    hosts
}

/// Whether a `Host` header value is one of ours (compared without case: host names have none).
pub fn host_ok(api: &str, host: Option<&str>) -> bool {
    match host {
        Some(h) => allowed_hosts(api)
            .iter()
            .any(|a| a.eq_ignore_ascii_case(h.trim())),
        None => false,
    }
}

/// Whether an `Origin` header value is the UI's own origin.
pub fn origin_ok(api: &str, origin: Option<&str>) -> bool {
    match origin {
        Some(o) => allowed_hosts(api)
            .iter()
            .any(|a| o.trim().eq_ignore_ascii_case(&format!("http://{a}"))),
        None => false,
    }
}

/// Whether a method changes state (needs the Origin check when a cookie authenticates it).
pub fn changes_state(method: &Method) -> bool {
    !matches!(*method, Method::GET | Method::HEAD)
}

/// The Origin check for a cookie-authenticated request; `Err` is the answer to give.
pub fn check_origin(api: &str, method: &Method, headers: &HeaderMap) -> Result<(), ApiError> {
    if !changes_state(method) {
        return Ok(());
    }
    let origin = headers.get(header::ORIGIN).and_then(|v| v.to_str().ok());
    if origin_ok(api, origin) {
        Ok(())
    } else {
        Err(ApiError::new(
            StatusCode::FORBIDDEN,
            format!(
                "cross-origin request refused: a change made with the UI's session must come from http://{api} (Origin was {})",
                origin.unwrap_or("missing")
            ),
        ))
    }
}

/// Middleware: refuses any request whose `Host` is not the node's own address.
pub async fn host(State(s): State<Arc<ApiState>>, req: Request, next: Next) -> Response {
    let host = req
        .headers()
        .get(header::HOST)
        .and_then(|v| v.to_str().ok());
    if !host_ok(&s.api, host) {
        return ApiError::new(
            StatusCode::MISDIRECTED_REQUEST,
            format!(
                "request refused: its Host ({}) is not this node's address {}; the node answers only requests made to its loopback address (protection against DNS rebinding)",
                host.unwrap_or("missing"),
                s.api
            ),
        )
        .into_response();
    }
    next.run(req).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_nodes_own_address_is_a_good_host() {
        let api = "127.0.0.1:7878";
        assert!(host_ok(api, Some("127.0.0.1:7878")));
        assert!(host_ok(api, Some("localhost:7878")));
        assert!(host_ok(api, Some("LOCALHOST:7878")));
        assert!(!host_ok(api, Some("evil.example:7878")));
        assert!(!host_ok(api, Some("127.0.0.1:7879")));
        assert!(!host_ok(api, Some("127.0.0.1")));
        assert!(!host_ok(api, None));
    }

    #[test]
    fn only_the_uis_own_origin_may_change_things_with_a_cookie() {
        let api = "127.0.0.1:7878";
        let mut h = HeaderMap::new();
        assert!(check_origin(api, &Method::GET, &h).is_ok());
        assert!(
            check_origin(api, &Method::POST, &h).is_err(),
            "missing Origin"
        );
        h.insert(header::ORIGIN, "http://evil.example".parse().unwrap());
        let refused = check_origin(api, &Method::POST, &h).unwrap_err();
        assert!(
            refused.message.contains("cross-origin"),
            "{}",
            refused.message
        );
        h.insert(header::ORIGIN, "http://127.0.0.1:7878".parse().unwrap());
        assert!(check_origin(api, &Method::POST, &h).is_ok());
        assert!(check_origin(api, &Method::DELETE, &h).is_ok());
        h.insert(header::ORIGIN, "https://127.0.0.1:7878".parse().unwrap());
        assert!(check_origin(api, &Method::PUT, &h).is_err());
    }
}
