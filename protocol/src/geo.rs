//! Coarse public locations: geohashes, distances, and the cells around a point.
//!
//! A listing never carries coordinates, only a geohash cell of 4 to 6 characters (6 is about
//! 1.2 x 0.6 km), so a seller's address is never published. Distances are measured to the
//! centre of that cell.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::error::ValidationError;
use crate::limits::MAX_GEOHASH_CHARS;

const ALPHABET: &[u8; 32] = b"0123456789bcdefghjkmnpqrstuvwxyz";
/// Mean Earth radius (IUGG), km.
pub const EARTH_RADIUS_KM: f64 = 6371.0088;

/// A geohash cell of 1 to 12 characters (listings use 4 to 6).
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct GeoHash(String);

impl GeoHash {
    /// Validates a geohash (lowercase geohash alphabet, 1 to 12 characters).
    pub fn new(s: &str) -> Result<GeoHash, ValidationError> {
        let s = s.trim().to_ascii_lowercase();
        if s.is_empty() || s.len() > 12 {
            return Err(ValidationError::invalid(
                "geohash",
                format!("'{s}' must have 1 to 12 characters"),
            ));
        }
        if let Some(c) = s.bytes().find(|c| !ALPHABET.contains(c)) {
            return Err(ValidationError::invalid(
                "geohash",
                format!("'{}' is not a geohash character", c as char),
            ));
        }
        Ok(GeoHash(s))
    }

    /// The text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Number of characters.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether it is empty (never, for a valid geohash).
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The enclosing cell of `n` characters (itself if shorter).
    pub fn prefix(&self, n: usize) -> GeoHash {
        GeoHash(self.0[..n.min(self.0.len())].to_string())
    }
}

impl fmt::Display for GeoHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for GeoHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "GeoHash({})", self.0)
    }
}

impl Serialize for GeoHash {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for GeoHash {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<GeoHash, D::Error> {
        let s = String::deserialize(d)?;
        GeoHash::new(&s).map_err(serde::de::Error::custom)
    }
}

/// The cell of `precision` characters (1..=12) containing the point.
pub fn encode(lat: f64, lon: f64, precision: usize) -> GeoHash {
    let precision = precision.clamp(1, 12);
    let (mut lat_lo, mut lat_hi) = (-90.0f64, 90.0f64);
    let (mut lon_lo, mut lon_hi) = (-180.0f64, 180.0f64);
    let lat = lat.clamp(-90.0, 90.0);
    let lon = lon.clamp(-180.0, 180.0);
    let mut out = String::with_capacity(precision);
    let mut even = true;
    let mut bits = 0u8;
    let mut n = 0;
    while out.len() < precision {
        if even {
            let mid = (lon_lo + lon_hi) / 2.0;
            if lon >= mid {
                bits = (bits << 1) | 1;
                lon_lo = mid;
            } else {
                bits <<= 1;
                lon_hi = mid;
            }
        } else {
            let mid = (lat_lo + lat_hi) / 2.0;
            if lat >= mid {
                bits = (bits << 1) | 1;
                lat_lo = mid;
            } else {
                bits <<= 1;
                lat_hi = mid;
            }
        }
        even = !even;
        n += 1;
        if n == 5 {
            out.push(ALPHABET[bits as usize] as char);
            bits = 0;
            n = 0;
        }
    }
    GeoHash(out)
}

/// The cell's bounds: (min_lat, min_lon, max_lat, max_lon).
pub fn bbox(g: &GeoHash) -> (f64, f64, f64, f64) {
    let (mut lat_lo, mut lat_hi) = (-90.0f64, 90.0f64);
    let (mut lon_lo, mut lon_hi) = (-180.0f64, 180.0f64);
    let mut even = true;
    for c in g.0.bytes() {
        let v = ALPHABET.iter().position(|&a| a == c).unwrap_or(0);
        for shift in (0..5).rev() {
            let bit = (v >> shift) & 1 == 1;
            if even {
                let mid = (lon_lo + lon_hi) / 2.0;
                if bit {
                    lon_lo = mid;
                } else {
                    lon_hi = mid;
                }
            } else {
                let mid = (lat_lo + lat_hi) / 2.0;
                if bit {
                    lat_lo = mid;
                } else {
                    lat_hi = mid;
                }
            }
            even = !even;
        }
    }
    (lat_lo, lon_lo, lat_hi, lon_hi)
}

/// The cell's centre (lat, lon).
pub fn decode(g: &GeoHash) -> (f64, f64) {
    let (a, b, c, d) = bbox(g);
    ((a + c) / 2.0, (b + d) / 2.0)
}

/// The eight cells around one, clockwise from north (wrapping in longitude; clamped at the
/// poles, where a neighbour may be the cell itself).
pub fn neighbors(g: &GeoHash) -> [GeoHash; 8] {
    let (lat0, lon0, lat1, lon1) = bbox(g);
    let (h, w) = (lat1 - lat0, lon1 - lon0);
    let (lat, lon) = ((lat0 + lat1) / 2.0, (lon0 + lon1) / 2.0);
    let p = g.len();
    let at = |dlat: f64, dlon: f64| {
        let mut lo = lon + dlon * w;
        if lo >= 180.0 {
            lo -= 360.0;
        } else if lo < -180.0 {
            lo += 360.0;
        }
        encode((lat + dlat * h).clamp(-89.999_999, 89.999_999), lo, p)
    };
    [
        at(1.0, 0.0),
        at(1.0, 1.0),
        at(0.0, 1.0),
        at(-1.0, 1.0),
        at(-1.0, 0.0),
        at(-1.0, -1.0),
        at(0.0, -1.0),
        at(1.0, -1.0),
    ]
}

/// Great-circle distance in km between (lat, lon) points.
pub fn haversine_km(a: (f64, f64), b: (f64, f64)) -> f64 {
    let (la1, lo1) = (a.0.to_radians(), a.1.to_radians());
    let (la2, lo2) = (b.0.to_radians(), b.1.to_radians());
    let h = ((la2 - la1) / 2.0).sin().powi(2)
        + la1.cos() * la2.cos() * ((lo2 - lo1) / 2.0).sin().powi(2);
    2.0 * EARTH_RADIUS_KM * h.sqrt().min(1.0).asin()
}

/// Distance in km from a point to the nearest point of a cell (0 inside it).
pub fn distance_to_cell_km(lat: f64, lon: f64, g: &GeoHash) -> f64 {
    let (a, b, c, d) = bbox(g);
    haversine_km((lat, lon), (lat.clamp(a, c), lon.clamp(b, d)))
}

/// Every cell of `precision` characters that intersects the circle. Bounded: a radius needing
/// more than 100,000 cells at that precision returns the cells of the circle's bounding box
/// enumeration cut at that count, so callers pick a precision that suits the radius.
pub fn cells_within(lat: f64, lon: f64, radius_km: f64, precision: usize) -> Vec<GeoHash> {
    let precision = precision.clamp(1, MAX_GEOHASH_CHARS.max(12));
    let lon_bits = (5 * precision).div_ceil(2) as i32;
    let lat_bits = (5 * precision / 2) as i32;
    let cell_w = 360.0 / 2f64.powi(lon_bits);
    let cell_h = 180.0 / 2f64.powi(lat_bits);
    let dlat = radius_km / 111.195;
    let coslat = lat.to_radians().cos().abs().max(1e-6);
    let dlon = (radius_km / (111.195 * coslat)).min(180.0);
    let (lat_min, lat_max) = ((lat - dlat).max(-90.0), (lat + dlat).min(90.0));
    let mut out: Vec<GeoHash> = Vec::new();
    let mut y = ((lat_min + 90.0) / cell_h).floor() * cell_h - 90.0;
    while y < lat_max && out.len() < 100_000 {
        let mut x = ((lon - dlon + 180.0) / cell_w).floor() * cell_w - 180.0;
        while x < lon + dlon && out.len() < 100_000 {
            let mut cx = x + cell_w / 2.0;
            if cx >= 180.0 {
                cx -= 360.0;
            } else if cx < -180.0 {
                cx += 360.0;
            }
            let cy = (y + cell_h / 2.0).clamp(-89.999_999, 89.999_999);
            let g = encode(cy, cx, precision);
            if distance_to_cell_km(lat, lon, &g) <= radius_km && !out.contains(&g) {
                out.push(g);
            }
            x += cell_w;
        }
        y += cell_h;
    }
    out.sort();
    out
}

/// Parses "LAT,LON" in degrees, checking the ranges.
pub fn parse_lat_lon(s: &str) -> Result<(f64, f64), ValidationError> {
    let bad = |reason: String| ValidationError::invalid("location", reason);
    let (a, b) = s
        .split_once(',')
        .ok_or_else(|| bad(format!("'{s}' is not LAT,LON (for example 52.52,13.40)")))?;
    let lat: f64 = a
        .trim()
        .parse()
        .map_err(|_| bad(format!("latitude '{}' is not a number", a.trim())))?;
    let lon: f64 = b
        .trim()
        .parse()
        .map_err(|_| bad(format!("longitude '{}' is not a number", b.trim())))?;
    if !(-90.0..=90.0).contains(&lat) {
        return Err(bad(format!("latitude {lat} is not in -90..90")));
    }
    if !(-180.0..=180.0).contains(&lon) {
        return Err(bad(format!("longitude {lon} is not in -180..180")));
    }
    Ok((lat, lon))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_geohashes() {
        // Reference values from the original geohash.org algorithm.
        assert_eq!(encode(57.64911, 10.40744, 11).as_str(), "u4pruydqqvj");
        assert_eq!(encode(52.5200, 13.4050, 6).as_str(), "u33dc0");
        let (lat, lon) = decode(&GeoHash::new("u4pruydqqvj").unwrap());
        assert!((lat - 57.64911).abs() < 1e-4 && (lon - 10.40744).abs() < 1e-4);
    }

    #[test]
    fn distances() {
        let berlin = (52.5200, 13.4050);
        let munich = (48.1374, 11.5755);
        let d = haversine_km(berlin, munich);
        assert!((d - 504.0).abs() < 5.0, "{d}");
        assert_eq!(haversine_km(berlin, berlin), 0.0);
    }

    #[test]
    fn cells_cover_the_circle() {
        let cells = cells_within(52.52, 13.405, 20.0, 4);
        assert!(cells.len() >= 4 && cells.len() <= 30, "{}", cells.len());
        // Every point within the radius falls in one of the cells.
        for i in 0..100 {
            let a = (i as f64) * 0.0628;
            let r = 19.9 * ((i % 10) as f64 / 10.0);
            let lat = 52.52 + (r / 111.195) * a.sin();
            let lon = 13.405 + (r / (111.195 * 52.52f64.to_radians().cos())) * a.cos();
            let g = encode(lat, lon, 4);
            assert!(cells.contains(&g), "{lat},{lon} -> {g} not covered");
        }
        assert!(neighbors(&GeoHash::new("u33d").unwrap())
            .iter()
            .all(|n| n.len() == 4));
    }

    #[test]
    fn lat_lon_parsing() {
        assert_eq!(parse_lat_lon(" 52.52, 13.4 ").unwrap(), (52.52, 13.4));
        assert!(parse_lat_lon("200,10").is_err());
        assert!(parse_lat_lon("52.5").is_err());
        assert!(parse_lat_lon("a,b").is_err());
    }
}
