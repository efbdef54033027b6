//! `POST /v1/search`: the engine's search with each hit as JSON, and optionally the
//! thumbnails the node holds inline (`?thumbs=inline`).

use super::*;

/// `?thumbs=inline` of a search.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct SearchParams {
    #[serde(default)]
    thumbs: Option<String>,
}

/// Most thumbnail bytes one search answer carries inline; hits past it keep only the hash.
const MAX_INLINE_THUMB_BYTES: usize = 4 * 1024 * 1024;

pub(crate) async fn search(
    State(s): St,
    params: Result<Query<SearchParams>, QueryRejection>,
    body: Body,
) -> ApiResult<Json<Value>> {
    let Query(params) =
        params.map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, e.body_text()))?;
    let inline = match params.thumbs.as_deref() {
        None => false,
        Some("inline") => true,
        Some(other) => {
            return Err(ApiError::field(
                "thumbs",
                format!("'{other}' is not a thumbnail mode; the one mode is `inline`"),
            ))
        }
    };
    let q: SearchQuery = json_body(body).await?;
    q.validate()
        .map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, e))?;
    let st = s.clone();
    let (r, thumbs) = blocking(move || {
        let r = st.engine.search(&q)?;
        let thumbs = if inline {
            inline_thumbs(&st.blobs, &r.hits)
        } else {
            Vec::new()
        };
        Ok((r, thumbs))
    })
    .await?;
    let mut hits: Vec<Value> = r.hits.iter().map(hit_json).collect();
    for (hit, data) in hits.iter_mut().zip(thumbs) {
        if let Some(d) = data {
            hit["thumb_data"] = json!(d);
        }
    }
    let mut answer = json!({
        "hits": hits,
        "total": r.total,
        "total_exact": r.total_exact,
    });
    if let Some(c) = &r.corrected {
        answer["corrected"] = json!(c);
        answer["corrections"] = json!(r.corrections);
    }
    Ok(Json(answer))
}

/// The card thumbnails of `hits` (`BlobStore::card`: 256 px, about 8 KB) this node holds, as
/// `data:` URLs (in the hits' order; the protocol thumbnail where no card is to be had; `None`
/// for a hit without a thumbnail here, and for all past [`MAX_INLINE_THUMB_BYTES`]). A results
/// page then shows its photos with the answer, instead of after twenty more requests, which a
/// browser makes six at a time over HTTP/1.1 (BENCHMARKS.md, "The web UI"); cards rather than
/// the 320 px thumbnails because those made the answer ~750 KB, most of the page's time.
/// Thumbnails not held here are left to `GET /v1/blobs?size=card`, which fetches them from
/// the network.
fn inline_thumbs(blobs: &crate::media::BlobStore, hits: &[SearchHit]) -> Vec<Option<String>> {
    let mut budget = MAX_INLINE_THUMB_BYTES;
    hits.iter()
        .map(|h| {
            let hash = blobs::parse_hash("thumb", h.summary.thumb.as_deref()?).ok()?;
            let bytes = match blobs.card(&hash) {
                Ok(Some(card)) => card,
                // No card (or none could be read): the thumbnail itself, as before cards.
                _ => blobs.get(&hash).ok()??,
            };
            budget = budget.checked_sub(bytes.len())?;
            Some(format!(
                "data:{};base64,{}",
                blobs::sniff_mime(&bytes),
                base64::engine::general_purpose::STANDARD.encode(&bytes)
            ))
        })
        .collect()
}

pub(crate) fn hit_json(h: &SearchHit) -> Value {
    let mut v = summary_fields(&h.id, &h.summary);
    v["status"] = json!("active");
    v["seq"] = json!(h.seq);
    v["signed_at"] = json!(h.signed_at);
    v["expires_at"] = json!(h.expires_at);
    v["score"] = json!(h.score);
    v["seller_reputation"] = json!(h.seller_reputation);
    if let Some(d) = h.distance_km {
        v["distance_km"] = json!((d * 10.0).round() / 10.0);
    }
    v
}
