//! Sending a message: sign, seal, store in the thread and the outbox, flush, tell the wire.
//!
//! Sending flushes before it returns, so a message the user was told is queued survives a crash
//! (and `kill -9`) and is retried after the restart. The entries of a send are written one by
//! one (no `sled::Batch`, see `messaging.rs`) in this order, so that whatever prefix a crash
//! leaves is harmless:
//! 1. the thread, with my next seq bumped: alone, a skipped seq (the recipient orders by seq and
//!    does not need them contiguous), and the seq is never reused for other contents;
//! 2. the outbox entry, 3. the hash index: alone, an orphan that never went out (the wire only
//!    reads the outbox under the lock the send holds), which the outbox scan deletes;
//! 4. the message in its thread: from here on the message is whole.

use swapmeet_protocol::{seal, DirectMessage, ListingRef, MessageBody, ThreadId};

use super::body_text;

use super::outbox::OutboxRec;
use super::threads::{
    encode_sent, hash_key, message_key, sent_key, thread_key, MsgRec, ThreadRec, OUTBOX,
};
use super::{DeliveryState, MessagingError, MessagingEvent, Messenger, Role, Sent};

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
        self.start_with(about, MessageBody::Text(text.to_string()), now)
    }

    /// [`Messenger::send_to_seller`] with any body (a negotiation move: an offer names the
    /// listing version it is about).
    pub fn start_with(
        &self,
        about: ListingRef,
        body: MessageBody,
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
        self.send_locked(thread, rec, body, now)
    }

    /// Replies in an existing thread, as buyer or seller, about the thread's latest listing
    /// version. Unknown thread, bad text: a typed error and nothing written.
    pub fn reply(&self, thread: ThreadId, text: &str, now: u64) -> Result<Sent, MessagingError> {
        self.reply_with(thread, None, MessageBody::Text(text.to_string()), now)
    }

    /// [`Messenger::reply`] with any body, about `about` when given (a counter names the
    /// listing version it proposes terms for), else the thread's latest version.
    pub fn reply_with(
        &self,
        thread: ThreadId,
        about: Option<ListingRef>,
        body: MessageBody,
        now: u64,
    ) -> Result<Sent, MessagingError> {
        let _writer = self.lock_writer();
        let mut rec = self
            .load_thread(&thread)?
            .ok_or(MessagingError::UnknownThread(thread))?;
        if let Some(about) = about {
            rec.about = about;
            rec.about_sent_at = now;
        }
        self.send_locked(thread, rec, body, now)
    }

    /// Signs, seals and stores my next message in `thread`. The caller holds the writer lock.
    fn send_locked(
        &self,
        thread: ThreadId,
        mut rec: ThreadRec,
        body: MessageBody,
        now: u64,
    ) -> Result<Sent, MessagingError> {
        // Before anything is written, so a full disk refuses the message whole.
        self.ensure_space()?;
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
            body,
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
            text: body_text(&message.body),
            state: Some(DeliveryState::Queued),
            received_at: None,
            read: true,
            envelope: envelope.into_bytes(),
            local: super::threads::local_now(),
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
}

#[cfg(test)]
mod tests {
    use super::super::test_util::*;
    use super::super::MessagingConfig;
    use super::*;
    use swapmeet_protocol::limits::MAX_MESSAGE_TEXT_CHARS;
    use tokio::sync::broadcast::error::TryRecvError;

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
    fn concurrent_sends_never_share_a_seq() {
        let buyer = Node::new(buyer_key());
        let mut seqs: Vec<u64> = std::thread::scope(|s| {
            let senders: Vec<_> = (0..4)
                .map(|t| {
                    let m = buyer.m.clone();
                    s.spawn(move || {
                        (0..5)
                            .map(|i| {
                                let text = format!("{t}-{i}");
                                m.send_to_seller(about("bike"), &text, NOW).unwrap().seq
                            })
                            .collect::<Vec<_>>()
                    })
                })
                .collect();
            senders
                .into_iter()
                .flat_map(|h| h.join().unwrap())
                .collect()
        });
        seqs.sort_unstable();
        assert_eq!(seqs, (1..=20).collect::<Vec<_>>());
        assert_eq!(buyer.m.queued().unwrap(), 20);
    }
}
