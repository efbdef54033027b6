//! Requests from peers: admission (the per-peer token bucket, then the executor's
//! `msg_serve` cap on work in flight), then the answer, worked out on the executor.

use std::time::Instant;

use libp2p::request_response::ResponseChannel;
use libp2p::{PeerId, Swarm};
use swapmeet_protocol::{PublicKey, Sealed, SignedEnvelope};

use super::bucket::{TokenBucket, Verdict};
use super::codec::{self, MsgRequest, MsgResponse};
use super::{key_of, MessagingWire, MsgDone};
use crate::messaging::{MessagingError, Messenger};
use crate::network::behaviour::Behaviour;
use crate::network::executor::{caught, Executor, Kind};

impl MessagingWire {
    pub(super) fn on_request(
        &mut self,
        swarm: &mut Swarm<Behaviour>,
        exec: &mut Executor,
        peer: PeerId,
        request: MsgRequest,
        channel: ResponseChannel<MsgResponse>,
    ) {
        if let Some(reason) = self.admit(exec, peer) {
            let _ = swarm
                .behaviour_mut()
                .msg
                .send_response(channel, MsgResponse::Refused { reason });
            return;
        }
        let Some(requester) = key_of(&peer) else {
            let reason = "messaging needs an ed25519 PeerId".to_string();
            let _ = swarm
                .behaviour_mut()
                .msg
                .send_response(channel, MsgResponse::Refused { reason });
            return;
        };
        let m = self.messenger.clone();
        let now = (self.clock)();
        let tx = self.done_tx.clone();
        let deposit = matches!(request, MsgRequest::Deposit(_));
        // `admit` found room just now on this task, so the spawn takes the job.
        let spawned = exec.spawn(Kind::MsgServe, move || {
            // A panic still answers the peer (its sender tries again).
            let (response, abuse) = caught("answering a messaging request", || {
                serve(&m, &requester, request, now)
            })
            .unwrap_or_else(|_| {
                (
                    MsgResponse::Refused {
                        reason: "internal error; try again".into(),
                    },
                    None,
                )
            });
            let refused_deposit = deposit && matches!(response, MsgResponse::Refused { .. });
            let _ = tx.blocking_send(MsgDone::Served {
                peer,
                channel,
                response,
                abuse,
                refused_deposit,
            });
        });
        if let Err(e) = spawned {
            tracing::error!(%peer, error = %e, "a messaging request was not answered");
        }
    }

    /// Whether a request from `peer` may be worked on now: `None`, or why not.
    pub(super) fn admit(&mut self, exec: &mut Executor, peer: PeerId) -> Option<String> {
        let rate = self.rate;
        let now = Instant::now();
        let verdict = self
            .buckets
            .entry(peer)
            .or_insert_with(|| TokenBucket::new(rate, now))
            .take(rate, now);
        if verdict != Verdict::Allow {
            self.status.requests_refused += 1;
            if verdict == Verdict::RefuseAndStrike {
                self.strikes.push((peer, "flooded messaging requests"));
            }
            return Some(format!(
                "rate limit: at most {} messaging requests per second per peer (bursts of {})",
                rate.per_sec, rate.burst
            ));
        }
        // At the cap the sender is told at once rather than kept waiting: a `Deliver` or
        // `Deposit` stays in its outbox and is tried again after its backoff (1 s, 2 s, ...),
        // a Collect is asked again on the next connect or minute.
        if let Err(busy) = exec.admit(Kind::MsgServe) {
            self.status.requests_refused += 1;
            return Some(format!(
                "busy: {} messaging requests are being worked on; try again",
                busy.cap
            ));
        }
        None
    }
}

/// Answers one request (on the blocking pool): the response, and why the peer is at fault
/// if it is.
fn serve(
    m: &Messenger,
    requester: &PublicKey,
    request: MsgRequest,
    now: u64,
) -> (MsgResponse, Option<&'static str>) {
    let refused = |reason: String| MsgResponse::Refused { reason };
    match request {
        MsgRequest::Deliver(bytes) => match Sealed::decode(&bytes) {
            Err(e) => (
                refused(e.to_string()),
                Some("delivered a malformed sealed message"),
            ),
            Ok(sealed) => match m.receive(&sealed, now) {
                Ok(receipt) => (MsgResponse::Receipt(receipt.into_bytes()), None),
                Err(e @ MessagingError::Store(_)) => {
                    tracing::error!(error = %e, "cannot store a delivered message");
                    (
                        refused("the recipient could not store it; try again".into()),
                        None,
                    )
                }
                // Not the sender's fault necessarily (clocks, a relay's copy): refuse, no strike.
                Err(e) => (refused(e.to_string()), None),
            },
        },
        MsgRequest::Deposit(bytes) => match Sealed::decode(&bytes) {
            Err(e) => (
                refused(e.to_string()),
                Some("deposited a malformed sealed message"),
            ),
            Ok(sealed) => match m.deposit(requester, sealed, now) {
                Ok(()) => (MsgResponse::Held, None),
                Err(e) => (refused(e.to_string()), None),
            },
        },
        MsgRequest::Collect { max_bytes } => {
            let max = (max_bytes as usize).min(codec::MAX_MAIL_BYTES);
            match m.collect(requester, max, now) {
                Ok((items, more)) => (
                    MsgResponse::Mail {
                        items: items.into_iter().map(Sealed::into_bytes).collect(),
                        more,
                    },
                    None,
                ),
                Err(e) => (refused(e.to_string()), None),
            }
        }
        MsgRequest::Ack(ids) => match m.ack(requester, &ids) {
            Ok(n) => (MsgResponse::Acked(n as u32), None),
            Err(e) => (refused(e.to_string()), None),
        },
        MsgRequest::Receipt(bytes) => match SignedEnvelope::decode(&bytes) {
            Err(e) => (refused(e.to_string()), Some("sent a malformed receipt")),
            Ok(r) => match m.on_receipt(&r) {
                Ok(_) => (MsgResponse::Ok, None),
                Err(e @ MessagingError::Store(_)) => {
                    tracing::error!(error = %e, "cannot record a receipt");
                    (refused("could not record it; try again".into()), None)
                }
                Err(e) => (refused(e.to_string()), Some("sent an invalid receipt")),
            },
        },
    }
}
