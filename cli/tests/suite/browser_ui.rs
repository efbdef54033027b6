//! The web UI in a real browser (issue 17): Debian's Chromium, driven by playwright-core from
//! `cli/tests/browser/` (npm, lock file), against real `swapmeet node` processes in temporary
//! homes. The script `cli/tests/browser/e2e.mjs` does what a user does, through the pages only:
//! it sells with a photo on node A, finds the listing on node B with filters, opens it, makes an
//! offer, accepts it on A, and both see the deal; an invalid price shows its error next to the
//! field; a page of another origin and a rebound host name are refused; axe-core finds no
//! serious or critical violation on any page; screenshots go to `target/ui-screenshots/`.
//! The test then checks through the CLI that what the pages did is what the node holds.
//!
//! Needs Node.js (20 or later) with npm and Chromium (`apt-get install chromium`; `.ci/run`
//! installs both); `SWAPMEET_CHROMIUM` names another Chromium binary.

use crate::common;

use std::io::Cursor;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use common::Home;
use image::{ImageFormat, Rgb, RgbImage};
use serde_json::Value;

fn browser_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/browser")
}

/// Installs the pinned playwright-core and axe-core on a fresh clone.
fn ensure_packages() {
    let dir = browser_dir();
    if dir.join("node_modules/playwright-core").is_dir()
        && dir.join("node_modules/axe-core").is_dir()
    {
        return;
    }
    let out = Command::new("npm")
        .args(["ci", "--no-audit", "--no-fund"])
        .current_dir(&dir)
        .output()
        .unwrap_or_else(|e| panic!("npm (Node.js 20 or later) is needed for this test: {e}"));
    assert!(
        out.status.success(),
        "npm ci in cli/tests/browser failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn chromium() -> String {
    let path = std::env::var("SWAPMEET_CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into());
    assert!(
        Path::new(&path).exists(),
        "Chromium is needed for this test: install Debian's package (`apt-get install chromium`, as .ci/run does) or set SWAPMEET_CHROMIUM"
    );
    path
}

/// Where the screenshots go: `target/ui-screenshots/` of the workspace.
fn shots_dir() -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/ui-screenshots");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// A photo as a phone would take it (a JPEG of 1200x900 with some detail).
fn photo(dir: &Path) -> PathBuf {
    let img = RgbImage::from_fn(1200, 900, |x, y| {
        Rgb([
            (x * 255 / 1200) as u8,
            (y * 255 / 900) as u8,
            ((x / 40 + y / 40) % 2 * 200) as u8,
        ])
    });
    let mut out = Vec::new();
    img.write_to(&mut Cursor::new(&mut out), ImageFormat::Jpeg)
        .unwrap();
    let path = dir.join("road-bike.jpg");
    std::fs::write(&path, out).unwrap();
    path
}

fn api_of(h: &Home) -> String {
    let node: Value =
        serde_json::from_slice(&std::fs::read(h.path().join("node.json")).unwrap()).unwrap();
    node["api"].as_str().unwrap().to_string()
}

fn login_url(h: &Home) -> String {
    h.json_ok(&["ui", "--no-browser"])[0]["url"]
        .as_str()
        .unwrap()
        .to_string()
}

/// Runs `e2e.mjs SCENARIO` with `env`; panics with its output when it fails.
fn run_script(scenario: &str, env: &[(&str, String)]) {
    let mut cmd = Command::new("node");
    cmd.arg("e2e.mjs")
        .arg(scenario)
        .current_dir(browser_dir())
        .env("CHROMIUM", chromium())
        .env("SHOTS", shots_dir())
        .stdin(Stdio::null());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("cannot run `node` (Node.js 20 or later is needed): {e}"));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "the browser scenario `{scenario}` failed:\n{stdout}\n{stderr}"
    );
    println!("{stdout}");
}

#[test]
fn a_seller_and_a_buyer_trade_through_the_web_ui_of_two_nodes() {
    ensure_packages();
    let (seller, buyer) = common::seller_and_buyer();
    let scratch = tempfile::tempdir().unwrap();
    let photo = photo(scratch.path());
    run_script(
        "trade",
        &[
            ("SELLER_URL", login_url(&seller)),
            ("BUYER_URL", login_url(&buyer)),
            ("PHOTO", photo.display().to_string()),
        ],
    );
    // What the pages did is what both nodes hold: one listing, sold by the deal (its one item;
    // its photo was seen decoded on the buyer's page), one deal on each side.
    let mine = seller.json_ok(&["mine"]);
    assert_eq!(mine.len(), 1, "{mine:?}");
    assert_eq!(mine[0]["status"], "sold", "{mine:?}");
    let listing = mine[0]["id"].as_str().unwrap().to_string();
    for h in [&seller, &buyer] {
        let deals = common::wait_for("the deal on both nodes", || {
            let d = h.json_ok(&["deals"]);
            (d.len() == 1).then_some(d)
        });
        assert_eq!(deals[0]["listing"], listing.as_str(), "{deals:?}");
    }
}

#[test]
fn the_web_ui_shows_errors_by_their_field_and_refuses_other_origins_and_hosts() {
    ensure_packages();
    let h = Home::with_node("EUR");
    run_script(
        "refusals",
        &[("SELLER_URL", login_url(&h)), ("API", api_of(&h))],
    );
    // Nothing the refused requests or the invalid form tried was listed.
    assert!(h.json_lines(&["mine"]).is_empty());
}
