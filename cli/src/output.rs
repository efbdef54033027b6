//! Printing: one JSON object per line with `--json`, compact tables and sentences otherwise.
//! Data goes to stdout, everything else to stderr.

use std::io::Write;

use serde_json::Value;

/// Where results go.
pub struct Out {
    /// JSON lines instead of tables.
    pub json: bool,
}

impl Out {
    /// Prints one JSON object (JSON mode) or the human text.
    pub fn emit(&self, value: &Value, human: impl FnOnce() -> String) -> std::io::Result<()> {
        let mut stdout = std::io::stdout().lock();
        if self.json {
            writeln!(
                stdout,
                "{}",
                serde_json::to_string(value).unwrap_or_default()
            )
        } else {
            let text = human();
            if text.is_empty() {
                Ok(())
            } else {
                writeln!(stdout, "{text}")
            }
        }
    }
}

/// Shortens to `max` characters with an ellipsis.
pub fn clip(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        s.to_string()
    } else {
        let mut t: String = s.chars().take(max.saturating_sub(1)).collect();
        t.push('…');
        t
    }
}

/// A compact text table: left-aligned columns, the last one unpadded.
pub fn table(header: &[&str], rows: &[Vec<String>]) -> String {
    let n = header.len();
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for r in rows {
        for (i, c) in r.iter().enumerate().take(n) {
            widths[i] = widths[i].max(c.chars().count());
        }
    }
    let mut out = String::new();
    let line = |cells: Vec<String>, out: &mut String| {
        let mut l = String::new();
        for (i, c) in cells.iter().enumerate() {
            if i + 1 == n {
                l.push_str(c);
            } else {
                l.push_str(c);
                l.push_str(&" ".repeat(widths[i] - c.chars().count() + 2));
            }
        }
        out.push_str(l.trim_end());
        out.push('\n');
    };
    line(header.iter().map(|h| h.to_string()).collect(), &mut out);
    for r in rows {
        line(r.clone(), &mut out);
    }
    out.pop();
    out
}

/// A JSON value as display text ("" for null).
pub fn s(v: &Value) -> String {
    match v {
        Value::Null => String::new(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// The price of a listing or hit: "from 48.00 EUR" when its variants in stock differ in price.
pub fn price(v: &Value) -> String {
    if v["price_from"] == true {
        format!("from {}", s(&v["price"]))
    } else {
        s(&v["price"])
    }
}

/// The variants of a shown listing as a table: one column per option, the price and what is
/// in stock ("" when it has none).
pub fn variants(v: &Value) -> String {
    let Some(list) = v["variants"].as_array().filter(|l| !l.is_empty()) else {
        return String::new();
    };
    let names: Vec<String> = list[0]["options"]
        .as_array()
        .map(|o| o.iter().map(|x| s(&x["name"]).to_uppercase()).collect())
        .unwrap_or_default();
    let rows: Vec<Vec<String>> = list
        .iter()
        .map(|x| {
            let mut row: Vec<String> = x["options"]
                .as_array()
                .map(|o| o.iter().map(|y| s(&y["value"])).collect())
                .unwrap_or_default();
            row.push(s(&x["price"]));
            row.push(match x["quantity"].as_u64() {
                Some(0) => "sold out".into(),
                Some(q) => format!("{q} in stock"),
                None => String::new(),
            });
            row.push(s(&x["sku"]));
            row
        })
        .collect();
    let mut header: Vec<&str> = names.iter().map(String::as_str).collect();
    header.extend(["PRICE", "STOCK", "SKU"]);
    table(&header, &rows)
}

/// Unix seconds as a short UTC date-time.
pub fn date(secs: u64) -> String {
    // Civil-from-days (Howard Hinnant), so no date crate is needed for one format.
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = if m <= 2 { y + 1 } else { y };
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02} UTC",
        rem / 3600,
        rem % 3600 / 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_and_tables() {
        assert_eq!(date(0), "1970-01-01 00:00 UTC");
        assert_eq!(date(1_750_000_000), "2025-06-15 15:06 UTC");
        let t = table(&["A", "BB"], &[vec!["xxx".into(), "y".into()]]);
        assert_eq!(t, "A    BB\nxxx  y");
        assert_eq!(clip("abcdef", 4), "abc…");
    }
}
