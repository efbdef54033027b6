//! Photos through the real binary: `sell --photo` with a camera JPEG carrying GPS EXIF and a
//! PNG, `show` lists them with thumbnails, the blobs on disk carry no metadata, a search hit
//! names the first thumbnail, `update --photo/--remove-photo`; and every bad input (not an
//! image, a decompression bomb, a truncated file, too many photos, an oversized file) exits
//! non-zero naming the file and the limit, with nothing stored.

use crate::common;

use std::io::Cursor;
use std::path::{Path, PathBuf};

use common::Home;
use image::codecs::jpeg::JpegEncoder;
use image::{DynamicImage, ImageFormat, Rgb, RgbImage};
use serde_json::Value;

fn gradient(w: u32, h: u32, seed: u8) -> RgbImage {
    RgbImage::from_fn(w, h, |x, y| {
        Rgb([
            (x * 255 / w) as u8,
            (y * 255 / h) as u8,
            ((x ^ y) as u8) ^ seed,
        ])
    })
}

fn jpeg(w: u32, h: u32, seed: u8) -> Vec<u8> {
    let mut out = Vec::new();
    JpegEncoder::new_with_quality(&mut out, 90)
        .encode_image(&gradient(w, h, seed))
        .unwrap();
    out
}

fn png(w: u32, h: u32, seed: u8) -> Vec<u8> {
    let mut out = Vec::new();
    DynamicImage::ImageRgb8(gradient(w, h, seed))
        .write_to(&mut Cursor::new(&mut out), ImageFormat::Png)
        .unwrap();
    out
}

/// The JPEG with an APP1 Exif segment after SOI as a camera writes it: TIFF header (little
/// endian), IFD0 with Make, the body serial number and the GPS IFD pointer, and a GPS IFD
/// with latitude/longitude in RATIONALs (52° 30' 1.23" N, 13° 24' 36.9" E).
fn with_gps_exif(jpeg: &[u8]) -> Vec<u8> {
    fn u16le(v: &mut Vec<u8>, x: u16) {
        v.extend_from_slice(&x.to_le_bytes());
    }
    fn u32le(v: &mut Vec<u8>, x: u32) {
        v.extend_from_slice(&x.to_le_bytes());
    }
    let make = b"GarageCam\0";
    let serial = b"SN-4242-HOME\0";
    let make_at = 8 + 2 + 12 * 3 + 4;
    let serial_at = make_at + make.len() as u32;
    let gps_at = serial_at + serial.len() as u32;
    let lat_at = gps_at + 2 + 12 * 4 + 4;
    let lon_at = lat_at + 24;
    let mut t = b"II*\0".to_vec();
    u32le(&mut t, 8);
    u16le(&mut t, 3);
    for (tag, typ, count, value) in [
        (0x010f_u16, 2_u16, make.len() as u32, make_at),
        (0x8825, 4, 1, gps_at),
        (0xa431, 2, serial.len() as u32, serial_at),
    ] {
        u16le(&mut t, tag);
        u16le(&mut t, typ);
        u32le(&mut t, count);
        u32le(&mut t, value);
    }
    u32le(&mut t, 0);
    t.extend_from_slice(make);
    t.extend_from_slice(serial);
    u16le(&mut t, 4);
    for (tag, typ, count, value) in [
        (0x0001_u16, 2_u16, 2_u32, u32::from_le_bytes(*b"N\0\0\0")),
        (0x0002, 5, 3, lat_at),
        (0x0003, 2, 2, u32::from_le_bytes(*b"E\0\0\0")),
        (0x0004, 5, 3, lon_at),
    ] {
        u16le(&mut t, tag);
        u16le(&mut t, typ);
        u32le(&mut t, count);
        u32le(&mut t, value);
    }
    u32le(&mut t, 0);
    for (num, den) in [(52, 1), (30, 1), (123, 100), (13, 1), (24, 1), (369, 10)] {
        u32le(&mut t, num);
        u32le(&mut t, den);
    }
    let mut payload = b"Exif\0\0".to_vec();
    payload.extend_from_slice(&t);
    let mut out = jpeg[..2].to_vec();
    out.extend_from_slice(&[0xff, 0xe1]);
    out.extend_from_slice(&((payload.len() + 2) as u16).to_be_bytes());
    out.extend_from_slice(&payload);
    out.extend_from_slice(&jpeg[2..]);
    out
}

/// The markers of a JPEG's segments up to the start of scan.
fn segment_markers(jpeg: &[u8]) -> Vec<u8> {
    assert_eq!(&jpeg[..2], &[0xff, 0xd8], "starts with SOI");
    let (mut at, mut markers) = (2, Vec::new());
    while at + 4 <= jpeg.len() {
        assert_eq!(jpeg[at], 0xff);
        let m = jpeg[at + 1];
        markers.push(m);
        if m == 0xda {
            break;
        }
        at += 2 + u16::from_be_bytes([jpeg[at + 2], jpeg[at + 3]]) as usize;
    }
    markers
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

fn write(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, bytes).unwrap();
    p
}

fn blob_path(h: &Home, hash: &str) -> PathBuf {
    h.path().join("blobs").join(&hash[..2]).join(hash)
}

/// Every blob file in the home (not the journals or the temp folder).
fn blob_files(h: &Home) -> Vec<PathBuf> {
    let Ok(dirs) = std::fs::read_dir(h.path().join("blobs")) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for d in dirs {
        let d = d.unwrap();
        let name = d.file_name().to_string_lossy().to_string();
        if name.len() == 2 && d.path().is_dir() {
            for f in std::fs::read_dir(d.path()).unwrap() {
                out.push(f.unwrap().path());
            }
        }
    }
    out
}

#[test]
fn sell_with_two_photos_publishes_them_without_metadata() {
    let h = Home::with_node("EUR");
    let files = tempfile::tempdir().unwrap();
    let camera = with_gps_exif(&jpeg(2400, 1800, 1));
    assert!(contains(&camera, b"Exif\0\0") && contains(&camera, b"SN-4242-HOME"));
    let a = write(files.path(), "bike1.jpg", &camera);
    let b = write(files.path(), "bike2.png", &png(500, 700, 2));
    let out = h.json_ok(&[
        "sell",
        "--title",
        "Road bike with photos",
        "--price",
        "250 EUR",
        "--photo",
        a.to_str().unwrap(),
        "--photo",
        b.to_str().unwrap(),
    ]);
    let id = out[0]["id"].as_str().unwrap().to_string();

    let shown = h.json_ok(&["show", &id]);
    let images = shown[0]["images"].as_array().unwrap().clone();
    assert_eq!(images.len(), 2, "{shown:?}");
    let mut dims = Vec::new();
    for img in &images {
        assert_eq!(img["mime"], "image/jpeg");
        let hash = img["hash"].as_str().unwrap();
        let thumb = img["thumb"]["hash"].as_str().unwrap();
        for (blob, size) in [(hash, &img["size"]), (thumb, &img["thumb"]["size"])] {
            let bytes = std::fs::read(blob_path(&h, blob)).unwrap();
            assert_eq!(bytes.len() as u64, size.as_u64().unwrap());
            let markers = segment_markers(&bytes);
            assert!(
                markers
                    .iter()
                    .all(|m| !(0xe1..=0xef).contains(m) && *m != 0xfe),
                "no APPn but JFIF, no comment: {markers:x?}"
            );
            assert!(!contains(&bytes, b"Exif"));
            assert!(!contains(&bytes, b"GarageCam"));
            assert!(!contains(&bytes, b"SN-4242-HOME"));
            image::load_from_memory(&bytes).unwrap();
        }
        let photo = image::load_from_memory(&std::fs::read(blob_path(&h, hash)).unwrap()).unwrap();
        dims.push((photo.width(), photo.height()));
    }
    assert_eq!(dims, vec![(1600, 1200), (500, 700)]);

    // A search hit names the first photo's thumbnail.
    let hits = h.search_until(&["road", "bike"], 1);
    assert_eq!(hits[0]["thumb"], images[0]["thumb"]["hash"]);

    // update: remove the first photo, add another.
    let c = write(files.path(), "bike3.jpg", &jpeg(900, 600, 3));
    h.ok(&[
        "update",
        &id,
        "--remove-photo",
        "1",
        "--photo",
        c.to_str().unwrap(),
    ]);
    let shown = h.json_ok(&["show", &id]);
    let now: Vec<&Value> = shown[0]["images"].as_array().unwrap().iter().collect();
    assert_eq!(now.len(), 2);
    assert_eq!(
        now[0]["hash"], images[1]["hash"],
        "the second photo is now first"
    );
    assert_ne!(now[1]["hash"], images[0]["hash"]);
    // Removing by hash works too; a number past the end is refused naming the count.
    let o = h.cmd(&["update", &id, "--remove-photo", "3"]);
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("has 2 photo(s)"));
    h.ok(&[
        "update",
        &id,
        "--remove-photo",
        now[1]["hash"].as_str().unwrap(),
    ]);
    let shown = h.json_ok(&["show", &id]);
    assert_eq!(shown[0]["images"].as_array().unwrap().len(), 1);
}

/// Runs a `sell` with `photos` that must fail; its stderr.
fn refused(h: &Home, photos: &[&Path]) -> String {
    let mut args = vec!["sell", "--title", "Lamp", "--price", "10 EUR"];
    for p in photos {
        args.push("--photo");
        args.push(p.to_str().unwrap());
    }
    let o = h.cmd(&args);
    assert!(!o.status.success(), "sell {photos:?} succeeded");
    assert_ne!(o.status.code(), Some(0));
    String::from_utf8_lossy(&o.stderr).to_string()
}

/// A PNG whose header declares `w` x `h` pixels: a few hundred bytes that would decode to
/// gigabytes.
fn png_bomb(w: u32, h: u32) -> Vec<u8> {
    let mut png = png(1, 1, 0);
    png[16..20].copy_from_slice(&w.to_be_bytes());
    png[20..24].copy_from_slice(&h.to_be_bytes());
    let mut c = 0xffff_ffffu32;
    for &b in &png[12..29] {
        c ^= u32::from(b);
        for _ in 0..8 {
            c = if c & 1 == 1 {
                0xedb8_8320 ^ (c >> 1)
            } else {
                c >> 1
            };
        }
    }
    png[29..33].copy_from_slice(&(!c).to_be_bytes());
    png
}

#[test]
fn bad_photos_are_refused_naming_the_file_and_the_limit_and_nothing_is_stored() {
    let h = Home::with_node("EUR");
    let files = tempfile::tempdir().unwrap();
    let dir = files.path();
    let good = write(dir, "good.jpg", &jpeg(300, 200, 1));

    let text = write(dir, "notes.txt", b"this is not a photo at all");
    let e = refused(&h, &[&text]);
    assert!(
        e.contains("notes.txt") && e.contains("JPEG, PNG or WebP"),
        "{e}"
    );

    let bomb = write(dir, "bomb.png", &png_bomb(100_000, 100_000));
    let e = refused(&h, &[&bomb]);
    assert!(e.contains("bomb.png") && e.contains("50000000"), "{e}");

    let full = jpeg(800, 600, 2);
    let cut = write(dir, "cut.jpg", &full[..full.len() / 2]);
    let e = refused(&h, &[&cut]);
    assert!(e.contains("cut.jpg") && e.contains("truncated"), "{e}");

    let eleven: Vec<&Path> = std::iter::repeat_n(good.as_path(), 11).collect();
    let e = refused(&h, &eleven);
    assert!(e.contains("11 photos") && e.contains("at most 10"), "{e}");

    let big = dir.join("huge.jpg");
    std::fs::File::create(&big)
        .unwrap()
        .set_len(20 * 1024 * 1024 + 1)
        .unwrap();
    let e = refused(&h, &[&big]);
    assert!(e.contains("huge.jpg") && e.contains("20971520"), "{e}");

    // A good photo before a bad one: the good one was uploaded, then removed again.
    let e = refused(&h, &[&good, &text]);
    assert!(e.contains("notes.txt"), "{e}");

    // The API itself, as another client meets it: the same limits, the file named.
    let (status, e) = h.api_post(
        "/v1/photos?name=raw.jpg",
        &vec![0xffu8; 20 * 1024 * 1024 + 1],
    );
    assert_eq!(status, 413, "{e}");
    assert!(e["error"]
        .as_str()
        .unwrap()
        .contains("raw.jpg: the file is over 20971520 bytes"));
    let (status, e) = h.api_post("/v1/photos?name=bomb.png", &png_bomb(100_000, 100_000));
    assert_eq!(status, 422, "{e}");
    assert_eq!(e["field"], "photo");
    assert!(e["error"]
        .as_str()
        .unwrap()
        .starts_with("bomb.png: 100000 x 100000"));

    assert_eq!(blob_files(&h), Vec::<PathBuf>::new(), "nothing stored");
    // `mine --json` prints one line per listing: none.
    assert_eq!(
        h.json_ok(&["mine"]),
        Vec::<Value>::new(),
        "nothing published"
    );
}

/// A tiny HTTP server on loopback serving `files` by path (404 for anything else), counting
/// the requests it answers. Runs until the test process ends.
fn serve(
    files: Vec<(&'static str, Vec<u8>)>,
) -> (String, std::sync::Arc<std::sync::atomic::AtomicUsize>) {
    use std::io::{BufRead, BufReader, Write};
    use std::sync::atomic::{AtomicUsize, Ordering};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let count = std::sync::Arc::new(AtomicUsize::new(0));
    let counter = count.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut line = String::new();
            if reader.read_line(&mut line).is_err() {
                continue;
            }
            // Skip the headers.
            loop {
                let mut h = String::new();
                if reader.read_line(&mut h).is_err() || h.trim().is_empty() {
                    break;
                }
            }
            counter.fetch_add(1, Ordering::SeqCst);
            let path = line.split(' ').nth(1).unwrap_or("").to_string();
            let body = files
                .iter()
                .find(|(p, _)| *p == path)
                .map(|(_, b)| b.clone());
            let (status, body) = match body {
                Some(b) => ("200 OK", b),
                None => ("404 Not Found", b"no such image".to_vec()),
            };
            let _ = write!(
                stream,
                "HTTP/1.1 {status}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                body.len()
            );
            let _ = stream.write_all(&body);
        }
    });
    (base, count)
}

#[test]
fn bridge_sync_publishes_the_feeds_images_and_a_broken_one_is_a_warning() {
    use std::sync::atomic::Ordering;
    let mut h = Home::new();
    h.ok(&["init", "--location", "52.52,13.405", "--currency", "EUR"]);
    h.start_node();
    let (base, requests) = serve(vec![
        ("/lamp.jpg", with_gps_exif(&jpeg(2000, 1500, 4))),
        ("/lamp-side.png", png(400, 400, 5)),
        ("/not-an-image.jpg", b"<html>oops</html>".to_vec()),
    ]);
    let feed = serde_json::json!({"currency": "EUR", "items": [
        {"id": "lamp", "title": "Desk lamp", "price": "30", "ships": true,
         "image_links": [format!("{base}/lamp.jpg"), format!("{base}/lamp-side.png")]},
        {"id": "chair", "title": "Chair", "price": "45", "ships": true,
         "image_links": [format!("{base}/gone.jpg"), format!("{base}/lamp.jpg")]},
        {"id": "rug", "title": "Rug", "price": "20", "ships": true,
         "image_links": [format!("{base}/not-an-image.jpg")]},
    ]});
    let file = h.path().join("feed.json");
    std::fs::write(&file, feed.to_string()).unwrap();
    let report = h.json_ok(&["bridge", "sync", file.to_str().unwrap()]);
    let report = &report[0];
    assert_eq!(report["created"].as_array().unwrap().len(), 3, "{report}");
    let warnings: Vec<String> = report["warnings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| w["message"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(warnings.len(), 2, "{warnings:?}");
    assert!(warnings
        .iter()
        .any(|w| w.contains("/gone.jpg") && w.contains("HTTP 404")));
    assert!(warnings
        .iter()
        .any(|w| w.contains("/not-an-image.jpg") && w.contains("JPEG, PNG or WebP")));
    // lamp.jpg is shared by two items and downloaded once.
    assert_eq!(requests.load(Ordering::SeqCst), 4);

    let mine = h.json_ok(&["mine"]);
    let id_of = |title: &str| {
        mine.iter().find(|l| l["title"] == title).unwrap()["id"]
            .as_str()
            .unwrap()
            .to_string()
    };
    let images = |title: &str| {
        h.json_ok(&["show", &id_of(title)])[0]["images"]
            .as_array()
            .unwrap()
            .clone()
    };
    let lamp = images("Desk lamp");
    assert_eq!(lamp.len(), 2);
    let chair = images("Chair");
    assert_eq!(chair.len(), 1);
    assert_eq!(chair[0]["hash"], lamp[0]["hash"], "the same photo");
    assert!(images("Rug").is_empty());
    // The published photo is re-encoded: no EXIF from the shop's camera.
    let bytes = std::fs::read(blob_path(&h, lamp[0]["hash"].as_str().unwrap())).unwrap();
    assert!(!contains(&bytes, b"Exif") && !contains(&bytes, b"SN-4242-HOME"));
    assert_eq!(image::load_from_memory(&bytes).unwrap().width(), 1600);

    // A second run with the same feed publishes nothing and downloads nothing.
    let again = h.json_ok(&["bridge", "sync", file.to_str().unwrap()]);
    assert_eq!(again[0]["unchanged"], 3, "{}", again[0]);
    assert_eq!(requests.load(Ordering::SeqCst), 4);
}
