//! export, import.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};

use anyhow::{bail, Context, Result};
use serde_json::{json, Value};
use swapmeet_node::api::MAX_IMPORT_LINES;
use swapmeet_node::home::Home;

use crate::args::{IdArg, ImportArgs};
use crate::client::body::{Shape, MAX_BODY_BYTES};
use crate::client::{is_not_found, Client};
use crate::output::{s, Out};
use crate::Done;

/// Longest line read (a 16 KiB envelope in base64 plus the prefix).
const MAX_LINE: usize = 32 * 1024;
/// How far past [`MAX_LINE`] a line is skipped looking for its end before the input is taken
/// for something that is not an export at all (binary data, a device) and reading stops.
const MAX_SKIP: usize = 1024 * 1024;

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
    let mut reader: Box<dyn BufRead> = match &a.file {
        None => Box::new(BufReader::new(std::io::stdin())),
        Some(p) if p.as_os_str() == "-" => Box::new(BufReader::new(std::io::stdin())),
        Some(p) => Box::new(BufReader::new(
            std::fs::File::open(p).with_context(|| format!("opening {}", p.display()))?,
        )),
    };
    let c = Client::connect(home)?;
    let shape = Shape::new(MAX_BODY_BYTES, 2, &[("lines", MAX_IMPORT_LINES)]);
    let mut batch = Batch {
        client: &c,
        out,
        shape: &shape,
        lines: Vec::new(),
        numbers: Vec::new(),
        counts: BTreeMap::new(),
        any_rejected: false,
    };
    let mut fill = shape.fill();
    let mut buf = Vec::new();
    let mut lineno = 0;
    loop {
        // Lines rejected here wait for the next request to be printed in order; a file of
        // nothing but bad lines must not pile them all up.
        if batch.numbers.len() >= MAX_IMPORT_LINES {
            batch.flush()?;
            fill.reset();
        }
        lineno += 1;
        let line = match read_line(&mut reader, &mut buf, MAX_LINE)? {
            None => break,
            Some(Line::Text) => match std::str::from_utf8(&buf) {
                Ok(t) => t.trim(),
                Err(e) => {
                    batch.reject(
                        lineno,
                        &format!("not UTF-8 text ({e}); an export line is ASCII"),
                    );
                    continue;
                }
            },
            Some(Line::TooLong(n)) => {
                batch.reject(
                    lineno,
                    &format!("{n} bytes, longer than any signed listing can be ({MAX_LINE} bytes)"),
                );
                continue;
            }
            Some(Line::NoLineBreak(n)) => {
                // Lines read so far are imported before stopping, and said so.
                batch.flush()?;
                batch.summary();
                bail!(
                    "line {lineno}: {n} bytes without a line break, longer than any signed listing can be \
                     ({MAX_LINE} bytes); this is not an export (one `swapmeet1:` line per listing), so reading \
                     stopped here; the lines before it were imported"
                );
            }
        };
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        // Measured as sent: a line that needs JSON escaping is longer in the body than here.
        let bytes = serde_json::to_vec(line)?;
        if bytes.len() > shape.room() {
            batch.reject(
                lineno,
                &format!(
                    "{} bytes once written as JSON, more than one request to the node can carry ({}); not an export line",
                    bytes.len(),
                    shape.room()
                ),
            );
            continue;
        }
        if !fill.fits(0, bytes.len()) {
            batch.flush()?;
            fill.reset();
        }
        fill.add(0, bytes.len());
        batch.push(lineno, bytes);
    }
    batch.flush()?;
    batch.summary();
    Ok(if batch.any_rejected {
        Done::PartlyFailed
    } else {
        Done::Ok
    })
}

/// Lines waiting to be sent, and what the import did so far.
struct Batch<'a> {
    client: &'a Client,
    out: &'a Out,
    shape: &'a Shape,
    /// Lines as JSON strings, ready to send.
    lines: Vec<Vec<u8>>,
    /// Every line since the last request, in input order: its number, and its outcome if
    /// the CLI decided it without the node (`None`: sent, the node's answer says).
    numbers: Vec<(usize, Option<Value>)>,
    counts: BTreeMap<String, usize>,
    any_rejected: bool,
}

impl Batch<'_> {
    /// Sends the waiting lines as one request and prints each line's outcome, in input order.
    fn flush(&mut self) -> Result<()> {
        let mut answers = Vec::new().into_iter();
        if !self.lines.is_empty() {
            let body = self.shape.render(b"{}", &[&self.lines])?;
            let r = self.client.post_bytes("/v1/import", body)?;
            answers = r["results"]
                .as_array()
                .cloned()
                .unwrap_or_default()
                .into_iter();
            self.lines.clear();
        }
        for (lineno, decided) in std::mem::take(&mut self.numbers) {
            let v = match decided {
                Some(v) => v,
                None => answers.next().unwrap_or_else(|| {
                    json!({"outcome": "rejected", "reason": "the node gave no answer for this line"})
                }),
            };
            self.outcome(lineno, v)?;
        }
        Ok(())
    }

    /// Queues a line for sending.
    fn push(&mut self, lineno: usize, json: Vec<u8>) {
        self.lines.push(json);
        self.numbers.push((lineno, None));
    }

    /// Rejects a line without sending it; reported in its place among the others.
    fn reject(&mut self, lineno: usize, reason: &str) {
        self.numbers.push((
            lineno,
            Some(json!({"outcome": "rejected", "reason": reason})),
        ));
    }

    fn outcome(&mut self, lineno: usize, mut v: Value) -> Result<()> {
        let outcome = s(&v["outcome"]);
        // Beyond the seller's allowance is a refusal too: nothing was stored.
        if outcome == "rejected" || outcome == "over_allowance" {
            self.any_rejected = true;
        }
        *self.counts.entry(outcome.clone()).or_default() += 1;
        v["line"] = json!(lineno);
        self.out.emit(&v, || {
            // A review's line (issue 12) names its deal rather than a listing.
            let id = if v["kind"] == "review" {
                format!(
                    "review of deal {}",
                    s(&v["deal"]).get(..12).unwrap_or_default()
                )
            } else {
                s(&v["id"])
            };
            match outcome.as_str() {
                "stored" => format!("line {lineno}: stored {id}"),
                "duplicate" => format!("line {lineno}: duplicate {id} (already stored)"),
                other => format!("line {lineno}: {other}: {}", s(&v["reason"])),
            }
        })?;
        Ok(())
    }

    fn summary(&self) {
        if !self.out.json {
            let summary: Vec<String> = self
                .counts
                .iter()
                .map(|(k, v)| format!("{v} {k}"))
                .collect();
            eprintln!(
                "{}",
                if summary.is_empty() {
                    "nothing to import".to_string()
                } else {
                    summary.join(", ")
                }
            );
        }
    }
}

/// What [`read_line`] found.
#[derive(Debug, PartialEq)]
enum Line {
    /// A line within the limit, in the buffer (without its line break).
    Text,
    /// A line over the limit, skipped up to its line break; its length in bytes.
    TooLong(usize),
    /// A line over the limit with no line break within [`MAX_SKIP`] bytes after the limit
    /// (binary data, `/dev/zero`); at least this many bytes were read of it.
    NoLineBreak(usize),
}

/// Reads one line into `buf` without ever holding more than `max` bytes of it: the limit is
/// checked while reading, so `/dev/zero` or a binary file costs a bounded read, not a
/// gigabyte allocation. `None` at the end of the input.
fn read_line(r: &mut impl BufRead, buf: &mut Vec<u8>, max: usize) -> Result<Option<Line>> {
    buf.clear();
    let mut len = 0usize;
    let mut any = false;
    loop {
        let avail = match r.fill_buf() {
            Ok(a) => a,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(anyhow::Error::new(e).context("reading input")),
        };
        if avail.is_empty() {
            return Ok(any.then(|| end(len, max)));
        }
        any = true;
        let (take, newline) = match avail.iter().position(|b| *b == b'\n') {
            Some(i) => (i, true),
            None => (avail.len(), false),
        };
        if len + take <= max {
            buf.extend_from_slice(&avail[..take]);
        } else {
            buf.clear();
        }
        len += take;
        r.consume(take + usize::from(newline));
        if newline {
            return Ok(Some(end(len, max)));
        }
        if len > max + MAX_SKIP {
            return Ok(Some(Line::NoLineBreak(len)));
        }
    }
}

fn end(len: usize, max: usize) -> Line {
    if len > max {
        Line::TooLong(len)
    } else {
        Line::Text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(input: &[u8], max: usize) -> Vec<(Line, Vec<u8>)> {
        let mut r = std::io::BufReader::with_capacity(7, input);
        let mut buf = Vec::new();
        let mut out = Vec::new();
        while let Some(l) = read_line(&mut r, &mut buf, max).unwrap() {
            let stop = matches!(l, Line::NoLineBreak(_));
            out.push((l, buf.clone()));
            if stop {
                break;
            }
        }
        out
    }

    #[test]
    fn lines_over_the_limit_are_reported_and_skipped_without_being_held() {
        let got = lines(b"abc\r\n0123456789012\nxy\n\nlast", 10);
        assert_eq!(got[0], (Line::Text, b"abc\r".to_vec()));
        assert_eq!(got[1].0, Line::TooLong(13));
        assert!(got[1].1.is_empty(), "an overlong line is not kept");
        assert_eq!(got[2], (Line::Text, b"xy".to_vec()));
        assert_eq!(got[3], (Line::Text, Vec::new()));
        assert_eq!(got[4], (Line::Text, b"last".to_vec()));
        assert_eq!(got.len(), 5);
    }

    #[test]
    fn endless_input_without_line_breaks_stops_after_a_bounded_read() {
        let mut zero = std::io::BufReader::new(std::io::repeat(0));
        let mut buf = Vec::new();
        let l = read_line(&mut zero, &mut buf, 100).unwrap();
        assert!(
            matches!(l, Some(Line::NoLineBreak(n)) if n > 100 + MAX_SKIP && n <= 100 + MAX_SKIP + 8192)
        );
        assert!(buf.len() <= 100);
    }
}
