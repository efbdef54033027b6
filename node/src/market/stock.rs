//! The seller's stock: the quantity of its listing's published version is the count of what is
//! left. A confirmed deal publishes the next version with the quantity reduced, or, when it
//! reaches zero, declines every other open offer on the listing and withdraws it as sold (the
//! withdrawal signed a second after the accept and the declines, which the negotiation rules
//! would otherwise ignore).
//!
//! Confirming is atomic because everything that reads or changes the stock runs under the
//! market's single writer ([`Market::lock_decide`]): the check of the quantity, the deal record
//! and the publication of the reduced quantity happen with no other decision in between, so
//! two buyers claiming the last unit get exactly one deal.
//!
//! Crash safety: the deal record (with `stock_applied: false`) is flushed before the new
//! version is published, and marked applied after; the catch-up scan after a restart finishes
//! a deal whose stock change a crash cut short. A crash after the publication and before the
//! mark reduces the quantity twice: the seller then has one more to relist, never one more to
//! sell than it has.

use swapmeet_protocol::negotiation::{OfferStatus, Party};
use swapmeet_protocol::{ListingId, MessageBody, Move, Record, ThreadId, WithdrawReason};

use super::{Market, MarketError};
use crate::authoring::ListingDraft;
use crate::store::RecordKind;

impl Market {
    /// How many items of my listing are left to sell now: 0 when it is withdrawn or expired,
    /// `None` when this node does not have it.
    pub(crate) fn available(&self, listing: &ListingId) -> Result<Option<u32>, MarketError> {
        let now = self.inner.engine.now();
        Ok(self.inner.engine.get(listing)?.map(|rec| {
            if rec.kind == RecordKind::Withdrawal || rec.expires_at <= now {
                0
            } else {
                rec.summary.quantity.unwrap_or(1)
            }
        }))
    }

    /// Takes `quantity` off my listing: publishes the reduced quantity, or at zero declines the
    /// other open offers (every thread but `deal_thread`) and withdraws the listing as sold.
    /// The caller holds the decision lock.
    pub(crate) fn take_stock(
        &self,
        listing: &ListingId,
        quantity: u32,
        deal_thread: &ThreadId,
        accepted_at: u64,
    ) -> Result<(), MarketError> {
        let Some(current) = self.inner.engine.get_verified(listing)? else {
            return Ok(());
        };
        let Record::Listing(l) = current.payload() else {
            // Already withdrawn: nothing left to take.
            return Ok(());
        };
        if l.quantity > quantity {
            let draft = ListingDraft {
                quantity: Some(l.quantity - quantity),
                ..ListingDraft::default()
            };
            self.inner.author.update(listing, &draft)?;
            return Ok(());
        }
        // Sold out. The declines go first: moves sent after the withdrawal are ignored by the
        // state machine (the withdrawal closes the offers anyway; a decline says so plainly).
        for thread in self.threads_about(listing)? {
            if thread != *deal_thread {
                self.close_open_offers(&thread, "sold out")?;
            }
        }
        // Signed after the accept (the rules ignore moves at or after a withdrawal, so a
        // withdrawal in the accept's second would undo the sale), and after the declines above.
        let not_before = accepted_at.max(self.inner.engine.now()).saturating_add(1);
        self.inner
            .author
            .withdraw_not_before(listing, WithdrawReason::Sold, not_before)?;
        Ok(())
    }

    /// Declines the buyer's open offers and retracts my open counters in `thread` (seller).
    pub(crate) fn close_open_offers(
        &self,
        thread: &ThreadId,
        why: &str,
    ) -> Result<(), MarketError> {
        let l = self.load(thread, self.inner.engine.now())?;
        if l.state.deal.is_some() {
            return Ok(());
        }
        let open: Vec<_> = l
            .state
            .offers
            .iter()
            .filter(|e| e.status == OfferStatus::Open)
            .copied()
            .collect();
        if open.is_empty() {
            return Ok(());
        }
        let sent_at = l.next_sent_at();
        self.inner.messenger.reply_with(
            *thread,
            None,
            MessageBody::Text(format!("Declined automatically: {why}.")),
            sent_at,
        )?;
        for e in open {
            let mv = if e.by == Party::Seller {
                Move::Retract { of: e.hash }
            } else {
                Move::Decline { of: e.hash }
            };
            self.inner.messenger.reply_with(
                *thread,
                None,
                MessageBody::Negotiation(mv),
                sent_at,
            )?;
        }
        self.emit(super::MarketEvent::Negotiation {
            thread: *thread,
            listing: l.head.listing,
        });
        Ok(())
    }
}
