//! Re-encoding: every photo the node publishes is decoded and written anew as a JPEG, bounded in
//! size, with a thumbnail, and with **no metadata at all**.
//!
//! Re-encoding rather than stripping: a stripper has to know every place a format hides metadata
//! (EXIF, XMP, IPTC, ICC profiles with device names, MakerNotes, PNG text chunks, WebP's EXIF
//! chunk, trailing bytes after the image) and misses the next one. Decoding to pixels and
//! encoding those keeps nothing but the pixels: the encoder writes only the JFIF header, the
//! tables and the scan. The EXIF orientation is applied to the pixels first, so a phone photo
//! taken upright stays upright once its metadata is gone.
//!
//! Hostile input is refused before it costs memory: the format is sniffed from the bytes (not
//! the file name), the dimensions are read from the header and checked against
//! [`MAX_PIXELS`] and [`MAX_DIMENSION`] before any pixel is decoded, and the decoder runs under
//! `image::Limits` as a second line. Every error names the file and the limit.

use std::io::Cursor;

use image::codecs::jpeg::JpegEncoder;
use image::imageops::FilterType;
use image::{
    DynamicImage, ImageDecoder, ImageError, ImageFormat, ImageReader, Limits, Rgb, RgbImage,
};
use swapmeet_protocol::limits::{MAX_IMAGE_BYTES, MAX_THUMB_BYTES};

/// Longest edge of a published photo, in pixels: sharp on a laptop screen and a phone held
/// sideways, and what the large marketplaces serve (eBay's zoom and Vinted's full view are
/// 1600 px).
pub const MAX_LONG_EDGE: u32 = 1600;
/// Longest edge of a thumbnail, in pixels: a search result's tile at 2x density.
pub const THUMB_EDGE: u32 = 320;
/// Largest file accepted for re-encoding (the protocol's largest image).
pub const MAX_INPUT_BYTES: u64 = MAX_IMAGE_BYTES;
/// Most pixels a photo may have (checked from the header before decoding). 50 MP passes every
/// phone's and most cameras' full-resolution photo (48 and 50 MP sensors) while bounding the
/// decoded image to 150 MB of RGB; a "decompression bomb" (a few KB declaring 100,000 x
/// 100,000 pixels) is refused before it allocates.
pub const MAX_PIXELS: u64 = 50_000_000;
/// Longest edge a photo may declare, in pixels (panoramas stay under it).
pub const MAX_DIMENSION: u32 = 20_000;
/// Largest published photo, in bytes: a 1600 px JPEG at quality 82 is 150 to 600 KiB, so this
/// only bites on noise-like pictures, which are then written at lower quality.
pub const MAX_PHOTO_BYTES: u64 = 2 * 1024 * 1024;
/// Qualities tried in turn until the photo fits [`MAX_PHOTO_BYTES`].
const PHOTO_QUALITIES: [u8; 4] = [82, 70, 55, 40];
/// Qualities tried in turn until the thumbnail fits the protocol's `MAX_THUMB_BYTES`.
const THUMB_QUALITIES: [u8; 4] = [75, 60, 45, 30];
/// Longest edge of a card thumbnail (the search page's result cards), in pixels. A card's
/// photo box is 4:3 and about 256 CSS px wide in the desktop layout (`app.css`: `.cards`,
/// four 210 px-minimum columns in the 1,100 px page), 150 to 180 px on a phone; 256 px is
/// one image pixel per CSS pixel on the desktop and about 1.5 per CSS pixel on a phone. At 2x
/// the desktop card would need 512 px, more than the 320 px protocol thumbnail it is
/// derived from, so sharpness at 2x is not on offer either way; the card thumbnail buys
/// bytes (BENCHMARKS.md: the thumbnails inline were most of a search answer's time).
pub const CARD_EDGE: u32 = 256;
/// The size a card thumbnail aims for: a page of 20 then carries about 160 KiB of
/// thumbnails (220 KB as base64) instead of 750 KB.
pub const CARD_TARGET_BYTES: u64 = 8 * 1024;
/// Qualities tried in turn until the card thumbnail fits [`CARD_TARGET_BYTES`]; a card is
/// seen small and briefly, so the floor is lower than a thumbnail's.
const CARD_QUALITIES: [u8; 4] = [70, 55, 45, 35];
/// Largest card thumbnail kept: a picture busier than this at the lowest quality keeps no card
/// thumbnail (the protocol thumbnail is shown instead).
pub const MAX_CARD_BYTES: u64 = 24 * 1024;
/// Most pixels a thumbnail may declare for a card to be derived from it: a protocol thumbnail
/// is 320 px on its long edge (a peer's may be larger), and this keeps a hostile one to
/// 12 MB of RGB while decoding.
pub const MAX_CARD_SOURCE_PIXELS: u64 = 2048 * 2048;
/// The decoder's own allocation cap (the second line after the header check): the decoded
/// photo at [`MAX_PIXELS`] in RGBA plus the decoder's working buffers.
const MAX_DECODE_ALLOC: u64 = 512 * 1024 * 1024;

/// MIME type of every published photo and thumbnail.
pub const OUTPUT_MIME: &str = "image/jpeg";

/// A photo ready to publish.
#[derive(Clone, Debug)]
pub struct Encoded {
    /// The photo: JPEG, long edge at most [`MAX_LONG_EDGE`], no metadata.
    pub photo: Vec<u8>,
    /// Its thumbnail: JPEG, long edge at most [`THUMB_EDGE`], no metadata.
    pub thumb: Vec<u8>,
    /// The photo's width in pixels.
    pub width: u32,
    /// The photo's height in pixels.
    pub height: u32,
}

/// Why a photo was refused. Each names the file (as the user gave it) and the limit.
#[derive(Debug, thiserror::Error)]
pub enum EncodeError {
    /// The file is over its limit: [`MAX_INPUT_BYTES`] for a photo, the protocol's
    /// `MAX_THUMB_BYTES` for a thumbnail a card is derived from.
    #[error("{name}: the file is {actual} bytes; at most {limit} bytes are taken{}", if *limit == MAX_INPUT_BYTES { " (20 MiB)" } else { "" })]
    FileTooLarge {
        /// The file.
        name: String,
        /// The limit.
        limit: u64,
        /// Its size.
        actual: u64,
    },
    /// The file is empty.
    #[error("{name}: the file is empty")]
    Empty {
        /// The file.
        name: String,
    },
    /// The bytes are not JPEG, PNG or WebP.
    #[error("{name}: not a photo the node takes (JPEG, PNG or WebP){}", found.as_ref().map(|f| format!("; it looks like {f}")).unwrap_or_default())]
    NotAnImage {
        /// The file.
        name: String,
        /// The format it looks like, when it is another image format.
        found: Option<String>,
    },
    /// The header declares more pixels than [`MAX_PIXELS`] or an edge over [`MAX_DIMENSION`]
    /// (a decompression bomb, or a photo far beyond any camera's).
    #[error("{name}: {width} x {height} pixels is over the limit of {max_pixels} pixels ({max_edge} px on the longest edge); nothing was decoded")]
    TooManyPixels {
        /// The file.
        name: String,
        /// Declared width.
        width: u32,
        /// Declared height.
        height: u32,
        /// The pixel limit.
        max_pixels: u64,
        /// The edge limit.
        max_edge: u32,
    },
    /// The image data is damaged or cut short.
    #[error("{name}: the image is damaged or truncated: {reason}")]
    Corrupt {
        /// The file.
        name: String,
        /// What the decoder said.
        reason: String,
    },
    /// Even at the lowest quality the photo does not fit its byte limit.
    #[error("{name}: even at quality {quality} the {what} is {actual} bytes, over the limit of {limit} bytes")]
    OutputTooLarge {
        /// The file.
        name: String,
        /// "photo", "thumbnail" or "card thumbnail".
        what: &'static str,
        /// The lowest quality tried.
        quality: u8,
        /// The limit.
        limit: u64,
        /// The size at that quality.
        actual: u64,
    },
    /// Encoding failed (an internal error; the input was fine).
    #[error("{name}: encoding the photo failed: {source}")]
    Encode {
        /// The file.
        name: String,
        /// The cause.
        #[source]
        source: ImageError,
    },
}

/// Re-encodes the photo `bytes` (named `name` in errors) to a metadata-free JPEG and its
/// thumbnail. CPU-heavy (tens to hundreds of milliseconds): call it on the blocking pool.
pub fn reencode(name: &str, bytes: &[u8]) -> Result<Encoded, EncodeError> {
    let rgb = decode(name, bytes, MAX_INPUT_BYTES, MAX_PIXELS)?;
    let photo_img = fit(rgb, MAX_LONG_EDGE, FilterType::CatmullRom);
    let thumb_img = fit(photo_img.clone(), THUMB_EDGE, FilterType::Triangle);
    let photo = encode_within(name, "photo", &photo_img, &PHOTO_QUALITIES, MAX_PHOTO_BYTES)?;
    let thumb = encode_within(
        name,
        "thumbnail",
        &thumb_img,
        &THUMB_QUALITIES,
        MAX_THUMB_BYTES,
    )?;
    Ok(Encoded {
        photo,
        thumb,
        width: photo_img.width(),
        height: photo_img.height(),
    })
}

/// Derives the card-size thumbnail of a protocol thumbnail (`thumb`, named `name` in errors):
/// a JPEG with no metadata, long edge at most [`CARD_EDGE`], at the highest of
/// `CARD_QUALITIES` that fits [`CARD_TARGET_BYTES`] (the lowest quality when none does, if
/// that fits [`MAX_CARD_BYTES`]). Local derived data for search result cards, never
/// published (see `blobs/cards.rs`). The thumbnail may come from any peer, so it goes through
/// the same checks as an upload, with a pixel limit sized for thumbnails. A few milliseconds
/// of CPU: call it on the blocking pool.
pub fn card_thumb(name: &str, thumb: &[u8]) -> Result<Vec<u8>, EncodeError> {
    let rgb = decode(name, thumb, MAX_THUMB_BYTES, MAX_CARD_SOURCE_PIXELS)?;
    let card = fit(rgb, CARD_EDGE, FilterType::Triangle);
    let mut out = Vec::new();
    for &q in &CARD_QUALITIES {
        out = encode_at(name, &card, q)?;
        if out.len() as u64 <= CARD_TARGET_BYTES {
            return Ok(out);
        }
    }
    // Busier than the target allows even at the lowest quality: still kept when it is far
    // smaller than the thumbnail it stands for.
    if out.len() as u64 <= MAX_CARD_BYTES {
        return Ok(out);
    }
    Err(EncodeError::OutputTooLarge {
        name: name.to_string(),
        what: "card thumbnail",
        quality: CARD_QUALITIES[CARD_QUALITIES.len() - 1],
        limit: MAX_CARD_BYTES,
        actual: out.len() as u64,
    })
}

/// Decodes `bytes` (named `name` in errors) to upright RGB pixels, refusing hostile input
/// before it costs memory: over `max_bytes`, not JPEG/PNG/WebP, more than `max_pixels` (or an
/// edge over [`MAX_DIMENSION`]) declared in the header, a JPEG cut short, or damaged data.
fn decode(
    name: &str,
    bytes: &[u8],
    max_bytes: u64,
    max_pixels: u64,
) -> Result<RgbImage, EncodeError> {
    let name_s = || name.to_string();
    if bytes.len() as u64 > max_bytes {
        return Err(EncodeError::FileTooLarge {
            name: name_s(),
            limit: max_bytes,
            actual: bytes.len() as u64,
        });
    }
    if bytes.is_empty() {
        return Err(EncodeError::Empty { name: name_s() });
    }
    let format = image::guess_format(bytes).ok();
    match format {
        Some(ImageFormat::Jpeg | ImageFormat::Png | ImageFormat::WebP) => {}
        other => {
            return Err(EncodeError::NotAnImage {
                name: name_s(),
                found: other.map(|f| format!("{f:?}")),
            })
        }
    }
    let reader = || {
        let mut r = ImageReader::new(Cursor::new(bytes));
        if let Some(f) = format {
            r.set_format(f);
        }
        r
    };
    let corrupt = |e: ImageError| EncodeError::Corrupt {
        name: name_s(),
        reason: e.to_string(),
    };
    // The bomb guard: only the header is read here.
    let (width, height) = reader().into_dimensions().map_err(corrupt)?;
    if u64::from(width) * u64::from(height) > max_pixels
        || width > MAX_DIMENSION
        || height > MAX_DIMENSION
    {
        return Err(EncodeError::TooManyPixels {
            name: name_s(),
            width,
            height,
            max_pixels,
            max_edge: MAX_DIMENSION,
        });
    }
    if width == 0 || height == 0 {
        return Err(EncodeError::Corrupt {
            name: name_s(),
            reason: format!("the header declares {width} x {height} pixels"),
        });
    }
    // The JPEG decoder fills a cut-off scan with grey rather than failing; a photo missing its
    // lower half is not what the seller meant to publish.
    if format == Some(ImageFormat::Jpeg) && !jpeg_has_end(bytes) {
        return Err(EncodeError::Corrupt {
            name: name_s(),
            reason: "the JPEG ends before its end-of-image marker (the file is cut short)".into(),
        });
    }
    let mut r = reader();
    let mut limits = Limits::default();
    limits.max_image_width = Some(MAX_DIMENSION);
    limits.max_image_height = Some(MAX_DIMENSION);
    limits.max_alloc = Some(MAX_DECODE_ALLOC);
    r.limits(limits);
    let mut decoder = r.into_decoder().map_err(corrupt)?;
    // A damaged EXIF block must not refuse a photo whose pixels are fine: upright as stored.
    let orientation = decoder
        .orientation()
        .unwrap_or(image::metadata::Orientation::NoTransforms);
    let mut img = DynamicImage::from_decoder(decoder).map_err(corrupt)?;
    img.apply_orientation(orientation);
    Ok(flatten(&img))
}

/// Whether a JPEG has its end-of-image marker after the first scan. The segments before the
/// scan are walked by their lengths (so an EXIF thumbnail's own end marker inside APP1 does not
/// count); inside entropy-coded data 0xFF is always followed by 0x00 or a restart marker, so an
/// 0xFF 0xD9 after the scan starts is the end of the image.
fn jpeg_has_end(bytes: &[u8]) -> bool {
    let mut at = 2;
    while at + 4 <= bytes.len() {
        if bytes[at] != 0xff {
            return false;
        }
        let marker = bytes[at + 1];
        match marker {
            // Fill bytes before a marker.
            0xff => at += 1,
            0xda => return bytes[at..].windows(2).any(|w| w == [0xff, 0xd9]),
            0x01 | 0xd0..=0xd7 => at += 2,
            _ => {
                let len = usize::from(u16::from_be_bytes([bytes[at + 2], bytes[at + 3]]));
                at += 2 + len;
            }
        }
    }
    false
}

/// RGB without alpha: transparent pixels are laid over white (what a product shot on a
/// transparent background means), not left as the black that dropping alpha would show.
fn flatten(img: &DynamicImage) -> RgbImage {
    if !img.color().has_alpha() {
        return img.to_rgb8();
    }
    let rgba = img.to_rgba8();
    RgbImage::from_fn(rgba.width(), rgba.height(), |x, y| {
        let p = rgba.get_pixel(x, y).0;
        let a = u16::from(p[3]);
        let over = |c: u8| ((u16::from(c) * a + 255 * (255 - a) + 127) / 255) as u8;
        Rgb([over(p[0]), over(p[1]), over(p[2])])
    })
}

/// Scales `img` down so its long edge is at most `edge` (never up).
fn fit(img: RgbImage, edge: u32, filter: FilterType) -> RgbImage {
    let (w, h) = img.dimensions();
    if w.max(h) <= edge {
        return img;
    }
    let (nw, nh) = if w >= h {
        (
            edge,
            ((u64::from(h) * u64::from(edge) + u64::from(w) / 2) / u64::from(w)).max(1) as u32,
        )
    } else {
        (
            ((u64::from(w) * u64::from(edge) + u64::from(h) / 2) / u64::from(h)).max(1) as u32,
            edge,
        )
    };
    image::imageops::resize(&img, nw, nh, filter)
}

/// Encodes at each quality in turn until the result fits `limit`.
fn encode_within(
    name: &str,
    what: &'static str,
    img: &RgbImage,
    qualities: &[u8],
    limit: u64,
) -> Result<Vec<u8>, EncodeError> {
    let mut last = (0u8, 0u64);
    for &q in qualities {
        let out = encode_at(name, img, q)?;
        if out.len() as u64 <= limit {
            return Ok(out);
        }
        last = (q, out.len() as u64);
    }
    Err(EncodeError::OutputTooLarge {
        name: name.to_string(),
        what,
        quality: last.0,
        limit,
        actual: last.1,
    })
}

/// `img` as a JPEG at `quality`: JFIF header, tables and scan, nothing else.
fn encode_at(name: &str, img: &RgbImage, quality: u8) -> Result<Vec<u8>, EncodeError> {
    let mut out = Vec::new();
    JpegEncoder::new_with_quality(&mut out, quality)
        .encode_image(img)
        .map_err(|source| EncodeError::Encode {
            name: name.to_string(),
            source,
        })?;
    Ok(out)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A JPEG of `w` x `h` with a gradient (so it compresses like a photo, not like a flat
    /// colour).
    pub(crate) fn jpeg(w: u32, h: u32) -> Vec<u8> {
        let img = RgbImage::from_fn(w, h, |x, y| {
            Rgb([
                (x * 255 / w.max(1)) as u8,
                (y * 255 / h.max(1)) as u8,
                ((x ^ y) & 0xff) as u8,
            ])
        });
        let mut out = Vec::new();
        JpegEncoder::new_with_quality(&mut out, 90)
            .encode_image(&img)
            .unwrap();
        out
    }

    /// Inserts an APP1 Exif segment after SOI, laid out as a camera writes it: a TIFF header
    /// (little endian), IFD0 with Make, Model, the body serial number and a pointer to the GPS
    /// IFD, and the GPS IFD with latitude and longitude (52° 30' 1.23" N, 13° 24' 36.9" E) in
    /// RATIONALs.
    pub(crate) fn with_gps_exif(jpeg: &[u8]) -> Vec<u8> {
        fn u16le(v: &mut Vec<u8>, x: u16) {
            v.extend_from_slice(&x.to_le_bytes());
        }
        fn u32le(v: &mut Vec<u8>, x: u32) {
            v.extend_from_slice(&x.to_le_bytes());
        }
        let make = b"GarageCam\0";
        let model = b"GC-1 Pro\0";
        let serial = b"SN-4242-HOME\0";
        // Offsets are from the start of the TIFF header.
        let ifd0_at = 8u32;
        let ifd0_entries = 4u16;
        let ifd0_len = 2 + 12 * u32::from(ifd0_entries) + 4;
        let data0_at = ifd0_at + ifd0_len;
        let make_at = data0_at;
        let model_at = make_at + make.len() as u32;
        let serial_at = model_at + model.len() as u32;
        let gps_at = serial_at + serial.len() as u32;
        let gps_entries = 4u16;
        let gps_len = 2 + 12 * u32::from(gps_entries) + 4;
        let lat_at = gps_at + gps_len;
        let lon_at = lat_at + 24;

        let mut t = Vec::new();
        t.extend_from_slice(b"II*\0");
        u32le(&mut t, ifd0_at);
        // IFD0, tags ascending.
        u16le(&mut t, ifd0_entries);
        for (tag, typ, count, value) in [
            (0x010f_u16, 2_u16, make.len() as u32, make_at),
            (0x0110, 2, model.len() as u32, model_at),
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
        t.extend_from_slice(model);
        t.extend_from_slice(serial);
        assert_eq!(t.len() as u32, gps_at);
        // The GPS IFD: LatitudeRef "N", Latitude, LongitudeRef "E", Longitude.
        u16le(&mut t, gps_entries);
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
    pub(crate) fn segment_markers(jpeg: &[u8]) -> Vec<u8> {
        assert_eq!(&jpeg[..2], &[0xff, 0xd8], "starts with SOI");
        let mut at = 2;
        let mut markers = Vec::new();
        while at + 4 <= jpeg.len() {
            assert_eq!(jpeg[at], 0xff, "segment at {at}");
            let m = jpeg[at + 1];
            markers.push(m);
            if m == 0xda {
                break;
            }
            let len = u16::from_be_bytes([jpeg[at + 2], jpeg[at + 3]]) as usize;
            at += 2 + len;
        }
        markers
    }

    fn contains(hay: &[u8], needle: &[u8]) -> bool {
        hay.windows(needle.len()).any(|w| w == needle)
    }

    #[test]
    fn gps_exif_is_gone_from_the_published_bytes() {
        let original = with_gps_exif(&jpeg(2400, 1800));
        // The input really carries it, as a camera writes it.
        assert!(segment_markers(&original).contains(&0xe1));
        assert!(contains(&original, b"Exif\0\0"));
        assert!(contains(&original, b"SN-4242-HOME"));
        // And it is a photo the decoder reads (the EXIF parses: orientation is read from it).
        image::load_from_memory(&original).unwrap();

        let e = reencode("bike.jpg", &original).unwrap();
        for out in [&e.photo, &e.thumb] {
            let markers = segment_markers(out);
            // Only JFIF (APP0), tables, frame and scan: no APP1..APP15 (EXIF, XMP, ICC...) and
            // no comment.
            assert!(
                markers
                    .iter()
                    .all(|m| !(0xe1..=0xef).contains(m) && *m != 0xfe),
                "markers {markers:x?}"
            );
            assert!(!contains(out, b"Exif"));
            assert!(!contains(out, b"GarageCam"));
            assert!(!contains(out, b"SN-4242-HOME"));
            assert!(image::load_from_memory(out).is_ok());
        }
        assert_eq!((e.width, e.height), (1600, 1200));
        let t = image::load_from_memory(&e.thumb).unwrap();
        assert_eq!((t.width(), t.height()), (320, 240));
        assert!(e.thumb.len() as u64 <= MAX_THUMB_BYTES);
    }

    #[test]
    fn png_and_webp_come_out_as_jpeg_and_small_photos_are_not_enlarged() {
        let img = RgbImage::from_fn(300, 500, |x, y| Rgb([x as u8, y as u8, 7]));
        let mut png = Vec::new();
        DynamicImage::ImageRgb8(img.clone())
            .write_to(&mut Cursor::new(&mut png), ImageFormat::Png)
            .unwrap();
        let mut webp = Vec::new();
        DynamicImage::ImageRgba8(DynamicImage::ImageRgb8(img).to_rgba8())
            .write_to(&mut Cursor::new(&mut webp), ImageFormat::WebP)
            .unwrap();
        for (name, bytes) in [("a.png", png), ("a.webp", webp)] {
            let e = reencode(name, &bytes).unwrap();
            assert_eq!(image::guess_format(&e.photo).unwrap(), ImageFormat::Jpeg);
            assert_eq!((e.width, e.height), (300, 500), "{name}");
            let t = image::load_from_memory(&e.thumb).unwrap();
            assert_eq!((t.width(), t.height()), (192, 320));
        }
    }

    #[test]
    fn transparent_pixels_become_white() {
        let img = image::RgbaImage::from_pixel(10, 10, image::Rgba([0, 0, 0, 0]));
        let rgb = flatten(&DynamicImage::ImageRgba8(img));
        assert_eq!(rgb.get_pixel(3, 3).0, [255, 255, 255]);
    }

    #[test]
    fn bad_input_is_refused_naming_the_file_and_the_limit() {
        // Not an image.
        let e = reencode("notes.txt", b"just some text, not a photo").unwrap_err();
        assert!(matches!(e, EncodeError::NotAnImage { .. }), "{e}");
        assert!(e.to_string().starts_with("notes.txt: "), "{e}");
        // Another image format.
        let e = reencode("a.gif", b"GIF89a\x01\x00\x01\x00\x00\x00\x00;").unwrap_err();
        assert!(e.to_string().contains("Gif"), "{e}");
        // Truncated: a JPEG cut after its header.
        let full = jpeg(400, 300);
        let e = reencode("cut.jpg", &full[..full.len() / 3]).unwrap_err();
        assert!(matches!(e, EncodeError::Corrupt { .. }), "{e}");
        assert!(e.to_string().starts_with("cut.jpg: "), "{e}");
        // Truncated PNG.
        let img = RgbImage::from_fn(200, 200, |x, y| Rgb([x as u8, y as u8, (x * y) as u8]));
        let mut png = Vec::new();
        DynamicImage::ImageRgb8(img)
            .write_to(&mut Cursor::new(&mut png), ImageFormat::Png)
            .unwrap();
        let e = reencode("cut.png", &png[..png.len() / 2]).unwrap_err();
        assert!(matches!(e, EncodeError::Corrupt { .. }), "{e}");
        // Oversized file.
        let big = vec![0xffu8; MAX_INPUT_BYTES as usize + 1];
        let e = reencode("huge.jpg", &big).unwrap_err();
        assert!(e.to_string().contains("20971520"), "{e}");
        // Empty.
        assert!(matches!(
            reencode("empty.jpg", b""),
            Err(EncodeError::Empty { .. })
        ));
    }

    /// A phone photo as the UI benchmark makes them (`node/benches/ui.rs`): sawtooth colours
    /// and a checkerboard, busier than most photos; its thumbnail is 27 to 31 KB.
    pub(crate) fn busy_photo(seed: u32) -> Vec<u8> {
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

    #[test]
    fn a_card_thumbnail_is_card_size_small_and_has_no_metadata() {
        for (what, photo) in [
            ("gradient", jpeg(2400, 1800)),
            ("busy 0", busy_photo(0)),
            ("busy 63", busy_photo(63)),
        ] {
            let thumb = reencode(what, &photo).unwrap().thumb;
            let card = card_thumb(what, &thumb).unwrap();
            let img = image::load_from_memory(&card).unwrap();
            assert_eq!((img.width(), img.height()), (CARD_EDGE, 192), "{what}");
            // The measured sizes (7.2 to 8.4 KB for the benchmark's photos, 7.8 KB for the
            // gradient) against the bounds: the busy ones may pass the target at the lowest
            // quality, never the cap, and all are under half the thumbnail.
            assert!(
                card.len() as u64 <= MAX_CARD_BYTES,
                "{what}: {}",
                card.len()
            );
            assert!(
                card.len() as u64 <= CARD_TARGET_BYTES + 1024,
                "{what}: {}",
                card.len()
            );
            assert!(
                card.len() * 2 < thumb.len(),
                "{what}: {} vs {}",
                card.len(),
                thumb.len()
            );
            let markers = segment_markers(&card);
            assert!(
                markers
                    .iter()
                    .all(|m| !(0xe1..=0xef).contains(m) && *m != 0xfe),
                "{what}: markers {markers:x?}"
            );
        }
        // Metadata in the thumbnail does not reach the card.
        let tagged = with_gps_exif(&jpeg(320, 240));
        let card = card_thumb("tagged", &tagged).unwrap();
        assert!(!contains(&card, b"Exif") && !contains(&card, b"SN-4242-HOME"));
        // Portrait, and a thumbnail already smaller than a card is not enlarged.
        let img = image::load_from_memory(&card_thumb("tall", &jpeg(240, 320)).unwrap()).unwrap();
        assert_eq!((img.width(), img.height()), (192, CARD_EDGE));
        let img = image::load_from_memory(&card_thumb("tiny", &jpeg(100, 80)).unwrap()).unwrap();
        assert_eq!((img.width(), img.height()), (100, 80));
    }

    #[test]
    fn a_bad_thumbnail_gives_an_error_not_a_card() {
        let e = card_thumb("t", b"not an image at all").unwrap_err();
        assert!(matches!(e, EncodeError::NotAnImage { .. }), "{e}");
        assert!(matches!(
            card_thumb("t", b""),
            Err(EncodeError::Empty { .. })
        ));
        let full = jpeg(320, 240);
        let e = card_thumb("t", &full[..full.len() / 2]).unwrap_err();
        assert!(matches!(e, EncodeError::Corrupt { .. }), "{e}");
        // A JPEG header with garbage after it.
        let mut garbled = full[..200].to_vec();
        garbled.extend(std::iter::repeat_n(0x5a, 2000));
        garbled.extend_from_slice(&[0xff, 0xd9]);
        assert!(card_thumb("t", &garbled).is_err());
        // Within an upload's limits, but far more pixels than a thumbnail has.
        let e = card_thumb("t", &png_bomb(3000, 3000)).unwrap_err();
        assert!(matches!(e, EncodeError::TooManyPixels { .. }), "{e}");
        // Larger than the protocol lets a thumbnail be.
        let big = vec![0xffu8; MAX_THUMB_BYTES as usize + 1];
        let e = card_thumb("t", &big).unwrap_err();
        assert!(matches!(e, EncodeError::FileTooLarge { .. }), "{e}");
        assert!(!e.to_string().contains("20 MiB"), "{e}");
    }

    /// A PNG whose header declares `w` x `h` pixels, with one tiny IDAT: a few hundred bytes
    /// that would decode to gigabytes.
    pub(crate) fn png_bomb(w: u32, h: u32) -> Vec<u8> {
        let img = RgbImage::from_pixel(1, 1, Rgb([0, 0, 0]));
        let mut png = Vec::new();
        DynamicImage::ImageRgb8(img)
            .write_to(&mut Cursor::new(&mut png), ImageFormat::Png)
            .unwrap();
        // IHDR is the first chunk: 8 signature bytes, length, "IHDR", width, height, ...
        png[16..20].copy_from_slice(&w.to_be_bytes());
        png[20..24].copy_from_slice(&h.to_be_bytes());
        let crc = crc32(&png[12..29]);
        png[29..33].copy_from_slice(&crc.to_be_bytes());
        png
    }

    fn crc32(bytes: &[u8]) -> u32 {
        let mut c = 0xffff_ffffu32;
        for &b in bytes {
            c ^= u32::from(b);
            for _ in 0..8 {
                c = if c & 1 == 1 {
                    0xedb8_8320 ^ (c >> 1)
                } else {
                    c >> 1
                };
            }
        }
        !c
    }

    #[test]
    fn a_decompression_bomb_is_refused_from_its_header() {
        let bomb = png_bomb(100_000, 100_000);
        assert!(bomb.len() < 1000);
        let e = reencode("bomb.png", &bomb).unwrap_err();
        assert!(matches!(e, EncodeError::TooManyPixels { .. }), "{e}");
        let msg = e.to_string();
        assert!(msg.starts_with("bomb.png: 100000 x 100000"), "{msg}");
        assert!(msg.contains("50000000"), "{msg}");
        // Within the edge limit but over the pixel limit.
        let e = reencode("wide.png", &png_bomb(10_000, 10_000)).unwrap_err();
        assert!(matches!(e, EncodeError::TooManyPixels { .. }), "{e}");
    }
}
