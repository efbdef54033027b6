//! The demand summary: what the wanted posts a node carries ask for, counted by category,
//! price band and area, with their most frequent words. A shop's node reads the consumer
//! network as a demand signal with it (`swapmeet demand`, and the bridge report).

use std::collections::{BTreeMap, HashMap};

use serde::{Deserialize, Serialize};
use swapmeet_protocol::{geo, Category, Price};

use super::matching::live_posts;
use crate::engine::{Engine, EngineError};
use crate::store::AREA_PRECISION;

/// Words the summary lists.
pub const DEMAND_TOP_WORDS: usize = 10;
/// Upper bounds (whole currency units) of the price bands; the last band is open. Chosen for
/// second-hand prices: a pram or a bike is 25-250, furniture 250-1000.
const PRICE_BANDS: [u64; 4] = [25, 100, 250, 1000];
/// Words too common in wanted posts to say anything.
const STOP_WORDS: [&str; 16] = [
    "the", "and", "for", "with", "any", "some", "wanted", "looking", "want", "need", "good", "old",
    "new", "used", "from", "size",
];

/// What to summarize.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DemandQuery {
    /// Only this category.
    #[serde(default)]
    pub category: Option<Category>,
    /// Only posts within `radius_km` of this point (LAT, LON).
    #[serde(default)]
    pub near: Option<(f64, f64)>,
    /// The radius around `near`, km.
    #[serde(default)]
    pub radius_km: Option<f64>,
}

/// The summary.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Demand {
    /// Wanted posts counted.
    pub posts: u64,
    /// Posts per category slug.
    pub by_category: BTreeMap<String, u64>,
    /// Posts per maximum-price band ("free", "<25 EUR", "25-100 EUR", ..., ">=1000 EUR").
    pub by_price_band: BTreeMap<String, u64>,
    /// Posts per area (4-character geohash cell, about 39 x 20 km).
    pub by_area: BTreeMap<String, u64>,
    /// The most frequent title words, most frequent first (ties alphabetically).
    pub top_words: Vec<(String, u64)>,
}

/// The band of a maximum price.
fn band(p: &Price) -> String {
    match p {
        Price::Free => "free".into(),
        Price::Fixed {
            amount_minor,
            currency,
        } => {
            let units = amount_minor / 10u64.pow(u32::from(currency.minor_digits()));
            let code = currency.code();
            let mut lower = 0;
            for upper in PRICE_BANDS {
                if units < upper {
                    return if lower == 0 {
                        format!("<{upper} {code}")
                    } else {
                        format!("{lower}-{upper} {code}")
                    };
                }
                lower = upper;
            }
            format!(">={lower} {code}")
        }
    }
}

/// Summarizes the live wanted posts the node stores. Blocking.
pub fn demand(engine: &Engine, q: &DemandQuery) -> Result<Demand, EngineError> {
    let mut d = Demand::default();
    let mut words: HashMap<String, u64> = HashMap::new();
    for (_, _, w) in live_posts(engine)? {
        if q.category.is_some_and(|c| c != w.category) {
            continue;
        }
        if let (Some(at), Some(r)) = (q.near, q.radius_km) {
            if geo::haversine_km(at, geo::decode(&w.location.geohash)) > r {
                continue;
            }
        }
        d.posts += 1;
        *d.by_category
            .entry(w.category.as_str().to_string())
            .or_default() += 1;
        *d.by_price_band.entry(band(&w.max_price)).or_default() += 1;
        let area = w.location.geohash.as_str();
        *d.by_area
            .entry(area.get(..AREA_PRECISION).unwrap_or(area).to_string())
            .or_default() += 1;
        // A word counts once per post: three posts asking for a "bike" outweigh one post
        // saying "bike" three times.
        let mut seen: Vec<String> = Vec::new();
        for word in w.title.split(|c: char| !c.is_alphanumeric()) {
            let word = word.to_lowercase();
            if word.chars().count() < 3
                || word.chars().all(|c| c.is_ascii_digit())
                || STOP_WORDS.contains(&word.as_str())
                || seen.contains(&word)
            {
                continue;
            }
            seen.push(word.clone());
            *words.entry(word).or_default() += 1;
        }
    }
    let mut top: Vec<(String, u64)> = words.into_iter().collect();
    top.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    top.truncate(DEMAND_TOP_WORDS);
    d.top_words = top;
    Ok(d)
}

/// Titles a [`CatalogueDemand`] names.
pub const CATALOGUE_DEMAND_TITLES: usize = 5;

/// The wanted posts a seller's catalogue answers, for the bridge report.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct CatalogueDemand {
    /// Live wanted posts (of others) that at least one of the seller's active listings answers.
    pub count: u64,
    /// The titles of the newest of them (at most [`CATALOGUE_DEMAND_TITLES`]).
    pub titles: Vec<String>,
}

/// Which live wanted posts of others the seller's active listings answer
/// ([`super::listing_answers`]). Blocking; reads every active listing of the seller once.
pub fn catalogue_demand(
    engine: &Engine,
    seller: &swapmeet_protocol::PublicKey,
) -> Result<CatalogueDemand, EngineError> {
    let now = engine.now();
    let posts = live_posts(engine)?;
    if posts.is_empty() {
        return Ok(CatalogueDemand::default());
    }
    let mut an = crate::alerts::percolator::analyzer();
    let mut listings = Vec::new();
    for rec in engine.records_of(seller)? {
        if !rec.is_active(now) {
            continue;
        }
        if let Ok(swapmeet_protocol::Record::Listing(l)) =
            swapmeet_protocol::decode_stored(&rec.envelope).map(|p| p.record)
        {
            let terms = super::matching::listing_terms(&mut an, &l);
            listings.push((l, terms));
        }
    }
    let mut hits: Vec<(u64, String)> = Vec::new();
    for (_, poster, w) in posts {
        if poster == *seller.as_bytes() {
            continue;
        }
        let title = super::matching::term_set(&mut an, &w.title);
        if listings
            .iter()
            .any(|(l, t)| super::listing_answers(&w, &title, l, t))
        {
            hits.push((w.signed_at, w.title.clone()));
        }
    }
    hits.sort_by_key(|h| std::cmp::Reverse(h.0));
    Ok(CatalogueDemand {
        count: hits.len() as u64,
        titles: hits
            .into_iter()
            .take(CATALOGUE_DEMAND_TITLES)
            .map(|(_, t)| t)
            .collect(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use swapmeet_protocol::Currency;

    #[test]
    fn price_bands() {
        let eur = |n: u64| Price::Fixed {
            amount_minor: n * 100,
            currency: Currency::new("EUR").unwrap(),
        };
        assert_eq!(band(&Price::Free), "free");
        assert_eq!(band(&eur(10)), "<25 EUR");
        assert_eq!(band(&eur(25)), "25-100 EUR");
        assert_eq!(band(&eur(300)), "250-1000 EUR");
        assert_eq!(band(&eur(5000)), ">=1000 EUR");
    }
}
