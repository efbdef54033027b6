//! Listings the local user writes: drafts from the CLI or API become signed versions that go
//! through the same ingest path as everyone else's, and are flushed to disk before the user is
//! told they exist.

use serde::{Deserialize, Serialize};
use swapmeet_protocol::{
    geo, Category, Condition, CountryCode, Currency, Delivery, Listing, ListingId, Location, Price,
    Record, SecretKey, Variant, VariantOption, Wanted, WithdrawReason, Withdrawal,
};

use crate::engine::{Engine, EngineError};
use crate::events::Source;
use crate::ingest::IngestOutcome;
use crate::media::PhotoLibrary;

/// Default lifetime of a new listing.
pub const DEFAULT_EXPIRES_IN_SECS: u64 = 14 * 86_400;
/// Geohash precision of a listing's public location: ~1.2 x 0.6 km, never an address.
pub const LOCATION_PRECISION: usize = 6;

/// A listing as a person writes it. For updates every field is optional and only the given
/// ones change.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListingDraft {
    /// Title.
    #[serde(default)]
    pub title: Option<String>,
    /// Plain-text description.
    #[serde(default)]
    pub description: Option<String>,
    /// "25 EUR", "25" (home currency), "free".
    #[serde(default)]
    pub price: Option<String>,
    /// Condition slug.
    #[serde(default)]
    pub condition: Option<String>,
    /// Category slug.
    #[serde(default)]
    pub category: Option<String>,
    /// Tags.
    #[serde(default)]
    pub tags: Option<Vec<String>>,
    /// "LAT,LON".
    #[serde(default)]
    pub location: Option<String>,
    /// Place name shown with the location.
    #[serde(default)]
    pub place: Option<String>,
    /// Quantity.
    #[serde(default)]
    pub quantity: Option<u32>,
    /// Pickup possible.
    #[serde(default)]
    pub pickup: Option<bool>,
    /// Ships.
    #[serde(default)]
    pub shipping: Option<bool>,
    /// Countries it ships to (implies shipping).
    #[serde(default)]
    pub ships_to: Option<Vec<String>>,
    /// Lifetime from now, seconds.
    #[serde(default)]
    pub expires_in_secs: Option<u64>,
    /// The item key (stable id of the item for its seller); random when absent.
    #[serde(default)]
    pub key: Option<String>,
    /// Variants (sizes, colours) replacing the listing's; an empty list removes them. With
    /// variants, the listing's quantity is their total and `price` is the price of every
    /// variant that gives none of its own.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub variants: Option<Vec<VariantDraft>>,
    /// Photos, in order, by hash (hex): each a photo uploaded with `POST /v1/photos` or one
    /// the listing already has. Replaces the listing's photos; an empty list removes them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub photos: Option<Vec<String>>,
}

/// A variant as a person (or the bridge) writes it.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VariantDraft {
    /// Option values, e.g. `[{"name": "size", "value": "M"}]`.
    pub options: Vec<VariantOption>,
    /// Its price ("52 EUR") when it differs from the listing's.
    #[serde(default)]
    pub price: Option<String>,
    /// Quantity on offer; 0 is out of stock.
    pub quantity: u32,
    /// The seller's SKU of the variant.
    #[serde(default)]
    pub sku: Option<String>,
}

/// Why the user's request was refused.
#[derive(Debug, thiserror::Error)]
pub enum AuthorError {
    /// A field is invalid.
    #[error("{field}: {reason}")]
    Invalid {
        /// The field.
        field: &'static str,
        /// What is wrong.
        reason: String,
    },
    /// No such listing.
    #[error("no listing {0} is known to this node")]
    NotFound(ListingId),
    /// The listing belongs to another seller.
    #[error("listing {0} belongs to another seller; only its seller can change it")]
    NotYours(ListingId),
    /// The listing was withdrawn; a withdrawn listing is changed by renewing it.
    #[error("listing {0} was withdrawn; `swapmeet renew {0}` lists it again")]
    Withdrawn(ListingId),
    /// The signed result did not pass validation.
    #[error("{0}")]
    Rejected(String),
    /// A field of the draft broke a rule of the protocol (the API names the field).
    #[error("{0}")]
    Refused(#[from] swapmeet_protocol::ValidationError),
    /// Storage failed.
    #[error(transparent)]
    Engine(#[from] EngineError),
}

/// The error of a listing edit aimed at a wanted post.
fn wanted_not_listing(id: &ListingId) -> AuthorError {
    invalid(
        "id",
        format!(
            "{id} is a wanted post, not a listing; `swapmeet want renew|withdraw {id}` change it"
        ),
    )
}

pub(crate) fn invalid(field: &'static str, reason: impl std::fmt::Display) -> AuthorError {
    AuthorError::Invalid {
        field,
        reason: reason.to_string(),
    }
}

/// What was published.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Published {
    /// Listing id.
    pub id: ListingId,
    /// Version.
    pub seq: u64,
    /// Expiry (listings) or retention end (withdrawals).
    pub expires_at: u64,
    /// Envelope hash (hex).
    pub hash: String,
}

/// What an update did.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Updated {
    /// The listing's version now: the new one, or the current one when nothing changed.
    #[serde(flatten)]
    pub published: Published,
    /// Whether a new version was signed and published. False when every field given equals
    /// the current value: a version that changes nothing would only cost every peer a
    /// download and push the listing up "newest" for nothing.
    pub changed: bool,
}

/// Writes and signs the local user's listings.
#[derive(Clone)]
pub struct Author {
    key: SecretKey,
    currency: Currency,
    home_location: Option<(f64, f64)>,
    engine: Engine,
    photos: Option<PhotoLibrary>,
}

/// The current version of a listing (or wanted post) of ours, and what it is.
pub(crate) enum Current {
    Listing(Box<Listing>),
    Withdrawn,
    /// A wanted post: shares the id space, renewed and withdrawn like a listing, never edited
    /// as one.
    Wanted(Box<Wanted>),
}

impl Author {
    /// A writer for the user with `key`, with the home defaults.
    pub fn new(
        key: SecretKey,
        currency: Currency,
        home_location: Option<(f64, f64)>,
        engine: Engine,
    ) -> Author {
        Author {
            key,
            currency,
            home_location,
            engine,
            photos: None,
        }
    }

    /// This writer with the user's photo library: drafts may then name uploaded photos.
    pub fn with_photos(mut self, photos: PhotoLibrary) -> Author {
        self.photos = Some(photos);
        self
    }

    /// The user's photo library, when the node keeps one.
    pub fn photos(&self) -> Option<&PhotoLibrary> {
        self.photos.as_ref()
    }

    /// The engine.
    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    /// The user's secret key (the network layer derives the libp2p identity from it).
    pub fn key(&self) -> &SecretKey {
        &self.key
    }

    /// Creates a listing. Blocking.
    pub fn create(&self, draft: &ListingDraft) -> Result<Published, AuthorError> {
        let listing = self.build_create(draft)?;
        self.publish_listing(&listing)
    }

    fn build_create(&self, draft: &ListingDraft) -> Result<Listing, AuthorError> {
        let now = self.engine.now();
        let key = match &draft.key {
            Some(k) => k.clone(),
            None => random_key(),
        };
        let id = ListingId::derive(&self.key.public(), &key);
        if let Some(cur) = self.current(&id)? {
            // An explicit key that is already in use would silently overwrite a listing.
            if !matches!(cur, Current::Withdrawn) {
                return Err(invalid(
                    "key",
                    format!("item key '{key}' is already used by listing {id}; use `swapmeet update {id}`"),
                ));
            }
        }
        let title = draft
            .title
            .clone()
            .ok_or_else(|| invalid("title", "is required"))?;
        let price = draft
            .price
            .as_deref()
            .ok_or_else(|| invalid("price", "is required (e.g. \"25 EUR\" or \"free\")"))?;
        let mut listing = Listing {
            item_key: key,
            seq: self.next_seq(&id)?,
            signed_at: now,
            expires_at: now + draft.expires_in_secs.unwrap_or(DEFAULT_EXPIRES_IN_SECS),
            title,
            description: String::new(),
            price: self.price(price)?,
            condition: Condition::Good,
            category: Category::Other,
            tags: Vec::new(),
            quantity: 1,
            location: None,
            delivery: Delivery {
                pickup: true,
                shipping: false,
                ships_to: Vec::new(),
            },
            images: Vec::new(),
            variants: Vec::new(),
            stamp: None,
        };
        if draft.location.is_none() {
            if let Some((lat, lon)) = self.home_location {
                listing.location = Some(Location {
                    geohash: geo::encode(lat, lon, LOCATION_PRECISION),
                    place: None,
                });
            }
        }
        self.apply_draft(&mut listing, draft)?;
        self.stamp(&mut listing)?;
        Ok(listing)
    }

    /// Gives a listing without a stamp its place in the key's allowance: within the free
    /// allowance it needs none; beyond it (or re-posting another listing's title and photos)
    /// it gets the lowest free slot and the proof of work that slot costs. A stamped listing
    /// keeps its stamp in every later version.
    fn stamp(&self, listing: &mut Listing) -> Result<(), AuthorError> {
        if listing.stamp.is_some() {
            return Ok(());
        }
        let seller = self.key.public();
        let id = listing.id(&seller);
        let slot = self
            .engine
            .allowance()
            .plan(
                &seller,
                id,
                listing.duplicate_fingerprint(),
                listing.expires_at,
                self.engine.now(),
            )
            .map_err(|e| AuthorError::Rejected(e.to_string()))?;
        if let Some(slot) = slot {
            listing.stamp = Some(
                swapmeet_protocol::Stamp::mint(&seller, &id, slot).map_err(AuthorError::Refused)?,
            );
        }
        Ok(())
    }

    /// The home currency and location: a wanted post's defaults.
    pub(crate) fn home(&self) -> (Currency, Option<(f64, f64)>) {
        (self.currency, self.home_location)
    }

    /// Whether there is a home location to place listings at.
    pub fn has_home_location(&self) -> bool {
        self.home_location.is_some()
    }

    /// Lists the item under `key`: a new version of the listing if it is live, otherwise a
    /// (re)listing. The bridge uses this with complete drafts. Blocking.
    pub fn upsert(&self, key: &str, draft: &ListingDraft) -> Result<Published, AuthorError> {
        let draft = ListingDraft {
            key: Some(key.to_string()),
            ..draft.clone()
        };
        let env = self.prepare_upsert(key, &draft)?;
        self.publish(env)
    }

    /// Signs (without publishing) the version `upsert` would publish, for batches.
    pub fn prepare_upsert(
        &self,
        key: &str,
        draft: &ListingDraft,
    ) -> Result<swapmeet_protocol::SignedEnvelope, AuthorError> {
        let id = ListingId::derive(&self.key.public(), key);
        let draft = ListingDraft {
            key: Some(key.to_string()),
            ..draft.clone()
        };
        let listing = match self.current(&id)? {
            Some(Current::Listing(_)) => self.build_update(&id, &draft)?,
            _ => self.build_create(&draft)?,
        };
        listing.sign(&self.key).map_err(AuthorError::Refused)
    }

    /// Signs (without publishing) a withdrawal, for batches.
    pub fn prepare_withdraw(
        &self,
        id: &ListingId,
        reason: WithdrawReason,
    ) -> Result<swapmeet_protocol::SignedEnvelope, AuthorError> {
        let w = self.build_withdrawal(id, reason)?;
        w.sign(&self.key).map_err(AuthorError::Refused)
    }

    /// Publishes signed versions in one batch and makes them durable with one flush. The
    /// outer error is a storage failure; each item has its own result.
    pub fn publish_batch(
        &self,
        envs: Vec<swapmeet_protocol::SignedEnvelope>,
    ) -> Result<Vec<Result<Published, AuthorError>>, AuthorError> {
        if envs.is_empty() {
            return Ok(Vec::new());
        }
        let outcomes = self.engine.ingest(envs, Source::Local)?;
        // Durable before acknowledged: the user is told only what survives a crash.
        self.engine.durable()?;
        self.release_photos();
        let mut out = Vec::with_capacity(outcomes.len());
        for o in outcomes {
            out.push(self.published(o));
        }
        Ok(out)
    }

    /// Changes the given fields of one of our listings; signs nothing when they all equal the
    /// current values (`changed: false`). Blocking.
    pub fn update(&self, id: &ListingId, draft: &ListingDraft) -> Result<Updated, AuthorError> {
        let listing = self.build_update(id, draft)?;
        if let Some(current) = self.unchanged_by(id, &listing)? {
            return Ok(Updated {
                published: current,
                changed: false,
            });
        }
        Ok(Updated {
            published: self.publish_listing(&listing)?,
            changed: true,
        })
    }

    /// The current version of `id`, when `next` differs from it only in its version number
    /// and signing time (a new expiry, given or because it had expired, is a change).
    fn unchanged_by(
        &self,
        id: &ListingId,
        next: &Listing,
    ) -> Result<Option<Published>, AuthorError> {
        let Some(Current::Listing(current)) = self.current(id)? else {
            return Ok(None);
        };
        let same = Listing {
            seq: current.seq,
            signed_at: current.signed_at,
            ..next.clone()
        } == *current;
        if !same {
            return Ok(None);
        }
        Ok(self.engine.get(id)?.map(|rec| Published {
            id: *id,
            seq: rec.seq,
            expires_at: rec.expires_at,
            hash: rec.hash.to_string(),
        }))
    }

    fn build_update(&self, id: &ListingId, draft: &ListingDraft) -> Result<Listing, AuthorError> {
        let mut listing = match self.current(id)? {
            None => return Err(AuthorError::NotFound(*id)),
            Some(Current::Withdrawn) => return Err(AuthorError::Withdrawn(*id)),
            Some(Current::Wanted(_)) => return Err(wanted_not_listing(id)),
            Some(Current::Listing(l)) => *l,
        };
        if draft.key.as_ref().is_some_and(|k| *k != listing.item_key) {
            return Err(invalid("key", "the item key of a listing cannot change"));
        }
        let now = self.engine.now();
        listing.seq = self.next_seq(id)?;
        listing.signed_at = now;
        if let Some(secs) = draft.expires_in_secs {
            listing.expires_at = now + secs;
        } else if listing.expires_at <= now {
            listing.expires_at = now + DEFAULT_EXPIRES_IN_SECS;
        }
        self.apply_draft(&mut listing, draft)?;
        self.stamp(&mut listing)?;
        Ok(listing)
    }

    /// Renews a listing (a new version with a new expiry); also relists a withdrawn one.
    /// Blocking.
    pub fn renew(
        &self,
        id: &ListingId,
        expires_in_secs: Option<u64>,
    ) -> Result<Published, AuthorError> {
        let now = self.engine.now();
        let secs = expires_in_secs.unwrap_or(swapmeet_protocol::limits::MAX_LIFETIME_SECS);
        let mut listing = match self.current(id)? {
            None => return Err(AuthorError::NotFound(*id)),
            Some(Current::Listing(l)) => *l,
            Some(Current::Wanted(w)) => return self.renew_wanted(id, *w, secs),
            Some(Current::Withdrawn) => {
                // The withdrawal carries no listing; the last listing version is gone from the
                // store, so relisting needs the details again.
                return Err(invalid(
                    "id",
                    format!("listing {id} was withdrawn and its details are gone; sell it again with `swapmeet sell`"),
                ));
            }
        };
        listing.seq = self.next_seq(id)?;
        listing.signed_at = now;
        listing.expires_at = now + secs;
        self.publish_listing(&listing)
    }

    /// Withdraws a listing (sold or withdrawn). Blocking.
    pub fn withdraw(
        &self,
        id: &ListingId,
        reason: WithdrawReason,
    ) -> Result<Published, AuthorError> {
        let env = self.prepare_withdraw(id, reason)?;
        self.publish(env)
    }

    /// Withdraws a listing with the withdrawal signed no earlier than `not_before` (unix
    /// seconds; at most a few seconds ahead). The market sells out a listing this way: the
    /// negotiation rules ignore moves sent at or after a withdrawal, so the withdrawal that a
    /// sale causes must be signed after the accept it sells to. Blocking.
    pub fn withdraw_not_before(
        &self,
        id: &ListingId,
        reason: WithdrawReason,
        not_before: u64,
    ) -> Result<Published, AuthorError> {
        let mut w = self.build_withdrawal(id, reason)?;
        w.signed_at = w.signed_at.max(not_before);
        let env = w.sign(&self.key).map_err(AuthorError::Refused)?;
        self.publish(env)
    }

    fn build_withdrawal(
        &self,
        id: &ListingId,
        reason: WithdrawReason,
    ) -> Result<Withdrawal, AuthorError> {
        let listing = match self.current(id)? {
            None => return Err(AuthorError::NotFound(*id)),
            Some(Current::Withdrawn) => return Err(AuthorError::Withdrawn(*id)),
            Some(Current::Wanted(w)) => {
                // A wanted post is withdrawn like a listing, routed to its cell.
                return Ok(Withdrawal {
                    item_key: w.item_key.clone(),
                    seq: self.next_seq(id)?,
                    signed_at: self.engine.now(),
                    reason,
                    area: Some(w.location.geohash.clone()),
                    ships: false,
                });
            }
            Some(Current::Listing(l)) => *l,
        };
        Ok(Withdrawal {
            item_key: listing.item_key.clone(),
            seq: self.next_seq(id)?,
            signed_at: self.engine.now(),
            reason,
            area: listing.location.as_ref().map(|l| l.geohash.clone()),
            ships: listing.delivery.shipping,
        })
    }

    fn publish_listing(&self, listing: &Listing) -> Result<Published, AuthorError> {
        let env = listing.sign(&self.key).map_err(AuthorError::Refused)?;
        self.publish(env)
    }

    pub(crate) fn publish(
        &self,
        env: swapmeet_protocol::SignedEnvelope,
    ) -> Result<Published, AuthorError> {
        self.publish_batch(vec![env])?
            .pop()
            .unwrap_or_else(|| Err(AuthorError::Rejected("nothing was stored".into())))
    }

    fn published(&self, outcome: IngestOutcome) -> Result<Published, AuthorError> {
        match outcome {
            IngestOutcome::Stored { id, seq, hash, .. } => {
                let expires_at = self
                    .engine
                    .get(&id)?
                    .map(|r| r.expires_at)
                    .unwrap_or_default();
                Ok(Published {
                    id,
                    seq,
                    expires_at,
                    hash: hash.to_string(),
                })
            }
            IngestOutcome::Rejected { reason, .. }
            | IngestOutcome::OverAllowance { reason, .. } => Err(AuthorError::Rejected(reason)),
            other => Err(AuthorError::Rejected(format!(
                "the store did not take the new version ({})",
                other.label()
            ))),
        }
    }

    /// Releases to the cache the user's photos that none of the user's listings names any
    /// more (a photo removed by an update, the photos of a withdrawn listing). Best effort: a
    /// photo kept too long costs disk, never correctness.
    fn release_photos(&self) {
        let Some(lib) = &self.photos else { return };
        if lib.blobs().usage().own_count == 0 {
            return;
        }
        let named = match self.named_photos() {
            Ok(n) => n,
            Err(e) => {
                tracing::warn!(error = %e, "listing the photos of own listings failed");
                return;
            }
        };
        if let Err(e) = lib.release_unnamed(&named) {
            tracing::warn!(error = %e, "releasing photos no listing names failed");
        }
    }

    /// Removes an uploaded photo no listing of the user names (an abandoned upload). Whether
    /// it was removed. Blocking.
    pub fn discard_photo(&self, hash: &[u8; 32]) -> Result<bool, AuthorError> {
        let Some(lib) = &self.photos else {
            return Ok(false);
        };
        let named = self.named_photos()?;
        lib.discard(hash, &named)
            .map_err(|e| AuthorError::Rejected(e.to_string()))
    }

    /// The photos and thumbnails the user's stored listings name (expired ones too: they can
    /// be renewed).
    fn named_photos(&self) -> Result<std::collections::HashSet<[u8; 32]>, AuthorError> {
        let mut named = std::collections::HashSet::new();
        for rec in self.engine.records_of(&self.key.public())? {
            let Ok(parts) = swapmeet_protocol::decode_stored(&rec.envelope) else {
                continue;
            };
            if let Record::Listing(l) = parts.record {
                for i in &l.images {
                    named.insert(i.hash);
                    if let Some(t) = &i.thumb {
                        named.insert(t.hash);
                    }
                }
            }
        }
        Ok(named)
    }

    /// The current version of one of our listings.
    pub(crate) fn current(&self, id: &ListingId) -> Result<Option<Current>, AuthorError> {
        let Some(rec) = self.engine.get(id)? else {
            return Ok(None);
        };
        if rec.summary.seller != self.key.public().to_string() {
            return Err(AuthorError::NotYours(*id));
        }
        let Some(v) = self.engine.get_verified(id)? else {
            // Stored but no longer valid by the clock (expired, not yet swept): still ours to
            // renew or withdraw.
            return Ok(self.own_expired(&rec));
        };
        Ok(match v.into_parts().1 {
            Record::Listing(l) => Some(Current::Listing(Box::new(l))),
            Record::Withdrawal(_) => Some(Current::Withdrawn),
            Record::Wanted(w) => Some(Current::Wanted(Box::new(w))),
            // The user's block list is published on its own path (`crate::blocklists`); its
            // id is never a listing's.
            Record::BlockList(_) => None,
        })
    }

    /// An expired listing of ours (its verification now fails on the clock rule only): verify
    /// it as of the second before it expired, which still checks signature and structure.
    fn own_expired(&self, rec: &crate::store::StoredRecord) -> Option<Current> {
        let env = swapmeet_protocol::SignedEnvelope::decode(&rec.envelope).ok()?;
        if env.signer() != self.key.public() {
            return None;
        }
        let at = rec.expires_at.saturating_sub(1);
        match swapmeet_protocol::verify_batch(vec![env], at)
            .pop()?
            .ok()?
            .into_parts()
            .1
        {
            Record::Listing(l) => Some(Current::Listing(Box::new(l))),
            Record::Withdrawal(_) => Some(Current::Withdrawn),
            Record::Wanted(w) => Some(Current::Wanted(Box::new(w))),
            Record::BlockList(_) => None,
        }
    }

    /// A seq larger than any version of this listing: the time in milliseconds, so that a
    /// seller restoring their key on a new machine (without the old store) still moves forward.
    pub(crate) fn next_seq(&self, id: &ListingId) -> Result<u64, AuthorError> {
        let now_ms = self.engine.now().saturating_mul(1000);
        let prev = self.engine.get(id)?.map(|r| r.seq).unwrap_or(0);
        Ok(now_ms.max(prev + 1))
    }

    fn price(&self, text: &str) -> Result<Price, AuthorError> {
        Price::parse(text, Some(self.currency)).map_err(|e| invalid("price", e))
    }

    fn apply_draft(&self, l: &mut Listing, d: &ListingDraft) -> Result<(), AuthorError> {
        if let Some(t) = &d.title {
            l.title = t.trim().to_string();
        }
        if let Some(t) = &d.description {
            l.description = t.clone();
        }
        if let Some(p) = &d.price {
            l.price = self.price(p)?;
        }
        if let Some(c) = &d.condition {
            l.condition = c.parse().map_err(|e| invalid("condition", e))?;
        }
        if let Some(c) = &d.category {
            l.category = c.parse().map_err(|e| invalid("category", e))?;
        }
        if let Some(tags) = &d.tags {
            l.tags = tags.iter().map(|t| t.trim().to_lowercase()).collect();
        }
        if let Some(vs) = &d.variants {
            l.variants = vs
                .iter()
                .map(|v| {
                    Ok(Variant {
                        options: v
                            .options
                            .iter()
                            .map(|o| VariantOption {
                                name: o.name.trim().to_string(),
                                value: o.value.trim().to_string(),
                            })
                            .collect(),
                        price: v.price.as_deref().map(|p| self.price(p)).transpose()?,
                        quantity: v.quantity,
                        sku: v.sku.clone().filter(|s| !s.trim().is_empty()),
                    })
                })
                .collect::<Result<_, AuthorError>>()?;
        }
        if let Some(q) = d.quantity {
            l.quantity = q;
        }
        if let Some(photos) = &d.photos {
            l.images = self.resolve_photos(&l.images, photos)?;
        }
        if !l.variants.is_empty() {
            // A variant priced like the listing follows the listing's price (the protocol
            // writes a variant's price only when it differs).
            for v in &mut l.variants {
                if v.price == Some(l.price) {
                    v.price = None;
                }
            }
            let total: u64 = l.variants.iter().map(|v| u64::from(v.quantity)).sum();
            if d.quantity.is_some_and(|q| u64::from(q) != total) {
                return Err(invalid(
                    "quantity",
                    format!("this listing has variants holding {total}; change the variants' quantities instead"),
                ));
            }
            l.quantity = u32::try_from(total).unwrap_or(u32::MAX);
        }
        if let Some(loc) = &d.location {
            let (lat, lon) = geo::parse_lat_lon(loc).map_err(|e| invalid("location", e))?;
            l.location = Some(Location {
                geohash: geo::encode(lat, lon, LOCATION_PRECISION),
                place: l.location.as_ref().and_then(|x| x.place.clone()),
            });
        }
        if let Some(place) = &d.place {
            match &mut l.location {
                Some(loc) => loc.place = Some(place.trim().to_string()).filter(|p| !p.is_empty()),
                None => {
                    return Err(invalid(
                        "place",
                        "needs a location (--location LAT,LON or a home location from `swapmeet init --location`)",
                    ))
                }
            }
        }
        if let Some(to) = &d.ships_to {
            l.delivery.ships_to = to
                .iter()
                .map(|c| CountryCode::new(c).map_err(|e| invalid("ships_to", e)))
                .collect::<Result<_, _>>()?;
            if !to.is_empty() {
                l.delivery.shipping = true;
            }
        }
        if let Some(s) = d.shipping {
            l.delivery.shipping = s;
            if d.pickup.is_none() && s && d.location.is_none() && l.location.is_none() {
                l.delivery.pickup = false;
            }
        }
        if let Some(p) = d.pickup {
            l.delivery.pickup = p;
        }
        if l.location.is_none() && !l.delivery.shipping {
            return Err(invalid(
                "location",
                "is required unless the item ships: pass --location LAT,LON, set a home location with `swapmeet init --location`, or --ships-to",
            ));
        }
        if !l.delivery.pickup && !l.delivery.shipping {
            return Err(invalid(
                "delivery",
                "an item must be available for pickup or shipping",
            ));
        }
        if l.location.is_none() {
            l.delivery.pickup = false;
        }
        l.validate().map_err(AuthorError::Refused)?;
        Ok(())
    }
}

impl Author {
    /// The image references of `photos` (hashes in hex): each one the listing already has
    /// (`current`) or one the user uploaded.
    fn resolve_photos(
        &self,
        current: &[swapmeet_protocol::ImageRef],
        photos: &[String],
    ) -> Result<Vec<swapmeet_protocol::ImageRef>, AuthorError> {
        let max = swapmeet_protocol::limits::MAX_IMAGES;
        if photos.len() > max {
            return Err(invalid(
                "photos",
                format!("{} photos given; a listing has at most {max}", photos.len()),
            ));
        }
        let mut out: Vec<swapmeet_protocol::ImageRef> = Vec::with_capacity(photos.len());
        for p in photos {
            let hash: [u8; 32] = hex::decode(p.trim())
                .ok()
                .and_then(|b| b.try_into().ok())
                .ok_or_else(|| {
                    invalid(
                        "photos",
                        format!("'{p}' is not a photo hash (64 hex digits)"),
                    )
                })?;
            if out.iter().any(|i| i.hash == hash) {
                return Err(invalid("photos", format!("photo {p} is given twice")));
            }
            let image = current
                .iter()
                .find(|i| i.hash == hash)
                .cloned()
                .or_else(|| self.photos.as_ref().and_then(|lib| lib.resolve(&hash)))
                .ok_or_else(|| {
                    invalid(
                        "photos",
                        format!("no uploaded photo {p} on this node; upload it first (POST /v1/photos, or `swapmeet sell --photo FILE`)"),
                    )
                })?;
            out.push(image);
        }
        Ok(out)
    }
}

pub(crate) fn random_key() -> String {
    let mut b = [0u8; 8];
    // getrandom failing means the OS has no entropy source; a time-based key is still unique
    // per seller in practice.
    if getrandom::fill(&mut b).is_err() {
        let t = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        b.copy_from_slice(&(t as u64).to_be_bytes());
    }
    hex::encode(b)
}
