//! export, import.

use std::io::{BufRead, BufReader};

use anyhow::{bail, Context, Result};
use serde_json::json;
use swapmeet_node::home::Home;

use crate::args::{IdArg, ImportArgs};
use crate::client::{is_not_found, Client};
use crate::output::{s, Out};
use crate::Done;

/// Lines sent per request: the API takes at most 1,000 and 64 KiB per body.
const CHUNK_LINES: usize = 1000;
const CHUNK_BYTES: usize = 56 * 1024;
/// Longest line read (a 16 KiB envelope in base64 plus the prefix).
const MAX_LINE: usize = 32 * 1024;

pub fn export(home: &Home, out: &Out, a: IdArg) -> Result<Done> {
    let c = Client::connect(home)?;
    match c.get(&format!("/v1/listings/{}/export", a.id)) {
        Ok(v) => {
            out.emit(&v, || s(&v["line"]))?;
            Ok(Done::Ok)
        }
        Err(e) if is_not_found(&e) => {
            eprintln!("{e}");
            Ok(Done::NothingFound)
        }
        Err(e) => Err(e),
    }
}

pub fn import(home: &Home, out: &Out, a: ImportArgs) -> Result<Done> {
    let reader: Box<dyn BufRead> = match &a.file {
        None => Box::new(BufReader::new(std::io::stdin())),
        Some(p) if p.as_os_str() == "-" => Box::new(BufReader::new(std::io::stdin())),
        Some(p) => Box::new(BufReader::new(
            std::fs::File::open(p).with_context(|| format!("opening {}", p.display()))?,
        )),
    };
    let c = Client::connect(home)?;
    let mut pending: Vec<(usize, String)> = Vec::new();
    let mut counts = std::collections::BTreeMap::<String, usize>::new();
    let mut any_rejected = false;
    let mut flush = |pending: &mut Vec<(usize, String)>| -> Result<()> {
        if pending.is_empty() {
            return Ok(());
        }
        let lines: Vec<&str> = pending.iter().map(|(_, l)| l.as_str()).collect();
        let r = c.post("/v1/import", &json!({"lines": lines}))?;
        for (res, (lineno, _)) in r["results"]
            .as_array()
            .cloned()
            .unwrap_or_default()
            .iter()
            .zip(pending.iter())
        {
            let outcome = s(&res["outcome"]);
            if outcome == "rejected" {
                any_rejected = true;
            }
            *counts.entry(outcome.clone()).or_default() += 1;
            let mut v = res.clone();
            v["line"] = json!(lineno);
            out.emit(&v, || {
                let id = s(&res["id"]);
                match outcome.as_str() {
                    "stored" => format!("line {lineno}: stored {id}"),
                    "duplicate" => format!("line {lineno}: duplicate {id} (already stored)"),
                    other => format!("line {lineno}: {other}: {}", s(&res["reason"])),
                }
            })?;
        }
        pending.clear();
        Ok(())
    };
    for (i, line) in reader.lines().enumerate() {
        let line = line.context("reading input")?;
        if line.len() > MAX_LINE {
            bail!(
                "line {}: {} bytes, longer than any signed listing can be ({MAX_LINE})",
                i + 1,
                line.len()
            );
        }
        let t = line.trim();
        if t.is_empty() || t.starts_with('#') {
            continue;
        }
        let size: usize = pending.iter().map(|(_, l)| l.len() + 4).sum();
        if pending.len() == CHUNK_LINES || size + t.len() + 4 > CHUNK_BYTES {
            flush(&mut pending)?;
        }
        pending.push((i + 1, t.to_string()));
    }
    flush(&mut pending)?;
    if !out.json {
        let summary: Vec<String> = counts.iter().map(|(k, v)| format!("{v} {k}")).collect();
        eprintln!(
            "{}",
            if summary.is_empty() {
                "nothing to import".to_string()
            } else {
                summary.join(", ")
            }
        );
    }
    Ok(if any_rejected {
        Done::PartlyFailed
    } else {
        Done::Ok
    })
}
