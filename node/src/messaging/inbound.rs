//! Receiving a sealed message: open it, check it, store it once, answer with a receipt.
//!
//! A message can arrive more than once (the sender retries a direct delivery whose receipt was
//! lost; mailbox peers hold copies sealed anew), so the same signed message again is a duplicate:
//! nothing stored, no event, and the same receipt again (ed25519 signing is deterministic and the
//! receipt names the first arrival time, so it is the same bytes). Another message with the same
//! sender, thread and sequence number is a replay and is refused.

use swapmeet_protocol::{
    open, DirectMessage, PublicKey, Receipt, Sealed, SignedEnvelope, Verified,
};

use super::threads::{message_key, thread_key, MsgRec, ThreadRec};
use super::{MessagingError, MessagingEvent, Messenger, Role};

impl Messenger {
    /// A sealed message for me, delivered directly or collected from a mailbox. Opens and
    /// verifies it, refuses replays, stores it (creating its thread), flushes, emits `Message`,
    /// and returns my signed receipt. Every refusal leaves the store unchanged.
    pub fn receive(&self, sealed: &Sealed, now: u64) -> Result<SignedEnvelope, MessagingError> {
        let verified = self.open_for_me(sealed, now)?;
        let _writer = self.lock_writer();
        let (receipt, event) = self.store_locked(&verified, now)?;
        if let Some(event) = event {
            // Flushed before the receipt leaves: a receipt promises the sender we have it.
            self.flush()?;
            self.emit(event);
        }
        Ok(receipt)
    }

    /// [`Messenger::receive`] for many messages at once (mail collected from a mailbox), with
    /// one flush for all of them instead of one each. The results are in the order of
    /// `sealed`; an error for the whole call means the flush failed and no receipt may be sent.
    pub fn receive_all(
        &self,
        sealed: &[Sealed],
        now: u64,
    ) -> Result<Vec<Result<SignedEnvelope, MessagingError>>, MessagingError> {
        // Opening (decryption, signature) is the expensive part and needs no lock.
        let opened: Vec<_> = sealed.iter().map(|s| self.open_for_me(s, now)).collect();
        // Held until the flush: a duplicate arriving meanwhile by another path must not be
        // answered with a receipt for a message not yet on disk.
        let _writer = self.lock_writer();
        let mut events = Vec::new();
        let results = opened
            .into_iter()
            .map(|verified| {
                let (receipt, event) = self.store_locked(&verified?, now)?;
                events.extend(event);
                Ok(receipt)
            })
            .collect();
        if !events.is_empty() {
            self.flush()?;
        }
        for event in events {
            self.emit(event);
        }
        Ok(results)
    }

    /// Opens a sealed message addressed to me.
    fn open_for_me(
        &self,
        sealed: &Sealed,
        now: u64,
    ) -> Result<Verified<DirectMessage>, MessagingError> {
        if sealed.tag() != self.inner.my_tag {
            return Err(MessagingError::WrongRecipient);
        }
        let verified = open(sealed, &self.inner.key, now)?;
        if verified.payload().recipient != self.me() {
            return Err(MessagingError::WrongRecipient);
        }
        Ok(verified)
    }

    /// Stores a message (unless it is a duplicate) and returns my receipt, with the event to
    /// emit once it is flushed (`None` for a duplicate). The caller holds the writer lock and
    /// flushes before the receipt leaves.
    fn store_locked(
        &self,
        verified: &Verified<DirectMessage>,
        now: u64,
    ) -> Result<(SignedEnvelope, Option<MessagingEvent>), MessagingError> {
        // No receipt for what the disk cannot hold: the sender keeps it and retries.
        self.ensure_space()?;
        let sender = verified.signer();
        let hash = verified.hash();
        let message = verified.payload();
        let key = message_key(&message.thread, &sender, message.seq);
        if let Some(held) = self.load_message(&key)? {
            if held.hash != hash {
                return Err(MessagingError::Replayed {
                    sender: Box::new(sender),
                    thread: message.thread,
                    seq: message.seq,
                });
            }
            return Ok((self.receipt(&held, sender, now)?, None));
        }
        let mut thread = match self.load_thread(&message.thread)? {
            Some(thread) => thread,
            None => ThreadRec {
                role: if message.about.seller == self.me() {
                    Role::Seller
                } else {
                    Role::Buyer
                },
                other: sender,
                about: message.about.clone(),
                about_sent_at: message.sent_at,
                next_seq: 1,
                updated_at: now,
            },
        };
        thread.refer(&message.about, message.sent_at);
        thread.updated_at = thread.updated_at.max(now);
        let stored = MsgRec {
            hash,
            sent_at: message.sent_at,
            expires_at: message.expires_at,
            text: super::body_text(&message.body),
            state: None,
            received_at: Some(now),
            read: false,
            envelope: verified.envelope().as_bytes().to_vec(),
            local: super::threads::local_now(),
        };
        let receipt = self.receipt(&stored, sender, now)?;
        // The thread first: a crash between the two leaves a thread without this message, and
        // no receipt went out, so the sender delivers it again. (The other order could leave
        // a message whose thread is missing, and its redelivery would be taken as a duplicate.)
        self.put(
            &thread_key(&message.thread),
            thread.encode(),
            "storing a received message's thread",
        )?;
        self.put(&key, stored.encode(), "storing a received message")?;
        let event = MessagingEvent::Message {
            thread: message.thread,
            hash,
            from: sender,
            seq: message.seq,
        };
        Ok((receipt, Some(event)))
    }

    /// My receipt for a stored message of `sender`'s.
    fn receipt(
        &self,
        held: &MsgRec,
        sender: PublicKey,
        now: u64,
    ) -> Result<SignedEnvelope, MessagingError> {
        let receipt = Receipt {
            message: held.hash,
            sender,
            received_at: held.received_at.unwrap_or(now),
        };
        Ok(receipt.sign(&self.inner.key)?)
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_util::*;
    use super::super::{DeliveryState, MessagingConfig};
    use super::*;
    use swapmeet_protocol::{seal, DirectMessage, MessageBody, ThreadId};
    use tokio::sync::broadcast::error::TryRecvError;

    #[test]
    fn a_message_is_stored_once_however_often_it_arrives() {
        let buyer = Node::new(buyer_key());
        let seller = Node::new(seller_key());
        let sent = buyer
            .m
            .send_to_seller(about("bike"), "still there?", NOW)
            .unwrap();
        let sealed = sealed_of(&buyer.m, &sent.hash);
        let mut events = seller.m.subscribe();

        let receipt = seller.m.receive(&sealed, NOW + 5).unwrap();
        assert_eq!(
            events.try_recv().unwrap(),
            MessagingEvent::Message {
                thread: sent.thread,
                hash: sent.hash,
                from: buyer.key.public(),
                seq: 1
            }
        );
        let verified = receipt.verify_receipt().unwrap();
        assert_eq!(verified.signer(), seller.key.public());
        assert_eq!(verified.payload().message, sent.hash);
        assert_eq!(verified.payload().sender, buyer.key.public());
        assert_eq!(verified.payload().received_at, NOW + 5);

        // Stored and flushed before the receipt was returned.
        let after = seller.crash_copy();
        let view = after
            .m
            .thread(&sent.thread, false, NOW + 5)
            .unwrap()
            .unwrap();
        assert_eq!(view.messages.len(), 1);
        assert_eq!(view.messages[0].text, "still there?");
        assert_eq!(view.messages[0].received_at, Some(NOW + 5));
        assert_eq!(view.summary.role, Role::Seller);
        assert_eq!(view.summary.other, buyer.key.public());

        // The same bytes again (a retried delivery), and the same message sealed anew (a
        // mailbox copy): no second message, no event, the same receipt.
        let before = seller.snapshot();
        assert_eq!(seller.m.receive(&sealed, NOW + 60).unwrap(), receipt);
        let opened = swapmeet_protocol::open(&sealed, &seller.key, NOW).unwrap();
        let resealed = seal(&opened, &seller.key.public()).unwrap();
        assert_ne!(resealed.as_bytes(), sealed.as_bytes());
        assert_eq!(seller.m.receive(&resealed, NOW + 90).unwrap(), receipt);
        assert_eq!(events.try_recv(), Err(TryRecvError::Empty));
        assert_eq!(seller.snapshot(), before);
    }

    #[test]
    fn a_replayed_seq_with_other_content_is_refused_and_nothing_is_stored() {
        let buyer = Node::new(buyer_key());
        let seller = Node::new(seller_key());
        let sent = buyer
            .m
            .send_to_seller(about("bike"), "I offer 50", NOW)
            .unwrap();
        seller
            .m
            .receive(&sealed_of(&buyer.m, &sent.hash), NOW)
            .unwrap();
        let before = seller.snapshot();
        let mut events = seller.m.subscribe();

        let forged = DirectMessage {
            recipient: seller.key.public(),
            buyer: buyer.key.public(),
            thread: sent.thread,
            seq: 1,
            sent_at: NOW,
            expires_at: sent.expires_at,
            about: about("bike"),
            body: MessageBody::Text("I offer 5".into()),
        };
        let env = forged.sign(&buyer.key).unwrap();
        let sealed = seal(&env.verify_message(NOW).unwrap(), &seller.key.public()).unwrap();
        assert!(matches!(
            seller.m.receive(&sealed, NOW + 1),
            Err(MessagingError::Replayed { sender, thread, seq: 1 })
                if *sender == buyer.key.public() && thread == sent.thread
        ));
        assert_eq!(seller.snapshot(), before);
        assert_eq!(events.try_recv(), Err(TryRecvError::Empty));
        let view = seller.m.thread(&sent.thread, false, NOW).unwrap().unwrap();
        assert_eq!(view.messages[0].text, "I offer 50");
    }

    #[test]
    fn an_expired_message_or_one_for_someone_else_is_refused_and_nothing_is_stored() {
        let buyer = Node::with_config(
            buyer_key(),
            MessagingConfig {
                lifetime_secs: 3_600,
                ..MessagingConfig::default()
            },
        );
        let seller = Node::new(seller_key());
        let other = Node::new(stranger_key());
        let sent = buyer.m.send_to_seller(about("bike"), "hi", NOW).unwrap();
        let sealed = sealed_of(&buyer.m, &sent.hash);

        let before = seller.snapshot();
        let err = seller.m.receive(&sealed, NOW + 3_600).unwrap_err();
        assert!(matches!(err, MessagingError::Invalid(_)), "{err}");
        assert_eq!(seller.snapshot(), before);
        assert!(seller.m.inbox(NOW).unwrap().is_empty());

        let before = other.snapshot();
        assert!(matches!(
            other.m.receive(&sealed, NOW),
            Err(MessagingError::WrongRecipient)
        ));
        assert_eq!(other.snapshot(), before);
    }

    #[test]
    fn a_thread_the_seller_answers_reaches_the_buyer_in_the_same_thread() {
        let buyer = Node::new(buyer_key());
        let seller = Node::new(seller_key());
        let sent = buyer.m.send_to_seller(about("bike"), "hi", NOW).unwrap();
        seller
            .m
            .receive(&sealed_of(&buyer.m, &sent.hash), NOW)
            .unwrap();
        let answer = seller
            .m
            .reply(sent.thread, "yes, still here", NOW + 10)
            .unwrap();
        assert_eq!((answer.thread, answer.seq), (sent.thread, 1));
        let receipt = buyer
            .m
            .receive(&sealed_of(&seller.m, &answer.hash), NOW + 11)
            .unwrap();
        assert!(seller.m.on_receipt(&receipt).unwrap());

        let mine = buyer
            .m
            .thread(&sent.thread, false, NOW + 11)
            .unwrap()
            .unwrap();
        let theirs = seller
            .m
            .thread(&sent.thread, false, NOW + 11)
            .unwrap()
            .unwrap();
        let texts = |v: &super::super::ThreadView| -> Vec<String> {
            v.messages.iter().map(|m| m.text.clone()).collect()
        };
        assert_eq!(texts(&mine), ["hi", "yes, still here"]);
        assert_eq!(texts(&theirs), texts(&mine));
        assert_eq!(mine.summary.role, Role::Buyer);
        assert_eq!(mine.summary.other, seller.key.public());
        assert_eq!(theirs.messages[1].state, Some(DeliveryState::Delivered));
        assert_eq!(mine.messages[0].state, Some(DeliveryState::Queued));
        assert_eq!(
            ThreadId::derive(&about("bike").id(), &buyer.key.public()),
            sent.thread
        );
    }

    #[test]
    fn mail_received_all_at_once_is_flushed_once_with_a_result_for_each() {
        let buyer = Node::new(buyer_key());
        let seller = Node::new(seller_key());
        let mut mail = Vec::new();
        let mut sent = Vec::new();
        for text in ["one", "two", "three"] {
            let s = buyer.m.send_to_seller(about("bike"), text, NOW).unwrap();
            mail.push(sealed_of(&buyer.m, &s.hash));
            sent.push(s);
        }
        mail.push(mail[0].clone());
        // Mail for someone else (a mailbox mix-up) is refused, the rest still stored.
        let elsewhere = {
            let s = buyer
                .m
                .send_to_seller(
                    swapmeet_protocol::ListingRef {
                        seller: stranger_key().public(),
                        ..about("desk")
                    },
                    "to the stranger",
                    NOW,
                )
                .unwrap();
            sealed_of(&buyer.m, &s.hash)
        };
        mail.push(elsewhere);
        let mut events = seller.m.subscribe();

        let results = seller.m.receive_all(&mail, NOW + 1).unwrap();
        assert_eq!(results.len(), 5);
        for (r, s) in results[..3].iter().zip(&sent) {
            let receipt = r.as_ref().unwrap().verify_receipt().unwrap();
            assert_eq!(receipt.payload().message, s.hash);
        }
        assert_eq!(results[3].as_ref().unwrap(), results[0].as_ref().unwrap());
        assert!(matches!(results[4], Err(MessagingError::WrongRecipient)));
        for s in &sent {
            assert!(matches!(
                events.try_recv().unwrap(),
                MessagingEvent::Message { hash, .. } if hash == s.hash
            ));
        }
        assert_eq!(events.try_recv(), Err(TryRecvError::Empty));

        let after = seller.crash_copy();
        let view = after
            .m
            .thread(&sent[0].thread, false, NOW + 1)
            .unwrap()
            .unwrap();
        let texts: Vec<_> = view.messages.iter().map(|m| m.text.as_str()).collect();
        assert_eq!(texts, ["one", "two", "three"]);
    }
}
