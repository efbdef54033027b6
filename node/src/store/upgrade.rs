//! Store format 1 upgraded in place to format 2 when such a store opens.

use super::changes::ChangeEntry;
use super::{
    id_from, u64_from, Store, StoreError, StoredRecord, META_FORMAT_KEY, STORE_FORMAT,
    TREE_LISTINGS,
};

/// The change log of format 1 (one entry per listing), converted by the upgrade.
const TREE_CHANGES_1: &str = "changes/v1";
/// Lookup trees of store format 1, dropped when such a store is upgraded.
const FORMAT_1_TREES: [&str; 4] = ["by-hash/v1", "areas/v1", "expiry/v1", "by-seller/v1"];
/// Left by format 1 while a write spread over several trees; meaningless since.
const META_PENDING_KEY: &[u8] = b"write-pending";

impl Store {
    /// Rewrites format-1 records in format 2 and drops format 1's lookup trees. Each record
    /// says its own format, so an upgrade cut short by a crash simply continues next time.
    pub(super) fn upgrade_from_1(&self) -> Result<(), StoreError> {
        tracing::info!("upgrading the store to format {STORE_FORMAT}");
        let ctx = StoreError::sled;
        // Record by record: each says its own format, so no batch is needed (see `write`).
        for kv in self.listings.iter() {
            let (k, v) = kv.map_err(ctx("reading listings to upgrade"))?;
            if StoredRecord::is_outdated(&v) {
                let rec = StoredRecord::decode(id_from(&k, TREE_LISTINGS)?, &v)?;
                self.listings
                    .insert(k, rec.encode())
                    .map_err(ctx("upgrading listings"))?;
            }
        }
        let old_changes = self
            .db
            .open_tree(TREE_CHANGES_1)
            .map_err(ctx("opening the old change log"))?;
        let mut entry = ChangeEntry::default();
        for kv in old_changes.iter() {
            let (k, v) = kv.map_err(ctx("reading the old change log"))?;
            entry.push(u64_from(&k, TREE_CHANGES_1)?, &id_from(&v, TREE_CHANGES_1)?);
        }
        self.write(Vec::new(), entry)?;
        self.db
            .drop_tree(TREE_CHANGES_1)
            .map_err(ctx("dropping the old change log"))?;
        for name in FORMAT_1_TREES {
            self.db
                .drop_tree(name)
                .map_err(ctx("dropping an old lookup tree"))?;
        }
        self.meta
            .remove(META_PENDING_KEY)
            .map_err(ctx("upgrading the store"))?;
        self.meta
            .insert(META_FORMAT_KEY, &[STORE_FORMAT])
            .map_err(ctx("writing the store format"))?;
        self.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::record;
    use super::super::{record as rec_format, StoreConfig, TREE_META};
    use super::*;

    #[test]
    fn a_format_1_store_is_upgraded_in_place() {
        let dir = tempfile::tempdir().unwrap();
        let rec = record(3);
        {
            // A format-1 store as that version left it: the record in format 1, its lookup
            // trees, and a write marker from a write cut short.
            let db = sled::open(dir.path()).unwrap();
            db.open_tree(TREE_LISTINGS)
                .unwrap()
                .insert(rec.id.as_bytes(), rec_format::encode_v1(&rec))
                .unwrap();
            for name in FORMAT_1_TREES {
                db.open_tree(name).unwrap().insert(b"k", b"v").unwrap();
            }
            // A change the index had not taken in yet.
            db.open_tree(TREE_CHANGES_1)
                .unwrap()
                .insert(7u64.to_be_bytes(), rec.id.as_bytes())
                .unwrap();
            let meta = db.open_tree(TREE_META).unwrap();
            meta.insert(META_FORMAT_KEY, &[1]).unwrap();
            meta.insert(META_PENDING_KEY, &[1]).unwrap();
            db.flush().unwrap();
        }
        let store = Store::open(dir.path(), &StoreConfig::default()).unwrap();
        assert_eq!(store.get(&rec.id).unwrap().as_ref(), Some(&rec));
        assert_eq!(
            store.get_by_hash(&rec.hash).unwrap().map(|r| r.id),
            Some(rec.id)
        );
        assert_eq!(
            store
                .changes_after(None)
                .collect::<Result<Vec<_>, _>>()
                .unwrap(),
            vec![(7, rec.id)]
        );
        let names: Vec<_> = store.db.tree_names();
        for name in FORMAT_1_TREES.iter().chain([&TREE_CHANGES_1]) {
            assert!(
                !names.iter().any(|n| n.as_ref() == name.as_bytes()),
                "{name}"
            );
        }
        assert_eq!(
            store.meta.get(META_FORMAT_KEY).unwrap().unwrap().as_ref(),
            [STORE_FORMAT]
        );
        drop(store);
        // And it opens again as format 2.
        let store = Store::open(dir.path(), &StoreConfig::default()).unwrap();
        assert_eq!(store.get(&rec.id).unwrap().as_ref(), Some(&rec));
    }
}
