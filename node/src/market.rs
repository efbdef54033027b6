//! The market: negotiations (offers, counters, accepts), the seller's stock, co-signed deals,
//! and reviews with the reputation they add up to.
//!
//! Negotiation moves are private messages ([`crate::messaging`]); what a thread's moves add up
//! to is computed by the pure state machine of `swapmeet_protocol::negotiation`. This module is
//! the node's side: it decides (the seller's node is the authority for its stock), signs deals,
//! and keeps deals and reviews.
//!
//! Every decision is taken by [`Market::react`] from the thread's stored messages, under one
//! lock (the market's single writer), so it is idempotent: the same thread looked at twice (a
//! message event, the catch-up scan after a restart) never signs, confirms or declines twice.
//! The seller's stock is its listing's published quantity: a confirmed deal publishes the next
//! version with the quantity reduced (or, at zero, the withdrawal as sold), under the same lock,
//! so two buyers claiming the last unit get exactly one deal.
//!
//! # Layout
//! - `market.rs`: the service, its settings, errors and events.
//! - `market/deals.rs`: the deal store (one record per deal) and the deal views.
//! - `market/settings.rs`: a listing's local settings (auto-accept, auto-decline, pickup place).
//! - `market/facts.rs`: the listing versions the node has seen (what the state machine needs).
//! - `market/negotiate.rs`: the user's moves: offer, counter, accept, decline, retract.
//! - `market/limits.rs`: the open offers per buyer, indexed for the limits.
//! - `market/react.rs`: what the node does when a thread changes (confirm, sign, auto rules).
//! - `market/stock.rs`: the seller's stock: confirming a deal against the listing's quantity.
//! - `market/reviews.rs`, `market/reputation.rs`: reviews bound to deals, and reputation.

use std::sync::{Arc, Mutex, MutexGuard};

use serde::Serialize;
use swapmeet_protocol::{DealError, DealId, ListingId, PublicKey, SecretKey, ThreadId};
use tokio::sync::{broadcast, watch};

use crate::authoring::{Author, AuthorError};
use crate::engine::{Engine, EngineError};
use crate::messaging::{MessagingError, MessagingEvent, Messenger};
use crate::store::StoreError;

pub mod deals;
mod facts;
mod limits;
mod negotiate;
mod react;
pub mod reputation;
pub mod reviews;
pub mod settings;
mod stock;

pub use deals::{DealRecord, DealState};
pub use negotiate::{NegotiationView, OfferRequestParsed, Pick};
pub use settings::{MarketSettings, SettingsUpdate};

/// The deal store: deal id -> deal record.
pub const TREE_DEALS: &str = "market_deals/v1";
/// Everything else the market keeps: local settings, listing versions seen, the accept index.
pub const TREE_STATE: &str = "market_state/v1";

/// How many events a slow listener may fall behind before it misses some.
const EVENT_CAPACITY: usize = 1024;

/// Settings of the market (`[market]` in config.toml); the defaults are the plan's.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MarketConfig {
    /// Open offers one buyer may have on one listing at once.
    pub max_open_offers_per_listing: usize,
    /// Open offers one buyer may have on all of a seller's listings at once (and, as a buyer,
    /// that this node's user may have open overall).
    pub max_open_offers_per_buyer: usize,
}

impl Default for MarketConfig {
    fn default() -> Self {
        MarketConfig {
            max_open_offers_per_listing: 3,
            max_open_offers_per_buyer: 50,
        }
    }
}

/// Why a market call failed. Bad input names the field and the limit and changes nothing; a
/// wrong move says why.
#[derive(Debug, thiserror::Error)]
pub enum MarketError {
    /// Bad input: names the field and the rule.
    #[error("{field}: {reason}")]
    Invalid {
        /// The field.
        field: &'static str,
        /// What is wrong and what is allowed.
        reason: String,
    },
    /// A move the negotiation's state does not allow (expired, superseded, own offer, sold
    /// out, over a limit), with a sentence that says why.
    #[error("{0}")]
    WrongMove(String),
    /// No such listing, thread or deal here.
    #[error("{0}")]
    NotFound(String),
    /// Deal terms or signatures.
    #[error("deal: {0}")]
    Deal(#[from] DealError),
    /// Messaging failed.
    #[error(transparent)]
    Messaging(#[from] MessagingError),
    /// Publishing the stock change failed.
    #[error(transparent)]
    Author(#[from] AuthorError),
    /// The engine failed.
    #[error(transparent)]
    Engine(#[from] EngineError),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl MarketError {
    pub(crate) fn invalid(field: &'static str, reason: impl std::fmt::Display) -> MarketError {
        MarketError::Invalid {
            field,
            reason: reason.to_string(),
        }
    }
}

/// A sled error while doing `context`.
pub(crate) fn sled_err(context: &'static str) -> impl FnOnce(sled::Error) -> MarketError {
    move |source| MarketError::Store(StoreError::Sled { context, source })
}

/// A stored record that does not decode.
pub(crate) fn corrupt(tree: &'static str, reason: impl std::fmt::Display) -> MarketError {
    MarketError::Store(StoreError::Corrupt {
        tree,
        reason: reason.to_string(),
    })
}

/// What changed, for the API's event stream (`negotiation` and `deal` events).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum MarketEvent {
    /// A thread's negotiation changed (a move sent or received).
    Negotiation {
        /// The thread.
        thread: ThreadId,
        /// The listing.
        listing: ListingId,
    },
    /// A deal changed state.
    Deal {
        /// The deal.
        id: DealId,
        /// The thread.
        thread: ThreadId,
        /// Its state now.
        state: DealState,
    },
}

/// What woke the market's task.
enum Wake {
    Stop,
    Message(Result<MessagingEvent, broadcast::error::RecvError>),
    Listing(Result<crate::events::Event, broadcast::error::RecvError>),
}

/// The market service. Cheap to clone; its methods block on sled and on publishing (call them
/// from the blocking pool in async code).
#[derive(Clone)]
pub struct Market {
    inner: Arc<Inner>,
}

struct Inner {
    key: SecretKey,
    me: PublicKey,
    engine: Engine,
    author: Author,
    messenger: Messenger,
    config: MarketConfig,
    deals: sled::Tree,
    state: sled::Tree,
    /// The market's single writer: held while a thread's state is read, decided and acted on
    /// (moves sent, deal stored, stock published), so two decisions never interleave.
    decide: Mutex<()>,
    events: broadcast::Sender<MarketEvent>,
}

impl Market {
    /// Opens the market in the engine's store for the author's key.
    pub fn open(
        engine: Engine,
        author: Author,
        messenger: Messenger,
        config: MarketConfig,
    ) -> Result<Market, MarketError> {
        let deals = engine.store().tree(TREE_DEALS)?;
        let state = engine.store().tree(TREE_STATE)?;
        let key = author.key().clone();
        let (events, _) = broadcast::channel(EVENT_CAPACITY);
        Ok(Market {
            inner: Arc::new(Inner {
                me: key.public(),
                key,
                engine,
                author,
                messenger,
                config,
                deals,
                state,
                decide: Mutex::new(()),
                events,
            }),
        })
    }

    /// Events from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<MarketEvent> {
        self.inner.events.subscribe()
    }

    /// This node's identity.
    pub fn me(&self) -> PublicKey {
        self.inner.me
    }

    /// The settings in force.
    pub fn config(&self) -> &MarketConfig {
        &self.inner.config
    }

    fn emit(&self, event: MarketEvent) {
        // No listener is not an error: the state is in the store either way.
        let _ = self.inner.events.send(event);
    }

    fn lock_decide(&self) -> MutexGuard<'_, ()> {
        // The guard protects no data of its own (sled holds it).
        self.inner.decide.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn flush(&self) -> Result<(), MarketError> {
        // One sync covers both trees (they live in the engine's store).
        self.inner
            .engine
            .store()
            .durability()
            .sync()
            .map_err(sled_err("flushing deals and market state to disk"))?;
        Ok(())
    }

    /// Reacts to every thread with negotiation moves (after a start: what arrived or was
    /// decided while the node was down, or what a crash cut short), then to each thread a
    /// message arrives in, until `stop` turns true. Runs on the blocking pool.
    pub async fn run(
        self,
        mut messages: broadcast::Receiver<MessagingEvent>,
        mut listings: broadcast::Receiver<crate::events::Event>,
        mut stop: watch::Receiver<bool>,
    ) {
        self.catch_up().await;
        loop {
            // The select only picks; the work runs after it, so nothing borrowed from the
            // watch channel is held across an await.
            let wake = tokio::select! {
                _ = stop.wait_for(|s| *s) => Wake::Stop,
                ev = messages.recv() => Wake::Message(ev),
                ev = listings.recv() => Wake::Listing(ev),
            };
            match wake {
                Wake::Stop => return,
                Wake::Message(Ok(MessagingEvent::Message { thread, .. })) => {
                    let m = self.clone();
                    let _ = tokio::task::spawn_blocking(move || {
                        if let Err(e) = m.react(&thread) {
                            tracing::warn!(%thread, error = %e, "reacting to a negotiation failed");
                        }
                    })
                    .await;
                }
                Wake::Message(Ok(MessagingEvent::Delivery { .. })) => {}
                Wake::Message(Err(broadcast::error::RecvError::Lagged(n))) => {
                    tracing::warn!(
                        missed = n,
                        "market fell behind on messages; rescanning threads"
                    );
                    self.catch_up().await;
                }
                Wake::Listing(Ok(event)) => {
                    let m = self.clone();
                    let _ = tokio::task::spawn_blocking(move || m.on_listing_event(&event)).await;
                }
                // A missed listing event is remembered when the thread is next looked at
                // (the store's current version is read then).
                Wake::Listing(Err(broadcast::error::RecvError::Lagged(_))) => {}
                Wake::Message(Err(broadcast::error::RecvError::Closed))
                | Wake::Listing(Err(broadcast::error::RecvError::Closed)) => return,
            }
        }
    }

    async fn catch_up(&self) {
        let m = self.clone();
        let done = tokio::task::spawn_blocking(move || m.react_all()).await;
        match done {
            Ok(Ok(())) => {}
            Ok(Err(e)) => tracing::warn!(error = %e, "the market's catch-up scan failed"),
            Err(e) => tracing::warn!(error = %e, "the market's catch-up scan panicked"),
        }
    }
}
