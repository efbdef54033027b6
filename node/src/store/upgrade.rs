//! Older store formats upgraded in place when such a store opens: format 1 (lookup trees on
//! disk) to 2, and format 2 (records and change log in sled) to 3 (in fjall,
//! `store/records.rs`).

use super::changes::ChangeEntry;
use super::{
    id_from, u64_from, Store, StoreError, StoredRecord, META_FORMAT_KEY, STORE_FORMAT,
    TREE_CHANGES, TREE_LISTINGS,
};

/// The change log of format 1 (one entry per listing), converted by the upgrade.
const TREE_CHANGES_1: &str = "changes/v1";
/// Lookup trees of store format 1, dropped when such a store is upgraded.
const FORMAT_1_TREES: [&str; 4] = ["by-hash/v1", "areas/v1", "expiry/v1", "by-seller/v1"];
/// Left by format 1 while a write spread over several trees; meaningless since.
const META_PENDING_KEY: &[u8] = b"write-pending";
/// Records moved from sled to fjall per batch.
const MOVE_BATCH: usize = 4096;

impl Store {
    /// Rewrites format-1 records in format 2 and drops format 1's lookup trees, in sled (the
    /// upgrade to format 3 follows). Each record says its own format, so an upgrade cut short
    /// by a crash simply continues next time.
    pub(super) fn upgrade_from_1(&self) -> Result<(), StoreError> {
        tracing::info!("upgrading the store from format 1 to 2");
        let ctx = StoreError::sled;
        let listings = self.sled_tree(TREE_LISTINGS)?;
        // Record by record: each says its own format, so no batch is needed.
        for kv in listings.iter() {
            let (k, v) = kv.map_err(ctx("reading listings to upgrade"))?;
            if StoredRecord::is_outdated(&v) {
                let rec = StoredRecord::decode(id_from(&k, TREE_LISTINGS)?, &v)?;
                listings
                    .insert(k, rec.encode())
                    .map_err(ctx("upgrading listings"))?;
            }
        }
        let old_changes = self.sled_tree(TREE_CHANGES_1)?;
        let mut entry = ChangeEntry::default();
        for kv in old_changes.iter() {
            let (k, v) = kv.map_err(ctx("reading the old change log"))?;
            entry.push(u64_from(&k, TREE_CHANGES_1)?, &id_from(&v, TREE_CHANGES_1)?);
        }
        if let Some(last) = entry.last {
            self.sled_tree(TREE_CHANGES)?
                .insert(last.to_be_bytes(), entry.bytes)
                .map_err(ctx("upgrading the change log"))?;
        }
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
            .insert(META_FORMAT_KEY, &[2])
            .map_err(ctx("writing the store format"))?;
        self.flush()
    }

    /// Moves format 2's records and change log from sled into fjall, then records format 3
    /// and drops the sled trees. A crash before the format is written makes the next open
    /// move everything again (the same keys with the same values); one after it, before the
    /// trees are dropped, makes it drop them ([`Store::finish_upgrade_from_2`]).
    pub(super) fn upgrade_from_2(&self) -> Result<(), StoreError> {
        tracing::info!("upgrading the store from format 2 to {STORE_FORMAT}");
        let ctx = StoreError::sled;
        let listings = self.sled_tree(TREE_LISTINGS)?;
        let changes = self.sled_tree(TREE_CHANGES)?;
        // Positions handed out from here on come after every one sled handed out.
        let next_position = self
            .db
            .generate_id()
            .map_err(ctx("reading the change positions"))?;
        let mut moved = 0usize;
        let mut batch = Vec::with_capacity(MOVE_BATCH);
        for kv in listings.iter() {
            let (k, v) = kv.map_err(ctx("reading listings to upgrade"))?;
            batch.push((k.to_vec(), v.to_vec()));
            if batch.len() == MOVE_BATCH {
                moved += batch.len();
                self.records
                    .import(std::mem::take(&mut batch), Vec::new(), next_position)?;
            }
        }
        moved += batch.len();
        let entries = changes
            .iter()
            .map(|kv| kv.map(|(k, v)| (k.to_vec(), v.to_vec())))
            .collect::<Result<Vec<_>, _>>()
            .map_err(ctx("reading the change log to upgrade"))?;
        self.records.import(batch, entries, next_position)?;
        self.records
            .persist(true)
            .map_err(StoreError::records("upgrading the store"))?;
        self.meta
            .insert(META_FORMAT_KEY, &[STORE_FORMAT])
            .map_err(ctx("writing the store format"))?;
        self.flush()?;
        tracing::info!("moved {moved} records to the store's new layout");
        self.finish_upgrade_from_2()
    }

    /// Drops format 2's sled trees if an upgrade left them (a crash between recording the
    /// new format and dropping them).
    pub(super) fn finish_upgrade_from_2(&self) -> Result<(), StoreError> {
        let ctx = StoreError::sled;
        let names = self.db.tree_names();
        let mut dropped = false;
        for name in [TREE_LISTINGS, TREE_CHANGES] {
            if names.iter().any(|n| n.as_ref() == name.as_bytes()) {
                self.db
                    .drop_tree(name)
                    .map_err(ctx("dropping a tree of the old format"))?;
                dropped = true;
            }
        }
        if dropped {
            self.flush()?;
        }
        Ok(())
    }

    fn sled_tree(&self, name: &'static str) -> Result<sled::Tree, StoreError> {
        self.db
            .open_tree(name)
            .map_err(StoreError::sled("opening a tree of the old format"))
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
        let mut old_trees = FORMAT_1_TREES.to_vec();
        old_trees.push(TREE_CHANGES_1);
        assert_upgraded(&store, &old_trees);
        drop(store);
        // And it opens again in the current format.
        let store = Store::open(dir.path(), &StoreConfig::default()).unwrap();
        assert_eq!(store.get(&rec.id).unwrap().as_ref(), Some(&rec));
    }

    /// The store is in the current format, without format 2's sled trees nor these others.
    fn assert_upgraded(store: &Store, old_trees: &[&str]) {
        let names = store.db.tree_names();
        for name in old_trees.iter().chain(&[TREE_LISTINGS, TREE_CHANGES]) {
            assert!(
                !names.iter().any(|n| n.as_ref() == name.as_bytes()),
                "{name}"
            );
        }
        assert_eq!(
            store.meta.get(META_FORMAT_KEY).unwrap().unwrap().as_ref(),
            [STORE_FORMAT]
        );
    }

    /// A format-2 store as that version left it: records and change log in sled, and change
    /// positions handed out by sled.
    fn format_2_store(dir: &std::path::Path, recs: &[StoredRecord]) -> u64 {
        let db = sled::open(dir).unwrap();
        let listings = db.open_tree(TREE_LISTINGS).unwrap();
        let mut entry = ChangeEntry::default();
        for rec in recs {
            listings.insert(rec.id.as_bytes(), rec.encode()).unwrap();
            entry.push(db.generate_id().unwrap(), &rec.id);
        }
        let last = entry.last.unwrap();
        db.open_tree(TREE_CHANGES)
            .unwrap()
            .insert(last.to_be_bytes(), entry.bytes)
            .unwrap();
        db.open_tree(TREE_META)
            .unwrap()
            .insert(META_FORMAT_KEY, &[2])
            .unwrap();
        db.flush().unwrap();
        last
    }

    #[test]
    fn a_format_2_store_moves_its_records_and_change_log_out_of_sled() {
        let dir = tempfile::tempdir().unwrap();
        let recs: Vec<StoredRecord> = (20..20 + MOVE_BATCH as u64 + 3).map(record).collect();
        let last = format_2_store(dir.path(), &recs);
        let store = Store::open(dir.path(), &StoreConfig::default()).unwrap();
        for rec in [&recs[0], &recs[MOVE_BATCH + 2]] {
            assert_eq!(store.get(&rec.id).unwrap().as_ref(), Some(rec));
        }
        assert_eq!(store.iter().count(), recs.len());
        assert_eq!(store.stats().records, recs.len());
        let changes: Vec<_> = store
            .changes_after(None)
            .collect::<Result<Vec<_>, _>>()
            .unwrap();
        assert_eq!(changes.len(), recs.len());
        assert_eq!(changes.last().map(|c| c.0), Some(last));
        // New changes are numbered after everything sled numbered.
        let (_, applied) = store.apply(vec![record(5)]).unwrap();
        assert!(applied[0].position > last);
        assert_upgraded(&store, &[]);
        drop(store);
        let store = Store::open(dir.path(), &StoreConfig::default()).unwrap();
        assert_eq!(store.iter().count(), recs.len() + 1);
    }

    #[test]
    fn an_upgrade_cut_short_after_the_format_was_written_drops_the_old_trees_next_time() {
        let dir = tempfile::tempdir().unwrap();
        let recs: Vec<StoredRecord> = (40..43).map(record).collect();
        format_2_store(dir.path(), &recs);
        drop(Store::open(dir.path(), &StoreConfig::default()).unwrap());
        {
            // What a crash between writing format 3 and dropping the trees leaves.
            let db = sled::open(dir.path()).unwrap();
            db.open_tree(TREE_LISTINGS)
                .unwrap()
                .insert(b"stale", b"v")
                .unwrap();
            db.flush().unwrap();
        }
        let store = Store::open(dir.path(), &StoreConfig::default()).unwrap();
        assert_upgraded(&store, &[]);
        assert_eq!(store.iter().count(), recs.len());
    }
}
