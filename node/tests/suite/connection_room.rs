//! A node whose connections reach its budget keeps room for the peers it needs: it closes the
//! least useful connections (peers of other areas first) so a newcomer of its own area gets in,
//! and keeps the peers of its area (`network/trim.rs`). Real nodes on loopback; nothing is
//! timed, every wait has a deadline.

use std::time::Duration;

use swapmeet_node::network::local::{loopback_config, LocalNode};
use swapmeet_protocol::SecretKey;
use tempfile::TempDir;

use crate::local_support::{eventually, BERLIN};

const MADRID: (f64, f64) = (40.417, -3.704);

async fn node(key: u8, home: (f64, f64), per_direction: usize) -> (LocalNode, TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let mut config = loopback_config(Some(home));
    config.sync_interval = Duration::from_secs(3600);
    config.limits.per_direction = per_direction;
    // Every node of the test dials from 127.0.0.1.
    config.limits.per_ip = 64;
    let node = LocalNode::start(dir.path(), SecretKey::from_bytes([key; 32]), config)
        .await
        .unwrap();
    (node, dir)
}

/// Dials the hub until connected: its short-lived AutoNAT dial-back connections can hold a
/// slot for a moment while the test fills the others.
async fn join(n: &LocalNode, hub: &libp2p::Multiaddr) {
    eventually("a peer to connect to the hub", || async {
        n.net().dial(hub.clone()).await.is_ok()
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_node_closes_other_areas_connections_to_let_its_own_area_in() {
    // 16 inbound connections at most: trimming starts above 14 and stops at 12.
    let (hub, _dh) = node(200, BERLIN, 16).await;
    let hub_id = hub.net().peer_id();
    // Its TCP address, read now: once at its cap the hub refuses AutoNAT's dial-backs too, may
    // take itself for unreachable and list a relayed address first.
    let hub_addr = hub.addr().await.unwrap();
    let mut dirs = Vec::new();
    let mut berlin = Vec::new();
    let mut madrid = Vec::new();
    for i in 0..8u8 {
        let (n, d) = node(201 + i, BERLIN, 96).await;
        join(&n, &hub_addr).await;
        berlin.push(n);
        dirs.push(d);
    }
    for i in 0..8u8 {
        let (n, d) = node(211 + i, MADRID, 96).await;
        join(&n, &hub_addr).await;
        madrid.push(n);
        dirs.push(d);
    }
    let (newcomer, _dn) = node(230, BERLIN, 96).await;
    let newcomer_id = newcomer.net().peer_id();
    // The hub is at its cap: the newcomer is turned away until the hub makes room (after the
    // others' first 30 s, during which a connection is never closed).
    eventually("the newcomer to get in once the hub makes room", || async {
        let _ = newcomer.net().dial(hub_addr.clone()).await;
        tokio::time::sleep(Duration::from_millis(500)).await;
        hub.net()
            .connected_peers()
            .await
            .unwrap()
            .contains(&newcomer_id)
    })
    .await;
    // The room came from the other area: of 16 (8 + 8), the hub closed Madrid peers (those
    // still in their first 30 s waited for, not replaced by Berlin ones) until it was at or
    // under 14 with the newcomer. (A closed Madrid node may dial back in for a DHT query.)
    let madrid_ids: Vec<_> = madrid.iter().map(|n| n.net().peer_id()).collect();
    eventually(
        "the hub to close at least 2 of the other area's 8 peers",
        || async {
            let connected = hub.net().connected_peers().await.unwrap();
            madrid_ids.iter().filter(|p| connected.contains(p)).count() <= 6
        },
    )
    .await;
    let connected = hub.net().connected_peers().await.unwrap();
    for n in &berlin {
        assert!(
            connected.contains(&n.net().peer_id()),
            "a peer of the hub's own area was closed"
        );
    }
    assert!(connected.contains(&newcomer_id), "the newcomer was closed");
    eventually(
        "the hub's status to count the connections it closed",
        || async { hub.net().status().limits.trimmed >= 2 },
    )
    .await;
    // The closed peers are not strangers now: a Madrid node still reaches the hub when it
    // needs to (the hub keeps room under its cap).
    let closed = madrid
        .iter()
        .find(|n| !connected.contains(&n.net().peer_id()))
        .expect("a closed Madrid peer");
    eventually("a closed peer to connect again", || async {
        closed.net().dial(hub_addr.clone()).await.is_ok()
    })
    .await;
    assert!(closed
        .net()
        .connected_peers()
        .await
        .unwrap()
        .contains(&hub_id));
    for n in berlin.into_iter().chain(madrid).chain([newcomer]) {
        n.stop().await.unwrap();
    }
    hub.stop().await.unwrap();
}
