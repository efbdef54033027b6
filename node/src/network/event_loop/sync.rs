//! Catch-up sync sessions as the loop drives them: serving requests on the executor,
//! the sessions this node opens, their fetch pipeline and ingest.

use libp2p::gossipsub::MessageAcceptance;
use libp2p::request_response::{self, ResponseChannel};
use libp2p::PeerId;

use super::{Done, EventLoop, Kind};
use crate::events::Source;
use crate::ingest::IngestOutcome;
use crate::network::gossip;
use crate::network::sync::{SyncClient, SyncError, SyncRequest, SyncResponse};
use crate::network::SyncInfo;

/// Fetched records of one session waiting for ingest before it fetches more.
const SYNC_PENDING_MAX: usize = 8192;
/// Most fetched records ingested in one batch.
const SYNC_INGEST_BATCH: usize = 4096;
/// Concurrent outbound sync sessions.
const MAX_SESSIONS: usize = 8;
/// Most peers waiting for a session slot after they connected (each a PeerId; disconnected
/// ones are dropped when their turn comes).
const MAX_SYNC_WAITING: usize = 1024;

pub(super) struct Session {
    pub(super) client: Option<SyncClient>,
    pub(super) started_at: u64,
    pub(super) ingesting: bool,
    pub(super) pending: Vec<Vec<u8>>,
}

impl Session {
    pub(super) fn info(
        &self,
        peer: PeerId,
        finished_at: Option<u64>,
        error: Option<String>,
    ) -> SyncInfo {
        SyncInfo {
            peer: peer.to_string(),
            started_at: self.started_at,
            finished_at,
            progress: self
                .client
                .as_ref()
                .map(|c| serde_json::to_value(c.progress()).unwrap_or_default())
                .unwrap_or_default(),
            error,
        }
    }
}

impl EventLoop {
    pub(super) fn on_sync(&mut self, ev: request_response::Event<SyncRequest, SyncResponse>) {
        match ev {
            request_response::Event::Message {
                peer,
                message:
                    request_response::Message::Request {
                        request, channel, ..
                    },
                ..
            } => {
                if let Err(e) = self.exec.admit(Kind::SyncServe) {
                    // At the cap (counted in the status): the peer is told so at once, and its
                    // session ends; it asks again on its next interval. Nothing waits in a
                    // queue.
                    let busy = SyncResponse::Refused {
                        reason: format!("busy: answering {} sync requests already", e.cap),
                    };
                    let _ = self.swarm.behaviour_mut().sync.send_response(channel, busy);
                    return;
                }
                let server = self.server.clone();
                let tx = self.done_tx.clone();
                let spawned = self.exec.spawn(Kind::SyncServe, move || {
                    let result = server.handle(request);
                    let _ = tx.blocking_send(Done::Served {
                        peer,
                        channel,
                        result,
                    });
                });
                if let Err(e) = spawned {
                    tracing::debug!(%peer, error = %e, "sync request not answered");
                }
            }
            request_response::Event::Message {
                peer,
                message:
                    request_response::Message::Response {
                        request_id,
                        response,
                    },
                ..
            } => {
                if !self.raw_requests.remove(&request_id) {
                    self.on_sync_response(peer, response);
                }
            }
            request_response::Event::OutboundFailure {
                peer,
                request_id,
                error,
                ..
            } => {
                if self.raw_requests.remove(&request_id) {
                    return;
                }
                if matches!(error, request_response::OutboundFailure::Io(ref e) if e.kind() == std::io::ErrorKind::InvalidData)
                {
                    self.strike(peer, "malformed sync response");
                }
                if let Some(s) = self.sessions.remove(&peer) {
                    self.finish_session(peer, s, Some(format!("sync request failed: {error}")));
                }
            }
            request_response::Event::InboundFailure { peer, error, .. } => {
                if matches!(error, request_response::InboundFailure::Io(ref e) if e.kind() == std::io::ErrorKind::InvalidData)
                {
                    self.strike(peer, "malformed sync request");
                }
            }
            request_response::Event::ResponseSent { .. } => {}
        }
    }

    pub(super) fn on_sync_response(&mut self, peer: PeerId, response: SyncResponse) {
        let Some(session) = self.sessions.get_mut(&peer) else {
            return;
        };
        let Some(client) = session.client.as_mut() else {
            return;
        };
        let mut requests = Vec::new();
        let mut failure = None;
        match response {
            SyncResponse::Reconcile { message } => match client.on_reconcile(&message) {
                Ok(next) => requests.extend(next),
                Err(e) => failure = Some(e),
            },
            SyncResponse::Envelopes { envelopes } => match client.on_envelopes(envelopes) {
                Ok(envelopes) => session.pending.extend(envelopes),
                Err(e) => failure = Some(e),
            },
            SyncResponse::Refused { reason } => failure = Some(SyncError::Refused(reason)),
        }
        if let Some(e) = failure {
            if e.is_abuse() {
                self.strike(peer, "bad sync reply");
            }
            if let Some(s) = self.sessions.remove(&peer) {
                self.finish_session(peer, s, Some(e.to_string()));
            }
            return;
        }
        for r in requests {
            self.swarm.behaviour_mut().sync.send_request(&peer, r);
        }
        self.pump_ingest(peer);
        self.pump_fetches(peer);
        self.maybe_finish(peer);
    }

    /// Hands what the session fetched to ingest: one batch at a time per session, as large as
    /// what has arrived meanwhile (up to [`SYNC_INGEST_BATCH`]), so batch verification and the
    /// store's per-batch work pay off while the next fetches are on the wire.
    pub(super) fn pump_ingest(&mut self, peer: PeerId) {
        let Some(s) = self.sessions.get_mut(&peer) else {
            return;
        };
        // One batch per session, and sessions are fewer than the executor's cap: room is only
        // lacking while the network shuts down.
        if s.ingesting || s.pending.is_empty() || !self.exec.has_room(Kind::SyncIngest) {
            return;
        }
        let n = s.pending.len().min(SYNC_INGEST_BATCH);
        let envelopes: Vec<Vec<u8>> = s.pending.drain(..n).collect();
        s.ingesting = true;
        let engine = self.engine.clone();
        let tx = self.done_tx.clone();
        let spawned = self.exec.spawn(Kind::SyncIngest, move || {
            let items: Vec<&[u8]> = envelopes.iter().map(Vec::as_slice).collect();
            let (stored, fault, rejected) =
                match engine.ingest_bytes(&items, Source::Peer(peer.to_string())) {
                    Ok(out) => tally(&out),
                    Err(e) => {
                        tracing::error!(error = %e, "ingest of synced records failed");
                        (0, 0, 0)
                    }
                };
            let _ = tx.blocking_send(Done::SyncIngested {
                peer,
                stored,
                rejected_by_fault: fault,
                rejected,
            });
        });
        if let Err(e) = spawned {
            tracing::debug!(%peer, error = %e, "synced records not ingested");
        }
    }

    /// Sends fetch requests while the session has hashes to fetch, room in its pipeline,
    /// and ingest keeps up (at most [`SYNC_PENDING_MAX`] fetched records waiting for it).
    pub(super) fn pump_fetches(&mut self, peer: PeerId) {
        let mut requests = Vec::new();
        if let Some(s) = self.sessions.get_mut(&peer) {
            if let Some(c) = s.client.as_mut() {
                if s.pending.len() < SYNC_PENDING_MAX {
                    while let Some(r) = c.next_fetch() {
                        requests.push(r);
                    }
                }
            }
        }
        for r in requests {
            self.swarm.behaviour_mut().sync.send_request(&peer, r);
        }
    }

    pub(super) fn maybe_finish(&mut self, peer: PeerId) {
        let done = self.sessions.get(&peer).is_some_and(|s| {
            !s.ingesting
                && s.pending.is_empty()
                && s.client.as_ref().is_some_and(SyncClient::is_done)
        });
        if done {
            if let Some(s) = self.sessions.remove(&peer) {
                self.finish_session(peer, s, None);
            }
        }
    }

    pub(super) fn finish_session(&mut self, peer: PeerId, s: Session, error: Option<String>) {
        if error.is_none() {
            self.syncs_completed += 1;
        }
        let info = s.info(peer, Some(self.engine.now()), error);
        match &info.error {
            None => tracing::info!(%peer, progress = %info.progress, "sync finished"),
            Some(e) => tracing::debug!(%peer, error = %e, "sync ended early"),
        }
        self.last_sync = Some(info);
    }

    /// Starts a sync session with `peer` unless one runs; returns whether one was started.
    pub(super) fn start_sync(&mut self, peer: PeerId) -> bool {
        if self.sessions.contains_key(&peer)
            || self.sessions.len() >= MAX_SESSIONS
            || !self.exec.has_room(Kind::SyncStart)
        {
            return false;
        }
        self.sessions.insert(
            peer,
            Session {
                client: None,
                started_at: self.engine.now(),
                ingesting: false,
                pending: Vec::new(),
            },
        );
        let engine = self.engine.clone();
        let areas = self.areas.clone();
        let tx = self.done_tx.clone();
        let spawned = self.exec.spawn(Kind::SyncStart, move || {
            let result = SyncClient::start(&engine, areas);
            let _ = tx.blocking_send(Done::SyncStarted { peer, result });
        });
        if spawned.is_err() {
            self.sessions.remove(&peer);
            return false;
        }
        true
    }

    /// The sync a new connection starts. When every slot is taken (a node coming back
    /// connects to dozens of peers at once), the peer waits for a slot instead of being
    /// skipped: the scale simulation (docs/SCALE.md) found restarted nodes whose first eight
    /// sessions went to peers of other areas, which hold nothing the node follows, and which
    /// then waited for the periodic sync (one peer every five minutes) to catch up.
    pub(super) fn sync_on_connect(&mut self, peer: PeerId) {
        if !self.start_sync(peer)
            && !self.sessions.contains_key(&peer)
            && self.sync_waiting.len() < MAX_SYNC_WAITING
            && !self.sync_waiting.contains(&peer)
        {
            self.sync_waiting.push_back(peer);
        }
    }

    /// Starts the sessions of peers waiting for a slot, while there are slots.
    pub(super) fn start_waiting_syncs(&mut self) {
        while self.sessions.len() < MAX_SESSIONS && self.exec.has_room(Kind::SyncStart) {
            let Some(peer) = self.sync_waiting.pop_front() else {
                return;
            };
            if self.swarm.is_connected(&peer) {
                self.start_sync(peer);
            }
        }
    }

    pub(super) fn periodic_sync(&mut self) {
        // One peer per interval, in turn: over a few intervals every peer is asked, which heals
        // what gossip missed (a partition, a node that was offline, records only synced).
        let peers: Vec<PeerId> = self.swarm.connected_peers().copied().collect();
        if peers.is_empty() {
            return;
        }
        self.sync_turn = self.sync_turn.wrapping_add(1);
        let pick = peers[self.sync_turn % peers.len()];
        self.start_sync(pick);
    }

    /// A request answered off the loop: the answer (or the refusal) goes back to the peer.
    pub(super) fn on_served(
        &mut self,
        peer: PeerId,
        channel: ResponseChannel<SyncResponse>,
        result: Result<SyncResponse, SyncError>,
    ) {
        let response = match result {
            Ok(r) => r,
            Err(e) => {
                if e.is_abuse() {
                    self.strike(peer, "bad sync request");
                } else {
                    tracing::warn!(%peer, error = %e, "answering a sync request failed");
                }
                SyncResponse::Refused {
                    reason: e.to_string(),
                }
            }
        };
        let _ = self
            .swarm
            .behaviour_mut()
            .sync
            .send_response(channel, response);
    }

    /// A session's first request, built off the loop.
    pub(super) fn on_sync_started(
        &mut self,
        peer: PeerId,
        result: Result<(SyncClient, SyncRequest), SyncError>,
    ) {
        match result {
            Ok((client, req)) => {
                if !self.swarm.is_connected(&peer) {
                    self.sessions.remove(&peer);
                    return;
                }
                self.swarm.behaviour_mut().sync.send_request(&peer, req);
                if let Some(s) = self.sessions.get_mut(&peer) {
                    s.client = Some(client);
                }
            }
            Err(e) => {
                tracing::warn!(%peer, error = %e, "cannot start a sync");
                self.sessions.remove(&peer);
            }
        }
    }

    /// A fetched batch ingested off the loop.
    pub(super) fn on_sync_ingested(
        &mut self,
        peer: PeerId,
        stored: usize,
        rejected_by_fault: usize,
        rejected: usize,
    ) {
        if rejected_by_fault > 0 {
            self.strike(peer, "sync sent invalid records");
        }
        if let Some(s) = self.sessions.get_mut(&peer) {
            s.ingesting = false;
            if let Some(c) = s.client.as_mut() {
                c.on_ingested(stored, rejected);
            }
        }
        self.pump_ingest(peer);
        self.pump_fetches(peer);
        self.maybe_finish(peer);
    }
}

/// (stored, rejected for the sender's fault, rejected in all) of an ingest batch.
pub(super) fn tally(out: &[IngestOutcome]) -> (usize, usize, usize) {
    let mut stored = 0;
    let mut fault = 0;
    let mut rejected = 0;
    for o in out {
        match o {
            IngestOutcome::Stored { .. } | IngestOutcome::ReviewStored { .. } => stored += 1,
            IngestOutcome::Rejected { .. } | IngestOutcome::ReviewRejected { .. } => {
                rejected += 1;
                // The same rule as for gossip: a clock difference or our own failure is not
                // the sender's fault.
                if gossip::acceptance(o) == MessageAcceptance::Reject {
                    fault += 1;
                }
            }
            _ => {}
        }
    }
    (stored, fault, rejected)
}
