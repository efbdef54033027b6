//! The address book: peers the node has talked to and where they listen, persisted in the
//! sled tree [`ADDRBOOK_TREE`] so a restarted node redials the peers it knew.
//!
//! Addresses come from connections the node dialled and from what peers report through
//! identify. The book is bounded ([`MAX_PEERS`] peers, [`MAX_ADDRS_PER_PEER`] addresses each,
//! least recently seen dropped first), and written back only when it changed. The event loop
//! never writes it itself: it takes a [`BookWrite`] snapshot and hands it to the network's
//! executor, so a slow disk never holds up the swarm.

use std::collections::HashMap;

use libp2p::multiaddr::Protocol;
use libp2p::{Multiaddr, PeerId};
use serde::{Deserialize, Serialize};

/// The sled tree of the address book.
pub const ADDRBOOK_TREE: &str = "addrbook/v1";
/// Most peers remembered.
pub const MAX_PEERS: usize = 256;
/// Most addresses remembered per peer.
pub const MAX_ADDRS_PER_PEER: usize = 8;

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
struct Entry {
    addrs: Vec<String>,
    last_seen: u64,
}

/// The address book.
pub struct AddressBook {
    tree: sled::Tree,
    entries: HashMap<PeerId, Entry>,
    dirty: bool,
}

/// Whether an address is worth remembering: a concrete address (no wildcard) without a
/// trailing `/p2p/` (the peer id is the book's key). A relay circuit address
/// (`RELAY_ADDR/p2p/RELAY/p2p-circuit`) is kept whole: it is how a node behind NAT is reached.
fn usable(addr: &Multiaddr) -> Option<Multiaddr> {
    let relayed = addr.iter().any(|p| matches!(p, Protocol::P2pCircuit));
    let mut out = Multiaddr::empty();
    let mut circuit_seen = false;
    for p in addr.iter() {
        match p {
            Protocol::P2p(_) if !relayed || circuit_seen => break,
            Protocol::Ip4(ip) if ip.is_unspecified() => return None,
            Protocol::Ip6(ip) if ip.is_unspecified() => return None,
            Protocol::P2pCircuit => {
                circuit_seen = true;
                out.push(p);
            }
            p => out.push(p),
        }
    }
    // A circuit needs the relay's address and id before `/p2p-circuit`.
    if relayed
        && !out
            .iter()
            .next()
            .is_some_and(|p| !matches!(p, Protocol::P2p(_)))
    {
        return None;
    }
    (!out.is_empty()).then_some(out)
}

impl AddressBook {
    /// Loads the book from `tree` (entries that do not parse are skipped).
    pub fn load(tree: sled::Tree) -> AddressBook {
        let mut entries = HashMap::new();
        for (k, v) in tree.iter().flatten() {
            let (Ok(peer), Ok(e)) = (PeerId::from_bytes(&k), serde_json::from_slice::<Entry>(&v))
            else {
                continue;
            };
            entries.insert(peer, e);
        }
        AddressBook {
            tree,
            entries,
            dirty: false,
        }
    }

    /// Remembers addresses of `peer`, seen at `now` (unix seconds).
    pub fn record(&mut self, peer: PeerId, addrs: impl IntoIterator<Item = Multiaddr>, now: u64) {
        let e = self.entries.entry(peer).or_default();
        for a in addrs.into_iter().filter_map(|a| usable(&a)) {
            let s = a.to_string();
            e.addrs.retain(|x| *x != s);
            e.addrs.insert(0, s);
        }
        e.addrs.truncate(MAX_ADDRS_PER_PEER);
        e.last_seen = now;
        if e.addrs.is_empty() {
            self.entries.remove(&peer);
        }
        if self.entries.len() > MAX_PEERS {
            if let Some(oldest) = self
                .entries
                .iter()
                .min_by_key(|(_, e)| e.last_seen)
                .map(|(p, _)| *p)
            {
                // Removed from the tree by the next write (it writes the whole book).
                self.entries.remove(&oldest);
            }
        }
        self.dirty = true;
    }

    /// The `n` most recently seen peers with their addresses.
    pub fn recent(&self, n: usize) -> Vec<(PeerId, Vec<Multiaddr>)> {
        let mut all: Vec<_> = self.entries.iter().collect();
        all.sort_by_key(|(_, e)| std::cmp::Reverse(e.last_seen));
        all.into_iter()
            .take(n)
            .map(|(p, e)| (*p, e.addrs.iter().filter_map(|a| a.parse().ok()).collect()))
            .collect()
    }

    /// Addresses known for a peer.
    pub fn addrs_of(&self, peer: &PeerId) -> Vec<Multiaddr> {
        self.entries
            .get(peer)
            .map(|e| e.addrs.iter().filter_map(|a| a.parse().ok()).collect())
            .unwrap_or_default()
    }

    /// Number of peers remembered.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether the book is empty.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// A snapshot of the book to write, if it changed since the last one.
    pub fn snapshot(&mut self) -> Option<BookWrite> {
        if !self.dirty {
            return None;
        }
        self.dirty = false;
        let entries = self
            .entries
            .iter()
            .filter_map(|(peer, e)| Some((peer.to_bytes(), serde_json::to_vec(e).ok()?)))
            .collect();
        Some(BookWrite {
            tree: self.tree.clone(),
            entries,
        })
    }
}

/// The address book as it was when [`AddressBook::snapshot`] took it, to write off the loop.
pub struct BookWrite {
    tree: sled::Tree,
    entries: Vec<(Vec<u8>, Vec<u8>)>,
}

impl BookWrite {
    /// Writes the snapshot: its entries, and removes the peers it no longer holds (sled makes
    /// them durable on its next flush; the engine flushes on shutdown). Blocking.
    pub fn write(self) {
        let keep: std::collections::HashSet<&[u8]> =
            self.entries.iter().map(|(k, _)| k.as_slice()).collect();
        let mut batch = sled::Batch::default();
        for k in self.tree.iter().keys().flatten() {
            if !keep.contains(k.as_ref()) {
                batch.remove(k);
            }
        }
        for (k, v) in &self.entries {
            batch.insert(k.as_slice(), v.as_slice());
        }
        if let Err(e) = self.tree.apply_batch(batch) {
            tracing::warn!(error = %e, "writing the address book failed");
        }
    }

    /// Writes the snapshot and flushes it to disk before returning, for a peer the user
    /// added (`swapmeet join`): acknowledged means it survives a crash. Blocking.
    pub fn write_durably(self) -> Result<(), sled::Error> {
        let tree = self.tree.clone();
        self.write();
        tree.flush().map(|_| ())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn remembers_across_reloads_and_drops_wildcards() {
        let dir = tempfile::tempdir().unwrap();
        let db = sled::Config::new().path(dir.path()).open().unwrap();
        let peer = PeerId::random();
        let mut book = AddressBook::load(db.open_tree(ADDRBOOK_TREE).unwrap());
        book.record(
            peer,
            [
                "/ip4/127.0.0.1/tcp/4001".parse().unwrap(),
                "/ip4/0.0.0.0/tcp/4001".parse().unwrap(),
                format!("/ip4/10.0.0.2/tcp/4001/p2p/{peer}")
                    .parse()
                    .unwrap(),
            ],
            10,
        );
        book.snapshot().unwrap().write();
        let book = AddressBook::load(db.open_tree(ADDRBOOK_TREE).unwrap());
        let addrs = book.addrs_of(&peer);
        assert_eq!(addrs.len(), 2);
        assert!(addrs.iter().all(|a| !a.to_string().contains("0.0.0.0")));
        assert!(addrs.iter().all(|a| !a.to_string().contains("/p2p/")));
        assert_eq!(book.recent(5).len(), 1);
    }

    #[test]
    fn relay_circuits_are_kept_whole() {
        let dir = tempfile::tempdir().unwrap();
        let db = sled::Config::new().path(dir.path()).open().unwrap();
        let (peer, relay) = (PeerId::random(), PeerId::random());
        let mut book = AddressBook::load(db.open_tree(ADDRBOOK_TREE).unwrap());
        book.record(
            peer,
            [
                format!("/ip4/10.0.0.1/tcp/4001/p2p/{relay}/p2p-circuit/p2p/{peer}")
                    .parse()
                    .unwrap(),
                // No relay address: nothing to dial.
                format!("/p2p/{relay}/p2p-circuit").parse().unwrap(),
            ],
            10,
        );
        assert_eq!(
            book.addrs_of(&peer),
            vec![format!("/ip4/10.0.0.1/tcp/4001/p2p/{relay}/p2p-circuit")
                .parse::<Multiaddr>()
                .unwrap()]
        );
    }

    #[test]
    fn bounded() {
        let dir = tempfile::tempdir().unwrap();
        let db = sled::Config::new().path(dir.path()).open().unwrap();
        let mut book = AddressBook::load(db.open_tree(ADDRBOOK_TREE).unwrap());
        for i in 0..(MAX_PEERS as u64 + 10) {
            book.record(
                PeerId::random(),
                ["/ip4/127.0.0.1/tcp/1".parse().unwrap()],
                i,
            );
        }
        assert_eq!(book.len(), MAX_PEERS);
        // The peers dropped from the book are dropped from the tree too.
        book.snapshot().unwrap().write();
        let tree = db.open_tree(ADDRBOOK_TREE).unwrap();
        assert_eq!(tree.len(), MAX_PEERS);
        assert_eq!(AddressBook::load(tree).len(), MAX_PEERS);
    }
}
