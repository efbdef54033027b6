//! The commands a `NetworkHandle` sends, carried out on the loop.

use libp2p::core::transport::PortUse;
use libp2p::PeerId;

use super::kad::GetQuery;
use super::EventLoop;
use crate::network::{dht, gossip, Command, NetworkError};

impl EventLoop {
    /// Carries out a command; `false` once the network has shut down.
    pub(super) fn on_command(&mut self, cmd: Command) -> bool {
        match cmd {
            Command::ListenAddrs(reply) => {
                let _ = reply.send(self.swarm.listeners().cloned().collect());
            }
            Command::Dial(addr, reply) => {
                // Already connected (peers also find each other through the DHT and mDNS):
                // nothing to do, and a second dial could trip the per-peer connection limit.
                if let Some(libp2p::multiaddr::Protocol::P2p(peer)) = addr.iter().last() {
                    if self.swarm.is_connected(&peer) {
                        let _ = reply.send(Ok(peer));
                        return true;
                    }
                }
                self.dial_for_user(addr, reply, PortUse::Reuse);
            }
            Command::ConnectedPeers(reply) => {
                let _ = reply.send(self.swarm.connected_peers().copied().collect());
            }
            Command::Peers(reply) => {
                let _ = reply.send(self.peer_views());
            }
            Command::Block(peer, reply) => {
                self.user_blocked.insert(peer);
                self.swarm.behaviour_mut().blocked.block_peer(peer);
                let _ = self.swarm.disconnect_peer_id(peer);
                let _ = reply.send(());
            }
            Command::Unblock(peer, reply) => {
                // Lifts the user's block and a ban alike.
                self.user_blocked.remove(&peer);
                self.bans.lift(&peer);
                self.swarm.behaviour_mut().blocked.unblock_peer(peer);
                self.strikes.remove(&peer);
                let _ = reply.send(());
            }
            Command::GetListing(id, reply) => {
                let q = self
                    .swarm
                    .behaviour_mut()
                    .kad
                    .get_record(dht::listing_key(&id));
                self.gets.insert(
                    q,
                    GetQuery {
                        id,
                        reply: Some(reply),
                        best: None,
                    },
                );
            }
            Command::FindPeer(peer, reply) => {
                if peer == *self.swarm.local_peer_id() {
                    let _ = reply.send(self.swarm.listeners().cloned().collect());
                    return true;
                }
                let q = self.swarm.behaviour_mut().kad.get_closest_peers(peer);
                self.finds.insert(q, (peer, reply));
            }
            Command::PublishRaw(area, bytes, reply) => {
                let r = self
                    .swarm
                    .behaviour_mut()
                    .gossip
                    .publish(gossip::topic(&area), bytes)
                    .map(|_| ())
                    .map_err(|e| NetworkError::Publish(e.to_string()));
                let _ = reply.send(r);
            }
            Command::SyncRaw(peer, req, reply) => {
                let id = self.swarm.behaviour_mut().sync.send_request(&peer, req);
                self.raw_requests.insert(id);
                let _ = reply.send(());
            }
            Command::Blob(cmd) => self.blobs.on_command(&mut self.swarm, cmd),
            Command::Penalize(peer, why) => self.strike(peer, why),
            Command::MsgRaw(peer, req, reply) => {
                self.msg.send_raw(&mut self.swarm, peer, req, reply)
            }
            Command::PeerScore(peer, reply) => {
                let _ = reply.send(self.swarm.behaviour().gossip.peer_score(&peer));
            }
            Command::SyncNow(reply) => {
                let peers: Vec<PeerId> = self.swarm.connected_peers().copied().collect();
                let mut n = 0;
                for p in peers {
                    if self.start_sync(p) {
                        n += 1;
                    }
                }
                let _ = reply.send(n);
            }
            Command::Invite(reply) => {
                let _ = reply.send(self.invite());
            }
            Command::Join(invite, reply) => {
                let _ = reply.send(self.join(invite));
            }
            Command::Shutdown(reply) => {
                // Answered once the loop has drained (`EventLoop::shutdown`).
                self.stop_reply = Some(reply);
                return false;
            }
        }
        true
    }
}
