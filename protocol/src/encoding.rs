//! Small encoding helpers shared by the wire types: lowercase base32 (RFC 4648, no padding) for
//! the text forms of ids and keys, and the text rules of every string field.

use crate::error::ValidationError;

const B32: &[u8; 32] = b"abcdefghijklmnopqrstuvwxyz234567";

/// Lowercase RFC 4648 base32 without padding.
pub fn base32_encode(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len().div_ceil(5) * 8);
    let mut buffer: u32 = 0;
    let mut bits = 0;
    for &b in bytes {
        buffer = (buffer << 8) | u32::from(b);
        bits += 8;
        while bits >= 5 {
            bits -= 5;
            out.push(B32[((buffer >> bits) & 31) as usize] as char);
        }
    }
    if bits > 0 {
        out.push(B32[((buffer << (5 - bits)) & 31) as usize] as char);
    }
    out
}

/// Decodes lowercase (or uppercase) base32 without padding into exactly `N` bytes.
pub fn base32_decode<const N: usize>(text: &str) -> Option<[u8; N]> {
    if text.len() != (N * 8).div_ceil(5) {
        return None;
    }
    let mut out = [0u8; N];
    let mut buffer: u32 = 0;
    let mut bits = 0;
    let mut i = 0;
    for c in text.bytes() {
        let v = match c.to_ascii_lowercase() {
            c @ b'a'..=b'z' => c - b'a',
            c @ b'2'..=b'7' => c - b'2' + 26,
            _ => return None,
        };
        buffer = (buffer << 5) | u32::from(v);
        bits += 5;
        if bits >= 8 {
            bits -= 8;
            if i < N {
                out[i] = (buffer >> bits) as u8;
                i += 1;
            }
        }
    }
    // Leftover bits must be zero, or two texts would name the same bytes.
    if buffer & ((1 << bits) - 1) != 0 {
        return None;
    }
    Some(out)
}

/// Lowercase hex of bytes.
pub fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        // Writing to a String cannot fail.
        let _ = write!(out, "{b:02x}");
    }
    out
}

/// Parses exactly 64 hex digits (either case) into 32 bytes.
pub fn hex32(text: &str) -> Option<[u8; 32]> {
    let t = text.as_bytes();
    if t.len() != 64 {
        return None;
    }
    let digit = |c: u8| (c as char).to_digit(16);
    let mut out = [0u8; 32];
    for (i, pair) in t.chunks_exact(2).enumerate() {
        let hi = digit(pair[0])?;
        let lo = digit(pair[1])?;
        out[i] = (hi * 16 + lo) as u8;
    }
    Some(out)
}

/// Unicode bidirectional formatting characters: the embeddings and overrides (U+202A-U+202E),
/// the isolates (U+2066-U+2069), the marks (U+200E, U+200F) and the Arabic letter mark
/// (U+061C). They change the order in which the characters around them are shown, so a title
/// holding U+202E can read as something it does not say ("Trojan Source", CVE-2021-42574), and
/// two texts that look the same can differ. Text fields that are displayed refuse them.
pub const BIDI_CONTROLS: [char; 12] = [
    '\u{202A}', '\u{202B}', '\u{202C}', '\u{202D}', '\u{202E}', '\u{2066}', '\u{2067}', '\u{2068}',
    '\u{2069}', '\u{200E}', '\u{200F}', '\u{061C}',
];

/// Refuses the [`BIDI_CONTROLS`] in a displayed text field, naming the field and the first
/// one found.
pub fn check_no_bidi(field: &'static str, text: &str) -> Result<(), ValidationError> {
    match text.chars().find(|c| BIDI_CONTROLS.contains(c)) {
        None => Ok(()),
        Some(c) => Err(ValidationError::invalid(
            field,
            format!(
                "contains the bidirectional control character U+{:04X}, which changes how the \
                 text around it reads; remove it",
                u32::from(c)
            ),
        )),
    }
}

/// Checks a single-line text field: non-empty (if required), at most `limit` characters, no
/// control characters, no bidirectional controls ([`check_no_bidi`]).
pub fn check_line(
    field: &'static str,
    text: &str,
    limit: usize,
    required: bool,
) -> Result<(), ValidationError> {
    if required && text.trim().is_empty() {
        return Err(ValidationError::Empty { field });
    }
    let n = text.chars().count();
    if n > limit {
        return Err(ValidationError::TooLong {
            field,
            limit,
            actual: n,
        });
    }
    if text.chars().any(char::is_control) {
        return Err(ValidationError::invalid(
            field,
            "contains control characters (a single line of plain text is expected)",
        ));
    }
    check_no_bidi(field, text)
}

/// Checks a multi-line plain-text field: newlines and tabs are allowed, other controls and the
/// bidirectional controls ([`check_no_bidi`]) are not.
pub fn check_text(field: &'static str, text: &str, limit: usize) -> Result<(), ValidationError> {
    let n = text.chars().count();
    if n > limit {
        return Err(ValidationError::TooLong {
            field,
            limit,
            actual: n,
        });
    }
    if text
        .chars()
        .any(|c| c.is_control() && c != '\n' && c != '\t' && c != '\r')
    {
        return Err(ValidationError::invalid(
            field,
            "contains control characters other than newlines and tabs",
        ));
    }
    check_no_bidi(field, text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base32_round_trips() {
        for n in [0u8, 1, 255] {
            let b = [n; 16];
            let t = base32_encode(&b);
            assert_eq!(t.len(), 26);
            assert_eq!(base32_decode::<16>(&t), Some(b));
        }
        assert_eq!(base32_encode(b"foobar"), "mzxw6ytboi");
        assert!(base32_decode::<16>("0aaaaaaaaaaaaaaaaaaaaaaaaa").is_none());
        // Non-zero trailing bits are rejected so the text form is unique.
        let t = base32_encode(&[0u8; 16]);
        let mut bad = t.clone();
        bad.pop();
        bad.push('b');
        assert!(base32_decode::<16>(&bad).is_none());
    }

    #[test]
    fn a_peer_listing_with_a_bidi_control_is_refused_on_verify() {
        // Signed without validation, as a node of another implementation (or an older
        // version) could: the receiving node's verify must refuse it all the same.
        let mut listing = crate::Listing {
            item_key: "watch-1".into(),
            seq: 1,
            signed_at: 1_750_000_000,
            expires_at: 1_750_086_400,
            title: "Rolex watch \u{202E}gpj.exe".into(),
            description: String::new(),
            price: crate::Price::Free,
            condition: crate::Condition::Good,
            category: crate::Category::Bikes,
            tags: vec![],
            quantity: 1,
            location: None,
            delivery: crate::Delivery {
                pickup: false,
                shipping: true,
                ships_to: vec![],
            },
            images: vec![],
            variants: vec![],
            stamp: None,
        };
        let key = crate::SecretKey::from_bytes([5; 32]);
        let env = crate::SignedEnvelope::sign(
            &key,
            crate::EnvelopeKind::Listing,
            listing.encode_payload(),
        )
        .unwrap();
        let err = env.verify(1_750_000_100).unwrap_err();
        assert!(
            matches!(err, ValidationError::Invalid { field: "title", .. }),
            "{err:?}"
        );
        listing.title = "Rolex watch".into();
        let env = crate::SignedEnvelope::sign(
            &key,
            crate::EnvelopeKind::Listing,
            listing.encode_payload(),
        )
        .unwrap();
        assert!(env.verify(1_750_000_100).is_ok());
    }
}
