//! Card thumbnails: for each thumbnail the store holds, a smaller JPEG for the search page's
//! result cards (`encode::card_thumb`), derived here and never published or signed.
//!
//! A card lives at `DIR/cards/ab/<64 hex of the thumbnail>`: named by the blob it is derived
//! from, since that is what a search hit names. The file is the SHA-256 of the card's bytes
//! followed by the bytes, checked on every read like a blob (a file that does not match is
//! removed and the card made again). A file with the hash of nothing and no bytes records
//! that no card is to be had (the thumbnail does not decode, or a card would be no smaller),
//! so a search does not try again each time; the thumbnail itself is shown then.
//!
//! Made when a thumbnail is stored (`fetch` keeping a listing's thumbnail, an upload), and
//! otherwise on first use (thumbnails stored before cards existed). Removed with the blob it
//! is derived from (removal, collection, eviction, a corrupt read), and on open for any whose
//! blob is gone (a crash between the two removals). So the folder holds at most one file per
//! blob, each at most `MAX_CARD_BYTES` + 32 bytes.
//!
//! Not fsynced: a card is derived data, and one torn by a power loss fails its hash check and
//! is made again.

use std::fs;
use std::path::{Path, PathBuf};

use super::{hash_of, io, parse_hex, parse_hex_byte, BlobError, BlobHash, BlobStore};
use crate::media::encode::card_thumb;

/// The folder of card thumbnails, inside the store's.
pub(super) const CARDS_DIR: &str = "cards";

impl BlobStore {
    /// Where the card of the blob `hash` lives.
    fn card_path(&self, hash: &BlobHash) -> PathBuf {
        let h = hex::encode(hash);
        self.inner.dir.join(CARDS_DIR).join(&h[..2]).join(h)
    }

    /// The card thumbnail of the thumbnail `hash`, made from it (and kept) if there is none
    /// yet; `None` when the thumbnail is not here or no card is to be had from it (see the
    /// module docs), and the caller shows the thumbnail. Blocking (a few milliseconds the first
    /// time, a file read after).
    pub fn card(&self, hash: &BlobHash) -> Result<Option<Vec<u8>>, BlobError> {
        if let Some(kept) = self.read_card(hash)? {
            return Ok(kept);
        }
        let thumb = match self.get(hash) {
            Ok(Some(bytes)) => bytes,
            Ok(None) | Err(BlobError::Corrupt { .. }) => return Ok(None),
            Err(e) => return Err(e),
        };
        self.make_card(hash, &thumb)
    }

    /// Derives and keeps the card of the thumbnail `hash` whose bytes are `thumb` (what a
    /// caller that has just stored it calls); the card, or `None` when no card is to be had.
    pub fn make_card(&self, hash: &BlobHash, thumb: &[u8]) -> Result<Option<Vec<u8>>, BlobError> {
        let card = match card_thumb(&hex::encode(hash), thumb) {
            // A card no smaller than its thumbnail saves nothing.
            Ok(card) if card.len() < thumb.len() => Some(card),
            Ok(_) => None,
            Err(e) => {
                tracing::debug!(error = %e, "no card thumbnail for this thumbnail");
                None
            }
        };
        // The thumbnail may have gone while the card was made: keep no card without it.
        if self.has(hash) {
            self.write_card(hash, card.as_deref().unwrap_or_default())?;
        }
        Ok(card)
    }

    /// The kept card: `Some(Some(bytes))`, `Some(None)` for "no card to be had", `None` when
    /// none is kept (or the file was damaged, and is removed).
    fn read_card(&self, hash: &BlobHash) -> Result<Option<Option<Vec<u8>>>, BlobError> {
        let path = self.card_path(hash);
        let mut file = match fs::read(&path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(io("reading", &path)(e)),
        };
        if file.len() < 32 || file[..32] != hash_of(&file[32..]) {
            tracing::warn!(path = %path.display(), "a card thumbnail is damaged; making it again");
            let _ = fs::remove_file(&path);
            return Ok(None);
        }
        if file.len() == 32 {
            return Ok(Some(None));
        }
        Ok(Some(Some(file.split_off(32))))
    }

    /// Writes a card file: its hash, then its bytes, through a temp file (no fsync, see the
    /// module docs).
    fn write_card(&self, hash: &BlobHash, card: &[u8]) -> Result<(), BlobError> {
        self.write_via_temp(&self.card_path(hash), &[&hash_of(card), card], false)
    }

    /// Removes the card of a blob that is going (best effort: one left behind is removed on
    /// the next open).
    pub(super) fn remove_card(&self, hash: &BlobHash) {
        let path = self.card_path(hash);
        match fs::remove_file(&path) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => {
                tracing::warn!(path = %path.display(), error = %e, "removing a card thumbnail failed")
            }
        }
    }

    /// Removes, on open, the cards whose blob is not in the store.
    pub(super) fn remove_orphan_cards(&self) -> Result<(), BlobError> {
        let dir = self.inner.dir.join(CARDS_DIR);
        let shards = match fs::read_dir(&dir) {
            Ok(s) => s,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(io("reading", &dir)(e)),
        };
        let st = self.lock();
        for shard in shards {
            let shard = shard.map_err(io("reading", &dir))?;
            let path = shard.path();
            let is_shard = shard
                .file_name()
                .to_str()
                .is_some_and(|n| n.len() == 2 && parse_hex_byte(n).is_some());
            if !is_shard {
                continue;
            }
            for f in fs::read_dir(&path).map_err(io("reading", &path))? {
                let f = f.map_err(io("reading", &path))?;
                let held = f
                    .file_name()
                    .to_str()
                    .and_then(parse_hex)
                    .is_some_and(|h| st.entries.contains_key(&h));
                if !held {
                    remove_quietly(&f.path());
                }
            }
        }
        Ok(())
    }
}

fn remove_quietly(path: &Path) {
    if let Err(e) = fs::remove_file(path) {
        tracing::warn!(path = %path.display(), error = %e, "removing an orphan card thumbnail failed");
    }
}

#[cfg(test)]
mod tests {
    use super::super::BlobClass;
    use super::*;
    use crate::media::encode::tests::jpeg;
    use crate::media::encode::{reencode, CARD_EDGE};

    fn thumb() -> Vec<u8> {
        reencode("a.jpg", &jpeg(2400, 1800)).unwrap().thumb
    }

    #[test]
    fn a_card_is_made_once_kept_across_restarts_and_goes_with_its_blob() {
        let dir = tempfile::tempdir().unwrap();
        let s = BlobStore::open(dir.path(), 1 << 20).unwrap();
        let t = thumb();
        let h = s.put(&t, BlobClass::Thumb).unwrap();
        // Made on first use (a thumbnail stored before cards existed).
        let card = s.card(&h).unwrap().unwrap();
        let img = image::load_from_memory(&card).unwrap();
        assert_eq!(img.width(), CARD_EDGE);
        assert!(card.len() < t.len());
        let path = s.card_path(&h);
        assert!(path.is_file());
        drop(s);
        let s = BlobStore::open(dir.path(), 1 << 20).unwrap();
        assert_eq!(s.card(&h).unwrap().unwrap(), card, "kept across a restart");
        // Removed with its blob.
        s.remove(&h).unwrap();
        assert!(!path.exists());
        assert_eq!(s.card(&h).unwrap(), None, "no thumbnail, no card");
        assert!(!path.exists(), "and none is made for a blob not here");
        // Collected with its blob.
        let h = s.put(&t, BlobClass::Thumb).unwrap();
        assert!(s.make_card(&h, &t).unwrap().is_some());
        assert!(s.card_path(&h).exists());
        s.collect(&|_| None).unwrap();
        assert!(!s.card_path(&h).exists());
        // A card whose blob went while the node was down is removed on open.
        let h = s.put(&t, BlobClass::Thumb).unwrap();
        s.card(&h).unwrap().unwrap();
        drop(s);
        fs::remove_file(dir.path().join(&hex::encode(h)[..2]).join(hex::encode(h))).unwrap();
        let _s = BlobStore::open(dir.path(), 1 << 20).unwrap();
        assert!(!path.exists());
    }

    #[test]
    fn an_evicted_blob_takes_its_card_along() {
        let dir = tempfile::tempdir().unwrap();
        let t = thumb();
        let s = BlobStore::open(dir.path(), t.len() as u64).unwrap();
        let h = s.put(&t, BlobClass::Cached).unwrap();
        s.card(&h).unwrap().unwrap();
        s.put(&jpeg(50, 50), BlobClass::Cached).unwrap();
        assert!(!s.has(&h));
        assert!(!s.card_path(&h).exists());
    }

    #[test]
    fn a_bad_thumbnail_or_a_damaged_card_never_breaks_the_answer() {
        let dir = tempfile::tempdir().unwrap();
        let s = BlobStore::open(dir.path(), 1 << 20).unwrap();
        // Not an image: no card, and that is remembered (no second attempt per search).
        let h = s.put(b"not a thumbnail", BlobClass::Thumb).unwrap();
        assert_eq!(s.card(&h).unwrap(), None);
        assert_eq!(fs::metadata(s.card_path(&h)).unwrap().len(), 32);
        assert_eq!(s.card(&h).unwrap(), None);
        // A thumbnail that rotted on disk: reported by the store, no card, no panic.
        let t = thumb();
        let h = s.put(&t, BlobClass::Thumb).unwrap();
        let mut bad = t.clone();
        bad[500] ^= 0xff;
        fs::write(s.path_of(&h), &bad).unwrap();
        assert_eq!(s.card(&h).unwrap(), None);
        assert!(!s.has(&h));
        // A damaged card file is made again from the thumbnail.
        let h = s.put(&t, BlobClass::Thumb).unwrap();
        let card = s.card(&h).unwrap().unwrap();
        let mut file = fs::read(s.card_path(&h)).unwrap();
        let last = file.len() - 1;
        file[last] ^= 0xff;
        fs::write(s.card_path(&h), &file).unwrap();
        assert_eq!(s.card(&h).unwrap().unwrap(), card);
        // A torn one too.
        fs::write(s.card_path(&h), &file[..10]).unwrap();
        assert_eq!(s.card(&h).unwrap().unwrap(), card);
    }
}
