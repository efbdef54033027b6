//! Search that forgives typos: a query word that matches nothing is searched as the close
//! spellings the index has, and the answer says which words were replaced.
//!
//! The words are analysed as the index analyses text (lower case, English stems), so "Hoddie"
//! becomes the term "hoddi", and its close spellings are terms such as "hoodi" (of "hoodie").
//! Close means within an edit distance that grows with the word, as search engines do (no
//! edits below 3 characters, 1 up to 5, 2 from 6; a swap of two letters counts as one): the
//! candidates are found with tantivy's `FuzzyTermQuery` automaton on each segment's term
//! dictionary; those at the least distance are searched, weighted by how common they are.
//!
//! "Very little" is defined in two steps. A word in no listing is always corrected. A word in
//! one or two listings is corrected only when the search as typed finds nothing and a close
//! spelling is in at least ten times as many: frequency alone cannot tell one seller's typo
//! ("hoddie" among 380 hoodies) from a real rare word ("gloves", one listing, next to "love"
//! in hundreds of descriptions), and a search that finds something shows it.
//!
//! Only the words that need it go fuzzy; the others are matched exactly. Within a corrected
//! word, listings with the word as typed rank above those with a close spelling, and among
//! close spellings the usual BM25 score orders them.

use std::collections::HashMap;

use serde::Serialize;
use tantivy::query::TermQuery;
use tantivy::query::{BooleanQuery, BoostQuery, ConstScoreQuery, FuzzyTermQuery, Occur, Query};
use tantivy::schema::IndexRecordOption;
use tantivy::{Searcher, Term};

use super::{tv, SearchError, SearchIndex};

/// When a search as typed finds nothing, a word that matches fewer listings than this may be
/// corrected, if a close spelling is far more common (see [`DOMINANCE`]): one or two
/// listings with a word may be that many sellers' typos of a common word.
pub const RARE_BELOW: u64 = 3;
/// How many times more listings a close spelling must have than the word as typed to
/// replace a word that matches some listings.
pub const DOMINANCE: u64 = 10;
/// Most close spellings searched for one word: the most common ones at the least distance.
const MAX_ALTERNATIVES: usize = 8;
/// Score added to a listing that has a corrected word as typed, so it ranks above every
/// listing that has only a close spelling (a BM25 score of one word stays far below it).
const EXACT_BONUS: f32 = 1_000.0;
/// Weight of the most common close spelling's BM25 score against the word as typed; the others
/// weigh in proportion to how common they are, so a rare close spelling (a product named
/// "Hoodlie") does not outrank the common one on its rarity.
const CLOSE_WEIGHT: f32 = 0.5;

/// Which words are corrected.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Rare {
    /// Only words that match no listing.
    AsTyped,
    /// Also words that match fewer than [`RARE_BELOW`] listings while a close spelling
    /// matches at least [`DOMINANCE`] times as many (used when the search found nothing).
    Correct,
}

/// A text query with close spellings for some words, and which words those are.
pub type Forgiven = (Box<dyn Query>, Vec<Correction>);

/// A query word searched as its close spellings.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Correction {
    /// The word as typed.
    pub typed: String,
    /// Where it is in the query text (byte offsets), to show the query as corrected.
    #[serde(skip)]
    pub span: (usize, usize),
    /// The indexed term (a stem) of the most common close spelling: what it was corrected to.
    pub term: String,
    /// Every indexed term searched for it, most common first.
    pub searched: Vec<String>,
}

/// One analysed word of a text: the indexed term and where the word is in the text.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Analysed {
    /// The term as indexed (lower case, stemmed).
    pub term: String,
    /// Byte offsets of the word in the text.
    pub span: (usize, usize),
}

/// The most edits a word of this many characters (of its indexed term) may be away from a
/// close spelling; 0 when it is too short to correct.
pub fn max_distance(term: &str) -> u8 {
    match term.chars().count() {
        0..=2 => 0,
        3..=5 => 1,
        _ => 2,
    }
}

/// Whether the text uses the query syntax (quotes, fields, grouping, operators): then it is
/// searched exactly as written, without corrections.
fn has_syntax(text: &str) -> bool {
    text.chars().any(|c| {
        matches!(
            c,
            '"' | ':' | '(' | ')' | '[' | ']' | '{' | '}' | '^' | '~' | '*'
        )
    }) || text
        .split_whitespace()
        .any(|w| w.starts_with('-') || w.starts_with('+') || matches!(w, "AND" | "OR" | "NOT"))
}

/// Edit distance where a swap of two neighbouring letters counts as one (optimal string
/// alignment), as the automaton counts it.
pub fn distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    let mut rows = vec![vec![0usize; b.len() + 1]; a.len() + 1];
    for (i, row) in rows.iter_mut().enumerate() {
        row[0] = i;
    }
    for (j, cell) in rows[0].iter_mut().enumerate() {
        *cell = j;
    }
    for i in 1..=a.len() {
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut d = (rows[i - 1][j] + 1)
                .min(rows[i][j - 1] + 1)
                .min(rows[i - 1][j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                d = d.min(rows[i - 2][j - 2] + 1);
            }
            rows[i][j] = d;
        }
    }
    rows[a.len()][b.len()]
}

impl SearchIndex {
    /// The words of a text as the index analyses them.
    pub fn analyse(&self, text: &str) -> Result<Vec<Analysed>, SearchError> {
        let mut analyzer = self
            .reader
            .searcher()
            .index()
            .tokenizer_for_field(self.fields.text)
            .map_err(tv("reading the text analyser"))?;
        let mut out = Vec::new();
        let mut stream = analyzer.token_stream(text);
        while stream.advance() {
            let t = stream.token();
            out.push(Analysed {
                term: t.text.clone(),
                span: (t.offset_from, t.offset_to),
            });
        }
        Ok(out)
    }

    /// The text query with close spellings for the words that need them, or `None` when
    /// every word is searched as typed (then the query parser handles the text as before).
    pub(super) fn forgiving_query(
        &self,
        searcher: &Searcher,
        text: &str,
        rare: Rare,
    ) -> Result<Option<Forgiven>, SearchError> {
        if has_syntax(text) {
            return Ok(None);
        }
        let words = self.analyse(text)?;
        let mut clauses: Vec<(Occur, Box<dyn Query>)> = Vec::with_capacity(words.len());
        let mut corrections = Vec::new();
        for word in words {
            let exact = Term::from_field_text(self.fields.text, &word.term);
            let exact_query = || -> Box<dyn Query> {
                Box::new(TermQuery::new(exact.clone(), IndexRecordOption::WithFreqs))
            };
            let freq = searcher.doc_freq(&exact).map_err(tv("reading a term"))?;
            let candidate = freq == 0 || (rare == Rare::Correct && freq < RARE_BELOW);
            let close = if candidate {
                self.close_terms(searcher, &word.term)?
            } else {
                Vec::new()
            };
            let replace = close
                .first()
                .is_some_and(|(_, most)| freq == 0 || *most >= freq.saturating_mul(DOMINANCE));
            if !replace {
                clauses.push((Occur::Must, exact_query()));
                continue;
            }
            let mut any: Vec<(Occur, Box<dyn Query>)> = Vec::new();
            if freq > 0 {
                any.push((Occur::Should, exact_query()));
                any.push((
                    Occur::Should,
                    Box::new(ConstScoreQuery::new(exact_query(), EXACT_BONUS)),
                ));
            }
            let most = close.first().map_or(1, |(_, n)| (*n).max(1));
            for (term, n) in &close {
                let q = TermQuery::new(
                    Term::from_field_text(self.fields.text, term),
                    IndexRecordOption::WithFreqs,
                );
                let weight = CLOSE_WEIGHT * (*n as f32 / most as f32);
                any.push((
                    Occur::Should,
                    Box::new(BoostQuery::new(Box::new(q), weight)),
                ));
            }
            clauses.push((Occur::Must, Box::new(BooleanQuery::new(any))));
            corrections.push(Correction {
                typed: text
                    .get(word.span.0..word.span.1)
                    .unwrap_or(&word.term)
                    .to_string(),
                span: word.span,
                term: close[0].0.clone(),
                searched: close.into_iter().map(|(t, _)| t).collect(),
            });
        }
        if corrections.is_empty() {
            return Ok(None);
        }
        Ok(Some((Box::new(BooleanQuery::new(clauses)), corrections)))
    }

    /// The indexed terms within [`max_distance`] of `term` (not `term` itself), those at the
    /// least distance found, most common first, at most [`MAX_ALTERNATIVES`], with how many
    /// listings have each.
    fn close_terms(
        &self,
        searcher: &Searcher,
        term: &str,
    ) -> Result<Vec<(String, u64)>, SearchError> {
        let max = max_distance(term);
        if max == 0 {
            return Ok(Vec::new());
        }
        let fuzzy = FuzzyTermQuery::new(Term::from_field_text(self.fields.text, term), max, true);
        let mut found: HashMap<String, u64> = HashMap::new();
        for segment in searcher.segment_readers() {
            let inverted = segment
                .inverted_index(self.fields.text)
                .map_err(tv("opening the term dictionary"))?;
            let automaton = fuzzy
                .automaton()
                .map_err(tv("building the fuzzy automaton"))?;
            let mut stream = inverted
                .terms()
                .search(automaton)
                .into_stream()
                .map_err(|e| SearchError::Index {
                    context: "reading the term dictionary",
                    source: e.into(),
                })?;
            while stream.advance() {
                let Ok(key) = std::str::from_utf8(stream.key()) else {
                    continue;
                };
                if key != term {
                    *found.entry(key.to_string()).or_default() +=
                        u64::from(stream.value().doc_freq);
                }
            }
        }
        let Some(least) = found.keys().map(|k| distance(term, k)).min() else {
            return Ok(Vec::new());
        };
        let mut close: Vec<(String, u64)> = found
            .into_iter()
            .filter(|(k, _)| distance(term, k) == least)
            .collect();
        // Most common first; the term itself breaks ties so the choice is stable.
        close.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        close.truncate(MAX_ALTERNATIVES);
        Ok(close)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_swap_of_neighbours_is_one_edit() {
        assert_eq!(distance("jakcet", "jacket"), 1);
        assert_eq!(distance("hoddi", "hoodi"), 1);
        assert_eq!(distance("swetshirt", "sweatshirt"), 1);
        assert_eq!(distance("hoodi", "hoodi"), 0);
        assert_eq!(distance("bag", "bottle"), 5);
    }

    #[test]
    fn longer_words_may_be_further_off() {
        assert_eq!(max_distance("te"), 0);
        assert_eq!(max_distance("tee"), 1);
        assert_eq!(max_distance("hoddi"), 1);
        assert_eq!(max_distance("jakcet"), 2);
    }

    #[test]
    fn query_syntax_is_searched_as_written() {
        assert!(has_syntax("\"road bike\""));
        assert!(has_syntax("bike -road"));
        assert!(has_syntax("title:bike"));
        assert!(!has_syntax("womens jakcet"));
        assert!(!has_syntax("t-shirt"));
    }
}
