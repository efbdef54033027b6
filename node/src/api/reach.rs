//! Invites through the API: `GET /v1/invite` (this node's invite) and `POST /v1/join` (a
//! peer from someone's invite), see [`crate::network::invite`]. The request and answer types
//! here are the contract the CLI reads.

use axum::body::Body;
use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde::{Deserialize, Serialize};

use super::{json_body, ApiError, ApiResult, St};
use crate::network::invite::Invite;
use crate::network::NetworkHandle;

/// Answer of `GET /v1/invite`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct InviteAnswer {
    /// The invite text (`swapmeet:...`).
    pub invite: String,
    /// The node's PeerId.
    pub peer_id: String,
    /// The addresses it holds, in the order a joining node dials them.
    pub addresses: Vec<String>,
}

/// Body of `POST /v1/join`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JoinRequest {
    /// An invite text from `swapmeet invite`.
    pub invite: String,
}

/// Answer of `POST /v1/join`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct JoinAnswer {
    /// The peer joined.
    pub peer_id: String,
    /// Its addresses, now in the address book.
    pub addresses: Vec<String>,
    /// Whether a connection to it is open now (if not, it is redialled while not connected and
    /// the node has fewer than 8 peers).
    pub connected: bool,
    /// Why each address dialled before that failed.
    pub errors: Vec<String>,
}

fn net(s: &super::ApiState) -> ApiResult<&NetworkHandle> {
    s.net.as_ref().ok_or_else(|| {
        ApiError::new(
            StatusCode::CONFLICT,
            "the network is not running (the node was started without it)",
        )
    })
}

fn unavailable(e: crate::network::NetworkError) -> ApiError {
    ApiError::new(StatusCode::SERVICE_UNAVAILABLE, e)
}

/// `GET /v1/invite`.
pub async fn invite(State(s): St) -> ApiResult<Json<InviteAnswer>> {
    let inv = net(&s)?.invite().await.map_err(unavailable)?;
    if inv.addrs.is_empty() {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "this node has no address a peer could dial yet (no listen address, no relay); see `swapmeet status`",
        ));
    }
    Ok(Json(InviteAnswer {
        invite: inv.encode(),
        peer_id: inv.peer.to_string(),
        addresses: inv.dial_addrs().iter().map(|a| a.to_string()).collect(),
    }))
}

/// `POST /v1/join`.
pub async fn join(State(s): St, body: Body) -> ApiResult<Json<JoinAnswer>> {
    let req: JoinRequest = json_body(body).await?;
    // Checked whole before anything changes.
    let inv = Invite::parse(&req.invite).map_err(|e| ApiError::field("invite", e))?;
    let net = net(&s)?;
    if inv.peer == net.peer_id() {
        return Err(ApiError::field(
            "invite",
            "that is this node's own invite; give it to someone else",
        ));
    }
    let addresses = inv.dial_addrs().iter().map(|a| a.to_string()).collect();
    let peer_id = inv.peer.to_string();
    let outcome = net.join(inv).await.map_err(unavailable)?;
    Ok(Json(JoinAnswer {
        peer_id,
        addresses,
        connected: outcome.connected,
        errors: outcome.errors,
    }))
}
