//! Private messages between real nodes in one process, over TCP on 127.0.0.1 with seeded
//! keys: direct delivery with a receipt, mailbox peers for an offline recipient, what a
//! mailbox peer can and cannot do with what it holds, and a flooding peer.
//!
//! Every wait has a deadline (`eventually`) and every test an overall timeout (`within`);
//! nothing asserts on timing.

use std::future::Future;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use swapmeet_node::engine::EngineConfig;
use swapmeet_node::messaging::{DeliveryState, MessagingConfig, Role, ThreadView};
use swapmeet_node::network::local::{loopback_config, LocalNode};
use swapmeet_node::network::messaging::bucket::Rate;
use swapmeet_node::network::messaging::{MsgRequest, MsgResponse};
use swapmeet_protocol::{EnvelopeHash, Sealed, SecretKey, ThreadId};
use tempfile::TempDir;

use crate::messaging_support;
use messaging_support::{about, fresh, key, now, sealed_from_buyer};

const DEADLINE: Duration = Duration::from_secs(60);
const TEST_TIMEOUT: Duration = Duration::from_secs(300);

async fn within<F: Future>(f: F) -> F::Output {
    tokio::time::timeout(TEST_TIMEOUT, f)
        .await
        .expect("the test did not finish in time")
}

async fn eventually<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let start = Instant::now();
    loop {
        if check().await {
            return;
        }
        assert!(
            start.elapsed() < DEADLINE,
            "gave up after {DEADLINE:?} waiting for: {what}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn start(dir: &Path, n: u8) -> LocalNode {
    start_with(dir, n, MessagingConfig::default(), None).await
}

async fn start_with(
    dir: &Path,
    n: u8,
    messaging: MessagingConfig,
    rate: Option<Rate>,
) -> LocalNode {
    let mut config = loopback_config(None);
    if let Some(r) = rate {
        config.msg_rate = r;
    }
    LocalNode::start_with(dir, key(n), config, EngineConfig::default(), messaging)
        .await
        .unwrap()
}

fn thread(node: &LocalNode, id: &ThreadId) -> Option<ThreadView> {
    node.messenger.thread(id, false, now()).unwrap()
}

fn state_of(node: &LocalNode, id: &ThreadId, hash: &EnvelopeHash) -> Option<DeliveryState> {
    thread(node, id)?
        .messages
        .into_iter()
        .find(|m| m.hash == *hash)
        .and_then(|m| m.state)
}

/// Every byte of every file under `dir`.
fn files(dir: &Path) -> Vec<u8> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        for e in std::fs::read_dir(dir).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                walk(&p, out);
            } else {
                out.push(p);
            }
        }
    }
    let mut paths = Vec::new();
    walk(dir, &mut paths);
    paths
        .into_iter()
        .flat_map(|p| std::fs::read(p).unwrap_or_default())
        .collect()
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_buyer_messages_an_online_seller_and_both_thread_views_agree() {
    within(async {
        let (sd, bd) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        let seller = start(sd.path(), 1).await;
        let buyer = start(bd.path(), 2).await;
        buyer.connect(&seller).await.unwrap();

        let sent = buyer
            .messenger
            .send_to_seller(
                about(&key(1), "bike"),
                "Is the bike still available?",
                now(),
            )
            .unwrap();
        assert_eq!(sent.state, DeliveryState::Queued);
        eventually("the buyer's message to be delivered", || async {
            state_of(&buyer, &sent.thread, &sent.hash) == Some(DeliveryState::Delivered)
        })
        .await;
        let theirs = thread(&seller, &sent.thread).expect("the seller has the thread");
        eventually("the seller's status to count the message", || async {
            seller.net().status().messaging.received >= 1
        })
        .await;
        assert_eq!(theirs.summary.role, Role::Seller);
        assert_eq!(theirs.summary.other, key(2).public());
        assert_eq!(theirs.messages.len(), 1);
        let m = &theirs.messages[0];
        assert!(!m.from_me);
        assert_eq!((m.hash, m.seq), (sent.hash, 1));
        assert_eq!(m.text, "Is the bike still available?");
        assert!(m.received_at.is_some());

        // The seller answers in the same thread; the buyer gets it and the seller the receipt.
        let reply = seller
            .messenger
            .reply(sent.thread, "Yes, until Sunday.", now())
            .unwrap();
        assert_eq!(reply.thread, sent.thread);
        eventually("the seller's reply to be delivered", || async {
            state_of(&seller, &sent.thread, &reply.hash) == Some(DeliveryState::Delivered)
        })
        .await;
        let mine = thread(&buyer, &sent.thread).unwrap();
        let theirs = thread(&seller, &sent.thread).unwrap();
        let conversation = |v: &ThreadView| {
            v.messages
                .iter()
                .map(|m| (m.hash, m.sender, m.seq, m.text.clone()))
                .collect::<Vec<_>>()
        };
        assert_eq!(conversation(&mine), conversation(&theirs));
        assert_eq!(
            conversation(&mine)
                .into_iter()
                .map(|(_, _, seq, text)| (seq, text))
                .collect::<Vec<_>>(),
            vec![
                (1, "Is the bike still available?".to_string()),
                (1, "Yes, until Sunday.".to_string())
            ]
        );
        // Each side sees its own message delivered and the other's as received.
        for (view, mine_is) in [(&mine, sent.hash), (&theirs, reply.hash)] {
            for m in &view.messages {
                if m.hash == mine_is {
                    assert!(m.from_me);
                    assert_eq!(m.state, Some(DeliveryState::Delivered));
                } else {
                    assert!(!m.from_me);
                    assert_eq!(m.state, None);
                    assert!(m.received_at.is_some());
                }
            }
        }
        eventually("the buyer's status to count the delivery", || async {
            let s = buyer.net().status().messaging;
            s.delivered >= 1 && s.outbox_queued == 0
        })
        .await;
        seller.stop().await.unwrap();
        buyer.stop().await.unwrap();
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_offline_seller_gets_the_message_from_mailbox_peers_and_the_buyer_sees_it_delivered() {
    within(async {
        let dirs: Vec<TempDir> = (0..5).map(|_| tempfile::tempdir().unwrap()).collect();
        let mut mailboxes = Vec::new();
        for (i, n) in [10u8, 11, 12].into_iter().enumerate() {
            mailboxes.push(start(dirs[i].path(), n).await);
        }
        mailboxes[0].connect(&mailboxes[1]).await.unwrap();
        mailboxes[1].connect(&mailboxes[2]).await.unwrap();
        mailboxes[2].connect(&mailboxes[0]).await.unwrap();
        let (seller_dir, buyer_dir) = (dirs[3].path(), dirs[4].path());
        let buyer = start(buyer_dir, 2).await;
        for m in &mailboxes {
            buyer.connect(m).await.unwrap();
        }

        // The seller has never been online: the buyer deposits a copy with each mailbox peer.
        let text = "Would you take 40 EUR for the lamp?";
        let sent = buyer
            .messenger
            .send_to_seller(about(&key(1), "lamp"), text, now())
            .unwrap();
        for m in &mailboxes {
            eventually("each mailbox peer to hold a copy", || async {
                m.messenger.mailbox_stats().messages == 1
            })
            .await;
        }
        assert_eq!(
            state_of(&buyer, &sent.thread, &sent.hash),
            Some(DeliveryState::Queued)
        );
        eventually("the buyer's status to show the message queued", || async {
            let s = buyer.net().status().messaging;
            s.outbox_queued == 1 && s.deposits_held >= 3
        })
        .await;
        // What a mailbox peer holds (on disk, flushed) does not contain the text.
        for (i, _) in mailboxes.iter().enumerate() {
            assert!(!contains(&files(dirs[i].path()), text.as_bytes()));
        }
        buyer.stop().await.unwrap();

        // The seller comes online and connects to one mailbox peer only.
        let seller = start(seller_dir, 1).await;
        seller.connect(&mailboxes[0]).await.unwrap();
        eventually("the seller to collect the message", || async {
            thread(&seller, &sent.thread).is_some_and(|v| v.messages.len() == 1)
        })
        .await;
        let v = thread(&seller, &sent.thread).unwrap();
        assert_eq!(v.messages[0].text, text);
        assert_eq!(v.messages[0].hash, sent.hash);
        eventually("the mailbox peer to drop the collected copy", || async {
            mailboxes[0].messenger.mailbox_stats().messages == 0
        })
        .await;
        // The seller stored it, so the check above could have found the text.
        assert!(contains(&files(seller_dir), text.as_bytes()));

        // The buyer comes back (to a mailbox peer, not to the seller) and learns it was
        // delivered: its retry finds the seller through the DHT and gets the receipt.
        let buyer = start(buyer_dir, 2).await;
        buyer.connect(&mailboxes[1]).await.unwrap();
        eventually("the buyer to see the message delivered", || async {
            state_of(&buyer, &sent.thread, &sent.hash) == Some(DeliveryState::Delivered)
        })
        .await;
        // Delivered once: the copies collected later or retried are duplicates.
        assert_eq!(thread(&seller, &sent.thread).unwrap().messages.len(), 1);
        buyer.stop().await.unwrap();
        seller.stop().await.unwrap();
        for m in mailboxes {
            m.stop().await.unwrap();
        }
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_mailbox_peer_cannot_alter_or_replay_and_quotas_and_expiry_hold() {
    within(async {
        let (md, sd, xd) = (
            tempfile::tempdir().unwrap(),
            tempfile::tempdir().unwrap(),
            tempfile::tempdir().unwrap(),
        );
        let quota = MessagingConfig {
            mailbox_per_depositor_messages: 4,
            ..MessagingConfig::default()
        };
        let mailbox = start_with(md.path(), 20, quota, None).await;
        // The depositor: a peer that relays what it has, raw.
        let relay = start(xd.path(), 22).await;
        relay.connect(&mailbox).await.unwrap();
        let (buyer, seller) = (key(23), key(21));
        let mb = mailbox.net().peer_id();
        let send = |req: MsgRequest| {
            let net = relay.net().clone();
            async move { net.msg_raw(mb, req).await.unwrap().unwrap() }
        };

        let genuine =
            sealed_from_buyer(&buyer, &seller, "desk", 1, "genuine hello", fresh(), now());
        // The relay flips the last byte of the ciphertext: still a well-formed sealed message.
        let mut altered = genuine.as_bytes().to_vec();
        let last = altered.len() - 1;
        altered[last] ^= 0x01;
        assert!(Sealed::decode(&altered).is_ok());
        // Another message with the same sender, thread and sequence number.
        let replayed = sealed_from_buyer(
            &buyer,
            &seller,
            "desk",
            1,
            "different words",
            fresh(),
            now(),
        );
        // A message about to expire.
        let t = now();
        let short = sealed_from_buyer(
            &buyer,
            &seller,
            "desk",
            2,
            "short-lived",
            (t - 10, t + 2),
            t,
        );
        // One that has expired already (valid when it was sent).
        let expired = sealed_from_buyer(
            &buyer,
            &seller,
            "desk",
            3,
            "long gone",
            (t - 100, t - 50),
            t - 60,
        );

        let held = MsgResponse::Held;
        assert_eq!(
            send(MsgRequest::Deposit(genuine.as_bytes().to_vec())).await,
            held
        );
        // Deposited twice: held once.
        assert_eq!(
            send(MsgRequest::Deposit(genuine.as_bytes().to_vec())).await,
            held
        );
        assert_eq!(send(MsgRequest::Deposit(altered)).await, held);
        assert_eq!(send(MsgRequest::Deposit(replayed.into_bytes())).await, held);
        assert_eq!(
            send(MsgRequest::Deposit(short.as_bytes().to_vec())).await,
            held
        );
        assert_eq!(mailbox.messenger.mailbox_stats().messages, 4);
        // Past the depositor's quota: refused with the limit named, nothing stored.
        let fifth = sealed_from_buyer(&buyer, &seller, "desk", 4, "one too many", fresh(), now());
        match send(MsgRequest::Deposit(fifth.into_bytes())).await {
            MsgResponse::Refused { reason } => {
                assert!(reason.contains("per depositor"), "{reason}");
                assert!(reason.contains('4'), "{reason}");
            }
            other => panic!("a deposit over quota was answered {other:?}"),
        }
        match send(MsgRequest::Deposit(expired.as_bytes().to_vec())).await {
            MsgResponse::Refused { reason } => assert!(reason.contains("expired"), "{reason}"),
            other => panic!("an expired deposit was answered {other:?}"),
        }
        assert_eq!(mailbox.messenger.mailbox_stats().messages, 4);
        assert!(!contains(&files(md.path()), b"genuine hello"));

        // Let the short-lived one expire before its recipient comes online.
        eventually("the short-lived message to expire", || async {
            now() > short.expires_at()
        })
        .await;
        let seller_node = start(sd.path(), 21).await;
        seller_node.connect(&mailbox).await.unwrap();
        eventually("the seller to collect what the mailbox holds", || async {
            mailbox
                .messenger
                .collect(&seller.public(), 1 << 20, now())
                .unwrap()
                .0
                .is_empty()
        })
        .await;
        let id = genuine_thread(&buyer, &seller);
        eventually(
            "the genuine message to be in the seller's thread",
            || async { thread(&seller_node, &id).is_some_and(|v| !v.messages.is_empty()) },
        )
        .await;
        // Only the genuine message shows: not the altered copy, not the replay, not the
        // expired ones.
        let texts = |n: &LocalNode| {
            n.messenger
                .inbox(now())
                .unwrap()
                .into_iter()
                .flat_map(|s| thread(n, &s.thread).unwrap().messages)
                .map(|m| m.text)
                .collect::<Vec<_>>()
        };
        assert_eq!(texts(&seller_node), vec!["genuine hello".to_string()]);

        // Straight to the seller, the same tricks are refused with the rule they broke.
        relay.connect(&seller_node).await.unwrap();
        let s = seller_node.net().peer_id();
        let direct = |req: MsgRequest| {
            let net = relay.net().clone();
            async move { net.msg_raw(s, req).await.unwrap().unwrap() }
        };
        let mut altered = genuine.as_bytes().to_vec();
        altered[last] ^= 0x01;
        for (what, bytes) in [
            ("altered", altered),
            ("expired", expired.as_bytes().to_vec()),
            (
                "replayed",
                sealed_from_buyer(&buyer, &seller, "desk", 1, "again other", fresh(), now())
                    .into_bytes(),
            ),
        ] {
            match direct(MsgRequest::Deliver(bytes)).await {
                MsgResponse::Refused { reason } => assert!(!reason.is_empty(), "{what}"),
                other => panic!("a {what} message was answered {other:?}"),
            }
        }
        // The genuine one again is a duplicate: the same receipt, still one message.
        assert!(matches!(
            direct(MsgRequest::Deliver(genuine.as_bytes().to_vec())).await,
            MsgResponse::Receipt(_)
        ));
        assert_eq!(texts(&seller_node), vec!["genuine hello".to_string()]);
        for n in [mailbox, relay, seller_node] {
            n.stop().await.unwrap();
        }
    })
    .await
}

fn genuine_thread(buyer: &SecretKey, seller: &SecretKey) -> ThreadId {
    ThreadId::derive(&about(seller, "desk").id(), &buyer.public())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_of_ten_times_the_rate_leaves_the_node_responsive_within_its_quota() {
    within(async {
        let dirs: Vec<TempDir> = (0..3).map(|_| tempfile::tempdir().unwrap()).collect();
        let rate = Rate {
            per_sec: 2.0,
            burst: 5,
        };
        let quota = 4;
        let target = start_with(
            dirs[0].path(),
            30,
            MessagingConfig {
                mailbox_per_depositor_messages: quota,
                ..MessagingConfig::default()
            },
            Some(rate),
        )
        .await;
        let flooder = start(dirs[1].path(), 31).await;
        let buyer = start(dirs[2].path(), 32).await;
        flooder.connect(&target).await.unwrap();
        buyer.connect(&target).await.unwrap();

        // 50 distinct, valid deposits at once: ten times what the bucket lets through.
        let (sender, offline) = (key(34), key(35));
        let deposits: Vec<Vec<u8>> = (1..=50)
            .map(|seq| {
                sealed_from_buyer(&sender, &offline, "sofa", seq, "buy it", fresh(), now())
                    .into_bytes()
            })
            .collect();
        let t = target.net().peer_id();
        let answers = futures::future::join_all(deposits.into_iter().map(|d| {
            let net = flooder.net().clone();
            async move { net.msg_raw(t, MsgRequest::Deposit(d)).await.unwrap() }
        }))
        .await;
        // Each is held, refused with a reason, or cut short when the target cut the flooder off.
        let mut held = 0;
        for a in &answers {
            match a {
                Ok(MsgResponse::Held) => held += 1,
                Ok(MsgResponse::Refused { reason }) => assert!(
                    reason.contains("rate limit") || reason.contains("per depositor"),
                    "{reason}"
                ),
                Ok(other) => panic!("a deposit was answered {other:?}"),
                Err(_) => {}
            }
        }
        assert!(
            held <= quota,
            "{held} deposits held past the quota of {quota}"
        );
        assert!(target.messenger.mailbox_stats().messages <= quota);
        eventually("the target's status to count refused requests", || async {
            target.net().status().messaging.requests_refused > 0
        })
        .await;

        // The node goes on: an honest peer's message is delivered and answered with a receipt.
        let sent = buyer
            .messenger
            .send_to_seller(about(&key(30), "sofa"), "Is the sofa still there?", now())
            .unwrap();
        eventually("the honest message to be delivered", || async {
            state_of(&buyer, &sent.thread, &sent.hash) == Some(DeliveryState::Delivered)
        })
        .await;
        // And the flooder is cut off.
        let f = flooder.net().peer_id();
        eventually("the flooder to be cut off", || async {
            !target.net().connected_peers().await.unwrap().contains(&f)
        })
        .await;
        assert!(target.messenger.mailbox_stats().messages <= quota);
        for n in [target, flooder, buyer] {
            n.stop().await.unwrap();
        }
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_recipient_collects_more_mail_than_one_answer_holds_and_the_mailbox_empties() {
    within(async {
        let (md, sd, xd) = (
            tempfile::tempdir().unwrap(),
            tempfile::tempdir().unwrap(),
            tempfile::tempdir().unwrap(),
        );
        let mailbox = start(md.path(), 40).await;
        let relay = start(xd.path(), 42).await;
        relay.connect(&mailbox).await.unwrap();
        let (buyer, seller) = (key(43), key(41));
        // 150 messages of about 1,800 characters: each seals to the 2,048-byte bucket, so
        // together they are more than one Collect answer carries.
        let n = 150u64;
        let long = "x".repeat(1800);
        let mb = mailbox.net().peer_id();
        for seq in 1..=n {
            let text = format!("{seq:03} {long}");
            let sealed = sealed_from_buyer(&buyer, &seller, "piano", seq, &text, fresh(), now());
            let answer = relay
                .net()
                .msg_raw(mb, MsgRequest::Deposit(sealed.into_bytes()))
                .await
                .unwrap()
                .unwrap();
            assert_eq!(answer, MsgResponse::Held);
        }
        let held = mailbox.messenger.mailbox_stats();
        assert_eq!(held.messages, n as usize);
        assert!(
            held.bytes > u64::from(swapmeet_node::network::messaging::COLLECT_BYTES),
            "{held:?}"
        );

        let seller_node = start(sd.path(), 41).await;
        seller_node.connect(&mailbox).await.unwrap();
        let id = ThreadId::derive(&about(&seller, "piano").id(), &buyer.public());
        eventually("every message to reach the seller", || async {
            thread(&seller_node, &id).is_some_and(|v| v.messages.len() == n as usize)
        })
        .await;
        eventually("the mailbox to drop what was collected", || async {
            mailbox.messenger.mailbox_stats().messages == 0
        })
        .await;
        // In the sender's order, each once.
        let seqs: Vec<u64> = thread(&seller_node, &id)
            .unwrap()
            .messages
            .iter()
            .map(|m| m.seq)
            .collect();
        assert_eq!(seqs, (1..=n).collect::<Vec<_>>());
        for node in [mailbox, relay, seller_node] {
            node.stop().await.unwrap();
        }
    })
    .await
}
