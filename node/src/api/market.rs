//! Negotiations and deals through the API: offer, counter, accept, decline, retract, the open
//! negotiations, the deals with their receipts, and a listing's local market settings. The
//! request and answer types here are the contract the CLI reads and writes (one set of types,
//! serialized by the server, deserialized by the clients).
//!
//! Errors: 400 for bad input (naming the field and the limit), 404 for an unknown listing,
//! thread or deal, 409 for a wrong move (expired, superseded, own offer, sold out, over a
//! limit) with a sentence that says why. Every move is acknowledged once it is in the outbox on
//! disk, like a message.

use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use serde::{Deserialize, Serialize};
use swapmeet_protocol::negotiation::{OfferEntry, OfferStatus, Party, ThreadParties};
use swapmeet_protocol::{Currency, DealReceipt, DealTerms, ListingId, Price, ThreadId};

use super::{blocking, json_body, ApiError, ApiResult, ApiState, St};
use crate::authoring::AuthorError;
use crate::market::{
    DealRecord, DealState, MarketError, MarketSettings, NegotiationView, OfferRequestParsed, Pick,
    SettingsUpdate,
};
use crate::messaging::{MessagingError, Role};

/// Prefix of the text form of a deal receipt: `swapmeet-deal1:` + base64url (no padding) of
/// the receipt bytes (PROTOCOL.md 12.3).
pub const RECEIPT_TEXT_PREFIX: &str = swapmeet_protocol::deal::DEAL_TEXT_PREFIX;

/// `POST /v1/offers`: the buyer's offer on a listing.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OfferRequest {
    /// A listing id or a unique prefix of one this node stores.
    pub listing: String,
    /// The price for the whole quantity, a decimal in the listing's currency ("200",
    /// "199.99"); a currency code may follow ("200 EUR") and must be the listing's.
    pub price: String,
    /// How many items (default 1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quantity: Option<u32>,
    /// How long the offer stays open, seconds (default 172,800 = 48 h, at most 604,800).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_in_secs: Option<u64>,
    /// A text message sent with it in the thread.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

/// `POST /v1/offers/{thread}/counter`: new terms in answer to the other party's open offer.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CounterRequest {
    /// The price for the whole quantity, as in [`OfferRequest::price`].
    pub price: String,
    /// How many items (default: the quantity of the offer answered).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quantity: Option<u32>,
    /// As in [`OfferRequest::expires_in_secs`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_in_secs: Option<u64>,
    /// A text message sent with it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

/// `POST /v1/offers/{thread}/accept`, `.../decline`, `.../retract`: which open offer. Without
/// `of`: the single open offer of the other party (for retract: my single open one); when
/// several are open the answer is a 409 naming them.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PickRequest {
    /// A prefix (at least 8 hex digits) of the offer's message hash.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub of: Option<String>,
}

/// `GET /v1/offers`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct NegotiationsJson {
    /// Mine as buyer and as seller: those with an open offer first, then the most recent.
    pub negotiations: Vec<NegotiationJson>,
}

/// One negotiation (a thread with at least one offer).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct NegotiationJson {
    /// The thread id (hex).
    pub thread: String,
    /// The listing id.
    pub listing: String,
    /// The listing's title, when this node stores the listing.
    pub title: Option<String>,
    /// My side.
    pub role: Role,
    /// The other party (seller id).
    pub other: String,
    /// The listing's asking price as this node last saw it ("250.00 EUR"), if known.
    pub asking: Option<String>,
    /// The same in minor units.
    pub asking_minor: Option<u64>,
    /// The listing's currency, if known.
    pub currency: Option<String>,
    /// Whether some offer is open.
    pub open: bool,
    /// Offers and counters in the thread's order, with their status now.
    pub offers: Vec<OfferJson>,
    /// The thread's deal, once an offer was accepted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deal: Option<ThreadDealJson>,
    /// Moves that had no effect, and why.
    #[serde(default)]
    pub ignored: Vec<IgnoredJson>,
}

/// Whether an entry is an offer (buyer) or a counter-offer (either side).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OfferKind {
    /// The buyer's offer.
    Offer,
    /// A counter-offer.
    Counter,
}

/// Where an offer stands (see PROTOCOL.md 12.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OfferStatusJson {
    /// Open: it can be accepted, declined, countered or retracted.
    Open,
    /// Its time ran out.
    Expired,
    /// A later counter replaced it.
    Superseded,
    /// The other party declined it.
    Declined,
    /// Its author retracted it.
    Retracted,
    /// Accepted: the thread's deal.
    Accepted,
    /// Another offer of the thread was accepted.
    ClosedByDeal,
    /// The listing changed its price or was withdrawn.
    ClosedByListing,
    /// Accepted, but the seller had no stock left for it ("sold out").
    Void,
}

/// One offer or counter.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct OfferJson {
    /// Its message hash (what `of` names).
    pub hash: String,
    /// Who made it.
    pub by: Role,
    /// Offer or counter.
    pub kind: OfferKind,
    /// The price for the whole quantity ("200.00 EUR").
    pub price: String,
    /// The same in minor units.
    pub price_minor: u64,
    /// Its currency.
    pub currency: String,
    /// How many items.
    pub quantity: u32,
    /// When it was sent (unix seconds, its author's clock).
    pub sent_at: u64,
    /// When it stops being open (unix seconds).
    pub expires_at: u64,
    /// Where it stands now.
    pub status: OfferStatusJson,
    /// The message that closed it (decline, retract, accept, counter), when one did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub closed_by: Option<String>,
    /// Seconds until it expires, 0 unless it is open.
    pub seconds_left: u64,
}

/// The deal of a thread as the negotiation shows it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ThreadDealJson {
    /// The deal id (hex): SHA-256 of the deal terms.
    pub id: String,
    /// Where it stands.
    pub state: DealState,
    /// The accepted offer's hash.
    pub offer: String,
    /// The accept's hash.
    pub accept: String,
    /// Who accepted.
    pub accepted_by: Role,
    /// The price ("200.00 EUR").
    pub price: String,
    /// How many items.
    pub quantity: u32,
}

/// A move that had no effect.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct IgnoredJson {
    /// Its message hash.
    pub hash: String,
    /// Why it had no effect.
    pub reason: String,
}

/// `GET /v1/deals`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DealsJson {
    /// My deals, newest first.
    pub deals: Vec<DealJson>,
}

/// One deal (`GET /v1/deals/{id}`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DealJson {
    /// The deal id (hex).
    pub id: String,
    /// The thread it was made in.
    pub thread: String,
    /// The listing id.
    pub listing: String,
    /// The listing's title, when this node stores the listing.
    pub title: Option<String>,
    /// My side.
    pub role: Role,
    /// The buyer (seller id form of the key).
    pub buyer: String,
    /// The seller.
    pub seller: String,
    /// The price for the whole quantity ("200.00 EUR").
    pub price: String,
    /// The same in minor units.
    pub price_minor: u64,
    /// Its currency.
    pub currency: String,
    /// How many items.
    pub quantity: u32,
    /// When the accept was sent (unix seconds).
    pub accepted_at: u64,
    /// Where it stands.
    pub state: DealState,
    /// The receipt's text form (`swapmeet-deal1:...`), once both signatures are here.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub receipt: Option<String>,
    /// The exact pickup place: the seller sees its own; the buyer once the seller sent it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pickup_at: Option<String>,
}

/// `PUT /v1/listings/{id}/market`, and the same three fields on the sell and update drafts:
/// a listing's local settings (never published). Absent: unchanged; `null`: cleared.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MarketSettingsRequest {
    /// Price per item at or above which an offer is accepted automatically ("230").
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "crate::market::settings::double_option"
    )]
    pub auto_accept: Option<Option<String>>,
    /// Price per item at or below which an offer is declined automatically ("150").
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "crate::market::settings::double_option"
    )]
    pub auto_decline: Option<Option<String>>,
    /// The exact pickup place (address or coordinates, at most 200 characters), sent to the
    /// buyer inside the sealed thread when a deal is made, never published.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "crate::market::settings::double_option"
    )]
    pub pickup_at: Option<Option<String>>,
}

/// The body of `POST /v1/listings` and `PUT /v1/listings/{id}` as a client writes it: the
/// listing draft and, beside its fields, the three local market settings (read by the node,
/// never published).
#[derive(Debug, Clone, Default, Serialize)]
pub struct SellDraftJson {
    /// The listing's fields.
    #[serde(flatten)]
    pub draft: crate::authoring::ListingDraft,
    /// The local settings.
    #[serde(flatten)]
    pub market: MarketSettingsRequest,
}

/// Splits a sell or update body into the listing draft (strict: unknown fields are errors)
/// and the local market settings.
pub async fn draft_body(body: Body) -> ApiResult<(crate::authoring::ListingDraft, SettingsUpdate)> {
    let mut v: serde_json::Value = json_body(body).await?;
    let mut market = serde_json::Map::new();
    if let Some(obj) = v.as_object_mut() {
        for key in ["auto_accept", "auto_decline", "pickup_at"] {
            if let Some(x) = obj.remove(key) {
                market.insert(key.to_string(), x);
            }
        }
    }
    let bad = |e: serde_json::Error| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            format!("request body: invalid JSON: {e}"),
        )
    };
    let draft = serde_json::from_value(v).map_err(bad)?;
    let settings: MarketSettingsRequest =
        serde_json::from_value(serde_json::Value::Object(market)).map_err(bad)?;
    Ok((draft, settings.update()))
}

/// A listing's local market settings (the answer of `PUT /v1/listings/{id}/market`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct MarketSettingsJson {
    /// The listing id.
    pub listing: String,
    /// Auto-accept price per item ("230.00 EUR").
    pub auto_accept: Option<String>,
    /// Auto-decline price per item.
    pub auto_decline: Option<String>,
    /// The exact pickup place.
    pub pickup_at: Option<String>,
}

// ---- the handlers ----

/// The text form of a receipt (PROTOCOL.md 12.3).
pub fn receipt_to_text(receipt: &DealReceipt) -> String {
    receipt.to_text()
}

impl From<MarketError> for ApiError {
    fn from(e: MarketError) -> ApiError {
        match &e {
            MarketError::Invalid { field, .. } => ApiError {
                status: StatusCode::BAD_REQUEST,
                message: e.to_string(),
                field: Some(field),
            },
            MarketError::WrongMove(_) => ApiError::new(StatusCode::CONFLICT, e),
            MarketError::NotFound(_) => ApiError::new(StatusCode::NOT_FOUND, e),
            MarketError::Messaging(MessagingError::Invalid(v)) => {
                ApiError::new(StatusCode::BAD_REQUEST, v)
            }
            MarketError::Messaging(MessagingError::OwnListing) => {
                ApiError::new(StatusCode::CONFLICT, e)
            }
            MarketError::Author(a) => match a {
                AuthorError::Engine(_) => ApiError::internal(e),
                _ => ApiError::new(StatusCode::CONFLICT, e),
            },
            _ => ApiError::internal(e),
        }
    }
}

fn role_of(p: Party) -> Role {
    match p {
        Party::Buyer => Role::Buyer,
        Party::Seller => Role::Seller,
    }
}

fn price_text(amount_minor: u64, currency: Currency) -> String {
    crate::market::settings::fmt_minor(amount_minor, currency)
}

fn offer_json(e: &OfferEntry, now: u64) -> OfferJson {
    let (status, closed_by) = match e.status {
        OfferStatus::Open => (OfferStatusJson::Open, None),
        OfferStatus::Expired => (OfferStatusJson::Expired, None),
        OfferStatus::Superseded { by } => (OfferStatusJson::Superseded, Some(by)),
        OfferStatus::Declined { by } => (OfferStatusJson::Declined, Some(by)),
        OfferStatus::Retracted { by } => (OfferStatusJson::Retracted, Some(by)),
        OfferStatus::Accepted { by } => (OfferStatusJson::Accepted, Some(by)),
        OfferStatus::ClosedByDeal => (OfferStatusJson::ClosedByDeal, None),
        OfferStatus::ClosedByListing => (OfferStatusJson::ClosedByListing, None),
        OfferStatus::Void { by, .. } => (OfferStatusJson::Void, Some(by)),
    };
    OfferJson {
        hash: e.hash.to_string(),
        by: role_of(e.by),
        kind: if e.counter {
            OfferKind::Counter
        } else {
            OfferKind::Offer
        },
        price: price_text(e.terms.amount_minor, e.terms.currency),
        price_minor: e.terms.amount_minor,
        currency: e.terms.currency.code().to_string(),
        quantity: e.terms.quantity,
        sent_at: e.sent_at,
        expires_at: e.terms.expires_at,
        status,
        closed_by: closed_by.map(|h| h.to_string()),
        seconds_left: if status == OfferStatusJson::Open {
            e.terms.expires_at.saturating_sub(now)
        } else {
            0
        },
    }
}

/// The JSON of a negotiation.
pub fn negotiation_json(v: &NegotiationView, now: u64) -> NegotiationJson {
    let (asking, asking_minor, currency) = match v.asking {
        Some(Price::Fixed {
            amount_minor,
            currency,
        }) => (
            Some(price_text(amount_minor, currency)),
            Some(amount_minor),
            Some(currency.code().to_string()),
        ),
        Some(Price::Free) => (Some("free".into()), None, None),
        None => (None, None, None),
    };
    let deal = v.state.deal.as_ref().map(|d| ThreadDealJson {
        id: v
            .deal
            .as_ref()
            .map(|r| r.id)
            .unwrap_or_else(|| {
                DealTerms::of_thread(
                    &ThreadParties::new(v.head.listing, v.head.about.seller, v.head.buyer),
                    &v.head.about.item_key,
                    d,
                )
                .id()
            })
            .to_string(),
        // No record yet: the seller's node has not confirmed (or its signature is on the way).
        state: v
            .deal
            .as_ref()
            .map_or(DealState::AwaitingSeller, |r| r.state),
        offer: d.offer.to_string(),
        accept: d.accept.to_string(),
        accepted_by: role_of(d.accepted_by),
        price: price_text(d.terms.amount_minor, d.terms.currency),
        quantity: d.terms.quantity,
    });
    NegotiationJson {
        thread: v.head.thread.to_string(),
        listing: v.head.listing.to_string(),
        title: v.title.clone(),
        role: v.head.role,
        other: v.head.other.to_string(),
        asking,
        asking_minor,
        currency,
        open: v.state.open().next().is_some(),
        offers: v.state.offers.iter().map(|e| offer_json(e, now)).collect(),
        deal,
        ignored: v
            .state
            .ignored
            .iter()
            .map(|i| IgnoredJson {
                hash: i.hash.to_string(),
                reason: i.reason.to_string(),
            })
            .collect(),
    }
}

/// The JSON of a deal.
pub fn deal_json(s: &ApiState, d: &DealRecord) -> DealJson {
    let title = s
        .engine
        .get(&d.listing())
        .ok()
        .flatten()
        .map(|r| r.summary.title);
    DealJson {
        id: d.id.to_string(),
        thread: d.thread.to_string(),
        listing: d.listing().to_string(),
        title,
        role: d.role,
        buyer: d.terms.buyer.to_string(),
        seller: d.terms.seller.to_string(),
        price: price_text(d.terms.amount_minor, d.terms.currency),
        price_minor: d.terms.amount_minor,
        currency: d.terms.currency.code().to_string(),
        quantity: d.terms.quantity,
        accepted_at: d.terms.accepted_at,
        state: d.state,
        receipt: d.receipt.as_ref().map(receipt_to_text),
        pickup_at: d.pickup_at.clone(),
    }
}

/// A thread id, or a unique prefix of one of my threads.
fn resolve_thread(s: &ApiState, text: &str) -> ApiResult<ThreadId> {
    super::messages::resolve_thread_among(text, "negotiation", "swapmeet offers", || {
        Ok(s.messenger
            .thread_heads()?
            .into_iter()
            .map(|h| h.thread)
            .collect())
    })
}

/// A listing id, or a unique prefix of a listing I negotiate on or sell.
fn resolve_listing(s: &ApiState, text: &str) -> ApiResult<ListingId> {
    let t = text.trim().to_ascii_lowercase();
    if let Ok(id) = t.parse::<ListingId>() {
        return Ok(id);
    }
    if t.len() < 6 {
        return Err(ApiError::field(
            "listing",
            format!("'{text}' is not a listing id (26 characters, or a unique prefix of at least 6 of a listing you negotiate on or sell)"),
        ));
    }
    let mut ids: Vec<ListingId> = s
        .messenger
        .thread_heads()?
        .into_iter()
        .map(|h| h.listing)
        .chain(
            s.engine
                .records_of(&s.author.key().public())?
                .into_iter()
                .map(|r| r.id),
        )
        .filter(|id| id.to_string().starts_with(&t))
        .collect();
    ids.sort();
    ids.dedup();
    match ids.as_slice() {
        [one] => Ok(*one),
        [] => Err(ApiError::field(
            "listing",
            format!("'{text}' is not a listing id, nor the start of one you negotiate on or sell; give the whole id (`swapmeet search`)"),
        )),
        _ => Err(ApiError::field(
            "listing",
            format!("'{text}' starts {} listings; give more characters", ids.len()),
        )),
    }
}

/// `POST /v1/offers`.
pub async fn offer(State(s): St, body: Body) -> ApiResult<(StatusCode, Json<NegotiationJson>)> {
    let req: OfferRequest = json_body(body).await?;
    let st = s.clone();
    let listing = req.listing.clone();
    let id = blocking(move || resolve_listing(&st, &listing)).await?;
    let (verified, _) = super::lookup_listing(&s, id).await?;
    let parsed = OfferRequestParsed {
        price: req.price,
        quantity: req.quantity,
        expires_in_secs: req.expires_in_secs,
        message: req.message,
    };
    let v = blocking(move || {
        let v = s.market.offer(&verified, &parsed)?;
        Ok(negotiation_json(&v, s.engine.now()))
    })
    .await?;
    Ok((StatusCode::CREATED, Json(v)))
}

/// `GET /v1/offers`.
pub async fn list(State(s): St) -> ApiResult<Json<NegotiationsJson>> {
    blocking(move || {
        let now = s.engine.now();
        let negotiations = s
            .market
            .negotiations()?
            .iter()
            .map(|v| negotiation_json(v, now))
            .collect();
        Ok(Json(NegotiationsJson { negotiations }))
    })
    .await
}

/// `GET /v1/offers/{thread}`.
pub async fn one(State(s): St, Path(thread): Path<String>) -> ApiResult<Json<NegotiationJson>> {
    blocking(move || {
        let thread = resolve_thread(&s, &thread)?;
        let v = s.market.negotiation(&thread)?;
        Ok(Json(negotiation_json(&v, s.engine.now())))
    })
    .await
}

/// `POST /v1/offers/{thread}/counter`.
pub async fn counter(
    State(s): St,
    Path(thread): Path<String>,
    body: Body,
) -> ApiResult<Json<NegotiationJson>> {
    let req: CounterRequest = json_body(body).await?;
    blocking(move || {
        let thread = resolve_thread(&s, &thread)?;
        let parsed = OfferRequestParsed {
            price: req.price,
            quantity: req.quantity,
            expires_in_secs: req.expires_in_secs,
            message: req.message,
        };
        let v = s.market.counter(&thread, &parsed)?;
        Ok(Json(negotiation_json(&v, s.engine.now())))
    })
    .await
}

/// Reads the optional `{of}` body (an empty body is `{}`).
async fn pick_body(body: Body) -> ApiResult<Pick> {
    let bytes = axum::body::to_bytes(body, super::MAX_BODY_BYTES)
        .await
        .map_err(|_| ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, "request body is too large"))?;
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(Pick::default());
    }
    let req: PickRequest = serde_json::from_slice(&bytes).map_err(|e| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            format!("request body: invalid JSON: {e}"),
        )
    })?;
    Ok(Pick { of: req.of })
}

#[derive(Clone, Copy)]
enum Close {
    Accept,
    Decline,
    Retract,
}

async fn close(
    s: Arc<ApiState>,
    thread: String,
    body: Body,
    how: Close,
) -> ApiResult<Json<NegotiationJson>> {
    let pick = pick_body(body).await?;
    blocking(move || {
        let thread = resolve_thread(&s, &thread)?;
        let v = match how {
            Close::Accept => s.market.accept(&thread, &pick)?,
            Close::Decline => s.market.decline(&thread, &pick)?,
            Close::Retract => s.market.retract(&thread, &pick)?,
        };
        Ok(Json(negotiation_json(&v, s.engine.now())))
    })
    .await
}

/// `POST /v1/offers/{thread}/accept`.
pub async fn accept(
    State(s): St,
    Path(t): Path<String>,
    body: Body,
) -> ApiResult<Json<NegotiationJson>> {
    close(s, t, body, Close::Accept).await
}

/// `POST /v1/offers/{thread}/decline`.
pub async fn decline(
    State(s): St,
    Path(t): Path<String>,
    body: Body,
) -> ApiResult<Json<NegotiationJson>> {
    close(s, t, body, Close::Decline).await
}

/// `POST /v1/offers/{thread}/retract`.
pub async fn retract(
    State(s): St,
    Path(t): Path<String>,
    body: Body,
) -> ApiResult<Json<NegotiationJson>> {
    close(s, t, body, Close::Retract).await
}

/// `GET /v1/deals`.
pub async fn deals(State(s): St) -> ApiResult<Json<DealsJson>> {
    blocking(move || {
        let deals = s.market.deals()?.iter().map(|d| deal_json(&s, d)).collect();
        Ok(Json(DealsJson { deals }))
    })
    .await
}

/// `GET /v1/deals/{id}`.
pub async fn deal(State(s): St, Path(id): Path<String>) -> ApiResult<Json<DealJson>> {
    blocking(move || {
        let d = s.market.resolve_deal(&id)?;
        Ok(Json(deal_json(&s, &d)))
    })
    .await
}

impl MarketSettingsRequest {
    /// The change it asks for.
    pub fn update(&self) -> SettingsUpdate {
        SettingsUpdate {
            auto_accept: self.auto_accept.clone(),
            auto_decline: self.auto_decline.clone(),
            pickup_at: self.pickup_at.clone(),
        }
    }
}

/// The JSON of a listing's settings.
pub fn settings_json(listing: &ListingId, m: &MarketSettings) -> MarketSettingsJson {
    let fmt = |a: Option<u64>| match (a, m.currency) {
        (Some(a), Some(c)) => Some(price_text(a, c)),
        _ => None,
    };
    MarketSettingsJson {
        listing: listing.to_string(),
        auto_accept: fmt(m.auto_accept_minor),
        auto_decline: fmt(m.auto_decline_minor),
        pickup_at: m.pickup_at.clone(),
    }
}

/// `PUT /v1/listings/{id}/market` (and `GET`: the settings now).
pub async fn set_settings(
    State(s): St,
    Path(id): Path<String>,
    body: Body,
) -> ApiResult<Json<MarketSettingsJson>> {
    let req: MarketSettingsRequest = json_body(body).await?;
    blocking(move || {
        let id = resolve_listing(&s, &id)?;
        let m = s.market.set_settings(&id, &req.update())?;
        Ok(Json(settings_json(&id, &m)))
    })
    .await
}

/// `GET /v1/listings/{id}/market`.
pub async fn get_settings(
    State(s): St,
    Path(id): Path<String>,
) -> ApiResult<Json<MarketSettingsJson>> {
    blocking(move || {
        let id = resolve_listing(&s, &id)?;
        let m = s.market.settings(&id)?;
        Ok(Json(settings_json(&id, &m)))
    })
    .await
}
