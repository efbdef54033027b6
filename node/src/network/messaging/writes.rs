//! The outbox's writes: receipts for my messages and the deposits mailbox peers took, queued
//! (at most [`MAX_OUTBOX_WRITES`]) and written by the executor one batch at a time, so they
//! land in order and a burst of answers costs one job; what is queued at shutdown is written
//! before the network stops.

use libp2p::PeerId;
use swapmeet_protocol::EnvelopeHash;

use super::{MessagingWire, MsgDone};
use crate::messaging::Messenger;
use crate::network::executor::{caught, Executor, Kind};

/// Receipts and deposit records waiting to be written, in all. Each is the answer to a
/// request of this node's (bounded by the messages being tried); past it the oldest goes,
/// logged: a lost receipt comes back with the next try of `Deliver`, a lost deposit record
/// costs one more copy deposited on the next try.
pub const MAX_OUTBOX_WRITES: usize = 4096;

/// A write to my outbox, queued until the executor takes it.
pub(super) enum OutboxWrite {
    /// A receipt for my message, from its recipient.
    Receipt {
        hash: Option<EnvelopeHash>,
        peer: PeerId,
        bytes: Vec<u8>,
    },
    /// A mailbox peer holds a copy of my message.
    Deposited { hash: EnvelopeHash, peer: String },
}

/// What recording a receipt came to: the message it was for, who sent it, and whether it
/// marked a message delivered (or why it was refused).
pub(super) type ReceiptTaken = (Option<EnvelopeHash>, PeerId, Result<bool, String>);

impl MessagingWire {
    /// Hands the queued receipts and deposit records to the executor as one batch, unless
    /// the last batch is still being written (they wait in the queue meanwhile).
    pub(super) fn flush_writes(&mut self, exec: &mut Executor) {
        if !self.outbox_writes.is_empty() && exec.has_room(Kind::OutboxWrite) {
            let writes: Vec<OutboxWrite> = self.outbox_writes.drain(..).collect();
            let m = self.messenger.clone();
            let tx = self.done_tx.clone();
            // `has_room` held just now on this task, so the spawn takes it.
            let spawned = exec.spawn(Kind::OutboxWrite, move || {
                let taken = caught("recording receipts and deposits", || {
                    write_outbox(&m, writes)
                })
                .unwrap_or_default();
                let _ = tx.blocking_send(MsgDone::Written(taken));
            });
            if let Err(e) = spawned {
                tracing::error!(error = %e, "receipts and deposit records not written");
            }
        }
    }

    /// The receipts and deposit records still queued, as one blocking write for the
    /// shutdown (after the executor drained).
    pub(crate) fn take_writes(&mut self) -> Option<impl FnOnce() + Send + 'static> {
        if self.outbox_writes.is_empty() {
            return None;
        }
        let writes: Vec<OutboxWrite> = self.outbox_writes.drain(..).collect();
        let m = self.messenger.clone();
        Some(move || {
            write_outbox(&m, writes);
        })
    }

    pub(super) fn queue_write(&mut self, w: OutboxWrite) {
        if self.outbox_writes.len() >= MAX_OUTBOX_WRITES {
            if let Some(old) = self.outbox_writes.pop_front() {
                let what = match old {
                    OutboxWrite::Receipt { .. } => "a receipt (the next try gets it again)",
                    OutboxWrite::Deposited { .. } => {
                        "a deposit record (the next try deposits one more copy)"
                    }
                };
                tracing::warn!(
                    limit = MAX_OUTBOX_WRITES,
                    "too many outbox writes waiting; dropped {what}"
                );
            }
        }
        self.outbox_writes.push_back(w);
    }
}

/// Records receipts and deposits (on the executor, or at shutdown); the receipts' outcomes.
fn write_outbox(m: &Messenger, writes: Vec<OutboxWrite>) -> Vec<ReceiptTaken> {
    let mut taken = Vec::new();
    for w in writes {
        match w {
            OutboxWrite::Receipt { hash, peer, bytes } => {
                let result = match swapmeet_protocol::SignedEnvelope::decode(&bytes) {
                    Ok(r) => m.on_receipt(&r).map_err(|e| e.to_string()),
                    Err(e) => Err(e.to_string()),
                };
                taken.push((hash, peer, result));
            }
            OutboxWrite::Deposited { hash, peer } => {
                if let Err(e) = m.deposited(&hash, &peer) {
                    tracing::warn!(%hash, error = %e, "cannot record a deposit");
                }
            }
        }
    }
    taken
}
