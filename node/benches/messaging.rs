//! Private-message benchmark (issue 11's figures), on loopback with real nodes in one process:
//! 1. seal and open throughput on one core;
//! 2. send -> delivered receipt back, to an online peer, over 1,000 messages sent one at a time;
//! 3. an offline recipient comes back: from its first dial until all of 100 messages waiting in
//!    three mailbox peers are in its inbox;
//! 4. the mailbox's disk use per stored message.
//!
//! Run: `cargo bench -p swapmeet-node --bench messaging`.

use std::path::Path;
use std::time::{Duration, Instant};

use swapmeet_node::authoring::ListingDraft;
use swapmeet_node::messaging::{DeliveryState, MessagingConfig, MessagingEvent, Messenger};
use swapmeet_node::network::local::{loopback_config, LocalNode};
use swapmeet_node::{Engine, EngineConfig};
use swapmeet_protocol::{
    open, seal, DirectMessage, EnvelopeHash, ListingRef, MessageBody, SecretKey, ThreadId,
};

/// Where the online bench's two nodes live (the seller's listing needs a location).
const BERLIN: (f64, f64) = (52.52, 13.405);

const TEXT: &str = "Hi! Is the bike still available? I could come by on Saturday morning \
                    and pay cash; would you take 250?";

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

fn dir_bytes(dir: &Path) -> u64 {
    let mut total = 0;
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let m = e.metadata().unwrap();
        total += if m.is_dir() {
            dir_bytes(&e.path())
        } else {
            m.len()
        };
    }
    total
}

/// A message from `buyer` to the seller of `about`, signed and verified.
fn message(
    buyer: &SecretKey,
    about: &ListingRef,
    seq: u64,
    t: u64,
) -> swapmeet_protocol::Verified<DirectMessage> {
    let m = DirectMessage {
        recipient: about.seller,
        buyer: buyer.public(),
        thread: ThreadId::derive(&about.id(), &buyer.public()),
        seq,
        sent_at: t,
        expires_at: t + 86_400,
        about: about.clone(),
        body: MessageBody::Text(format!("{TEXT} ({seq})")),
    };
    m.sign(buyer).unwrap().verify_message(t).unwrap()
}

fn fake_ref(seller: &SecretKey, n: u32) -> ListingRef {
    ListingRef {
        seller: seller.public(),
        item_key: format!("item-{n}"),
        version: EnvelopeHash([n as u8; 32]),
    }
}

fn seal_open() {
    let seller = SecretKey::from_bytes([1; 32]);
    let buyer = SecretKey::from_bytes([2; 32]);
    let about = fake_ref(&seller, 1);
    let t = now();
    let n = 5_000u64;
    let msgs: Vec<_> = (1..=n).map(|i| message(&buyer, &about, i, t)).collect();
    let start = Instant::now();
    let sealed: Vec<_> = msgs
        .iter()
        .map(|m| seal(m, &seller.public()).unwrap())
        .collect();
    let seal_secs = start.elapsed().as_secs_f64();
    let start = Instant::now();
    for s in &sealed {
        open(s, &seller, t).unwrap();
    }
    let open_secs = start.elapsed().as_secs_f64();
    println!(
        "seal: {:.0}/s, open (decrypt + verify): {:.0}/s on one core; a {}-character message seals to {} bytes",
        n as f64 / seal_secs,
        n as f64 / open_secs,
        TEXT.len() + 6,
        sealed[0].as_bytes().len()
    );
}

async fn wait_delivered(
    rx: &mut tokio::sync::broadcast::Receiver<MessagingEvent>,
    hash: EnvelopeHash,
) {
    loop {
        match rx.recv().await {
            Ok(MessagingEvent::Delivery { hash: h, state, .. })
                if h == hash && state == DeliveryState::Delivered =>
            {
                return
            }
            Ok(_) => {}
            Err(e) => panic!("event stream: {e}"),
        }
    }
}

/// A listing of `node`'s and the reference a buyer's message carries.
fn listing_of(node: &LocalNode) -> ListingRef {
    let draft = ListingDraft {
        title: Some("Blue road bike, 56 cm".into()),
        price: Some("280 EUR".into()),
        ..ListingDraft::default()
    };
    let p = node.author.create(&draft).unwrap();
    let v = node.engine.get_verified(&p.id).unwrap().unwrap();
    ListingRef {
        seller: v.signer(),
        item_key: v.payload().item_key().to_string(),
        version: v.hash(),
    }
}

async fn online_round_trip() {
    let dir = tempfile::tempdir().unwrap();
    let seller = LocalNode::start(
        &dir.path().join("s"),
        SecretKey::from_bytes([11; 32]),
        loopback_config(Some(BERLIN)),
    )
    .await
    .unwrap();
    let buyer = LocalNode::start(
        &dir.path().join("b"),
        SecretKey::from_bytes([12; 32]),
        loopback_config(Some(BERLIN)),
    )
    .await
    .unwrap();
    buyer.connect(&seller).await.unwrap();
    let about = listing_of(&seller);
    let mut rx = buyer.messenger.subscribe();
    let mut times = Vec::with_capacity(1000);
    for i in 0..1000 {
        let m = buyer.messenger.clone();
        let a = about.clone();
        let start = Instant::now();
        let sent = tokio::task::spawn_blocking(move || {
            m.send_to_seller(a, &format!("{TEXT} ({i})"), now())
        })
        .await
        .unwrap()
        .unwrap();
        wait_delivered(&mut rx, sent.hash).await;
        times.push(start.elapsed());
    }
    times.sort();
    println!(
        "online peer, send -> delivered receipt, 1,000 messages one at a time: p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
        percentile(&times, 0.5).as_secs_f64() * 1e3,
        percentile(&times, 0.99).as_secs_f64() * 1e3,
        times[times.len() - 1].as_secs_f64() * 1e3
    );
    buyer.stop().await.unwrap();
    seller.stop().await.unwrap();
}

async fn offline_comes_back() {
    let dir = tempfile::tempdir().unwrap();
    let seller_key = SecretKey::from_bytes([21; 32]);
    let buyer = LocalNode::start(
        &dir.path().join("b"),
        SecretKey::from_bytes([22; 32]),
        loopback_config(None),
    )
    .await
    .unwrap();
    let mut mailboxes = Vec::new();
    for i in 0..3u8 {
        let m = LocalNode::start(
            &dir.path().join(format!("m{i}")),
            SecretKey::from_bytes([30 + i; 32]),
            loopback_config(None),
        )
        .await
        .unwrap();
        buyer.connect(&m).await.unwrap();
        mailboxes.push(m);
    }
    for i in 0..3 {
        for j in 0..3 {
            if i < j {
                mailboxes[i].connect(&mailboxes[j]).await.unwrap();
            }
        }
    }
    let about = fake_ref(&seller_key, 7);
    for i in 0..100 {
        let m = buyer.messenger.clone();
        let a = about.clone();
        tokio::task::spawn_blocking(move || m.send_to_seller(a, &format!("{TEXT} ({i})"), now()))
            .await
            .unwrap()
            .unwrap();
    }
    // Every message deposited with all three mailboxes.
    let deposited = Instant::now();
    loop {
        let held: usize = mailboxes
            .iter()
            .map(|m| m.messenger.mailbox_stats().messages)
            .sum();
        if held >= 300 {
            break;
        }
        assert!(
            deposited.elapsed() < Duration::from_secs(300),
            "only {held} of 300 copies deposited"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    buyer.stop().await.unwrap();

    let seller = LocalNode::start(&dir.path().join("s"), seller_key, loopback_config(None))
        .await
        .unwrap();
    let mut rx = seller.messenger.subscribe();
    let start = Instant::now();
    for m in &mailboxes {
        seller.connect(m).await.unwrap();
    }
    let mut got = std::collections::HashSet::new();
    while got.len() < 100 {
        match tokio::time::timeout(Duration::from_secs(300), rx.recv()).await {
            Ok(Ok(MessagingEvent::Message { hash, .. })) => {
                got.insert(hash);
            }
            Ok(Ok(_)) => {}
            other => panic!("waiting for mail: {other:?}"),
        }
    }
    println!(
        "offline recipient reconnects to 3 mailbox peers: all 100 waiting messages in its inbox after {:.0} ms",
        start.elapsed().as_secs_f64() * 1e3
    );
    seller.stop().await.unwrap();
    for m in mailboxes {
        m.stop().await.unwrap();
    }
}

fn mailbox_disk() {
    let dir = tempfile::tempdir().unwrap();
    let (engine, _) = Engine::open(dir.path(), EngineConfig::default()).unwrap();
    let config = MessagingConfig {
        mailbox_per_recipient_messages: 1_000_000,
        mailbox_per_recipient_bytes: 1 << 40,
        mailbox_per_depositor_messages: 1_000_000,
        mailbox_per_depositor_bytes: 1 << 40,
        mailbox_total_bytes: 1 << 40,
        ..MessagingConfig::default()
    };
    let keeper = Messenger::open(engine.store(), SecretKey::from_bytes([40; 32]), config).unwrap();
    engine.store().flush().unwrap();
    let before = dir_bytes(dir.path());
    let t = now();
    let n = 10_000u32;
    let mut sealed_bytes = 0u64;
    for i in 0..n {
        let seller = SecretKey::from_bytes([(i % 100) as u8 + 50; 32]);
        let buyer = SecretKey::from_bytes([(i / 100 % 100) as u8 + 150; 32]);
        let about = fake_ref(&seller, i);
        let s = seal(&message(&buyer, &about, 1, t), &seller.public()).unwrap();
        sealed_bytes += s.as_bytes().len() as u64;
        keeper.deposit(&buyer.public(), s, t).unwrap();
    }
    engine.store().flush().unwrap();
    let after = dir_bytes(dir.path());
    println!(
        "mailbox disk: {} messages held, {:.0} bytes of sealed message each, {:.0} bytes of disk each (sled directory growth)",
        keeper.mailbox_stats().messages,
        sealed_bytes as f64 / n as f64,
        after.saturating_sub(before) as f64 / n as f64
    );
    engine.shutdown().unwrap();
}

fn main() {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|c| {
            c.lines()
                .find(|l| l.starts_with("model name"))
                .map(|l| l.split(':').nth(1).unwrap_or("").trim().to_string())
        })
        .unwrap_or_default();
    println!(
        "messaging bench on {cpu}, {} cores",
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1)
    );
    seal_open();
    mailbox_disk();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(online_round_trip());
    rt.block_on(offline_comes_back());
}
