//! blocklist publish / trust / untrust / list.
//!
//! The answers are read into the API's own types (`swapmeet_node::api::blocklists`).

use anyhow::{anyhow, Context, Result};
use serde_json::json;
use swapmeet_node::api::blocklists::{
    EntryView, PublishRequest, PublishedList, Trusted, TrustedList, Untrusted,
};
use swapmeet_node::home::Home;
use swapmeet_protocol::limits::MAX_BLOCKLIST_ENTRIES;
use swapmeet_protocol::PublicKey;

use crate::args::{AuthorArg, BlocklistArgs, BlocklistCommand, BlocklistPublishArgs};
use crate::client::Client;
use crate::message_cmd::typed;
use crate::output::{clip, date, table, Out};
use crate::Done;

/// Largest entries file read (a full list with the longest reasons is well under it).
const MAX_FILE_BYTES: u64 = 1024 * 1024;

pub fn blocklist(home: &Home, out: &Out, a: BlocklistArgs) -> Result<Done> {
    match a.command {
        BlocklistCommand::Publish(p) => publish(home, out, p),
        BlocklistCommand::Trust(k) => trust(home, out, k),
        BlocklistCommand::Untrust(k) => untrust(home, out, k),
        BlocklistCommand::List => list(home, out),
    }
}

fn author(text: &str) -> Result<PublicKey> {
    text.trim()
        .parse()
        .map_err(|e| anyhow!("KEY: {e}; the author gives you their seller id"))
}

/// Reads an entries file: `SELLER [reason]` per line. Every bad line is named with its number.
fn read_entries(path: &std::path::Path) -> Result<Vec<EntryView>> {
    let len = std::fs::metadata(path)
        .with_context(|| format!("reading {}", path.display()))?
        .len();
    if len > MAX_FILE_BYTES {
        anyhow::bail!(
            "{}: {len} bytes; an entries file is at most {MAX_FILE_BYTES}",
            path.display()
        );
    }
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let mut entries = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let (seller, reason) = line.split_once(char::is_whitespace).unwrap_or((line, ""));
        let key: PublicKey = seller
            .parse()
            .map_err(|e| anyhow!("{} line {}: seller: {e}", path.display(), i + 1))?;
        entries.push(EntryView {
            seller: key.to_string(),
            reason: reason.trim().to_string(),
        });
    }
    if entries.len() > MAX_BLOCKLIST_ENTRIES {
        anyhow::bail!(
            "{}: {} sellers; a block list names at most {MAX_BLOCKLIST_ENTRIES}",
            path.display(),
            entries.len()
        );
    }
    Ok(entries)
}

fn publish(home: &Home, out: &Out, a: BlocklistPublishArgs) -> Result<Done> {
    let req = PublishRequest {
        entries: a.file.as_deref().map(read_entries).transpose()?,
        reason: a.reason,
    };
    let c = Client::connect(home)?;
    let p: PublishedList = typed(c.post("/v1/blocklist", &json!(req))?)?;
    out.emit(&json!(p), || {
        format!(
            "published your block list {} (version {}, {} sellers, expires {}); it acts only on nodes whose users trust you: `swapmeet blocklist trust {}`",
            p.published.id,
            p.published.seq,
            p.entries,
            date(p.published.expires_at),
            home_key(home)
        )
    })?;
    Ok(Done::Ok)
}

/// The node's own key in text form, for the hint (empty if it cannot be read).
fn home_key(home: &Home) -> String {
    home.load_key()
        .map(|k| k.public().to_string())
        .unwrap_or_else(|_| "YOUR-KEY".into())
}

fn trust(home: &Home, out: &Out, a: AuthorArg) -> Result<Done> {
    let key = author(&a.key)?;
    let c = Client::connect(home)?;
    let t: Trusted = typed(c.post(
        "/v1/blocklist/trusted",
        &json!({ "author": key.to_string() }),
    )?)?;
    out.emit(&json!(t), || {
        let already = if t.outcome.new { "" } else { " (already trusted)" };
        if t.outcome.has_list {
            format!(
                "trusting {}{already}: {} sellers newly blocked, {} of their records deleted",
                t.author, t.outcome.newly_blocked, t.outcome.removed
            )
        } else {
            format!(
                "trusting {}{already}: this node holds no list of theirs yet; it applies when one arrives",
                t.author
            )
        }
    })?;
    Ok(Done::Ok)
}

fn untrust(home: &Home, out: &Out, a: AuthorArg) -> Result<Done> {
    let key = author(&a.key)?;
    let c = Client::connect(home)?;
    let u: Untrusted = typed(c.delete(&format!("/v1/blocklist/trusted/{key}"))?)?;
    out.emit(&json!(u), || {
        if u.was_trusted {
            format!(
                "no longer trusting {}; the sellers only their list blocked come back with the next sync",
                u.author
            )
        } else {
            format!("{} was not trusted", u.author)
        }
    })?;
    Ok(Done::Ok)
}

fn list(home: &Home, out: &Out) -> Result<Done> {
    let c = Client::connect(home)?;
    let list: TrustedList = typed(c.get("/v1/blocklist/trusted")?)?;
    if out.json {
        for t in &list.trusted {
            out.emit(&json!(t), String::new)?;
        }
        return Ok(Done::Ok);
    }
    if list.trusted.is_empty() {
        out.emit(&json!(list), || "you trust no block list".into())?;
        return Ok(Done::Ok);
    }
    let mut rows = Vec::new();
    for t in &list.trusted {
        let held = match t.seq {
            Some(seq) => format!("v{seq}, {} sellers", t.entries.len()),
            None => "no list held yet".into(),
        };
        rows.push(vec![t.author.clone(), date(t.since), held, String::new()]);
        for e in &t.entries {
            rows.push(vec![
                String::new(),
                String::new(),
                e.seller.clone(),
                clip(&e.reason, 40),
            ]);
        }
    }
    out.emit(&json!(list), || {
        table(&["AUTHOR", "SINCE", "LIST", "REASON"], &rows)
    })?;
    Ok(Done::Ok)
}
