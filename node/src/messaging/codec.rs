//! The byte layout of the messaging records in sled.
//!
//! A record is a format byte followed by fixed-width integers (big-endian), 32-byte keys and
//! length-prefixed byte strings. Hand-written rather than serde so that a record holds exact
//! bytes (signed envelopes, sealed mail) without an encoding that inflates them, and so that
//! reading a damaged value is a [`StoreError::Corrupt`] naming the tree, never a panic.

use crate::store::StoreError;

/// Appends fields to a record.
#[derive(Default)]
pub(crate) struct Writer(Vec<u8>);

impl Writer {
    pub(crate) fn new(format: u8) -> Writer {
        Writer(vec![format])
    }
    pub(crate) fn u8(mut self, v: u8) -> Writer {
        self.0.push(v);
        self
    }
    pub(crate) fn u32(mut self, v: u32) -> Writer {
        self.0.extend_from_slice(&v.to_be_bytes());
        self
    }
    pub(crate) fn u64(mut self, v: u64) -> Writer {
        self.0.extend_from_slice(&v.to_be_bytes());
        self
    }
    pub(crate) fn key(mut self, v: &[u8; 32]) -> Writer {
        self.0.extend_from_slice(v);
        self
    }
    /// A byte string with a u32 length prefix (records never hold more than a few MiB).
    pub(crate) fn bytes(mut self, v: &[u8]) -> Writer {
        let len = u32::try_from(v.len()).unwrap_or(u32::MAX);
        self.0.extend_from_slice(&len.to_be_bytes());
        self.0.extend_from_slice(&v[..len as usize]);
        self
    }
    pub(crate) fn finish(self) -> Vec<u8> {
        self.0
    }
}

/// Reads fields of a record in the order they were written.
pub(crate) struct Reader<'a> {
    rest: &'a [u8],
    tree: &'static str,
}

impl<'a> Reader<'a> {
    /// Starts reading `bytes`, which must begin with `format`.
    pub(crate) fn new(bytes: &'a [u8], tree: &'static str, format: u8) -> Result<Self, StoreError> {
        let mut r = Reader { rest: bytes, tree };
        let found = r.u8()?;
        if found != format {
            return Err(r.corrupt(format!("record format {found}, expected {format}")));
        }
        Ok(r)
    }

    pub(crate) fn corrupt(&self, reason: String) -> StoreError {
        StoreError::Corrupt {
            tree: self.tree,
            reason,
        }
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], StoreError> {
        if self.rest.len() < n {
            return Err(self.corrupt(format!(
                "record ends early: {} bytes left, {n} needed",
                self.rest.len()
            )));
        }
        let (head, tail) = self.rest.split_at(n);
        self.rest = tail;
        Ok(head)
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], StoreError> {
        let mut out = [0u8; N];
        out.copy_from_slice(self.take(N)?);
        Ok(out)
    }

    pub(crate) fn u8(&mut self) -> Result<u8, StoreError> {
        Ok(self.array::<1>()?[0])
    }
    pub(crate) fn u32(&mut self) -> Result<u32, StoreError> {
        Ok(u32::from_be_bytes(self.array()?))
    }
    pub(crate) fn u64(&mut self) -> Result<u64, StoreError> {
        Ok(u64::from_be_bytes(self.array()?))
    }
    pub(crate) fn key(&mut self) -> Result<[u8; 32], StoreError> {
        self.array()
    }
    pub(crate) fn bytes(&mut self) -> Result<&'a [u8], StoreError> {
        let len = self.u32()? as usize;
        self.take(len)
    }
    pub(crate) fn string(&mut self) -> Result<String, StoreError> {
        let b = self.bytes()?;
        String::from_utf8(b.to_vec()).map_err(|_| self.corrupt("text is not UTF-8".into()))
    }
    pub(crate) fn public_key(&mut self) -> Result<swapmeet_protocol::PublicKey, StoreError> {
        let k = self.key()?;
        swapmeet_protocol::PublicKey::from_bytes(&k)
            .map_err(|_| self.corrupt("a stored public key is not a valid key".into()))
    }
    /// The record must end here: trailing bytes mean it was written by something else.
    pub(crate) fn end(self) -> Result<(), StoreError> {
        if self.rest.is_empty() {
            Ok(())
        } else {
            Err(self.corrupt(format!("{} trailing bytes", self.rest.len())))
        }
    }
}

/// A big-endian u64 from the last 8 bytes of a key.
pub(crate) fn u64_at_end(key: &[u8], tree: &'static str) -> Result<u64, StoreError> {
    key.len()
        .checked_sub(8)
        .and_then(|start| key[start..].try_into().ok())
        .map(u64::from_be_bytes)
        .ok_or_else(|| StoreError::Corrupt {
            tree,
            reason: format!("key of {} bytes is too short", key.len()),
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_record_reads_back_and_damage_is_an_error_not_a_panic() {
        let rec = Writer::new(1)
            .u8(7)
            .u32(9)
            .u64(u64::MAX)
            .key(&[3; 32])
            .bytes(b"hello")
            .finish();
        let mut r = Reader::new(&rec, "t", 1).unwrap();
        assert_eq!(r.u8().unwrap(), 7);
        assert_eq!(r.u32().unwrap(), 9);
        assert_eq!(r.u64().unwrap(), u64::MAX);
        assert_eq!(r.key().unwrap(), [3; 32]);
        assert_eq!(r.string().unwrap(), "hello");
        r.end().unwrap();

        assert!(Reader::new(&rec, "t", 2).is_err(), "another format");
        for cut in 1..rec.len() {
            let mut r = Reader::new(&rec[..cut], "t", 1).unwrap();
            let read = (|| {
                r.u8()?;
                r.u32()?;
                r.u64()?;
                r.key()?;
                r.bytes().map(|_| ())
            })();
            assert!(
                matches!(read, Err(StoreError::Corrupt { tree: "t", .. })),
                "cut at {cut}"
            );
        }
    }
}
