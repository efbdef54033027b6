//! The `swapmeet` binary's tests, one module a subject, built as one test binary (as
//! `node/tests/suite/`, docs/TESTING.md). nextest still runs every test in a process of its
//! own.

mod common;

mod alerts_cli;
mod blocklist_cli;
mod bridge_cli;
mod browser_ui;
mod cli;
mod faults_cli;
mod invite_cli;
mod js_interop;
mod market_cli;
mod messages_cli;
mod moderation_cli;
mod nat_cli;
mod node_identity;
mod photos_cli;
mod photos_net_cli;
mod reviews_cli;
mod search_cli;
mod small_fixes;
mod ui_cli;
mod variants;
mod wanted_cli;
