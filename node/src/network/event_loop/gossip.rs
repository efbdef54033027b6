//! Gossip as the loop drives it: publishing what entered the node here, a rate limit per
//! forwarding peer, queuing what peers sent for ingest in batches off the loop, and turning
//! ingest outcomes into gossipsub verdicts, with the reason of every rejection logged and kept
//! for `GET /v1/peers`.

use std::collections::{HashMap, VecDeque};
use std::time::Instant;

use libp2p::gossipsub::{self, MessageAcceptance, MessageId, PublishError, TopicHash};
use libp2p::PeerId;

use super::{Done, EventLoop, Kind};
use crate::events::{Change, Event, Source};
use crate::ingest::IngestOutcome;
use crate::network::gossip::{self, Rejection};
use crate::network::messaging::bucket::{Rate, TokenBucket, Verdict};
use crate::network::RejectionView;

/// Rejection reasons kept per connected peer (the newest; the count covers them all).
pub(super) const RECENT_REJECTIONS: usize = 8;
/// Longest reason kept, in characters: a reason may quote the sender's bytes (a currency code,
/// a decoder's message), and what a peer sends must not grow the node's memory.
const MAX_REASON_CHARS: usize = 300;

/// A gossip message waiting for ingest: its id, the peer that forwarded it, its topic, its data.
pub(super) type PendingGossip = (MessageId, PeerId, TopicHash, Vec<u8>);

/// A gossip message checked off the loop: ingest's outcome, or the topic rule's rejection
/// (then it was not ingested).
pub(super) type GossipChecked = (
    MessageId,
    PeerId,
    TopicHash,
    Result<IngestOutcome, Rejection>,
);

/// The gossip messages of one connected peer that were rejected.
#[derive(Default)]
pub(super) struct PeerRejections {
    /// How many.
    pub(super) count: u64,
    /// The newest [`RECENT_REJECTIONS`] reasons, oldest first.
    pub(super) recent: VecDeque<RejectionView>,
}

impl PeerRejections {
    fn push(&mut self, r: RejectionView) {
        self.count += 1;
        if self.recent.len() >= RECENT_REJECTIONS {
            self.recent.pop_front();
        }
        self.recent.push_back(r);
    }
}

/// Gossip messages waiting for ingest; beyond this, new ones are ignored (not forwarded).
pub(super) const MAX_PENDING_GOSSIP: usize = 8192;
/// Gossip messages ingested in one batch.
const GOSSIP_BATCH: usize = 512;
/// Publications kept for retry when no peer was subscribed yet.
const MAX_UNSENT: usize = 1024;

/// A forwarding peer's gossip budget: a token bucket at the configured rate, which refuses
/// what is over it, and a debt of refused messages that drains at the same rate. The debt
/// strikes a peer whose refusals keep outrunning the rate, once per `burst` of debt: a peer a
/// little over the rate is only slowed (its debt drains faster than it grows), one at ten
/// times the rate is banned within a few bursts. (The bucket alone cannot tell: at 10x it
/// still lets every tenth message through, and each one resets its count of refusals.)
pub(super) struct PeerRate {
    bucket: TokenBucket,
    debt: f64,
    last: Instant,
}

impl PeerRate {
    fn new(rate: Rate, now: Instant) -> PeerRate {
        PeerRate {
            bucket: TokenBucket::new(rate, now),
            debt: 0.0,
            last: now,
        }
    }

    fn take(&mut self, rate: Rate, now: Instant) -> Verdict {
        let elapsed = now.saturating_duration_since(self.last).as_secs_f64();
        self.last = now;
        self.debt = (self.debt - elapsed * rate.per_sec).max(0.0);
        if self.bucket.take(rate, now) == Verdict::Allow {
            return Verdict::Allow;
        }
        let burst = f64::from(rate.burst.max(1));
        let before = (self.debt / burst).floor();
        self.debt += 1.0;
        if (self.debt / burst).floor() > before {
            Verdict::RefuseAndStrike
        } else {
            Verdict::Refuse
        }
    }
}

impl EventLoop {
    pub(super) fn on_engine_event(&mut self, ev: Event) {
        if ev.change == Change::Blocked {
            // Deleted because its seller is blocked: no longer held for the DHT either (the
            // store's write batch removes it off the loop).
            let key = crate::network::dht::listing_key(&ev.id);
            libp2p::kad::store::RecordStore::remove(
                self.swarm.behaviour_mut().kad.store_mut(),
                &key,
            );
            return;
        }
        // What peers sent is relayed by gossipsub itself once accepted; what sync brought is
        // known to the peer it came from. Only records that entered here are published.
        if matches!(ev.source, Source::Peer(_) | Source::Store)
            || matches!(ev.change, Change::Expired | Change::Blocked)
        {
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
                let now = Instant::now();
                let rate = self.gossip_rate;
                let verdict = self
                    .gossip_buckets
                    .entry(propagation_source)
                    .or_insert_with(|| PeerRate::new(rate, now))
                    .take(rate, now);
                if verdict != Verdict::Allow {
                    // Dropped unread and not forwarded; a peer that keeps flooding is struck
                    // (`PeerRate`), and banned at the third strike.
                    self.counters.rate_limited += 1;
                    self.swarm
                        .behaviour_mut()
                        .gossip
                        .report_message_validation_result(
                            &message_id,
                            &propagation_source,
                            MessageAcceptance::Ignore,
                        );
                    if verdict == Verdict::RefuseAndStrike {
                        self.strike(propagation_source, "gossip over its rate");
                    }
                    return;
                }
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
                self.pending_gossip.push_back((
                    message_id,
                    propagation_source,
                    message.topic,
                    message.data,
                ));
            }
            gossipsub::Event::Subscribed { topic, .. } => self.retry_unsent(&topic),
            _ => {}
        }
    }

    pub(super) fn pump_gossip(&mut self) {
        // Batches in flight are capped by the executor (`Kind::GossipIngest`); what waits
        // meanwhile stays in the bounded `pending_gossip`.
        while self.exec.has_room(Kind::GossipIngest) && !self.pending_gossip.is_empty() {
            let n = self.pending_gossip.len().min(GOSSIP_BATCH);
            let batch: Vec<_> = self.pending_gossip.drain(..n).collect();
            let engine = self.engine.clone();
            let tx = self.done_tx.clone();
            let spawned = self.exec.spawn(Kind::GossipIngest, move || {
                let now = engine.now();
                // The topic rule first: a record on a topic it does not belong to is not
                // ingested from that message.
                let mut checked: Vec<Option<Result<IngestOutcome, Rejection>>> = batch
                    .iter()
                    .map(|(_, _, topic, data)| {
                        let area = gossip::area_of_topic(topic)?;
                        gossip::check_topic(area, data, now).map(Err)
                    })
                    .collect();
                // One ingest call per sending peer, so each stored record names where it came
                // from; the batch still shares one store transaction per peer.
                let mut by_peer: HashMap<PeerId, Vec<usize>> = HashMap::new();
                for (i, (_, p, _, _)) in batch.iter().enumerate() {
                    if checked[i].is_none() {
                        by_peer.entry(*p).or_default().push(i);
                    }
                }
                for (peer, idx) in by_peer {
                    let items: Vec<&[u8]> = idx.iter().map(|&i| batch[i].3.as_slice()).collect();
                    match engine.ingest_bytes(&items, Source::Peer(peer.to_string())) {
                        Ok(out) => {
                            for (i, o) in idx.into_iter().zip(out) {
                                checked[i] = Some(Ok(o));
                            }
                        }
                        Err(e) => tracing::error!(error = %e, "ingest of gossip failed"),
                    }
                }
                let results = batch
                    .into_iter()
                    .zip(checked)
                    .map(|((id, peer, topic, _), o)| {
                        (
                            id,
                            peer,
                            topic,
                            o.unwrap_or(Ok(IngestOutcome::Rejected {
                                reason: "internal: not ingested".into(),
                                error: None,
                            })),
                        )
                    })
                    .collect();
                let _ = tx.blocking_send(Done::Gossip(results));
            });
            if let Err(e) = spawned {
                tracing::debug!(error = %e, "gossip ingest refused");
                break;
            }
        }
    }

    /// Reports the verdicts on a batch to gossipsub, which forwards the accepted and lowers
    /// the score of the senders of the rejected.
    pub(super) fn on_gossip_ingested(&mut self, results: Vec<GossipChecked>) {
        for (id, peer, topic, checked) in results {
            let (verdict, rejection) = match checked {
                Ok(outcome) => (
                    gossip::acceptance(&outcome),
                    Rejection::of_outcome(&outcome),
                ),
                Err(r) => (MessageAcceptance::Reject, Some(r)),
            };
            match verdict {
                MessageAcceptance::Accept => self.counters.accepted += 1,
                MessageAcceptance::Ignore => self.counters.ignored += 1,
                MessageAcceptance::Reject => {
                    self.counters.rejected += 1;
                    let view = RejectionView {
                        class: rejection.as_ref().map_or("validation", Rejection::class),
                        topic: topic.to_string(),
                        reason: rejection.map_or_else(String::new, |r| {
                            r.to_string().chars().take(MAX_REASON_CHARS).collect()
                        }),
                    };
                    tracing::info!(
                        %peer,
                        %topic,
                        class = view.class,
                        reason = %view.reason,
                        "rejected a gossiped message"
                    );
                    self.rejected_from.entry(peer).or_default().push(view);
                }
            }
            self.swarm
                .behaviour_mut()
                .gossip
                .report_message_validation_result(&id, &peer, verdict);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    /// Counts the strikes of a peer sending `n` messages at `per_sec` against a limit of 20/s,
    /// bursts of 40.
    fn strikes_at(per_sec: f64, n: u32) -> u32 {
        let rate = Rate {
            per_sec: 20.0,
            burst: 40,
        };
        let t0 = Instant::now();
        let mut r = PeerRate::new(rate, t0);
        (0..n)
            .filter(|i| {
                let at = t0 + Duration::from_secs_f64(f64::from(*i) / per_sec);
                r.take(rate, at) == Verdict::RefuseAndStrike
            })
            .count() as u32
    }

    #[test]
    fn ten_times_the_rate_is_struck_a_little_over_only_slowed() {
        // 10x for 2 s: struck well over three times.
        assert!(strikes_at(200.0, 400) >= 3);
        // 1.5x for 20 s: refused some, never struck.
        assert_eq!(strikes_at(30.0, 600), 0);
    }
}
