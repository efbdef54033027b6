//! Keeping the blobs a node carries in step with its listings: one task that
//! - **announces** what the store holds at start, and the photos of listings this node
//!   publishes (its user's, its bridge's), as DHT providers;
//! - **prefetches thumbnails** of listings that arrive from peers (a bounded queue,
//!   [`PREFETCH_PARALLEL`] fetches at once, kept as [`BlobClass::Thumb`]), so a search result
//!   shows one without a round trip; what the queue could not take (a sync brings more than
//!   it holds) or the task missed (it fell behind the store's events, or the node was down)
//!   is found again by a sweep of the store once the queue has drained, and at start;
//! - **collects** every [`GC_EVERY`] the blobs no live listing names (withdrawn, expired,
//!   swept), via [`BlobStore::collect`], and stops announcing what is gone (collected, or
//!   evicted from the cache since).
//!
//! Disk work (store scans, collection) runs on the blocking pool. A scan of a large store
//! takes seconds to minutes at background priority, so every scan asks a [`Halt`] as it goes
//! and the node's shutdown does not wait for one to finish.

use std::collections::{HashMap, HashSet, VecDeque};
use std::time::Duration;

use swapmeet_protocol::envelope::{decode_stored, Record};
use swapmeet_protocol::limits::MAX_THUMB_BYTES;
use swapmeet_protocol::PublicKey;
use tokio::sync::{broadcast, watch};
use tokio::task::JoinSet;

use crate::engine::Engine;
use crate::events::{Change, Event, Source};
use crate::media::blobs::{BlobClass, BlobHash, BlobStore, CollectReport};
use crate::media::fetch::{self, Want};
use crate::network::messaging::peer_of;
use crate::network::NetworkHandle;
use crate::store::RecordKind;

/// Thumbnails waiting to be fetched; beyond this, new ones wait for the next sweep of the
/// store ([`SWEEP_EVERY`]). A sync brings thousands of listings at once; 4,096 thumbnails of
/// at most 64 KiB each are fetched within minutes on a home connection.
pub const PREFETCH_QUEUE: usize = 4096;
/// How often the task checks whether a sweep for missing thumbnails is due (one is due after
/// the queue overflowed or events were missed, and at start; it runs once the queue drained).
pub const SWEEP_EVERY: Duration = Duration::from_secs(5);
/// Most thumbnails remembered as undeliverable in one run.
const MAX_FAILED: usize = 65_536;
/// Thumbnail fetches at once.
pub const PREFETCH_PARALLEL: usize = 4;
/// How often blobs no live listing names are collected.
pub const GC_EVERY: Duration = Duration::from_secs(10 * 60);

/// Asked by the store scans every [`HALT_EVERY`] records: true once the node is stopping.
/// A halted thumbnail sweep keeps what it found so far; a halted collection collects nothing
/// (a partial set of live blobs would remove photos of listings not yet scanned).
pub type Halt<'a> = &'a (dyn Fn() -> bool + Sync);
/// Records scanned between two questions to the [`Halt`].
const HALT_EVERY: usize = 1024;

/// Settings of the upkeep task.
#[derive(Clone, Copy, Debug)]
pub struct UpkeepConfig {
    /// How often to collect.
    pub gc_every: Duration,
}

impl Default for UpkeepConfig {
    fn default() -> Self {
        UpkeepConfig { gc_every: GC_EVERY }
    }
}

/// A thumbnail to fetch, and its seller's peer (the first place to ask).
pub type Queued = (BlobHash, Option<libp2p::PeerId>);

/// Runs the upkeep until `stop` turns true.
pub async fn run(
    engine: Engine,
    store: BlobStore,
    net: NetworkHandle,
    me: PublicKey,
    config: UpkeepConfig,
    mut stop: watch::Receiver<bool>,
) {
    let mut events = engine.subscribe();
    let s = store.clone();
    if let Ok(held) = tokio::task::spawn_blocking(move || s.hashes()).await {
        let _ = net.provide_blobs(held).await;
    }
    let mut queue: VecDeque<Queued> = VecDeque::new();
    let mut queued: HashSet<BlobHash> = HashSet::new();
    let mut running: JoinSet<(BlobHash, bool)> = JoinSet::new();
    // Thumbnails no peer delivered this run: a sweep does not queue them again (a restart
    // does), so thumbnails nobody serves cannot keep the sweep busy.
    let mut failed: HashSet<BlobHash> = HashSet::new();
    let mut gc_tick = tokio::time::interval(config.gc_every);
    gc_tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    gc_tick.tick().await;
    let mut sweep_tick = tokio::time::interval(SWEEP_EVERY);
    sweep_tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    // At start: thumbnails of listings stored while the node was down, or left unfetched.
    let mut missed = true;
    loop {
        while running.len() < PREFETCH_PARALLEL {
            let Some((hash, hint)) = queue.pop_front() else {
                break;
            };
            let (s, n) = (store.clone(), net.clone());
            running.spawn(async move {
                let want = Want {
                    hash,
                    hint,
                    class: BlobClass::Thumb,
                    max_size: MAX_THUMB_BYTES,
                };
                match fetch::fetch(&s, &n, want).await {
                    Ok(_) => (hash, true),
                    Err(e) => {
                        tracing::debug!(blob = %hex::encode(hash), error = %e, "cannot prefetch a thumbnail");
                        (hash, false)
                    }
                }
            });
        }
        tokio::select! {
            // The guard `wait_for` gives is dropped inside, so the task stays Send.
            _ = async { let _ = stop.wait_for(|s| *s).await; } => break,
            Some(done) = running.join_next() => {
                if let Ok((hash, ok)) = done {
                    queued.remove(&hash);
                    if !ok && failed.len() < MAX_FAILED {
                        failed.insert(hash);
                    }
                }
            }
            ev = events.recv() => match ev {
                Ok(ev) => {
                    if !on_event(&ev, &store, &net, &mut queue, &mut queued).await {
                        missed = true;
                    }
                }
                Err(broadcast::error::RecvError::Lagged(n)) => {
                    // Their thumbnails are found by the next sweep.
                    tracing::debug!(missed = n, "blob upkeep fell behind the store's events");
                    missed = true;
                }
                Err(broadcast::error::RecvError::Closed) => break,
            },
            _ = sweep_tick.tick(), if missed && queue.is_empty() => {
                let (e, s, m, f) = (engine.clone(), store.clone(), me, failed.clone());
                let halt = stop.clone();
                // A scan of the whole store: at background priority, so that on a large
                // store it takes idle cycles from searches and relaying, not their time.
                let sweep = move || {
                    crate::priority::in_background(|| {
                        missing_thumbs(&e, &s, &m, &f, PREFETCH_QUEUE, &|| *halt.borrow())
                    })
                };
                match tokio::task::spawn_blocking(sweep).await {
                    Ok(Ok((found, more))) => {
                        for (hash, hint) in found {
                            if queued.insert(hash) {
                                queue.push_back((hash, hint));
                            }
                        }
                        missed = more;
                    }
                    Ok(Err(e)) => tracing::warn!(error = %e, "cannot sweep for missing thumbnails"),
                    Err(e) => tracing::warn!(error = %e, "the thumbnail sweep panicked"),
                }
            }
            _ = gc_tick.tick() => match collect(&engine, &store, &net, &me, stop.clone()).await {
                Ok(report) => tracing::debug!(?report, "collected blobs"),
                Err(e) => tracing::warn!(error = %e, "cannot collect blobs"),
            },
        }
    }
    running.shutdown().await;
}

/// Announces or queues what one stored event names; false when the queue was full and a
/// thumbnail was left for the next sweep.
async fn on_event(
    ev: &Event,
    store: &BlobStore,
    net: &NetworkHandle,
    queue: &mut VecDeque<Queued>,
    queued: &mut HashSet<BlobHash>,
) -> bool {
    if !matches!(ev.change, Change::Listed | Change::Updated) {
        return true;
    }
    // Stored, so verified: read back without checking the signature again.
    let Ok(parts) = ev.decoded() else {
        return true;
    };
    let Record::Listing(listing) = &parts.record else {
        return true;
    };
    match &ev.source {
        Source::Local | Source::Bridge => {
            let held: Vec<BlobHash> = listing
                .images
                .iter()
                .flat_map(|i| std::iter::once(i.hash).chain(i.thumb.as_ref().map(|t| t.hash)))
                .filter(|h| store.has(h))
                .collect();
            if !held.is_empty() {
                let _ = net.provide_blobs(held).await;
            }
        }
        Source::Peer(_) | Source::Import | Source::Store => {
            let mut seller = None;
            for t in listing.images.iter().filter_map(|i| i.thumb.as_ref()) {
                if store.has(&t.hash) || queued.contains(&t.hash) {
                    continue;
                }
                if queue.len() >= PREFETCH_QUEUE {
                    tracing::debug!("thumbnail queue full; left for the next sweep");
                    return false;
                }
                queued.insert(t.hash);
                let peer = *seller.get_or_insert_with(|| seller_peer(&parts.signer));
                queue.push_back((t.hash, peer));
            }
        }
    }
    true
}

/// The peer of a listing's seller, the first place to ask for its blobs.
fn seller_peer(signer: &[u8; 32]) -> Option<libp2p::PeerId> {
    PublicKey::from_bytes(signer).ok().and_then(|k| peer_of(&k))
}

/// Thumbnails of live listings of others that the store does not hold and `skip` does not
/// name, at most `max`, each
/// with its seller's peer as the first place to ask; and whether there were more. Blocking.
pub fn missing_thumbs(
    engine: &Engine,
    store: &BlobStore,
    me: &PublicKey,
    skip: &HashSet<BlobHash>,
    max: usize,
    halt: Halt,
) -> Result<(Vec<Queued>, bool), String> {
    let now = engine.now();
    let mut out = Vec::new();
    for (n, rec) in engine.store().iter().enumerate() {
        if n % HALT_EVERY == 0 && halt() {
            // What was found is real; the rest waits for the next run's sweep.
            return Ok((out, true));
        }
        let rec = rec.map_err(|e| e.to_string())?;
        if rec.kind != RecordKind::Listing || rec.expires_at <= now {
            continue;
        }
        let Ok(parts) = decode_stored(&rec.envelope) else {
            continue;
        };
        if &parts.signer == me.as_bytes() {
            continue;
        }
        let Record::Listing(l) = parts.record else {
            continue;
        };
        // The seller's peer only for a listing with a thumbnail to fetch: decompressing the
        // key and deriving the peer id for every listing cost a 1,000,000-listing node about
        // 20 s of CPU per sweep, when nearly all their thumbnails were held.
        let mut seller = None;
        for t in l.images.iter().filter_map(|i| i.thumb.as_ref()) {
            if store.has(&t.hash) || skip.contains(&t.hash) {
                continue;
            }
            if out.len() >= max {
                return Ok((out, true));
            }
            let peer = *seller.get_or_insert_with(|| seller_peer(&parts.signer));
            out.push((t.hash, peer));
        }
    }
    Ok((out, false))
}

/// What every live listing names, and the class each blob should have: the user's own
/// listings' photos and thumbnails are Own, other listings' thumbnails Thumb and photos
/// Cached (kept while the cache has room). `Err` when halted: a partial answer would name
/// too little.
pub fn live_blobs(
    engine: &Engine,
    me: &PublicKey,
    halt: Halt,
) -> Result<HashMap<BlobHash, BlobClass>, String> {
    let now = engine.now();
    let mut live: HashMap<BlobHash, BlobClass> = HashMap::new();
    let mut mark = |h: BlobHash, c: BlobClass| {
        let e = live.entry(h).or_insert(c);
        *e = (*e).max(c);
    };
    for (n, rec) in engine.store().iter().enumerate() {
        if n % HALT_EVERY == 0 && halt() {
            return Err("the node is stopping".into());
        }
        let rec = rec.map_err(|e| e.to_string())?;
        if rec.kind != RecordKind::Listing || rec.expires_at <= now {
            continue;
        }
        let Ok(parts) = decode_stored(&rec.envelope) else {
            continue;
        };
        let Record::Listing(l) = parts.record else {
            continue;
        };
        let own = &parts.signer == me.as_bytes();
        for img in &l.images {
            mark(
                img.hash,
                if own {
                    BlobClass::Own
                } else {
                    BlobClass::Cached
                },
            );
            if let Some(t) = &img.thumb {
                mark(
                    t.hash,
                    if own {
                        BlobClass::Own
                    } else {
                        BlobClass::Thumb
                    },
                );
            }
        }
    }
    Ok(live)
}

/// Collects the blobs no live listing names (on the blocking pool), then stops announcing
/// what is gone. What the upkeep runs every [`GC_EVERY`]; `Err` says why it could not.
/// `stop` turning true halts the scan (nothing is collected then).
pub async fn collect(
    engine: &Engine,
    store: &BlobStore,
    net: &NetworkHandle,
    me: &PublicKey,
    stop: watch::Receiver<bool>,
) -> Result<CollectReport, String> {
    let (e, s, k) = (engine.clone(), store.clone(), *me);
    // A scan of the whole store, at background priority like the thumbnail sweep.
    let report = tokio::task::spawn_blocking(move || {
        crate::priority::in_background(|| {
            let halt = || *stop.borrow();
            let live = live_blobs(&e, &k, &halt)?;
            s.collect(&|h| live.get(h).copied())
                .map_err(|e| e.to_string())
        })
    })
    .await
    .map_err(|e| format!("the collection failed: {e}"))??;
    // Gone from the store, gone from the DHT (a failure only delays it to the next round).
    let _ = net.prune_provided().await;
    Ok(report)
}
