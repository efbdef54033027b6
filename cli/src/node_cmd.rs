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
            s(&st["own_listings"]),
            mib(&st["store_bytes"]),
            mib(&st["index_bytes"]),
        );
        let net = &st["network"];
        if net.is_object() {
            t.push_str(&format!(
                "\nnetwork:       {}",
                serde_json::to_string_pretty(net).unwrap_or_default().replace('\n', "\n               ")
            ));
        } else {
            t.push_str("\nnetwork:       off");
        }
        t
    })?;
    Ok(Done::Ok)
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
                serde_json::Value::Object(_) => {
                    format!("{} {}", s(&peer["peer_id"]), s(&peer["address"]))
                }
                other => s(other),
            })?;
        }
    }
    Ok(Done::Ok)
}
