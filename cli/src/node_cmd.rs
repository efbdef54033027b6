//! init, node, id, status, peers.

use anyhow::{Context, Result};
use serde_json::json;
use swapmeet_node::home::{peer_id_of, Home, InitOptions};
use swapmeet_node::node::{self, NodeOptions};
use swapmeet_protocol::Currency;

use crate::args::{InitArgs, NodeArgs};
use crate::client::{require_identity, Client};
use crate::output::{s, Out};
use crate::util::lat_lon;
use crate::Done;

pub fn init(home: &Home, out: &Out, a: InitArgs) -> Result<Done> {
    let location = a
        .location
        .as_deref()
        .map(|l| lat_lon("--location", l))
        .transpose()?;
    let currency = a
        .currency
        .as_deref()
        .map(|c| Currency::new(c).map_err(|e| anyhow::anyhow!("--currency: {e}")))
        .transpose()?;
    let r = home.init(&InitOptions { location, currency })?;
    let config = home.load_config()?;
    out.emit(
        &json!({
            "created_key": r.created_key,
            "seller": r.seller.to_string(),
            "peer_id": r.peer_id,
            "home": r.home,
            "currency": config.market.currency,
            "location": config.market.location,
        }),
        || {
            let what = if r.created_key {
                "created a new identity"
            } else {
                "kept the existing identity (your key was not changed)"
            };
            format!(
                "{what} in {}\nseller id: {}\ncurrency:  {}\nlocation:  {}",
                r.home.display(),
                r.seller,
                config.market.currency,
                config
                    .market
                    .location
                    .as_deref()
                    .unwrap_or("(none: pass --location LAT,LON)")
            )
        },
    )?;
    Ok(Done::Ok)
}

pub fn node(home: Home, a: NodeArgs) -> Result<Done> {
    let api = a
        .api
        .as_deref()
        .map(|s| {
            s.parse()
                .map_err(|_| anyhow::anyhow!("--api: '{s}' is not HOST:PORT (e.g. 127.0.0.1:7420)"))
        })
        .transpose()?;
    let opts = NodeOptions {
        api,
        listen: a.listen,
        bootstrap: a.bootstrap,
        no_mdns: a.no_mdns,
        engine: None,
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    rt.block_on(node::run(home, opts, shutdown_signal()))?;
    Ok(Done::Ok)
}

/// Resolves on Ctrl-C or SIGTERM.
async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
}

pub fn id(home: &Home, out: &Out) -> Result<Done> {
    require_identity(home)?;
    // The identity is in the home; no running node is needed to tell it.
    let key = home.load_key()?;
    let seller = key.public();
    let peer = peer_id_of(&seller);
    out.emit(
        &json!({"seller": seller.to_string(), "peer_id": peer}),
        || format!("seller id: {seller}\npeer id:   {peer}"),
    )?;
    Ok(Done::Ok)
}

fn mib(v: &serde_json::Value) -> String {
    let b = v.as_f64().unwrap_or(0.0);
    if b < 1024.0 * 1024.0 {
        format!("{:.0} KiB", b / 1024.0)
    } else {
        format!("{:.1} MiB", b / 1024.0 / 1024.0)
    }
}

pub fn status(home: &Home, out: &Out) -> Result<Done> {
    let c = Client::connect(home)?;
    let st = c.get("/v1/status")?;
    out.emit(&st, || {
        let mut t = format!(
            "node:          up for {} s at {}\nseller id:     {}\npeer id:       {}\nlistings:      {} stored ({} searchable), {} of them yours\nstore:         {}\nindex:         {}",
            s(&st["uptime_secs"]),
            s(&st["api"]),
            s(&st["seller"]),
            s(&st["peer_id"]),
            s(&st["records"]),
            s(&st["indexed"]),
            // Counted once the store is read after a restart.
            st["own_listings"]
                .as_u64()
                .map_or_else(|| "?".to_string(), |n| n.to_string()),
            mib(&st["store_bytes"]),
            mib(&st["index_bytes"]),
        );
        let memory = &st["memory"];
        if memory["resident_bytes"].is_u64() {
            t.push_str(&format!(
                "\nmemory:        {} resident (caches sized from a budget of {})",
                mib(&memory["resident_bytes"]),
                mib(&memory["budget_bytes"]),
            ));
        }
        if let Some(read) = st["lookups"]["loading"]["read"].as_u64() {
            t.push_str(&format!(
                "\nstarting:      reading the store ({read} records so far); searches are \
                 answered meanwhile, storing waits until it is read"
            ));
        } else if let Some(why) = st["lookups"]["failed"].as_str() {
            t.push_str(&format!("\nstore:         not usable: {why}"));
        }
        let net = &st["network"];
        if net.is_object() {
            t.push_str(&network_text(net));
        } else {
            t.push_str("\nnetwork:       off");
        }
        t
    })?;
    Ok(Done::Ok)
}

/// The network part of `status`, for people.
fn network_text(net: &serde_json::Value) -> String {
    let mut t = String::new();
    for a in net["listen"].as_array().into_iter().flatten() {
        t.push_str(&format!("\nlistening on:  {}", s(a)));
    }
    t.push_str(&reach_text(&net["reachability"]));
    t.push_str(&format!(
        "\npeers:         {} connected, {} in the address book",
        s(&net["connected_peers"]),
        s(&net["known_peers"])
    ));
    let f = &net["following"];
    if f["everything"].as_bool() == Some(true) {
        t.push_str("\nfollowing:     everything (no home location)");
    } else if f.is_object() {
        t.push_str(&format!(
            "\nfollowing:     {} cells within {:.0} km of home{}",
            f["cells"].as_array().map_or(0, Vec::len),
            f["radius_km"].as_f64().unwrap_or(0.0),
            if f["shipping"].as_bool() == Some(true) {
                ", plus listings that ship"
            } else {
                ""
            }
        ));
    }
    if let Some(areas) = net["listings_per_area"].as_object() {
        if !areas.is_empty() {
            let list: Vec<String> = areas.iter().map(|(a, n)| format!("{a} {}", s(n))).collect();
            t.push_str(&format!("\nper area:      {}", list.join(", ")));
        }
    }
    let g = &net["gossip"];
    t.push_str(&format!(
        "\ngossip:        {} received, {} accepted, {} ignored, {} rejected, {} published",
        s(&g["received"]),
        s(&g["accepted"]),
        s(&g["ignored"]),
        s(&g["rejected"]),
        s(&g["published"])
    ));
    t.push_str(&format!("\ndht records:   {} held", s(&net["dht_records"])));
    // Read through the node's own type, so a field renamed there fails to compile here.
    if let Ok(p) =
        serde_json::from_value::<swapmeet_node::network::DhtPuts>(net["dht_puts"].clone())
    {
        t.push_str(&format!(
            "; puts of my listings: {} stored, {} tried again, {} given up",
            p.stored, p.retried, p.given_up
        ));
    }
    for sync in net["syncing"].as_array().into_iter().flatten() {
        let p = &sync["progress"];
        t.push_str(&format!(
            "\nsyncing with:  {} ({} missing, {} fetched, {} stored)",
            s(&sync["peer"]),
            s(&p["missing"]),
            s(&p["fetched"]),
            s(&p["stored"])
        ));
    }
    match net["last_sync"].as_object() {
        Some(last) => {
            let p = &last["progress"];
            let ago = now_secs().saturating_sub(last["finished_at"].as_u64().unwrap_or(0));
            t.push_str(&format!(
                "\nlast sync:     {} s ago with {}: {} stored of {} missing{}",
                ago,
                s(&last["peer"]),
                s(&p["stored"]),
                s(&p["missing"]),
                last.get("error")
                    .and_then(|e| e.as_str())
                    .map(|e| format!(" (ended early: {e})"))
                    .unwrap_or_default()
            ));
        }
        None => t.push_str("\nlast sync:     none yet"),
    }
    t
}

/// The reachability part of `status`: public, behind NAT via a relay, hole punches. Read
/// through the node's own type, so a field renamed there fails to compile here.
fn reach_text(v: &serde_json::Value) -> String {
    use swapmeet_node::network::reach::{ReachKind, Reachability};
    let Ok(r) = serde_json::from_value::<Reachability>(v.clone()) else {
        return String::new();
    };
    let mut t = match &r.kind {
        ReachKind::Unknown => "\nreachability:  not known yet (AutoNAT is testing)".to_string(),
        ReachKind::Public { addresses } => {
            format!("\nreachability:  public at {}", addresses.join(", "))
        }
        ReachKind::BehindNat => {
            "\nreachability:  behind NAT, no relay yet (looking for a peer that relays)".to_string()
        }
        ReachKind::Relayed { relay, circuit } => {
            format!("\nreachability:  behind NAT via relay {relay}\n               reachable at {circuit}")
        }
    };
    if r.assumed_public {
        t.push_str(" (config: assume_public)");
    }
    t.push_str(&format!(
        "\ndht mode:      {}{}",
        r.kad_mode,
        if r.relay_serving {
            format!(
                "; relaying for others ({} circuits open)",
                r.relayed_circuits
            )
        } else {
            String::new()
        }
    ));
    for p in &r.direct_after_hole_punch {
        t.push_str(&format!("\ndirect after hole punch: {}", p.peer));
    }
    t
}

fn now_secs() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// "  rejected N (last: class: reason)" for a peer some of whose gossip was rejected.
fn last_rejection(peer: &serde_json::Value) -> String {
    let n = peer["rejected"].as_u64().unwrap_or(0);
    if n == 0 {
        return String::new();
    }
    match peer["rejections"].as_array().and_then(|r| r.last()) {
        Some(r) => format!(
            "  rejected {n} (last: {}: {})",
            s(&r["class"]),
            s(&r["reason"])
        ),
        None => format!("  rejected {n}"),
    }
}

pub fn peers(home: &Home, out: &Out) -> Result<Done> {
    let c = Client::connect(home)?;
    let p = c.get("/v1/peers")?;
    let list = p["peers"].as_array().cloned().unwrap_or_default();
    if out.json {
        for peer in &list {
            out.emit(peer, String::new)?;
        }
    } else if list.is_empty() {
        out.emit(&p, || "no peers connected".into())?;
    } else {
        for peer in &list {
            out.emit(peer, || match peer {
                serde_json::Value::Object(_) => format!(
                    "{}  {} {}  {}{}{}",
                    s(&peer["peer_id"]),
                    s(&peer["direction"]),
                    s(&peer["address"]),
                    peer["agent"].as_str().unwrap_or("-"),
                    peer["score"]
                        .as_f64()
                        .map(|x| format!("  score {x:.1}"))
                        .unwrap_or_default(),
                    last_rejection(peer)
                ),
                other => s(other),
            })?;
        }
    }
    Ok(Done::Ok)
}
