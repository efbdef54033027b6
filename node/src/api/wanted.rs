//! Wanted posts through the API: post, mine, withdraw, renew, search, and the demand summary.
//! Answering a wanted post is `POST /v1/messages` with the post's id as `listing` (a thread
//! with its poster). The request and answer types here are the contract the CLI reads.

use axum::body::Body;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::Json;
use serde::{Deserialize, Serialize};
use swapmeet_protocol::{decode_stored, geo, Category, Record, WithdrawReason};

use super::{blocking, json_body, parse_id, ApiError, ApiResult, St};
use crate::authoring::{AuthorError, Published};
use crate::search::SearchQuery;
use crate::store::RecordKind;
use crate::wanted::{demand::demand, search, Demand, DemandQuery, WantedDraft, WantedHit};

/// The answer of `GET /v1/wanted/mine` and `POST /v1/wanted/search`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct WantedList {
    /// The posts, newest first.
    pub wanted: Vec<WantedHitJson>,
}

/// One wanted post (see [`WantedHit`]), with its state for the poster's own list.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct WantedHitJson {
    /// Its id.
    pub id: String,
    /// The poster (seller id text form).
    pub poster: String,
    /// What is wanted.
    pub title: String,
    /// More about it.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub description: String,
    /// The most the poster would pay ("300.00 EUR", "free").
    pub max_price: String,
    /// Category slug.
    pub category: String,
    /// The poster's cell.
    pub geohash: String,
    /// The poster's place.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub place: Option<String>,
    /// Distance from the search's point, km.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub distance_km: Option<f64>,
    /// Expiry (unix seconds).
    pub expires_at: u64,
    /// active or expired.
    pub status: String,
}

fn hit_json(h: &WantedHit, now: u64) -> WantedHitJson {
    WantedHitJson {
        id: h.id.to_string(),
        poster: h.poster.clone(),
        title: h.title.clone(),
        description: h.description.clone(),
        max_price: h.max_price.to_string(),
        category: h.category.clone(),
        geohash: h.geohash.clone(),
        place: h.place.clone(),
        distance_km: h.distance_km.map(|d| (d * 10.0).round() / 10.0),
        expires_at: h.expires_at,
        status: if h.expires_at > now {
            "active"
        } else {
            "expired"
        }
        .into(),
    }
}

/// `POST /v1/wanted`: publishes a wanted post ([`WantedDraft`]); 201 with what was published.
pub async fn post_wanted(State(s): St, body: Body) -> ApiResult<(StatusCode, Json<Published>)> {
    let draft: WantedDraft = json_body(body).await?;
    let p = blocking(move || Ok(s.author.post_wanted(&draft)?)).await?;
    Ok((StatusCode::CREATED, Json(p)))
}

/// `GET /v1/wanted/mine`: the user's wanted posts (live and expired), newest first.
pub async fn mine(State(s): St) -> ApiResult<Json<WantedList>> {
    let list = blocking(move || {
        let now = s.engine.now();
        let me = s.author.key().public();
        let mut out = Vec::new();
        for rec in s.engine.records_of(&me)? {
            if rec.kind != RecordKind::Wanted {
                continue;
            }
            if let Ok(Record::Wanted(w)) = decode_stored(&rec.envelope).map(|p| p.record) {
                out.push(crate::wanted::matching::hit_of(rec.id, me.as_bytes(), &w));
            }
        }
        out.sort_by_key(|h| std::cmp::Reverse(h.signed_at));
        Ok(out.iter().map(|h| hit_json(h, now)).collect())
    })
    .await?;
    Ok(Json(WantedList { wanted: list }))
}

/// Body of `POST /v1/wanted/{id}/renew`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RenewWanted {
    /// Lifetime from now, seconds (default 30 days).
    #[serde(default)]
    pub expires_in_secs: Option<u64>,
}

/// Refuses an id that is not one of the user's wanted posts, so `want withdraw` never
/// withdraws a listing by a mistyped id.
fn own_post(s: &super::ApiState, id: &swapmeet_protocol::ListingId) -> ApiResult<()> {
    match s.author.own_wanted(id)? {
        Some(_) => Ok(()),
        None if s.engine.get(id)?.is_none() => Err(AuthorError::NotFound(*id).into()),
        None => Err(ApiError::field(
            "id",
            format!("{id} is not a live wanted post of yours (see `swapmeet want list`)"),
        )),
    }
}

/// `POST /v1/wanted/{id}/withdraw`.
pub async fn withdraw(State(s): St, Path(id): Path<String>) -> ApiResult<Json<Published>> {
    let id = parse_id(&id)?;
    let p = blocking(move || {
        own_post(&s, &id)?;
        Ok(s.author.withdraw(&id, WithdrawReason::Withdrawn)?)
    })
    .await?;
    Ok(Json(p))
}

/// `POST /v1/wanted/{id}/renew`.
pub async fn renew(State(s): St, Path(id): Path<String>, body: Body) -> ApiResult<Json<Published>> {
    let id = parse_id(&id)?;
    let b: RenewWanted = json_body(body).await?;
    let p = blocking(move || {
        own_post(&s, &id)?;
        Ok(s.author.renew(&id, b.expires_in_secs)?)
    })
    .await?;
    Ok(Json(p))
}

/// `POST /v1/wanted/search`: a [`SearchQuery`] over the wanted posts the node carries.
pub async fn search_wanted(State(s): St, body: Body) -> ApiResult<Json<WantedList>> {
    let q: SearchQuery = json_body(body).await?;
    q.validate()
        .map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, e))?;
    let list = blocking(move || {
        let now = s.engine.now();
        Ok(search(&s.engine, &q)?
            .iter()
            .map(|h| hit_json(h, now))
            .collect())
    })
    .await?;
    Ok(Json(WantedList { wanted: list }))
}

/// Query of `GET /v1/demand`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DemandParams {
    /// Category slug.
    #[serde(default)]
    pub category: Option<String>,
    /// "LAT,LON"; the home location when a radius is given without it.
    #[serde(default)]
    pub near: Option<String>,
    /// Radius around `near`, km.
    #[serde(default)]
    pub radius_km: Option<f64>,
}

/// `GET /v1/demand`: the [`Demand`] summary of the wanted posts the node carries.
pub async fn demand_summary(
    State(s): St,
    p: Result<Query<DemandParams>, QueryRejection>,
) -> ApiResult<Json<Demand>> {
    let Query(p) = p.map_err(|e| ApiError::field("query", e.body_text()))?;
    let category = p
        .category
        .as_deref()
        .map(|c| c.parse::<Category>())
        .transpose()
        .map_err(|e| ApiError::field("category", e))?;
    if let Some(r) = p.radius_km {
        if !(r.is_finite() && r > 0.0 && r <= 20_000.0) {
            return Err(ApiError::field(
                "radius_km",
                format!("{r} is not a radius between 0 and 20000 km"),
            ));
        }
    }
    let near = match (&p.near, p.radius_km) {
        (Some(t), _) => Some(geo::parse_lat_lon(t).map_err(|e| ApiError::field("near", e))?),
        (None, Some(_)) => Some(s.author.home().1.ok_or_else(|| {
            ApiError::field(
                "near",
                "a radius needs a point: pass --near LAT,LON or set a home location with `swapmeet init --location`",
            )
        })?),
        (None, None) => None,
    };
    let q = DemandQuery {
        category,
        near,
        radius_km: p.radius_km,
    };
    let d = blocking(move || Ok(demand(&s.engine, &q)?)).await?;
    Ok(Json(d))
}
