//! Local moderation: the sellers the user blocked and the listings the user hid.
//!
//! Both are the user's own choice, kept on this node only, never one list imposed on everyone:
//! - a **blocked seller**'s records are deleted from the store and the index, and whatever of
//!   theirs arrives later (gossip, sync, the DHT's answers, an import) is refused at ingest,
//!   so the node neither stores, shows, serves nor relays it;
//! - a **hidden listing** stays stored and relayed (it is not spam to anyone else), but the
//!   user's searches no longer show it;
//! - a **trusted author**'s block list ([`swapmeet_protocol::BlockList`]) is applied: every
//!   seller it names is treated as blocked, for as long as the user trusts its author and the
//!   author's newest list names the seller. Nobody else's list acts on this node.
//!
//! Kept in the sled tree [`TREE_MODERATION`] (`b` + seller key, `h` + listing id, `t` + author
//! key; the value is when it was added, unix seconds big-endian) and in memory for the ingest
//! path. What trusted lists name is not written here: it is read from the lists in the store.

use std::collections::{HashMap, HashSet};
use std::sync::{RwLock, RwLockReadGuard, RwLockWriteGuard};

use swapmeet_protocol::{ListingId, PublicKey};

use crate::store::StoreError;

/// The sled tree of the user's blocks and hides.
pub const TREE_MODERATION: &str = "moderation/v1";
const BLOCK: u8 = b'b';
const HIDE: u8 = b'h';
const TRUST: u8 = b't';

/// The user's blocked sellers and hidden listings.
pub struct Moderation {
    tree: sled::Tree,
    /// Seller key -> when blocked.
    blocked: RwLock<HashMap<[u8; 32], u64>>,
    /// Listing id -> when hidden.
    hidden: RwLock<HashMap<ListingId, u64>>,
    /// Trusted block-list author -> when trusted.
    trusted: RwLock<HashMap<[u8; 32], u64>>,
    /// Seller -> the trusted authors whose current lists name them.
    listed: RwLock<HashMap<[u8; 32], HashSet<[u8; 32]>>>,
    /// Trusted author -> the sellers their current list names (to undo it when replaced).
    lists: RwLock<HashMap<[u8; 32], Vec<[u8; 32]>>>,
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
        let mut trusted = HashMap::new();
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
                (Some(&TRUST), Some(key)) => {
                    let key = <[u8; 32]>::try_from(key)
                        .map_err(|_| corrupt(format!("an author key of {} bytes", key.len())))?;
                    trusted.insert(key, at);
                }
                _ => return Err(corrupt(format!("an entry of {} bytes", k.len()))),
            }
        }
        Ok(Moderation {
            tree,
            blocked: RwLock::new(blocked),
            hidden: RwLock::new(hidden),
            trusted: RwLock::new(trusted),
            listed: RwLock::new(HashMap::new()),
            lists: RwLock::new(HashMap::new()),
        })
    }

    /// Whether this seller is blocked: by the user, or by the list of an author the user
    /// trusts.
    pub fn is_blocked(&self, seller: &[u8; 32]) -> bool {
        read(&self.blocked).contains_key(seller) || read(&self.listed).contains_key(seller)
    }

    /// Whether the user blocked this seller themselves.
    pub fn is_blocked_by_user(&self, seller: &[u8; 32]) -> bool {
        read(&self.blocked).contains_key(seller)
    }

    /// The trusted authors whose lists block this seller.
    pub fn listed_by(&self, seller: &[u8; 32]) -> Vec<[u8; 32]> {
        let mut out: Vec<[u8; 32]> = read(&self.listed)
            .get(seller)
            .map(|a| a.iter().copied().collect())
            .unwrap_or_default();
        out.sort();
        out
    }

    /// Whether the user trusts this author's block list.
    pub fn is_trusted(&self, author: &[u8; 32]) -> bool {
        read(&self.trusted).contains_key(author)
    }

    /// Trusts an author's block list (written before it takes effect; the caller makes it
    /// durable and applies the author's stored list). Returns whether it is new.
    pub fn trust(&self, author: &PublicKey, now: u64) -> Result<bool, StoreError> {
        if self.is_trusted(author.as_bytes()) {
            return Ok(false);
        }
        self.put(TRUST, author.as_bytes(), now)?;
        write(&self.trusted).insert(*author.as_bytes(), now);
        Ok(true)
    }

    /// Stops trusting an author: their list no longer blocks anyone here. Returns whether the
    /// author was trusted.
    pub fn untrust(&self, author: &PublicKey) -> Result<bool, StoreError> {
        let was = self.delete(TRUST, author.as_bytes())?;
        write(&self.trusted).remove(author.as_bytes());
        self.set_list(author.as_bytes(), Vec::new());
        Ok(was)
    }

    /// The trusted authors with when they were trusted, oldest first.
    pub fn trusted(&self) -> Vec<(PublicKey, u64)> {
        let mut out: Vec<(PublicKey, u64)> = read(&self.trusted)
            .iter()
            .filter_map(|(k, at)| PublicKey::from_bytes(k).ok().map(|k| (k, *at)))
            .collect();
        out.sort_by_key(|(k, at)| (*at, *k.as_bytes()));
        out
    }

    /// Replaces what `author`'s list blocks with `sellers` (an author the user does not trust
    /// blocks nothing: the call is ignored). Returns the sellers that are blocked now and were
    /// not before (their records are to be removed).
    pub fn set_list(&self, author: &[u8; 32], sellers: Vec<[u8; 32]>) -> Vec<[u8; 32]> {
        let sellers = if self.is_trusted(author) || sellers.is_empty() {
            sellers
        } else {
            return Vec::new();
        };
        let mut lists = write(&self.lists);
        let mut listed = write(&self.listed);
        let user = read(&self.blocked);
        if let Some(old) = lists.remove(author) {
            for s in old {
                if let Some(by) = listed.get_mut(&s) {
                    by.remove(author);
                    if by.is_empty() {
                        listed.remove(&s);
                    }
                }
            }
        }
        let mut newly = Vec::new();
        for s in &sellers {
            let by = listed.entry(*s).or_default();
            if by.is_empty() && !user.contains_key(s) {
                newly.push(*s);
            }
            by.insert(*author);
        }
        if !sellers.is_empty() {
            lists.insert(*author, sellers);
        }
        newly
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
