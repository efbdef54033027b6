//! The bridge's product images: the feeds' image URLs downloaded (bounded in time, size and
//! parallelism) and published through the same path as the user's own photos (re-encoded, no
//! metadata, kept as Own).
//!
//! A broken image is never a failed sync: the item is listed with the images that worked and
//! the report carries a warning naming the URL. Each URL is fetched once: the photo it became
//! is remembered (sled tree [`TREE_BRIDGE_IMAGES`]), so a price change does not download the
//! catalogue's images again.

use std::collections::HashMap;
use std::io::Read;
use std::sync::Mutex;
use std::time::Duration;

use swapmeet_protocol::ImageRef;

use crate::media::encode::MAX_INPUT_BYTES;
use crate::media::PhotoLibrary;

/// URL -> photo hash (hex) of images already published.
pub const TREE_BRIDGE_IMAGES: &str = "bridge/images/v1";
/// Downloads at once: enough to hide a CDN's latency, few enough that re-encoding (done by the
/// same workers) does not take every core of a small shop server.
pub const IMAGE_PARALLEL: usize = 4;
/// Time to connect to an image server.
pub const IMAGE_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// Time for a whole image download (20 MiB over a slow 10 Mbit/s link takes 17 s).
pub const IMAGE_TIMEOUT: Duration = Duration::from_secs(30);

/// Downloads and publishes images.
pub struct ImageFetcher {
    agent: ureq::Agent,
    photos: PhotoLibrary,
    tree: sled::Tree,
}

/// The outcome of one item's images: the photos, in feed order, and a warning per failure.
pub struct ItemImages {
    /// Photo hashes (hex), in feed order, at most `MAX_IMAGES`.
    pub photos: Vec<String>,
    /// "image URL: why" for every image left out.
    pub warnings: Vec<String>,
}

impl ImageFetcher {
    /// A fetcher publishing into `photos`, remembering URLs in `tree`.
    pub fn new(photos: PhotoLibrary, tree: sled::Tree) -> ImageFetcher {
        let config = ureq::Agent::config_builder()
            .timeout_connect(Some(IMAGE_CONNECT_TIMEOUT))
            .timeout_global(Some(IMAGE_TIMEOUT))
            .http_status_as_error(false)
            .build();
        ImageFetcher {
            agent: ureq::Agent::new_with_config(config),
            photos,
            tree,
        }
    }

    /// The images of several items (each a list of URLs), downloading at most
    /// [`IMAGE_PARALLEL`] at once. Blocking.
    pub fn fetch_items(&self, items: &[&[String]]) -> Vec<ItemImages> {
        let max = swapmeet_protocol::limits::MAX_IMAGES;
        // Every distinct URL once, whatever how many items share it.
        let mut urls: Vec<&str> = Vec::new();
        for links in items {
            for u in links.iter().take(max) {
                if !urls.contains(&u.as_str()) {
                    urls.push(u);
                }
            }
        }
        let results: Mutex<HashMap<&str, Result<ImageRef, String>>> = Mutex::new(HashMap::new());
        let next = Mutex::new(urls.iter());
        std::thread::scope(|s| {
            for _ in 0..IMAGE_PARALLEL.min(urls.len()) {
                s.spawn(|| loop {
                    let url = {
                        let mut it = next.lock().unwrap_or_else(|p| p.into_inner());
                        match it.next() {
                            Some(u) => *u,
                            None => break,
                        }
                    };
                    let r = self.one(url);
                    results
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .insert(url, r);
                });
            }
        });
        let results = results.into_inner().unwrap_or_else(|p| p.into_inner());
        items
            .iter()
            .map(|links| {
                let mut out = ItemImages {
                    photos: Vec::new(),
                    warnings: Vec::new(),
                };
                for u in links.iter().take(max) {
                    match results.get(u.as_str()) {
                        Some(Ok(img)) => {
                            let h = hex::encode(img.hash);
                            if !out.photos.contains(&h) {
                                out.photos.push(h);
                            }
                        }
                        Some(Err(e)) => out.warnings.push(format!("image {u}: {e}")),
                        None => {}
                    }
                }
                if links.len() > max {
                    out.warnings.push(format!(
                        "{} images given; a listing has at most {max}, the first {max} were taken",
                        links.len()
                    ));
                }
                out
            })
            .collect()
    }

    /// One URL: the photo it already became, or downloaded and published now.
    fn one(&self, url: &str) -> Result<ImageRef, String> {
        if let Ok(Some(h)) = self.tree.get(url.as_bytes()) {
            if let Ok(hash) = <[u8; 32]>::try_from(h.as_ref()) {
                if let Some(img) = self.photos.resolve(&hash) {
                    return Ok(img);
                }
            }
        }
        if !(url.starts_with("https://") || url.starts_with("http://")) {
            return Err("not an absolute http(s) URL (pass --shop-url for relative links)".into());
        }
        let bytes = self.download(url)?;
        let img = self.photos.add(url, &bytes).map_err(|e| {
            // The error names the file (here the URL) first; the warning names it already.
            let msg = e.to_string();
            msg.strip_prefix(&format!("{url}: "))
                .map(str::to_string)
                .unwrap_or(msg)
        })?;
        if let Err(e) = self.tree.insert(url.as_bytes(), &img.hash[..]) {
            // Only costs a download next time.
            tracing::warn!(error = %e, "remembering a bridged image failed");
        }
        Ok(img)
    }

    fn download(&self, url: &str) -> Result<Vec<u8>, String> {
        let resp = self
            .agent
            .get(url)
            .call()
            .map_err(|e| format!("download failed: {e}"))?;
        let status = resp.status().as_u16();
        if status >= 400 {
            return Err(format!("the server answered HTTP {status}"));
        }
        // One byte past the cap tells "too large" from "exactly at the cap".
        let mut bytes = Vec::new();
        resp.into_body()
            .into_reader()
            .take(MAX_INPUT_BYTES + 1)
            .read_to_end(&mut bytes)
            .map_err(|e| format!("download failed: {e}"))?;
        if bytes.len() as u64 > MAX_INPUT_BYTES {
            return Err(format!(
                "the image is over {MAX_INPUT_BYTES} bytes (20 MiB), the largest photo taken"
            ));
        }
        Ok(bytes)
    }
}
