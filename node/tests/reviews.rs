//! Reviews and reputation with real nodes in one process (TCP on 127.0.0.1, seeded keys), and
//! with an engine alone for the rules that need no network.
//!
//! Deals are built with the protocol's API: in a test both parties' keys are known, so the
//! receipt carries two real signatures. Every wait has an overall deadline, never a timing
//! assertion.

use std::future::Future;
use std::time::{Duration, Instant};

use swapmeet_node::api::reviews::{review_my_deal, review_with_receipt, ReviewRequest};
use swapmeet_node::authoring::{Author, ListingDraft};
use swapmeet_node::engine::{Engine, EngineConfig};
use swapmeet_node::market::reputation::Reputation;
use swapmeet_node::market::{DealState, OfferRequestParsed, Pick};
use swapmeet_node::network::local::{loopback_config, LocalNode};
use swapmeet_node::search::SearchQuery;
use swapmeet_node::{IngestOutcome, Source};
use swapmeet_protocol::{
    Currency, DealError, DealReceipt, DealTerms, EnvelopeHash, ListingId, Party, PublicKey, Review,
    ReviewError, SecretKey, SignedEnvelope,
};
use tempfile::TempDir;

const BERLIN: (f64, f64) = (52.52, 13.405);
/// The area (4-character geohash cell) of Berlin, a topic both nodes follow.
const CELL: &str = "u33d";
const DEADLINE: Duration = Duration::from_secs(60);

fn key(n: u8) -> SecretKey {
    SecretKey::from_bytes([n; 32])
}

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
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

fn draft(title: &str) -> ListingDraft {
    ListingDraft {
        title: Some(title.into()),
        price: Some("200 EUR".into()),
        location: Some(format!("{},{}", BERLIN.0, BERLIN.1)),
        category: Some("bikes".into()),
        condition: Some("good".into()),
        pickup: Some(true),
        ..ListingDraft::default()
    }
}

/// A deal on a listing of `seller`'s, co-signed by both parties, accepted a minute ago.
fn deal(seller: &SecretKey, buyer: &SecretKey, item_key: &str, n: u8) -> DealReceipt {
    let t = DealTerms {
        seller: seller.public(),
        item_key: item_key.into(),
        version: EnvelopeHash([n; 32]),
        buyer: buyer.public(),
        amount_minor: 20_000,
        currency: Currency::new("EUR").unwrap(),
        quantity: 1,
        accepted_at: now() - 60,
        accept: EnvelopeHash([n.wrapping_add(100); 32]),
    };
    DealReceipt::assemble(&t, t.sign(buyer).unwrap(), t.sign(seller).unwrap()).unwrap()
}

/// A review signed through the protocol's rules.
fn review(by: &SecretKey, receipt: &DealReceipt, about: PublicKey, rating: u8, at: u64) -> Vec<u8> {
    Review {
        receipt: receipt.clone(),
        about,
        rating,
        text: format!("{rating} stars"),
        written_at: at,
    }
    .sign(by)
    .unwrap()
    .into_bytes()
}

/// An envelope of kind review with any payload, signed by `key`: what a forger can make
/// without the protocol's checks (`Review::sign` refuses all of these).
fn forge(key: &SecretKey, payload: &[u8]) -> Vec<u8> {
    fn bytes_header(out: &mut Vec<u8>, len: usize) {
        match len {
            0..=23 => out.push(0x40 | len as u8),
            24..=255 => out.extend_from_slice(&[0x58, len as u8]),
            _ => out.extend_from_slice(&[0x59, (len >> 8) as u8, len as u8]),
        }
    }
    let mut msg = b"swapmeet/v1/review\0".to_vec();
    msg.extend_from_slice(payload);
    let sig = key.sign(&msg).to_bytes();
    let mut out = vec![0x85, 0x01, 0x05];
    bytes_header(&mut out, 32);
    out.extend_from_slice(key.public().as_bytes());
    bytes_header(&mut out, payload.len());
    out.extend_from_slice(payload);
    bytes_header(&mut out, 64);
    out.extend_from_slice(&sig);
    out
}

/// `payload` with the first occurrence of `from` replaced by `to` (same length).
fn swap(payload: &[u8], from: &[u8], to: &[u8]) -> Vec<u8> {
    assert_eq!(from.len(), to.len());
    let at = payload
        .windows(from.len())
        .position(|w| w == from)
        .expect("the bytes to replace are in the payload");
    let mut out = payload.to_vec();
    out[at..at + from.len()].copy_from_slice(to);
    out
}

/// The `about` field as encoded in a review's payload (key 2, a 32-byte string), so that the
/// seller's key inside the receipt is left alone.
fn about_field(key: &PublicKey) -> Vec<u8> {
    let mut out = vec![0x02, 0x58, 0x20];
    out.extend_from_slice(key.as_bytes());
    out
}

fn payload_of(envelope: &[u8]) -> Vec<u8> {
    SignedEnvelope::decode(envelope)
        .unwrap()
        .payload_bytes()
        .to_vec()
}

/// An invalid review: what it is, its bytes, and the reason every node must give.
type Invalid = (&'static str, Vec<u8>, fn(&ReviewError) -> bool);

/// The four kinds of invalid review of a deal between `seller` and `buyer`, each with the
/// typed reason every node must give: a forged receipt (the seller's signature does not
/// verify), a review without a deal (no receipt in the receipt's place), a review by a third
/// party, a review about the wrong party.
fn invalid_reviews(
    seller: &SecretKey,
    buyer: &SecretKey,
    third: &SecretKey,
    receipt: &DealReceipt,
) -> Vec<Invalid> {
    let good = payload_of(&review(buyer, receipt, seller.public(), 5, now()));
    let receipt_bytes = receipt.encode();
    let mut forged_receipt = receipt_bytes.clone();
    let last = forged_receipt.len() - 1;
    forged_receipt[last] ^= 0x01;
    let no_deal = vec![0xff; receipt_bytes.len()];
    vec![
        (
            "a forged receipt",
            forge(buyer, &swap(&good, &receipt_bytes, &forged_receipt)),
            |e| {
                matches!(
                    e,
                    ReviewError::Receipt(DealError::BadSignature {
                        party: Party::Seller
                    })
                )
            },
        ),
        (
            "a review without a deal",
            forge(buyer, &swap(&good, &receipt_bytes, &no_deal)),
            |e| matches!(e, ReviewError::Receipt(DealError::Terms(_))),
        ),
        ("a review by a third party", forge(third, &good), |e| {
            matches!(e, ReviewError::SignerNotAParty)
        }),
        (
            "a review about the wrong party",
            forge(
                buyer,
                &swap(
                    &good,
                    &about_field(&seller.public()),
                    &about_field(&third.public()),
                ),
            ),
            |e| matches!(e, ReviewError::NotAboutTheOtherParty),
        ),
    ]
}

fn engine(dir: &std::path::Path) -> Engine {
    Engine::open(dir, EngineConfig::default()).unwrap().0
}

fn stored(o: &IngestOutcome) -> bool {
    matches!(o, IngestOutcome::ReviewStored { .. })
}

#[test]
fn invalid_reviews_are_refused_with_their_typed_reason_and_not_stored() {
    let dir = tempfile::tempdir().unwrap();
    let e = engine(dir.path());
    let (s, b, x) = (key(1), key(2), key(3));
    let receipt = deal(&s, &b, "bike-1", 1);
    for (what, bytes, is_reason) in invalid_reviews(&s, &b, &x, &receipt) {
        let out = e.ingest_bytes(&[&bytes], Source::Import).unwrap();
        match &out[0] {
            IngestOutcome::ReviewRejected { error, reason } => {
                assert!(is_reason(error), "{what}: {error:?}");
                assert!(!reason.is_empty());
            }
            other => panic!("{what} was not rejected: {other:?}"),
        }
    }
    assert!(e.reviews().is_empty());
    assert_eq!(e.reputation(&s.public()), Reputation::default());
    // The valid one is stored.
    let ok = review(&b, &receipt, s.public(), 5, now());
    assert!(stored(&e.ingest_bytes(&[&ok], Source::Import).unwrap()[0]));
}

#[test]
fn a_later_review_replaces_the_earlier_and_reputation_counts_deal_bound_reviews_once() {
    let dir = tempfile::tempdir().unwrap();
    let (s, b1, b2) = (key(1), key(2), key(4));
    let t = now();
    let first = deal(&s, &b1, "bike-1", 1);
    let second = deal(&s, &b2, "lamp-1", 2);
    {
        let e = engine(dir.path());
        let early = review(&b1, &first, s.public(), 2, t - 30);
        let late = review(&b1, &first, s.public(), 5, t - 10);
        // The later one arrives first: the earlier one is then stale, not a second review.
        assert!(stored(
            &e.ingest_bytes(&[&late], Source::Import).unwrap()[0]
        ));
        let out = e.ingest_bytes(&[&early], Source::Import).unwrap();
        assert!(
            matches!(out[0], IngestOutcome::ReviewStale { .. }),
            "{out:?}"
        );
        // The same review again is a duplicate.
        let out = e.ingest_bytes(&[&late], Source::Import).unwrap();
        assert!(
            matches!(out[0], IngestOutcome::ReviewDuplicate { .. }),
            "{out:?}"
        );
        // A review written later still replaces it (the buyer changed its mind).
        let latest = review(&b1, &first, s.public(), 4, t - 5);
        match &e.ingest_bytes(&[&latest], Source::Import).unwrap()[0] {
            IngestOutcome::ReviewStored { replaced, .. } => assert!(replaced),
            o => panic!("{o:?}"),
        }
        // The seller reviews the buyer: the same deal, counted once.
        let back = review(&s, &first, b1.public(), 5, t - 5);
        assert!(stored(
            &e.ingest_bytes(&[&back], Source::Import).unwrap()[0]
        ));
        // A second deal with another buyer, reviewed 5.
        let other = review(&b2, &second, s.public(), 5, t - 5);
        assert!(stored(
            &e.ingest_bytes(&[&other], Source::Import).unwrap()[0]
        ));
        let rep = e.reputation(&s.public());
        assert_eq!(
            rep,
            Reputation {
                deals: 2,
                reviews: 2,
                average_rating: Some(4.5)
            }
        );
        assert_eq!(
            e.reputation(&b1.public()),
            Reputation {
                deals: 1,
                reviews: 1,
                average_rating: Some(5.0)
            }
        );
        let about = e.reviews().about(&s.public(), 10, now()).unwrap();
        assert_eq!(about.len(), 2);
        assert!(about.iter().any(|r| r.summary.rating == 4));
        assert!(!about.iter().any(|r| r.summary.rating == 2));
        e.shutdown().unwrap();
    }
    // Figures are rebuilt the same when the node starts again.
    let e = engine(dir.path());
    assert_eq!(e.reviews().len(), 3);
    assert_eq!(
        e.reputation(&s.public()),
        Reputation {
            deals: 2,
            reviews: 2,
            average_rating: Some(4.5)
        }
    );
}

#[test]
fn search_hits_carry_the_sellers_rating_and_min_rating_filters_by_it() {
    let dir = tempfile::tempdir().unwrap();
    let e = engine(dir.path());
    let eur = Currency::new("EUR").unwrap();
    let (good, poor, unrated, buyer) = (key(1), key(5), key(6), key(2));
    let mut ids = Vec::new();
    for k in [&good, &poor, &unrated] {
        let a = Author::new(k.clone(), eur, Some(BERLIN), e.clone());
        ids.push(a.create(&draft("Road bike")).unwrap().id);
    }
    for (k, rating, n) in [(&good, 5, 1), (&poor, 2, 2)] {
        let r = deal(k, &buyer, "old-item", n);
        let bytes = review(&buyer, &r, k.public(), rating, now());
        assert!(stored(
            &e.ingest_bytes(&[&bytes], Source::Import).unwrap()[0]
        ));
    }
    e.commit().unwrap();
    let search = |min_rating| {
        e.search(&SearchQuery {
            text: Some("bike".into()),
            min_rating,
            ..SearchQuery::default()
        })
        .unwrap()
    };
    let all = search(None);
    assert_eq!(all.hits.len(), 3);
    let hit = all.hits.iter().find(|h| h.id == ids[0]).unwrap();
    assert_eq!(hit.seller_reputation.average_rating, Some(5.0));
    assert_eq!(hit.seller_reputation.deals, 1);
    let unrated_hit = all.hits.iter().find(|h| h.id == ids[2]).unwrap();
    assert_eq!(unrated_hit.seller_reputation, Reputation::default());

    let at_least_4 = search(Some(4.0));
    assert_eq!(
        at_least_4
            .hits
            .iter()
            .map(|h| h.id)
            .collect::<Vec<ListingId>>(),
        vec![ids[0]]
    );
    assert_eq!(at_least_4.total, 1);
    let at_least_2 = search(Some(2.0));
    assert_eq!(at_least_2.hits.len(), 2);
    // Nobody is rated 5 and above but the good seller; nobody above 5 exists.
    assert!(search(Some(5.0)).hits.iter().all(|h| h.id == ids[0]));
    // Out of range is refused, naming the field.
    let err = e
        .search(&SearchQuery {
            min_rating: Some(6.0),
            ..SearchQuery::default()
        })
        .unwrap_err()
        .to_string();
    assert!(err.contains("min_rating"), "{err}");
}

struct Nodes {
    nodes: Vec<Option<LocalNode>>,
    _dirs: Vec<TempDir>,
}

impl Nodes {
    async fn start(keys: &[u8]) -> Nodes {
        let mut nodes = Vec::new();
        let mut dirs = Vec::new();
        for k in keys {
            let dir = tempfile::tempdir().unwrap();
            let n = LocalNode::start(dir.path(), key(*k), loopback_config(Some(BERLIN)))
                .await
                .unwrap();
            nodes.push(Some(n));
            dirs.push(dir);
        }
        Nodes { nodes, _dirs: dirs }
    }

    fn n(&self, i: usize) -> &LocalNode {
        self.nodes[i].as_ref().expect("a running node")
    }

    async fn link(&self, a: usize, b: usize) {
        self.n(a).connect(self.n(b)).await.unwrap();
        eventually("the nodes to connect", || async {
            !self.n(a).net().connected_peers().await.unwrap().is_empty()
        })
        .await;
        // A few heartbeats for gossipsub's meshes.
        tokio::time::sleep(Duration::from_secs(1)).await;
    }

    /// Starts node `i` again on its folder (a node coming back online).
    async fn restart(&mut self, i: usize, k: u8) {
        let n = LocalNode::start(self._dirs[i].path(), key(k), loopback_config(Some(BERLIN)))
            .await
            .unwrap();
        self.nodes[i] = Some(n);
    }

    async fn stop(&mut self, i: usize) {
        if let Some(n) = self.nodes[i].take() {
            n.stop().await.unwrap();
        }
    }

    async fn stop_all(mut self) {
        for i in 0..self.nodes.len() {
            self.stop(i).await;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_review_reaches_a_peer_by_gossip_and_a_node_that_was_offline_by_sync() {
    // 0 the seller, 1 the buyer, 2 a node that starts later, while the seller is offline.
    let mut net = Nodes::start(&[70, 71]).await;
    net.link(1, 0).await;
    let (seller, buyer) = (key(70), key(71));
    let listing = net.n(0).author.create(&draft("Touring bike")).unwrap();
    eventually("the listing at the buyer's node", || async {
        net.n(1).engine.get(&listing.id).unwrap().is_some()
    })
    .await;
    let item_key = net
        .n(0)
        .engine
        .get_verified(&listing.id)
        .unwrap()
        .unwrap()
        .payload()
        .item_key()
        .to_string();
    let receipt = deal(&seller, &buyer, &item_key, 1);
    let written = review_with_receipt(
        &net.n(1).engine,
        net.n(1).author.key(),
        &receipt,
        5,
        "Smooth deal",
    )
    .unwrap();
    assert!(!written.replaced);
    assert_eq!(written.review.about, seller.public());
    // By gossip (nothing else runs between the two within the deadline: sync runs on
    // connect and every 5 minutes).
    eventually("the review at the seller's node", || async {
        net.n(0).engine.reputation(&seller.public()).reviews == 1
    })
    .await;
    eventually("the seller's node to count it as gossip", || async {
        net.n(0).net().status().gossip.accepted >= 1
    })
    .await;

    // Reviewing again replaces the first review everywhere.
    let again = review_with_receipt(
        &net.n(1).engine,
        net.n(1).author.key(),
        &receipt,
        4,
        "Still fine",
    )
    .unwrap();
    assert!(again.replaced);
    eventually("the replacement at the seller's node", || async {
        net.n(0).engine.reputation(&seller.public()).average_rating == Some(4.0)
    })
    .await;
    assert_eq!(net.n(0).engine.reviews().len(), 1);

    // The seller goes offline; a new node joins through the buyer and catches up by sync.
    net.stop(0).await;
    let dir = tempfile::tempdir().unwrap();
    let late = LocalNode::start(dir.path(), key(72), loopback_config(Some(BERLIN)))
        .await
        .unwrap();
    late.connect(net.n(1)).await.unwrap();
    eventually("the review at the late node", || async {
        late.engine.reviews().len() == 1
    })
    .await;
    let rep = late.engine.reputation(&seller.public());
    assert_eq!(
        rep,
        Reputation {
            deals: 1,
            reviews: 1,
            average_rating: Some(4.0)
        }
    );
    // The seller's rating shows on its listing while the seller is offline.
    eventually("the listing at the late node", || async {
        late.engine.get(&listing.id).unwrap().is_some()
    })
    .await;
    late.engine.commit().unwrap();
    let hits = late
        .engine
        .search(&SearchQuery {
            text: Some("touring".into()),
            min_rating: Some(4.0),
            ..SearchQuery::default()
        })
        .unwrap()
        .hits;
    assert_eq!(hits.len(), 1);
    assert_eq!(hits[0].seller_reputation, rep);
    late.stop().await.unwrap();
    net.stop_all().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_reviews_are_dropped_by_peers_and_the_sender_penalized() {
    // 0 sends the invalid reviews, 1 receives them.
    let net = Nodes::start(&[80, 81]).await;
    net.link(0, 1).await;
    let (s, b, x) = (key(90), key(91), key(92));
    let receipt = deal(&s, &b, "bike-1", 3);
    let bad = invalid_reviews(&s, &b, &x, &receipt);
    for (_, bytes, _) in &bad {
        net.n(0)
            .net()
            .publish_raw(CELL, bytes.clone())
            .await
            .unwrap();
    }
    let receiver = net.n(1);
    eventually("the receiver to reject all four", || async {
        receiver.net().status().gossip.rejected >= bad.len() as u64
    })
    .await;
    let sender = net.n(0).net().peer_id();
    let score = receiver.net().peer_score(sender).await.unwrap().unwrap();
    assert!(score < 0.0, "the sender's score is {score}");
    eventually("the peer list to count the rejects", || async {
        receiver
            .net()
            .peers()
            .iter()
            .any(|p| p.peer_id == sender.to_string() && p.rejected >= bad.len() as u64)
    })
    .await;
    assert!(receiver.engine.reviews().is_empty());
    assert_eq!(
        receiver.engine.reputation(&s.public()),
        Reputation::default()
    );

    net.stop_all().await;
}

/// A real node with its API: a review imported as a `swapmeet1:` line is announced on the
/// event stream as a `review` event, and `GET /v1/reviews` lists it with the figures.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_api_lists_reviews_and_streams_a_review_event() {
    use std::io::BufRead;
    use swapmeet_node::home::{Home, InitOptions};
    use swapmeet_node::node::{Node, NodeOptions};

    let dir = tempfile::tempdir().unwrap();
    let home = Home::new(dir.path().to_path_buf());
    home.init(&InitOptions {
        location: Some(BERLIN),
        currency: Some(Currency::new("EUR").unwrap()),
    })
    .unwrap();
    let node = Node::start(
        home,
        NodeOptions {
            api: Some("127.0.0.1:0".parse().unwrap()),
            no_mdns: true,
            listen: vec!["/ip4/127.0.0.1/tcp/0".into()],
            ..Default::default()
        },
    )
    .await
    .unwrap();
    let base = format!("http://{}", node.api_addr());
    let auth = format!("Bearer {}", node.token());
    let (s, b) = (key(110), key(111));
    let r = deal(&s, &b, "bike-1", 7);
    let line = swapmeet_node::api::envelope_to_text(&review(&b, &r, s.public(), 4, now()));
    let about = s.public().to_string();
    let result = tokio::time::timeout(
        DEADLINE,
        tokio::task::spawn_blocking(move || {
            let agent = ureq::Agent::new_with_config(
                ureq::Agent::config_builder()
                    .http_status_as_error(false)
                    .build(),
            );
            let get = |path: &str| -> (u16, serde_json::Value) {
                let mut resp = agent
                    .get(format!("{base}{path}"))
                    .header("Authorization", &auth)
                    .call()
                    .unwrap();
                let status = resp.status().as_u16();
                (status, resp.body_mut().read_json().unwrap())
            };
            let events = agent
                .get(format!("{base}/v1/events"))
                .header("Authorization", &auth)
                .call()
                .unwrap();
            let mut lines = std::io::BufReader::new(events.into_body().into_reader()).lines();
            let mut resp = agent
                .post(format!("{base}/v1/import"))
                .header("Authorization", &auth)
                .header("Content-Type", "application/json")
                .send(serde_json::json!({ "lines": [line] }).to_string())
                .unwrap();
            let imported: serde_json::Value = resp.body_mut().read_json().unwrap();
            assert_eq!(imported["results"][0]["outcome"], "stored", "{imported}");
            // The named event, then its data.
            loop {
                let l = lines.next().expect("stream ended").unwrap();
                if l.trim() == "event: review" {
                    break;
                }
            }
            let data = lines.next().expect("stream ended").unwrap();
            let ev: serde_json::Value =
                serde_json::from_str(data.trim_start_matches("data:").trim()).unwrap();
            assert_eq!(ev["rating"], 4);
            assert_eq!(ev["about"], about.as_str());
            assert_eq!(ev["source"]["kind"], "import");

            let (status, listed) = get(&format!("/v1/reviews?about={about}"));
            assert_eq!(status, 200);
            assert_eq!(listed["reputation"]["deals"], 1);
            assert_eq!(listed["reputation"]["average_rating"], 4.0);
            assert_eq!(listed["reviews"][0]["text"], "4 stars");
            assert!(listed["reviews"][0]["line"]
                .as_str()
                .unwrap()
                .starts_with("swapmeet1:"));
            let (status, err) = get("/v1/reviews?about=nobody");
            assert_eq!(status, 400);
            assert_eq!(err["field"], "about");
            let (status, err) = get(&format!("/v1/reviews?about={about}&limit=0"));
            assert_eq!(status, 400);
            assert_eq!(err["field"], "limit");
        }),
    )
    .await;
    result.expect("test timed out").unwrap();
    tokio::time::timeout(DEADLINE, node.shutdown())
        .await
        .expect("shutdown hung")
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_real_deal_is_reviewed_from_the_markets_receipt_and_refused_until_complete() {
    // 0 the seller, 1 the buyer: an offer, the seller's accept while the buyer is offline (the
    // deal waits for the buyer's signature), then both signatures and reviews through what
    // `POST /v1/reviews` runs.
    let mut net = Nodes::start(&[100, 101]).await;
    net.link(1, 0).await;
    let listing = net.n(0).author.create(&draft("Cargo bike")).unwrap();
    eventually("the listing at the buyer's node", || async {
        net.n(1).engine.get(&listing.id).unwrap().is_some()
    })
    .await;
    let verified = net.n(1).engine.get_verified(&listing.id).unwrap().unwrap();
    let offer = net
        .n(1)
        .market
        .offer(
            &verified,
            &OfferRequestParsed {
                price: "180".into(),
                quantity: None,
                expires_in_secs: None,
                message: None,
            },
        )
        .unwrap();
    let thread = offer.head.thread;
    eventually("the offer at the seller's node", || async {
        net.n(0).market.negotiation(&thread).is_ok()
    })
    .await;
    let deal_of = |n: &LocalNode| {
        n.market
            .deals()
            .unwrap()
            .first()
            .map(|d| (d.id.to_string(), d.state))
    };
    let req = |deal: &str, rating| ReviewRequest {
        deal: deal.into(),
        rating,
        text: "Great deal".into(),
    };
    let review_at =
        |n: &LocalNode, r: &ReviewRequest| review_my_deal(&n.market, &n.engine, n.author.key(), r);
    // No deal yet: nothing to review.
    let err = review_at(net.n(1), &req("abcdef12", 5)).unwrap_err();
    assert!(format!("{err:?}").contains("no deal abcdef12"), "{err:?}");

    // The buyer goes offline; the seller accepts: the seller's half is signed, the buyer's
    // signature cannot arrive, so the seller cannot review yet.
    net.stop(1).await;
    net.n(0).market.accept(&thread, &Pick::default()).unwrap();
    let (deal_id, state) = deal_of(net.n(0)).unwrap();
    assert_eq!(state, DealState::AwaitingBuyer);
    let prefix = deal_id[..10].to_string();
    let err = review_at(net.n(0), &req(&prefix, 5)).unwrap_err();
    let err = format!("{err:?}");
    assert!(
        err.contains("is not complete") && err.contains("buyer's signature"),
        "{err}"
    );

    // The buyer comes back: the accept reaches it, it signs, both hold the receipt.
    net.restart(1, 101).await;
    net.link(1, 0).await;
    for (i, who) in [(1, "buyer"), (0, "seller")] {
        eventually(
            &format!("the deal complete at the {who}'s node"),
            || async { deal_of(net.n(i)) == Some((deal_id.clone(), DealState::Confirmed)) },
        )
        .await;
    }
    // Out of range is refused before anything is signed.
    let err = review_at(net.n(1), &req(&prefix, 0)).unwrap_err();
    assert!(format!("{err:?}").contains("rating"), "{err:?}");
    let first = review_at(net.n(1), &req(&prefix, 5)).unwrap();
    assert!(!first.replaced);
    assert_eq!(first.review.about, key(100).public());
    assert_eq!(first.review.deal.to_string(), deal_id);
    // Reviewing twice replaces (at once, within the same second: dated after the first).
    let second = review_at(net.n(1), &req(&prefix, 3)).unwrap();
    assert!(second.replaced);
    assert_eq!(
        second.reputation,
        Reputation {
            deals: 1,
            reviews: 1,
            average_rating: Some(3.0)
        }
    );
    // The seller's node gets the later one by gossip; the seller reviews the buyer back.
    eventually("the buyer's review at the seller's node", || async {
        net.n(0)
            .engine
            .reputation(&key(100).public())
            .average_rating
            == Some(3.0)
    })
    .await;
    let back = review_at(net.n(0), &req(&prefix, 5)).unwrap();
    assert_eq!(back.review.about, key(101).public());
    eventually("the seller's review at the buyer's node", || async {
        net.n(1).engine.reputation(&key(101).public()).reviews == 1
    })
    .await;
    // One deal for both, whoever reviewed.
    assert_eq!(net.n(1).engine.reputation(&key(100).public()).deals, 1);
    assert_eq!(net.n(1).engine.reputation(&key(101).public()).deals, 1);
    net.stop_all().await;
}

/// A peer that serves an invalid review by sync (here a node whose store was tampered with on
/// disk, the only way an honest node's code would ever hold one) gets a strike per session that
/// brought one, and is cut off at the third; the review is never stored.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_peer_serving_invalid_reviews_by_sync_is_cut_off() {
    let (s, b, x) = (key(120), key(121), key(122));
    let receipt = deal(&s, &b, "bike-1", 9);
    // A review of the deal by a third party, written into the forger's store behind its
    // ingest's back: (deal id || signer) -> head || envelope, as `market/reviews.rs` keeps them.
    let (_, forged, _) = invalid_reviews(&s, &b, &x, &receipt).swap_remove(2);
    let env = SignedEnvelope::decode(&forged).unwrap();
    let forger_dir = tempfile::tempdir().unwrap();
    {
        let e = engine(forger_dir.path());
        let mut k = receipt.id().0.to_vec();
        k.extend_from_slice(x.public().as_bytes());
        let mut v = vec![1u8];
        v.extend_from_slice(s.public().as_bytes());
        v.push(5);
        v.extend_from_slice(&now().to_be_bytes());
        v.extend_from_slice(&env.hash().0);
        v.extend_from_slice(&forged);
        let tree = e
            .store()
            .tree(swapmeet_node::market::reviews::TREE_REVIEWS)
            .unwrap();
        tree.insert(k, v).unwrap();
        e.shutdown().unwrap();
    }
    let forger = LocalNode::start(forger_dir.path(), key(123), loopback_config(None))
        .await
        .unwrap();
    assert_eq!(
        forger.engine.reviews().len(),
        1,
        "the tampered store serves it"
    );
    let honest_dir = tempfile::tempdir().unwrap();
    let honest = LocalNode::start(honest_dir.path(), key(124), loopback_config(None))
        .await
        .unwrap();
    honest.connect(&forger).await.unwrap();
    let forger_id = forger.net().peer_id();
    eventually("the honest node to cut the forger off", || async {
        let peers = honest.net().connected_peers().await.unwrap();
        if peers.contains(&forger_id) {
            // Another session, another strike.
            let _ = honest.net().sync_now().await;
            tokio::time::sleep(Duration::from_millis(300)).await;
            false
        } else {
            true
        }
    })
    .await;
    // The sessions before the cut-off finished and said why (the status refreshes twice a
    // second).
    eventually("a finished sync to report the rejected review", || async {
        honest
            .net()
            .status()
            .last_sync
            .is_some_and(|l| l.progress["rejected"].as_u64() >= Some(1))
    })
    .await;
    assert!(honest.engine.reviews().is_empty());
    assert_eq!(honest.engine.reputation(&s.public()), Reputation::default());
    honest.stop().await.unwrap();
    forger.stop().await.unwrap();
}
