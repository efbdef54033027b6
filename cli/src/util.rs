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

/// An amount in the listing's currency as offers and counters give it ("200", "199.99",
/// "12,50"): digits with at most one decimal separator and three decimals, more than zero.
/// The node checks the decimals against the listing's currency and the asking price.
pub fn offer_amount(flag: &str, text: &str) -> Result<String> {
    let t = text.trim();
    if t.chars().any(|c| c.is_alphabetic() || "€$£¥".contains(c)) {
        bail!("{flag}: give a plain amount like 200 or 199.99; the currency is the listing's");
    }
    let (int, frac) = match t.split_once(['.', ',']) {
        Some((i, f)) => (i, Some(f)),
        None => (t, None),
    };
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    if !digits(int) || frac.is_some_and(|f| !digits(f) || f.len() > 3) {
        bail!("{flag}: '{text}' is not an amount (e.g. 200 or 199.99)");
    }
    if !t.bytes().any(|b| (b'1'..=b'9').contains(&b)) {
        bail!("{flag}: an offer must be more than zero");
    }
    Ok(t.replace(',', "."))
}

/// How long an offer stays open: a duration of at most 7 days (the protocol's limit).
pub fn offer_lifetime(flag: &str, text: &str) -> Result<u64> {
    let secs = duration_secs_any(flag, text)?;
    let max = swapmeet_protocol::limits::MAX_OFFER_LIFETIME_SECS;
    if secs > max {
        bail!("{flag}: '{text}' is longer than 7 days, the longest an offer stays open");
    }
    Ok(secs)
}

/// A quantity of an offer: 1 to the protocol's limit.
pub fn offer_quantity(flag: &str, qty: u32) -> Result<u32> {
    let max = swapmeet_protocol::limits::MAX_QUANTITY;
    if qty == 0 || qty > max {
        bail!("{flag}: {qty} is out of range; an offer is for 1 to {max} items");
    }
    Ok(qty)
}

/// A hex id or the first `min` or more characters of one (threads, offers, deals).
pub fn hex_prefix(what: &str, text: &str, min: usize, see: &str) -> Result<String> {
    let t = text.trim();
    if t.len() < min || t.len() > 64 || !t.bytes().all(|b| b.is_ascii_hexdigit()) {
        bail!(
            "'{t}' is not a {what} (64 hex characters, or the first {min} or more of one; see `{see}`)"
        );
    }
    Ok(t.to_ascii_lowercase())
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

    #[test]
    fn offer_values_are_checked_before_the_node_is_asked() {
        assert_eq!(offer_amount("--price", "200").unwrap(), "200");
        assert_eq!(offer_amount("--price", "12,50").unwrap(), "12.50");
        let err = offer_amount("--price", "200 EUR").unwrap_err().to_string();
        assert!(err.contains("the currency is the listing's"), "{err}");
        assert!(offer_amount("--price", "0.00")
            .unwrap_err()
            .to_string()
            .contains("more than zero"));
        assert!(offer_amount("--price", "1.2.3").is_err());
        assert!(offer_amount("--price", "-5").is_err());
        assert!(offer_amount("--price", "1.2345").is_err());
        assert_eq!(offer_lifetime("--expires", "48h").unwrap(), 172_800);
        assert_eq!(offer_lifetime("--expires", "7d").unwrap(), 604_800);
        let err = offer_lifetime("--expires", "8d").unwrap_err().to_string();
        assert!(err.contains("7 days"), "{err}");
        assert!(offer_quantity("--qty", 0).is_err());
        assert!(hex_prefix("thread id", "abc", 8, "swapmeet offers").is_err());
        assert_eq!(
            hex_prefix("thread id", "ABCDEF0123", 8, "x").unwrap(),
            "abcdef0123"
        );
    }
}
