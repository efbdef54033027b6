//! The CBOR subset the payloads use, with errors that say where decoding failed.
//!
//! Decoding borrows from the input (text and byte strings are slices of it), and every array
//! length is checked against its limit before anything is read, so no untrusted length ever
//! drives an allocation.

use std::convert::Infallible;

use minicbor::{Decoder, Encoder};

use crate::error::ValidationError;

pub(crate) type Enc = Encoder<Vec<u8>>;
pub(crate) type EncResult = Result<(), minicbor::encode::Error<Infallible>>;

/// Encodes into a fresh buffer. Writing to a `Vec` cannot fail and the encoders here emit no
/// custom errors; should one ever appear, the empty result fails every later decode loudly.
pub(crate) fn encode(f: impl FnOnce(&mut Enc) -> EncResult) -> Vec<u8> {
    let mut e = Encoder::new(Vec::new());
    match f(&mut e) {
        Ok(()) => e.into_writer(),
        Err(_) => Vec::new(),
    }
}

/// A decoder that reports errors against a context.
pub(crate) struct Reader<'b> {
    d: Decoder<'b>,
    len: usize,
    context: &'static str,
}

impl<'b> Reader<'b> {
    pub(crate) fn new(bytes: &'b [u8], context: &'static str) -> Reader<'b> {
        Reader {
            d: Decoder::new(bytes),
            len: bytes.len(),
            context,
        }
    }

    fn err(&self, e: impl std::fmt::Display) -> ValidationError {
        ValidationError::malformed(self.context, e)
    }

    /// A definite-length map header.
    pub(crate) fn map(&mut self, max: u64) -> Result<u64, ValidationError> {
        match self.d.map().map_err(|e| self.err(e))? {
            Some(n) if n <= max => Ok(n),
            Some(n) => Err(self.err(format!("map of {n} entries, at most {max} expected"))),
            None => Err(ValidationError::NonCanonical),
        }
    }

    /// A definite-length array header, at most `max` long.
    pub(crate) fn array(
        &mut self,
        field: &'static str,
        max: usize,
    ) -> Result<usize, ValidationError> {
        match self.d.array().map_err(|e| self.err(e))? {
            Some(n) if n <= max as u64 => Ok(n as usize),
            Some(n) => Err(ValidationError::TooMany {
                field,
                limit: max,
                actual: usize::try_from(n).unwrap_or(usize::MAX),
            }),
            None => Err(ValidationError::NonCanonical),
        }
    }

    pub(crate) fn u64(&mut self) -> Result<u64, ValidationError> {
        self.d.u64().map_err(|e| self.err(e))
    }

    pub(crate) fn u8(&mut self) -> Result<u8, ValidationError> {
        self.d.u8().map_err(|e| self.err(e))
    }

    pub(crate) fn u32(&mut self) -> Result<u32, ValidationError> {
        self.d.u32().map_err(|e| self.err(e))
    }

    pub(crate) fn bool(&mut self) -> Result<bool, ValidationError> {
        self.d.bool().map_err(|e| self.err(e))
    }

    pub(crate) fn str(&mut self) -> Result<&'b str, ValidationError> {
        self.d.str().map_err(|e| self.err(e))
    }

    pub(crate) fn bytes(&mut self) -> Result<&'b [u8], ValidationError> {
        self.d.bytes().map_err(|e| self.err(e))
    }

    /// Skips one value, whatever it is.
    pub(crate) fn skip(&mut self) -> Result<(), ValidationError> {
        self.d.skip().map_err(|e| self.err(e))
    }

    /// Fails unless every input byte was read.
    pub(crate) fn finish(&self) -> Result<(), ValidationError> {
        if self.d.position() != self.len {
            return Err(self.err(format!("{} trailing bytes", self.len - self.d.position())));
        }
        Ok(())
    }
}

/// Reads map keys in strictly ascending order.
pub(crate) struct Keys {
    last: Option<u64>,
}

impl Keys {
    pub(crate) fn new() -> Keys {
        Keys { last: None }
    }
    pub(crate) fn next(&mut self, r: &mut Reader<'_>) -> Result<u64, ValidationError> {
        let k = r.u64()?;
        if self.last.is_some_and(|l| l >= k) {
            return Err(ValidationError::NonCanonical);
        }
        self.last = Some(k);
        Ok(k)
    }
}
