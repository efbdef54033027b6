//! The responder side of sync: the set of the areas asked for (cached across a session's
//! rounds) and the answers to reconcile and fetch requests. Blocking: it runs on the
//! network's executor, never on the event loop.

use std::sync::{Arc, Mutex};
use std::time::Instant;

use negentropy::{Id, Negentropy, NegentropyStorageVector};
use swapmeet_protocol::limits::GOSSIP_ALL_AREA;

use super::{SyncError, SyncRequest, SyncResponse, MAX_RECONCILE_MESSAGE, SET_CACHE_TTL};
use crate::engine::Engine;

/// The set of a list of areas, sealed for negentropy. Blocking (scans the store).
pub fn area_set(engine: &Engine, areas: &[String]) -> Result<NegentropyStorageVector, SyncError> {
    let store = engine.store();
    let items = if areas.iter().any(|a| a == GOSSIP_ALL_AREA) {
        store.all_area_items()?
    } else {
        let mut all = Vec::new();
        for a in areas {
            all.extend(store.area_items(a)?);
        }
        all
    };
    let reviews = engine.reviews().sync_items();
    let mut set = NegentropyStorageVector::with_capacity(items.len() + reviews.len());
    for (signed_at, hash) in items.into_iter().chain(reviews) {
        set.insert(signed_at, Id::from_byte_array(hash.0))
            .map_err(|e| SyncError::Negentropy(e.to_string()))?;
    }
    // Sorts and removes duplicates (a listing that ships is in its cell and in `ship`).
    set.seal()
        .map_err(|e| SyncError::Negentropy(e.to_string()))?;
    Ok(set)
}

struct CachedSet {
    areas: Vec<String>,
    built: Instant,
    /// The store's and the reviews' write generations the set was built at. Not the last
    /// change-log position: the index commit trims the log back to empty, so a set built on
    /// the empty store would look current again after any number of writes.
    generation: (u64, u64),
    set: Arc<NegentropyStorageVector>,
}

/// The responder side. Cheap to clone; `handle` is blocking.
#[derive(Clone)]
pub struct SyncServer {
    engine: Engine,
    // The set of the last areas asked for: a session's rounds all ask for the same areas, and
    // rebuilding a 100,000-item set per round would cost more than the reconciliation.
    cache: Arc<Mutex<Option<CachedSet>>>,
}

impl SyncServer {
    /// A responder over `engine`'s store.
    pub fn new(engine: Engine) -> SyncServer {
        SyncServer {
            engine,
            cache: Arc::default(),
        }
    }

    fn set_for(&self, areas: &[String]) -> Result<Arc<NegentropyStorageVector>, SyncError> {
        // Read before the set is built: a write during the build then makes the next request
        // build again rather than serve a set that may have missed it.
        let generation = (
            self.engine.store().generation(),
            self.engine.reviews().generation(),
        );
        if let Ok(cache) = self.cache.lock() {
            if let Some(c) = cache.as_ref() {
                if c.areas == areas
                    && c.generation == generation
                    && c.built.elapsed() < SET_CACHE_TTL
                {
                    return Ok(c.set.clone());
                }
            }
        }
        let set = Arc::new(area_set(&self.engine, areas)?);
        if let Ok(mut cache) = self.cache.lock() {
            *cache = Some(CachedSet {
                areas: areas.to_vec(),
                built: Instant::now(),
                generation,
                set: set.clone(),
            });
        }
        Ok(set)
    }

    /// Answers a request. Blocking. An error that [`SyncError::is_abuse`] is the peer's fault.
    pub fn handle(&self, req: SyncRequest) -> Result<SyncResponse, SyncError> {
        match req {
            SyncRequest::Reconcile { areas, message } => {
                let set = self.set_for(&areas)?;
                let mut neg = Negentropy::borrowed(&*set, MAX_RECONCILE_MESSAGE as u64)
                    .map_err(|e| SyncError::Negentropy(e.to_string()))?;
                let reply = neg
                    .reconcile(&message)
                    .map_err(|e| SyncError::Abuse(format!("bad reconcile message: {e}")))?;
                Ok(SyncResponse::Reconcile { message: reply })
            }
            SyncRequest::Fetch { hashes } => {
                let mut envelopes = Vec::with_capacity(hashes.len());
                for h in &hashes {
                    if let Some(rec) = self.engine.store().get_by_hash(h)? {
                        envelopes.push(rec.envelope.to_vec());
                    } else if let Some(review) = self.engine.reviews().get_by_hash(h)? {
                        envelopes.push(review);
                    }
                }
                Ok(SyncResponse::Envelopes { envelopes })
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::EngineConfig;
    use swapmeet_protocol::EnvelopeHash;

    fn engine(dir: &std::path::Path) -> Engine {
        Engine::open(dir, EngineConfig::default()).unwrap().0
    }

    #[test]
    fn the_responder_calls_garbage_abuse_and_answers_unknown_hashes_with_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let server = SyncServer::new(engine(dir.path()));
        let err = server
            .handle(SyncRequest::Reconcile {
                areas: vec!["u33d".into()],
                // A fingerprint range cut short: bound, mode 1, no fingerprint.
                message: vec![0x61, 0x00, 0x00, 0x01],
            })
            .unwrap_err();
        assert!(err.is_abuse(), "{err}");
        let r = server
            .handle(SyncRequest::Fetch {
                hashes: vec![EnvelopeHash([3; 32])],
            })
            .unwrap();
        assert_eq!(r, SyncResponse::Envelopes { envelopes: vec![] });
    }
}
