//! deals, deals --export: the deals made, and a deal's receipt as one line of text that anyone
//! can verify from the two public keys alone (`swapmeet-deal1:`, PROTOCOL.md 12.3).

use anyhow::{anyhow, bail, Context, Result};
use serde_json::{json, Value};
use swapmeet_node::api::market::{DealJson, DealsJson};
use swapmeet_node::home::Home;
use swapmeet_node::messaging::Role;
use swapmeet_protocol::DealReceipt;

use crate::args::DealsArgs;
use crate::client::Client;
use crate::message_cmd::typed;
use crate::offer_cmd::{short, word};
use crate::output::{clip, date, table, Out};
use crate::util::hex_prefix;
use crate::Done;

/// Shortest deal id prefix taken.
const MIN_DEAL_PREFIX: usize = 8;

pub fn deals(home: &Home, out: &Out, a: DealsArgs) -> Result<Done> {
    if let Some(id) = a.export {
        return export(home, out, &id);
    }
    let c = Client::connect(home)?;
    let list: DealsJson = typed(c.get("/v1/deals")?)?;
    if out.json {
        for d in &list.deals {
            out.emit(&serde_json::to_value(d)?, String::new)?;
        }
        return Ok(Done::Ok);
    }
    if list.deals.is_empty() {
        out.emit(&Value::Null, || {
            "no deals yet; see your negotiations with `swapmeet offers`".into()
        })?;
        return Ok(Done::Ok);
    }
    let rows: Vec<Vec<String>> = list
        .deals
        .iter()
        .map(|d| {
            vec![
                short(&d.id),
                match d.role {
                    Role::Buyer => "bought".into(),
                    Role::Seller => "sold".into(),
                },
                clip(
                    &d.title
                        .clone()
                        .unwrap_or_else(|| format!("listing {}", d.listing)),
                    28,
                ),
                if d.quantity == 1 {
                    d.price.clone()
                } else {
                    format!("{} for {}", d.price, d.quantity)
                },
                date(d.accepted_at),
                word(&d.state),
                clip(other(d), 14),
                d.pickup_at.clone().unwrap_or_default(),
            ]
        })
        .collect();
    out.emit(&Value::Null, || {
        table(
            &[
                "DEAL", "ROLE", "LISTING", "PRICE", "ACCEPTED", "STATE", "WITH", "PICKUP",
            ],
            &rows,
        )
    })?;
    Ok(Done::Ok)
}

fn other(d: &DealJson) -> &str {
    match d.role {
        Role::Buyer => &d.seller,
        Role::Seller => &d.buyer,
    }
}

/// Prints the receipt line once both signatures are in; the CLI checks them itself before it
/// hands the line on, so what it prints is what anyone will find valid.
fn export(home: &Home, out: &Out, id: &str) -> Result<Done> {
    let id = hex_prefix("deal id", id, MIN_DEAL_PREFIX, "swapmeet deals")?;
    let c = Client::connect(home)?;
    let v = c.get(&format!("/v1/deals/{id}"))?;
    let d: DealJson = typed(v)?;
    let Some(line) = d.receipt.as_deref() else {
        bail!(
            "deal {} has no receipt yet: it is {} (a receipt needs both signatures; the other \
             side's node signs when it is online); see `swapmeet deals`",
            short(&d.id),
            word(&d.state)
        );
    };
    let receipt = DealReceipt::from_text(line)
        .and_then(|r| match r.verify() {
            Ok(_) => Ok(r),
            Err(e) => Err(e),
        })
        .map_err(|e| anyhow!(e))
        .with_context(|| {
            format!(
                "the node's receipt of deal {} does not verify",
                short(&d.id)
            )
        })?;
    if receipt.id().to_string() != d.id {
        bail!(
            "the node's receipt is of deal {}, not of deal {}",
            receipt.id(),
            d.id
        );
    }
    out.emit(&json!({"id": d.id, "receipt": line}), || line.to_string())?;
    Ok(Done::Ok)
}
