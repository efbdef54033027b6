//! One collector for every search: it drops expired listings, those outside the radius and those
//! outside the price range, computes the sort key, and keeps the best `depth` hits in a bounded
//! heap.
//!
//! Doing the filtering and ordering here (on fast fields) instead of in separate queries keeps a
//! search to one pass over the matching documents, which is what makes 1 ms medians possible.

use std::cmp::Ordering;
use std::collections::{BinaryHeap, HashMap};
use std::sync::atomic::{AtomicUsize, Ordering as AtomicOrdering};
use std::sync::{Arc, Mutex};

use swapmeet_protocol::{geo, ListingId};
use tantivy::collector::{Collector, SegmentCollector};
use tantivy::columnar::ColumnValues;
use tantivy::index::SegmentId;
use tantivy::query::Weight;
use tantivy::{DocId, Score, SegmentOrdinal, SegmentReader};

use super::document::{
    FREE_CURRENCY, F_CURRENCY, F_EXPIRES, F_ID_HI, F_ID_LO, F_LAT, F_LON, F_PRICE, F_PRICE_MAX,
    F_SIGNED, F_VARIANT_PRICES, NO_LOCATION,
};
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
    // Ties break on the listing id (smaller first), the same total order the segment heaps
    // and the pruning use: paging through an unchanged result set then shows every match
    // exactly once, however many listings share a price, a signing second or a score.
    fn cmp(&self, other: &Self) -> Ordering {
        other
            .key
            .total_cmp(&self.key)
            .then_with(|| self.id.cmp(&other.id))
    }
}

/// A place in the total order of hits: the sort key (higher is better), then the listing id
/// as a number (lower is better). Two documents of one index never share a place, because a
/// listing has one live document.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Rank {
    /// The sort key.
    pub key: f64,
    /// The listing id, big-endian, as one number (the order of `ListingId`).
    pub id: u128,
}

impl Rank {
    /// Whether `self` comes after `other` or is the same place: such a hit cannot displace
    /// `other` from the kept hits.
    fn not_better_than(&self, other: &Rank) -> bool {
        match self.key.total_cmp(&other.key) {
            Ordering::Less => true,
            Ordering::Greater => false,
            Ordering::Equal => self.id >= other.id,
        }
    }

    /// Best first.
    fn order(a: &Rank, b: &Rank) -> Ordering {
        b.key.total_cmp(&a.key).then_with(|| a.id.cmp(&b.id))
    }
}

/// Matches counted exactly before a search starts skipping documents that cannot make its top
/// hits, as search engines do ("1,000+ results"): past it, a relevance search hands the worst
/// score it keeps to tantivy (which then skips whole blocks of a one-word search), and every
/// search compares a document's sort key before spending its filters on it.
pub const TRACK_TOTAL: usize = 1_000;

/// The hits and how many documents passed every filter.
#[derive(Debug)]
pub struct Fruit {
    /// Best hits, best first.
    pub hits: Vec<Collected>,
    /// Documents that matched (for "N results").
    pub total: usize,
    /// Whether `total` counts every match (otherwise it is a lower bound).
    pub exact: bool,
}

/// A price range in one currency, checked on fast fields.
#[derive(Clone, Copy, Debug)]
pub struct PriceCut {
    /// [`super::document::currency_code`] of the currency.
    pub currency: u64,
    /// Lowest price, minor units.
    pub min: u64,
    /// Highest price, minor units.
    pub max: u64,
    /// Whether free listings match (the range starts at 0).
    pub free: bool,
}

/// Collects the best `depth` hits.
pub struct ListingCollector<'a> {
    /// Columns opened by earlier searches.
    pub columns: &'a ColumnCache,
    /// Matches counted in the segments already searched.
    pub counted: Arc<AtomicUsize>,
    /// The best `depth` places of the segments already searched, best first: a later
    /// segment skips what cannot beat the last of them from its first document on.
    pub best: Arc<Mutex<Vec<Rank>>>,
    /// Matches to count before skipping what cannot make the top hits
    /// ([`TRACK_TOTAL`], or `usize::MAX` for an exact total).
    pub track_total: usize,
    /// Unix seconds: listings expiring at or before it are skipped.
    pub now: u64,
    /// Search point and optional radius.
    pub near: Option<(f64, f64, Option<f64>)>,
    /// Price range, if any.
    pub price: Option<PriceCut>,
    /// Order.
    pub sort: Sort,
    /// Whether a text query supplies BM25 scores.
    pub scored: bool,
    /// How many hits to keep (offset + limit).
    pub depth: usize,
}

/// The search point with what the distance test needs precomputed.
#[derive(Clone, Copy, Debug)]
struct Near {
    lat: f64,
    lon: f64,
    radius: Option<f64>,
    /// km per degree of longitude at the search point.
    km_per_lon_deg: f64,
    /// Whether the flat-earth estimate may decide clear cases (small radius, not polar).
    estimate: bool,
    /// The estimate's relative error bound within the radius.
    rel: f64,
    /// Squared distances (flat estimate) below which a point is surely inside, and above
    /// which surely outside.
    surely_in: f64,
    surely_out: f64,
}

/// The Earth radius `geo::haversine_km` uses, so the estimate and the exact test agree.
use geo::EARTH_RADIUS_KM;
/// km per degree of latitude.
const KM_PER_LAT_DEG: f64 = EARTH_RADIUS_KM * std::f64::consts::PI / 180.0;

impl Near {
    fn new(lat: f64, lon: f64, radius: Option<f64>) -> Near {
        let r = radius.unwrap_or(0.0);
        // The flat estimate scales longitude by the cosine at the search point; a point up
        // to r away in latitude has a cosine off by at most tan(latitude) * r / R relative,
        // which bounds the estimate's relative error (doubled for safety, plus a floor for
        // rounding). Points in that band around the edge get the exact distance.
        let reach = (lat.abs() + r / KM_PER_LAT_DEG).min(89.0).to_radians();
        let rel = 2.0 * reach.tan() * (r / EARTH_RADIUS_KM) + 0.001;
        let inner = (r * (1.0 - rel) - 0.01).max(0.0);
        let outer = r * (1.0 + rel) + 0.01;
        Near {
            lat,
            lon,
            radius,
            km_per_lon_deg: KM_PER_LAT_DEG * lat.to_radians().cos(),
            estimate: radius.is_some_and(|r| r <= 50.0) && lat.abs() <= 70.0,
            rel,
            surely_in: inner * inner,
            surely_out: outer * outer,
        }
    }

    /// Whether a point is within the radius. Most points are clearly inside or outside, and
    /// a flat-earth estimate (no trigonometry) decides those; only points in a thin band at
    /// the edge (under 1% of the radius around Berlin) pay for the great-circle distance.
    /// The estimate is used within 50 km of a point below 70 degrees of latitude.
    fn within(&self, lat: f64, lon: f64) -> bool {
        let Some(r) = self.radius else { return true };
        if self.estimate {
            let d2 = self.flat_km2(lat, lon);
            if d2 <= self.surely_in {
                return true;
            }
            if d2 > self.surely_out {
                return false;
            }
        }
        geo::haversine_km((self.lat, self.lon), (lat, lon)) <= r
    }

    /// The latitude difference (degrees) beyond which a point is outside the radius whatever
    /// its longitude, when there is a radius: a great circle between two latitudes is never
    /// shorter than the meridian's arc between them.
    fn band(&self) -> Option<f64> {
        self.radius
            .map(|r| r / KM_PER_LAT_DEG * (1.0 + 1e-9) + 1e-12)
    }

    /// Whether a point within the radius is surely more than `km` away: decided by the flat
    /// estimate with twice the margin [`Near::within`] uses, and only where that estimate is
    /// used; otherwise `false` (the caller measures).
    fn surely_farther(&self, lat: f64, lon: f64, km: f64) -> bool {
        if !self.estimate {
            return false;
        }
        let flat = self.flat_km2(lat, lon).sqrt();
        (flat - 0.02) / (1.0 + 2.0 * self.rel) > km
    }

    /// The flat-earth estimate of the squared distance, km².
    fn flat_km2(&self, lat: f64, lon: f64) -> f64 {
        let dy = (lat - self.lat) * KM_PER_LAT_DEG;
        let mut dlon = (lon - self.lon).abs();
        if dlon > 180.0 {
            dlon = 360.0 - dlon;
        }
        let dx = dlon * self.km_per_lon_deg;
        dx * dx + dy * dy
    }

    fn distance(&self, lat: f64, lon: f64) -> f64 {
        geo::haversine_km((self.lat, self.lon), (lat, lon))
    }
}

type U64Col = Arc<dyn ColumnValues<u64>>;
type F64Col = Arc<dyn ColumnValues<f64>>;

/// The fast-field columns of one segment the collector reads.
pub struct Columns {
    expires: U64Col,
    currency: U64Col,
    signed: U64Col,
    price: U64Col,
    price_max: U64Col,
    /// Prices of the variants in stock, only for listings whose lowest and highest differ.
    variant_prices: tantivy::columnar::Column<u64>,
    id_hi: U64Col,
    id_lo: U64Col,
    lat: F64Col,
    lon: F64Col,
}

impl Columns {
    fn open(segment: &SegmentReader) -> tantivy::Result<Columns> {
        let ff = segment.fast_fields();
        // A column every document has a value in is read directly (document = row); others
        // go through tantivy's lookup of which row a document's value is in.
        fn dense<T>(c: tantivy::columnar::Column<T>, default: T) -> Arc<dyn ColumnValues<T>>
        where
            T: PartialOrd + Copy + std::fmt::Debug + Send + Sync + 'static,
        {
            match c.index {
                tantivy::columnar::ColumnIndex::Full => c.values,
                _ => c.first_or_default_col(default),
            }
        }
        let u = |name: &str| -> tantivy::Result<U64Col> { Ok(dense(ff.u64(name)?, 0)) };
        let f = |name: &str| -> tantivy::Result<F64Col> { Ok(dense(ff.f64(name)?, NO_LOCATION)) };
        Ok(Columns {
            expires: u(F_EXPIRES)?,
            currency: u(F_CURRENCY)?,
            signed: u(F_SIGNED)?,
            price: u(F_PRICE)?,
            price_max: u(F_PRICE_MAX)?,
            // A segment where no listing has variant prices may have no such column.
            variant_prices: ff.column_opt::<u64>(F_VARIANT_PRICES)?.unwrap_or_else(|| {
                tantivy::columnar::Column::build_empty_column(segment.max_doc())
            }),
            id_hi: u(F_ID_HI)?,
            id_lo: u(F_ID_LO)?,
            lat: f(F_LAT)?,
            lon: f(F_LON)?,
        })
    }
}

/// Opened columns per segment, kept between searches: opening eight columns in each segment
/// (and dropping them after) was about a fifth of a typical search's time in a profile.
#[derive(Default)]
pub struct ColumnCache {
    segments: Mutex<HashMap<SegmentId, Arc<Columns>>>,
}

impl ColumnCache {
    fn get(&self, segment: &SegmentReader) -> tantivy::Result<Arc<Columns>> {
        let id = segment.segment_id();
        if let Some(c) = self.segments.lock().ok().and_then(|m| m.get(&id).cloned()) {
            return Ok(c);
        }
        let c = Arc::new(Columns::open(segment)?);
        if let Ok(mut m) = self.segments.lock() {
            m.insert(id, c.clone());
        }
        Ok(c)
    }

    /// Forgets the columns of segments that are gone (merged away).
    pub fn retain(&self, live: &[SegmentId]) {
        if let Ok(mut m) = self.segments.lock() {
            m.retain(|id, _| live.contains(id));
        }
    }
}

/// A hit inside one segment. Its listing id is read when it may enter the heap: ties on the
/// key are decided by it, in every segment the same way.
#[derive(Clone, Copy, Debug)]
struct Candidate {
    rank: Rank,
    score: f32,
    distance_km: Option<f64>,
}

impl PartialEq for Candidate {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}
impl Eq for Candidate {}
impl PartialOrd for Candidate {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Candidate {
    // Reversed like `Collected`: the worst candidate is on top of the max-heap.
    fn cmp(&self, other: &Self) -> Ordering {
        Rank::order(&self.rank, &other.rank)
    }
}

pub struct ListingSegmentCollector {
    now: u64,
    near: Option<Near>,
    price_cut: Option<PriceCut>,
    sort: Sort,
    depth: usize,
    cols: Arc<Columns>,
    heap: BinaryHeap<Candidate>,
    total: usize,
    exact: bool,
    /// Matches counted in earlier segments.
    before: usize,
    counted: Arc<AtomicUsize>,
    track_total: usize,
    /// The worst of the best `depth` places of earlier segments, when they had that many.
    floor: Option<Rank>,
    best: Arc<Mutex<Vec<Rank>>>,
}

impl Collector for ListingCollector<'_> {
    type Fruit = Fruit;
    type Child = ListingSegmentCollector;

    fn for_segment(
        &self,
        _ord: SegmentOrdinal,
        segment: &SegmentReader,
    ) -> tantivy::Result<ListingSegmentCollector> {
        Ok(ListingSegmentCollector {
            now: self.now,
            near: self.near.map(|(lat, lon, r)| Near::new(lat, lon, r)),
            price_cut: self.price,
            sort: self.sort,
            depth: self.depth,
            cols: self.columns.get(segment)?,
            heap: BinaryHeap::with_capacity(self.depth + 1),
            total: 0,
            exact: true,
            before: self.counted.load(AtomicOrdering::Relaxed),
            counted: self.counted.clone(),
            track_total: self.track_total,
            floor: self
                .best
                .lock()
                .ok()
                .and_then(|b| (b.len() >= self.depth).then(|| b[self.depth - 1])),
            best: self.best.clone(),
        })
    }

    fn requires_scoring(&self) -> bool {
        self.scored && self.sort == Sort::Relevance
    }

    fn merge_fruits(&self, fruits: Vec<Fruit>) -> tantivy::Result<Fruit> {
        let mut total = 0;
        let mut exact = true;
        let mut all: Vec<Collected> = Vec::new();
        for f in fruits {
            total += f.total;
            exact &= f.exact;
            all.extend(f.hits);
        }
        // `Ord` is reversed (better hits compare as smaller), so an ascending sort puts the
        // best first.
        all.sort();
        all.truncate(self.depth);
        Ok(Fruit {
            hits: all,
            total,
            exact,
        })
    }

    fn collect_segment(
        &self,
        weight: &dyn Weight,
        segment_ord: u32,
        reader: &SegmentReader,
    ) -> tantivy::Result<Fruit> {
        let mut c = self.for_segment(segment_ord, reader)?;
        let alive = reader.alive_bitset();
        if self.requires_scoring() {
            // Every match is counted until TRACK_TOTAL; after that the heap's worst score is
            // handed to tantivy as a threshold, so documents that cannot make the top hits
            // are skipped (whole blocks of them for a one-word search).
            // tantivy hands on only scores strictly above the threshold, so it gets the next
            // score below the worst kept one: a document with an equal score may still win on
            // its listing id, and `consider` decides that.
            let threshold = |c: &mut ListingSegmentCollector| match c.worst_if_pruning() {
                Some(worst) => {
                    c.exact = false;
                    (worst.key as Score).next_down()
                }
                None => Score::MIN,
            };
            let start = threshold(&mut c);
            weight.for_each_pruning(start, reader, &mut |doc, score| {
                if alive.is_none_or(|a| a.is_alive(doc)) {
                    c.collect(doc, score);
                }
                threshold(&mut c)
            })?;
        } else {
            weight.for_each_no_score(reader, &mut |docs| c.collect_many(docs, alive))?;
        }
        Ok(c.harvest())
    }
}

impl ListingSegmentCollector {
    /// The listing id of a document as one number (see [`Rank`]).
    fn id(&self, doc: DocId) -> u128 {
        (u128::from(self.cols.id_hi.get_val(doc)) << 64) | u128::from(self.cols.id_lo.get_val(doc))
    }
}

impl SegmentCollector for ListingSegmentCollector {
    type Fruit = Fruit;

    fn collect(&mut self, doc: DocId, score: Score) {
        let expires = self.cols.expires.get_val(doc);
        let location = self
            .near
            .is_some()
            .then(|| (self.cols.lat.get_val(doc), self.cols.lon.get_val(doc)));
        self.consider(doc, score, expires, location, None);
    }

    fn harvest(self) -> Fruit {
        self.counted.fetch_add(self.total, AtomicOrdering::Relaxed);
        if let Ok(mut best) = self.best.lock() {
            best.extend(self.heap.iter().map(|c| c.rank));
            best.sort_by(Rank::order);
            best.truncate(self.depth);
        }
        let hits = self
            .heap
            .iter()
            .map(|c| Collected {
                key: c.rank.key,
                id: ListingId::from_bytes(c.rank.id.to_be_bytes()),
                score: c.score,
                distance_km: c.distance_km,
            })
            .collect();
        Fruit {
            hits,
            total: self.total,
            exact: self.exact,
        }
    }
}

/// Documents read per batch of fast-field values (tantivy hands out blocks of 64).
const BLOCK: usize = 64;

impl ListingSegmentCollector {
    /// Collects unscored documents a block at a time: the columns every document needs are
    /// read in one call per block instead of one virtual call per document and column, and
    /// in passes that each read one column for the documents still in the running, so that
    /// most documents of a large match set are dropped on one column: first the sort key
    /// (once the count has stopped, what cannot beat the worst kept hit), then the latitude
    /// (for a radius), then the other columns for what is left.
    fn collect_many(&mut self, docs: &[DocId], alive: Option<&tantivy::fastfield::AliveBitSet>) {
        // The documents still in the running, compacted after each pass, with what the
        // passes read of them.
        let mut kept = [0 as DocId; BLOCK];
        let mut keys = [0f64; BLOCK];
        let mut lat = [0f64; BLOCK];
        let mut lon = [0f64; BLOCK];
        let mut expires = [0u64; BLOCK];
        let mut raw = [0u64; BLOCK];
        let mut read = [0f64; BLOCK];
        let band = self
            .near
            .and_then(|near| near.band().map(|b| (near.lat, b)));
        for docs in docs.chunks(BLOCK) {
            let mut m = 0;
            for &doc in docs {
                if alive.is_none_or(|a| a.is_alive(doc)) {
                    kept[m] = doc;
                    m += 1;
                }
            }
            // The worst kept hit, read once a block: it only gets better while the block is
            // collected, so a document behind it now stays behind.
            let key_cut = match self.sort {
                Sort::Nearest => None,
                _ => self.worst_if_pruning(),
            };
            if let Some(worst) = key_cut {
                self.key_column().get_vals(&kept[..m], &mut raw[..m]);
                let mut k = 0;
                for i in 0..m {
                    let key = self.key_from(raw[i]);
                    // Strictly behind: an equal key is decided by the listing id in
                    // `consider`.
                    if key < worst.key {
                        self.exact = false;
                        continue;
                    }
                    kept[k] = kept[i];
                    keys[k] = key;
                    k += 1;
                }
                m = k;
            }
            if let Some((centre, band)) = band {
                self.cols.lat.get_vals(&kept[..m], &mut read[..m]);
                let mut k = 0;
                for i in 0..m {
                    // Farther in latitude alone than the radius: outside whatever the
                    // longitude (a great circle is never shorter than the meridian's arc).
                    if (read[i] - centre).abs() > band {
                        continue;
                    }
                    kept[k] = kept[i];
                    keys[k] = keys[i];
                    lat[k] = read[i];
                    k += 1;
                }
                m = k;
            }
            let docs = &kept[..m];
            self.cols.expires.get_vals(docs, &mut expires[..m]);
            if self.near.is_some() {
                if band.is_none() {
                    self.cols.lat.get_vals(docs, &mut lat[..m]);
                }
                self.cols.lon.get_vals(docs, &mut lon[..m]);
            }
            for (i, &doc) in docs.iter().enumerate() {
                let location = self.near.is_some().then(|| (lat[i], lon[i]));
                let key = key_cut.map(|_| keys[i]);
                self.consider(doc, 0.0, expires[i], location, key);
            }
        }
    }

    /// The column a sort key comes from when no score decides it (not for nearest).
    fn key_column(&self) -> &U64Col {
        match self.sort {
            Sort::PriceAsc => &self.cols.price,
            // The highest price in stock: what the dearest variant costs.
            Sort::PriceDesc => &self.cols.price_max,
            // Without text every score is 0: newer first.
            Sort::Relevance | Sort::Newest | Sort::Nearest => &self.cols.signed,
        }
    }

    /// The sort key from its column's value (higher is better: the lowest price is the best).
    fn key_from(&self, raw: u64) -> f64 {
        match self.sort {
            Sort::PriceAsc => -(raw as f64),
            _ => raw as f64,
        }
    }

    /// Whether a price in stock of the document is in `min..=max`: its only price, its lowest
    /// or highest, or, when the range lies strictly between those, one of its variants'.
    fn some_price_in(&self, doc: DocId, min: u64, max: u64) -> bool {
        let lo = self.cols.price.get_val(doc);
        let hi = self.cols.price_max.get_val(doc);
        if hi < min || lo > max {
            return false;
        }
        if (min..=max).contains(&lo) || (min..=max).contains(&hi) {
            return true;
        }
        self.cols
            .variant_prices
            .values_for_doc(doc)
            .any(|v| (min..=max).contains(&v))
    }

    /// The sort key of a document, for every order but nearest (higher is better): its
    /// score for a search with text sorted by relevance, otherwise its sort column's value.
    fn key_of(&self, doc: DocId, score: Score) -> f64 {
        match self.sort {
            Sort::Relevance if score != 0.0 => f64::from(score),
            _ => self.key_from(self.key_column().get_val(doc)),
        }
    }

    /// The place of the worst kept hit (of this segment's heap or, when that is better, of
    /// the earlier segments' best), once enough matches were counted to stop counting.
    fn worst_if_pruning(&self) -> Option<Rank> {
        if self.before.saturating_add(self.total) < self.track_total {
            return None;
        }
        let own = self
            .heap
            .peek()
            .filter(|_| self.heap.len() >= self.depth)
            .map(|worst| worst.rank);
        match (own, self.floor) {
            (Some(a), Some(b)) => Some(if a.not_better_than(&b) { b } else { a }),
            (a, b) => a.or(b),
        }
    }

    /// Filters one document (given its expiry and, for a search with a point, its location),
    /// counts it and offers it to the heap.
    /// `key`, when given, is the document's sort key, already read.
    fn consider(
        &mut self,
        doc: DocId,
        score: Score,
        expires: u64,
        location: Option<(f64, f64)>,
        key: Option<f64>,
    ) {
        if expires <= self.now {
            return;
        }
        // Past TRACK_TOTAL, a document whose key cannot beat the worst kept hit is dropped
        // before its filters are read (a distance is a filter's work, so not for nearest).
        // An equal key is decided by the listing id, read only for such a tie.
        let early_key = match self.worst_if_pruning() {
            Some(worst) if self.sort != Sort::Nearest => {
                let key = key.unwrap_or_else(|| self.key_of(doc, score));
                let behind = match key.total_cmp(&worst.key) {
                    Ordering::Less => true,
                    Ordering::Greater => false,
                    Ordering::Equal => self.id(doc) >= worst.id,
                };
                if behind {
                    self.exact = false;
                    return;
                }
                Some(key)
            }
            _ => None,
        };
        if let Some(p) = &self.price_cut {
            let currency = self.cols.currency.get_val(doc);
            let ok = if currency == FREE_CURRENCY {
                p.free
            } else {
                currency == p.currency && self.some_price_in(doc, p.min, p.max)
            };
            if !ok {
                return;
            }
        }
        // The location of the document, when the search has a point.
        let point = match (&self.near, location) {
            (Some(near), Some((dlat, dlon))) => {
                if dlat > 90.0 {
                    // No location (ships only): it has no distance; keep it only when the
                    // search does not restrict to a radius.
                    if near.radius.is_some() || self.sort == Sort::Nearest {
                        return;
                    }
                    None
                } else {
                    if !near.within(dlat, dlon) {
                        return;
                    }
                    Some((near, dlat, dlon))
                }
            }
            _ => None,
        };
        self.total += 1;
        let mut distance_km = None;
        let key = match (self.sort, early_key) {
            (_, Some(key)) => key,
            (Sort::Nearest, None) => {
                // Once the heap is full, a point the flat estimate already puts farther than
                // the farthest kept hit is dropped without its great-circle distance.
                if let (Some((near, lat, lon)), Some(worst)) = (
                    point,
                    self.heap.peek().filter(|_| self.heap.len() >= self.depth),
                ) {
                    if near.surely_farther(lat, lon, -worst.rank.key) {
                        return;
                    }
                }
                let d = point.map(|(near, lat, lon)| near.distance(lat, lon));
                distance_km = d;
                -d.unwrap_or(f64::INFINITY)
            }
            (_, None) => self.key_of(doc, score),
        };
        // The id is read only for a document whose key can still make the heap.
        let full = self.heap.len() >= self.depth;
        if full && self.heap.peek().is_some_and(|w| key < w.rank.key) {
            return;
        }
        let rank = Rank {
            key,
            id: self.id(doc),
        };
        if full
            && self
                .heap
                .peek()
                .is_some_and(|w| rank.not_better_than(&w.rank))
        {
            return;
        }
        // The exact distance is shown with each hit; it is computed only for hits that make
        // the heap.
        if distance_km.is_none() {
            distance_km = point.map(|(near, lat, lon)| near.distance(lat, lon));
        }
        self.heap.push(Candidate {
            rank,
            score,
            distance_km,
        });
        if self.heap.len() > self.depth {
            self.heap.pop();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The shortcuts that drop a point unmeasured never drop one that the great-circle
    /// distance would keep: the latitude band (outside it is outside the radius) and the
    /// nearest-first cut (surely farther than `km`).
    fn bounds_hold(near: &Near, centre: (f64, f64), p: (f64, f64), km: f64) {
        let exact = geo::haversine_km(centre, p);
        if (p.0 - centre.0).abs() > near.band().unwrap() {
            assert!(exact > near.radius.unwrap(), "band: {centre:?} {p:?}");
        }
        if exact <= near.radius.unwrap() && near.surely_farther(p.0, p.1, km) {
            assert!(
                exact > km,
                "nearest cut: {centre:?} {p:?} at {exact} km, cut {km}"
            );
        }
    }

    /// The flat-earth shortcut must decide exactly as the great-circle distance does.
    #[test]
    fn the_radius_shortcut_agrees_with_the_exact_distance() {
        let mut seed = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            (seed >> 11) as f64 / (1u64 << 53) as f64
        };
        let centres = [
            (52.52, 13.405),
            (0.0, 0.0),
            (-33.9, 151.2),
            (69.9, 179.9),
            (64.1, -21.9),
        ];
        for (lat, lon) in centres {
            for radius in [0.5, 1.0, 5.0, 12.0, 20.0, 50.0, 80.0] {
                let near = Near::new(lat, lon, Some(radius));
                for _ in 0..20_000 {
                    // Points up to about twice the radius away, many near its edge.
                    let span = radius * 2.2 / KM_PER_LAT_DEG;
                    let plat = (lat + (next() * 2.0 - 1.0) * span).clamp(-90.0, 90.0);
                    let mut plon = lon + (next() * 2.0 - 1.0) * span / lat.to_radians().cos();
                    if plon > 180.0 {
                        plon -= 360.0;
                    }
                    let exact = geo::haversine_km((lat, lon), (plat, plon)) <= radius;
                    assert_eq!(
                        near.within(plat, plon),
                        exact,
                        "centre ({lat}, {lon}), radius {radius}, point ({plat}, {plon})"
                    );
                    let probe = radius * next();
                    bounds_hold(&near, (lat, lon), (plat, plon), probe);
                    // And a point within 2% of the edge, on a random bearing (the spherical
                    // destination formula).
                    let d = radius * (0.98 + 0.04 * next()) / EARTH_RADIUS_KM;
                    let bearing = next() * std::f64::consts::TAU;
                    let (p1, l1) = (lat.to_radians(), lon.to_radians());
                    let p2 = (p1.sin() * d.cos() + p1.cos() * d.sin() * bearing.cos()).asin();
                    let l2 = l1
                        + (bearing.sin() * d.sin() * p1.cos()).atan2(d.cos() - p1.sin() * p2.sin());
                    let (plat, mut plon) = (p2.to_degrees(), l2.to_degrees());
                    if plon > 180.0 {
                        plon -= 360.0;
                    }
                    let exact = geo::haversine_km((lat, lon), (plat, plon)) <= radius;
                    assert_eq!(
                        near.within(plat, plon),
                        exact,
                        "centre ({lat}, {lon}), radius {radius}, edge point ({plat}, {plon})"
                    );
                    let probe = radius * next();
                    bounds_hold(&near, (lat, lon), (plat, plon), probe);
                }
            }
        }
    }
}
