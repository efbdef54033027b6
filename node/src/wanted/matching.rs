//! Which wanted posts a query finds, and whether a listing answers a wanted post.
//!
//! Text is analysed as the listing index analyses it (`alerts::percolator::analyzer`: words,
//! lower case, English stems), and a query needs all its words, as a listing search does.

use std::collections::HashSet;

use serde::Serialize;
use swapmeet_protocol::{decode_stored, geo, Listing, ListingId, Price, Record, Wanted};
use tantivy::tokenizer::TextAnalyzer;

use crate::alerts::percolator::{analyzer, terms_of};
use crate::engine::{Engine, EngineError};
use crate::search::SearchQuery;

/// How far a listing may be from a wanted post's cell and still answer it (unless it ships):
/// the radius a buyer travels for a pickup. The example buyer looks within 20 km; a
/// cell is up to about 1.2 km across, so 25 km leaves the margin of the cells at both ends.
pub const WANTED_MATCH_RADIUS_KM: f64 = 25.0;

/// A wanted post as a search shows it.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct WantedHit {
    /// Its id (withdraw, renew, answer).
    pub id: ListingId,
    /// Who posted it (seller id text form: answering messages this key).
    pub poster: String,
    /// What is wanted.
    pub title: String,
    /// More about it.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub description: String,
    /// The most the poster would pay.
    pub max_price: Price,
    /// Category slug.
    pub category: String,
    /// The poster's cell.
    pub geohash: String,
    /// The poster's place name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub place: Option<String>,
    /// Distance from the query's point, km.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub distance_km: Option<f64>,
    /// Version.
    pub seq: u64,
    /// Signing time.
    pub signed_at: u64,
    /// Expiry.
    pub expires_at: u64,
}

/// The hit of a post, with no distance.
pub fn hit_of(id: ListingId, poster: &[u8; 32], w: &Wanted) -> WantedHit {
    WantedHit::of(id, poster, w, None)
}

impl WantedHit {
    fn of(id: ListingId, poster: &[u8; 32], w: &Wanted, distance_km: Option<f64>) -> WantedHit {
        WantedHit {
            id,
            poster: swapmeet_protocol::seller_id_text(poster),
            title: w.title.clone(),
            description: w.description.clone(),
            max_price: w.max_price,
            category: w.category.as_str().to_string(),
            geohash: w.location.geohash.as_str().to_string(),
            place: w.location.place.clone(),
            distance_km,
            seq: w.seq,
            signed_at: w.signed_at,
            expires_at: w.expires_at,
        }
    }
}

/// Every live wanted post the node stores, with its poster's key bytes. Blocking.
pub fn live_posts(engine: &Engine) -> Result<Vec<(ListingId, [u8; 32], Wanted)>, EngineError> {
    let now = engine.now();
    let mut out = Vec::new();
    for id in engine.store().wanted_ids()? {
        let Some(rec) = engine.get(&id)? else {
            continue;
        };
        if rec.expires_at <= now {
            continue;
        }
        match decode_stored(&rec.envelope) {
            Ok(parts) => {
                if let Record::Wanted(w) = parts.record {
                    out.push((id, parts.signer, w));
                }
            }
            // Verified when stored; a record that no longer decodes is damage, not input.
            Err(e) => tracing::warn!(%id, error = %e, "a stored wanted post could not be decoded"),
        }
    }
    Ok(out)
}

/// The analysed terms of a text, as a set.
pub fn term_set(analyzer: &mut TextAnalyzer, text: &str) -> HashSet<String> {
    terms_of(analyzer, text).into_iter().collect()
}

/// The wanted posts a query finds, newest first: its text (all words, in the title or the
/// description), category, seller (the poster), price range (over the post's maximum price)
/// and circle. Sort, condition and rating do not apply to wanted posts. Blocking.
pub fn search(engine: &Engine, q: &SearchQuery) -> Result<Vec<WantedHit>, EngineError> {
    let mut an = analyzer();
    let wanted_terms = q
        .text
        .as_deref()
        .map(|t| term_set(&mut an, t))
        .unwrap_or_default();
    let mut hits = Vec::new();
    for (id, poster, w) in live_posts(engine)? {
        if q.category.is_some_and(|c| c != w.category) {
            continue;
        }
        if q.seller.as_ref().is_some_and(|s| s.as_bytes() != &poster) {
            continue;
        }
        if let Some(p) = &q.price {
            let ok = match w.max_price {
                Price::Free => p.min_minor.unwrap_or(0) == 0,
                Price::Fixed {
                    amount_minor,
                    currency,
                } => {
                    currency == p.currency
                        && (p.min_minor.unwrap_or(0)..=p.max_minor.unwrap_or(u64::MAX))
                            .contains(&amount_minor)
                }
            };
            if !ok {
                continue;
            }
        }
        let distance = q
            .near
            .map(|g| geo::haversine_km((g.lat, g.lon), geo::decode(&w.location.geohash)));
        if let (Some(d), Some(r)) = (distance, q.near.and_then(|g| g.radius_km)) {
            if d > r {
                continue;
            }
        }
        if !wanted_terms.is_empty() {
            let have = term_set(&mut an, &format!("{}\n{}", w.title, w.description));
            if !wanted_terms.iter().all(|t| have.contains(t)) {
                continue;
            }
        }
        hits.push(WantedHit::of(id, &poster, &w, distance));
    }
    hits.sort_by(|a, b| b.signed_at.cmp(&a.signed_at).then(a.id.cmp(&b.id)));
    let skip = q.offset.unwrap_or(0);
    Ok(hits.into_iter().skip(skip).take(q.limit()).collect())
}

/// Whether a listing answers a wanted post: the same category; every word of the post's title
/// in the listing's title, description or tags (as a saved search with that text); at most
/// the post's maximum price (in its currency, or free); and within
/// [`WANTED_MATCH_RADIUS_KM`] of the post's cell, or shipped.
/// `title_terms` are the analysed terms of the post's title, `listing_terms` the listing's.
pub fn listing_answers(
    post: &Wanted,
    title_terms: &HashSet<String>,
    l: &Listing,
    listing_terms: &HashSet<String>,
) -> bool {
    if l.category != post.category || title_terms.is_empty() {
        return false;
    }
    let affordable = match (l.price_range().0, post.max_price) {
        (Price::Free, _) => true,
        (Price::Fixed { .. }, Price::Free) => false,
        (
            Price::Fixed {
                amount_minor: a,
                currency: c,
            },
            Price::Fixed {
                amount_minor: max,
                currency: mc,
            },
        ) => c == mc && a <= max,
    };
    if !affordable {
        return false;
    }
    let near = match &l.location {
        Some(loc) => {
            geo::haversine_km(
                geo::decode(&loc.geohash),
                geo::decode(&post.location.geohash),
            ) <= WANTED_MATCH_RADIUS_KM
        }
        None => false,
    };
    if !near && !l.delivery.shipping {
        return false;
    }
    title_terms.iter().all(|t| listing_terms.contains(t))
}

/// The analysed terms of a listing's searchable text: title, description and tags.
pub fn listing_terms(an: &mut TextAnalyzer, l: &Listing) -> HashSet<String> {
    term_set(
        an,
        &format!("{}\n{}\n{}", l.title, l.description, l.tags.join(" ")),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use swapmeet_protocol::{Category, Condition, Currency, Delivery, Location};

    fn eur(n: u64) -> Price {
        Price::Fixed {
            amount_minor: n * 100,
            currency: Currency::new("EUR").unwrap(),
        }
    }

    fn post() -> Wanted {
        Wanted {
            item_key: "wanted-1".into(),
            seq: 1,
            signed_at: 1,
            expires_at: 2,
            title: "Road bikes".into(),
            description: String::new(),
            max_price: eur(300),
            category: Category::Bikes,
            location: Location {
                geohash: geo::encode(52.52, 13.40, 6),
                place: None,
            },
        }
    }

    fn listing(title: &str, price: Price, at: (f64, f64)) -> Listing {
        Listing {
            item_key: "k".into(),
            seq: 1,
            signed_at: 1,
            expires_at: 2,
            title: title.into(),
            description: String::new(),
            price,
            condition: Condition::Good,
            category: Category::Bikes,
            tags: vec![],
            quantity: 1,
            location: Some(Location {
                geohash: geo::encode(at.0, at.1, 6),
                place: None,
            }),
            delivery: Delivery {
                pickup: true,
                shipping: false,
                ships_to: vec![],
            },
            images: vec![],
            variants: vec![],
            stamp: None,
        }
    }

    fn answers(l: &Listing) -> bool {
        let mut an = analyzer();
        let p = post();
        let t = term_set(&mut an, &p.title);
        listing_answers(&p, &t, l, &listing_terms(&mut an, l))
    }

    #[test]
    fn a_listing_answers_by_words_price_category_and_distance() {
        let here = (52.52, 13.45);
        assert!(answers(&listing("Road bike, 56 cm", eur(250), here)));
        assert!(answers(&listing("ROAD BIKE", Price::Free, here)));
        assert!(!answers(&listing("Road bike", eur(400), here)), "too dear");
        assert!(!answers(&listing("Bike", eur(100), here)), "a word missing");
        // Hamburg is 250 km away.
        assert!(!answers(&listing("Road bike", eur(100), (53.55, 9.99))));
        let mut shipped = listing("Road bike", eur(100), (53.55, 9.99));
        shipped.delivery.shipping = true;
        assert!(answers(&shipped));
        let mut other = listing("Road bike", eur(100), here);
        other.category = Category::SportsLeisure;
        assert!(!answers(&other));
    }
}
