//! Kademlia as the loop drives it: records peers put (checked off the loop), area providers,
//! listing look-ups and peer routing.

use libp2p::kad::store::RecordStore;
use libp2p::kad::{self, GetRecordOk, QueryId, QueryResult};
use libp2p::swarm::dial_opts::DialOpts;
use libp2p::PeerId;

use swapmeet_protocol::limits::GOSSIP_ALL_AREA;
use swapmeet_protocol::ListingId;
use tokio::sync::oneshot;

use super::{Done, EventLoop, Kind};
use crate::network::dht;

/// Connected peers on an area's topic a node looks for; beyond them, providers found for the
/// area are not dialled (gossipsub's mesh wants 6, and a connection costs upkeep and a slot
/// of the node's budget, `network/trim.rs`).
pub(super) const WANTED_AREA_PEERS: usize = 8;
/// The same for `all`: nodes that follow everything, asked for what the areas lack.
const WANTED_ALL_PEERS: usize = 2;
/// The longest an area waits for its next provider look-up after look-ups that found nobody
/// new to dial: a small town's area can never have its wanted peers, and newcomers to it find
/// this node through its own announcement anyway.
const MAX_LOOKUP_WAIT: std::time::Duration = std::time::Duration::from_secs(4 * 60 * 60);

/// Area announcements and provider look-ups (PROTOCOL.md 10.4, "Area providers").
#[derive(Default)]
pub(super) struct AreaDiscovery {
    /// Areas whose announcement query finished; Kademlia republishes them itself
    /// (`kad_config`'s provider publication interval).
    announced: std::collections::HashSet<String>,
    /// Announcement queries under way, by area.
    announcing: std::collections::HashMap<QueryId, String>,
    /// Provider look-ups under way: the area and how many providers they dialled.
    looking: std::collections::HashMap<QueryId, (String, usize)>,
    /// Per area, when its next look-up may run and the wait after one that finds nobody new
    /// (doubled each time, from [`PROVIDE_EVERY`](super::PROVIDE_EVERY) to
    /// [`MAX_LOOKUP_WAIT`]; back to the start when a look-up dials someone).
    waits: std::collections::HashMap<String, (std::time::Instant, std::time::Duration)>,
    /// Whether the first round (with a Kademlia bootstrap) ran.
    started: bool,
}

pub(super) struct GetQuery {
    pub(super) id: ListingId,
    pub(super) reply: Option<oneshot::Sender<Option<Vec<u8>>>>,
    pub(super) best: Option<(dht::Meta, Vec<u8>)>,
}

impl AreaDiscovery {
    /// An area's provider look-up ended having dialled `dialled` providers: the next waits a
    /// tick if it found someone, twice as long as the last wait if not.
    fn looked_up(&mut self, area: String, dialled: usize) {
        let start = super::PROVIDE_EVERY;
        let wait = match self.waits.get(&area) {
            Some((_, last)) if dialled == 0 => (*last * 2).min(MAX_LOOKUP_WAIT),
            _ => start,
        };
        // Less one tick: the look-up runs at the first tick after `next`.
        let next = std::time::Instant::now() + wait.saturating_sub(start);
        self.waits.insert(area, (next, wait));
    }
}

impl EventLoop {
    pub(super) fn on_kad(&mut self, ev: kad::Event) {
        match ev {
            kad::Event::InboundRequest {
                request:
                    kad::InboundRequest::PutRecord {
                        source,
                        record: Some(record),
                        ..
                    },
            } => {
                // Verified off the loop; stored when it comes back (`Done::DhtChecked`). At
                // the executor's cap the put is dropped (counted in the status): a record
                // worth keeping is put again by its holders on Kademlia's interval.
                let tree = self.swarm.behaviour_mut().kad.store_mut().tree().clone();
                let now = self.engine.now();
                let tx = self.done_tx.clone();
                let engine = self.engine.clone();
                let spawned = self.exec.spawn(Kind::DhtCheck, move || {
                    // A seller the user blocked is not kept for the DHT either (no fault of
                    // the peer: the block is this user's choice).
                    let blocked = swapmeet_protocol::stored_signer(&record.value)
                        .is_ok_and(|k| engine.moderation().is_blocked(&k));
                    let result = if blocked {
                        Ok(None)
                    } else {
                        dht::check_put(&tree, record, now)
                    };
                    let _ = tx.blocking_send(Done::DhtChecked {
                        peer: source,
                        result,
                    });
                });
                if let Err(e) = spawned {
                    tracing::debug!(peer = %source, error = %e, "dropping a DHT put");
                }
            }
            kad::Event::InboundRequest {
                request:
                    kad::InboundRequest::AddProvider {
                        record: Some(record),
                    },
            } if dht::parse_area_key(&record.key).is_some()
                || crate::network::blobs::is_blob_key(&record.key) =>
            {
                // Only announcements of areas and blobs are kept; anything else a peer
                // provides is not ours to store.
                let _ = self
                    .swarm
                    .behaviour_mut()
                    .kad
                    .store_mut()
                    .add_provider(record);
            }
            kad::Event::OutboundQueryProgressed {
                id,
                result,
                stats,
                step,
            } => {
                if step.last && (self.gets.contains_key(&id) || self.finds.contains_key(&id)) {
                    let l = &mut self.dht_lookups;
                    l.finished += 1;
                    l.requests += u64::from(stats.num_requests());
                    l.answered += u64::from(stats.num_successes());
                    l.millis += stats
                        .duration()
                        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX));
                }
                self.on_query_progressed(id, result);
                if step.last {
                    // A look-up may end on a step that found providers.
                    if let Some((area, dialled)) = self.areas_found.looking.remove(&id) {
                        self.areas_found.looked_up(area, dialled);
                    }
                    self.areas_found.announcing.remove(&id);
                }
            }
            _ => {}
        }
    }

    fn on_query_progressed(&mut self, id: QueryId, result: QueryResult) {
        match result {
            QueryResult::GetRecord(r) => self.on_get_record(id, r),
            QueryResult::PutRecord(r) => self.on_put_ended(id, &r),
            QueryResult::GetClosestPeers(r) => {
                // A timed-out query still reports the peers it reached.
                let peers = match r {
                    Ok(ok) => ok.peers,
                    Err(kad::GetClosestPeersError::Timeout { peers, .. }) => peers,
                };
                if let Some((peer, reply)) = self.finds.remove(&id) {
                    let addrs = peers
                        .into_iter()
                        .find(|p| p.peer_id == peer)
                        .map(|p| p.addrs)
                        .unwrap_or_default();
                    let _ = reply.send(addrs);
                } else {
                    self.msg.on_closest(&mut self.swarm, id, peers);
                }
            }
            QueryResult::GetProviders(r) if self.blobs.on_providers(&mut self.swarm, id, &r) => {}
            QueryResult::GetProviders(Ok(kad::GetProvidersOk::FoundProviders {
                providers,
                ..
            })) => self.on_area_providers(id, providers),
            QueryResult::GetProviders(_) => {
                self.areas_found.looking.remove(&id);
            }
            QueryResult::StartProviding(r) => {
                if let Some(area) = self.areas_found.announcing.remove(&id) {
                    match r {
                        Ok(_) => {
                            self.areas_found.announced.insert(area);
                        }
                        Err(e) => {
                            tracing::debug!(%area, error = ?e, "announcing an area failed; tried again later")
                        }
                    }
                }
            }
            _ => {}
        }
    }

    pub(super) fn on_get_record(&mut self, id: QueryId, r: kad::GetRecordResult) {
        let Some(q) = self.gets.get_mut(&id) else {
            return;
        };
        let finished = match r {
            Ok(GetRecordOk::FoundRecord(peer_record)) => {
                let now = self.engine.now();
                match dht::verify_record(&peer_record.record.key, &peer_record.record.value, now) {
                    Ok(v) if v.listing_id() == q.id => {
                        let meta = dht::Meta::of(&v);
                        let newer = q.best.as_ref().is_none_or(|(b, _)| meta.newer_than(b));
                        if newer {
                            q.best = Some((meta, peer_record.record.value));
                        }
                    }
                    Ok(_) => {}
                    Err(e) => {
                        if let (Some(p), true) = (peer_record.peer, e.is_peer_fault()) {
                            self.strike(p, "served an invalid DHT record");
                        }
                    }
                }
                false
            }
            Ok(GetRecordOk::FinishedWithNoAdditionalRecord { .. }) | Err(_) => true,
        };
        if finished {
            if let Some(mut q) = self.gets.remove(&id) {
                if let Some(reply) = q.reply.take() {
                    let _ = reply.send(q.best.map(|(_, v)| v));
                }
            }
        }
    }

    /// Connected peers subscribed to each area topic of `areas`.
    fn area_peer_counts(&self, areas: &[String]) -> Vec<usize> {
        let hashes: Vec<_> = areas
            .iter()
            .map(|a| crate::network::gossip::topic(a).hash())
            .collect();
        let mut counts = vec![0; areas.len()];
        for (_, topics) in self.swarm.behaviour().gossip.all_peers() {
            for t in topics {
                if let Some(i) = hashes.iter().position(|h| h == t) {
                    counts[i] += 1;
                }
            }
        }
        counts
    }

    fn wanted_peers(area: &str) -> usize {
        if area == GOSSIP_ALL_AREA {
            WANTED_ALL_PEERS
        } else {
            WANTED_AREA_PEERS
        }
    }

    /// Announces the areas not announced yet (Kademlia republishes the rest), and looks for
    /// providers of the areas (and of `all`) with fewer than their wanted connected peers.
    /// Run at the first connection and every [`PROVIDE_EVERY`](super::PROVIDE_EVERY): a node
    /// that re-ran every announcement and look-up each time (27 areas: 55 queries, each
    /// dialling 20 peers or more, and every provider found dialled) kept its connections at
    /// their cap in a 500-node simulation (docs/SCALE.md).
    pub(super) fn provide_and_discover(&mut self) {
        let areas = self.areas.clone();
        for a in &areas {
            if self.areas_found.announced.contains(a)
                || self.areas_found.announcing.values().any(|x| x == a)
            {
                continue;
            }
            match self
                .swarm
                .behaviour_mut()
                .kad
                .start_providing(dht::area_key(a))
            {
                Ok(id) => {
                    self.areas_found.announcing.insert(id, a.clone());
                }
                Err(e) => tracing::debug!(area = %a, error = ?e, "cannot announce an area"),
            }
        }
        let mut wanted = areas;
        if !wanted.iter().any(|a| a == GOSSIP_ALL_AREA) {
            wanted.push(GOSSIP_ALL_AREA.to_string());
        }
        self.areas_found.waits.retain(|a, _| wanted.contains(a));
        let counts = self.area_peer_counts(&wanted);
        let now = std::time::Instant::now();
        for (a, n) in wanted.into_iter().zip(counts) {
            let looking = self.areas_found.looking.values().any(|(x, _)| *x == a);
            let waiting = self
                .areas_found
                .waits
                .get(&a)
                .is_some_and(|(next, _)| now < *next);
            if n >= Self::wanted_peers(&a) || looking || waiting {
                continue;
            }
            let id = self
                .swarm
                .behaviour_mut()
                .kad
                .get_providers(dht::area_key(&a));
            self.areas_found.looking.insert(id, (a, 0));
        }
        if !self.areas_found.started {
            self.areas_found.started = true;
            let _ = self.swarm.behaviour_mut().kad.bootstrap();
        }
    }

    /// Dials the providers an area look-up found, up to what the area lacks.
    fn on_area_providers(&mut self, id: QueryId, providers: std::collections::HashSet<PeerId>) {
        let Some((area, dialled)) = self.areas_found.looking.get(&id).cloned() else {
            return;
        };
        let have = self.area_peer_counts(std::slice::from_ref(&area))[0];
        let mut budget = Self::wanted_peers(&area).saturating_sub(have + dialled);
        let me = *self.swarm.local_peer_id();
        let mut n = 0;
        for p in providers {
            if budget == 0 {
                break;
            }
            if p != me && !self.swarm.is_connected(&p) {
                let _ = self.swarm.dial(DialOpts::peer_id(p).build());
                budget -= 1;
                n += 1;
            }
        }
        if let Some(e) = self.areas_found.looking.get_mut(&id) {
            e.1 += n;
        }
    }

    /// A record a peer put, checked off the loop: stored if valid and newer, the peer struck
    /// if it was its fault.
    pub(super) fn on_dht_checked(
        &mut self,
        peer: PeerId,
        result: Result<Option<dht::CheckedRecord>, dht::RecordError>,
    ) {
        match result {
            Ok(Some(checked)) => {
                if let Err(e) = self
                    .swarm
                    .behaviour_mut()
                    .kad
                    .store_mut()
                    .put_checked(checked)
                {
                    tracing::debug!(%peer, error = ?e, "not storing a DHT record");
                }
            }
            Ok(None) => {}
            Err(e) if e.is_peer_fault() => self.strike(peer, "invalid DHT record"),
            Err(e) => tracing::debug!(%peer, error = %e, "ignoring a DHT record"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn wait(d: &AreaDiscovery, area: &str) -> Duration {
        d.waits[area].1
    }

    #[test]
    fn look_ups_that_find_nobody_new_wait_longer_up_to_the_cap() {
        let tick = super::super::PROVIDE_EVERY;
        let mut d = AreaDiscovery::default();
        d.looked_up("u33d".into(), 0);
        assert_eq!(wait(&d, "u33d"), tick);
        d.looked_up("u33d".into(), 0);
        assert_eq!(wait(&d, "u33d"), tick * 2);
        d.looked_up("u33d".into(), 0);
        assert_eq!(wait(&d, "u33d"), tick * 4);
        for _ in 0..10 {
            d.looked_up("u33d".into(), 0);
        }
        assert_eq!(wait(&d, "u33d"), MAX_LOOKUP_WAIT);
        // One that dialled someone starts again.
        d.looked_up("u33d".into(), 2);
        assert_eq!(wait(&d, "u33d"), tick);
        // Areas are apart.
        d.looked_up("u281".into(), 0);
        assert_eq!(wait(&d, "u281"), tick);
    }
}
