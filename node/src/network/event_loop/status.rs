//! The status the loop publishes for synchronous readers (the API), the peers list it builds
//! when asked, and the per-area counts it refreshes off the loop.

use std::sync::atomic::Ordering;

use swapmeet_protocol::limits::GOSSIP_ALL_AREA;

use super::{Done, EventLoop, Kind};
use crate::network::{NetworkStatus, PeerStateSizes, PeerView};

impl EventLoop {
    pub(super) fn count_areas(&mut self) {
        let engine = self.engine.clone();
        let areas = self.areas.clone();
        let tx = self.done_tx.clone();
        // At the cap (the last count still running) this turn is skipped.
        let _ = self.exec.spawn(Kind::Stats, move || {
            let counts = areas
                .into_iter()
                .map(|a| {
                    let n = if a == GOSSIP_ALL_AREA {
                        engine.stats().records
                    } else {
                        engine.store().area_len(&a)
                    };
                    (a, n)
                })
                .filter(|(_, n)| *n > 0)
                .collect();
            let _ = tx.blocking_send(Done::AreaCounts(counts));
        });
    }

    pub(super) fn publish_status(&mut self) {
        let me = *self.swarm.local_peer_id();
        let listen = self
            .swarm
            .listeners()
            .map(|a| match a.iter().last() {
                // A relay circuit's listen address already ends with this node's id.
                Some(libp2p::multiaddr::Protocol::P2p(_)) => a.to_string(),
                _ => format!("{a}/p2p/{me}"),
            })
            .collect();
        let syncing = self
            .sessions
            .iter()
            .map(|(p, s)| s.info(*p, None, None))
            .collect();
        let reachability = self.reach.status(
            &me,
            self.assume_public,
            self.swarm.behaviour().kad.mode() == libp2p::kad::Mode::Server,
            self.relay_serving,
        );
        let status = NetworkStatus {
            reachability,
            peer_id: me.to_string(),
            listen,
            connected_peers: self.swarm.connected_peers().count(),
            known_peers: self.addrbook.len(),
            following: Some(self.following.clone()),
            listings_per_area: self.area_counts.clone(),
            dht_records: self.swarm.behaviour_mut().kad.store_mut().len(),
            dht_lookups: self.dht_lookups,
            dht_puts: self.own_puts.counts,
            gossip: self.counters,
            syncing,
            last_sync: self.last_sync.clone(),
            syncs_completed: self.syncs_completed,
            sync_bytes_sent: self.wire.sent.load(Ordering::Relaxed),
            sync_bytes_received: self.wire.received.load(Ordering::Relaxed),
            messaging: self.msg.status(),
            blobs: self.blobs.status(self.exec.in_flight(Kind::BlobServe)),
            banned_peers: self.bans.len(),
            limits: super::super::limits::LimitsStatus {
                trimmed: self.conn_book.trimmed,
                ..self.swarm.behaviour().limits.status()
            },
            executor: self.exec.status(),
            peer_state: PeerStateSizes {
                peers: self.peer_meta.len(),
                strikes: self.strikes.len(),
                rejected: self.rejected_from.len(),
                sync_sessions: self.sessions.len(),
                gossip_buckets: self.gossip_buckets.len(),
                msg_buckets: self.msg.peer_state_len(),
                blob_buckets: self.blobs.peer_state_len(),
            },
        };
        if let Ok(mut s) = self.shared.status.write() {
            *s = status;
        }
    }

    /// A view of every connected peer, for `NetworkHandle::peers`.
    pub(super) fn peer_views(&self) -> Vec<PeerView> {
        self.swarm
            .connected_peers()
            .map(|p| {
                let m = self.peer_meta.get(p);
                PeerView {
                    peer_id: p.to_string(),
                    address: m.map(|m| m.address.to_string()).unwrap_or_default(),
                    direction: m.map(|m| m.direction).unwrap_or("unknown"),
                    agent: m.and_then(|m| m.agent.clone()),
                    score: self.swarm.behaviour().gossip.peer_score(p),
                    rejected: self.rejected_from.get(p).map_or(0, |r| r.count),
                    rejections: self
                        .rejected_from
                        .get(p)
                        .map(|r| r.recent.iter().cloned().collect())
                        .unwrap_or_default(),
                    strikes: self.strikes.get(p),
                }
            })
            .collect()
    }
}
