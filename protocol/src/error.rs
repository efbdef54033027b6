//! The one error type of validation: every variant names the field and the rule.

use thiserror::Error;

/// Why an envelope, a listing or a withdrawal is not acceptable.
#[derive(Clone, Debug, PartialEq, Eq, Error)]
pub enum ValidationError {
    /// The encoded envelope (or sealed message) is over the size cap.
    #[error("{what} is too large: {actual} bytes, the limit is {limit}")]
    TooLarge {
        /// `envelope`, `message` or `sealed message`.
        what: &'static str,
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
    /// The listing, the message or the sealed message has expired.
    #[error("expires_at: expired at {expires_at} (now is {now})")]
    Expired {
        /// When it expired.
        expires_at: u64,
        /// The time of the check.
        now: u64,
    },
    /// Signed too far in the future.
    #[error("{field}: {signed_at} is in the future (now is {now}; at most {max_skew} s of clock skew is allowed)")]
    FromFuture {
        /// The time field (`signed_at` of a listing, `sent_at` of a message).
        field: &'static str,
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
    /// A message or a sealed message is not for this key: the sealed header's recipient tag, or
    /// the signed message's recipient field, names someone else.
    #[error("{field}: the message is for another recipient")]
    WrongRecipient {
        /// `tag` (the sealed header) or `recipient` (the signed message).
        field: &'static str,
    },
    /// A sealed message does not decrypt with this key (not sealed for it, or altered).
    #[error("ciphertext: does not decrypt for this key (sealed for another key, or altered)")]
    Undecryptable,
    /// The padding of a sealed message's plaintext is not all zero bytes, or its length prefix
    /// points past the plaintext.
    #[error("padding: {reason}")]
    BadPadding {
        /// What is wrong.
        reason: &'static str,
    },
    /// The sealed header's expiry differs from the signed message's.
    #[error("expires_at: the sealed header says {header}, the signed message says {inner}")]
    ExpiryMismatch {
        /// The header's `expires_at`.
        header: u64,
        /// The signed message's `expires_at`.
        inner: u64,
    },
    /// A message's thread id is not the one derived from its listing and its buyer.
    #[error("thread: {found} is not the thread of this listing and buyer (expected {expected})")]
    ThreadMismatch {
        /// The derived thread id (hex).
        expected: String,
        /// The thread id in the message (hex).
        found: String,
    },
    /// A message's signer (or its recipient) is not one of the two parties of the thread, or the
    /// signer is the recipient.
    #[error("{field}: {reason}")]
    NotAParty {
        /// `signer` or `recipient`.
        field: &'static str,
        /// Which rule.
        reason: &'static str,
    },
    /// The operating system gave no randomness (sealing needs a fresh ephemeral key).
    #[error("randomness: the operating system gave none ({0}); cannot seal a message")]
    NoRandomness(String),
    /// The encoding is valid CBOR but not the canonical form.
    #[error("envelope is not canonically encoded (definite lengths, shortest integers, keys in order, defaults omitted)")]
    NonCanonical,
}

impl ValidationError {
    /// The field at fault, when one is (a form shows the error next to it); `None` for
    /// failures of the whole envelope (size, signature, encoding).
    pub fn field(&self) -> Option<&'static str> {
        use ValidationError::*;
        match self {
            TooLong { field, .. }
            | Empty { field }
            | TooMany { field, .. }
            | OutOfRange { field, .. }
            | Invalid { field, .. }
            | FromFuture { field, .. }
            | WrongRecipient { field }
            | NotAParty { field, .. } => Some(field),
            Expired { .. } | LifetimeTooLong { .. } | ExpiryMismatch { .. } => Some("expires_at"),
            UnknownCurrency(_) => Some("currency"),
            InVariant { .. } => Some("variants"),
            ThreadMismatch { .. } => Some("thread"),
            _ => None,
        }
    }

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
