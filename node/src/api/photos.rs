//! Photos in the API: the JSON form of an image reference (used by `show`, the upload answer
//! and drafts).

use serde::{Deserialize, Serialize};
use swapmeet_protocol::{ImageRef, ImageThumb};

/// A listing's photo as the API shows it: hashes in hex, fetched with `GET /v1/blobs/{hash}`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PhotoJson {
    /// SHA-256 of the photo (hex).
    pub hash: String,
    /// MIME type ("image/jpeg").
    pub mime: String,
    /// Size in bytes.
    pub size: u64,
    /// Its thumbnail, when the listing names one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub thumb: Option<ThumbJson>,
}

/// A photo's thumbnail as the API shows it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ThumbJson {
    /// SHA-256 of the thumbnail (hex).
    pub hash: String,
    /// MIME type ("image/jpeg").
    pub mime: String,
    /// Size in bytes.
    pub size: u64,
}

impl From<&ImageRef> for PhotoJson {
    fn from(i: &ImageRef) -> PhotoJson {
        PhotoJson {
            hash: hex::encode(i.hash),
            mime: i.mime.clone(),
            size: i.size,
            thumb: i.thumb.as_ref().map(|t: &ImageThumb| ThumbJson {
                hash: hex::encode(t.hash),
                mime: t.mime.clone(),
                size: t.size,
            }),
        }
    }
}
