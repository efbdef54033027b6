//! Kademlia as the loop drives it: records peers put (checked off the loop), area providers,
//! listing look-ups and peer routing.

use libp2p::kad::store::RecordStore;
use libp2p::kad::{self, GetRecordOk, QueryId, QueryResult, Quorum, Record};
use libp2p::swarm::dial_opts::DialOpts;
use libp2p::PeerId;

use swapmeet_protocol::limits::GOSSIP_ALL_AREA;
use swapmeet_protocol::ListingId;
use tokio::sync::oneshot;

use super::{Done, EventLoop, Kind};
use crate::network::dht;

pub(super) struct GetQuery {
    pub(super) id: ListingId,
    pub(super) reply: Option<oneshot::Sender<Option<Vec<u8>>>>,
    pub(super) best: Option<(dht::Meta, Vec<u8>)>,
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
            }
            _ => {}
        }
    }

    fn on_query_progressed(&mut self, id: QueryId, result: QueryResult) {
        match result {
            QueryResult::GetRecord(r) => self.on_get_record(id, r),
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
            })) => {
                let me = *self.swarm.local_peer_id();
                for p in providers {
                    if p != me && !self.swarm.is_connected(&p) {
                        let _ = self.swarm.dial(DialOpts::peer_id(p).build());
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

    pub(super) fn provide_and_discover(&mut self) {
        let areas = self.areas.clone();
        for a in &areas {
            let key = dht::area_key(a);
            if let Err(e) = self.swarm.behaviour_mut().kad.start_providing(key.clone()) {
                tracing::debug!(area = %a, error = ?e, "cannot announce an area");
            }
            self.swarm.behaviour_mut().kad.get_providers(key);
        }
        if !areas.iter().any(|a| a == GOSSIP_ALL_AREA) {
            self.swarm
                .behaviour_mut()
                .kad
                .get_providers(dht::area_key(GOSSIP_ALL_AREA));
        }
        let _ = self.swarm.behaviour_mut().kad.bootstrap();
    }

    /// Puts one of the node's own listings into the DHT.
    pub(super) fn put_own_listing(&mut self, id: &ListingId, data: Vec<u8>) {
        let record = Record::new(dht::listing_key(id), data);
        if let Err(e) = self
            .swarm
            .behaviour_mut()
            .kad
            .put_record(record, Quorum::One)
        {
            tracing::warn!(%id, error = ?e, "cannot put the listing into the DHT");
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
