//! Reading CSV exports by column name, tolerant of the header variations real exports have.

use std::collections::HashMap;

use crate::error::FeedError;
use crate::MAX_ROW_BYTES;

/// A CSV file with its header.
pub struct Table {
    header: HashMap<String, usize>,
    /// Records with the line each starts on.
    pub rows: Vec<(usize, csv::StringRecord)>,
    /// Records that could not be read (line, reason).
    pub broken: Vec<(usize, String)>,
}

impl Table {
    /// Reads `text` with `delimiter`.
    pub fn read(text: &str, delimiter: u8, format: &'static str) -> Result<Table, FeedError> {
        let mut r = csv::ReaderBuilder::new()
            .delimiter(delimiter)
            .flexible(true)
            .quoting(delimiter != b'\t')
            .from_reader(text.as_bytes());
        let headers = r
            .headers()
            .map_err(|e| FeedError::NotFormat {
                format,
                reason: format!("no header row: {e}"),
            })?
            .clone();
        let header: HashMap<String, usize> = headers
            .iter()
            .enumerate()
            .map(|(i, h)| (h.trim().to_ascii_lowercase(), i))
            .collect();
        let mut rows = Vec::new();
        let mut broken = Vec::new();
        let mut rec = csv::StringRecord::new();
        loop {
            let line = r.position().line() as usize;
            match r.read_record(&mut rec) {
                Ok(false) => break,
                Ok(true) => {
                    let line = rec.position().map_or(line, |p| p.line() as usize);
                    if rec.as_slice().len() > MAX_ROW_BYTES {
                        broken.push((line, format!("row is over {MAX_ROW_BYTES} bytes")));
                    } else if rec.iter().all(|f| f.trim().is_empty()) {
                        continue;
                    } else {
                        rows.push((line, rec.clone()));
                    }
                }
                Err(e) => {
                    broken.push((line, format!("unreadable row: {e}")));
                    if matches!(e.kind(), csv::ErrorKind::Io(_)) {
                        break;
                    }
                }
            }
        }
        Ok(Table {
            header,
            rows,
            broken,
        })
    }

    /// Whether the header has a column (any of the names).
    pub fn has(&self, names: &[&str]) -> bool {
        names
            .iter()
            .any(|n| self.header.contains_key(&n.to_ascii_lowercase()))
    }

    /// A field of a record by column name (the first of `names` present), trimmed.
    pub fn get<'r>(&self, rec: &'r csv::StringRecord, names: &[&str]) -> &'r str {
        for n in names {
            if let Some(i) = self.header.get(&n.to_ascii_lowercase()) {
                return rec.get(*i).unwrap_or("").trim();
            }
        }
        ""
    }
}
