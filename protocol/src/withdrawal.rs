//! A withdrawal: a signed, higher-`seq` version that replaces a listing (sold or withdrawn)
//! and blocks every older version from coming back.

use serde::{Deserialize, Serialize};

use crate::cbor::{encode, Keys, Reader};
use crate::envelope::{EnvelopeKind, SignedEnvelope};
use crate::error::ValidationError;
use crate::geo::GeoHash;
use crate::keys::{PublicKey, SecretKey};
use crate::limits::{MAX_CLOCK_SKEW_SECS, MAX_GEOHASH_CHARS, MAX_LIFETIME_SECS};
use crate::listing::{check_item_key, check_seq, ListingId};

/// Version of the withdrawal payload format.
pub const WITHDRAWAL_VERSION: u64 = 1;

/// Why a listing was withdrawn.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WithdrawReason {
    /// The item was sold.
    Sold,
    /// The seller took it off the market.
    Withdrawn,
}

impl WithdrawReason {
    fn code(self) -> u8 {
        match self {
            WithdrawReason::Sold => 1,
            WithdrawReason::Withdrawn => 2,
        }
    }
}

/// A withdrawal.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Withdrawal {
    /// The item key of the listing withdrawn.
    pub item_key: String,
    /// Higher than every version it replaces.
    pub seq: u64,
    /// Signing time.
    pub signed_at: u64,
    /// Why.
    pub reason: WithdrawReason,
    /// The withdrawn listing's geohash, so the withdrawal is routed to the same area.
    pub area: Option<GeoHash>,
    /// Whether the withdrawn listing shipped (routes it to the shipping area too).
    pub ships: bool,
}

impl Withdrawal {
    /// The listing id it withdraws.
    pub fn id(&self, seller: &PublicKey) -> ListingId {
        ListingId::derive(seller, &self.item_key)
    }

    /// Until when stores keep it: no older version can still be valid after that (versions
    /// live at most 30 days, and may be signed at most 10 minutes ahead).
    pub fn retain_until(&self) -> u64 {
        self.signed_at
            .saturating_add(MAX_LIFETIME_SECS)
            .saturating_add(MAX_CLOCK_SKEW_SECS)
    }

    /// Checks the structure.
    pub fn validate(&self) -> Result<(), ValidationError> {
        check_item_key(&self.item_key)?;
        check_seq(self.seq)?;
        if let Some(a) = &self.area {
            if a.len() > MAX_GEOHASH_CHARS {
                return Err(ValidationError::invalid(
                    "area",
                    format!("geohash '{a}' is longer than {MAX_GEOHASH_CHARS}"),
                ));
            }
        }
        Ok(())
    }

    /// Validates, encodes and signs.
    pub fn sign(&self, key: &SecretKey) -> Result<SignedEnvelope, ValidationError> {
        self.validate()?;
        SignedEnvelope::sign(key, EnvelopeKind::Withdrawal, self.encode_payload())
    }

    pub(crate) fn encode_payload(&self) -> Vec<u8> {
        let n = 5 + u64::from(self.area.is_some()) + u64::from(self.ships);
        encode(|e| {
            e.map(n)?;
            e.u8(0)?.u64(WITHDRAWAL_VERSION)?;
            e.u8(1)?.str(&self.item_key)?;
            e.u8(2)?.u64(self.seq)?;
            e.u8(3)?.u64(self.signed_at)?;
            e.u8(4)?.u8(self.reason.code())?;
            if let Some(a) = &self.area {
                e.u8(5)?.str(a.as_str())?;
            }
            if self.ships {
                e.u8(6)?.bool(true)?;
            }
            Ok(())
        })
    }

    pub(crate) fn decode_payload(bytes: &[u8]) -> Result<Withdrawal, ValidationError> {
        let mut r = Reader::new(bytes, "withdrawal");
        let n = r.map(7)?;
        let mut keys = Keys::new();
        let (mut version, mut item_key, mut seq, mut signed_at, mut reason) =
            (None, None, None, None, None);
        let mut area = None;
        let mut ships = false;
        for _ in 0..n {
            match keys.next(&mut r)? {
                0 => version = Some(r.u64()?),
                1 => item_key = Some(r.str()?.to_string()),
                2 => seq = Some(r.u64()?),
                3 => signed_at = Some(r.u64()?),
                4 => {
                    reason = Some(match r.u8()? {
                        1 => WithdrawReason::Sold,
                        2 => WithdrawReason::Withdrawn,
                        c => {
                            return Err(ValidationError::invalid(
                                "reason",
                                format!("unknown reason code {c}"),
                            ))
                        }
                    })
                }
                5 => area = Some(GeoHash::new(r.str()?)?),
                6 => ships = r.bool()?,
                k => {
                    return Err(ValidationError::malformed(
                        "withdrawal",
                        format!("unknown field {k}"),
                    ))
                }
            }
        }
        r.finish()?;
        let missing =
            |f: &'static str| ValidationError::malformed("withdrawal", format!("missing {f}"));
        let version = version.ok_or_else(|| missing("version"))?;
        if version != WITHDRAWAL_VERSION {
            return Err(ValidationError::UnsupportedVersion {
                what: "withdrawal",
                found: version,
                supported: WITHDRAWAL_VERSION,
            });
        }
        Ok(Withdrawal {
            item_key: item_key.ok_or_else(|| missing("item_key"))?,
            seq: seq.ok_or_else(|| missing("seq"))?,
            signed_at: signed_at.ok_or_else(|| missing("signed_at"))?,
            reason: reason.ok_or_else(|| missing("reason"))?,
            area,
            ships,
        })
    }
}
