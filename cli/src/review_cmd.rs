//! review, reviews, verify.

use std::io::Read;

use anyhow::{bail, Context, Result};
use serde_json::{json, Value};
use swapmeet_node::api::envelope_from_text;
use swapmeet_node::api::reviews::{ReviewRequest, ReviewsJson, WrittenReview};
use swapmeet_node::home::Home;
use swapmeet_node::market::reputation::Reputation;
use swapmeet_protocol::limits::MAX_REVIEW_TEXT_CHARS;
use swapmeet_protocol::{
    DealReceipt, DealTerms, EnvelopeKind, Price, PublicKey, SignedEnvelope, DEAL_TEXT_PREFIX,
};

use crate::args::{ReviewArgs, ReviewsArgs, VerifyArgs};
use crate::client::Client;
use crate::output::{clip, date, table, Out};
use crate::Done;

/// "4.5★ from 2 reviews, 3 deals", or that nobody reviewed the key yet.
pub fn reputation_text(r: &Reputation) -> String {
    match r.average_rating {
        Some(avg) => format!(
            "{avg:.1}★ from {} review{}, {} deal{}",
            r.reviews,
            plural(r.reviews),
            r.deals,
            plural(r.deals)
        ),
        None if r.deals > 0 => format!("not rated yet, {} deal{}", r.deals, plural(r.deals)),
        None => "no reviewed deals yet".into(),
    }
}

/// The short form for a table column: "4.5★ (3)" (average, deals), "-" without a rating.
pub fn rating_cell(v: &Value) -> String {
    match v["average_rating"].as_f64() {
        Some(avg) => format!("{avg:.1}★ ({})", v["deals"].as_u64().unwrap_or(0)),
        None => "-".into(),
    }
}

fn plural(n: u32) -> &'static str {
    if n == 1 {
        ""
    } else {
        "s"
    }
}

pub fn review(home: &Home, out: &Out, a: ReviewArgs) -> Result<Done> {
    // Checked here too, so a typo never reaches the node (the node checks the same).
    let chars = a.text.chars().count();
    if chars > MAX_REVIEW_TEXT_CHARS {
        bail!("--text: {chars} characters, the limit is {MAX_REVIEW_TEXT_CHARS}");
    }
    let req = ReviewRequest {
        deal: a.deal,
        rating: i64::from(a.rating),
        text: a.text,
    };
    let c = Client::connect(home)?;
    let v = c.post("/v1/reviews", &serde_json::to_value(&req)?)?;
    let w: WrittenReview =
        serde_json::from_value(v.clone()).context("reading the node's answer")?;
    out.emit(&v, || {
        let mut t = format!(
            "reviewed {} (deal {}): {}★",
            w.review.about,
            w.review.deal.to_string().get(..12).unwrap_or_default(),
            w.review.rating
        );
        if w.replaced {
            t.push_str("\nthis replaces your earlier review of this deal (one review per deal: the later one counts)");
        }
        t.push_str(&format!(
            "\nthey now have {}",
            reputation_text(&w.reputation)
        ));
        t
    })?;
    Ok(Done::Ok)
}

pub fn reviews(home: &Home, out: &Out, a: ReviewsArgs) -> Result<Done> {
    let about: PublicKey = a
        .seller
        .parse()
        .map_err(|e| anyhow::anyhow!("SELLER: {e}"))?;
    if a.limit == 0 || a.limit > swapmeet_node::market::reviews::MAX_LISTED {
        bail!(
            "--limit: {} is not in 1..={}",
            a.limit,
            swapmeet_node::market::reviews::MAX_LISTED
        );
    }
    let c = Client::connect(home)?;
    let v = c.get(&format!("/v1/reviews?about={about}&limit={}", a.limit))?;
    let r: ReviewsJson = serde_json::from_value(v.clone()).context("reading the node's answer")?;
    out.emit(&v, || {
        let mut t = format!("{}: {}", r.about, reputation_text(&r.reputation));
        if !r.reviews.is_empty() {
            let rows: Vec<Vec<String>> = r
                .reviews
                .iter()
                .map(|x| {
                    vec![
                        date(x.written_at),
                        format!("{}★", x.rating),
                        x.by.to_string().get(..12).unwrap_or_default().to_string(),
                        clip(&x.text.replace('\n', " "), 70),
                    ]
                })
                .collect();
            t.push_str("\n\n");
            t.push_str(&table(&["WRITTEN", "RATING", "BY", "TEXT"], &rows));
        }
        t
    })?;
    Ok(if r.reviews.is_empty() {
        Done::NothingFound
    } else {
        Done::Ok
    })
}

fn terms_json(t: &DealTerms) -> Value {
    json!({
        "deal": t.id(),
        "listing": t.listing().to_string(),
        "seller": t.seller,
        "buyer": t.buyer,
        "price": Price::Fixed { amount_minor: t.amount_minor, currency: t.currency }.to_string(),
        "amount_minor": t.amount_minor,
        "currency": t.currency.code(),
        "quantity": t.quantity,
        "accepted_at": t.accepted_at,
        "listing_version": t.version,
    })
}

fn terms_text(t: &DealTerms) -> String {
    format!(
        "deal:     {}\nlisting:  {} (version {})\nseller:   {}\nbuyer:    {}\nprice:    {} for {}\naccepted: {}",
        t.id(),
        t.listing(),
        t.version,
        t.seller,
        t.buyer,
        Price::Fixed {
            amount_minor: t.amount_minor,
            currency: t.currency
        },
        t.quantity,
        date(t.accepted_at),
    )
}

/// What one line proves: the terms (and the review) when valid, or why not.
fn verify_line(line: &str, now: u64) -> Result<(Value, String), String> {
    if line.starts_with(DEAL_TEXT_PREFIX) {
        let receipt = DealReceipt::from_text(line).map_err(|e| e.to_string())?;
        let terms = receipt.verify().map_err(|e| e.to_string())?;
        let mut v = terms_json(terms);
        v["kind"] = json!("receipt");
        v["valid"] = json!(true);
        let text = format!(
            "valid deal receipt: both parties signed these terms\n{}",
            terms_text(terms)
        );
        return Ok((v, text));
    }
    let bytes = envelope_from_text(line)?;
    let env = SignedEnvelope::decode(&bytes).map_err(|e| e.to_string())?;
    if env.kind() != EnvelopeKind::Review {
        return Err(format!(
            "a signed {} is not a review or a deal receipt (`swapmeet import` takes listings)",
            env.kind().name()
        ));
    }
    let review = env.verify_review(now).map_err(|e| e.to_string())?;
    let r = review.payload();
    let terms = r.receipt.verify().map_err(|e| e.to_string())?;
    let v = json!({
        "kind": "review",
        "valid": true,
        "by": review.signer(),
        "about": r.about,
        "rating": r.rating,
        "text": r.text,
        "written_at": r.written_at,
        "hash": review.hash(),
        "terms": terms_json(terms),
    });
    let text = format!(
        "valid review: {}★ by {} about {}, written {}\n{}\n\n{}",
        r.rating,
        review.signer(),
        r.about,
        date(r.written_at),
        if r.text.is_empty() {
            "(no text)"
        } else {
            &r.text
        },
        terms_text(terms)
    );
    Ok((v, text))
}

pub fn verify(out: &Out, a: VerifyArgs) -> Result<Done> {
    let mut input = String::new();
    match a.file.as_deref() {
        Some(p) if p.as_os_str() != "-" => std::fs::File::open(p)
            .and_then(|mut f| f.read_to_string(&mut input))
            .with_context(|| format!("reading {}", p.display()))?,
        _ => std::io::stdin()
            .read_to_string(&mut input)
            .context("reading standard input")?,
    };
    let lines: Vec<&str> = input
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    if lines.is_empty() {
        bail!(
            "nothing to verify: expected a `swapmeet-deal1:` receipt or a `swapmeet1:` review line"
        );
    }
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let mut all_valid = true;
    for (i, line) in lines.iter().enumerate() {
        match verify_line(line, now) {
            Ok((v, text)) => out.emit(&v, || text)?,
            Err(reason) => {
                all_valid = false;
                let where_ = if lines.len() > 1 {
                    format!("line {}: ", i + 1)
                } else {
                    String::new()
                };
                if out.json {
                    out.emit(
                        &json!({"valid": false, "line": i + 1, "reason": reason}),
                        String::new,
                    )?;
                } else {
                    eprintln!("{where_}not valid: {reason}");
                }
            }
        }
    }
    Ok(if all_valid {
        Done::Ok
    } else {
        Done::PartlyFailed
    })
}

/// The seller's figures for `show`, from the listing's JSON.
pub fn show_line(v: &Value) -> Option<String> {
    let r: Reputation = serde_json::from_value(v["seller_reputation"].clone()).ok()?;
    Some(reputation_text(&r))
}
