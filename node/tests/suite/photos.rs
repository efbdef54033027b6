//! The user's photos through the writer: a listing names uploaded photos and carries their
//! thumbnails, a search hit shows the first thumbnail, a photo dropped from every listing is
//! released to the cache, and bad drafts are refused naming the field.

use std::io::Cursor;

use image::{DynamicImage, ImageFormat, Rgb, RgbImage};
use swapmeet_node::authoring::{Author, AuthorError, ListingDraft};
use swapmeet_node::media::{BlobClass, BlobStore, PhotoLibrary};
use swapmeet_node::search::SearchQuery;
use swapmeet_node::{Engine, EngineConfig};
use swapmeet_protocol::{Currency, ListingId, Record, SecretKey};

struct Seller {
    _dir: tempfile::TempDir,
    engine: Engine,
    author: Author,
    photos: PhotoLibrary,
}

fn seller() -> Seller {
    let dir = tempfile::tempdir().unwrap();
    let (engine, _) = Engine::open(&dir.path().join("data"), EngineConfig::default()).unwrap();
    let blobs = BlobStore::open(&dir.path().join("blobs"), 1 << 30).unwrap();
    let photos = PhotoLibrary::open(blobs).unwrap();
    let author = Author::new(
        SecretKey::from_bytes([5; 32]),
        Currency::new("EUR").unwrap(),
        Some((52.52, 13.405)),
        engine.clone(),
    )
    .with_photos(photos.clone());
    Seller {
        _dir: dir,
        engine,
        author,
        photos,
    }
}

fn png(w: u32, h: u32, seed: u8) -> Vec<u8> {
    let img = RgbImage::from_fn(w, h, |x, y| Rgb([x as u8 ^ seed, y as u8, seed]));
    let mut out = Vec::new();
    DynamicImage::ImageRgb8(img)
        .write_to(&mut Cursor::new(&mut out), ImageFormat::Png)
        .unwrap();
    out
}

fn draft(title: &str, photos: &[String]) -> ListingDraft {
    ListingDraft {
        title: Some(title.into()),
        price: Some("40 EUR".into()),
        photos: Some(photos.to_vec()),
        ..ListingDraft::default()
    }
}

fn images_of(s: &Seller, id: &ListingId) -> Vec<swapmeet_protocol::ImageRef> {
    match s.engine.get_verified(id).unwrap().unwrap().payload() {
        Record::Listing(l) => l.images.clone(),
        Record::Withdrawal(_) | Record::Wanted(_) | Record::BlockList(_) => Vec::new(),
    }
}

#[test]
fn a_listing_names_its_photos_and_a_hit_shows_the_first_thumbnail() {
    let s = seller();
    let a = s.photos.add("a.png", &png(800, 600, 1)).unwrap();
    let b = s.photos.add("b.png", &png(600, 800, 2)).unwrap();
    let (ha, hb) = (hex::encode(a.hash), hex::encode(b.hash));
    let p = s
        .author
        .create(&draft("Bike with photos", &[ha.clone(), hb.clone()]))
        .unwrap();
    let images = images_of(&s, &p.id);
    assert_eq!(images, vec![a.clone(), b.clone()]);
    for i in &images {
        let t = i.thumb.as_ref().unwrap();
        assert_eq!(s.photos.blobs().class(&i.hash), Some(BlobClass::Own));
        assert_eq!(s.photos.blobs().class(&t.hash), Some(BlobClass::Own));
    }
    s.engine.commit().unwrap();
    let hits = s
        .engine
        .search(&SearchQuery {
            text: Some("bike".into()),
            ..SearchQuery::default()
        })
        .unwrap()
        .hits;
    assert_eq!(hits.len(), 1);
    assert_eq!(
        hits[0].summary.thumb.as_deref(),
        Some(hex::encode(a.thumb.as_ref().unwrap().hash).as_str())
    );

    // Dropping photo `a` from its only listing releases it (and its thumbnail) to the cache;
    // `b` stays the user's own.
    let u = s
        .author
        .update(&p.id, &draft("Bike with photos", std::slice::from_ref(&hb)))
        .unwrap();
    assert!(u.changed);
    assert_eq!(images_of(&s, &p.id), vec![b.clone()]);
    assert_eq!(s.photos.blobs().class(&a.hash), Some(BlobClass::Cached));
    assert_eq!(
        s.photos.blobs().class(&a.thumb.as_ref().unwrap().hash),
        Some(BlobClass::Cached)
    );
    assert_eq!(s.photos.blobs().class(&b.hash), Some(BlobClass::Own));

    // A photo two listings name stays own until neither does.
    let q = s
        .author
        .create(&draft("Second bike", std::slice::from_ref(&hb)))
        .unwrap();
    s.author
        .withdraw(&p.id, swapmeet_protocol::WithdrawReason::Sold)
        .unwrap();
    assert_eq!(s.photos.blobs().class(&b.hash), Some(BlobClass::Own));
    s.author
        .withdraw(&q.id, swapmeet_protocol::WithdrawReason::Withdrawn)
        .unwrap();
    assert_eq!(s.photos.blobs().class(&b.hash), Some(BlobClass::Cached));
}

#[test]
fn bad_photo_lists_are_refused_naming_the_field_and_nothing_is_published() {
    let s = seller();
    let a = hex::encode(s.photos.add("a.png", &png(100, 100, 3)).unwrap().hash);
    let unknown = hex::encode([9u8; 32]);
    let cases: Vec<(Vec<String>, &str)> = vec![
        (vec![unknown], "no uploaded photo"),
        (vec!["zz".into()], "not a photo hash"),
        (vec![a.clone(), a.clone()], "given twice"),
        (vec![a.clone(); 11], "at most 10"),
    ];
    for (photos, want) in cases {
        let e = s.author.create(&draft("Lamp", &photos)).unwrap_err();
        match &e {
            AuthorError::Invalid { field, reason } => {
                assert_eq!(*field, "photos");
                assert!(reason.contains(want), "{reason}");
            }
            other => panic!("{other}"),
        }
    }
    assert!(s
        .engine
        .records_of(&SecretKey::from_bytes([5; 32]).public())
        .unwrap()
        .is_empty());
}
