//! Market benchmark (issue 12's figures):
//! 1. the negotiation state machine's throughput: `NegotiationState::compute` over a realistic
//!    thread (an offer, four counters back and forth, a retracted side offer, an accept and both
//!    deal signatures), on one core;
//! 2. the size of a deal receipt (bytes and its `swapmeet-deal1:` text form);
//! 3. offer -> counter -> accept -> co-signed deal between two online nodes on loopback, 200 deals
//!    one after another: p50/p99 of the whole exchange.
//!
//! Run: `cargo bench -p swapmeet-node --bench market`.

use std::time::{Duration, Instant};

use swapmeet_node::authoring::ListingDraft;
use swapmeet_node::market::{DealState, Market, MarketEvent, OfferRequestParsed, Pick};
use swapmeet_node::network::local::{loopback_config, LocalNode};
use swapmeet_protocol::limits::MAX_MESSAGE_LIFETIME_SECS;
use swapmeet_protocol::negotiation::{ListingFacts, ListingVersion, ThreadParties};
use swapmeet_protocol::{
    Currency, DealReceipt, DealSignature, DealTerms, DirectMessage, EnvelopeHash, ListingId,
    ListingRef, MessageBody, Move, NegotiationState, OfferTerms, Party, Price, SecretKey, ThreadId,
    Verified,
};
use tokio::sync::broadcast;

/// Where the online bench's two nodes live (the seller's listings need a location).
const BERLIN: (f64, f64) = (52.52, 13.405);
/// Deals made in the online part (one listing each: a thread makes one deal).
const DEALS: usize = 200;

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

/// A realistic thread between `seller` and `buyer` about `about`, ending in a deal both
/// parties signed: its verified messages, and the deal's terms.
fn realistic_thread(
    seller: &SecretKey,
    buyer: &SecretKey,
    about: &ListingRef,
    t0: u64,
) -> (Vec<Verified<DirectMessage>>, DealTerms) {
    let eur = Currency::new("EUR").unwrap();
    let mut t = ThreadBuilder {
        seller,
        buyer,
        about,
        thread: ThreadId::derive(&about.id(), &buyer.public()),
        seqs: [0; 2],
        msgs: Vec::new(),
    };
    let terms = |amount, at| OfferTerms::with_default_expiry(amount, eur, 1, at);
    let side = t.send(
        Party::Buyer,
        t0,
        MessageBody::Negotiation(Move::Offer(terms(15_000, t0))),
    );
    t.send(
        Party::Buyer,
        t0 + 30,
        MessageBody::Negotiation(Move::Retract { of: side }),
    );
    t.send(
        Party::Buyer,
        t0 + 60,
        MessageBody::Negotiation(Move::Offer(terms(18_000, t0 + 60))),
    );
    t.send(
        Party::Buyer,
        t0 + 61,
        MessageBody::Text("Could pick it up tonight.".into()),
    );
    // The seller comes down from 260 and the buyer up from 180: 260, 195, 250, 225.
    let (mut asks, mut bids) = (26_000, 18_000);
    let mut at = t0 + 600;
    let mut counter = EnvelopeHash([0; 32]);
    for step in 0..4 {
        let from = if step % 2 == 0 {
            Party::Seller
        } else {
            Party::Buyer
        };
        let amount = if from == Party::Seller {
            asks -= 1_000 * u64::from(step > 0);
            asks
        } else {
            bids += 1_500 * (step / 2 + 1);
            bids
        };
        counter = t.send(
            from,
            at,
            MessageBody::Negotiation(Move::Counter(terms(amount, at))),
        );
        at += 600;
    }
    // The last counter was the buyer's: the seller accepts it and signs; the buyer signs back.
    let accept = t.send(
        Party::Seller,
        at,
        MessageBody::Negotiation(Move::Accept { of: counter }),
    );
    let parties = ThreadParties::new(about.id(), seller.public(), buyer.public());
    let facts_versions = [version_of(about, t0)];
    let facts = ListingFacts {
        versions: &facts_versions,
        withdrawn_at: None,
    };
    let state = NegotiationState::compute(&parties, &facts, at + 1, &t.msgs);
    let deal = state.deal.expect("the realistic thread ends in a deal");
    let deal_terms = DealTerms::of_thread(&parties, &about.item_key, &deal);
    assert_eq!(deal.accept, accept);
    for (from, key) in [(Party::Seller, seller), (Party::Buyer, buyer)] {
        let sig = DealSignature {
            accept,
            signature: deal_terms.sign(key).unwrap(),
        };
        at += 1;
        t.send(from, at, MessageBody::DealSignature(sig));
    }
    (t.msgs, deal_terms)
}

/// Signs a thread's messages with each party's own sequence numbers.
struct ThreadBuilder<'a> {
    seller: &'a SecretKey,
    buyer: &'a SecretKey,
    about: &'a ListingRef,
    thread: ThreadId,
    seqs: [u64; 2],
    msgs: Vec<Verified<DirectMessage>>,
}

impl ThreadBuilder<'_> {
    fn send(&mut self, from: Party, at: u64, body: MessageBody) -> EnvelopeHash {
        let (key, recipient) = match from {
            Party::Buyer => (self.buyer, self.seller.public()),
            Party::Seller => (self.seller, self.buyer.public()),
        };
        self.seqs[from as usize] += 1;
        let m = DirectMessage {
            recipient,
            buyer: self.buyer.public(),
            thread: self.thread,
            seq: self.seqs[from as usize],
            sent_at: at,
            expires_at: at + MAX_MESSAGE_LIFETIME_SECS,
            about: self.about.clone(),
            body,
        };
        let v = m.sign(key).unwrap().verify_message(at).unwrap();
        let h = v.hash();
        self.msgs.push(v);
        h
    }
}

fn version_of(about: &ListingRef, t0: u64) -> ListingVersion {
    ListingVersion {
        hash: about.version,
        signed_at: t0 - 3_600,
        price: Price::Fixed {
            amount_minor: 28_000,
            currency: Currency::new("EUR").unwrap(),
        },
    }
}

fn state_machine_and_receipt() {
    let seller = SecretKey::from_bytes([1; 32]);
    let buyer = SecretKey::from_bytes([2; 32]);
    let about = ListingRef {
        seller: seller.public(),
        item_key: "road-bike-56".into(),
        version: EnvelopeHash([9; 32]),
    };
    let t0 = now();
    let (msgs, terms) = realistic_thread(&seller, &buyer, &about, t0);
    let parties = ThreadParties::new(about.id(), seller.public(), buyer.public());
    let versions = [version_of(&about, t0)];
    let facts = ListingFacts {
        versions: &versions,
        withdrawn_at: None,
    };
    let n = 200_000u32;
    let start = Instant::now();
    let mut deals = 0u32;
    for i in 0..n {
        let s = NegotiationState::compute(&parties, &facts, t0 + 7_200 + u64::from(i % 7), &msgs);
        deals += u32::from(s.deal.is_some());
    }
    let secs = start.elapsed().as_secs_f64();
    assert_eq!(deals, n);
    println!(
        "state machine: {:.0} threads/s ({:.2} us each) on one core, for a thread of {} messages ({} moves)",
        f64::from(n) / secs,
        secs / f64::from(n) * 1e6,
        msgs.len(),
        msgs.iter()
            .filter(|m| matches!(m.payload().body, MessageBody::Negotiation(_)))
            .count()
    );
    let receipt = DealReceipt::assemble(
        &terms,
        terms.sign(&buyer).unwrap(),
        terms.sign(&seller).unwrap(),
    )
    .unwrap();
    println!(
        "deal receipt: {} bytes ({} bytes of terms for item key '{}'), {} characters as a swapmeet-deal1: line",
        receipt.encode().len(),
        terms.encode().len(),
        about.item_key,
        receipt.to_text().len()
    );
}

/// Runs a blocking market call on the blocking pool.
async fn blocking<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    tokio::task::spawn_blocking(f).await.unwrap()
}

/// Waits for `market`'s events until `done` holds for its view of `thread`.
async fn until(
    rx: &mut broadcast::Receiver<MarketEvent>,
    market: &Market,
    thread: ThreadId,
    done: impl Fn(&Market, &ThreadId) -> bool + Send + Sync + Copy + 'static,
) {
    loop {
        let m = market.clone();
        if blocking(move || done(&m, &thread)).await {
            return;
        }
        match tokio::time::timeout(Duration::from_secs(60), rx.recv()).await {
            Ok(Ok(_)) | Ok(Err(broadcast::error::RecvError::Lagged(_))) => {}
            other => panic!("waiting for the market of thread {thread}: {other:?}"),
        }
    }
}

/// Whether the other party's latest offer in `thread` is open at `amount_minor`.
fn sees_open(m: &Market, thread: &ThreadId, amount_minor: u64) -> bool {
    m.negotiation(thread)
        .is_ok_and(|v| v.state.open().any(|o| o.terms.amount_minor == amount_minor))
}

fn confirmed(m: &Market, thread: &ThreadId) -> bool {
    m.negotiation(thread).is_ok_and(|v| {
        v.deal
            .is_some_and(|d| d.state == DealState::Confirmed && d.receipt.is_some())
    })
}

/// Offer 200 -> counter 230 -> accept -> both nodes hold the co-signed receipt, `DEALS` times
/// one after another, each on its own listing; the time of each whole exchange.
async fn online_deals() {
    let dir = tempfile::tempdir().unwrap();
    let seller = LocalNode::start(
        &dir.path().join("s"),
        SecretKey::from_bytes([11; 32]),
        loopback_config(Some(BERLIN)),
    )
    .await
    .unwrap();
    let buyer = LocalNode::start(
        &dir.path().join("b"),
        SecretKey::from_bytes([12; 32]),
        loopback_config(Some(BERLIN)),
    )
    .await
    .unwrap();
    buyer.connect(&seller).await.unwrap();
    let mut ids: Vec<ListingId> = Vec::with_capacity(DEALS);
    for i in 0..DEALS {
        let draft = ListingDraft {
            title: Some(format!("Road bike no. {i}, 56 cm")),
            price: Some("250 EUR".into()),
            location: Some(format!("{},{}", BERLIN.0, BERLIN.1)),
            ..ListingDraft::default()
        };
        let author = seller.author.clone();
        ids.push(blocking(move || author.create(&draft)).await.unwrap().id);
    }
    // The buyer's node holds every listing (gossip) before the clock starts.
    let wait = Instant::now();
    for id in &ids {
        while buyer.engine.get_verified(id).unwrap().is_none() {
            assert!(wait.elapsed() < Duration::from_secs(120), "gossip stalled");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    let mut seller_rx = seller.market.subscribe();
    let mut buyer_rx = buyer.market.subscribe();
    let me = SecretKey::from_bytes([12; 32]).public();
    let mut times = Vec::with_capacity(DEALS);
    for id in ids {
        let thread = ThreadId::derive(&id, &me);
        let listing = buyer.engine.get_verified(&id).unwrap().unwrap();
        let terms = |price: &str| OfferRequestParsed {
            price: price.into(),
            quantity: None,
            expires_in_secs: None,
            message: None,
        };
        let start = Instant::now();
        let b = buyer.market.clone();
        blocking(move || b.offer(&listing, &terms("200")))
            .await
            .unwrap();
        until(&mut seller_rx, &seller.market, thread, |m, t| {
            sees_open(m, t, 20_000)
        })
        .await;
        let s = seller.market.clone();
        blocking(move || s.counter(&thread, &terms("230")))
            .await
            .unwrap();
        until(&mut buyer_rx, &buyer.market, thread, |m, t| {
            sees_open(m, t, 23_000)
        })
        .await;
        let b = buyer.market.clone();
        blocking(move || b.accept(&thread, &Pick::default()))
            .await
            .unwrap();
        until(&mut buyer_rx, &buyer.market, thread, confirmed).await;
        until(&mut seller_rx, &seller.market, thread, confirmed).await;
        times.push(start.elapsed());
    }
    times.sort();
    println!(
        "offer -> counter -> accept -> co-signed deal on both nodes, online peer on loopback, {DEALS} deals one at a time: p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
        percentile(&times, 0.5).as_secs_f64() * 1e3,
        percentile(&times, 0.99).as_secs_f64() * 1e3,
        times[times.len() - 1].as_secs_f64() * 1e3
    );
    buyer.stop().await.unwrap();
    seller.stop().await.unwrap();
}

fn main() {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|c| {
            c.lines()
                .find(|l| l.starts_with("model name"))
                .map(|l| l.split(':').nth(1).unwrap_or("").trim().to_string())
        })
        .unwrap_or_default();
    println!(
        "market bench on {cpu}, {} cores",
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1)
    );
    state_machine_and_receipt();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(online_deals());
}
