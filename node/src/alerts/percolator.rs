//! The percolator: saved searches indexed by term, so a listing is matched against only the
//! searches that could want it.
//!
//! A search with text needs every one of its words (the index's conjunction), so it is filed
//! under one of them: its longest analysed term, a cheap stand-in for its rarest (long stems
//! such as "stroller" are rarer in listings than short ones such as "red"). Filter-only searches
//! are filed under "no text" and checked for every listing. A listing's text is analysed once,
//! the searches filed under its terms are the candidates, and each candidate is then checked
//! exactly: all its terms, then price, category, condition, seller and distance, the same
//! tests the search collector applies (`search/collector.rs`).
//!
//! Text is analysed with tantivy's `en_stem` analyser, the one the index's text field uses
//! (`search/document.rs`): words split on non-alphanumerics, lower case, English stems.

use std::collections::{HashMap, HashSet};

use swapmeet_protocol::{geo, Listing};
use tantivy::tokenizer::{TextAnalyzer, TokenizerManager};

use crate::search::document::{currency_code, PriceFacts, FREE_CURRENCY};
use crate::search::SearchQuery;

/// The tokenizer name of the index's text field.
const TEXT_ANALYZER: &str = "en_stem";

/// The analyser of the index's text field.
pub fn analyzer() -> TextAnalyzer {
    // `en_stem` is one of tantivy's built-in analysers, so the default manager always has it.
    TokenizerManager::default()
        .get(TEXT_ANALYZER)
        .unwrap_or_else(|| TextAnalyzer::from(tantivy::tokenizer::SimpleTokenizer::default()))
}

/// The analysed terms of a text, in order, with repeats.
pub fn terms_of(analyzer: &mut TextAnalyzer, text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut stream = analyzer.token_stream(text);
    while stream.advance() {
        out.push(stream.token().text.clone());
    }
    out
}

/// The distinct terms of a listing's indexed text: the title, tags, description and variant
/// option values, as `search::document::document` puts them in the text field.
pub fn listing_terms(analyzer: &mut TextAnalyzer, l: &Listing) -> HashSet<String> {
    let mut set = HashSet::new();
    let mut add = |t: &str| {
        let mut stream = analyzer.token_stream(t);
        while stream.advance() {
            set.insert(stream.token().text.clone());
        }
    };
    add(&l.title);
    for t in &l.tags {
        add(t);
    }
    add(&l.description);
    for o in l.variants.iter().flat_map(|v| &v.options) {
        add(&o.value);
    }
    set
}

/// A saved search ready to match: its query and its analysed terms.
#[derive(Clone, Debug)]
struct Compiled {
    query: SearchQuery,
    terms: Vec<String>,
}

/// Saved searches indexed by term.
#[derive(Default)]
pub struct Percolator {
    searches: HashMap<u64, Compiled>,
    /// Searches filed under one of their required terms.
    by_term: HashMap<String, Vec<u64>>,
    /// Searches without text: candidates for every listing.
    no_text: Vec<u64>,
}

impl Percolator {
    /// How many searches it holds.
    pub fn len(&self) -> usize {
        self.searches.len()
    }

    /// Whether it holds none.
    pub fn is_empty(&self) -> bool {
        self.searches.is_empty()
    }

    /// Adds (or replaces) a search.
    pub fn insert(&mut self, analyzer: &mut TextAnalyzer, id: u64, query: SearchQuery) {
        self.remove(id);
        let mut terms = query
            .text
            .as_deref()
            .map(|t| terms_of(analyzer, t))
            .unwrap_or_default();
        terms.sort();
        terms.dedup();
        // Longest, then alphabetical, so the choice does not depend on the order typed.
        match terms
            .iter()
            .max_by(|a, b| a.len().cmp(&b.len()).then(b.cmp(a)))
        {
            Some(key) => self.by_term.entry(key.clone()).or_default().push(id),
            None => self.no_text.push(id),
        }
        self.searches.insert(id, Compiled { query, terms });
    }

    /// Removes a search.
    pub fn remove(&mut self, id: u64) {
        if self.searches.remove(&id).is_none() {
            return;
        }
        self.no_text.retain(|s| *s != id);
        self.by_term.retain(|_, ids| {
            ids.retain(|s| *s != id);
            !ids.is_empty()
        });
    }

    /// The searches a listing (signed by `seller`) matches at `now`, in id order.
    pub fn matches(
        &self,
        analyzer: &mut TextAnalyzer,
        seller: &[u8; 32],
        l: &Listing,
        now: u64,
    ) -> Vec<u64> {
        if self.searches.is_empty() || l.expires_at <= now {
            return Vec::new();
        }
        let terms = listing_terms(analyzer, l);
        let mut candidates: Vec<u64> = self.no_text.clone();
        for t in &terms {
            if let Some(ids) = self.by_term.get(t) {
                candidates.extend_from_slice(ids);
            }
        }
        candidates.sort_unstable();
        candidates.dedup();
        candidates.retain(|id| {
            self.searches.get(id).is_some_and(|c| {
                c.terms.iter().all(|t| terms.contains(t)) && filters_match(&c.query, seller, l)
            })
        });
        candidates
    }
}

/// Whether a listing passes a query's filters (everything but the text), as the search
/// collector decides them.
pub fn filters_match(q: &SearchQuery, seller: &[u8; 32], l: &Listing) -> bool {
    if q.category.is_some_and(|c| c != l.category) {
        return false;
    }
    if q.condition.is_some_and(|c| c != l.condition) {
        return false;
    }
    if q.seller.as_ref().is_some_and(|s| s.as_bytes() != seller) {
        return false;
    }
    if let Some(p) = &q.price {
        let facts = PriceFacts::of(l);
        let (min, max) = (p.min_minor.unwrap_or(0), p.max_minor.unwrap_or(u64::MAX));
        let ok = if facts.currency == FREE_CURRENCY {
            // Free items match a range that starts at zero.
            min == 0
        } else if facts.currency != currency_code(p.currency.code()) {
            false
        } else {
            let range = min..=max;
            if facts.hi < min || facts.lo > max {
                false
            } else if range.contains(&facts.lo) || range.contains(&facts.hi) {
                true
            } else {
                facts.variant_prices(l).any(|v| range.contains(&v))
            }
        };
        if !ok {
            return false;
        }
    }
    if let Some(g) = &q.near {
        match &l.location {
            // Ships only: no distance; kept only when the search does not restrict to a radius.
            None => return g.radius_km.is_none(),
            Some(loc) => {
                if let Some(r) = g.radius_km {
                    let point = geo::decode(&loc.geohash);
                    if geo::haversine_km((g.lat, g.lon), point) > r {
                        return false;
                    }
                }
            }
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::search::{GeoFilter, PriceFilter};
    use swapmeet_protocol::{Category, Currency, Price};

    fn listing(title: &str, euros: u64) -> Listing {
        let (_, mut l) = crate::synth::Synth::new(7, 1, 1_700_000_000).listing();
        l.title = title.to_string();
        l.description = String::new();
        l.tags.clear();
        l.variants.clear();
        l.price = Price::Fixed {
            amount_minor: euros * 100,
            currency: Currency::new("EUR").unwrap(),
        };
        l.expires_at = u64::MAX;
        l
    }

    fn text(t: &str) -> SearchQuery {
        SearchQuery {
            text: Some(t.to_string()),
            ..Default::default()
        }
    }

    #[test]
    fn stems_case_and_all_words() {
        let mut a = analyzer();
        let mut p = Percolator::default();
        p.insert(&mut a, 1, text("Road BIKES"));
        p.insert(&mut a, 2, text("road bike helmet"));
        p.insert(&mut a, 3, SearchQuery::default());
        let l = listing("Vintage road bike", 250);
        assert_eq!(p.matches(&mut a, &[0; 32], &l, 0), vec![1, 3]);
        p.remove(1);
        assert_eq!(p.matches(&mut a, &[0; 32], &l, 0), vec![3]);
        assert_eq!(p.len(), 2);
    }

    #[test]
    fn filters_are_exact() {
        let mut a = analyzer();
        let mut p = Percolator::default();
        let eur = Currency::new("EUR").unwrap();
        p.insert(
            &mut a,
            1,
            SearchQuery {
                price: Some(PriceFilter {
                    currency: eur,
                    min_minor: None,
                    max_minor: Some(30_000),
                }),
                category: Some(Category::Electronics),
                ..text("bike")
            },
        );
        let mut l = listing("bike", 250);
        l.category = Category::Electronics;
        assert_eq!(p.matches(&mut a, &[0; 32], &l, 0), vec![1]);
        l.price = Price::Fixed {
            amount_minor: 40_000,
            currency: eur,
        };
        assert!(p.matches(&mut a, &[0; 32], &l, 0).is_empty());
        l.price = Price::Free;
        assert_eq!(p.matches(&mut a, &[0; 32], &l, 0), vec![1]);
        l.category = Category::Furniture;
        assert!(p.matches(&mut a, &[0; 32], &l, 0).is_empty());
        // Expired listings match nothing.
        l.category = Category::Electronics;
        l.expires_at = 10;
        assert!(p.matches(&mut a, &[0; 32], &l, 10).is_empty());
    }

    #[test]
    fn distance_is_measured() {
        let mut a = analyzer();
        let mut p = Percolator::default();
        let mut l = listing("bike", 10);
        l.location = Some(swapmeet_protocol::Location {
            geohash: geo::encode(52.52, 13.40, 6),
            place: None,
        });
        let (lat, lon) = (52.52, 13.40);
        p.insert(
            &mut a,
            1,
            SearchQuery {
                near: Some(GeoFilter {
                    lat,
                    lon,
                    radius_km: Some(5.0),
                }),
                ..Default::default()
            },
        );
        p.insert(
            &mut a,
            2,
            SearchQuery {
                near: Some(GeoFilter {
                    lat: lat + 1.0,
                    lon,
                    radius_km: Some(20.0),
                }),
                ..Default::default()
            },
        );
        assert_eq!(p.matches(&mut a, &[0; 32], &l, 0), vec![1]);
        l.location = None;
        assert!(p.matches(&mut a, &[0; 32], &l, 0).is_empty());
    }
}
