//! Threads and their messages: the records, their keys, and the inbox and thread views.
//!
//! Keys in [`super::TREE_STATE`], ordered for prefix scans:
//! - `t` thread id -> [`ThreadRec`]
//! - `m` thread id, sender key, seq (big-endian) -> [`MsgRec`]: a thread's messages come out
//!   of one scan grouped by sender in sequence order, and a received message is found (for the
//!   duplicate and replay checks) with one point read.
//! - `h` hash of a message I sent -> thread id, seq (receipts name messages by hash)
//! - `o` hash of a message I sent -> the outbox entry (see `outbox.rs`)

use std::cmp::Ordering;

use swapmeet_protocol::{
    DirectMessage, EnvelopeHash, ListingId, ListingRef, PublicKey, SignedEnvelope, ThreadId,
    Verified,
};

use super::codec::{Reader, Writer};
use super::{
    sled_err, DeliveryState, MessageView, MessagingError, Messenger, Role, ThreadSummary,
    ThreadView, TREE_STATE,
};
use crate::store::StoreError;

const THREAD: u8 = b't';
const MESSAGE: u8 = b'm';
const SENT: u8 = b'h';
pub(super) const OUTBOX: u8 = b'o';

const THREAD_FORMAT: u8 = 1;
const MESSAGE_FORMAT: u8 = 1;
const SENT_FORMAT: u8 = 1;

pub(super) fn thread_key(thread: &ThreadId) -> Vec<u8> {
    let mut k = Vec::with_capacity(33);
    k.push(THREAD);
    k.extend_from_slice(thread.as_bytes());
    k
}

fn messages_prefix(thread: &ThreadId) -> Vec<u8> {
    let mut k = Vec::with_capacity(73);
    k.push(MESSAGE);
    k.extend_from_slice(thread.as_bytes());
    k
}

pub(super) fn message_key(thread: &ThreadId, sender: &PublicKey, seq: u64) -> Vec<u8> {
    let mut k = messages_prefix(thread);
    k.extend_from_slice(sender.as_bytes());
    k.extend_from_slice(&seq.to_be_bytes());
    k
}

/// The key of an entry about a message I sent, under `prefix` (`h` or `o`).
pub(super) fn hash_key(prefix: u8, hash: &EnvelopeHash) -> Vec<u8> {
    let mut k = Vec::with_capacity(33);
    k.push(prefix);
    k.extend_from_slice(&hash.0);
    k
}

pub(super) fn sent_key(hash: &EnvelopeHash) -> Vec<u8> {
    hash_key(SENT, hash)
}

/// Where a message I sent is: its thread and seq (the sender is me).
pub(super) fn encode_sent(thread: &ThreadId, seq: u64) -> Vec<u8> {
    Writer::new(SENT_FORMAT)
        .key(thread.as_bytes())
        .u64(seq)
        .finish()
}

pub(super) fn decode_sent(bytes: &[u8]) -> Result<(ThreadId, u64), StoreError> {
    let mut r = Reader::new(bytes, TREE_STATE, SENT_FORMAT)?;
    let thread = ThreadId::from_bytes(r.key()?);
    let seq = r.u64()?;
    r.end()?;
    Ok((thread, seq))
}

/// A thread's identity and parties, without its messages.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ThreadHead {
    /// The thread id.
    pub thread: ThreadId,
    /// The listing it is about.
    pub listing: ListingId,
    /// The latest listing version a message of the thread referred to.
    pub about: ListingRef,
    /// My role.
    pub role: Role,
    /// The other party.
    pub other: PublicKey,
    /// The buyer.
    pub buyer: PublicKey,
    /// When a message was last sent or received in it.
    pub updated_at: u64,
}

impl ThreadHead {
    fn of(thread: ThreadId, rec: ThreadRec, me: &PublicKey) -> ThreadHead {
        ThreadHead {
            thread,
            listing: rec.about.id(),
            buyer: rec.buyer(me),
            role: rec.role,
            other: rec.other,
            updated_at: rec.updated_at,
            about: rec.about,
        }
    }
}

/// A thread as stored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct ThreadRec {
    pub role: Role,
    pub other: PublicKey,
    /// The latest listing version referred to (by `about_sent_at`).
    pub about: ListingRef,
    pub about_sent_at: u64,
    /// The seq of my next message in this thread.
    pub next_seq: u64,
    pub updated_at: u64,
}

impl ThreadRec {
    /// The buyer of the thread, given who I am.
    pub fn buyer(&self, me: &PublicKey) -> PublicKey {
        match self.role {
            Role::Buyer => *me,
            Role::Seller => self.other,
        }
    }

    /// Takes `about` as the thread's listing version if it was referred to no earlier.
    pub fn refer(&mut self, about: &ListingRef, sent_at: u64) {
        if sent_at >= self.about_sent_at {
            self.about = about.clone();
            self.about_sent_at = sent_at;
        }
    }

    pub fn encode(&self) -> Vec<u8> {
        Writer::new(THREAD_FORMAT)
            .u8(match self.role {
                Role::Buyer => 0,
                Role::Seller => 1,
            })
            .key(self.other.as_bytes())
            .key(self.about.seller.as_bytes())
            .bytes(self.about.item_key.as_bytes())
            .key(&self.about.version.0)
            .u64(self.about_sent_at)
            .u64(self.next_seq)
            .u64(self.updated_at)
            .finish()
    }

    pub fn decode(bytes: &[u8]) -> Result<ThreadRec, StoreError> {
        let mut r = Reader::new(bytes, TREE_STATE, THREAD_FORMAT)?;
        let role = match r.u8()? {
            0 => Role::Buyer,
            1 => Role::Seller,
            other => return Err(r.corrupt(format!("unknown role {other}"))),
        };
        let other = r.public_key()?;
        let about = ListingRef {
            seller: r.public_key()?,
            item_key: r.string()?,
            version: EnvelopeHash(r.key()?),
        };
        let rec = ThreadRec {
            role,
            other,
            about,
            about_sent_at: r.u64()?,
            next_seq: r.u64()?,
            updated_at: r.u64()?,
        };
        r.end()?;
        Ok(rec)
    }
}

/// A message as stored (the sender and seq are in its key).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct MsgRec {
    pub hash: EnvelopeHash,
    pub sent_at: u64,
    pub expires_at: u64,
    pub text: String,
    /// Mine: where it stands.
    pub state: Option<DeliveryState>,
    /// Theirs: when it reached this node.
    pub received_at: Option<u64>,
    pub read: bool,
    /// The signed message, kept as proof of what was said (negotiation builds on it).
    pub envelope: Vec<u8>,
    /// When this node stored it (microseconds, system clock): orders the two parties'
    /// messages sent within the same second. Sent times have whole seconds, and a reply is
    /// usually written within a second of what it answers; it is always stored after it.
    pub local: u64,
}

/// Microseconds since the epoch by the system clock (see [`MsgRec::local`]).
pub(super) fn local_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_micros()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

impl MsgRec {
    pub fn encode(&self) -> Vec<u8> {
        let state = match self.state {
            None => 0,
            Some(DeliveryState::Queued) => 1,
            Some(DeliveryState::Delivered) => 2,
            Some(DeliveryState::Expired) => 3,
        };
        Writer::new(MESSAGE_FORMAT)
            .key(&self.hash.0)
            .u64(self.sent_at)
            .u64(self.expires_at)
            .u8(state)
            .u8(u8::from(self.received_at.is_some()))
            .u64(self.received_at.unwrap_or(0))
            .u8(u8::from(self.read))
            .bytes(self.text.as_bytes())
            .bytes(&self.envelope)
            .u64(self.local)
            .finish()
    }

    pub fn decode(bytes: &[u8]) -> Result<MsgRec, StoreError> {
        let mut r = Reader::new(bytes, TREE_STATE, MESSAGE_FORMAT)?;
        let hash = EnvelopeHash(r.key()?);
        let sent_at = r.u64()?;
        let expires_at = r.u64()?;
        let state = match r.u8()? {
            0 => None,
            1 => Some(DeliveryState::Queued),
            2 => Some(DeliveryState::Delivered),
            3 => Some(DeliveryState::Expired),
            other => return Err(r.corrupt(format!("unknown delivery state {other}"))),
        };
        let has_received = r.u8()? == 1;
        let received_at = r.u64()?;
        let read = r.u8()? == 1;
        let text = r.string()?;
        let envelope = r.bytes()?.to_vec();
        let local = r.u64()?;
        r.end()?;
        Ok(MsgRec {
            hash,
            sent_at,
            expires_at,
            text,
            state,
            received_at: has_received.then_some(received_at),
            read,
            envelope,
            local,
        })
    }
}

/// A stored message with the parts of its key.
struct Stored {
    sender: PublicKey,
    seq: u64,
    rec: MsgRec,
}

/// The order of a thread: `a` and `b` from different senders by sent time, then (within the
/// same second) by when this node stored them, then seq, then sender key. (Within one sender
/// the order is by seq alone; see [`interleave`].)
fn across_senders(a: &Stored, b: &Stored) -> Ordering {
    (a.rec.sent_at, a.rec.local, a.seq, a.sender.as_bytes()).cmp(&(
        b.rec.sent_at,
        b.rec.local,
        b.seq,
        b.sender.as_bytes(),
    ))
}

/// Merges the senders' runs (each already in seq order) so that each sender's messages stay in
/// seq order even when their sent times disagree (a clock set back), and the runs interleave
/// by sent time.
fn interleave(runs: Vec<Vec<Stored>>) -> Vec<Stored> {
    let mut runs: Vec<std::collections::VecDeque<Stored>> =
        runs.into_iter().map(Into::into).collect();
    let mut out = Vec::with_capacity(runs.iter().map(|r| r.len()).sum());
    loop {
        let next = runs
            .iter()
            .enumerate()
            .filter_map(|(i, r)| r.front().map(|m| (i, m)))
            .min_by(|(_, a), (_, b)| across_senders(a, b))
            .map(|(i, _)| i);
        match next.and_then(|i| runs[i].pop_front()) {
            Some(m) => out.push(m),
            None => return out,
        }
    }
}

impl Messenger {
    pub(super) fn load_thread(&self, id: &ThreadId) -> Result<Option<ThreadRec>, MessagingError> {
        self.inner
            .state
            .get(thread_key(id))
            .map_err(sled_err("reading a thread"))?
            .map(|v| ThreadRec::decode(&v))
            .transpose()
            .map_err(Into::into)
    }

    pub(super) fn load_message(&self, key: &[u8]) -> Result<Option<MsgRec>, MessagingError> {
        self.inner
            .state
            .get(key)
            .map_err(sled_err("reading a message"))?
            .map(|v| MsgRec::decode(&v))
            .transpose()
            .map_err(Into::into)
    }

    /// The messages of a thread the user may see, in thread order. Their expired messages are
    /// left out: an expired message is never shown.
    fn visible_messages(&self, id: &ThreadId, now: u64) -> Result<Vec<Stored>, MessagingError> {
        let me = self.me();
        let mut runs: Vec<Vec<Stored>> = Vec::new();
        for kv in self.inner.state.scan_prefix(messages_prefix(id)) {
            let (k, v) = kv.map_err(sled_err("reading a thread's messages"))?;
            let corrupt = || StoreError::Corrupt {
                tree: TREE_STATE,
                reason: format!("message key of {} bytes", k.len()),
            };
            let sender_bytes: [u8; 32] = k
                .get(33..65)
                .and_then(|s| s.try_into().ok())
                .ok_or_else(corrupt)?;
            let sender = PublicKey::from_bytes(&sender_bytes).map_err(|_| corrupt())?;
            let seq = super::codec::u64_at_end(&k, TREE_STATE)?;
            let rec = MsgRec::decode(&v)?;
            if sender != me && rec.expires_at <= now {
                continue;
            }
            let m = Stored { sender, seq, rec };
            match runs.last_mut() {
                Some(run) if run.last().is_some_and(|l| l.sender == sender) => run.push(m),
                _ => runs.push(vec![m]),
            }
        }
        Ok(interleave(runs))
    }

    fn view_of(&self, m: &Stored) -> MessageView {
        MessageView {
            hash: m.rec.hash,
            from_me: m.sender == self.me(),
            sender: m.sender,
            seq: m.seq,
            sent_at: m.rec.sent_at,
            expires_at: m.rec.expires_at,
            text: m.rec.text.clone(),
            // From the signed message kept with it (verified when it was stored, decoded
            // again here); chat whose text looks like a move stays chat.
            kind: SignedEnvelope::decode(&m.rec.envelope)
                .and_then(|e| e.verify_message(m.rec.sent_at))
                .map(|v| super::MessageKind::of(&v.payload().body))
                .unwrap_or(super::MessageKind::Text),
            state: m.rec.state,
            received_at: m.rec.received_at,
            read: m.rec.read,
        }
    }

    fn summary_of(&self, id: ThreadId, rec: ThreadRec, messages: &[Stored]) -> ThreadSummary {
        ThreadSummary {
            thread: id,
            listing: rec.about.id(),
            about: rec.about,
            role: rec.role,
            other: rec.other,
            last: messages.last().map(|m| self.view_of(m)),
            unread: messages.iter().filter(|m| !m.rec.read).count(),
            queued: messages
                .iter()
                .filter(|m| m.rec.state == Some(DeliveryState::Queued))
                .count(),
            updated_at: rec.updated_at,
            messages: messages.len(),
        }
    }

    /// My threads, the most recently active first.
    pub fn inbox(&self, now: u64) -> Result<Vec<ThreadSummary>, MessagingError> {
        let mut out = Vec::new();
        for kv in self.inner.state.scan_prefix([THREAD]) {
            let (k, v) = kv.map_err(sled_err("reading threads"))?;
            let id: [u8; 32] =
                k.get(1..)
                    .and_then(|s| s.try_into().ok())
                    .ok_or_else(|| StoreError::Corrupt {
                        tree: TREE_STATE,
                        reason: format!("thread key of {} bytes", k.len()),
                    })?;
            let id = ThreadId::from_bytes(id);
            let rec = ThreadRec::decode(&v)?;
            let messages = self.visible_messages(&id, now)?;
            out.push(self.summary_of(id, rec, &messages));
        }
        out.sort_by(|a, b| {
            b.updated_at
                .cmp(&a.updated_at)
                .then_with(|| a.thread.cmp(&b.thread))
        });
        Ok(out)
    }

    /// A thread with its messages, `None` if there is no such thread. With `mark_read`, their
    /// messages become read; the view returned still shows which ones were unread until now.
    pub fn thread(
        &self,
        id: &ThreadId,
        mark_read: bool,
        now: u64,
    ) -> Result<Option<ThreadView>, MessagingError> {
        // Held so that a message arriving meanwhile is not marked read unseen.
        let _writer = mark_read.then(|| self.lock_writer());
        let Some(rec) = self.load_thread(id)? else {
            return Ok(None);
        };
        let messages = self.visible_messages(id, now)?;
        if mark_read {
            // Not flushed: read marks are not worth an fsync; sled writes them within its flush
            // interval, and a crash at worst shows a message as unread again.
            for m in messages.iter().filter(|m| !m.rec.read) {
                let mut read = m.rec.clone();
                read.read = true;
                self.put(
                    &message_key(id, &m.sender, m.seq),
                    read.encode(),
                    "marking messages read",
                )?;
            }
        }
        let views = messages.iter().map(|m| self.view_of(m)).collect();
        Ok(Some(ThreadView {
            summary: self.summary_of(*id, rec, &messages),
            messages: views,
        }))
    }

    /// Every thread's head (no messages read): for the market's scans.
    pub fn thread_heads(&self) -> Result<Vec<ThreadHead>, MessagingError> {
        let mut out = Vec::new();
        for kv in self.inner.state.scan_prefix([THREAD]) {
            let (k, v) = kv.map_err(sled_err("reading threads"))?;
            let id: [u8; 32] =
                k.get(1..)
                    .and_then(|s| s.try_into().ok())
                    .ok_or_else(|| StoreError::Corrupt {
                        tree: TREE_STATE,
                        reason: format!("thread key of {} bytes", k.len()),
                    })?;
            out.push(ThreadHead::of(
                ThreadId::from_bytes(id),
                ThreadRec::decode(&v)?,
                &self.me(),
            ));
        }
        Ok(out)
    }

    /// One thread's head, `None` if there is no such thread.
    pub fn thread_head(&self, id: &ThreadId) -> Result<Option<ThreadHead>, MessagingError> {
        Ok(self
            .load_thread(id)?
            .map(|rec| ThreadHead::of(*id, rec, &self.me())))
    }

    /// Every message of a thread, both parties', verified again from the signed envelopes
    /// kept (each at its own `sent_at`, so an old message still counts after its delivery
    /// window closed): what the negotiation state is computed from. A stored envelope that no
    /// longer verifies is left out and logged.
    pub fn thread_messages(
        &self,
        id: &ThreadId,
    ) -> Result<Vec<Verified<DirectMessage>>, MessagingError> {
        let mut out = Vec::new();
        for kv in self.inner.state.scan_prefix(messages_prefix(id)) {
            let (_, v) = kv.map_err(sled_err("reading a thread's messages"))?;
            let rec = MsgRec::decode(&v)?;
            match SignedEnvelope::decode(&rec.envelope).and_then(|e| e.verify_message(rec.sent_at))
            {
                Ok(m) => out.push(m),
                Err(e) => {
                    tracing::warn!(thread = %id, hash = %rec.hash, error = %e, "a stored message no longer verifies")
                }
            }
        }
        Ok(out)
    }

    /// My thread as the buyer about `listing`, if I started one.
    pub fn thread_about(&self, listing: &ListingId) -> Result<Option<ThreadId>, MessagingError> {
        let id = ThreadId::derive(listing, &self.me());
        Ok(self.load_thread(&id)?.map(|_| id))
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_util::*;
    use super::*;

    #[test]
    fn records_read_back() {
        let t = ThreadRec {
            role: Role::Seller,
            other: buyer_key().public(),
            about: about("bike"),
            about_sent_at: 5,
            next_seq: 3,
            updated_at: 7,
        };
        assert_eq!(ThreadRec::decode(&t.encode()).unwrap(), t);
        for (state, received_at) in [
            (Some(DeliveryState::Queued), None),
            (Some(DeliveryState::Delivered), None),
            (Some(DeliveryState::Expired), None),
            (None, Some(0)),
            (None, Some(9)),
        ] {
            let m = MsgRec {
                hash: EnvelopeHash([4; 32]),
                sent_at: 1,
                expires_at: 2,
                text: "hällo".into(),
                state,
                received_at,
                read: received_at.is_none(),
                envelope: vec![1, 2, 3],
                local: 1_700_000_000_123_456,
            };
            assert_eq!(MsgRec::decode(&m.encode()).unwrap(), m);
        }
    }

    fn stored(sender: u8, seq: u64, sent_at: u64) -> Stored {
        Stored {
            sender: key(sender).public(),
            seq,
            rec: MsgRec {
                hash: EnvelopeHash([sender; 32]),
                sent_at,
                expires_at: u64::MAX,
                text: String::new(),
                state: None,
                received_at: None,
                read: true,
                envelope: Vec::new(),
                local: sent_at * 1_000_000 + seq,
            },
        }
    }

    #[test]
    fn each_sender_stays_in_seq_order_and_senders_interleave_by_sent_time() {
        // Sender 1's clock went back between its messages 2 and 3: seq order still wins.
        let a = vec![stored(1, 1, 10), stored(1, 2, 30), stored(1, 3, 20)];
        let b = vec![stored(2, 1, 15), stored(2, 2, 25), stored(2, 3, 30)];
        let order: Vec<(u8, u64)> = interleave(vec![a, b])
            .iter()
            .map(|m| {
                let who = if m.sender == key(1).public() { 1 } else { 2 };
                (who, m.seq)
            })
            .collect();
        // At 30 both have one: the lower seq goes first (1's seq 2 before 2's seq 3), and 1's
        // seq 3 (sent "at 20") must still follow its seq 2.
        let expected = vec![(1, 1), (2, 1), (2, 2), (1, 2), (1, 3), (2, 3)];
        assert_eq!(order, expected);
    }

    #[test]
    fn within_one_second_a_reply_follows_what_it_answers() {
        // The buyer's second message and the seller's first answer to it share a sent second;
        // the answer was stored later, so it comes later, although its seq is lower.
        let mut question = stored(1, 2, 10);
        question.rec.local = 100;
        let mut answer = stored(2, 1, 10);
        answer.rec.local = 200;
        let order: Vec<u64> = interleave(vec![vec![stored(1, 1, 9), question], vec![answer]])
            .iter()
            .map(|m| m.rec.local)
            .collect();
        assert_eq!(order, vec![9_000_001, 100, 200]);
    }

    /// The buyer writes `texts` (seqs 1..) and the seller receives them at `at`.
    fn buyer_writes(buyer: &Node, seller: &Node, item: &str, texts: &[&str], at: u64) -> ThreadId {
        let mut thread = None;
        for (i, text) in texts.iter().enumerate() {
            let sent = buyer
                .m
                .send_to_seller(about(item), text, at + i as u64)
                .unwrap();
            seller
                .m
                .receive(&sealed_of(&buyer.m, &sent.hash), at + i as u64)
                .unwrap();
            thread = Some(sent.thread);
        }
        thread.unwrap()
    }

    #[test]
    fn theirs_are_unread_until_the_thread_is_viewed_with_mark_read() {
        let buyer = Node::new(buyer_key());
        let seller = Node::new(seller_key());
        let thread = buyer_writes(&buyer, &seller, "bike", &["one", "two"], NOW);

        let inbox = seller.m.inbox(NOW + 5).unwrap();
        assert_eq!(inbox.len(), 1);
        assert_eq!(inbox[0].unread, 2);
        assert_eq!(inbox[0].messages, 2);
        assert_eq!(inbox[0].last.as_ref().unwrap().text, "two");
        assert_eq!(inbox[0].listing, about("bike").id());
        // Looking without marking changes nothing.
        assert_eq!(
            seller
                .m
                .thread(&thread, false, NOW + 5)
                .unwrap()
                .unwrap()
                .summary
                .unread,
            2
        );

        // The view that marks them still shows which were new.
        let view = seller.m.thread(&thread, true, NOW + 5).unwrap().unwrap();
        assert_eq!(view.summary.unread, 2);
        assert!(view.messages.iter().all(|m| !m.read && !m.from_me));
        assert_eq!(seller.m.inbox(NOW + 5).unwrap()[0].unread, 0);
        let again = seller.m.thread(&thread, true, NOW + 5).unwrap().unwrap();
        assert!(again.messages.iter().all(|m| m.read));

        // A new one is unread again; my own messages never count.
        seller.m.reply(thread, "yes", NOW + 6).unwrap();
        buyer_writes(&buyer, &seller, "bike", &["three"], NOW + 7);
        let inbox = seller.m.inbox(NOW + 8).unwrap();
        assert_eq!((inbox[0].unread, inbox[0].messages), (1, 4));
        assert_eq!(buyer.m.inbox(NOW + 8).unwrap()[0].unread, 0);

        assert!(seller
            .m
            .thread(&ThreadId::from_bytes([0; 32]), true, NOW)
            .unwrap()
            .is_none());
    }

    #[test]
    fn an_expired_message_of_theirs_is_never_shown() {
        let buyer = Node::with_config(
            buyer_key(),
            super::super::MessagingConfig {
                lifetime_secs: 100,
                ..Default::default()
            },
        );
        let seller = Node::new(seller_key());
        let thread = buyer_writes(&buyer, &seller, "bike", &["soon gone"], NOW);
        let answer = seller.m.reply(thread, "mine stays", NOW + 1).unwrap();

        let view = seller.m.thread(&thread, true, NOW + 100).unwrap().unwrap();
        assert_eq!(view.messages.len(), 1);
        assert_eq!(view.messages[0].hash, answer.hash);
        let inbox = seller.m.inbox(NOW + 100).unwrap();
        assert_eq!((inbox[0].unread, inbox[0].messages), (0, 1));
        assert_eq!(inbox[0].last.as_ref().unwrap().text, "mine stays");
        // Still shown to its sender, with its state.
        let mine = buyer.m.thread(&thread, false, NOW + 100).unwrap().unwrap();
        assert_eq!(mine.messages[0].text, "soon gone");
    }

    #[test]
    fn the_inbox_lists_the_most_recently_active_thread_first() {
        let buyer = Node::new(buyer_key());
        let seller = Node::new(seller_key());
        let bike = buyer_writes(&buyer, &seller, "bike", &["bike?"], NOW);
        let lamp = buyer_writes(&buyer, &seller, "lamp", &["lamp?"], NOW + 10);
        let order = |m: &Messenger, at| -> Vec<ThreadId> {
            m.inbox(at).unwrap().iter().map(|t| t.thread).collect()
        };
        assert_eq!(order(&seller.m, NOW + 20), [lamp, bike]);
        seller.m.reply(bike, "still here", NOW + 30).unwrap();
        assert_eq!(order(&seller.m, NOW + 40), [bike, lamp]);
        assert_eq!(order(&buyer.m, NOW + 40), [lamp, bike]);
        assert_eq!(
            buyer.m.thread_about(&about("lamp").id()).unwrap(),
            Some(lamp)
        );
        assert_eq!(seller.m.thread_about(&about("lamp").id()).unwrap(), None);
    }

    #[test]
    fn a_thread_shows_both_senders_in_order() {
        let buyer = Node::new(buyer_key());
        let seller = Node::new(seller_key());
        let thread = buyer_writes(&buyer, &seller, "bike", &["b1", "b2"], NOW);
        let s1 = seller.m.reply(thread, "s1", NOW + 1).unwrap();
        buyer
            .m
            .receive(&sealed_of(&seller.m, &s1.hash), NOW + 2)
            .unwrap();
        buyer_writes(&buyer, &seller, "bike", &["b3"], NOW + 3);
        let texts = |m: &Messenger| -> Vec<String> {
            let view = m.thread(&thread, false, NOW + 4).unwrap().unwrap();
            view.messages.into_iter().map(|v| v.text).collect()
        };
        // b2 and s1 were both sent at NOW + 1; s1 was written after b2 reached the seller, and
        // each node stored b2 before s1, so s1 follows b2 on both sides.
        assert_eq!(texts(&seller.m), ["b1", "b2", "s1", "b3"]);
        assert_eq!(texts(&buyer.m), texts(&seller.m));
    }
}
