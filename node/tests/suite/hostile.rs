//! Hostile peers: real libp2p peers in the test process that flood gossip, send garbage sync
//! requests, put invalid DHT records, or open thousands of connections. The node under attack
//! must keep answering, store nothing over its limits, and ban the peer for a while.
//!
//! Every wait has an overall deadline (`eventually`); nothing asserts a duration.

use std::future::Future;
use std::time::{Duration, Instant};

use futures::StreamExt;
use libp2p::swarm::{NetworkBehaviour, SwarmEvent};
use libp2p::{identity, kad, noise, tcp, yamux, Multiaddr, PeerId, StreamProtocol, Swarm};
use swapmeet_node::network::local::{loopback_config, LocalNode};
use swapmeet_node::network::messaging::bucket::Rate;
use swapmeet_node::network::sync::SyncRequest;
use swapmeet_node::network::{dht, NetworkConfig};
use swapmeet_node::synth::Synth;
use swapmeet_protocol::limits::KAD_PROTOCOL;
use swapmeet_protocol::{ListingId, SecretKey};
use tempfile::TempDir;

const DEADLINE: Duration = Duration::from_secs(90);

fn key(n: u8) -> SecretKey {
    SecretKey::from_bytes([n; 32])
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

async fn node(n: u8, tweak: impl Fn(&mut NetworkConfig)) -> (LocalNode, TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let mut config = loopback_config(None);
    tweak(&mut config);
    let node = LocalNode::start(dir.path(), key(n), config).await.unwrap();
    (node, dir)
}

async fn connected(a: &LocalNode, b: PeerId) -> bool {
    a.net().connected_peers().await.unwrap().contains(&b)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_peer_flooding_gossip_at_ten_times_the_rate_is_banned() {
    // The victim allows 20 gossip messages a second per peer, 40 at once.
    let rate = Rate {
        per_sec: 20.0,
        burst: 40,
    };
    let (victim, _d1) = node(1, |c| c.gossip_rate = rate).await;
    let (hostile, _d2) = node(2, |_| {}).await;
    hostile.connect(&victim).await.unwrap();
    let hostile_id = hostile.net().peer_id();
    let mut synth = Synth::new(7, 50, victim.engine.now());
    // Wait for the mesh: a publication fails while the victim is not subscribed yet.
    eventually("the hostile peer to see the victim's subscription", || {
        let bytes = synth.signed().as_bytes().to_vec();
        let h = hostile.net().clone();
        async move { h.publish_raw("all", bytes).await.is_ok() }
    })
    .await;

    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let asker = {
        let stop = stop_rx.clone();
        let v = victim.net().clone();
        let engine = victim.engine.clone();
        tokio::spawn(async move {
            let mut answered = 0u64;
            while !*stop.borrow() {
                let _ = v.status();
                v.connected_peers().await.unwrap();
                let e = engine.clone();
                tokio::task::spawn_blocking(move || e.stats())
                    .await
                    .unwrap();
                answered += 1;
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            answered
        })
    };
    // Ten times the rate: 200 a second, for up to 5 s or until the victim hangs up.
    let mut sent = 0u64;
    let mut tick = tokio::time::interval(Duration::from_millis(5));
    for _ in 0..1000 {
        tick.tick().await;
        if hostile
            .net()
            .publish_raw("all", synth.signed().as_bytes().to_vec())
            .await
            .is_err()
        {
            break;
        }
        sent += 1;
    }
    eventually("the victim to ban the flooding peer", || async {
        victim.net().status().banned_peers >= 1 && !connected(&victim, hostile_id).await
    })
    .await;
    stop_tx.send(true).unwrap();
    let answered = asker.await.unwrap();
    assert!(answered > 0);

    let s = victim.net().status();
    assert!(s.gossip.rate_limited > 0, "{:?}", s.gossip);
    // Nothing over the limit was stored: what was stored was admitted by the rate limit.
    let admitted = s.gossip.received - s.gossip.rate_limited;
    let stored = victim.engine.stats().records as u64;
    assert!(stored <= admitted, "stored {stored}, admitted {admitted}");
    assert!(stored < sent, "stored {stored} of {sent} sent");
    // And it stays out: a new connection is refused.
    let victim_id = victim.net().peer_id();
    let _ = hostile.connect(&victim).await;
    eventually("the banned peer's new connection to close", || async {
        !connected(&hostile, victim_id).await
    })
    .await;
    hostile.stop().await.unwrap();
    victim.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_peer_sending_garbage_sync_requests_is_banned_for_a_while() {
    let (victim, _d1) = node(11, |c| c.ban_for = Duration::from_secs(2)).await;
    let (hostile, _d2) = node(12, |_| {}).await;
    hostile.connect(&victim).await.unwrap();
    let (hostile_id, victim_id) = (hostile.net().peer_id(), victim.net().peer_id());
    let before = victim.engine.stats().records;
    for _ in 0..3 {
        hostile
            .net()
            .sync_raw(
                victim_id,
                SyncRequest::Reconcile {
                    areas: vec!["all".into()],
                    message: vec![0x61, 0x00, 0x00, 0x01],
                },
            )
            .await
            .unwrap();
    }
    eventually("the victim to ban the peer", || async {
        victim.net().status().banned_peers == 1 && !connected(&victim, hostile_id).await
    })
    .await;
    assert_eq!(victim.engine.stats().records, before);
    // The ban ends: the peer may connect again.
    eventually("the ban to expire", || async {
        victim.net().status().banned_peers == 0
    })
    .await;
    hostile.connect(&victim).await.unwrap();
    eventually("the peer to be back", || async {
        connected(&victim, hostile_id).await
    })
    .await;
    hostile.stop().await.unwrap();
    victim.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn strikes_survive_a_reconnect() {
    let (victim, _d1) = node(13, |_| {}).await;
    let (hostile, _d2) = node(14, |_| {}).await;
    let (hostile_id, victim_id) = (hostile.net().peer_id(), victim.net().peer_id());
    let garbage = || SyncRequest::Reconcile {
        areas: vec!["all".into()],
        message: vec![0x61, 0x00, 0x00, 0x01],
    };
    hostile.connect(&victim).await.unwrap();
    for _ in 0..2 {
        hostile.net().sync_raw(victim_id, garbage()).await.unwrap();
    }
    eventually("two strikes against the peer", || async {
        victim
            .net()
            .peers()
            .await
            .unwrap()
            .iter()
            .any(|p| p.peer_id == hostile_id.to_string() && p.strikes == 2)
    })
    .await;
    // It leaves (and so would have wiped its record) and comes back.
    hostile.net().block(victim_id).await.unwrap();
    eventually("the peer to be gone", || async {
        !connected(&victim, hostile_id).await
    })
    .await;
    // The status is a snapshot refreshed every 500 ms.
    eventually("the strikes kept after the peer left", || async {
        victim.net().status().peer_state.strikes == 1
    })
    .await;
    hostile.net().unblock(victim_id).await.unwrap();
    hostile.connect(&victim).await.unwrap();
    // One more strike is its third: banned.
    hostile.net().sync_raw(victim_id, garbage()).await.unwrap();
    eventually("the victim to ban the peer", || async {
        victim.net().status().banned_peers == 1 && !connected(&victim, hostile_id).await
    })
    .await;
    hostile.stop().await.unwrap();
    victim.stop().await.unwrap();
}

/// A bare libp2p peer speaking only Kademlia, to put what it likes into the victim's DHT.
#[derive(NetworkBehaviour)]
struct KadOnly {
    kad: kad::Behaviour<kad::store::MemoryStore>,
}

fn raw_swarm<B: NetworkBehaviour>(make: impl FnOnce(&identity::Keypair) -> B) -> Swarm<B> {
    libp2p::SwarmBuilder::with_new_identity()
        .with_tokio()
        .with_tcp(
            tcp::Config::default(),
            noise::Config::new,
            yamux::Config::default,
        )
        .unwrap()
        .with_behaviour(|k| make(k))
        .unwrap()
        .with_swarm_config(|c| c.with_idle_connection_timeout(Duration::from_secs(60)))
        .build()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_peer_putting_invalid_dht_records_is_banned() {
    // A DHT server (no other node is here to confirm it public by AutoNAT).
    let (victim, _d1) = node(21, |c| c.reach.assume_public = true).await;
    let victim_id = victim.net().peer_id();
    let victim_addr = victim.addr().await.unwrap();
    let mut swarm = raw_swarm(|k| {
        let local = k.public().to_peer_id();
        let mut kad = kad::Behaviour::with_config(
            local,
            kad::store::MemoryStore::new(local),
            kad::Config::new(StreamProtocol::new(KAD_PROTOCOL)),
        );
        kad.set_mode(Some(kad::Mode::Client));
        KadOnly { kad }
    });
    let hostile_id = *swarm.local_peer_id();
    swarm
        .behaviour_mut()
        .kad
        .add_address(&victim_id, victim_addr.clone());
    swarm.dial(victim_addr).unwrap();
    // Records under listing keys whose values are not signed listings.
    let mut puts = 0u8;
    let deadline = Instant::now() + DEADLINE;
    loop {
        if victim.net().status().banned_peers >= 1 && !connected(&victim, hostile_id).await {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the victim never banned the peer"
        );
        if puts < 10 {
            let record = kad::Record::new(
                dht::listing_key(&ListingId::from_bytes([puts; 16])),
                b"not a signed listing".to_vec(),
            );
            let _ = swarm
                .behaviour_mut()
                .kad
                .put_record(record, kad::Quorum::One);
            puts += 1;
        }
        let _ = tokio::time::timeout(Duration::from_millis(100), swarm.select_next_some()).await;
    }
    assert_eq!(victim.net().status().dht_records, 0);
    victim.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn thousands_of_connections_from_one_address_are_refused_and_the_address_banned() {
    let (victim, _d1) = node(31, |c| {
        c.limits.per_ip = 8;
        c.limits.refusals_to_ban = 100;
    })
    .await;
    let addr = victim.addr().await.unwrap();
    let port = addr
        .iter()
        .find_map(|p| match p {
            libp2p::multiaddr::Protocol::Tcp(p) => Some(p),
            _ => None,
        })
        .unwrap();
    // 2,000 TCP connections from 127.0.0.2, held open, 64 at a time.
    let target: std::net::SocketAddr = ([127, 0, 0, 1], port).into();
    let mut held = Vec::new();
    let mut opened = 0;
    for chunk in 0..(2000 / 64) {
        let mut set = tokio::task::JoinSet::new();
        for _ in 0..64 {
            set.spawn(async move {
                let s = tokio::net::TcpSocket::new_v4().ok()?;
                s.bind(([127, 0, 0, 2], 0).into()).ok()?;
                tokio::time::timeout(Duration::from_secs(5), s.connect(target))
                    .await
                    .ok()?
                    .ok()
            });
        }
        while let Some(r) = set.join_next().await {
            if let Some(s) = r.unwrap() {
                opened += 1;
                held.push(s);
            }
        }
        let _ = chunk;
    }
    assert!(opened > 0);
    eventually("the victim to ban the address", || async {
        victim.net().status().limits.banned_addresses == 1
    })
    .await;
    let s = victim.net().status();
    assert!(s.limits.refused_inbound >= 100, "{:?}", s.limits);
    // A peer from another address still gets in and is served.
    let (friend, _d2) = node(32, |_| {}).await;
    let victim_id = victim.net().peer_id();
    // Dialled until it connects: once, under the full parallel test run (thousands of
    // sockets of other tests in TIME_WAIT), the friend's own dial failed locally with "address
    // already in use" (os error 98) before reaching the node; the cause was not pinned down.
    // A refusal by the node would never let the friend in, and the wait would fail.
    eventually("the friend to connect", || async {
        let _ = friend.connect(&victim).await;
        connected(&friend, victim_id).await
    })
    .await;
    drop(held);
    friend.stop().await.unwrap();
    victim.stop().await.unwrap();
}

/// A bare peer that only connects.
#[derive(NetworkBehaviour)]
struct Bare {
    ping: libp2p::ping::Behaviour,
}

fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|n| n.parse().ok())
        })
        .unwrap_or(0)
}

async fn come_and_go(addr: Multiaddr, victim_id: PeerId) {
    let mut swarm = raw_swarm(|_| Bare {
        ping: libp2p::ping::Behaviour::default(),
    });
    swarm.dial(addr).unwrap();
    let deadline = Instant::now() + DEADLINE;
    loop {
        assert!(Instant::now() < deadline, "a peer never connected");
        match tokio::time::timeout(Duration::from_secs(5), swarm.select_next_some()).await {
            Ok(SwarmEvent::ConnectionEstablished { peer_id, .. }) if peer_id == victim_id => {
                return;
            }
            Ok(SwarmEvent::OutgoingConnectionError { error, .. }) => {
                panic!("a peer could not connect: {error}")
            }
            _ => {}
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_thousand_peers_come_and_go_and_every_per_peer_map_is_pruned() {
    // All from 127.0.0.1, eight at a time; a closing connection may still count for a moment.
    let (victim, _d1) = node(41, |c| c.limits.per_ip = 64).await;
    let victim_id = victim.net().peer_id();
    let addr = victim.addr().await.unwrap();
    let rss_before = rss_kib();
    let mut done = 0;
    while done < 10_000 {
        let mut set = tokio::task::JoinSet::new();
        for _ in 0..8 {
            set.spawn(come_and_go(addr.clone(), victim_id));
        }
        while let Some(r) = set.join_next().await {
            r.unwrap();
            done += 1;
        }
    }
    // A peer returns once its side of the handshake is done; the victim's side may still be
    // finishing (and then failing), so the maps settle a moment later. A map that leaked
    // would never settle.
    eventually("every peer to be gone and its state pruned", || async {
        let s = victim.net().status();
        s.connected_peers == 0
            && s.peer_state.is_empty()
            && s.limits.peers == 0
            && s.limits.addresses == 0
    })
    .await;
    eprintln!(
        "RSS before {rss_before} KiB, after 10,000 peers came and went {} KiB",
        rss_kib()
    );
    victim.stop().await.unwrap();
}
