//! Photos (issue 13): re-encode time per photo and disk per listing with photos.
//!
//! Inputs are made here, deterministic: a 12 MP phone-camera JPEG (4032 x 3024, quality 92,
//! textured like a photo rather than a flat colour, so it compresses like one: 3-5 MB) and a
//! 1920 x 1080 PNG screenshot-like image. Each is re-encoded `SWAPMEET_BENCH_PHOTOS` times
//! (default 10); the median and the worst are reported. Then `SWAPMEET_BENCH_LISTINGS`
//! listings (default 50) are published with 3 photos each through the writer and the photo
//! library, and the disk they take (blob files and the store) is divided by their number.
//! Run: `cargo bench -p swapmeet-node --bench photos`.

use std::io::Cursor;
use std::path::Path;
use std::time::{Duration, Instant};

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

use image::codecs::jpeg::JpegEncoder;
use image::{DynamicImage, ImageFormat, Rgb, RgbImage};
use swapmeet_node::authoring::{Author, ListingDraft};
use swapmeet_node::media::{reencode, BlobStore, PhotoLibrary};
use swapmeet_node::synth::Rng;
use swapmeet_node::{Engine, EngineConfig};
use swapmeet_protocol::{Currency, SecretKey};

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// A photo-like picture: smooth gradients with fine noise (sensor grain), seeded.
fn picture(w: u32, h: u32, seed: u64) -> RgbImage {
    let mut rng = Rng::new(seed);
    RgbImage::from_fn(w, h, |x, y| {
        let n = rng.below(24) as u32;
        Rgb([
            ((x * 200 / w) + n) as u8,
            ((y * 180 / h) + n) as u8,
            (((x + y) * 120 / (w + h)) + 40 + n) as u8,
        ])
    })
}

fn camera_jpeg(seed: u64) -> Vec<u8> {
    let mut out = Vec::new();
    JpegEncoder::new_with_quality(&mut out, 92)
        .encode_image(&picture(4032, 3024, seed))
        .unwrap();
    out
}

fn screenshot_png(seed: u64) -> Vec<u8> {
    let mut out = Vec::new();
    DynamicImage::ImageRgb8(picture(1920, 1080, seed))
        .write_to(&mut Cursor::new(&mut out), ImageFormat::Png)
        .unwrap();
    out
}

fn time_reencode(what: &str, input: &[u8], runs: usize) {
    let mut times: Vec<Duration> = Vec::with_capacity(runs);
    let mut sizes = (0, 0);
    for _ in 0..runs {
        let t = Instant::now();
        let e = reencode(what, input).unwrap();
        times.push(t.elapsed());
        sizes = (e.photo.len(), e.thumb.len());
    }
    times.sort();
    println!(
        "re-encode {what}: input {:.1} MB -> photo {} KiB + thumbnail {} KiB; median {:.0} ms, worst {:.0} ms over {runs} runs",
        input.len() as f64 / 1e6,
        sizes.0 / 1024,
        sizes.1 / 1024,
        times[times.len() / 2].as_secs_f64() * 1e3,
        times[times.len() - 1].as_secs_f64() * 1e3,
    );
}

fn dir_bytes(p: &Path) -> u64 {
    let Ok(rd) = std::fs::read_dir(p) else {
        return 0;
    };
    rd.flatten()
        .map(|e| match e.metadata() {
            Ok(m) if m.is_dir() => dir_bytes(&e.path()),
            Ok(m) => m.len(),
            Err(_) => 0,
        })
        .sum()
}

fn main() {
    // As the binary runs: mimalloc hands freed memory back at once.
    swapmeet_node::allocator::purge_promptly_or_say();
    let runs = env_usize("SWAPMEET_BENCH_PHOTOS", 10);
    let listings = env_usize("SWAPMEET_BENCH_LISTINGS", 50);
    time_reencode("12 MP camera JPEG", &camera_jpeg(1), runs);
    time_reencode("1080p PNG", &screenshot_png(2), runs);

    let dir = tempfile::tempdir().unwrap();
    let (engine, _) = Engine::open(&dir.path().join("data"), EngineConfig::default()).unwrap();
    let blobs = BlobStore::open(&dir.path().join("blobs"), 1 << 30).unwrap();
    let photos = PhotoLibrary::open(blobs).unwrap();
    let author = Author::new(
        SecretKey::from_bytes([3; 32]),
        Currency::new("EUR").unwrap(),
        Some((52.52, 13.405)),
        engine.clone(),
    )
    .with_photos(photos.clone());
    engine.durable().unwrap();
    let data_before = dir_bytes(&dir.path().join("data"));
    let t = Instant::now();
    for i in 0..listings {
        let hashes: Vec<String> = (0..3)
            .map(|k| {
                let img = photos
                    .add("photo.jpg", &camera_jpeg((i * 3 + k) as u64 + 10))
                    .unwrap();
                hex::encode(img.hash)
            })
            .collect();
        author
            .create(&ListingDraft {
                title: Some(format!("Item {i} with three photos")),
                price: Some("20 EUR".into()),
                photos: Some(hashes),
                ..ListingDraft::default()
            })
            .unwrap();
    }
    let took = t.elapsed();
    engine.shutdown().unwrap();
    let blob_bytes = dir_bytes(&dir.path().join("blobs"));
    let data_bytes = dir_bytes(&dir.path().join("data")).saturating_sub(data_before);
    println!(
        "{listings} listings with 3 photos each (12 MP camera JPEGs in): {:.0} KiB of blobs + {:.1} KiB of store per listing; {:.2} s per listing to publish (3 re-encodes)",
        blob_bytes as f64 / listings as f64 / 1024.0,
        data_bytes as f64 / listings as f64 / 1024.0,
        took.as_secs_f64() / listings as f64,
    );
}
