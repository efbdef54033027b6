//! message, inbox, thread: private conversations between a buyer and a seller.
//!
//! The answers are read into the API's own types (`swapmeet_node::api::messages`), the same
//! ones the node serializes.

use std::io::Read;

use anyhow::{anyhow, bail, Context, Result};
use serde::de::DeserializeOwned;
use serde_json::{json, Value};
use swapmeet_node::api::messages::{
    InboxJson, MessageJson, SentJson, ThreadJson, ThreadViewJson, MIN_THREAD_PREFIX,
};
use swapmeet_node::home::Home;
use swapmeet_node::messaging::{DeliveryState, Role};
use swapmeet_protocol::limits::MAX_MESSAGE_TEXT_CHARS;
use swapmeet_protocol::ListingId;

use crate::args::{InboxArgs, MessageArgs, ThreadArgs};
use crate::client::Client;
use crate::output::{clip, date, table, Out};
use crate::Done;

/// Most bytes read from standard input for `message ID -` (4 bytes per character at most).
const MAX_STDIN_BYTES: u64 = (MAX_MESSAGE_TEXT_CHARS as u64) * 4 + 1;

pub(crate) fn typed<T: DeserializeOwned>(v: Value) -> Result<T> {
    serde_json::from_value(v).context("the node's answer is not what this version expects")
}

/// The text of a message, checked before the node is contacted.
pub(crate) fn message_text(arg: &str) -> Result<String> {
    let text = if arg == "-" {
        let mut buf = Vec::new();
        std::io::stdin()
            .take(MAX_STDIN_BYTES)
            .read_to_end(&mut buf)
            .context("reading the message from standard input")?;
        String::from_utf8(buf).map_err(|_| anyhow!("TEXT: standard input is not UTF-8 text"))?
    } else {
        arg.to_string()
    };
    let text = text.trim_end_matches(['\n', '\r']).to_string();
    if text.trim().is_empty() {
        bail!("TEXT: the message is empty; write what you want to say");
    }
    let n = text.chars().count();
    if n > MAX_MESSAGE_TEXT_CHARS {
        bail!("TEXT: the message is {n} characters, the limit is {MAX_MESSAGE_TEXT_CHARS}; split it in two");
    }
    Ok(text)
}

fn state_word(state: Option<DeliveryState>) -> &'static str {
    match state {
        Some(DeliveryState::Queued) => "queued",
        Some(DeliveryState::Delivered) => "delivered",
        Some(DeliveryState::Expired) => "expired",
        None => "",
    }
}

fn short(id: &str) -> String {
    id.chars().take(12).collect()
}

pub fn message(home: &Home, out: &Out, a: MessageArgs) -> Result<Done> {
    let text = message_text(&a.text)?;
    let target = a.target.trim();
    let body = if target.parse::<ListingId>().is_ok() {
        json!({"listing": target, "text": text})
    } else if target.len() >= MIN_THREAD_PREFIX && target.bytes().all(|b| b.is_ascii_hexdigit()) {
        json!({"thread": target, "text": text})
    } else {
        bail!(
            "'{target}' is neither a listing id (26 characters a-z, 2-7; see `swapmeet search`) nor a thread id (hex, from `swapmeet inbox`)"
        );
    };
    let c = Client::connect(home)?;
    let v = c.post("/v1/messages", &body)?;
    let sent: SentJson = typed(v.clone())?;
    out.emit(&v, || {
        format!(
            "queued for {} (thread {}); it shows as delivered once their node confirms it\n  see it with: swapmeet thread {}",
            clip(&sent.to, 20),
            short(&sent.thread),
            short(&sent.thread)
        )
    })?;
    Ok(Done::Ok)
}

fn role_word(r: Role) -> &'static str {
    match r {
        Role::Buyer => "buying",
        Role::Seller => "selling",
    }
}

fn thread_title(t: &ThreadJson) -> String {
    match &t.title {
        Some(title) => title.clone(),
        None => format!("listing {}", t.listing),
    }
}

pub fn inbox(home: &Home, out: &Out, a: InboxArgs) -> Result<Done> {
    let c = Client::connect(home)?;
    let inbox: InboxJson = typed(c.get("/v1/inbox")?)?;
    let threads: Vec<&ThreadJson> = inbox
        .threads
        .iter()
        .filter(|t| !a.unread || t.unread > 0)
        .collect();
    if out.json {
        for t in &threads {
            out.emit(&serde_json::to_value(t)?, String::new)?;
        }
        return Ok(Done::Ok);
    }
    if threads.is_empty() {
        out.emit(&Value::Null, || {
            if a.unread {
                "no unread messages".into()
            } else {
                "no conversations yet; write to a seller with `swapmeet message LISTING_ID TEXT`"
                    .into()
            }
        })?;
        return Ok(Done::Ok);
    }
    let rows: Vec<Vec<String>> = threads
        .iter()
        .map(|t| {
            let last = t
                .last
                .as_ref()
                .map(|m| {
                    let who = if m.from_me { "you: " } else { "" };
                    format!("{who}{}", clip(&m.text.replace('\n', " "), 40))
                })
                .unwrap_or_default();
            let delivery = if t.queued > 0 {
                format!("{} queued", t.queued)
            } else {
                t.last
                    .as_ref()
                    .filter(|m| m.from_me)
                    .map(|m| state_word(m.state).to_string())
                    .unwrap_or_default()
            };
            vec![
                short(&t.thread),
                role_word(t.role).into(),
                clip(&thread_title(t), 30),
                clip(&t.other, 14),
                if t.unread > 0 {
                    t.unread.to_string()
                } else {
                    String::new()
                },
                delivery,
                last,
            ]
        })
        .collect();
    out.emit(&Value::Null, || {
        table(
            &[
                "THREAD", "ROLE", "LISTING", "WITH", "UNREAD", "DELIVERY", "LAST",
            ],
            &rows,
        )
    })?;
    Ok(Done::Ok)
}

fn line(m: &MessageJson) -> String {
    let who = if m.from_me {
        "you".to_string()
    } else {
        clip(&m.sender, 14)
    };
    let state = if m.from_me {
        format!("  [{}]", state_word(m.state))
    } else if !m.read {
        "  [new]".into()
    } else {
        String::new()
    };
    let text = m.text.replace('\n', "\n    ");
    format!("{}  {who}:{state}\n    {text}", date(m.sent_at))
}

pub fn thread(home: &Home, out: &Out, a: ThreadArgs) -> Result<Done> {
    let id = a.thread.trim();
    if id.len() < MIN_THREAD_PREFIX || !id.bytes().all(|b| b.is_ascii_hexdigit()) {
        bail!("'{id}' is not a thread id (hex, at least {MIN_THREAD_PREFIX} characters; see `swapmeet inbox`)");
    }
    let c = Client::connect(home)?;
    let path = if a.keep_unread {
        format!("/v1/threads/{id}?mark_read=false")
    } else {
        format!("/v1/threads/{id}")
    };
    let v = c.get(&path)?;
    let view: ThreadViewJson = typed(v.clone())?;
    out.emit(&v, || {
        let t = &view.thread;
        let mut text = format!(
            "{} ({}, {}) — you are {} with {}\nthread {}\n",
            thread_title(t),
            t.listing,
            t.listing_status,
            role_word(t.role),
            t.other,
            t.thread
        );
        for m in &view.conversation {
            text.push('\n');
            text.push_str(&line(m));
        }
        text
    })?;
    Ok(Done::Ok)
}
