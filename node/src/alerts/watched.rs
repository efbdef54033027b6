//! Watched listings: the user follows one listing (`swapmeet watch listing ID`) and hears when
//! its price changes, when it is sold or withdrawn, and when it is about to expire; and the
//! user's own listings warn before they expire, with the one command that renews them.
//!
//! Changes arrive as the engine's events, like everything the saved searches match (see
//! [`Alerts::process`]); expiry is a matter of the clock, so [`Alerts::check_expiry`] runs
//! when the alert task starts and every [`EXPIRY_CHECK_EVERY`], and a listing stored (a new
//! own listing, a renewal, a watched listing's new version) is checked as it arrives.

use std::time::Duration;

use swapmeet_protocol::{decode_stored, ListingId, PublicKey, Record, WithdrawReason};

use super::store::{encode, WatchedListing};
use super::{lowest, Alert, AlertError, AlertKind, Alerts, Matching};
use crate::events::{Change, Event};
use crate::store::RecordKind;

/// Most listings one node watches.
pub const MAX_WATCHED: usize = 1_000;
/// How long before a listing expires its warning fires, unless configured.
pub const DEFAULT_EXPIRY_WARNING: Duration = Duration::from_secs(48 * 3600);
/// The longest warning allowed: a listing lives at most this long, so a longer warning would
/// fire the moment anything is listed.
pub const MAX_EXPIRY_WARNING: Duration =
    Duration::from_secs(swapmeet_protocol::limits::MAX_LIFETIME_SECS);
/// How often the clock is checked for listings nearing their expiry. A warning given a day or
/// two ahead does not need to be on the second.
pub const EXPIRY_CHECK_EVERY: Duration = Duration::from_secs(60);

/// What the alert service needs to know of its node.
#[derive(Clone, Debug)]
pub struct AlertsConfig {
    /// The user's key: their own listings warn before they expire. None: no such warnings.
    pub owner: Option<PublicKey>,
    /// How long before a listing expires its warning fires (1 hour to
    /// [`MAX_EXPIRY_WARNING`]).
    pub expiry_warning: Duration,
    /// Whether alerts are also shown as desktop notifications (`alerts/desktop.rs`).
    pub desktop: bool,
}

impl Default for AlertsConfig {
    fn default() -> Self {
        AlertsConfig {
            owner: None,
            expiry_warning: DEFAULT_EXPIRY_WARNING,
            desktop: false,
        }
    }
}

impl AlertsConfig {
    /// Checks the bounds.
    pub fn validate(&self) -> Result<(), AlertError> {
        let hours = self.expiry_warning.as_secs() / 3600;
        let max = MAX_EXPIRY_WARNING.as_secs() / 3600;
        if !(1..=max).contains(&hours) {
            return Err(AlertError::Invalid {
                field: "expiry_warning_hours",
                reason: format!("{hours} is not in 1..={max}"),
            });
        }
        Ok(())
    }
}

/// The command that renews a listing.
fn renew_command(id: &ListingId) -> String {
    format!("swapmeet renew {id}")
}

impl Alerts {
    /// Watches a listing this node carries. Blocking (flushes). It warns at once if the
    /// listing is already within its expiry warning.
    pub fn watch_listing(&self, which: &str) -> Result<WatchedListing, AlertError> {
        let id: ListingId = which.parse().map_err(|e| AlertError::Invalid {
            field: "listing",
            reason: format!("'{}': {e}", which.trim()),
        })?;
        let mut m = self.lock()?;
        if m.watched.contains_key(&id) {
            return Err(AlertError::Invalid {
                field: "listing",
                reason: format!("{id} is watched already; see `swapmeet watch list`"),
            });
        }
        if m.watched.len() >= MAX_WATCHED {
            return Err(AlertError::Invalid {
                field: "listing",
                reason: format!(
                    "this node watches {MAX_WATCHED} listings, the limit; stop watching one first"
                ),
            });
        }
        let now = self.inner.engine.now();
        // Only a listing the node stores can be watched: the node hears of changes to the
        // listings of the areas it follows, and of no others.
        let rec = self.inner.engine.get(&id)?.ok_or_else(|| AlertError::Invalid {
            field: "listing",
            reason: format!(
                "no listing {id} is stored on this node (it hears only of listings in the areas it follows); find it with `swapmeet search` first"
            ),
        })?;
        let listing = match (rec.kind, decode_stored(&rec.envelope)) {
            (RecordKind::Listing, Ok(parts)) => match parts.record {
                Record::Listing(l) => l,
                Record::Withdrawal(_) | Record::Wanted(_) | Record::BlockList(_) => {
                    return Err(gone(&id))
                }
            },
            (RecordKind::Listing, Err(e)) => {
                return Err(AlertError::Corrupt {
                    tree: "records",
                    reason: format!("{id}: {e}"),
                })
            }
            _ => return Err(gone(&id)),
        };
        if listing.expires_at <= now {
            return Err(gone(&id));
        }
        let w = WatchedListing {
            listing: id.to_string(),
            title: listing.title.clone(),
            price: lowest(&listing),
            seq: listing.seq,
            expires_at: listing.expires_at,
            since: now,
            warned_expiry: None,
        };
        self.inner.store.watched.insert(id.as_bytes(), encode(&w))?;
        m.watched.insert(id, w);
        let mut fired = Vec::new();
        self.check_watched_expiry(&mut m, &id, now, &mut fired)?;
        self.inner.store.sync()?;
        let w = m.watched.get(&id).cloned();
        drop(m);
        self.announce(fired);
        w.ok_or_else(|| AlertError::NotWatched(id.to_string()))
    }

    /// Stops watching a listing. Blocking (flushes).
    pub fn unwatch_listing(&self, which: &str) -> Result<WatchedListing, AlertError> {
        let id: ListingId = which.parse().map_err(|e| AlertError::Invalid {
            field: "listing",
            reason: format!("'{}': {e}", which.trim()),
        })?;
        let mut m = self.lock()?;
        let w = m
            .watched
            .remove(&id)
            .ok_or_else(|| AlertError::NotWatched(id.to_string()))?;
        self.inner.store.watched.remove(id.as_bytes())?;
        self.inner.store.sync()?;
        Ok(w)
    }

    /// Watched listings, soonest expiry first.
    pub fn watched(&self) -> Result<Vec<WatchedListing>, AlertError> {
        let m = self.lock()?;
        let mut v: Vec<WatchedListing> = m.watched.values().cloned().collect();
        v.sort_by(|a, b| {
            a.expires_at
                .cmp(&b.expires_at)
                .then(a.listing.cmp(&b.listing))
        });
        Ok(v)
    }

    /// What one event means for watched and own listings: alerts pushed to `fired`. True
    /// when it wrote.
    pub(super) fn listing_event(
        &self,
        m: &mut Matching,
        ev: &Event,
        now: u64,
        fired: &mut Vec<Alert>,
    ) -> Result<bool, AlertError> {
        let own = self.inner.config.owner.is_some()
            && matches!(
                ev.source,
                crate::events::Source::Local | crate::events::Source::Bridge
            );
        if !m.watched.contains_key(&ev.id) && !own {
            if matches!(
                ev.change,
                Change::Withdrawn | Change::Expired | Change::Blocked
            ) {
                // An own listing that went while the node ran from elsewhere (a sweep).
                return Ok(self
                    .inner
                    .store
                    .own_warned
                    .remove(ev.id.as_bytes())?
                    .is_some());
            }
            return Ok(false);
        }
        if ev.change == Change::Blocked {
            // The user blocked its seller (or trusts a list that does): nothing to alert.
            self.drop_watch(m, &ev.id)?;
            return Ok(true);
        }
        if ev.change == Change::Expired {
            self.inner.store.own_warned.remove(ev.id.as_bytes())?;
            if let Some(w) = self.drop_watch(m, &ev.id)? {
                fired.push(self.listing_alert(m, &w, AlertKind::Expired, None, now)?);
            }
            return Ok(true);
        }
        let Ok(parts) = decode_stored(&ev.envelope) else {
            tracing::warn!(id = %ev.id, "a stored record could not be decoded for alerts");
            return Ok(false);
        };
        match parts.record {
            // Wanted posts are matched in `alerts/wanted.rs`; none is watched as a listing.
            Record::Wanted(_) | Record::BlockList(_) => Ok(false),
            Record::Withdrawal(wd) => {
                self.inner.store.own_warned.remove(ev.id.as_bytes())?;
                if let Some(w) = self.drop_watch(m, &ev.id)? {
                    let kind = match wd.reason {
                        WithdrawReason::Sold => AlertKind::Sold,
                        WithdrawReason::Withdrawn => AlertKind::Withdrawn,
                    };
                    fired.push(self.listing_alert(m, &w, kind, None, now)?);
                }
                Ok(true)
            }
            Record::Listing(l) => {
                let mut wrote = false;
                if let Some(w) = m.watched.get(&ev.id).cloned() {
                    // A stale re-delivery changes nothing.
                    if l.seq > w.seq {
                        let price = lowest(&l);
                        let mut now_w = WatchedListing {
                            title: l.title.clone(),
                            price,
                            seq: l.seq,
                            expires_at: l.expires_at,
                            ..w.clone()
                        };
                        if l.expires_at != w.expires_at {
                            // Renewed: its new expiry warns in its time.
                            now_w.warned_expiry = None;
                        }
                        if price != w.price {
                            fired.push(self.listing_alert(
                                m,
                                &now_w,
                                AlertKind::PriceChange,
                                Some(w.price),
                                now,
                            )?);
                        }
                        self.inner
                            .store
                            .watched
                            .insert(ev.id.as_bytes(), encode(&now_w))?;
                        m.watched.insert(ev.id, now_w);
                        self.check_watched_expiry(m, &ev.id, now, fired)?;
                        wrote = true;
                    }
                }
                let mine = self
                    .inner
                    .config
                    .owner
                    .as_ref()
                    .is_some_and(|o| o.as_bytes() == &parts.signer);
                if own && mine {
                    wrote |=
                        self.check_own_expiry(m, &ev.id, &l.title, l.expires_at, now, fired)?;
                }
                Ok(wrote)
            }
        }
    }

    /// Forgets a watched listing that is gone; what was watched.
    fn drop_watch(
        &self,
        m: &mut Matching,
        id: &ListingId,
    ) -> Result<Option<WatchedListing>, AlertError> {
        let Some(w) = m.watched.remove(id) else {
            return Ok(None);
        };
        self.inner.store.watched.remove(id.as_bytes())?;
        Ok(Some(w))
    }

    /// Warns, once per expiry, of a watched listing about to expire.
    fn check_watched_expiry(
        &self,
        m: &mut Matching,
        id: &ListingId,
        now: u64,
        fired: &mut Vec<Alert>,
    ) -> Result<(), AlertError> {
        let warn = self.inner.config.expiry_warning.as_secs();
        let Some(w) = m.watched.get(id).cloned() else {
            return Ok(());
        };
        if w.warned_expiry == Some(w.expires_at)
            || w.expires_at <= now
            || w.expires_at.saturating_sub(warn) > now
        {
            return Ok(());
        }
        let warned = WatchedListing {
            warned_expiry: Some(w.expires_at),
            ..w
        };
        fired.push(self.listing_alert(m, &warned, AlertKind::Expiring, None, now)?);
        self.inner
            .store
            .watched
            .insert(id.as_bytes(), encode(&warned))?;
        m.watched.insert(*id, warned);
        Ok(())
    }

    /// Warns, once per expiry, of one of the user's own listings about to expire. True when
    /// it wrote.
    fn check_own_expiry(
        &self,
        m: &mut Matching,
        id: &ListingId,
        title: &str,
        expires_at: u64,
        now: u64,
        fired: &mut Vec<Alert>,
    ) -> Result<bool, AlertError> {
        let warn = self.inner.config.expiry_warning.as_secs();
        if expires_at <= now || expires_at.saturating_sub(warn) > now {
            return Ok(false);
        }
        let warned = self.inner.store.own_warned.get(id.as_bytes())?;
        if warned.as_deref() == Some(&expires_at.to_be_bytes()[..]) {
            return Ok(false);
        }
        self.inner
            .store
            .own_warned
            .insert(id.as_bytes(), &expires_at.to_be_bytes())?;
        let a = Alert {
            id: m.next_alert,
            search: None,
            search_name: String::new(),
            kind: AlertKind::Renew,
            listing: Some(id.to_string()),
            title: Some(title.to_string()),
            price: None,
            previous_price: None,
            expires_at: Some(expires_at),
            command: Some(renew_command(id)),
            wanted: None,
            listings: Vec::new(),
            count: 1,
            at: now,
            seen: false,
        };
        self.log_alert(m, &a)?;
        fired.push(a);
        Ok(true)
    }

    /// Records an alert about a watched listing.
    fn listing_alert(
        &self,
        m: &mut Matching,
        w: &WatchedListing,
        kind: AlertKind,
        previous: Option<swapmeet_protocol::Price>,
        now: u64,
    ) -> Result<Alert, AlertError> {
        let a = Alert {
            id: m.next_alert,
            search: None,
            search_name: String::new(),
            kind,
            listing: Some(w.listing.clone()),
            title: Some(w.title.clone()),
            price: Some(w.price),
            previous_price: previous,
            expires_at: matches!(kind, AlertKind::Expiring).then_some(w.expires_at),
            command: None,
            wanted: None,
            listings: Vec::new(),
            count: 1,
            at: now,
            seen: false,
        };
        self.log_alert(m, &a)?;
        Ok(a)
    }

    /// Warns of watched and own listings that came within their expiry warning since the last
    /// check (the clock moved; nothing was stored). Blocking (flushes).
    pub fn check_expiry(&self) -> Result<usize, AlertError> {
        let mut m = self.lock()?;
        let now = self.inner.engine.now();
        let mut fired = Vec::new();
        let ids: Vec<ListingId> = m.watched.keys().copied().collect();
        for id in ids {
            self.check_watched_expiry(&mut m, &id, now, &mut fired)?;
        }
        if let Some(owner) = self.inner.config.owner {
            for rec in self.inner.engine.records_of(&owner)? {
                if rec.kind != RecordKind::Listing {
                    continue;
                }
                let title = match decode_stored(&rec.envelope).map(|p| p.record) {
                    Ok(Record::Listing(l)) => l.title,
                    _ => continue,
                };
                self.check_own_expiry(&mut m, &rec.id, &title, rec.expires_at, now, &mut fired)?;
            }
        }
        if !fired.is_empty() {
            self.trim(&mut m)?;
            self.inner.store.sync()?;
        }
        drop(m);
        let n = fired.len();
        self.announce(fired);
        Ok(n)
    }
}

/// The error for a listing that is sold, withdrawn or expired.
fn gone(id: &ListingId) -> AlertError {
    AlertError::Invalid {
        field: "listing",
        reason: format!(
            "listing {id} was sold, withdrawn or has expired; there is nothing to watch"
        ),
    }
}
