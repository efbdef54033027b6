//! `GET /v1/blobs/{hash}`: a photo or thumbnail by its SHA-256, from this node's store or
//! fetched from the network (`crate::media::fetch`), with headers a browser caches forever
//! (the bytes of a hash never change).
//!
//! `?listing=ID` names a listing that refers to the blob: its image reference gives the
//! content type and the size limit, and its seller is asked first. Without it the content
//! type is read from the bytes (a node re-encodes every photo it publishes to JPEG).
//!
//! `?size=card` asks for the card thumbnail of a thumbnail (`BlobStore::card`: the smaller
//! JPEG the search page's result cards show), made from the thumbnail once it is here; where
//! no card is to be had, the thumbnail itself. `?size=full` (the default) is the blob.

use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use swapmeet_protocol::envelope::Record;
use swapmeet_protocol::limits::{MAX_IMAGE_BYTES, MAX_THUMB_BYTES};

use super::{blocking, parse_listing_field, ApiError, ApiResult, St};
use crate::media::blobs::{BlobClass, BlobHash};
use crate::media::encode::{CARD_EDGE, OUTPUT_MIME};
use crate::media::fetch::{self, FetchError, Want};
use crate::network::messaging::peer_of;

/// `Cache-Control` of a blob: content-addressed, so it never changes.
pub const IMMUTABLE: &str = "public, max-age=31536000, immutable";

/// `GET /v1/blobs/{hash}` parameters.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BlobParams {
    /// A listing that names the blob (as a photo or a thumbnail).
    #[serde(default)]
    pub listing: Option<String>,
    /// `full` (the blob, the default) or `card` (its card thumbnail).
    #[serde(default)]
    pub size: Option<String>,
}

/// Parses `?size=`: whether the card thumbnail is wanted.
fn parse_size(size: Option<&str>) -> ApiResult<bool> {
    match size {
        None | Some("full") => Ok(false),
        Some("card") => Ok(true),
        Some(other) => Err(ApiError::field(
            "size",
            format!("'{other}' is not a size; the sizes are `full` and `card`"),
        )),
    }
}

/// Parses a blob hash given in `field`: 64 hex digits.
pub fn parse_hash(field: &'static str, s: &str) -> ApiResult<BlobHash> {
    let s = s.trim();
    let bytes = hex::decode(s)
        .ok()
        .filter(|b| b.len() == 32)
        .ok_or_else(|| {
            ApiError::field(
                field,
                format!("'{s}' is not a blob hash (64 hex digits of a SHA-256)"),
            )
        })?;
    let mut h = [0u8; 32];
    h.copy_from_slice(&bytes);
    Ok(h)
}

/// The content type of image bytes, from their first bytes.
pub fn sniff_mime(bytes: &[u8]) -> &'static str {
    match bytes {
        [0xff, 0xd8, 0xff, ..] => "image/jpeg",
        [0x89, b'P', b'N', b'G', 0x0d, 0x0a, 0x1a, 0x0a, ..] => "image/png",
        [b'R', b'I', b'F', b'F', _, _, _, _, b'W', b'E', b'B', b'P', ..] => "image/webp",
        [b'G', b'I', b'F', b'8', ..] => "image/gif",
        _ => "application/octet-stream",
    }
}

/// What a listing says about one of its blobs.
struct Named {
    mime: String,
    size: u64,
    thumb: bool,
    seller: Option<libp2p::PeerId>,
}

pub(crate) async fn get(
    State(s): St,
    Path(hash): Path<String>,
    params: Result<Query<BlobParams>, QueryRejection>,
    headers: HeaderMap,
) -> ApiResult<Response> {
    let hash = parse_hash("hash", &hash)?;
    let Query(params) = params.map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, e))?;
    let card = parse_size(params.size.as_deref())?;
    // A card is named by its thumbnail's hash and the card's size, so a browser never takes
    // one for the other (and a new card size is fetched anew).
    let etag = if card {
        format!("\"{}-card{}\"", hex::encode(hash), CARD_EDGE)
    } else {
        format!("\"{}\"", hex::encode(hash))
    };
    let named = match params.listing.as_deref() {
        Some(l) => Some(named_by(&s, parse_listing_field("listing", l)?, hash).await?),
        None => None,
    };
    // The bytes of a hash never change: a browser that has them needs nothing more.
    if headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim() == etag))
    {
        return Ok((
            StatusCode::NOT_MODIFIED,
            [
                (header::ETAG, etag),
                (header::CACHE_CONTROL, IMMUTABLE.to_string()),
            ],
        )
            .into_response());
    }
    let want = Want {
        hash,
        hint: named.as_ref().and_then(|n| n.seller),
        class: match &named {
            Some(n) if n.thumb => BlobClass::Thumb,
            _ => BlobClass::Cached,
        },
        max_size: named.as_ref().map_or(MAX_IMAGE_BYTES, |n| n.size),
    };
    let bytes = match &s.net {
        Some(net) => fetch::fetch(&s.blobs, net, want)
            .await
            .map(|f| f.bytes)
            .map_err(fetch_error)?,
        None => {
            let store = s.blobs.clone();
            blocking(move || store.get(&hash).map_err(ApiError::internal))
                .await?
                .ok_or_else(|| {
                    ApiError::new(
                        StatusCode::NOT_FOUND,
                        format!(
                            "blob {} is not here and the network is not running",
                            hex::encode(hash)
                        ),
                    )
                })?
        }
    };
    let card = if card {
        let store = s.blobs.clone();
        let thumb = bytes.clone();
        blocking(move || {
            // What `fetch` just returned is here unless the cache evicted it at once: then
            // the card is made from the bytes at hand and not kept.
            let made = match store.card(&hash) {
                Ok(Some(c)) => Some(c),
                Ok(None) if !store.has(&hash) => {
                    crate::media::encode::card_thumb(&hex::encode(hash), &thumb).ok()
                }
                Ok(None) => None,
                Err(e) => return Err(ApiError::internal(e)),
            };
            Ok(made)
        })
        .await?
    } else {
        None
    };
    let (mime, bytes) = match (card, &named) {
        (Some(c), _) => (OUTPUT_MIME.to_string(), c),
        (None, Some(n)) => (n.mime.clone(), bytes),
        (None, None) => (sniff_mime(&bytes).to_string(), bytes),
    };
    let mime = HeaderValue::from_str(&mime)
        .unwrap_or_else(|_| HeaderValue::from_static("application/octet-stream"));
    Ok((
        StatusCode::OK,
        [
            (header::CONTENT_TYPE, mime),
            (header::CACHE_CONTROL, HeaderValue::from_static(IMMUTABLE)),
            (
                header::ETAG,
                HeaderValue::from_str(&etag).unwrap_or_else(|_| HeaderValue::from_static("")),
            ),
            (
                header::X_CONTENT_TYPE_OPTIONS,
                HeaderValue::from_static("nosniff"),
            ),
        ],
        bytes,
    )
        .into_response())
}

/// The image reference of `listing` that names `hash`.
async fn named_by(
    s: &super::ApiState,
    id: swapmeet_protocol::ListingId,
    hash: BlobHash,
) -> ApiResult<Named> {
    let engine = s.engine.clone();
    let verified = blocking(move || engine.get_verified(&id).map_err(ApiError::internal)).await?;
    let not_named = || {
        ApiError::new(
            StatusCode::NOT_FOUND,
            format!(
                "listing {id} is not here or names no photo {}",
                hex::encode(hash)
            ),
        )
    };
    let v = verified.ok_or_else(not_named)?;
    let Record::Listing(l) = v.payload() else {
        return Err(not_named());
    };
    let seller = peer_of(&v.signer());
    for img in &l.images {
        if img.hash == hash {
            return Ok(Named {
                mime: img.mime.clone(),
                size: img.size.min(MAX_IMAGE_BYTES),
                thumb: false,
                seller,
            });
        }
        if let Some(t) = img.thumb.as_ref().filter(|t| t.hash == hash) {
            return Ok(Named {
                mime: t.mime.clone(),
                size: t.size.min(MAX_THUMB_BYTES),
                thumb: true,
                seller,
            });
        }
    }
    Err(not_named())
}

fn fetch_error(e: FetchError) -> ApiError {
    match e {
        FetchError::NotFound { .. } => ApiError::new(StatusCode::NOT_FOUND, e),
        FetchError::AllFailed { .. } | FetchError::TooLarge { .. } => {
            ApiError::new(StatusCode::BAD_GATEWAY, e)
        }
        FetchError::Network(_) => ApiError::new(StatusCode::SERVICE_UNAVAILABLE, e),
        FetchError::Store(_) => ApiError::internal(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_parse_as_64_hex_digits_and_errors_name_the_field() {
        assert_eq!(parse_hash("hash", &"ab".repeat(32)).unwrap(), [0xab; 32]);
        let e = parse_hash("hash", "abc").unwrap_err();
        assert_eq!(e.status, StatusCode::BAD_REQUEST);
        assert_eq!(e.field, Some("hash"));
        assert!(e.message.contains("64 hex digits"));
        assert!(parse_hash("hash", &"zz".repeat(32)).is_err());
    }

    #[test]
    fn sizes_parse_and_a_bad_one_names_the_parameter() {
        assert!(!parse_size(None).unwrap());
        assert!(!parse_size(Some("full")).unwrap());
        assert!(parse_size(Some("card")).unwrap());
        let e = parse_size(Some("big")).unwrap_err();
        assert_eq!(e.status, StatusCode::BAD_REQUEST);
        assert_eq!(e.field, Some("size"));
        assert!(e.message.contains("`card`"), "{}", e.message);
    }

    #[test]
    fn the_content_type_is_read_from_the_bytes() {
        assert_eq!(sniff_mime(&[0xff, 0xd8, 0xff, 0xe0]), "image/jpeg");
        assert_eq!(sniff_mime(b"\x89PNG\r\n\x1a\n...."), "image/png");
        assert_eq!(sniff_mime(b"RIFF\0\0\0\0WEBPVP8 "), "image/webp");
        assert_eq!(sniff_mime(b"hello"), "application/octet-stream");
    }
}
