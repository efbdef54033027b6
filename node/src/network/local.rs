//! A node without the API: engine + messaging + market + network + the user's writer, on a
//! folder the caller owns. Tests, benchmarks and examples run many of these in one process.

use std::path::Path;
use std::time::{Duration, Instant};

use libp2p::multiaddr::Protocol;
use libp2p::Multiaddr;
use swapmeet_protocol::{Currency, SecretKey};

use super::{Network, NetworkConfig, NetworkError, NetworkHandle};
use crate::authoring::Author;
use crate::engine::{Engine, EngineConfig, EngineError};
use crate::market::{Market, MarketConfig, MarketError};
use crate::media::BlobStore;
use crate::messaging::{MessagingConfig, MessagingError, Messenger};

/// Errors of a local node.
#[derive(Debug, thiserror::Error)]
pub enum LocalNodeError {
    /// The engine.
    #[error(transparent)]
    Engine(#[from] EngineError),
    /// The network.
    #[error(transparent)]
    Network(#[from] NetworkError),
    /// Messaging (boxed: its error is large).
    #[error(transparent)]
    Messaging(#[from] Box<MessagingError>),
    /// The market (boxed: its error is large).
    #[error(transparent)]
    Market(#[from] Box<MarketError>),
    /// Waiting for something took too long.
    #[error("timed out waiting for {0}")]
    Timeout(&'static str),
}

/// Settings of a node on loopback: TCP on a free port of 127.0.0.1, no mDNS, a short
/// heartbeat so meshes form quickly.
pub fn loopback_config(home: Option<(f64, f64)>) -> NetworkConfig {
    NetworkConfig {
        listen: vec!["/ip4/127.0.0.1/tcp/0".parse().expect("a valid multiaddr")],
        mdns: false,
        home,
        heartbeat: Duration::from_millis(200),
        ..NetworkConfig::default()
    }
}

/// An engine, its network, and a writer for the key.
pub struct LocalNode {
    /// The engine.
    pub engine: Engine,
    /// The writer of the node's key.
    pub author: Author,
    /// Private messages of the node's key.
    pub messenger: Messenger,
    /// Negotiations, stock and deals, reacting to the messages that arrive.
    pub market: Market,
    /// Photos and thumbnails the node serves.
    pub blobs: BlobStore,
    market_stop: tokio::sync::watch::Sender<bool>,
    market_task: Option<tokio::task::JoinHandle<()>>,
    network: Option<Network>,
}

impl LocalNode {
    /// Opens an engine in `dir` and starts a network with `config`.
    pub async fn start(
        dir: &Path,
        key: SecretKey,
        config: NetworkConfig,
    ) -> Result<LocalNode, LocalNodeError> {
        LocalNode::start_with(
            dir,
            key,
            config,
            EngineConfig::default(),
            MessagingConfig::default(),
        )
        .await
    }

    /// The same with the engine's and messaging's settings (a test's clock, small quotas).
    pub async fn start_with(
        dir: &Path,
        key: SecretKey,
        config: NetworkConfig,
        engine_config: EngineConfig,
        messaging: MessagingConfig,
    ) -> Result<LocalNode, LocalNodeError> {
        LocalNode::start_full(
            dir,
            key,
            config,
            engine_config,
            messaging,
            MarketConfig::default(),
        )
        .await
    }

    /// The same with the market's limits too.
    pub async fn start_full(
        dir: &Path,
        key: SecretKey,
        config: NetworkConfig,
        engine_config: EngineConfig,
        messaging: MessagingConfig,
        market_config: MarketConfig,
    ) -> Result<LocalNode, LocalNodeError> {
        let blob_dir = dir.join("blobs");
        let dir = dir.to_path_buf();
        let (engine, _) = tokio::task::spawn_blocking(move || Engine::open(&dir, engine_config))
            .await
            .map_err(|e| NetworkError::Setup(e.to_string()))??;
        let (store, k) = (engine.store().clone(), key.clone());
        let messenger = tokio::task::spawn_blocking(move || {
            Messenger::open(&store, k, messaging).map_err(Box::new)
        })
        .await
        .map_err(|e| NetworkError::Setup(e.to_string()))??;
        let home = config.home;
        let eur = Currency::new("EUR").map_err(|e| NetworkError::Setup(e.to_string()))?;
        let author = Author::new(key.clone(), eur, home, engine.clone());
        let (e, a, m) = (engine.clone(), author.clone(), messenger.clone());
        let market = tokio::task::spawn_blocking(move || {
            Market::open(e, a, m, market_config).map_err(Box::new)
        })
        .await
        .map_err(|e| NetworkError::Setup(e.to_string()))??;
        let (market_stop, stop_rx) = tokio::sync::watch::channel(false);
        let market_task = tokio::spawn(market.clone().run(
            messenger.subscribe(),
            engine.subscribe(),
            stop_rx,
        ));
        // Photos are served from here; nothing of the node's photo upkeep runs (see `Node`).
        let blobs = tokio::task::spawn_blocking(move || {
            BlobStore::open(&blob_dir, crate::home::DEFAULT_CACHE_MIB * 1024 * 1024)
        })
        .await
        .map_err(|e| NetworkError::Setup(e.to_string()))?
        .map_err(|e| NetworkError::Setup(format!("blob store: {e}")))?;
        let network = Network::start(
            engine.clone(),
            &key,
            config,
            messenger.clone(),
            blobs.clone(),
        )
        .await?;
        Ok(LocalNode {
            blobs,
            engine,
            author,
            messenger,
            market,
            market_stop,
            market_task: Some(market_task),
            network: Some(network),
        })
    }

    /// The network handle.
    pub fn net(&self) -> &NetworkHandle {
        self.network
            .as_ref()
            .map(Network::handle)
            .expect("the network runs until stop")
    }

    /// The first listen address with `/p2p/<peer id>`, once the node listens.
    pub async fn addr(&self) -> Result<Multiaddr, LocalNodeError> {
        let start = Instant::now();
        loop {
            if let Some(a) = self.net().listen_addrs().await?.into_iter().next() {
                return Ok(a.with(Protocol::P2p(self.net().peer_id())));
            }
            if start.elapsed() > Duration::from_secs(10) {
                return Err(LocalNodeError::Timeout("a listen address"));
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Dials `other` and waits for the connection.
    pub async fn connect(&self, other: &LocalNode) -> Result<(), LocalNodeError> {
        let addr = other.addr().await?;
        self.net().dial(addr).await?;
        Ok(())
    }

    /// Stops the network, then the engine (commit + flush).
    pub async fn stop(mut self) -> Result<(), LocalNodeError> {
        if let Some(n) = self.network.take() {
            n.shutdown().await;
        }
        let _ = self.market_stop.send(true);
        if let Some(task) = self.market_task.take() {
            let _ = task.await;
        }
        let engine = self.engine.clone();
        tokio::task::spawn_blocking(move || engine.shutdown())
            .await
            .map_err(|e| NetworkError::Setup(e.to_string()))??;
        Ok(())
    }
}
