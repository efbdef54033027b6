//! The listing versions the market has seen, for the state machine's [`ListingFacts`].
//!
//! The store keeps only a listing's newest version, but a negotiation's moves name the version
//! their sender saw: an offer on version 3 must still be judged after the seller published
//! version 4 (the same price, one item fewer). So the market remembers every version of a
//! listing it negotiates on (its hash, when it was signed, its price) in [`super::TREE_STATE`]:
//! `v` + listing id + version hash, and the withdrawal time under `w` + listing id.

use serde::{Deserialize, Serialize};
use swapmeet_protocol::negotiation::{ListingFacts, ListingVersion};
use swapmeet_protocol::{EnvelopeHash, ListingId, Price, Record, SignedEnvelope, Verified};

use super::{corrupt, sled_err, Market, MarketError, TREE_STATE};
use crate::events::{Event, Source};

const VERSION: u8 = b'v';
const WITHDRAWN: u8 = b'w';

#[derive(Serialize, Deserialize)]
struct StoredVersion {
    signed_at: u64,
    price: Price,
}

fn versions_prefix(listing: &ListingId) -> Vec<u8> {
    let mut k = Vec::with_capacity(49);
    k.push(VERSION);
    k.extend_from_slice(listing.as_bytes());
    k
}

fn withdrawn_key(listing: &ListingId) -> Vec<u8> {
    let mut k = Vec::with_capacity(17);
    k.push(WITHDRAWN);
    k.extend_from_slice(listing.as_bytes());
    k
}

/// What the market knows of a listing: its versions and withdrawal (owned form of
/// [`ListingFacts`]).
#[derive(Clone, Debug, Default)]
pub(crate) struct KnownFacts {
    pub versions: Vec<ListingVersion>,
    pub withdrawn_at: Option<u64>,
}

impl KnownFacts {
    pub fn facts(&self) -> ListingFacts<'_> {
        ListingFacts {
            versions: &self.versions,
            withdrawn_at: self.withdrawn_at,
        }
    }
}

impl Market {
    /// Remembers a verified listing version or withdrawal.
    pub(crate) fn remember(&self, v: &Verified<Record>) -> Result<(), MarketError> {
        let id = v.listing_id();
        match v.payload() {
            Record::Listing(l) => {
                let mut k = versions_prefix(&id);
                k.extend_from_slice(&v.hash().0);
                let known = self
                    .inner
                    .state
                    .contains_key(&k)
                    .map_err(sled_err("reading listing versions"))?;
                if known {
                    return Ok(());
                }
                let value = serde_json::to_vec(&StoredVersion {
                    signed_at: l.signed_at,
                    price: l.price,
                })
                .map_err(|e| corrupt(TREE_STATE, e))?;
                self.inner
                    .state
                    .insert(k, value)
                    .map_err(sled_err("remembering a listing version"))?;
                // A version signed after a withdrawal is a renewal: the listing is back.
                if let Some(w) = self.withdrawn_at(&id)? {
                    if l.signed_at > w {
                        self.inner
                            .state
                            .remove(withdrawn_key(&id))
                            .map_err(sled_err("remembering a renewal"))?;
                    }
                }
            }
            // A wanted post is not for sale: nothing to remember for the market.
            Record::Wanted(_) | Record::BlockList(_) => {}
            Record::Withdrawal(w) => {
                if self.withdrawn_at(&id)? == Some(w.signed_at) {
                    return Ok(());
                }
                self.inner
                    .state
                    .insert(withdrawn_key(&id), &w.signed_at.to_be_bytes())
                    .map_err(sled_err("remembering a withdrawal"))?;
            }
        }
        Ok(())
    }

    fn withdrawn_at(&self, id: &ListingId) -> Result<Option<u64>, MarketError> {
        self.inner
            .state
            .get(withdrawn_key(id))
            .map_err(sled_err("reading a withdrawal"))?
            .map(|v| {
                v.as_ref()
                    .try_into()
                    .map(u64::from_be_bytes)
                    .map_err(|_| corrupt(TREE_STATE, "withdrawal time is not 8 bytes"))
            })
            .transpose()
    }

    /// The listing's known versions and withdrawal, with the store's current record
    /// remembered first.
    pub(crate) fn known_facts(&self, id: &ListingId) -> Result<KnownFacts, MarketError> {
        if let Some(v) = self.inner.engine.get_verified(id)? {
            self.remember(&v)?;
        }
        let mut versions = Vec::new();
        for kv in self.inner.state.scan_prefix(versions_prefix(id)) {
            let (k, v) = kv.map_err(sled_err("reading listing versions"))?;
            let hash: [u8; 32] = k
                .get(17..)
                .and_then(|h| h.try_into().ok())
                .ok_or_else(|| corrupt(TREE_STATE, "listing version key"))?;
            let s: StoredVersion = serde_json::from_slice(&v)
                .map_err(|e| corrupt(TREE_STATE, format!("listing version: {e}")))?;
            versions.push(ListingVersion {
                hash: EnvelopeHash(hash),
                signed_at: s.signed_at,
                price: s.price,
            });
        }
        Ok(KnownFacts {
            versions,
            withdrawn_at: self.withdrawn_at(id)?,
        })
    }

    /// A listing change the engine stored: remembered when it is mine or I negotiate on it.
    pub(crate) fn on_listing_event(&self, event: &Event) {
        let relevant = matches!(event.source, Source::Local | Source::Bridge)
            || matches!(self.inner.messenger.thread_about(&event.id), Ok(Some(_)))
            || self.has_threads_as_seller(&event.id);
        if !relevant {
            return;
        }
        let verified =
            SignedEnvelope::decode(&event.envelope).and_then(|e| e.verify(self.inner.engine.now()));
        match verified {
            Ok(v) => {
                if let Err(e) = self.remember(&v) {
                    tracing::warn!(listing = %event.id, error = %e, "remembering a listing version failed");
                }
                // A price change or a withdrawal closes open offers: count them again.
                if let Ok(threads) = self.threads_about(&event.id) {
                    let now = self.inner.engine.now();
                    for t in threads {
                        if let Err(e) = self.load(&t, now) {
                            tracing::warn!(thread = %t, error = %e, "recounting open offers failed");
                        }
                    }
                }
            }
            Err(e) => {
                tracing::debug!(listing = %event.id, error = %e, "listing event not verifiable now")
            }
        }
    }

    fn has_threads_as_seller(&self, id: &ListingId) -> bool {
        self.threads_about(id).is_ok_and(|t| !t.is_empty())
    }
}
