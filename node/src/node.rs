//! A running node: engine, the user's writer, the local API (and, from the network layer, the
//! libp2p swarm), started together and shut down in order.
//!
//! Shutdown order: stop accepting API requests and end event streams, let in-flight requests
//! finish, stop the photo upkeep (thumbnail prefetch, collection), stop the network, stop the market's task (decisions in progress finish), match the listings already stored against saved searches, commit the index and flush the store, remove `node.json`.

use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::sync::{watch, Semaphore};
use tokio::task::JoinHandle;

use crate::alerts::{AlertError, Alerts};
use crate::api::{self, ApiState};
use crate::authoring::Author;
use crate::engine::{Engine, EngineConfig, EngineError};
use crate::home::{peer_id_of, Home, HomeError, InitOptions, NodeFile};
use crate::market::{Market, MarketError};
use crate::media::{BlobError, BlobStore, PhotoLibrary};
use crate::messaging::{MessagingError, Messenger};
use crate::network::{Network, NetworkConfig, NetworkError, NetworkHandle};

/// How long a client may take to send a request's header (also how long an idle keep-alive
/// connection stays open). Without it a client trickling a header holds a connection (and a
/// slot of [`MAX_API_CONNECTIONS`]) for as long as it likes. The CLI sends a whole request in
/// one write on loopback, so anything near this bound is a stuck or hostile client.
pub const API_HEADER_READ_TIMEOUT: Duration = Duration::from_secs(5);
/// Most API connections served at once; further connections wait in the listen backlog until
/// one closes. Each open event stream (`GET /v1/events`) holds one, so this is far above what
/// one user's CLI and UI open, and low enough that a runaway local client cannot exhaust the
/// node's file descriptors.
pub const MAX_API_CONNECTIONS: u32 = 256;

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
    /// The message store could not be opened.
    #[error("messages: {0}")]
    Messaging(#[from] MessagingError),
    /// The market could not be opened.
    #[error("market: {0}")]
    Market(#[from] MarketError),
    /// The saved searches could not be opened.
    #[error(transparent)]
    Alerts(#[from] AlertError),
    /// The blob store could not be opened.
    #[error(transparent)]
    Blobs(#[from] BlobError),
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
    messenger: Messenger,
    alerts: Alerts,
    /// Stops the alert task once the network is down (so what arrived before is matched).
    alerts_stop: watch::Sender<bool>,
    alerts_task: Option<JoinHandle<()>>,
    market: Market,
    /// Stops the market's task once the network is down.
    market_stop: watch::Sender<bool>,
    market_task: Option<JoinHandle<()>>,
    blobs: BlobStore,
    /// Stops the photo upkeep (thumbnail prefetch, collection) before the network.
    upkeep_stop: watch::Sender<bool>,
    upkeep_task: Option<JoinHandle<()>>,
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
        let mut engine_config = opts.engine.clone().unwrap_or_default();
        let budget = config.memory_budget()?;
        engine_config.store.cache_capacity = budget.store_cache_bytes();
        engine_config.index_writer_bytes = budget.index_writer_bytes();
        // The engine refuses a store that lost the user's listings (see EngineConfig::owner).
        engine_config.owner = Some(key.public());
        let (engine, how) = tokio::task::spawn_blocking(move || Engine::open(&data, engine_config))
            .await
            .map_err(|e| NodeError::Task(e.to_string()))??;
        tracing::info!(?how, "store and index open");
        let seller = key.public();
        let (blobs_dir, cache) = (home.blobs_dir(), config.media_cache_bytes()?);
        let blobs = tokio::task::spawn_blocking(move || BlobStore::open(&blobs_dir, cache))
            .await
            .map_err(|e| NodeError::Task(e.to_string()))??;
        // The network takes the user's key as its libp2p identity; it sets the engine's area
        // filter before any peer is heard.
        let net_config = NetworkConfig::from_home(
            &config,
            location,
            &opts.listen,
            &opts.bootstrap,
            opts.no_mdns,
        )?;
        let messaging_config = config.messaging()?;
        let (store_engine, messenger_key) = (engine.clone(), key.clone());
        let messenger = tokio::task::spawn_blocking(move || {
            Messenger::open(store_engine.store(), messenger_key, messaging_config)
        })
        .await
        .map_err(|e| NodeError::Task(e.to_string()))??;
        let alerts_engine = engine.clone();
        let alerts_config = config.alerts(key.public())?;
        let alerts =
            tokio::task::spawn_blocking(move || Alerts::open(alerts_engine, alerts_config))
                .await
                .map_err(|e| NodeError::Task(e.to_string()))??;
        // Subscribed before the network starts, so no listing a peer sends is missed.
        let (alerts_stop, alerts_stop_rx) = watch::channel(false);
        let alerts_task = tokio::spawn(alerts.clone().run(engine.subscribe(), alerts_stop_rx));
        let lib_blobs = blobs.clone();
        let photos = tokio::task::spawn_blocking(move || PhotoLibrary::open(lib_blobs))
            .await
            .map_err(|e| NodeError::Task(e.to_string()))??;
        let author =
            Author::new(key.clone(), currency, location, engine.clone()).with_photos(photos);
        // The market: subscribed before the network starts, so no move a peer sends is missed
        // (and its first act is a scan of every thread for what arrived while it was down).
        let market_limits = config.market_limits()?;
        let (m_engine, m_author, m_messenger) = (engine.clone(), author.clone(), messenger.clone());
        let market = tokio::task::spawn_blocking(move || {
            Market::open(m_engine, m_author, m_messenger, market_limits)
        })
        .await
        .map_err(|e| NodeError::Task(e.to_string()))??;
        let (market_stop, market_stop_rx) = watch::channel(false);
        let market_task = tokio::spawn(market.clone().run(
            messenger.subscribe(),
            engine.subscribe(),
            market_stop_rx,
        ));
        let network = Network::start(
            engine.clone(),
            &key,
            net_config,
            messenger.clone(),
            blobs.clone(),
        )
        .await?;
        // Photos: announce what is held, prefetch thumbnails, collect (stopped before the
        // network).
        let (upkeep_stop, upkeep_stop_rx) = watch::channel(false);
        let upkeep_task = tokio::spawn(crate::media::upkeep::run(
            engine.clone(),
            blobs.clone(),
            network.handle().clone(),
            seller,
            crate::media::upkeep::UpkeepConfig::default(),
            upkeep_stop_rx,
        ));

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
            home_location: location,
            memory_budget: budget,
            bridge_runs: Default::default(),
            messenger: messenger.clone(),
            alerts: alerts.clone(),
            market: market.clone(),
            blobs: blobs.clone(),
            ui: Default::default(),
        });
        let app = api::router(state);
        let mut server_stop = stop_rx;
        let server = tokio::spawn(async move {
            serve_api(listener, app, MAX_API_CONNECTIONS, async move {
                let _ = server_stop.wait_for(|s| *s).await;
            })
            .await;
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
            messenger,
            alerts,
            alerts_stop,
            alerts_task: Some(alerts_task),
            market,
            market_stop,
            market_task: Some(market_task),
            blobs,
            upkeep_stop,
            upkeep_task: Some(upkeep_task),
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

    /// Private messages.
    pub fn messenger(&self) -> &Messenger {
        &self.messenger
    }

    /// Negotiations, stock and deals.
    pub fn market(&self) -> &Market {
        &self.market
    }

    /// Saved searches and alerts.
    pub fn alerts(&self) -> &Alerts {
        &self.alerts
    }

    /// Photos and thumbnails: the user's own, those of carried listings, the cache.
    pub fn blobs(&self) -> &BlobStore {
        &self.blobs
    }

    /// A photo or thumbnail by hash: from the store, or fetched from the network (`hint`: the
    /// peer that should have it, e.g. the listing's seller), verified and cached. Cancel-safe.
    pub async fn fetch_blob(
        &self,
        hash: crate::media::BlobHash,
        hint: Option<libp2p::PeerId>,
    ) -> Result<Vec<u8>, crate::media::fetch::FetchError> {
        self.fetch(crate::media::fetch::Want::photo(hash, hint))
            .await
            .map(|f| f.bytes)
    }

    /// [`Node::fetch_blob`] with every choice open, telling where the blob came from.
    pub async fn fetch(
        &self,
        want: crate::media::fetch::Want,
    ) -> Result<crate::media::fetch::Fetched, crate::media::fetch::FetchError> {
        let net = self
            .network()
            .ok_or(crate::media::fetch::FetchError::Network(
                NetworkError::Stopped,
            ))?;
        crate::media::fetch::fetch(&self.blobs, net, want).await
    }

    /// Collects now the photos and thumbnails no live listing names (the upkeep does it every
    /// 10 minutes), and stops announcing them.
    pub async fn collect_blobs(&self) -> Result<crate::media::CollectReport, String> {
        let net = self.network().ok_or("the network is not running")?;
        crate::media::upkeep::collect(
            &self.engine,
            &self.blobs,
            net,
            &self.author.key().public(),
            self.stop.subscribe(),
        )
        .await
    }

    /// The home.
    pub fn home(&self) -> &Home {
        &self.home
    }

    /// Shuts down in order: API, photo upkeep, network, engine (commit + flush), node file.
    pub async fn shutdown(mut self) -> Result<(), NodeError> {
        let _ = self.stop.send(true);
        if let Some(server) = self.server.take() {
            let _ = server.await;
        }
        let _ = self.upkeep_stop.send(true);
        if let Some(task) = self.upkeep_task.take() {
            let _ = task.await;
        }
        if let Some(network) = self.network.take() {
            network.shutdown().await;
        }
        let _ = self.market_stop.send(true);
        if let Some(task) = self.market_task.take() {
            let _ = task.await;
        }
        let _ = self.alerts_stop.send(true);
        if let Some(task) = self.alerts_task.take() {
            let _ = task.await;
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

/// Serves the API on `listener`, at most `max_connections` at once, until `stop` resolves; then
/// stops accepting, asks every open connection to finish its in-flight request and close, and
/// returns when all have.
///
/// This is `axum::serve` with the two bounds it does not expose: the header-read timeout
/// ([`API_HEADER_READ_TIMEOUT`]) and the connection cap ([`MAX_API_CONNECTIONS`]). HTTP/1.1
/// only: the API's clients (the CLI, shop systems, curl) all speak it.
async fn serve_api(
    listener: TcpListener,
    app: axum::Router,
    max_connections: u32,
    stop: impl Future<Output = ()> + Send + 'static,
) {
    let slots = Arc::new(Semaphore::new(max_connections as usize));
    // Connections watch this to start their graceful close; dropping the sender signals them.
    let (closing_tx, closing_rx) = watch::channel(());
    tokio::pin!(stop);
    loop {
        let slot = tokio::select! {
            _ = &mut stop => break,
            slot = slots.clone().acquire_owned() => match slot {
                Ok(slot) => slot,
                // The semaphore is never closed; if it were, there is nothing left to serve.
                Err(_) => break,
            },
        };
        let stream = tokio::select! {
            _ = &mut stop => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(e) => {
                    // Per-connection failures (reset before accept) and running out of file
                    // descriptors are both transient: log, back off briefly, keep serving.
                    tracing::warn!(error = %e, "accepting an API connection failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        let service = TowerToHyperService::new(app.clone());
        let mut closing = closing_rx.clone();
        tokio::spawn(async move {
            let conn = http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(API_HEADER_READ_TIMEOUT)
                .serve_connection(TokioIo::new(stream), service);
            tokio::pin!(conn);
            tokio::select! {
                result = conn.as_mut() => log_conn_end(result),
                _ = closing.changed() => {
                    conn.as_mut().graceful_shutdown();
                    log_conn_end(conn.await);
                }
            }
            drop(slot);
        });
    }
    drop(listener);
    drop(closing_tx);
    // Every connection holds a slot until it ends, so having them all back means all ended.
    let _ = slots.acquire_many(max_connections).await;
}

fn log_conn_end(result: Result<(), hyper::Error>) {
    if let Err(e) = result {
        // A header timeout or a client hanging up mid-request is the client's business.
        tracing::debug!(error = %e, "API connection ended with an error");
    }
}

/// Runs a node until `shutdown` resolves, then shuts it down in order.
pub async fn run(
    home: Home,
    opts: NodeOptions,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), NodeError> {
    let node = Node::start(home, opts).await?;
    // The engine builds the store's lookups after it opens (searches are answered meanwhile);
    // if it cannot (the store lost the user's listings, a record cannot be read), the node
    // stops with that error rather than run without taking writes.
    let engine = node.engine.clone();
    let loaded = tokio::task::spawn_blocking(move || engine.wait_loaded());
    tokio::pin!(shutdown);
    let failed = tokio::select! {
        _ = &mut shutdown => None,
        r = loaded => match r {
            Ok(Err(e)) => Some(e),
            _ => {
                shutdown.await;
                None
            }
        },
    };
    match failed {
        None => {
            tracing::info!("shutting down");
            node.shutdown().await
        }
        Some(e) => {
            tracing::error!(error = %e, "stopping: the store cannot be used");
            node.shutdown().await?;
            Err(e.into())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpStream;

    const REQUEST: &[u8] = b"GET / HTTP/1.1\r\nHost: x\r\n\r\n";

    async fn read_answer(stream: &mut TcpStream) -> String {
        let mut buf = vec![0u8; 1024];
        let n = stream.read(&mut buf).await.unwrap();
        String::from_utf8_lossy(&buf[..n]).into_owned()
    }

    #[tokio::test]
    async fn connections_beyond_the_cap_wait_for_a_slot_and_shutdown_waits_for_all() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let app = axum::Router::new().route("/", axum::routing::get(|| async { "ok" }));
        let (stop_tx, mut stop_rx) = watch::channel(false);
        let server = tokio::spawn(serve_api(listener, app, 1, async move {
            let _ = stop_rx.wait_for(|s| *s).await;
        }));

        // The first connection takes the only slot and keeps it (keep-alive).
        let mut first = TcpStream::connect(addr).await.unwrap();
        first.write_all(REQUEST).await.unwrap();
        assert!(read_answer(&mut first).await.starts_with("HTTP/1.1 200"));
        // The second is accepted by the kernel but not served while the first is open.
        let mut second = TcpStream::connect(addr).await.unwrap();
        second.write_all(REQUEST).await.unwrap();
        let early = tokio::time::timeout(Duration::from_millis(300), read_answer(&mut second));
        assert!(early.await.is_err(), "served beyond the cap");
        // Once the first closes, the second is served.
        drop(first);
        let answer = tokio::time::timeout(Duration::from_secs(30), read_answer(&mut second));
        assert!(answer.await.unwrap().starts_with("HTTP/1.1 200"));

        // Shutdown closes the idle kept-alive connection and then returns.
        stop_tx.send(true).unwrap();
        tokio::time::timeout(Duration::from_secs(30), server)
            .await
            .unwrap()
            .unwrap();
        let mut rest = Vec::new();
        let n = tokio::time::timeout(Duration::from_secs(30), second.read_to_end(&mut rest));
        assert!(n.await.unwrap().is_ok());
    }
}
