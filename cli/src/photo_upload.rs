//! `sell --photo` and `update --photo/--remove-photo`: the files are checked here, uploaded to
//! the node (which re-encodes them), and named in the draft by hash.
//!
//! All or nothing: when one photo of a command is refused, the photos it already uploaded are
//! removed from the node again (`DELETE /v1/photos/{hash}`), so a failed `sell` stores nothing.

use std::path::{Path, PathBuf};

use anyhow::{anyhow, bail, Context, Result};
use serde_json::Value;
use swapmeet_node::media::encode::MAX_INPUT_BYTES;
use swapmeet_protocol::limits::MAX_IMAGES;

use crate::client::Client;

/// Photos uploaded by one command, removed again unless the command succeeds.
pub struct Uploads<'a> {
    client: &'a Client,
    hashes: Vec<String>,
    kept: bool,
}

impl<'a> Uploads<'a> {
    /// The hashes uploaded, in order.
    pub fn hashes(&self) -> &[String] {
        &self.hashes
    }

    /// The listing that names them was published: keep them.
    pub fn keep(mut self) {
        self.kept = true;
    }
}

impl Drop for Uploads<'_> {
    fn drop(&mut self) {
        if self.kept {
            return;
        }
        for h in &self.hashes {
            // Best effort: a photo left behind is released to the cache by the node later.
            if let Err(e) = self.client.delete(&format!("/v1/photos/{h}")) {
                tracing::debug!(error = %e, "removing an abandoned upload failed");
            }
        }
    }
}

/// Checks that `files` exist and are within the size limit and that, with `existing` photos
/// already on the listing, there are at most [`MAX_IMAGES`]; nothing is uploaded when not.
pub fn check(files: &[PathBuf], existing: usize) -> Result<()> {
    let total = existing + files.len();
    if total > MAX_IMAGES {
        bail!(
            "--photo: {total} photos{}; a listing has at most {MAX_IMAGES}",
            if existing > 0 {
                format!(" ({existing} on the listing, {} given)", files.len())
            } else {
                " given".into()
            }
        );
    }
    for f in files {
        let meta = std::fs::metadata(f).with_context(|| format!("--photo {}", f.display()))?;
        if !meta.is_file() {
            bail!("--photo {}: not a file", f.display());
        }
        if meta.len() > MAX_INPUT_BYTES {
            bail!(
                "{}: the file is {} bytes; a photo may be at most {MAX_INPUT_BYTES} bytes (20 MiB)",
                f.display(),
                meta.len()
            );
        }
    }
    Ok(())
}

fn content_type(path: &Path) -> &'static str {
    match path
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase)
        .as_deref()
    {
        Some("png") => "image/png",
        Some("webp") => "image/webp",
        // The node sniffs the format from the bytes; the header is informational.
        _ => "image/jpeg",
    }
}

/// Uploads `files` in order (after [`check`]); on any failure the ones uploaded are removed.
pub fn upload<'a>(client: &'a Client, files: &[PathBuf]) -> Result<Uploads<'a>> {
    let mut up = Uploads {
        client,
        hashes: Vec::with_capacity(files.len()),
        kept: false,
    };
    for f in files {
        let bytes = std::fs::read(f).with_context(|| format!("reading {}", f.display()))?;
        let name = f.display().to_string();
        let path = format!("/v1/photos?name={}", query_escape(&name));
        let r = client.post_raw(&path, content_type(f), bytes)?;
        let hash = r["photo"]["hash"]
            .as_str()
            .ok_or_else(|| anyhow!("the node's answer to uploading {name} names no photo: {r}"))?;
        up.hashes.push(hash.to_string());
    }
    Ok(up)
}

/// The photo hashes of a listing as `GET /v1/listings/{id}` shows them.
pub fn current(listing: &Value) -> Vec<String> {
    listing["images"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|i| i["hash"].as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

/// `current` without the photos `remove` names (numbers from 1 as `show` lists them, or hashes).
pub fn without(current: &[String], remove: &[String]) -> Result<Vec<String>> {
    let mut drop = vec![false; current.len()];
    for r in remove {
        let r = r.trim();
        let at = match r.parse::<usize>() {
            Ok(n) if (1..=current.len()).contains(&n) => n - 1,
            Ok(n) => bail!(
                "--remove-photo {n}: the listing has {} photo(s), numbered from 1",
                current.len()
            ),
            Err(_) => current
                .iter()
                .position(|h| h.eq_ignore_ascii_case(r))
                .ok_or_else(|| {
                    anyhow!("--remove-photo {r}: the listing has no photo with this hash")
                })?,
        };
        drop[at] = true;
    }
    Ok(current
        .iter()
        .zip(drop)
        .filter(|(_, d)| !d)
        .map(|(h, _)| h.clone())
        .collect())
}

/// Percent-encodes a query value.
fn query_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~/".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}
