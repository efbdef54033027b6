//! The user's wanted posts: drafts become signed wanted posts that go through the one ingest
//! path, as the user's listings do.

use serde::{Deserialize, Serialize};
use swapmeet_protocol::{geo, Category, ListingId, Location, Price, Wanted};

use crate::authoring::{invalid, random_key, Author, AuthorError, Current, Published};
use crate::authoring::{DEFAULT_EXPIRES_IN_SECS, LOCATION_PRECISION};

/// Prefix of the item keys of wanted posts: a wanted post shares the id space of its poster's
/// listings, and a key of its own keeps the two apart.
pub const WANTED_KEY_PREFIX: &str = "wanted-";

/// A wanted post as a person writes it.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WantedDraft {
    /// What is wanted.
    pub title: String,
    /// More about it.
    #[serde(default)]
    pub description: Option<String>,
    /// The most the user would pay: "300 EUR", "300" (home currency), "free".
    pub max_price: String,
    /// Category slug.
    pub category: String,
    /// "LAT,LON"; the home location when absent.
    #[serde(default)]
    pub location: Option<String>,
    /// Place name shown with the location.
    #[serde(default)]
    pub place: Option<String>,
    /// Lifetime from now, seconds (default 14 days, at most 30).
    #[serde(default)]
    pub expires_in_secs: Option<u64>,
}

impl Author {
    /// Publishes a new wanted post. Blocking.
    pub fn post_wanted(&self, d: &WantedDraft) -> Result<Published, AuthorError> {
        let (currency, home) = self.home();
        let now = self.engine().now();
        let max_price =
            Price::parse(&d.max_price, Some(currency)).map_err(|e| invalid("max_price", e))?;
        let category: Category = d.category.parse().map_err(|e| invalid("category", e))?;
        let (lat, lon) = match &d.location {
            Some(text) => geo::parse_lat_lon(text).map_err(|e| invalid("location", e))?,
            None => home.ok_or_else(|| {
                invalid(
                    "location",
                    "a wanted post needs a location: pass --near LAT,LON or set a home location with `swapmeet init --location`",
                )
            })?,
        };
        let secs = d.expires_in_secs.unwrap_or(DEFAULT_EXPIRES_IN_SECS);
        let post = Wanted {
            item_key: format!("{WANTED_KEY_PREFIX}{}", random_key()),
            seq: 1,
            signed_at: now,
            expires_at: now.saturating_add(secs),
            title: d.title.trim().to_string(),
            description: d.description.clone().unwrap_or_default(),
            max_price,
            category,
            location: Location {
                geohash: geo::encode(lat, lon, LOCATION_PRECISION),
                place: d
                    .place
                    .as_ref()
                    .map(|p| p.trim().to_string())
                    .filter(|p| !p.is_empty()),
            },
        };
        self.publish_wanted(&post)
    }

    /// Renews a wanted post: a new version with a new expiry. Blocking.
    pub(crate) fn renew_wanted(
        &self,
        id: &ListingId,
        mut post: Wanted,
        secs: u64,
    ) -> Result<Published, AuthorError> {
        let now = self.engine().now();
        post.seq = self.next_seq(id)?;
        post.signed_at = now;
        post.expires_at = now.saturating_add(secs);
        self.publish_wanted(&post)
    }

    /// One of the user's wanted posts, as it is stored now (`None`: not a wanted post of
    /// ours, or withdrawn). Blocking.
    pub fn own_wanted(&self, id: &ListingId) -> Result<Option<Wanted>, AuthorError> {
        Ok(match self.current(id)? {
            Some(Current::Wanted(w)) => Some(*w),
            _ => None,
        })
    }

    fn publish_wanted(&self, post: &Wanted) -> Result<Published, AuthorError> {
        // The protocol's rejection names the field and the limit.
        let env = post.sign(self.key()).map_err(AuthorError::Refused)?;
        self.publish(env)
    }
}
