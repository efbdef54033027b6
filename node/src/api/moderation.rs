//! Local moderation through the API: block and unblock sellers, hide and unhide listings, and
//! list both (see [`crate::moderation`]). The request and answer types here are the contract
//! the CLI reads.

use axum::body::Body;
use axum::extract::{Path, State};
use axum::Json;
use serde::{Deserialize, Serialize};
use swapmeet_protocol::PublicKey;

use super::{blocking, json_body, parse_id, ApiError, ApiResult, St};

/// Body of `POST /v1/blocks`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BlockRequest {
    /// The seller id to block (text form, as search results show it).
    pub seller: String,
}

/// Answer of `POST /v1/blocks`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Blocked {
    /// The seller id.
    pub seller: String,
    /// Whether the block is new (false: the seller was blocked already).
    pub new: bool,
    /// How many of the seller's records were deleted from this node.
    pub removed: usize,
}

/// Answer of `DELETE /v1/blocks/{seller}`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Unblocked {
    /// The seller id.
    pub seller: String,
    /// Whether the seller was blocked.
    pub was_blocked: bool,
}

/// One blocked seller.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct BlockedSeller {
    /// The seller id.
    pub seller: String,
    /// When the user blocked them (unix seconds).
    pub since: u64,
}

/// Answer of `GET /v1/blocks`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct BlockList {
    /// The blocked sellers, oldest block first.
    pub blocked: Vec<BlockedSeller>,
}

/// Body of `POST /v1/hidden`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HideRequest {
    /// The listing id to hide.
    pub id: String,
}

/// Answer of `POST /v1/hidden` and `DELETE /v1/hidden/{id}`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct HideChange {
    /// The listing id.
    pub id: String,
    /// Whether it is hidden now.
    pub hidden: bool,
    /// Whether this request changed it.
    pub changed: bool,
}

/// One hidden listing.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct HiddenListing {
    /// The listing id.
    pub id: String,
    /// Its title, when the node still stores it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    /// When the user hid it (unix seconds).
    pub since: u64,
}

/// Answer of `GET /v1/hidden`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct HiddenList {
    /// The hidden listings, oldest first.
    pub hidden: Vec<HiddenListing>,
}

fn parse_seller(s: &super::ApiState, text: &str) -> ApiResult<PublicKey> {
    // The parse error names the field and the form of a seller id.
    let key: PublicKey = text.trim().parse().map_err(|e| ApiError {
        status: axum::http::StatusCode::BAD_REQUEST,
        message: format!("{e}"),
        field: Some("seller"),
    })?;
    if key == s.author.key().public() {
        return Err(ApiError::field(
            "seller",
            "that is this node's own seller id; withdraw your listings instead",
        ));
    }
    Ok(key)
}

/// `POST /v1/blocks`: blocks a seller and deletes their records from this node.
pub async fn block(State(s): St, body: Body) -> ApiResult<Json<Blocked>> {
    let req: BlockRequest = json_body(body).await?;
    let key = parse_seller(&s, &req.seller)?;
    let answer = blocking(move || {
        let new = !s.engine.moderation().is_blocked(key.as_bytes());
        let removed = s.engine.block_seller(&key)?;
        Ok(Blocked {
            seller: key.to_string(),
            new,
            removed,
        })
    })
    .await?;
    Ok(Json(answer))
}

/// `DELETE /v1/blocks/{seller}`: lifts a block.
pub async fn unblock(State(s): St, Path(seller): Path<String>) -> ApiResult<Json<Unblocked>> {
    let key = parse_seller(&s, &seller)?;
    let was_blocked = blocking(move || Ok(s.engine.unblock_seller(&key)?)).await?;
    Ok(Json(Unblocked {
        seller: key.to_string(),
        was_blocked,
    }))
}

/// `GET /v1/blocks`: the blocked sellers.
pub async fn blocks(State(s): St) -> ApiResult<Json<BlockList>> {
    let blocked = s
        .engine
        .moderation()
        .blocked()
        .into_iter()
        .map(|(k, since)| BlockedSeller {
            seller: k.to_string(),
            since,
        })
        .collect();
    Ok(Json(BlockList { blocked }))
}

/// `POST /v1/hidden`: hides a listing from this user's searches.
pub async fn hide(State(s): St, body: Body) -> ApiResult<Json<HideChange>> {
    let req: HideRequest = json_body(body).await?;
    let id = parse_id(&req.id)?;
    let changed = blocking(move || Ok(s.engine.hide_listing(&id)?)).await?;
    Ok(Json(HideChange {
        id: id.to_string(),
        hidden: true,
        changed,
    }))
}

/// `DELETE /v1/hidden/{id}`: shows a hidden listing again.
pub async fn unhide(State(s): St, Path(id): Path<String>) -> ApiResult<Json<HideChange>> {
    let id = parse_id(&id)?;
    let changed = blocking(move || Ok(s.engine.unhide_listing(&id)?)).await?;
    Ok(Json(HideChange {
        id: id.to_string(),
        hidden: false,
        changed,
    }))
}

/// `GET /v1/hidden`: the hidden listings.
pub async fn hidden(State(s): St) -> ApiResult<Json<HiddenList>> {
    let list = blocking(move || {
        let mut out = Vec::new();
        for (id, since) in s.engine.moderation().hidden() {
            let title = s
                .engine
                .get(&id)?
                .map(|r| r.summary.title)
                .filter(|t| !t.is_empty());
            out.push(HiddenListing {
                id: id.to_string(),
                title,
                since,
            });
        }
        Ok(out)
    })
    .await?;
    Ok(Json(HiddenList { hidden: list }))
}
