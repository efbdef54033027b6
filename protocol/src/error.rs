//! The one error type of validation: every variant names the field and the rule.

use thiserror::Error;

/// Why an envelope, a listing or a withdrawal is not acceptable.
#[derive(Clone, Debug, PartialEq, Eq, Error)]
pub enum ValidationError {
    /// The encoded envelope is over the size cap.
    #[error("envelope is too large: {actual} bytes, the limit is {limit}")]
    TooLarge {
        /// The cap.
        limit: usize,
        /// The size seen.
        actual: usize,
    },
    /// A text field is too long.
    #[error("{field} is too long: {actual} characters, the limit is {limit}")]
    TooLong {
        /// The field.
        field: &'static str,
        /// The limit.
        limit: usize,
        /// The length seen.
        actual: usize,
    },
    /// A required field is empty.
    #[error("{field} must not be empty")]
    Empty {
        /// The field.
        field: &'static str,
    },
    /// A list has too many entries.
    #[error("{field} has too many entries: {actual}, the limit is {limit}")]
    TooMany {
        /// The field.
        field: &'static str,
        /// The limit.
        limit: usize,
        /// The count seen.
        actual: usize,
    },
    /// A number is out of its range.
    #[error("{field} is out of range: {actual}, allowed {min}..={max}")]
    OutOfRange {
        /// The field.
        field: &'static str,
        /// Lowest allowed.
        min: u64,
        /// Highest allowed.
        max: u64,
        /// The value seen.
        actual: u64,
    },
    /// A field breaks a rule described in `reason`.
    #[error("{field} is invalid: {reason}")]
    Invalid {
        /// The field.
        field: &'static str,
        /// The rule broken.
        reason: String,
    },
    /// The listing has expired.
    #[error("expires_at: the listing expired at {expires_at} (now is {now})")]
    Expired {
        /// When it expired.
        expires_at: u64,
        /// The time of the check.
        now: u64,
    },
    /// Signed too far in the future.
    #[error("signed_at: {signed_at} is in the future (now is {now}; at most {max_skew} s of clock skew is allowed)")]
    FromFuture {
        /// The signing time.
        signed_at: u64,
        /// The time of the check.
        now: u64,
        /// The tolerance.
        max_skew: u64,
    },
    /// The listing would live longer than allowed.
    #[error("expires_at: lifetime of {actual_secs} s is longer than the limit of {limit_secs} s (30 days)")]
    LifetimeTooLong {
        /// The limit.
        limit_secs: u64,
        /// The lifetime seen.
        actual_secs: u64,
    },
    /// Not an ISO 4217 currency.
    #[error("currency: '{0}' is not an ISO 4217 currency code")]
    UnknownCurrency(String),
    /// The signature does not verify.
    #[error("signature: does not verify for this signer and payload")]
    BadSignature,
    /// The signer key is not a valid, strong ed25519 key.
    #[error("signer: not a valid ed25519 public key (or a weak, small-order one)")]
    BadKey,
    /// The envelope kind is not the one expected.
    #[error("kind: expected {expected}, found {found}")]
    WrongKind {
        /// Expected kind.
        expected: &'static str,
        /// Found kind (number).
        found: u8,
    },
    /// A version number this implementation does not know.
    #[error("{what} version {found} is not supported (supported: 1 to {supported})")]
    UnsupportedVersion {
        /// Which version.
        what: &'static str,
        /// Found.
        found: u64,
        /// The highest version supported (every version from 1 up to it is).
        supported: u64,
    },
    /// The bytes are not the expected CBOR structure.
    #[error("malformed {context}: {reason}")]
    Malformed {
        /// Where.
        context: &'static str,
        /// What.
        reason: String,
    },
    /// A rule broken inside one variant of a listing: reads `variants[3].options[0].value is
    /// too long: ...`.
    #[error("variants[{index}].{error}")]
    InVariant {
        /// Which variant (from 0).
        index: usize,
        /// What is wrong with it.
        error: Box<ValidationError>,
    },
    /// A rule broken inside one option of a variant.
    #[error("options[{index}].{error}")]
    InOption {
        /// Which option (from 0).
        index: usize,
        /// What is wrong with it.
        error: Box<ValidationError>,
    },
    /// The encoding is valid CBOR but not the canonical form.
    #[error("envelope is not canonically encoded (definite lengths, shortest integers, keys in order, defaults omitted)")]
    NonCanonical,
}

impl ValidationError {
    pub(crate) fn malformed(context: &'static str, e: impl std::fmt::Display) -> ValidationError {
        ValidationError::Malformed {
            context,
            reason: e.to_string(),
        }
    }
    pub(crate) fn invalid(field: &'static str, reason: impl Into<String>) -> ValidationError {
        ValidationError::Invalid {
            field,
            reason: reason.into(),
        }
    }
}
