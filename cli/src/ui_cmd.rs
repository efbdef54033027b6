//! `swapmeet ui`: a one-time login link to the node's web UI, opened in the user's browser.
//!
//! The answer is read into the API's own type (`swapmeet_node::ui::UiLogin`).

use anyhow::Result;
use serde_json::json;
use swapmeet_node::home::Home;
use swapmeet_node::ui::UiLogin;

use crate::args::UiArgs;
use crate::client::Client;
use crate::message_cmd::typed;
use crate::output::Out;
use crate::Done;

/// The platform's "open this URL" command.
fn opener() -> Option<(&'static str, &'static [&'static str])> {
    if cfg!(target_os = "macos") {
        Some(("open", &[]))
    } else if cfg!(target_os = "windows") {
        Some(("rundll32", &["url.dll,FileProtocolHandler"]))
    } else if cfg!(unix) {
        Some(("xdg-open", &[]))
    } else {
        None
    }
}

/// Starts the browser on `url`; `false` when there is none to start (no desktop, no opener).
fn open_browser(url: &str) -> bool {
    let Some((cmd, args)) = opener() else {
        return false;
    };
    std::process::Command::new(cmd)
        .args(args)
        .arg(url)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .map(|s| s.success())
        .unwrap_or(false)
}

/// `swapmeet ui [--no-browser]`.
pub fn ui(home: &Home, out: &Out, a: UiArgs) -> Result<Done> {
    let c = Client::connect(home)?;
    let login: UiLogin = typed(c.post("/v1/ui/login", &json!({}))?)?;
    let opened = !a.no_browser && !out.json && open_browser(&login.url);
    out.emit(&json!(login), || {
        if opened {
            format!(
                "opened the web UI in your browser; if it did not appear, open this link within {} s (it works once):\n{}",
                login.expires_in_secs, login.url
            )
        } else {
            format!(
                "open this link in a browser on this machine within {} s (it works once):\n{}",
                login.expires_in_secs, login.url
            )
        }
    })?;
    Ok(Done::Ok)
}
