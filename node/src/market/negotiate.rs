//! The user's moves: offer, counter, accept, decline, retract; and the views of negotiations.
//!
//! Every move is checked against the thread's state first, so a wrong move (accepting an
//! expired or superseded offer, countering one's own offer, offering on one's own listing, over
//! a limit) is refused with a sentence instead of being sent and ignored. A move that passes is
//! signed, sealed and queued by the messenger (flushed before it returns), then the market
//! reacts to the thread as it would to an arriving message (the seller's accept confirms the
//! stock first; the buyer's accept carries its deal signature).

use swapmeet_protocol::negotiation::{OfferEntry, OfferStatus, Party, ThreadParties};
use swapmeet_protocol::{
    Currency, DirectMessage, EnvelopeHash, ListingId, ListingRef, MessageBody, Move,
    NegotiationState, OfferTerms, Price, Record, ThreadId, Verified,
};

use super::deals::DealRecord;
use super::facts::KnownFacts;
use super::{Market, MarketError, MarketEvent};
use crate::messaging::{Role, ThreadHead};

/// Shortest offer hash prefix accepted in `of`.
pub const MIN_OFFER_PREFIX: usize = 8;

/// An offer or counter as the user asks for it, before it is checked against the listing.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OfferRequestParsed {
    /// The price text ("200", "199.99 EUR").
    pub price: String,
    /// How many (default 1 for an offer, the answered offer's for a counter).
    pub quantity: Option<u32>,
    /// Lifetime in seconds (default 48 h, at most 7 days).
    pub expires_in_secs: Option<u64>,
    /// A text sent with it.
    pub message: Option<String>,
}

/// Which open offer an accept, decline or retract is about.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Pick {
    /// A prefix of its hash; `None`: the single candidate.
    pub of: Option<String>,
}

/// A negotiation as the API shows it.
#[derive(Clone, Debug)]
pub struct NegotiationView {
    /// The thread.
    pub head: ThreadHead,
    /// Its state now.
    pub state: NegotiationState,
    /// The listing's current price as this node knows it.
    pub asking: Option<Price>,
    /// The listing's title, when stored here.
    pub title: Option<String>,
    /// The thread's deal record, when there is one.
    pub deal: Option<DealRecord>,
}

/// A thread loaded for a decision: its head, parties, messages, the listing's facts and the
/// state at `now`.
pub(crate) struct Loaded {
    pub head: ThreadHead,
    pub parties: ThreadParties,
    pub messages: Vec<Verified<DirectMessage>>,
    pub facts: KnownFacts,
    pub state: NegotiationState,
    pub now: u64,
}

impl Loaded {
    /// My party in the thread.
    pub fn me(&self) -> Party {
        match self.head.role {
            Role::Buyer => Party::Buyer,
            Role::Seller => Party::Seller,
        }
    }

    /// When my next move is sent: now, but never before the moves it may answer. The state
    /// machine orders the two parties' moves by sent time (whole seconds), the buyer's first
    /// on a tie unless the buyer's move names the seller's, so a buyer's offer, counter or
    /// retract after a seller's move of this same second is dated a second later or it would
    /// come before the move it follows.
    pub fn next_sent_at(&self) -> u64 {
        let me = self.head.role;
        let mut t = self.now;
        for m in &self.messages {
            let theirs = m.signer() != self.my_key();
            let sent = m.payload().sent_at;
            if theirs && me == Role::Buyer {
                t = t.max(sent.saturating_add(1));
            } else {
                t = t.max(sent);
            }
        }
        t
    }

    /// When my next move is sent if it names a message of the other party's (accept,
    /// decline) or takes no part in the order (a deal signature): now, but never before what
    /// is in the thread. Unlike [`Loaded::next_sent_at`] it needs no extra second: on a tie
    /// the canonical order puts a move after the message of the other party's it names
    /// (docs/PROTOCOL.md 12.2), so the answer goes out at once instead of waiting in the
    /// outbox for the next second.
    pub fn answer_sent_at(&self) -> u64 {
        self.messages
            .iter()
            .map(|m| m.payload().sent_at)
            .fold(self.now, u64::max)
    }

    fn my_key(&self) -> swapmeet_protocol::PublicKey {
        match self.head.role {
            Role::Buyer => self.parties.buyer,
            Role::Seller => self.parties.seller,
        }
    }

    /// The newest known version of the listing and its price.
    pub fn latest_version(&self) -> Option<(EnvelopeHash, Price)> {
        self.facts
            .versions
            .iter()
            .max_by_key(|v| v.signed_at)
            .map(|v| (v.hash, v.price))
    }
}

/// The lifetime rules of an offer.
fn expiry(sent_at: u64, expires_in: Option<u64>) -> Result<u64, MarketError> {
    use swapmeet_protocol::limits::{DEFAULT_OFFER_LIFETIME_SECS, MAX_OFFER_LIFETIME_SECS};
    let secs = expires_in.unwrap_or(DEFAULT_OFFER_LIFETIME_SECS);
    if secs == 0 || secs > MAX_OFFER_LIFETIME_SECS {
        return Err(MarketError::invalid(
            "expires_in_secs",
            format!("{secs} is out of range: 1 to {MAX_OFFER_LIFETIME_SECS} seconds (7 days)"),
        ));
    }
    Ok(sent_at.saturating_add(secs))
}

/// Parses a price for the whole quantity in the listing's currency.
fn parse_amount(text: &str, currency: Currency) -> Result<u64, MarketError> {
    match Price::parse(text, Some(currency)) {
        Ok(Price::Fixed {
            amount_minor,
            currency: c,
        }) if c == currency => Ok(amount_minor),
        Ok(Price::Fixed { currency: c, .. }) => Err(MarketError::invalid(
            "price",
            format!("is in {c}, the listing is priced in {currency}"),
        )),
        Ok(Price::Free) => Err(MarketError::invalid("price", "must be an amount, not free")),
        Err(e) => Err(MarketError::invalid("price", e)),
    }
}

fn quantity_of(q: Option<u32>, default: u32) -> Result<u32, MarketError> {
    let q = q.unwrap_or(default);
    let max = swapmeet_protocol::limits::MAX_QUANTITY;
    if q == 0 || q > max {
        return Err(MarketError::invalid(
            "quantity",
            format!("{q} is out of range: 1 to {max}"),
        ));
    }
    Ok(q)
}

fn short(h: &EnvelopeHash) -> String {
    h.to_string().chars().take(12).collect()
}

/// Why an entry is not open, in words.
pub(crate) fn status_words(status: &OfferStatus) -> &'static str {
    match status {
        OfferStatus::Open => "is open",
        OfferStatus::Expired => "has expired",
        OfferStatus::Superseded { .. } => "was superseded by a later counter-offer",
        OfferStatus::Declined { .. } => "was declined",
        OfferStatus::Retracted { .. } => "was retracted",
        OfferStatus::Accepted { .. } => "was already accepted",
        OfferStatus::ClosedByDeal => "was closed by the deal on another offer",
        OfferStatus::ClosedByListing => {
            "was closed by the listing (its price changed or it was withdrawn)"
        }
        OfferStatus::Void { .. } => "was accepted, but the seller had none left (sold out)",
    }
}

impl Market {
    /// Loads a thread with its state at `now`.
    pub(crate) fn load(&self, thread: &ThreadId, now: u64) -> Result<Loaded, MarketError> {
        let head = self.inner.messenger.thread_head(thread)?.ok_or_else(|| {
            MarketError::NotFound(format!(
                "no negotiation {thread} on this node; `swapmeet offers` lists yours"
            ))
        })?;
        let parties = ThreadParties::new(head.listing, head.about.seller, head.buyer);
        let messages = self.inner.messenger.thread_messages(thread)?;
        let facts = self.known_facts(&head.listing)?;
        let state = NegotiationState::compute(&parties, &facts.facts(), now, &messages);
        self.index_open(&head.buyer, thread, &state)?;
        Ok(Loaded {
            head,
            parties,
            messages,
            facts,
            state,
            now,
        })
    }

    /// The threads about `listing` (any role).
    pub(crate) fn threads_about(&self, listing: &ListingId) -> Result<Vec<ThreadId>, MarketError> {
        Ok(self
            .inner
            .messenger
            .thread_heads()?
            .into_iter()
            .filter(|h| h.listing == *listing)
            .map(|h| h.thread)
            .collect())
    }

    /// The buyer's offer on `listing` (a verified current version: from the store or the DHT).
    /// Checks: not my own listing, active (not withdrawn or expired), not free, no variants,
    /// the price at most the asking price for the quantity, the quantity available, my open
    /// offers under the limits. Sent (with `message` as a text first), flushed, and shown.
    pub fn offer(
        &self,
        listing: &Verified<Record>,
        req: &OfferRequestParsed,
    ) -> Result<NegotiationView, MarketError> {
        let now = self.inner.engine.now();
        let id = listing.listing_id();
        if listing.signer() == self.me() {
            return Err(MarketError::WrongMove(
                "this is your own listing: buyers make offers on it, and you counter or accept them"
                    .into(),
            ));
        }
        let l = match listing.payload() {
            Record::Listing(l) => l,
            Record::Wanted(_) => {
                return Err(MarketError::WrongMove(format!(
                "{id} is a wanted post, not a listing: answer it with `swapmeet want answer {id}`"
            )))
            }
            Record::BlockList(_) => {
                return Err(MarketError::WrongMove(format!(
                    "{id} is a block list, not a listing"
                )))
            }
            Record::Withdrawal(_) => {
                return Err(MarketError::WrongMove(format!(
                    "listing {id} was withdrawn: it takes no offers"
                )))
            }
        };
        if l.expires_at <= now {
            return Err(MarketError::WrongMove(format!(
                "listing {id} has expired: it takes no offers"
            )));
        }
        if !l.variants.is_empty() {
            return Err(MarketError::WrongMove(format!(
                "listing {id} has variants (sizes, colours): offers are on a whole listing, so \
                 ask the seller with `swapmeet message` which variant they would sell for what"
            )));
        }
        let (asking, currency) = match l.price {
            Price::Free => {
                return Err(MarketError::WrongMove(format!(
                    "listing {id} is free: there is nothing to offer on; message the seller"
                )))
            }
            Price::Fixed {
                amount_minor,
                currency,
            } => (amount_minor, currency),
        };
        let amount = parse_amount(&req.price, currency)?;
        let quantity = quantity_of(req.quantity, 1)?;
        if quantity > l.quantity {
            return Err(MarketError::WrongMove(format!(
                "the seller has {} of it; you asked for {quantity}",
                l.quantity
            )));
        }
        let max = asking.saturating_mul(u64::from(quantity));
        if amount > max {
            return Err(MarketError::WrongMove(format!(
                "an offer is at most the asking price: {} for {quantity}; you offered {}",
                super::settings::fmt_minor(max, currency),
                super::settings::fmt_minor(amount, currency)
            )));
        }
        let _decide = self.lock_decide();
        self.remember(listing)?;
        let cfg = &self.inner.config;
        let (overall, here) = self.open_offers_of_buyer(&self.me(), &id, now)?;
        if here >= cfg.max_open_offers_per_listing {
            return Err(MarketError::WrongMove(format!(
                "you have {here} open offers on this listing, the limit is {} \
                 (retract one with `swapmeet retract THREAD`)",
                cfg.max_open_offers_per_listing
            )));
        }
        if overall >= cfg.max_open_offers_per_buyer {
            return Err(MarketError::WrongMove(format!(
                "you have {overall} open offers, the limit is {}",
                cfg.max_open_offers_per_buyer
            )));
        }
        let about = ListingRef {
            seller: listing.signer(),
            item_key: l.item_key.clone(),
            version: listing.hash(),
        };
        let thread = ThreadId::derive(&id, &self.me());
        // Dated after anything already in the thread (see `Loaded::next_sent_at`).
        let sent_at = match self.inner.messenger.thread_head(&thread)? {
            Some(_) => {
                let l = self.load(&thread, now)?;
                if l.state.deal.is_some() {
                    return Err(MarketError::WrongMove(
                        "you already have a deal on this listing in this negotiation; \
                         `swapmeet deals` shows it"
                            .into(),
                    ));
                }
                l.next_sent_at()
            }
            None => now,
        };
        let terms = OfferTerms {
            amount_minor: amount,
            currency,
            quantity,
            expires_at: expiry(sent_at, req.expires_in_secs)?,
        };
        let body = MessageBody::Negotiation(Move::Offer(terms));
        // Checked before anything is sent: the text rules, then the move's.
        check_text(req.message.as_deref())?;
        terms
            .validate(sent_at)
            .map_err(|e| MarketError::invalid("price", e))?;
        if let Some(text) = &req.message {
            self.inner.messenger.start_with(
                about.clone(),
                MessageBody::Text(text.clone()),
                sent_at,
            )?;
        }
        self.inner.messenger.start_with(about, body, sent_at)?;
        self.emit(MarketEvent::Negotiation {
            thread,
            listing: id,
        });
        self.view_at(&thread, now)
    }

    /// A counter-offer in `thread`, answering the other party's open offer.
    pub fn counter(
        &self,
        thread: &ThreadId,
        req: &OfferRequestParsed,
    ) -> Result<NegotiationView, MarketError> {
        let now = self.inner.engine.now();
        let _decide = self.lock_decide();
        let l = self.load(thread, now)?;
        if l.state.deal.is_some() {
            return Err(MarketError::WrongMove(
                "this negotiation already has its deal; `swapmeet deals` shows it".into(),
            ));
        }
        let me = l.me();
        let answered: Vec<&OfferEntry> = l.state.open().filter(|e| e.by != me).collect();
        let Some(last) = answered.last() else {
            let own = l.state.open().any(|e| e.by == me);
            return Err(MarketError::WrongMove(if own {
                "you cannot counter your own offer: a counter answers an open offer of the other \
                 party (retract yours and make a new one instead)"
                    .into()
            } else {
                "there is no open offer of the other party to counter".into()
            }));
        };
        let (version, price) = l.latest_version().ok_or_else(|| {
            MarketError::NotFound(format!(
                "listing {} is not known to this node",
                l.head.listing
            ))
        })?;
        if l.facts.withdrawn_at.is_some() {
            return Err(MarketError::WrongMove(
                "the listing was withdrawn: its negotiations are closed".into(),
            ));
        }
        let Price::Fixed {
            amount_minor: asking,
            currency,
        } = price
        else {
            return Err(MarketError::WrongMove("the listing is free now".into()));
        };
        let amount = parse_amount(&req.price, currency)?;
        let quantity = quantity_of(req.quantity, last.terms.quantity)?;
        if me == Party::Seller {
            let available = self.available(&l.head.listing)?.unwrap_or(0);
            if quantity > available {
                return Err(MarketError::WrongMove(format!(
                    "you have {available} left; the counter is for {quantity}"
                )));
            }
        }
        if me == Party::Buyer && amount > asking.saturating_mul(u64::from(quantity)) {
            return Err(MarketError::WrongMove(format!(
                "an offer is at most the asking price: {} for {quantity}",
                super::settings::fmt_minor(asking.saturating_mul(u64::from(quantity)), currency)
            )));
        }
        let sent_at = l.next_sent_at();
        let terms = OfferTerms {
            amount_minor: amount,
            currency,
            quantity,
            expires_at: expiry(sent_at, req.expires_in_secs)?,
        };
        check_text(req.message.as_deref())?;
        terms
            .validate(sent_at)
            .map_err(|e| MarketError::invalid("price", e))?;
        let about = ListingRef {
            seller: l.parties.seller,
            item_key: l.head.about.item_key.clone(),
            version,
        };
        if let Some(text) = &req.message {
            self.inner.messenger.reply_with(
                *thread,
                Some(about.clone()),
                MessageBody::Text(text.clone()),
                sent_at,
            )?;
        }
        self.inner.messenger.reply_with(
            *thread,
            Some(about),
            MessageBody::Negotiation(Move::Counter(terms)),
            sent_at,
        )?;
        self.emit(MarketEvent::Negotiation {
            thread: *thread,
            listing: l.head.listing,
        });
        // A buyer's counter is an offer the seller's own rules may answer; mine are answered
        // by the other node.
        self.view_at(thread, now)
    }

    /// Accepts the other party's open offer. The seller's node confirms its stock first and
    /// signs the deal with the accept; the buyer's accept carries the buyer's signature, and
    /// the deal is confirmed when the seller's node answers with its own.
    pub fn accept(&self, thread: &ThreadId, pick: &Pick) -> Result<NegotiationView, MarketError> {
        let now = self.inner.engine.now();
        let _decide = self.lock_decide();
        let l = self.load(thread, now)?;
        let target = self.pick(&l, pick, false)?;
        if l.me() == Party::Seller {
            self.seller_accept(&l, &target)?;
        } else {
            let sent_at = l.answer_sent_at();
            self.inner.messenger.reply_with(
                *thread,
                None,
                MessageBody::Negotiation(Move::Accept { of: target.hash }),
                sent_at,
            )?;
            self.react_locked(thread)?;
        }
        self.emit(MarketEvent::Negotiation {
            thread: *thread,
            listing: l.head.listing,
        });
        self.view_at(thread, now)
    }

    /// Declines the other party's open offer.
    pub fn decline(&self, thread: &ThreadId, pick: &Pick) -> Result<NegotiationView, MarketError> {
        self.close_move(thread, pick, false)
    }

    /// Retracts my own open offer.
    pub fn retract(&self, thread: &ThreadId, pick: &Pick) -> Result<NegotiationView, MarketError> {
        self.close_move(thread, pick, true)
    }

    fn close_move(
        &self,
        thread: &ThreadId,
        pick: &Pick,
        retract: bool,
    ) -> Result<NegotiationView, MarketError> {
        let now = self.inner.engine.now();
        let _decide = self.lock_decide();
        let l = self.load(thread, now)?;
        let target = self.pick(&l, pick, retract)?;
        let mv = if retract {
            Move::Retract { of: target.hash }
        } else {
            Move::Decline { of: target.hash }
        };
        // A retract names my own offer: dated after the other party's moves of this second.
        let sent_at = if retract {
            l.next_sent_at()
        } else {
            l.answer_sent_at()
        };
        self.inner
            .messenger
            .reply_with(*thread, None, MessageBody::Negotiation(mv), sent_at)?;
        self.emit(MarketEvent::Negotiation {
            thread: *thread,
            listing: l.head.listing,
        });
        self.view_at(thread, now)
    }

    /// The offer a move names: by hash prefix, or the single candidate (the other party's
    /// open offers; mine for a retract). Says why when it cannot be taken.
    fn pick(&self, l: &Loaded, pick: &Pick, mine: bool) -> Result<OfferEntry, MarketError> {
        let me = l.me();
        if l.state.deal.is_some() {
            return Err(MarketError::WrongMove(
                "this negotiation already has its deal; `swapmeet deals` shows it".into(),
            ));
        }
        let verb = if mine { "retract" } else { "accept or decline" };
        let whose = |e: &OfferEntry| (e.by == me) == mine;
        if let Some(p) = &pick.of {
            let p = p.trim().to_ascii_lowercase();
            if p.len() < MIN_OFFER_PREFIX || !p.bytes().all(|b| b.is_ascii_hexdigit()) {
                return Err(MarketError::invalid(
                    "of",
                    format!(
                        "'{p}' is not an offer hash: give at least {MIN_OFFER_PREFIX} hex digits"
                    ),
                ));
            }
            let found: Vec<&OfferEntry> = l
                .state
                .offers
                .iter()
                .filter(|e| e.hash.to_string().starts_with(&p))
                .collect();
            let e = match found.as_slice() {
                [e] => *e,
                [] => {
                    return Err(MarketError::NotFound(format!(
                        "no offer {p} in this negotiation"
                    )))
                }
                _ => {
                    return Err(MarketError::invalid(
                        "of",
                        format!("'{p}' names several offers"),
                    ))
                }
            };
            if !whose(e) {
                return Err(MarketError::WrongMove(if mine {
                    "you can only retract your own offer".into()
                } else {
                    "this is your own offer: only the other party accepts or declines it".into()
                }));
            }
            if e.status != OfferStatus::Open {
                return Err(MarketError::WrongMove(format!(
                    "offer {} {}",
                    short(&e.hash),
                    status_words(&e.status)
                )));
            }
            return Ok(*e);
        }
        let open: Vec<&OfferEntry> = l.state.open().filter(|e| whose(e)).collect();
        match open.as_slice() {
            [e] => Ok(**e),
            [] => {
                // Say why the latest candidate cannot be taken, if there is one.
                let latest = l.state.offers.iter().rev().find(|e| whose(e));
                Err(MarketError::WrongMove(match latest {
                    Some(e) => format!(
                        "there is no open offer to {verb}: the latest {}",
                        status_words(&e.status)
                    ),
                    None if mine => "you have no open offer to retract".into(),
                    None => "the other party has no open offer to accept or decline".into(),
                }))
            }
            several => Err(MarketError::WrongMove(format!(
                "{} offers are open; name one with `of`: {}",
                several.len(),
                several
                    .iter()
                    .map(|e| short(&e.hash))
                    .collect::<Vec<_>>()
                    .join(", ")
            ))),
        }
    }

    /// One negotiation now.
    pub fn negotiation(&self, thread: &ThreadId) -> Result<NegotiationView, MarketError> {
        let now = self.inner.engine.now();
        self.view_at(thread, now)
    }

    /// Every thread with at least one offer: those with an open offer first, then the most
    /// recently active.
    pub fn negotiations(&self) -> Result<Vec<NegotiationView>, MarketError> {
        let now = self.inner.engine.now();
        let mut out = Vec::new();
        for h in self.inner.messenger.thread_heads()? {
            let v = self.view_at(&h.thread, now)?;
            if !v.state.offers.is_empty() {
                out.push(v);
            }
        }
        out.sort_by(|a, b| {
            let open = |v: &NegotiationView| v.state.open().next().is_some();
            open(b)
                .cmp(&open(a))
                .then(b.head.updated_at.cmp(&a.head.updated_at))
                .then(a.head.thread.cmp(&b.head.thread))
        });
        Ok(out)
    }

    fn view_at(&self, thread: &ThreadId, now: u64) -> Result<NegotiationView, MarketError> {
        let l = self.load(thread, now)?;
        let stored = self.inner.engine.get(&l.head.listing)?;
        let asking = l.latest_version().map(|(_, p)| p);
        let deal = match &l.state.deal {
            Some(d) => self.deal_of_accept(&d.accept)?,
            None => None,
        };
        Ok(NegotiationView {
            title: stored.map(|r| r.summary.title),
            head: l.head,
            state: l.state,
            asking,
            deal,
        })
    }
}

fn check_text(text: Option<&str>) -> Result<(), MarketError> {
    let Some(t) = text else { return Ok(()) };
    let max = swapmeet_protocol::limits::MAX_MESSAGE_TEXT_CHARS;
    let n = t.chars().count();
    if t.trim().is_empty() {
        return Err(MarketError::invalid("message", "is empty"));
    }
    if n > max {
        return Err(MarketError::invalid(
            "message",
            format!("is {n} characters, the limit is {max}"),
        ));
    }
    if t.chars().any(|c| c.is_control() && c != '\n' && c != '\t') {
        return Err(MarketError::invalid(
            "message",
            "contains control characters (only newlines and tabs are allowed)",
        ));
    }
    Ok(())
}
