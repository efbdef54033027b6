//! Text that shops write, to plain text: HTML descriptions (Shopify's `Body (HTML)`, Magento's
//! and WooCommerce's descriptions) and the entities and stray markup that exports leave in
//! titles and attribute values ("EverCool&trade; Tee", "&bull; Snug fit.").
//!
//! Block elements become line breaks, list items get a dash, scripts, styles and comments are
//! dropped, every HTML5 character reference is decoded ([`decode_entities`]), and runs of
//! whitespace collapse.
//!
//! Entities are decoded exactly once, as a browser shows the shop's text: a double-escaped
//! `&amp;trade;` is the text "&trade;", not "™". Decoding again would turn text that shows an
//! entity on purpose into something else, and no single rule can tell the two apart. (In a
//! Google Merchant XML feed the XML's own escaping is one layer below this: `&amp;trade;` there
//! is the HTML `&trade;`, so "™".)

mod entities;

use entities::ENTITIES;

/// Converts an HTML fragment to plain text, keeping its line structure.
pub fn html_to_text(html: &str) -> String {
    tidy(&decode_entities(&strip_markup(html)))
}

/// Converts text that may hold entities or markup (a title, a tag, an attribute value) to one
/// line of plain text.
pub fn inline_text(text: &str) -> String {
    html_to_text(text)
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

/// Whether `rest` (starting at a '<') opens a tag, a closing tag, a comment or a declaration,
/// rather than being a '<' in text ("size < 10", "<3").
fn starts_tag(rest: &str) -> bool {
    rest[1..]
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || matches!(c, '/' | '!' | '?'))
}

/// Removes tags, comments, scripts and styles; block elements become line breaks. Entities
/// are left as they are.
fn strip_markup(html: &str) -> String {
    let mut out = String::with_capacity(html.len());
    let mut rest = html;
    let mut skip_until: Option<&'static str> = None;
    while let Some(i) = rest.find('<') {
        if skip_until.is_none() {
            out.push_str(&rest[..i]);
        }
        rest = &rest[i..];
        if !starts_tag(rest) {
            if skip_until.is_none() {
                out.push('<');
            }
            rest = &rest[1..];
            continue;
        }
        if let Some(comment) = rest.strip_prefix("<!--") {
            // A comment may hold '>' ("<!-- a > b -->"); an unclosed one hides the rest, as
            // in a browser.
            rest = comment.find("-->").map_or("", |e| &comment[e + 3..]);
            continue;
        }
        let Some(end) = rest.find('>') else {
            // "<b" with no end: text, not a tag.
            if skip_until.is_none() {
                out.push_str(rest);
            }
            rest = "";
            break;
        };
        let tag = rest[1..end].trim().to_ascii_lowercase();
        rest = &rest[end + 1..];
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
            "script" if !closing => skip_until = Some("script"),
            "style" if !closing => skip_until = Some("style"),
            "br" => out.push('\n'),
            "li" if !closing => out.push_str("\n- "),
            "li" => {}
            "p" | "div" | "ul" | "ol" | "tr" | "table" | "h1" | "h2" | "h3" | "h4" | "h5"
            | "h6" | "section" | "article" | "blockquote" => out.push('\n'),
            "td" | "th" if closing => out.push(' '),
            _ => {}
        }
    }
    if skip_until.is_none() {
        out.push_str(rest);
    }
    out
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

/// The longest reference worth looking at: `&CounterClockwiseContourIntegral;` is the longest
/// name (31 characters); numeric ones may carry leading zeros.
const MAX_REFERENCE_CHARS: usize = 40;

/// Decodes HTML character references once: every named one of HTML5 (`&trade;`, `&bull;`,
/// `&NotEqualTilde;`), decimal (`&#8482;`) and hexadecimal (`&#x2122;`) ones. A reference
/// needs its semicolon ("AT&T", "Q&A" and "&copy 2020" stay as written); an unknown name stays
/// as written. A non-breaking space becomes a plain one (shop text uses it for layout).
pub fn decode_entities(s: &str) -> String {
    if !s.contains('&') {
        return s.to_string();
    }
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(i) = rest.find('&') {
        out.push_str(&rest[..i]);
        rest = &rest[i..];
        let window = rest
            .char_indices()
            .nth(MAX_REFERENCE_CHARS)
            .map_or(rest, |(e, _)| &rest[..e]);
        let decoded = window[1..]
            .find(';')
            .and_then(|e| reference(&window[1..e + 1]).map(|text| (text, e + 2)));
        match decoded {
            Some((text, len)) => {
                for c in text.chars() {
                    out.push(if c == '\u{a0}' { ' ' } else { c });
                }
                rest = &rest[len..];
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

/// The text of one reference, given what stands between '&' and ';'.
fn reference(name: &str) -> Option<std::borrow::Cow<'static, str>> {
    if let Some(num) = name.strip_prefix('#') {
        // Leading zeros are allowed; a value too large for u32 saturates, and like every
        // value past Unicode it becomes U+FFFD below.
        let value = match num.strip_prefix(['x', 'X']) {
            Some(hex) if !hex.is_empty() && hex.chars().all(|c| c.is_ascii_hexdigit()) => {
                u32::from_str_radix(hex.trim_start_matches('0'), 16).unwrap_or(u32::MAX)
            }
            None if !num.is_empty() && num.chars().all(|c| c.is_ascii_digit()) => {
                num.trim_start_matches('0').parse().unwrap_or(u32::MAX)
            }
            _ => return None,
        };
        return Some(numeric(value).to_string().into());
    }
    ENTITIES
        .binary_search_by_key(&name, |(n, _)| n)
        .ok()
        .map(|i| ENTITIES[i].1.into())
}

/// A numeric reference as HTML5 reads it: NUL, surrogates and values past Unicode become
/// U+FFFD, and 0x80-0x9F are read as Windows-1252 (shops that paste from word processors
/// write `&#146;` for ’ and `&#150;` for –).
fn numeric(value: u32) -> char {
    const CP1252: [char; 32] = [
        '€', '\u{81}', '‚', 'ƒ', '„', '…', '†', '‡', 'ˆ', '‰', 'Š', '‹', 'Œ', '\u{8d}', 'Ž',
        '\u{8f}', '\u{90}', '‘', '’', '“', '”', '•', '–', '—', '˜', '™', 'š', '›', 'œ', '\u{9d}',
        'ž', 'Ÿ',
    ];
    match value {
        0 => '\u{fffd}',
        0x80..=0x9f => CP1252[(value - 0x80) as usize],
        v => char::from_u32(v).unwrap_or('\u{fffd}'),
    }
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
        assert_eq!(html_to_text("size <10 and >5"), "size <10 and >5");
        assert_eq!(html_to_text("I <3 it"), "I <3 it");
        assert_eq!(html_to_text("a<!-- x > y -->b<style>p{}</style>c"), "abc");
        assert_eq!(decode_entities("&unknown; &#x41;"), "&unknown; A");
    }

    #[test]
    fn every_named_entity_decodes() {
        // What real exports use (the Magento sample alone has 8,000+ &bull;).
        for (entity, text) in [
            ("&trade;", "™"),
            ("&bull;", "•"),
            ("&reg;", "®"),
            ("&copy;", "©"),
            ("&mdash;", "—"),
            ("&ndash;", "–"),
            ("&hellip;", "…"),
            ("&frac14;", "¼"),
            ("&rdquo;", "”"),
            ("&ldquo;", "“"),
            ("&eacute;", "é"),
            ("&Oslash;", "Ø"),
            ("&thinsp;", "\u{2009}"),
            ("&NotEqualTilde;", "\u{2242}\u{338}"),
            ("&CounterClockwiseContourIntegral;", "∳"),
            ("&AMP;", "&"),
        ] {
            assert_eq!(decode_entities(entity), text, "{entity}");
        }
        assert_eq!(decode_entities("a&nbsp;b"), "a b");
        // The whole table: 2,125 names, every one decodes to its text.
        assert!(ENTITIES.len() > 2000);
        assert!(ENTITIES.windows(2).all(|w| w[0].0 < w[1].0), "sorted");
        for (name, text) in ENTITIES {
            let want = text.replace('\u{a0}', " ");
            assert_eq!(decode_entities(&format!("&{name};")), want, "{name}");
        }
    }

    #[test]
    fn numeric_references_follow_html5() {
        assert_eq!(
            decode_entities("EverCool&#8482; &#x2122; &#X2122;"),
            "EverCool™ ™ ™"
        );
        assert_eq!(decode_entities("&#0065;"), "A");
        assert_eq!(decode_entities("it&#146;s &#150; ok"), "it’s – ok");
        assert_eq!(
            decode_entities("&#0; &#xD800; &#99999999999;"),
            "\u{fffd} \u{fffd} \u{fffd}"
        );
        assert_eq!(decode_entities("&#; &#x; &#12a;"), "&#; &#x; &#12a;");
    }

    #[test]
    fn decodes_once_and_leaves_plain_ampersands() {
        // Decoded once: a double-escaped entity is the text of the entity, as a browser shows it.
        assert_eq!(decode_entities("&amp;trade;"), "&trade;");
        assert_eq!(html_to_text("&lt;b&gt;bold&lt;/b&gt;"), "<b>bold</b>");
        assert_eq!(
            decode_entities("AT&T, Q&A, Fish & Chips, &copy 2020"),
            "AT&T, Q&A, Fish & Chips, &copy 2020"
        );
        assert_eq!(decode_entities("R&D;"), "R&D;");
        assert_eq!(decode_entities("€ &amp"), "€ &amp");
    }

    #[test]
    fn inline_text_is_one_line() {
        assert_eq!(
            inline_text("EverCool&trade; <b>Tee</b>\n  &ndash; blue"),
            "EverCool™ Tee – blue"
        );
        assert_eq!(inline_text("Size<br/>XL"), "Size XL");
    }
}
