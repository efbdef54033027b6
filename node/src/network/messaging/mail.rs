//! Mail for this node: collecting it from the peers that hold it, receiving each item, and
//! the receipts owed to senders (handed over now, or held until the sender connects).

use libp2p::{PeerId, Swarm};
use swapmeet_protocol::{EnvelopeHash, Sealed};

use super::codec::MsgRequest;
use super::{
    peer_of, MessagingWire, MsgDone, OutboxWrite, Pending, COLLECT_BYTES, MAX_HELD_RECEIPTS,
};
use crate::messaging::{MessagingError, Messenger};
use crate::network::behaviour::Behaviour;
use crate::network::executor::{caught, Executor, Kind};

impl MessagingWire {
    /// A peer's first connection: collect the mail it holds for me, and hand it the receipts
    /// it is owed.
    pub(crate) fn on_connected(
        &mut self,
        swarm: &mut Swarm<Behaviour>,
        exec: &mut Executor,
        peer: PeerId,
    ) {
        self.collect_from(swarm, peer);
        if let Some(receipts) = self.held_receipts.remove(&peer) {
            self.held_receipt_count -= receipts.len();
            for r in receipts {
                self.send_receipt(swarm, peer, r);
            }
        }
        // A peer came online: messages to it are tried now, whatever their backoff, and the
        // others get their try if it is due.
        if let Some(key) = super::key_of(&peer) {
            self.came_online.push(key);
        }
        self.take_due(exec);
    }

    /// Entries in the per-peer rate map (for the status; 0 with no peer connected).
    pub(crate) fn peer_state_len(&self) -> usize {
        self.buckets.len()
    }

    /// The peer's last connection closed: forget what is kept per peer (its rate state, a
    /// collect waiting for room; held receipts stay for when it comes back, and the mail it
    /// holds is collected when it does).
    pub(crate) fn on_disconnected(&mut self, peer: PeerId) {
        self.buckets.remove(&peer);
        self.recollect.remove(&peer);
    }

    pub(super) fn collect_from(&mut self, swarm: &mut Swarm<Behaviour>, peer: PeerId) {
        let already = self
            .outbound
            .values()
            .any(|(p, what)| *p == peer && matches!(what, Pending::Collect));
        if already {
            return;
        }
        let id = swarm.behaviour_mut().msg.send_request(
            &peer,
            MsgRequest::Collect {
                max_bytes: COLLECT_BYTES,
            },
        );
        self.outbound.insert(id, (peer, Pending::Collect));
    }

    pub(super) fn send_receipt(
        &mut self,
        swarm: &mut Swarm<Behaviour>,
        peer: PeerId,
        receipt: Vec<u8>,
    ) {
        let id = swarm
            .behaviour_mut()
            .msg
            .send_request(&peer, MsgRequest::Receipt(receipt));
        self.outbound.insert(id, (peer, Pending::Receipt));
    }

    pub(super) fn hold_receipt(&mut self, peer: PeerId, receipt: Vec<u8>) {
        if self.held_receipt_count >= MAX_HELD_RECEIPTS {
            // Drop one of the largest backlog: its sender's retries get receipts anyway.
            if let Some(p) = self
                .held_receipts
                .iter()
                .max_by_key(|(_, v)| v.len())
                .map(|(p, _)| *p)
            {
                if let Some(v) = self.held_receipts.get_mut(&p) {
                    v.remove(0);
                    self.held_receipt_count -= 1;
                    if v.is_empty() {
                        self.held_receipts.remove(&p);
                    }
                }
            }
        }
        self.held_receipts.entry(peer).or_default().push(receipt);
        self.held_receipt_count += 1;
    }

    /// A receipt for my message (from its recipient, directly or by a `Receipt` request):
    /// recorded with the next batch of outbox writes.
    pub(super) fn take_receipt(
        &mut self,
        hash: Option<EnvelopeHash>,
        peer: PeerId,
        bytes: Vec<u8>,
    ) {
        self.queue_write(OutboxWrite::Receipt { hash, peer, bytes });
    }

    /// Mail a peer handed over: received on the executor. At its cap the mail is left with
    /// the peer (nothing is acknowledged) and collected again once a batch ends.
    pub(super) fn receive_mail(
        &mut self,
        exec: &mut Executor,
        peer: PeerId,
        items: Vec<Vec<u8>>,
        more: bool,
    ) {
        let m = self.messenger.clone();
        let now = (self.clock)();
        let tx = self.done_tx.clone();
        let spawned = exec.spawn(Kind::MailReceive, move || {
            // A panic acknowledges nothing: the mailbox hands the mail over again.
            let done = caught("receiving collected mail", || {
                receive(&m, peer, items, more, now)
            })
            .unwrap_or(MsgDone::Collected {
                peer,
                acks: Vec::new(),
                receipts: Vec::new(),
                received: 0,
                more: false,
                abuse: false,
            });
            let _ = tx.blocking_send(done);
        });
        if let Err(e) = spawned {
            tracing::debug!(%peer, error = %e, "collected mail left with its mailbox for now");
            self.recollect.insert(peer);
        }
    }
}

/// Opens, verifies and stores one batch of collected mail (on the executor): what to
/// acknowledge, the receipts owed to senders.
fn receive(m: &Messenger, peer: PeerId, items: Vec<Vec<u8>>, more: bool, now: u64) -> MsgDone {
    let mut acks = Vec::new();
    let mut receipts = Vec::new();
    let mut received = 0;
    let mut abuse = false;
    let mut sealed = Vec::with_capacity(items.len());
    for bytes in items {
        match Sealed::decode(&bytes) {
            Ok(s) => sealed.push(s),
            Err(e) => {
                // Not even a sealed message: a mailbox that serves garbage.
                tracing::info!(%peer, error = %e, "a mailbox handed over a malformed item");
                abuse = true;
            }
        }
    }
    // One flush for the whole batch; until it succeeded nothing is acknowledged and no
    // receipt leaves, so the mailbox keeps the mail for the next collect.
    match m.receive_all(&sealed, now) {
        Ok(results) => {
            for (s, result) in sealed.iter().zip(results) {
                match result {
                    Ok(receipt) => {
                        acks.push(s.id());
                        received += 1;
                        if let Some(sender) = receipt
                            .verify_receipt()
                            .ok()
                            .and_then(|r| peer_of(&r.payload().sender))
                        {
                            receipts.push((sender, receipt.into_bytes()));
                        }
                    }
                    // Our own disk failed: keep it held, collect it again later.
                    Err(MessagingError::Store(e)) => {
                        tracing::error!(error = %e, "cannot store a collected message");
                    }
                    // Forged, altered, replayed, expired or not for me: refused for
                    // good, so the mailbox may drop it.
                    Err(e) => {
                        tracing::info!(%peer, error = %e, "refused a collected message");
                        acks.push(s.id());
                    }
                }
            }
        }
        Err(e) => tracing::error!(error = %e, "cannot store collected mail"),
    }
    MsgDone::Collected {
        peer,
        acks,
        receipts,
        received,
        more,
        abuse,
    }
}
