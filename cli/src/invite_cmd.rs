//! A first peer without a server: `swapmeet invite` prints this node's invite (text and a
//! terminal QR code), `swapmeet join INVITE` adds the peer of someone's invite.
//!
//! The answers are read into the API's own types (`swapmeet_node::api::reach`).

use anyhow::{anyhow, Result};
use qrcode::render::unicode::Dense1x2;
use qrcode::{EcLevel, QrCode};
use serde_json::json;
use swapmeet_node::api::reach::{InviteAnswer, JoinAnswer};
use swapmeet_node::home::Home;
use swapmeet_node::network::invite::Invite;

use crate::args::JoinArgs;
use crate::client::Client;
use crate::message_cmd::typed;
use crate::output::Out;
use crate::Done;

/// The invite as a QR code of half-block characters (two modules per character cell, so it
/// stays square in a terminal). Upper case: a QR code's alphanumeric mode carries base32 in
/// fewer modules than its byte mode.
fn qr(invite: &str) -> Result<String> {
    let code = QrCode::with_error_correction_level(invite.to_ascii_uppercase(), EcLevel::L)
        .map_err(|e| anyhow!("the invite does not fit a QR code: {e}"))?;
    Ok(code
        .render::<Dense1x2>()
        .dark_color(Dense1x2::Light)
        .light_color(Dense1x2::Dark)
        .quiet_zone(true)
        .build())
}

/// `swapmeet invite [--no-qr]`.
pub fn invite(home: &Home, out: &Out, no_qr: bool) -> Result<Done> {
    let c = Client::connect(home)?;
    let a: InviteAnswer = typed(c.get("/v1/invite")?)?;
    let code = if no_qr || out.json {
        String::new()
    } else {
        qr(&a.invite)?
    };
    out.emit(&json!(a), || {
        let mut t = format!(
            "{}\n\nGive this line (or the QR code) to someone; they run `swapmeet join <invite>`.\nIt holds your peer id {} and {} address(es):",
            a.invite,
            a.peer_id,
            a.addresses.len()
        );
        for addr in &a.addresses {
            t.push_str(&format!("\n  {addr}"));
        }
        if !code.is_empty() {
            t.push('\n');
            t.push_str(&code);
        }
        t
    })?;
    Ok(Done::Ok)
}

/// `swapmeet join INVITE`.
pub fn join(home: &Home, out: &Out, a: JoinArgs) -> Result<Done> {
    // Checked before the node is contacted, so a typo is named at once.
    Invite::parse(&a.invite).map_err(|e| anyhow!("INVITE: {e}"))?;
    let c = Client::connect(home)?;
    let j: JoinAnswer = typed(c.post("/v1/join", &json!({ "invite": a.invite.trim() }))?)?;
    out.emit(&json!(j), || {
        if j.connected {
            format!(
                "joined {}: connected, and kept in the address book (dialled again after a restart)",
                j.peer_id
            )
        } else {
            format!(
                "added {} to the address book, but no address answered yet ({}); the node keeps dialling it",
                j.peer_id,
                j.errors.join("; ")
            )
        }
    })?;
    Ok(Done::Ok)
}
