//! The fixed top-level taxonomy and item conditions.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::error::ValidationError;

/// A listing's top-level category. The wire carries the code; free tags carry the rest.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
#[allow(missing_docs)]
pub enum Category {
    AntiquesCollectibles,
    BabyKids,
    Bikes,
    BooksMedia,
    ClothingShoes,
    ComputersPhones,
    Electronics,
    Furniture,
    GardenOutdoor,
    HealthBeauty,
    HomeKitchen,
    JewelryWatches,
    MusicInstruments,
    Pets,
    SportsLeisure,
    ToolsDiy,
    ToysGames,
    VehiclesParts,
    OfficeBusiness,
    Other,
}

impl Category {
    /// Every category, in code order.
    pub const ALL: [Category; 20] = [
        Category::AntiquesCollectibles,
        Category::BabyKids,
        Category::Bikes,
        Category::BooksMedia,
        Category::ClothingShoes,
        Category::ComputersPhones,
        Category::Electronics,
        Category::Furniture,
        Category::GardenOutdoor,
        Category::HealthBeauty,
        Category::HomeKitchen,
        Category::JewelryWatches,
        Category::MusicInstruments,
        Category::Pets,
        Category::SportsLeisure,
        Category::ToolsDiy,
        Category::ToysGames,
        Category::VehiclesParts,
        Category::OfficeBusiness,
        Category::Other,
    ];

    /// The slug, e.g. "bikes".
    pub fn as_str(&self) -> &'static str {
        use Category::*;
        match self {
            AntiquesCollectibles => "antiques-collectibles",
            BabyKids => "baby-kids",
            Bikes => "bikes",
            BooksMedia => "books-media",
            ClothingShoes => "clothing-shoes",
            ComputersPhones => "computers-phones",
            Electronics => "electronics",
            Furniture => "furniture",
            GardenOutdoor => "garden-outdoor",
            HealthBeauty => "health-beauty",
            HomeKitchen => "home-kitchen",
            JewelryWatches => "jewelry-watches",
            MusicInstruments => "music-instruments",
            Pets => "pets",
            SportsLeisure => "sports-leisure",
            ToolsDiy => "tools-diy",
            ToysGames => "toys-games",
            VehiclesParts => "vehicles-parts",
            OfficeBusiness => "office-business",
            Other => "other",
        }
    }

    /// The wire code (1..=20).
    pub fn code(&self) -> u8 {
        Category::ALL
            .iter()
            .position(|c| c == self)
            .map_or(20, |i| i as u8 + 1)
    }

    /// The category of a wire code.
    pub fn from_code(code: u8) -> Option<Category> {
        Category::ALL
            .get(usize::from(code).checked_sub(1)?)
            .copied()
    }
}

impl fmt::Display for Category {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Category {
    type Err = ValidationError;
    fn from_str(s: &str) -> Result<Category, ValidationError> {
        let norm = s.trim().to_ascii_lowercase().replace(['_', ' '], "-");
        Category::ALL
            .iter()
            .find(|c| c.as_str() == norm)
            .copied()
            .ok_or_else(|| {
                ValidationError::invalid(
                    "category",
                    format!(
                        "'{}' is not a category; use one of: {}",
                        s.trim(),
                        Category::ALL.map(|c| c.as_str()).join(", ")
                    ),
                )
            })
    }
}

/// An item's condition.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Condition {
    /// Unused, in original packaging.
    New,
    /// Used, with no visible signs of use.
    LikeNew,
    /// Used, works, normal signs of use.
    Good,
    /// Works, with visible wear or small defects.
    Fair,
    /// Does not work; for repair or parts.
    ForParts,
}

impl Condition {
    /// Every condition, in code order.
    pub const ALL: [Condition; 5] = [
        Condition::New,
        Condition::LikeNew,
        Condition::Good,
        Condition::Fair,
        Condition::ForParts,
    ];

    /// The slug.
    pub fn as_str(&self) -> &'static str {
        match self {
            Condition::New => "new",
            Condition::LikeNew => "like-new",
            Condition::Good => "good",
            Condition::Fair => "fair",
            Condition::ForParts => "for-parts",
        }
    }

    /// The wire code (1..=5).
    pub fn code(&self) -> u8 {
        Condition::ALL
            .iter()
            .position(|c| c == self)
            .map_or(3, |i| i as u8 + 1)
    }

    /// The condition of a wire code.
    pub fn from_code(code: u8) -> Option<Condition> {
        Condition::ALL
            .get(usize::from(code).checked_sub(1)?)
            .copied()
    }

    /// The schema.org `OfferItemCondition`.
    pub fn schema_org(&self) -> &'static str {
        match self {
            Condition::New => "https://schema.org/NewCondition",
            Condition::LikeNew => "https://schema.org/RefurbishedCondition",
            Condition::Good | Condition::Fair => "https://schema.org/UsedCondition",
            Condition::ForParts => "https://schema.org/DamagedCondition",
        }
    }

    /// The Google Merchant Center `condition`.
    pub fn google(&self) -> &'static str {
        match self {
            Condition::New => "new",
            Condition::LikeNew => "refurbished",
            Condition::Good | Condition::Fair | Condition::ForParts => "used",
        }
    }
}

impl fmt::Display for Condition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Condition {
    type Err = ValidationError;
    fn from_str(s: &str) -> Result<Condition, ValidationError> {
        let norm = s.trim().to_ascii_lowercase().replace(['_', ' '], "-");
        Condition::ALL
            .iter()
            .find(|c| c.as_str() == norm || c.as_str().replace('-', "") == norm)
            .copied()
            .ok_or_else(|| {
                ValidationError::invalid(
                    "condition",
                    format!(
                        "'{}' is not one of new, like-new, good, fair, for-parts",
                        s.trim()
                    ),
                )
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_and_slugs_round_trip() {
        for c in Category::ALL {
            assert_eq!(Category::from_code(c.code()), Some(c));
            assert_eq!(c.as_str().parse::<Category>().unwrap(), c);
        }
        assert_eq!(Category::Bikes.code(), 3);
        assert_eq!(Category::Other.code(), 20);
        assert!(Category::from_code(0).is_none() && Category::from_code(21).is_none());
        for c in Condition::ALL {
            assert_eq!(Condition::from_code(c.code()), Some(c));
        }
        assert_eq!(
            " Like_New ".parse::<Condition>().unwrap(),
            Condition::LikeNew
        );
        assert!("USED".parse::<Condition>().is_err());
    }
}
