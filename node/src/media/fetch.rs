//! Fetching a blob from the network: who to ask, in which order, and what is kept.
//!
//! Candidates, each asked once, in order:
//! 1. the **hint**: the peer that should have it (the listing's seller);
//! 2. the **providers** the DHT knows (peers that announced they hold it: buyers who fetched
//!    it before, nodes carrying the listing's thumbnails), found only if the hint failed;
//! 3. up to [`MAX_BLIND_ASKS`] other **connected peers**, in case the DHT has not heard of
//!    a copy yet (a provider record takes a few round trips to spread).
//!
//! Providers come before the connected peers at large because they said they hold the blob:
//! asking every connected peer first would cost a round trip each, most answering NotFound.
//!
//! The whole blob comes from one peer, chunk by chunk ([`MAX_CHUNK_BYTES`] each), and is
//! checked against its hash before anything is kept ([`BlobStore::put_expected`]). A peer
//! whose bytes do not match is penalized like a peer that gossips invalid listings (three
//! strikes cut it off) and the next candidate is asked. A fetched blob is announced as held
//! here, so the next buyer can fetch it from this node.

use std::time::Duration;

use libp2p::PeerId;
use serde::Serialize;
use swapmeet_protocol::limits::MAX_IMAGE_BYTES;

use crate::media::blobs::{BlobClass, BlobError, BlobHash, BlobStore};
use crate::network::blobs::{BlobRequest, BlobResponse, MAX_CHUNK_BYTES};
use crate::network::{NetworkError, NetworkHandle};

/// Connected peers asked without a provider record, at most (after the hint and providers).
pub const MAX_BLIND_ASKS: usize = 8;
/// Times a peer that answers `Busy` is asked again before the next candidate.
pub const BUSY_RETRIES: u32 = 3;
/// Wait before asking a busy peer again.
pub const BUSY_BACKOFF: Duration = Duration::from_millis(200);

/// Why a fetch failed.
#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    /// No candidate had the blob (none known, or each answered NotFound).
    #[error("no peer has blob {hash} (asked {asked}); the seller may be offline and nobody who fetched it is online")]
    NotFound {
        /// The blob, hex.
        hash: String,
        /// How many peers were asked.
        asked: usize,
    },
    /// Every candidate that had the blob failed to deliver it.
    #[error(
        "fetching blob {hash} failed from every peer that has it: {}",
        describe(failures)
    )]
    AllFailed {
        /// The blob, hex.
        hash: String,
        /// Each peer and why.
        failures: Vec<Failure>,
    },
    /// The blob is larger than the caller accepts.
    #[error("blob {hash} is {size} bytes (the limit is {limit})")]
    TooLarge {
        /// The blob, hex.
        hash: String,
        /// Its size as the peer gave it.
        size: u64,
        /// The limit.
        limit: u64,
    },
    /// The blob store failed (disk).
    #[error("blob store: {0}")]
    Store(#[from] BlobError),
    /// The network is not running.
    #[error(transparent)]
    Network(#[from] NetworkError),
}

fn describe(failures: &[Failure]) -> String {
    failures
        .iter()
        .map(|f| format!("{}: {}", f.peer, f.reason))
        .collect::<Vec<_>>()
        .join("; ")
}

/// One candidate that did not deliver, and why.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Failure {
    /// The peer.
    pub peer: String,
    /// Why (unreachable, busy, a malformed chunk, bytes that did not match the hash).
    pub reason: String,
}

/// How the peer that delivered was found.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Via {
    /// The blob was already here.
    Local,
    /// The hint (the seller).
    Hint,
    /// A DHT provider record.
    Provider,
    /// A connected peer asked without one.
    Connected,
}

/// A fetched blob and where it came from.
#[derive(Clone, Debug)]
pub struct Fetched {
    /// The bytes (verified against the hash).
    pub bytes: Vec<u8>,
    /// The peer that delivered (`None` when it was here).
    pub from: Option<PeerId>,
    /// How that peer was found.
    pub via: Via,
    /// Candidates that failed before it.
    pub failures: Vec<Failure>,
}

/// What to fetch.
#[derive(Clone, Copy, Debug)]
pub struct Want {
    /// The blob.
    pub hash: BlobHash,
    /// The peer that should have it.
    pub hint: Option<PeerId>,
    /// The class to keep it as (Cached for a photo shown, Thumb for a listing's thumbnail).
    pub class: BlobClass,
    /// Largest size accepted (the size the listing names, or the protocol's limit).
    pub max_size: u64,
}

impl Want {
    /// A photo to show, kept in the cache.
    pub fn photo(hash: BlobHash, hint: Option<PeerId>) -> Want {
        Want {
            hash,
            hint,
            class: BlobClass::Cached,
            max_size: MAX_IMAGE_BYTES,
        }
    }
}

/// What one candidate did.
enum Attempt {
    Got(Vec<u8>),
    NotFound,
    Failed(String),
    TooLarge(u64),
}

/// Fetches a blob: from the store if it is here, else from the network (see the module
/// docs), keeping it as `want.class` once its hash checks. Cancel-safe: dropping the future
/// keeps nothing of a blob not yet verified.
pub async fn fetch(
    store: &BlobStore,
    net: &NetworkHandle,
    want: Want,
) -> Result<Fetched, FetchError> {
    let hash = want.hash;
    if let Some(bytes) = local(store, hash).await? {
        return Ok(Fetched {
            bytes,
            from: None,
            via: Via::Local,
            failures: Vec::new(),
        });
    }
    let me = net.peer_id();
    let mut asked: Vec<PeerId> = Vec::new();
    let mut failures: Vec<Failure> = Vec::new();
    // The largest size a peer claimed over the limit, and how many peers did.
    let mut too_large: (u64, usize) = (0, 0);
    for stage in [Via::Hint, Via::Provider, Via::Connected] {
        let peers = match stage {
            Via::Hint => want.hint.into_iter().collect(),
            Via::Provider => net.blob_providers(hash).await?,
            Via::Connected => {
                let mut c = net.connected_peers().await?;
                c.retain(|p| !asked.contains(p));
                c.truncate(MAX_BLIND_ASKS);
                c
            }
            Via::Local => Vec::new(),
        };
        for peer in peers {
            if peer == me || asked.contains(&peer) {
                continue;
            }
            asked.push(peer);
            let reason = match from_peer(net, peer, &want).await? {
                Attempt::Got(bytes) => match keep(store, &want, &bytes).await? {
                    true => {
                        // Announced so later buyers find this copy; a failure only means
                        // nobody learns of it.
                        let _ = net.provide_blobs(vec![hash]).await;
                        return Ok(Fetched {
                            bytes,
                            from: Some(peer),
                            via: stage,
                            failures,
                        });
                    }
                    false => {
                        net.penalize(peer, "sent a blob that does not match its hash")
                            .await?;
                        "sent bytes that do not match the hash".to_string()
                    }
                },
                Attempt::NotFound => continue,
                Attempt::TooLarge(size) => {
                    too_large = (too_large.0.max(size), too_large.1 + 1);
                    format!(
                        "says the blob is {size} bytes (the limit is {})",
                        want.max_size
                    )
                }
                Attempt::Failed(reason) => reason,
            };
            tracing::debug!(%peer, blob = %hex::encode(hash), %reason, "a candidate failed");
            failures.push(Failure {
                peer: peer.to_string(),
                reason,
            });
        }
    }
    let hex_hash = hex::encode(hash);
    if too_large.1 > 0 && too_large.1 == failures.len() {
        return Err(FetchError::TooLarge {
            hash: hex_hash,
            size: too_large.0,
            limit: want.max_size,
        });
    }
    if failures.is_empty() {
        return Err(FetchError::NotFound {
            hash: hex_hash,
            asked: asked.len(),
        });
    }
    Err(FetchError::AllFailed {
        hash: hex_hash,
        failures,
    })
}

/// The blob from the store (verified on read), off the async threads.
async fn local(store: &BlobStore, hash: BlobHash) -> Result<Option<Vec<u8>>, FetchError> {
    let s = store.clone();
    match tokio::task::spawn_blocking(move || s.get(&hash)).await {
        Ok(Ok(found)) => Ok(found),
        // A corrupt file was removed by the read: fetch it again.
        Ok(Err(BlobError::Corrupt { .. })) => Ok(None),
        Ok(Err(e)) => Err(e.into()),
        Err(e) => Err(FetchError::Store(BlobError::Io {
            what: "reading",
            path: store.path_of(&hash),
            source: std::io::Error::other(e.to_string()),
        })),
    }
}

/// Keeps the bytes if they hash to the blob: `true`, or `false` (nothing kept) if not.
async fn keep(store: &BlobStore, want: &Want, bytes: &[u8]) -> Result<bool, FetchError> {
    let (s, hash, class, owned) = (store.clone(), want.hash, want.class, bytes.to_vec());
    let put = move || {
        s.put_expected(&hash, &owned, class)?;
        // A listing's thumbnail gets its card thumbnail now, while its bytes are at hand, so
        // the first search that shows it does not wait for it.
        if class == BlobClass::Thumb {
            if let Err(e) = s.make_card(&hash, &owned) {
                tracing::debug!(blob = %hex::encode(hash), error = %e, "cannot keep a card thumbnail");
            }
        }
        Ok(())
    };
    match tokio::task::spawn_blocking(put).await {
        Ok(Ok(())) => Ok(true),
        Ok(Err(BlobError::HashMismatch { .. })) => Ok(false),
        Ok(Err(e)) => Err(e.into()),
        Err(e) => Err(FetchError::Store(BlobError::Io {
            what: "writing",
            path: store.path_of(&want.hash),
            source: std::io::Error::other(e.to_string()),
        })),
    }
}

/// The whole blob from one peer, chunk by chunk.
async fn from_peer(net: &NetworkHandle, peer: PeerId, want: &Want) -> Result<Attempt, FetchError> {
    let mut out: Vec<u8> = Vec::new();
    let mut total: Option<u64> = None;
    let mut busy = 0;
    loop {
        let offset = out.len() as u64;
        let req = BlobRequest {
            hash: want.hash,
            offset,
            len: MAX_CHUNK_BYTES,
        };
        let answer = match net.blob_request(peer, req).await? {
            Ok(a) => a,
            Err(e) => return Ok(Attempt::Failed(e)),
        };
        match answer {
            BlobResponse::Chunk { total_size, bytes } => {
                if total_size > want.max_size {
                    return Ok(Attempt::TooLarge(total_size));
                }
                if total.is_some_and(|t| t != total_size) {
                    return Ok(Attempt::Failed(format!(
                        "gave the size as {} and then {total_size}",
                        total.unwrap_or_default()
                    )));
                }
                if let Err(e) = BlobResponse::check_chunk(&req, total_size, bytes.len()) {
                    return Ok(Attempt::Failed(e));
                }
                if total.is_none() {
                    // Bounded by `max_size` (at most the 20 MiB protocol limit).
                    out.reserve_exact(total_size as usize);
                    total = Some(total_size);
                }
                out.extend_from_slice(&bytes);
                if out.len() as u64 == total_size {
                    return Ok(Attempt::Got(out));
                }
            }
            BlobResponse::NotFound if out.is_empty() => return Ok(Attempt::NotFound),
            BlobResponse::NotFound => {
                return Ok(Attempt::Failed("stopped having the blob midway".into()))
            }
            BlobResponse::Busy if busy < BUSY_RETRIES => {
                busy += 1;
                tokio::time::sleep(BUSY_BACKOFF * busy).await;
            }
            BlobResponse::Busy => return Ok(Attempt::Failed("busy".into())),
            BlobResponse::Refused { reason } => {
                return Ok(Attempt::Failed(format!("refused: {reason}")))
            }
        }
    }
}
