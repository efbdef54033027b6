//! Reviews (kind 5): where the node keeps them, how one replaces another, and what they add up
//! to ([`super::reputation`]).
//!
//! Reviews enter through the engine's one ingest path ([`crate::Engine::ingest`] routes kind 5
//! here): each is verified with `verify_review` (its receipt's two signatures, the signer a
//! party, `about` the other party, the clock), then decided against the review the node holds
//! from the same party about the same deal: the later one (`review_replaces`) is kept, so every
//! node keeps the same one.
//!
//! Unlike listings, reviews are kept whatever area the node follows: reputation belongs to a
//! key, not to a place (a seller's deals elsewhere count for its listing here), and a review is
//! small (at most a 1,024-byte receipt, 1,000 characters and a signature) and there are at most
//! two per deal. They do not expire.
//!
//! On disk, one sled tree [`TREE_REVIEWS`]: key = deal id (32 bytes) || signer (32 bytes),
//! value = a head (format byte, about, rating, written_at, envelope hash) followed by the exact
//! envelope bytes. The lookups (by envelope hash for sync, by reviewed key, the reputation
//! table) are kept in memory and rebuilt from the heads when the node starts, without verifying
//! again: only verified reviews are ever written.

use std::collections::{BTreeSet, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, RwLock, RwLockReadGuard, RwLockWriteGuard};

use serde::Serialize;
use swapmeet_protocol::{
    review_replaces, DealId, DealReceipt, EnvelopeHash, ListingId, PublicKey, Review, ReviewError,
    ReviewSummary, SecretKey, SignedEnvelope, Verified,
};
use tokio::sync::broadcast;

use super::reputation::{Reputation, ReputationTable};
use crate::events::Source;
use crate::ingest::IngestOutcome;
use crate::store::StoreError;

/// The tree of reviews: deal id || signer -> head || envelope.
pub const TREE_REVIEWS: &str = "reviews/v1";
/// The format of a stored value's head.
const VALUE_FORMAT: u8 = 1;
/// Format byte, about (32), rating (1), written_at (8), envelope hash (32).
const HEAD_LEN: usize = 1 + 32 + 1 + 8 + 32;
/// Most reviews about one key that one listing call returns (newest first).
pub const MAX_LISTED: usize = 1000;

/// What the node keeps in memory per stored review.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Head {
    about: [u8; 32],
    rating: u8,
    written_at: u64,
    hash: EnvelopeHash,
}

impl Head {
    fn of(v: &Verified<Review>) -> Head {
        Head {
            about: *v.payload().about.as_bytes(),
            rating: v.payload().rating,
            written_at: v.payload().written_at,
            hash: v.hash(),
        }
    }

    fn encode(&self, envelope: &[u8]) -> Vec<u8> {
        let mut out = Vec::with_capacity(HEAD_LEN + envelope.len());
        out.push(VALUE_FORMAT);
        out.extend_from_slice(&self.about);
        out.push(self.rating);
        out.extend_from_slice(&self.written_at.to_be_bytes());
        out.extend_from_slice(&self.hash.0);
        out.extend_from_slice(envelope);
        out
    }

    fn decode(v: &[u8]) -> Result<Head, StoreError> {
        let corrupt = |reason: String| StoreError::Corrupt {
            tree: TREE_REVIEWS,
            reason,
        };
        if v.len() < HEAD_LEN {
            return Err(corrupt(format!("value of {} bytes", v.len())));
        }
        if v[0] != VALUE_FORMAT {
            return Err(corrupt(format!("value format {}", v[0])));
        }
        let mut about = [0u8; 32];
        about.copy_from_slice(&v[1..33]);
        let mut at = [0u8; 8];
        at.copy_from_slice(&v[34..42]);
        let mut hash = [0u8; 32];
        hash.copy_from_slice(&v[42..74]);
        Ok(Head {
            about,
            rating: v[33],
            written_at: u64::from_be_bytes(at),
            hash: EnvelopeHash(hash),
        })
    }
}

/// The key of a review: one per party per deal.
type ReviewKey = ([u8; 32], [u8; 32]);

fn tree_key(k: &ReviewKey) -> [u8; 64] {
    let mut out = [0u8; 64];
    out[..32].copy_from_slice(&k.0);
    out[32..].copy_from_slice(&k.1);
    out
}

fn key_from(bytes: &[u8]) -> Result<ReviewKey, StoreError> {
    if bytes.len() != 64 {
        return Err(StoreError::Corrupt {
            tree: TREE_REVIEWS,
            reason: format!("key of {} bytes", bytes.len()),
        });
    }
    let (mut deal, mut by) = ([0u8; 32], [0u8; 32]);
    deal.copy_from_slice(&bytes[..32]);
    by.copy_from_slice(&bytes[32..]);
    Ok((deal, by))
}

fn sled_err(context: &'static str) -> impl FnOnce(sled::Error) -> StoreError {
    move |source| StoreError::Sled { context, source }
}

/// A review stored or replaced, as the network (to publish it) and the API's event stream
/// (event `review`) see it.
#[derive(Clone, Debug, Serialize)]
pub struct ReviewEvent {
    /// The deal.
    pub deal: DealId,
    /// Who wrote it.
    pub by: PublicKey,
    /// Who is reviewed.
    pub about: PublicKey,
    /// Stars.
    pub rating: u8,
    /// When it was written.
    pub written_at: u64,
    /// Its envelope hash.
    pub hash: EnvelopeHash,
    /// Whether it replaced the same party's earlier review of the deal.
    pub replaced: bool,
    /// Where it came from.
    pub source: Source,
    /// The areas of the deal's listing as this node knows them (gossip topics derive from
    /// them); empty when the node does not hold the listing.
    #[serde(skip)]
    pub areas: Vec<String>,
    /// The signed envelope, for relaying.
    #[serde(skip)]
    pub envelope: Arc<[u8]>,
}

/// A stored review, verified again, with what the API shows.
#[derive(Clone, Debug, Serialize)]
pub struct ShownReview {
    /// Deal, author, subject, rating, text, time.
    #[serde(flatten)]
    pub summary: ReviewSummary,
    /// The listing the deal was about.
    pub listing: ListingId,
    /// The deal's price for the whole quantity, in minor units, and its currency.
    pub amount_minor: u64,
    /// ISO 4217 code.
    pub currency: String,
    /// How many items.
    pub quantity: u32,
    /// Its envelope hash.
    pub hash: EnvelopeHash,
    /// The review's text form (`swapmeet1:` line) for anyone to verify with `swapmeet verify`.
    #[serde(skip)]
    pub envelope: Vec<u8>,
}

#[derive(Default)]
struct State {
    current: HashMap<ReviewKey, Head>,
    by_hash: HashMap<EnvelopeHash, ReviewKey>,
    /// (about, deal, by): the reviews about a key.
    about: BTreeSet<([u8; 32], [u8; 32], [u8; 32])>,
    reputation: ReputationTable,
}

impl State {
    fn link_new(&mut self, k: ReviewKey, head: Head, by: &PublicKey, about: &PublicKey) {
        // A deal is counted once, by its first review: the other party's review of the same
        // deal is keyed (deal, about).
        if !self.current.contains_key(&(k.0, head.about)) {
            self.reputation.add_deal(by, about);
        }
        self.reputation.add_rating(about, head.rating);
        self.by_hash.insert(head.hash, k);
        self.about.insert((head.about, k.0, k.1));
        self.current.insert(k, head);
    }

    fn link_replacing(&mut self, k: ReviewKey, head: Head, old: Head, about: &PublicKey) {
        self.reputation
            .replace_rating(about, old.rating, head.rating);
        self.by_hash.remove(&old.hash);
        self.by_hash.insert(head.hash, k);
        self.current.insert(k, head);
    }
}

/// What happened to one review before the write lock: already held (by hash), or checked.
enum Checked {
    Held(ReviewKey),
    // Boxed: a verified review carries its receipt and text, far larger than a key.
    Verified(Box<Verified<Review>>),
    Rejected(ReviewError),
}

/// The node's reviews. Cheap to clone.
#[derive(Clone)]
pub struct Reviews {
    tree: sled::Tree,
    state: Arc<RwLock<State>>,
    /// Orders writers: a decision and its write are one step.
    write: Arc<Mutex<()>>,
    events: broadcast::Sender<ReviewEvent>,
    /// Moves with every stored review; sync's cached sets compare it (see `Store::generation`).
    generation: Arc<AtomicU64>,
}

impl std::fmt::Debug for Reviews {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Reviews")
            .field("stored", &self.len())
            .finish_non_exhaustive()
    }
}

impl Reviews {
    /// Opens the reviews kept in `tree` and rebuilds the lookups and the reputation table.
    pub fn open(tree: sled::Tree, event_capacity: usize) -> Result<Reviews, StoreError> {
        let mut state = State::default();
        for kv in tree.iter() {
            let (k, v) = kv.map_err(sled_err("reading reviews"))?;
            let key = key_from(&k)?;
            let head = Head::decode(&v)?;
            let bad_key = |what: &str| StoreError::Corrupt {
                tree: TREE_REVIEWS,
                reason: format!("{what} is not a valid key"),
            };
            let by = PublicKey::from_bytes(&key.1).map_err(|_| bad_key("signer"))?;
            let about = PublicKey::from_bytes(&head.about).map_err(|_| bad_key("about"))?;
            state.link_new(key, head, &by, &about);
        }
        let (events, _) = broadcast::channel(event_capacity.max(16));
        Ok(Reviews {
            tree,
            state: Arc::new(RwLock::new(state)),
            write: Arc::new(Mutex::new(())),
            events,
            generation: Arc::new(AtomicU64::new(0)),
        })
    }

    fn read(&self) -> RwLockReadGuard<'_, State> {
        // Plain inserts and removes: a panic elsewhere cannot leave the maps half-changed in a
        // way a reader could trip over.
        self.state.read().unwrap_or_else(|p| p.into_inner())
    }

    fn modify(&self) -> RwLockWriteGuard<'_, State> {
        self.state.write().unwrap_or_else(|p| p.into_inner())
    }

    fn write_lock(&self) -> MutexGuard<'_, ()> {
        self.write.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Verifies, decides and stores reviews; one outcome per envelope, in order. Blocking.
    /// `areas_of` gives the areas of a deal's listing (for the event that publishes it).
    pub(crate) fn ingest(
        &self,
        envelopes: Vec<SignedEnvelope>,
        now: u64,
        source: &Source,
        areas_of: &dyn Fn(&ListingId) -> Vec<String>,
    ) -> Result<Vec<IngestOutcome>, StoreError> {
        // Verified outside the lock (three signatures each). The exact bytes already held
        // were verified when they were stored: gossip brings each review on several topics.
        let checked: Vec<Checked> = envelopes
            .iter()
            .map(|env| {
                if let Some(k) = self.read().by_hash.get(&env.hash()) {
                    return Checked::Held(*k);
                }
                match env.verify_review(now) {
                    Ok(v) => Checked::Verified(Box::new(v)),
                    Err(e) => Checked::Rejected(e),
                }
            })
            .collect();
        let guard = self.write_lock();
        let mut out = Vec::with_capacity(checked.len());
        let mut events = Vec::new();
        for c in checked {
            let v = match c {
                Checked::Rejected(error) => {
                    out.push(IngestOutcome::review_rejected(error));
                    continue;
                }
                Checked::Held(k) => {
                    out.push(held_outcome(k));
                    continue;
                }
                Checked::Verified(v) => *v,
            };
            let deal = v.payload().deal();
            let by = v.signer();
            let about = v.payload().about;
            let k: ReviewKey = (deal.0, *by.as_bytes());
            let head = Head::of(&v);
            let current = self.read().current.get(&k).copied();
            let replaced = match current {
                None => false,
                Some(old) if old.hash == head.hash => {
                    out.push(IngestOutcome::ReviewDuplicate { deal, by });
                    continue;
                }
                Some(old) => {
                    if !self.replaces(&v, &k, now)? {
                        out.push(IngestOutcome::ReviewStale {
                            deal,
                            by,
                            current: old.hash,
                        });
                        continue;
                    }
                    true
                }
            };
            let envelope = v.envelope().as_bytes();
            self.tree
                .insert(tree_key(&k), head.encode(envelope))
                .map_err(sled_err("writing a review"))?;
            {
                let mut s = self.modify();
                match current {
                    Some(old) if replaced => s.link_replacing(k, head, old, &about),
                    _ => s.link_new(k, head, &by, &about),
                }
            }
            self.generation.fetch_add(1, Ordering::AcqRel);
            let listing = v
                .payload()
                .receipt
                .verify()
                .map(|t| t.listing())
                .map_err(|e| StoreError::Corrupt {
                    tree: TREE_REVIEWS,
                    reason: format!("a verified review's receipt: {e}"),
                })?;
            events.push(ReviewEvent {
                deal,
                by,
                about,
                rating: head.rating,
                written_at: head.written_at,
                hash: head.hash,
                replaced,
                source: source.clone(),
                areas: areas_of(&listing),
                envelope: Arc::from(envelope),
            });
            out.push(IngestOutcome::ReviewStored {
                deal,
                by,
                about,
                hash: head.hash,
                replaced,
            });
        }
        // Announced under the lock, so in store order.
        for e in events {
            // No subscribers is fine; a lagging one learns it lagged.
            let _ = self.events.send(e);
        }
        drop(guard);
        Ok(out)
    }

    /// Whether `new` replaces the review stored under `k`, by the protocol's rule
    /// ([`review_replaces`]) against the stored one verified again. A stored review that no
    /// longer verifies (a node clock set far back) is replaced.
    fn replaces(
        &self,
        new: &Verified<Review>,
        k: &ReviewKey,
        now: u64,
    ) -> Result<bool, StoreError> {
        let Some(old) = self.verified(k, now)? else {
            return Ok(true);
        };
        Ok(review_replaces(new, &old))
    }

    fn verified(&self, k: &ReviewKey, now: u64) -> Result<Option<Verified<Review>>, StoreError> {
        let Some(v) = self
            .tree
            .get(tree_key(k))
            .map_err(sled_err("reading a review"))?
        else {
            return Ok(None);
        };
        let bytes = v.get(HEAD_LEN..).unwrap_or_default();
        // Stored reviews were written after `now` minus the clock skew at most; a stored one
        // is checked at the latest of now and its own time so a clock set back does not make
        // it look "from the future".
        let at = Head::decode(&v).map_or(now, |h| now.max(h.written_at));
        Ok(SignedEnvelope::decode(bytes)
            .ok()
            .and_then(|e| e.verify_review(at).ok()))
    }

    /// The figures of a key.
    pub fn reputation(&self, key: &PublicKey) -> Reputation {
        self.read().reputation.get(key)
    }

    /// The keys whose average rating is at least `min` (reviewed at least once).
    pub fn rated_at_least(&self, min: f64) -> Vec<PublicKey> {
        self.read().reputation.keys_rated_at_least(min)
    }

    /// The reviews about a key, newest first, at most `limit`, each verified again. Blocking.
    pub fn about(
        &self,
        key: &PublicKey,
        limit: usize,
        now: u64,
    ) -> Result<Vec<ShownReview>, StoreError> {
        self.about_except(key, limit, now, |_| false)
    }

    /// [`Reviews::about`], leaving out the reviews whose writer `hide` names (the sellers the
    /// user blocked: what they write is not shown). Blocking.
    pub fn about_except(
        &self,
        key: &PublicKey,
        limit: usize,
        now: u64,
        hide: impl Fn(&[u8; 32]) -> bool,
    ) -> Result<Vec<ShownReview>, StoreError> {
        let k = *key.as_bytes();
        let mut keys: Vec<(u64, ReviewKey)> = {
            let s = self.read();
            s.about
                .range((k, [0u8; 32], [0u8; 32])..)
                .take_while(|(a, _, _)| *a == k)
                .filter(|(_, _, by)| !hide(by))
                .filter_map(|(_, deal, by)| {
                    s.current
                        .get(&(*deal, *by))
                        .map(|h| (h.written_at, (*deal, *by)))
                })
                .collect()
        };
        keys.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
        let mut out = Vec::new();
        for (_, rk) in keys.into_iter().take(limit.min(MAX_LISTED)) {
            if let Some(v) = self.verified(&rk, now)? {
                out.push(shown(&v));
            }
        }
        Ok(out)
    }

    /// The review a party wrote about a deal, verified again.
    pub fn by(
        &self,
        deal: &DealId,
        by: &PublicKey,
        now: u64,
    ) -> Result<Option<ShownReview>, StoreError> {
        Ok(self
            .verified(&(deal.0, *by.as_bytes()), now)?
            .map(|v| shown(&v)))
    }

    /// The envelope of a stored review by its hash (sync's fetch).
    pub fn get_by_hash(&self, hash: &EnvelopeHash) -> Result<Option<Vec<u8>>, StoreError> {
        let Some(k) = self.read().by_hash.get(hash).copied() else {
            return Ok(None);
        };
        let Some(v) = self
            .tree
            .get(tree_key(&k))
            .map_err(sled_err("reading a review"))?
        else {
            return Ok(None);
        };
        // Replaced meanwhile: the hash asked for is no longer held.
        if Head::decode(&v)?.hash != *hash {
            return Ok(None);
        }
        Ok(v.get(HEAD_LEN..).map(<[u8]>::to_vec))
    }

    /// Every stored review as (written_at, envelope hash): its members of sync sets.
    pub fn sync_items(&self) -> Vec<(u64, EnvelopeHash)> {
        self.read()
            .current
            .values()
            .map(|h| (h.written_at, h.hash))
            .collect()
    }

    /// A number every stored review changes (for caches in memory, like
    /// [`crate::store::Store::generation`]).
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    /// Reviews stored.
    pub fn len(&self) -> usize {
        self.read().current.len()
    }

    /// Whether no review is stored.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Subscribes to stored reviews.
    pub fn subscribe(&self) -> broadcast::Receiver<ReviewEvent> {
        self.events.subscribe()
    }
}

fn held_outcome(k: ReviewKey) -> IngestOutcome {
    // Both halves were valid keys when the review was stored.
    match (DealId(k.0), PublicKey::from_bytes(&k.1)) {
        (deal, Ok(by)) => IngestOutcome::ReviewDuplicate { deal, by },
        (_, Err(_)) => IngestOutcome::Rejected {
            reason: "internal: a stored review's signer is not a key".into(),
            error: None,
        },
    }
}

fn shown(v: &Verified<Review>) -> ShownReview {
    let r = v.payload();
    // The receipt verified with the review (`verify_review`), so its terms are there.
    let terms = r.receipt.verify().ok();
    ShownReview {
        summary: v.summary(),
        listing: terms
            .map(|t| t.listing())
            .unwrap_or_else(|| ListingId::from_bytes([0; 16])),
        amount_minor: terms.map_or(0, |t| t.amount_minor),
        currency: terms
            .map(|t| t.currency.code().to_string())
            .unwrap_or_default(),
        quantity: terms.map_or(0, |t| t.quantity),
        hash: v.hash(),
        envelope: v.envelope().as_bytes().to_vec(),
    }
}

/// Signs a review of the other party of the deal of `receipt` by `key`. `earlier` is the
/// `written_at` of the user's review of this deal already held, if any: the new one is dated
/// after it, so that it replaces it even within the same second (at equal times the larger
/// envelope hash would win, which may be the old one).
pub fn write_review(
    key: &SecretKey,
    receipt: &DealReceipt,
    rating: u8,
    text: &str,
    now: u64,
    earlier: Option<u64>,
) -> Result<SignedEnvelope, ReviewError> {
    let terms = receipt.verify().map_err(ReviewError::Receipt)?;
    let me = key.public();
    let about = if me == terms.buyer {
        terms.seller
    } else if me == terms.seller {
        terms.buyer
    } else {
        return Err(ReviewError::SignerNotAParty);
    };
    let written_at = now
        .max(terms.accepted_at)
        .max(earlier.map_or(0, |e| e.saturating_add(1)));
    let review = Review {
        receipt: receipt.clone(),
        about,
        rating,
        text: text.to_string(),
        written_at,
    };
    review.sign(key)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn heads_round_trip_and_damage_is_named() {
        let h = Head {
            about: [7; 32],
            rating: 4,
            written_at: 1_800_000_000,
            hash: EnvelopeHash([9; 32]),
        };
        let v = h.encode(b"envelope");
        assert_eq!(Head::decode(&v).unwrap(), h);
        assert_eq!(&v[HEAD_LEN..], b"envelope");
        let err = Head::decode(&v[..10]).unwrap_err().to_string();
        assert!(
            err.contains("reviews/v1") && err.contains("10 bytes"),
            "{err}"
        );
    }
}
