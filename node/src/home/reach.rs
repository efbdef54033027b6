//! `[reach]`: reachability behind NAT and the relay this node runs for others
//! (`crate::network::reach`), and `[node] bootstrap_dnsaddr`, checked into the network's types.

use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::{Config, HomeError, CONFIG_FILE};
use crate::network::reach::{ReachConfig, RelayLimits, RelayServe, RELAY_LIMIT_RANGES};

/// `[reach]` as stored in `config.toml`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ReachSection {
    /// The node is publicly reachable whatever AutoNAT finds: Kademlia is a server from the
    /// start. For a node with a known public address and open port (the first node of a new
    /// network, whose peers cannot confirm it yet); otherwise Kademlia is a client until
    /// AutoNAT confirms an address.
    pub assume_public: bool,
    /// Relay for others: "auto" (only while AutoNAT confirms this node is public), "on", "off".
    pub relay_server: RelayServe,
    /// Peers listening through this node at once (1 to 1,024).
    pub relay_max_reservations: u64,
    /// Relayed connections open at once (1 to 1,024).
    pub relay_max_circuits: u64,
    /// Relayed connections per peer at once (1 to 64).
    pub relay_max_circuits_per_peer: u64,
    /// Seconds a relayed connection may stay open (10 to 3,600); then the relay closes it.
    pub relay_circuit_secs: u64,
    /// KiB a relayed connection may carry each way (16 to 65,536); then the relay closes it.
    pub relay_circuit_kib: u64,
}

impl Default for ReachSection {
    fn default() -> Self {
        let r = RelayLimits::default();
        ReachSection {
            assume_public: false,
            relay_server: RelayServe::Auto,
            relay_max_reservations: r.max_reservations as u64,
            relay_max_circuits: r.max_circuits as u64,
            relay_max_circuits_per_peer: r.max_circuits_per_peer as u64,
            relay_circuit_secs: r.max_circuit_duration.as_secs(),
            relay_circuit_kib: r.max_circuit_bytes / 1024,
        }
    }
}

fn bad(reason: String) -> HomeError {
    HomeError::BadConfig {
        path: PathBuf::from(CONFIG_FILE),
        reason,
    }
}

/// Whether `name` is a DNS name a `/dnsaddr/` record can be looked up under.
fn check_domain(name: &str) -> Result<(), String> {
    if name.is_empty() || name.len() > 253 {
        return Err(format!(
            "'{name}' is not a domain name: 1 to 253 characters"
        ));
    }
    for label in name.trim_end_matches('.').split('.') {
        let ok = !label.is_empty()
            && label.len() <= 63
            && label
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
            && !label.starts_with('-')
            && !label.ends_with('-');
        if !ok {
            return Err(format!(
                "'{name}' is not a domain name: each label 1 to 63 letters, digits, '-' or '_' (e.g. bootstrap.example.org)"
            ));
        }
    }
    Ok(())
}

/// Most `bootstrap_dnsaddr` domains.
pub const MAX_DNSADDR_DOMAINS: usize = 8;

impl Config {
    /// The reachability settings, checked: each relay limit within its range.
    pub fn reach(&self) -> Result<ReachConfig, HomeError> {
        let r = &self.reach;
        let values = [
            r.relay_max_reservations,
            r.relay_max_circuits,
            r.relay_max_circuits_per_peer,
            r.relay_circuit_secs,
            r.relay_circuit_kib,
        ];
        for ((field, lo, hi), v) in RELAY_LIMIT_RANGES.into_iter().zip(values) {
            if !(lo..=hi).contains(&v) {
                return Err(bad(format!(
                    "reach.{field}: {v} is out of range: {lo} to {hi}"
                )));
            }
        }
        Ok(ReachConfig {
            assume_public: r.assume_public,
            relay_serve: r.relay_server,
            relay: RelayLimits {
                max_reservations: r.relay_max_reservations as usize,
                max_circuits: r.relay_max_circuits as usize,
                max_circuits_per_peer: r.relay_max_circuits_per_peer as usize,
                max_circuit_duration: Duration::from_secs(r.relay_circuit_secs),
                max_circuit_bytes: r.relay_circuit_kib * 1024,
            },
        })
    }

    /// The `/dnsaddr/DOMAIN` bootstrap addresses of `[node] bootstrap_dnsaddr`, checked. The
    /// DNS transport resolves each to the `dnsaddr=` TXT records under `_dnsaddr.DOMAIN` when
    /// it is dialled.
    pub fn dnsaddr_bootstrap(&self) -> Result<Vec<String>, HomeError> {
        let domains = &self.node.bootstrap_dnsaddr;
        if domains.len() > MAX_DNSADDR_DOMAINS {
            return Err(bad(format!(
                "node.bootstrap_dnsaddr: {} domains, the limit is {MAX_DNSADDR_DOMAINS}",
                domains.len()
            )));
        }
        domains
            .iter()
            .map(|d| {
                let d = d.trim();
                check_domain(d)
                    .map(|()| format!("/dnsaddr/{}", d.trim_end_matches('.')))
                    .map_err(|e| bad(format!("node.bootstrap_dnsaddr: {e}")))
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid_and_match_the_network_defaults() {
        let c = Config::default();
        let r = c.reach().unwrap();
        assert_eq!(r, ReachConfig::default());
        assert!(c.dnsaddr_bootstrap().unwrap().is_empty());
    }

    #[test]
    fn relay_limits_out_of_range_name_the_field_and_the_range() {
        let mut c = Config::default();
        c.reach.relay_circuit_kib = 8;
        let e = c.reach().unwrap_err().to_string();
        assert!(
            e.contains("reach.relay_circuit_kib: 8 is out of range: 16 to 65536"),
            "{e}"
        );
        let mut c = Config::default();
        c.reach.relay_max_circuits = 0;
        let e = c.reach().unwrap_err().to_string();
        assert!(
            e.contains("reach.relay_max_circuits: 0 is out of range: 1 to 1024"),
            "{e}"
        );
        let mut c = Config::default();
        c.reach.relay_circuit_secs = 86_400;
        let e = c.reach().unwrap_err().to_string();
        assert!(e.contains("reach.relay_circuit_secs: 86400"), "{e}");
    }

    #[test]
    fn the_section_parses_from_toml() {
        let c: Config = toml::from_str(
            "[reach]\nrelay_server = \"off\"\nrelay_circuit_kib = 2048\n[node]\napi = \"127.0.0.1:7420\"\nbootstrap_dnsaddr = [\"bootstrap.example.org.\"]\n",
        )
        .unwrap();
        let r = c.reach().unwrap();
        assert_eq!(r.relay_serve, RelayServe::Off);
        assert_eq!(r.relay.max_circuit_bytes, 2048 * 1024);
        assert_eq!(
            c.dnsaddr_bootstrap().unwrap(),
            vec!["/dnsaddr/bootstrap.example.org".to_string()]
        );
        let e = toml::from_str::<Config>("[reach]\nrelay_server = \"maybe\"\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("relay_server"), "{e}");
    }

    #[test]
    fn bad_domains_are_refused_by_name() {
        for d in ["", "exa mple.org", "-x.org", "a..b", &"a".repeat(64)] {
            let mut c = Config::default();
            c.node.bootstrap_dnsaddr = vec![d.to_string()];
            let e = c.dnsaddr_bootstrap().unwrap_err().to_string();
            assert!(e.contains("node.bootstrap_dnsaddr"), "{d}: {e}");
        }
        let mut c = Config::default();
        c.node.bootstrap_dnsaddr = vec!["a.org".into(); MAX_DNSADDR_DOMAINS + 1];
        assert!(c.dnsaddr_bootstrap().is_err());
    }
}
