//! Negotiations between real nodes in one process, over TCP on 127.0.0.1 with seeded keys:
//! offer -> counter -> accept -> co-signed deal with the seller offline at the accept, two
//! buyers racing for the last unit, the seller's automatic rules with its user away, a
//! replayed accept, the pickup place kept from everyone but the buyer, and what a `kill -9`
//! leaves on disk.
//!
//! Every wait has a deadline (`eventually`) and every test an overall timeout (`within`);
//! nothing asserts on timing.

use std::future::Future;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use swapmeet_node::authoring::{Author, ListingDraft};
use swapmeet_node::engine::{Engine, EngineConfig};
use swapmeet_node::market::{
    DealRecord, DealState, Market, MarketConfig, MarketError, OfferRequestParsed, Pick,
    SettingsUpdate,
};
use swapmeet_node::messaging::{MessagingConfig, Messenger, Role};
use swapmeet_node::network::local::{loopback_config, LocalNode};
use swapmeet_node::store::RecordKind;
use swapmeet_protocol::negotiation::OfferStatus;
use swapmeet_protocol::{
    Currency, DealReceipt, EnvelopeHash, ListingId, ListingRef, MessageBody, Move, OfferTerms,
    Record, SecretKey, ThreadId, Verified,
};
use tempfile::TempDir;

const DEADLINE: Duration = Duration::from_secs(60);
const TEST_TIMEOUT: Duration = Duration::from_secs(600);
const BERLIN: (f64, f64) = (52.52, 13.405);

fn key(n: u8) -> SecretKey {
    SecretKey::from_bytes([n; 32])
}

async fn within<F: Future>(f: F) -> F::Output {
    tokio::time::timeout(TEST_TIMEOUT, f)
        .await
        .expect("the test did not finish in time")
}

async fn eventually<F, Fut>(what: &str, mut check: F)
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

async fn start(dir: &Path, n: u8) -> LocalNode {
    LocalNode::start(dir, key(n), loopback_config(Some(BERLIN)))
        .await
        .unwrap()
}

/// A listing of the node's user, in Berlin, priced 250 EUR.
fn list(node: &LocalNode, title: &str, quantity: u32) -> ListingId {
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
fn verified(seller: &LocalNode, id: &ListingId) -> Verified<Record> {
    seller.engine.get_verified(id).unwrap().unwrap()
}

fn price(p: &str) -> OfferRequestParsed {
    OfferRequestParsed {
        price: p.into(),
        quantity: None,
        expires_in_secs: None,
        message: None,
    }
}

fn thread_of(listing: &ListingId, buyer: u8) -> ThreadId {
    ThreadId::derive(listing, &key(buyer).public())
}

/// The node's deal in `thread`, if any.
fn deal_in(node: &LocalNode, thread: &ThreadId) -> Option<DealRecord> {
    node.market
        .deals()
        .unwrap()
        .into_iter()
        .find(|d| d.thread == *thread)
}

fn deal_state(node: &LocalNode, thread: &ThreadId) -> Option<DealState> {
    deal_in(node, thread).map(|d| d.state)
}

/// Statuses of the offers in a thread as `node` sees them, if it has the thread.
fn statuses(node: &LocalNode, thread: &ThreadId) -> Vec<OfferStatus> {
    match node.market.negotiation(thread) {
        Ok(v) => v.state.offers.iter().map(|e| e.status).collect(),
        Err(_) => Vec::new(),
    }
}

/// Every byte of every file under `dir`.
fn files(dir: &Path) -> Vec<u8> {
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

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// A copy of `dir` taken now, while its node runs: what a `kill -9` right now would leave.
fn crash_copy(dir: &Path) -> TempDir {
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
fn offline_market(dir: &Path, n: u8) -> (Engine, Market) {
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

fn assert_receipt(rec: &DealRecord) -> DealReceipt {
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn offer_counter_accept_makes_a_co_signed_deal_with_the_seller_offline_in_between() {
    within(async {
        let dirs: Vec<TempDir> = (0..3).map(|_| tempfile::tempdir().unwrap()).collect();
        let seller = start(dirs[0].path(), 1).await;
        let buyer = start(dirs[1].path(), 2).await;
        let mailbox = start(dirs[2].path(), 3).await;
        buyer.connect(&seller).await.unwrap();
        buyer.connect(&mailbox).await.unwrap();
        seller.connect(&mailbox).await.unwrap();
        let id = list(&seller, "Gazelle city bike", 1);
        seller
            .market
            .set_settings(
                &id,
                &SettingsUpdate {
                    pickup_at: Some(Some("Torstr. 5, Hof links".into())),
                    ..Default::default()
                },
            )
            .unwrap();

        // Offer.
        let v = buyer
            .market
            .offer(&verified(&seller, &id), &price("200"))
            .unwrap();
        let thread = v.head.thread;
        assert_eq!(thread, thread_of(&id, 2));
        assert_eq!(v.head.role, Role::Buyer);
        assert_eq!(v.state.open().count(), 1);
        eventually("the seller to see the offer", || async {
            statuses(&seller, &thread) == vec![OfferStatus::Open]
        })
        .await;

        // Counter, then the seller goes offline.
        let v = seller.market.counter(&thread, &price("230")).unwrap();
        let counter = v.state.offers[1];
        assert!(counter.counter);
        assert_eq!(counter.terms.amount_minor, 23_000);
        eventually("the buyer to see the counter", || async {
            statuses(&buyer, &thread).get(1) == Some(&OfferStatus::Open)
        })
        .await;
        seller.stop().await.unwrap();

        // The buyer accepts while the seller is away: the accept and the buyer's signature
        // wait in the outbox and with the mailbox peer.
        let v = buyer.market.accept(&thread, &Pick::default()).unwrap();
        assert_eq!(v.state.deal.unwrap().offer, counter.hash);
        assert_eq!(deal_state(&buyer, &thread), Some(DealState::AwaitingSeller));
        eventually("the mailbox peer to hold the accept", || async {
            mailbox.messenger.mailbox_stats().messages >= 2
        })
        .await;

        // The seller comes back, collects, confirms its stock, signs; the buyer countersigns.
        let seller = start(dirs[0].path(), 1).await;
        seller.connect(&mailbox).await.unwrap();
        eventually("the deal to be confirmed on both sides", || async {
            deal_state(&seller, &thread) == Some(DealState::Confirmed)
                && deal_state(&buyer, &thread) == Some(DealState::Confirmed)
        })
        .await;
        let (s, b) = (
            deal_in(&seller, &thread).unwrap(),
            deal_in(&buyer, &thread).unwrap(),
        );
        assert_eq!(s.id, b.id);
        assert_eq!(assert_receipt(&s), assert_receipt(&b));
        assert_eq!(s.terms.amount_minor, 23_000);
        assert_eq!(s.terms.buyer, key(2).public());
        assert_eq!(s.role, Role::Seller);
        assert_eq!(b.role, Role::Buyer);
        assert_eq!(b.pickup_at.as_deref(), Some("Torstr. 5, Hof links"));
        // The last unit is sold: the listing is withdrawn as sold.
        let rec = seller.engine.get(&id).unwrap().unwrap();
        assert_eq!(rec.kind, RecordKind::Withdrawal);
        assert_eq!(rec.summary.reason.as_deref(), Some("sold"));
        // Both see the same offers with the same statuses.
        assert_eq!(statuses(&seller, &thread), statuses(&buyer, &thread));
        // A second accept is refused with a sentence.
        let err = buyer.market.accept(&thread, &Pick::default()).unwrap_err();
        assert!(matches!(err, MarketError::WrongMove(_)), "{err}");

        for n in [buyer, seller, mailbox] {
            n.stop().await.unwrap();
        }
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_buyers_accepting_the_last_unit_at_once_make_exactly_one_deal_fifty_times() {
    within(async {
        let dirs: Vec<TempDir> = (0..3).map(|_| tempfile::tempdir().unwrap()).collect();
        let seller = start(dirs[0].path(), 1).await;
        let a = start(dirs[1].path(), 2).await;
        let b = start(dirs[2].path(), 3).await;
        a.connect(&seller).await.unwrap();
        b.connect(&seller).await.unwrap();
        a.connect(&b).await.unwrap();
        for round in 0..50 {
            let id = list(&seller, &format!("Lamp number {round}"), 1);
            let listing = verified(&seller, &id);
            let ta = a.market.offer(&listing, &price("200")).unwrap().head.thread;
            let tb = b.market.offer(&listing, &price("210")).unwrap().head.thread;
            eventually("the seller to see both offers", || async {
                statuses(&seller, &ta) == vec![OfferStatus::Open]
                    && statuses(&seller, &tb) == vec![OfferStatus::Open]
            })
            .await;
            seller.market.counter(&ta, &price("240")).unwrap();
            seller.market.counter(&tb, &price("240")).unwrap();
            eventually("both buyers to see the counters", || async {
                statuses(&a, &ta).get(1) == Some(&OfferStatus::Open)
                    && statuses(&b, &tb).get(1) == Some(&OfferStatus::Open)
            })
            .await;

            // Both accept at the same moment.
            let (ma, mb) = (a.market.clone(), b.market.clone());
            let ja = tokio::task::spawn_blocking(move || ma.accept(&ta, &Pick::default()));
            let jb = tokio::task::spawn_blocking(move || mb.accept(&tb, &Pick::default()));
            let (ra, rb) = (ja.await.unwrap(), jb.await.unwrap());

            eventually("one deal confirmed and the other sold out", || async {
                let states = [deal_state(&a, &ta), deal_state(&b, &tb)];
                let confirmed = states
                    .iter()
                    .filter(|s| **s == Some(DealState::Confirmed))
                    .count();
                let lost = states
                    .iter()
                    .zip([&ra, &rb])
                    .filter(|(s, r)| **s == Some(DealState::SoldOut) || r.is_err())
                    .count();
                confirmed == 1 && lost == 1
            })
            .await;
            // The other buyer is told it is sold out, in its thread.
            let loser = if deal_state(&a, &ta) == Some(DealState::Confirmed) {
                (&b, tb)
            } else {
                (&a, ta)
            };
            eventually("the other buyer to be told it is sold out", || async {
                loser
                    .0
                    .messenger
                    .thread(&loser.1, false, loser.0.engine.now())
                    .unwrap()
                    .is_some_and(|v| {
                        v.messages
                            .iter()
                            .any(|m| !m.from_me && m.text.to_lowercase().contains("sold out"))
                    })
            })
            .await;
            assert_ne!(deal_state(loser.0, &loser.1), Some(DealState::Confirmed));
            // The seller made exactly one deal on the listing (confirmed once the winner's
            // signature is in), and any other it holds is void; the listing is sold.
            let deals_on = |state: Option<DealState>| -> Vec<DealRecord> {
                seller
                    .market
                    .deals()
                    .unwrap()
                    .into_iter()
                    .filter(|d| d.listing() == id && state.is_none_or(|s| d.state == s))
                    .collect()
            };
            eventually("the seller's deal to be confirmed", || async {
                deals_on(Some(DealState::Confirmed)).len() == 1
            })
            .await;
            let confirmed = deals_on(Some(DealState::Confirmed));
            let others = deals_on(None).len() - confirmed.len();
            assert_eq!(
                others,
                deals_on(Some(DealState::SoldOut)).len(),
                "round {round}"
            );
            let winner = if confirmed[0].thread == ta { &a } else { &b };
            assert_eq!(
                deal_in(winner, &confirmed[0].thread).unwrap().id,
                confirmed[0].id
            );
            eventually("the listing to be withdrawn as sold", || async {
                seller
                    .engine
                    .get(&id)
                    .unwrap()
                    .is_some_and(|r| r.summary.reason.as_deref() == Some("sold"))
            })
            .await;
        }
        for n in [a, b, seller] {
            n.stop().await.unwrap();
        }
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn auto_accept_and_auto_decline_fire_with_the_sellers_user_away() {
    within(async {
        let dirs: Vec<TempDir> = (0..2).map(|_| tempfile::tempdir().unwrap()).collect();
        let seller = start(dirs[0].path(), 1).await;
        let buyer = start(dirs[1].path(), 2).await;
        buyer.connect(&seller).await.unwrap();
        let id = list(&seller, "Roof box", 2);
        seller
            .market
            .set_settings(
                &id,
                &SettingsUpdate {
                    auto_accept: Some(Some("230".into())),
                    auto_decline: Some(Some("150".into())),
                    pickup_at: None,
                },
            )
            .unwrap();
        let listing = verified(&seller, &id);
        let thread = thread_of(&id, 2);

        // Low: declined by the seller's node, with no call on the seller.
        let low = buyer.market.offer(&listing, &price("140")).unwrap();
        let low_hash = low.state.offers[0].hash;
        eventually("the low offer to be declined", || async {
            matches!(
                statuses(&buyer, &thread).first(),
                Some(OfferStatus::Declined { .. })
            )
        })
        .await;
        assert_eq!(deal_in(&seller, &thread), None);

        // In between: stays open for the user to decide.
        buyer.market.offer(&listing, &price("200")).unwrap();
        eventually("the seller to hold the middle offer", || async {
            statuses(&seller, &thread).len() == 2
        })
        .await;
        assert_eq!(statuses(&seller, &thread)[1], OfferStatus::Open);

        // High: accepted, signed by both, one item taken off the stock.
        let seq_before = seller.engine.get(&id).unwrap().unwrap().seq;
        let high = buyer.market.offer(&listing, &price("235")).unwrap();
        let high_hash = high.state.offers[2].hash;
        eventually("the high offer to become a confirmed deal", || async {
            deal_state(&buyer, &thread) == Some(DealState::Confirmed)
                && deal_state(&seller, &thread) == Some(DealState::Confirmed)
        })
        .await;
        let d = deal_in(&seller, &thread).unwrap();
        assert_eq!(d.terms.amount_minor, 23_500);
        assert_ne!(low_hash, high_hash);
        let rec = seller.engine.get(&id).unwrap().unwrap();
        assert_eq!(rec.kind, RecordKind::Listing);
        assert_eq!(rec.summary.quantity, Some(1));
        assert!(rec.seq > seq_before);
        assert_receipt(&d);

        // The buyer's own node refuses what the seller's would: above the asking price.
        let other = list(&seller, "Second roof box", 1);
        let err = buyer
            .market
            .offer(&verified(&seller, &other), &price("260"))
            .unwrap_err();
        assert!(
            matches!(&err, MarketError::WrongMove(m) if m.contains("asking price")),
            "{err}"
        );
        // And an offer on the seller's own listing.
        let err = seller
            .market
            .offer(&verified(&seller, &other), &price("200"))
            .unwrap_err();
        assert!(
            matches!(&err, MarketError::WrongMove(m) if m.contains("own listing")),
            "{err}"
        );

        buyer.stop().await.unwrap();
        seller.stop().await.unwrap();
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replayed_accept_does_not_make_a_second_deal() {
    within(async {
        let dirs: Vec<TempDir> = (0..2).map(|_| tempfile::tempdir().unwrap()).collect();
        let seller = start(dirs[0].path(), 1).await;
        let buyer = start(dirs[1].path(), 2).await;
        buyer.connect(&seller).await.unwrap();
        let id = list(&seller, "Bookshelf", 5);
        let thread = buyer
            .market
            .offer(&verified(&seller, &id), &price("100"))
            .unwrap()
            .head
            .thread;
        eventually("the seller to see the offer", || async {
            statuses(&seller, &thread) == vec![OfferStatus::Open]
        })
        .await;
        seller.market.counter(&thread, &price("120")).unwrap();
        eventually("the buyer to see the counter", || async {
            statuses(&buyer, &thread).len() == 2
        })
        .await;
        let v = buyer.market.accept(&thread, &Pick::default()).unwrap();
        let counter = v.state.deal.unwrap().offer;
        eventually("the deal to be confirmed", || async {
            deal_state(&seller, &thread) == Some(DealState::Confirmed)
                && deal_state(&buyer, &thread) == Some(DealState::Confirmed)
        })
        .await;
        let seq = seller.engine.get(&id).unwrap().unwrap().seq;
        assert_eq!(
            seller.engine.get(&id).unwrap().unwrap().summary.quantity,
            Some(4)
        );

        // A hostile client of the buyer's key sends the accept again, as a new message (the
        // same envelope again would be a duplicate the messenger stores once).
        let again = buyer
            .messenger
            .reply_with(
                thread,
                None,
                MessageBody::Negotiation(Move::Accept { of: counter }),
                buyer.engine.now() + 1,
            )
            .unwrap();
        eventually("the seller to store the replayed accept", || async {
            seller
                .market
                .negotiation(&thread)
                .unwrap()
                .state
                .ignored
                .iter()
                .any(|i| i.hash == again.hash)
        })
        .await;
        // Give the seller's market a moment to react to it, then check nothing changed.
        tokio::time::sleep(Duration::from_millis(500)).await;
        let deals: Vec<_> = seller
            .market
            .deals()
            .unwrap()
            .into_iter()
            .filter(|d| d.thread == thread)
            .collect();
        assert_eq!(deals.len(), 1);
        let rec = seller.engine.get(&id).unwrap().unwrap();
        assert_eq!((rec.seq, rec.summary.quantity), (seq, Some(4)));
        buyer.stop().await.unwrap();
        seller.stop().await.unwrap();
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_pickup_place_reaches_the_buyer_only_sealed_and_nothing_published_carries_it() {
    within(async {
        let dirs: Vec<TempDir> = (0..3).map(|_| tempfile::tempdir().unwrap()).collect();
        let place = "Kastanienallee 77, Hinterhaus, bei Wolkenstein klingeln";
        // The seller lists with its settings, then goes offline.
        let seller = start(dirs[0].path(), 1).await;
        let id = list(&seller, "Drum kit", 1);
        seller
            .market
            .set_settings(
                &id,
                &SettingsUpdate {
                    auto_accept: Some(Some("200".into())),
                    pickup_at: Some(Some(place.into())),
                    auto_decline: None,
                },
            )
            .unwrap();
        let listing = verified(&seller, &id);
        seller.stop().await.unwrap();

        // The buyer offers the auto-accept price while the seller is away (the third node
        // holds it), and goes offline too.
        let third = start(dirs[2].path(), 3).await;
        let buyer = start(dirs[1].path(), 2).await;
        buyer.connect(&third).await.unwrap();
        let thread = buyer
            .market
            .offer(&listing, &price("210"))
            .unwrap()
            .head
            .thread;
        eventually("the third node to hold the offer", || async {
            third.messenger.mailbox_stats().messages >= 1
        })
        .await;
        buyer.stop().await.unwrap();

        // The seller comes back, collects, accepts automatically; its accept, signature and
        // the pickup place wait, sealed, with the third node.
        let seller = start(dirs[0].path(), 1).await;
        seller.connect(&third).await.unwrap();
        eventually(
            "the seller's answer to wait with the third node",
            || async {
                deal_in(&seller, &thread).is_some() && third.messenger.mailbox_stats().messages >= 3
            },
        )
        .await;
        let buyer = start(dirs[1].path(), 2).await;
        buyer.connect(&third).await.unwrap();
        eventually("the deal to be confirmed with the place", || async {
            deal_in(&buyer, &thread).is_some_and(|d| {
                d.state == DealState::Confirmed && d.pickup_at.as_deref() == Some(place)
            }) && deal_state(&seller, &thread) == Some(DealState::Confirmed)
        })
        .await;
        eventually("the third node to have the sold listing", || async {
            third
                .engine
                .get(&id)
                .unwrap()
                .is_some_and(|r| r.kind == RecordKind::Withdrawal)
        })
        .await;

        // Nothing published carries the place: every version the seller signed, and every
        // envelope the third node stores.
        for rec in seller.engine.records_of(&key(1).public()).unwrap() {
            assert!(!contains(&rec.envelope, place.as_bytes()));
        }
        let on_third = third.engine.get(&id).unwrap().unwrap();
        assert!(!contains(&on_third.envelope, place.as_bytes()));
        // Nor anything the third node stores (sealed mail included), flushed to disk.
        third.engine.durable().unwrap();
        assert!(!contains(&files(dirs[2].path()), place.as_bytes()));
        assert!(!contains(&files(dirs[2].path()), b"Kastanienallee"));
        // The two parties have it (so the scan above could have found it).
        assert!(contains(&files(dirs[1].path()), b"Kastanienallee"));

        for n in [buyer, seller, third] {
            n.stop().await.unwrap();
        }
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_acknowledged_offer_and_a_confirmed_deal_survive_a_kill_9() {
    within(async {
        let dirs: Vec<TempDir> = (0..2).map(|_| tempfile::tempdir().unwrap()).collect();
        let seller = start(dirs[0].path(), 1).await;
        let buyer = start(dirs[1].path(), 2).await;
        let id = list(&seller, "Armchair", 1);

        // Not connected: the offer is acknowledged once it is queued on disk.
        let v = buyer
            .market
            .offer(&verified(&seller, &id), &price("90"))
            .unwrap();
        let thread = v.head.thread;
        let offer = v.state.offers[0].hash;
        let copy = crash_copy(dirs[1].path());
        {
            let (_engine, market) = offline_market(copy.path(), 2);
            let after = market.negotiation(&thread).unwrap();
            assert_eq!(after.state.offers.len(), 1);
            assert_eq!(after.state.offers[0].hash, offer);
            assert_eq!(after.state.offers[0].status, OfferStatus::Open);
        }

        // Connected, the seller accepts; the confirmed deal is on disk on both sides.
        buyer.connect(&seller).await.unwrap();
        eventually("the seller to see the offer", || async {
            statuses(&seller, &thread) == vec![OfferStatus::Open]
        })
        .await;
        seller.market.accept(&thread, &Pick::default()).unwrap();
        eventually("the deal to be confirmed", || async {
            deal_state(&seller, &thread) == Some(DealState::Confirmed)
                && deal_state(&buyer, &thread) == Some(DealState::Confirmed)
        })
        .await;
        let id_of_deal = deal_in(&seller, &thread).unwrap().id;
        for (i, n) in [(0usize, 1u8), (1, 2)] {
            let copy = crash_copy(dirs[i].path());
            let (_engine, market) = offline_market(copy.path(), n);
            let d = market.deal(&id_of_deal).unwrap().unwrap();
            assert_eq!(d.state, DealState::Confirmed);
            assert_receipt(&d);
            assert_eq!(
                market
                    .resolve_deal(&id_of_deal.to_string()[..10])
                    .unwrap()
                    .id,
                id_of_deal
            );
        }
        buyer.stop().await.unwrap();
        seller.stop().await.unwrap();
    })
    .await
}

/// Offers a peer's own client sends without the checks this node's client makes.
fn raw_offer(buyer: &LocalNode, listing: &Verified<Record>, amount_minor: u64) -> EnvelopeHash {
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sellers_node_declines_what_a_peer_skipped_the_checks_for() {
    within(async {
        let dirs: Vec<TempDir> = (0..2).map(|_| tempfile::tempdir().unwrap()).collect();
        let seller = LocalNode::start_full(
            dirs[0].path(),
            key(1),
            loopback_config(Some(BERLIN)),
            EngineConfig::default(),
            MessagingConfig::default(),
            MarketConfig {
                max_open_offers_per_listing: 2,
                max_open_offers_per_buyer: 3,
            },
        )
        .await
        .unwrap();
        let buyer = start(dirs[1].path(), 2).await;
        buyer.connect(&seller).await.unwrap();
        let (a, b) = (list(&seller, "Tent", 1), list(&seller, "Camping stove", 1));
        let (la, lb) = (verified(&seller, &a), verified(&seller, &b));
        let (ta, tb) = (thread_of(&a, 2), thread_of(&b, 2));

        // Above the asking price (250 EUR), then three within it: the third is one too many
        // on this listing.
        let above = raw_offer(&buyer, &la, 26_000);
        let ok: Vec<EnvelopeHash> = [10_000, 11_000, 12_000]
            .into_iter()
            .map(|p| raw_offer(&buyer, &la, p))
            .collect();
        let status = |node: &LocalNode, t: &ThreadId, h: &EnvelopeHash| {
            node.market.negotiation(t).ok().and_then(|v| {
                v.state
                    .offers
                    .iter()
                    .find(|e| e.hash == *h)
                    .map(|e| e.status)
            })
        };
        eventually(
            "the seller's node to decline the offer above the asking price and the one too many",
            || async {
                matches!(
                    status(&buyer, &ta, &above),
                    Some(OfferStatus::Declined { .. })
                ) && matches!(
                    status(&buyer, &ta, &ok[2]),
                    Some(OfferStatus::Declined { .. })
                )
            },
        )
        .await;
        assert_eq!(status(&seller, &ta, &ok[0]), Some(OfferStatus::Open));
        assert_eq!(status(&seller, &ta, &ok[1]), Some(OfferStatus::Open));

        // Two open on the tent, so one more anywhere reaches the buyer's overall limit of 3.
        let first = raw_offer(&buyer, &lb, 10_000);
        let second = raw_offer(&buyer, &lb, 10_500);
        eventually(
            "the seller's node to decline the offer over the overall limit",
            || async {
                matches!(
                    status(&buyer, &tb, &second),
                    Some(OfferStatus::Declined { .. })
                )
            },
        )
        .await;
        assert_eq!(status(&seller, &tb, &first), Some(OfferStatus::Open));
        // The buyer was told why, in the thread.
        let texts: Vec<String> = buyer
            .messenger
            .thread(&ta, false, buyer.engine.now())
            .unwrap()
            .unwrap()
            .messages
            .into_iter()
            .map(|m| m.text)
            .collect();
        assert!(
            texts.iter().any(|t| t.contains("above the asking price")),
            "{texts:?}"
        );
        assert!(
            texts.iter().any(|t| t.contains("at most 2 open offers")),
            "{texts:?}"
        );
        // No deal came of any of it.
        assert!(seller.market.deals().unwrap().is_empty());
        buyer.stop().await.unwrap();
        seller.stop().await.unwrap();
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_seller_accepting_two_offers_for_the_last_unit_at_once_sells_it_once() {
    within(async {
        let dirs: Vec<TempDir> = (0..3).map(|_| tempfile::tempdir().unwrap()).collect();
        let seller = start(dirs[0].path(), 1).await;
        let a = start(dirs[1].path(), 2).await;
        let b = start(dirs[2].path(), 3).await;
        a.connect(&seller).await.unwrap();
        b.connect(&seller).await.unwrap();
        let id = list(&seller, "Sewing machine", 1);
        let listing = verified(&seller, &id);
        let ta = a.market.offer(&listing, &price("150")).unwrap().head.thread;
        let tb = b.market.offer(&listing, &price("160")).unwrap().head.thread;
        eventually("the seller to see both offers", || async {
            statuses(&seller, &ta) == vec![OfferStatus::Open]
                && statuses(&seller, &tb) == vec![OfferStatus::Open]
        })
        .await;
        let (m1, m2) = (seller.market.clone(), seller.market.clone());
        let j1 = tokio::task::spawn_blocking(move || m1.accept(&ta, &Pick::default()));
        let j2 = tokio::task::spawn_blocking(move || m2.accept(&tb, &Pick::default()));
        let results = [j1.await.unwrap(), j2.await.unwrap()];
        assert_eq!(results.iter().filter(|r| r.is_ok()).count(), 1);
        let refused = results.iter().find_map(|r| r.as_ref().err()).unwrap();
        assert!(
            matches!(refused, MarketError::WrongMove(m) if m.contains("sold out") || m.contains("no open offer")),
            "{refused}"
        );
        let (won, lost, lost_thread) = if results[0].is_ok() {
            (&a, &b, tb)
        } else {
            (&b, &a, ta)
        };
        let won_thread = if results[0].is_ok() { ta } else { tb };
        eventually("the winner's deal to be confirmed", || async {
            deal_state(won, &won_thread) == Some(DealState::Confirmed)
        })
        .await;
        eventually("the other offer to be closed", || async {
            statuses(lost, &lost_thread)
                .first()
                .is_some_and(|s| *s != OfferStatus::Open)
        })
        .await;
        assert_eq!(deal_in(lost, &lost_thread), None);
        assert_eq!(deal_in(&seller, &lost_thread), None);
        for n in [a, b, seller] {
            n.stop().await.unwrap();
        }
    })
    .await
}
