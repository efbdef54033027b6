//! Exclusions that cannot trip tantivy 0.27's phrase scorer.
//!
//! A search's text may exclude a phrase: `-"red bike"`, or `-e-bike`, which the query parser
//! reads as the phrase "e bike". tantivy's `Exclude` asks its exclusion set whether the first
//! candidate is a member (`seek_danger(candidate)`) even when the set already stands past it;
//! a phrase that matches nothing in a segment stands at `TERMINATED` from the start, and its
//! scorer asserts that a seek never goes back. Release builds skip the assertion; builds with
//! debug assertions (the tests, the fuzzer, which found it through `api_json`) panicked on
//! such a search. [`guard_exclusions`] wraps every excluded clause in a scorer that answers
//! those seeks itself, so the phrase scorer only ever sees seeks forward. The answer is the
//! same: a document before where the set stands is not in it.

use tantivy::query::{BooleanQuery, EnableScoring, Explanation, Occur, Query, Scorer, Weight};
use tantivy::{DocId, DocSet, Score, SeekDangerResult, SegmentReader, Term, TERMINATED};

/// The text without boosts (`word^2`, `(a -b)^0`): a boost wraps its clause in a
/// `BoostQuery`, which does not let [`guard_exclusions`] see the exclusions inside it, and it
/// means nothing to a listing search, whose ranking is the node's.
pub(super) fn without_boosts(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '^' {
            while chars.next_if(|d| d.is_ascii_digit() || *d == '.').is_some() {}
            out.push(' ');
        } else {
            out.push(c);
        }
    }
    out
}

/// The query with each `MustNot` clause, at any depth of boolean queries, guarded.
pub(super) fn guard_exclusions(query: Box<dyn Query>) -> Box<dyn Query> {
    let Some(boolean) = query.downcast_ref::<BooleanQuery>() else {
        return query;
    };
    let clauses = boolean
        .clauses()
        .iter()
        .map(|(occur, q)| {
            let q = guard_exclusions(q.box_clone());
            let q: Box<dyn Query> = if *occur == Occur::MustNot {
                Box::new(Forward(q))
            } else {
                q
            };
            (*occur, q)
        })
        .collect();
    let mut rebuilt = BooleanQuery::new(clauses);
    rebuilt.set_minimum_number_should_match(boolean.get_minimum_number_should_match());
    Box::new(rebuilt)
}

/// A query whose scorers never pass a backward seek on to the inner one.
#[derive(Debug)]
struct Forward(Box<dyn Query>);

impl Clone for Forward {
    fn clone(&self) -> Self {
        Forward(self.0.box_clone())
    }
}

impl Query for Forward {
    fn weight(&self, scoring: EnableScoring<'_>) -> tantivy::Result<Box<dyn Weight>> {
        Ok(Box::new(ForwardWeight(self.0.weight(scoring)?)))
    }

    fn query_terms<'a>(&'a self, visitor: &mut dyn FnMut(&'a Term, bool)) {
        self.0.query_terms(visitor);
    }
}

struct ForwardWeight(Box<dyn Weight>);

impl Weight for ForwardWeight {
    fn scorer(&self, reader: &SegmentReader, boost: Score) -> tantivy::Result<Box<dyn Scorer>> {
        Ok(Box::new(ForwardScorer {
            inner: self.0.scorer(reader, boost)?,
            positioned: true,
            floor: 0,
        }))
    }

    fn explain(&self, reader: &SegmentReader, doc: DocId) -> tantivy::Result<Explanation> {
        self.0.explain(reader, doc)
    }
}

struct ForwardScorer {
    inner: Box<dyn Scorer>,
    /// Whether the inner scorer stands on a document (false after a `seek_danger` that
    /// missed: tantivy's contract then allows only further `seek_danger` calls).
    positioned: bool,
    /// After a miss: no member lies between the missed target and this.
    floor: DocId,
}

impl DocSet for ForwardScorer {
    fn advance(&mut self) -> DocId {
        self.positioned = true;
        self.inner.advance()
    }

    fn seek(&mut self, target: DocId) -> DocId {
        if self.positioned && target <= self.inner.doc() {
            return self.inner.doc();
        }
        self.positioned = true;
        self.inner.seek(target)
    }

    fn seek_danger(&mut self, target: DocId) -> SeekDangerResult {
        if self.positioned {
            let doc = self.inner.doc();
            if doc == TERMINATED {
                return SeekDangerResult::SeekLowerBound(TERMINATED);
            }
            if target < doc {
                return SeekDangerResult::SeekLowerBound(doc);
            }
            if target == doc {
                return SeekDangerResult::Found;
            }
        } else if target < self.floor {
            return SeekDangerResult::SeekLowerBound(self.floor);
        }
        let result = self.inner.seek_danger(target);
        match result {
            SeekDangerResult::Found => self.positioned = true,
            SeekDangerResult::SeekLowerBound(floor) => {
                self.positioned = false;
                self.floor = floor;
            }
        }
        result
    }

    fn doc(&self) -> DocId {
        self.inner.doc()
    }

    fn size_hint(&self) -> u32 {
        self.inner.size_hint()
    }

    fn cost(&self) -> u64 {
        self.inner.cost()
    }
}

impl Scorer for ForwardScorer {
    fn score(&mut self) -> Score {
        self.inner.score()
    }
}
