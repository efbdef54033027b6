//! Desktop notifications of alerts, behind `[alerts] desktop = true` (off by default).
//!
//! Linux and the BSDs: `notify-send` (libnotify) when it is on `PATH`; macOS: `osascript`.
//! No crate: `notify-rust` needs D-Bus development libraries on Linux, and both commands are
//! what the desktop itself ships. The node never depends on it: when the command is missing
//! or fails, that is logged once and the alerts go on as before (list, SSE).

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};

use super::{Alert, AlertKind};

/// Notifications shown per batch of alerts; past it, one more says how many others there are
/// (a catch-up sync must not flood the desktop).
pub const MAX_PER_BATCH: usize = 3;

/// Sends desktop notifications; remembers that it failed so it logs only once.
#[derive(Debug, Default)]
pub struct Desktop {
    failed: AtomicBool,
}

/// The program that shows a notification on this platform, if there is one.
fn program() -> Option<(PathBuf, bool)> {
    if cfg!(target_os = "macos") {
        return Some((PathBuf::from("osascript"), true));
    }
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join("notify-send"))
        .find(|p| p.is_file())
        .map(|p| (p, false))
}

/// AppleScript string literal.
fn applescript_quote(s: &str) -> String {
    format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""))
}

/// The title and body of an alert's notification.
pub fn text_of(a: &Alert) -> (String, String) {
    let title = a.title.clone().unwrap_or_default();
    let price = a.price.map(|p| p.to_string()).unwrap_or_default();
    match a.kind {
        AlertKind::WantedMatch => (
            "swapmeet: someone wants what you sell".into(),
            format!("{title} (up to {price})"),
        ),
        AlertKind::Digest => (
            format!("swapmeet: {}", a.search_name),
            format!("{} new listings", a.count),
        ),
        AlertKind::PriceDrop => (
            format!("swapmeet: cheaper, {}", a.search_name),
            format!("{title}: {price}"),
        ),
        _ if !a.search_name.is_empty() => (
            format!("swapmeet: {}", a.search_name),
            format!("{title}: {price}"),
        ),
        _ => (
            "swapmeet".into(),
            format!("{title} {price}").trim().to_string(),
        ),
    }
}

impl Desktop {
    /// Shows the alerts (at most [`MAX_PER_BATCH`], then a count). Blocking: waits for each
    /// command, so call it off the async workers.
    pub fn notify(&self, alerts: &[Alert]) {
        if alerts.is_empty() {
            return;
        }
        let Some((prog, mac)) = program() else {
            self.fail("no notify-send on PATH (install libnotify-bin for desktop notifications)");
            return;
        };
        let mut shown: Vec<(String, String)> =
            alerts.iter().take(MAX_PER_BATCH).map(text_of).collect();
        if alerts.len() > MAX_PER_BATCH {
            shown.push((
                "swapmeet".into(),
                format!(
                    "{} more alerts: `swapmeet alerts`",
                    alerts.len() - MAX_PER_BATCH
                ),
            ));
        }
        for (title, body) in shown {
            let mut cmd = Command::new(&prog);
            if mac {
                cmd.arg("-e").arg(format!(
                    "display notification {} with title {}",
                    applescript_quote(&body),
                    applescript_quote(&title)
                ));
            } else {
                cmd.arg("--app-name=swapmeet").arg(&title).arg(&body);
            }
            let status = cmd
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status();
            match status {
                Ok(s) if s.success() => {}
                Ok(s) => self.fail(&format!("{} exited with {s}", prog.display())),
                Err(e) => self.fail(&format!("{} could not run: {e}", prog.display())),
            }
        }
    }

    fn fail(&self, why: &str) {
        if !self.failed.swap(true, Ordering::Relaxed) {
            tracing::warn!(
                reason = why,
                "desktop notifications failed; alerts are still kept (`swapmeet alerts`). Logged once."
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn applescript_strings_are_escaped() {
        assert_eq!(applescript_quote(r#"a "b" \c"#), r#""a \"b\" \\c""#);
    }
}
