//! Reputation: per key, how many deals it is known to have made and the average rating the
//! other parties gave it, counted from deal-bound reviews only.
//!
//! Kept incrementally as reviews are stored ([`crate::market::reviews`] calls it under its write
//! lock), so showing a seller's figures or filtering a search by them never scans reviews.
//! Rebuilt from the stored reviews when the node starts, like the store's other lookups.
//!
//! What counts:
//! - **deals**: the deals with at least one review in which the key is a party (the reviewer
//!   or the reviewed). A deal nobody reviewed is known only to its two parties.
//! - **reviews** and **average rating**: the reviews about the key, one per party per deal
//!   (a later review by the same party replaces its earlier one, and only the later counts).

use std::collections::HashMap;

use serde::{Deserialize, Serialize};
use swapmeet_protocol::PublicKey;

/// A key's figures, as the API shows them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Reputation {
    /// Deals the key made that someone reviewed.
    pub deals: u32,
    /// Reviews about the key.
    pub reviews: u32,
    /// The mean of their ratings (1 to 5), `None` without reviews.
    pub average_rating: Option<f64>,
}

#[derive(Clone, Copy, Debug, Default)]
struct Tally {
    deals: u32,
    reviews: u32,
    rating_sum: u64,
}

impl Tally {
    fn reputation(&self) -> Reputation {
        Reputation {
            deals: self.deals,
            reviews: self.reviews,
            average_rating: (self.reviews > 0)
                .then(|| self.rating_sum as f64 / f64::from(self.reviews)),
        }
    }
}

/// The figures of every key that took part in a reviewed deal.
#[derive(Debug, Default)]
pub struct ReputationTable {
    by_key: HashMap<[u8; 32], Tally>,
}

impl ReputationTable {
    /// A deal became known (its first review was stored): both parties count one more deal.
    pub fn add_deal(&mut self, a: &PublicKey, b: &PublicKey) {
        for k in [a, b] {
            let t = self.by_key.entry(*k.as_bytes()).or_default();
            t.deals = t.deals.saturating_add(1);
        }
    }

    /// A new review about `about` (not replacing one).
    pub fn add_rating(&mut self, about: &PublicKey, rating: u8) {
        let t = self.by_key.entry(*about.as_bytes()).or_default();
        t.reviews = t.reviews.saturating_add(1);
        t.rating_sum = t.rating_sum.saturating_add(u64::from(rating));
    }

    /// A review about `about` replaced the same party's earlier one about the same deal.
    pub fn replace_rating(&mut self, about: &PublicKey, old: u8, new: u8) {
        let t = self.by_key.entry(*about.as_bytes()).or_default();
        t.rating_sum = t
            .rating_sum
            .saturating_sub(u64::from(old))
            .saturating_add(u64::from(new));
    }

    /// The figures of a key (all zero for a key without reviewed deals).
    pub fn get(&self, key: &PublicKey) -> Reputation {
        self.by_key
            .get(key.as_bytes())
            .map(Tally::reputation)
            .unwrap_or_default()
    }

    /// The keys reviewed at least once whose average rating is at least `min`. Reads the
    /// table (one entry per reviewed key), never the reviews.
    pub fn keys_rated_at_least(&self, min: f64) -> Vec<PublicKey> {
        self.by_key
            .iter()
            .filter(|(_, t)| t.reputation().average_rating.is_some_and(|r| r >= min))
            .filter_map(|(k, _)| PublicKey::from_bytes(k).ok())
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use swapmeet_protocol::SecretKey;

    #[test]
    fn figures_follow_new_and_replaced_reviews() {
        let a = SecretKey::from_bytes([1; 32]).public();
        let b = SecretKey::from_bytes([2; 32]).public();
        let mut t = ReputationTable::default();
        assert_eq!(t.get(&a), Reputation::default());
        t.add_deal(&a, &b);
        t.add_rating(&a, 5);
        t.add_deal(&a, &b);
        t.add_rating(&a, 2);
        assert_eq!(
            t.get(&a),
            Reputation {
                deals: 2,
                reviews: 2,
                average_rating: Some(3.5)
            }
        );
        // The second review's author changed its mind: 2 becomes 4.
        t.replace_rating(&a, 2, 4);
        assert_eq!(t.get(&a).average_rating, Some(4.5));
        assert_eq!(t.get(&a).reviews, 2);
        // b made the deals but nobody rated it.
        assert_eq!(
            t.get(&b),
            Reputation {
                deals: 2,
                reviews: 0,
                average_rating: None
            }
        );
        assert_eq!(t.keys_rated_at_least(4.5), vec![a]);
        assert!(t.keys_rated_at_least(4.6).is_empty());
    }
}
