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

/// The answer to an upload.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Uploaded {
    /// The photo as published (re-encoded, no metadata), with its thumbnail; name its `hash`
    /// in a draft's `photos`.
    pub photo: PhotoJson,
}

/// `?name=` of an upload: the file name errors mention.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UploadQuery {
    /// The file name as the user knows it.
    #[serde(default)]
    pub name: Option<String>,
}

/// Photos re-encoded at once: each takes up to ~200 MB while decoding a 50 MP photo and a
/// core for a fraction of a second; more uploads wait their turn.
static ENCODE_SLOTS: tokio::sync::Semaphore = tokio::sync::Semaphore::const_new(2);

/// `POST /v1/photos`: the body is the image's bytes (JPEG, PNG or WebP; at most 20 MiB). The
/// photo is re-encoded (metadata dropped, long edge <= 1600 px) with a thumbnail, both kept as
/// the user's own; the answer is the reference to name in a draft.
pub async fn upload(
    axum::extract::State(s): super::St,
    query: Result<axum::extract::Query<UploadQuery>, axum::extract::rejection::QueryRejection>,
    body: axum::body::Body,
) -> super::ApiResult<axum::Json<Uploaded>> {
    use super::ApiError;
    use axum::http::StatusCode;
    let name = query
        .map_err(|e| ApiError::field("name", e.body_text()))?
        .0
        .name
        .filter(|n| !n.trim().is_empty())
        .unwrap_or_else(|| "the photo".into());
    let limit = crate::media::encode::MAX_INPUT_BYTES as usize;
    let bytes = axum::body::to_bytes(body, limit).await.map_err(|_| {
        ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("{name}: the file is over {limit} bytes (20 MiB), the largest photo taken"),
        )
    })?;
    let Some(lib) = s.author.photos().cloned() else {
        return Err(ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "this node keeps no photos",
        ));
    };
    let _slot = ENCODE_SLOTS.acquire().await.map_err(ApiError::internal)?;
    let image = super::blocking(move || {
        lib.add(&name, &bytes).map_err(|e| match e {
            crate::media::PhotoError::Encode(e) => {
                let status = match e {
                    crate::media::EncodeError::FileTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
                    crate::media::EncodeError::Encode { .. } => StatusCode::INTERNAL_SERVER_ERROR,
                    _ => StatusCode::UNPROCESSABLE_ENTITY,
                };
                ApiError {
                    status,
                    message: e.to_string(),
                    field: Some("photo"),
                }
            }
            crate::media::PhotoError::Blob(e) => ApiError::internal(e),
        })
    })
    .await?;
    Ok(axum::Json(Uploaded {
        photo: PhotoJson::from(&image),
    }))
}

/// `DELETE /v1/photos/{hash}`: removes an uploaded photo (and its thumbnail) that none of the
/// user's listings names; a photo a listing names is kept (404 either way when nothing was
/// removed, 400 on a malformed hash).
pub async fn discard(
    axum::extract::State(s): super::St,
    axum::extract::Path(hash): axum::extract::Path<String>,
) -> super::ApiResult<axum::Json<serde_json::Value>> {
    use super::ApiError;
    let h: [u8; 32] = hex::decode(hash.trim())
        .ok()
        .and_then(|b| b.try_into().ok())
        .ok_or_else(|| {
            ApiError::field(
                "hash",
                format!("'{hash}' is not a photo hash (64 hex digits)"),
            )
        })?;
    let removed = super::blocking(move || Ok(s.author.discard_photo(&h)?)).await?;
    if !removed {
        return Err(ApiError::new(
            axum::http::StatusCode::NOT_FOUND,
            format!("no uploaded photo {hash} that no listing names"),
        ));
    }
    Ok(axum::Json(serde_json::json!({"removed": hash})))
}
