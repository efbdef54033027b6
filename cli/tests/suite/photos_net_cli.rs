//! `swapmeet show` and `swapmeet photo` through the real binary: a buyer's node (the binary,
//! in a temporary home) saves the photo of a seller's listing, fetched from the seller's node
//! (in this process, where the test can give its listing photos without the photo encoder).

use crate::common;

use std::process::Stdio;
use std::time::{Duration, Instant};

use common::Home;
use swapmeet_node::authoring::ListingDraft;
use swapmeet_node::home::{Home as NodeHome, InitOptions};
use swapmeet_node::media::BlobClass;
use swapmeet_node::node::{Node, NodeOptions};
use swapmeet_protocol::envelope::Record;
use swapmeet_protocol::listing::{ImageRef, ImageThumb};
use swapmeet_protocol::Currency;

fn jpeg_like(seed: u8, len: usize) -> Vec<u8> {
    let mut b = vec![0xff, 0xd8, 0xff, 0xe0];
    let mut x = u32::from(seed).wrapping_mul(2_654_435_761) | 1;
    while b.len() < len {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        b.push(x as u8);
    }
    b
}

/// The seller's node, with a listing naming two photos (each with a thumbnail) it holds.
async fn seller(dir: &std::path::Path) -> (Node, String, Vec<Vec<u8>>) {
    let home = NodeHome::new(dir.to_path_buf());
    home.init(&InitOptions {
        location: Some((52.52, 13.405)),
        currency: Some(Currency::new("EUR").unwrap()),
    })
    .unwrap();
    let node = Node::start(
        home,
        NodeOptions {
            api: Some("127.0.0.1:0".parse().unwrap()),
            no_mdns: true,
            listen: vec!["/ip4/127.0.0.1/tcp/0".into()],
            ..Default::default()
        },
    )
    .await
    .unwrap();
    let mut photos = Vec::new();
    let mut images = Vec::new();
    for seed in [5u8, 6] {
        let photo = jpeg_like(seed, 400_000);
        let thumb = jpeg_like(seed + 50, 12_000);
        images.push(ImageRef {
            hash: node.blobs().put(&photo, BlobClass::Own).unwrap(),
            mime: "image/jpeg".into(),
            size: photo.len() as u64,
            thumb: Some(ImageThumb {
                hash: node.blobs().put(&thumb, BlobClass::Own).unwrap(),
                mime: "image/jpeg".into(),
                size: thumb.len() as u64,
            }),
        });
        photos.push(photo);
    }
    let author = node.author();
    let id = author
        .create(&ListingDraft {
            title: Some("Wooden rocking chair".into()),
            price: Some("45 EUR".into()),
            ..Default::default()
        })
        .unwrap()
        .id;
    let v = node.engine().get_verified(&id).unwrap().unwrap();
    let Record::Listing(mut l) = v.payload().clone() else {
        panic!("not a listing")
    };
    l.seq += 1;
    l.images = images;
    author
        .publish_batch(vec![l.sign(author.key()).unwrap()])
        .unwrap()
        .pop()
        .unwrap()
        .unwrap();
    (node, id.to_string(), photos)
}

fn wait_for<T>(what: &str, mut f: impl FnMut() -> Option<T>) -> T {
    let start = Instant::now();
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "timed out waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn photo_saves_the_sellers_photo_fetched_over_the_network_and_show_lists_them() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let seller_dir = tempfile::tempdir().unwrap();
    let (node, id, photos) = rt.block_on(seller(seller_dir.path()));
    let net = node.network().unwrap().clone();
    let addr = rt.block_on(async {
        let start = Instant::now();
        loop {
            if let Some(a) = net.listen_addrs().await.unwrap().into_iter().next() {
                break format!("{a}/p2p/{}", net.peer_id());
            }
            assert!(
                start.elapsed() < Duration::from_secs(30),
                "no listen address"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    });

    let mut buyer = Home::new();
    buyer.ok(&["init", "--location", "52.50,13.45", "--currency", "EUR"]);
    buyer.start_node_with(&["--bootstrap", &addr], Stdio::null());
    wait_for("the listing at the buyer's node", || {
        buyer.cmd(&["show", &id]).status.success().then_some(())
    });

    // `show` numbers the photos from 1; the full photos are not here yet.
    let shown = buyer.ok(&["show", &id]);
    assert!(shown.contains("photos:"), "{shown}");
    assert!(shown.contains(" 1. image/jpeg"), "{shown}");
    assert!(shown.contains(" 2. image/jpeg"), "{shown}");
    assert!(shown.contains("on the network"), "{shown}");

    // Photo 2, saved: the seller's bytes, fetched by the buyer's node.
    let out = buyer.path().join("chair-2.jpg");
    let saved = buyer.json_ok(&["photo", &id, "2", "--out", out.to_str().unwrap()]);
    assert_eq!(saved[0]["photo"], 2);
    assert_eq!(saved[0]["bytes"], photos[1].len());
    assert_eq!(std::fs::read(&out).unwrap(), photos[1]);
    // N defaults to 1.
    let first = buyer.path().join("chair.jpg");
    buyer.ok(&["photo", &id, "--out", first.to_str().unwrap()]);
    assert_eq!(std::fs::read(&first).unwrap(), photos[0]);
    // Now both are here.
    let shown = buyer.ok(&["show", &id]);
    assert!(!shown.contains("on the network"), "{shown}");

    // A photo number the listing does not have: an error naming the range, nothing written.
    let missing = buyer.path().join("none.jpg");
    let o = buyer.cmd(&["photo", &id, "3", "--out", missing.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("has 2 photo(s); N counts from 1 to 2"),
        "{err}"
    );
    assert!(!missing.exists());

    buyer.stop_node();
    rt.block_on(node.shutdown()).unwrap();
}
