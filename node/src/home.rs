//! The node's home folder: identity key, configuration, API token, the running node's address,
//! and the engine's data.
//!
//! Layout:
//! - `identity.key` (0600): `swapmeet-secret-key-v1 <64 hex chars>`, the user's ed25519 seed.
//! - `config.toml`: market defaults (currency, location) and node settings.
//! - `api.token` (0600): the bearer token of the local API.
//! - `node.json` (0600): where the running node listens; removed on clean shutdown.
//! - `data/`: the store and the search index.

use std::io::Write;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use swapmeet_protocol::{geo, Currency, PublicKey, SecretKey};

mod reach;
pub use reach::{ReachSection, MAX_DNSADDR_DOMAINS};

const KEY_FILE: &str = "identity.key";
const CONFIG_FILE: &str = "config.toml";
const TOKEN_FILE: &str = "api.token";
const NODE_FILE: &str = "node.json";
const DATA_DIR: &str = "data";
/// The blob store folder.
const BLOBS_DIR: &str = "blobs";
const KEY_PREFIX: &str = "swapmeet-secret-key-v1 ";
/// Largest config file read (it is a handful of lines).
const MAX_CONFIG_BYTES: u64 = 64 * 1024;

/// Default API address.
pub const DEFAULT_API: &str = "127.0.0.1:7420";

/// Errors about the home folder.
#[derive(Debug, thiserror::Error)]
pub enum HomeError {
    /// A file could not be read or written.
    #[error("{what} {path}")]
    Io {
        /// What was being done.
        what: &'static str,
        /// Which file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// There is no identity yet.
    #[error("no identity in {0}; run `swapmeet init` first (or just `swapmeet node`, which creates one)")]
    NotInitialized(PathBuf),
    /// The key file is damaged.
    #[error("identity key {path} is not a swapmeet key: {reason}")]
    BadKey {
        /// Which file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// The config file is invalid.
    #[error("config {path}: {reason}\nfix the file, or move it away and run `swapmeet init` to write a fresh one (your identity, in identity.key, is kept)")]
    BadConfig {
        /// Which file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// No home could be determined.
    #[error("cannot tell where the home folder is: set SWAPMEET_HOME or pass --home")]
    NoHome,
}

fn io(what: &'static str, path: &Path) -> impl FnOnce(std::io::Error) -> HomeError {
    let path = path.to_path_buf();
    move |source| HomeError::Io { what, path, source }
}

/// Market defaults and node settings, as stored in `config.toml`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Informational: the seller id of the key in this home.
    #[serde(default)]
    pub identity: IdentitySection,
    /// Defaults for the user's listings and searches.
    #[serde(default)]
    pub market: MarketSection,
    /// Node settings.
    #[serde(default)]
    pub node: NodeSection,
    /// Private messages and the mailbox this node keeps for others.
    #[serde(default)]
    pub messaging: MessagingSection,
    /// Alerts of saved searches, watched and own listings.
    #[serde(default)]
    pub alerts: AlertsSection,
    /// Photos: the blob store's cache.
    #[serde(default)]
    pub media: MediaSection,
    /// Reachability behind NAT and the relay for others (`home/reach.rs`).
    #[serde(default)]
    pub reach: ReachSection,
}

/// `[media]`: how much disk photos fetched from others may take.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MediaSection {
    /// MiB of photos fetched on demand kept in the cache (least recently used go first); the
    /// user's own photos and the thumbnails of carried listings do not count against it.
    pub cache_mib: u64,
    /// Chunk requests of one peer read at once (1 to 64); more are answered Busy.
    pub serve_per_peer: usize,
    /// Chunk requests of all peers read at once (1 to 1,024); more are answered Busy.
    pub serve_total: usize,
    /// Chunks (up to 256 KiB each) one peer may ask for a second on average (1 to 10,000).
    pub serve_peer_chunks_per_sec: u32,
    /// Chunks one peer may ask for at once after a quiet spell (1 to 100,000).
    pub serve_peer_chunk_burst: u32,
}

/// The default photo cache: a re-encoded photo (1600 px, JPEG) is 200 to 500 KiB, so 512 MiB
/// keeps the photos of a thousand or more listings looked at, a small share of a laptop's disk.
pub const DEFAULT_CACHE_MIB: u64 = 512;

impl Default for MediaSection {
    fn default() -> Self {
        let serve = crate::network::blobs::ServeLimits::default();
        MediaSection {
            cache_mib: DEFAULT_CACHE_MIB,
            serve_per_peer: serve.per_peer,
            serve_total: serve.total,
            serve_peer_chunks_per_sec: serve.peer_chunks_per_sec as u32,
            serve_peer_chunk_burst: serve.peer_chunk_burst,
        }
    }
}

/// `[alerts]`: when the warning before a watched or an own listing expires fires, and whether
/// alerts are shown as desktop notifications.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AlertsSection {
    /// Hours before a watched or an own listing expires that its warning fires (1 to 720).
    pub expiry_warning_hours: u64,
    /// Show alerts as desktop notifications (`notify-send` on Linux, `osascript` on macOS);
    /// off by default. Without the command the node runs on and logs it once.
    pub desktop: bool,
}

impl Default for AlertsSection {
    fn default() -> Self {
        AlertsSection {
            expiry_warning_hours: crate::alerts::watched::DEFAULT_EXPIRY_WARNING.as_secs() / 3600,
            desktop: false,
        }
    }
}

/// `[messaging]`: how long the user's messages wait for delivery, and what this node holds for
/// other nodes' offline users (its mailbox). Every node is a mailbox for others: these bound it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MessagingSection {
    /// Days a message waits for delivery before it is marked expired (1 to 14).
    pub lifetime_days: u64,
    /// Mailbox peers a message is deposited with while its recipient is unreachable (1 to 20).
    pub mailbox_copies: usize,
    /// Messages held for one recipient.
    pub mailbox_per_recipient_messages: usize,
    /// KiB held for one recipient.
    pub mailbox_per_recipient_kib: u64,
    /// Messages held from one depositing peer.
    pub mailbox_per_depositor_messages: usize,
    /// KiB held from one depositing peer.
    pub mailbox_per_depositor_kib: u64,
    /// MiB held for everyone.
    pub mailbox_total_mib: u64,
    /// Message requests (deliveries, deposits, collects) one peer may make per second, on
    /// average; a peer beyond it is refused and penalized.
    pub peer_requests_per_sec: u32,
    /// Message requests one peer may make at once after a quiet spell.
    pub peer_burst: u32,
}

impl Default for MessagingSection {
    fn default() -> Self {
        let d = crate::messaging::MessagingConfig::default();
        MessagingSection {
            lifetime_days: d.lifetime_secs / 86_400,
            mailbox_copies: d.mailbox_copies,
            mailbox_per_recipient_messages: d.mailbox_per_recipient_messages,
            mailbox_per_recipient_kib: d.mailbox_per_recipient_bytes / 1024,
            mailbox_per_depositor_messages: d.mailbox_per_depositor_messages,
            mailbox_per_depositor_kib: d.mailbox_per_depositor_bytes / 1024,
            mailbox_total_mib: d.mailbox_total_bytes / (1024 * 1024),
            peer_requests_per_sec: crate::network::messaging::DEFAULT_RATE.per_sec as u32,
            peer_burst: crate::network::messaging::DEFAULT_RATE.burst,
        }
    }
}

/// `[identity]`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IdentitySection {
    /// The seller id (written by `init`, for the user's information).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seller: Option<String>,
}

/// `[market]`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MarketSection {
    /// Currency of prices written without one.
    pub currency: String,
    /// Home location "LAT,LON": the default for listings and the centre of the area followed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub location: Option<String>,
    /// Open offers one buyer may have on one listing (as seller: more are declined; as buyer:
    /// more are refused before they are sent).
    #[serde(default = "default_offers_per_listing")]
    pub max_open_offers_per_listing: usize,
    /// Open offers one buyer may have over all of a seller's listings (as buyer: overall).
    #[serde(default = "default_offers_per_buyer")]
    pub max_open_offers_per_buyer: usize,
}

fn default_offers_per_listing() -> usize {
    crate::market::MarketConfig::default().max_open_offers_per_listing
}
fn default_offers_per_buyer() -> usize {
    crate::market::MarketConfig::default().max_open_offers_per_buyer
}

impl Default for MarketSection {
    fn default() -> Self {
        MarketSection {
            currency: "EUR".into(),
            location: None,
            max_open_offers_per_listing: default_offers_per_listing(),
            max_open_offers_per_buyer: default_offers_per_buyer(),
        }
    }
}

/// `[node]`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NodeSection {
    /// API address (always loopback).
    pub api: String,
    /// libp2p listen addresses.
    #[serde(default)]
    pub listen: Vec<String>,
    /// Peers to dial at start.
    #[serde(default)]
    pub bootstrap: Vec<String>,
    /// Domains whose `dnsaddr` records name bootstrap peers (`_dnsaddr.DOMAIN` TXT records).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub bootstrap_dnsaddr: Vec<String>,
    /// Discover peers on the local network.
    #[serde(default = "yes")]
    pub mdns: bool,
    /// Radius around the home location whose listings the node keeps, in km.
    #[serde(default = "default_radius")]
    pub follow_radius_km: f64,
    /// The memory budget in MiB the node sizes its caches from (`budget.rs`; 64 to 1,048,576).
    #[serde(default = "default_memory")]
    pub memory_mib: u64,
}

fn default_memory() -> u64 {
    crate::budget::DEFAULT_MEMORY_MIB
}

fn yes() -> bool {
    true
}
fn default_radius() -> f64 {
    50.0
}

impl Default for NodeSection {
    fn default() -> Self {
        NodeSection {
            api: DEFAULT_API.into(),
            listen: vec![
                "/ip4/0.0.0.0/tcp/0".into(),
                "/ip4/0.0.0.0/udp/0/quic-v1".into(),
            ],
            bootstrap: Vec::new(),
            bootstrap_dnsaddr: Vec::new(),
            mdns: true,
            follow_radius_km: default_radius(),
            memory_mib: default_memory(),
        }
    }
}

impl Config {
    /// The home currency.
    pub fn currency(&self) -> Result<Currency, HomeError> {
        Currency::new(&self.market.currency).map_err(|e| HomeError::BadConfig {
            path: PathBuf::from(CONFIG_FILE),
            reason: format!("market.currency: {e}"),
        })
    }

    /// The negotiation limits, checked.
    pub fn market_limits(&self) -> Result<crate::market::MarketConfig, HomeError> {
        let m = &self.market;
        for (field, v) in [
            ("max_open_offers_per_listing", m.max_open_offers_per_listing),
            ("max_open_offers_per_buyer", m.max_open_offers_per_buyer),
        ] {
            if !(1..=10_000).contains(&v) {
                return Err(HomeError::BadConfig {
                    path: PathBuf::from(CONFIG_FILE),
                    reason: format!("market.{field}: {v} is out of range: 1 to 10000"),
                });
            }
        }
        Ok(crate::market::MarketConfig {
            max_open_offers_per_listing: m.max_open_offers_per_listing,
            max_open_offers_per_buyer: m.max_open_offers_per_buyer,
        })
    }

    /// The memory budget (`[node] memory_mib`), checked.
    pub fn memory_budget(&self) -> Result<crate::budget::MemoryBudget, HomeError> {
        crate::budget::MemoryBudget::from_mib(self.node.memory_mib).map_err(|e| {
            HomeError::BadConfig {
                path: PathBuf::from(CONFIG_FILE),
                reason: e.to_string(),
            }
        })
    }

    /// The photo cache budget in bytes, checked.
    pub fn media_cache_bytes(&self) -> Result<u64, HomeError> {
        // Up to 1 TiB: beyond it the figure is surely a typo (GiB meant as MiB, or the like).
        let max = 1024 * 1024;
        if self.media.cache_mib > max {
            return Err(HomeError::BadConfig {
                path: PathBuf::from(CONFIG_FILE),
                reason: format!(
                    "media.cache_mib: {} is out of range: 0 to {max}",
                    self.media.cache_mib
                ),
            });
        }
        Ok(self.media.cache_mib * 1024 * 1024)
    }

    /// What the node serves of its photos at once and how fast (`[media] serve_*`), checked.
    pub fn blob_serve(&self) -> Result<crate::network::blobs::ServeLimits, HomeError> {
        let m = &self.media;
        for (field, v, max) in [
            ("serve_per_peer", m.serve_per_peer as u64, 64),
            ("serve_total", m.serve_total as u64, 1024),
            (
                "serve_peer_chunks_per_sec",
                u64::from(m.serve_peer_chunks_per_sec),
                10_000,
            ),
            (
                "serve_peer_chunk_burst",
                u64::from(m.serve_peer_chunk_burst),
                100_000,
            ),
        ] {
            if !(1..=max).contains(&v) {
                return Err(HomeError::BadConfig {
                    path: PathBuf::from(CONFIG_FILE),
                    reason: format!("media.{field}: {v} is out of range: 1 to {max}"),
                });
            }
        }
        Ok(crate::network::blobs::ServeLimits {
            per_peer: m.serve_per_peer,
            total: m.serve_total,
            peer_chunks_per_sec: f64::from(m.serve_peer_chunks_per_sec),
            peer_chunk_burst: m.serve_peer_chunk_burst,
        })
    }

    /// The alert settings for the user `owner`, checked.
    pub fn alerts(
        &self,
        owner: swapmeet_protocol::PublicKey,
    ) -> Result<crate::alerts::AlertsConfig, HomeError> {
        let c = crate::alerts::AlertsConfig {
            owner: Some(owner),
            expiry_warning: std::time::Duration::from_secs(
                self.alerts.expiry_warning_hours.saturating_mul(3600),
            ),
            desktop: self.alerts.desktop,
        };
        c.validate().map_err(|e| HomeError::BadConfig {
            path: PathBuf::from(CONFIG_FILE),
            reason: format!("alerts.{e}"),
        })?;
        Ok(c)
    }

    /// The messaging settings, checked.
    pub fn messaging(&self) -> Result<crate::messaging::MessagingConfig, HomeError> {
        let m = &self.messaging;
        let bad = |field: &str, rule: &str| HomeError::BadConfig {
            path: PathBuf::from(CONFIG_FILE),
            reason: format!("messaging.{field}: {rule}"),
        };
        let max_days = swapmeet_protocol::limits::MAX_MESSAGE_LIFETIME_SECS / 86_400;
        if !(1..=max_days).contains(&m.lifetime_days) {
            return Err(bad("lifetime_days", &format!("must be 1 to {max_days}")));
        }
        if !(1..=20).contains(&m.mailbox_copies) {
            return Err(bad("mailbox_copies", "must be 1 to 20"));
        }
        for (field, v) in [
            (
                "mailbox_per_recipient_messages",
                m.mailbox_per_recipient_messages as u64,
            ),
            ("mailbox_per_recipient_kib", m.mailbox_per_recipient_kib),
            (
                "mailbox_per_depositor_messages",
                m.mailbox_per_depositor_messages as u64,
            ),
            ("mailbox_per_depositor_kib", m.mailbox_per_depositor_kib),
            ("mailbox_total_mib", m.mailbox_total_mib),
        ] {
            // 0 turns the mailbox off for that bound; a huge value is a typo, not a wish.
            if v > 1 << 30 {
                return Err(bad(field, "is out of range"));
            }
        }
        if !(1..=100_000).contains(&m.peer_requests_per_sec) {
            return Err(bad("peer_requests_per_sec", "must be 1 to 100000"));
        }
        if !(1..=100_000).contains(&m.peer_burst) {
            return Err(bad("peer_burst", "must be 1 to 100000"));
        }
        Ok(crate::messaging::MessagingConfig {
            lifetime_secs: m.lifetime_days * 86_400,
            mailbox_copies: m.mailbox_copies,
            mailbox_per_recipient_messages: m.mailbox_per_recipient_messages,
            mailbox_per_recipient_bytes: m.mailbox_per_recipient_kib * 1024,
            mailbox_per_depositor_messages: m.mailbox_per_depositor_messages,
            mailbox_per_depositor_bytes: m.mailbox_per_depositor_kib * 1024,
            mailbox_total_bytes: m.mailbox_total_mib * 1024 * 1024,
        })
    }

    /// The home location.
    pub fn location(&self) -> Result<Option<(f64, f64)>, HomeError> {
        match &self.market.location {
            None => Ok(None),
            Some(s) => geo::parse_lat_lon(s)
                .map(Some)
                .map_err(|e| HomeError::BadConfig {
                    path: PathBuf::from(CONFIG_FILE),
                    reason: format!("market.location: {e}"),
                }),
        }
    }
}

/// What `init` did.
#[derive(Clone, Debug, Serialize)]
pub struct InitReport {
    /// Whether a new key was created (false: the existing one was kept).
    pub created_key: bool,
    /// The seller id.
    pub seller: PublicKey,
    /// The libp2p PeerId of the same key.
    pub peer_id: String,
    /// The home folder.
    pub home: PathBuf,
    /// The config file.
    pub config_path: PathBuf,
}

/// Options of `init`.
#[derive(Clone, Debug, Default)]
pub struct InitOptions {
    /// Home location.
    pub location: Option<(f64, f64)>,
    /// Home currency.
    pub currency: Option<Currency>,
}

/// Where the running node listens, as written to `node.json`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct NodeFile {
    /// API address.
    pub api: SocketAddr,
    /// Process id.
    pub pid: u32,
    /// Seller id.
    pub seller: String,
    /// PeerId.
    pub peer_id: String,
}

/// A home folder.
#[derive(Clone, Debug)]
pub struct Home {
    dir: PathBuf,
}

/// The PeerId (text) of a seller key: the node's libp2p identity is the user's key.
pub fn peer_id_of(key: &PublicKey) -> String {
    libp2p::identity::ed25519::PublicKey::try_from_bytes(key.as_bytes())
        .map(|pk| {
            libp2p::identity::PublicKey::from(pk)
                .to_peer_id()
                .to_string()
        })
        .unwrap_or_default()
}

impl Home {
    /// A home at `dir` (nothing is created until `init`).
    pub fn new(dir: PathBuf) -> Home {
        Home { dir }
    }

    /// The platform default: `<data dir>/swapmeet`.
    pub fn default_dir() -> Option<PathBuf> {
        dirs::data_dir().map(|d| d.join("swapmeet"))
    }

    /// The folder.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The engine's data folder.
    pub fn data_dir(&self) -> PathBuf {
        self.dir.join(DATA_DIR)
    }

    /// The blob store (photos and thumbnails).
    pub fn blobs_dir(&self) -> PathBuf {
        self.dir.join(BLOBS_DIR)
    }

    /// The config file.
    pub fn config_path(&self) -> PathBuf {
        self.dir.join(CONFIG_FILE)
    }

    /// The node file.
    pub fn node_file_path(&self) -> PathBuf {
        self.dir.join(NODE_FILE)
    }

    /// The token file.
    pub fn token_path(&self) -> PathBuf {
        self.dir.join(TOKEN_FILE)
    }

    /// Creates the identity and config if missing; keeps an existing key. Location and
    /// currency, when given, are written to the config.
    pub fn init(&self, opts: &InitOptions) -> Result<InitReport, HomeError> {
        create_private_dir(&self.dir)?;
        let key_path = self.dir.join(KEY_FILE);
        let (secret, created_key) = match self.load_key() {
            Ok(k) => (k, false),
            Err(HomeError::NotInitialized(_)) => {
                let k = SecretKey::generate();
                let line = format!("{KEY_PREFIX}{}\n", hex::encode(k.to_bytes()));
                write_private(&key_path, line.as_bytes())?;
                (k, true)
            }
            Err(e) => return Err(e),
        };
        let seller = secret.public();
        let mut config = if self.config_path().exists() {
            self.load_config()?
        } else {
            Config::default()
        };
        config.identity.seller = Some(seller.to_string());
        if let Some((lat, lon)) = opts.location {
            config.market.location = Some(format!("{lat:.4},{lon:.4}"));
        }
        if let Some(c) = opts.currency {
            config.market.currency = c.code().to_string();
        }
        self.save_config(&config)?;
        self.token()?;
        Ok(InitReport {
            created_key,
            seller,
            peer_id: peer_id_of(&seller),
            home: self.dir.clone(),
            config_path: self.config_path(),
        })
    }

    /// The user's secret key.
    pub fn load_key(&self) -> Result<SecretKey, HomeError> {
        let path = self.dir.join(KEY_FILE);
        let text = match std::fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(HomeError::NotInitialized(self.dir.clone()))
            }
            Err(e) => return Err(io("reading the identity key", &path)(e)),
        };
        let bad = |reason: &str| HomeError::BadKey {
            path: path.clone(),
            reason: reason.into(),
        };
        let hex_part = text
            .trim()
            .strip_prefix(KEY_PREFIX)
            .ok_or_else(|| bad("missing the swapmeet-secret-key-v1 prefix"))?;
        let bytes = hex::decode(hex_part.trim()).map_err(|_| bad("not hex"))?;
        let seed: [u8; 32] = bytes.try_into().map_err(|_| bad("not 32 bytes"))?;
        Ok(SecretKey::from_bytes(seed))
    }

    /// The config (defaults when the file is absent).
    pub fn load_config(&self) -> Result<Config, HomeError> {
        let path = self.config_path();
        let meta = match std::fs::metadata(&path) {
            Ok(m) => m,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Config::default()),
            Err(e) => return Err(io("reading the config", &path)(e)),
        };
        if meta.len() > MAX_CONFIG_BYTES {
            return Err(HomeError::BadConfig {
                path,
                reason: format!("{} bytes, the limit is {MAX_CONFIG_BYTES}", meta.len()),
            });
        }
        let text = std::fs::read_to_string(&path).map_err(io("reading the config", &path))?;
        let config: Config = toml::from_str(&text).map_err(|e| HomeError::BadConfig {
            path: path.clone(),
            reason: e.to_string(),
        })?;
        config.currency().map_err(|e| HomeError::BadConfig {
            path: path.clone(),
            reason: e.to_string(),
        })?;
        config.location().map_err(|e| HomeError::BadConfig {
            path: path.clone(),
            reason: e.to_string(),
        })?;
        config.reach()?;
        config.dnsaddr_bootstrap()?;
        Ok(config)
    }

    /// Writes the config.
    pub fn save_config(&self, config: &Config) -> Result<(), HomeError> {
        let path = self.config_path();
        let text = toml::to_string_pretty(config).map_err(|e| HomeError::BadConfig {
            path: path.clone(),
            reason: e.to_string(),
        })?;
        let mut body =
            String::from("# swapmeet node configuration. Locations are \"LAT,LON\" in degrees.\n");
        body.push_str(&text);
        atomic_write(&path, body.as_bytes(), false)
    }

    /// The API token, created on first use.
    pub fn token(&self) -> Result<String, HomeError> {
        let path = self.token_path();
        match std::fs::read_to_string(&path) {
            Ok(t) if t.trim().len() >= 32 => return Ok(t.trim().to_string()),
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(io("reading the API token", &path)(e)),
        }
        let mut raw = [0u8; 32];
        getrandom::fill(&mut raw).map_err(|e| {
            io("generating the API token", &path)(std::io::Error::other(e.to_string()))
        })?;
        let token = hex::encode(raw);
        write_private(&path, format!("{token}\n").as_bytes())?;
        Ok(token)
    }

    /// Records where the running node listens.
    pub fn write_node_file(&self, file: &NodeFile) -> Result<(), HomeError> {
        let body = serde_json::to_vec_pretty(file).unwrap_or_default();
        atomic_write(&self.node_file_path(), &body, true)
    }

    /// Reads where the running node listens (it may be stale: the caller checks by connecting).
    pub fn read_node_file(&self) -> Result<Option<NodeFile>, HomeError> {
        let path = self.node_file_path();
        match std::fs::read(&path) {
            Ok(b) => Ok(serde_json::from_slice(&b).ok()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(io("reading", &path)(e)),
        }
    }

    /// Removes the node file (on shutdown).
    pub fn remove_node_file(&self) {
        let _ = std::fs::remove_file(self.node_file_path());
    }
}

fn create_private_dir(dir: &Path) -> Result<(), HomeError> {
    std::fs::create_dir_all(dir).map_err(io("creating the home folder", dir))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
            .map_err(io("restricting the home folder", dir))?;
    }
    Ok(())
}

/// Writes a file readable by the owner only, replacing it atomically.
fn write_private(path: &Path, body: &[u8]) -> Result<(), HomeError> {
    atomic_write(path, body, true)
}

fn atomic_write(path: &Path, body: &[u8], private: bool) -> Result<(), HomeError> {
    let tmp = path.with_extension("tmp");
    {
        let mut opts = std::fs::OpenOptions::new();
        opts.write(true).create(true).truncate(true);
        #[cfg(unix)]
        if private {
            use std::os::unix::fs::OpenOptionsExt;
            opts.mode(0o600);
        }
        #[cfg(not(unix))]
        let _ = private;
        let mut f = opts.open(&tmp).map_err(io("writing", &tmp))?;
        f.write_all(body).map_err(io("writing", &tmp))?;
        f.sync_all().map_err(io("syncing", &tmp))?;
    }
    std::fs::rename(&tmp, path).map_err(io("replacing", path))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn media_cache_is_read_and_checked() {
        let c = Config::default();
        assert_eq!(c.media_cache_bytes().unwrap(), 512 * 1024 * 1024);
        let c: Config = toml::from_str("[media]\ncache_mib = 64\n").unwrap();
        assert_eq!(c.media_cache_bytes().unwrap(), 64 * 1024 * 1024);
        let c: Config = toml::from_str("[media]\ncache_mib = 2000000\n").unwrap();
        let e = c.media_cache_bytes().unwrap_err().to_string();
        assert!(
            e.contains("media.cache_mib") && e.contains("1048576"),
            "{e}"
        );
        assert!(toml::from_str::<Config>("[media]\ncache = 1\n").is_err());
    }

    #[test]
    fn market_limits_default_and_are_checked() {
        let mut c = Config::default();
        assert_eq!(
            c.market_limits().unwrap(),
            crate::market::MarketConfig::default()
        );
        let old: Config = toml::from_str("[market]\ncurrency = \"EUR\"\n").unwrap();
        assert_eq!(old.market.max_open_offers_per_listing, 3);
        assert_eq!(old.market.max_open_offers_per_buyer, 50);
        c.market.max_open_offers_per_listing = 0;
        let e = c.market_limits().unwrap_err();
        assert!(
            e.to_string().contains("market.max_open_offers_per_listing"),
            "{e}"
        );
    }

    #[test]
    fn messaging_settings_are_read_and_checked() {
        let dir = tempfile::tempdir().unwrap();
        let home = Home::new(dir.path().to_path_buf());
        home.init(&InitOptions::default()).unwrap();
        let path = dir.path().join(CONFIG_FILE);
        let written = std::fs::read_to_string(&path).unwrap();
        // `init` writes the section with its defaults, for the user to see and edit.
        let at = written.find("[messaging]").unwrap();
        let base = written[..at].to_string();
        std::fs::write(&path, &base).unwrap();
        // Absent: the defaults.
        let c = home.load_config().unwrap();
        assert_eq!(
            c.messaging().unwrap(),
            crate::messaging::MessagingConfig::default()
        );
        std::fs::write(
            &path,
            format!("{base}\n[messaging]\nlifetime_days = 3\nmailbox_per_recipient_kib = 100\n"),
        )
        .unwrap();
        let m = home.load_config().unwrap().messaging().unwrap();
        assert_eq!(m.lifetime_secs, 3 * 86_400);
        assert_eq!(m.mailbox_per_recipient_bytes, 100 * 1024);
        for (bad, field) in [
            ("lifetime_days = 30", "messaging.lifetime_days"),
            ("mailbox_copies = 0", "messaging.mailbox_copies"),
            (
                "peer_requests_per_sec = 0",
                "messaging.peer_requests_per_sec",
            ),
        ] {
            std::fs::write(&path, format!("{base}\n[messaging]\n{bad}\n")).unwrap();
            let e = home.load_config().unwrap().messaging().unwrap_err();
            assert!(e.to_string().contains(field), "{e}");
        }
        std::fs::write(&path, format!("{base}\n[messaging]\nlifetime = 3\n")).unwrap();
        assert!(home.load_config().is_err(), "an unknown setting is refused");
    }

    #[test]
    fn init_creates_and_keeps_the_key() {
        let dir = tempfile::tempdir().unwrap();
        let home = Home::new(dir.path().join("h"));
        let first = home.init(&InitOptions::default()).unwrap();
        assert!(first.created_key);
        let second = home
            .init(&InitOptions {
                location: Some((52.52, 13.405)),
                currency: Some(Currency::new("USD").unwrap()),
            })
            .unwrap();
        assert!(!second.created_key);
        assert_eq!(first.seller, second.seller);
        let cfg = home.load_config().unwrap();
        assert_eq!(cfg.market.currency, "USD");
        assert_eq!(cfg.location().unwrap(), Some((52.52, 13.405)));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(home.dir().join(KEY_FILE))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
            let mode = std::fs::metadata(home.token_path())
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        assert!(!first.peer_id.is_empty());
    }

    #[test]
    fn damaged_key_is_an_error_not_a_new_key() {
        let dir = tempfile::tempdir().unwrap();
        let home = Home::new(dir.path().to_path_buf());
        std::fs::write(dir.path().join(KEY_FILE), "garbage").unwrap();
        assert!(matches!(
            home.init(&InitOptions::default()),
            Err(HomeError::BadKey { .. })
        ));
        // The damaged file is left for the user to recover, not overwritten.
        assert_eq!(
            std::fs::read_to_string(dir.path().join(KEY_FILE)).unwrap(),
            "garbage"
        );
    }
}
