//! Local moderation: the sellers the user blocked and the listings the user hid.
//!
//! Both are the user's own choice, kept on this node only, never one list imposed on everyone:
//! - a **blocked seller**'s records are deleted from the store and the index, and whatever of
//!   theirs arrives later (gossip, sync, the DHT's answers, an import) is refused at ingest,
//!   so the node neither stores, shows, serves nor relays it;
//! - a **hidden listing** stays stored and relayed (it is not spam to anyone else), but the
//!   user's searches no longer show it.
//!
//! Kept in the sled tree [`TREE_MODERATION`] (`b` + seller key, `h` + listing id; the value is
//! when it was added, unix seconds big-endian) and in memory for the ingest path.

use std::collections::HashMap;
use std::sync::{RwLock, RwLockReadGuard, RwLockWriteGuard};

use swapmeet_protocol::{ListingId, PublicKey};

use crate::store::StoreError;

/// The sled tree of the user's blocks and hides.
pub const TREE_MODERATION: &str = "moderation/v1";
const BLOCK: u8 = b'b';
const HIDE: u8 = b'h';

/// The user's blocked sellers and hidden listings.
pub struct Moderation {
    tree: sled::Tree,
    /// Seller key -> when blocked.
    blocked: RwLock<HashMap<[u8; 32], u64>>,
    /// Listing id -> when hidden.
    hidden: RwLock<HashMap<ListingId, u64>>,
}

fn read<T>(l: &RwLock<T>) -> RwLockReadGuard<'_, T> {
    // Whole inserts and removes only: a panic elsewhere leaves the sets usable.
    l.read().unwrap_or_else(|p| p.into_inner())
}

fn write<T>(l: &RwLock<T>) -> RwLockWriteGuard<'_, T> {
    l.write().unwrap_or_else(|p| p.into_inner())
}

fn corrupt(reason: String) -> StoreError {
    StoreError::Corrupt {
        tree: TREE_MODERATION,
        reason,
    }
}

impl Moderation {
    /// Reads the user's blocks and hides from `tree`.
    pub fn open(tree: sled::Tree) -> Result<Moderation, StoreError> {
        let mut blocked = HashMap::new();
        let mut hidden = HashMap::new();
        for kv in tree.iter() {
            let (k, v) = kv.map_err(StoreError::sled("reading blocks and hides"))?;
            let at = <[u8; 8]>::try_from(v.as_ref())
                .map(u64::from_be_bytes)
                .map_err(|_| corrupt(format!("a time of {} bytes", v.len())))?;
            match (k.first(), k.get(1..)) {
                (Some(&BLOCK), Some(key)) => {
                    let key = <[u8; 32]>::try_from(key)
                        .map_err(|_| corrupt(format!("a seller key of {} bytes", key.len())))?;
                    blocked.insert(key, at);
                }
                (Some(&HIDE), Some(id)) => {
                    let id = <[u8; 16]>::try_from(id)
                        .map_err(|_| corrupt(format!("a listing id of {} bytes", id.len())))?;
                    hidden.insert(ListingId::from_bytes(id), at);
                }
                _ => return Err(corrupt(format!("an entry of {} bytes", k.len()))),
            }
        }
        Ok(Moderation {
            tree,
            blocked: RwLock::new(blocked),
            hidden: RwLock::new(hidden),
        })
    }

    /// Whether the user blocked this seller.
    pub fn is_blocked(&self, seller: &[u8; 32]) -> bool {
        read(&self.blocked).contains_key(seller)
    }

    /// Whether the user hid this listing.
    pub fn is_hidden(&self, id: &ListingId) -> bool {
        read(&self.hidden).contains_key(id)
    }

    fn put(&self, kind: u8, key: &[u8], at: u64) -> Result<(), StoreError> {
        let mut k = Vec::with_capacity(1 + key.len());
        k.push(kind);
        k.extend_from_slice(key);
        self.tree
            .insert(k, &at.to_be_bytes())
            .map_err(StoreError::sled("writing a block or hide"))?;
        Ok(())
    }

    fn delete(&self, kind: u8, key: &[u8]) -> Result<bool, StoreError> {
        let mut k = Vec::with_capacity(1 + key.len());
        k.push(kind);
        k.extend_from_slice(key);
        Ok(self
            .tree
            .remove(k)
            .map_err(StoreError::sled("removing a block or hide"))?
            .is_some())
    }

    /// Blocks a seller (written before it takes effect; the caller makes it durable). Returns
    /// whether it is new.
    pub fn block(&self, seller: &PublicKey, now: u64) -> Result<bool, StoreError> {
        if self.is_blocked(seller.as_bytes()) {
            return Ok(false);
        }
        self.put(BLOCK, seller.as_bytes(), now)?;
        write(&self.blocked).insert(*seller.as_bytes(), now);
        Ok(true)
    }

    /// Unblocks a seller. Returns whether it was blocked.
    pub fn unblock(&self, seller: &PublicKey) -> Result<bool, StoreError> {
        let was = self.delete(BLOCK, seller.as_bytes())?;
        write(&self.blocked).remove(seller.as_bytes());
        Ok(was)
    }

    /// Hides a listing. Returns whether it is new.
    pub fn hide(&self, id: &ListingId, now: u64) -> Result<bool, StoreError> {
        if self.is_hidden(id) {
            return Ok(false);
        }
        self.put(HIDE, id.as_bytes(), now)?;
        write(&self.hidden).insert(*id, now);
        Ok(true)
    }

    /// Shows a hidden listing again. Returns whether it was hidden.
    pub fn unhide(&self, id: &ListingId) -> Result<bool, StoreError> {
        let was = self.delete(HIDE, id.as_bytes())?;
        write(&self.hidden).remove(id);
        Ok(was)
    }

    /// The blocked sellers with when they were blocked, oldest first.
    pub fn blocked(&self) -> Vec<(PublicKey, u64)> {
        let mut out: Vec<(PublicKey, u64)> = read(&self.blocked)
            .iter()
            .filter_map(|(k, at)| PublicKey::from_bytes(k).ok().map(|k| (k, *at)))
            .collect();
        out.sort_by_key(|(k, at)| (*at, *k.as_bytes()));
        out
    }

    /// The hidden listings with when they were hidden, oldest first.
    pub fn hidden(&self) -> Vec<(ListingId, u64)> {
        let mut out: Vec<(ListingId, u64)> = read(&self.hidden)
            .iter()
            .map(|(id, at)| (*id, *at))
            .collect();
        out.sort_by_key(|(id, at)| (*at, *id));
        out
    }
}
