//! Who may use the web UI: one-time login tokens handed to the node's user through the
//! bearer-token API (`swapmeet ui`), each traded once for a session cookie.
//!
//! Both live in memory only. A node that restarts forgets its sessions and the user runs
//! `swapmeet ui` again: a session is a convenience on top of the token file, never a second
//! secret to keep on disk. Both maps are bounded, so a script with the token that asks for
//! logins in a loop cannot grow the node's memory.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How long a login link works: long enough to open a browser, short enough that a link left in
/// a terminal's scrollback is dead.
pub const LOGIN_TTL: Duration = Duration::from_secs(120);
/// How long a session lasts without use.
pub const SESSION_IDLE: Duration = Duration::from_secs(7 * 24 * 3600);
/// Login links waiting to be used; the oldest is dropped past it.
pub const MAX_PENDING_LOGINS: usize = 8;
/// Open sessions (browsers logged in); the least recently used is dropped past it.
pub const MAX_SESSIONS: usize = 16;
/// The session cookie's name.
pub const COOKIE: &str = "swapmeet_session";

/// Random secrets in hex: 32 bytes from the OS.
fn secret() -> Result<String, getrandom::Error> {
    let mut b = [0u8; 32];
    getrandom::fill(&mut b)?;
    Ok(hex::encode(b))
}

#[derive(Default)]
struct Inner {
    /// Login token -> when it was made.
    pending: HashMap<String, Instant>,
    /// Session id -> when it was last used.
    sessions: HashMap<String, Instant>,
}

/// The UI's logins and sessions (cheap to clone: one shared map).
#[derive(Clone, Default)]
pub struct Sessions {
    inner: Arc<Mutex<Inner>>,
}

/// A failure to make a login link.
#[derive(Debug, thiserror::Error)]
#[error("the operating system gave no random bytes for the login token: {0}")]
pub struct NoRandom(getrandom::Error);

impl Sessions {
    /// A new login token, valid once within [`LOGIN_TTL`].
    pub fn new_login(&self) -> Result<String, NoRandom> {
        let token = secret().map_err(NoRandom)?;
        let now = Instant::now();
        let mut g = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        g.pending
            .retain(|_, made| now.duration_since(*made) < LOGIN_TTL);
        while g.pending.len() >= MAX_PENDING_LOGINS {
            let oldest = g
                .pending
                .iter()
                .min_by_key(|(_, t)| **t)
                .map(|(k, _)| k.clone());
            match oldest {
                Some(k) => g.pending.remove(&k),
                None => break,
            };
        }
        g.pending.insert(token.clone(), now);
        Ok(token)
    }

    /// Trades a login token for a new session id; `None` when the token is unknown, used or
    /// expired.
    pub fn redeem(&self, token: &str) -> Option<String> {
        let now = Instant::now();
        let mut g = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        // Compared in constant time against each pending token: the map lookup alone would
        // hash the guess, which leaks nothing useful, but the explicit comparison keeps the
        // reasoning local.
        let key = g
            .pending
            .keys()
            .find(|k| crate::api::auth::constant_time_eq(k.as_bytes(), token.as_bytes()))
            .cloned()?;
        let made = g.pending.remove(&key)?;
        if now.duration_since(made) >= LOGIN_TTL {
            return None;
        }
        let session = secret().ok()?;
        g.sessions
            .retain(|_, used| now.duration_since(*used) < SESSION_IDLE);
        while g.sessions.len() >= MAX_SESSIONS {
            let oldest = g
                .sessions
                .iter()
                .min_by_key(|(_, t)| **t)
                .map(|(k, _)| k.clone());
            match oldest {
                Some(k) => g.sessions.remove(&k),
                None => break,
            };
        }
        g.sessions.insert(session.clone(), now);
        Some(session)
    }

    /// Whether `session` is open; using it keeps it open.
    pub fn check(&self, session: &str) -> bool {
        let now = Instant::now();
        let mut g = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        let key = g
            .sessions
            .keys()
            .find(|k| crate::api::auth::constant_time_eq(k.as_bytes(), session.as_bytes()))
            .cloned();
        match key {
            Some(k) => {
                let used = g.sessions[&k];
                if now.duration_since(used) >= SESSION_IDLE {
                    g.sessions.remove(&k);
                    false
                } else {
                    g.sessions.insert(k, now);
                    true
                }
            }
            None => false,
        }
    }

    /// Ends a session (logging out).
    pub fn end(&self, session: &str) {
        let mut g = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        g.sessions
            .retain(|k, _| !crate::api::auth::constant_time_eq(k.as_bytes(), session.as_bytes()));
    }
}

/// The session id a request's `Cookie` header carries, if any.
pub fn cookie_session(headers: &axum::http::HeaderMap) -> Option<String> {
    headers
        .get_all(axum::http::header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == COOKIE)
        .map(|(_, value)| value.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_login_token_works_once() {
        let s = Sessions::default();
        let login = s.new_login().unwrap();
        let session = s.redeem(&login).expect("first use");
        assert!(s.check(&session));
        assert!(s.redeem(&login).is_none(), "a second use must fail");
        assert!(!s.check(&login), "a login token is not a session");
        s.end(&session);
        assert!(!s.check(&session));
    }

    #[test]
    fn unknown_tokens_and_sessions_are_refused() {
        let s = Sessions::default();
        assert!(s.redeem("").is_none());
        assert!(s.redeem(&"0".repeat(64)).is_none());
        assert!(!s.check(""));
    }

    #[test]
    fn the_maps_are_bounded() {
        let s = Sessions::default();
        let logins: Vec<String> = (0..MAX_PENDING_LOGINS + 5)
            .map(|_| s.new_login().unwrap())
            .collect();
        assert!(s.inner.lock().unwrap().pending.len() <= MAX_PENDING_LOGINS);
        // The newest still work.
        let mut sessions = Vec::new();
        for l in logins.iter().rev().take(MAX_PENDING_LOGINS) {
            sessions.push(s.redeem(l).expect("a recent login works"));
        }
        for _ in 0..MAX_SESSIONS {
            let l = s.new_login().unwrap();
            sessions.push(s.redeem(&l).unwrap());
        }
        assert!(s.inner.lock().unwrap().sessions.len() <= MAX_SESSIONS);
        assert!(s.check(sessions.last().unwrap()));
    }

    #[test]
    fn the_cookie_is_found_among_others() {
        let mut h = axum::http::HeaderMap::new();
        h.insert(
            axum::http::header::COOKIE,
            "a=1; swapmeet_session=abc; b=2".parse().unwrap(),
        );
        assert_eq!(cookie_session(&h).as_deref(), Some("abc"));
        assert_eq!(cookie_session(&axum::http::HeaderMap::new()), None);
    }
}
