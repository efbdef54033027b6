//! Wanted posts in the alerts: a seller hears when someone's new wanted post matches one of
//! the seller's own active listings (`wanted_match`), and a user's own wanted post acts as a
//! saved search (a listing that answers it alerts as a `match`, again as a `price_drop`).
//!
//! Whether a listing answers a wanted post is [`crate::wanted::listing_answers`]: the words of
//! the post's title, its category, its maximum price, and the distance. Each (wanted post,
//! listing) pair alerts once, recorded in [`TREE_WANTED_MATCHED`](super::store) so a restart
//! or a re-delivery does not alert again.

use std::collections::{HashMap, HashSet};

use swapmeet_protocol::{
    decode_stored, stored_kind, EnvelopeKind, Listing, ListingId, Price, Record, Wanted,
};
use tantivy::tokenizer::TextAnalyzer;

use super::store::{decode, encode, Matched, TREE_WANTED_MATCHED};
use super::{is_lower, lowest, Alert, AlertError, AlertKind, Alerts, BurstOf, Matching};
use crate::events::{Change, Event};
use crate::store::RecordKind;
use crate::wanted::listing_answers;
use crate::wanted::matching::{listing_terms, term_set};

/// One of the user's own live wanted posts, ready to match listings against.
#[derive(Clone)]
pub(super) struct OwnWanted {
    post: Wanted,
    terms: HashSet<String>,
}

impl OwnWanted {
    pub(super) fn new(an: &mut TextAnalyzer, post: Wanted) -> OwnWanted {
        let terms = term_set(an, &post.title);
        OwnWanted { post, terms }
    }
}

/// The key of a (wanted post, listing) pair.
fn pair_key(wanted: &ListingId, listing: &ListingId) -> [u8; 32] {
    let mut k = [0u8; 32];
    k[..16].copy_from_slice(wanted.as_bytes());
    k[16..].copy_from_slice(listing.as_bytes());
    k
}

impl Alerts {
    /// The user's own live wanted posts in the store (at open).
    pub(super) fn load_own_wanted(
        engine: &crate::engine::Engine,
        owner: &swapmeet_protocol::PublicKey,
        an: &mut TextAnalyzer,
    ) -> Result<Vec<(ListingId, OwnWanted)>, AlertError> {
        let now = engine.now();
        let mut out = Vec::new();
        for rec in engine.records_of(owner)? {
            if rec.kind != RecordKind::Wanted || rec.expires_at <= now {
                continue;
            }
            if let Ok(Record::Wanted(w)) = decode_stored(&rec.envelope).map(|p| p.record) {
                out.push((rec.id, OwnWanted::new(an, w)));
            }
        }
        Ok(out)
    }

    /// The user's own live wanted posts, read from the store the first time they are needed.
    fn own_wanted<'m>(
        &self,
        m: &'m mut Matching,
        owner: &swapmeet_protocol::PublicKey,
    ) -> Result<&'m mut HashMap<ListingId, OwnWanted>, AlertError> {
        if m.own_wanted.is_none() {
            let read = Alerts::load_own_wanted(&self.inner.engine, owner, &mut m.analyzer)?;
            m.own_wanted = Some(read.into_iter().collect());
        }
        Ok(m.own_wanted.get_or_insert_with(HashMap::new))
    }

    /// What an event means for wanted posts: the user's own post (kept to match), someone's
    /// post (checked against the user's listings), a listing (checked against the user's
    /// posts). True when it wrote.
    pub(super) fn wanted_event(
        &self,
        m: &mut Matching,
        ev: &Event,
        now: u64,
        fired: &mut Vec<Alert>,
    ) -> Result<bool, AlertError> {
        let Some(owner) = self.inner.config.owner else {
            return Ok(false);
        };
        if matches!(
            ev.change,
            Change::Withdrawn | Change::Expired | Change::Blocked
        ) {
            self.own_wanted(m, &owner)?.remove(&ev.id);
            return Ok(false);
        }
        let any_own = !self.own_wanted(m, &owner)?.is_empty();
        // Most events are listings and most users have no wanted post: the header says which
        // kind it is without decoding the payload.
        match stored_kind(&ev.envelope) {
            Ok(EnvelopeKind::Wanted) => {}
            Ok(EnvelopeKind::Listing) if any_own => {}
            _ => return Ok(false),
        }
        let Ok(parts) = ev.decoded() else {
            tracing::warn!(id = %ev.id, "a stored record could not be decoded for wanted alerts");
            return Ok(false);
        };
        let mine = parts.signer == *owner.as_bytes();
        match &parts.record {
            Record::Wanted(w) if mine => {
                let own = OwnWanted::new(&mut m.analyzer, w.clone());
                self.own_wanted(m, &owner)?.insert(ev.id, own);
                Ok(false)
            }
            Record::Wanted(w) => self.seller_side(m, &owner, ev.id, w, now, fired),
            // The user's own listing never answers the user's own wanted post.
            Record::Listing(l) if !mine => self.buyer_side(m, ev.id, l, now, fired),
            _ => Ok(false),
        }
    }

    /// Someone's wanted post against the user's own active listings.
    fn seller_side(
        &self,
        m: &mut Matching,
        owner: &swapmeet_protocol::PublicKey,
        wanted: ListingId,
        w: &Wanted,
        now: u64,
        fired: &mut Vec<Alert>,
    ) -> Result<bool, AlertError> {
        if w.expires_at <= now {
            return Ok(false);
        }
        let title_terms = term_set(&mut m.analyzer, &w.title);
        let mut wrote = false;
        for rec in self.inner.engine.records_of(owner)? {
            if rec.kind != RecordKind::Listing || rec.expires_at <= now {
                continue;
            }
            let Ok(Record::Listing(l)) = decode_stored(&rec.envelope).map(|p| p.record) else {
                continue;
            };
            let terms = listing_terms(&mut m.analyzer, &l);
            if !listing_answers(w, &title_terms, &l, &terms) {
                continue;
            }
            let key = pair_key(&wanted, &rec.id);
            if self.inner.store.wanted_matched.contains_key(key)? {
                // A renewal or a re-delivery of the post: the seller knows already.
                continue;
            }
            self.inner.store.wanted_matched.insert(
                key,
                encode(&Matched {
                    search: 0,
                    seq: l.seq,
                    price: lowest(&l),
                }),
            )?;
            wrote = true;
            let a = Alert {
                id: m.next_alert,
                search: None,
                search_name: String::new(),
                kind: AlertKind::WantedMatch,
                listing: Some(rec.id.to_string()),
                title: Some(w.title.clone()),
                price: Some(w.max_price),
                previous_price: None,
                expires_at: Some(w.expires_at),
                command: Some(format!("swapmeet want answer {wanted} --text ..")),
                wanted: Some(wanted.to_string()),
                listings: Vec::new(),
                count: 1,
                at: now,
                seen: false,
            };
            if let Some(a) = self.fire(m, BurstOf::Wanted(wanted), a)? {
                fired.push(a);
            }
        }
        Ok(wrote)
    }

    /// A listing against the user's own wanted posts, as a saved search: new, or cheaper.
    fn buyer_side(
        &self,
        m: &mut Matching,
        listing: ListingId,
        l: &Listing,
        now: u64,
        fired: &mut Vec<Alert>,
    ) -> Result<bool, AlertError> {
        let terms = listing_terms(&mut m.analyzer, l);
        let hits: Vec<(ListingId, String)> = m
            .own_wanted
            .iter()
            .flatten()
            .filter(|(_, o)| {
                o.post.expires_at > now && listing_answers(&o.post, &o.terms, l, &terms)
            })
            .map(|(id, o)| (*id, o.post.title.clone()))
            .collect();
        let price = lowest(l);
        let mut wrote = false;
        for (wanted, wanted_title) in hits {
            let key = pair_key(&wanted, &listing);
            let before: Option<Matched> = self
                .inner
                .store
                .wanted_matched
                .get(key)?
                .map(|v| decode(TREE_WANTED_MATCHED, &v))
                .transpose()?;
            let (kind, previous): (AlertKind, Option<Price>) = match &before {
                // A stale re-delivery or the same version again.
                Some(b) if b.seq >= l.seq => continue,
                Some(b) if is_lower(&price, &b.price) => (AlertKind::PriceDrop, Some(b.price)),
                Some(_) => (AlertKind::Match, None),
                None => (AlertKind::Match, None),
            };
            let news = before.is_none() || kind == AlertKind::PriceDrop;
            self.inner.store.wanted_matched.insert(
                key,
                encode(&Matched {
                    search: 0,
                    seq: l.seq,
                    price,
                }),
            )?;
            wrote = true;
            if !news {
                continue;
            }
            let a = Alert {
                id: m.next_alert,
                search: None,
                search_name: format!("wanted: {wanted_title}"),
                kind,
                listing: Some(listing.to_string()),
                title: Some(l.title.clone()),
                price: Some(price),
                previous_price: previous,
                expires_at: None,
                command: None,
                wanted: Some(wanted.to_string()),
                listings: Vec::new(),
                count: 1,
                at: now,
                seen: false,
            };
            if let Some(a) = self.fire(m, BurstOf::Wanted(wanted), a)? {
                fired.push(a);
            }
        }
        Ok(wrote)
    }
}
