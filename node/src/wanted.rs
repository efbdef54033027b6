//! Wanted posts (protocol kind 6): what the local user is looking for, published like a
//! listing, and the wanted posts of the area the node carries.
//!
//! Wanted posts are records of the store (they share its versions, withdrawals, area routing,
//! gossip and sync), but never documents of the listing index: a listing search stays a search
//! of things for sale, as fast as before. They are few beside listings, so their search and
//! the demand summary read the store's wanted records (kept as an id set in its lookups) and
//! filter them with the same text analysis as the index.
//!
//! - `wanted/author.rs`: the user's wanted posts: post, renew (withdraw is a listing's).
//! - `wanted/matching.rs`: which wanted posts a query finds, and whether a listing answers a
//!   wanted post (the alerts of both sides use it).
//! - `wanted/demand.rs`: the demand summary (`swapmeet demand`, the bridge report).

pub mod author;
pub mod demand;
pub mod matching;

pub use author::WantedDraft;
pub use demand::{Demand, DemandQuery};
pub use matching::{listing_answers, search, WantedHit, WANTED_MATCH_RADIUS_KM};
