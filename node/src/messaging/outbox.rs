//! The outbox: my messages without a receipt yet, the retry schedule the wire follows, the
//! mailbox copies it made, receipts, and expiry.
//!
//! An outbox entry (`o` || message hash in [`super::TREE_STATE`]) lives from the send (see
//! `send.rs`) until a receipt from the recipient arrives or the message expires; the message's
//! state in its thread says which ended it.
//!
//! Ending an entry (delivered, expired) writes the message's state first, then deletes the
//! entry (single writes, no `sled::Batch`: see `messaging.rs`). The outbox scan deletes what a
//! crash left behind: an entry whose message is no longer queued (an ending cut short), and an
//! entry with no message (a send cut short, see `send.rs`).

use swapmeet_protocol::{
    EnvelopeHash, PublicKey, Sealed, SignedEnvelope, ThreadId, ValidationError,
};

use super::codec::{Reader, Writer};
use super::threads::{decode_sent, hash_key, message_key, sent_key, OUTBOX};
use super::{sled_err, DeliveryState, MessagingError, MessagingEvent, Messenger, TREE_STATE};
use crate::store::StoreError;

/// The longest wait between two tries of the same message. Five minutes keeps a message to a
/// peer that comes back online from waiting long, while a dead peer costs a try per 5 minutes.
pub const MAX_BACKOFF_SECS: u64 = 300;

const OUTBOX_FORMAT: u8 = 1;

/// The wait after the `attempts`-th try: 1 s, doubling, at most [`MAX_BACKOFF_SECS`].
pub fn backoff_secs(attempts: u32) -> u64 {
    let doublings = attempts.saturating_sub(1);
    1u64.checked_shl(doublings)
        .unwrap_or(MAX_BACKOFF_SECS)
        .min(MAX_BACKOFF_SECS)
}

/// A message of mine to deliver, as the wire gets it from [`Messenger::due`].
#[derive(Clone, Debug)]
pub struct OutboxItem {
    /// The hash of the signed message (what the receipt will name).
    pub hash: EnvelopeHash,
    /// Who it is for.
    pub recipient: PublicKey,
    /// Its thread.
    pub thread: ThreadId,
    /// The sealed message to deliver or deposit.
    pub sealed: Sealed,
    /// When it stops being retried.
    pub expires_at: u64,
    /// Tries so far.
    pub attempts: u32,
    /// The PeerIds of the mailbox peers that accepted a copy.
    pub deposited_with: Vec<String>,
}

/// An outbox entry as stored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct OutboxRec {
    pub recipient: PublicKey,
    pub thread: ThreadId,
    pub seq: u64,
    pub expires_at: u64,
    pub attempts: u32,
    pub next_try: u64,
    pub deposited_with: Vec<String>,
    pub sealed: Vec<u8>,
}

impl OutboxRec {
    pub(super) fn encode(&self) -> Vec<u8> {
        let count = u32::try_from(self.deposited_with.len()).unwrap_or(u32::MAX);
        let mut w = Writer::new(OUTBOX_FORMAT)
            .key(self.recipient.as_bytes())
            .key(self.thread.as_bytes())
            .u64(self.seq)
            .u64(self.expires_at)
            .u32(self.attempts)
            .u64(self.next_try)
            .u32(count);
        for peer in self.deposited_with.iter().take(count as usize) {
            w = w.bytes(peer.as_bytes());
        }
        w.bytes(&self.sealed).finish()
    }

    fn decode(bytes: &[u8]) -> Result<OutboxRec, StoreError> {
        let mut r = Reader::new(bytes, TREE_STATE, OUTBOX_FORMAT)?;
        let recipient = r.public_key()?;
        let thread = ThreadId::from_bytes(r.key()?);
        let seq = r.u64()?;
        let expires_at = r.u64()?;
        let attempts = r.u32()?;
        let next_try = r.u64()?;
        let count = r.u32()?;
        let mut deposited_with = Vec::new();
        for _ in 0..count {
            deposited_with.push(r.string()?);
        }
        let sealed = r.bytes()?.to_vec();
        r.end()?;
        Ok(OutboxRec {
            recipient,
            thread,
            seq,
            expires_at,
            attempts,
            next_try,
            deposited_with,
            sealed,
        })
    }
}

impl Messenger {
    fn outbox_entries(&self) -> Result<Vec<(EnvelopeHash, OutboxRec)>, MessagingError> {
        let mut out = Vec::new();
        for kv in self.inner.state.scan_prefix([OUTBOX]) {
            let (k, v) = kv.map_err(sled_err("reading the outbox"))?;
            let hash: [u8; 32] =
                k.get(1..)
                    .and_then(|s| s.try_into().ok())
                    .ok_or_else(|| StoreError::Corrupt {
                        tree: TREE_STATE,
                        reason: format!("outbox key of {} bytes", k.len()),
                    })?;
            out.push((EnvelopeHash(hash), OutboxRec::decode(&v)?));
        }
        Ok(out)
    }

    fn load_outbox(&self, hash: &EnvelopeHash) -> Result<Option<OutboxRec>, MessagingError> {
        self.inner
            .state
            .get(hash_key(OUTBOX, hash))
            .map_err(sled_err("reading the outbox"))?
            .map(|v| OutboxRec::decode(&v))
            .transpose()
            .map_err(Into::into)
    }

    /// The outbox entries still queued at `now`, and those whose time ran out. Entries a crash
    /// left behind (a send or an ending cut short: see the module doc) are deleted on the way.
    /// The caller holds the writer lock.
    #[allow(clippy::type_complexity)]
    fn scan_outbox_locked(
        &self,
        now: u64,
    ) -> Result<
        (
            Vec<(EnvelopeHash, OutboxRec)>,
            Vec<(EnvelopeHash, ThreadId, u64)>,
        ),
        MessagingError,
    > {
        let me = self.me();
        let mut live = Vec::new();
        let mut expired = Vec::new();
        for (hash, rec) in self.outbox_entries()? {
            match self.load_message(&message_key(&rec.thread, &me, rec.seq))? {
                Some(m) if m.hash == hash && m.state == Some(DeliveryState::Queued) => {
                    if rec.expires_at <= now {
                        expired.push((hash, rec.thread, rec.seq));
                    } else {
                        live.push((hash, rec));
                    }
                }
                Some(m) if m.hash == hash => {
                    self.delete(&hash_key(OUTBOX, &hash), "clearing the outbox")?;
                }
                _ => {
                    tracing::info!(%hash, "dropping an outbox entry of a send cut short by a crash");
                    self.delete(&hash_key(OUTBOX, &hash), "clearing the outbox")?;
                    self.delete(&sent_key(&hash), "clearing the sent index")?;
                }
            }
        }
        Ok((live, expired))
    }

    /// Ends the outbox entries `ended` with `state` in their threads, flushed, then tells
    /// listeners. The caller holds the writer lock.
    fn finish_locked(
        &self,
        ended: &[(EnvelopeHash, ThreadId, u64)],
        state: DeliveryState,
    ) -> Result<(), MessagingError> {
        if ended.is_empty() {
            return Ok(());
        }
        let me = self.me();
        for (hash, thread, seq) in ended {
            // The state first, then the entry: see the module doc.
            let key = message_key(thread, &me, *seq);
            if let Some(mut m) = self.load_message(&key)? {
                m.state = Some(state);
                self.put(&key, m.encode(), "updating a delivery state")?;
            }
            self.delete(&hash_key(OUTBOX, hash), "clearing the outbox")?;
        }
        self.flush()?;
        for (hash, thread, _) in ended {
            self.emit(MessagingEvent::Delivery {
                thread: *thread,
                hash: *hash,
                state,
            });
        }
        Ok(())
    }

    /// Queued messages due for a try at `now`, by their backoff. Expired ones are marked
    /// Expired (flushed, emitted) instead, and delivered ones are no longer in the outbox.
    pub fn due(&self, now: u64) -> Result<Vec<OutboxItem>, MessagingError> {
        let _writer = self.lock_writer();
        let mut due = Vec::new();
        let (live, expired) = self.scan_outbox_locked(now)?;
        for (hash, rec) in live {
            if rec.next_try <= now {
                let sealed = Sealed::decode(&rec.sealed).map_err(|e| StoreError::Corrupt {
                    tree: TREE_STATE,
                    reason: format!("outbox entry {hash}: {e}"),
                })?;
                due.push(OutboxItem {
                    hash,
                    recipient: rec.recipient,
                    thread: rec.thread,
                    sealed,
                    expires_at: rec.expires_at,
                    attempts: rec.attempts,
                    deposited_with: rec.deposited_with,
                });
            }
        }
        self.finish_locked(&expired, DeliveryState::Expired)?;
        Ok(due)
    }

    /// Makes every queued message to `recipient` due at `now`: it has just connected, so its
    /// messages must not wait out a backoff that grew while it was away. Returns how many.
    pub fn due_now_for(&self, recipient: &PublicKey, now: u64) -> Result<usize, MessagingError> {
        let _writer = self.lock_writer();
        let mut n = 0;
        for (hash, mut rec) in self.outbox_entries()? {
            if rec.recipient == *recipient && rec.next_try > now {
                rec.next_try = now;
                // Not flushed, like `attempted`: after a crash it is simply tried sooner.
                self.put(&hash_key(OUTBOX, &hash), rec.encode(), "recording a try")?;
                n += 1;
            }
        }
        Ok(n)
    }

    /// How many of my messages are waiting for a receipt (for the node's status).
    pub fn queued(&self) -> Result<usize, MessagingError> {
        let mut n = 0;
        for kv in self.inner.state.scan_prefix([OUTBOX]) {
            kv.map_err(sled_err("reading the outbox"))?;
            n += 1;
        }
        Ok(n)
    }

    /// Records a try of the message `hash` at `now`: the next is due after the backoff. A
    /// message no longer in the outbox (delivered meanwhile) is left alone.
    pub fn attempted(&self, hash: &EnvelopeHash, now: u64) -> Result<(), MessagingError> {
        let _writer = self.lock_writer();
        let Some(mut rec) = self.load_outbox(hash)? else {
            return Ok(());
        };
        rec.attempts = rec.attempts.saturating_add(1);
        rec.next_try = now.saturating_add(backoff_secs(rec.attempts));
        // Not flushed: after a crash the message is simply tried sooner.
        self.put(&hash_key(OUTBOX, hash), rec.encode(), "recording a try")
    }

    /// Records that the mailbox peer `peer` (a PeerId) holds a copy of the message `hash`.
    pub fn deposited(&self, hash: &EnvelopeHash, peer: &str) -> Result<(), MessagingError> {
        let _writer = self.lock_writer();
        let Some(mut rec) = self.load_outbox(hash)? else {
            return Ok(());
        };
        if rec.deposited_with.iter().any(|p| p == peer) {
            return Ok(());
        }
        rec.deposited_with.push(peer.to_string());
        // Not flushed: a deposit forgotten in a crash is made again, and a mailbox keeps one
        // copy per id.
        self.put(&hash_key(OUTBOX, hash), rec.encode(), "recording a deposit")
    }

    /// A receipt from a peer. Only a receipt signed by the recipient of a message of mine marks
    /// it delivered (flushed, emitted): `Ok(true)`. `Ok(false)` for a hash that is not a
    /// message of mine or is already delivered. A receipt arriving after the message was marked
    /// expired still marks it delivered: the recipient has it.
    pub fn on_receipt(&self, receipt: &SignedEnvelope) -> Result<bool, MessagingError> {
        let verified = receipt.verify_receipt()?;
        let signer = verified.signer();
        let receipt = verified.payload();
        let me = self.me();
        let _writer = self.lock_writer();
        let Some(loc) = self
            .inner
            .state
            .get(sent_key(&receipt.message))
            .map_err(sled_err("reading the sent index"))?
        else {
            return Ok(false);
        };
        let (thread, seq) = decode_sent(&loc)?;
        let Some(rec) = self.load_thread(&thread)? else {
            return Ok(false);
        };
        if receipt.sender != me {
            return Err(MessagingError::Invalid(ValidationError::Invalid {
                field: "receipt.sender",
                reason: format!(
                    "names {}, not the sender of message {}",
                    receipt.sender, receipt.message
                ),
            }));
        }
        if signer != rec.other {
            return Err(MessagingError::ReceiptSigner {
                message: receipt.message,
                signer: Box::new(signer),
                recipient: Box::new(rec.other),
            });
        }
        let key = message_key(&thread, &me, seq);
        match self.load_message(&key)? {
            Some(m) if m.hash == receipt.message => {
                if m.state == Some(DeliveryState::Delivered) {
                    return Ok(false);
                }
                self.finish_locked(&[(receipt.message, thread, seq)], DeliveryState::Delivered)?;
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    /// Marks my messages whose time ran out without a receipt as expired.
    pub(super) fn expire_outbox(&self, now: u64) -> Result<(), MessagingError> {
        let _writer = self.lock_writer();
        let (_, expired) = self.scan_outbox_locked(now)?;
        self.finish_locked(&expired, DeliveryState::Expired)
    }

    /// The sealed copy of a message still in my outbox (tests play the wire with it).
    #[cfg(test)]
    pub(super) fn outbox_sealed(&self, hash: &EnvelopeHash) -> Option<Sealed> {
        let rec = self.load_outbox(hash).unwrap()?;
        Some(Sealed::decode(&rec.sealed).unwrap())
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_util::*;
    use super::*;
    use swapmeet_protocol::Receipt;
    use tokio::sync::broadcast::error::TryRecvError;

    #[test]
    fn only_the_recipients_receipt_marks_a_message_delivered() {
        let buyer = Node::new(buyer_key());
        let seller = Node::new(seller_key());
        let sent = buyer.m.send_to_seller(about("bike"), "hi", NOW).unwrap();
        let receipt = seller
            .m
            .receive(&sealed_of(&buyer.m, &sent.hash), NOW + 1)
            .unwrap();
        let mut events = buyer.m.subscribe();

        // A stranger (a mailbox peer, say) cannot claim the message reached its recipient.
        let forged = Receipt {
            message: sent.hash,
            sender: buyer.key.public(),
            received_at: NOW + 1,
        }
        .sign(&stranger_key())
        .unwrap();
        assert!(matches!(
            buyer.m.on_receipt(&forged),
            Err(MessagingError::ReceiptSigner { signer, .. }) if *signer == stranger_key().public()
        ));
        assert_eq!(
            state_of(&buyer.m, &sent.thread, &sent.hash),
            Some(DeliveryState::Queued)
        );
        assert_eq!(buyer.m.due(NOW + 1).unwrap().len(), 1);

        // Nor can the recipient sign a receipt that names someone else as the sender.
        let misnamed = Receipt {
            message: sent.hash,
            sender: stranger_key().public(),
            received_at: NOW + 1,
        }
        .sign(&seller_key())
        .unwrap();
        let err = buyer.m.on_receipt(&misnamed).unwrap_err();
        assert!(err.to_string().contains("receipt.sender"), "{err}");
        assert_eq!(
            state_of(&buyer.m, &sent.thread, &sent.hash),
            Some(DeliveryState::Queued)
        );

        assert!(buyer.m.on_receipt(&receipt).unwrap());
        assert_eq!(
            events.try_recv().unwrap(),
            MessagingEvent::Delivery {
                thread: sent.thread,
                hash: sent.hash,
                state: DeliveryState::Delivered
            }
        );
        let after = buyer.crash_copy();
        assert_eq!(
            state_of(&after.m, &sent.thread, &sent.hash),
            Some(DeliveryState::Delivered)
        );
        assert!(
            after.m.due(NOW + 10).unwrap().is_empty(),
            "delivered is never retried"
        );

        // The same receipt again, or one for a message that is not mine: nothing to do.
        assert!(!buyer.m.on_receipt(&receipt).unwrap());
        let unknown = Receipt {
            message: EnvelopeHash([7; 32]),
            sender: buyer.key.public(),
            received_at: NOW,
        }
        .sign(&seller_key())
        .unwrap();
        assert!(!buyer.m.on_receipt(&unknown).unwrap());
        assert_eq!(events.try_recv(), Err(TryRecvError::Empty));
    }

    #[test]
    fn retries_back_off_and_an_expired_message_is_never_returned_again() {
        assert_eq!(
            (1..=11).map(backoff_secs).collect::<Vec<_>>(),
            [1, 2, 4, 8, 16, 32, 64, 128, 256, 300, 300]
        );
        assert_eq!(backoff_secs(u32::MAX), MAX_BACKOFF_SECS);

        let buyer = Node::new(buyer_key());
        let seller = Node::new(seller_key());
        let sent = buyer.m.send_to_seller(about("bike"), "hi", NOW).unwrap();
        let sealed = sealed_of(&buyer.m, &sent.hash);
        assert_eq!(buyer.m.queued().unwrap(), 1);
        assert_eq!(buyer.m.due(NOW).unwrap().len(), 1);
        buyer.m.attempted(&sent.hash, NOW).unwrap();
        assert!(buyer.m.due(NOW).unwrap().is_empty());
        assert_eq!(buyer.m.due(NOW + 1).unwrap()[0].attempts, 1);
        buyer.m.attempted(&sent.hash, NOW + 1).unwrap();
        assert!(buyer.m.due(NOW + 2).unwrap().is_empty());
        assert_eq!(buyer.m.due(NOW + 3).unwrap().len(), 1);

        buyer.m.deposited(&sent.hash, "peer-a").unwrap();
        buyer.m.deposited(&sent.hash, "peer-b").unwrap();
        buyer.m.deposited(&sent.hash, "peer-a").unwrap();
        assert_eq!(
            buyer.m.due(NOW + 3).unwrap()[0].deposited_with,
            ["peer-a", "peer-b"]
        );

        let mut events = buyer.m.subscribe();
        assert!(buyer.m.due(sent.expires_at).unwrap().is_empty());
        assert_eq!(
            events.try_recv().unwrap(),
            MessagingEvent::Delivery {
                thread: sent.thread,
                hash: sent.hash,
                state: DeliveryState::Expired
            }
        );
        assert!(buyer.m.due(sent.expires_at + 1).unwrap().is_empty());
        assert_eq!(buyer.m.queued().unwrap(), 0);
        assert_eq!(events.try_recv(), Err(TryRecvError::Empty));
        let after = buyer.crash_copy();
        assert_eq!(
            state_of(&after.m, &sent.thread, &sent.hash),
            Some(DeliveryState::Expired)
        );
        assert!(after.m.due(NOW).unwrap().is_empty());

        // It had reached the seller after all: a late receipt says so.
        let receipt = seller.m.receive(&sealed, NOW + 1).unwrap();
        assert!(buyer.m.on_receipt(&receipt).unwrap());
        assert_eq!(
            state_of(&buyer.m, &sent.thread, &sent.hash),
            Some(DeliveryState::Delivered)
        );
    }

    #[test]
    fn a_recipient_coming_online_makes_its_messages_due_at_once() {
        let buyer = Node::new(buyer_key());
        let sent = buyer.m.send_to_seller(about("bike"), "hi", NOW).unwrap();
        for i in 0..8 {
            buyer.m.attempted(&sent.hash, NOW + i).unwrap();
        }
        assert!(buyer.m.due(NOW + 10).unwrap().is_empty(), "backed off");
        // Someone else coming online changes nothing.
        assert_eq!(
            buyer
                .m
                .due_now_for(&buyer_key().public(), NOW + 10)
                .unwrap(),
            0
        );
        assert!(buyer.m.due(NOW + 10).unwrap().is_empty());
        assert_eq!(
            buyer
                .m
                .due_now_for(&seller_key().public(), NOW + 10)
                .unwrap(),
            1
        );
        assert_eq!(buyer.m.due(NOW + 10).unwrap()[0].hash, sent.hash);
    }

    #[test]
    fn what_a_send_or_an_ending_cut_short_by_a_crash_left_is_cleared() {
        let buyer = Node::new(buyer_key());
        let me = buyer.key.public();
        // A send cut short after the thread, the outbox entry and the sent index.
        let cut = buyer
            .m
            .send_to_seller(about("bike"), "cut short", NOW)
            .unwrap();
        buyer
            .m
            .inner
            .state
            .remove(message_key(&cut.thread, &me, cut.seq))
            .unwrap();
        // An ending cut short: the message says delivered, its outbox entry is still there.
        let ended = buyer.m.send_to_seller(about("bike"), "ended", NOW).unwrap();
        let key = message_key(&ended.thread, &me, ended.seq);
        let mut m = buyer.m.load_message(&key).unwrap().unwrap();
        m.state = Some(DeliveryState::Delivered);
        buyer.m.inner.state.insert(key, m.encode()).unwrap();
        let whole = buyer.m.send_to_seller(about("bike"), "whole", NOW).unwrap();
        assert_eq!(whole.seq, 3, "a seq is never reused");

        let due: Vec<_> = buyer
            .m
            .due(NOW)
            .unwrap()
            .into_iter()
            .map(|i| i.hash)
            .collect();
        assert_eq!(due, [whole.hash]);
        assert!(buyer.m.outbox_sealed(&cut.hash).is_none());
        assert!(buyer.m.outbox_sealed(&ended.hash).is_none());
        assert!(buyer
            .m
            .inner
            .state
            .get(sent_key(&cut.hash))
            .unwrap()
            .is_none());
        let view = buyer.m.thread(&whole.thread, false, NOW).unwrap().unwrap();
        let states: Vec<_> = view.messages.iter().map(|m| (m.seq, m.state)).collect();
        assert_eq!(
            states,
            [
                (2, Some(DeliveryState::Delivered)),
                (3, Some(DeliveryState::Queued))
            ]
        );
    }

    #[test]
    fn sweep_marks_expired_messages_too() {
        let buyer = Node::new(buyer_key());
        let sent = buyer.m.send_to_seller(about("bike"), "hi", NOW).unwrap();
        buyer.m.sweep(sent.expires_at - 1).unwrap();
        assert_eq!(
            state_of(&buyer.m, &sent.thread, &sent.hash),
            Some(DeliveryState::Queued)
        );
        buyer.m.sweep(sent.expires_at).unwrap();
        assert_eq!(
            state_of(&buyer.m, &sent.thread, &sent.hash),
            Some(DeliveryState::Expired)
        );
    }

    #[test]
    fn outbox_records_read_back() {
        let rec = OutboxRec {
            recipient: seller_key().public(),
            thread: ThreadId::from_bytes([5; 32]),
            seq: 4,
            expires_at: 9,
            attempts: 3,
            next_try: 11,
            deposited_with: vec!["12D3KooWa".into(), "12D3KooWb".into()],
            sealed: vec![1, 2, 3],
        };
        assert_eq!(OutboxRec::decode(&rec.encode()).unwrap(), rec);
    }
}
