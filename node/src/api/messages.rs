//! Private messages through the API: send, inbox, one thread. The request and answer types
//! here are the contract the CLI (and the web UI) read and write: one set of types, serialized
//! by the server and deserialized by the clients.
//!
//! Sending is acknowledged only once the message is in the outbox on disk (the messenger
//! flushes before it returns), so a message the user was told is queued survives `kill -9`.

use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::Json;
use serde::{Deserialize, Serialize};
use swapmeet_protocol::{ListingId, ListingRef, Record, ThreadId};

use super::{blocking, json_body, ApiError, ApiResult, ApiState, St};
use crate::messaging::{
    DeliveryState, MessageView, MessagingError, Role, Sent, ThreadSummary, ThreadView,
};

/// Shortest thread id prefix accepted (8 hex characters: 4 billion possibilities, so a prefix
/// of that length names one of a user's threads unless they have tens of thousands).
pub const MIN_THREAD_PREFIX: usize = 8;

/// `POST /v1/messages`: exactly one of `listing` (start or continue my thread about a listing,
/// as its buyer) and `thread` (answer in a thread, either side).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SendRequest {
    /// A listing id: the buyer's first message (or the next one in the same thread).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub listing: Option<String>,
    /// A thread id (or a unique prefix of at least 8 characters).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub thread: Option<String>,
    /// The text (1 to 2,000 characters).
    pub text: String,
}

/// The answer to `POST /v1/messages`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SentJson {
    /// The thread.
    pub thread: String,
    /// The listing it is about.
    pub listing: String,
    /// Who it goes to (seller id).
    pub to: String,
    /// My sequence number in the thread.
    pub seq: u64,
    /// Hash of the signed message (what the receipt names).
    pub hash: String,
    /// `queued` (it is in the outbox; `delivered` once the recipient's receipt is back).
    pub state: DeliveryState,
    /// When it stops being retried and is marked expired (unix seconds).
    pub expires_at: u64,
}

/// One message of a thread.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct MessageJson {
    /// Hash of the signed message.
    pub hash: String,
    /// Whether I wrote it.
    pub from_me: bool,
    /// Its author (seller id).
    pub sender: String,
    /// The author's sequence number in the thread.
    pub seq: u64,
    /// When the author sent it (their clock, unix seconds).
    pub sent_at: u64,
    /// When it expires (unix seconds).
    pub expires_at: u64,
    /// The text (for a negotiation step, the node's one-line description of it).
    pub text: String,
    /// `text` (chat) or the negotiation step: `offer`, `counter`, `accept`, `decline`,
    /// `retract`, `void`, `deal_signature`; read from the signed message, not the text.
    pub kind: crate::messaging::MessageKind,
    /// Mine: queued, delivered or expired.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<DeliveryState>,
    /// Theirs: when it reached this node (unix seconds).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub received_at: Option<u64>,
    /// Theirs: whether I have seen it.
    pub read: bool,
}

/// One thread in the inbox.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ThreadJson {
    /// The thread id.
    pub thread: String,
    /// The listing it is about.
    pub listing: String,
    /// The listing's title, when this node stores the listing.
    pub title: Option<String>,
    /// The listing's state here: active, sold, withdrawn, expired, or unknown (not stored).
    pub listing_status: String,
    /// My side: buyer or seller.
    pub role: Role,
    /// The other party (seller id).
    pub other: String,
    /// The newest message.
    pub last: Option<MessageJson>,
    /// Their messages I have not seen.
    pub unread: usize,
    /// My messages still queued (not yet delivered).
    pub queued: usize,
    /// Messages in the thread.
    pub messages: usize,
    /// Time of the newest message (unix seconds).
    pub updated_at: u64,
}

/// `GET /v1/inbox`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct InboxJson {
    /// Threads, newest first.
    pub threads: Vec<ThreadJson>,
    /// Unread messages over all threads.
    pub unread: usize,
}

/// `GET /v1/threads/{id}`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ThreadViewJson {
    /// The thread.
    #[serde(flatten)]
    pub thread: ThreadJson,
    /// The conversation: each party's messages in their order, the two interleaved by time.
    pub conversation: Vec<MessageJson>,
}

/// Query of `GET /v1/threads/{id}`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ThreadQuery {
    /// Whether viewing marks their messages read (default true).
    #[serde(default)]
    pub mark_read: Option<bool>,
}

impl From<MessagingError> for ApiError {
    fn from(e: MessagingError) -> ApiError {
        match &e {
            MessagingError::Invalid(v) => ApiError::field(field_of(v), v),
            MessagingError::UnknownThread(_) => ApiError::new(StatusCode::NOT_FOUND, e),
            MessagingError::OwnListing => ApiError::new(StatusCode::CONFLICT, e),
            _ => ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, e),
        }
    }
}

/// The API field a validation error of a message is about: the text is the only part the user
/// writes; everything else the node fills in.
fn field_of(_: &swapmeet_protocol::ValidationError) -> &'static str {
    "text"
}

fn message_json(m: &MessageView) -> MessageJson {
    MessageJson {
        hash: m.hash.to_string(),
        from_me: m.from_me,
        sender: m.sender.to_string(),
        seq: m.seq,
        sent_at: m.sent_at,
        expires_at: m.expires_at,
        text: m.text.clone(),
        kind: m.kind,
        state: m.state,
        received_at: m.received_at,
        read: m.read,
    }
}

/// The inbox line of a thread, with the listing's title and state from the store.
fn thread_json(s: &ApiState, t: &ThreadSummary, now: u64) -> ThreadJson {
    let rec = s.engine.get(&t.listing).ok().flatten();
    let (title, listing_status) = match &rec {
        Some(r) => (
            Some(r.summary.title.clone()),
            super::status_of(r, now).to_string(),
        ),
        None => (None, "unknown".to_string()),
    };
    ThreadJson {
        thread: t.thread.to_string(),
        listing: t.listing.to_string(),
        title,
        listing_status,
        role: t.role,
        other: t.other.to_string(),
        last: t.last.as_ref().map(message_json),
        unread: t.unread,
        queued: t.queued,
        messages: t.messages,
        updated_at: t.updated_at,
    }
}

fn view_json(s: &ApiState, v: &ThreadView, now: u64) -> ThreadViewJson {
    ThreadViewJson {
        thread: thread_json(s, &v.summary, now),
        conversation: v.messages.iter().map(message_json).collect(),
    }
}

/// Resolves a thread id or a unique prefix of one among the user's threads.
fn resolve_thread(s: &ApiState, text: &str, now: u64) -> ApiResult<ThreadId> {
    resolve_thread_among(text, "thread", "swapmeet inbox", || {
        Ok(s.messenger
            .inbox(now)?
            .into_iter()
            .map(|t| t.thread)
            .collect())
    })
}

/// A thread id, or a unique prefix (at least [`MIN_THREAD_PREFIX`] hex digits) of one of the
/// threads `candidates` lists (asked only for a prefix); `noun` names them in errors and
/// `see` is the command that lists them.
pub(super) fn resolve_thread_among(
    text: &str,
    noun: &str,
    see: &str,
    candidates: impl FnOnce() -> ApiResult<Vec<ThreadId>>,
) -> ApiResult<ThreadId> {
    let text = text.trim().to_ascii_lowercase();
    if let Ok(id) = text.parse::<ThreadId>() {
        return Ok(id);
    }
    if text.len() < MIN_THREAD_PREFIX || !text.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(ApiError::field(
            "thread",
            format!(
                "'{text}' is not a thread id (64 hex digits, or the first {MIN_THREAD_PREFIX} or more of one; see `{see}`)"
            ),
        ));
    }
    let matches: Vec<ThreadId> = candidates()?
        .into_iter()
        .filter(|t| t.to_string().starts_with(&text))
        .collect();
    match matches.as_slice() {
        [one] => Ok(*one),
        [] => Err(ApiError::new(
            StatusCode::NOT_FOUND,
            format!("no {noun} of yours starts with '{text}'; see `{see}`"),
        )),
        _ => Err(ApiError::field(
            "thread",
            format!(
                "'{text}' starts {} of your threads; give more digits",
                matches.len()
            ),
        )),
    }
}

/// The listing a buyer writes about: from the store, or from the DHT when this node does not
/// carry it. Refuses a listing that is gone (sold, withdrawn, expired) for a new thread.
async fn listing_ref(s: &Arc<ApiState>, id: ListingId) -> ApiResult<(ListingRef, Option<String>)> {
    let (verified, _) = super::lookup_listing(s, id).await?;
    let seller = verified.signer();
    let about = ListingRef {
        seller,
        item_key: verified.payload().item_key().to_string(),
        version: verified.hash(),
    };
    match verified.payload() {
        Record::Listing(l) if l.expires_at > s.engine.now() => Ok((about, None)),
        Record::Listing(_) => Ok((about, Some("has expired".into()))),
        // Answering a wanted post opens a thread with its poster, who takes the listing's
        // side of the thread (the one the post is about).
        Record::Wanted(w) if w.expires_at > s.engine.now() => Ok((about, None)),
        Record::Wanted(_) => Ok((about, Some("has expired".into()))),
        Record::BlockList(_) => Ok((about, Some("is a block list, not a listing".into()))),
        Record::Withdrawal(w) => Ok((
            about,
            Some(match w.reason {
                swapmeet_protocol::WithdrawReason::Sold => "is sold".into(),
                _ => "was withdrawn by its seller".into(),
            }),
        )),
    }
}

/// `POST /v1/messages`.
pub async fn send(State(s): St, body: Body) -> ApiResult<(StatusCode, Json<SentJson>)> {
    let req: SendRequest = json_body(body).await?;
    let text = req.text;
    let now = s.engine.now();
    let sent: Sent = match (req.listing.as_deref(), req.thread.as_deref()) {
        (Some(listing), None) => {
            let id = super::parse_listing_field("listing", listing)?;
            let (about, gone) = listing_ref(&s, id).await?;
            if about.seller == s.messenger.me() {
                return Err(ApiError::new(
                    StatusCode::CONFLICT,
                    format!("listing {id} is yours: answer buyers in their threads (`swapmeet inbox`, then `swapmeet message THREAD_ID TEXT`)"),
                ));
            }
            let st = s.clone();
            let existing = blocking(move || Ok(st.messenger.thread_about(&id)?)).await?;
            if let (Some(why), None) = (gone, existing) {
                return Err(ApiError::new(
                    StatusCode::CONFLICT,
                    format!("listing {id} {why}: it takes no new conversations; search for another (`swapmeet search`)"),
                ));
            }
            let st = s.clone();
            blocking(move || Ok(st.messenger.send_to_seller(about, &text, now)?)).await?
        }
        (None, Some(thread)) => {
            let st = s.clone();
            let thread = thread.to_string();
            blocking(move || {
                let id = resolve_thread(&st, &thread, now)?;
                Ok(st.messenger.reply(id, &text, now)?)
            })
            .await?
        }
        _ => {
            return Err(ApiError::field(
                "listing",
                "give exactly one of \"listing\" (a listing id) and \"thread\" (a thread id)",
            ))
        }
    };
    let st = s.clone();
    let thread = sent.thread;
    let summary = blocking(move || Ok(st.messenger.thread(&thread, false, now)?)).await?;
    let (listing, to) = match &summary {
        Some(v) => (v.summary.listing.to_string(), v.summary.other.to_string()),
        None => (String::new(), String::new()),
    };
    Ok((
        StatusCode::CREATED,
        Json(SentJson {
            thread: sent.thread.to_string(),
            listing,
            to,
            seq: sent.seq,
            hash: sent.hash.to_string(),
            state: sent.state,
            expires_at: sent.expires_at,
        }),
    ))
}

/// `GET /v1/inbox`.
pub async fn inbox(State(s): St) -> ApiResult<Json<InboxJson>> {
    let st = s.clone();
    blocking(move || {
        let now = st.engine.now();
        let mut threads = Vec::new();
        let mut unread = 0;
        for t in st.messenger.inbox(now)? {
            unread += t.unread;
            threads.push(thread_json(&st, &t, now));
        }
        Ok(Json(InboxJson { threads, unread }))
    })
    .await
}

/// `GET /v1/threads/{id}`: the conversation; marks their messages read unless
/// `?mark_read=false`.
pub async fn thread(
    State(s): St,
    Path(id): Path<String>,
    Query(q): Query<ThreadQuery>,
) -> ApiResult<Json<ThreadViewJson>> {
    let st = s.clone();
    blocking(move || {
        let now = st.engine.now();
        let tid = resolve_thread(&st, &id, now)?;
        let view = st
            .messenger
            .thread(&tid, q.mark_read.unwrap_or(true), now)?
            .ok_or_else(|| {
                ApiError::new(
                    StatusCode::NOT_FOUND,
                    format!("no thread {tid}; see `swapmeet inbox`"),
                )
            })?;
        Ok(Json(view_json(&st, &view, now)))
    })
    .await
}
