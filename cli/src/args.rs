//! The command line, as clap parses it. Doc comments are the help text.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

/// swapmeet: a peer-to-peer garage sale. List, search and manage listings from your own node.
///
/// `swapmeet node` runs the node; every other command talks to it through its local API.
///
/// Exit codes: 0 success, 1 nothing found (search, show), 2 error.
#[derive(Debug, Parser)]
#[command(name = "swapmeet", version, max_term_width = 100)]
pub struct Cli {
    /// Home folder (identity, config, data). Default: the platform data folder.
    #[arg(long, global = true, env = "SWAPMEET_HOME", value_name = "DIR")]
    pub home: Option<PathBuf>,

    /// Print one JSON object per line instead of tables and sentences.
    #[arg(long, global = true)]
    pub json: bool,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Create the identity and config (rerunning keeps the existing key).
    Init(InitArgs),
    /// Run a node in the foreground (creates the home on first run).
    ///
    /// The log goes to stderr (RUST_LOG sets its detail), in colour only when stderr is a
    /// terminal and NO_COLOR is not set.
    Node(NodeArgs),
    /// Show your seller id and PeerId.
    Id,
    /// Show the running node's state.
    Status,
    /// List the peers the node is connected to.
    Peers,
    /// Print an invite to your node (a line of text and a QR code) for someone's first peer.
    ///
    /// It holds your PeerId and the addresses peers can reach you at (public addresses,
    /// relay circuits when you are behind NAT, then the addresses the node listens on).
    Invite(InviteArgs),
    /// Add the peer of someone's invite: it is dialled and kept in the address book.
    Join(JoinArgs),
    /// Open the web UI in your browser, logged in (a one-time link, valid for two minutes).
    ///
    /// The node serves the UI on its API address (http://127.0.0.1:PORT/); the link trades a
    /// one-time token for a session cookie, so only someone who can run this command gets in.
    Ui(UiArgs),
    /// List an item for sale; prints the new listing's id.
    Sell(SellArgs),
    /// Change a listing of yours (only the given fields change).
    Update(UpdateArgs),
    /// Take a listing of yours off the market.
    Withdraw(WithdrawArgs),
    /// Extend a listing of yours (a new version with a new expiry).
    Renew(RenewArgs),
    /// Show one listing in full.
    Show(IdArg),
    /// List your own listings.
    Mine,
    /// Search the listings your node knows (instant, local); `--wanted` searches the wanted
    /// posts of your area instead.
    Search(SearchArgs),
    /// Print a signed listing as one line of text.
    Export(IdArg),
    /// Import signed listings (lines from `export`) from a file or standard input.
    Import(ImportArgs),
    /// Keep a shop's catalogue export in sync with its listings.
    #[command(subcommand)]
    Bridge(BridgeCommand),
    /// Send a private message: to a listing's seller (LISTING_ID), or in a thread (THREAD_ID).
    ///
    /// The message is signed, sealed for the recipient alone, and kept in the outbox until the
    /// recipient's node confirms it (delivered) or its lifetime ends (expired). While the
    /// recipient is offline, peers hold it sealed in their mailboxes.
    Message(MessageArgs),
    /// List your conversations: listing, other party, last message, unread, delivery.
    Inbox(InboxArgs),
    /// Show one conversation (marks it read).
    Thread(ThreadArgs),
    /// Saved searches: `watch add [WORDS] [filters of search]`, `watch list`, `watch rm NAME`.
    #[command(subcommand)]
    Watch(WatchCommand),
    /// Alerts of your saved searches, watched listings and own listings about to expire, newest
    /// first (unseen marked with *); marks them seen.
    Alerts(AlertsArgs),
    // --- Negotiation and deals (issue 12): cli/src/offer_cmd.rs, cli/src/deal_cmd.rs ---
    /// Make an offer on a listing: a price for the whole quantity, in the listing's currency.
    ///
    /// The offer is a signed, sealed message in your thread with the seller; it stays open
    /// until it expires (48 h by default, at most 7 days), the seller answers, or you retract
    /// it. The seller's node may accept or decline it automatically.
    Offer(OfferArgs),
    /// List your negotiations, as buyer and as seller: every offer's state and time left.
    Offers,
    /// Answer the other party's open offer with your own terms (it replaces every open offer
    /// of the thread).
    Counter(CounterArgs),
    /// Accept the other party's open offer or counter: a deal, once the seller's node confirms
    /// its stock and both sides have signed it.
    Accept(AcceptArgs),
    /// Decline the other party's open offer or counter.
    Decline(AcceptArgs),
    /// Withdraw your own open offer or counter.
    Retract(ThreadMoveArgs),
    /// List your deals; `--export ID` prints a deal's receipt, which anyone can verify.
    Deals(DealsArgs),
    /// Review the other party of a deal of yours (its receipt must be complete).
    ///
    /// The review is signed with your key, carries the deal's receipt (so anyone can check it
    /// is bound to a real deal), and is published. Reviewing the same deal again replaces your
    /// earlier review.
    Review(ReviewArgs),
    /// List the reviews about a seller (or buyer) with their deals and average rating.
    Reviews(ReviewsArgs),
    /// Check a deal receipt (`swapmeet-deal1:` line) or a review (`swapmeet1:` line) offline:
    /// prints the terms; exit 0 if the signatures verify, 2 with the reason if not.
    Verify(VerifyArgs),
    // --- end of negotiation and deals ---
    /// Save a listing's photo to a file (N counts from 1, as `show` lists them); the node
    /// fetches it from the seller or any peer holding it when it does not have it.
    Photo(PhotoArgs),
    // --- Wanted posts (issue 14): cli/src/want_cmd.rs ---
    /// Post what you are looking for (`want --title .. --max-price .. --category ..`), or
    /// manage your wanted posts: `want list`, `want withdraw ID`, `want renew ID`; answer
    /// someone's wanted post with `want answer ID --text ..`.
    ///
    /// A wanted post is signed and published in your area like a listing. Sellers whose own
    /// listings match it get an alert; listings that match it alert you as a saved search does.
    Want(WantArgs),
    /// Summarize the wanted posts your node carries: counts by category, price band and area,
    /// and the most frequent words (what local people are looking for).
    Demand(DemandArgs),
    // --- Local moderation: cli/src/moderation_cmd.rs ---
    /// Block a seller: this node deletes their listings and no longer stores, shows or relays
    /// anything of theirs. Your choice, on your node only.
    Block(SellerArg),
    /// Lift a block (their listings come back as peers offer them).
    Unblock(SellerArg),
    /// List the sellers you blocked.
    Blocks,
    /// Hide a listing from your searches (it is still stored and relayed for others).
    Hide(IdArg),
    /// Show a hidden listing in your searches again.
    Unhide(IdArg),
    /// List the listings you hid.
    Hidden,
    /// Signed block lists: `blocklist publish` signs and publishes yours (your blocks, or a
    /// file); `blocklist trust KEY` applies someone's list on your node (their blocked sellers
    /// are hidden, not stored, not relayed), `blocklist untrust KEY` stops that, `blocklist
    /// list` shows whom you trust and their lists. A list acts only where its author is
    /// trusted: never one list for everyone.
    Blocklist(BlocklistArgs),
    /// Print shell completions.
    Completions(CompletionsArgs),
}

#[derive(Debug, Args)]
pub struct SellerArg {
    /// Seller id ("sm" and 52 base32 characters; search results show it).
    pub seller: String,
}

#[derive(Debug, Args)]
pub struct PhotoArgs {
    /// The listing id.
    pub id: String,
    /// Which photo, counting from 1.
    #[arg(default_value_t = 1)]
    pub n: usize,
    /// Where to save it.
    #[arg(long, value_name = "FILE")]
    pub out: std::path::PathBuf,
}

#[derive(Debug, Args)]
pub struct ReviewArgs {
    /// The deal's id or its first 8 or more hex digits (see `swapmeet deals`).
    #[arg(value_name = "DEAL")]
    pub deal: String,
    /// Stars, 1 to 5.
    #[arg(long, value_name = "STARS", value_parser = clap::value_parser!(u8).range(1..=5))]
    pub rating: u8,
    /// What you want to say (up to 1,000 characters; may be empty).
    #[arg(long, default_value = "")]
    pub text: String,
}

#[derive(Debug, Args)]
pub struct ReviewsArgs {
    /// The seller id (sm...) of whoever is reviewed.
    #[arg(value_name = "SELLER")]
    pub seller: String,
    /// Most reviews shown, newest first (1-1000).
    #[arg(long, default_value_t = 100)]
    pub limit: usize,
}

#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// File with a `swapmeet-deal1:` receipt or `swapmeet1:` review per line; `-` or nothing
    /// reads standard input.
    pub file: Option<PathBuf>,
}

/// A minimum average rating: 1 to 5 stars, decimals allowed.
fn min_rating(text: &str) -> Result<f64, String> {
    let r: f64 = text
        .trim()
        .parse()
        .map_err(|_| format!("'{text}' is not a number of stars (1 to 5, e.g. 4 or 4.5)"))?;
    if !(1.0..=5.0).contains(&r) {
        return Err(format!("{r} is not in 1..=5 (stars)"));
    }
    Ok(r)
}

#[derive(Debug, Args)]
pub struct InitArgs {
    /// Home location, "LAT,LON": the default for your listings and the centre of your area.
    #[arg(long, value_name = "LAT,LON")]
    pub location: Option<String>,
    /// Currency of prices written without one (ISO 4217).
    #[arg(long, value_name = "CODE")]
    pub currency: Option<String>,
}

#[derive(Debug, Args)]
pub struct NodeArgs {
    /// API address (loopback only). Default from config: 127.0.0.1:7420.
    #[arg(long, value_name = "127.0.0.1:PORT")]
    pub api: Option<String>,
    /// libp2p listen address (repeatable), e.g. /ip4/0.0.0.0/tcp/4001.
    #[arg(long, value_name = "MULTIADDR")]
    pub listen: Vec<String>,
    /// Peer to connect to at start (repeatable), e.g. /ip4/127.0.0.1/tcp/4001/p2p/12D3...
    #[arg(long, value_name = "MULTIADDR")]
    pub bootstrap: Vec<String>,
    /// Do not discover peers on the local network.
    #[arg(long)]
    pub no_mdns: bool,
}

/// The fields of a listing, shared by `sell` and `update`.
#[derive(Debug, Args, Default)]
pub struct ListingFields {
    /// Title (up to 140 characters).
    #[arg(long)]
    pub title: Option<String>,
    /// Price: "25 EUR", "25" (home currency), "12.50", "free".
    #[arg(long)]
    pub price: Option<String>,
    /// Plain-text description (up to 5,000 characters).
    #[arg(long)]
    pub description: Option<String>,
    /// new, like-new, good, fair or for-parts.
    #[arg(long)]
    pub condition: Option<String>,
    /// Category, e.g. bikes, furniture, electronics (see docs/PROTOCOL.md).
    #[arg(long)]
    pub category: Option<String>,
    /// A tag (repeatable, up to 10).
    #[arg(long = "tag", value_name = "TAG")]
    pub tags: Vec<String>,
    /// Where the item is, "LAT,LON" (published as a ~1 km cell). Default: home location.
    #[arg(long, value_name = "LAT,LON")]
    pub location: Option<String>,
    /// Place name shown with the location.
    #[arg(long)]
    pub place: Option<String>,
    /// How many you have.
    #[arg(long)]
    pub quantity: Option<u32>,
    /// Can be picked up.
    #[arg(long)]
    pub pickup: bool,
    /// Ships to these countries, e.g. DE,FR.
    #[arg(long, value_delimiter = ',', value_name = "CC,CC")]
    pub ships_to: Vec<String>,
    /// Lifetime: 14d, 36h, 90m (at most 30d).
    #[arg(long, value_name = "DURATION")]
    pub expires_in: Option<String>,
    /// A photo to add (repeatable, up to 10 per listing): JPEG, PNG or WebP, at most 20 MiB.
    /// The node re-encodes it and drops all metadata (GPS position, camera serial) before it
    /// is published.
    #[arg(long = "photo", value_name = "FILE")]
    pub photos: Vec<PathBuf>,
}

/// The seller's local settings of a listing for negotiation: never published.
#[derive(Debug, Args, Default)]
pub struct MarketFlags {
    /// Accept offers at or above this price per item at once, even while you are away
    /// ("off" removes it). In the listing's currency.
    #[arg(long, value_name = "PRICE")]
    pub auto_accept: Option<String>,
    /// Decline offers at or below this price per item at once ("off" removes it).
    #[arg(long, value_name = "PRICE")]
    pub auto_decline: Option<String>,
    /// Where the buyer picks the item up (address, directions; up to 200 characters): kept on
    /// your node and sent to the buyer in your private thread only when a deal is made
    /// ("off" removes it).
    #[arg(long, value_name = "TEXT")]
    pub pickup_at: Option<String>,
}

#[derive(Debug, Args)]
pub struct SellArgs {
    #[command(flatten)]
    pub fields: ListingFields,
    #[command(flatten)]
    pub market: MarketFlags,
    /// Your own stable key for the item (e.g. a SKU); the listing id derives from it.
    #[arg(long, value_name = "ITEM-KEY")]
    pub key: Option<String>,
    /// Read the listing from a TOML file (same field names as the API, see docs/API.md).
    #[arg(long, value_name = "FILE", conflicts_with_all = ["title", "price"])]
    pub file: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct UpdateArgs {
    /// Listing id.
    pub id: String,
    #[command(flatten)]
    pub fields: ListingFields,
    /// A photo to remove: its number as `show` lists it (from 1) or its hash (repeatable).
    #[arg(long = "remove-photo", value_name = "N|HASH")]
    pub remove_photos: Vec<String>,
    #[command(flatten)]
    pub market: MarketFlags,
}

#[derive(Debug, Args)]
pub struct WithdrawArgs {
    /// Listing id.
    pub id: String,
    /// It was sold (rather than withdrawn).
    #[arg(long)]
    pub sold: bool,
}

#[derive(Debug, Args)]
pub struct RenewArgs {
    /// Listing id.
    pub id: String,
    /// New lifetime from now (default 30d, the most allowed).
    #[arg(long, value_name = "DURATION")]
    pub expires_in: Option<String>,
}

#[derive(Debug, Args)]
pub struct IdArg {
    /// Listing id.
    pub id: String,
}

/// What a search (or a saved search) looks for.
#[derive(Debug, Args)]
pub struct SearchFilters {
    /// Words to look for in titles, descriptions and tags (all must match).
    pub text: Vec<String>,
    /// Lowest price.
    #[arg(long, value_name = "AMOUNT")]
    pub min_price: Option<String>,
    /// Highest price.
    #[arg(long, value_name = "AMOUNT")]
    pub max_price: Option<String>,
    /// Currency of the price range (default: home currency).
    #[arg(long, value_name = "CODE")]
    pub currency: Option<String>,
    /// Only this category.
    #[arg(long)]
    pub category: Option<String>,
    /// Only this condition.
    #[arg(long)]
    pub condition: Option<String>,
    /// Search around "LAT,LON".
    #[arg(long, value_name = "LAT,LON")]
    pub near: Option<String>,
    /// Radius around --near, km.
    #[arg(long, value_name = "KM", requires = "near")]
    pub radius_km: Option<f64>,
    /// Only this seller's listings.
    #[arg(long, value_name = "SELLER-ID")]
    pub seller: Option<String>,
    /// Only sellers whose average rating from deal-bound reviews is at least this (1-5);
    /// sellers nobody reviewed are left out.
    #[arg(long, value_name = "STARS", value_parser = min_rating)]
    pub min_rating: Option<f64>,
}

#[derive(Debug, Args)]
pub struct SearchArgs {
    #[command(flatten)]
    pub filters: SearchFilters,
    /// relevance, price-asc, price-desc, newest or nearest.
    #[arg(long, default_value = "relevance")]
    pub sort: String,
    /// Hits to show (1-100).
    #[arg(long, default_value_t = 20)]
    pub limit: usize,
    /// Hits to skip.
    #[arg(long, default_value_t = 0)]
    pub offset: usize,
    /// Count every match (slower for broad searches); otherwise counting stops past 1,000.
    #[arg(long)]
    pub exact_total: bool,
    /// Search wanted posts (what people in your area are looking for) instead of listings:
    /// the words, --category, --near/--radius-km, --seller (the poster) and --min-price /
    /// --max-price (over the most each would pay) apply; newest first.
    #[arg(long)]
    pub wanted: bool,
}

#[derive(Debug, Subcommand)]
pub enum WatchCommand {
    /// Save a search: every listing your node stores from now on that the same search would
    /// find raises an alert (once per listing, and again when its price drops).
    Add(Box<WatchAddArgs>),
    /// Watch one listing: an alert when its price changes, when it is sold or withdrawn, and
    /// before it expires (`[alerts] expiry_warning_hours` ahead, 48 by default).
    Listing(WatchListingArgs),
    /// List your saved searches and watched listings.
    List,
    /// Remove a saved search (by name or id) or stop watching a listing (by its id).
    Rm(WatchRmArgs),
}

#[derive(Debug, Args)]
pub struct WatchListingArgs {
    /// The listing id (as `swapmeet search` shows it).
    pub id: String,
}

#[derive(Debug, Args)]
pub struct WatchAddArgs {
    #[command(flatten)]
    pub filters: SearchFilters,
    /// Its name (default: its words); up to 64 characters, unique.
    #[arg(long)]
    pub name: Option<String>,
}

#[derive(Debug, Args)]
pub struct WatchRmArgs {
    /// The saved search's name or id, or the watched listing's id (see `swapmeet watch list`).
    #[arg(value_name = "NAME|ID")]
    pub watch: String,
}

#[derive(Debug, Args)]
pub struct AlertsArgs {
    /// Most alerts shown (1-1000).
    #[arg(long, default_value_t = 50)]
    pub limit: usize,
    /// Do not mark them seen.
    #[arg(long)]
    pub keep_unseen: bool,
    /// After the list, print alerts as they fire until interrupted.
    #[arg(long)]
    pub follow: bool,
}

#[derive(Debug, Args)]
pub struct ImportArgs {
    /// File with one `swapmeet1:` line per listing; `-` or nothing reads standard input.
    pub file: Option<PathBuf>,
}

#[derive(Debug, Subcommand)]
pub enum BridgeCommand {
    /// Sync a catalogue export: list new items, update changed ones, withdraw what is gone.
    Sync(BridgeSyncArgs),
    /// Show the report of the node's last bridge run (what `sync` printed), with when it ran.
    Last,
}

#[derive(Debug, Args)]
pub struct BridgeSyncArgs {
    /// The export file.
    pub file: PathBuf,
    /// auto, gmc-xml, gmc-tsv, shopify-csv, woocommerce-csv, magento-csv or json.
    #[arg(long, default_value = "auto")]
    pub format: String,
    /// Show what would happen; publish nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Re-read the file on this interval (e.g. 10m) and sync again until stopped.
    #[arg(long, value_name = "INTERVAL")]
    pub watch: Option<String>,
    /// The shop's location "LAT,LON" (default: home location).
    #[arg(long, value_name = "LAT,LON")]
    pub location: Option<String>,
    /// Category for items whose export has none.
    #[arg(long)]
    pub category: Option<String>,
    /// Condition for items whose export has none (default new).
    #[arg(long)]
    pub condition: Option<String>,
    /// Currency of exports that carry none (Shopify, WooCommerce, Magento). Default: home currency.
    #[arg(long, value_name = "CODE")]
    pub currency: Option<String>,
    /// Withdraw even if the export lost more than half of the shop's listings.
    #[arg(long)]
    pub force: bool,
    /// The shop's base URL (e.g. https://shop.example): relative product links in the export
    /// ("hera-pullover-hoodie.html", Magento's URL keys) become links under it in the
    /// listings' "More at the shop" line. Without it, relative links are left out.
    #[arg(long, value_name = "URL")]
    pub shop_url: Option<String>,
}

#[derive(Debug, Args)]
pub struct CompletionsArgs {
    /// bash, zsh, fish, elvish or powershell.
    pub shell: clap_complete::Shell,
}

#[derive(Debug, Args)]
pub struct MessageArgs {
    /// A listing id (to write to its seller) or a thread id from `swapmeet inbox` (its first 8
    /// or more characters are enough).
    #[arg(value_name = "LISTING_ID|THREAD_ID")]
    pub target: String,
    /// The message (1 to 2,000 characters); "-" reads it from standard input.
    #[arg(value_name = "TEXT")]
    pub text: String,
}

#[derive(Debug, Args)]
pub struct InboxArgs {
    /// Only threads with unread messages.
    #[arg(long)]
    pub unread: bool,
}

#[derive(Debug, Args)]
pub struct ThreadArgs {
    /// The thread id (or its first 8 or more characters).
    #[arg(value_name = "THREAD_ID")]
    pub thread: String,
    /// Do not mark the messages read.
    #[arg(long)]
    pub keep_unread: bool,
}

#[derive(Debug, Args)]
pub struct OfferArgs {
    /// The listing id (see `swapmeet search`).
    #[arg(value_name = "LISTING_ID")]
    pub listing: String,
    #[command(flatten)]
    pub terms: TermsArgs,
    /// A note to the seller with the offer (1 to 2,000 characters).
    #[arg(long, value_name = "TEXT")]
    pub message: Option<String>,
}

/// The terms of an offer or a counter-offer.
#[derive(Debug, Args)]
pub struct TermsArgs {
    /// The price for the whole quantity, in the listing's currency: 200, 199.99.
    #[arg(long, value_name = "AMOUNT")]
    pub price: String,
    /// How many items (1 to 1,000,000; default 1).
    #[arg(long, value_name = "N")]
    pub qty: Option<u32>,
    /// How long the offer stays open: 48h (the default), 3d, 90m; at most 7d.
    #[arg(long, value_name = "DURATION")]
    pub expires: Option<String>,
}

#[derive(Debug, Args)]
pub struct CounterArgs {
    /// The thread id from `swapmeet offers` (its first 8 or more characters are enough).
    #[arg(value_name = "THREAD_ID")]
    pub thread: String,
    #[command(flatten)]
    pub terms: TermsArgs,
    /// A note with the counter-offer (1 to 2,000 characters).
    #[arg(long, value_name = "TEXT")]
    pub message: Option<String>,
}

#[derive(Debug, Args)]
pub struct AcceptArgs {
    /// The thread id from `swapmeet offers` (its first 8 or more characters are enough).
    #[arg(value_name = "THREAD_ID")]
    pub thread: String,
    /// Which offer, when the other party has several open: its hash (or the first 8 or more
    /// characters) from `swapmeet offers`.
    #[arg(long, value_name = "HASH")]
    pub of: Option<String>,
}

#[derive(Debug, Args)]
pub struct ThreadMoveArgs {
    /// The thread id from `swapmeet offers` (its first 8 or more characters are enough).
    #[arg(value_name = "THREAD_ID")]
    pub thread: String,
    /// Which of your offers, when several are open: its hash (or the first 8 or more
    /// characters) from `swapmeet offers`.
    #[arg(long, value_name = "HASH")]
    pub of: Option<String>,
}

#[derive(Debug, Args)]
pub struct DealsArgs {
    /// Print the receipt of this deal (its id or first 8 or more characters) as one
    /// `swapmeet-deal1:` line, for anyone to verify from the two public keys alone.
    #[arg(long, value_name = "DEAL_ID")]
    pub export: Option<String>,
}

#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = true, subcommand_negates_reqs = true)]
pub struct WantArgs {
    #[command(subcommand)]
    pub command: Option<WantCommand>,
    #[command(flatten)]
    pub post: WantPostArgs,
}

#[derive(Debug, Args)]
pub struct WantPostArgs {
    /// What you are looking for ("56 cm road bike").
    #[arg(long, required = true)]
    pub title: Option<String>,
    /// The most you would pay ("300", "300 EUR", "free").
    #[arg(long, value_name = "AMOUNT", required = true)]
    pub max_price: Option<String>,
    /// Category (see `swapmeet sell --help` for the list).
    #[arg(long, required = true)]
    pub category: Option<String>,
    /// More about it.
    #[arg(long)]
    pub description: Option<String>,
    /// Where you are, "LAT,LON" (default: your home location); published as a coarse cell.
    #[arg(long, value_name = "LAT,LON")]
    pub near: Option<String>,
    /// Place name shown with the location.
    #[arg(long)]
    pub place: Option<String>,
    /// Days until it expires (1-30, default 14).
    #[arg(long, value_name = "DAYS")]
    pub expires_days: Option<u64>,
}

#[derive(Debug, Args)]
pub struct BlocklistArgs {
    #[command(subcommand)]
    pub command: BlocklistCommand,
}

#[derive(Debug, Subcommand)]
pub enum BlocklistCommand {
    /// Sign and publish your block list (replacing your earlier one). Without --file it names
    /// the sellers you blocked with `swapmeet block`. It lives 30 days: publish again to renew.
    Publish(BlocklistPublishArgs),
    /// Apply KEY's block list on this node, now and as new versions arrive.
    Trust(AuthorArg),
    /// Stop applying KEY's block list (its sellers come back with the next sync).
    Untrust(AuthorArg),
    /// List the authors you trust with the lists this node holds of them.
    List,
}

#[derive(Debug, Args)]
pub struct BlocklistPublishArgs {
    /// A file of entries, one per line: SELLER, then optionally a reason; blank lines and
    /// lines starting with # are skipped.
    #[arg(long, value_name = "FILE")]
    pub file: Option<std::path::PathBuf>,
    /// The reason given to each of your blocks (without --file).
    #[arg(long, conflicts_with = "file")]
    pub reason: Option<String>,
}

#[derive(Debug, Args)]
pub struct AuthorArg {
    /// The list author's id (a seller id: "sm" and 52 base32 characters).
    pub key: String,
}

#[derive(Debug, Subcommand)]
pub enum WantCommand {
    /// List your wanted posts.
    List,
    /// Take a wanted post of yours down.
    Withdraw(WantIdArg),
    /// Extend a wanted post of yours (a new version with a new expiry).
    Renew(WantRenewArgs),
    /// Answer someone's wanted post: opens a private conversation with its poster.
    Answer(WantAnswerArgs),
}

#[derive(Debug, Args)]
pub struct WantIdArg {
    /// Wanted post id.
    pub id: String,
}

#[derive(Debug, Args)]
pub struct WantRenewArgs {
    /// Wanted post id.
    pub id: String,
    /// Days until it expires (1-30, default 30).
    #[arg(long, value_name = "DAYS")]
    pub expires_days: Option<u64>,
}

#[derive(Debug, Args)]
pub struct WantAnswerArgs {
    /// Wanted post id (from `swapmeet search --wanted`).
    pub id: String,
    /// The message ("-" reads it from standard input).
    #[arg(long)]
    pub text: String,
}

#[derive(Debug, Args)]
pub struct DemandArgs {
    /// Only this category.
    #[arg(long)]
    pub category: Option<String>,
    /// Centre of --radius-km, "LAT,LON" (default: your home location).
    #[arg(long, value_name = "LAT,LON")]
    pub near: Option<String>,
    /// Only wanted posts within this many km.
    #[arg(long, value_name = "KM")]
    pub radius_km: Option<f64>,
}

#[derive(Debug, Args)]
pub struct InviteArgs {
    /// Print only the text, without the QR code.
    #[arg(long)]
    pub no_qr: bool,
}

#[derive(Debug, Args)]
pub struct UiArgs {
    /// Print the login link instead of opening a browser.
    #[arg(long)]
    pub no_browser: bool,
}

#[derive(Debug, Args)]
pub struct JoinArgs {
    /// The invite (`swapmeet:...`) that `swapmeet invite` printed.
    pub invite: String,
}
