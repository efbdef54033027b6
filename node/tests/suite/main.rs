//! The node's integration tests, one module per subject, built as one test binary: each file
//! used to be a binary of its own, and linking and checking 36 binaries that each pull in
//! libp2p, tantivy and sled was minutes of every CI run (docs/TESTING.md). nextest still runs
//! every test in a process of its own.

mod local_support;
mod market_common;
mod messaging_support;
mod reviews_support;
mod scale_support;

mod alerts;
mod api;
mod blocklists_network;
mod bridge;
mod connection_room;
mod engine;
mod executor;
mod faults;
mod faults_clock;
mod faults_disk;
mod fuzz_corpora;
mod gossip_topics;
mod hostile;
mod market;
mod market_api;
mod market_stock;
mod messaging;
mod network;
mod paging;
mod photos;
mod photos_network;
mod photos_sweep;
mod reach;
mod reviews;
mod reviews_network;
mod scale_sim;
mod search_api;
mod search_quality;
mod spam;
mod spam_network;
mod variants;
mod wanted;
