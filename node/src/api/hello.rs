//! `POST /v1/hello`: the node proves it knows the API token without anyone sending it.
//!
//! The CLI finds its node through `<home>/node.json`, which a `kill -9` leaves behind; whatever
//! process listens on that port next would otherwise receive the bearer token with the first
//! request. So before a client sends the token it sends a fresh random nonce to this endpoint
//! (the only one that needs no token) and checks the answer:
//!
//! `proof = HMAC-SHA256(key = token, HELLO_DOMAIN || nonce (32 bytes) || api address as text)`
//!
//! The nonce is fixed-length, so the concatenation is unambiguous. The address is the one the
//! client dialled and the node listens on (`127.0.0.1:7420`): binding it in means a process on
//! the stale port cannot relay the nonce to the real node on another port and pass its answer
//! off as its own. A listener that does not know the token cannot answer, and the token is never
//! sent to it. Asking the node for proofs teaches a caller nothing about the token (HMAC is a
//! PRF), so the endpoint needs no guard beyond the body cap.

use axum::body::Body;
use axum::extract::State;
use axum::Json;
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

use super::{json_body, ApiError, ApiResult, St};

/// Domain separation: a proof for this handshake is never valid for anything else.
pub const HELLO_DOMAIN: &[u8] = b"swapmeet/api-hello/v1";
/// Length of the nonce in bytes (sent as lowercase hex).
pub const NONCE_BYTES: usize = 32;

/// Body of `POST /v1/hello`.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HelloRequest {
    /// [`NONCE_BYTES`] random bytes, hex.
    pub nonce: String,
}

/// Answer of `POST /v1/hello`.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct HelloResponse {
    /// The HMAC described in the module docs, hex.
    pub proof: String,
}

/// Why a listener failed to prove it is the node.
#[derive(Debug, thiserror::Error)]
pub enum HelloError {
    /// The system's random source failed.
    #[error("cannot make a nonce: the system's random source failed: {0}")]
    Random(String),
    /// The proof is not hex of the right length.
    #[error("the proof is not {} hex characters", 2 * PROOF_BYTES)]
    Malformed,
    /// The proof does not match: the listener does not know the token.
    #[error("the proof does not match the token")]
    Mismatch,
}

const PROOF_BYTES: usize = 32;

type HmacSha256 = Hmac<Sha256>;

fn mac(token: &str, nonce: &[u8; NONCE_BYTES], api: &str) -> HmacSha256 {
    // HMAC takes keys of any length (a long key is hashed first), so this cannot fail.
    let mut mac = <HmacSha256 as Mac>::new_from_slice(token.as_bytes())
        .unwrap_or_else(|_| unreachable!("HMAC accepts keys of any length"));
    mac.update(HELLO_DOMAIN);
    mac.update(nonce);
    mac.update(api.as_bytes());
    mac
}

/// The proof the node gives for `nonce` when listening on `api`.
pub fn proof(token: &str, nonce: &[u8; NONCE_BYTES], api: &str) -> [u8; PROOF_BYTES] {
    mac(token, nonce, api).finalize().into_bytes().into()
}

/// A client's side of the handshake: a fresh nonce, then a check of the answer.
pub struct Challenge {
    nonce: [u8; NONCE_BYTES],
}

impl Challenge {
    /// A challenge with a fresh nonce from the system's random source.
    pub fn new() -> Result<Challenge, HelloError> {
        let mut nonce = [0u8; NONCE_BYTES];
        getrandom::fill(&mut nonce).map_err(|e| HelloError::Random(e.to_string()))?;
        Ok(Challenge { nonce })
    }

    /// The request to send.
    pub fn request(&self) -> HelloRequest {
        HelloRequest {
            nonce: hex::encode(self.nonce),
        }
    }

    /// Checks, in constant time, that `answer` proves knowledge of `token` for a node
    /// listening on `api`.
    pub fn verify(&self, token: &str, api: &str, answer: &HelloResponse) -> Result<(), HelloError> {
        let given = hex::decode(answer.proof.trim()).map_err(|_| HelloError::Malformed)?;
        if given.len() != PROOF_BYTES {
            return Err(HelloError::Malformed);
        }
        mac(token, &self.nonce, api)
            .verify_slice(&given)
            .map_err(|_| HelloError::Mismatch)
    }
}

/// `POST /v1/hello` (no token needed).
pub async fn hello(State(s): St, body: Body) -> ApiResult<Json<HelloResponse>> {
    let req: HelloRequest = json_body(body).await?;
    let raw = hex::decode(req.nonce.trim()).map_err(|_| {
        ApiError::field(
            "nonce",
            format!("must be {} hex characters", 2 * NONCE_BYTES),
        )
    })?;
    let nonce: [u8; NONCE_BYTES] = raw.try_into().map_err(|v: Vec<u8>| {
        ApiError::field(
            "nonce",
            format!(
                "must be {NONCE_BYTES} bytes ({} hex characters), got {} bytes",
                2 * NONCE_BYTES,
                v.len()
            ),
        )
    })?;
    Ok(Json(HelloResponse {
        proof: hex::encode(proof(&s.token, &nonce, &s.api)),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    const TOKEN: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
    const API: &str = "127.0.0.1:7420";

    fn answer(token: &str, c: &Challenge, api: &str) -> HelloResponse {
        HelloResponse {
            proof: hex::encode(proof(token, &c.nonce, api)),
        }
    }

    #[test]
    fn the_right_token_and_address_verify() {
        let c = Challenge::new().unwrap();
        assert!(c.verify(TOKEN, API, &answer(TOKEN, &c, API)).is_ok());
    }

    #[test]
    fn another_token_another_address_or_another_nonce_do_not() {
        let c = Challenge::new().unwrap();
        let other = Challenge::new().unwrap();
        let wrong_token = TOKEN.replace('0', "1");
        assert!(matches!(
            c.verify(TOKEN, API, &answer(&wrong_token, &c, API)),
            Err(HelloError::Mismatch)
        ));
        // A relay on the stale port forwarding to the real node on another port.
        assert!(matches!(
            c.verify(TOKEN, API, &answer(TOKEN, &c, "127.0.0.1:7421")),
            Err(HelloError::Mismatch)
        ));
        // A replayed answer to an earlier nonce.
        assert!(matches!(
            c.verify(TOKEN, API, &answer(TOKEN, &other, API)),
            Err(HelloError::Mismatch)
        ));
    }

    #[test]
    fn garbage_and_truncated_proofs_are_malformed() {
        let c = Challenge::new().unwrap();
        let good = answer(TOKEN, &c, API).proof;
        for bad in ["", "zz", &good[..62]] {
            let r = c.verify(TOKEN, API, &HelloResponse { proof: bad.into() });
            assert!(matches!(r, Err(HelloError::Malformed)), "{bad:?}");
        }
    }

    #[test]
    fn the_proof_is_hmac_sha256_of_domain_nonce_and_address() {
        // Pinned so a compatible client in another language can check its implementation
        // (RFC 2104 HMAC with SHA-256, computed independently with Python's `hmac` module).
        let nonce = [7u8; NONCE_BYTES];
        assert_eq!(hex::encode(proof(TOKEN, &nonce, API)), PINNED);
    }

    const PINNED: &str = "d78a61c7eea44657e93aeda111d354e379db9a8e0e5f8d9e2dd67554e846fa63";
}
