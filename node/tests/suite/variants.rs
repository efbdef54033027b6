//! Search over listings with variants: one hit per product, its "from" price, price filters
//! that match any variant in stock exactly (not just the span from lowest to highest), and
//! price sorts by the lowest (ascending) and the highest (descending) price in stock; and a
//! seller writing variants through the author, with refusals that name the variant.

use std::sync::Arc;

use swapmeet_node::search::{PriceFilter, SearchQuery, Sort};
use swapmeet_node::{Engine, EngineConfig, Source};
use swapmeet_protocol::{
    geo, Category, Condition, Currency, Delivery, Listing, ListingId, Location, Price, SecretKey,
    Variant, VariantOption,
};

const NOW: u64 = 1_800_000_000;

fn eur(euros: u64) -> Price {
    Price::Fixed {
        amount_minor: euros * 100,
        currency: Currency::new("EUR").unwrap(),
    }
}

fn size(value: &str, price: Option<u64>, quantity: u32) -> Variant {
    Variant {
        options: vec![VariantOption {
            name: "size".into(),
            value: value.into(),
        }],
        price: price.map(eur),
        quantity,
        sku: None,
    }
}

fn listing(item: &str, title: &str, price: u64, variants: Vec<Variant>) -> Listing {
    let quantity = if variants.is_empty() {
        1
    } else {
        variants.iter().map(|v| v.quantity).sum()
    };
    Listing {
        item_key: item.into(),
        seq: 1,
        signed_at: NOW - 100,
        expires_at: NOW + 7 * 86_400,
        title: title.into(),
        description: String::new(),
        price: eur(price),
        condition: Condition::New,
        category: Category::ClothingShoes,
        tags: vec![],
        quantity,
        location: Some(Location {
            geohash: geo::encode(52.52, 13.405, 6),
            place: None,
        }),
        delivery: Delivery {
            pickup: true,
            shipping: false,
            ships_to: vec![],
        },
        images: vec![],
        variants,
        stamp: None,
    }
}

struct Shop {
    _dir: tempfile::TempDir,
    engine: Engine,
    hoodie: ListingId,
    plain: ListingId,
}

/// A hoodie in S (48), M (52), L (56) and XL (70, sold out), and a plain 54 EUR hoodie.
fn shop() -> Shop {
    let dir = tempfile::tempdir().unwrap();
    let config = EngineConfig {
        clock: Arc::new(|| NOW),
        ..EngineConfig::default()
    };
    let (engine, _) = Engine::open(dir.path(), config).unwrap();
    let k = SecretKey::from_bytes([3; 32]);
    let hoodie = listing(
        "hera",
        "Hera Pullover Hoodie",
        48,
        vec![
            size("S", None, 2),
            size("M", Some(52), 1),
            size("L", Some(56), 4),
            size("XL", Some(70), 0),
        ],
    );
    let plain = listing("plain", "Plain Hoodie", 54, vec![]);
    let envs = vec![hoodie.sign(&k).unwrap(), plain.sign(&k).unwrap()];
    engine.ingest(envs, Source::Import).unwrap();
    engine.commit().unwrap();
    Shop {
        _dir: dir,
        engine,
        hoodie: hoodie.id(&k.public()),
        plain: plain.id(&k.public()),
    }
}

impl Shop {
    fn ids(&self, min: Option<u64>, max: Option<u64>, sort: Sort) -> Vec<ListingId> {
        self.engine
            .search(&SearchQuery {
                text: Some("hoodie".into()),
                price: (min.is_some() || max.is_some()).then(|| PriceFilter {
                    currency: Currency::new("EUR").unwrap(),
                    min_minor: min.map(|v| v * 100),
                    max_minor: max.map(|v| v * 100),
                }),
                sort,
                ..Default::default()
            })
            .unwrap()
            .hits
            .into_iter()
            .map(|h| h.id)
            .collect()
    }
}

#[test]
fn a_listing_with_variants_is_one_hit_with_a_from_price() {
    let s = shop();
    let r = s
        .engine
        .search(&SearchQuery {
            text: Some("hera hoodie".into()),
            ..Default::default()
        })
        .unwrap();
    assert_eq!(r.hits.len(), 1);
    let h = &r.hits[0].summary;
    assert_eq!(h.title, "Hera Pullover Hoodie");
    // From 48 up to 56: the sold-out 70 EUR size is not what a shopper can buy.
    assert_eq!(h.price_minor, Some(4800));
    assert_eq!(h.price_max_minor, Some(5600));
    assert_eq!(h.variants, 4);
    assert_eq!(h.quantity, Some(7));
    // Option values are searchable words.
    assert_eq!(s.ids(None, None, Sort::Relevance).len(), 2);
    let xl = s
        .engine
        .search(&SearchQuery {
            text: Some("hoodie xl".into()),
            ..Default::default()
        })
        .unwrap();
    assert_eq!(xl.hits.iter().map(|h| h.id).collect::<Vec<_>>(), [s.hoodie]);
}

#[test]
fn a_price_filter_matches_any_variant_in_stock_exactly() {
    let s = shop();
    // Only the middle variant (M, 52) is in 50..=53: found.
    assert_eq!(s.ids(Some(50), Some(53), Sort::Relevance), [s.hoodie]);
    // 53..=55 lies between M and L and no variant costs that: only the plain hoodie (54),
    // although the variant hoodie's lowest and highest prices span the range.
    assert_eq!(s.ids(Some(53), Some(55), Sort::Relevance), [s.plain]);
    // The sold-out XL (70) does not count.
    assert!(s.ids(Some(65), Some(75), Sort::Relevance).is_empty());
    // Ranges that hold the lowest or the highest price.
    assert_eq!(s.ids(None, Some(48), Sort::Relevance), [s.hoodie]);
    assert_eq!(s.ids(Some(56), Some(59), Sort::Relevance), [s.hoodie]);
    let mut both = s.ids(Some(54), Some(56), Sort::Relevance);
    both.sort();
    let mut want = vec![s.hoodie, s.plain];
    want.sort();
    assert_eq!(both, want);
}

#[test]
fn price_sorts_use_the_lowest_ascending_and_the_highest_descending() {
    let s = shop();
    // Ascending by lowest price: the hoodie from 48 before the plain one at 54.
    assert_eq!(s.ids(None, None, Sort::PriceAsc), [s.hoodie, s.plain]);
    // Descending by highest price in stock: the hoodie's L at 56 before 54.
    assert_eq!(s.ids(None, None, Sort::PriceDesc), [s.hoodie, s.plain]);
}

#[test]
fn a_seller_writes_variants_and_errors_name_the_variant() {
    use swapmeet_node::authoring::{Author, ListingDraft, VariantDraft};
    let dir = tempfile::tempdir().unwrap();
    let config = EngineConfig {
        clock: Arc::new(|| NOW),
        ..EngineConfig::default()
    };
    let (engine, _) = Engine::open(dir.path(), config).unwrap();
    let author = Author::new(
        SecretKey::from_bytes([4; 32]),
        Currency::new("EUR").unwrap(),
        Some((52.52, 13.405)),
        engine.clone(),
    );
    let variant = |value: &str, price: Option<&str>, quantity: u32| VariantDraft {
        options: vec![VariantOption {
            name: "size".into(),
            value: value.into(),
        }],
        price: price.map(str::to_string),
        quantity,
        sku: None,
    };
    let draft = ListingDraft {
        title: Some("Rain jacket".into()),
        price: Some("48".into()),
        variants: Some(vec![
            variant("S", None, 2),
            // Priced like the listing: it follows the listing's price.
            variant("M", Some("48 EUR"), 1),
            variant("L", Some("56"), 0),
        ]),
        ..Default::default()
    };
    let p = author.create(&draft).unwrap();
    let stored = |id| {
        let v = engine.get_verified(id).unwrap().unwrap();
        match v.payload() {
            swapmeet_protocol::Record::Listing(l) => l.clone(),
            _ => panic!("withdrawn"),
        }
    };
    let l = stored(&p.id);
    assert_eq!(
        l.quantity, 3,
        "the listing's quantity is the variants' total"
    );
    assert_eq!(l.variants[1].price, None);
    assert_eq!(l.variants[2].price, Some(eur(56)));
    assert_eq!(l.price_range(), (eur(48), eur(48)), "L at 56 is sold out");

    // A quantity that is not the variants' total is refused, naming the field.
    let e = author
        .update(
            &p.id,
            &ListingDraft {
                quantity: Some(5),
                ..Default::default()
            },
        )
        .unwrap_err()
        .to_string();
    assert!(e.starts_with("quantity:"), "{e}");
    // A bad variant is refused with its place and the limit.
    let e = author
        .update(
            &p.id,
            &ListingDraft {
                variants: Some(vec![
                    variant("S", None, 1),
                    variant(&"x".repeat(65), None, 1),
                ]),
                ..Default::default()
            },
        )
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("variants[1].options[0].value is too long: 65 characters, the limit is 64"),
        "{e}"
    );
    // Neither refusal changed the listing.
    assert_eq!(stored(&p.id), l);
}
