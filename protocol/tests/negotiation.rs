//! The negotiation state machine, as both parties of a thread rely on it: the moves that make a
//! deal, the moves that must not, and that any order of arrival gives the same state.

use proptest::prelude::*;
use swapmeet_protocol::limits::{MAX_MESSAGE_LIFETIME_SECS, MAX_OFFER_LIFETIME_SECS};
use swapmeet_protocol::negotiation::{
    IgnoreReason, ListingFacts, ListingVersion, NegotiationState, OfferStatus, Party, ThreadParties,
};
use swapmeet_protocol::{
    Currency, DealReceipt, DealSignature, DealTerms, DirectMessage, EnvelopeHash, ListingRef,
    MessageBody, Move, OfferTerms, Price, SecretKey, Signature, ThreadId, ValidationError,
    Verified, VoidReason,
};

const T0: u64 = 1_750_000_000;
const V1: EnvelopeHash = EnvelopeHash([0x11; 32]);
const V2: EnvelopeHash = EnvelopeHash([0x22; 32]);
const V3: EnvelopeHash = EnvelopeHash([0x33; 32]);

fn seller() -> SecretKey {
    SecretKey::from_bytes([1; 32])
}
fn buyer() -> SecretKey {
    SecretKey::from_bytes([2; 32])
}
fn eur() -> Currency {
    Currency::new("EUR").unwrap()
}
fn parties() -> ThreadParties {
    let about = about(V1);
    ThreadParties::new(about.id(), seller().public(), buyer().public())
}
fn about(version: EnvelopeHash) -> ListingRef {
    ListingRef {
        seller: seller().public(),
        item_key: "bike-1".into(),
        version,
    }
}
fn price(amount_minor: u64) -> Price {
    Price::Fixed {
        amount_minor,
        currency: eur(),
    }
}
/// V1 at 250 EUR; V2 (a new photo, same price) an hour later; V3 (price cut to 220) a day later.
fn versions() -> [ListingVersion; 3] {
    [
        ListingVersion {
            hash: V1,
            signed_at: T0 - 100,
            price: price(25_000),
        },
        ListingVersion {
            hash: V2,
            signed_at: T0 + 3_600,
            price: price(25_000),
        },
        ListingVersion {
            hash: V3,
            signed_at: T0 + 86_400,
            price: price(22_000),
        },
    ]
}

/// Builds a thread's messages: each party's own seq, signed and verified.
struct Thread {
    seqs: [u64; 2],
    msgs: Vec<Verified<DirectMessage>>,
}

impl Thread {
    fn new() -> Thread {
        Thread {
            seqs: [0, 0],
            msgs: Vec::new(),
        }
    }

    fn send(&mut self, from: Party, at: u64, version: EnvelopeHash, mv: Move) -> EnvelopeHash {
        self.send_body(from, at, version, MessageBody::Negotiation(mv))
    }

    /// A deal-signature body naming `accept` (the state machine reads only who sent it and
    /// what it names, so the signature bytes do not matter here).
    fn sign_deal(&mut self, from: Party, at: u64, accept: EnvelopeHash) -> EnvelopeHash {
        let body = MessageBody::DealSignature(DealSignature {
            accept,
            signature: Signature::from_bytes([7; 64]),
        });
        self.send_body(from, at, V1, body)
    }

    fn send_body(
        &mut self,
        from: Party,
        at: u64,
        version: EnvelopeHash,
        body: MessageBody,
    ) -> EnvelopeHash {
        let (key, recipient) = match from {
            Party::Buyer => (buyer(), seller().public()),
            Party::Seller => (seller(), buyer().public()),
        };
        let i = from as usize;
        self.seqs[i] += 1;
        let b = buyer().public();
        let msg = DirectMessage {
            recipient,
            buyer: b,
            thread: ThreadId::derive(&about(version).id(), &b),
            seq: self.seqs[i],
            sent_at: at,
            expires_at: at + MAX_MESSAGE_LIFETIME_SECS,
            about: about(version),
            body,
        };
        let v = msg.sign(&key).unwrap().verify_message(at).unwrap();
        let h = v.hash();
        self.msgs.push(v);
        h
    }

    fn offer(&mut self, from: Party, at: u64, amount: u64) -> EnvelopeHash {
        let terms = OfferTerms::with_default_expiry(amount, eur(), 1, at);
        let mv = match from {
            Party::Buyer => Move::Offer(terms),
            Party::Seller => Move::Counter(terms),
        };
        self.send(from, at, V1, mv)
    }

    fn state(&self, withdrawn_at: Option<u64>, now: u64) -> NegotiationState {
        let versions = versions();
        let facts = ListingFacts {
            versions: &versions,
            withdrawn_at,
        };
        NegotiationState::compute(&parties(), &facts, now, &self.msgs)
    }
}

fn reason(state: &NegotiationState, hash: EnvelopeHash) -> Option<IgnoreReason> {
    state
        .ignored
        .iter()
        .find(|i| i.hash == hash)
        .map(|i| i.reason)
}

#[test]
fn offer_counter_accept_makes_one_deal_at_the_countered_price() {
    let mut t = Thread::new();
    let offer = t.offer(Party::Buyer, T0, 20_000);
    let counter = t.offer(Party::Seller, T0 + 60, 23_000);
    let accept = t.send(Party::Buyer, T0 + 120, V1, Move::Accept { of: counter });
    let s = t.state(None, T0 + 200);
    let deal = s.deal.expect("a deal");
    assert_eq!(deal.offer, counter);
    assert_eq!(deal.accept, accept);
    assert_eq!(deal.accepted_by, Party::Buyer);
    assert_eq!(deal.terms.amount_minor, 23_000);
    assert_eq!(s.offers[0].status, OfferStatus::Superseded { by: counter });
    assert_eq!(s.offers[0].hash, offer);
    assert_eq!(s.offers[1].status, OfferStatus::Accepted { by: accept });
    assert!(s.ignored.is_empty());
}

/// A whole exchange within one second (two nodes online answer in milliseconds): the accept
/// names the counter, so the canonical order puts it after the counter although the buyer's
/// moves come first on a tie, whatever order the messages are given in.
#[test]
fn an_accept_in_the_same_second_as_the_counter_it_names_makes_the_deal() {
    let mut t = Thread::new();
    let offer = t.offer(Party::Buyer, T0, 20_000);
    let counter = t.offer(Party::Seller, T0, 23_000);
    let accept = t.send(Party::Buyer, T0, V1, Move::Accept { of: counter });
    for order in [[0, 1, 2], [2, 1, 0], [1, 2, 0]] {
        let msgs: Vec<_> = order.iter().map(|&i| &t.msgs[i]).collect();
        let versions = versions();
        let facts = ListingFacts {
            versions: &versions,
            withdrawn_at: None,
        };
        let s = NegotiationState::compute(&parties(), &facts, T0 + 1, msgs);
        let deal = s.deal.expect("a deal");
        assert_eq!((deal.offer, deal.accept), (counter, accept));
        assert_eq!(deal.terms.amount_minor, 23_000);
        assert_eq!(s.offers[0].hash, offer);
        assert_eq!(s.offers[0].status, OfferStatus::Superseded { by: counter });
        assert!(s.ignored.is_empty(), "{:?}", s.ignored);
    }
    // A buyer's offer (it names nothing) in the counter's second still comes first: it
    // cannot be the answer to a counter it does not name.
    let mut t = Thread::new();
    t.offer(Party::Buyer, T0, 20_000);
    let counter = t.offer(Party::Seller, T0 + 5, 23_000);
    let second = t.offer(Party::Buyer, T0 + 5, 21_000);
    let s = t.state(None, T0 + 6);
    let status = |h| s.offers.iter().find(|e| e.hash == h).map(|e| e.status);
    assert_eq!(
        status(second),
        Some(OfferStatus::Superseded { by: counter })
    );
}

#[test]
fn wrong_moves_are_ignored_with_their_reason() {
    let mut t = Thread::new();
    let offer = t.offer(Party::Buyer, T0, 20_000);
    let own = t.send(Party::Buyer, T0 + 1, V1, Move::Accept { of: offer });
    let not_mine = t.send(Party::Seller, T0 + 2, V1, Move::Retract { of: offer });
    let seller_offer = t.send(
        Party::Seller,
        T0 + 3,
        V1,
        Move::Offer(OfferTerms::with_default_expiry(1, eur(), 1, T0 + 3)),
    );
    let counter = t.offer(Party::Seller, T0 + 4, 24_000);
    let superseded = t.send(Party::Seller, T0 + 5, V1, Move::Accept { of: offer });
    let own_counter = t.offer(Party::Seller, T0 + 6, 23_500);
    let accept = t.send(Party::Buyer, T0 + 7, V1, Move::Accept { of: counter });
    let second = t.send(Party::Buyer, T0 + 8, V1, Move::Accept { of: counter });
    let late_counter = t.offer(Party::Seller, T0 + 9, 22_000);
    let s = t.state(None, T0 + 10);
    // Countering a closed negotiation.
    assert_eq!(reason(&s, late_counter), Some(IgnoreReason::DealMade));
    assert_eq!(reason(&s, own), Some(IgnoreReason::OwnOffer));
    assert_eq!(reason(&s, not_mine), Some(IgnoreReason::NotOwnOffer));
    assert_eq!(reason(&s, seller_offer), Some(IgnoreReason::SellerOffer));
    // The seller accepting the buyer's offer after countering it: the counter replaced it.
    assert_eq!(
        reason(&s, superseded),
        Some(IgnoreReason::NotOpen {
            status: OfferStatus::Superseded { by: counter }
        })
    );
    // Countering one's own counter: nothing of the buyer's is open.
    assert_eq!(
        reason(&s, own_counter),
        Some(IgnoreReason::NothingToCounter)
    );
    assert_eq!(reason(&s, second), Some(IgnoreReason::DealMade));
    assert_eq!(s.deal.unwrap().accept, accept);
}

#[test]
fn a_retracted_or_declined_offer_cannot_be_accepted() {
    let mut t = Thread::new();
    let first = t.offer(Party::Buyer, T0, 20_000);
    let retract = t.send(Party::Buyer, T0 + 1, V1, Move::Retract { of: first });
    let second = t.offer(Party::Buyer, T0 + 2, 21_000);
    let decline = t.send(Party::Seller, T0 + 3, V1, Move::Decline { of: second });
    let a1 = t.send(Party::Seller, T0 + 4, V1, Move::Accept { of: first });
    let a2 = t.send(Party::Seller, T0 + 5, V1, Move::Accept { of: second });
    let s = t.state(None, T0 + 10);
    assert_eq!(
        reason(&s, a1),
        Some(IgnoreReason::NotOpen {
            status: OfferStatus::Retracted { by: retract }
        })
    );
    assert_eq!(
        reason(&s, a2),
        Some(IgnoreReason::NotOpen {
            status: OfferStatus::Declined { by: decline }
        })
    );
    assert!(s.deal.is_none());
}

#[test]
fn an_expired_offer_cannot_be_accepted_and_reads_as_expired() {
    let mut t = Thread::new();
    // Open two hours (the price cut of V3 comes a day later).
    let terms = OfferTerms {
        amount_minor: 20_000,
        currency: eur(),
        quantity: 1,
        expires_at: T0 + 7_200,
    };
    let offer = t.send(Party::Buyer, T0, V1, Move::Offer(terms));
    let late = T0 + 7_200;
    let accept = t.send(Party::Seller, late, V1, Move::Accept { of: offer });
    let s = t.state(None, late);
    assert_eq!(
        reason(&s, accept),
        Some(IgnoreReason::NotOpen {
            status: OfferStatus::Expired
        })
    );
    assert_eq!(s.offers[0].status, OfferStatus::Expired);
    assert!(s.deal.is_none());
}

#[test]
fn a_price_change_closes_open_offers_but_a_new_photo_does_not() {
    let mut t = Thread::new();
    let offer = t.offer(Party::Buyer, T0 + 7_200, 20_000);
    // V2 (same price) came out before the offer: still open.
    let s = t.state(None, T0 + 7_300);
    assert_eq!(s.open().count(), 1);
    // V3 cut the price at T0 + 1 day: the offer (open 48 h) is closed then.
    let accept = t.send(Party::Seller, T0 + 90_000, V1, Move::Accept { of: offer });
    let s = t.state(None, T0 + 90_000);
    assert_eq!(s.offers[0].status, OfferStatus::ClosedByListing);
    assert_eq!(
        reason(&s, accept),
        Some(IgnoreReason::NotOpen {
            status: OfferStatus::ClosedByListing
        })
    );
    // An offer about V1 sent after the price change is about a stale version.
    let stale = t.offer(Party::Buyer, T0 + 90_001, 20_000);
    let s = t.state(None, T0 + 90_002);
    assert_eq!(reason(&s, stale), Some(IgnoreReason::StaleVersion));
}

#[test]
fn a_withdrawal_closes_the_negotiation_but_keeps_an_earlier_deal() {
    let mut t = Thread::new();
    let offer = t.offer(Party::Buyer, T0, 20_000);
    t.send(Party::Seller, T0 + 10, V1, Move::Accept { of: offer });
    let other = t.offer(Party::Buyer, T0 + 30, 21_000);
    let s = t.state(Some(T0 + 20), T0 + 40);
    assert!(s.deal.is_some());
    assert_eq!(reason(&s, other), Some(IgnoreReason::DealMade));

    let mut t = Thread::new();
    let offer = t.offer(Party::Buyer, T0, 20_000);
    let accept = t.send(Party::Seller, T0 + 30, V1, Move::Accept { of: offer });
    let s = t.state(Some(T0 + 20), T0 + 40);
    assert_eq!(reason(&s, accept), Some(IgnoreReason::ListingWithdrawn));
    assert_eq!(s.offers[0].status, OfferStatus::ClosedByListing);
}

#[test]
fn the_seller_voids_an_unsigned_deal_and_the_thread_negotiates_again() {
    let mut t = Thread::new();
    let offer = t.offer(Party::Buyer, T0, 20_000);
    let counter = t.offer(Party::Seller, T0 + 60, 23_000);
    let accept = t.send(Party::Buyer, T0 + 120, V1, Move::Accept { of: counter });
    // The last unit went to another buyer: the listing was withdrawn as sold before the
    // seller's node came to confirm this accept, and the void still applies.
    let void = t.send(
        Party::Seller,
        T0 + 130,
        V1,
        Move::Void {
            accept,
            reason: VoidReason::SoldOut,
        },
    );
    let s = t.state(None, T0 + 200);
    assert!(s.deal.is_none());
    assert!(s.ignored.is_empty(), "{:?}", s.ignored);
    assert_eq!(s.offers[0].hash, offer);
    assert_eq!(s.offers[0].status, OfferStatus::Superseded { by: counter });
    assert_eq!(
        s.offers[1].status,
        OfferStatus::Void {
            by: void,
            reason: VoidReason::SoldOut
        }
    );
    assert_eq!(s.voided.len(), 1);
    assert_eq!(s.voided[0].deal.accept, accept);
    assert_eq!(s.voided[0].by, void);
    let s = t.state(Some(T0 + 125), T0 + 200);
    assert!(s.deal.is_none() && s.voided.len() == 1);

    // Without a withdrawal the parties negotiate again and can make a (new) deal.
    let again = t.offer(Party::Buyer, T0 + 300, 21_000);
    let accept2 = t.send(Party::Seller, T0 + 360, V1, Move::Accept { of: again });
    let s = t.state(None, T0 + 400);
    let deal = s.deal.expect("a new deal");
    assert_eq!((deal.offer, deal.accept), (again, accept2));
    assert_eq!(deal.terms.amount_minor, 21_000);
    assert_eq!(s.voided.len(), 1);
}

#[test]
fn the_sale_that_withdraws_the_listing_does_not_undo_its_own_signed_deal() {
    let mut t = Thread::new();
    t.offer(Party::Buyer, T0, 20_000);
    let counter = t.offer(Party::Seller, T0 + 60, 23_000);
    // The buyer dates its accept a second after the counter; the seller's node confirms it,
    // signs, and withdraws the listing as sold within that same second.
    let accept = t.send(Party::Buyer, T0 + 61, V1, Move::Accept { of: counter });
    let withdrawn = Some(T0 + 61);
    // Unsigned, the accept came after the withdrawal: no deal.
    let s = t.state(withdrawn, T0 + 100);
    assert!(s.deal.is_none());
    assert_eq!(reason(&s, accept), Some(IgnoreReason::ListingWithdrawn));
    // The seller's signature on it (wherever it arrives) makes it stand.
    t.sign_deal(Party::Seller, T0 + 61, accept);
    let s = t.state(withdrawn, T0 + 100);
    assert_eq!(s.deal.expect("the signed deal").accept, accept);
    assert_eq!(s.offers[1].status, OfferStatus::Accepted { by: accept });
    // The buyer's signature alone does not.
    let mut t2 = Thread::new();
    t2.offer(Party::Buyer, T0, 20_000);
    let counter = t2.offer(Party::Seller, T0 + 60, 23_000);
    let accept = t2.send(Party::Buyer, T0 + 61, V1, Move::Accept { of: counter });
    t2.sign_deal(Party::Buyer, T0 + 61, accept);
    assert!(t2.state(withdrawn, T0 + 100).deal.is_none());
}

#[test]
fn a_void_takes_effect_only_from_the_seller_on_its_unsigned_current_deal() {
    let mut t = Thread::new();
    let void = |accept| Move::Void {
        accept,
        reason: VoidReason::SoldOut,
    };
    let early = t.send(Party::Seller, T0, V1, void(EnvelopeHash([9; 32])));
    let offer = t.offer(Party::Buyer, T0 + 1, 20_000);
    let accept = t.send(Party::Seller, T0 + 2, V1, Move::Accept { of: offer });
    let by_buyer = t.send(Party::Buyer, T0 + 3, V1, void(accept));
    let other = t.send(Party::Seller, T0 + 4, V1, void(offer));
    t.sign_deal(Party::Seller, T0 + 5, accept);
    let after_signing = t.send(Party::Seller, T0 + 6, V1, void(accept));
    let s = t.state(None, T0 + 10);
    assert_eq!(reason(&s, early), Some(IgnoreReason::NoDeal));
    assert_eq!(reason(&s, by_buyer), Some(IgnoreReason::NotSeller));
    assert_eq!(reason(&s, other), Some(IgnoreReason::OtherDeal));
    assert_eq!(reason(&s, after_signing), Some(IgnoreReason::SellerSigned));
    assert_eq!(s.deal.unwrap().accept, accept);
    assert!(s.voided.is_empty());

    // The seller's signature binds it wherever it lands in the order of arrival, and the
    // buyer's signature does not stop the seller's void.
    let mut t = Thread::new();
    let offer = t.offer(Party::Buyer, T0, 20_000);
    let counter = t.offer(Party::Seller, T0 + 1, 22_000);
    let accept = t.send(Party::Buyer, T0 + 2, V1, Move::Accept { of: counter });
    t.sign_deal(Party::Buyer, T0 + 3, accept);
    t.send(Party::Seller, T0 + 4, V1, void(accept));
    let s = t.state(None, T0 + 10);
    assert!(s.deal.is_none() && s.voided.len() == 1, "{s:?}");
    let _ = offer;
}

#[test]
fn bad_offer_fields_name_the_field_and_the_limit() {
    let mut terms = OfferTerms::with_default_expiry(20_000, eur(), 1, T0);
    terms.expires_at = T0 + MAX_OFFER_LIFETIME_SECS + 1;
    assert_eq!(
        terms.validate(T0).unwrap_err(),
        ValidationError::OutOfRange {
            field: "offer.expires_at",
            min: T0 + 1,
            max: T0 + MAX_OFFER_LIFETIME_SECS,
            actual: T0 + MAX_OFFER_LIFETIME_SECS + 1,
        }
    );
    let mut terms = OfferTerms::with_default_expiry(20_000, eur(), 0, T0);
    assert!(terms
        .validate(T0)
        .unwrap_err()
        .to_string()
        .starts_with("quantity is out of range"));
    terms.quantity = 1;
    terms.amount_minor = 0;
    assert!(terms
        .validate(T0)
        .unwrap_err()
        .to_string()
        .starts_with("amount_minor is out of range"));
    // And the message carrying it will not sign.
    let b = buyer().public();
    let msg = DirectMessage {
        recipient: seller().public(),
        buyer: b,
        thread: ThreadId::derive(&about(V1).id(), &b),
        seq: 1,
        sent_at: T0,
        expires_at: T0 + 60,
        about: about(V1),
        body: MessageBody::Negotiation(Move::Offer(terms)),
    };
    assert!(msg.sign(&buyer()).is_err());
}

/// One generated move: who, what, which earlier offer it names (an index into the offers so
/// far, or a hash no message has), how much later than the previous move, and terms.
#[derive(Clone, Debug)]
struct Op {
    seller: bool,
    kind: u8,
    target: Option<usize>,
    dt: u64,
    amount: u64,
    lifetime: u64,
    version: u8,
}

fn op() -> impl Strategy<Value = Op> {
    (
        any::<bool>(),
        0u8..8,
        prop::option::weighted(0.9, 0usize..8),
        0u64..8_000,
        1u64..30_000,
        1u64..=MAX_OFFER_LIFETIME_SECS,
        0u8..3,
    )
        .prop_map(|(seller, kind, target, dt, amount, lifetime, version)| Op {
            seller,
            kind,
            target,
            dt,
            amount,
            lifetime,
            version,
        })
}

fn build(ops: &[Op]) -> (Thread, u64) {
    let mut t = Thread::new();
    let mut at = T0;
    let mut offers: Vec<(EnvelopeHash, Party)> = Vec::new();
    let mut accepts: Vec<EnvelopeHash> = Vec::new();
    for op in ops {
        at += op.dt;
        let mut from = if op.seller {
            Party::Seller
        } else {
            Party::Buyer
        };
        let version = [V1, V2, V3][usize::from(op.version)];
        let of = match op.target {
            Some(i) if !offers.is_empty() => offers[i % offers.len()].0,
            _ => EnvelopeHash([0xee; 32]),
        };
        // Kind 5 leans towards moves that take effect: the other party accepts the latest
        // offer; and most offers come from the buyer. The rest are as random as they come.
        if op.kind == 0 && op.amount % 4 != 0 {
            from = Party::Buyer;
        }
        if let (5, Some(&(_, author))) = (op.kind, offers.last()) {
            from = match author {
                Party::Buyer => Party::Seller,
                Party::Seller => Party::Buyer,
            };
        }
        // Kinds 6 (void) and 7 (deal signature) name an accept sent so far (the latest, or
        // one picked by `target`), mostly from the seller.
        if op.kind >= 6 && op.amount % 5 != 0 {
            from = Party::Seller;
        }
        let accept = match (op.target, accepts.last()) {
            (Some(i), Some(_)) if op.amount % 2 == 0 => accepts[i % accepts.len()],
            (_, Some(&last)) => last,
            _ => EnvelopeHash([0xad; 32]),
        };
        if op.kind == 7 {
            t.sign_deal(from, at, accept);
            continue;
        }
        let terms = OfferTerms {
            amount_minor: op.amount,
            currency: eur(),
            quantity: 1,
            expires_at: at + op.lifetime,
        };
        let mv = match op.kind {
            0 => Move::Offer(terms),
            1 => Move::Counter(terms),
            2 => Move::Accept { of },
            5 => Move::Accept {
                of: offers.last().map_or(of, |o| o.0),
            },
            3 => Move::Decline { of },
            4 => Move::Retract { of },
            _ => Move::Void {
                accept,
                reason: VoidReason::SoldOut,
            },
        };
        let h = t.send(from, at, version, mv);
        if op.kind < 2 {
            offers.push((h, from));
        }
        if matches!(mv, Move::Accept { .. }) {
            accepts.push(h);
        }
    }
    (t, at)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    /// Random valid and invalid moves never make two deals, and the deal (if any) is the one
    /// accepted offer; a voided deal was never signed by the seller, so the seller signs at
    /// most one deal per thread.
    #[test]
    fn never_two_deals(ops in prop::collection::vec(op(), 1..24), withdraw in prop::option::weighted(0.3, 0u64..200_000)) {
        let (t, end) = build(&ops);
        let s = t.state(withdraw.map(|w| T0 + w), end);
        let accepted: Vec<_> = s.offers.iter().filter(|e| matches!(e.status, OfferStatus::Accepted { .. })).collect();
        prop_assert!(accepted.len() <= 1);
        prop_assert_eq!(accepted.len(), usize::from(s.deal.is_some()));
        if let Some(deal) = s.deal {
            prop_assert_eq!(accepted[0].hash, deal.offer);
            prop_assert_ne!(accepted[0].by, deal.accepted_by);
            prop_assert_eq!(s.open().count(), 0);
        }
        let seller = seller().public();
        let signed: Vec<EnvelopeHash> = t.msgs.iter().filter_map(|m| match m.payload().body {
            MessageBody::DealSignature(d) if m.signer() == seller => Some(d.accept),
            _ => None,
        }).collect();
        let void_offers = s.offers.iter().filter(|e| matches!(e.status, OfferStatus::Void { .. })).count();
        prop_assert_eq!(void_offers, s.voided.len());
        for v in &s.voided {
            prop_assert!(!signed.contains(&v.deal.accept));
            prop_assert!(s.deal.is_none_or(|d| d.accept != v.deal.accept));
        }
        // No move is counted both as an offer and as ignored, or twice.
        prop_assert!(s.offers.len() + s.ignored.len() <= ops.len());
    }

    /// Any order of arrival gives the same state.
    #[test]
    fn order_of_arrival_does_not_matter(
        (ops, perm) in prop::collection::vec(op(), 1..24)
            .prop_flat_map(|ops| {
                let n = ops.len();
                (Just(ops), Just((0..n).collect::<Vec<usize>>()).prop_shuffle())
            }),
    ) {
        let (t, end) = build(&ops);
        let a = t.state(Some(T0 + 150_000), end);
        let shuffled = Thread {
            seqs: t.seqs,
            msgs: perm.iter().map(|&i| t.msgs[i].clone()).collect(),
        };
        let b = shuffled.state(Some(T0 + 150_000), end);
        prop_assert_eq!(a, b);
    }
}

#[test]
fn the_parties_exchange_signatures_in_the_thread_and_both_hold_the_receipt() {
    let mut t = Thread::new();
    let offer = t.offer(Party::Buyer, T0, 20_000);
    t.send(Party::Seller, T0 + 60, V1, Move::Accept { of: offer });
    let s = t.state(None, T0 + 100);
    let deal = s.deal.unwrap();
    // Each side computes the same terms from the same messages.
    let terms = DealTerms::of_thread(&parties(), "bike-1", &deal);
    assert_eq!(terms.amount_minor, 20_000);
    let seller_sig = DealSignature {
        accept: deal.accept,
        signature: terms.sign(&seller()).unwrap(),
    };
    // The seller's signature travels as a message body and survives the round trip.
    let body = MessageBody::DealSignature(seller_sig);
    let b = buyer().public();
    let msg = DirectMessage {
        recipient: b,
        buyer: b,
        thread: parties().thread,
        seq: 2,
        sent_at: T0 + 120,
        expires_at: T0 + 120 + MAX_MESSAGE_LIFETIME_SECS,
        about: about(V1),
        body: body.clone(),
    };
    let v = msg
        .sign(&seller())
        .unwrap()
        .verify_message(T0 + 120)
        .unwrap();
    let MessageBody::DealSignature(got) = v.payload().body else {
        panic!("not a deal signature");
    };
    got.verify(&terms, &v.signer()).unwrap();
    // The buyer cannot pass the seller's signature off as its own.
    assert!(got.verify(&terms, &b).is_err());
    let buyer_sig = terms.sign(&buyer()).unwrap();
    let receipt = DealReceipt::assemble(&terms, buyer_sig, got.signature).unwrap();
    let back = DealReceipt::decode(&receipt.encode()).unwrap();
    assert_eq!(back.verify().unwrap(), &terms);
    // The deal-signature message does not change the negotiation state.
    t.msgs.push(v);
    assert_eq!(t.state(None, T0 + 100), s);
}
