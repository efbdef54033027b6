//! Keys and signatures: thin newtypes over ed25519-dalek that verify strictly, never print
//! secrets, and have a human-readable seller id that parses back.

use std::fmt;
use std::str::FromStr;

use ed25519_dalek::{Signer, SigningKey, VerifyingKey};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::encoding::{base32_decode, base32_encode};
use crate::error::ValidationError;

/// Prefix of the text form of a seller id.
pub const SELLER_ID_PREFIX: &str = "sm";

/// A user's secret key (the 32-byte ed25519 seed). Never printed.
#[derive(Clone)]
pub struct SecretKey(SigningKey);

impl SecretKey {
    /// A fresh key from the operating system's randomness.
    ///
    /// # Panics
    /// If the operating system has no randomness to give, which leaves no safe way to go on.
    pub fn generate() -> SecretKey {
        let mut seed = [0u8; 32];
        getrandom::fill(&mut seed).expect("the operating system must provide randomness for keys");
        SecretKey::from_bytes(seed)
    }

    /// The key of a seed.
    pub fn from_bytes(seed: [u8; 32]) -> SecretKey {
        SecretKey(SigningKey::from_bytes(&seed))
    }

    /// The seed (to store it; handle with care).
    pub fn to_bytes(&self) -> [u8; 32] {
        self.0.to_bytes()
    }

    /// The public half.
    pub fn public(&self) -> PublicKey {
        PublicKey(self.0.verifying_key())
    }

    /// Signs bytes.
    pub fn sign(&self, msg: &[u8]) -> Signature {
        Signature(self.0.sign(msg).to_bytes())
    }

    /// The X25519 secret scalar of this identity (the ed25519 secret scalar before clamping;
    /// X25519 clamps it the same way), for opening messages sealed to [`PublicKey::x25519`].
    pub(crate) fn x25519_scalar(&self) -> [u8; 32] {
        self.0.to_scalar_bytes()
    }
}

impl fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecretKey(..)")
    }
}

/// A public key: a seller's identity (and its node's PeerId).
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct PublicKey(VerifyingKey);

impl PublicKey {
    /// Parses 32 bytes, rejecting non-points and weak (small-order) keys.
    pub fn from_bytes(bytes: &[u8; 32]) -> Result<PublicKey, ValidationError> {
        let vk = VerifyingKey::from_bytes(bytes).map_err(|_| ValidationError::BadKey)?;
        if vk.is_weak() {
            return Err(ValidationError::BadKey);
        }
        Ok(PublicKey(vk))
    }

    /// The 32 bytes.
    pub fn as_bytes(&self) -> &[u8; 32] {
        self.0.as_bytes()
    }

    /// Verifies with the strict rules (no small-order components, canonical encodings), so
    /// every implementation accepts exactly the same signatures.
    pub fn verify_strict(&self, msg: &[u8], sig: &Signature) -> Result<(), ValidationError> {
        let sig = ed25519_dalek::Signature::from_bytes(&sig.0);
        self.0
            .verify_strict(msg, &sig)
            .map_err(|_| ValidationError::BadSignature)
    }

    /// The X25519 public key of this identity: the Montgomery form of the ed25519 point, the
    /// key messages to this identity are sealed to.
    pub(crate) fn x25519(&self) -> [u8; 32] {
        self.0.to_montgomery().to_bytes()
    }

    pub(crate) fn dalek(&self) -> &VerifyingKey {
        &self.0
    }
}

impl PartialOrd for PublicKey {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for PublicKey {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.as_bytes().cmp(other.as_bytes())
    }
}

impl fmt::Display for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&seller_id_text(self.as_bytes()))
    }
}

/// The human-readable seller id of key bytes (what [`PublicKey`] displays), without checking
/// that the bytes are a valid key: for keys that were checked when they were stored.
pub fn seller_id_text(key: &[u8; 32]) -> String {
    format!("{SELLER_ID_PREFIX}{}", base32_encode(key))
}

impl fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PublicKey({self})")
    }
}

impl FromStr for PublicKey {
    type Err = ValidationError;
    fn from_str(s: &str) -> Result<PublicKey, ValidationError> {
        let bad = || {
            ValidationError::invalid(
                "seller",
                format!("'{s}' is not a seller id (\"sm\" followed by 52 base32 characters)"),
            )
        };
        let body = s.trim().strip_prefix(SELLER_ID_PREFIX).ok_or_else(bad)?;
        let bytes = base32_decode::<32>(body).ok_or_else(bad)?;
        PublicKey::from_bytes(&bytes)
    }
}

impl Serialize for PublicKey {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for PublicKey {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<PublicKey, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// An ed25519 signature.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Signature(pub(crate) [u8; 64]);

impl Signature {
    /// From its 64 bytes.
    pub fn from_bytes(bytes: [u8; 64]) -> Signature {
        Signature(bytes)
    }
    /// Its 64 bytes.
    pub fn to_bytes(&self) -> [u8; 64] {
        self.0
    }
}

impl fmt::Debug for Signature {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Signature(")?;
        for b in &self.0[..8] {
            write!(f, "{b:02x}")?;
        }
        write!(f, "..)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seller_id_round_trips_and_secret_never_prints() {
        let k = SecretKey::from_bytes([7; 32]);
        let id = k.public().to_string();
        assert!(id.starts_with("sm"));
        assert_eq!(id.len(), 54);
        assert_eq!(id.parse::<PublicKey>().unwrap(), k.public());
        assert_eq!(format!("{k:?}"), "SecretKey(..)");
        assert!("sm123".parse::<PublicKey>().is_err());
    }

    #[test]
    fn strict_verification() {
        let k = SecretKey::from_bytes([1; 32]);
        let sig = k.sign(b"hello");
        k.public().verify_strict(b"hello", &sig).unwrap();
        assert_eq!(
            k.public().verify_strict(b"hellO", &sig),
            Err(ValidationError::BadSignature)
        );
    }

    #[test]
    fn weak_keys_are_rejected() {
        // The identity point (y = 1) has small order.
        let mut identity = [0u8; 32];
        identity[0] = 1;
        assert_eq!(
            PublicKey::from_bytes(&identity),
            Err(ValidationError::BadKey)
        );
    }
}
