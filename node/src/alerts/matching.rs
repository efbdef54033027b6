//! Matching a stored listing against the saved searches: which searches its stored version
//! matches and which the version it replaced matched, and the alerts that makes (a match when
//! it enters a search, a price drop when it stays in one, cheaper). The percolator
//! (`percolator.rs`) finds the searches; this decides what is news.

use std::collections::HashMap;
use std::sync::Arc;

use swapmeet_protocol::{ListingId, Price, PublicKey, Record};

use super::store::{encode_matched, Matched};
use super::{is_lower, lowest, Alert, AlertError, AlertKind, Alerts, BurstOf, Matching};
use crate::events::{Change, Event};

/// The versions of a listing an event compares: the one stored and the one it replaced.
struct Versions<'l> {
    now: &'l swapmeet_protocol::Listing,
    old: Option<&'l swapmeet_protocol::Listing>,
    /// New to the store (no earlier version, so no record of one).
    fresh: bool,
}

/// What a listing was before the events of it not yet judged: new to the store, or the
/// version the first of them replaced.
pub(super) struct Before {
    fresh: bool,
    previous: Option<Arc<[u8]>>,
}

impl Before {
    fn of(ev: &Event) -> Before {
        Before {
            fresh: ev.change == Change::Listed,
            previous: match ev.change {
                Change::Updated => ev.previous.clone(),
                _ => None,
            },
        }
    }

    fn decoded(&self) -> Option<swapmeet_protocol::StoredParts> {
        self.previous
            .as_deref()
            .and_then(|e| swapmeet_protocol::decode_stored(e).ok())
    }
}

/// Listings whose event was passed over (a newer version was already stored) and whose next
/// event is awaited. Each waits only for an event already sent; past this many (a lagging
/// alert task lost events) the rest are judged as plain updates.
const MAX_UNJUDGED: usize = 10_000;

impl Alerts {
    /// Matches the listings these events stored against the saved searches and records the
    /// alerts (flushed, then announced). Blocking.
    pub fn process(&self, events: &[Event]) -> Result<usize, AlertError> {
        let mut m = self
            .inner
            .matching
            .lock()
            .map_err(|_| AlertError::Poisoned)?;
        let now = self.inner.engine.now();
        // A listing stored twice in one batch is matched once, as its last version: the earlier
        // one was replaced before it could be looked at.
        let mut last: HashMap<ListingId, usize> = HashMap::with_capacity(events.len());
        for (i, ev) in events.iter().enumerate() {
            last.insert(ev.id, i);
        }
        let mut fired = Vec::new();
        let mut wrote = false;
        for (i, ev) in events.iter().enumerate() {
            if last.get(&ev.id) != Some(&i) {
                // Replaced within this batch: the last version is judged against the version
                // the listing had before this one.
                if matches!(ev.change, Change::Listed | Change::Updated) {
                    m.unjudged.entry(ev.id).or_insert_with(|| Before::of(ev));
                }
                continue;
            }
            wrote |= self.listing_event(&mut m, ev, now, &mut fired)?;
            wrote |= self.wanted_event(&mut m, ev, now, &mut fired)?;
            match ev.change {
                Change::Listed | Change::Updated => {}
                Change::Withdrawn | Change::Expired | Change::Blocked => {
                    m.unjudged.remove(&ev.id);
                    // What the searches matched of it is needed only while it is offered.
                    if self.inner.store.matched.remove(ev.id.as_bytes())?.is_some() {
                        wrote = true;
                    }
                    continue;
                }
            }
            let was = m.unjudged.remove(&ev.id).unwrap_or_else(|| Before::of(ev));
            if m.percolator.is_empty() {
                continue;
            }
            // Still the stored version? A newer one replaced it since: that one has its own
            // event, coming, judged against what the listing was before this one (an old
            // version must not alert after a newer one, nor be taken as alerted on).
            if !self.inner.engine.is_current(&ev.id, &ev.hash) {
                if m.unjudged.len() < MAX_UNJUDGED {
                    m.unjudged.insert(ev.id, was);
                }
                continue;
            }
            // The event carries the envelope it stored (verified then); decoding it skips a
            // store read for the many listings that match nothing.
            let Ok(parts) = ev.decoded() else {
                tracing::warn!(id = %ev.id, "a stored listing could not be decoded for alerts");
                continue;
            };
            let Record::Listing(listing) = &parts.record else {
                continue;
            };
            let hits = m.percolator.matches(&parts.signer, listing, now);
            // An update: what the version it replaced matched (the event carries it), so that
            // a search it stays in alerts only on a lower price, and one it leaves is noted.
            let previous = was.decoded();
            let old = previous.as_ref().and_then(|p| match &p.record {
                Record::Listing(old) => Some(old),
                _ => None,
            });
            // A listing stored before a search was saved counts as in it: the search's
            // results when it was saved, not news (`watch add` shows how many there are).
            let before = match old {
                Some(old) => m.percolator.matches_again(&parts.signer, old, now),
                None => Vec::new(),
            };
            if hits.is_empty() && before.is_empty() {
                continue;
            }
            let (hits, before) = self.rated(&m, &parts.signer, hits, before);
            if hits.is_empty() && before.is_empty() {
                continue;
            }
            let versions = Versions {
                now: listing,
                old,
                fresh: was.fresh,
            };
            wrote |=
                self.record_matches(&mut m, &ev.id, versions, &hits, &before, now, &mut fired)?;
        }
        wrote |= self.write_digests(&mut m, false)?;
        if !fired.is_empty() {
            self.trim(&mut m)?;
        }
        if wrote || !fired.is_empty() {
            // One flush for the batch: the matched records, the alerts and the digests are
            // durable together before any alert is announced.
            self.inner.store.sync()?;
        }
        drop(m);
        let n = fired.len();
        self.announce(fired);
        Ok(n)
    }

    /// As the search does: of the searches asking for a minimum rating, those whose bound the
    /// seller meets (an average of deal-bound reviews, read when the listing is stored; an
    /// unrated seller does not pass). Applied to what the new and the old version matched.
    fn rated(
        &self,
        m: &Matching,
        seller: &[u8; 32],
        mut hits: Vec<u64>,
        mut before: Vec<u64>,
    ) -> (Vec<u64>, Vec<u64>) {
        let wants = |id: &u64| m.searches.get(id).and_then(|s| s.query.min_rating);
        if hits.iter().chain(&before).any(|id| wants(id).is_some()) {
            let average = PublicKey::from_bytes(seller)
                .ok()
                .and_then(|k| self.inner.engine.reputation(&k).average_rating);
            let pass = |id: &u64| wants(id).is_none_or(|min| average.is_some_and(|a| a >= min));
            hits.retain(pass);
            before.retain(pass);
        }
        (hits, before)
    }

    /// The alerts one listing makes, from the searches its stored version matches (`hits`)
    /// and those its previous version matched (`before`), both in id order:
    /// - a search it enters alerts a match, unless the listing was in it at an earlier
    ///   version (then only a price lower than that version's alerts);
    /// - a search it stays in alerts only a price lower than the previous version's;
    /// - a search it leaves is noted with that version's price, so coming back is not news.
    ///
    /// So nothing is read or written for a new listing, or for an update that stays in the
    /// same searches; the store is touched only when an update enters or leaves a search
    /// (recording every match was most of the alert task's store writes, BENCHMARKS.md).
    /// True when it wrote.
    #[allow(clippy::too_many_arguments)]
    fn record_matches(
        &self,
        m: &mut Matching,
        id: &ListingId,
        v: Versions<'_>,
        hits: &[u64],
        before: &[u64],
        now: u64,
        fired: &mut Vec<Alert>,
    ) -> Result<bool, AlertError> {
        let price = lowest(v.now);
        let old_price = v.old.map(lowest);
        let mut entering = Vec::new();
        for &search in hits {
            if before.binary_search(&search).is_err() {
                entering.push(search);
                continue;
            }
            if let Some(old) = old_price.filter(|old| is_lower(&price, old)) {
                let a = self.alert(m, search, id, v.now, AlertKind::PriceDrop, Some(old), now)?;
                fired.extend(a);
            }
        }
        let leaving: Vec<u64> = before
            .iter()
            .filter(|s| hits.binary_search(s).is_err())
            .copied()
            .collect();
        if entering.is_empty() && leaving.is_empty() {
            return Ok(false);
        }
        // A listing new to the store has no record: a withdrawal or the expiry removed its
        // last version's with it.
        let mut left = if v.fresh {
            Vec::new()
        } else {
            self.inner.store.matched_of(id)?
        };
        let mut changed = false;
        for search in entering {
            let (kind, previous) = match left.iter().position(|e| e.search == search) {
                Some(p) => {
                    let was = left.remove(p);
                    changed = true;
                    if !is_lower(&price, &was.price) {
                        continue;
                    }
                    (AlertKind::PriceDrop, Some(was.price))
                }
                None => (AlertKind::Match, None),
            };
            fired.extend(self.alert(m, search, id, v.now, kind, previous, now)?);
        }
        if let (Some(old), Some(old_price)) = (v.old, old_price) {
            for search in leaving {
                let was = Matched {
                    search,
                    seq: old.seq,
                    price: old_price,
                };
                match left.iter().position(|e| e.search == search) {
                    Some(p) => left[p] = was,
                    None => left.push(was),
                }
                changed = true;
            }
        }
        if !changed {
            return Ok(false);
        }
        // Searches removed since are dropped on the way.
        left.retain(|e| m.searches.contains_key(&e.search));
        let tree = &self.inner.store.matched;
        if left.is_empty() {
            tree.remove(id.as_bytes())?;
        } else {
            tree.insert(id.as_bytes(), encode_matched(&left))?;
        }
        Ok(true)
    }

    /// Records an alert of one (search, listing), or counts it in the search's digest; the
    /// alert to announce, if any.
    #[allow(clippy::too_many_arguments)]
    fn alert(
        &self,
        m: &mut Matching,
        search: u64,
        id: &ListingId,
        l: &swapmeet_protocol::Listing,
        kind: AlertKind,
        previous: Option<Price>,
        now: u64,
    ) -> Result<Option<Alert>, AlertError> {
        let name = m
            .searches
            .get(&search)
            .map(|s| s.name.clone())
            .unwrap_or_default();
        let a = Alert {
            id: m.next_alert,
            search: Some(search),
            search_name: name,
            kind,
            listing: Some(id.to_string()),
            title: Some(l.title.clone()),
            price: Some(lowest(l)),
            previous_price: previous,
            expires_at: None,
            command: None,
            wanted: None,
            listings: Vec::new(),
            count: 1,
            at: now,
            seen: false,
        };
        self.fire(m, BurstOf::Search(search), a)
    }
}
