//! The web UI's door, through the real binary: `swapmeet ui` hands out a login link that works
//! once and becomes an HttpOnly, SameSite=Strict session cookie; the cookie opens the same `/v1`
//! API the CLI uses; a request from another origin, or to another Host name (DNS rebinding),
//! is refused and changes nothing; the bearer-token API is unchanged. (What the pages do is
//! tested in a real browser: `browser_ui.rs`.)

use crate::common;

use std::io::{Read, Write};
use std::net::TcpStream;

use base64::Engine as _;
use common::Home;
use serde_json::{json, Value};
use sha2::Digest as _;

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// An answer: status, headers (names in lower case), body (as text, and as the bytes that
/// came for a body that is not chunked: an image).
struct Answer {
    status: u16,
    headers: Vec<(String, String)>,
    body: String,
    bytes: Vec<u8>,
}

impl Answer {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
    fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or(Value::Null)
    }
}

/// One HTTP/1.1 request written by hand, so the test controls every header a browser (or an
/// attacker's page) would send, `Host` included.
fn raw(api: &str, method: &str, path: &str, headers: &[(&str, &str)], body: &str) -> Answer {
    let mut s = TcpStream::connect(api).unwrap();
    let mut req = format!("{method} {path} HTTP/1.1\r\nConnection: close\r\n");
    if !headers.iter().any(|(n, _)| n.eq_ignore_ascii_case("host")) {
        req.push_str(&format!("Host: {api}\r\n"));
    }
    for (n, v) in headers {
        req.push_str(&format!("{n}: {v}\r\n"));
    }
    if !body.is_empty() || method != "GET" {
        req.push_str(&format!(
            "Content-Type: application/json\r\nContent-Length: {}\r\n",
            body.len()
        ));
    }
    req.push_str("\r\n");
    req.push_str(body);
    s.write_all(req.as_bytes()).unwrap();
    let mut out = Vec::new();
    s.read_to_end(&mut out).unwrap();
    let bytes = out
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map_or_else(Vec::new, |at| out[at + 4..].to_vec());
    let text = String::from_utf8_lossy(&out).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let mut lines = head.lines();
    let status = lines
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    // Bodies here are small; a chunked one (the JSON answers) is undone by taking the part
    // between the first chunk size line and the closing 0.
    let body = if text.contains("transfer-encoding: chunked") {
        body.split_once("\r\n")
            .map(|(_, rest)| rest.rsplit_once("\r\n0\r\n").map_or(rest, |(b, _)| b))
            .unwrap_or(body)
            .to_string()
    } else {
        body.to_string()
    };
    Answer {
        status,
        headers,
        body,
        bytes,
    }
}

fn api_of(h: &Home) -> String {
    let node: Value =
        serde_json::from_slice(&std::fs::read(h.path().join("node.json")).unwrap()).unwrap();
    node["api"].as_str().unwrap().to_string()
}

/// `swapmeet ui --no-browser` through the binary: the link it prints.
fn login_link(h: &Home) -> String {
    let v = h.json_ok(&["ui", "--no-browser"]);
    let url = v[0]["url"].as_str().unwrap().to_string();
    assert_eq!(v[0]["expires_in_secs"], 120);
    url
}

/// Opens a login link as a browser would; the session cookie (`name=value`).
fn log_in(h: &Home) -> String {
    let api = api_of(h);
    let url = login_link(h);
    let path = url.split_once(&api).unwrap().1;
    let a = raw(&api, "GET", path, &[], "");
    assert_eq!(a.status, 200, "{}", a.body);
    let cookie = a.header("set-cookie").expect("a session cookie");
    for attr in ["HttpOnly", "SameSite=Strict", "Path=/"] {
        assert!(cookie.contains(attr), "cookie lacks {attr}: {cookie}");
    }
    cookie.split(';').next().unwrap().to_string()
}

fn draft(title: &str) -> String {
    json!({"title": title, "price": "120", "description": "Steel frame, 56 cm."}).to_string()
}

#[test]
fn a_login_link_works_once_and_its_cookie_opens_the_same_api_as_the_cli() {
    let h = Home::with_node("EUR");
    let api = api_of(&h);
    let url = login_link(&h);
    assert!(
        url.starts_with(&format!("http://{api}/ui/login?token=")),
        "{url}"
    );
    let path = url.split_once(&api).unwrap().1.to_string();

    // Without a session the page loads (it holds no data) but the API refuses.
    let page = raw(&api, "GET", "/", &[], "");
    assert_eq!(page.status, 200);
    assert!(page
        .body
        .contains("<script type=\"module\" src=\"/ui/app.js\">"));
    let csp = page.header("content-security-policy").unwrap();
    assert!(csp.contains("default-src 'none'") && csp.contains("frame-ancestors 'none'"));
    assert_eq!(raw(&api, "GET", "/v1/id", &[], "").status, 401);

    // The link works once.
    let first = raw(&api, "GET", &path, &[], "");
    assert_eq!(first.status, 200);
    assert_eq!(first.header("referrer-policy"), Some("no-referrer"));
    let cookie = first
        .header("set-cookie")
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_string();
    let again = raw(&api, "GET", &path, &[], "");
    assert_eq!(again.status, 401);
    assert!(
        again.body.contains("already used or has expired"),
        "{}",
        again.body
    );
    assert!(again.header("set-cookie").is_none());
    // A made-up token gets nothing either.
    let made_up = format!("/ui/login?token={}", "ab".repeat(32));
    assert_eq!(raw(&api, "GET", &made_up, &[], "").status, 401);

    // The cookie opens the API: reading, and (from the UI's own origin) selling.
    let id = raw(&api, "GET", "/v1/id", &[("Cookie", &cookie)], "");
    assert_eq!(id.status, 200, "{}", id.body);
    let seller = h.json_ok(&["id"])[0]["seller"].clone();
    assert_eq!(id.json()["seller"], seller);
    let origin = format!("http://{api}");
    let sold = raw(
        &api,
        "POST",
        "/v1/listings",
        &[("Cookie", &cookie), ("Origin", &origin)],
        &draft("Road bike sold from the web UI"),
    );
    assert_eq!(sold.status, 201, "{}", sold.body);
    // A refusal names its field, so the page can show it next to that field.
    let empty = raw(
        &api,
        "POST",
        "/v1/listings",
        &[("Cookie", &cookie), ("Origin", &origin)],
        &json!({"title": "", "price": "120"}).to_string(),
    );
    assert_eq!(empty.status, 400, "{}", empty.body);
    assert_eq!(empty.json()["field"], "title", "{}", empty.body);
    // `localhost` with the node's port is the same origin to the user.
    let port = api.rsplit_once(':').unwrap().1;
    let local = format!("localhost:{port}");
    let via_localhost = raw(
        &api,
        "GET",
        "/v1/mine",
        &[("Host", &local), ("Cookie", &cookie)],
        "",
    );
    assert_eq!(via_localhost.status, 200, "{}", via_localhost.body);
    // The CLI sees what the UI made: one contract.
    let mine = h.ok(&["mine"]);
    assert!(mine.contains("Road bike sold from the web UI"), "{mine}");

    // Logging out ends the session.
    let out = raw(
        &api,
        "POST",
        "/v1/ui/logout",
        &[("Cookie", &cookie), ("Origin", &origin)],
        "{}",
    );
    assert_eq!(out.status, 200);
    assert!(out.header("set-cookie").unwrap().contains("Max-Age=0"));
    let after = raw(&api, "GET", "/v1/id", &[("Cookie", &cookie)], "");
    assert_eq!(after.status, 401);
    assert!(after.body.contains("swapmeet ui"), "{}", after.body);
}

#[test]
fn other_origins_and_host_names_are_refused_and_change_nothing() {
    let h = Home::with_node("EUR");
    let api = api_of(&h);
    let cookie = log_in(&h);
    let token = std::fs::read_to_string(h.path().join("api.token")).unwrap();
    let bearer = format!("Bearer {}", token.trim());

    // A page elsewhere that got the browser to send the cookie (a browser ignoring SameSite):
    // refused for its Origin, and nothing is listed.
    for origin in [
        Some("http://evil.example"),
        Some("null"),
        Some("https://127.0.0.1"),
        None,
    ] {
        let mut headers = vec![("Cookie", cookie.as_str())];
        if let Some(o) = origin {
            headers.push(("Origin", o));
        }
        let a = raw(&api, "POST", "/v1/listings", &headers, &draft("Spam"));
        assert_eq!(a.status, 403, "origin {origin:?}: {}", a.body);
        assert!(a.json()["error"]
            .as_str()
            .unwrap()
            .contains("cross-origin request refused"));
    }
    // DNS rebinding: a foreign name resolved to 127.0.0.1 sends its own Host. Refused for
    // everything, the pages, the login, and the API even with the right token.
    let port = api.rsplit_once(':').unwrap().1;
    let rebound = format!("evil.example:{port}");
    for (method, path, auth) in [
        ("GET", "/", None),
        ("GET", "/ui/app.js", None),
        ("GET", "/v1/id", Some(("Cookie", cookie.as_str()))),
        (
            "POST",
            "/v1/listings",
            Some(("Authorization", bearer.as_str())),
        ),
    ] {
        let mut headers = vec![("Host", rebound.as_str())];
        headers.extend(auth);
        let a = raw(
            &api,
            method,
            path,
            &headers,
            if method == "POST" { "{}" } else { "" },
        );
        assert_eq!(a.status, 421, "{method} {path}: {}", a.body);
        assert!(a.body.contains("DNS rebinding"), "{}", a.body);
    }
    let mine = h.json_lines(&["mine"]);
    assert!(mine.is_empty(), "nothing may have been listed: {mine:?}");

    // Scripts with the token need no Origin (they are not browsers), as before.
    let scripted = raw(
        &api,
        "POST",
        "/v1/listings",
        &[("Authorization", &bearer)],
        &draft("Listed by a script"),
    );
    assert_eq!(scripted.status, 201, "{}", scripted.body);
    // A wrong token is not rescued by a good cookie.
    let wrong = raw(
        &api,
        "GET",
        "/v1/id",
        &[("Authorization", "Bearer nope"), ("Cookie", &cookie)],
        "",
    );
    assert_eq!(wrong.status, 401);
}

#[test]
fn the_pages_are_served_from_the_binary_and_nothing_else_is() {
    let h = Home::with_node("EUR");
    let api = api_of(&h);
    for (path, mime) in [
        ("/ui/app.js", "text/javascript"),
        ("/ui/pages/search.js", "text/javascript"),
        ("/ui/app.css", "text/css"),
        ("/ui/favicon.svg", "image/svg+xml"),
    ] {
        let a = raw(&api, "GET", path, &[], "");
        assert_eq!(a.status, 200, "{path}");
        assert!(
            a.header("content-type").unwrap().starts_with(mime),
            "{path}"
        );
        assert_eq!(a.header("x-content-type-options"), Some("nosniff"));
        // The modules are revalidated (a new binary's UI is used at once); the icon, which
        // Chromium asks for on every change of `#/...`, comes from the browser's cache.
        let cache = a.header("cache-control").unwrap();
        if path == "/ui/favicon.svg" {
            assert!(cache.starts_with("max-age="), "{path}: {cache}");
        } else {
            assert_eq!(cache, "no-cache", "{path}");
        }
    }
    for path in [
        "/ui/../Cargo.toml",
        "/ui/%2e%2e/api.token",
        "/ui/pages/nothing.js",
        "/ui/api.token",
    ] {
        let a = raw(&api, "GET", path, &[], "");
        assert_eq!(a.status, 404, "{path}: {}", a.body);
    }
}

#[test]
fn a_search_can_carry_the_thumbnails_the_node_holds() {
    let h = Home::with_node("EUR");
    let api = api_of(&h);
    let token = std::fs::read_to_string(h.path().join("api.token")).unwrap();
    let bearer = format!("Bearer {}", token.trim());
    // A photo the user lists: its thumbnail is held here.
    let dir = tempfile::tempdir().unwrap();
    let photo = dir.path().join("lamp.png");
    image::RgbImage::from_fn(640, 480, |x, y| {
        image::Rgb([(x % 256) as u8, (y % 256) as u8, 90])
    })
    .save(&photo)
    .unwrap();
    h.ok(&[
        "sell",
        "--title",
        "Brass desk lamp",
        "--price",
        "35",
        "--photo",
        photo.to_str().unwrap(),
    ]);
    h.ok(&[
        "sell",
        "--title",
        "Desk lamp without a photo",
        "--price",
        "20",
    ]);
    h.search_until(&["lamp"], 2);
    let body = json!({"text": "lamp"}).to_string();
    let with = raw(
        &api,
        "POST",
        "/v1/search?thumbs=inline",
        &[("Authorization", &bearer)],
        &body,
    );
    assert_eq!(with.status, 200, "{}", with.body);
    let hits = with.json()["hits"].as_array().unwrap().clone();
    let photo_hit = hits
        .iter()
        .find(|h| h["title"] == "Brass desk lamp")
        .unwrap();
    let data = photo_hit["thumb_data"].as_str().unwrap();
    assert!(
        data.starts_with("data:image/jpeg;base64,"),
        "{}",
        &data[..40]
    );
    // It is the card-size thumbnail (256 px on the long edge, a few KB), not the 320 px one
    // the listing carries.
    let card = base64::engine::general_purpose::STANDARD
        .decode(&data["data:image/jpeg;base64,".len()..])
        .unwrap();
    let img = image::load_from_memory(&card).unwrap();
    assert_eq!((img.width(), img.height()), (256, 192));
    assert!(card.len() <= 24 * 1024, "{} bytes", card.len());
    // The listing's page still gets the full thumbnail: the one its image reference names.
    let id = photo_hit["id"].as_str().unwrap();
    let listing = raw(
        &api,
        "GET",
        &format!("/v1/listings/{id}"),
        &[("Authorization", &bearer)],
        "",
    );
    assert_eq!(listing.status, 200, "{}", listing.body);
    let thumb_hash = listing.json()["images"][0]["thumb"]["hash"]
        .as_str()
        .unwrap()
        .to_string();
    let blob = |query: &str| {
        raw(
            &api,
            "GET",
            &format!("/v1/blobs/{thumb_hash}?listing={id}{query}"),
            &[("Authorization", &bearer)],
            "",
        )
    };
    let full = blob("");
    assert_eq!(full.status, 200, "{}", full.body);
    assert_eq!(hex(&sha2::Sha256::digest(&full.bytes)), thumb_hash);
    let img = image::load_from_memory(&full.bytes).unwrap();
    assert_eq!((img.width(), img.height()), (320, 240));
    assert!(card.len() < full.bytes.len());
    // A card fetched by URL (a thumbnail not carried inline) is the same card.
    let by_url = blob("&size=card");
    assert_eq!(by_url.status, 200, "{}", by_url.body);
    assert_eq!(by_url.header("content-type"), Some("image/jpeg"));
    assert_eq!(by_url.bytes, card);
    assert_ne!(by_url.header("etag"), full.header("etag"));
    let bad = blob("&size=huge");
    assert_eq!(bad.status, 400);
    assert_eq!(bad.json()["field"], "size", "{}", bad.body);
    let bare = hits
        .iter()
        .find(|h| h["title"] == "Desk lamp without a photo")
        .unwrap();
    assert!(bare.get("thumb_data").is_none());
    // Without the parameter the answer is as before; a wrong mode is named.
    let without = raw(
        &api,
        "POST",
        "/v1/search",
        &[("Authorization", &bearer)],
        &body,
    );
    assert!(!without.body.contains("thumb_data"));
    let wrong = raw(
        &api,
        "POST",
        "/v1/search?thumbs=all",
        &[("Authorization", &bearer)],
        &body,
    );
    assert_eq!(wrong.status, 400);
    assert_eq!(wrong.json()["field"], "thumbs", "{}", wrong.body);
}
