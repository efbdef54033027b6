//! A listing's local market settings: the auto-accept and auto-decline prices the seller's
//! node applies while its user is away, and the exact pickup place sent to a buyer inside the
//! sealed thread once a deal is made. Kept in [`super::TREE_STATE`] under `c` + listing id;
//! never published, never sent to anyone but a buyer with a deal.

use serde::{Deserialize, Serialize};
use swapmeet_protocol::{Currency, ListingId, Price};

use super::{corrupt, sled_err, Market, MarketError, TREE_STATE};

/// Key prefix of settings in the state tree.
const SETTINGS: u8 = b'c';
/// Longest pickup place, in characters.
pub const MAX_PICKUP_CHARS: usize = 200;

/// A listing's settings as stored. Prices are per item, in minor units of the listing's
/// currency.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MarketSettings {
    /// An offer at or above this per item is accepted automatically (stock permitting).
    pub auto_accept_minor: Option<u64>,
    /// An offer at or below this per item is declined automatically.
    pub auto_decline_minor: Option<u64>,
    /// The currency the two prices are in (the listing's when they were set).
    pub currency: Option<Currency>,
    /// The exact pickup place.
    pub pickup_at: Option<String>,
}

impl MarketSettings {
    /// Whether nothing is set.
    pub fn is_empty(&self) -> bool {
        self.auto_accept_minor.is_none()
            && self.auto_decline_minor.is_none()
            && self.pickup_at.is_none()
    }
}

/// A change to the settings: `None` leaves a field, `Some(None)` clears it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SettingsUpdate {
    /// Auto-accept price per item, text ("230", "230 EUR").
    pub auto_accept: Option<Option<String>>,
    /// Auto-decline price per item, text.
    pub auto_decline: Option<Option<String>>,
    /// Pickup place.
    pub pickup_at: Option<Option<String>>,
}

impl SettingsUpdate {
    /// Whether it changes nothing.
    pub fn is_empty(&self) -> bool {
        self.auto_accept.is_none() && self.auto_decline.is_none() && self.pickup_at.is_none()
    }

    /// The settings after this change, checked: prices parse in `currency` and are not free,
    /// auto-decline is below auto-accept, the pickup place is 1 to 200 characters without
    /// control characters. Names the field on error.
    pub fn apply(
        &self,
        mut s: MarketSettings,
        currency: Currency,
    ) -> Result<MarketSettings, MarketError> {
        let price = |field: &'static str,
                     text: &Option<String>|
         -> Result<Option<u64>, MarketError> {
            let Some(text) = text else { return Ok(None) };
            match Price::parse(text, Some(currency)) {
                Ok(Price::Fixed {
                    amount_minor,
                    currency: c,
                }) if c == currency => Ok(Some(amount_minor)),
                Ok(Price::Fixed { currency: c, .. }) => Err(MarketError::invalid(
                    field,
                    format!("is in {c}, the listing is priced in {currency}"),
                )),
                Ok(Price::Free) => Err(MarketError::invalid(field, "must be a price, not free")),
                Err(e) => Err(MarketError::invalid(field, e)),
            }
        };
        if s.currency.is_some_and(|c| c != currency) {
            // The listing changed currency: prices in the old one mean nothing now.
            s.auto_accept_minor = None;
            s.auto_decline_minor = None;
        }
        if let Some(a) = &self.auto_accept {
            s.auto_accept_minor = price("auto_accept", a)?;
        }
        if let Some(d) = &self.auto_decline {
            s.auto_decline_minor = price("auto_decline", d)?;
        }
        if let (Some(a), Some(d)) = (s.auto_accept_minor, s.auto_decline_minor) {
            if d >= a {
                return Err(MarketError::invalid(
                    "auto_decline",
                    format!(
                        "must be below auto_accept ({} >= {})",
                        fmt_minor(d, currency),
                        fmt_minor(a, currency)
                    ),
                ));
            }
        }
        if let Some(p) = &self.pickup_at {
            s.pickup_at = match p {
                None => None,
                Some(p) => Some(check_pickup(p)?),
            };
        }
        s.currency = Some(currency);
        Ok(s)
    }
}

/// The pickup place rules.
fn check_pickup(text: &str) -> Result<String, MarketError> {
    let t = text.trim();
    if t.is_empty() {
        return Err(MarketError::invalid(
            "pickup_at",
            "is empty (give an address or coordinates, or null to clear it)",
        ));
    }
    let n = t.chars().count();
    if n > MAX_PICKUP_CHARS {
        return Err(MarketError::invalid(
            "pickup_at",
            format!("is {n} characters, the limit is {MAX_PICKUP_CHARS}"),
        ));
    }
    if t.chars().any(char::is_control) {
        return Err(MarketError::invalid(
            "pickup_at",
            "contains control characters (one line of text)",
        ));
    }
    Ok(t.to_string())
}

/// An amount in minor units as a price text ("230.00 EUR").
pub fn fmt_minor(amount_minor: u64, currency: Currency) -> String {
    Price::Fixed {
        amount_minor,
        currency,
    }
    .to_string()
}

fn settings_key(listing: &ListingId) -> Vec<u8> {
    let mut k = Vec::with_capacity(17);
    k.push(SETTINGS);
    k.extend_from_slice(listing.as_bytes());
    k
}

impl Market {
    /// A listing's settings (empty when none were set).
    pub fn settings(&self, listing: &ListingId) -> Result<MarketSettings, MarketError> {
        match self
            .inner
            .state
            .get(settings_key(listing))
            .map_err(sled_err("reading market settings"))?
        {
            None => Ok(MarketSettings::default()),
            Some(v) => serde_json::from_slice(&v)
                .map_err(|e| corrupt(TREE_STATE, format!("market settings: {e}"))),
        }
    }

    /// Checks `update` against my listing `listing` (its currency) without storing it.
    pub fn check_settings(
        &self,
        listing: &ListingId,
        update: &SettingsUpdate,
        currency: Currency,
    ) -> Result<MarketSettings, MarketError> {
        update.apply(self.settings(listing)?, currency)
    }

    /// Changes my listing's settings (flushed before it returns) and returns them. The listing
    /// must be mine; bad input changes nothing. New auto prices apply to offers already open.
    pub fn set_settings(
        &self,
        listing: &ListingId,
        update: &SettingsUpdate,
    ) -> Result<MarketSettings, MarketError> {
        let rec = self.inner.engine.get(listing)?.ok_or_else(|| {
            MarketError::NotFound(format!("no listing {listing} is known to this node"))
        })?;
        if rec.summary.seller != self.me().to_string() {
            return Err(MarketError::WrongMove(format!(
                "listing {listing} belongs to another seller; only its seller sets its market settings"
            )));
        }
        let currency = rec
            .summary
            .currency
            .as_deref()
            .and_then(|c| Currency::new(c).ok());
        let settings = match currency {
            Some(c) => self.check_settings(listing, update, c)?,
            None if update.auto_accept.is_some() || update.auto_decline.is_some() => {
                return Err(MarketError::invalid(
                    "auto_accept",
                    "the listing is free: there are no offers to accept or decline",
                ))
            }
            None => {
                let s = self.settings(listing)?;
                let mut u = update.clone();
                u.auto_accept = None;
                u.auto_decline = None;
                // A free listing still has a pickup place; the currency is only a label here.
                let eur = Currency::new("EUR").map_err(|e| MarketError::invalid("currency", e))?;
                let mut out = u.apply(s, eur)?;
                out.currency = None;
                out
            }
        };
        self.store_settings(listing, &settings)?;
        // Open offers may now meet an auto price.
        for thread in self.threads_about(listing)? {
            if let Err(e) = self.react(&thread) {
                tracing::warn!(%thread, error = %e, "applying new market settings failed");
            }
        }
        Ok(settings)
    }

    /// Stores settings (flushed).
    pub(crate) fn store_settings(
        &self,
        listing: &ListingId,
        settings: &MarketSettings,
    ) -> Result<(), MarketError> {
        let key = settings_key(listing);
        if settings.is_empty() {
            self.inner
                .state
                .remove(key)
                .map_err(sled_err("clearing market settings"))?;
        } else {
            let v = serde_json::to_vec(settings)
                .map_err(|e| corrupt(TREE_STATE, format!("market settings: {e}")))?;
            self.inner
                .state
                .insert(key, v)
                .map_err(sled_err("writing market settings"))?;
        }
        self.flush()
    }
}

/// Serde for `Option<Option<T>>`: a field absent is `None`, `null` is `Some(None)`.
pub mod double_option {
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    /// Writes `Some(None)` as `null` (skip `None` with `skip_serializing_if`).
    pub fn serialize<T: Serialize, S: Serializer>(
        v: &Option<Option<T>>,
        s: S,
    ) -> Result<S::Ok, S::Error> {
        match v {
            Some(inner) => inner.serialize(s),
            None => s.serialize_none(),
        }
    }

    /// Reads a present field (a value or `null`) as `Some(..)`.
    pub fn deserialize<'de, T: Deserialize<'de>, D: Deserializer<'de>>(
        d: D,
    ) -> Result<Option<Option<T>>, D::Error> {
        Option::<T>::deserialize(d).map(Some)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn eur() -> Currency {
        Currency::new("EUR").unwrap()
    }

    #[test]
    fn prices_parse_in_the_listing_currency_and_decline_stays_below_accept() {
        let u = SettingsUpdate {
            auto_accept: Some(Some("230".into())),
            auto_decline: Some(Some("150".into())),
            pickup_at: Some(Some("  Hauptstr. 1, Berlin ".into())),
        };
        let s = u.apply(MarketSettings::default(), eur()).unwrap();
        assert_eq!(s.auto_accept_minor, Some(23_000));
        assert_eq!(s.auto_decline_minor, Some(15_000));
        assert_eq!(s.pickup_at.as_deref(), Some("Hauptstr. 1, Berlin"));

        let clear = SettingsUpdate {
            auto_accept: Some(None),
            ..Default::default()
        };
        assert_eq!(
            clear.apply(s.clone(), eur()).unwrap().auto_accept_minor,
            None
        );

        let crossed = SettingsUpdate {
            auto_decline: Some(Some("300".into())),
            ..Default::default()
        };
        let err = crossed.apply(s.clone(), eur()).unwrap_err();
        assert!(
            err.to_string().starts_with("auto_decline: must be below"),
            "{err}"
        );
        let usd = SettingsUpdate {
            auto_accept: Some(Some("300 USD".into())),
            ..Default::default()
        };
        assert!(usd.apply(s, eur()).unwrap_err().to_string().contains("USD"));
        let long = SettingsUpdate {
            pickup_at: Some(Some("x".repeat(MAX_PICKUP_CHARS + 1))),
            ..Default::default()
        };
        assert_eq!(
            long.apply(MarketSettings::default(), eur())
                .unwrap_err()
                .to_string(),
            "pickup_at: is 201 characters, the limit is 200"
        );
    }

    #[test]
    fn absent_and_null_differ() {
        #[derive(Deserialize)]
        struct T {
            #[serde(default, with = "double_option")]
            a: Option<Option<String>>,
        }
        let absent: T = serde_json::from_str("{}").unwrap();
        let null: T = serde_json::from_str(r#"{"a":null}"#).unwrap();
        assert_eq!(absent.a, None);
        assert_eq!(null.a, Some(None));
    }
}
