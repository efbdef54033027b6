//! Gossip as the loop drives it: publishing what entered the node here, queuing what peers
//! sent for ingest in batches off the loop, and turning ingest outcomes into gossipsub
//! verdicts.

use std::collections::HashMap;

use libp2p::gossipsub::{self, MessageAcceptance, MessageId, PublishError, TopicHash};
use libp2p::PeerId;

use super::{Done, EventLoop};
use crate::events::{Change, Event, Source};
use crate::ingest::IngestOutcome;
use crate::network::gossip;

/// Gossip messages waiting for ingest; beyond this, new ones are ignored (not forwarded).
pub(super) const MAX_PENDING_GOSSIP: usize = 8192;
/// Gossip messages ingested in one batch.
const GOSSIP_BATCH: usize = 512;
/// Ingest batches of gossip in flight at once.
const GOSSIP_INFLIGHT: usize = 2;
/// Publications kept for retry when no peer was subscribed yet.
const MAX_UNSENT: usize = 1024;

impl EventLoop {
    pub(super) fn on_engine_event(&mut self, ev: Event) {
        // What peers sent is relayed by gossipsub itself once accepted; what sync brought is
        // known to the peer it came from. Only records that entered here are published.
        if matches!(ev.source, Source::Peer(_) | Source::Store) || ev.change == Change::Expired {
            return;
        }
        let data = ev.envelope.to_vec();
        for area in gossip::publish_areas(&ev.areas) {
            self.publish(gossip::topic(&area).hash(), data.clone());
        }
        self.counters.published += 1;
        // The DHT keeps the node's own listings (the user's and the bridge's) reachable while
        // the node is offline; an import of someone else's listing is theirs to put.
        if matches!(ev.source, Source::Local | Source::Bridge) {
            self.put_own_listing(&ev.id, data);
        }
    }

    pub(super) fn publish(&mut self, topic: TopicHash, data: Vec<u8>) {
        match self
            .swarm
            .behaviour_mut()
            .gossip
            .publish(topic.clone(), data.clone())
        {
            Ok(_) | Err(PublishError::Duplicate) => {}
            Err(PublishError::NoPeersSubscribedToTopic) => {
                // Nobody listening yet: keep it for the first peer that subscribes. Sync covers
                // whatever falls out of this bounded queue.
                if self.unsent.len() >= MAX_UNSENT {
                    self.unsent.pop_front();
                }
                self.unsent.push_back((topic, data));
            }
            Err(e) => tracing::debug!(%topic, error = %e, "publishing failed"),
        }
    }

    pub(super) fn retry_unsent(&mut self, topic: &TopicHash) {
        let (now, keep): (Vec<_>, Vec<_>) = self.unsent.drain(..).partition(|(t, _)| t == topic);
        self.unsent = keep.into();
        for (t, d) in now {
            self.publish(t, d);
        }
    }

    pub(super) fn on_gossip(&mut self, ev: gossipsub::Event) {
        match ev {
            gossipsub::Event::Message {
                propagation_source,
                message_id,
                message,
            } => {
                self.counters.received += 1;
                if self.pending_gossip.len() >= MAX_PENDING_GOSSIP {
                    self.counters.ignored += 1;
                    self.swarm
                        .behaviour_mut()
                        .gossip
                        .report_message_validation_result(
                            &message_id,
                            &propagation_source,
                            MessageAcceptance::Ignore,
                        );
                    return;
                }
                self.pending_gossip
                    .push_back((message_id, propagation_source, message.data));
            }
            gossipsub::Event::Subscribed { topic, .. } => self.retry_unsent(&topic),
            _ => {}
        }
    }

    pub(super) fn pump_gossip(&mut self) {
        while self.gossip_in_flight < GOSSIP_INFLIGHT && !self.pending_gossip.is_empty() {
            let n = self.pending_gossip.len().min(GOSSIP_BATCH);
            let batch: Vec<_> = self.pending_gossip.drain(..n).collect();
            self.gossip_in_flight += 1;
            let engine = self.engine.clone();
            let tx = self.done_tx.clone();
            tokio::task::spawn_blocking(move || {
                // One ingest call per sending peer, so each stored record names where it came
                // from; the batch still shares one store transaction per peer.
                let mut by_peer: HashMap<PeerId, Vec<usize>> = HashMap::new();
                for (i, (_, p, _)) in batch.iter().enumerate() {
                    by_peer.entry(*p).or_default().push(i);
                }
                let mut outcomes: Vec<Option<IngestOutcome>> = vec![None; batch.len()];
                for (peer, idx) in by_peer {
                    let items: Vec<&[u8]> = idx.iter().map(|&i| batch[i].2.as_slice()).collect();
                    match engine.ingest_bytes(&items, Source::Peer(peer.to_string())) {
                        Ok(out) => {
                            for (i, o) in idx.into_iter().zip(out) {
                                outcomes[i] = Some(o);
                            }
                        }
                        Err(e) => tracing::error!(error = %e, "ingest of gossip failed"),
                    }
                }
                let results = batch
                    .into_iter()
                    .zip(outcomes)
                    .map(|((id, peer, _), o)| {
                        (
                            id,
                            peer,
                            o.unwrap_or(IngestOutcome::Rejected {
                                reason: "internal: not ingested".into(),
                                error: None,
                            }),
                        )
                    })
                    .collect();
                let _ = tx.blocking_send(Done::Gossip(results));
            });
        }
    }

    /// Reports ingest's verdicts on a batch to gossipsub, which forwards the accepted.
    pub(super) fn on_gossip_ingested(&mut self, results: Vec<(MessageId, PeerId, IngestOutcome)>) {
        self.gossip_in_flight -= 1;
        for (id, peer, outcome) in results {
            let verdict = gossip::acceptance(&outcome);
            match verdict {
                MessageAcceptance::Accept => self.counters.accepted += 1,
                MessageAcceptance::Ignore => self.counters.ignored += 1,
                MessageAcceptance::Reject => {
                    self.counters.rejected += 1;
                    *self.rejected_from.entry(peer).or_default() += 1;
                    tracing::info!(%peer, reason = %outcome.label(), "rejected a gossiped record");
                }
            }
            self.swarm
                .behaviour_mut()
                .gossip
                .report_message_validation_result(&id, &peer, verdict);
        }
    }
}
