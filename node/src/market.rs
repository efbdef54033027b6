//! The market: negotiations (offers, counters, accepts), the seller's stock, co-signed deals,
//! and reviews with the reputation they add up to.
//!
//! Negotiation moves are private messages ([`crate::messaging`]); what a thread's moves add up
//! to is computed by the pure state machine of `swapmeet_protocol::negotiation`. This module is
//! the node's side: it decides (the seller's node is the authority for its stock), signs deals,
//! and keeps deals and reviews.

pub mod deals;
pub mod reputation;
pub mod reviews;
