//! `swapmeet`: the command line of a swapmeet node.
//!
//! `swapmeet node` runs the node in the foreground; every other command talks to it through
//! its local API (found via `<home>/node.json`, authenticated with `<home>/api.token`).
//!
//! Exit codes: 0 success, 1 nothing found, 2 error (the error is printed once to stderr).
//!
//! # Layout
//! - `args`: the clap definitions (the help text).
//! - `client`: the HTTP client of the local API.
//! - `output`: JSON lines, tables, dates.
//! - `util`: checking flag values before the node is contacted.
//! - `listing_cmd`: sell, update, withdraw, renew, show, mine.
//! - `search`: search.
//! - `transfer`: export, import.
//! - `node_cmd`: init, node, id, status, peers.
//! - `bridge_cmd`: bridge sync.
//! - `message_cmd`: message, inbox, thread.
//! - `watch_cmd`: watch add/list/rm, alerts.
//! - `offer_cmd`: offer, offers, counter, accept, decline, retract.
//! - `deal_cmd`: deals, deals --export.
//! - `review_cmd`: review, reviews, verify.
//! - `photo_cmd`: photo (saving a listing's photo), the photo list of show.
//! - `want_cmd`: want (post, list, withdraw, renew, answer), search --wanted, demand.

mod args;
mod blocklist_cmd;
mod bridge_cmd;
mod client;
mod deal_cmd;
mod invite_cmd;
mod listing_cmd;
mod message_cmd;
mod moderation_cmd;
mod node_cmd;
mod offer_cmd;
mod output;
mod photo_cmd;
mod photo_upload;
mod review_cmd;
mod search;
mod transfer;
mod ui_cmd;
mod util;
mod want_cmd;
mod watch_cmd;

use std::io::IsTerminal;
use std::process::ExitCode;

/// mimalloc instead of the system allocator: sled, tantivy and decoding allocate many small
/// short-lived objects, and the engine benchmark measured ingest at 22,000-28,000 listings/s
/// with it against 15,900-18,000/s with glibc's malloc. Built without transparent huge pages
/// (the workspace's `no_thp` feature): with them, an idle node with 30 peers measured 98-135
/// MiB resident against 47 MiB with glibc, the difference being sparsely used 2 MiB pages
/// (see BENCHMARKS.md). It hands freed memory back at once (`swapmeet_node::allocator`).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

use clap::{CommandFactory, Parser};
use swapmeet_node::home::Home;

use args::{Cli, Command};
use output::Out;

/// What a command tells `main` about how it ended.
pub enum Done {
    /// Success.
    Ok,
    /// It ran, but found nothing (search, show): exit 1.
    NothingFound,
    /// It ran, but some items failed (import with rejections): exit 2.
    PartlyFailed,
}

fn main() -> ExitCode {
    // Before anything else (threads, files): mimalloc hands freed memory back at once
    // (`swapmeet_node::allocator`); this runs the program again in place when needed.
    let allocator = swapmeet_node::allocator::purge_promptly();
    let cli = Cli::parse();
    let is_node = matches!(cli.command, Command::Node(_));
    init_logging(is_node);
    if let Some(why) = allocator {
        tracing::warn!(
            "mimalloc keeps its default purge delay (memory is handed back later): {why}"
        );
    }
    match run(cli) {
        Ok(Done::Ok) => ExitCode::SUCCESS,
        Ok(Done::NothingFound) => ExitCode::from(1),
        Ok(Done::PartlyFailed) => ExitCode::from(2),
        Err(e) => {
            // A closed pipe (`swapmeet search | head`) is not an error.
            if e.chain().any(|c| {
                c.downcast_ref::<std::io::Error>()
                    .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
            }) {
                return ExitCode::SUCCESS;
            }
            let mut msg = format!("error: {e}");
            for cause in e.chain().skip(1) {
                msg.push_str(&format!("\n  caused by: {cause}"));
            }
            eprintln!("{msg}");
            ExitCode::from(2)
        }
    }
}

fn init_logging(is_node: bool) {
    // libp2p's own components speak up at info and warn about routine events (a Kademlia
    // bootstrap before any peer is known); the node's log shows them only when asked.
    let default = if is_node {
        "info,libp2p_swarm=warn,libp2p_kad=error,libp2p_gossipsub=warn,libp2p_mdns=warn"
    } else {
        "warn"
    };
    let filter = tracing_subscriber::EnvFilter::try_from_env("RUST_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(log_colours(
            std::io::stderr().is_terminal(),
            std::env::var_os("NO_COLOR").as_deref(),
        ))
        .try_init();
}

/// Whether the log is coloured: only on a terminal, since a log written to a file or a pipe
/// (a service manager's journal, `2>node.log`) would be full of escape codes, and never when
/// `NO_COLOR` is set to anything but "" (<https://no-color.org>).
fn log_colours(stderr_is_terminal: bool, no_color: Option<&std::ffi::OsStr>) -> bool {
    stderr_is_terminal && no_color.is_none_or(|v| v.is_empty())
}

fn home_of(cli_home: Option<std::path::PathBuf>) -> anyhow::Result<Home> {
    match cli_home.or_else(Home::default_dir) {
        Some(d) => Ok(Home::new(d)),
        None => {
            anyhow::bail!("cannot tell where the home folder is: set SWAPMEET_HOME or pass --home")
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<Done> {
    let out = Out { json: cli.json };
    let home = home_of(cli.home)?;
    match cli.command {
        Command::Init(a) => node_cmd::init(&home, &out, a),
        Command::Node(a) => node_cmd::node(home, a),
        Command::Id => node_cmd::id(&home, &out),
        Command::Status => node_cmd::status(&home, &out),
        Command::Peers => node_cmd::peers(&home, &out),
        Command::Invite(a) => invite_cmd::invite(&home, &out, a.no_qr),
        Command::Join(a) => invite_cmd::join(&home, &out, a),
        Command::Ui(a) => ui_cmd::ui(&home, &out, a),
        Command::Sell(a) => listing_cmd::sell(&home, &out, a),
        Command::Update(a) => listing_cmd::update(&home, &out, a),
        Command::Withdraw(a) => listing_cmd::withdraw(&home, &out, a),
        Command::Renew(a) => listing_cmd::renew(&home, &out, a),
        Command::Show(a) => listing_cmd::show(&home, &out, a),
        Command::Mine => listing_cmd::mine(&home, &out),
        Command::Search(a) => search::search(&home, &out, a),
        Command::Export(a) => transfer::export(&home, &out, a),
        Command::Import(a) => transfer::import(&home, &out, a),
        Command::Bridge(b) => bridge_cmd::run(&home, &out, b),
        Command::Message(a) => message_cmd::message(&home, &out, a),
        Command::Inbox(a) => message_cmd::inbox(&home, &out, a),
        Command::Thread(a) => message_cmd::thread(&home, &out, a),
        Command::Watch(w) => watch_cmd::run(&home, &out, w),
        Command::Alerts(a) => watch_cmd::alerts(&home, &out, a),
        // Negotiation and deals (issue 12).
        Command::Offer(a) => offer_cmd::offer(&home, &out, a),
        Command::Offers => offer_cmd::offers(&home, &out),
        Command::Counter(a) => offer_cmd::counter(&home, &out, a),
        Command::Accept(a) => offer_cmd::accept(&home, &out, a),
        Command::Decline(a) => offer_cmd::decline(&home, &out, a),
        Command::Retract(a) => offer_cmd::retract(&home, &out, a),
        Command::Deals(a) => deal_cmd::deals(&home, &out, a),
        Command::Review(a) => review_cmd::review(&home, &out, a),
        Command::Reviews(a) => review_cmd::reviews(&home, &out, a),
        Command::Verify(a) => review_cmd::verify(&out, a),
        Command::Photo(a) => photo_cmd::photo(&home, &out, a),
        // Wanted posts (issue 14).
        Command::Want(a) => want_cmd::want(&home, &out, a),
        Command::Demand(a) => want_cmd::demand(&home, &out, a),
        Command::Block(a) => moderation_cmd::block(&home, &out, a),
        Command::Unblock(a) => moderation_cmd::unblock(&home, &out, a),
        Command::Blocks => moderation_cmd::blocks(&home, &out),
        Command::Hide(a) => moderation_cmd::hide(&home, &out, a),
        Command::Unhide(a) => moderation_cmd::unhide(&home, &out, a),
        Command::Hidden => moderation_cmd::hidden(&home, &out),
        Command::Blocklist(a) => blocklist_cmd::blocklist(&home, &out, a),
        Command::Completions(a) => {
            let mut cmd = Cli::command();
            clap_complete::generate(a.shell, &mut cmd, "swapmeet", &mut std::io::stdout());
            Ok(Done::Ok)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::log_colours;
    use std::ffi::OsStr;

    #[test]
    fn colours_only_on_a_terminal_without_no_color() {
        assert!(log_colours(true, None));
        assert!(log_colours(true, Some(OsStr::new(""))));
        assert!(!log_colours(true, Some(OsStr::new("1"))));
        assert!(!log_colours(false, None));
    }
}
