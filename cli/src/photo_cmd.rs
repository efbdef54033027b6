//! `swapmeet photo ID [N] --out FILE`: saves a listing's photo (N counts from 1), fetched
//! from the network by the node when it does not hold it; and the photo list `show` prints.

use std::io::Write;

use anyhow::{anyhow, bail, Context, Result};
use serde_json::{json, Value};
use swapmeet_node::home::Home;
use swapmeet_protocol::ListingId;

use crate::args::PhotoArgs;
use crate::client::{is_not_found, Client};
use crate::output::Out;
use crate::Done;

pub fn photo(home: &Home, out: &Out, a: PhotoArgs) -> Result<Done> {
    a.id.parse::<ListingId>().map_err(|_| {
        anyhow!(
            "'{}' is not a listing id (26 characters a-z, 2-7; see `swapmeet search`)",
            a.id
        )
    })?;
    let c = Client::connect(home)?;
    let v = match c.get(&format!("/v1/listings/{}", a.id)) {
        Ok(v) => v,
        Err(e) if is_not_found(&e) => {
            eprintln!("{e}");
            return Ok(Done::NothingFound);
        }
        Err(e) => return Err(e),
    };
    let images = v["images"].as_array().cloned().unwrap_or_default();
    if images.is_empty() {
        bail!("listing {} has no photos", a.id);
    }
    let n = a.n;
    if n == 0 || n > images.len() {
        bail!(
            "photo {n}: listing {} has {} photo(s); N counts from 1 to {}",
            a.id,
            images.len(),
            images.len()
        );
    }
    let img = &images[n - 1];
    let hash = img["hash"]
        .as_str()
        .ok_or_else(|| anyhow!("the node's answer names no hash for photo {n}"))?;
    let bytes = c.get_bytes(&format!("/v1/blobs/{hash}?listing={}", a.id))?;
    write_atomically(&a.out, &bytes)?;
    let mime = img["mime"].as_str().unwrap_or("");
    out.emit(
        &json!({
            "listing": a.id,
            "photo": n,
            "hash": hash,
            "mime": mime,
            "bytes": bytes.len(),
            "out": a.out.display().to_string(),
        }),
        || {
            format!(
                "saved photo {n} of {} ({}, {}) to {}",
                a.id,
                mime,
                size(bytes.len() as u64),
                a.out.display()
            )
        },
    )?;
    Ok(Done::Ok)
}

/// Writes `bytes` to `path` through a temporary file beside it, so an interrupted save
/// leaves no half photo under the name asked for.
fn write_atomically(path: &std::path::Path, bytes: &[u8]) -> Result<()> {
    let name = path
        .file_name()
        .ok_or_else(|| anyhow!("--out {}: not a file name", path.display()))?;
    let mut part_name = std::ffi::OsString::from(".");
    part_name.push(name);
    part_name.push(".part");
    let part = path.with_file_name(part_name);
    let written = std::fs::File::create(&part).and_then(|mut f| {
        f.write_all(bytes)?;
        f.sync_all()
    });
    if let Err(e) = written.and_then(|()| std::fs::rename(&part, path)) {
        let _ = std::fs::remove_file(&part);
        return Err(e).with_context(|| format!("writing {}", path.display()));
    }
    Ok(())
}

/// Bytes as people read them.
fn size(n: u64) -> String {
    match n {
        n if n >= 1024 * 1024 => format!("{:.1} MiB", n as f64 / (1024.0 * 1024.0)),
        n if n >= 1024 => format!("{} KiB", n.div_ceil(1024)),
        n => format!("{n} B"),
    }
}

/// The photo lines of `show`: number (from 1), type, size, whether this node holds it.
pub fn show_lines(v: &Value) -> Option<String> {
    let images = v["images"].as_array().filter(|i| !i.is_empty())?;
    let mut t = String::from("photos:");
    for (i, img) in images.iter().enumerate() {
        let local = match img["local"].as_bool() {
            Some(true) => "here",
            Some(false) => "on the network",
            None => "",
        };
        t.push_str(&format!(
            "\n  {:>2}. {:<10} {:>9}  {}",
            i + 1,
            img["mime"].as_str().unwrap_or("?"),
            size(img["size"].as_u64().unwrap_or(0)),
            local
        ));
    }
    t.push_str("\n(save one with `swapmeet photo ID N --out FILE`)");
    Some(t)
}
