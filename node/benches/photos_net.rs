//! Photos over the network (issue 13's figures), on loopback with real nodes in one process:
//! 1. time to fetch a 2 MiB photo from the seller's node, 50 different photos one at a time
//!    (p50/p99/max), each verified and stored by the buyer's node as a fetch for `show` does;
//! 2. the cache bound under a stream of 10,000 listings with thumbnails: the buyer's node
//!    carries them all (thumbnails prefetched), fetches the photo of every 10th with a 16 MiB
//!    cache, and the cached bytes are checked against the budget after every fetch; then the
//!    cost of the collection's scan (which blobs the 10,000 live listings name).
//!
//! Run: `cargo bench -p swapmeet-node --bench photos_net` (on a quiet machine: it takes a few
//! minutes and about 1 GB of temporary disk).

use std::time::{Duration, Instant};

use libp2p::multiaddr::Protocol;
use swapmeet_node::authoring::ListingDraft;
use swapmeet_node::home::{Home, InitOptions};
use swapmeet_node::media::blobs::{BlobClass, BlobHash};
use swapmeet_node::media::fetch::Want;
use swapmeet_node::media::upkeep::live_blobs;
use swapmeet_node::node::{Node, NodeOptions};
use swapmeet_protocol::envelope::Record;
use swapmeet_protocol::listing::{ImageRef, ImageThumb};
use swapmeet_protocol::Currency;

const PHOTO_BYTES: usize = 2 * 1024 * 1024;
const FETCHES: usize = 50;
const STREAM: usize = 10_000;
const STREAM_PHOTO_BYTES: usize = 32 * 1024;
const STREAM_THUMB_BYTES: usize = 4 * 1024;
const CACHE_MIB: u64 = 16;

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

/// Incompressible bytes with a JPEG header, different per seed.
fn jpeg_like(seed: u64, len: usize) -> Vec<u8> {
    let mut b = vec![0xff, 0xd8, 0xff, 0xe0];
    let mut x = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
    while b.len() < len {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        b.extend_from_slice(&x.to_le_bytes());
    }
    b.truncate(len);
    b
}

async fn start(dir: &std::path::Path, cache_mib: u64) -> Node {
    let home = Home::new(dir.to_path_buf());
    home.init(&InitOptions {
        location: Some((52.52, 13.405)),
        currency: Some(Currency::new("EUR").expect("EUR")),
    })
    .expect("init");
    let config = home.config_path();
    // The written config has a [media] section with the default budget: set it there.
    let text: String = std::fs::read_to_string(&config)
        .expect("config")
        .lines()
        .map(|l| match l.trim_start().starts_with("cache_mib") {
            true => format!("cache_mib = {cache_mib}\n"),
            false => format!("{l}\n"),
        })
        .collect();
    assert!(
        text.contains(&format!("cache_mib = {cache_mib}\n")),
        "{text}"
    );
    std::fs::write(&config, text).expect("config");
    Node::start(
        home,
        NodeOptions {
            api: Some("127.0.0.1:0".parse().expect("addr")),
            no_mdns: true,
            listen: vec!["/ip4/127.0.0.1/tcp/0".into()],
            ..Default::default()
        },
    )
    .await
    .expect("start")
}

async fn connect(a: &Node, b: &Node) {
    let net = b.network().expect("network");
    let addr = loop {
        if let Some(a) = net.listen_addrs().await.expect("addrs").into_iter().next() {
            break a.with(Protocol::P2p(net.peer_id()));
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    a.network()
        .expect("network")
        .dial(addr)
        .await
        .expect("dial");
}

fn image(photo: &[u8], thumb: &[u8]) -> ImageRef {
    ImageRef {
        hash: swapmeet_node::media::blobs::hash_of(photo),
        mime: "image/jpeg".into(),
        size: photo.len() as u64,
        thumb: Some(ImageThumb {
            hash: swapmeet_node::media::blobs::hash_of(thumb),
            mime: "image/jpeg".into(),
            size: thumb.len() as u64,
        }),
    }
}

async fn fetch_2mib(seller: &Node, buyer: &Node) {
    let seller_peer = seller.network().expect("network").peer_id();
    let hashes: Vec<BlobHash> = (0..FETCHES as u64)
        .map(|i| {
            seller
                .blobs()
                .put(&jpeg_like(i + 1, PHOTO_BYTES), BlobClass::Own)
                .expect("put")
        })
        .collect();
    let mut times = Vec::with_capacity(FETCHES);
    for h in &hashes {
        let t = Instant::now();
        let f = buyer
            .fetch(Want::photo(*h, Some(seller_peer)))
            .await
            .expect("fetch");
        times.push(t.elapsed());
        assert_eq!(f.bytes.len(), PHOTO_BYTES);
    }
    times.sort();
    println!(
        "fetch a 2 MiB photo from the seller's node on loopback (chunks of 256 KiB, verified and stored), {FETCHES} photos one at a time: p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
        percentile(&times, 0.5).as_secs_f64() * 1e3,
        percentile(&times, 0.99).as_secs_f64() * 1e3,
        times[times.len() - 1].as_secs_f64() * 1e3,
    );
}

async fn stream_10k(seller: &Node, buyer: &Node) {
    let author = seller.author();
    let template = author
        .create(&ListingDraft {
            title: Some("Template".into()),
            price: Some("10 EUR".into()),
            ..Default::default()
        })
        .expect("create");
    let v = seller
        .engine()
        .get_verified(&template.id)
        .expect("get")
        .expect("stored");
    let Record::Listing(base) = v.payload().clone() else {
        panic!("not a listing")
    };
    let t0 = Instant::now();
    let mut photos: Vec<(swapmeet_protocol::ListingId, BlobHash)> = Vec::new();
    for chunk in (0..STREAM).collect::<Vec<_>>().chunks(500) {
        let mut envs = Vec::new();
        for &i in chunk {
            let photo = jpeg_like(1_000_000 + i as u64, STREAM_PHOTO_BYTES);
            let thumb = jpeg_like(2_000_000 + i as u64, STREAM_THUMB_BYTES);
            seller.blobs().put(&photo, BlobClass::Own).expect("put");
            seller.blobs().put(&thumb, BlobClass::Own).expect("put");
            let mut l = base.clone();
            l.item_key = format!("stream-{i}");
            l.seq = 1;
            l.title = format!("Streamed item {i}");
            l.images = vec![image(&photo, &thumb)];
            let env = l.sign(author.key()).expect("sign");
            envs.push(env);
        }
        for p in author.publish_batch(envs).expect("publish") {
            photos.push((p.expect("stored").id, [0; 32]));
        }
    }
    // The photo hash of each listing, from the listing itself.
    for (id, hash) in photos.iter_mut() {
        let v = seller
            .engine()
            .get_verified(id)
            .expect("get")
            .expect("stored");
        if let Record::Listing(l) = v.payload() {
            *hash = l.images[0].hash;
        }
    }
    println!(
        "seller: {STREAM} listings with a photo and a thumbnail published in {:.1} s",
        t0.elapsed().as_secs_f64()
    );
    let t1 = Instant::now();
    let deadline = Instant::now() + Duration::from_secs(1800);
    loop {
        let n = buyer.engine().stats().records;
        let thumbs = buyer.blobs().usage();
        // The stream and the template listing.
        if n > STREAM && thumbs.thumb_count >= STREAM as u64 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the stream did not arrive: {n} listings"
        );
        let _ = buyer.network().expect("network").sync_now().await;
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    let u = buyer.blobs().usage();
    println!(
        "buyer: all {STREAM} listings and their thumbnails in {:.1} s; thumbnails {} ({:.1} MiB)",
        t1.elapsed().as_secs_f64(),
        u.thumb_count,
        u.thumb_bytes as f64 / 1048576.0
    );
    let seller_peer = seller.network().expect("network").peer_id();
    let budget = CACHE_MIB * 1024 * 1024;
    let mut worst = 0;
    for (_, hash) in photos.iter().step_by(10) {
        buyer
            .fetch(Want::photo(*hash, Some(seller_peer)))
            .await
            .expect("fetch");
        let cached = buyer.blobs().usage().cached_bytes;
        worst = worst.max(cached);
        assert!(cached <= budget, "cache over budget: {cached} > {budget}");
    }
    println!(
        "buyer: {} photos of {} KiB fetched with a {CACHE_MIB} MiB cache: cached bytes at most {:.1} MiB after any fetch (bound held)",
        STREAM / 10,
        STREAM_PHOTO_BYTES / 1024,
        worst as f64 / 1048576.0
    );
    // What a collection scans: every live listing, for the blobs it names.
    let me = buyer.author().key().public();
    let before = buyer.blobs().usage();
    let t2 = Instant::now();
    let live = live_blobs(buyer.engine(), &me, &|| false).expect("live");
    let kept: std::collections::HashSet<BlobHash> = live.keys().copied().collect();
    println!(
        "buyer: {} blobs named by live listings (scan {:.0} ms); store holds {:.1} MiB in thumbnails, {:.1} MiB cached",
        kept.len(),
        t2.elapsed().as_secs_f64() * 1e3,
        before.thumb_bytes as f64 / 1048576.0,
        before.cached_bytes as f64 / 1048576.0
    );
}

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        let dirs: Vec<_> = (0..2).map(|_| tempfile::tempdir().expect("tmp")).collect();
        let seller = start(dirs[0].path(), 512).await;
        let buyer = start(dirs[1].path(), CACHE_MIB).await;
        connect(&buyer, &seller).await;
        fetch_2mib(&seller, &buyer).await;
        stream_10k(&seller, &buyer).await;
        buyer.shutdown().await.expect("shutdown");
        seller.shutdown().await.expect("shutdown");
    });
}
