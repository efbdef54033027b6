//! The outbox: sending a message (sign, seal, store, flush), the retry schedule the wire
//! follows, the mailbox copies it made, receipts, and expiry.
//!
//! An outbox entry (`o` || message hash in [`super::TREE_STATE`]) lives from the send until a
//! receipt from the recipient arrives or the message expires; the message's state in its thread
//! says which ended it. Sending flushes before it returns, so a message the user was told is
//! queued survives a crash (and `kill -9`) and is retried after the restart.
//!
//! The entries of a send are written one by one (no `sled::Batch`, see the module doc of
//! `messaging.rs`) in this order, so that whatever prefix a crash leaves is harmless:
//! 1. the thread, with my next seq bumped: alone, a skipped seq (the recipient orders by seq and
//!    does not need them contiguous), and the seq is never reused for other contents;
//! 2. the outbox entry, 3. the hash index: alone, an orphan that never went out (the wire only
//!    reads the outbox under the same lock the send holds), which the outbox scan deletes;
//! 4. the message in its thread: from here on the message is whole.
//!
//! Ending an entry (delivered, expired) writes the message's state first, then deletes the
//! entry; an entry left behind whose message is no longer queued is deleted by the scan.

use swapmeet_protocol::{
    seal, DirectMessage, EnvelopeHash, ListingRef, MessageBody, PublicKey, Sealed, SignedEnvelope,
    ThreadId,
};

use super::codec::{Reader, Writer};
use super::threads::{
    decode_sent, encode_sent, hash_key, message_key, sent_key, thread_key, MsgRec, ThreadRec,
    OUTBOX,
};
use super::{
    sled_err, DeliveryState, MessagingError, MessagingEvent, Messenger, Role, Sent, TREE_STATE,
};
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
struct OutboxRec {
    recipient: PublicKey,
    thread: ThreadId,
    seq: u64,
    expires_at: u64,
    attempts: u32,
    next_try: u64,
    deposited_with: Vec<String>,
    sealed: Vec<u8>,
}

impl OutboxRec {
    fn encode(&self) -> Vec<u8> {
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
    /// Starts, or continues, my thread as the buyer about the listing version `about`. Signs
    /// and seals the message, writes it to the outbox and the thread, flushes, and emits
    /// `Delivery { Queued }` (the wire's cue to send it). Bad text, my own listing: a typed
    /// error and nothing written.
    pub fn send_to_seller(
        &self,
        about: ListingRef,
        text: &str,
        now: u64,
    ) -> Result<Sent, MessagingError> {
        let me = self.me();
        if about.seller == me {
            return Err(MessagingError::OwnListing);
        }
        let thread = ThreadId::derive(&about.id(), &me);
        let _writer = self.lock_writer();
        let rec = match self.load_thread(&thread)? {
            Some(mut rec) => {
                // The buyer names the version they are looking at now.
                rec.about = about;
                rec.about_sent_at = now;
                rec
            }
            None => ThreadRec {
                role: Role::Buyer,
                other: about.seller,
                about,
                about_sent_at: now,
                next_seq: 1,
                updated_at: now,
            },
        };
        self.send_locked(thread, rec, text, now)
    }

    /// Replies in an existing thread, as buyer or seller, about the thread's latest listing
    /// version. Unknown thread, bad text: a typed error and nothing written.
    pub fn reply(&self, thread: ThreadId, text: &str, now: u64) -> Result<Sent, MessagingError> {
        let _writer = self.lock_writer();
        let rec = self
            .load_thread(&thread)?
            .ok_or(MessagingError::UnknownThread(thread))?;
        self.send_locked(thread, rec, text, now)
    }

    /// Signs, seals and stores my next message in `thread`. The caller holds the writer lock.
    fn send_locked(
        &self,
        thread: ThreadId,
        mut rec: ThreadRec,
        text: &str,
        now: u64,
    ) -> Result<Sent, MessagingError> {
        let me = self.me();
        let seq = rec.next_seq;
        let message = DirectMessage {
            recipient: rec.other,
            buyer: rec.buyer(&me),
            thread,
            seq,
            sent_at: now,
            expires_at: now.saturating_add(self.inner.config.lifetime_secs),
            about: rec.about.clone(),
            body: MessageBody::Text(text.to_string()),
        };
        // Everything that can refuse the message runs before anything is written.
        let envelope = message.sign(&self.inner.key)?;
        let verified = envelope.verify_message(now)?;
        let sealed = seal(&verified, &rec.other)?;
        let hash = verified.hash();

        rec.next_seq = seq.saturating_add(1);
        rec.updated_at = rec.updated_at.max(now);
        let stored = MsgRec {
            hash,
            sent_at: now,
            expires_at: message.expires_at,
            text: text.to_string(),
            state: Some(DeliveryState::Queued),
            received_at: None,
            read: true,
            envelope: envelope.into_bytes(),
        };
        let outbox = OutboxRec {
            recipient: rec.other,
            thread,
            seq,
            expires_at: message.expires_at,
            attempts: 0,
            next_try: now,
            deposited_with: Vec::new(),
            sealed: sealed.into_bytes(),
        };
        // In this order: see the module doc.
        self.put(&thread_key(&thread), rec.encode(), "writing a thread")?;
        self.put(
            &hash_key(OUTBOX, &hash),
            outbox.encode(),
            "writing the outbox",
        )?;
        self.put(
            &sent_key(&hash),
            encode_sent(&thread, seq),
            "writing the sent index",
        )?;
        self.put(
            &message_key(&thread, &me, seq),
            stored.encode(),
            "writing a sent message",
        )?;
        self.flush()?;
        self.emit(MessagingEvent::Delivery {
            thread,
            hash,
            state: DeliveryState::Queued,
        });
        Ok(Sent {
            thread,
            seq,
            hash,
            state: DeliveryState::Queued,
            expires_at: message.expires_at,
        })
    }

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
        self.inner
            .state
            .insert(hash_key(OUTBOX, hash), rec.encode())
            .map_err(sled_err("recording a try"))?;
        Ok(())
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
        self.inner
            .state
            .insert(hash_key(OUTBOX, hash), rec.encode())
            .map_err(sled_err("recording a deposit"))?;
        Ok(())
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
        if signer != rec.other || receipt.sender != me {
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
    use super::super::MessagingConfig;
    use super::*;
    use swapmeet_protocol::limits::MAX_MESSAGE_TEXT_CHARS;
    use swapmeet_protocol::Receipt;
    use tokio::sync::broadcast::error::TryRecvError;

    fn state_of(m: &Messenger, thread: &ThreadId, hash: &EnvelopeHash) -> Option<DeliveryState> {
        let view = m
            .thread(thread, false, NOW)
            .unwrap()
            .expect("thread exists");
        view.messages
            .iter()
            .find(|v| &v.hash == hash)
            .and_then(|v| v.state)
    }

    #[test]
    fn a_sent_message_is_flushed_queued_and_retried_after_a_crash() {
        let buyer = Node::new(buyer_key());
        let mut events = buyer.m.subscribe();
        let sent = buyer
            .m
            .send_to_seller(about("bike"), "is it still there?", NOW)
            .unwrap();
        assert_eq!(sent.seq, 1);
        assert_eq!(sent.state, DeliveryState::Queued);
        assert_eq!(
            sent.expires_at,
            NOW + MessagingConfig::default().lifetime_secs
        );
        assert_eq!(
            events.try_recv().unwrap(),
            MessagingEvent::Delivery {
                thread: sent.thread,
                hash: sent.hash,
                state: DeliveryState::Queued
            }
        );

        // What a kill -9 right after the call returned leaves on disk.
        let after = buyer.crash_copy();
        let due = after.m.due(NOW).unwrap();
        assert_eq!(due.len(), 1);
        assert_eq!(due[0].hash, sent.hash);
        assert_eq!(due[0].recipient, seller_key().public());
        assert_eq!(due[0].thread, sent.thread);
        assert_eq!(due[0].attempts, 0);
        assert_eq!(
            due[0].sealed.tag(),
            swapmeet_protocol::RecipientTag::of(&seller_key().public())
        );
        assert_eq!(
            state_of(&after.m, &sent.thread, &sent.hash),
            Some(DeliveryState::Queued)
        );
        assert_eq!(
            after.m.thread_about(&about("bike").id()).unwrap(),
            Some(sent.thread)
        );
        let view = after.m.thread(&sent.thread, false, NOW).unwrap().unwrap();
        assert_eq!(view.messages[0].text, "is it still there?");
        assert!(view.messages[0].from_me);
    }

    #[test]
    fn my_seq_per_thread_strictly_increases_and_survives_a_reopen() {
        let mut buyer = Node::new(buyer_key());
        let a1 = buyer.m.send_to_seller(about("bike"), "one", NOW).unwrap();
        let b1 = buyer
            .m
            .send_to_seller(about("lamp"), "other thread", NOW)
            .unwrap();
        let a2 = buyer.m.reply(a1.thread, "two", NOW).unwrap();
        assert_ne!(a1.thread, b1.thread);
        assert_eq!((a1.seq, b1.seq, a2.seq), (1, 1, 2));
        buyer = buyer.reopen();
        let a3 = buyer
            .m
            .send_to_seller(about("bike"), "three", NOW + 1)
            .unwrap();
        assert_eq!((a3.thread, a3.seq), (a1.thread, 3));
        let b2 = buyer.m.reply(b1.thread, "again", NOW + 1).unwrap();
        assert_eq!(b2.seq, 2);
    }

    #[test]
    fn bad_input_is_refused_with_a_typed_error_and_nothing_is_written() {
        let buyer = Node::new(buyer_key());
        let ok = buyer.m.send_to_seller(about("bike"), "hello", NOW).unwrap();
        let mut events = buyer.m.subscribe();
        let before = buyer.snapshot();

        let too_long = "x".repeat(MAX_MESSAGE_TEXT_CHARS + 1);
        for text in ["", "   \n\t ", too_long.as_str(), "bell \u{7} here"] {
            let err = buyer
                .m
                .send_to_seller(about("bike"), text, NOW)
                .unwrap_err();
            assert!(matches!(err, MessagingError::Invalid(_)), "{text:?}: {err}");
            let err = buyer.m.reply(ok.thread, text, NOW).unwrap_err();
            assert!(matches!(err, MessagingError::Invalid(_)), "{text:?}: {err}");
        }
        let err = buyer
            .m
            .send_to_seller(about("bike"), &too_long, NOW)
            .unwrap_err();
        assert!(
            err.to_string()
                .contains(&MAX_MESSAGE_TEXT_CHARS.to_string()),
            "{err}"
        );

        let unknown = ThreadId::derive(&about("never").id(), &buyer.key.public());
        assert!(matches!(
            buyer.m.reply(unknown, "hi", NOW),
            Err(MessagingError::UnknownThread(t)) if t == unknown
        ));
        assert_eq!(buyer.snapshot(), before);
        assert_eq!(events.try_recv(), Err(TryRecvError::Empty));

        // The limit itself is allowed.
        let at_limit = "y".repeat(MAX_MESSAGE_TEXT_CHARS);
        assert_eq!(buyer.m.reply(ok.thread, &at_limit, NOW).unwrap().seq, 2);

        let seller = Node::new(seller_key());
        let before = seller.snapshot();
        assert!(matches!(
            seller
                .m
                .send_to_seller(about("bike"), "buying my own bike", NOW),
            Err(MessagingError::OwnListing)
        ));
        assert_eq!(seller.snapshot(), before);
    }

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
        let sent = buyer.m.send_to_seller(about("bike"), "hi", NOW).unwrap();
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
        assert_eq!(events.try_recv(), Err(TryRecvError::Empty));
        let after = buyer.crash_copy();
        assert_eq!(
            state_of(&after.m, &sent.thread, &sent.hash),
            Some(DeliveryState::Expired)
        );
        assert!(after.m.due(NOW).unwrap().is_empty());
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
