//! The initiator side of sync: one session with one peer, from the first reconcile message
//! to the last fetch. Pure state; the event loop sends what it returns.

use std::collections::{HashSet, VecDeque};

use negentropy::{Negentropy, NegentropyStorageVector};
use serde::Serialize;
use swapmeet_protocol::EnvelopeHash;

use super::{
    area_set, SyncError, SyncRequest, FETCH_PIPELINE, MAX_FETCH_HASHES, MAX_RECONCILE_MESSAGE,
    MAX_ROUNDS,
};
use crate::engine::Engine;

/// Progress of a session, as the status shows it.
#[derive(Clone, Debug, Default, Serialize)]
pub struct SyncProgress {
    /// Areas reconciled.
    pub areas: usize,
    /// Items in this node's set when the session started.
    pub local_items: usize,
    /// Reconcile round trips so far.
    pub rounds: u32,
    /// Whether reconciliation has finished (fetching may go on).
    pub reconciled: bool,
    /// Records the peer has that this node lacks.
    pub missing: usize,
    /// Records received so far.
    pub fetched: usize,
    /// Of those, newly stored.
    pub stored: usize,
    /// Of those, rejected by ingest.
    pub rejected: usize,
    /// Fetch requests sent.
    pub fetches: u32,
    /// Bytes this session wrote (its requests, as encoded on the wire).
    pub bytes_sent: u64,
    /// Bytes this session read (the answers, as encoded on the wire).
    pub bytes_received: u64,
}

/// The initiator side of one session with one peer. Not blocking except [`SyncClient::start`].
pub struct SyncClient {
    neg: Negentropy<'static, NegentropyStorageVector>,
    areas: Vec<String>,
    need: VecDeque<EnvelopeHash>,
    asked: HashSet<EnvelopeHash>,
    fetches_in_flight: usize,
    reconcile_in_flight: bool,
    progress: SyncProgress,
}

impl SyncClient {
    /// Opens a session over `areas` and returns the first request. Blocking (builds the set).
    pub fn start(
        engine: &Engine,
        areas: Vec<String>,
    ) -> Result<(SyncClient, SyncRequest), SyncError> {
        let set = area_set(engine, &areas)?;
        let local_items = negentropy::NegentropyStorageBase::size(&set).unwrap_or(0);
        let mut neg = Negentropy::owned(set, MAX_RECONCILE_MESSAGE as u64)
            .map_err(|e| SyncError::Negentropy(e.to_string()))?;
        let message = neg
            .initiate()
            .map_err(|e| SyncError::Negentropy(e.to_string()))?;
        let first = SyncRequest::Reconcile {
            areas: areas.clone(),
            message,
        };
        let client = SyncClient {
            progress: SyncProgress {
                areas: areas.len(),
                local_items,
                bytes_sent: first.encode().len() as u64,
                ..SyncProgress::default()
            },
            neg,
            areas,
            need: VecDeque::new(),
            asked: HashSet::new(),
            fetches_in_flight: 0,
            reconcile_in_flight: true,
        };
        Ok((client, first))
    }

    /// Takes the responder's reconcile reply; returns the next reconcile request, if any.
    pub fn on_reconcile(&mut self, message: &[u8]) -> Result<Option<SyncRequest>, SyncError> {
        self.reconcile_in_flight = false;
        self.progress.rounds += 1;
        self.progress.bytes_received += 2 + message.len() as u64;
        if self.progress.rounds > MAX_ROUNDS {
            return Err(SyncError::Abuse(format!(
                "reconciliation did not end after {MAX_ROUNDS} rounds"
            )));
        }
        let mut have = Vec::new();
        let mut need = Vec::new();
        let next = self
            .neg
            .reconcile_with_ids(message, &mut have, &mut need)
            .map_err(|e| SyncError::Abuse(format!("bad reconcile reply: {e}")))?;
        for id in need {
            let h = EnvelopeHash(*id);
            if self.asked.insert(h) {
                self.need.push_back(h);
                self.progress.missing += 1;
            }
        }
        match next {
            Some(message) => {
                self.reconcile_in_flight = true;
                let req = SyncRequest::Reconcile {
                    areas: self.areas.clone(),
                    message,
                };
                self.progress.bytes_sent += req.encode().len() as u64;
                Ok(Some(req))
            }
            None => {
                self.progress.reconciled = true;
                Ok(None)
            }
        }
    }

    /// The next fetch request, if there is something to fetch and room in the pipeline.
    pub fn next_fetch(&mut self) -> Option<SyncRequest> {
        if self.need.is_empty() || self.fetches_in_flight >= FETCH_PIPELINE {
            return None;
        }
        let n = self.need.len().min(MAX_FETCH_HASHES);
        let hashes: Vec<EnvelopeHash> = self.need.drain(..n).collect();
        self.fetches_in_flight += 1;
        self.progress.fetches += 1;
        // Version, tag, 32 bytes per hash.
        self.progress.bytes_sent += 2 + 32 * hashes.len() as u64;
        Some(SyncRequest::Fetch { hashes })
    }

    /// Takes a fetch reply: checks that every envelope was asked for and returns them for
    /// ingest.
    pub fn on_envelopes(&mut self, envelopes: Vec<Vec<u8>>) -> Result<Vec<Vec<u8>>, SyncError> {
        self.fetches_in_flight = self.fetches_in_flight.saturating_sub(1);
        // Version, tag, count, then a length before each envelope.
        self.progress.bytes_received +=
            6 + envelopes.iter().map(|e| 4 + e.len() as u64).sum::<u64>();
        for e in &envelopes {
            let h = crate::network::dht::value_hash(e);
            if !self.asked.contains(&h) {
                return Err(SyncError::Abuse(
                    "sent an envelope that was not asked for".into(),
                ));
            }
        }
        self.progress.fetched += envelopes.len();
        Ok(envelopes)
    }

    /// A fetch failed (the hashes are not retried in this session; the next one will).
    pub fn on_fetch_failed(&mut self) {
        self.fetches_in_flight = self.fetches_in_flight.saturating_sub(1);
    }

    /// Counts what ingest made of fetched records.
    pub fn on_ingested(&mut self, stored: usize, rejected: usize) {
        self.progress.stored += stored;
        self.progress.rejected += rejected;
    }

    /// Whether nothing is left to do (the caller also waits for its ingest of the last batch).
    pub fn is_done(&self) -> bool {
        !self.reconcile_in_flight
            && self.progress.reconciled
            && self.need.is_empty()
            && self.fetches_in_flight == 0
    }

    /// Progress so far.
    pub fn progress(&self) -> &SyncProgress {
        &self.progress
    }
}
#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::EngineConfig;
    use crate::events::Source;
    use crate::network::sync::{SyncResponse, SyncServer};
    use crate::synth::Synth;

    fn engine(dir: &std::path::Path) -> Engine {
        Engine::open(dir, EngineConfig::default()).unwrap().0
    }

    /// Runs a whole session between two engines without a network.
    fn run_session(client_engine: &Engine, server: &SyncServer) -> SyncProgress {
        let (mut client, first) = SyncClient::start(client_engine, vec!["all".into()]).unwrap();
        let mut queue = vec![first];
        while let Some(req) = queue.pop() {
            match server
                .handle(SyncRequest::decode(&req.encode()).unwrap())
                .unwrap()
            {
                SyncResponse::Reconcile { message } => {
                    queue.extend(client.on_reconcile(&message).unwrap());
                }
                SyncResponse::Envelopes { envelopes } => {
                    let got = client.on_envelopes(envelopes).unwrap();
                    let items: Vec<&[u8]> = got.iter().map(Vec::as_slice).collect();
                    let out = client_engine
                        .ingest_bytes(&items, Source::Peer("test".into()))
                        .unwrap();
                    let stored = out
                        .iter()
                        .filter(|o| matches!(o, crate::IngestOutcome::Stored { .. }))
                        .count();
                    client.on_ingested(stored, 0);
                }
                SyncResponse::Refused { reason } => panic!("refused: {reason}"),
            }
            while let Some(f) = client.next_fetch() {
                queue.push(f);
            }
        }
        assert!(client.is_done());
        client.progress().clone()
    }

    #[test]
    fn a_session_finds_exactly_the_differences() {
        let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        let (holder, lacking) = (engine(a.path()), engine(b.path()));
        let mut synth = Synth::new(5, 40, holder.now());
        let all: Vec<_> = (0..3000).map(|_| synth.signed()).collect();
        holder.ingest(all.clone(), Source::Import).unwrap();
        // The lacking side misses ten, and has two the holder does not.
        lacking.ingest(all[10..].to_vec(), Source::Import).unwrap();
        let extra: Vec<_> = (0..2).map(|_| synth.signed()).collect();
        lacking.ingest(extra, Source::Import).unwrap();

        let p = run_session(&lacking, &SyncServer::new(holder.clone()));
        assert_eq!(p.missing, 10);
        assert_eq!(p.stored, 10);
        assert_eq!(p.fetches, 1);
        assert!(p.rounds <= 3, "{p:?}");
        assert_eq!(lacking.stats().records, 3002);
        // Pull-only: the holder learned nothing.
        assert_eq!(holder.stats().records, 3000);
        // A second session finds nothing more.
        let again = run_session(&lacking, &SyncServer::new(holder.clone()));
        assert_eq!(again.missing, 0);
    }

    /// Issue 10: a node that joined late was told by every peer that it had everything, while
    /// it had nothing. The responder's set, built on its empty store at start-up, was keyed by
    /// the last change-log position, which the index commit's trim returns to "none": after
    /// hundreds of writes the empty set looked current again for its 5 s lifetime.

    #[test]
    fn a_set_cached_on_the_empty_store_is_not_served_after_writes() {
        let dirs: Vec<_> = (0..3).map(|_| tempfile::tempdir().unwrap()).collect();
        let holder = engine(dirs[0].path());
        let server = SyncServer::new(holder.clone());
        // An early peer syncs with the responder while its store is empty: the empty set is
        // cached.
        let early = engine(dirs[1].path());
        assert_eq!(run_session(&early, &server).missing, 0);
        // 201 listings arrive, and the index commit trims the change log (it does so every
        // 50-500 ms on a running node).
        let mut synth = Synth::new(5, 40, holder.now());
        let all: Vec<_> = (0..201).map(|_| synth.signed()).collect();
        holder.ingest(all, Source::Import).unwrap();
        holder.commit().unwrap();
        assert_eq!(
            holder.store().last_change().unwrap(),
            None,
            "the trim emptied the change log, as on the running node"
        );
        // A late joiner, well within the cache's lifetime, gets all 201.
        let late = engine(dirs[2].path());
        let p = run_session(&late, &server);
        assert_eq!(p.missing, 201, "{p:?}");
        assert_eq!(late.stats().records, 201);
    }

    #[test]
    fn a_reply_with_records_not_asked_for_is_abuse() {
        let dir = tempfile::tempdir().unwrap();
        let e = engine(dir.path());
        let (mut client, _) = SyncClient::start(&e, vec!["u33d".into()]).unwrap();
        let err = client.on_envelopes(vec![b"unasked".to_vec()]).unwrap_err();
        assert!(err.is_abuse());
    }
}
