//! Sealed mail this node holds for others while they are offline, within quotas.
//!
//! A depositor hands over a [`Sealed`] message; the mailbox learns only its recipient tag, its
//! size (a padded bucket) and its expiry, and stores exactly the sealed bytes. The recipient
//! collects its mail when it connects and acknowledges what it stored, which deletes it here.
//!
//! Keys in [`super::TREE_MAILBOX`] are recipient tag || arrival number (big-endian), so a
//! recipient's mail is one prefix scan, oldest first. The value is the depositor's key and the
//! sealed bytes. The counters the quotas need (per recipient, per depositor, in total) and the
//! expiry agenda are kept in memory and rebuilt from the tree when the node starts, so they can
//! never disagree with what is stored after a crash.

use std::collections::{BTreeSet, HashMap};
use std::sync::{Mutex, MutexGuard};

use serde::Serialize;
use swapmeet_protocol::limits::{MAX_CLOCK_SKEW_SECS, MAX_MESSAGE_LIFETIME_SECS, MAX_SEALED_BYTES};
use swapmeet_protocol::{EnvelopeHash, PublicKey, RecipientTag, Sealed};

use super::codec::{u64_at_end, Reader, Writer};
use super::{sled_err, MessagingConfig, MessagingError, TREE_MAILBOX};

const MAIL_FORMAT: u8 = 1;

/// Why a deposit was refused. The wire sends the text as the refusal reason, so each names
/// the limit that was hit. Nothing is stored when a deposit is refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum DepositRefusal {
    /// The recipient's share of this mailbox is full.
    #[error("mailbox quota per recipient is full: at most {limit_messages} messages and {limit_bytes} bytes per recipient")]
    RecipientFull {
        /// Messages per recipient.
        limit_messages: usize,
        /// Sealed bytes per recipient.
        limit_bytes: u64,
    },
    /// The depositor's share of this mailbox is full.
    #[error("mailbox quota per depositor is full: at most {limit_messages} messages and {limit_bytes} bytes per depositing peer")]
    DepositorFull {
        /// Messages per depositor.
        limit_messages: usize,
        /// Sealed bytes per depositor.
        limit_bytes: u64,
    },
    /// The mailbox as a whole is full.
    #[error("mailbox is full: at most {limit_bytes} bytes in total")]
    MailboxFull {
        /// Sealed bytes in total.
        limit_bytes: u64,
    },
    /// The message has already expired.
    #[error("the message expired at {expires_at} (now is {now})")]
    Expired {
        /// Its expiry.
        expires_at: u64,
        /// The time of the check.
        now: u64,
    },
    /// The expiry is further ahead than any message may live.
    #[error(
        "the message expires at {expires_at}, more than {limit_secs} seconds from now ({now})"
    )]
    TooLong {
        /// Its expiry.
        expires_at: u64,
        /// The longest lifetime plus the clock skew allowed.
        limit_secs: u64,
        /// The time of the check.
        now: u64,
    },
    /// Not a sealed message this mailbox can hold.
    #[error("invalid deposit: {0}")]
    Invalid(String),
    /// The mailbox's storage failed; the depositor should try another peer.
    #[error("the mailbox could not store the message: {0}")]
    Store(String),
}

/// What the mailbox holds.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct MailboxStats {
    /// Sealed messages held.
    pub messages: usize,
    /// Their sealed bytes.
    pub bytes: u64,
    /// Distinct recipients (tags) they are for.
    pub recipients: usize,
}

/// Messages and bytes held for one party.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct Usage {
    messages: usize,
    bytes: u64,
}

impl Usage {
    fn add(&mut self, len: u64) {
        self.messages += 1;
        self.bytes += len;
    }
    /// Returns whether nothing is left.
    fn sub(&mut self, len: u64) -> bool {
        self.messages = self.messages.saturating_sub(1);
        self.bytes = self.bytes.saturating_sub(len);
        self.messages == 0
    }
}

/// One held message, in memory.
#[derive(Clone, Debug)]
struct Held {
    key: Vec<u8>,
    tag: [u8; 32],
    depositor: [u8; 32],
    len: u64,
    expires_at: u64,
}

/// The counters and lookups, derived from the tree.
#[derive(Default)]
struct Index {
    held: HashMap<EnvelopeHash, Held>,
    recipients: HashMap<[u8; 32], Usage>,
    depositors: HashMap<[u8; 32], Usage>,
    total: Usage,
    /// (expires_at, id): the sweeper's agenda.
    expiry: BTreeSet<(u64, EnvelopeHash)>,
    /// The arrival number of the next deposit.
    next: u64,
}

impl Index {
    fn link(&mut self, id: EnvelopeHash, held: Held) {
        self.recipients.entry(held.tag).or_default().add(held.len);
        self.depositors
            .entry(held.depositor)
            .or_default()
            .add(held.len);
        self.total.add(held.len);
        self.expiry.insert((held.expires_at, id));
        self.held.insert(id, held);
    }

    fn unlink(&mut self, id: &EnvelopeHash) -> Option<Held> {
        let held = self.held.remove(id)?;
        if self
            .recipients
            .get_mut(&held.tag)
            .is_some_and(|u| u.sub(held.len))
        {
            self.recipients.remove(&held.tag);
        }
        if self
            .depositors
            .get_mut(&held.depositor)
            .is_some_and(|u| u.sub(held.len))
        {
            self.depositors.remove(&held.depositor);
        }
        self.total.sub(held.len);
        self.expiry.remove(&(held.expires_at, *id));
        Some(held)
    }
}

fn mail_key(tag: &[u8; 32], arrival: u64) -> Vec<u8> {
    let mut k = Vec::with_capacity(40);
    k.extend_from_slice(tag);
    k.extend_from_slice(&arrival.to_be_bytes());
    k
}

/// Reads a stored value: the depositor and the sealed message.
fn decode_mail(bytes: &[u8]) -> Result<([u8; 32], Sealed), String> {
    let mut r = Reader::new(bytes, TREE_MAILBOX, MAIL_FORMAT).map_err(|e| e.to_string())?;
    let depositor = r.key().map_err(|e| e.to_string())?;
    let sealed = r.bytes().map_err(|e| e.to_string())?;
    let sealed = Sealed::decode(sealed).map_err(|e| e.to_string())?;
    r.end().map_err(|e| e.to_string())?;
    Ok((depositor, sealed))
}

/// The mailbox.
pub(super) struct Mailbox {
    tree: sled::Tree,
    /// A deposit is acknowledged to its depositor only once durable.
    durable: crate::store::Durability,
    config: MessagingConfig,
    index: Mutex<Index>,
}

impl Mailbox {
    /// Opens the mailbox and rebuilds its counters from what it holds. Values that no longer
    /// read as sealed mail are dropped (with a warning): they are others' mail that could not be
    /// handed out anyway, and must not keep the node from starting.
    pub(super) fn open(
        tree: sled::Tree,
        durable: crate::store::Durability,
        config: &MessagingConfig,
    ) -> Result<Mailbox, MessagingError> {
        let mut index = Index::default();
        let mut damaged = Vec::new();
        for kv in tree.iter() {
            let (k, v) = kv.map_err(sled_err("reading the mailbox"))?;
            let tag: Option<[u8; 32]> = k.get(..32).and_then(|t| t.try_into().ok());
            match (tag, decode_mail(&v)) {
                (Some(tag), Ok((depositor, sealed)))
                    if k.len() == 40
                        && *sealed.tag().as_bytes() == tag
                        && !index.held.contains_key(&sealed.id()) =>
                {
                    let arrival = u64_at_end(&k, TREE_MAILBOX)?;
                    index.next = index.next.max(arrival.saturating_add(1));
                    let held = Held {
                        key: k.to_vec(),
                        tag,
                        depositor,
                        len: sealed.as_bytes().len() as u64,
                        expires_at: sealed.expires_at(),
                    };
                    index.link(sealed.id(), held);
                }
                (_, result) => {
                    let reason = result
                        .err()
                        .unwrap_or_else(|| "key does not match its mail, or a second copy".into());
                    tracing::warn!(%reason, "dropping a damaged mailbox entry");
                    damaged.push(k);
                }
            }
        }
        for k in damaged {
            tree.remove(k)
                .map_err(sled_err("dropping a damaged mailbox entry"))?;
        }
        Ok(Mailbox {
            tree,
            durable,
            config: config.clone(),
            index: Mutex::new(index),
        })
    }

    fn lock(&self) -> MutexGuard<'_, Index> {
        // Index updates are made after the tree write succeeded, each a set of plain inserts;
        // a panic between them could at worst skew a counter until the next start.
        self.index.lock().unwrap_or_else(|p| p.into_inner())
    }

    #[cfg(test)]
    pub(super) fn tree(&self) -> &sled::Tree {
        &self.tree
    }

    pub(super) fn deposit(
        &self,
        depositor: &PublicKey,
        sealed: Sealed,
        now: u64,
    ) -> Result<(), DepositRefusal> {
        let expires_at = sealed.expires_at();
        if expires_at <= now {
            return Err(DepositRefusal::Expired { expires_at, now });
        }
        let limit_secs = MAX_MESSAGE_LIFETIME_SECS + MAX_CLOCK_SKEW_SECS;
        if expires_at > now.saturating_add(limit_secs) {
            return Err(DepositRefusal::TooLong {
                expires_at,
                limit_secs,
                now,
            });
        }
        let id = sealed.id();
        let tag = *sealed.tag().as_bytes();
        let len = sealed.as_bytes().len() as u64;
        let c = &self.config;
        let mut index = self.lock();
        if index.held.contains_key(&id) {
            return Ok(());
        }
        let for_recipient = index.recipients.get(&tag).copied().unwrap_or_default();
        if for_recipient.messages >= c.mailbox_per_recipient_messages
            || for_recipient.bytes + len > c.mailbox_per_recipient_bytes
        {
            return Err(DepositRefusal::RecipientFull {
                limit_messages: c.mailbox_per_recipient_messages,
                limit_bytes: c.mailbox_per_recipient_bytes,
            });
        }
        let from_depositor = index
            .depositors
            .get(depositor.as_bytes())
            .copied()
            .unwrap_or_default();
        if from_depositor.messages >= c.mailbox_per_depositor_messages
            || from_depositor.bytes + len > c.mailbox_per_depositor_bytes
        {
            return Err(DepositRefusal::DepositorFull {
                limit_messages: c.mailbox_per_depositor_messages,
                limit_bytes: c.mailbox_per_depositor_bytes,
            });
        }
        if index.total.bytes + len > c.mailbox_total_bytes {
            return Err(DepositRefusal::MailboxFull {
                limit_bytes: c.mailbox_total_bytes,
            });
        }
        if let Err(e) = self.durable.ensure_space() {
            return Err(DepositRefusal::Store(e.to_string()));
        }
        let key = mail_key(&tag, index.next);
        let value = Writer::new(MAIL_FORMAT)
            .key(depositor.as_bytes())
            .bytes(sealed.as_bytes())
            .finish();
        let stored = self
            .tree
            .insert(&key, value)
            .and_then(|_| self.durable.sync());
        if let Err(e) = stored {
            // Undo what may have been written so that a refusal stores nothing.
            let _ = self.tree.remove(&key);
            return Err(DepositRefusal::Store(e.to_string()));
        }
        index.next = index.next.saturating_add(1);
        index.link(
            id,
            Held {
                key,
                tag,
                depositor: *depositor.as_bytes(),
                len,
                expires_at,
            },
        );
        Ok(())
    }

    pub(super) fn collect(
        &self,
        requester: &PublicKey,
        max_bytes: usize,
        now: u64,
    ) -> Result<(Vec<Sealed>, bool), MessagingError> {
        if max_bytes < MAX_SEALED_BYTES {
            return Err(MessagingError::CollectTooSmall {
                max_bytes,
                min: MAX_SEALED_BYTES,
            });
        }
        let tag = RecipientTag::of(requester);
        let mut out = Vec::new();
        let mut used = 0usize;
        for kv in self.tree.scan_prefix(tag.as_bytes()) {
            let (_, v) = kv.map_err(sled_err("reading the mailbox"))?;
            let Ok((_, sealed)) = decode_mail(&v) else {
                // Checked when the node started; a value damaged since is skipped.
                continue;
            };
            if sealed.expires_at() <= now {
                continue;
            }
            let len = sealed.as_bytes().len();
            if used + len > max_bytes {
                return Ok((out, true));
            }
            used += len;
            out.push(sealed);
        }
        Ok((out, false))
    }

    pub(super) fn ack(
        &self,
        requester: &PublicKey,
        ids: &[EnvelopeHash],
    ) -> Result<usize, MessagingError> {
        let tag = RecipientTag::of(requester);
        let mut index = self.lock();
        let mut gone = 0;
        for id in ids {
            let Some(held) = index.held.get(id) else {
                continue;
            };
            if held.tag != *tag.as_bytes() {
                continue;
            }
            // One by one, not flushed: mail acknowledged but still here after a crash is handed
            // out again, and is a duplicate to the recipient.
            self.tree
                .remove(&held.key)
                .map_err(sled_err("deleting collected mail"))?;
            index.unlink(id);
            gone += 1;
        }
        Ok(gone)
    }

    pub(super) fn sweep(&self, now: u64) -> Result<(), MessagingError> {
        let mut index = self.lock();
        let expired: Vec<EnvelopeHash> = index
            .expiry
            .range(..=(now, EnvelopeHash([0xff; 32])))
            .map(|(_, id)| *id)
            .collect();
        for id in &expired {
            if let Some(held) = index.held.get(id) {
                self.tree
                    .remove(&held.key)
                    .map_err(sled_err("dropping expired mail"))?;
            }
            index.unlink(id);
        }
        Ok(())
    }

    pub(super) fn stats(&self) -> MailboxStats {
        let index = self.lock();
        MailboxStats {
            messages: index.total.messages,
            bytes: index.total.bytes,
            recipients: index.recipients.len(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_util::*;
    use super::super::Messenger;
    use super::*;

    /// `n` sealed messages from the buyer to the seller (sent one second apart).
    fn mail(buyer: &Node, n: usize) -> Vec<Sealed> {
        (0..n)
            .map(|i| {
                let text = format!("message {i}");
                let sent = buyer
                    .m
                    .send_to_seller(about("bike"), &text, NOW + i as u64)
                    .unwrap();
                sealed_of(&buyer.m, &sent.hash)
            })
            .collect()
    }

    fn depositor() -> PublicKey {
        key(5).public()
    }

    fn mailbox_with(config: MessagingConfig) -> Node {
        Node::with_config(key(9), config)
    }

    fn ids(m: &Messenger, who: &PublicKey, at: u64) -> Vec<EnvelopeHash> {
        m.collect(who, 1 << 20, at)
            .unwrap()
            .0
            .iter()
            .map(Sealed::id)
            .collect()
    }

    #[test]
    fn each_quota_refuses_with_its_limit_named_and_stores_nothing() {
        let buyer = Node::new(buyer_key());
        let items = mail(&buyer, 4);
        let len = items[0].as_bytes().len() as u64;
        assert!(
            items.iter().all(|s| s.as_bytes().len() as u64 == len),
            "one bucket"
        );

        // Per recipient, by count.
        let mb = mailbox_with(MessagingConfig {
            mailbox_per_recipient_messages: 2,
            ..Default::default()
        });
        mb.m.deposit(&depositor(), items[0].clone(), NOW).unwrap();
        mb.m.deposit(&depositor(), items[1].clone(), NOW).unwrap();
        let before = mb.snapshot();
        let refusal =
            mb.m.deposit(&key(6).public(), items[2].clone(), NOW)
                .unwrap_err();
        assert!(matches!(
            refusal,
            DepositRefusal::RecipientFull {
                limit_messages: 2,
                ..
            }
        ));
        assert!(
            refusal.to_string().contains("at most 2 messages"),
            "{refusal}"
        );
        assert_eq!(mb.snapshot(), before);
        assert_eq!(mb.m.mailbox_stats().messages, 2);

        // Per recipient, by bytes.
        let mb = mailbox_with(MessagingConfig {
            mailbox_per_recipient_bytes: 2 * len + len / 2,
            ..Default::default()
        });
        mb.m.deposit(&depositor(), items[0].clone(), NOW).unwrap();
        mb.m.deposit(&depositor(), items[1].clone(), NOW).unwrap();
        let refusal =
            mb.m.deposit(&depositor(), items[2].clone(), NOW)
                .unwrap_err();
        assert!(
            matches!(refusal, DepositRefusal::RecipientFull { .. }),
            "{refusal}"
        );
        assert!(refusal
            .to_string()
            .contains(&format!("{} bytes", 2 * len + len / 2)));

        // Per depositor: another depositor still gets in.
        let mb = mailbox_with(MessagingConfig {
            mailbox_per_depositor_messages: 1,
            ..Default::default()
        });
        mb.m.deposit(&depositor(), items[0].clone(), NOW).unwrap();
        let before = mb.snapshot();
        let refusal =
            mb.m.deposit(&depositor(), items[1].clone(), NOW)
                .unwrap_err();
        assert!(matches!(
            refusal,
            DepositRefusal::DepositorFull {
                limit_messages: 1,
                ..
            }
        ));
        assert!(
            refusal.to_string().contains("per depositing peer"),
            "{refusal}"
        );
        assert_eq!(mb.snapshot(), before);
        mb.m.deposit(&key(6).public(), items[1].clone(), NOW)
            .unwrap();

        // In total.
        let mb = mailbox_with(MessagingConfig {
            mailbox_total_bytes: 3 * len,
            ..Default::default()
        });
        for item in &items[..3] {
            mb.m.deposit(&depositor(), item.clone(), NOW).unwrap();
        }
        let before = mb.snapshot();
        let refusal =
            mb.m.deposit(&depositor(), items[3].clone(), NOW)
                .unwrap_err();
        assert_eq!(
            refusal,
            DepositRefusal::MailboxFull {
                limit_bytes: 3 * len
            }
        );
        assert_eq!(mb.snapshot(), before);

        // The same mail again is held once and costs no quota.
        mb.m.deposit(&key(6).public(), items[0].clone(), NOW)
            .unwrap();
        assert_eq!(
            mb.m.mailbox_stats(),
            MailboxStats {
                messages: 3,
                bytes: 3 * len,
                recipients: 1
            }
        );
    }

    #[test]
    fn expired_mail_and_mail_expiring_too_far_ahead_are_refused() {
        let buyer = Node::new(buyer_key());
        let item = mail(&buyer, 1).remove(0);
        let mb = mailbox_with(MessagingConfig::default());
        let at = item.expires_at();
        assert_eq!(
            mb.m.deposit(&depositor(), item.clone(), at).unwrap_err(),
            DepositRefusal::Expired {
                expires_at: at,
                now: at
            }
        );
        let limit_secs = MAX_MESSAGE_LIFETIME_SECS + MAX_CLOCK_SKEW_SECS;
        let early = at - limit_secs - 1;
        let refusal = mb.m.deposit(&depositor(), item.clone(), early).unwrap_err();
        assert!(matches!(refusal, DepositRefusal::TooLong { .. }));
        assert!(
            refusal.to_string().contains(&limit_secs.to_string()),
            "{refusal}"
        );
        assert_eq!(mb.m.mailbox_stats(), MailboxStats::default());
        assert!(mb.snapshot().is_empty());
        mb.m.deposit(&depositor(), item, early + 1).unwrap();
    }

    #[test]
    fn collect_returns_only_the_requesters_mail_oldest_first_within_max_bytes() {
        let buyer = Node::new(buyer_key());
        let for_seller = mail(&buyer, 3);
        let other = Node::new(stranger_key());
        let for_buyer = {
            let sent = other
                .m
                .send_to_seller(about("lamp"), "to the seller too", NOW)
                .unwrap();
            sealed_of(&other.m, &sent.hash)
        };
        // A seller answers the stranger: mail for the stranger.
        let seller = Node::new(seller_key());
        let thread = {
            seller.m.receive(&for_buyer, NOW).unwrap();
            seller.m.inbox(NOW).unwrap()[0].thread
        };
        let answer = seller.m.reply(thread, "answer", NOW).unwrap();
        let for_stranger = sealed_of(&seller.m, &answer.hash);

        let mb = mailbox_with(MessagingConfig::default());
        // Deposited out of order: collect returns arrival order.
        for item in [
            &for_seller[2],
            &for_stranger,
            &for_seller[0],
            &for_seller[1],
        ] {
            mb.m.deposit(&depositor(), item.clone(), NOW).unwrap();
        }
        let expected: Vec<_> = [&for_seller[2], &for_seller[0], &for_seller[1]]
            .iter()
            .map(|s| s.id())
            .collect();
        assert_eq!(ids(&mb.m, &seller_key().public(), NOW), expected);
        assert_eq!(
            ids(&mb.m, &stranger_key().public(), NOW),
            [for_stranger.id()]
        );
        assert!(ids(&mb.m, &buyer_key().public(), NOW).is_empty());

        // Bounded by max_bytes, with `more`.
        let len = for_seller[0].as_bytes().len();
        let budget = MAX_SEALED_BYTES.max(2 * len);
        let fit = budget / len;
        let (some, more) = mb.m.collect(&seller_key().public(), budget, NOW).unwrap();
        assert_eq!(some.len(), fit.min(3));
        assert_eq!(more, fit < 3);
        assert!(matches!(
            mb.m.collect(&seller_key().public(), MAX_SEALED_BYTES - 1, NOW),
            Err(MessagingError::CollectTooSmall { .. })
        ));

        // Ack deletes only the requester's own mail.
        let all: Vec<_> = expected
            .iter()
            .chain([&for_stranger.id()])
            .copied()
            .collect();
        assert_eq!(mb.m.ack(&buyer_key().public(), &all).unwrap(), 0);
        assert_eq!(mb.m.ack(&stranger_key().public(), &all).unwrap(), 1);
        assert_eq!(mb.m.ack(&stranger_key().public(), &all).unwrap(), 0);
        assert_eq!(mb.m.ack(&seller_key().public(), &expected[..2]).unwrap(), 2);
        assert_eq!(ids(&mb.m, &seller_key().public(), NOW), [expected[2]]);
        assert_eq!(
            mb.m.mailbox_stats(),
            MailboxStats {
                messages: 1,
                bytes: len as u64,
                recipients: 1
            }
        );
    }

    #[test]
    fn sweep_drops_expired_mail_and_collect_never_returns_it() {
        let buyer = Node::new(buyer_key());
        let items = mail(&buyer, 2); // expire one second apart
        let mb = mailbox_with(MessagingConfig::default());
        for item in &items {
            mb.m.deposit(&depositor(), item.clone(), NOW).unwrap();
        }
        let first_gone = items[0].expires_at();
        assert_eq!(
            ids(&mb.m, &seller_key().public(), first_gone),
            [items[1].id()]
        );
        mb.m.sweep(first_gone - 1).unwrap();
        assert_eq!(mb.m.mailbox_stats().messages, 2);
        mb.m.sweep(first_gone).unwrap();
        assert_eq!(mb.m.mailbox_stats().messages, 1);
        let mb = mb.reopen();
        assert_eq!(mb.m.mailbox_stats().messages, 1);
        mb.m.sweep(items[1].expires_at()).unwrap();
        assert_eq!(mb.m.mailbox_stats(), MailboxStats::default());
        assert!(mb.snapshot().is_empty());
    }

    #[test]
    fn counters_and_quotas_survive_a_crash() {
        let buyer = Node::new(buyer_key());
        let items = mail(&buyer, 3);
        let mb = mailbox_with(MessagingConfig {
            mailbox_per_recipient_messages: 2,
            ..Default::default()
        });
        mb.m.deposit(&depositor(), items[0].clone(), NOW).unwrap();
        mb.m.deposit(&depositor(), items[1].clone(), NOW).unwrap();
        let stats = mb.m.mailbox_stats();
        let after = mb.crash_copy();
        assert_eq!(after.m.mailbox_stats(), stats);
        assert!(matches!(
            after.m.deposit(&depositor(), items[2].clone(), NOW),
            Err(DepositRefusal::RecipientFull { .. })
        ));
        // Arrival order continues after the restart.
        after
            .m
            .ack(&seller_key().public(), &[items[0].id()])
            .unwrap();
        after
            .m
            .deposit(&depositor(), items[2].clone(), NOW)
            .unwrap();
        assert_eq!(
            ids(&after.m, &seller_key().public(), NOW),
            [items[1].id(), items[2].id()]
        );
    }

    #[test]
    fn a_damaged_mailbox_entry_is_dropped_at_start_and_the_rest_kept() {
        let buyer = Node::new(buyer_key());
        let items = mail(&buyer, 2);
        let mb = mailbox_with(MessagingConfig::default());
        mb.m.deposit(&depositor(), items[0].clone(), NOW).unwrap();
        let tree = mb.m.inner.mailbox.tree().clone();
        tree.insert([0xff; 40], b"not mail".to_vec()).unwrap();
        tree.insert(b"short", b"not mail".to_vec()).unwrap();
        drop(tree);
        let mb = mb.reopen();
        assert_eq!(mb.m.mailbox_stats().messages, 1);
        assert_eq!(mb.snapshot().len(), 1, "the damaged entries are gone");
        mb.m.deposit(&depositor(), items[1].clone(), NOW).unwrap();
        assert_eq!(
            ids(&mb.m, &seller_key().public(), NOW),
            [items[0].id(), items[1].id()]
        );
    }

    #[test]
    fn a_mailbox_stores_only_sealed_bytes() {
        const CANARY: &str = "PLAINTEXT-CANARY-offer-42-euros";
        let buyer = Node::new(buyer_key());
        let sent = buyer.m.send_to_seller(about("bike"), CANARY, NOW).unwrap();
        let sealed = sealed_of(&buyer.m, &sent.hash);
        let mb = mailbox_with(MessagingConfig::default());
        mb.m.deposit(&depositor(), sealed.clone(), NOW).unwrap();
        mb.m.inner.state.flush().unwrap();
        let contains = |hay: &[u8], needle: &[u8]| hay.windows(needle.len()).any(|w| w == needle);
        // The check can see plaintext: the sender's own store has it.
        buyer.m.inner.state.flush().unwrap();
        assert!(contains(&buyer.files(), CANARY.as_bytes()));
        let files = mb.files();
        assert!(
            contains(&files, sealed.as_bytes()),
            "the sealed bytes are stored"
        );
        assert!(
            !contains(&files, CANARY.as_bytes()),
            "the mailbox holds plaintext"
        );
    }
}
