//! What the market's integration tests share: seeded nodes on loopback in Berlin, listings,
//! waits with deadlines, file scans and crash copies.

use std::future::Future;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use swapmeet_node::authoring::{Author, ListingDraft};
use swapmeet_node::engine::{Engine, EngineConfig};
use swapmeet_node::market::{DealRecord, DealState, Market, MarketConfig, OfferRequestParsed};
use swapmeet_node::messaging::{MessagingConfig, Messenger};
use swapmeet_node::network::local::{loopback_config, LocalNode};
use swapmeet_protocol::negotiation::OfferStatus;
use swapmeet_protocol::{
    Currency, DealReceipt, EnvelopeHash, ListingId, ListingRef, MessageBody, Move, OfferTerms,
    Record, SecretKey, ThreadId, Verified,
};
use tempfile::TempDir;

pub const DEADLINE: Duration = Duration::from_secs(60);
pub const TEST_TIMEOUT: Duration = Duration::from_secs(600);
pub const BERLIN: (f64, f64) = (52.52, 13.405);

pub fn key(n: u8) -> SecretKey {
    SecretKey::from_bytes([n; 32])
}

pub async fn within<F: Future>(f: F) -> F::Output {
    tokio::time::timeout(TEST_TIMEOUT, f)
        .await
        .expect("the test did not finish in time")
}

pub async fn eventually<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let start = Instant::now();
    loop {
        if check().await {
            return;
        }
        assert!(
            start.elapsed() < DEADLINE,
            "gave up after {DEADLINE:?} waiting for: {what}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

pub async fn start(dir: &Path, n: u8) -> LocalNode {
    LocalNode::start(dir, key(n), loopback_config(Some(BERLIN)))
        .await
        .unwrap()
}

/// A listing of the node's user, in Berlin, priced 250 EUR.
pub fn list(node: &LocalNode, title: &str, quantity: u32) -> ListingId {
    node.author
        .create(&ListingDraft {
            title: Some(title.into()),
            price: Some("250 EUR".into()),
            location: Some(format!("{},{}", BERLIN.0, BERLIN.1)),
            category: Some("bikes".into()),
            condition: Some("good".into()),
            pickup: Some(true),
            quantity: Some(quantity),
            ..ListingDraft::default()
        })
        .unwrap()
        .id
}

/// The listing as the buyer would get it from the DHT: the seller's signed current version.
pub fn verified(seller: &LocalNode, id: &ListingId) -> Verified<Record> {
    seller.engine.get_verified(id).unwrap().unwrap()
}

pub fn price(p: &str) -> OfferRequestParsed {
    OfferRequestParsed {
        price: p.into(),
        quantity: None,
        expires_in_secs: None,
        message: None,
    }
}

pub fn thread_of(listing: &ListingId, buyer: u8) -> ThreadId {
    ThreadId::derive(listing, &key(buyer).public())
}

/// The node's deal in `thread`, if any.
pub fn deal_in(node: &LocalNode, thread: &ThreadId) -> Option<DealRecord> {
    node.market
        .deals()
        .unwrap()
        .into_iter()
        .find(|d| d.thread == *thread)
}

pub fn deal_state(node: &LocalNode, thread: &ThreadId) -> Option<DealState> {
    deal_in(node, thread).map(|d| d.state)
}

/// Statuses of the offers in a thread as `node` sees them, if it has the thread.
pub fn statuses(node: &LocalNode, thread: &ThreadId) -> Vec<OfferStatus> {
    match node.market.negotiation(thread) {
        Ok(v) => v.state.offers.iter().map(|e| e.status).collect(),
        Err(_) => Vec::new(),
    }
}

/// Every byte of every file under `dir`.
pub fn files(dir: &Path) -> Vec<u8> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        for e in std::fs::read_dir(dir).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                walk(&p, out);
            } else {
                out.push(p);
            }
        }
    }
    let mut paths = Vec::new();
    walk(dir, &mut paths);
    let mut bytes = Vec::new();
    for p in paths {
        // A file may vanish between listing and reading (sled rotating its log).
        if let Ok(b) = std::fs::read(&p) {
            bytes.extend(b);
        }
    }
    bytes
}

pub fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// A copy of `dir` taken now, while its node runs: what a `kill -9` right now would leave.
pub fn crash_copy(dir: &Path) -> TempDir {
    let copy = tempfile::tempdir().unwrap();
    fn walk(from: &Path, to: &Path) {
        std::fs::create_dir_all(to).unwrap();
        for e in std::fs::read_dir(from).unwrap() {
            let p = e.unwrap().path();
            let target = to.join(p.file_name().unwrap());
            if p.is_dir() {
                walk(&p, &target);
            } else if let Ok(bytes) = std::fs::read(&p) {
                std::fs::write(&target, bytes).unwrap();
            }
        }
    }
    walk(dir, copy.path());
    copy
}

/// The market of a node opened on `dir` without any network (a restart after a crash, looked
/// at before anything else happens).
pub fn offline_market(dir: &Path, n: u8) -> (Engine, Market) {
    let (engine, _) = Engine::open(dir, EngineConfig::default()).unwrap();
    let messenger = Messenger::open(engine.store(), key(n), MessagingConfig::default()).unwrap();
    let author = Author::new(
        key(n),
        Currency::new("EUR").unwrap(),
        Some(BERLIN),
        engine.clone(),
    );
    let market = Market::open(engine.clone(), author, messenger, MarketConfig::default()).unwrap();
    (engine, market)
}

pub fn assert_receipt(rec: &DealRecord) -> DealReceipt {
    let receipt = rec
        .receipt
        .clone()
        .expect("a confirmed deal has its receipt");
    let back = DealReceipt::from_text(&receipt.to_text()).unwrap();
    let terms = back.verify().unwrap();
    assert_eq!(terms, &rec.terms);
    assert_eq!(back.id(), rec.id);
    receipt
}

/// Offers a peer's own client sends without the checks this node's client makes.
pub fn raw_offer(buyer: &LocalNode, listing: &Verified<Record>, amount_minor: u64) -> EnvelopeHash {
    let now = buyer.engine.now();
    let about = ListingRef {
        seller: listing.signer(),
        item_key: listing.payload().item_key().to_string(),
        version: listing.hash(),
    };
    let terms =
        OfferTerms::with_default_expiry(amount_minor, Currency::new("EUR").unwrap(), 1, now);
    buyer
        .messenger
        .start_with(about, MessageBody::Negotiation(Move::Offer(terms)), now)
        .unwrap()
        .hash
}
