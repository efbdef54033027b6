//! The open-offer limits: how many offers a buyer has open, per listing and overall, without
//! computing every thread's state on every move.
//!
//! An index in [`super::TREE_STATE`], `o` + buyer key + thread id -> (open offers of the buyer
//! in the thread, the earliest time one of them expires), is rewritten each time the market
//! computes a thread's state ([`Market::load`]). An entry whose earliest expiry has passed is
//! stale and its thread is computed again when counted; a listing's price change or withdrawal
//! (which closes offers) makes the market compute its threads again
//! ([`Market::on_listing_event`]). So counting is one prefix scan over the buyer's threads
//! with open offers, however many threads the node has.

use swapmeet_protocol::negotiation::Party;
use swapmeet_protocol::{ListingId, NegotiationState, PublicKey, ThreadId};

use super::{corrupt, sled_err, Market, MarketError, TREE_STATE};

const OPEN: u8 = b'o';

fn prefix(buyer: &PublicKey) -> Vec<u8> {
    let mut k = Vec::with_capacity(65);
    k.push(OPEN);
    k.extend_from_slice(buyer.as_bytes());
    k
}

fn key(buyer: &PublicKey, thread: &ThreadId) -> Vec<u8> {
    let mut k = prefix(buyer);
    k.extend_from_slice(thread.as_bytes());
    k
}

fn encode(count: u32, next_expiry: u64) -> [u8; 12] {
    let mut v = [0u8; 12];
    v[..4].copy_from_slice(&count.to_be_bytes());
    v[4..].copy_from_slice(&next_expiry.to_be_bytes());
    v
}

fn decode(v: &[u8]) -> Result<(u32, u64), MarketError> {
    let bad = || corrupt(TREE_STATE, "open-offer index value is not 12 bytes");
    let count = v
        .get(..4)
        .and_then(|b| b.try_into().ok())
        .map(u32::from_be_bytes)
        .ok_or_else(bad)?;
    let next = v
        .get(4..12)
        .and_then(|b| b.try_into().ok())
        .map(u64::from_be_bytes)
        .ok_or_else(bad)?;
    Ok((count, next))
}

impl Market {
    /// Records the buyer's open offers of a thread as just computed (written only when they
    /// changed; not flushed: the index is rebuilt from the threads whenever it is stale).
    pub(crate) fn index_open(
        &self,
        buyer: &PublicKey,
        thread: &ThreadId,
        state: &NegotiationState,
    ) -> Result<(), MarketError> {
        let open: Vec<u64> = state
            .open()
            .filter(|e| e.by == Party::Buyer)
            .map(|e| e.terms.expires_at)
            .collect();
        let k = key(buyer, thread);
        let held = self
            .inner
            .state
            .get(&k)
            .map_err(sled_err("reading the open-offer index"))?;
        if open.is_empty() {
            if held.is_some() {
                self.inner
                    .state
                    .remove(&k)
                    .map_err(sled_err("writing the open-offer index"))?;
            }
            return Ok(());
        }
        let count = u32::try_from(open.len()).unwrap_or(u32::MAX);
        let next = open.iter().copied().min().unwrap_or(u64::MAX);
        let value = encode(count, next);
        if held.as_deref() != Some(&value[..]) {
            self.inner
                .state
                .insert(k, &value[..])
                .map_err(sled_err("writing the open-offer index"))?;
        }
        Ok(())
    }

    /// The open offers of `buyer` over all threads of this node (as the seller, the buyer's
    /// threads with me; as the buyer, mine), and on `listing`.
    pub(crate) fn open_offers_of_buyer(
        &self,
        buyer: &PublicKey,
        listing: &ListingId,
        now: u64,
    ) -> Result<(usize, usize), MarketError> {
        let here_thread = ThreadId::derive(listing, buyer);
        let mut entries = Vec::new();
        for kv in self.inner.state.scan_prefix(prefix(buyer)) {
            let (k, v) = kv.map_err(sled_err("reading the open-offer index"))?;
            let thread: [u8; 32] = k
                .get(33..)
                .and_then(|t| t.try_into().ok())
                .ok_or_else(|| corrupt(TREE_STATE, "open-offer index key"))?;
            entries.push((ThreadId::from_bytes(thread), decode(&v)?));
        }
        let (mut overall, mut here) = (0usize, 0usize);
        for (thread, (count, next_expiry)) in entries {
            let n = if next_expiry <= now {
                // Stale: one of them expired since; count what is open now.
                match self.load(&thread, now) {
                    Ok(l) => l.state.open().filter(|e| e.by == Party::Buyer).count(),
                    Err(MarketError::NotFound(_)) => 0,
                    Err(e) => return Err(e),
                }
            } else {
                count as usize
            };
            overall += n;
            if thread == here_thread {
                here += n;
            }
        }
        Ok((overall, here))
    }
}
