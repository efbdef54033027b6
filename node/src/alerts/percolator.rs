//! The percolator: saved searches indexed by term, so a listing is matched against only the
//! searches that could want it.
//!
//! A search with text needs every one of its words (the index's conjunction), so it is filed
//! under one of them, the rarest: the percolator counts how many listings carried each of its
//! searches' terms and, every [`REFILE_EVERY`] listings, files each search again under its
//! least frequent term (until counts exist, under its longest, a stand-in for rare: "stroller"
//! is rarer than "red"). Filter-only searches are filed under "no text" and checked for every
//! listing. A listing's words are looked up once each, the searches filed under them are the
//! candidates, and each candidate is then checked exactly: all its terms, then price,
//! category, condition, seller and distance, the same tests the search collector applies
//! (`search/collector.rs`).
//!
//! Text is analysed as tantivy's `en_stem` analyser does it, the one the index's text field
//! uses (`search/document.rs`): words split on non-alphanumerics, then each word alone goes
//! through the analyser (length limit, lower case, English stem). Every filter of `en_stem`
//! works on one token at a time, so a word's stem does not depend on its neighbours, and the
//! percolator remembers what each word it has seen stems to: stemming every word of every
//! listing was a third of the matching time (measured, BENCHMARKS.md). Only the terms of saved
//! searches matter, so a word remembers its term number among those, or that it has none.

use std::cell::OnceCell;
use std::collections::HashMap;

use swapmeet_protocol::{geo, Listing};
use tantivy::tokenizer::{TextAnalyzer, TokenizerManager};

use crate::hashing::{keyed_hasher, KeyedHasher};
use crate::search::document::{currency_code, PriceFacts, FREE_CURRENCY};
use crate::search::SearchQuery;

/// The tokenizer name of the index's text field.
const TEXT_ANALYZER: &str = "en_stem";
/// Listings matched between two refilings. Refiling walks every search once (a thousand
/// searches take well under a millisecond), so doing it this rarely costs nothing measurable,
/// and a few thousand listings are enough to tell a common word from a rare one.
pub const REFILE_EVERY: u64 = 4_096;
/// Distinct words whose analysis is remembered; past it the memory starts over. A region's
/// listings use some tens of thousands of distinct words; this many short strings take about
/// 10 MB.
const MAX_REMEMBERED_WORDS: usize = 200_000;

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

/// The words of a text as `en_stem`'s tokenizer (tantivy's `SimpleTokenizer`) splits it: runs
/// of alphanumeric characters.
fn words(text: &str) -> impl Iterator<Item = &str> {
    text.split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
}

/// A term's number in the percolator's vocabulary.
type TermId = u32;

/// The maps looked up for every word of every listing (keyed: the words come from the
/// network, see [`crate::hashing`]).
type WordMap<V> = HashMap<String, V, KeyedHasher>;

/// A saved search ready to match: its id, its query and its analysed terms, sorted.
#[derive(Clone, Debug)]
struct Compiled {
    id: u64,
    query: SearchQuery,
    terms: Vec<TermId>,
}

/// A search's place in [`Percolator::slots`]. The candidate lists hold slots, not ids, so
/// checking a candidate is an index into a vector, not a map lookup (the candidate loop was a
/// fifth of the alert task in a profile, BENCHMARKS.md).
type Slot = u32;

/// Saved searches indexed by term.
pub struct Percolator {
    analyzer: TextAnalyzer,
    /// The searches by slot; a removed search leaves its slot empty for the next one.
    slots: Vec<Option<Compiled>>,
    /// Each search's slot, by id.
    slot_of: HashMap<u64, Slot>,
    /// Every term of a saved search, numbered. Terms of removed searches stay (a few bytes
    /// each) so numbers never change while words remember them.
    vocabulary: WordMap<TermId>,
    /// By term number: its text.
    term_text: Vec<String>,
    /// By term number: listings matched so far that carried it.
    listings_with: Vec<u64>,
    /// By term number: the searches filed under it (one of their required terms, the rarest
    /// known).
    by_term: Vec<Vec<Slot>>,
    /// Searches without text: candidates for every listing.
    no_text: Vec<Slot>,
    /// Words seen in listings: the vocabulary term each analyses to, or none.
    words: WordMap<Option<TermId>>,
    /// Listings matched since the last refiling.
    since_refile: u64,
}

impl Default for Percolator {
    fn default() -> Self {
        Percolator {
            analyzer: analyzer(),
            slots: Vec::new(),
            slot_of: HashMap::new(),
            vocabulary: WordMap::with_hasher(keyed_hasher()),
            term_text: Vec::new(),
            listings_with: Vec::new(),
            by_term: Vec::new(),
            no_text: Vec::new(),
            words: WordMap::with_hasher(keyed_hasher()),
            since_refile: 0,
        }
    }
}

impl Percolator {
    /// How many searches it holds.
    pub fn len(&self) -> usize {
        self.slot_of.len()
    }

    /// Whether it holds none.
    pub fn is_empty(&self) -> bool {
        self.slot_of.is_empty()
    }

    /// The analysed terms of a text, as the index's text field has them.
    pub fn terms_of(&mut self, text: &str) -> Vec<String> {
        terms_of(&mut self.analyzer, text)
    }

    /// Adds (or replaces) a search.
    pub fn insert(&mut self, id: u64, query: SearchQuery) {
        self.remove(id);
        let texts = query
            .text
            .as_deref()
            .map(|t| terms_of(&mut self.analyzer, t))
            .unwrap_or_default();
        let mut terms = Vec::with_capacity(texts.len());
        for t in texts {
            let n = match self.vocabulary.get(&t) {
                Some(n) => *n,
                None => {
                    let n = self.term_text.len() as TermId;
                    self.vocabulary.insert(t.clone(), n);
                    self.term_text.push(t);
                    self.listings_with.push(0);
                    self.by_term.push(Vec::new());
                    // A word remembered as "no term" may analyse to this new one.
                    self.words.clear();
                    n
                }
            };
            terms.push(n);
        }
        terms.sort_unstable();
        terms.dedup();
        let slot = match self.slots.iter().position(Option::is_none) {
            Some(free) => free as Slot,
            None => {
                self.slots.push(None);
                (self.slots.len() - 1) as Slot
            }
        };
        match self.rarest(&terms) {
            Some(key) => self.by_term[key as usize].push(slot),
            None => self.no_text.push(slot),
        }
        self.slots[slot as usize] = Some(Compiled { id, query, terms });
        self.slot_of.insert(id, slot);
    }

    /// Removes a search.
    pub fn remove(&mut self, id: u64) {
        let Some(slot) = self.slot_of.remove(&id) else {
            return;
        };
        self.slots[slot as usize] = None;
        self.no_text.retain(|s| *s != slot);
        for slots in &mut self.by_term {
            slots.retain(|s| *s != slot);
        }
    }

    /// The term a search is filed under: the one the fewest listings carried, then the longest,
    /// then the first alphabetically (so the choice does not depend on the order typed).
    fn rarest(&self, terms: &[TermId]) -> Option<TermId> {
        terms.iter().copied().min_by(|a, b| {
            let (ta, tb) = (&self.term_text[*a as usize], &self.term_text[*b as usize]);
            self.listings_with[*a as usize]
                .cmp(&self.listings_with[*b as usize])
                .then(tb.len().cmp(&ta.len()))
                .then(ta.cmp(tb))
        })
    }

    /// Files every search with text again under its rarest term, by the counts so far.
    fn refile(&mut self) {
        let mut by_term: Vec<Vec<Slot>> = vec![Vec::new(); self.term_text.len()];
        for (slot, c) in self.slots.iter().enumerate() {
            if let Some(key) = c.as_ref().and_then(|c| self.rarest(&c.terms)) {
                by_term[key as usize].push(slot as Slot);
            }
        }
        self.by_term = by_term;
        self.since_refile = 0;
    }

    /// The vocabulary term a word of a listing analyses to, if any.
    fn term_of_word(&mut self, word: &str) -> Option<TermId> {
        if let Some(t) = self.words.get(word) {
            return *t;
        }
        let mut term = None;
        let mut stream = self.analyzer.token_stream(word);
        while stream.advance() {
            term = self.vocabulary.get(&stream.token().text).copied();
        }
        if self.words.len() >= MAX_REMEMBERED_WORDS {
            self.words.clear();
        }
        self.words.insert(word.to_string(), term);
        term
    }

    /// The searches a listing (signed by `seller`) matches at `now`, in id order. Its words
    /// count towards telling rare terms from common ones.
    pub fn matches(&mut self, seller: &[u8; 32], l: &Listing, now: u64) -> Vec<u64> {
        self.match_listing(seller, l, now, true)
    }

    /// As [`Percolator::matches`], for a listing already counted (the version an update
    /// replaced): its words are not counted again.
    pub fn matches_again(&mut self, seller: &[u8; 32], l: &Listing, now: u64) -> Vec<u64> {
        self.match_listing(seller, l, now, false)
    }

    fn match_listing(&mut self, seller: &[u8; 32], l: &Listing, now: u64, count: bool) -> Vec<u64> {
        if self.slot_of.is_empty() || l.expires_at <= now {
            return Vec::new();
        }
        // The listing's indexed text: the title, tags, description and variant option values,
        // as `search::document::document` puts them in the text field.
        let texts = std::iter::once(l.title.as_str())
            .chain(l.tags.iter().map(String::as_str))
            .chain(std::iter::once(l.description.as_str()))
            .chain(
                l.variants
                    .iter()
                    .flat_map(|v| &v.options)
                    .map(|o| o.value.as_str()),
            );
        let mut present: Vec<TermId> = Vec::new();
        for text in texts {
            for w in words(text) {
                if let Some(t) = self.term_of_word(w) {
                    present.push(t);
                }
            }
        }
        present.sort_unstable();
        present.dedup();
        if count {
            for t in &present {
                self.listings_with[*t as usize] += 1;
            }
            self.since_refile += 1;
            if self.since_refile >= REFILE_EVERY {
                self.refile();
            }
        }
        // Each search is filed once (under one term, or under "no text"), so no candidate
        // comes twice.
        let facts = ListingFacts::new(seller, l);
        let mut hits: Vec<u64> = Vec::new();
        let filed = present.iter().map(|t| &self.by_term[*t as usize]);
        for slot in std::iter::once(&self.no_text).chain(filed).flatten() {
            let Some(c) = &self.slots[*slot as usize] else {
                continue;
            };
            if c.terms.iter().all(|t| present.binary_search(t).is_ok()) && facts.pass(&c.query) {
                hits.push(c.id);
            }
        }
        hits.sort_unstable();
        hits
    }
}

/// What the filters test of one listing, worked out at most once per listing however many
/// candidate searches test it: its price facts and its decoded location. Computing them again
/// for every candidate was the largest item of matching in a profile of 1,000 specific
/// searches (BENCHMARKS.md).
pub struct ListingFacts<'l> {
    seller: &'l [u8; 32],
    listing: &'l Listing,
    price: OnceCell<PriceFacts>,
    /// The centre of the listing's geohash; `None` when it has no location (ships only).
    point: OnceCell<Option<(f64, f64)>>,
}

impl<'l> ListingFacts<'l> {
    /// The facts of a listing signed by `seller`, computed when first asked for.
    pub fn new(seller: &'l [u8; 32], listing: &'l Listing) -> ListingFacts<'l> {
        ListingFacts {
            seller,
            listing,
            price: OnceCell::new(),
            point: OnceCell::new(),
        }
    }

    /// Whether the listing passes a query's filters (everything but the text), as the search
    /// collector decides them.
    pub fn pass(&self, q: &SearchQuery) -> bool {
        filters_match_with(q, self)
    }
}

/// Whether a listing passes a query's filters (everything but the text), as the search
/// collector decides them.
pub fn filters_match(q: &SearchQuery, seller: &[u8; 32], l: &Listing) -> bool {
    ListingFacts::new(seller, l).pass(q)
}

fn filters_match_with(q: &SearchQuery, f: &ListingFacts<'_>) -> bool {
    let (seller, l) = (f.seller, f.listing);
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
        let facts = f.price.get_or_init(|| PriceFacts::of(l));
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
        let point = f
            .point
            .get_or_init(|| l.location.as_ref().map(|loc| geo::decode(&loc.geohash)));
        match point {
            // Ships only: no distance; kept only when the search does not restrict to a radius.
            None => return g.radius_km.is_none(),
            Some(point) => {
                if let Some(r) = g.radius_km {
                    if geo::haversine_km((g.lat, g.lon), *point) > r {
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
        let mut p = Percolator::default();
        p.insert(1, text("Road BIKES"));
        p.insert(2, text("road bike helmet"));
        p.insert(3, SearchQuery::default());
        let l = listing("Vintage road bike", 250);
        assert_eq!(p.matches(&[0; 32], &l, 0), vec![1, 3]);
        p.remove(1);
        assert_eq!(p.matches(&[0; 32], &l, 0), vec![3]);
        assert_eq!(p.len(), 2);
    }

    #[test]
    fn filters_are_exact() {
        let mut p = Percolator::default();
        let eur = Currency::new("EUR").unwrap();
        p.insert(
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
        assert_eq!(p.matches(&[0; 32], &l, 0), vec![1]);
        l.price = Price::Fixed {
            amount_minor: 40_000,
            currency: eur,
        };
        assert!(p.matches(&[0; 32], &l, 0).is_empty());
        l.price = Price::Free;
        assert_eq!(p.matches(&[0; 32], &l, 0), vec![1]);
        l.category = Category::Furniture;
        assert!(p.matches(&[0; 32], &l, 0).is_empty());
        // Expired listings match nothing.
        l.category = Category::Electronics;
        l.expires_at = 10;
        assert!(p.matches(&[0; 32], &l, 10).is_empty());
    }

    #[test]
    fn distance_is_measured() {
        let mut p = Percolator::default();
        let mut l = listing("bike", 10);
        l.location = Some(swapmeet_protocol::Location {
            geohash: geo::encode(52.52, 13.40, 6),
            place: None,
        });
        let (lat, lon) = (52.52, 13.40);
        p.insert(
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
        assert_eq!(p.matches(&[0; 32], &l, 0), vec![1]);
        l.location = None;
        assert!(p.matches(&[0; 32], &l, 0).is_empty());
    }

    /// Word by word with memory, a text analyses to the terms the whole-text analyser gives:
    /// case, diacritics, punctuation inside words, digits, words past the length limit.
    #[test]
    fn word_by_word_analysis_is_the_index_analysis() {
        let mut a = analyzer();
        let mut p = Percolator::default();
        let texts = [
            "Riese & Müller e-bike, 56cm; BIKES bikes Biking",
            "Ångström İstanbul straße ÉCOLE naïve café's",
            "x1 2x 3.5 100% «quoted» (parens) under_score",
            &format!("{} short", "a".repeat(45)),
            "Running runner ran runs, happily HAPPY happiness",
        ];
        for t in texts {
            let whole: std::collections::BTreeSet<String> =
                terms_of(&mut a, t).into_iter().collect();
            // The search's own text puts every term of the text in the vocabulary.
            p.insert(0, text(t));
            let mut by_word = std::collections::BTreeSet::new();
            for w in words(t) {
                if let Some(n) = p.term_of_word(w) {
                    by_word.insert(p.term_text[n as usize].clone());
                }
            }
            assert_eq!(by_word, whole, "{t}");
            // Remembered: the second pass gives the same.
            let ids: Vec<TermId> = words(t).filter_map(|w| p.term_of_word(w)).collect();
            let again: std::collections::BTreeSet<String> = ids
                .iter()
                .map(|n| p.term_text[*n as usize].clone())
                .collect();
            assert_eq!(again, whole, "{t}");
        }
    }

    /// After enough listings, a search is filed under the word fewer listings carry, and it
    /// still matches exactly what it did.
    #[test]
    fn searches_move_to_their_rarest_word() {
        let mut p = Percolator::default();
        // "stroller" is the longer word, so it files under it first; in these listings
        // "stroller" is everywhere and "red" is rare.
        p.insert(1, text("red stroller"));
        let key = |p: &Percolator| {
            let slot = p.slot_of[&1];
            p.by_term
                .iter()
                .position(|slots| slots.contains(&slot))
                .map(|t| p.term_text[t].clone())
        };
        assert_eq!(key(&p).as_deref(), Some("stroller"));
        let blue = listing("blue stroller", 10);
        let red = listing("red stroller", 10);
        for i in 0..REFILE_EVERY {
            let l = if i % 100 == 0 { &red } else { &blue };
            let m = p.matches(&[0; 32], l, 0);
            assert_eq!(m.is_empty(), i % 100 != 0, "listing {i}");
        }
        assert_eq!(key(&p).as_deref(), Some("red"));
        assert_eq!(p.matches(&[0; 32], &red, 0), vec![1]);
        assert!(p.matches(&[0; 32], &blue, 0).is_empty());
    }
}
