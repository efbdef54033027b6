//! Prices: integer minor units of an ISO 4217 currency, or free. Never floating point.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::error::ValidationError;
use crate::limits::MAX_AMOUNT_MINOR;

/// ISO 4217 codes in use, with their minor-unit digits (2 unless listed otherwise).
const TWO: &str = "AED AFN ALL AMD ANG AOA ARS AUD AWG AZN BAM BBD BDT BGN BMD BND BOB BRL BSD BTN \
BWP BYN BZD CAD CDF CHF CNY COP CRC CUP CVE CZK DKK DOP DZD EGP ERN ETB EUR FJD FKP GBP GEL GHS GIP \
GMD GTQ GYD HKD HNL HTG HUF IDR ILS INR IRR JMD KES KGS KHR KPW KYD KZT LAK LBP LKR LRD LSL MAD MDL \
MGA MKD MMK MNT MOP MRU MUR MVR MWK MXN MYR MZN NAD NGN NIO NOK NPR NZD PAB PEN PGK PHP PKR PLN QAR \
RON RSD RUB SAR SBD SCR SDG SEK SGD SHP SLE SOS SRD SSP STN SVC SYP SZL THB TJS TMT TOP TRY TTD TWD \
TZS UAH USD UYU UZS VES WST XCD YER ZAR ZMW ZWG";
const ZERO: &str = "BIF CLP DJF GNF ISK JPY KMF KRW PYG RWF UGX UYI VND VUV XAF XOF XPF";
const THREE: &str = "BHD IQD JOD KWD LYD OMR TND";
const FOUR: &str = "CLF UYW";

/// An ISO 4217 currency.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Currency([u8; 3]);

impl Currency {
    /// Validates a code (case-insensitive) against the ISO 4217 table.
    pub fn new(code: &str) -> Result<Currency, ValidationError> {
        let up = code.trim().to_ascii_uppercase();
        if up.len() == 3
            && up.bytes().all(|b| b.is_ascii_uppercase())
            && minor_digits(&up).is_some()
        {
            let b = up.as_bytes();
            Ok(Currency([b[0], b[1], b[2]]))
        } else {
            Err(ValidationError::UnknownCurrency(code.trim().to_string()))
        }
    }

    /// The code, e.g. "EUR".
    pub fn code(&self) -> &str {
        // Only built from validated ASCII.
        std::str::from_utf8(&self.0).unwrap_or("XXX")
    }

    /// Digits of the minor unit (EUR 2, JPY 0, KWD 3).
    pub fn minor_digits(&self) -> u8 {
        minor_digits(self.code()).unwrap_or(2)
    }
}

fn minor_digits(code: &str) -> Option<u8> {
    // Every listing decoded looks its currency up: a sorted table, built once, instead of
    // scanning the lists.
    static TABLE: std::sync::OnceLock<Vec<(&'static str, u8)>> = std::sync::OnceLock::new();
    let table = TABLE.get_or_init(|| {
        let mut t: Vec<(&'static str, u8)> = [(TWO, 2), (ZERO, 0), (THREE, 3), (FOUR, 4)]
            .iter()
            .flat_map(|(list, digits)| list.split_whitespace().map(move |c| (c, *digits)))
            .collect();
        // A code listed twice keeps its first (most common) digits, as the scan did.
        t.sort_by_key(|(c, _)| *c);
        t.dedup_by_key(|(c, _)| *c);
        t
    });
    table
        .binary_search_by_key(&code, |(c, _)| c)
        .ok()
        .map(|i| table[i].1)
}

impl fmt::Display for Currency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}
impl fmt::Debug for Currency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Currency({})", self.code())
    }
}
impl Serialize for Currency {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.code())
    }
}
impl<'de> Deserialize<'de> for Currency {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Currency, D::Error> {
        let s = String::deserialize(d)?;
        Currency::new(&s).map_err(serde::de::Error::custom)
    }
}

/// A price.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Price {
    /// Given away.
    Free,
    /// A fixed amount.
    Fixed {
        /// Amount in minor units (cents).
        amount_minor: u64,
        /// Currency.
        currency: Currency,
    },
}

/// Why a price text could not be read.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum PriceError {
    /// No number in it.
    #[error("'{0}' is not a price (write it like \"25 EUR\", \"12.50\" or \"free\")")]
    NotAPrice(String),
    /// No currency in it and none by default.
    #[error("'{0}' has no currency (write it like \"25 EUR\")")]
    NoCurrency(String),
    /// Not an ISO 4217 code.
    #[error("'{0}' is not an ISO 4217 currency code")]
    UnknownCurrency(String),
    /// More decimals than the currency has.
    #[error("'{text}' has {found} decimals, but {currency} has {allowed}")]
    TooManyDecimals {
        /// The input.
        text: String,
        /// The currency.
        currency: String,
        /// Its minor digits.
        allowed: u8,
        /// Decimals written.
        found: usize,
    },
    /// One separator followed by three digits, which could group thousands or start the
    /// decimals: "1.999 EUR" is 1,999 EUR or a mistyped 1.99, and guessing wrong is a price off
    /// by a factor of 1,000.
    #[error(
        "'{text}' is ambiguous: the '{separator}' could separate thousands ({thousands} {currency}) \
         or decimals, but {currency} has {allowed} decimals; write {thousands} for \
         {thousands} {currency}, or at most {allowed} decimals"
    )]
    AmbiguousSeparator {
        /// The input.
        text: String,
        /// The separator ('.' or ',').
        separator: char,
        /// The number read as thousands, without the separator ("1999").
        thousands: String,
        /// The currency.
        currency: String,
        /// Its minor digits.
        allowed: u8,
    },
    /// Negative.
    #[error("'{0}' is negative; prices are zero or more")]
    Negative(String),
    /// Too large.
    #[error("'{0}' is too large")]
    TooLarge(String),
}

impl Price {
    /// Reads a price as people and shop exports write it: "25", "25 EUR", "25.5 EUR",
    /// "EUR 25.50", "€25", "$12.50", "649,00 EUR", "1.234,56 EUR", "1,234.56 USD", "4999 JPY",
    /// "free". A price of zero is free.
    pub fn parse(text: &str, default: Option<Currency>) -> Result<Price, PriceError> {
        let t = text.trim();
        if t.eq_ignore_ascii_case("free") || t.eq_ignore_ascii_case("gratis") {
            return Ok(Price::Free);
        }
        if t.starts_with('-') || t.contains(" -") {
            return Err(PriceError::Negative(t.to_string()));
        }
        // Split into the currency part (symbols, letters) and the number part.
        let mut letters = String::new();
        let mut number = String::new();
        let mut symbol: Option<&str> = None;
        for c in t.chars() {
            match c {
                '0'..='9' | '.' | ',' | '\'' | '\u{a0}' | '\u{202f}' => number.push(c),
                ' ' => number.push(' '),
                '€' => symbol = Some("EUR"),
                '$' => symbol = symbol.or(Some("USD")),
                '£' => symbol = Some("GBP"),
                '¥' => symbol = Some("JPY"),
                '-' => return Err(PriceError::Negative(t.to_string())),
                c if c.is_alphabetic() => letters.push(c),
                _ => return Err(PriceError::NotAPrice(t.to_string())),
            }
        }
        if !number.chars().any(|c| c.is_ascii_digit()) {
            return Err(PriceError::NotAPrice(t.to_string()));
        }
        let currency = if !letters.is_empty() {
            let code = letters.to_ascii_uppercase();
            // "US$12" and "USD 12" both mean dollars.
            let code = if code == "US" && symbol == Some("USD") {
                "USD".to_string()
            } else {
                code
            };
            Currency::new(&code).map_err(|_| PriceError::UnknownCurrency(letters.clone()))?
        } else if let Some(s) = symbol {
            Currency::new(s).map_err(|_| PriceError::UnknownCurrency(s.into()))?
        } else {
            default.ok_or_else(|| PriceError::NoCurrency(t.to_string()))?
        };
        let digits = currency.minor_digits();
        let num: String = number
            .chars()
            .filter(|c| !matches!(c, ' ' | '\'' | '\u{a0}' | '\u{202f}'))
            .collect();
        if num.is_empty() || !num.chars().any(|c| c.is_ascii_digit()) {
            return Err(PriceError::NotAPrice(t.to_string()));
        }
        let (int_part, frac_part) = split_decimal(&num, digits).map_err(|e| match e {
            Split::NotANumber => PriceError::NotAPrice(t.to_string()),
            Split::Ambiguous { separator } => PriceError::AmbiguousSeparator {
                text: t.to_string(),
                separator,
                thousands: num.replace(separator, ""),
                currency: currency.code().to_string(),
                allowed: digits,
            },
        })?;
        if frac_part.len() > digits as usize {
            return Err(PriceError::TooManyDecimals {
                text: t.to_string(),
                currency: currency.code().to_string(),
                allowed: digits,
                found: frac_part.len(),
            });
        }
        let too_large = || PriceError::TooLarge(t.to_string());
        let int: u64 = if int_part.is_empty() {
            0
        } else {
            int_part.parse().map_err(|_| too_large())?
        };
        let mut frac: u64 = if frac_part.is_empty() {
            0
        } else {
            frac_part.parse().map_err(|_| too_large())?
        };
        for _ in frac_part.len()..digits as usize {
            frac *= 10;
        }
        let amount = int
            .checked_mul(10u64.pow(u32::from(digits)))
            .and_then(|v| v.checked_add(frac))
            .filter(|v| *v <= MAX_AMOUNT_MINOR)
            .ok_or_else(too_large)?;
        if amount == 0 {
            return Ok(Price::Free);
        }
        Ok(Price::Fixed {
            amount_minor: amount,
            currency,
        })
    }

    /// The amount in major units as text ("25.00"), or "0" when free.
    pub fn amount_major_string(&self) -> String {
        match self {
            Price::Free => "0".into(),
            Price::Fixed {
                amount_minor,
                currency,
            } => format_minor(*amount_minor, currency.minor_digits()),
        }
    }

    /// Checks the amount against the protocol's cap.
    pub fn validate(&self) -> Result<(), ValidationError> {
        if let Price::Fixed { amount_minor, .. } = self {
            if *amount_minor == 0 || *amount_minor > MAX_AMOUNT_MINOR {
                return Err(ValidationError::OutOfRange {
                    field: "price",
                    min: 1,
                    max: MAX_AMOUNT_MINOR,
                    actual: *amount_minor,
                });
            }
        }
        Ok(())
    }
}

/// Why a number could not be split.
enum Split {
    NotANumber,
    Ambiguous { separator: char },
}

/// Splits a number with '.'/',' separators into integer and fraction digits, for a currency
/// with `digits` minor digits.
///
/// Two kinds of separator, or one kind several times, say which is which ("1.234,56",
/// "1,234.56", "1.234.567"). One separator followed by other than three digits is the decimal
/// one ("12.50", "649,00", "12.3456" which the caller rejects). One separator followed by
/// exactly three digits is read as:
/// - decimals after a lone zero ("0.001", "0,005"): no number groups thousands after a 0;
/// - thousands in a currency without minor units ("1.999 JPY"): decimals cannot be meant;
/// - decimals when it is a '.' and the currency has three or more digits ("1.500 KWD", as
///   prices are displayed);
/// - otherwise ambiguous, and refused: "1.999 EUR" may be 1,999 EUR or a mistyped 1.99, and
///   a wrong guess is off by a factor of 1,000.
fn split_decimal(num: &str, digits: u8) -> Result<(String, String), Split> {
    let dots = num.matches('.').count();
    let commas = num.matches(',').count();
    let decimal_sep = match (dots, commas) {
        (0, 0) => None,
        // Both: the last one is the decimal separator ("1.234,56" / "1,234.56").
        (_, _) if dots > 0 && commas > 0 => {
            let last_dot = num.rfind('.').ok_or(Split::NotANumber)?;
            let last_comma = num.rfind(',').ok_or(Split::NotANumber)?;
            Some(if last_dot > last_comma { '.' } else { ',' })
        }
        (d, 0) | (0, d) if d > 1 => None, // only thousands separators: "1.234.567"
        _ => {
            let sep = if dots == 1 { '.' } else { ',' };
            let at = num.rfind(sep).ok_or(Split::NotANumber)?;
            let after = num.len() - at - 1;
            let lone_zero = num[..at].chars().all(|c| c == '0');
            if after != 3 || lone_zero || (digits >= 3 && sep == '.') {
                Some(sep)
            } else if digits == 0 {
                None
            } else {
                return Err(Split::Ambiguous { separator: sep });
            }
        }
    };
    let (int, frac) = match decimal_sep {
        Some(sep) => {
            let i = num.rfind(sep).ok_or(Split::NotANumber)?;
            (&num[..i], &num[i + 1..])
        }
        None => (num, ""),
    };
    // Thousands separators must group by three ("1.234.567"), or "12,5,0" would read as 1250.
    let groups: Vec<&str> = int.split(['.', ',']).collect();
    if groups.len() > 1
        && (groups[0].is_empty() || groups[0].len() > 3 || groups[1..].iter().any(|g| g.len() != 3))
    {
        return Err(Split::NotANumber);
    }
    let int: String = int.chars().filter(|c| *c != '.' && *c != ',').collect();
    if !int.chars().all(|c| c.is_ascii_digit()) || !frac.chars().all(|c| c.is_ascii_digit()) {
        return Err(Split::NotANumber);
    }
    Ok((int, frac.to_string()))
}

fn format_minor(amount: u64, digits: u8) -> String {
    if digits == 0 {
        return amount.to_string();
    }
    let p = 10u64.pow(u32::from(digits));
    format!(
        "{}.{:0width$}",
        amount / p,
        amount % p,
        width = digits as usize
    )
}

impl fmt::Display for Price {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Price::Free => f.write_str("free"),
            Price::Fixed { currency, .. } => {
                write!(f, "{} {}", self.amount_major_string(), currency)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(text: &str) -> Result<Price, PriceError> {
        Price::parse(text, Some(Currency::new("EUR").unwrap()))
    }
    fn fixed(minor: u64, code: &str) -> Price {
        Price::Fixed {
            amount_minor: minor,
            currency: Currency::new(code).unwrap(),
        }
    }

    #[test]
    fn reads_what_people_and_shops_write() {
        assert_eq!(p("25"), Ok(fixed(2500, "EUR")));
        assert_eq!(p("25 EUR"), Ok(fixed(2500, "EUR")));
        assert_eq!(p("25.5 eur"), Ok(fixed(2550, "EUR")));
        assert_eq!(p("EUR 25.50"), Ok(fixed(2550, "EUR")));
        assert_eq!(p("€25"), Ok(fixed(2500, "EUR")));
        assert_eq!(p("$12.50"), Ok(fixed(1250, "USD")));
        assert_eq!(p("£3"), Ok(fixed(300, "GBP")));
        assert_eq!(p("¥500"), Ok(fixed(500, "JPY")));
        assert_eq!(p("649,00 EUR"), Ok(fixed(64900, "EUR")));
        assert_eq!(p("1.234,56 EUR"), Ok(fixed(123456, "EUR")));
        assert_eq!(p("1,234.56 USD"), Ok(fixed(123456, "USD")));
        assert_eq!(p("1,234,000 USD"), Ok(fixed(123400000, "USD")));
        assert_eq!(p("4999 JPY"), Ok(fixed(4999, "JPY")));
        assert_eq!(p("15.00 USD"), Ok(fixed(1500, "USD")));
        assert_eq!(p("free"), Ok(Price::Free));
        assert_eq!(p("0"), Ok(Price::Free));
        assert_eq!(p("1.500 KWD"), Ok(fixed(1500, "KWD")));
    }

    #[test]
    fn rejects_nonsense() {
        assert!(matches!(
            p("abc"),
            Err(PriceError::UnknownCurrency(_)) | Err(PriceError::NotAPrice(_))
        ));
        assert!(matches!(
            p("12.3456 EUR"),
            Err(PriceError::TooManyDecimals { .. })
        ));
        // One separator followed by three digits could group thousands or start decimals:
        // refused, not guessed (see `never_off_by_a_factor_of_1000`).
        assert!(matches!(
            p("12.345 EUR"),
            Err(PriceError::AmbiguousSeparator { .. })
        ));
        assert!(matches!(
            p("12.5 JPY"),
            Err(PriceError::TooManyDecimals { .. })
        ));
        assert!(matches!(p("-5"), Err(PriceError::Negative(_))));
        assert!(matches!(p("5 XYZ"), Err(PriceError::UnknownCurrency(_))));
        assert!(matches!(
            p("99999999999999999999"),
            Err(PriceError::TooLarge(_))
        ));
        assert!(matches!(
            Price::parse("25", None),
            Err(PriceError::NoCurrency(_))
        ));
        assert!(matches!(p(""), Err(PriceError::NotAPrice(_))));
        assert!(matches!(p("12,5,0 EUR"), Err(PriceError::NotAPrice(_))));
        assert_eq!(p("1.234.567 EUR"), Ok(fixed(123456700, "EUR")));
    }

    #[test]
    fn never_off_by_a_factor_of_1000() {
        let too_many = |text: &str, code: &str| {
            let e = Price::parse(text, Some(Currency::new(code).unwrap())).unwrap_err();
            assert!(
                matches!(e, PriceError::TooManyDecimals { found: 3, .. }),
                "{text} {code}: {e:?}"
            );
            e.to_string()
        };
        // After a lone zero the separator can only start decimals.
        let msg = too_many("0.001", "EUR");
        assert_eq!(msg, "'0.001' has 3 decimals, but EUR has 2");
        too_many("0,005", "EUR");
        too_many("0.005 EUR", "USD");
        too_many(".005", "EUR");
        // One separator and three digits after a number: either reading may be meant.
        for (text, sep, thousands) in [("1.999", '.', "1999"), ("1,999", ',', "1999")] {
            let e = p(text).unwrap_err();
            assert_eq!(
                e,
                PriceError::AmbiguousSeparator {
                    text: text.into(),
                    separator: sep,
                    thousands: thousands.into(),
                    currency: "EUR".into(),
                    allowed: 2,
                }
            );
            let msg = e.to_string();
            assert!(
                msg.contains("ambiguous")
                    && msg.contains("write 1999")
                    && msg.contains("at most 2 decimals"),
                "{msg}"
            );
        }
        // Where the separators say which is which, it is read.
        assert_eq!(p("1.999,50"), Ok(fixed(199950, "EUR")));
        assert_eq!(p("1,999.50"), Ok(fixed(199950, "EUR")));
        assert_eq!(p("1.999.000"), Ok(fixed(199900000, "EUR")));
        assert_eq!(p("1999"), Ok(fixed(199900, "EUR")));
        assert_eq!(p("12.50"), Ok(fixed(1250, "EUR")));
        assert_eq!(p("12,5"), Ok(fixed(1250, "EUR")));
        assert_eq!(p("1,234.56"), Ok(fixed(123456, "EUR")));
        assert_eq!(p("0.01"), Ok(fixed(1, "EUR")));
        // JPY has no minor unit: a separator before three digits can only group thousands.
        let jpy = |t: &str| Price::parse(t, Some(Currency::new("JPY").unwrap()));
        assert_eq!(jpy("1.999"), Ok(fixed(1999, "JPY")));
        assert_eq!(jpy("1,999"), Ok(fixed(1999, "JPY")));
        assert!(matches!(
            jpy("0.001"),
            Err(PriceError::TooManyDecimals { .. })
        ));
        assert!(matches!(
            jpy("19.99"),
            Err(PriceError::TooManyDecimals { .. })
        ));
        // KWD has three: "1.999" is how its prices are written and shown; "1,999" may be
        // either (1,999 KWD or 1.999 KWD) and is refused.
        let kwd = |t: &str| Price::parse(t, Some(Currency::new("KWD").unwrap()));
        assert_eq!(kwd("1.999"), Ok(fixed(1999, "KWD")));
        assert_eq!(kwd("0,005"), Ok(fixed(5, "KWD")));
        assert_eq!(kwd("1.999,500"), Ok(fixed(1999500, "KWD")));
        assert!(matches!(
            kwd("1,999"),
            Err(PriceError::AmbiguousSeparator { allowed: 3, .. })
        ));
        assert!(matches!(
            kwd("0.0001"),
            Err(PriceError::TooManyDecimals { .. })
        ));
    }

    #[test]
    fn displays_and_round_trips() {
        for (t, shown) in [
            ("25 EUR", "25.00 EUR"),
            ("4999 JPY", "4999 JPY"),
            ("1.5 KWD", "1.500 KWD"),
        ] {
            let price = p(t).unwrap();
            assert_eq!(price.to_string(), shown);
            assert_eq!(p(&price.to_string()), Ok(price));
        }
        assert_eq!(Price::Free.to_string(), "free");
    }
}
