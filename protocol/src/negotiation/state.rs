//! A thread's negotiation state as a pure function of its messages and the listing's facts.
//!
//! Both parties and any third party holding the same messages compute the same state: the
//! messages are put in a canonical order first (the order of arrival never matters), and every
//! move is judged at its own `sent_at`, never at the clock of whoever computes. Only the final
//! "expired" and "closed by the listing" labels of still-open offers depend on `now`.
//!
//! A deal can be voided once, by the seller, while the seller has not signed it (its node found
//! the stock gone when it came to confirm the accept): whether the seller signed is read from
//! the seller's deal-signature messages in the thread, whatever their position, so that too is
//! independent of the order of arrival.
//!
//! Canonical order: each sender's messages by `seq` (ties, which only an equivocating sender
//! makes, by envelope hash; the later of two with one `seq` is ignored); the two senders' lists
//! are then merged, taking at each step the head with the smaller `sent_at`; on a tie the
//! buyer's first, unless the buyer's head names a pending message of the seller's and the
//! seller's head names none of the buyer's. The merge keeps each sender's own order even when its clock went backwards.

use std::cmp::Ordering;
use std::collections::HashSet;

use serde::Serialize;

use crate::envelope::{EnvelopeHash, Verified};
use crate::keys::PublicKey;
use crate::listing::ListingId;
use crate::message::{DirectMessage, MessageBody, ThreadId};
use crate::negotiation::{Move, OfferTerms, VoidReason};
use crate::price::Price;

/// The two parties of a thread and its listing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ThreadParties {
    /// The listing negotiated.
    pub listing: ListingId,
    /// Its seller.
    pub seller: PublicKey,
    /// The buyer of the thread.
    pub buyer: PublicKey,
    /// Derived from the listing and the buyer.
    pub thread: ThreadId,
}

impl ThreadParties {
    /// The parties of the thread of `buyer` about `listing` of `seller`.
    pub fn new(listing: ListingId, seller: PublicKey, buyer: PublicKey) -> ThreadParties {
        ThreadParties {
            listing,
            seller,
            buyer,
            thread: ThreadId::derive(&listing, &buyer),
        }
    }

    fn party(&self, key: &PublicKey) -> Option<Party> {
        if *key == self.buyer {
            Some(Party::Buyer)
        } else if *key == self.seller {
            Some(Party::Seller)
        } else {
            None
        }
    }
}

/// One version of the listing, as the caller's store knows it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ListingVersion {
    /// The listing envelope's hash (what a message's `about.version` names).
    pub hash: EnvelopeHash,
    /// When it was signed.
    pub signed_at: u64,
    /// Its price (the price of the item offered on; variants are not negotiated separately).
    pub price: Price,
}

/// What the caller knows of the listing: its versions and whether it was withdrawn.
#[derive(Clone, Copy, Debug)]
pub struct ListingFacts<'a> {
    /// Every version known, in any order.
    pub versions: &'a [ListingVersion],
    /// When the listing was withdrawn (the withdrawal's `signed_at`), if it was.
    pub withdrawn_at: Option<u64>,
}

impl ListingFacts<'_> {
    fn version(&self, hash: &EnvelopeHash) -> Option<&ListingVersion> {
        self.versions.iter().find(|v| v.hash == *hash)
    }

    /// When offers about `v` close: at the first later version with another price, or at the
    /// withdrawal, whichever comes first. A later version with the same price (a new photo, a
    /// corrected description) leaves them open.
    fn closes_at(&self, v: &ListingVersion) -> u64 {
        self.versions
            .iter()
            .filter(|w| w.signed_at > v.signed_at && w.price != v.price)
            .map(|w| w.signed_at)
            .chain(self.withdrawn_at)
            .min()
            .unwrap_or(u64::MAX)
    }
}

/// Which side of the thread.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Party {
    /// The buyer.
    Buyer,
    /// The seller.
    Seller,
}

/// Where an offer or counter stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "status")]
pub enum OfferStatus {
    /// Open: it can be accepted, declined, countered or retracted.
    Open,
    /// Its expiry passed while it was open.
    Expired,
    /// A later counter-offer replaced it.
    Superseded {
        /// The counter's message hash.
        by: EnvelopeHash,
    },
    /// The other party declined it.
    Declined {
        /// The decline's message hash.
        by: EnvelopeHash,
    },
    /// Its author withdrew it.
    Retracted {
        /// The retract's message hash.
        by: EnvelopeHash,
    },
    /// The other party accepted it: the thread's deal.
    Accepted {
        /// The accept's message hash.
        by: EnvelopeHash,
    },
    /// Another offer of the thread was accepted while this one was open.
    ClosedByDeal,
    /// The listing changed its price or was withdrawn while this one was open.
    ClosedByListing,
    /// It was accepted, and the seller then voided the deal (before signing it).
    Void {
        /// The void's message hash.
        by: EnvelopeHash,
        /// Why the seller voided it.
        reason: VoidReason,
    },
}

/// An offer or counter of the thread.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct OfferEntry {
    /// Its message hash (what accept, decline and retract name).
    pub hash: EnvelopeHash,
    /// Who made it.
    pub by: Party,
    /// A counter-offer (true) or an offer.
    pub counter: bool,
    /// What it proposes.
    pub terms: OfferTerms,
    /// The listing version it is about.
    pub version: EnvelopeHash,
    /// When it was sent.
    pub sent_at: u64,
    /// Where it stands.
    pub status: OfferStatus,
    /// When the listing closes it (see [`ListingFacts`]); `u64::MAX` if it does not.
    #[serde(skip)]
    closes_at: u64,
}

impl OfferEntry {
    /// Its status at time `t`: an open entry past its expiry or its listing's closing time
    /// reads as expired or closed.
    fn status_at(&self, t: u64) -> OfferStatus {
        // Whichever came first names it: an offer that expired before the price changed
        // reads as expired.
        match self.status {
            OfferStatus::Open if t >= self.terms.expires_at.min(self.closes_at) => {
                if self.terms.expires_at <= self.closes_at {
                    OfferStatus::Expired
                } else {
                    OfferStatus::ClosedByListing
                }
            }
            s => s,
        }
    }
}

impl OfferEntry {
    /// Its status at time `t` as its own expiry alone decides (for an accept the seller
    /// signed, which the listing's closing does not undo).
    fn status_ignoring_listing(&self, t: u64) -> OfferStatus {
        match self.status {
            OfferStatus::Open if t >= self.terms.expires_at => OfferStatus::Expired,
            s => s,
        }
    }
}

/// The deal of a thread: the accepted offer or counter and its accept.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct ThreadDeal {
    /// The accepted offer's or counter's message hash.
    pub offer: EnvelopeHash,
    /// The accept's message hash.
    pub accept: EnvelopeHash,
    /// Who accepted.
    pub accepted_by: Party,
    /// The accept's `sent_at`.
    pub accepted_at: u64,
    /// The listing version the accepted offer was about.
    pub version: EnvelopeHash,
    /// The accepted terms.
    pub terms: OfferTerms,
}

/// A deal the seller voided, and how.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct VoidedDeal {
    /// The deal as it was made.
    pub deal: ThreadDeal,
    /// The void's message hash.
    pub by: EnvelopeHash,
    /// Why.
    pub reason: VoidReason,
}

/// Why a move had no effect. Ignored moves stay in the thread (they were delivered and
/// signed); they just do not change its state.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, thiserror::Error)]
#[serde(rename_all = "snake_case", tag = "reason")]
pub enum IgnoreReason {
    /// The message belongs to another thread.
    #[error("the message belongs to another thread")]
    OtherThread,
    /// Another message of the same sender has the same `seq` and a smaller hash.
    #[error("another message of this sender has the same seq")]
    DuplicateSeq,
    /// The thread already has its deal.
    #[error("the negotiation is closed: a deal was made")]
    DealMade,
    /// The listing was withdrawn before the move was sent.
    #[error("the listing was withdrawn")]
    ListingWithdrawn,
    /// Offers are the buyer's; a seller proposes terms with a counter-offer.
    #[error("only the buyer makes offers (the seller counters)")]
    SellerOffer,
    /// The listing version is not known to the caller.
    #[error("the listing version it is about is unknown")]
    UnknownVersion,
    /// The listing version it is about already had its price changed when it was sent.
    #[error("the listing version it is about was replaced by one with another price")]
    StaleVersion,
    /// The listing is free: nothing to negotiate.
    #[error("the listing is free")]
    FreeListing,
    /// The currency is not the listing's.
    #[error("the currency is not the listing's")]
    CurrencyMismatch,
    /// A counter-offer with no open offer or counter of the other party to answer.
    #[error("there is no open offer of the other party to counter")]
    NothingToCounter,
    /// The offer named is not in the thread (or comes later in the canonical order).
    #[error("the offer it names is not in the thread")]
    UnknownOffer,
    /// Accepting or declining one's own offer.
    #[error("it names the sender's own offer (only the other party accepts or declines it)")]
    OwnOffer,
    /// Retracting the other party's offer.
    #[error("it names the other party's offer (only its author retracts it)")]
    NotOwnOffer,
    /// The offer named is no longer open.
    #[error("the offer it names is no longer open")]
    NotOpen {
        /// Its status when the move was sent.
        status: OfferStatus,
    },
    /// A void from the buyer.
    #[error("only the seller voids a deal")]
    NotSeller,
    /// A void when the thread has no deal.
    #[error("the thread has no deal to void")]
    NoDeal,
    /// A void naming another accept than the thread's deal.
    #[error("it names another accept than the thread's deal")]
    OtherDeal,
    /// A void of a deal the seller signed: a signed deal is a promise that stands.
    #[error("the seller signed the deal, so it cannot be voided")]
    SellerSigned,
}

/// A move that had no effect, and why.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct Ignored {
    /// Its message hash.
    pub hash: EnvelopeHash,
    /// Why.
    pub reason: IgnoreReason,
}

/// The state of a thread's negotiation.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct NegotiationState {
    /// Every offer and counter that took effect, in canonical order, with its status at `now`.
    pub offers: Vec<OfferEntry>,
    /// The deal, if an accept took effect and was not voided. There is at most one at a
    /// time, and at most one the seller signed.
    pub deal: Option<ThreadDeal>,
    /// The deals the seller voided, in canonical order.
    pub voided: Vec<VoidedDeal>,
    /// The moves that had no effect, in canonical order.
    pub ignored: Vec<Ignored>,
}

/// One negotiation message, reduced to what the rules read.
#[derive(Clone, Copy)]
struct Step<'a> {
    hash: EnvelopeHash,
    party: Party,
    seq: u64,
    sent_at: u64,
    msg: &'a DirectMessage,
    mv: Move,
}

/// Whether `step`'s move names (accepts, declines, retracts, voids) one of `pending`.
fn names_any(step: &Step<'_>, pending: &[Step<'_>]) -> bool {
    let named = match step.mv {
        Move::Accept { of } | Move::Decline { of } | Move::Retract { of } => of,
        Move::Void { accept, .. } => accept,
        Move::Offer(_) | Move::Counter(_) => return false,
    };
    pending.iter().any(|p| p.hash == named)
}

impl NegotiationState {
    /// The state of the thread of `parties` from its verified messages (in any order; text
    /// messages and duplicates are skipped; the seller's deal signatures only say which deals
    /// it can no longer void), the listing's facts, at time `now` (which only labels open
    /// offers past their expiry or closing time).
    pub fn compute<'a>(
        parties: &ThreadParties,
        facts: &ListingFacts<'_>,
        now: u64,
        messages: impl IntoIterator<Item = &'a Verified<DirectMessage>>,
    ) -> NegotiationState {
        let mut state = NegotiationState::default();
        let mut steps: Vec<Step<'a>> = Vec::new();
        let mut seller_signed = HashSet::new();
        for v in messages {
            let msg = v.payload();
            let mv = match msg.body {
                MessageBody::Negotiation(mv) => mv,
                MessageBody::DealSignature(sig)
                    if v.signer() == parties.seller && msg.thread == parties.thread =>
                {
                    seller_signed.insert(sig.accept);
                    continue;
                }
                _ => continue,
            };
            let party = match parties.party(&v.signer()) {
                Some(p) if msg.thread == parties.thread => p,
                _ => {
                    state.ignore(v.hash(), IgnoreReason::OtherThread);
                    continue;
                }
            };
            steps.push(Step {
                hash: v.hash(),
                party,
                seq: msg.seq,
                sent_at: msg.sent_at,
                msg,
                mv,
            });
        }
        // Per sender by (seq, hash): buyer's first, then seller's, each ascending.
        steps.sort_unstable_by(|a, b| {
            (a.party == Party::Seller, a.seq, a.hash).cmp(&(
                b.party == Party::Seller,
                b.seq,
                b.hash,
            ))
        });
        steps.dedup_by(|later, earlier| later.hash == earlier.hash);
        let split = steps.partition_point(|s| s.party == Party::Buyer);
        let (buyer, seller) = steps.split_at(split);
        let (mut i, mut j) = (0, 0);
        let mut last_seq: [Option<u64>; 2] = [None, None];
        while i < buyer.len() || j < seller.len() {
            let take_buyer = match (buyer.get(i), seller.get(j)) {
                (Some(b), Some(s)) => match b.sent_at.cmp(&s.sent_at) {
                    Ordering::Less => true,
                    Ordering::Greater => false,
                    // A tie: the buyer's first, unless its move names a message of the
                    // seller's not yet placed (an accept of a counter sent in the same
                    // second) while the seller's does not name one of the buyer's: an answer
                    // comes after what it answers, with no need to wait for the next second.
                    Ordering::Equal => !names_any(b, &seller[j..]) || names_any(s, &buyer[i..]),
                },
                (Some(_), None) => true,
                _ => false,
            };
            let step = if take_buyer {
                i += 1;
                &buyer[i - 1]
            } else {
                j += 1;
                &seller[j - 1]
            };
            let last = &mut last_seq[step.party as usize];
            if *last == Some(step.seq) {
                state.ignore(step.hash, IgnoreReason::DuplicateSeq);
                continue;
            }
            *last = Some(step.seq);
            if let Err(reason) = state.apply(facts, &seller_signed, step) {
                state.ignore(step.hash, reason);
            }
        }
        for entry in &mut state.offers {
            entry.status = entry.status_at(now);
        }
        state
    }

    /// The offers and counters open at `now` (as computed).
    pub fn open(&self) -> impl Iterator<Item = &OfferEntry> {
        self.offers.iter().filter(|e| e.status == OfferStatus::Open)
    }

    fn ignore(&mut self, hash: EnvelopeHash, reason: IgnoreReason) {
        self.ignored.push(Ignored { hash, reason });
    }

    /// Applies one move at its `sent_at`, or says why it has no effect.
    fn apply(
        &mut self,
        facts: &ListingFacts<'_>,
        seller_signed: &HashSet<EnvelopeHash>,
        step: &Step<'_>,
    ) -> Result<(), IgnoreReason> {
        let t = step.sent_at;
        // Before the deal and withdrawal rules: a void answers a deal, and the listing is
        // typically withdrawn (sold) by the very deal that took the stock.
        if let Move::Void { accept, reason } = step.mv {
            return self.void(seller_signed, step, accept, reason);
        }
        if self.deal.is_some() {
            return Err(IgnoreReason::DealMade);
        }
        // An accept the seller signed stands even if the listing closed at or after it was
        // sent: the seller's own signature says it honours the deal, and the deal that takes
        // the last unit withdraws the listing (as sold) within the same second, or, when the
        // buyer dated its accept a second after the seller's counter, even "before" it.
        let signed_accept =
            matches!(step.mv, Move::Accept { .. }) && seller_signed.contains(&step.hash);
        if !signed_accept && facts.withdrawn_at.is_some_and(|w| w <= t) {
            return Err(IgnoreReason::ListingWithdrawn);
        }
        match step.mv {
            Move::Offer(terms) | Move::Counter(terms) => {
                let counter = matches!(step.mv, Move::Counter(_));
                if !counter && step.party == Party::Seller {
                    return Err(IgnoreReason::SellerOffer);
                }
                let version = facts
                    .version(&step.msg.about.version)
                    .ok_or(IgnoreReason::UnknownVersion)?;
                let closes_at = facts.closes_at(version);
                if closes_at <= t {
                    return Err(IgnoreReason::StaleVersion);
                }
                match version.price {
                    Price::Free => return Err(IgnoreReason::FreeListing),
                    Price::Fixed { currency, .. } if currency != terms.currency => {
                        return Err(IgnoreReason::CurrencyMismatch)
                    }
                    Price::Fixed { .. } => {}
                }
                if counter {
                    let answers = self
                        .offers
                        .iter()
                        .any(|e| e.by != step.party && e.status_at(t) == OfferStatus::Open);
                    if !answers {
                        return Err(IgnoreReason::NothingToCounter);
                    }
                    for e in &mut self.offers {
                        if e.status_at(t) == OfferStatus::Open {
                            e.status = OfferStatus::Superseded { by: step.hash };
                        }
                    }
                }
                self.offers.push(OfferEntry {
                    hash: step.hash,
                    by: step.party,
                    counter,
                    terms,
                    version: version.hash,
                    sent_at: t,
                    status: OfferStatus::Open,
                    closes_at,
                });
            }
            Move::Accept { of } | Move::Decline { of } | Move::Retract { of } => {
                let retract = matches!(step.mv, Move::Retract { .. });
                let target = self
                    .offers
                    .iter_mut()
                    .find(|e| e.hash == of)
                    .ok_or(IgnoreReason::UnknownOffer)?;
                match (retract, target.by == step.party) {
                    (false, true) => return Err(IgnoreReason::OwnOffer),
                    (true, false) => return Err(IgnoreReason::NotOwnOffer),
                    _ => {}
                }
                let status = if signed_accept {
                    target.status_ignoring_listing(t)
                } else {
                    target.status_at(t)
                };
                if status != OfferStatus::Open {
                    return Err(IgnoreReason::NotOpen { status });
                }
                let by = step.hash;
                target.status = match step.mv {
                    Move::Accept { .. } => OfferStatus::Accepted { by },
                    Move::Decline { .. } => OfferStatus::Declined { by },
                    _ => OfferStatus::Retracted { by },
                };
                if let Move::Accept { .. } = step.mv {
                    self.deal = Some(ThreadDeal {
                        offer: target.hash,
                        accept: step.hash,
                        accepted_by: step.party,
                        accepted_at: t,
                        version: target.version,
                        terms: target.terms,
                    });
                    for e in &mut self.offers {
                        if e.status_at(t) == OfferStatus::Open {
                            e.status = OfferStatus::ClosedByDeal;
                        }
                    }
                }
            }
            // Applied before the deal rule, in `void`.
            Move::Void { .. } => {}
        }
        Ok(())
    }

    /// The seller voids the thread's deal: its offer reads as void, and the thread has no
    /// deal (offers closed by the deal stay closed; the parties negotiate again with new ones).
    fn void(
        &mut self,
        seller_signed: &HashSet<EnvelopeHash>,
        step: &Step<'_>,
        accept: EnvelopeHash,
        reason: VoidReason,
    ) -> Result<(), IgnoreReason> {
        if step.party != Party::Seller {
            return Err(IgnoreReason::NotSeller);
        }
        let deal = self.deal.ok_or(IgnoreReason::NoDeal)?;
        if deal.accept != accept {
            return Err(IgnoreReason::OtherDeal);
        }
        if seller_signed.contains(&accept) {
            return Err(IgnoreReason::SellerSigned);
        }
        if let Some(e) = self.offers.iter_mut().find(|e| e.hash == deal.offer) {
            e.status = OfferStatus::Void {
                by: step.hash,
                reason,
            };
        }
        self.deal = None;
        self.voided.push(VoidedDeal {
            deal,
            by: step.hash,
            reason,
        });
        Ok(())
    }
}
