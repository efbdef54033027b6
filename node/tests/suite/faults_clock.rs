//! A node whose clock is a day off (issue 16 section 3): what it publishes and what it accepts
//! behave as docs/PROTOCOL.md sections 6 and 11.4 say. A node signs with its own clock, and
//! every node judges a record against its own: `signed_at <= now + 600` (else *signed in the
//! future*) and `expires_at > now` (else *expired*). Refusals for the clock alone are not
//! permanent: the same record is accepted once the receiver's clock reaches it.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use swapmeet_node::authoring::{Author, ListingDraft};
use swapmeet_node::messaging::{MessagingConfig, Messenger};
use swapmeet_node::{Engine, EngineConfig, IngestOutcome, Source};
use swapmeet_protocol::limits::MAX_CLOCK_SKEW_SECS;
use swapmeet_protocol::{Currency, ListingId, ListingRef, Record, SecretKey, SignedEnvelope};

const DAY: u64 = 86_400;
/// "Real" time in these tests (the clocks are simulated, so the test does not depend on the
/// machine's clock).
const REAL: u64 = 1_800_000_000;

/// A node whose clock can be moved: the engine, its author, and the clock's offset from REAL.
struct Node {
    _dir: tempfile::TempDir,
    engine: Engine,
    author: Author,
    clock: Arc<AtomicU64>,
}

fn node(seed: u8, now: u64) -> Node {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(AtomicU64::new(now));
    let c = clock.clone();
    let (engine, _) = Engine::open(
        dir.path(),
        EngineConfig {
            clock: Arc::new(move || c.load(Ordering::SeqCst)),
            ..EngineConfig::default()
        },
    )
    .unwrap();
    let author = Author::new(
        SecretKey::from_bytes([seed; 32]),
        Currency::new("EUR").unwrap(),
        Some((52.52, 13.405)),
        engine.clone(),
    );
    Node {
        _dir: dir,
        engine,
        author,
        clock,
    }
}

impl Node {
    /// Sells a bike living `expires_in` seconds by this node's clock; its signed envelope.
    fn sell(&self, title: &str, expires_in: u64) -> (ListingId, SignedEnvelope) {
        let published = self
            .author
            .create(&ListingDraft {
                title: Some(title.into()),
                price: Some("100".into()),
                condition: Some("good".into()),
                category: Some("bikes".into()),
                expires_in_secs: Some(expires_in),
                ..ListingDraft::default()
            })
            .unwrap();
        let rec = self.engine.get(&published.id).unwrap().unwrap();
        (published.id, SignedEnvelope::decode(&rec.envelope).unwrap())
    }

    /// Offers an envelope as a peer would (gossip and sync share this path).
    fn receive(&self, env: &SignedEnvelope) -> IngestOutcome {
        self.engine
            .ingest(vec![env.clone()], Source::Peer("peer".into()))
            .unwrap()
            .pop()
            .unwrap()
    }

    fn holds(&self, id: &ListingId) -> bool {
        self.engine.get(id).unwrap().is_some()
    }
}

fn reason(o: &IngestOutcome) -> String {
    match o {
        IngestOutcome::Rejected { reason, .. } => reason.clone(),
        other => panic!("expected a rejection, got {other:?}"),
    }
}

#[test]
fn a_node_a_day_ahead_publishes_what_others_refuse_until_their_clock_reaches_it() {
    let ahead = node(1, REAL + DAY);
    let right = node(2, REAL);

    // It signs with its own clock: signed_at is a day ahead of everyone else's.
    let (id, env) = ahead.sell("Road bike", 7 * DAY);
    let rec = ahead.engine.get(&id).unwrap().unwrap();
    assert_eq!(rec.signed_at, REAL + DAY);
    assert_eq!(rec.expires_at, REAL + DAY + 7 * DAY);

    // A node with the right clock refuses it as signed in the future, naming the times and
    // the allowed skew, and stores nothing.
    let why = reason(&right.receive(&env));
    assert!(
        why.contains("signed_at") && why.contains("in the future") && why.contains("600 s"),
        "{why}"
    );
    assert!(!right.holds(&id));
    // Within the allowed skew of its signing time it is accepted: the refusal is the clock's
    // alone, so sync brings it in later.
    right
        .clock
        .store(REAL + DAY - MAX_CLOCK_SKEW_SECS, Ordering::SeqCst);
    assert!(right.receive(&env).is_stored(), "accepted within the skew");
    assert!(right.holds(&id));
}

#[test]
fn a_node_a_day_ahead_refuses_what_expires_within_the_day_and_takes_the_rest() {
    let ahead = node(1, REAL + DAY);
    let right = node(2, REAL);
    let (short, short_env) = right.sell("Kettle", DAY / 2);
    let (long, long_env) = right.sell("Lamp", 7 * DAY);

    let why = reason(&ahead.receive(&short_env));
    assert!(why.contains("expired"), "{why}");
    assert!(!ahead.holds(&short));
    assert!(ahead.receive(&long_env).is_stored());
    assert!(ahead.holds(&long));
}

#[test]
fn a_node_a_day_behind_refuses_fresh_listings_and_publishes_ones_that_look_a_day_old() {
    let behind = node(1, REAL - DAY);
    let right = node(2, REAL);

    // A listing signed now is a day in the future to it.
    let (fresh, fresh_env) = right.sell("Road bike", 7 * DAY);
    let why = reason(&behind.receive(&fresh_env));
    assert!(why.contains("in the future"), "{why}");
    assert!(!behind.holds(&fresh));

    // What it publishes is signed a day in the past: accepted by the others, but it lives a
    // day less by their clocks, and one meant to live less than a day is already expired.
    let (id, env) = behind.sell("Lamp", 7 * DAY);
    assert!(right.receive(&env).is_stored());
    let rec = right.engine.get(&id).unwrap().unwrap();
    assert_eq!(rec.expires_at, REAL - DAY + 7 * DAY);
    let (short, short_env) = behind.sell("Kettle", DAY / 2);
    let why = reason(&right.receive(&short_env));
    assert!(why.contains("expired"), "{why}");
    assert!(!right.holds(&short));
}

#[test]
fn a_node_whose_clock_jumps_a_day_ahead_sweeps_what_expired_by_it() {
    let n = node(1, REAL);
    let (kettle, _) = n.sell("Kettle", DAY / 2);
    let (lamp, _) = n.sell("Lamp", 7 * DAY);
    n.clock.store(REAL + DAY, Ordering::SeqCst);
    n.engine.sweep().unwrap();
    assert!(!n.holds(&kettle), "expired by the node's clock: removed");
    assert!(n.holds(&lamp));
}

#[test]
fn a_message_from_a_node_a_day_ahead_is_refused_as_sent_in_the_future_and_stores_nothing() {
    let seller = node(1, REAL);
    let buyer = node(2, REAL + DAY);
    let (_, env) = seller.sell("Road bike", 7 * DAY);
    let listing = env.verify(REAL).unwrap();
    let about = ListingRef {
        seller: env.signer(),
        item_key: match listing.payload() {
            Record::Listing(l) => l.item_key.clone(),
            other => panic!("{other:?}"),
        },
        version: env.hash(),
    };
    let open = |n: &Node, seed: u8| {
        Messenger::open(
            n.engine.store(),
            SecretKey::from_bytes([seed; 32]),
            MessagingConfig::default(),
        )
        .unwrap()
    };
    let (seller_m, buyer_m) = (open(&seller, 1), open(&buyer, 2));
    // The buyer's node signs with its clock (sent_at a day ahead) and queues it.
    buyer_m
        .send_to_seller(about, "Still available?", buyer.engine.now())
        .unwrap();
    let item = buyer_m.due(buyer.engine.now()).unwrap().pop().unwrap();
    let err = seller_m
        .receive(&item.sealed, seller.engine.now())
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("sent_at") && err.contains("in the future"),
        "{err}"
    );
    assert!(
        seller_m.inbox(seller.engine.now()).unwrap().is_empty(),
        "nothing stored"
    );
}
