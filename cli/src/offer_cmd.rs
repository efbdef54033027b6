//! offer, offers, counter, accept, decline, retract: negotiating a listing's price.
//!
//! Every value the CLI can check (price syntax, quantity, expiry and its 7-day limit, note
//! length, id syntax) is checked before the node is contacted; the node checks the rest (own
//! listing, asking price, currency, expired or superseded offers, limits) and answers a wrong
//! move with 409 and a sentence, printed as the error (exit code 2). Answers are read into the
//! API's own types (`swapmeet_node::api::market`).

use anyhow::{bail, Result};
use serde::Serialize;
use serde_json::Value;
use swapmeet_node::api::market::{
    CounterRequest, NegotiationJson, NegotiationsJson, OfferJson, OfferKind, OfferRequest,
    OfferStatusJson, PickRequest,
};
use swapmeet_node::api::messages::MIN_THREAD_PREFIX;
use swapmeet_node::home::Home;
use swapmeet_node::messaging::Role;

use crate::args::{AcceptArgs, CounterArgs, OfferArgs, TermsArgs, ThreadMoveArgs};
use crate::client::Client;
use crate::message_cmd::{message_text, typed};
use crate::output::{clip, date, table, Out};
use crate::util::{hex_prefix, offer_amount, offer_lifetime, offer_quantity};
use crate::Done;

/// Shortest hash prefix `--of` takes (the API's rule for thread prefixes too).
const MIN_HASH_PREFIX: usize = 8;

/// The checked terms flags: price text, quantity, lifetime in seconds.
fn terms(t: &TermsArgs) -> Result<(String, Option<u32>, Option<u64>)> {
    let price = offer_amount("--price", &t.price)?;
    let qty = t.qty.map(|q| offer_quantity("--qty", q)).transpose()?;
    let secs = t
        .expires
        .as_deref()
        .map(|e| offer_lifetime("--expires", e))
        .transpose()?;
    Ok((price, qty, secs))
}

fn note(message: Option<&str>) -> Result<Option<String>> {
    message.map(message_text).transpose()
}

fn thread_id(text: &str) -> Result<String> {
    hex_prefix("thread id", text, MIN_THREAD_PREFIX, "swapmeet offers")
}

fn pick(of: Option<&str>) -> Result<PickRequest> {
    Ok(PickRequest {
        of: of
            .map(|h| hex_prefix("offer hash", h, MIN_HASH_PREFIX, "swapmeet offers"))
            .transpose()?,
    })
}

/// A listing id or the start of one: base32 letters and digits 2-7.
fn listing_id(text: &str) -> Result<String> {
    let t = text.trim();
    let ok = (MIN_HASH_PREFIX..=26).contains(&t.len())
        && t.bytes()
            .all(|b| b.is_ascii_lowercase() || (b'2'..=b'7').contains(&b));
    if !ok {
        bail!(
            "'{t}' is not a listing id (26 characters a-z, 2-7, or the first {MIN_HASH_PREFIX} or more; see `swapmeet search`)"
        );
    }
    Ok(t.to_string())
}

fn post<T: Serialize>(c: &Client, path: &str, body: &T) -> Result<(Value, NegotiationJson)> {
    let v = c.post(path, &serde_json::to_value(body)?)?;
    let n = typed(v.clone())?;
    Ok((v, n))
}

pub fn offer(home: &Home, out: &Out, a: OfferArgs) -> Result<Done> {
    let listing = listing_id(&a.listing)?;
    let (price, quantity, expires_in_secs) = terms(&a.terms)?;
    let req = OfferRequest {
        listing,
        price,
        quantity,
        expires_in_secs,
        message: note(a.message.as_deref())?,
    };
    let c = Client::connect(home)?;
    let (v, n) = post(&c, "/v1/offers", &req)?;
    out.emit(&v, || {
        let mine = n.offers.iter().rev().find(|o| o.by == n.role);
        format!(
            "{}\n  thread {}: see it with `swapmeet offers`",
            match mine {
                Some(o) => format!(
                    "offered {} on {}: {}",
                    terms_text(o),
                    title(&n),
                    state_text(o)
                ),
                None => format!("offered on {}", title(&n)),
            },
            short(&n.thread)
        )
    })?;
    Ok(Done::Ok)
}

pub fn counter(home: &Home, out: &Out, a: CounterArgs) -> Result<Done> {
    let thread = thread_id(&a.thread)?;
    let (price, quantity, expires_in_secs) = terms(&a.terms)?;
    let req = CounterRequest {
        price,
        quantity,
        expires_in_secs,
        message: note(a.message.as_deref())?,
    };
    let c = Client::connect(home)?;
    let (v, n) = post(&c, &format!("/v1/offers/{thread}/counter"), &req)?;
    out.emit(&v, || {
        match n.offers.iter().rev().find(|o| o.by == n.role) {
            Some(o) => format!(
                "countered with {} on {}: {}",
                terms_text(o),
                title(&n),
                state_text(o)
            ),
            None => format!("countered on {}", title(&n)),
        }
    })?;
    Ok(Done::Ok)
}

pub fn accept(home: &Home, out: &Out, a: AcceptArgs) -> Result<Done> {
    let thread = thread_id(&a.thread)?;
    let req = pick(a.of.as_deref())?;
    let c = Client::connect(home)?;
    let (v, n) = post(&c, &format!("/v1/offers/{thread}/accept"), &req)?;
    out.emit(&v, || match &n.deal {
        Some(d) => format!(
            "accepted {} for {} on {}: deal {} ({}){}",
            d.price,
            d.quantity,
            title(&n),
            short(&d.id),
            word(&d.state),
            "\n  it is final once both sides have signed it; see `swapmeet deals`"
        ),
        None => format!("accepted on {}; see `swapmeet deals`", title(&n)),
    })?;
    Ok(Done::Ok)
}

pub fn decline(home: &Home, out: &Out, a: AcceptArgs) -> Result<Done> {
    let thread = thread_id(&a.thread)?;
    let req = pick(a.of.as_deref())?;
    let c = Client::connect(home)?;
    let (v, n) = post(&c, &format!("/v1/offers/{thread}/decline"), &req)?;
    out.emit(&v, || format!("declined on {}", title(&n)))?;
    Ok(Done::Ok)
}

pub fn retract(home: &Home, out: &Out, a: ThreadMoveArgs) -> Result<Done> {
    let thread = thread_id(&a.thread)?;
    let req = pick(a.of.as_deref())?;
    let c = Client::connect(home)?;
    let (v, n) = post(&c, &format!("/v1/offers/{thread}/retract"), &req)?;
    out.emit(&v, || format!("retracted your offer on {}", title(&n)))?;
    Ok(Done::Ok)
}

pub fn offers(home: &Home, out: &Out) -> Result<Done> {
    let c = Client::connect(home)?;
    let list: NegotiationsJson = typed(c.get("/v1/offers")?)?;
    if out.json {
        for n in &list.negotiations {
            out.emit(&serde_json::to_value(n)?, String::new)?;
        }
        return Ok(Done::Ok);
    }
    if list.negotiations.is_empty() {
        out.emit(&Value::Null, || {
            "no negotiations yet; make an offer with `swapmeet offer LISTING_ID --price AMOUNT`"
                .into()
        })?;
        return Ok(Done::Ok);
    }
    let mut rows = Vec::new();
    for n in &list.negotiations {
        // The latest offer tells where the negotiation stands; the deal, if any, ends it.
        let latest = n.offers.last();
        rows.push(vec![
            short(&n.thread),
            role_word(n.role).into(),
            clip(&title(n), 28),
            n.asking.clone().unwrap_or_default(),
            latest
                .map(|o| format!("{} {}: {}", whose(o, n.role), kind_word(o), terms_text(o)))
                .unwrap_or_default(),
            match (&n.deal, latest) {
                (Some(d), _) => format!("deal {} ({})", short(&d.id), word(&d.state)),
                (None, Some(o)) => state_text(o),
                (None, None) => String::new(),
            },
        ]);
    }
    out.emit(&Value::Null, || {
        table(
            &["THREAD", "ROLE", "LISTING", "ASKING", "LATEST", "STATE"],
            &rows,
        )
    })?;
    Ok(Done::Ok)
}

fn title(n: &NegotiationJson) -> String {
    n.title
        .clone()
        .unwrap_or_else(|| format!("listing {}", n.listing))
}

pub(crate) fn short(id: &str) -> String {
    id.chars().take(12).collect()
}

fn role_word(r: Role) -> &'static str {
    match r {
        Role::Buyer => "buying",
        Role::Seller => "selling",
    }
}

fn whose(o: &OfferJson, me: Role) -> &'static str {
    if o.by == me {
        "your"
    } else {
        "their"
    }
}

fn kind_word(o: &OfferJson) -> &'static str {
    match o.kind {
        OfferKind::Offer => "offer",
        OfferKind::Counter => "counter",
    }
}

fn terms_text(o: &OfferJson) -> String {
    if o.quantity == 1 {
        o.price.clone()
    } else {
        format!("{} for {}", o.price, o.quantity)
    }
}

/// Where an offer stands, with the time left when it is open.
fn state_text(o: &OfferJson) -> String {
    match o.status {
        OfferStatusJson::Open => format!(
            "open, {} left (until {})",
            time_left(o.seconds_left),
            date(o.expires_at)
        ),
        s => word(&s),
    }
}

/// A serialized enum's name as words ("closed_by_deal" -> "closed by deal").
pub(crate) fn word<T: Serialize>(v: &T) -> String {
    match serde_json::to_value(v) {
        Ok(Value::String(s)) => s.replace('_', " "),
        _ => String::new(),
    }
}

/// "1d 23h", "5h 02m", "12m", "40s".
pub(crate) fn time_left(secs: u64) -> String {
    let (d, h, m) = (secs / 86_400, secs % 86_400 / 3600, secs % 3600 / 60);
    if d > 0 {
        format!("{d}d {h}h")
    } else if h > 0 {
        format!("{h}h {m:02}m")
    } else if m > 0 {
        format!("{m}m")
    } else {
        format!("{secs}s")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn time_left_reads_at_a_glance() {
        assert_eq!(time_left(172_800), "2d 0h");
        assert_eq!(time_left(172_799), "1d 23h");
        assert_eq!(time_left(3_720), "1h 02m");
        assert_eq!(time_left(600), "10m");
        assert_eq!(time_left(42), "42s");
    }

    #[test]
    fn listing_ids_and_prefixes_are_checked_locally() {
        assert!(listing_id("43pcp7j3ji3c3ijlq4ut3v2zgi").is_ok());
        assert!(listing_id("43pcp7j3").is_ok());
        let err = listing_id("43PC!").unwrap_err().to_string();
        assert!(err.contains("not a listing id"), "{err}");
    }
}
