//! The libp2p behaviour of a swapmeet node and the swarm that runs it: transports (TCP with
//! noise and yamux, QUIC, DNS, and circuit relay v2 as a client; or, for simulations, the
//! memory transport of `network/memory.rs`), and the protocols
//! (gossipsub, Kademlia, sync and messaging request-response, identify, ping, mDNS; AutoNAT v2,
//! the relay server and DCUtR hole punching, see `network/reach.rs`), plus a block list and
//! connection limits.

use std::num::NonZeroUsize;
use std::time::Duration;

use libp2p::swarm::behaviour::toggle::Toggle;
use libp2p::swarm::NetworkBehaviour;
use libp2p::{
    allow_block_list, autonat, dcutr, gossipsub, identify, identity, kad, mdns, noise, ping, relay,
    request_response, tcp, yamux, StreamProtocol, Swarm,
};
use swapmeet_protocol::limits::{
    BLOB_PROTOCOL, IDENTIFY_PROTOCOL_VERSION, KAD_MAX_PACKET_BYTES, KAD_PROTOCOL,
    MAX_CLOCK_SKEW_SECS, MAX_LIFETIME_SECS, MESSAGE_PROTOCOL, SYNC_PROTOCOL,
};
use swapmeet_protocol::SecretKey;

use super::blobs::BlobCodec;
use super::dht::ListingRecordStore;
use super::gossip::{self, Following, SubscriptionFilter};
use super::memory::{memory_transport, TransportChoice};
use super::messaging::MsgCodec;
use super::reach::RelayServe;
use super::sync;
use super::{NetworkConfig, NetworkError};

/// How long a sync request may take before it fails.
pub const SYNC_REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// How long a messaging request may take (dialling the peer included) before it fails and the
/// message waits for its next try.
pub const MSG_REQUEST_TIMEOUT: Duration = Duration::from_secs(20);
/// Messaging streams open at once per connection.
pub const MSG_MAX_STREAMS: usize = 64;
/// How long one blob chunk request may take (dialling the peer included) before the fetch
/// moves on to the next candidate. A 256 KiB chunk takes about 2 s at 1 Mbit/s.
pub const BLOB_REQUEST_TIMEOUT: Duration = Duration::from_secs(20);
/// Blob streams open at once per connection (the serving limits answer `Busy` well below).
pub const BLOB_MAX_STREAMS: usize = 16;

/// How often Kademlia refreshes its routing table with a bootstrap (besides the one at the
/// first connection).
pub const KAD_BOOTSTRAP_EVERY: Duration = Duration::from_secs(30 * 60);

/// The protocols of a swapmeet node.
#[derive(NetworkBehaviour)]
pub struct Behaviour {
    /// Peers cut off (by the user, or for misbehaving).
    pub blocked: allow_block_list::Behaviour<allow_block_list::BlockedPeers>,
    /// Bounds on connections (`network/limits.rs`).
    pub limits: super::limits::Behaviour,
    /// Listings, per area topic.
    pub gossip: gossipsub::Behaviour<gossipsub::IdentityTransform, SubscriptionFilter>,
    /// Peer routing, listing records, area providers.
    pub kad: kad::Behaviour<ListingRecordStore>,
    /// Catch-up sync.
    pub sync: request_response::Behaviour<sync::SyncCodec>,
    /// Private messages: delivery, mailbox deposit and collection, receipts.
    pub msg: request_response::Behaviour<MsgCodec>,
    /// Photos and thumbnails by hash, in chunks.
    pub blob: request_response::Behaviour<BlobCodec>,
    /// Protocols and listen addresses of peers (feeds Kademlia).
    pub identify: identify::Behaviour,
    /// Liveness.
    pub ping: ping::Behaviour,
    /// Peers on the local network (off with `--no-mdns`).
    pub mdns: Toggle<mdns::tokio::Behaviour>,
    /// Listening and dialling through relays (`network/reach.rs`).
    pub relay_client: relay::client::Behaviour,
    /// Relaying for others, within `[reach]`'s limits, while public (or as configured).
    pub relay: relay::Behaviour,
    /// Testing which of this node's addresses peers can dial.
    pub autonat: autonat::v2::client::Behaviour,
    /// Dialling back the addresses peers ask to have tested.
    pub autonat_server: autonat::v2::server::Behaviour,
    /// Hole punching: a relayed connection upgraded to a direct one.
    pub dcutr: dcutr::Behaviour,
}

/// A request-response protocol of the node (sync, messaging, blobs): one protocol name, both
/// directions, a request timeout and a bound on concurrent streams per connection.
fn request_response_of<C>(
    codec: C,
    protocol: &'static str,
    timeout: Duration,
    streams: usize,
) -> request_response::Behaviour<C>
where
    C: request_response::Codec<Protocol = StreamProtocol> + Clone + Send + 'static,
{
    request_response::Behaviour::with_codec(
        codec,
        [(
            StreamProtocol::new(protocol),
            request_response::ProtocolSupport::Full,
        )],
        request_response::Config::default()
            .with_request_timeout(timeout)
            .with_max_concurrent_streams(streams),
    )
}

/// The node's libp2p key: the user's ed25519 key, so a seller's id and its node's PeerId are
/// one key.
pub fn keypair(key: &SecretKey) -> Result<identity::Keypair, NetworkError> {
    identity::Keypair::ed25519_from_bytes(key.to_bytes())
        .map_err(|e| NetworkError::Setup(format!("identity key: {e}")))
}

fn kad_config() -> kad::Config {
    let protocol = StreamProtocol::new(KAD_PROTOCOL);
    let mut c = kad::Config::new(protocol);
    c.set_max_packet_size(KAD_MAX_PACKET_BYTES)
        .set_record_filtering(kad::StoreInserts::FilterBoth)
        // A record never outlives a listing; the store sets each record's own expiry from the
        // envelope, this only caps what a peer can ask for.
        .set_record_ttl(Some(Duration::from_secs(
            MAX_LIFETIME_SECS + MAX_CLOCK_SKEW_SECS,
        )))
        .set_replication_interval(Some(Duration::from_secs(60 * 60)))
        .set_publication_interval(Some(Duration::from_secs(12 * 60 * 60)))
        .set_provider_record_ttl(Some(Duration::from_secs(24 * 60 * 60)))
        .set_provider_publication_interval(Some(Duration::from_secs(6 * 60 * 60)))
        .set_query_timeout(Duration::from_secs(30))
        // libp2p's default is every 5 minutes: a bootstrap is a dozen queries, most of whose
        // requests open a connection, which the trimming closes again (`network/trim.rs`);
        // in a 500-node simulation that was most of the connections opened while idle. The
        // routing table is also fed by every connection the node makes.
        .set_periodic_bootstrap_interval(Some(KAD_BOOTSTRAP_EVERY))
        .set_replication_factor(NonZeroUsize::new(20).unwrap_or(NonZeroUsize::MIN));
    c
}

/// Builds the swarm. Must run inside a tokio runtime.
pub fn build_swarm(
    key: &SecretKey,
    config: &NetworkConfig,
    store: ListingRecordStore,
    following: &Following,
    wire: std::sync::Arc<sync::WireCounters>,
) -> Result<Swarm<Behaviour>, NetworkError> {
    let keypair = keypair(key)?;
    let setup = |what: &str, e: &dyn std::fmt::Display| NetworkError::Setup(format!("{what}: {e}"));
    let gossip_config = gossip::config(config.heartbeat).map_err(|e| setup("gossipsub", &e))?;
    let mdns_on = config.mdns;
    let topics = following.areas();
    let limits = config.limits;
    let reach = config.reach;
    let make_behaviour = |key: &identity::Keypair, relay_client| {
        let local = key.public().to_peer_id();
        let mut gossip = gossipsub::Behaviour::new_with_subscription_filter(
            gossipsub::MessageAuthenticity::Signed(key.clone()),
            gossip_config,
            gossip::subscription_filter(),
        )?;
        let (params, thresholds) = gossip::score_params(&topics);
        gossip.with_peer_score(params, thresholds)?;
        let mut kad = kad::Behaviour::with_config(local, store, kad_config());
        // A client until AutoNAT confirms an address peers can dial, or from the start when
        // the owner says the node is public (`event_loop/reach.rs`): a node in client mode
        // neither answers queries nor enters routing tables.
        kad.set_mode(Some(if reach.assume_public {
            kad::Mode::Server
        } else {
            kad::Mode::Client
        }));
        let mut relay = relay::Behaviour::new(local, reach.relay.to_relay_config());
        // "auto" starts off; the event loop turns it on while AutoNAT confirms a direct
        // address (`event_loop/reach.rs`).
        relay.set_status(Some(match reach.relay_serve {
            RelayServe::On => relay::Status::Enable,
            RelayServe::Auto | RelayServe::Off => relay::Status::Disable,
        }));
        let sync = request_response_of(
            sync::SyncCodec::new(wire),
            SYNC_PROTOCOL,
            SYNC_REQUEST_TIMEOUT,
            16,
        );
        let msg = request_response_of(
            MsgCodec,
            MESSAGE_PROTOCOL,
            MSG_REQUEST_TIMEOUT,
            MSG_MAX_STREAMS,
        );
        let blob = request_response_of(
            BlobCodec,
            BLOB_PROTOCOL,
            BLOB_REQUEST_TIMEOUT,
            BLOB_MAX_STREAMS,
        );
        let identify = identify::Behaviour::new(
            identify::Config::new(IDENTIFY_PROTOCOL_VERSION.to_string(), key.public())
                .with_agent_version(format!("swapmeet/{}", env!("CARGO_PKG_VERSION"))),
        );
        // A machine without multicast (some containers) still runs a node, without mDNS.
        let mdns = if mdns_on {
            match mdns::tokio::Behaviour::new(mdns::Config::default(), local) {
                Ok(m) => Some(m),
                Err(e) => {
                    tracing::warn!(error = %e, "mDNS is unavailable; peers on the LAN will not be found by it");
                    None
                }
            }
        } else {
            None
        };
        Ok(Behaviour {
            blocked: allow_block_list::Behaviour::default(),
            limits: super::limits::Behaviour::new(limits),
            gossip,
            kad,
            sync,
            msg,
            blob,
            identify,
            ping: ping::Behaviour::default(),
            mdns: Toggle::from(mdns),
            relay_client,
            relay,
            autonat: autonat::v2::client::Behaviour::default(),
            autonat_server: autonat::v2::server::Behaviour::default(),
            dcutr: dcutr::Behaviour::new(local),
        })
    };
    let idle = config.idle_timeout;
    let builder = libp2p::SwarmBuilder::with_existing_identity(keypair).with_tokio();
    // Two chains because the builder's phases are types: the same behaviour over the system's
    // transports, or over the memory transport of a simulation (`network/memory.rs`).
    let swarm = match &config.transport {
        TransportChoice::System => builder
            .with_tcp(
                tcp::Config::default().nodelay(true),
                noise::Config::new,
                yamux::Config::default,
            )
            .map_err(|e| setup("tcp", &e))?
            .with_quic()
            .with_dns()
            .map_err(|e| setup("dns", &e))?
            .with_relay_client(noise::Config::new, yamux::Config::default)
            .map_err(|e| setup("relay client", &e))?
            .with_behaviour(make_behaviour)
            .map_err(|e| setup("behaviour", &e))?
            .with_swarm_config(|c| c.with_idle_connection_timeout(idle))
            .build(),
        TransportChoice::Memory(bytes) => builder
            .with_other_transport(|key| {
                memory_transport(key, bytes.clone())
                    .map_err(|e| Box::new(e) as Box<dyn std::error::Error + Send + Sync>)
            })
            .map_err(|e| setup("memory transport", &e))?
            .with_relay_client(noise::Config::new, yamux::Config::default)
            .map_err(|e| setup("relay client", &e))?
            .with_behaviour(make_behaviour)
            .map_err(|e| setup("behaviour", &e))?
            .with_swarm_config(|c| c.with_idle_connection_timeout(idle))
            .build(),
    };
    Ok(swarm)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_peer_id_is_the_sellers_key() {
        let key = SecretKey::from_bytes([9; 32]);
        let kp = keypair(&key).unwrap();
        assert_eq!(
            kp.public().to_peer_id().to_string(),
            crate::home::peer_id_of(&key.public())
        );
    }
}
