//! A deterministic synthetic marketplace for benchmarks, tests and examples: realistic titles
//! and descriptions, prices, ~200 categories and tags, sellers and locations spread over a
//! country (Germany, clustered around its cities). The same seed always yields the same corpus.

use swapmeet_protocol::{
    geo, Category, Condition, Currency, Delivery, Listing, Location, Price, SecretKey,
    SignedEnvelope,
};

/// A small, fast, deterministic generator (splitmix64).
#[derive(Clone, Debug)]
pub struct Rng(u64);

impl Rng {
    /// A generator from a seed.
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }
    /// Next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    /// Uniform in 0..n.
    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n.max(1) as u64) as usize
    }
    /// Uniform in [0, 1).
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
    /// One of the items.
    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }
}

/// (name, lat, lon, weight) of the cities listings cluster around.
pub const CITIES: &[(&str, f64, f64, u32)] = &[
    ("Berlin", 52.520, 13.405, 36),
    ("Hamburg", 53.551, 9.993, 18),
    ("Munich", 48.137, 11.575, 15),
    ("Cologne", 50.937, 6.960, 11),
    ("Frankfurt", 50.110, 8.682, 8),
    ("Stuttgart", 48.775, 9.182, 6),
    ("Düsseldorf", 51.227, 6.773, 6),
    ("Leipzig", 51.339, 12.373, 6),
    ("Dortmund", 51.513, 7.465, 6),
    ("Bremen", 53.079, 8.801, 5),
    ("Dresden", 51.050, 13.737, 5),
    ("Hanover", 52.375, 9.732, 5),
    ("Nuremberg", 49.452, 11.076, 5),
    ("Freiburg", 47.999, 7.842, 2),
    ("Rostock", 54.092, 12.099, 2),
    ("Kiel", 54.323, 10.123, 2),
];

const ADJECTIVES: &[&str] = &[
    "vintage",
    "barely used",
    "classic",
    "compact",
    "large",
    "small",
    "lightweight",
    "sturdy",
    "retro",
    "modern",
    "handmade",
    "solid wood",
    "stainless",
    "wireless",
    "electric",
    "folding",
    "kids",
    "professional",
    "portable",
    "original",
    "antique",
    "ergonomic",
    "waterproof",
];
const COLORS: &[&str] = &[
    "black", "white", "red", "blue", "green", "grey", "silver", "oak", "walnut", "yellow",
];

/// (category, item nouns, brands)
const CATALOGUE: &[(Category, &[&str], &[&str])] = &[
    (
        Category::Bikes,
        &[
            "road bike",
            "mountain bike",
            "city bike",
            "cargo bike",
            "e-bike",
            "bmx",
            "kids bike",
            "bike trailer",
            "bike helmet",
            "gravel bike",
        ],
        &[
            "Canyon",
            "Cube",
            "Trek",
            "Specialized",
            "Gazelle",
            "Giant",
            "Riese & Müller",
            "Bianchi",
        ],
    ),
    (
        Category::Furniture,
        &[
            "sofa",
            "armchair",
            "dining table",
            "bookshelf",
            "wardrobe",
            "desk",
            "office chair",
            "bed frame",
            "chest of drawers",
            "coffee table",
        ],
        &["IKEA", "Hay", "Vitra", "Muuto", "Thonet"],
    ),
    (
        Category::Electronics,
        &[
            "television",
            "speaker",
            "amplifier",
            "record player",
            "headphones",
            "camera",
            "projector",
            "soundbar",
            "radio",
        ],
        &[
            "Sony", "Philips", "Bose", "Canon", "Nikon", "Technics", "Samsung", "LG",
        ],
    ),
    (
        Category::ComputersPhones,
        &[
            "laptop",
            "smartphone",
            "tablet",
            "monitor",
            "keyboard",
            "printer",
            "router",
            "graphics card",
        ],
        &[
            "Apple",
            "Lenovo",
            "Dell",
            "HP",
            "Samsung",
            "Fairphone",
            "Logitech",
        ],
    ),
    (
        Category::ClothingShoes,
        &[
            "winter jacket",
            "rain coat",
            "sneakers",
            "hiking boots",
            "dress",
            "jeans",
            "wool sweater",
            "leather jacket",
        ],
        &[
            "Patagonia",
            "Adidas",
            "Nike",
            "Levi's",
            "Jack Wolfskin",
            "Vaude",
        ],
    ),
    (
        Category::BabyKids,
        &[
            "stroller",
            "car seat",
            "high chair",
            "crib",
            "baby carrier",
            "play mat",
        ],
        &["Cybex", "Stokke", "Bugaboo", "Maxi-Cosi"],
    ),
    (
        Category::HomeKitchen,
        &[
            "coffee machine",
            "stand mixer",
            "toaster",
            "kettle",
            "dishes set",
            "cast iron pan",
            "vacuum cleaner",
            "washing machine",
        ],
        &["DeLonghi", "KitchenAid", "Bosch", "Miele", "WMF", "Dyson"],
    ),
    (
        Category::ToolsDiy,
        &[
            "cordless drill",
            "circular saw",
            "workbench",
            "ladder",
            "tool box",
            "angle grinder",
            "lawn mower",
        ],
        &["Makita", "Bosch", "Festool", "Metabo", "Einhell"],
    ),
    (
        Category::SportsLeisure,
        &[
            "tent",
            "skis",
            "snowboard",
            "kayak",
            "yoga mat",
            "dumbbells",
            "treadmill",
            "climbing shoes",
            "surfboard",
        ],
        &["Decathlon", "Salomon", "Atomic", "Black Diamond", "Kettler"],
    ),
    (
        Category::MusicInstruments,
        &[
            "acoustic guitar",
            "electric guitar",
            "digital piano",
            "violin",
            "drum kit",
            "ukulele",
            "synthesizer",
        ],
        &["Yamaha", "Fender", "Gibson", "Roland", "Korg", "Thomann"],
    ),
    (
        Category::BooksMedia,
        &[
            "novel collection",
            "vinyl records",
            "comic books",
            "cookbook",
            "board game",
            "dvd box set",
        ],
        &["Penguin", "Taschen", "Carlsen"],
    ),
    (
        Category::ToysGames,
        &[
            "lego set",
            "wooden train",
            "doll house",
            "puzzle",
            "game console",
            "rc car",
        ],
        &["LEGO", "Playmobil", "Brio", "Nintendo", "Ravensburger"],
    ),
    (
        Category::GardenOutdoor,
        &[
            "garden chairs",
            "barbecue grill",
            "parasol",
            "planter",
            "garden hose",
            "hedge trimmer",
        ],
        &["Weber", "Gardena", "Kettler"],
    ),
    (
        Category::VehiclesParts,
        &[
            "winter tyres",
            "roof box",
            "car seat covers",
            "bike rack",
            "motorcycle helmet",
        ],
        &["Thule", "Michelin", "Continental", "Shoei"],
    ),
    (
        Category::AntiquesCollectibles,
        &[
            "porcelain vase",
            "old map",
            "pocket watch",
            "coin collection",
            "stamp album",
        ],
        &["Meissen", "Rosenthal"],
    ),
    (
        Category::JewelryWatches,
        &["wrist watch", "silver necklace", "gold ring", "earrings"],
        &["Seiko", "Casio", "Junghans", "Fossil"],
    ),
    (
        Category::Pets,
        &["dog crate", "cat tree", "aquarium", "bird cage"],
        &["Trixie", "Ferplast"],
    ),
    (
        Category::HealthBeauty,
        &["hair dryer", "electric toothbrush", "massage chair"],
        &["Braun", "Philips", "Oral-B"],
    ),
    (
        Category::OfficeBusiness,
        &["standing desk", "filing cabinet", "shredder", "whiteboard"],
        &["Steelcase", "Leitz", "Herman Miller"],
    ),
    (
        Category::Other,
        &["moving boxes", "suitcase", "umbrella", "picture frames"],
        &["Samsonite", "Rimowa"],
    ),
];

const SENTENCES: &[&str] = &[
    "Works perfectly, selling because I am moving.",
    "Some signs of use, see photos.",
    "Pickup only, cash or bank transfer.",
    "Smoke-free and pet-free home.",
    "Comes with the original box and manual.",
    "Bought two years ago, used only a few times.",
    "Small scratch on the side, otherwise like new.",
    "Can deliver within the city for a small fee.",
    "Price is negotiable for quick pickup.",
    "Recently serviced and cleaned.",
    "Ideal for students or a first flat.",
    "Spare parts included.",
    "Dimensions available on request.",
    "No returns, private sale.",
];

/// One generated listing with the key that signs it.
pub struct Synth {
    sellers: Vec<SecretKey>,
    rng: Rng,
    now: u64,
    eur: Currency,
    tags: Vec<String>,
    counter: u64,
}

impl Synth {
    /// A corpus of `sellers` seeded sellers, signing at about `now`.
    pub fn new(seed: u64, sellers: usize, now: u64) -> Synth {
        let mut rng = Rng::new(seed);
        let sellers = (0..sellers.max(1))
            .map(|_| {
                let mut seed = [0u8; 32];
                for chunk in seed.chunks_mut(8) {
                    chunk.copy_from_slice(&rng.next_u64().to_le_bytes());
                }
                SecretKey::from_bytes(seed)
            })
            .collect();
        // ~200 distinct tags: brands, nouns' first words, colours, adjectives.
        let mut tags: Vec<String> = Vec::new();
        for (_, nouns, brands) in CATALOGUE {
            for w in nouns.iter().chain(brands.iter()) {
                let t: String = w
                    .to_lowercase()
                    .chars()
                    .map(|c| if c.is_alphanumeric() { c } else { '-' })
                    .collect();
                if !tags.contains(&t) {
                    tags.push(t);
                }
            }
        }
        let eur = Currency::new("EUR").expect("EUR is in the ISO 4217 table");
        Synth {
            sellers,
            rng,
            now,
            eur,
            tags,
            counter: 0,
        }
    }

    /// The sellers' keys.
    pub fn sellers(&self) -> &[SecretKey] {
        &self.sellers
    }

    /// A point near one of the cities (weighted by size), within ~15 km.
    pub fn location(&mut self) -> (f64, f64) {
        let total: u32 = CITIES.iter().map(|c| c.3).sum();
        let mut pick = self.rng.below(total as usize) as u32;
        let mut city = CITIES[0];
        for c in CITIES {
            if pick < c.3 {
                city = *c;
                break;
            }
            pick -= c.3;
        }
        let (dlat, dlon) = (
            (self.rng.unit() - 0.5) * 0.27,
            (self.rng.unit() - 0.5) * 0.42,
        );
        (city.1 + dlat, city.2 + dlon)
    }

    /// The next listing (unsigned) and the index of its seller.
    pub fn listing(&mut self) -> (usize, Listing) {
        self.counter += 1;
        let r = &mut self.rng;
        let (category, nouns, brands) = CATALOGUE[r.below(CATALOGUE.len())];
        let noun = *r.pick(nouns);
        let brand = *r.pick(brands);
        let adjective = *r.pick(ADJECTIVES);
        let color = *r.pick(COLORS);
        let title = match r.below(3) {
            0 => format!("{brand} {noun}"),
            1 => format!("{adjective} {noun}, {color}"),
            _ => format!("{brand} {noun} - {adjective}"),
        };
        let mut description = format!("{} {noun} by {brand}, {color}. ", capitalize(adjective));
        for _ in 0..(2 + r.below(5)) {
            let sentence: &str = SENTENCES[r.below(SENTENCES.len())];
            description.push_str(sentence);
            description.push(' ');
        }
        // Prices: log-uniform from 1 to ~2000 EUR, rounded like people do; 3% free.
        let price = if r.below(100) < 3 {
            Price::Free
        } else {
            let euros = (r.unit() * 7.6).exp().round().max(1.0) as u64;
            let euros = if euros > 50 { euros / 5 * 5 } else { euros };
            Price::Fixed {
                amount_minor: euros * 100,
                currency: self.eur,
            }
        };
        let condition = *r.pick(&[
            Condition::New,
            Condition::LikeNew,
            Condition::Good,
            Condition::Good,
            Condition::Fair,
            Condition::ForParts,
        ]);
        let ntags = 1 + r.below(4);
        let mut tags: Vec<String> = Vec::new();
        for _ in 0..ntags {
            let t = self.tags[r.below(self.tags.len())].clone();
            if !tags.contains(&t) && t.chars().count() <= 32 {
                tags.push(t);
            }
        }
        let seller = r.below(self.sellers.len());
        let shipping = r.below(4) == 0;
        let signed_at = self.now - r.below(7 * 86_400) as u64;
        let (lat, lon) = self.location();
        let listing = Listing {
            item_key: format!("item-{}", self.counter),
            seq: 1,
            signed_at,
            expires_at: signed_at + 14 * 86_400 + self.rng.below(14 * 86_400) as u64,
            title,
            description,
            price,
            condition,
            category,
            tags,
            quantity: 1,
            location: Some(Location {
                geohash: geo::encode(lat, lon, 6),
                place: None,
            }),
            delivery: Delivery {
                pickup: true,
                shipping,
                ships_to: Vec::new(),
            },
            images: Vec::new(),
            variants: Vec::new(),
            stamp: None,
        };
        (seller, listing)
    }

    /// The next listing, signed.
    pub fn signed(&mut self) -> SignedEnvelope {
        let (seller, listing) = self.listing();
        match listing.sign(&self.sellers[seller]) {
            Ok(env) => env,
            // The generator only makes valid listings; a failure here is a bug in it.
            Err(e) => panic!("synthetic listing failed validation: {e}"),
        }
    }
}

/// `n` signed listings from `threads` generators seeded `seed`, `seed + 1`, ... (one per core),
/// signed in parallel: benchmarks and tests need large corpora, and signing is not what they
/// measure. The same arguments on the same number of cores give the same corpus.
pub fn signed_corpus(seed: u64, n: usize, now: u64) -> Vec<SignedEnvelope> {
    let threads = std::thread::available_parallelism().map_or(2, |p| p.get());
    let per = n.div_ceil(threads);
    std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                s.spawn(move || {
                    let mut synth = Synth::new(seed + t as u64, 2000, now);
                    let count = per.min(n.saturating_sub(t * per));
                    (0..count).map(|_| synth.signed()).collect::<Vec<_>>()
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().unwrap_or_else(|e| std::panic::resume_unwind(e)))
            .collect()
    })
}

fn capitalize(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_uppercase().collect::<String>() + c.as_str(),
        None => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_same_corpus() {
        let mut a = Synth::new(7, 10, 1_800_000_000);
        let mut b = Synth::new(7, 10, 1_800_000_000);
        for _ in 0..50 {
            assert_eq!(a.signed().as_bytes(), b.signed().as_bytes());
        }
    }

    #[test]
    fn listings_are_valid() {
        let mut s = Synth::new(1, 3, 1_800_000_000);
        for _ in 0..200 {
            let (_, l) = s.listing();
            l.validate().unwrap();
        }
    }
}
