//! The seller's stock between real nodes in one process: two buyers accepting the last unit at
//! the same moment (50 times), the seller accepting two offers for it at once, and the limits
//! the seller's node enforces on offers a peer's client sent without checking them.
//!
//! Every wait has a deadline (`eventually`) and every test an overall timeout (`within`);
//! nothing asserts on timing.

use crate::market_common;

use market_common::*;
use swapmeet_node::engine::EngineConfig;
use swapmeet_node::market::{DealRecord, DealState, MarketConfig, MarketError, Pick};
use swapmeet_node::messaging::MessagingConfig;
use swapmeet_node::network::local::{loopback_config, LocalNode};
use swapmeet_protocol::negotiation::OfferStatus;
use swapmeet_protocol::{EnvelopeHash, ThreadId};
use tempfile::TempDir;

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
