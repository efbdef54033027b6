//! swapmeet's wire types: keys, signed envelopes, listings, withdrawals, private messages,
//! negotiation, deal receipts, reviews, wanted posts and block lists,
//! their validation, their encoding, and the limits every node enforces.
//!
//! This crate is pure: no async runtime, networking, storage or indexing in its dependency
//! tree, so any client (a shop bridge, a browser build, another language's test suite) can rely
//! on it. `docs/PROTOCOL.md` describes the same format for other implementations.
//!
//! Signed contents are only reachable through verification: decode a [`SignedEnvelope`], then
//! [`SignedEnvelope::verify`] (or [`verify_batch`]) to get a [`Verified`] record. Private
//! messages take their own path: [`open`] a [`Sealed`] message (or
//! [`SignedEnvelope::verify_message`]) to get a `Verified<DirectMessage>`; the listing paths
//! refuse them.
//!
//! # Layout
//! - [`keys`]: secret and public keys, signatures, the seller id text form.
//! - [`envelope`]: signed envelopes, kinds, hashes, verification, `Verified<T>`, `Record`.
//! - [`listing`]: listings, listing ids, locations, delivery, images.
//! - [`stamp`]: the per-key listing allowance: proof-of-work stamps, duplicate fingerprints.
//! - [`variant`]: variants of a listing (sizes, colours) with their own stock and price.
//! - [`withdrawal`]: withdrawals (sold / withdrawn).
//! - [`wanted`]: wanted posts (kind 6): what a user is looking for, a record like a listing.
//! - [`blocklist`]: block lists (kind 7): a key's signed list of blocked sellers, applied only
//!   by nodes whose users trust that key.
//! - [`message`]: private messages between a buyer and a seller, receipts, thread ids.
//! - [`seal`](mod@seal): sealing a signed message for its recipient (HPKE), mailbox tags.
//! - [`negotiation`]: offer, counter, accept, decline, retract and void bodies, and a thread's
//!   negotiation state as a pure function of its messages.
//! - [`deal`]: deal receipts, the terms co-signed by buyer and seller.
//! - [`review`]: reviews bound to a deal by its receipt (kind 5).
//! - [`price`]: prices in minor units, ISO 4217 currencies, price parsing.
//! - [`category`]: the category taxonomy and item conditions.
//! - [`geo`]: geohashes, distances, cells around a point.
//! - [`limits`]: every limit and protocol id.
//! - [`error`]: `ValidationError`, naming the field and the limit.
//! - `encoding`, `cbor`: text forms and the CBOR subset.

pub mod blocklist;
pub mod category;
mod cbor;
pub mod deal;
pub mod encoding;
pub mod envelope;
pub mod error;
pub mod geo;
pub mod keys;
pub mod limits;
pub mod listing;
pub mod message;
#[cfg(test)]
mod message_rejections;
pub mod negotiation;
pub mod price;
pub mod review;
pub mod seal;
pub mod stamp;
pub mod variant;
pub mod wanted;
pub mod withdrawal;

pub use blocklist::{BlockEntry, BlockList, BLOCKLIST_ITEM_KEY};
pub use category::{Category, Condition};
pub use deal::{DealError, DealId, DealReceipt, DealSignature, DealTerms, DEAL_TEXT_PREFIX};
pub use envelope::{
    decode_stored, glance_stored, stored_kind, stored_signer, verify_batch, EnvelopeHash,
    EnvelopeKind, Record, SignedEnvelope, StoredGlance, StoredParts, Verified,
};
pub use error::ValidationError;
pub use geo::GeoHash;
pub use keys::{seller_id_text, PublicKey, SecretKey, Signature};
pub use listing::{
    CountryCode, Delivery, ImageRef, ImageThumb, Listing, ListingGlance, ListingId, Location,
};
pub use message::*;
pub use negotiation::{Move, NegotiationState, OfferTerms, Party, VoidReason};
pub use price::{Currency, Price, PriceError};
pub use review::{review_replaces, Review, ReviewError, ReviewSummary};
pub use seal::*;
pub use stamp::Stamp;
pub use variant::{Variant, VariantOption};
pub use wanted::Wanted;
pub use withdrawal::{WithdrawReason, Withdrawal};
