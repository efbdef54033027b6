//! One collector for every search: it drops expired listings and those outside the radius,
//! computes the sort key, and keeps the best `depth` hits in a bounded heap.
//!
//! Doing the filtering and ordering here (on fast fields) instead of in separate queries keeps a
//! search to one pass over the matching documents, which is what makes 1 ms medians possible.

use std::cmp::Ordering;
use std::collections::BinaryHeap;
use std::sync::Arc;

use swapmeet_protocol::{geo, ListingId};
use tantivy::collector::{Collector, SegmentCollector};
use tantivy::columnar::ColumnValues;
use tantivy::{DocId, Score, SegmentOrdinal, SegmentReader};

use super::document::{F_EXPIRES, F_ID_HI, F_ID_LO, F_LAT, F_LON, F_PRICE, F_SIGNED};
use super::query::Sort;

/// One collected hit.
#[derive(Clone, Debug)]
pub struct Collected {
    /// Larger is better.
    pub key: f64,
    /// The listing.
    pub id: ListingId,
    /// BM25 score (0 when not scoring).
    pub score: f32,
    /// Distance from the search point, when there is one.
    pub distance_km: Option<f64>,
}

impl PartialEq for Collected {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}
impl Eq for Collected {}
impl PartialOrd for Collected {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Collected {
    // Reversed so that BinaryHeap (a max-heap) keeps the *worst* hit on top, to be evicted.
    // Ties break on the id so results are deterministic.
    fn cmp(&self, other: &Self) -> Ordering {
        other
            .key
            .total_cmp(&self.key)
            .then_with(|| self.id.cmp(&other.id))
    }
}

/// The hits and how many documents passed every filter.
#[derive(Debug, Default)]
pub struct Fruit {
    /// Best hits, best first.
    pub hits: Vec<Collected>,
    /// Documents that matched (for "N results").
    pub total: usize,
}

/// Collects the best `depth` hits.
pub struct ListingCollector {
    /// Unix seconds: listings expiring at or before it are skipped.
    pub now: u64,
    /// Search point and optional radius.
    pub near: Option<(f64, f64, Option<f64>)>,
    /// Order.
    pub sort: Sort,
    /// Whether a text query supplies BM25 scores.
    pub scored: bool,
    /// How many hits to keep (offset + limit).
    pub depth: usize,
}

type U64Col = Arc<dyn ColumnValues<u64>>;
type F64Col = Arc<dyn ColumnValues<f64>>;

pub struct ListingSegmentCollector {
    now: u64,
    near: Option<(f64, f64, Option<f64>)>,
    sort: Sort,
    depth: usize,
    expires: U64Col,
    signed: U64Col,
    price: U64Col,
    id_hi: U64Col,
    id_lo: U64Col,
    lat: F64Col,
    lon: F64Col,
    heap: BinaryHeap<Collected>,
    total: usize,
}

impl Collector for ListingCollector {
    type Fruit = Fruit;
    type Child = ListingSegmentCollector;

    fn for_segment(
        &self,
        _ord: SegmentOrdinal,
        segment: &SegmentReader,
    ) -> tantivy::Result<ListingSegmentCollector> {
        let ff = segment.fast_fields();
        let u =
            |name: &str| -> tantivy::Result<U64Col> { Ok(ff.u64(name)?.first_or_default_col(0)) };
        // Listings without a location get NaN so every distance test on them fails.
        let f = |name: &str| -> tantivy::Result<F64Col> {
            Ok(ff.f64(name)?.first_or_default_col(f64::NAN))
        };
        Ok(ListingSegmentCollector {
            now: self.now,
            near: self.near,
            sort: self.sort,
            depth: self.depth,
            expires: u(F_EXPIRES)?,
            signed: u(F_SIGNED)?,
            price: u(F_PRICE)?,
            id_hi: u(F_ID_HI)?,
            id_lo: u(F_ID_LO)?,
            lat: f(F_LAT)?,
            lon: f(F_LON)?,
            heap: BinaryHeap::with_capacity(self.depth + 1),
            total: 0,
        })
    }

    fn requires_scoring(&self) -> bool {
        self.scored && self.sort == Sort::Relevance
    }

    fn merge_fruits(&self, fruits: Vec<Fruit>) -> tantivy::Result<Fruit> {
        let mut total = 0;
        let mut all: Vec<Collected> = Vec::new();
        for f in fruits {
            total += f.total;
            all.extend(f.hits);
        }
        // `Ord` is reversed (better hits compare as smaller), so an ascending sort puts the
        // best first.
        all.sort();
        all.truncate(self.depth);
        Ok(Fruit { hits: all, total })
    }
}

impl ListingSegmentCollector {
    fn id(&self, doc: DocId) -> ListingId {
        let mut b = [0u8; 16];
        b[..8].copy_from_slice(&self.id_hi.get_val(doc).to_be_bytes());
        b[8..].copy_from_slice(&self.id_lo.get_val(doc).to_be_bytes());
        ListingId::from_bytes(b)
    }
}

impl SegmentCollector for ListingSegmentCollector {
    type Fruit = Fruit;

    fn collect(&mut self, doc: DocId, score: Score) {
        if self.expires.get_val(doc) <= self.now {
            return;
        }
        let distance_km = match self.near {
            Some((lat, lon, radius)) => {
                let (dlat, dlon) = (self.lat.get_val(doc), self.lon.get_val(doc));
                if dlat.is_nan() {
                    // No location (ships only): it has no distance; keep it only when the
                    // search does not restrict to a radius.
                    if radius.is_some() || self.sort == Sort::Nearest {
                        return;
                    }
                    None
                } else {
                    let d = geo::haversine_km((lat, lon), (dlat, dlon));
                    if radius.is_some_and(|r| d > r) {
                        return;
                    }
                    Some(d)
                }
            }
            None => None,
        };
        self.total += 1;
        let key = match self.sort {
            Sort::Relevance => f64::from(score),
            Sort::PriceAsc => -(self.price.get_val(doc) as f64),
            Sort::PriceDesc => self.price.get_val(doc) as f64,
            Sort::Newest => self.signed.get_val(doc) as f64,
            Sort::Nearest => -distance_km.unwrap_or(f64::INFINITY),
        };
        // Secondary order: newer first among equal keys (e.g. relevance without text).
        let key = if self.sort == Sort::Relevance && score == 0.0 {
            self.signed.get_val(doc) as f64
        } else {
            key
        };
        if self.heap.len() == self.depth {
            if let Some(worst) = self.heap.peek() {
                if key <= worst.key {
                    return;
                }
            }
        }
        let hit = Collected {
            key,
            id: self.id(doc),
            score,
            distance_km,
        };
        self.heap.push(hit);
        if self.heap.len() > self.depth {
            self.heap.pop();
        }
    }

    fn harvest(self) -> Fruit {
        Fruit {
            hits: self.heap.into_vec(),
            total: self.total,
        }
    }
}
