//! What a search asks for, validated before it reaches the index.

use serde::{Deserialize, Serialize};
use swapmeet_protocol::{Category, Condition, Currency, PublicKey};

/// Longest free-text query accepted, in characters.
pub const MAX_QUERY_CHARS: usize = 256;
/// Most hits one search returns.
pub const MAX_LIMIT: usize = 100;
/// Deepest page one search may ask for (offset + limit).
pub const MAX_DEPTH: usize = 10_000;
/// Largest radius, in km (half the Earth's circumference).
pub const MAX_RADIUS_KM: f64 = 20_038.0;
/// The range of `min_rating`: the protocol's ratings, 1 to 5 stars.
pub const MIN_RATING: f64 = 1.0;
/// See [`MIN_RATING`].
pub const MAX_RATING: f64 = 5.0;

/// How hits are ordered.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Sort {
    /// Best text match first (BM25); newest first when there is no text.
    #[default]
    Relevance,
    /// Cheapest first.
    PriceAsc,
    /// Most expensive first.
    PriceDesc,
    /// Most recently signed first.
    Newest,
    /// Closest to the search point first (needs `near`).
    Nearest,
}

impl std::str::FromStr for Sort {
    type Err = QueryError;
    fn from_str(s: &str) -> Result<Sort, QueryError> {
        Ok(
            match s.trim().to_ascii_lowercase().replace('_', "-").as_str() {
                "relevance" => Sort::Relevance,
                "price-asc" | "price" | "cheapest" => Sort::PriceAsc,
                "price-desc" => Sort::PriceDesc,
                "newest" => Sort::Newest,
                "nearest" | "distance" => Sort::Nearest,
                other => {
                    return Err(QueryError::Invalid {
                        field: "sort",
                        reason: format!(
                        "'{other}' is not one of relevance, price-asc, price-desc, newest, nearest"
                    ),
                    })
                }
            },
        )
    }
}

/// A price range in one currency, in minor units (cents). Free items match when the range
/// starts at zero: someone looking for "under 300 EUR" is glad to find one for free.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PriceFilter {
    /// The currency both bounds are in.
    pub currency: Currency,
    /// Lowest price, inclusive.
    #[serde(default)]
    pub min_minor: Option<u64>,
    /// Highest price, inclusive.
    #[serde(default)]
    pub max_minor: Option<u64>,
}

/// A circle on the map.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GeoFilter {
    /// Latitude of the centre, degrees.
    pub lat: f64,
    /// Longitude of the centre, degrees.
    pub lon: f64,
    /// Radius in km; `None` only orders by distance without excluding anything.
    #[serde(default)]
    pub radius_km: Option<f64>,
}

/// A search.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
// A misspelt field would otherwise be dropped: a filter the user thinks applies, ignored.
#[serde(deny_unknown_fields)]
pub struct SearchQuery {
    /// Free text over title, description and tags (all words must match).
    #[serde(default)]
    pub text: Option<String>,
    /// Price range.
    #[serde(default)]
    pub price: Option<PriceFilter>,
    /// Only this category.
    #[serde(default)]
    pub category: Option<Category>,
    /// Only this condition.
    #[serde(default)]
    pub condition: Option<Condition>,
    /// Only this seller.
    #[serde(default)]
    pub seller: Option<PublicKey>,
    /// Near a point.
    #[serde(default)]
    pub near: Option<GeoFilter>,
    /// Order of hits.
    #[serde(default)]
    pub sort: Sort,
    /// Hits to return (1..=100, default 20).
    #[serde(default)]
    pub limit: Option<usize>,
    /// Hits to skip.
    #[serde(default)]
    pub offset: Option<usize>,
    /// Count every match, however many (slower for broad searches). Otherwise counting stops
    /// past 1,000 matches and `total_exact` is false.
    #[serde(default)]
    pub exact_total: bool,
    /// Only sellers whose average rating from deal-bound reviews is at least this (1 to 5);
    /// sellers nobody reviewed are left out.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_rating: Option<f64>,
}

/// Why a search was refused.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum QueryError {
    /// A field is out of its range.
    #[error("{field}: {reason}")]
    Invalid {
        /// The offending field.
        field: &'static str,
        /// What is wrong and what is allowed.
        reason: String,
    },
}

impl SearchQuery {
    /// The number of hits asked for.
    pub fn limit(&self) -> usize {
        self.limit.unwrap_or(20)
    }

    /// Checks every field against its limit.
    pub fn validate(&self) -> Result<(), QueryError> {
        let invalid = |field, reason: String| Err(QueryError::Invalid { field, reason });
        if let Some(t) = &self.text {
            let n = t.chars().count();
            if n > MAX_QUERY_CHARS {
                return invalid(
                    "text",
                    format!("{n} characters, the limit is {MAX_QUERY_CHARS}"),
                );
            }
        }
        let limit = self.limit();
        if limit == 0 || limit > MAX_LIMIT {
            return invalid("limit", format!("{limit} is not in 1..={MAX_LIMIT}"));
        }
        let depth = self.offset.unwrap_or(0).saturating_add(limit);
        if depth > MAX_DEPTH {
            return invalid(
                "offset",
                format!("offset + limit is {depth}, the limit is {MAX_DEPTH}"),
            );
        }
        if let Some(r) = self.min_rating {
            if !(MIN_RATING..=MAX_RATING).contains(&r) {
                return invalid(
                    "min_rating",
                    format!("{r} is not in {MIN_RATING}..={MAX_RATING}"),
                );
            }
        }
        if let Some(p) = &self.price {
            if let (Some(lo), Some(hi)) = (p.min_minor, p.max_minor) {
                if lo > hi {
                    return invalid(
                        "price",
                        format!("minimum {lo} is above maximum {hi} (minor units)"),
                    );
                }
            }
        }
        if let Some(g) = &self.near {
            if !(-90.0..=90.0).contains(&g.lat) {
                return invalid("near", format!("latitude {} is not in -90..90", g.lat));
            }
            if !(-180.0..=180.0).contains(&g.lon) {
                return invalid("near", format!("longitude {} is not in -180..180", g.lon));
            }
            if let Some(r) = g.radius_km {
                if !(r > 0.0 && r <= MAX_RADIUS_KM) {
                    return invalid(
                        "radius_km",
                        format!("{r} is not in (0, {MAX_RADIUS_KM}] km"),
                    );
                }
            }
        } else if self.sort == Sort::Nearest {
            return invalid(
                "sort",
                "nearest needs a point to measure from (near)".to_string(),
            );
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_are_enforced() {
        let q = SearchQuery {
            limit: Some(0),
            ..Default::default()
        };
        assert!(q.validate().is_err());
        let q = SearchQuery {
            text: Some("x".repeat(MAX_QUERY_CHARS + 1)),
            ..Default::default()
        };
        assert!(matches!(
            q.validate(),
            Err(QueryError::Invalid { field: "text", .. })
        ));
        let q = SearchQuery {
            near: Some(GeoFilter {
                lat: 200.0,
                lon: 10.0,
                radius_km: Some(5.0),
            }),
            ..Default::default()
        };
        assert!(matches!(
            q.validate(),
            Err(QueryError::Invalid { field: "near", .. })
        ));
        let q = SearchQuery {
            sort: Sort::Nearest,
            ..Default::default()
        };
        assert!(q.validate().is_err());
        assert!(SearchQuery::default().validate().is_ok());
        for bad in [0.5, 5.5, f64::NAN] {
            let q = SearchQuery {
                min_rating: Some(bad),
                ..Default::default()
            };
            assert!(matches!(
                q.validate(),
                Err(QueryError::Invalid {
                    field: "min_rating",
                    ..
                })
            ));
        }
    }

    #[test]
    fn sort_parses() {
        assert_eq!("price-asc".parse::<Sort>(), Ok(Sort::PriceAsc));
        assert_eq!("Nearest".parse::<Sort>(), Ok(Sort::Nearest));
        assert!("sideways".parse::<Sort>().is_err());
    }
}
