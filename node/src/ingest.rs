//! The one path by which every listing enters the node: the user's own, a peer's, the bridge's,
//! an imported file's.
//!
//! decode -> verify (batched ed25519) -> validate -> area policy -> version check -> store
//! (one change-log entry per batch) -> index -> event. Each item gets a typed outcome; a bad item never
//! affects the others or anything already stored.
//!
//! Reviews (kind 5) take the same path in and are routed to their own store
//! ([`crate::market::reviews`]): verified with their receipt, decided against the same party's
//! earlier review of the deal, stored, announced. Other kinds that are not records (messages,
//! receipts) are refused as listings refuse them.

use std::sync::Arc;

use serde::Serialize;
use swapmeet_protocol::{
    DealId, EnvelopeHash, EnvelopeKind, ListingId, PublicKey, Record, ReviewError, SignedEnvelope,
    StoredParts, ValidationError, Verified,
};

use crate::allowance::{AllowanceError, Undo};
use crate::engine::{place_of, Engine, EngineError};
use crate::events::{Change, Event, Source};
use crate::search::IndexChange;
use crate::store::{Decision, RecordKind, StoredRecord};

/// Most items verified and stored in one go (one change-log entry); larger inputs are split.
pub const MAX_BATCH: usize = 512;

/// What happened to one item.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "snake_case", tag = "outcome")]
pub enum IngestOutcome {
    /// Stored: new, or newer than what the node had.
    Stored {
        /// Listing id.
        id: ListingId,
        /// Its version.
        seq: u64,
        /// Envelope hash.
        hash: EnvelopeHash,
        /// The version it replaced.
        replaced: Option<u64>,
        /// Whether it is a withdrawal.
        withdrawal: bool,
    },
    /// Exactly what the node already had.
    Duplicate {
        /// Listing id.
        id: ListingId,
        /// Its version.
        seq: u64,
    },
    /// Older than what the node has (or blocked by a withdrawal).
    Stale {
        /// Listing id.
        id: ListingId,
        /// The version offered.
        seq: u64,
        /// The version stored.
        current_seq: u64,
    },
    /// Valid, but of an area this node does not follow.
    OutOfArea {
        /// Listing id.
        id: ListingId,
    },
    /// From a seller the user blocked: not stored, not relayed (the sender is not at fault: the
    /// block is this user's choice).
    Blocked {
        /// Listing id.
        id: ListingId,
    },
    /// Valid, but beyond its seller's allowance as this node holds the seller's listings (the
    /// free allowance is used up, its stamp slot is taken, or it re-posts another listing
    /// without a stamp): not stored, not relayed. A peer that sent it is not at fault: it may
    /// not have yet the withdrawal that freed a place.
    OverAllowance {
        /// Listing id.
        id: ListingId,
        /// Why, naming the field and the limit.
        reason: String,
        /// The structured reason.
        #[serde(skip)]
        error: AllowanceError,
    },
    /// Invalid: it is not stored, and a peer that sent it is at fault.
    Rejected {
        /// Why, naming the field and limit.
        reason: String,
        /// The structured reason.
        #[serde(skip)]
        error: Option<ValidationError>,
    },
    /// A review stored: new, or replacing the same party's earlier review of the deal.
    ReviewStored {
        /// The deal.
        deal: DealId,
        /// Who wrote it.
        by: PublicKey,
        /// Who is reviewed.
        about: PublicKey,
        /// Its envelope hash.
        hash: EnvelopeHash,
        /// Whether it replaced an earlier review.
        replaced: bool,
    },
    /// Exactly the review the node already has.
    ReviewDuplicate {
        /// The deal.
        deal: DealId,
        /// Who wrote it.
        by: PublicKey,
    },
    /// An earlier version of a review the node has (the later one is kept).
    ReviewStale {
        /// The deal.
        deal: DealId,
        /// Who wrote it.
        by: PublicKey,
        /// The hash of the review kept.
        current: EnvelopeHash,
    },
    /// A review written by a seller the user blocked (or a trusted list blocks): not stored,
    /// not relayed, and no fault of the sender.
    ReviewBlocked {
        /// Who wrote it.
        by: PublicKey,
    },
    /// An invalid review (no valid receipt, not by a party, not about the other party, ...):
    /// not stored, and a peer that sent it is at fault unless only the clock differs.
    ReviewRejected {
        /// Why, naming the field or the rule.
        reason: String,
        /// The structured reason.
        #[serde(skip)]
        error: ReviewError,
    },
}

impl IngestOutcome {
    /// The outcome of an invalid item.
    pub fn rejected(e: ValidationError) -> IngestOutcome {
        IngestOutcome::Rejected {
            reason: e.to_string(),
            error: Some(e),
        }
    }

    /// The outcome of an invalid review.
    pub fn review_rejected(e: ReviewError) -> IngestOutcome {
        IngestOutcome::ReviewRejected {
            reason: e.to_string(),
            error: e,
        }
    }

    /// Whether the item is now (or already was) stored as sent.
    pub fn is_stored_or_duplicate(&self) -> bool {
        matches!(
            self,
            IngestOutcome::Stored { .. }
                | IngestOutcome::Duplicate { .. }
                | IngestOutcome::ReviewStored { .. }
                | IngestOutcome::ReviewDuplicate { .. }
        )
    }

    /// Whether something new was stored (a listing version or a review).
    pub fn is_stored(&self) -> bool {
        matches!(
            self,
            IngestOutcome::Stored { .. } | IngestOutcome::ReviewStored { .. }
        )
    }

    /// A one-word name for reports.
    pub fn label(&self) -> &'static str {
        match self {
            IngestOutcome::Stored { .. } => "stored",
            IngestOutcome::Duplicate { .. } => "duplicate",
            IngestOutcome::Stale { .. } => "stale",
            IngestOutcome::OutOfArea { .. } => "out-of-area",
            IngestOutcome::OverAllowance { .. } => "over-allowance",
            IngestOutcome::Blocked { .. } => "blocked",
            IngestOutcome::Rejected { .. } => "rejected",
            IngestOutcome::ReviewStored { .. } => "review-stored",
            IngestOutcome::ReviewDuplicate { .. } => "review-duplicate",
            IngestOutcome::ReviewStale { .. } => "review-stale",
            IngestOutcome::ReviewBlocked { .. } => "review-blocked",
            IngestOutcome::ReviewRejected { .. } => "review-rejected",
        }
    }
}

/// Batches smaller than this are verified on the calling thread.
const PARALLEL_VERIFY_MIN: usize = 64;

/// Verifies a batch on every core: signature checks are most of an ingest's CPU time, and
/// the batch splits cleanly (each part is batch-verified on its own).
fn verify_parallel(
    batch: Vec<SignedEnvelope>,
    now: u64,
) -> Vec<Result<Verified<Record>, ValidationError>> {
    let threads = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(8);
    if threads < 2 || batch.len() < PARALLEL_VERIFY_MIN {
        return swapmeet_protocol::verify_batch(batch, now);
    }
    let per = batch.len().div_ceil(threads);
    let mut parts: Vec<Vec<SignedEnvelope>> = Vec::with_capacity(threads);
    let mut rest = batch;
    while !rest.is_empty() {
        let tail = rest.split_off(rest.len().min(per));
        parts.push(std::mem::replace(&mut rest, tail));
    }
    std::thread::scope(|s| {
        let handles: Vec<_> = parts
            .into_iter()
            .map(|p| s.spawn(move || swapmeet_protocol::verify_batch(p, now)))
            .collect();
        handles
            .into_iter()
            .flat_map(|h| {
                // A panic in verification is a bug; surface it rather than drop items.
                h.join().unwrap_or_else(|e| std::panic::resume_unwind(e))
            })
            .collect()
    })
}

impl Engine {
    /// Ingests encoded envelopes (from the wire, a file, the API). Blocking: call it from
    /// `spawn_blocking` in async code.
    pub fn ingest_bytes(
        &self,
        items: &[&[u8]],
        source: Source,
    ) -> Result<Vec<IngestOutcome>, EngineError> {
        let mut outcomes: Vec<Option<IngestOutcome>> = vec![None; items.len()];
        let mut decoded = Vec::with_capacity(items.len());
        let mut slots = Vec::with_capacity(items.len());
        for (i, bytes) in items.iter().enumerate() {
            match SignedEnvelope::decode(bytes) {
                Ok(env) => {
                    decoded.push(env);
                    slots.push(i);
                }
                Err(e) => outcomes[i] = Some(IngestOutcome::rejected(e)),
            }
        }
        let results = self.ingest(decoded, source)?;
        for (slot, outcome) in slots.into_iter().zip(results) {
            outcomes[slot] = Some(outcome);
        }
        Ok(outcomes
            .into_iter()
            .map(|o| {
                o.unwrap_or(IngestOutcome::Rejected {
                    reason: "internal: item was not processed".into(),
                    error: None,
                })
            })
            .collect())
    }

    /// Ingests decoded envelopes: listings and withdrawals, and reviews (routed to the
    /// reviews' store). Blocking.
    pub fn ingest(
        &self,
        envelopes: Vec<SignedEnvelope>,
        source: Source,
    ) -> Result<Vec<IngestOutcome>, EngineError> {
        if !envelopes.iter().any(|e| e.kind() == EnvelopeKind::Review) {
            return self.ingest_records(envelopes, source);
        }
        let n = envelopes.len();
        let (mut review_slots, mut reviews) = (Vec::new(), Vec::new());
        let (mut record_slots, mut records) = (Vec::new(), Vec::new());
        let mut outcomes: Vec<Option<IngestOutcome>> = vec![None; n];
        for (i, e) in envelopes.into_iter().enumerate() {
            if e.kind() == EnvelopeKind::Review {
                // What a blocked seller writes is not taken (its signature is not checked:
                // nothing of it is kept, whoever really sent it).
                if self.moderation().is_blocked(e.signer().as_bytes()) {
                    outcomes[i] = Some(IngestOutcome::ReviewBlocked { by: e.signer() });
                    continue;
                }
                review_slots.push(i);
                reviews.push(e);
            } else {
                record_slots.push(i);
                records.push(e);
            }
        }
        let done = self.ingest_records(records, source.clone())?;
        for (slot, o) in record_slots.into_iter().zip(done) {
            outcomes[slot] = Some(o);
        }
        // In batches like listings, so one call never holds the reviews' lock for long.
        let mut review_slots = review_slots.into_iter();
        let mut rest = reviews;
        while !rest.is_empty() {
            let tail = rest.split_off(rest.len().min(MAX_BATCH));
            let batch = std::mem::replace(&mut rest, tail);
            let areas_of = |id: &ListingId| {
                self.get(id)
                    .ok()
                    .flatten()
                    .map(|r| r.areas())
                    .unwrap_or_default()
            };
            let done = self
                .reviews()
                .ingest(batch, self.now(), &source, &areas_of)?;
            // `done` first: zip stops at its end without taking a slot from the next batch.
            for (o, slot) in done.into_iter().zip(review_slots.by_ref()) {
                outcomes[slot] = Some(o);
            }
        }
        Ok(outcomes
            .into_iter()
            .map(|o| {
                o.unwrap_or(IngestOutcome::Rejected {
                    reason: "internal: item was not processed".into(),
                    error: None,
                })
            })
            .collect())
    }

    /// Ingests listings and withdrawals (anything else is refused by verification). Blocking.
    fn ingest_records(
        &self,
        envelopes: Vec<SignedEnvelope>,
        source: Source,
    ) -> Result<Vec<IngestOutcome>, EngineError> {
        let mut out = Vec::with_capacity(envelopes.len());
        let mut chunks = Vec::with_capacity(envelopes.len().div_ceil(MAX_BATCH));
        let mut rest = envelopes;
        while !rest.is_empty() {
            let tail = rest.split_off(rest.len().min(MAX_BATCH));
            chunks.push(std::mem::replace(&mut rest, tail));
        }
        // The next chunk is verified while this one is stored and indexed: storing is one
        // thread's work, and verifying alongside it keeps both cores busy.
        std::thread::scope(|s| {
            let mut chunks = chunks.into_iter();
            let mut current = chunks.next().map(|c| verify_parallel(c, self.now()));
            while let Some(verified) = current {
                let next = chunks.next().map(|c| {
                    let now = self.now();
                    s.spawn(move || verify_parallel(c, now))
                });
                out.extend(self.ingest_verified(verified, &source)?);
                current = next.map(|h| h.join().unwrap_or_else(|e| std::panic::resume_unwind(e)));
            }
            Ok(out)
        })
    }

    /// Stores and indexes verified records (already checked against the clock by
    /// `verify_batch`). Blocking.
    pub(crate) fn ingest_verified(
        &self,
        verified: Vec<Result<Verified<Record>, ValidationError>>,
        source: &Source,
    ) -> Result<Vec<IngestOutcome>, EngineError> {
        let mut outcomes: Vec<Option<IngestOutcome>> = vec![None; verified.len()];
        let mut candidates: Vec<(usize, Verified<Record>, StoredRecord, Option<Undo>)> = Vec::new();
        for (i, v) in verified.into_iter().enumerate() {
            match v {
                Err(e) => outcomes[i] = Some(IngestOutcome::rejected(e)),
                Ok(v) => {
                    let rec = StoredRecord::from_verified(&v);
                    // The node's own listings (the user's, the bridge's) are kept wherever they are.
                    if !matches!(source, Source::Local | Source::Bridge) && !self.follows(&rec) {
                        outcomes[i] = Some(IngestOutcome::OutOfArea { id: rec.id });
                        continue;
                    }
                    if self.moderation().is_blocked(v.signer().as_bytes()) {
                        outcomes[i] = Some(IngestOutcome::Blocked { id: rec.id });
                        continue;
                    }
                    let place = match v.payload() {
                        Record::Listing(l) => Some(place_of(l)),
                        // A wanted post takes a free place like a listing without a stamp
                        // (it cannot carry one): a key cannot flood by posting wants instead.
                        Record::Wanted(w) => Some(crate::engine::place_of_wanted(w)),
                        Record::Withdrawal(_) | Record::BlockList(_) => None,
                    };
                    let undo = match place
                        .map(|p| self.allowance().admit(&v.signer(), rec.id, p, self.now()))
                    {
                        None => None,
                        Some(Ok(undo)) => Some(undo),
                        Some(Err(error)) => {
                            outcomes[i] = Some(IngestOutcome::OverAllowance {
                                id: rec.id,
                                reason: error.to_string(),
                                error,
                            });
                            continue;
                        }
                    };
                    candidates.push((i, v, rec, undo));
                }
            }
        }
        if !candidates.is_empty() {
            // Documents are built before taking the write lock; the lock only orders the store
            // write and the index additions so change positions reach the index in order.
            let mut slots = Vec::with_capacity(candidates.len());
            let mut versions = Vec::with_capacity(candidates.len());
            let mut docs = Vec::with_capacity(candidates.len());
            let mut records = Vec::with_capacity(candidates.len());
            let mut undos = Vec::with_capacity(candidates.len());
            let mut decoded = Vec::with_capacity(candidates.len());
            for (i, v, rec, undo) in candidates {
                undos.push(undo);
                slots.push(i);
                versions.push((rec.id, rec.seq));
                docs.push(self.index().and_then(|index| index.document_for(&v)));
                records.push(rec);
                // Kept for the change event: its listeners (alerts, photos) need the record
                // decoded, and decoding it again per listener was measurable in the alerts bench.
                let (envelope, record) = v.into_parts();
                decoded.push(Arc::new(StoredParts {
                    kind: envelope.kind(),
                    signer: *envelope.signer().as_bytes(),
                    record,
                }));
            }
            let guard = self.write_lock();
            let (decisions, applied) = match self.store().apply(records) {
                Ok(r) => r,
                Err(e) => {
                    // Nothing was stored: give the places back.
                    for u in undos.into_iter().flatten() {
                        self.allowance().undo(u);
                    }
                    return Err(e.into());
                }
            };
            // A listing the store did not take (stale, or what it had) gives back the place
            // taken for it; a stored withdrawal frees its listing's place.
            for (decision, undo) in decisions.iter().zip(undos) {
                if let (false, Some(u)) = (matches!(decision, Decision::Accept { .. }), undo) {
                    self.allowance().undo(u);
                }
            }
            for a in &applied {
                if !matches!(a.record.kind, RecordKind::Listing | RecordKind::Wanted) {
                    if let Ok(seller) = a.record.seller() {
                        self.allowance().release(seller.as_bytes(), &a.record.id);
                    }
                }
            }
            // Lists of authors the user trusts act once stored (after the write lock: applying
            // one deletes the records of the sellers it names).
            let trusted_lists: Vec<PublicKey> = applied
                .iter()
                .filter(|a| a.record.kind == RecordKind::BlockList)
                .filter_map(|a| a.record.seller().ok())
                .filter(|k| self.moderation().is_trusted(k.as_bytes()))
                .collect();
            let mut applied = applied.into_iter();
            let mut changes = Vec::new();
            let mut events = Vec::new();
            for ((((i, (id, seq)), decision), doc), parts) in slots
                .into_iter()
                .zip(versions)
                .zip(decisions)
                .zip(docs)
                .zip(decoded)
            {
                let outcome = match decision {
                    Decision::Accept { replaced } => {
                        let Some(a) = applied.next() else {
                            // The store returns one write per accepted item; anything else is
                            // a bug, reported instead of guessed around.
                            outcomes[i] = Some(IngestOutcome::Rejected {
                                reason: "internal: the store did not report this write".into(),
                                error: None,
                            });
                            continue;
                        };
                        let rec = a.record;
                        let withdrawal = rec.kind == RecordKind::Withdrawal;
                        changes.push(match doc {
                            Some(doc) => IndexChange::Upsert {
                                position: a.position,
                                id: rec.id,
                                doc: Box::new(doc),
                                fresh: replaced.is_none(),
                            },
                            None => IndexChange::Remove {
                                position: a.position,
                                id: rec.id,
                            },
                        });
                        let outcome = IngestOutcome::Stored {
                            id: rec.id,
                            seq: rec.seq,
                            hash: rec.hash,
                            replaced,
                            withdrawal,
                        };
                        events.push(Event {
                            change: match (withdrawal, replaced) {
                                (true, _) => Change::Withdrawn,
                                (false, None) => Change::Listed,
                                (false, Some(_)) => Change::Updated,
                            },
                            id: rec.id,
                            seq: rec.seq,
                            hash: rec.hash,
                            source: source.clone(),
                            areas: rec.areas(),
                            envelope: Arc::from(rec.envelope),
                            parts: Some(parts),
                            previous: a.previous.map(Arc::from),
                        });
                        outcome
                    }
                    Decision::Duplicate => IngestOutcome::Duplicate { id, seq },
                    Decision::Stale { current_seq } => IngestOutcome::Stale {
                        id,
                        seq,
                        current_seq,
                    },
                };
                outcomes[i] = Some(outcome);
            }
            // Announced as soon as the store has it, before the index: adding to the index
            // waits while a commit holds the writer (tens of milliseconds, more on a busy
            // disk), and what listens (the network relaying it, event streams) needs the
            // stored record, not the index. Sent under the write lock, so in store order.
            for e in events {
                // No subscribers is fine; a lagging one learns it lagged.
                let _ = self.events().send(e);
            }
            if let Some(index) = self.index() {
                index.apply(changes)?;
            }
            drop(guard);
            for author in trusted_lists {
                self.apply_blocklist(&author)?;
            }
        }
        Ok(outcomes
            .into_iter()
            .map(|o| {
                o.unwrap_or(IngestOutcome::Rejected {
                    reason: "internal: item was not processed".into(),
                    error: None,
                })
            })
            .collect())
    }
}
