//! Interning for the lookups: a key held by many records (a seller's 32-byte key, an area tag)
//! is stored once and named by a `u32` everywhere else, with a count of its holders so it is
//! forgotten when the last one goes.

use std::borrow::Borrow;
use std::hash::{BuildHasher, Hash};

use hashbrown::HashTable;

use crate::hashing::{keyed_hasher, KeyedHasher};

/// Keys named by small numbers, each with the count of records that hold it.
pub(super) struct Interned<K> {
    /// Key and holders by number; `None` for a number free for reuse.
    slots: Vec<Option<(K, u32)>>,
    /// Numbers, found by their key's hash.
    index: HashTable<u32>,
    free: Vec<u32>,
    hasher: KeyedHasher,
}

impl<K> Default for Interned<K> {
    fn default() -> Self {
        Interned {
            slots: Vec::new(),
            index: HashTable::new(),
            free: Vec::new(),
            hasher: keyed_hasher(),
        }
    }
}

impl<K: Hash + Eq> Interned<K> {
    fn key_of(&self, n: u32) -> &K {
        match &self.slots[n as usize] {
            Some((k, _)) => k,
            // Numbers in the index are always taken.
            None => unreachable!("interned number {n} is free"),
        }
    }

    /// The number of `key`, if a record holds it.
    pub(super) fn get<Q>(&self, key: &Q) -> Option<u32>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        let h = self.hasher.hash_one(key);
        self.index
            .find(h, |&n| self.key_of(n).borrow() == key)
            .copied()
    }

    /// The number of `key` for one more holder (interned if new).
    pub(super) fn acquire<Q>(&mut self, key: &Q) -> u32
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ToOwned<Owned = K> + ?Sized,
    {
        if let Some(n) = self.get(key) {
            if let Some((_, holders)) = &mut self.slots[n as usize] {
                *holders += 1;
            }
            return n;
        }
        let entry = Some((key.to_owned(), 1));
        let n = match self.free.pop() {
            Some(n) => {
                self.slots[n as usize] = entry;
                n
            }
            None => {
                self.slots.push(entry);
                (self.slots.len() - 1) as u32
            }
        };
        let h = self.hasher.hash_one(key);
        let (slots, hasher) = (&self.slots, &self.hasher);
        self.index
            .insert_unique(h, n, |&m| match &slots[m as usize] {
                Some((k, _)) => hasher.hash_one(k),
                None => 0,
            });
        n
    }

    /// One holder of number `n` fewer; the key is forgotten with its last holder.
    pub(super) fn release(&mut self, n: u32) {
        let Some((key, holders)) = &mut self.slots[n as usize] else {
            return;
        };
        *holders -= 1;
        if *holders > 0 {
            return;
        }
        let h = self.hasher.hash_one(&*key);
        if let Ok(e) = self.index.find_entry(h, |&m| m == n) {
            e.remove();
        }
        self.slots[n as usize] = None;
        self.free.push(n);
    }

    /// How many records hold number `n`.
    pub(super) fn holders(&self, n: u32) -> u32 {
        self.slots[n as usize].as_ref().map_or(0, |(_, c)| *c)
    }
}

#[cfg(test)]
mod tests {
    use super::Interned;

    #[test]
    fn a_key_is_numbered_once_and_forgotten_with_its_last_holder() {
        let mut t: Interned<String> = Interned::default();
        let a = t.acquire("u33d");
        assert_eq!(t.acquire("u33d"), a);
        let b = t.acquire("ship");
        assert_ne!(a, b);
        assert_eq!((t.holders(a), t.key_of(a).as_str()), (2, "u33d"));
        t.release(a);
        assert_eq!(t.get("u33d"), Some(a));
        t.release(a);
        assert_eq!(t.get("u33d"), None);
        // Its number is reused for the next new key; the other key is untouched.
        assert_eq!(t.acquire("u281"), a);
        assert_eq!(t.get("ship"), Some(b));
        assert_eq!(t.key_of(a), "u281");
    }
}
