//! The retailer bridge: keeps a shop's catalogue export in step with its listings.
//!
//! Each shop item maps to a stable listing id through its item key (derived by the feed parser
//! from the shop's own ids), and the bridge remembers, per item, a fingerprint of what it last
//! published. A run then publishes only what changed: new items are listed, changed ones get a
//! new version, items gone from the feed or out of stock are withdrawn, and items back in stock
//! are listed again. Nothing is published for an unchanged feed.
//!
//! A bad file must never make a mess of the shop: a bad row is skipped with its reason, and a
//! run that would withdraw more than a configurable share of the shop's listings (a truncated
//! or empty export, most likely) withdraws nothing unless forced, and says why.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use swapmeet_feeds::{Feed, FeedItem};
use swapmeet_protocol::{Category, Condition, ListingId, Price, WithdrawReason};

use crate::authoring::{Author, AuthorError, ListingDraft, VariantDraft};
use crate::engine::EngineError;
use crate::store::StoreError;

pub mod images;

use images::{ImageFetcher, TREE_BRIDGE_IMAGES};

/// The tree holding the bridge's per-item state.
pub const TREE_BRIDGE: &str = "bridge/v1";
/// Lifetime of bridge listings; they are renewed by a run once they are within
/// [`RENEW_WITHIN_SECS`] of expiring, so a shop that syncs regularly never lapses.
pub const BRIDGE_LIFETIME_SECS: u64 = 30 * 86_400;
/// How close to expiry an unchanged listing is renewed.
pub const RENEW_WITHIN_SECS: u64 = 7 * 86_400;
/// Default share of the shop's active listings one run may withdraw without `--force`.
pub const DEFAULT_MAX_WITHDRAW_SHARE: f64 = 0.5;
/// A run may always withdraw this many, whatever the share (a shop of 3 selling 2 is normal).
pub const WITHDRAW_FLOOR: usize = 5;

/// Errors that stop a run (bad rows never do).
#[derive(Debug, thiserror::Error)]
pub enum BridgeError {
    /// The bridge state could not be read or written.
    #[error("bridge state: {0}")]
    Store(#[from] StoreError),
    /// The engine failed.
    #[error(transparent)]
    Engine(#[from] EngineError),
    /// The state is damaged.
    #[error("bridge state for item {key} is damaged: {reason}")]
    Corrupt {
        /// Item key.
        key: String,
        /// What is wrong.
        reason: String,
    },
}

/// Options of a run.
#[derive(Clone, Debug)]
pub struct BridgeOptions {
    /// Show what would happen; publish nothing and change no state.
    pub dry_run: bool,
    /// Withdraw even past the guard.
    pub force: bool,
    /// The shop's location "LAT,LON" (default: the home location).
    pub location: Option<String>,
    /// Category for items whose feed has none.
    pub category: Option<Category>,
    /// Condition for items whose feed has none (shops sell new stock by default).
    pub condition: Option<Condition>,
    /// Share of active listings one run may withdraw without `force`.
    pub max_withdraw_share: f64,
    /// Withdraw items missing from the feed (false for partial pushes through the API).
    pub withdraw_missing: bool,
}

impl Default for BridgeOptions {
    fn default() -> Self {
        BridgeOptions {
            dry_run: false,
            force: false,
            location: None,
            category: None,
            condition: None,
            max_withdraw_share: DEFAULT_MAX_WITHDRAW_SHARE,
            withdraw_missing: true,
        }
    }
}

/// One skipped item.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct SkipNote {
    /// Row or item number in the feed.
    pub row: usize,
    /// The shop's id, when known.
    pub shop_id: Option<String>,
    /// Why.
    pub reason: String,
}

/// What a run did (or, dry, would do).
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct BridgeReport {
    /// Whether nothing was published.
    pub dry_run: bool,
    /// Items in the feed.
    pub items: usize,
    /// Newly listed.
    pub created: Vec<String>,
    /// New versions of changed items.
    pub updated: Vec<String>,
    /// Listed again after being out of stock or gone.
    pub relisted: Vec<String>,
    /// Withdrawn (gone from the feed or out of stock).
    pub withdrawn: Vec<String>,
    /// Unchanged (nothing published).
    pub unchanged: usize,
    /// Renewed because they were close to expiry.
    pub renewed: Vec<String>,
    /// Out of stock and not listed (nothing to withdraw).
    pub out_of_stock: usize,
    /// Skipped rows with reasons.
    pub skipped: Vec<SkipNote>,
    /// Warnings from the parser (shortened fields, encodings).
    pub warnings: Vec<SkipNote>,
    /// Why withdrawals were refused, when the guard held.
    pub withdrawals_refused: Option<String>,
}

impl BridgeReport {
    /// Number of listings published (versions signed) by the run.
    pub fn published(&self) -> usize {
        self.created.len()
            + self.updated.len()
            + self.relisted.len()
            + self.withdrawn.len()
            + self.renewed.len()
    }
}

/// One sync run, possibly spread over several API requests (chunks of a large feed).
#[derive(Debug, Default)]
pub struct Run {
    seen: BTreeSet<String>,
    to_withdraw: Vec<String>,
    report: BridgeReport,
}

impl Run {
    /// A new run.
    pub fn new(dry_run: bool) -> Run {
        Run {
            report: BridgeReport {
                dry_run,
                ..Default::default()
            },
            ..Default::default()
        }
    }

    /// Adds the parser's skips and warnings to the report.
    pub fn note_feed(&mut self, feed: &Feed) {
        self.note_skips(&feed.skipped);
        for w in &feed.warnings {
            self.report.warnings.push(SkipNote {
                row: w.row,
                shop_id: w.shop_id.clone(),
                reason: w.message.clone(),
            });
        }
    }

    /// Adds rows a parser skipped to the report.
    pub fn note_skips(&mut self, skipped: &[swapmeet_feeds::Skip]) {
        for s in skipped {
            self.report.skipped.push(SkipNote {
                row: s.row,
                shop_id: s.shop_id.clone(),
                reason: s.reason.clone(),
            });
        }
    }

    /// Asks for these item keys to be withdrawn when the run finishes.
    pub fn add_withdrawals(&mut self, keys: &[String]) {
        self.to_withdraw.extend(keys.iter().cloned());
    }

    /// The report so far.
    pub fn report(&self) -> &BridgeReport {
        &self.report
    }
}

impl BridgeReport {
    fn record(&mut self, action: Action, id: String) {
        match action {
            Action::Create => self.created.push(id),
            Action::Relist => self.relisted.push(id),
            Action::Update => self.updated.push(id),
            Action::Renew => self.renewed.push(id),
            Action::Nothing => {}
        }
    }
}

/// What the bridge remembers per item.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
struct ItemState {
    id: String,
    fingerprint: String,
    active: bool,
    expires_at: u64,
}

/// The bridge of one node (the shop's key is the node's key).
pub struct Bridge {
    author: Author,
    tree: sled::Tree,
    /// The store's durability point: a run reports its state only once durable.
    durable: crate::store::Durability,
    /// Downloads the feeds' images, when the writer keeps photos.
    images: Option<ImageFetcher>,
}

impl Bridge {
    /// The bridge over the node's writer. With the writer's photo library, items are listed
    /// with the images their feed links.
    pub fn new(author: Author) -> Result<Bridge, BridgeError> {
        let tree = author.engine().store().tree(TREE_BRIDGE)?;
        let durable = author.engine().store().durability().clone();
        let images = match author.photos() {
            Some(lib) => Some(ImageFetcher::new(
                lib.clone(),
                author.engine().store().tree(TREE_BRIDGE_IMAGES)?,
            )),
            None => None,
        };
        Ok(Bridge {
            author,
            tree,
            durable,
            images,
        })
    }

    fn state(&self) -> Result<BTreeMap<String, ItemState>, BridgeError> {
        let mut out = BTreeMap::new();
        for kv in self.tree.iter() {
            let (k, v) = kv.map_err(|source| {
                BridgeError::Store(StoreError::Sled {
                    context: "reading bridge state",
                    source,
                })
            })?;
            let key = String::from_utf8_lossy(&k).into_owned();
            let st: ItemState = serde_json::from_slice(&v).map_err(|e| BridgeError::Corrupt {
                key: key.clone(),
                reason: e.to_string(),
            })?;
            out.insert(key, st);
        }
        Ok(out)
    }

    /// Syncs a whole parsed feed: apply every item, then withdraw what is gone. Blocking.
    pub fn sync(&self, feed: &Feed, opts: &BridgeOptions) -> Result<BridgeReport, BridgeError> {
        let mut run = Run::new(opts.dry_run);
        run.note_feed(feed);
        self.complete(run, &feed.items, opts)
    }

    /// Completes a run with all of its items: applies them, then withdraws what is gone.
    /// The API calls this with the items a run staged over several requests once its final
    /// request arrives, so a run spread over requests publishes exactly what a file sync
    /// would, and nothing before its end. Blocking.
    pub fn complete(
        &self,
        mut run: Run,
        items: &[FeedItem],
        opts: &BridgeOptions,
    ) -> Result<BridgeReport, BridgeError> {
        // Chunks bound the envelopes signed and held before one batch is stored.
        for chunk in items.chunks(1024) {
            self.apply(&mut run, chunk, opts)?;
        }
        self.finish(run, opts)
    }

    /// Applies a chunk of a run's items (new, changed, back in stock, out of stock). Blocking.
    pub fn apply(
        &self,
        run: &mut Run,
        items: &[FeedItem],
        opts: &BridgeOptions,
    ) -> Result<(), BridgeError> {
        let now = self.author.engine().now();
        let report = &mut run.report;
        report.items += items.len();
        let mut pending: Vec<(&FeedItem, String, Action)> = Vec::new();
        let mut to_sign: Vec<(&FeedItem, ListingDraft, String, Action)> = Vec::new();
        let mut envs = Vec::new();
        for item in items {
            if !run.seen.insert(item.key.clone()) {
                report.skipped.push(SkipNote {
                    row: item.row,
                    shop_id: Some(item.shop_id.clone()),
                    reason: format!(
                        "duplicate item key '{}' (an earlier row has the same id)",
                        item.key
                    ),
                });
                continue;
            }
            let prev = self.item_state(&item.key)?;
            if !item.available {
                match &prev {
                    Some(p) if p.active => run.to_withdraw.push(item.key.clone()),
                    _ => report.out_of_stock += 1,
                }
                continue;
            }
            let draft = match self.draft(item, opts) {
                Ok(d) => d,
                Err(reason) => {
                    report.skipped.push(SkipNote {
                        row: item.row,
                        shop_id: Some(item.shop_id.clone()),
                        reason,
                    });
                    continue;
                }
            };
            let fingerprint = fingerprint(&self.fingerprinted(&draft, item));
            let action = match &prev {
                None => Action::Create,
                Some(p) if !p.active => Action::Relist,
                Some(p) if p.fingerprint != fingerprint => Action::Update,
                Some(p) if p.expires_at <= now + RENEW_WITHIN_SECS => Action::Renew,
                Some(_) => Action::Nothing,
            };
            if action == Action::Nothing {
                report.unchanged += 1;
                continue;
            }
            if opts.dry_run {
                let id = ListingId::derive(&self.author.key().public(), &item.key).to_string();
                report.record(action, id);
                continue;
            }
            to_sign.push((item, draft, fingerprint, action));
        }
        // The images of everything about to be published, downloaded together (bounded
        // parallelism); a broken one is a warning, never a skipped item.
        if let Some(fetcher) = &self.images {
            let links: Vec<&[String]> = to_sign
                .iter()
                .map(|(item, ..)| item.image_links.as_slice())
                .collect();
            let fetched = fetcher.fetch_items(&links);
            for ((item, draft, ..), got) in to_sign.iter_mut().zip(fetched) {
                draft.photos = Some(got.photos);
                for w in got.warnings {
                    report.warnings.push(SkipNote {
                        row: item.row,
                        shop_id: Some(item.shop_id.clone()),
                        reason: format!("{w}; listed without it"),
                    });
                }
            }
        }
        for (item, draft, fingerprint, action) in to_sign {
            match self.author.prepare_upsert(&item.key, &draft) {
                Ok(env) => {
                    envs.push(env);
                    pending.push((item, fingerprint, action));
                }
                Err(AuthorError::Engine(e)) => return Err(BridgeError::Engine(e)),
                Err(e) => report.skipped.push(SkipNote {
                    row: item.row,
                    shop_id: Some(item.shop_id.clone()),
                    reason: e.to_string(),
                }),
            }
        }
        // One batch, one flush: signing and ingest dominate, not fsyncs.
        let results = self.author.publish_batch(envs).map_err(|e| match e {
            AuthorError::Engine(e) => BridgeError::Engine(e),
            other => BridgeError::Corrupt {
                key: String::new(),
                reason: other.to_string(),
            },
        })?;
        let mut states = Vec::new();
        for ((item, fingerprint, action), result) in pending.into_iter().zip(results) {
            match result {
                Ok(p) => {
                    let st = ItemState {
                        id: p.id.to_string(),
                        fingerprint,
                        active: true,
                        expires_at: p.expires_at,
                    };
                    states.push((
                        item.key.clone(),
                        serde_json::to_vec(&st).unwrap_or_default(),
                    ));
                    report.record(action, st.id);
                }
                Err(e) => report.skipped.push(SkipNote {
                    row: item.row,
                    shop_id: Some(item.shop_id.clone()),
                    reason: e.to_string(),
                }),
            }
        }
        self.save_states(states)
    }

    /// Ends a run: withdraws the items that left the feed (and went out of stock), unless that
    /// is more than the guard allows. Blocking.
    pub fn finish(&self, mut run: Run, opts: &BridgeOptions) -> Result<BridgeReport, BridgeError> {
        let state = self.state()?;
        if opts.withdraw_missing {
            for (key, st) in &state {
                if st.active && !run.seen.contains(key) {
                    run.to_withdraw.push(key.clone());
                }
            }
        }
        let report = &mut run.report;
        let active = state.values().filter(|s| s.active).count();
        let allowed =
            ((active as f64 * opts.max_withdraw_share).floor() as usize).max(WITHDRAW_FLOOR);
        if run.to_withdraw.len() > allowed && !opts.force {
            report.withdrawals_refused = Some(format!(
                "this run would withdraw {} of the shop's {active} listings, more than the {:.0}% allowed in one run ({allowed}); \
                 an export that is truncated or empty looks like this. Nothing was withdrawn. \
                 If the shop really removed them, run again with --force",
                run.to_withdraw.len(),
                opts.max_withdraw_share * 100.0
            ));
            return Ok(run.report);
        }
        let mut envs = Vec::new();
        let mut pending = Vec::new();
        for key in &run.to_withdraw {
            let Some(st) = state.get(key) else { continue };
            if opts.dry_run {
                report.withdrawn.push(st.id.clone());
                continue;
            }
            let id: ListingId = st.id.parse().map_err(|e| BridgeError::Corrupt {
                key: key.clone(),
                reason: format!("listing id: {e}"),
            })?;
            match self.author.prepare_withdraw(&id, WithdrawReason::Withdrawn) {
                Ok(env) => {
                    envs.push(env);
                    pending.push((key, st));
                }
                // Already gone (withdrawn by hand, or expired and swept): just record it.
                Err(AuthorError::Withdrawn(_)) | Err(AuthorError::NotFound(_)) => {
                    pending.push((key, st))
                }
                Err(AuthorError::Engine(e)) => return Err(BridgeError::Engine(e)),
                Err(e) => report.skipped.push(SkipNote {
                    row: 0,
                    shop_id: Some(key.clone()),
                    reason: format!("withdrawing: {e}"),
                }),
            }
        }
        if !opts.dry_run {
            let results = self.author.publish_batch(envs).map_err(|e| match e {
                AuthorError::Engine(e) => BridgeError::Engine(e),
                other => BridgeError::Corrupt {
                    key: String::new(),
                    reason: other.to_string(),
                },
            })?;
            if let Some(Err(e)) = results.iter().find(|r| r.is_err()) {
                tracing::warn!(error = %e, "a bridge withdrawal was not stored");
            }
            let mut states = Vec::new();
            for (key, st) in pending {
                let st = ItemState {
                    active: false,
                    ..st.clone()
                };
                states.push((key.clone(), serde_json::to_vec(&st).unwrap_or_default()));
                report.withdrawn.push(st.id);
            }
            self.save_states(states)?;
            self.author.engine().commit()?;
        }
        Ok(run.report)
    }

    fn item_state(&self, key: &str) -> Result<Option<ItemState>, BridgeError> {
        let Some(v) = self.tree.get(key.as_bytes()).map_err(|source| {
            BridgeError::Store(StoreError::Sled {
                context: "reading bridge state",
                source,
            })
        })?
        else {
            return Ok(None);
        };
        serde_json::from_slice(&v)
            .map(Some)
            .map_err(|e| BridgeError::Corrupt {
                key: key.to_string(),
                reason: e.to_string(),
            })
    }

    /// Saves item states and flushes them. Item by item, not as a `sled::Batch` (which in
    /// sled 0.34 serializes every sled write of the process from then on; see
    /// `Store::write`): each item's state stands alone, and one missing after a crash only
    /// makes the next run publish that item's listing again as an update.
    fn save_states(&self, states: Vec<(String, Vec<u8>)>) -> Result<(), BridgeError> {
        for (key, state) in states {
            self.tree.insert(key.as_bytes(), state).map_err(|source| {
                BridgeError::Store(StoreError::Sled {
                    context: "writing bridge state",
                    source,
                })
            })?;
        }
        self.durable.sync().map_err(|source| {
            BridgeError::Store(StoreError::Sled {
                context: "flushing bridge state",
                source,
            })
        })?;
        Ok(())
    }

    /// The listing draft of a feed item.
    /// What an item's fingerprint covers: its draft, and its image URLs when images are
    /// published (a changed image list is a new version; the bytes behind an unchanged URL are
    /// not fetched again). Items without images fingerprint as before images existed.
    fn fingerprinted(&self, draft: &ListingDraft, item: &FeedItem) -> ListingDraft {
        let mut d = draft.clone();
        if self.images.is_some() && !item.image_links.is_empty() {
            d.photos = Some(item.image_links.clone());
        }
        d
    }

    fn draft(&self, item: &FeedItem, opts: &BridgeOptions) -> Result<ListingDraft, String> {
        let price_text = |p: &Price| match p {
            Price::Free => "free".to_string(),
            p => p.to_string(),
        };
        let price = price_text(&item.price);
        // One listing per product: each size/colour row is a variant with its own stock (0
        // when it is out of stock, so selling out one size is a new version, not a withdrawal).
        // Always given, empty for a product without variants, so that a product whose
        // variants went away loses them on the listing too.
        let variants = Some(
            item.variants
                .iter()
                .map(|v| VariantDraft {
                    options: v.options.clone(),
                    price: (v.price != item.price).then(|| price_text(&v.price)),
                    quantity: if v.available {
                        v.quantity.unwrap_or(1).max(1)
                    } else {
                        0
                    },
                    // A SKU past the protocol's limit is left out rather than the variant.
                    sku: Some(v.shop_id.clone()).filter(|s| {
                        !s.is_empty()
                            && s.chars().count() <= swapmeet_protocol::limits::MAX_VARIANT_SKU_CHARS
                    }),
                })
                .collect::<Vec<_>>(),
        );
        let has_variants = !item.variants.is_empty();
        let mut description = item.description.clone();
        // Only an absolute link helps a buyer; `swapmeet bridge sync --shop-url` makes the
        // export's relative ones absolute before they get here, and any still relative (no
        // base URL given, or pushed so through the API) are left out.
        let link = item
            .link
            .as_deref()
            .and_then(|l| swapmeet_feeds::normalize::absolute_link(l, None));
        if let Some(link) = link {
            let extra = format!("\n\nMore at the shop: {link}");
            let max = swapmeet_protocol::limits::MAX_DESCRIPTION_CHARS;
            if description.chars().count() + extra.chars().count() <= max {
                description.push_str(&extra);
            }
        }
        let ships = item.ships.unwrap_or(false);
        if opts.location.is_none() && !ships && !self.author.has_home_location() {
            return Err(
                "no location: the item does not ship, so it needs the shop's location (--location LAT,LON or `swapmeet init --location`)"
                    .into(),
            );
        }
        Ok(ListingDraft {
            title: Some(item.title.clone()),
            description: Some(description),
            price: Some(price),
            condition: Some(
                item.condition
                    .or(opts.condition)
                    .unwrap_or(Condition::New)
                    .as_str()
                    .to_string(),
            ),
            category: Some(
                item.category
                    .or(opts.category)
                    .unwrap_or(Category::Other)
                    .as_str()
                    .to_string(),
            ),
            tags: Some(item.tags.clone()),
            location: opts.location.clone(),
            place: None,
            // With variants the quantity is their total, which the author derives.
            quantity: (!has_variants).then(|| item.quantity.unwrap_or(1).max(1)),
            pickup: Some(true),
            shipping: Some(ships),
            ships_to: None,
            expires_in_secs: Some(BRIDGE_LIFETIME_SECS),
            key: Some(item.key.clone()),
            variants,
            photos: None,
        })
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Action {
    Create,
    Relist,
    Update,
    Renew,
    Nothing,
}

/// A fingerprint of what would be published (everything but times), so an unchanged item is
/// recognized without comparing signed bytes.
fn fingerprint(d: &ListingDraft) -> String {
    let normalized = ListingDraft {
        expires_in_secs: None,
        // "No variants" fingerprints as before variants existed, so that items bridged
        // before are not all published again.
        variants: d.variants.clone().filter(|v| !v.is_empty()),
        ..d.clone()
    };
    let bytes = serde_json::to_vec(&normalized).unwrap_or_default();
    hex::encode(&Sha256::digest(&bytes)[..16])
}
