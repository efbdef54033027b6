//! Private messages between a buyer and a seller: the local side of issue 11.
//!
//! The [`Messenger`] keeps three things in the node's sled database, and knows nothing of the
//! network (the wire drives it; the API calls it, both on the blocking pool):
//! - **threads** (the inbox): one per (listing, buyer), holding both parties' messages, my
//!   messages' delivery state and the read state of theirs;
//! - **the outbox**: every message I sent that has no receipt yet, sealed for its recipient,
//!   with its retry schedule and the mailbox peers that hold a copy;
//! - **the mailbox** kept for others: sealed mail for recipients that were offline, within
//!   quotas per recipient, per depositor and in total.
//!
//! Messages carry chat text or negotiation moves (offers, counters, accepts, deal signatures:
//! PROTOCOL.md 12); both take the same path. A move is stored with a one-line description as its
//! text, and its signed envelope, from which [`crate::market`] reads the move itself
//! ([`Messenger::thread_messages`]) and decides what to answer.
//!
//! Threads and the outbox share one tree ([`TREE_STATE`]). A send or a receive writes its
//! entries one by one, in an order chosen so that every prefix of it (what sled recovers after a
//! crash) is harmless, and the outbox scan clears what a write cut short left behind (see
//! `outbox.rs`). Not a `sled::Batch`: in sled 0.34 a batch takes a lock shared by every sled
//! database of the process, and from the first batch on every read and write takes it too,
//! which held up storing gossiped listings for 50-120 ms (see `store.rs`). Every change the
//! user or a peer is told about is flushed before the call returns.
//!
//! # Layout
//! - `messaging.rs`: the service, its configuration, errors, events and views.
//! - `messaging/threads.rs`: the thread and message records, their keys, the inbox and thread views.
//! - `messaging/send.rs`: sending: sign, seal, store in the thread and the outbox, flush.
//! - `messaging/outbox.rs`: the retry schedule, deposits, receipts, expiry.
//! - `messaging/inbound.rs`: receiving a sealed message: open, replay check, store, receipt.
//! - `messaging/mailbox.rs`: sealed mail held for others, with quotas.
//! - `messaging/codec.rs`: the byte layout of the records.

use std::sync::{Arc, Mutex, MutexGuard};

use serde::Serialize;
use swapmeet_protocol::limits::MAX_MESSAGE_LIFETIME_SECS;
use swapmeet_protocol::{
    EnvelopeHash, ListingId, ListingRef, MessageBody, Move, PublicKey, RecipientTag, SecretKey,
    ThreadId, ValidationError,
};
use tokio::sync::broadcast;

use crate::store::{Store, StoreError};

mod codec;
mod inbound;
mod mailbox;
mod outbox;
mod send;
mod threads;

pub use mailbox::{DepositRefusal, MailboxStats};
pub use outbox::{backoff_secs, OutboxItem, MAX_BACKOFF_SECS};
pub use threads::ThreadHead;

/// The tree of threads, messages and the outbox (one tree: see the module doc).
pub const TREE_STATE: &str = "msg_state/v1";
/// The tree of mail held for others: recipient tag || arrival number -> depositor, sealed bytes.
pub const TREE_MAILBOX: &str = "msg_mailbox/v1";

/// How many events a slow listener may fall behind before it misses some (and is told).
const EVENT_CAPACITY: usize = 1024;

/// Settings of messaging; the defaults are the issue's.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MessagingConfig {
    /// How long a message I send stays deliverable, in seconds (at most
    /// [`MAX_MESSAGE_LIFETIME_SECS`]).
    pub lifetime_secs: u64,
    /// With how many mailbox peers the wire deposits a copy when the recipient is offline.
    pub mailbox_copies: usize,
    /// Mail held for one recipient: messages.
    pub mailbox_per_recipient_messages: usize,
    /// Mail held for one recipient: sealed bytes.
    pub mailbox_per_recipient_bytes: u64,
    /// Mail held from one depositing peer: messages.
    pub mailbox_per_depositor_messages: usize,
    /// Mail held from one depositing peer: sealed bytes.
    pub mailbox_per_depositor_bytes: u64,
    /// Mail held in total: sealed bytes.
    pub mailbox_total_bytes: u64,
}

impl Default for MessagingConfig {
    fn default() -> Self {
        MessagingConfig {
            lifetime_secs: MAX_MESSAGE_LIFETIME_SECS,
            mailbox_copies: 3,
            mailbox_per_recipient_messages: 200,
            mailbox_per_recipient_bytes: 5 * 1024 * 1024,
            mailbox_per_depositor_messages: 500,
            mailbox_per_depositor_bytes: 8 * 1024 * 1024,
            mailbox_total_bytes: 256 * 1024 * 1024,
        }
    }
}

impl MessagingConfig {
    fn check(&self) -> Result<(), MessagingError> {
        if self.lifetime_secs == 0 || self.lifetime_secs > MAX_MESSAGE_LIFETIME_SECS {
            return Err(MessagingError::Config {
                field: "lifetime_secs",
                reason: format!(
                    "{} is out of range: from 1 to {MAX_MESSAGE_LIFETIME_SECS} seconds",
                    self.lifetime_secs
                ),
            });
        }
        Ok(())
    }
}

/// Why a messaging call failed. Bad input names what is wrong and changes nothing.
#[derive(Debug, thiserror::Error)]
pub enum MessagingError {
    /// The message (or a sealed message received) breaks a protocol rule; names the field.
    #[error(transparent)]
    Invalid(#[from] ValidationError),
    /// No thread with this id on this node.
    #[error("no thread {0} on this node; `swapmeet inbox` lists your threads")]
    UnknownThread(ThreadId),
    /// A seller cannot start a thread about their own listing.
    #[error("this is your own listing: buyers start threads about it, and you answer in them")]
    OwnListing,
    /// The sender already sent another message with this sequence number in this thread.
    #[error("replayed message: {sender} already sent message {seq} in thread {thread} with other contents")]
    Replayed {
        /// The sender (boxed: a parsed key is large, and errors are passed by value).
        sender: Box<PublicKey>,
        /// The thread.
        thread: ThreadId,
        /// The sequence number used twice.
        seq: u64,
    },
    /// A sealed message for another recipient.
    #[error("the message is sealed for another recipient")]
    WrongRecipient,
    /// A receipt signed by someone other than the recipient of the message it names.
    #[error(
        "receipt for {message} is signed by {signer}, not by the message's recipient {recipient}"
    )]
    ReceiptSigner {
        /// The message the receipt names.
        message: EnvelopeHash,
        /// Who signed the receipt.
        signer: Box<PublicKey>,
        /// Who the message was for.
        recipient: Box<PublicKey>,
    },
    /// A collect request whose byte budget cannot hold one sealed message.
    #[error("max_bytes is {max_bytes}: too small to hold one sealed message ({min} bytes)")]
    CollectTooSmall {
        /// Asked for.
        max_bytes: usize,
        /// The smallest useful budget.
        min: usize,
    },
    /// A setting out of range.
    #[error("messaging setting {field}: {reason}")]
    Config {
        /// The setting.
        field: &'static str,
        /// What is wrong and the allowed range.
        reason: String,
    },
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// How a message shows in a thread: its text, or a one-line description of a negotiation
/// move (the market reads the move itself from the signed envelope).
pub(crate) fn body_text(body: &MessageBody) -> String {
    let short = |h: &EnvelopeHash| h.to_string().chars().take(12).collect::<String>();
    let terms = |t: &swapmeet_protocol::OfferTerms| {
        let price = swapmeet_protocol::Price::Fixed {
            amount_minor: t.amount_minor,
            currency: t.currency,
        };
        format!("{price} for {} (open until {})", t.quantity, t.expires_at)
    };
    match body {
        MessageBody::Text(text) => text.clone(),
        MessageBody::Negotiation(m) => match m {
            Move::Offer(t) => format!("[offer] {}", terms(t)),
            Move::Counter(t) => format!("[counter] {}", terms(t)),
            Move::Accept { of } => format!("[accept] {}", short(of)),
            Move::Decline { of } => format!("[decline] {}", short(of)),
            Move::Retract { of } => format!("[retract] {}", short(of)),
            Move::Void { accept, reason } => format!("[void: {reason}] {}", short(accept)),
        },
        MessageBody::DealSignature(d) => format!("[deal signature] {}", short(&d.accept)),
    }
}

/// What a message in a thread is: chat, or which negotiation step. Read from the signed
/// message itself, never from its text, so chat that merely looks like "[accept] ..." is
/// still chat.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MessageKind {
    /// Text written by a person.
    Text,
    /// An offer.
    Offer,
    /// A counter-offer.
    Counter,
    /// An offer accepted.
    Accept,
    /// An offer declined.
    Decline,
    /// An offer taken back.
    Retract,
    /// An accepted deal voided.
    Void,
    /// A party's signature over the deal.
    DealSignature,
}

impl MessageKind {
    /// The kind of a message body.
    pub fn of(body: &MessageBody) -> MessageKind {
        match body {
            MessageBody::Text(_) => MessageKind::Text,
            MessageBody::Negotiation(m) => match m {
                Move::Offer(_) => MessageKind::Offer,
                Move::Counter(_) => MessageKind::Counter,
                Move::Accept { .. } => MessageKind::Accept,
                Move::Decline { .. } => MessageKind::Decline,
                Move::Retract { .. } => MessageKind::Retract,
                Move::Void { .. } => MessageKind::Void,
            },
            MessageBody::DealSignature(_) => MessageKind::DealSignature,
        }
    }
}

/// A sled error while doing `context`.
fn sled_err(context: &'static str) -> impl FnOnce(sled::Error) -> MessagingError {
    move |source| MessagingError::Store(StoreError::Sled { context, source })
}

/// My role in a thread.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// I asked about the listing.
    Buyer,
    /// The listing is mine.
    Seller,
}

/// Where a message I sent stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeliveryState {
    /// In the outbox: no receipt yet, still deliverable.
    Queued,
    /// The recipient's signed receipt came back.
    Delivered,
    /// Its time ran out with no receipt; it is no longer retried.
    Expired,
}

/// What [`Messenger::send_to_seller`] and [`Messenger::reply`] answer.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Sent {
    /// The thread it went into.
    pub thread: ThreadId,
    /// Its sequence number among my messages in the thread.
    pub seq: u64,
    /// The hash of the signed message (what receipts name).
    pub hash: EnvelopeHash,
    /// Always queued when returned: it is in the outbox, flushed.
    pub state: DeliveryState,
    /// When it stops being retried.
    pub expires_at: u64,
}

/// One message of a thread as the user sees it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct MessageView {
    /// The hash of the signed message.
    pub hash: EnvelopeHash,
    /// Whether I sent it.
    pub from_me: bool,
    /// Who sent it.
    pub sender: PublicKey,
    /// The sender's sequence number in the thread.
    pub seq: u64,
    /// When the sender says it was sent (unix seconds).
    pub sent_at: u64,
    /// When it expires (unix seconds).
    pub expires_at: u64,
    /// The text.
    pub text: String,
    /// Chat or which negotiation step, from the signed message.
    pub kind: MessageKind,
    /// Mine: where it stands.
    pub state: Option<DeliveryState>,
    /// Theirs: when it reached this node.
    pub received_at: Option<u64>,
    /// Theirs: whether the thread was viewed since it arrived (mine are always read).
    pub read: bool,
}

/// One thread in the inbox.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ThreadSummary {
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
    /// The last message shown (thread order).
    pub last: Option<MessageView>,
    /// Their messages not yet read.
    pub unread: usize,
    /// My messages still waiting for a receipt.
    pub queued: usize,
    /// When a message was last sent or received in it (unix seconds).
    pub updated_at: u64,
    /// Messages shown.
    pub messages: usize,
}

/// A thread with its messages.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ThreadView {
    /// The summary.
    pub summary: ThreadSummary,
    /// Each sender's messages by sequence number, the two senders interleaved by sent time
    /// (ties: sequence number, then sender key).
    pub messages: Vec<MessageView>,
}

/// What changed, for the network (a queued message to send) and the API's event stream.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum MessagingEvent {
    /// A message from the other party was stored.
    Message {
        /// Its thread.
        thread: ThreadId,
        /// Its hash.
        hash: EnvelopeHash,
        /// Its sender.
        from: PublicKey,
        /// Its sequence number.
        seq: u64,
    },
    /// A message of mine changed state (queued when sent, then delivered or expired).
    Delivery {
        /// Its thread.
        thread: ThreadId,
        /// Its hash.
        hash: EnvelopeHash,
        /// The new state.
        state: DeliveryState,
    },
}

/// The messaging service. Cheap to clone; all methods block on sled (call them from the
/// blocking pool in async code).
#[derive(Clone)]
pub struct Messenger {
    inner: Arc<Inner>,
}

struct Inner {
    key: SecretKey,
    me: PublicKey,
    my_tag: RecipientTag,
    config: MessagingConfig,
    /// Threads, messages, the sent index and the outbox.
    state: sled::Tree,
    /// The store's durability point: what is acknowledged waits for it.
    durable: crate::store::Durability,
    /// Held while a change to `state` is read, decided and written, so that two sends cannot
    /// take the same sequence number and a message cannot be stored twice.
    writer: Mutex<()>,
    mailbox: mailbox::Mailbox,
    events: broadcast::Sender<MessagingEvent>,
}

impl Messenger {
    /// Opens messaging in the node's store for the identity `key`, and rebuilds the mailbox's
    /// counters from the mail it holds.
    pub fn open(
        store: &Store,
        key: SecretKey,
        config: MessagingConfig,
    ) -> Result<Messenger, MessagingError> {
        config.check()?;
        let state = store.tree(TREE_STATE)?;
        let mailbox = mailbox::Mailbox::open(
            store.tree(TREE_MAILBOX)?,
            store.durability().clone(),
            &config,
        )?;
        let (events, _) = broadcast::channel(EVENT_CAPACITY);
        let me = key.public();
        Ok(Messenger {
            inner: Arc::new(Inner {
                my_tag: RecipientTag::of(&me),
                me,
                key,
                config,
                state,
                durable: store.durability().clone(),
                writer: Mutex::new(()),
                mailbox,
                events,
            }),
        })
    }

    /// Events from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<MessagingEvent> {
        self.inner.events.subscribe()
    }

    /// This node's identity.
    pub fn me(&self) -> PublicKey {
        self.inner.me
    }

    /// The settings in force.
    pub fn config(&self) -> &MessagingConfig {
        &self.inner.config
    }

    fn emit(&self, event: MessagingEvent) {
        // No listener is not an error: the state is in the store either way.
        let _ = self.inner.events.send(event);
    }

    fn lock_writer(&self) -> MutexGuard<'_, ()> {
        // The guard protects no data of its own (sled holds it), so a panic while it was held
        // leaves nothing half-changed in memory.
        self.inner.writer.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn put(&self, key: &[u8], value: Vec<u8>, context: &'static str) -> Result<(), MessagingError> {
        self.inner
            .state
            .insert(key, value)
            .map_err(sled_err(context))?;
        Ok(())
    }

    fn delete(&self, key: &[u8], context: &'static str) -> Result<(), MessagingError> {
        self.inner.state.remove(key).map_err(sled_err(context))?;
        Ok(())
    }

    /// Refuses a write while the disk is full (see [`crate::store::Durability::ensure_space`]).
    fn ensure_space(&self) -> Result<(), MessagingError> {
        self.inner
            .durable
            .ensure_space()
            .map_err(|e| MessagingError::Store(StoreError::DiskFull(e)))
    }

    fn flush(&self) -> Result<(), MessagingError> {
        self.inner
            .durable
            .sync()
            .map_err(sled_err("flushing messages to disk"))?;
        Ok(())
    }

    // ---- the mailbox this node keeps for others ----

    /// Holds `sealed` for its recipient on behalf of `depositor`. Idempotent for mail already
    /// held. Refused, with the limit named and nothing stored, when a quota is full or the
    /// expiry is past or too far ahead. Flushed before it returns.
    pub fn deposit(
        &self,
        depositor: &PublicKey,
        sealed: swapmeet_protocol::Sealed,
        now: u64,
    ) -> Result<(), DepositRefusal> {
        self.inner.mailbox.deposit(depositor, sealed, now)
    }

    /// Up to `max_bytes` of the mail held for `requester`, oldest first, and whether more
    /// remains. Expired mail is never returned. `max_bytes` must hold the largest sealed
    /// message (`MAX_SEALED_BYTES`), so that every call makes progress.
    pub fn collect(
        &self,
        requester: &PublicKey,
        max_bytes: usize,
        now: u64,
    ) -> Result<(Vec<swapmeet_protocol::Sealed>, bool), MessagingError> {
        self.inner.mailbox.collect(requester, max_bytes, now)
    }

    /// Deletes held mail by id, only mail held for `requester`. Returns how many were deleted.
    pub fn ack(
        &self,
        requester: &PublicKey,
        ids: &[EnvelopeHash],
    ) -> Result<usize, MessagingError> {
        self.inner.mailbox.ack(requester, ids)
    }

    /// Drops expired mail held for others and marks my expired messages.
    pub fn sweep(&self, now: u64) -> Result<(), MessagingError> {
        self.inner.mailbox.sweep(now)?;
        self.expire_outbox(now)?;
        Ok(())
    }

    /// What the mailbox holds.
    pub fn mailbox_stats(&self) -> MailboxStats {
        self.inner.mailbox.stats()
    }
}

#[cfg(test)]
pub(crate) mod test_util {
    //! Seeded parties and a store in a temporary directory.

    use super::*;
    use crate::store::StoreConfig;
    use swapmeet_protocol::EnvelopeHash;

    pub const NOW: u64 = 1_800_000_000;

    pub fn key(n: u8) -> SecretKey {
        SecretKey::from_bytes([n; 32])
    }

    pub fn seller_key() -> SecretKey {
        key(1)
    }
    pub fn buyer_key() -> SecretKey {
        key(2)
    }
    pub fn stranger_key() -> SecretKey {
        key(3)
    }

    /// A listing version of the seller's.
    pub fn about(item: &str) -> ListingRef {
        ListingRef {
            seller: seller_key().public(),
            item_key: item.to_string(),
            version: EnvelopeHash([9; 32]),
        }
    }

    pub fn store(dir: &std::path::Path) -> Store {
        Store::open(dir, &StoreConfig::default()).unwrap()
    }

    /// A node: its store directory and its messenger.
    pub struct Node {
        pub dir: tempfile::TempDir,
        pub key: SecretKey,
        pub m: Messenger,
    }

    impl Node {
        pub fn new(key: SecretKey) -> Node {
            Node::with_config(key, MessagingConfig::default())
        }
        pub fn with_config(key: SecretKey, config: MessagingConfig) -> Node {
            let dir = tempfile::tempdir().unwrap();
            let m = Messenger::open(&store(dir.path()), key.clone(), config).unwrap();
            Node { dir, key, m }
        }
        /// Drops the messenger and the store without any shutdown, then opens them again.
        pub fn reopen(self) -> Node {
            let Node { dir, key, m } = self;
            let config = m.config().clone();
            drop(m);
            let m = Messenger::open(&store(dir.path()), key.clone(), config).unwrap();
            Node { dir, key, m }
        }
        /// A node opened on a copy of this one's files taken now, while it runs: what a
        /// `kill -9` right after the last call returned would leave on disk.
        pub fn crash_copy(&self) -> Node {
            let dir = tempfile::tempdir().unwrap();
            for file in walk(self.dir.path()) {
                let to = dir.path().join(file.strip_prefix(self.dir.path()).unwrap());
                std::fs::create_dir_all(to.parent().unwrap()).unwrap();
                std::fs::copy(&file, &to).unwrap();
            }
            let m = Messenger::open(
                &store(dir.path()),
                self.key.clone(),
                self.m.config().clone(),
            )
            .unwrap();
            Node {
                dir,
                key: self.key.clone(),
                m,
            }
        }
        /// Everything in the sled files, for "nothing changed" and "no plaintext" checks.
        pub fn files(&self) -> Vec<u8> {
            let mut all = Vec::new();
            for entry in walk(self.dir.path()) {
                all.extend(std::fs::read(entry).unwrap());
            }
            all
        }
        /// The messaging trees' contents, to compare before and after a refused call.
        pub fn snapshot(&self) -> Vec<(Vec<u8>, Vec<u8>)> {
            let mut out = Vec::new();
            for tree in [&self.m.inner.state, self.m.inner.mailbox.tree()] {
                for kv in tree.iter() {
                    let (k, v) = kv.unwrap();
                    out.push((k.to_vec(), v.to_vec()));
                }
            }
            out
        }
    }

    fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
        let mut out = Vec::new();
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                out.extend(walk(&path));
            } else {
                out.push(path);
            }
        }
        out
    }

    /// The state of a message of mine, as its thread shows it.
    pub fn state_of(
        m: &Messenger,
        thread: &ThreadId,
        hash: &EnvelopeHash,
    ) -> Option<DeliveryState> {
        let view = m
            .thread(thread, false, NOW)
            .unwrap()
            .expect("thread exists");
        view.messages
            .iter()
            .find(|v| &v.hash == hash)
            .and_then(|v| v.state)
    }

    /// The sealed copy of a message I sent, from my outbox, as the wire would take it.
    pub fn sealed_of(from: &Messenger, hash: &EnvelopeHash) -> swapmeet_protocol::Sealed {
        from.outbox_sealed(hash)
            .expect("the message is in the outbox")
    }
}
