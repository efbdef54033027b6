//! The web UI's search page on a large node (issue 17, BENCHMARKS.md "The web UI"): a node
//! holding `SWAPMEET_BENCH_LISTINGS` listings (default 1,000,000), each naming one of 64 photos
//! the node holds, serves its UI; Chromium (playwright-core from `cli/tests/browser`, driving
//! Debian's `/usr/bin/chromium` or `SWAPMEET_CHROMIUM`) searches through the page and the script
//! times request -> fully rendered (20 result cards, every thumbnail decoded), p50/p99.
//!
//! Run: `cargo bench -p swapmeet-node --bench ui`. `SWAPMEET_BENCH_KEEP=DIR` keeps the loaded
//! home in DIR and reuses it; `SWAPMEET_BENCH_ROUNDS` (default 5) rounds of the query list.
//! Needs Node.js 20+ and the packages of `cli/tests/browser` (`npm ci` there).

use std::io::Cursor;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

use image::{ImageFormat, Rgb, RgbImage};
use swapmeet_node::home::{Home, InitOptions};
use swapmeet_node::media::blobs::BlobStore;
use swapmeet_node::media::photos::PhotoLibrary;
use swapmeet_node::node::{Node, NodeOptions};
use swapmeet_node::synth::Synth;
use swapmeet_node::{Engine, EngineConfig, Source};
use swapmeet_protocol::{Currency, ImageRef, SignedEnvelope};

const PHOTOS: usize = 64;

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// A photo as a phone takes it, different for each `seed`.
fn jpeg(seed: u32) -> Vec<u8> {
    let img = RgbImage::from_fn(1024, 768, |x, y| {
        Rgb([
            ((x + seed * 37) % 256) as u8,
            ((y + seed * 91) % 256) as u8,
            (((x / 32 + y / 32 + seed) % 2) * 200) as u8,
        ])
    });
    let mut out = Vec::new();
    img.write_to(&mut Cursor::new(&mut out), ImageFormat::Jpeg)
        .unwrap();
    out
}

/// `n` signed listings, each naming one of `photos`, signed on every core.
fn corpus(seed: u64, n: usize, t: u64, photos: &[ImageRef]) -> Vec<SignedEnvelope> {
    let threads = std::thread::available_parallelism().map_or(2, |p| p.get());
    let per = n.div_ceil(threads);
    std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads)
            .map(|k| {
                s.spawn(move || {
                    let mut synth = Synth::new(seed + k as u64, 2000, t);
                    let count = per.min(n.saturating_sub(k * per));
                    (0..count)
                        .map(|i| {
                            let (seller, mut l) = synth.listing();
                            l.images = vec![photos[(i * 7 + k) % photos.len()].clone()];
                            l.sign(&synth.sellers()[seller]).unwrap()
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().unwrap())
            .collect()
    })
}

/// Creates the home with its photos and listings (or reuses a kept one).
fn prepare(dir: &Path, n: usize) {
    let done = dir.join("bench-ui-loaded");
    if done.exists() {
        eprintln!("reusing the home in {}", dir.display());
        return;
    }
    let home = Home::new(dir.to_path_buf());
    home.init(&InitOptions {
        location: Some((52.52, 13.405)),
        currency: Some(Currency::new("EUR").unwrap()),
    })
    .unwrap();
    let blobs = BlobStore::open(
        &home.blobs_dir(),
        home.load_config().unwrap().media_cache_bytes().unwrap(),
    )
    .unwrap();
    let library = PhotoLibrary::open(blobs).unwrap();
    let photos: Vec<ImageRef> = (0..PHOTOS as u32)
        .map(|i| library.add(&format!("photo-{i}.jpg"), &jpeg(i)).unwrap())
        .collect();
    drop(library);
    let (engine, _) = Engine::open(&home.data_dir(), EngineConfig::default()).unwrap();
    let t = now();
    let mut loaded = 0;
    while loaded < n {
        let chunk = (n - loaded).min(200_000);
        let envs = corpus(500 + loaded as u64, chunk, t, &photos);
        let start = Instant::now();
        let mut rest = envs;
        while !rest.is_empty() {
            let tail = rest.split_off(rest.len().min(4096));
            let batch = std::mem::replace(&mut rest, tail);
            engine.ingest(batch, Source::Import).unwrap();
        }
        loaded += chunk;
        eprintln!(
            "loaded {loaded} ({:.0}/s)",
            chunk as f64 / start.elapsed().as_secs_f64()
        );
    }
    engine.commit().unwrap();
    engine.shutdown().unwrap();
    drop(engine);
    std::fs::write(done, n.to_string()).unwrap();
}

fn browser_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../cli/tests/browser")
}

fn main() {
    // As the binary runs: mimalloc hands freed memory back at once.
    swapmeet_node::allocator::purge_promptly_or_say();
    let n = env_usize("SWAPMEET_BENCH_LISTINGS", 1_000_000);
    let rounds = env_usize("SWAPMEET_BENCH_ROUNDS", 5);
    let temp = tempfile::tempdir().unwrap();
    let dir = std::env::var_os("SWAPMEET_BENCH_KEEP")
        .map(PathBuf::from)
        .unwrap_or_else(|| temp.path().to_path_buf());
    std::fs::create_dir_all(&dir).unwrap();
    println!("# swapmeet web UI benchmark: the search page on a node with {n} listings");
    prepare(&dir, n);

    let rt = tokio::runtime::Runtime::new().unwrap();
    let node = rt
        .block_on(Node::start(
            Home::new(dir.clone()),
            NodeOptions {
                api: Some("127.0.0.1:0".parse().unwrap()),
                listen: vec!["/ip4/127.0.0.1/tcp/0".into()],
                no_mdns: true,
                ..Default::default()
            },
        ))
        .unwrap();
    // The figure is the search page of a running node, not of one still reading its store
    // (the restart figure is `node/benches/restart.sh`): wait for the lookups, whose pass
    // takes a core for about 20 s at 1,000,000 listings.
    let loading = Instant::now();
    node.engine().wait_loaded().unwrap();
    println!(
        "the node's store was ready {:.1} s after start",
        loading.elapsed().as_secs_f64()
    );
    let api = node.api_addr();
    let token = Home::new(dir.clone()).token().unwrap();
    let login: serde_json::Value = ureq::post(format!("http://{api}/v1/ui/login"))
        .header("Authorization", format!("Bearer {token}"))
        .send_json(serde_json::json!({}))
        .unwrap()
        .body_mut()
        .read_json()
        .unwrap();
    if std::env::var_os("SWAPMEET_BENCH_HOLD").is_some() {
        // For looking at the node by hand (curl, a browser): runs until killed.
        println!(
            "holding: api http://{api} token {token} login {}",
            login["url"]
        );
        loop {
            std::thread::sleep(std::time::Duration::from_secs(3600));
        }
    }
    let chromium =
        std::env::var("SWAPMEET_CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into());
    let out = Command::new("node")
        .arg("bench.mjs")
        .current_dir(browser_dir())
        .env("LOGIN_URL", login["url"].as_str().unwrap())
        .env("CHROMIUM", chromium)
        .env("ROUNDS", rounds.to_string())
        .output()
        .expect("node (Node.js 20+) runs the browser side");
    print!("{}", String::from_utf8_lossy(&out.stdout));
    eprint!("{}", String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "the browser side failed");
    rt.block_on(node.shutdown()).unwrap();
}
