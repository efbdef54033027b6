//! The UI's files, embedded in the binary (`node/src/ui/assets/`).
//!
//! Every file is listed here by name: what is not listed is not served. A unit test checks the
//! list against the folder, so a page added to the folder and forgotten here fails the build's
//! tests rather than a user's browser.
//!
//! `SWAPMEET_UI_DIR`, when set, serves the files from that folder instead (read on each request),
//! so the pages can be changed and reloaded without rebuilding the node. It is for working on
//! the UI; a node without it serves exactly what was built in.

macro_rules! assets {
    ($($name:literal),* $(,)?) => {
        /// (path under `/ui/`, contents).
        pub const FILES: &[(&str, &[u8])] = &[
            $(($name, include_bytes!(concat!("assets/", $name)))),*
        ];
    };
}

assets!(
    "index.html",
    "app.css",
    "app.js",
    "api.js",
    "dom.js",
    "events.js",
    "favicon.svg",
    "pages/search.js",
    "pages/listing.js",
    "pages/sell.js",
    "pages/mine.js",
    "pages/inbox.js",
    "pages/offers.js",
    "pages/alerts.js",
    "pages/node.js",
);

/// The MIME type a file is served with, from its extension.
pub fn mime_of(path: &str) -> &'static str {
    match path.rsplit_once('.').map(|(_, e)| e) {
        Some("html") => "text/html; charset=utf-8",
        Some("js") => "text/javascript; charset=utf-8",
        Some("css") => "text/css; charset=utf-8",
        Some("svg") => "image/svg+xml",
        Some("json") => "application/json",
        _ => "application/octet-stream",
    }
}

/// A path the development folder may serve: relative, no `..`, plain characters.
fn safe_path(path: &str) -> bool {
    !path.is_empty()
        && !path.starts_with('/')
        && path
            .split('/')
            .all(|seg| !seg.is_empty() && seg != "." && seg != "..")
        && path
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-' | b'/'))
}

/// A file's contents and MIME type, if it is one of the UI's.
pub fn get(path: &str) -> Option<(Vec<u8>, &'static str)> {
    if let Some(dir) = std::env::var_os("SWAPMEET_UI_DIR") {
        if !safe_path(path) {
            return None;
        }
        return std::fs::read(std::path::Path::new(&dir).join(path))
            .ok()
            .map(|b| (b, mime_of(path)));
    }
    FILES
        .iter()
        .find(|(name, _)| *name == path)
        .map(|(_, bytes)| (bytes.to_vec(), mime_of(path)))
}

/// A small page with a message (login results, not found), styled like the UI.
pub fn message_page(title: &str, body_html: &str) -> String {
    format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"><title>{title} · swapmeet</title><link rel=\"icon\" href=\"/ui/favicon.svg\" type=\"image/svg+xml\"><link rel=\"stylesheet\" href=\"/ui/app.css\"></head><body><main class=\"message\"><h1>{title}</h1><p>{body_html}</p></main></body></html>"
    )
}

/// [`message_page`] that moves on to `to` by itself.
pub fn message_page_then(title: &str, body_html: &str, to: &str) -> String {
    message_page(title, body_html).replacen(
        "<head>",
        &format!("<head><meta http-equiv=\"refresh\" content=\"0; url={to}\">"),
        1,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn files_in(dir: &std::path::Path, prefix: &str, out: &mut Vec<String>) {
        for e in std::fs::read_dir(dir).unwrap() {
            let e = e.unwrap();
            let name = format!("{prefix}{}", e.file_name().to_string_lossy());
            if e.file_type().unwrap().is_dir() {
                files_in(&e.path(), &format!("{name}/"), out);
            } else {
                out.push(name);
            }
        }
    }

    #[test]
    fn every_file_in_the_folder_is_served_and_nothing_else() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src/ui/assets");
        let mut on_disk = Vec::new();
        files_in(&dir, "", &mut on_disk);
        on_disk.sort();
        let mut listed: Vec<String> = FILES.iter().map(|(n, _)| n.to_string()).collect();
        listed.sort();
        assert_eq!(
            on_disk, listed,
            "node/src/ui/assets.rs must list every file of the folder"
        );
    }

    #[test]
    fn development_paths_stay_inside_the_folder() {
        assert!(safe_path("pages/search.js"));
        assert!(!safe_path("../secret"));
        assert!(!safe_path("pages/../../x"));
        assert!(!safe_path("/etc/passwd"));
        assert!(!safe_path("a//b"));
        assert!(!safe_path("a\\b"));
        assert!(!safe_path(""));
    }
}
