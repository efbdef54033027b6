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

/// Checks a single-line text field: non-empty (if required), at most `limit` characters, no
/// control characters.
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
    Ok(())
}

/// Checks a multi-line plain-text field: newlines and tabs are allowed, other controls are not.
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
    Ok(())
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
}
