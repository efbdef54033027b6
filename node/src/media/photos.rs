//! The user's photos: uploads re-encoded and kept as Own blobs, and the record of which
//! thumbnail belongs to which photo, so a draft can name a photo by its hash alone.
//!
//! An upload and the listing that names it are two requests (`POST /v1/photos`, then
//! `POST /v1/listings`), possibly across a restart, so the pairing photo -> thumbnail is kept
//! in `HOME/blobs/uploads` (one line per upload, fsynced before the upload is acknowledged;
//! lines whose photo is gone are dropped on open).

use std::collections::HashMap;
use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};

use swapmeet_protocol::{ImageRef, ImageThumb};

use super::blobs::{BlobClass, BlobError, BlobHash, BlobStore};
use super::encode::{reencode, EncodeError, OUTPUT_MIME};

/// The journal of uploads.
const UPLOADS_FILE: &str = "uploads";
/// How long an uploaded photo that no listing names yet is kept as the user's own before it
/// may be released to the cache: the time between uploading photos and publishing the listing
/// that names them (a form being filled in).
pub const UPLOAD_GRACE_SECS: u64 = 24 * 3600;

/// Why a photo could not be added.
#[derive(Debug, thiserror::Error)]
pub enum PhotoError {
    /// The photo was refused (not an image, too large, a bomb, truncated...).
    #[error(transparent)]
    Encode(#[from] EncodeError),
    /// Storing it failed.
    #[error(transparent)]
    Blob(#[from] BlobError),
}

#[derive(Clone, Debug)]
struct Upload {
    image: ImageRef,
    at: u64,
    /// Seen in a published listing of the user's: from then on, dropped from every listing
    /// means released at once (the upload grace no longer applies).
    published: bool,
}

/// The user's photos (cheap to clone).
#[derive(Clone, Debug)]
pub struct PhotoLibrary {
    blobs: BlobStore,
    uploads: Arc<Mutex<HashMap<BlobHash, Upload>>>,
    path: PathBuf,
}

fn io(what: &'static str, path: &Path) -> impl FnOnce(std::io::Error) -> BlobError {
    let path = path.to_path_buf();
    move |source| BlobError::Io { what, path, source }
}

fn now_secs() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

impl PhotoLibrary {
    /// Opens the library over `blobs` (reading the upload journal in its folder).
    pub fn open(blobs: BlobStore) -> Result<PhotoLibrary, BlobError> {
        let path = blobs.dir().join(UPLOADS_FILE);
        let mut uploads = HashMap::new();
        let mut lines = 0usize;
        match fs::read(&path) {
            Ok(text) => {
                for line in String::from_utf8_lossy(&text).lines() {
                    lines += 1;
                    // A torn last line (a crash mid-append) or anything else odd is skipped:
                    // that photo is then named only by the listings that already name it.
                    if let Some(u) = parse_line(line) {
                        if blobs.has(&u.image.hash) {
                            uploads.insert(u.image.hash, u);
                        }
                    }
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(io("reading", &path)(e)),
        }
        let lib = PhotoLibrary {
            blobs,
            uploads: Arc::new(Mutex::new(uploads)),
            path,
        };
        if lines > lib.lock().len() {
            lib.rewrite()?;
        }
        Ok(lib)
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<BlobHash, Upload>> {
        // Every mutation is a single insert: a poisoned map is still consistent.
        self.uploads.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The blob store.
    pub fn blobs(&self) -> &BlobStore {
        &self.blobs
    }

    /// Re-encodes the photo `bytes` (named `name` in errors), stores it and its thumbnail as
    /// the user's own, and returns the reference a listing carries. Bad input stores nothing.
    /// CPU-heavy: call it on the blocking pool.
    pub fn add(&self, name: &str, bytes: &[u8]) -> Result<ImageRef, PhotoError> {
        let enc = reencode(name, bytes)?;
        let thumb = self.blobs.put(&enc.thumb, BlobClass::Own)?;
        // Derived data: a failure leaves it to be made on first use.
        if let Err(e) = self.blobs.make_card(&thumb, &enc.thumb) {
            tracing::debug!(error = %e, "cannot keep a card thumbnail");
        }
        let hash = self.blobs.put(&enc.photo, BlobClass::Own)?;
        let image = ImageRef {
            hash,
            mime: OUTPUT_MIME.into(),
            size: enc.photo.len() as u64,
            thumb: Some(ImageThumb {
                hash: thumb,
                mime: OUTPUT_MIME.into(),
                size: enc.thumb.len() as u64,
            }),
        };
        let upload = Upload {
            image: image.clone(),
            at: now_secs(),
            published: false,
        };
        self.append(&upload)?;
        self.lock().insert(hash, upload);
        Ok(image)
    }

    /// The reference of an uploaded photo, if it is still here.
    pub fn resolve(&self, hash: &BlobHash) -> Option<ImageRef> {
        let image = self.lock().get(hash).map(|u| u.image.clone())?;
        self.blobs.has(hash).then_some(image)
    }

    /// Releases the user's photos that none of `named` (the photos and thumbnails of the
    /// user's listings) holds any more, to the cache, where the LRU may evict them. Photos
    /// uploaded within [`UPLOAD_GRACE_SECS`] are kept: their listing may not be published yet.
    /// Returns how many blobs were released.
    pub fn release_unnamed(
        &self,
        named: &std::collections::HashSet<BlobHash>,
    ) -> Result<usize, BlobError> {
        let now = now_secs();
        let mut uploads = self.lock();
        for (h, u) in uploads.iter_mut() {
            if named.contains(h) {
                u.published = true;
            }
        }
        let recent: std::collections::HashSet<BlobHash> = uploads
            .values()
            .filter(|u| !u.published && now.saturating_sub(u.at) < UPLOAD_GRACE_SECS)
            .flat_map(|u| {
                std::iter::once(u.image.hash).chain(u.image.thumb.as_ref().map(|t| t.hash))
            })
            .collect();
        drop(uploads);
        let mut released = 0;
        for h in self.blobs.hashes_of_class(BlobClass::Own) {
            if !named.contains(&h) && !recent.contains(&h) {
                self.blobs.set_class(&h, BlobClass::Cached)?;
                released += 1;
            }
        }
        Ok(released)
    }

    /// Removes an uploaded photo and its thumbnail, unless `named` (the photos the user's
    /// listings name) holds them: an upload abandoned before its listing was published (the
    /// CLI does this when another photo of the same `sell` is refused). Whether it was here.
    pub fn discard(
        &self,
        hash: &BlobHash,
        named: &std::collections::HashSet<BlobHash>,
    ) -> Result<bool, BlobError> {
        let Some(u) = self.lock().get(hash).cloned() else {
            return Ok(false);
        };
        if named.contains(hash) {
            return Ok(false);
        }
        if let Some(t) = &u.image.thumb {
            if !named.contains(&t.hash) {
                self.blobs.remove(&t.hash)?;
            }
        }
        let removed = self.blobs.remove(hash)?;
        self.lock().remove(hash);
        Ok(removed)
    }

    fn append(&self, u: &Upload) -> Result<(), BlobError> {
        let mut f = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.path)
            .map_err(io("opening", &self.path))?;
        f.write_all(line_of(u).as_bytes())
            .and_then(|_| f.sync_data())
            .map_err(io("writing", &self.path))
    }

    fn rewrite(&self) -> Result<(), BlobError> {
        let text: String = self.lock().values().map(line_of).collect();
        let tmp = self.path.with_extension("tmp");
        let write = || -> std::io::Result<()> {
            let mut f = File::create(&tmp)?;
            f.write_all(text.as_bytes())?;
            f.sync_all()
        };
        write().map_err(io("writing", &tmp))?;
        fs::rename(&tmp, &self.path).map_err(io("renaming into", &self.path))
    }
}

fn line_of(u: &Upload) -> String {
    let (th, ts) = match &u.image.thumb {
        Some(t) => (hex::encode(t.hash), t.size),
        None => ("-".into(), 0),
    };
    format!(
        "{} {} {th} {ts} {}\n",
        hex::encode(u.image.hash),
        u.image.size,
        u.at
    )
}

fn parse_line(line: &str) -> Option<Upload> {
    let p: Vec<&str> = line.split(' ').collect();
    let [h, size, th, ts, at] = p.as_slice() else {
        return None;
    };
    let hash: BlobHash = hex::decode(h).ok()?.try_into().ok()?;
    let thumb = if *th == "-" {
        None
    } else {
        Some(ImageThumb {
            hash: hex::decode(th).ok()?.try_into().ok()?,
            mime: OUTPUT_MIME.into(),
            size: ts.parse().ok()?,
        })
    };
    Some(Upload {
        image: ImageRef {
            hash,
            mime: OUTPUT_MIME.into(),
            size: size.parse().ok()?,
            thumb,
        },
        at: at.parse().ok()?,
        published: false,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::media::encode::tests::{jpeg, with_gps_exif};

    #[test]
    fn an_upload_is_own_and_resolves_after_a_restart() {
        let dir = tempfile::tempdir().unwrap();
        let blobs = BlobStore::open(dir.path(), 0).unwrap();
        let lib = PhotoLibrary::open(blobs).unwrap();
        let img = lib.add("a.jpg", &with_gps_exif(&jpeg(640, 480))).unwrap();
        let t = img.thumb.clone().unwrap();
        assert_eq!(lib.blobs().class(&img.hash), Some(BlobClass::Own));
        assert_eq!(lib.blobs().class(&t.hash), Some(BlobClass::Own));
        assert_eq!(lib.blobs().size(&img.hash), Some(img.size));
        drop(lib);
        let lib = PhotoLibrary::open(BlobStore::open(dir.path(), 0).unwrap()).unwrap();
        assert_eq!(lib.resolve(&img.hash), Some(img.clone()));
        // Still within the grace period: not released even though nothing names it.
        assert_eq!(lib.release_unnamed(&Default::default()).unwrap(), 0);
    }

    #[test]
    fn bad_input_stores_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let lib = PhotoLibrary::open(BlobStore::open(dir.path(), 0).unwrap()).unwrap();
        assert!(lib.add("x.jpg", b"not a photo").is_err());
        let u = lib.blobs().usage();
        assert_eq!(u.own_count + u.thumb_count + u.cached_count, 0);
        assert!(!dir.path().join(UPLOADS_FILE).exists());
    }
}
