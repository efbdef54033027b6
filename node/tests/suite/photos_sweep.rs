//! Thumbnails the prefetch queue could not take (a sync brought more than it holds) are found
//! again by the sweep of the store: every live listing of others whose thumbnail the node does
//! not hold, in batches of the queue's size, skipping what no peer delivered this run and the
//! user's own listings.

use std::collections::HashSet;
use std::sync::Arc;

use sha2::{Digest, Sha256};
use swapmeet_node::media::blobs::{BlobClass, BlobStore};
use swapmeet_node::media::upkeep::{live_blobs, missing_thumbs};
use swapmeet_node::{Engine, EngineConfig, Source};
use swapmeet_protocol::{
    geo, Category, Condition, Currency, Delivery, ImageRef, ImageThumb, Listing, Location, Price,
    SecretKey, SignedEnvelope,
};

const NOW: u64 = 1_800_000_000;

fn listing(i: usize, thumb: &[u8]) -> Listing {
    Listing {
        item_key: format!("item-{i}"),
        seq: 1,
        signed_at: NOW - 100,
        expires_at: NOW + 7 * 86_400,
        title: format!("Road bike {i}"),
        description: String::new(),
        price: Price::Fixed {
            amount_minor: 10_000,
            currency: Currency::new("EUR").unwrap(),
        },
        condition: Condition::Good,
        category: Category::Bikes,
        tags: vec![],
        quantity: 1,
        location: Some(Location {
            geohash: geo::encode(52.52, 13.405, 6),
            place: None,
        }),
        delivery: Delivery {
            pickup: true,
            shipping: false,
            ships_to: vec![],
        },
        images: vec![ImageRef {
            hash: Sha256::digest(format!("photo {i}")).into(),
            mime: "image/jpeg".into(),
            size: 1_000,
            thumb: Some(ImageThumb {
                hash: Sha256::digest(thumb).into(),
                mime: "image/jpeg".into(),
                size: thumb.len() as u64,
            }),
        }],
        variants: vec![],
        stamp: None,
    }
}

#[test]
fn the_sweep_finds_every_missing_thumbnail_in_batches_and_skips_held_failed_and_own() {
    let dir = tempfile::tempdir().unwrap();
    let config = EngineConfig {
        clock: Arc::new(|| NOW),
        ..EngineConfig::default()
    };
    let engine = Engine::open(&dir.path().join("data"), config).unwrap().0;
    let store = BlobStore::open(&dir.path().join("blobs"), 1 << 20).unwrap();
    let (me, seller) = (SecretKey::generate(), SecretKey::generate());
    let thumbs: Vec<Vec<u8>> = (0..30).map(|i| format!("thumb {i}").into_bytes()).collect();
    let mut envs: Vec<SignedEnvelope> = (0..25)
        .map(|i| listing(i, &thumbs[i]).sign(&seller).unwrap())
        .collect();
    // Five of my own listings: their thumbnails are mine, never prefetched.
    envs.extend((25..30).map(|i| listing(i, &thumbs[i]).sign(&me).unwrap()));
    engine.ingest(envs, Source::Import).unwrap();
    // The node holds two of the others' thumbnails already.
    store.put(&thumbs[0], BlobClass::Thumb).unwrap();
    store.put(&thumbs[1], BlobClass::Thumb).unwrap();
    let hash = |i: usize| -> [u8; 32] { Sha256::digest(&thumbs[i]).into() };

    // 23 missing, in batches of 10: the first says there are more.
    let none = HashSet::new();
    let (first, more) =
        missing_thumbs(&engine, &store, &me.public(), &none, 10, &|| false).unwrap();
    assert_eq!(first.len(), 10);
    assert!(more);
    let (all, more) = missing_thumbs(&engine, &store, &me.public(), &none, 100, &|| false).unwrap();
    assert!(!more);
    let got: HashSet<[u8; 32]> = all.iter().map(|(h, _)| *h).collect();
    let want: HashSet<[u8; 32]> = (2..25).map(hash).collect();
    assert_eq!(
        got, want,
        "every missing thumbnail of others, none held, none of mine"
    );
    // The seller's peer is the first place to ask.
    assert!(all.iter().all(|(_, hint)| hint.is_some()));

    // What no peer delivered this run is not queued again.
    let failed: HashSet<[u8; 32]> = (2..12).map(hash).collect();
    let (rest, more) =
        missing_thumbs(&engine, &store, &me.public(), &failed, 100, &|| false).unwrap();
    assert!(!more);
    assert_eq!(rest.len(), 13);
    assert!(rest.iter().all(|(h, _)| !failed.contains(h)));

    // A stopping node's sweep stops and says there is more (the next run sweeps again); its
    // collection scan stops with an error instead of naming too few live blobs, since a
    // partial answer would remove photos of listings it did not reach.
    let (halted, more) =
        missing_thumbs(&engine, &store, &me.public(), &none, 100, &|| true).unwrap();
    assert!(halted.is_empty() && more);
    assert!(live_blobs(&engine, &me.public(), &|| true).is_err());
    let live = live_blobs(&engine, &me.public(), &|| false).unwrap();
    assert_eq!(
        live.len(),
        60,
        "every listing's photo and thumbnail are named"
    );
}
