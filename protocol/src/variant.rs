//! Variants of a listing: one product offered in several sizes, colours or the like, each with
//! its own stock and, where it differs, its own price (like eBay's multi-variation listings).
//!
//! A listing with variants is payload version 2 (key 15); see `docs/PROTOCOL.md` section 4.1.

use serde::{Deserialize, Serialize};

use crate::cbor::{Enc, EncResult, Keys, Reader};
use crate::encoding::check_line;
use crate::error::ValidationError;
use crate::limits::*;
use crate::price::{Currency, Price};

/// One option value of a variant ("size" = "M").
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct VariantOption {
    /// The option's name ("size", "color"); the same names, in the same order, in every
    /// variant of a listing.
    pub name: String,
    /// Its value in this variant ("M", "Blue").
    pub value: String,
}

/// One variant of a listing.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Variant {
    /// Its option values, 1 to [`MAX_VARIANT_OPTIONS`].
    pub options: Vec<VariantOption>,
    /// Its own price, only when it differs from the listing's (absent: the listing's price).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub price: Option<Price>,
    /// Quantity on offer; 0 is out of stock.
    pub quantity: u32,
    /// The seller's key or SKU of the variant.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sku: Option<String>,
}

impl Variant {
    /// The price this variant sells at, given the listing's price.
    pub fn effective_price(&self, listing_price: Price) -> Price {
        self.price.unwrap_or(listing_price)
    }

    /// Whether it can be bought.
    pub fn in_stock(&self) -> bool {
        self.quantity > 0
    }
}

/// The amount of a price for comparisons (free is 0); prices of one listing share a currency.
pub(crate) fn amount(p: &Price) -> u64 {
    match p {
        Price::Free => 0,
        Price::Fixed { amount_minor, .. } => *amount_minor,
    }
}

fn currency(p: &Price) -> Option<Currency> {
    match p {
        Price::Free => None,
        Price::Fixed { currency, .. } => Some(*currency),
    }
}

/// Wraps an error found in variant `index`, so it reads `variants[3].options[0].value ...`.
fn at(index: usize) -> impl Fn(ValidationError) -> ValidationError {
    move |e| ValidationError::InVariant {
        index,
        error: Box::new(e),
    }
}

fn check_option(o: &VariantOption) -> Result<(), ValidationError> {
    check_line("name", &o.name, MAX_OPTION_NAME_CHARS, true)?;
    check_line("value", &o.value, MAX_OPTION_VALUE_CHARS, true)
}

/// Checks the variants of a listing whose price is `listing_price` and quantity `quantity`.
pub(crate) fn validate(
    variants: &[Variant],
    listing_price: Price,
    quantity: u32,
) -> Result<(), ValidationError> {
    if variants.is_empty() {
        return Ok(());
    }
    if variants.len() > MAX_VARIANTS {
        return Err(ValidationError::TooMany {
            field: "variants",
            limit: MAX_VARIANTS,
            actual: variants.len(),
        });
    }
    // Every priced amount of a listing is in one currency, so "from" prices, price filters
    // and sorting compare like with like.
    let mut listing_currency = currency(&listing_price);
    let mut total: u64 = 0;
    for (i, v) in variants.iter().enumerate() {
        let at = at(i);
        if v.options.is_empty() {
            return Err(at(ValidationError::Empty { field: "options" }));
        }
        if v.options.len() > MAX_VARIANT_OPTIONS {
            return Err(at(ValidationError::TooMany {
                field: "options",
                limit: MAX_VARIANT_OPTIONS,
                actual: v.options.len(),
            }));
        }
        for (j, o) in v.options.iter().enumerate() {
            check_option(o).map_err(|e| {
                at(ValidationError::InOption {
                    index: j,
                    error: Box::new(e),
                })
            })?;
            if v.options[..j].iter().any(|p| p.name == o.name) {
                return Err(at(ValidationError::invalid(
                    "options",
                    format!("the option '{}' is given twice", o.name),
                )));
            }
        }
        if i > 0 {
            let first: Vec<&str> = variants[0]
                .options
                .iter()
                .map(|o| o.name.as_str())
                .collect();
            let these: Vec<&str> = v.options.iter().map(|o| o.name.as_str()).collect();
            if first != these {
                return Err(at(ValidationError::invalid(
                    "options",
                    format!(
                        "names {these:?} differ from variants[0]'s {first:?}; every variant has the same option names in the same order"
                    ),
                )));
            }
            if let Some(k) = variants[..i].iter().position(|w| w.options == v.options) {
                return Err(at(ValidationError::invalid(
                    "options",
                    format!("the same option values as variants[{k}]; each variant is a different combination"),
                )));
            }
        }
        if let Some(p) = &v.price {
            match p {
                Price::Free => {
                    return Err(at(ValidationError::invalid(
                        "price",
                        "a variant's own price is an amount (a free item is a free listing)",
                    )))
                }
                Price::Fixed { .. } => p.validate().map_err(&at)?,
            }
            if *p == listing_price {
                return Err(at(ValidationError::invalid(
                    "price",
                    "equals the listing's price; a variant gives a price only when it differs",
                )));
            }
            let c = currency(p);
            match listing_currency {
                Some(lc) if c != Some(lc) => {
                    return Err(at(ValidationError::invalid(
                        "price",
                        format!(
                        "is in {}, the listing's prices are in {lc}; one listing has one currency",
                        c.map(|c| c.code().to_string()).unwrap_or_default()
                    ),
                    )))
                }
                _ => listing_currency = c,
            }
        }
        if v.quantity > MAX_QUANTITY {
            return Err(at(ValidationError::OutOfRange {
                field: "quantity",
                min: 0,
                max: u64::from(MAX_QUANTITY),
                actual: u64::from(v.quantity),
            }));
        }
        if let Some(s) = &v.sku {
            check_line("sku", s, MAX_VARIANT_SKU_CHARS, true).map_err(&at)?;
        }
        total += u64::from(v.quantity);
    }
    if total == 0 {
        return Err(ValidationError::invalid(
            "variants",
            "every variant is out of stock (quantity 0); withdraw the listing instead",
        ));
    }
    if total != u64::from(quantity) {
        return Err(ValidationError::invalid(
            "quantity",
            format!("is {quantity} but the variants hold {total}; a listing with variants has their total as its quantity"),
        ));
    }
    Ok(())
}

/// The lowest and highest price of the variants in stock (the listing's own price when it has
/// no variants, or, defensively, none in stock).
pub(crate) fn price_range(variants: &[Variant], listing_price: Price) -> (Price, Price) {
    let mut prices = variants
        .iter()
        .filter(|v| v.in_stock())
        .map(|v| v.effective_price(listing_price));
    let Some(first) = prices.next() else {
        return (listing_price, listing_price);
    };
    prices.fold((first, first), |(lo, hi), p| {
        (
            if amount(&p) < amount(&lo) { p } else { lo },
            if amount(&p) > amount(&hi) { p } else { hi },
        )
    })
}

/// Writes variants (key 15's value): an array of maps
/// `{0: [[name, value], ...], 1: [amount, currency]?, 2: quantity, 3: sku?}`.
pub(crate) fn encode(e: &mut Enc, variants: &[Variant]) -> EncResult {
    e.array(variants.len() as u64)?;
    for v in variants {
        let n = 2 + u64::from(v.price.is_some()) + u64::from(v.sku.is_some());
        e.map(n)?;
        e.u8(0)?.array(v.options.len() as u64)?;
        for o in &v.options {
            e.array(2)?.str(&o.name)?.str(&o.value)?;
        }
        if let Some(Price::Fixed {
            amount_minor,
            currency,
        }) = &v.price
        {
            e.u8(1)?
                .array(2)?
                .u64(*amount_minor)?
                .str(currency.code())?;
        }
        e.u8(2)?.u32(v.quantity)?;
        if let Some(s) = &v.sku {
            e.u8(3)?.str(s)?;
        }
    }
    Ok(())
}

/// Reads variants (key 15's value); structure only, `validate` follows.
pub(crate) fn decode(r: &mut Reader<'_>) -> Result<Vec<Variant>, ValidationError> {
    let k = r.array("variants", MAX_VARIANTS)?;
    let mut out = Vec::with_capacity(k);
    for i in 0..k {
        // The index helps find a bad variant; a non-canonical encoding stays that error.
        out.push(decode_one(r).map_err(|e| match e {
            ValidationError::NonCanonical => e,
            e => at(i)(e),
        })?);
    }
    Ok(out)
}

fn decode_one(r: &mut Reader<'_>) -> Result<Variant, ValidationError> {
    let n = r.map(4)?;
    let mut keys = Keys::new();
    let mut options = None;
    let mut price = None;
    let mut quantity = None;
    let mut sku = None;
    for _ in 0..n {
        match keys.next(r)? {
            0 => {
                let k = r.array("options", MAX_VARIANT_OPTIONS)?;
                let mut opts = Vec::with_capacity(k);
                for _ in 0..k {
                    if r.array("options", 2)? != 2 {
                        return Err(ValidationError::malformed(
                            "listing",
                            "a variant option is [name, value]",
                        ));
                    }
                    let name = r.str()?.to_string();
                    let value = r.str()?.to_string();
                    opts.push(VariantOption { name, value });
                }
                options = Some(opts);
            }
            1 => price = Some(crate::listing::read_price(r)?),
            2 => quantity = Some(r.u32()?),
            3 => sku = Some(r.str()?.to_string()),
            k => {
                return Err(ValidationError::malformed(
                    "listing",
                    format!("unknown variant field {k}"),
                ))
            }
        }
    }
    let missing = |f: &str| ValidationError::malformed("listing", format!("variant without {f}"));
    Ok(Variant {
        options: options.ok_or_else(|| missing("options"))?,
        price,
        quantity: quantity.ok_or_else(|| missing("quantity"))?,
        sku,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::category::{Category, Condition};
    use crate::listing::{Delivery, Listing};

    fn eur(amount_minor: u64) -> Price {
        Price::Fixed {
            amount_minor,
            currency: Currency::new("EUR").unwrap(),
        }
    }

    fn v(size: &str, color: &str, price: Option<u64>, quantity: u32) -> Variant {
        Variant {
            options: vec![
                VariantOption {
                    name: "size".into(),
                    value: size.into(),
                },
                VariantOption {
                    name: "color".into(),
                    value: color.into(),
                },
            ],
            price: price.map(eur),
            quantity,
            sku: Some(format!("H-{size}-{color}")),
        }
    }

    fn listing(variants: Vec<Variant>) -> Listing {
        let quantity = variants.iter().map(|v| v.quantity).sum::<u32>().max(1);
        Listing {
            item_key: "hoodie".into(),
            seq: 1,
            signed_at: 1_000,
            expires_at: 2_000,
            title: "Hoodie".into(),
            description: String::new(),
            price: eur(4800),
            condition: Condition::New,
            category: Category::ClothingShoes,
            tags: vec![],
            quantity,
            location: None,
            delivery: Delivery {
                pickup: false,
                shipping: true,
                ships_to: vec![],
            },
            images: vec![],
            variants,
            stamp: None,
        }
    }

    fn ok() -> Listing {
        listing(vec![
            v("S", "Blue", None, 2),
            v("M", "Blue", Some(5200), 1),
            v("L", "Blue", Some(5600), 0),
        ])
    }

    fn err(l: &Listing) -> String {
        l.validate().unwrap_err().to_string()
    }

    #[test]
    fn a_valid_listing_with_variants_round_trips_as_version_2() {
        let l = ok();
        l.validate().unwrap();
        let bytes = l.encode_payload();
        assert_eq!(&bytes[1..3], &[0x00, 0x02]);
        assert_eq!(Listing::decode_payload(&bytes).unwrap(), l);
        let g = Listing::glance_payload(&bytes).unwrap();
        // The sold-out 56 EUR variant is not what a shopper can buy.
        assert_eq!((g.price, g.price_max), (eur(4800), Some(eur(5200))));
        assert_eq!(g.variants, 3);
        assert_eq!(g, l.glance());
    }

    #[test]
    fn one_price_in_stock_is_not_a_range() {
        let l = listing(vec![v("S", "Blue", None, 2), v("M", "Blue", Some(5200), 0)]);
        assert_eq!(l.glance().price_max, None);
        assert_eq!(l.glance().price, eur(4800));
        // All in-stock variants with their own price: the range is theirs, not the listing's.
        let l = listing(vec![
            v("S", "Blue", Some(3000), 1),
            v("M", "Blue", Some(5200), 1),
        ]);
        assert_eq!(l.price_range(), (eur(3000), eur(5200)));
    }

    #[test]
    fn the_version_must_match_the_variants() {
        let bytes = ok().encode_payload();
        let mut v1 = bytes.clone();
        v1[2] = 0x01;
        let e = Listing::decode_payload(&v1).unwrap_err().to_string();
        assert!(e.contains("version 1 listing has no variants"), "{e}");
        let mut v3 = bytes;
        v3[2] = 0x03;
        assert!(matches!(
            Listing::decode_payload(&v3),
            Err(ValidationError::UnsupportedVersion { found: 3, .. })
        ));
        // Version 2 without variants: the encoder writes version 1 for it.
        let mut plain = listing(vec![]);
        plain.quantity = 1;
        let mut v2 = plain.encode_payload();
        assert_eq!(v2[2], 0x01);
        v2[2] = 0x02;
        let e = Listing::decode_payload(&v2).unwrap_err().to_string();
        assert!(e.contains("version 2 listing has variants"), "{e}");
    }

    #[test]
    fn every_limit_names_the_field_and_the_limit() {
        let mut l = ok();
        l.variants[2].options[0].value = "x".repeat(MAX_OPTION_VALUE_CHARS + 1);
        assert_eq!(
            err(&l),
            format!(
                "variants[2].options[0].value is too long: {} characters, the limit is {MAX_OPTION_VALUE_CHARS}",
                MAX_OPTION_VALUE_CHARS + 1
            )
        );

        let mut l = ok();
        l.variants[1].options[1].name = "n".repeat(MAX_OPTION_NAME_CHARS + 1);
        for w in &mut l.variants {
            w.options[1].name = "n".repeat(MAX_OPTION_NAME_CHARS + 1);
        }
        assert_eq!(
            err(&l),
            format!(
                "variants[0].options[1].name is too long: {} characters, the limit is {MAX_OPTION_NAME_CHARS}",
                MAX_OPTION_NAME_CHARS + 1
            )
        );

        let mut l = ok();
        l.variants[0].options[0].value = "  ".into();
        assert_eq!(err(&l), "variants[0].options[0].value must not be empty");

        let mut l = ok();
        l.variants[1].options.clear();
        assert_eq!(err(&l), "variants[1].options must not be empty");

        let mut l = ok();
        for w in &mut l.variants {
            w.options = (0..=MAX_VARIANT_OPTIONS)
                .map(|k| VariantOption {
                    name: format!("o{k}"),
                    value: w.sku.clone().unwrap(),
                })
                .collect();
        }
        assert_eq!(
            err(&l),
            format!(
                "variants[0].options has too many entries: {}, the limit is {MAX_VARIANT_OPTIONS}",
                MAX_VARIANT_OPTIONS + 1
            )
        );

        let mut l = ok();
        l.variants[1].sku = Some("s".repeat(MAX_VARIANT_SKU_CHARS + 1));
        assert!(
            err(&l).starts_with("variants[1].sku is too long"),
            "{}",
            err(&l)
        );

        let mut l = ok();
        l.variants[0].quantity = MAX_QUANTITY + 1;
        l.quantity = MAX_QUANTITY;
        assert!(
            err(&l)
                .starts_with("variants[0].quantity is out of range: 1000001, allowed 0..=1000000"),
            "{}",
            err(&l)
        );

        let sizes: Vec<Variant> = (0..=MAX_VARIANTS)
            .map(|k| v(&k.to_string(), "Blue", None, 1))
            .collect();
        let l = listing(sizes);
        assert_eq!(
            err(&l),
            format!(
                "variants has too many entries: {}, the limit is {MAX_VARIANTS}",
                MAX_VARIANTS + 1
            )
        );
        // The decoder refuses an over-long array before reading it.
        let mut enc = l.clone();
        enc.variants.truncate(MAX_VARIANTS);
        let ok_bytes = enc.encode_payload();
        assert!(Listing::decode_payload(&ok_bytes).is_ok());
        let too_many = l.encode_payload();
        assert!(matches!(
            Listing::decode_payload(&too_many),
            Err(ValidationError::TooMany {
                field: "variants",
                ..
            })
        ));
    }

    #[test]
    fn variants_are_consistent() {
        let mut l = ok();
        l.variants[1].options.swap(0, 1);
        assert!(err(&l).contains("differ from variants[0]'s"), "{}", err(&l));

        let mut l = ok();
        l.variants[2].options = l.variants[0].options.clone();
        assert!(
            err(&l).starts_with(
                "variants[2].options is invalid: the same option values as variants[0]"
            ),
            "{}",
            err(&l)
        );

        let mut l = ok();
        l.variants[0].options[1].name = "size".into();
        assert!(err(&l).contains("given twice"), "{}", err(&l));

        let mut l = ok();
        l.variants[1].price = Some(eur(4800));
        assert!(err(&l).starts_with("variants[1].price is invalid: equals the listing's price"));

        let mut l = ok();
        l.variants[1].price = Some(Price::Free);
        assert!(err(&l).starts_with("variants[1].price is invalid"));

        let mut l = ok();
        l.variants[1].price = Some(Price::Fixed {
            amount_minor: 10,
            currency: Currency::new("USD").unwrap(),
        });
        assert!(
            err(&l).contains("one listing has one currency"),
            "{}",
            err(&l)
        );

        let mut l = ok();
        l.variants[1].price = Some(eur(MAX_AMOUNT_MINOR + 1));
        assert!(err(&l).starts_with("variants[1]."), "{}", err(&l));
    }

    #[test]
    fn quantity_is_the_total_and_something_is_in_stock() {
        let mut l = ok();
        l.quantity = 2;
        assert_eq!(
            err(&l),
            "quantity is invalid: is 2 but the variants hold 3; a listing with variants has their total as its quantity"
        );
        let mut l = ok();
        for w in &mut l.variants {
            w.quantity = 0;
        }
        assert!(
            err(&l).contains("every variant is out of stock"),
            "{}",
            err(&l)
        );
    }
}
