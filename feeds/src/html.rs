//! HTML descriptions (Shopify's `Body (HTML)`, Magento's and WooCommerce's descriptions) to
//! plain text: block elements become line breaks, list items get a dash, entities are decoded,
//! scripts and styles are dropped, and runs of whitespace collapse.

/// Converts an HTML fragment to plain text.
pub fn html_to_text(html: &str) -> String {
    let mut out = String::with_capacity(html.len());
    let mut chars = html.char_indices().peekable();
    let mut skip_until: Option<&str> = None;
    while let Some((i, c)) = chars.next() {
        if c == '<' {
            let rest = &html[i..];
            let end = match rest.find('>') {
                Some(e) => e,
                None => {
                    // A stray '<' in text.
                    if skip_until.is_none() {
                        out.push('<');
                    }
                    continue;
                }
            };
            let tag = rest[1..end].trim().to_ascii_lowercase();
            for _ in 0..rest[..end].chars().count() {
                chars.next();
            }
            let closing = tag.starts_with('/');
            let name: String = tag
                .trim_start_matches('/')
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric())
                .collect();
            if let Some(until) = skip_until {
                if closing && name == until {
                    skip_until = None;
                }
                continue;
            }
            match name.as_str() {
                "script" | "style" if !closing => {
                    skip_until = Some(if name == "script" { "script" } else { "style" })
                }
                "br" => out.push('\n'),
                "li" if !closing => out.push_str("\n- "),
                "li" => {}
                "p" | "div" | "ul" | "ol" | "tr" | "table" | "h1" | "h2" | "h3" | "h4" | "h5"
                | "h6" | "section" | "article" | "blockquote" => out.push('\n'),
                "td" | "th" if closing => out.push(' '),
                _ => {}
            }
            continue;
        }
        if skip_until.is_some() {
            continue;
        }
        out.push(c);
    }
    let decoded = decode_entities(&out);
    tidy(&decoded)
}

/// Collapses whitespace within lines and blank-line runs.
fn tidy(s: &str) -> String {
    let mut lines: Vec<String> = Vec::new();
    for line in s.lines() {
        let l = line.split_whitespace().collect::<Vec<_>>().join(" ");
        if l.is_empty() && lines.last().is_some_and(|p: &String| p.is_empty()) {
            continue;
        }
        lines.push(l);
    }
    lines.join("\n").trim().to_string()
}

/// Decodes HTML character references (named ones commonly found in shop descriptions, and
/// every numeric one).
pub fn decode_entities(s: &str) -> String {
    if !s.contains('&') {
        return s.to_string();
    }
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(i) = rest.find('&') {
        out.push_str(&rest[..i]);
        rest = &rest[i..];
        let end = rest[..rest.len().min(12)].find(';');
        let decoded = end.and_then(|e| {
            let name = &rest[1..e];
            let c = if let Some(num) = name.strip_prefix("#x").or_else(|| name.strip_prefix("#X")) {
                u32::from_str_radix(num, 16).ok().and_then(char::from_u32)
            } else if let Some(num) = name.strip_prefix('#') {
                num.parse::<u32>().ok().and_then(char::from_u32)
            } else {
                match name {
                    "amp" => Some('&'),
                    "lt" => Some('<'),
                    "gt" => Some('>'),
                    "quot" => Some('"'),
                    "apos" => Some('\''),
                    "nbsp" => Some(' '),
                    "ndash" => Some('–'),
                    "mdash" => Some('—'),
                    "hellip" => Some('…'),
                    "rsquo" => Some('’'),
                    "lsquo" => Some('‘'),
                    "rdquo" => Some('”'),
                    "ldquo" => Some('“'),
                    "euro" => Some('€'),
                    "pound" => Some('£'),
                    "copy" => Some('©'),
                    "reg" => Some('®'),
                    "trade" => Some('™'),
                    "deg" => Some('°'),
                    "times" => Some('×'),
                    "eacute" => Some('é'),
                    "auml" => Some('ä'),
                    "ouml" => Some('ö'),
                    "uuml" => Some('ü'),
                    "szlig" => Some('ß'),
                    _ => None,
                }
            };
            c.map(|c| (c, e))
        });
        match decoded {
            Some((c, e)) => {
                out.push(if c == '\u{a0}' { ' ' } else { c });
                rest = &rest[e + 1..];
            }
            None => {
                out.push('&');
                rest = &rest[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn html_becomes_plain_text() {
        let t = html_to_text("<p>Ideal for <b>cold</b>&nbsp;weather.</p><ul><li>Warm</li><li>Soft &amp; light</li></ul><script>x()</script>Done&#33;");
        assert_eq!(
            t,
            "Ideal for cold weather.\n\n- Warm\n- Soft & light\nDone!"
        );
        assert_eq!(html_to_text("a < b"), "a < b");
        assert_eq!(decode_entities("&unknown; &#x41;"), "&unknown; A");
    }
}
