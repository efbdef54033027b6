//! What the node does when a thread changes: the seller's node judges arriving offers (limits,
//! the asking price, its user's auto-accept and auto-decline prices) and confirms accepted
//! deals against its stock; the buyer's node answers the seller's signature with its own.
//!
//! Everything here is computed from the thread's stored messages and the deal store, and
//! checks what was already done before doing it (a signature already sent, a deal already
//! recorded), so reacting to a thread twice (an event and the catch-up scan, a replayed accept)
//! does nothing the second time.

use swapmeet_protocol::negotiation::{
    IgnoreReason, OfferEntry, OfferStatus, Party, ThreadDeal, VoidReason,
};
use swapmeet_protocol::{
    DealReceipt, DealSignature, DealTerms, EnvelopeHash, MessageBody, Move, Price, Signature,
    ThreadId,
};

use super::deals::{DealRecord, DealState};
use super::negotiate::Loaded;
use super::{Market, MarketError, MarketEvent};
use crate::messaging::Role;

/// Prefix of the text by which the seller's node sends the pickup place.
pub const PICKUP_PREFIX: &str = "Pickup: ";

impl Market {
    /// Looks at one thread and does what its state asks of this node. Idempotent.
    pub fn react(&self, thread: &ThreadId) -> Result<(), MarketError> {
        let _decide = self.lock_decide();
        self.react_locked(thread)
    }

    /// Reacts to every thread (after a start, or when events were missed). Deals whose stock
    /// change a crash cut short are finished first, so the stock every other decision reads is
    /// right.
    pub fn react_all(&self) -> Result<(), MarketError> {
        {
            let _decide = self.lock_decide();
            for rec in self.deals()? {
                if rec.role == Role::Seller && !rec.stock_applied && rec.state != DealState::SoldOut
                {
                    self.react_locked(&rec.thread)?;
                }
            }
        }
        for head in self.inner.messenger.thread_heads()? {
            if let Err(e) = self.react(&head.thread) {
                tracing::warn!(thread = %head.thread, error = %e, "reacting to a negotiation failed");
            }
        }
        Ok(())
    }

    /// [`Market::react`] with the decision lock held.
    pub(crate) fn react_locked(&self, thread: &ThreadId) -> Result<(), MarketError> {
        let l = self.load(thread, self.inner.engine.now())?;
        let has_moves = l
            .messages
            .iter()
            .any(|m| !matches!(m.payload().body, MessageBody::Text(_)));
        if !has_moves {
            return Ok(());
        }
        self.emit(MarketEvent::Negotiation {
            thread: *thread,
            listing: l.head.listing,
        });
        match l.head.role {
            Role::Seller => self.react_seller(&l),
            Role::Buyer => self.react_buyer(&l),
        }
    }

    fn react_seller(&self, l: &Loaded) -> Result<(), MarketError> {
        self.void_late_accepts(l)?;
        if let Some(deal) = &l.state.deal {
            return match self.deal_of_accept(&deal.accept)? {
                Some(rec) => self.complete_seller(l, rec),
                None => self.confirm_deal(l, deal),
            };
        }
        self.judge_offers(l)
    }

    /// The seller's rules for the buyer's open offers and counters: over the limits, above the
    /// asking price, more than is left, or at or below the auto-decline price: declined; at or
    /// above the auto-accept price: accepted (stock first). The first accepted ends the round
    /// (a thread has one deal).
    fn judge_offers(&self, l: &Loaded) -> Result<(), MarketError> {
        let theirs: Vec<OfferEntry> = l
            .state
            .open()
            .filter(|e| e.by == Party::Buyer)
            .copied()
            .collect();
        if theirs.is_empty() {
            return Ok(());
        }
        let listing = l.head.listing;
        let settings = self.settings(&listing)?;
        let available = self.available(&listing)?.unwrap_or(0);
        let has_variants = self
            .inner
            .engine
            .get(&listing)?
            .is_some_and(|r| r.summary.variants > 0);
        let asking = match l.latest_version().map(|(_, p)| p) {
            Some(Price::Fixed { amount_minor, .. }) => Some(amount_minor),
            _ => None,
        };
        let cfg = self.inner.config.clone();
        let (overall, here) = self.open_offers_of_buyer(&l.head.other, &listing, l.now)?;
        let elsewhere = overall - here;
        let mut kept = 0usize;
        for e in theirs {
            let t = e.terms;
            let per_item = |p: u64| p.saturating_mul(u64::from(t.quantity));
            let refusal = if has_variants {
                Some(
                    "the listing has variants, which take no offers (ask which one by message)"
                        .to_string(),
                )
            } else if available == 0 {
                Some("the listing is sold out or no longer listed".to_string())
            } else if t.quantity > available {
                Some(format!(
                    "only {available} left, the offer is for {}",
                    t.quantity
                ))
            } else if asking.is_some_and(|a| t.amount_minor > per_item(a)) {
                Some("the offer is above the asking price".to_string())
            } else if kept >= cfg.max_open_offers_per_listing {
                Some(format!(
                    "at most {} open offers per buyer on one listing",
                    cfg.max_open_offers_per_listing
                ))
            } else if elsewhere + kept >= cfg.max_open_offers_per_buyer {
                Some(format!(
                    "at most {} open offers per buyer",
                    cfg.max_open_offers_per_buyer
                ))
            } else if settings
                .auto_decline_minor
                .is_some_and(|d| t.amount_minor <= per_item(d))
            {
                Some("the offer is below what the seller accepts".to_string())
            } else {
                None
            };
            if let Some(why) = refusal {
                self.auto_decline(l, &e, &why)?;
                continue;
            }
            if settings
                .auto_accept_minor
                .is_some_and(|a| t.amount_minor >= per_item(a))
            {
                return self.seller_accept(l, &e);
            }
            kept += 1;
        }
        Ok(())
    }

    fn auto_decline(&self, l: &Loaded, e: &OfferEntry, why: &str) -> Result<(), MarketError> {
        let sent_at = l.next_sent_at();
        let thread = l.head.thread;
        self.inner.messenger.reply_with(
            thread,
            None,
            MessageBody::Text(format!("Declined automatically: {why}.")),
            sent_at,
        )?;
        self.inner.messenger.reply_with(
            thread,
            None,
            MessageBody::Negotiation(Move::Decline { of: e.hash }),
            sent_at,
        )?;
        tracing::info!(%thread, offer = %e.hash, why, "declined an offer automatically");
        self.emit(MarketEvent::Negotiation {
            thread,
            listing: l.head.listing,
        });
        Ok(())
    }

    /// The seller accepts `e`: stock first, then the accept, then the deal (signed, stored,
    /// the signature and the pickup place sent, the stock taken). The lock is held.
    pub(crate) fn seller_accept(&self, l: &Loaded, e: &OfferEntry) -> Result<(), MarketError> {
        let available = self.available(&l.head.listing)?.unwrap_or(0);
        if e.terms.quantity > available {
            return Err(MarketError::WrongMove(if available == 0 {
                "sold out: the listing has nothing left to sell".to_string()
            } else {
                format!(
                    "only {available} left; the offer is for {}",
                    e.terms.quantity
                )
            }));
        }
        self.inner.messenger.reply_with(
            l.head.thread,
            None,
            MessageBody::Negotiation(Move::Accept { of: e.hash }),
            l.next_sent_at(),
        )?;
        let after = self.load(&l.head.thread, self.inner.engine.now())?;
        let deal = after.state.deal.ok_or_else(|| {
            MarketError::WrongMove(
                "the accept did not take effect (the offer closed meanwhile)".into(),
            )
        })?;
        self.confirm_deal(&after, &deal)
    }

    /// The seller's node confirms a deal it has no record of: enough stock -> sign, record,
    /// send the signature and the pickup place, take the stock; not enough -> void it.
    fn confirm_deal(&self, l: &Loaded, deal: &ThreadDeal) -> Result<(), MarketError> {
        let terms = DealTerms::of_thread(&l.parties, &l.head.about.item_key, deal);
        let available = self.available(&l.head.listing)?.unwrap_or(0);
        if deal.terms.quantity > available {
            return self.void_deal(l, terms);
        }
        let seller_sig = terms.sign(&self.inner.key)?;
        let settings = self.settings(&l.head.listing)?;
        let seq = self
            .inner
            .engine
            .get(&l.head.listing)?
            .map(|r| r.seq)
            .unwrap_or(0);
        let rec = DealRecord {
            id: terms.id(),
            terms,
            role: Role::Seller,
            thread: l.head.thread,
            receipt: None,
            state: DealState::AwaitingBuyer,
            buyer_sig: None,
            seller_sig: Some(seller_sig),
            pickup_at: settings.pickup_at,
            stock_applied: false,
            stock_seq: seq,
            updated_at: l.now,
        };
        self.put_deal(&rec, None)?;
        self.flush()?;
        tracing::info!(deal = %rec.id, thread = %l.head.thread, "confirmed a deal");
        self.complete_seller(l, rec)
    }

    /// Finishes what a seller's deal still needs: its signature and the pickup place sent, the
    /// stock taken, and the buyer's signature, when it arrived, made into the receipt.
    fn complete_seller(&self, l: &Loaded, mut rec: DealRecord) -> Result<(), MarketError> {
        if rec.state == DealState::SoldOut {
            return Ok(());
        }
        let (before, original) = (rec.state, rec.clone());
        let accept = rec.terms.accept;
        let thread = l.head.thread;
        let sent_at = l.next_sent_at();
        // The place first, then the signature: the buyer's receipt usually completes with
        // the place already there (they are separate messages, so not always).
        if let Some(place) = &rec.pickup_at {
            let text = format!("{PICKUP_PREFIX}{place}");
            let sent = l.messages.iter().any(|m| {
                m.signer() == self.me() && m.payload().body == MessageBody::Text(text.clone())
            });
            if !sent {
                self.inner
                    .messenger
                    .reply_with(thread, None, MessageBody::Text(text), sent_at)?;
            }
        }
        if !self.sent_signature(l, &accept) {
            let signature = match rec.seller_sig {
                Some(s) => s,
                None => rec.terms.sign(&self.inner.key)?,
            };
            self.inner.messenger.reply_with(
                thread,
                None,
                MessageBody::DealSignature(DealSignature { accept, signature }),
                sent_at,
            )?;
        }
        if !rec.stock_applied {
            let current = self.inner.engine.get(&rec.listing())?.map(|r| r.seq);
            // Published but not marked (a crash in between): do not take it twice.
            if current.is_none_or(|seq| seq <= rec.stock_seq) {
                self.take_stock(
                    &rec.listing(),
                    rec.terms.quantity,
                    &thread,
                    rec.terms.accepted_at,
                )?;
            }
            rec.stock_applied = true;
        }
        if rec.buyer_sig.is_none() {
            rec.buyer_sig = self.their_signature(l, &rec.terms);
        }
        self.settle(&mut rec)?;
        if rec == original {
            // Nothing new (a text in the thread, a repeated look): nothing to write.
            return Ok(());
        }
        rec.updated_at = rec.updated_at.max(l.now);
        self.put_deal(&rec, Some(before))?;
        self.flush()
    }

    /// Makes the receipt when both signatures are known.
    fn settle(&self, rec: &mut DealRecord) -> Result<(), MarketError> {
        if rec.receipt.is_some() {
            return Ok(());
        }
        if let (Some(b), Some(s)) = (rec.buyer_sig, rec.seller_sig) {
            rec.receipt = Some(DealReceipt::assemble(&rec.terms, b, s)?);
            rec.state = DealState::Confirmed;
            tracing::info!(deal = %rec.id, "deal receipt complete");
        }
        Ok(())
    }

    /// Whether I already sent my signature for the deal of `accept`.
    fn sent_signature(&self, l: &Loaded, accept: &swapmeet_protocol::EnvelopeHash) -> bool {
        l.messages.iter().any(|m| {
            m.signer() == self.me()
                && matches!(&m.payload().body, MessageBody::DealSignature(d) if d.accept == *accept)
        })
    }

    /// The other party's signature over `terms`, if one in the thread verifies.
    fn their_signature(&self, l: &Loaded, terms: &DealTerms) -> Option<Signature> {
        l.messages.iter().find_map(|m| match &m.payload().body {
            MessageBody::DealSignature(d) if m.signer() != self.me() => {
                d.verify(terms, &m.signer()).ok().map(|_| d.signature)
            }
            _ => None,
        })
    }

    fn react_buyer(&self, l: &Loaded) -> Result<(), MarketError> {
        // A deal of mine the seller voided (sold out) is void here too.
        for v in &l.state.voided {
            if let Some(mut rec) = self.deal_of_accept(&v.deal.accept)? {
                if rec.state != DealState::SoldOut && rec.state != DealState::Confirmed {
                    let before = rec.state;
                    rec.state = DealState::SoldOut;
                    rec.updated_at = rec.updated_at.max(l.now);
                    self.put_deal(&rec, Some(before))?;
                    self.flush()?;
                }
            }
        }
        // An accept of mine that did not take effect (the seller retracted its counter, sold
        // out, before my accept reached it): the deal I signed for never was.
        for i in &l.state.ignored {
            let Some(mut rec) = self.deal_of_accept(&i.hash)? else {
                continue;
            };
            if rec.thread == l.head.thread && rec.state == DealState::AwaitingSeller {
                rec.state = DealState::SoldOut;
                rec.updated_at = rec.updated_at.max(l.now);
                self.put_deal(&rec, Some(DealState::AwaitingSeller))?;
                self.flush()?;
            }
        }
        let Some(deal) = &l.state.deal else {
            return Ok(());
        };
        let terms = DealTerms::of_thread(&l.parties, &l.head.about.item_key, deal);
        let seller_sig = self.their_signature(l, &terms);
        let existing = self.deal_of_accept(&deal.accept)?;
        let before = existing.as_ref().map(|r| r.state);
        let mut rec = match existing {
            Some(rec) => rec,
            // The seller's accept: sign once its signature is here (it confirmed its stock).
            None if deal.accepted_by == Party::Seller && seller_sig.is_none() => return Ok(()),
            None => DealRecord {
                id: terms.id(),
                buyer_sig: Some(terms.sign(&self.inner.key)?),
                terms,
                role: Role::Buyer,
                thread: l.head.thread,
                receipt: None,
                state: DealState::AwaitingSeller,
                seller_sig: None,
                pickup_at: None,
                stock_applied: false,
                stock_seq: 0,
                updated_at: l.now,
            },
        };
        if rec.state == DealState::SoldOut {
            return Ok(());
        }
        if rec.seller_sig.is_none() {
            rec.seller_sig = seller_sig;
        }
        if rec.pickup_at.is_none() {
            rec.pickup_at = l.messages.iter().find_map(|m| match &m.payload().body {
                MessageBody::Text(t)
                    if m.signer() != self.me() && m.payload().sent_at >= rec.terms.accepted_at =>
                {
                    t.strip_prefix(PICKUP_PREFIX).map(str::to_string)
                }
                _ => None,
            });
        }
        self.settle(&mut rec)?;
        // Stored (flushed) before the signature leaves: what I signed, I keep.
        if before.is_none() || before != Some(rec.state) || rec.pickup_at.is_some() {
            rec.updated_at = rec.updated_at.max(l.now);
            self.put_deal(&rec, before)?;
            self.flush()?;
        }
        if !self.sent_signature(l, &rec.terms.accept) {
            if let Some(signature) = rec.buyer_sig {
                self.inner.messenger.reply_with(
                    l.head.thread,
                    None,
                    MessageBody::DealSignature(DealSignature {
                        accept: rec.terms.accept,
                        signature,
                    }),
                    l.answer_sent_at(),
                )?;
            }
        }
        Ok(())
    }

    /// The seller's node has no stock for a deal a buyer's accept made: it records the deal as
    /// sold out and voids it in the thread (a void body, so both nodes' state machines clear
    /// the deal and the thread can negotiate again), with a sentence for the buyer.
    fn void_deal(&self, l: &Loaded, terms: DealTerms) -> Result<(), MarketError> {
        let rec = DealRecord {
            id: terms.id(),
            terms,
            role: Role::Seller,
            thread: l.head.thread,
            receipt: None,
            state: DealState::SoldOut,
            buyer_sig: None,
            seller_sig: None,
            pickup_at: None,
            stock_applied: false,
            stock_seq: 0,
            updated_at: l.now,
        };
        self.put_deal(&rec, None)?;
        self.flush()?;
        self.send_void(l, &rec.terms.accept)?;
        tracing::info!(deal = %rec.id, thread = %l.head.thread, "voided a deal: sold out");
        Ok(())
    }

    /// Sends the void of the accept `accept` (sold out), unless it was sent already.
    fn send_void(&self, l: &Loaded, accept: &EnvelopeHash) -> Result<(), MarketError> {
        let sent = l.messages.iter().any(|m| {
            m.signer() == self.me()
                && matches!(m.payload().body, MessageBody::Negotiation(Move::Void { accept: a, .. }) if a == *accept)
        });
        if sent {
            return Ok(());
        }
        let sent_at = l.next_sent_at();
        self.inner.messenger.reply_with(
            l.head.thread,
            None,
            MessageBody::Negotiation(Move::Void {
                accept: *accept,
                reason: VoidReason::SoldOut,
            }),
            sent_at,
        )?;
        self.inner.messenger.reply_with(
            l.head.thread,
            None,
            MessageBody::Text(
                "Sold out: the last one went to another buyer, so this deal is void.".into(),
            ),
            sent_at,
        )?;
        Ok(())
    }

    /// The seller's answer to a buyer's accept that came too late to count here (sent at or
    /// after the withdrawal that sold the listing out): the buyer's node may not know of the
    /// withdrawal yet and hold it as a deal, so it is voided there too. In the seller's own
    /// state the void has no deal to clear and changes nothing.
    fn void_late_accepts(&self, l: &Loaded) -> Result<(), MarketError> {
        let sold = self
            .inner
            .engine
            .get(&l.head.listing)?
            .is_some_and(|r| r.summary.reason.as_deref() == Some("sold"));
        if !sold {
            return Ok(());
        }
        for i in &l.state.ignored {
            let late = matches!(
                i.reason,
                IgnoreReason::ListingWithdrawn
                    | IgnoreReason::NotOpen {
                        status: OfferStatus::ClosedByListing
                    }
            );
            if !late {
                continue;
            }
            let is_buyer_accept = l.messages.iter().any(|m| {
                m.hash() == i.hash
                    && m.signer() == l.parties.buyer
                    && matches!(
                        m.payload().body,
                        MessageBody::Negotiation(Move::Accept { .. })
                    )
            });
            if is_buyer_accept {
                self.send_void(l, &i.hash)?;
            }
        }
        Ok(())
    }
}
