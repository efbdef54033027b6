//! Parsing of command-line values, checked before the node is contacted so a typo never
//! reaches it.

use anyhow::{anyhow, bail, Result};
use swapmeet_protocol::{geo, Currency, Price};

/// A positive duration: "14d", "36h", "90m", "45s", "2w" or plain seconds.
pub fn duration_secs_any(flag: &str, text: &str) -> Result<u64> {
    let t = text.trim();
    let (num, unit) = match t.char_indices().find(|(_, c)| !c.is_ascii_digit()) {
        Some((i, _)) => (&t[..i], &t[i..]),
        None => (t, "s"),
    };
    let not_a_duration = || anyhow!("{flag}: '{text}' is not a duration (e.g. 14d, 36h, 90m)");
    let n: u64 = num.parse().map_err(|_| not_a_duration())?;
    let mult = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        "w" => 7 * 86_400,
        _ => return Err(not_a_duration()),
    };
    if n == 0 {
        bail!("{flag}: a duration must be longer than zero");
    }
    Ok(n.saturating_mul(mult))
}

/// A listing lifetime: a duration of at most 30 days.
pub fn duration_secs(flag: &str, text: &str) -> Result<u64> {
    let secs = duration_secs_any(flag, text)?;
    if secs > swapmeet_protocol::limits::MAX_LIFETIME_SECS {
        bail!("{flag}: '{text}' is longer than 30 days, the longest a listing may live");
    }
    Ok(secs)
}

/// "LAT,LON" with range checks.
pub fn lat_lon(flag: &str, text: &str) -> Result<(f64, f64)> {
    geo::parse_lat_lon(text).map_err(|e| anyhow!("{flag}: {e}"))
}

/// Checks a price the way the node will read it.
pub fn check_price(flag: &str, text: &str, currency: Currency) -> Result<Price> {
    Price::parse(text, Some(currency)).map_err(|e| anyhow!("{flag}: {e}"))
}

/// An amount in a currency, as minor units.
pub fn amount_minor(flag: &str, text: &str, currency: Currency) -> Result<u64> {
    if text
        .chars()
        .any(|c| c.is_alphabetic() || "€$£¥".contains(c))
    {
        bail!("{flag}: give a plain amount like 300 or 12.50; the currency comes from --currency");
    }
    match Price::parse(&format!("{text} {}", currency.code()), None) {
        Ok(Price::Fixed { amount_minor, .. }) => Ok(amount_minor),
        Ok(Price::Free) => Ok(0),
        Err(e) => bail!("{flag}: {e}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(duration_secs("--expires-in", "14d").unwrap(), 14 * 86_400);
        assert_eq!(duration_secs("--expires-in", "90m").unwrap(), 5400);
        assert!(duration_secs("--expires-in", "31d").is_err());
        assert!(duration_secs("--expires-in", "soon").is_err());
        assert!(duration_secs("--expires-in", "0d").is_err());
    }

    #[test]
    fn amounts() {
        let eur = Currency::new("EUR").unwrap();
        assert_eq!(amount_minor("--max-price", "300", eur).unwrap(), 30_000);
        assert_eq!(amount_minor("--max-price", "12,50", eur).unwrap(), 1250);
        assert!(amount_minor("--max-price", "abc", eur).is_err());
    }
}
