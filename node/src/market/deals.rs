//! The deal store: one record per deal this node is a party of, keyed by deal id, in
//! [`super::TREE_DEALS`]; and an index from the accept's hash to the deal, in
//! [`super::TREE_STATE`], so a replayed or re-read accept finds the deal it already made.
//!
//! A record is written when this node first takes part in the deal (the seller after
//! confirming its stock, the buyer when it signs), and updated as the other signature arrives
//! (the receipt is then complete) or the seller voids it (sold out). Records are JSON behind a
//! format byte: they are few, small, and worth being readable in a support case.

use serde::{Deserialize, Serialize};
use swapmeet_protocol::{
    DealId, DealReceipt, DealTerms, EnvelopeHash, ListingId, Signature, ThreadId,
};

use super::{corrupt, sled_err, Market, MarketError, MarketEvent, TREE_DEALS};
use crate::messaging::Role;

/// Format byte of a stored deal record.
const DEAL_FORMAT: u8 = 1;
/// Key prefix of the accept index in the state tree: `a` accept hash -> deal id.
const ACCEPT_INDEX: u8 = b'a';
/// Shortest deal id prefix accepted (as for threads: 8 hex digits).
pub const MIN_DEAL_PREFIX: usize = 8;

/// Where a deal stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DealState {
    /// The buyer accepted (and signed); the seller's node has not confirmed it yet.
    AwaitingSeller,
    /// The seller confirmed its stock and signed; the buyer's signature has not arrived.
    AwaitingBuyer,
    /// Both signatures are here: the receipt is complete.
    Confirmed,
    /// The seller had no stock left for it: void, nothing was sold.
    SoldOut,
}

/// A deal as this node keeps it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DealRecord {
    /// SHA-256 of the terms bytes.
    pub id: DealId,
    /// What both parties sign.
    pub terms: DealTerms,
    /// My side.
    pub role: Role,
    /// The thread it was made in.
    pub thread: ThreadId,
    /// Both signatures, once the deal is confirmed.
    pub receipt: Option<DealReceipt>,
    /// Where it stands.
    pub state: DealState,
    /// The buyer's signature, once known.
    pub buyer_sig: Option<Signature>,
    /// The seller's signature, once known.
    pub seller_sig: Option<Signature>,
    /// The exact pickup place: the seller's own setting, or what the seller sent the buyer.
    pub pickup_at: Option<String>,
    /// Seller: whether the listing's quantity was already reduced for this deal (a crash
    /// between storing the deal and publishing the stock change is finished on restart).
    pub stock_applied: bool,
    /// Seller: the listing's version number when the deal was confirmed (a newer one means the
    /// stock change was published).
    pub stock_seq: u64,
    /// When this node last changed the record (unix seconds).
    pub updated_at: u64,
}

impl DealRecord {
    /// The listing.
    pub fn listing(&self) -> ListingId {
        self.terms.listing()
    }

    fn encode(&self) -> Vec<u8> {
        let stored = StoredDeal {
            terms: self.terms.clone(),
            role: self.role,
            thread: self.thread,
            receipt: self.receipt.as_ref().map(|r| hex::encode(r.encode())),
            state: self.state,
            buyer_sig: self.buyer_sig.map(|s| hex::encode(s.to_bytes())),
            seller_sig: self.seller_sig.map(|s| hex::encode(s.to_bytes())),
            pickup_at: self.pickup_at.clone(),
            stock_applied: self.stock_applied,
            stock_seq: self.stock_seq,
            updated_at: self.updated_at,
        };
        let mut out = vec![DEAL_FORMAT];
        // Serializing plain data with string keys cannot fail.
        out.extend(serde_json::to_vec(&stored).unwrap_or_default());
        out
    }

    fn decode(bytes: &[u8]) -> Result<DealRecord, MarketError> {
        let bad = |reason: String| corrupt(TREE_DEALS, reason);
        match bytes.first() {
            Some(&DEAL_FORMAT) => {}
            other => return Err(bad(format!("unknown deal record format {other:?}"))),
        }
        let s: StoredDeal =
            serde_json::from_slice(&bytes[1..]).map_err(|e| bad(format!("deal record: {e}")))?;
        let sig = |h: &Option<String>| -> Result<Option<Signature>, MarketError> {
            h.as_deref()
                .map(|h| {
                    let b: [u8; 64] = hex::decode(h)
                        .ok()
                        .and_then(|v| v.try_into().ok())
                        .ok_or_else(|| bad("a signature is not 64 bytes of hex".into()))?;
                    Ok(Signature::from_bytes(b))
                })
                .transpose()
        };
        let receipt = s
            .receipt
            .as_deref()
            .map(|h| {
                let bytes = hex::decode(h).map_err(|e| bad(format!("receipt: {e}")))?;
                DealReceipt::decode(&bytes).map_err(|e| bad(format!("receipt: {e}")))
            })
            .transpose()?;
        Ok(DealRecord {
            id: s.terms.id(),
            buyer_sig: sig(&s.buyer_sig)?,
            seller_sig: sig(&s.seller_sig)?,
            terms: s.terms,
            role: s.role,
            thread: s.thread,
            receipt,
            state: s.state,
            pickup_at: s.pickup_at,
            stock_applied: s.stock_applied,
            stock_seq: s.stock_seq,
            updated_at: s.updated_at,
        })
    }
}

/// The stored form of a [`DealRecord`].
#[derive(Serialize, Deserialize)]
struct StoredDeal {
    terms: DealTerms,
    role: Role,
    thread: ThreadId,
    receipt: Option<String>,
    state: DealState,
    buyer_sig: Option<String>,
    seller_sig: Option<String>,
    pickup_at: Option<String>,
    stock_applied: bool,
    stock_seq: u64,
    updated_at: u64,
}

fn accept_key(accept: &EnvelopeHash) -> Vec<u8> {
    let mut k = Vec::with_capacity(33);
    k.push(ACCEPT_INDEX);
    k.extend_from_slice(&accept.0);
    k
}

impl Market {
    /// A deal of mine by id.
    pub fn deal(&self, id: &DealId) -> Result<Option<DealRecord>, MarketError> {
        self.inner
            .deals
            .get(id.0)
            .map_err(sled_err("reading a deal"))?
            .map(|v| DealRecord::decode(&v))
            .transpose()
    }

    /// Every deal of mine, the most recently changed first.
    pub fn deals(&self) -> Result<Vec<DealRecord>, MarketError> {
        let mut out = Vec::new();
        for kv in self.inner.deals.iter() {
            let (_, v) = kv.map_err(sled_err("reading deals"))?;
            out.push(DealRecord::decode(&v)?);
        }
        out.sort_by(|a, b| {
            (b.updated_at, b.terms.accepted_at, b.id).cmp(&(
                a.updated_at,
                a.terms.accepted_at,
                a.id,
            ))
        });
        Ok(out)
    }

    /// The deal whose id starts with `prefix` (hex, at least [`MIN_DEAL_PREFIX`] digits, or
    /// the whole id). Unknown: `NotFound`; several: `Invalid` naming how many.
    pub fn resolve_deal(&self, prefix: &str) -> Result<DealRecord, MarketError> {
        let p = prefix.trim().to_ascii_lowercase();
        if p.len() < MIN_DEAL_PREFIX || p.len() > 64 || !p.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(MarketError::invalid(
                "deal",
                format!(
                    "'{prefix}' is not a deal id: give {MIN_DEAL_PREFIX} to 64 hex digits \
                     (`swapmeet deals` lists yours)"
                ),
            ));
        }
        // Whole bytes of the prefix narrow the scan; an odd last digit is checked on the text.
        let whole = hex::decode(&p[..p.len() / 2 * 2]).unwrap_or_default();
        let mut found = Vec::new();
        for kv in self.inner.deals.scan_prefix(&whole) {
            let (k, v) = kv.map_err(sled_err("reading deals"))?;
            if hex::encode(&k).starts_with(&p) {
                found.push(DealRecord::decode(&v)?);
            }
        }
        match found.len() {
            1 => Ok(found.remove(0)),
            0 => Err(MarketError::NotFound(format!(
                "no deal {prefix} on this node; `swapmeet deals` lists yours"
            ))),
            n => Err(MarketError::invalid(
                "deal",
                format!("'{prefix}' names {n} deals: give more digits"),
            )),
        }
    }

    /// The deal made by the accept `accept`, if this node has one.
    pub(crate) fn deal_of_accept(
        &self,
        accept: &EnvelopeHash,
    ) -> Result<Option<DealRecord>, MarketError> {
        let Some(id) = self
            .inner
            .state
            .get(accept_key(accept))
            .map_err(sled_err("reading the accept index"))?
        else {
            return Ok(None);
        };
        let id: [u8; 32] = id
            .as_ref()
            .try_into()
            .map_err(|_| corrupt(super::TREE_STATE, "accept index value is not 32 bytes"))?;
        self.deal(&DealId(id))
    }

    /// Writes a deal record (the accept index first: alone, it names a deal not yet stored,
    /// which reads as no deal) and emits `deal` when its state changed. Not flushed: the
    /// caller flushes before it tells anyone.
    pub(crate) fn put_deal(
        &self,
        rec: &DealRecord,
        before: Option<DealState>,
    ) -> Result<(), MarketError> {
        self.inner
            .state
            .insert(accept_key(&rec.terms.accept), &rec.id.0)
            .map_err(sled_err("writing the accept index"))?;
        self.inner
            .deals
            .insert(rec.id.0, rec.encode())
            .map_err(sled_err("writing a deal"))?;
        if before != Some(rec.state) {
            self.emit(MarketEvent::Deal {
                id: rec.id,
                thread: rec.thread,
                state: rec.state,
            });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use swapmeet_protocol::{Currency, SecretKey};

    #[test]
    fn a_deal_record_reads_back_with_its_receipt() {
        let (s, b) = (
            SecretKey::from_bytes([1; 32]),
            SecretKey::from_bytes([2; 32]),
        );
        let terms = DealTerms {
            seller: s.public(),
            item_key: "bike".into(),
            version: EnvelopeHash([7; 32]),
            buyer: b.public(),
            amount_minor: 20_000,
            currency: Currency::new("EUR").unwrap(),
            quantity: 1,
            accepted_at: 1_800_000_000,
            accept: EnvelopeHash([9; 32]),
        };
        let (bs, ss) = (terms.sign(&b).unwrap(), terms.sign(&s).unwrap());
        let rec = DealRecord {
            id: terms.id(),
            receipt: Some(DealReceipt::assemble(&terms, bs, ss).unwrap()),
            terms,
            role: Role::Seller,
            thread: ThreadId::from_bytes([3; 32]),
            state: DealState::Confirmed,
            buyer_sig: Some(bs),
            seller_sig: Some(ss),
            pickup_at: Some("Hauptstr. 1".into()),
            stock_applied: true,
            stock_seq: 4,
            updated_at: 5,
        };
        assert_eq!(DealRecord::decode(&rec.encode()).unwrap(), rec);
        assert!(DealRecord::decode(&[9, b'{', b'}']).is_err());
    }
}
