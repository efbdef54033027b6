//! Signed block lists through the API: publish the user's list, trust and untrust authors,
//! and show the trusted authors with the lists this node holds of them (see
//! [`crate::blocklists`]). The request and answer types here are the contract the CLI reads.

use axum::body::Body;
use axum::extract::{Path, State};
use axum::Json;
use serde::{Deserialize, Serialize};
use swapmeet_protocol::limits::{MAX_BLOCKLIST_ENTRIES, MAX_BLOCK_REASON_CHARS};
use swapmeet_protocol::{BlockEntry, PublicKey};

use super::{blocking, json_body, ApiError, ApiResult, St};
use crate::authoring::Published;
use crate::blocklists::TrustOutcome;

/// One entry of a block list as the API shows and takes it.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EntryView {
    /// The blocked seller's id (text form).
    pub seller: String,
    /// Why (at most 64 characters, one line; may be empty).
    #[serde(default)]
    pub reason: String,
}

/// Body of `POST /v1/blocklist`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PublishRequest {
    /// The entries to publish. Absent: the sellers the user blocked on this node, each with
    /// `reason`.
    #[serde(default)]
    pub entries: Option<Vec<EntryView>>,
    /// The reason given to each of the user's blocks when `entries` is absent.
    #[serde(default)]
    pub reason: Option<String>,
}

/// Answer of `POST /v1/blocklist`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PublishedList {
    /// The list's record: id, version, expiry, hash.
    #[serde(flatten)]
    pub published: Published,
    /// How many sellers it names.
    pub entries: usize,
}

/// Body of `POST /v1/blocklist/trusted`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrustRequest {
    /// The author whose list to apply (a seller id, text form).
    pub author: String,
}

/// Answer of `POST /v1/blocklist/trusted`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Trusted {
    /// The author.
    pub author: String,
    /// What trusting did.
    #[serde(flatten)]
    pub outcome: TrustOutcome,
}

/// Answer of `DELETE /v1/blocklist/trusted/{author}`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Untrusted {
    /// The author.
    pub author: String,
    /// Whether the author was trusted.
    pub was_trusted: bool,
}

/// A trusted author and the list this node holds of them.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TrustedAuthor {
    /// The author.
    pub author: String,
    /// When the user trusted them (unix seconds).
    pub since: u64,
    /// The version of their list this node holds (absent: none arrived yet).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seq: Option<u64>,
    /// When that list expires.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<u64>,
    /// The sellers it names.
    #[serde(default)]
    pub entries: Vec<EntryView>,
}

/// Answer of `GET /v1/blocklist/trusted`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TrustedList {
    /// The trusted authors, oldest trust first.
    pub trusted: Vec<TrustedAuthor>,
}

fn parse_key(field: &'static str, text: &str) -> ApiResult<PublicKey> {
    text.trim()
        .parse()
        .map_err(|e| ApiError::field(field, format!("{field}: {e}")))
}

/// `POST /v1/blocklist`: signs and publishes the user's block list (replacing the earlier one).
pub async fn publish(State(s): St, body: Body) -> ApiResult<Json<PublishedList>> {
    let req: PublishRequest = json_body(body).await?;
    let entries: Vec<BlockEntry> = match req.entries {
        Some(list) => {
            // Named before parsing keys, so a huge file fails on its size, not on entry 10,000.
            if list.len() > MAX_BLOCKLIST_ENTRIES {
                return Err(ApiError::field(
                    "entries",
                    format!(
                        "entries: {} sellers, a block list names at most {MAX_BLOCKLIST_ENTRIES}",
                        list.len()
                    ),
                ));
            }
            list.into_iter()
                .map(|e| {
                    Ok(BlockEntry {
                        seller: parse_key("seller", &e.seller)?,
                        reason: e.reason.trim().to_string(),
                    })
                })
                .collect::<ApiResult<_>>()?
        }
        None => {
            let reason = req.reason.unwrap_or_default().trim().to_string();
            if reason.chars().count() > MAX_BLOCK_REASON_CHARS {
                return Err(ApiError::field(
                    "reason",
                    format!("reason: longer than {MAX_BLOCK_REASON_CHARS} characters"),
                ));
            }
            s.engine
                .moderation()
                .blocked()
                .into_iter()
                .map(|(seller, _)| BlockEntry {
                    seller,
                    reason: reason.clone(),
                })
                .collect()
        }
    };
    let n = entries.len();
    let published = blocking(move || Ok(s.author.publish_blocklist(entries)?)).await?;
    Ok(Json(PublishedList {
        published,
        entries: n,
    }))
}

/// `POST /v1/blocklist/trusted`: applies an author's list on this node from now on.
pub async fn trust(State(s): St, body: Body) -> ApiResult<Json<Trusted>> {
    let req: TrustRequest = json_body(body).await?;
    let author = parse_key("author", &req.author)?;
    if author == s.author.key().public() {
        return Err(ApiError::field(
            "author",
            "author: that is this node's own key; block sellers with `swapmeet block`",
        ));
    }
    let outcome = blocking(move || Ok(s.engine.trust_author(&author)?)).await?;
    Ok(Json(Trusted {
        author: author.to_string(),
        outcome,
    }))
}

/// `DELETE /v1/blocklist/trusted/{author}`: stops applying an author's list.
pub async fn untrust(State(s): St, Path(author): Path<String>) -> ApiResult<Json<Untrusted>> {
    let author = parse_key("author", &author)?;
    let was_trusted = blocking(move || Ok(s.engine.untrust_author(&author)?)).await?;
    Ok(Json(Untrusted {
        author: author.to_string(),
        was_trusted,
    }))
}

/// `GET /v1/blocklist/trusted`: the trusted authors and their lists as this node holds them.
pub async fn trusted(State(s): St) -> ApiResult<Json<TrustedList>> {
    let trusted = blocking(move || {
        let mut out = Vec::new();
        for (author, since) in s.engine.moderation().trusted() {
            let list = s.engine.blocklist_of(&author)?;
            out.push(TrustedAuthor {
                author: author.to_string(),
                since,
                seq: list.as_ref().map(|l| l.seq),
                expires_at: list.as_ref().map(|l| l.expires_at),
                entries: list
                    .map(|l| {
                        l.entries
                            .into_iter()
                            .map(|e| EntryView {
                                seller: e.seller.to_string(),
                                reason: e.reason,
                            })
                            .collect()
                    })
                    .unwrap_or_default(),
            });
        }
        Ok(out)
    })
    .await?;
    Ok(Json(TrustedList { trusted }))
}
