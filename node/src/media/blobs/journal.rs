//! The class journal: the classes of blobs other than Cached, appended and fsynced before a
//! put is acknowledged, read and compacted on open.

use std::collections::HashMap;
use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::path::Path;

use super::{
    io, parse_hex, sync_dir, BlobClass, BlobError, BlobHash, BlobStore, Entry, State, CLASSES_FILE,
    TMP_DIR,
};

impl BlobClass {
    pub(super) fn as_str(self) -> &'static str {
        match self {
            BlobClass::Cached => "cached",
            BlobClass::Thumb => "thumb",
            BlobClass::Own => "own",
        }
    }
    pub(super) fn parse(s: &str) -> Option<BlobClass> {
        match s {
            "cached" => Some(BlobClass::Cached),
            "thumb" => Some(BlobClass::Thumb),
            "own" => Some(BlobClass::Own),
            _ => None,
        }
    }
}

impl BlobStore {
    /// A removed blob's journal line would give it back its class if it is stored again (a
    /// thumbnail collected, later fetched as a cached photo): reset it to the default.
    pub(super) fn journal_removed(&self, st: &mut State, hash: &BlobHash, class: BlobClass) {
        if class != BlobClass::Cached {
            if let Err(e) = self.journal(st, hash, BlobClass::Cached) {
                tracing::warn!(error = %e, "resetting a removed blob's class failed");
            }
        }
    }

    /// Appends `hash class` to the class journal and fsyncs it, so the class of an
    /// acknowledged own photo survives a crash.
    pub(super) fn journal(
        &self,
        st: &mut State,
        hash: &BlobHash,
        class: BlobClass,
    ) -> Result<(), BlobError> {
        let path = self.inner.dir.join(CLASSES_FILE);
        let mut f = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .map_err(io("opening", &path))?;
        f.write_all(format!("{} {}\n", hex::encode(hash), class.as_str()).as_bytes())
            .and_then(|_| f.sync_data())
            .map_err(io("writing", &path))?;
        st.journal_lines += 1;
        Ok(())
    }

    /// Rewrites the journal with one line per non-Cached blob when it has grown to more than
    /// twice that (temp file, fsync, rename).
    pub(super) fn compact_journal(&self, st: &mut State) -> Result<(), BlobError> {
        let live: Vec<(&BlobHash, &Entry)> = st
            .entries
            .iter()
            .filter(|(_, e)| e.class != BlobClass::Cached)
            .collect();
        if st.journal_lines <= 2 * live.len() as u64 + 16 {
            return Ok(());
        }
        let mut text = String::with_capacity(live.len() * 72);
        for (h, e) in &live {
            text.push_str(&format!("{} {}\n", hex::encode(h), e.class.as_str()));
        }
        let lines = live.len() as u64;
        let path = self.inner.dir.join(CLASSES_FILE);
        let tmp = self.inner.dir.join(TMP_DIR).join(CLASSES_FILE);
        let write = || -> std::io::Result<()> {
            let mut f = File::create(&tmp)?;
            f.write_all(text.as_bytes())?;
            f.sync_all()
        };
        write().map_err(io("writing", &tmp))?;
        fs::rename(&tmp, &path).map_err(io("renaming into", &path))?;
        sync_dir(&self.inner.dir)?;
        st.journal_lines = lines;
        Ok(())
    }
}

/// Reads the class journal: the last line for a hash wins. A torn last line (a crash mid-append)
/// or any line that does not parse is skipped: the blob then counts as Cached.
pub(super) fn read_journal(path: &Path) -> Result<(HashMap<BlobHash, BlobClass>, u64), BlobError> {
    let text = match fs::read(path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok((HashMap::new(), 0)),
        Err(e) => return Err(io("reading", path)(e)),
    };
    let mut classes = HashMap::new();
    let mut lines = 0;
    for line in String::from_utf8_lossy(&text).lines() {
        lines += 1;
        let mut parts = line.split(' ');
        let (Some(h), Some(c), None) = (parts.next(), parts.next(), parts.next()) else {
            tracing::warn!(path = %path.display(), line, "skipping a malformed line of the blob class journal");
            continue;
        };
        match (parse_hex(h), BlobClass::parse(c)) {
            (Some(h), Some(c)) => {
                classes.insert(h, c);
            }
            _ => {
                tracing::warn!(path = %path.display(), line, "skipping a malformed line of the blob class journal");
            }
        }
    }
    Ok((classes, lines))
}
