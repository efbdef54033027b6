//! The per-key listing allowance as a node applies it (the rule: `docs/PROTOCOL.md`, "Spam
//! limits"; the stamp itself: [`swapmeet_protocol::stamp`]).
//!
//! A stamp is checked from the record alone when it is verified. What needs the seller's other
//! listings is decided here, at ingest, against the listings the node stores:
//! - at most [`FREE_LISTINGS_PER_KEY`] active listings of a key without a stamp;
//! - one active listing per stamp slot of a key;
//! - a listing without a stamp whose normalized title and photos are those of another active
//!   listing of the key (a re-post under a new id) gets no free place: it needs a stamp
//!   (listings with photos only: see [`swapmeet_protocol::Listing::duplicate_fingerprint`]).
//!
//! What a node refuses here it neither stores nor relays nor serves. The first listing to take a
//! place keeps it: an honest seller never competes with itself for a place (its node plans
//! places with [`Allowance::plan`]), so only a key breaking the rule sees nodes keep different
//! ones of its excess listings. A place frees when its listing is withdrawn or expires.
//!
//! The book is in memory, built from the store when the engine opens, like the store's other
//! lookups.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Mutex, MutexGuard};

use swapmeet_protocol::limits::{FREE_LISTINGS_PER_KEY, MAX_LISTINGS_PER_KEY};
use swapmeet_protocol::{ListingId, PublicKey};
use thiserror::Error;

/// Why a listing gets no place in its seller's allowance.
#[derive(Clone, Debug, PartialEq, Eq, Error)]
pub enum AllowanceError {
    /// The key already has its free allowance of active listings without a stamp.
    #[error("stamp: the seller already has {limit} active listings without a stamp (the free allowance per key); a further listing needs a proof-of-work stamp")]
    OverFree {
        /// The free allowance.
        limit: u32,
    },
    /// Another active listing of the key holds the stamp's slot.
    #[error("stamp.slot: slot {slot} of this seller is held by listing {holder}; each slot holds one active listing")]
    SlotTaken {
        /// The slot.
        slot: u32,
        /// The listing holding it.
        holder: ListingId,
    },
    /// The same title and photos as another active listing of the key, under a new id.
    #[error("title: a re-post of listing {of} (same title and photos under a new id) gets no free place; it needs a proof-of-work stamp")]
    Repost {
        /// The listing it repeats.
        of: ListingId,
    },
    /// Every stamp slot of the key is taken.
    #[error("stamp.slot: the seller has {limit} active listings, the most one key may have")]
    Full {
        /// The cap.
        limit: u32,
    },
}

/// One active listing's place.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Place {
    /// Its stamp slot; `None` in the free allowance.
    pub slot: Option<u32>,
    /// Its duplicate fingerprint (`None` without photos: see
    /// [`swapmeet_protocol::Listing::duplicate_fingerprint`]).
    pub fingerprint: Option<[u8; 16]>,
    /// When it expires (unix seconds): its place frees then.
    pub expires_at: u64,
}

/// A place as the book keeps it: 48 bytes, where a `HashMap<ListingId, Place>` entry with the
/// fingerprint, slot and expiry indexes beside it took about 300 (BENCHMARKS.md, "Memory").
#[derive(Clone, Copy)]
struct Held {
    id: ListingId,
    fingerprint: [u8; 16],
    expires_at: u64,
    /// The stamp slot, or [`NO_SLOT`].
    slot: u32,
    has_fingerprint: bool,
}

const NO_SLOT: u32 = u32::MAX;

impl Held {
    fn new(id: ListingId, p: Place) -> Held {
        Held {
            id,
            fingerprint: p.fingerprint.unwrap_or_default(),
            expires_at: p.expires_at,
            slot: p.slot.unwrap_or(NO_SLOT),
            has_fingerprint: p.fingerprint.is_some(),
        }
    }

    fn place(&self) -> Place {
        Place {
            slot: (self.slot != NO_SLOT).then_some(self.slot),
            fingerprint: self.has_fingerprint.then_some(self.fingerprint),
            expires_at: self.expires_at,
        }
    }
}

/// One seller's places. Most sellers hold a handful, a shop up to [`MAX_LISTINGS_PER_KEY`]: the
/// places are a vector sorted by id (found by binary search), and only a re-post check reads
/// them all (a listing without a stamp while the seller is within its free allowance: at most
/// a few thousand places in practice, 100,000 at the cap, a pass of 5 MB).
struct SellerBook {
    held: Vec<Held>,
    /// Places in the free allowance.
    free: usize,
    /// The stamped places by slot (most sellers have none: an empty map allocates nothing).
    slots: BTreeMap<u32, ListingId>,
    /// No place expires before this: pruning earlier has nothing to do.
    next_expiry: u64,
}

impl Default for SellerBook {
    fn default() -> Self {
        SellerBook {
            held: Vec::new(),
            free: 0,
            slots: BTreeMap::new(),
            next_expiry: u64::MAX,
        }
    }
}

impl SellerBook {
    fn get(&self, id: &ListingId) -> Option<Place> {
        let i = self.held.binary_search_by(|h| h.id.cmp(id)).ok()?;
        Some(self.held[i].place())
    }

    fn holder_of_slot(&self, slot: u32) -> Option<ListingId> {
        self.slots.get(&slot).copied()
    }

    /// The lowest stamp slot no listing holds.
    fn lowest_free_slot(&self) -> Option<u32> {
        let mut want = FREE_LISTINGS_PER_KEY;
        for &s in self.slots.range(FREE_LISTINGS_PER_KEY..).map(|(s, _)| s) {
            if s != want {
                break;
            }
            want += 1;
        }
        (want < MAX_LISTINGS_PER_KEY).then_some(want)
    }

    fn remove(&mut self, id: &ListingId) -> Option<Place> {
        let i = self.held.binary_search_by(|h| h.id.cmp(id)).ok()?;
        let h = self.held.remove(i);
        if h.slot == NO_SLOT {
            self.free -= 1;
        } else if self.slots.get(&h.slot) == Some(id) {
            self.slots.remove(&h.slot);
        }
        Some(h.place())
    }

    fn insert(&mut self, id: ListingId, p: Place) {
        self.remove(&id);
        match p.slot {
            None => self.free += 1,
            Some(s) => {
                self.slots.insert(s, id);
            }
        }
        self.next_expiry = self.next_expiry.min(p.expires_at);
        let at = self.held.partition_point(|h| h.id < id);
        self.held.insert(at, Held::new(id, p));
    }

    /// Frees the places of listings expired at `now`.
    fn prune(&mut self, now: u64) {
        if now < self.next_expiry {
            return;
        }
        let expired: Vec<ListingId> = self
            .held
            .iter()
            .filter(|h| h.expires_at <= now)
            .map(|h| h.id)
            .collect();
        for id in &expired {
            self.remove(id);
        }
        self.next_expiry = self
            .held
            .iter()
            .map(|h| h.expires_at)
            .min()
            .unwrap_or(u64::MAX);
    }

    fn len(&self) -> usize {
        self.held.len()
    }

    fn is_empty(&self) -> bool {
        self.held.is_empty()
    }

    /// Whether `id` may take `place` (its own earlier place, if any, set aside).
    fn check(&self, id: &ListingId, place: &Place) -> Result<(), AllowanceError> {
        match place.slot {
            Some(s) => match self.holder_of_slot(s) {
                Some(holder) if holder != *id => Err(AllowanceError::SlotTaken { slot: s, holder }),
                _ => Ok(()),
            },
            None => {
                let own_free = usize::from(self.get(id).is_some_and(|p| p.slot.is_none()));
                if self.free - own_free >= FREE_LISTINGS_PER_KEY as usize {
                    return Err(AllowanceError::OverFree {
                        limit: FREE_LISTINGS_PER_KEY,
                    });
                }
                if let Some(fp) = place.fingerprint {
                    if let Some(of) = self
                        .held
                        .iter()
                        .find(|h| h.has_fingerprint && h.fingerprint == fp && h.id != *id)
                    {
                        return Err(AllowanceError::Repost { of: of.id });
                    }
                }
                Ok(())
            }
        }
    }
}

/// The places every seller's active listings take, as this node stores them.
#[derive(Default)]
pub struct Allowance {
    sellers: Mutex<HashMap<[u8; 32], SellerBook>>,
}

/// What undoes one [`Allowance::admit`]: the place the listing had before.
#[derive(Debug)]
pub struct Undo {
    seller: [u8; 32],
    id: ListingId,
    before: Option<Place>,
}

impl Allowance {
    fn lock(&self) -> MutexGuard<'_, HashMap<[u8; 32], SellerBook>> {
        // Updated by whole inserts and removes; a panic elsewhere leaves it usable.
        self.sellers.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Takes a place for listing `id` of `seller`, or says why it gets none. The place is
    /// taken at once (a batch's later items see it); [`Allowance::undo`] gives it back when
    /// the store does not keep the listing after all.
    pub fn admit(
        &self,
        seller: &PublicKey,
        id: ListingId,
        place: Place,
        now: u64,
    ) -> Result<Undo, AllowanceError> {
        let mut all = self.lock();
        let book = all.entry(*seller.as_bytes()).or_default();
        book.prune(now);
        book.check(&id, &place)?;
        let before = book.get(&id);
        book.insert(id, place);
        Ok(Undo {
            seller: *seller.as_bytes(),
            id,
            before,
        })
    }

    /// Gives back a place taken by [`Allowance::admit`] for a listing the store did not keep.
    pub fn undo(&self, undo: Undo) {
        let mut all = self.lock();
        let book = all.entry(undo.seller).or_default();
        match undo.before {
            Some(p) => book.insert(undo.id, p),
            None => {
                book.remove(&undo.id);
            }
        }
    }

    /// Frees the place of a listing that was withdrawn (or removed).
    pub fn release(&self, seller: &[u8; 32], id: &ListingId) {
        let mut all = self.lock();
        if let Some(book) = all.get_mut(seller) {
            book.remove(id);
            if book.is_empty() {
                all.remove(seller);
            }
        }
    }

    /// Records a stored listing's place without checking (building the book from the store).
    pub fn load(&self, seller: [u8; 32], id: ListingId, place: Place) {
        self.lock().entry(seller).or_default().insert(id, place);
    }

    /// The place the seller's own node gives a new (or changed, unstamped) listing: `None` for
    /// the free allowance, or the lowest free stamp slot. It is taken at once, so the listings
    /// of one batch (a shop's catalogue) get different slots; one that is then not published
    /// keeps its place until it would have expired.
    pub fn plan(
        &self,
        seller: &PublicKey,
        id: ListingId,
        fingerprint: Option<[u8; 16]>,
        expires_at: u64,
        now: u64,
    ) -> Result<Option<u32>, AllowanceError> {
        let mut all = self.lock();
        let book = all.entry(*seller.as_bytes()).or_default();
        book.prune(now);
        let free = Place {
            slot: None,
            fingerprint,
            expires_at,
        };
        if book.check(&id, &free).is_ok() {
            book.insert(id, free);
            return Ok(None);
        }
        if let Some(Place { slot: Some(s), .. }) = book.get(&id) {
            book.insert(
                id,
                Place {
                    slot: Some(s),
                    ..free
                },
            );
            return Ok(Some(s));
        }
        let slot = book.lowest_free_slot().ok_or(AllowanceError::Full {
            limit: MAX_LISTINGS_PER_KEY,
        })?;
        book.insert(
            id,
            Place {
                slot: Some(slot),
                ..free
            },
        );
        Ok(Some(slot))
    }

    /// Gives back the room the book's vectors grew into while it was built from the store
    /// (each seller's places were appended one by one).
    pub fn shrink_to_fit(&self) {
        for book in self.lock().values_mut() {
            book.held.shrink_to_fit();
        }
    }

    /// A seller's active listings: (without a stamp, with one).
    pub fn counts(&self, seller: &PublicKey, now: u64) -> (usize, usize) {
        let mut all = self.lock();
        let Some(book) = all.get_mut(seller.as_bytes()) else {
            return (0, 0);
        };
        book.prune(now);
        (book.free, book.len() - book.free)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use swapmeet_protocol::SecretKey;

    fn key(n: u8) -> PublicKey {
        SecretKey::from_bytes([n; 32]).public()
    }

    fn place(slot: Option<u32>, n: u32, expires_at: u64) -> Place {
        let mut fingerprint = [0u8; 16];
        fingerprint[..4].copy_from_slice(&n.to_be_bytes());
        Place {
            slot,
            fingerprint: Some(fingerprint),
            expires_at,
        }
    }

    fn id(k: &PublicKey, n: u32) -> ListingId {
        ListingId::derive(k, &format!("item-{n}"))
    }

    #[test]
    fn the_free_allowance_is_per_key_and_frees_on_release_and_expiry() {
        let a = Allowance::default();
        let (k, other) = (key(1), key(2));
        for n in 0..FREE_LISTINGS_PER_KEY {
            a.admit(&k, id(&k, n), place(None, n, 100 + u64::from(n)), 0)
                .unwrap();
        }
        let over = a
            .admit(&k, id(&k, 5000), place(None, 5000, 10_000), 0)
            .unwrap_err();
        assert_eq!(
            over,
            AllowanceError::OverFree {
                limit: FREE_LISTINGS_PER_KEY
            }
        );
        assert!(over
            .to_string()
            .contains("1000 active listings without a stamp"));
        // Another key is not affected.
        a.admit(&other, id(&other, 1), place(None, 1, 10_000), 0)
            .unwrap();
        // A new version of a listing that has its place keeps it.
        a.admit(&k, id(&k, 3), place(None, 3, 10_000), 0).unwrap();
        // A withdrawal frees a place.
        a.release(k.as_bytes(), &id(&k, 7));
        a.admit(&k, id(&k, 5000), place(None, 5000, 10_000), 0)
            .unwrap();
        assert!(a
            .admit(&k, id(&k, 5001), place(None, 5001, 10_000), 0)
            .is_err());
        // Expired listings free theirs (item-0 expires at 100).
        a.admit(&k, id(&k, 5001), place(None, 5001, 10_000), 100)
            .unwrap();
        assert_eq!(a.counts(&k, 100).0, FREE_LISTINGS_PER_KEY as usize);
    }

    #[test]
    fn a_slot_holds_one_listing_and_undo_gives_it_back() {
        let a = Allowance::default();
        let k = key(1);
        let s = Some(FREE_LISTINGS_PER_KEY + 1);
        let undo = a.admit(&k, id(&k, 1), place(s, 1, 10_000), 0).unwrap();
        let err = a.admit(&k, id(&k, 2), place(s, 2, 10_000), 0).unwrap_err();
        assert!(matches!(err, AllowanceError::SlotTaken { holder, .. } if holder == id(&k, 1)));
        a.undo(undo);
        a.admit(&k, id(&k, 2), place(s, 2, 10_000), 0).unwrap();
    }

    #[test]
    fn a_repost_needs_a_stamp() {
        let a = Allowance::default();
        let k = key(1);
        a.admit(&k, id(&k, 1), place(None, 42, 10_000), 0).unwrap();
        let err = a
            .admit(&k, id(&k, 2), place(None, 42, 10_000), 0)
            .unwrap_err();
        assert_eq!(err, AllowanceError::Repost { of: id(&k, 1) });
        a.admit(
            &k,
            id(&k, 2),
            place(Some(FREE_LISTINGS_PER_KEY), 42, 10_000),
            0,
        )
        .unwrap();
        // Another seller's listing with the same title and photos is no re-post.
        let o = key(2);
        a.admit(&o, id(&o, 2), place(None, 42, 10_000), 0).unwrap();
    }

    #[test]
    fn plans_give_a_batch_different_slots_and_keep_a_listing_s_slot() {
        let a = Allowance::default();
        let k = key(1);
        let mut slots = Vec::new();
        for n in 0..FREE_LISTINGS_PER_KEY + 3 {
            slots.push(
                a.plan(&k, id(&k, n), place(None, n, 0).fingerprint, 10_000, 0)
                    .unwrap(),
            );
        }
        assert!(slots[..FREE_LISTINGS_PER_KEY as usize]
            .iter()
            .all(Option::is_none));
        let f = FREE_LISTINGS_PER_KEY;
        assert_eq!(slots[f as usize..], [Some(f), Some(f + 1), Some(f + 2)]);
        // Planned again (a new version), a listing keeps its place.
        assert_eq!(
            a.plan(
                &k,
                id(&k, f + 1),
                place(None, f + 1, 0).fingerprint,
                20_000,
                0
            )
            .unwrap(),
            Some(f + 1)
        );
        // A duplicate gets a slot even within the free allowance.
        let b = Allowance::default();
        assert_eq!(
            b.plan(&k, id(&k, 1), Some([9; 16]), 10_000, 0).unwrap(),
            None
        );
        assert_eq!(
            b.plan(&k, id(&k, 2), Some([9; 16]), 10_000, 0).unwrap(),
            Some(f)
        );
        // Without photos there is no fingerprint, and no duplicate.
        assert_eq!(b.plan(&k, id(&k, 3), None, 10_000, 0).unwrap(), None);
        assert_eq!(b.plan(&k, id(&k, 4), None, 10_000, 0).unwrap(), None);
    }
}
