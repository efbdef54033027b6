//! The lookups themselves, laid out for a small footprint: one 64-byte entry per stored record
//! in a slab of fixed-size chunks, and every index holding 4-byte entry numbers instead of
//! copies of 32-byte hashes and keys.
//!
//! With std maps and B-tree sets keyed by hashes, ids and seller keys, the same lookups took
//! about 380 bytes per record (380 MB for a million, measured on the web UI bench's home);
//! laid out this way about 120 by arithmetic (BENCHMARKS.md, "Memory", measures 208 MB with what
//! sled itself grows by while they are built).

use std::collections::BTreeSet;
use std::hash::BuildHasher;

use hashbrown::HashTable;
use swapmeet_protocol::{EnvelopeHash, ListingId};

use super::super::record::{Head, RecordKind};
use super::super::{AREA_PRECISION, SHIPPING_AREA};
use super::intern::Interned;
use crate::hashing::{keyed_hasher, KeyedHasher};

/// Entries per slab chunk: a chunk is allocated whole (1 MiB) and never moved, so the slab
/// grows without copying itself or holding twice its size while it does.
const CHUNK: usize = 16_384;

/// The area bits of an entry: the cell's number, or none.
const NO_CELL: u32 = (1 << 30) - 1;
const CELL_BITS: u32 = NO_CELL;
/// In the area bits: the record ships (it is in the `ship` area too).
const SHIPS: u32 = 1 << 31;

/// What the lookups keep of one stored record.
#[derive(Clone, Copy)]
struct Entry {
    hash: EnvelopeHash,
    id: ListingId,
    signed_at: u64,
    /// The seller key's number in [`Lookups::sellers`].
    seller: u32,
    /// The cell's number in [`Lookups::cells`] (or [`NO_CELL`]), and [`SHIPS`].
    area: u32,
}

/// The records' entries, numbered; a removed record's number is reused.
#[derive(Default)]
struct Slab {
    chunks: Vec<Vec<Entry>>,
    free: Vec<u32>,
    len: usize,
}

impl Slab {
    fn get(&self, n: u32) -> &Entry {
        let n = n as usize;
        &self.chunks[n / CHUNK][n % CHUNK]
    }

    fn insert(&mut self, e: Entry) -> u32 {
        self.len += 1;
        if let Some(n) = self.free.pop() {
            let i = n as usize;
            self.chunks[i / CHUNK][i % CHUNK] = e;
            return n;
        }
        if self.chunks.last().is_none_or(|c| c.len() == CHUNK) {
            self.chunks.push(Vec::with_capacity(CHUNK));
        }
        let n = (self.chunks.len() - 1) * CHUNK + self.chunks.last().map_or(0, Vec::len);
        if let Some(c) = self.chunks.last_mut() {
            c.push(e);
        }
        // A store holds far fewer than 4 billion records (the disk bound comes first).
        n as u32
    }

    fn remove(&mut self, n: u32) {
        self.len -= 1;
        self.free.push(n);
    }

    /// Every live entry (free numbers are skipped).
    fn live(&self) -> impl Iterator<Item = (u32, &Entry)> + '_ {
        let mut free: Vec<u32> = self.free.clone();
        free.sort_unstable();
        let mut next_free = free.into_iter().peekable();
        self.chunks
            .iter()
            .flatten()
            .enumerate()
            .filter_map(move |(i, e)| {
                let n = i as u32;
                if next_free.peek() == Some(&n) {
                    next_free.next();
                    None
                } else {
                    Some((n, e))
                }
            })
    }
}

/// The in-memory lookups, derived from the records.
pub(in crate::store) struct Lookups {
    entries: Slab,
    /// Entry numbers by envelope hash.
    by_hash: HashTable<u32>,
    /// Entry numbers by listing id.
    by_id: HashTable<u32>,
    hasher: KeyedHasher,
    sellers: Interned<[u8; 32]>,
    /// Area tags of cells; an entry's count of holders is the area's size.
    cells: Interned<String>,
    /// Records in the `ship` area.
    ships: usize,
    /// (expires-at, entry): the sweeper's agenda. Seconds past `u32::MAX` (the year 2106)
    /// are kept as `u32::MAX`: the sweeper checks the record's own time before removing it.
    expiry: BTreeSet<(u32, u32)>,
    /// (seller, entry).
    by_seller: BTreeSet<(u32, u32)>,
    /// The ids of wanted posts: few beside the listings, so the wanted search and the demand
    /// summary read these records instead of keeping an index of their own.
    wanted: BTreeSet<ListingId>,
}

impl Default for Lookups {
    fn default() -> Self {
        Lookups {
            entries: Slab::default(),
            by_hash: HashTable::new(),
            by_id: HashTable::new(),
            hasher: keyed_hasher(),
            sellers: Interned::default(),
            cells: Interned::default(),
            ships: 0,
            expiry: BTreeSet::new(),
            by_seller: BTreeSet::new(),
            wanted: BTreeSet::new(),
        }
    }
}

fn agenda_time(expires_at: u64) -> u32 {
    u32::try_from(expires_at).unwrap_or(u32::MAX)
}

fn area_tag(cell: &str) -> &str {
    cell.get(..AREA_PRECISION).unwrap_or(cell)
}

impl Lookups {
    /// Enters a stored record. A record of the same id must have been unlinked first.
    pub(in crate::store) fn link(&mut self, id: ListingId, head: &Head) {
        let seller = self.sellers.acquire(&head.seller);
        let mut area = match &head.cell {
            Some(c) => self.cells.acquire(area_tag(c)) & CELL_BITS,
            None => NO_CELL,
        };
        if head.ships {
            area |= SHIPS;
            self.ships += 1;
        }
        let n = self.entries.insert(Entry {
            hash: head.hash,
            id,
            signed_at: head.signed_at,
            seller,
            area,
        });
        let (entries, hasher) = (&self.entries, &self.hasher);
        self.by_hash
            .insert_unique(hasher.hash_one(head.hash), n, |&m| {
                hasher.hash_one(entries.get(m).hash)
            });
        self.by_id.insert_unique(hasher.hash_one(id), n, |&m| {
            hasher.hash_one(entries.get(m).id)
        });
        self.expiry.insert((agenda_time(head.expires_at), n));
        self.by_seller.insert((seller, n));
        if head.kind == RecordKind::Wanted {
            self.wanted.insert(id);
        }
    }

    /// Removes a stored record (as `head` describes it) from the lookups.
    pub(in crate::store) fn unlink(&mut self, id: ListingId, head: &Head) {
        let (entries, h) = (&self.entries, self.hasher.hash_one(head.hash));
        let Ok(found) = self
            .by_hash
            .find_entry(h, |&m| entries.get(m).hash == head.hash)
        else {
            return;
        };
        let (n, _) = found.remove();
        let e = *self.entries.get(n);
        let h = self.hasher.hash_one(e.id);
        if let Ok(found) = self.by_id.find_entry(h, |&m| m == n) {
            found.remove();
        }
        self.expiry.remove(&(agenda_time(head.expires_at), n));
        self.by_seller.remove(&(e.seller, n));
        self.sellers.release(e.seller);
        if e.area & CELL_BITS != NO_CELL {
            self.cells.release(e.area & CELL_BITS);
        }
        if e.area & SHIPS != 0 {
            self.ships -= 1;
        }
        self.wanted.remove(&id);
        self.entries.remove(n);
    }

    /// Number of stored records.
    pub(in crate::store) fn len(&self) -> usize {
        self.entries.len
    }

    /// The listing id whose stored version has this envelope hash.
    pub(in crate::store) fn id_of_hash(&self, hash: &EnvelopeHash) -> Option<ListingId> {
        let h = self.hasher.hash_one(hash);
        self.by_hash
            .find(h, |&m| self.entries.get(m).hash == *hash)
            .map(|&n| self.entries.get(n).id)
    }

    /// Whether the store holds a version of this id.
    pub(in crate::store) fn has_id(&self, id: &ListingId) -> bool {
        let h = self.hasher.hash_one(id);
        self.by_id
            .find(h, |&m| self.entries.get(m).id == *id)
            .is_some()
    }

    /// The ids of records whose expiry (as the agenda has it) is at or before `now`.
    pub(in crate::store) fn due(&self, now: u64) -> Vec<ListingId> {
        self.expiry
            .range(..=(agenda_time(now), u32::MAX))
            .map(|&(_, n)| self.entries.get(n).id)
            .collect()
    }

    /// The ids of a seller's records.
    pub(in crate::store) fn ids_of_seller(&self, seller: &[u8; 32]) -> Vec<ListingId> {
        let Some(s) = self.sellers.get(seller) else {
            return Vec::new();
        };
        self.by_seller
            .range((s, 0)..=(s, u32::MAX))
            .map(|&(_, n)| self.entries.get(n).id)
            .collect()
    }

    /// The ids of the wanted posts.
    pub(in crate::store) fn wanted_ids(&self) -> Vec<ListingId> {
        self.wanted.iter().copied().collect()
    }

    /// The members of an area as (signed-at, envelope hash), in no particular order (sync
    /// seals them into its own order). A pass over every entry: sync asks once per session
    /// and keeps the set, and a per-area index would cost 25 bytes a record.
    pub(in crate::store) fn area_items(&self, area: &str) -> Vec<(u64, EnvelopeHash)> {
        let want = if area == SHIPPING_AREA {
            None
        } else {
            match self.cells.get(area) {
                Some(c) => Some(c),
                None => return Vec::new(),
            }
        };
        self.entries
            .live()
            .filter(|(_, e)| match want {
                None => e.area & SHIPS != 0,
                Some(c) => e.area & CELL_BITS == c,
            })
            .map(|(_, e)| (e.signed_at, e.hash))
            .collect()
    }

    /// Every record that is in an area as (signed-at, envelope hash), once each.
    pub(in crate::store) fn all_area_items(&self) -> Vec<(u64, EnvelopeHash)> {
        let mut out = Vec::with_capacity(self.len());
        out.extend(
            self.entries
                .live()
                .filter(|(_, e)| e.area != NO_CELL)
                .map(|(_, e)| (e.signed_at, e.hash)),
        );
        out
    }

    /// Number of records in an area.
    pub(in crate::store) fn area_len(&self, area: &str) -> usize {
        if area == SHIPPING_AREA {
            return self.ships;
        }
        self.cells
            .get(area)
            .map_or(0, |c| self.cells.holders(c) as usize)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn head(n: u8, cell: Option<&str>, ships: bool, expires_at: u64) -> Head {
        Head {
            kind: RecordKind::Listing,
            seq: 1,
            signed_at: u64::from(n) * 10,
            expires_at,
            hash: EnvelopeHash([n; 32]),
            seller: [n % 2; 32],
            cell: cell.map(str::to_string),
            ships,
        }
    }

    fn id(n: u8) -> ListingId {
        ListingId::from_bytes([n; 16])
    }

    #[test]
    fn entries_are_found_by_hash_id_seller_area_and_expiry_and_forgotten_when_unlinked() {
        let mut l = Lookups::default();
        let heads: Vec<Head> = (0..40u8)
            .map(|n| {
                head(
                    n,
                    (n % 3 != 0).then_some("u33dabc"),
                    n % 4 == 0,
                    1000 + u64::from(n),
                )
            })
            .collect();
        for (n, h) in heads.iter().enumerate() {
            l.link(id(n as u8), h);
        }
        assert_eq!(l.len(), 40);
        assert_eq!(l.id_of_hash(&EnvelopeHash([7; 32])), Some(id(7)));
        assert!(l.has_id(&id(39)) && !l.has_id(&id(40)));
        assert_eq!(l.ids_of_seller(&[1; 32]).len(), 20);
        assert_eq!(l.area_len("u33d"), 26);
        assert_eq!(l.area_len(SHIPPING_AREA), 10);
        assert_eq!(l.area_items("u33d").len(), 26);
        assert_eq!(l.area_items(SHIPPING_AREA).len(), 10);
        // In no area: neither a cell nor shipping (n % 3 == 0 and n % 4 != 0).
        assert_eq!(l.all_area_items().len(), 30);
        assert_eq!(l.due(1004), (0..=4).map(id).collect::<Vec<_>>());

        for n in (0..40u8).step_by(2) {
            l.unlink(id(n), &heads[n as usize]);
        }
        assert_eq!(l.len(), 20);
        assert_eq!(l.id_of_hash(&EnvelopeHash([8; 32])), None);
        assert!(!l.has_id(&id(8)));
        assert!(l.ids_of_seller(&[0; 32]).is_empty());
        assert_eq!(l.due(1004), vec![id(1), id(3)]);
        let mut cell: Vec<u8> = l.area_items("u33d").iter().map(|(_, h)| h.0[0]).collect();
        cell.sort_unstable();
        let expect: Vec<u8> = (0..40u8).filter(|n| n % 2 == 1 && n % 3 != 0).collect();
        assert_eq!(cell, expect);
        assert_eq!(l.area_len("u33d"), expect.len());

        // Freed numbers are reused, and a reused number is found under its new hash only.
        let again = head(200, Some("u281xyz"), false, 5);
        l.link(id(200), &again);
        assert_eq!(l.id_of_hash(&EnvelopeHash([200; 32])), Some(id(200)));
        assert_eq!(l.area_items("u281"), vec![(2000, EnvelopeHash([200; 32]))]);
        assert_eq!(l.due(5), vec![id(200)]);
        assert_eq!(l.len(), 21);
        let total: usize = l.entries.live().count();
        assert_eq!(total, 21);
    }

    #[test]
    fn the_slab_grows_by_whole_chunks_and_reuses_numbers() {
        let mut l = Lookups::default();
        let n = CHUNK + 10;
        let mk = |i: usize| {
            let mut h = head(0, Some("u33d"), false, i as u64);
            h.hash.0[..8].copy_from_slice(&(i as u64).to_le_bytes());
            h.seller[..8].copy_from_slice(&(i as u64).to_le_bytes());
            (ListingId::from_bytes(h.hash.0[..16].try_into().unwrap()), h)
        };
        for i in 0..n {
            let (id, h) = mk(i);
            l.link(id, &h);
        }
        assert_eq!(l.entries.chunks.len(), 2);
        assert!(l.entries.chunks.iter().all(|c| c.capacity() == CHUNK));
        let (id5, h5) = mk(5);
        l.unlink(id5, &h5);
        assert_eq!(l.area_len("u33d"), n - 1);
        let (id, h) = mk(n);
        l.link(id, &h);
        assert_eq!(l.entries.chunks.len(), 2, "the freed number was reused");
        assert_eq!(l.id_of_hash(&h.hash), Some(id));
        assert_eq!(l.area_items("u33d").len(), n);
    }
}
