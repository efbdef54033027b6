//! Reviews through the API: write one about the other party of a deal of mine, list the
//! reviews about a key with its figures. The request and answer types here are the contract
//! the CLI reads and writes.

use axum::body::Body;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::Json;
use serde::{Deserialize, Serialize};
use swapmeet_protocol::limits::{MAX_REVIEW_TEXT_CHARS, REVIEW_RATING_RANGE};
use swapmeet_protocol::{
    DealId, DealReceipt, EnvelopeHash, ListingId, PublicKey, ReviewError, SecretKey,
};

use super::{blocking, envelope_to_text, json_body, ApiError, ApiResult, St};
use crate::engine::Engine;
use crate::events::Source;
use crate::ingest::IngestOutcome;
use crate::market::deals::DealState;
use crate::market::reputation::Reputation;
use crate::market::reviews::{write_review, ShownReview, MAX_LISTED};
use crate::market::{Market, MarketError};

/// Reviews one `GET /v1/reviews` returns unless it asks for another number.
pub const DEFAULT_LISTED: usize = 100;

/// `POST /v1/reviews`: review the other party of a deal of mine.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReviewRequest {
    /// The deal: its id or a unique prefix of it (see `GET /v1/deals`).
    pub deal: String,
    /// Stars, 1 to 5.
    pub rating: i64,
    /// At most 1,000 characters; may be empty.
    #[serde(default)]
    pub text: String,
}

/// The answer of `POST /v1/reviews`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct WrittenReview {
    /// The review as stored.
    pub review: ReviewJson,
    /// Whether it replaced my earlier review of the same deal (one review per party per
    /// deal: the later one counts).
    pub replaced: bool,
    /// The reviewed key's figures now.
    pub reputation: Reputation,
}

/// `GET /v1/reviews` parameters.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReviewsParams {
    /// The reviewed key (a seller id).
    pub about: String,
    /// Most reviews returned, newest first (1..=1000, default 100).
    #[serde(default)]
    pub limit: Option<usize>,
}

/// The answer of `GET /v1/reviews`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ReviewsJson {
    /// The reviewed key.
    pub about: PublicKey,
    /// Its deals and average rating.
    pub reputation: Reputation,
    /// The reviews about it, newest first.
    pub reviews: Vec<ReviewJson>,
}

/// One review as the API shows it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ReviewJson {
    /// The deal.
    pub deal: DealId,
    /// Who wrote it.
    pub by: PublicKey,
    /// Who is reviewed.
    pub about: PublicKey,
    /// Stars, 1 to 5.
    pub rating: u8,
    /// The text.
    pub text: String,
    /// When it was written (unix seconds).
    pub written_at: u64,
    /// The listing the deal was about.
    pub listing: ListingId,
    /// The deal's price for the whole quantity, in minor units.
    pub amount_minor: u64,
    /// Its currency.
    pub currency: String,
    /// How many items.
    pub quantity: u32,
    /// The review's envelope hash.
    pub hash: EnvelopeHash,
    /// The review's text form (`swapmeet1:`), which `swapmeet verify` checks.
    pub line: String,
}

impl From<ShownReview> for ReviewJson {
    fn from(r: ShownReview) -> ReviewJson {
        ReviewJson {
            line: envelope_to_text(&r.envelope),
            deal: r.summary.deal,
            by: r.summary.by,
            about: r.summary.about,
            rating: r.summary.rating,
            text: r.summary.text,
            written_at: r.summary.written_at,
            listing: r.listing,
            amount_minor: r.amount_minor,
            currency: r.currency,
            quantity: r.quantity,
            hash: r.hash,
        }
    }
}

/// `GET /v1/reviews?about=KEY`: the reviews about a key and its figures.
pub async fn list(
    State(s): St,
    q: Result<Query<ReviewsParams>, QueryRejection>,
) -> ApiResult<Json<ReviewsJson>> {
    let Query(p) = q.map_err(|e| {
        ApiError::field(
            "query",
            format!("{}; expected about=SELLER_ID[&limit=N]", e.body_text()),
        )
    })?;
    let about: PublicKey = p.about.parse().map_err(|e| ApiError::field("about", e))?;
    let limit = p.limit.unwrap_or(DEFAULT_LISTED);
    if limit == 0 || limit > MAX_LISTED {
        return Err(ApiError::field(
            "limit",
            format!("{limit} is not in 1..={MAX_LISTED}"),
        ));
    }
    let answer = blocking(move || {
        let reviews = s
            .engine
            .reviews()
            .about_except(&about, limit, s.engine.now(), |by| {
                s.engine.moderation().is_blocked(by)
            })
            .map_err(ApiError::internal)?;
        Ok(ReviewsJson {
            about,
            reputation: s.engine.reputation(&about),
            reviews: reviews.into_iter().map(ReviewJson::from).collect(),
        })
    })
    .await?;
    Ok(Json(answer))
}

/// `POST /v1/reviews`: signs my review of the other party of a deal of mine (its receipt must
/// be complete) and publishes it. Reviewing the same deal again replaces my earlier review.
pub async fn write(State(s): St, body: Body) -> ApiResult<Json<WrittenReview>> {
    let r: ReviewRequest = json_body(body).await?;
    let answer = blocking(move || review_my_deal(&s.market, &s.engine, s.author.key(), &r)).await?;
    Ok(Json(answer))
}

/// What `POST /v1/reviews` does: checks the request, finds my deal in the market's store (by
/// id or prefix), requires its complete receipt, and signs and stores my review of the other
/// party. Blocking.
pub fn review_my_deal(
    market: &Market,
    engine: &Engine,
    key: &SecretKey,
    r: &ReviewRequest,
) -> ApiResult<WrittenReview> {
    let rating = check_request(r)?;
    let deal = market.resolve_deal(&r.deal).map_err(market_error)?;
    let receipt = match (deal.state, &deal.receipt) {
        (DealState::Confirmed, Some(receipt)) => receipt,
        (state, _) => {
            let why = match state {
                DealState::AwaitingSeller => "the seller has not confirmed and signed it yet",
                DealState::AwaitingBuyer => "the buyer's signature has not arrived yet",
                DealState::SoldOut => "it was void: the seller had no stock left",
                DealState::Confirmed => "its receipt is missing on this node",
            };
            return Err(ApiError::new(
                StatusCode::CONFLICT,
                format!(
                    "deal {}: is not complete ({why}); a review needs the receipt signed by both parties",
                    deal.id
                ),
            ));
        }
    };
    review_with_receipt(engine, key, receipt, rating, &r.text)
}

/// How a market error reads to the API's clients.
fn market_error(e: MarketError) -> ApiError {
    match &e {
        MarketError::Invalid { field, .. } => ApiError {
            status: StatusCode::BAD_REQUEST,
            message: e.to_string(),
            field: Some(field),
        },
        MarketError::NotFound(_) => ApiError::new(StatusCode::NOT_FOUND, e),
        MarketError::WrongMove(_) | MarketError::Deal(_) => ApiError::new(StatusCode::CONFLICT, e),
        _ => ApiError::internal(e),
    }
}

/// Checks a review request's rating and text before anything is looked up.
pub fn check_request(r: &ReviewRequest) -> ApiResult<u8> {
    let rating = u8::try_from(r.rating)
        .ok()
        .filter(|x| REVIEW_RATING_RANGE.contains(x))
        .ok_or_else(|| {
            ApiError::field(
                "rating",
                format!(
                    "{} is not in {}..={} (stars)",
                    r.rating,
                    REVIEW_RATING_RANGE.start(),
                    REVIEW_RATING_RANGE.end()
                ),
            )
        })?;
    let chars = r.text.chars().count();
    if chars > MAX_REVIEW_TEXT_CHARS {
        return Err(ApiError::field(
            "text",
            format!("{chars} characters, the limit is {MAX_REVIEW_TEXT_CHARS}"),
        ));
    }
    Ok(rating)
}

/// Signs my review of the other party of the deal of `receipt` and stores it through the one
/// ingest path (which publishes it). Blocking.
pub fn review_with_receipt(
    engine: &Engine,
    key: &SecretKey,
    receipt: &DealReceipt,
    rating: u8,
    text: &str,
) -> ApiResult<WrittenReview> {
    let me = key.public();
    let deal = receipt.id();
    let now = engine.now();
    let earlier = engine
        .reviews()
        .by(&deal, &me, now)
        .map_err(ApiError::internal)?
        .map(|r| r.summary.written_at);
    let envelope = write_review(key, receipt, rating, text, now, earlier).map_err(|e| match e {
        ReviewError::Invalid(v) => ApiError::new(StatusCode::BAD_REQUEST, v),
        e => ApiError::new(StatusCode::CONFLICT, e),
    })?;
    let outcome = engine
        .ingest(vec![envelope], Source::Local)?
        .pop()
        .ok_or_else(|| ApiError::internal("the review was not ingested"))?;
    let (about, replaced) = match outcome {
        IngestOutcome::ReviewStored {
            about, replaced, ..
        } => (about, replaced),
        IngestOutcome::ReviewRejected { reason, .. } | IngestOutcome::Rejected { reason, .. } => {
            return Err(ApiError::new(StatusCode::BAD_REQUEST, reason))
        }
        other => {
            return Err(ApiError::internal(format!(
                "my new review was not stored: {}",
                other.label()
            )))
        }
    };
    // What the user wrote is on disk before it is acknowledged.
    engine.durable()?;
    let review = engine
        .reviews()
        .by(&deal, &me, now)
        .map_err(ApiError::internal)?
        .ok_or_else(|| ApiError::internal("my review is not found after storing it"))?;
    Ok(WrittenReview {
        review: review.into(),
        replaced,
        reputation: engine.reputation(&about),
    })
}
