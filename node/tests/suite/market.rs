//! Negotiations between real nodes in one process, over TCP on 127.0.0.1 with seeded keys:
//! offer -> counter -> accept -> co-signed deal with the seller offline at the accept, the
//! seller's automatic rules with its user away, a replayed accept, the pickup place kept from
//! everyone but the buyer, and what a `kill -9` leaves on disk. (The stock races and the
//! limits are in `market_stock.rs`.)
//!
//! Every wait has a deadline (`eventually`) and every test an overall timeout (`within`);
//! nothing asserts on timing.

use crate::market_common;

use std::time::Duration;

use market_common::*;
use swapmeet_node::market::{DealState, MarketError, Pick, SettingsUpdate};
use swapmeet_node::messaging::Role;
use swapmeet_node::store::RecordKind;
use swapmeet_protocol::negotiation::OfferStatus;
use swapmeet_protocol::{MessageBody, Move};
use tempfile::TempDir;

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
        eventually(
            "the deal to be confirmed on both sides, the place with it",
            || async {
                deal_state(&seller, &thread) == Some(DealState::Confirmed)
                    && deal_in(&buyer, &thread)
                        .is_some_and(|d| d.state == DealState::Confirmed && d.pickup_at.is_some())
            },
        )
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
