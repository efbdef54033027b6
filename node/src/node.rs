//! A running node: engine, the user's writer, the local API (and, from the network layer, the
//! libp2p swarm), started together and shut down in order.
//!
//! Shutdown order: stop accepting API requests and end event streams, let in-flight requests
//! finish, stop the network, commit the index and flush the store, remove `node.json`.

use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::api::{self, ApiState};
use crate::authoring::Author;
use crate::engine::{Engine, EngineConfig, EngineError};
use crate::home::{peer_id_of, Home, HomeError, InitOptions, NodeFile};
use crate::network::{Network, NetworkConfig, NetworkError, NetworkHandle};

/// Errors starting or running a node.
#[derive(Debug, thiserror::Error)]
pub enum NodeError {
    /// The home folder.
    #[error(transparent)]
    Home(#[from] HomeError),
    /// The engine.
    #[error(transparent)]
    Engine(#[from] EngineError),
    /// The API address is not acceptable.
    #[error("api address {0}: the API only listens on loopback (127.0.0.1 or ::1) so no one else can reach it")]
    NotLoopback(SocketAddr),
    /// The API address could not be parsed.
    #[error("api address '{0}' is not HOST:PORT")]
    BadApiAddr(String),
    /// Binding the API failed.
    #[error("cannot listen on {addr} (is another node running? pick another port with --api 127.0.0.1:PORT)")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// The network could not start.
    #[error(transparent)]
    Network(#[from] NetworkError),
    /// A task failed.
    #[error("node task failed: {0}")]
    Task(String),
}

/// Options of a node beyond its config file.
#[derive(Clone, Debug, Default)]
pub struct NodeOptions {
    /// API address; default from config (127.0.0.1:7420).
    pub api: Option<SocketAddr>,
    /// libp2p listen addresses (added to the config's).
    pub listen: Vec<String>,
    /// Peers to dial (added to the config's).
    pub bootstrap: Vec<String>,
    /// Disable mDNS.
    pub no_mdns: bool,
    /// Engine settings (tests shorten intervals or move the clock).
    pub engine: Option<EngineConfig>,
}

/// A started node. Drop without `shutdown` still flushes the store (the engine's drop), but
/// `shutdown` is the orderly way.
pub struct Node {
    engine: Engine,
    author: Author,
    home: Home,
    api_addr: SocketAddr,
    token: String,
    stop: watch::Sender<bool>,
    server: Option<JoinHandle<()>>,
    network: Option<Network>,
}

impl Node {
    /// Starts a node on `home` (creating the home on first run) in the current tokio runtime.
    pub async fn start(home: Home, opts: NodeOptions) -> Result<Node, NodeError> {
        if matches!(home.load_key(), Err(HomeError::NotInitialized(_))) {
            let report = home.init(&InitOptions::default())?;
            tracing::info!(home = %report.home.display(), seller = %report.seller, "created a new identity");
        }
        let key = home.load_key()?;
        let config = home.load_config()?;
        let token = home.token()?;
        let currency = config.currency()?;
        let location = config.location()?;
        let api_addr = match opts.api {
            Some(a) => a,
            None => config
                .node
                .api
                .parse()
                .map_err(|_| NodeError::BadApiAddr(config.node.api.clone()))?,
        };
        if !api_addr.ip().is_loopback() {
            return Err(NodeError::NotLoopback(api_addr));
        }
        let data: PathBuf = home.data_dir();
        let engine_config = opts.engine.clone().unwrap_or_default();
        let (engine, how) = tokio::task::spawn_blocking(move || Engine::open(&data, engine_config))
            .await
            .map_err(|e| NodeError::Task(e.to_string()))??;
        tracing::info!(?how, "store and index open");
        let seller = key.public();
        // The network takes the user's key as its libp2p identity; it sets the engine's area
        // filter before any peer is heard.
        let net_config = NetworkConfig::from_home(
            &config,
            location,
            &opts.listen,
            &opts.bootstrap,
            opts.no_mdns,
        )?;
        let network = Network::start(engine.clone(), &key, net_config).await?;
        let author = Author::new(key, currency, location, engine.clone());

        let listener = TcpListener::bind(api_addr)
            .await
            .map_err(|source| NodeError::Bind {
                addr: api_addr,
                source,
            })?;
        let api_addr = listener.local_addr().map_err(|source| NodeError::Bind {
            addr: api_addr,
            source,
        })?;
        let (stop, stop_rx) = watch::channel(false);
        let state = Arc::new(ApiState {
            engine: engine.clone(),
            author: author.clone(),
            token: token.clone(),
            started: Instant::now(),
            seller: seller.to_string(),
            peer_id: peer_id_of(&seller),
            api: api_addr.to_string(),
            net: Some(network.handle().clone()),
            shutdown: stop_rx.clone(),
            home_currency: currency,
            bridge_runs: Default::default(),
        });
        let app = api::router(state);
        let mut server_stop = stop_rx;
        let server = tokio::spawn(async move {
            let result = axum::serve(listener, app)
                .with_graceful_shutdown(async move {
                    let _ = server_stop.wait_for(|s| *s).await;
                })
                .await;
            if let Err(e) = result {
                tracing::error!(error = %e, "API server failed");
            }
        });
        home.write_node_file(&NodeFile {
            api: api_addr,
            pid: std::process::id(),
            seller: seller.to_string(),
            peer_id: peer_id_of(&seller),
        })?;
        tracing::info!(api = %api_addr, seller = %seller, "api listening on {api_addr}");
        Ok(Node {
            engine,
            author,
            home,
            api_addr,
            token,
            stop,
            server: Some(server),
            network: Some(network),
        })
    }

    /// The API address.
    pub fn api_addr(&self) -> SocketAddr {
        self.api_addr
    }

    /// The API token.
    pub fn token(&self) -> &str {
        &self.token
    }

    /// The engine.
    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    /// The user's writer.
    pub fn author(&self) -> &Author {
        &self.author
    }

    /// The network.
    pub fn network(&self) -> Option<&NetworkHandle> {
        self.network.as_ref().map(Network::handle)
    }

    /// The home.
    pub fn home(&self) -> &Home {
        &self.home
    }

    /// Shuts down in order: API, network, engine (commit + flush), node file.
    pub async fn shutdown(mut self) -> Result<(), NodeError> {
        let _ = self.stop.send(true);
        if let Some(server) = self.server.take() {
            let _ = server.await;
        }
        if let Some(network) = self.network.take() {
            network.shutdown().await;
        }
        let engine = self.engine.clone();
        tokio::task::spawn_blocking(move || engine.shutdown())
            .await
            .map_err(|e| NodeError::Task(e.to_string()))??;
        self.home.remove_node_file();
        tracing::info!("node stopped");
        Ok(())
    }
}

/// Runs a node until `shutdown` resolves, then shuts it down in order.
pub async fn run(
    home: Home,
    opts: NodeOptions,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), NodeError> {
    let node = Node::start(home, opts).await?;
    shutdown.await;
    tracing::info!("shutting down");
    node.shutdown().await
}
