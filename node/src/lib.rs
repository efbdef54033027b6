//! The swapmeet engine.
//!
//! A node keeps every listing it hears in an embedded store (the source of truth: the records
//! in fjall, an LSM tree, and its other state in sled), indexes
//! it in tantivy for instant local search, and lets everything in through one ingest path that
//! verifies signatures before anything is stored.
//!
//! # Layout
//! - [`store`]: the store; newest version per listing, in-memory lookups, change log
//!   (`store/record.rs`: the stored record and version order; `store/records.rs`: the records
//!   and the change log in fjall; `store/durability.rs`: fsync with group commit before any
//!   write is acknowledged, and the free-space reserve; `store/changes.rs`: the change log the
//!   index follows; `store/upgrade.rs`: formats 1 and 2 to 3).
//! - [`search`]: the tantivy index derived from the store; queries, filters, sorts.
//! - [`allowance`]: the per-key listing allowance a node applies at ingest (stamps, slots,
//!   re-posts).
//! - [`ingest`]: the one path in: decode, verify, validate, version check, store, index, event.
//! - [`events`]: the broadcast of what changed.
//! - [`engine`]: ties store, index and ingest together with the background committer.
//! - [`authoring`]: the local user's drafts become signed versions (durable before acknowledged).
//! - [`bridge`]: the retailer bridge: a shop's catalogue export kept in step with its listings.
//! - [`alerts`]: saved searches matched against every listing as it is stored; alerts.
//! - [`wanted`]: wanted posts: the user's (post, renew), search, the demand summary.
//! - [`market`]: negotiations, the seller's stock, co-signed deals, reviews and reputation.
//! - [`media`]: photos: the content-addressed blob store (files under `HOME/blobs`).
//! - [`moderation`]: local moderation: the user's blocked sellers and hidden listings.
//! - [`blocklists`]: signed block lists: publishing the user's, applying trusted authors'.
//! - [`messaging`]: private messages: threads, the outbox, the mailbox kept for others.
//! - [`home`]: the home folder: identity key, config, API token, node file.
//! - [`api`]: the local HTTP API (127.0.0.1, bearer token).
//! - [`synth`]: a deterministic synthetic corpus for benchmarks, tests and examples.
//! - [`node`]: a running node: engine + API (+ network), ordered shutdown.
//! - [`priority`]: background scheduling priority for the index's threads.

pub mod alerts;
pub mod allocator;
pub mod allowance;
pub mod api;
pub mod authoring;
pub mod blocklists;
pub mod bridge;
pub mod budget;
pub mod engine;
pub mod events;
mod hashing;
pub mod home;
pub mod ingest;
pub mod market;
pub mod media;
pub mod messaging;
pub mod moderation;
pub mod network;
pub mod node;
pub mod priority;
pub mod search;
pub mod store;
pub mod synth;
pub mod ui;
pub mod wanted;

pub use engine::{AreaFilter, Clock, Engine, EngineConfig, EngineError, SearchHit, SearchResults};
pub use events::{Change, Event, Source};
pub use ingest::IngestOutcome;
pub use search::{GeoFilter, PriceFilter, SearchQuery, Sort};
