//! Negotiations and deals through the API: offer, counter, accept, decline, retract, the open
//! negotiations, the deals with their receipts, and a listing's local market settings. The
//! request and answer types here are the contract the CLI reads and writes (one set of types,
//! serialized by the server, deserialized by the clients).
//!
//! Errors: 400 for bad input (naming the field and the limit), 404 for an unknown listing,
//! thread or deal, 409 for a wrong move (expired, superseded, own offer, sold out, over a
//! limit) with a sentence that says why. Every move is acknowledged once it is in the outbox on
//! disk, like a message.

use serde::{Deserialize, Serialize};

use crate::market::DealState;
use crate::messaging::Role;

/// Prefix of the text form of a deal receipt: `swapmeet-deal1:` + base64url (no padding) of
/// the receipt bytes (PROTOCOL.md 12.3).
pub const RECEIPT_TEXT_PREFIX: &str = "swapmeet-deal1:";

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
