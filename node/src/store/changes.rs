//! The change log the search index follows: one entry per write, keyed by the write's last
//! position, holding every (position, listing id) of that write.

use swapmeet_protocol::ListingId;

use super::{id_from, u64_from, Store, StoreError, TREE_CHANGES};

/// Bytes of one change in a change-log entry: position and listing id.
const CHANGE_LEN: usize = 8 + 16;

/// The change-log entry of one write.
#[derive(Default)]
pub(super) struct ChangeEntry {
    pub(super) bytes: Vec<u8>,
    pub(super) last: Option<u64>,
}

impl ChangeEntry {
    pub(super) fn push(&mut self, position: u64, id: &ListingId) {
        self.bytes.extend_from_slice(&position.to_be_bytes());
        self.bytes.extend_from_slice(id.as_bytes());
        self.last = Some(position);
    }
}

fn split_changes(v: &[u8]) -> Result<Vec<(u64, ListingId)>, StoreError> {
    if !v.len().is_multiple_of(CHANGE_LEN) {
        return Err(StoreError::Corrupt {
            tree: TREE_CHANGES,
            reason: format!("entry of {} bytes", v.len()),
        });
    }
    v.chunks_exact(CHANGE_LEN)
        .map(|c| {
            Ok((
                u64_from(&c[..8], TREE_CHANGES)?,
                id_from(&c[8..], TREE_CHANGES)?,
            ))
        })
        .collect()
}

impl Store {
    /// Change-log entries after `position`, in order: (position, listing id).
    pub fn changes_after(
        &self,
        position: Option<u64>,
    ) -> impl Iterator<Item = Result<(u64, ListingId), StoreError>> + '_ {
        let start = position.map(|p| p.saturating_add(1)).unwrap_or(0);
        // An entry is keyed by its last position, so the first entry at or after `start` may
        // begin before it: its earlier changes are skipped.
        self.records.changes_from(start).flat_map(move |kv| {
            let changes = kv.and_then(|(_, v)| split_changes(&v));
            match changes {
                Ok(v) => v.into_iter().filter(|(p, _)| *p >= start).map(Ok).collect(),
                Err(e) => vec![Err(e)],
            }
        })
    }

    /// The last change-log position, if any.
    pub fn last_change(&self) -> Result<Option<u64>, StoreError> {
        self.records.last_change()
    }

    /// Forgets change-log entries whose changes are all at or before `position` (the index
    /// has them).
    pub fn trim_changes(&self, position: u64) -> Result<(), StoreError> {
        self.records.trim_changes(position)
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::record;
    use super::super::StoreConfig;
    use super::*;

    #[test]
    fn the_change_log_reads_from_any_position_and_trims_whole_writes() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path(), &StoreConfig::default()).unwrap();
        let first: Vec<_> = (10..13).map(record).collect();
        let second: Vec<_> = (13..15).map(record).collect();
        let (_, a) = store.apply(first).unwrap();
        let (_, b) = store.apply(second).unwrap();
        let all: Vec<(u64, ListingId)> = a
            .iter()
            .chain(&b)
            .map(|x| (x.position, x.record.id))
            .collect();
        let read = |from| {
            store
                .changes_after(from)
                .collect::<Result<Vec<_>, _>>()
                .unwrap()
        };
        assert_eq!(read(None), all);
        // From the middle of the first write.
        assert_eq!(read(Some(all[0].0)), all[1..].to_vec());
        assert_eq!(store.last_change().unwrap(), Some(all[4].0));
        // Trimming inside the first write keeps it (its last change is not covered yet).
        store.trim_changes(all[1].0).unwrap();
        assert_eq!(read(None), all);
        store.trim_changes(all[2].0).unwrap();
        assert_eq!(read(None), all[3..].to_vec());
    }

    #[test]
    fn positions_grow_across_opens_even_after_the_change_log_was_trimmed_empty() {
        let dir = tempfile::tempdir().unwrap();
        let last = {
            let store = Store::open(dir.path(), &StoreConfig::default()).unwrap();
            let (_, a) = store.apply((30..33).map(record).collect()).unwrap();
            let last = a[2].position;
            // What an index commit does: nothing is left to number on from.
            store.trim_changes(last).unwrap();
            assert_eq!(store.last_change().unwrap(), None);
            store.flush().unwrap();
            last
        };
        let store = Store::open(dir.path(), &StoreConfig::default()).unwrap();
        let (_, b) = store.apply(vec![record(33)]).unwrap();
        // Past the last position by more than a node writes between two syncs, so positions
        // a power cut lost (and the index may have committed) are never handed out again.
        assert!(
            b[0].position > last + 1_000_000,
            "{} after {last}",
            b[0].position
        );
    }
}
