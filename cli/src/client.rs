//! The CLI's side of the local API: finds the running node through the home's `node.json`,
//! checks that the listener there is that node (it proves it knows the token, see
//! `swapmeet_node::api::hello`), only then authenticates with the home's token, and turns API
//! errors into messages. [`body`] builds request bodies that are measured as sent, for requests
//! that must stay under the body cap.

pub mod body;

use std::time::Duration;

use anyhow::{anyhow, bail, Context, Result};
use serde_json::Value;
use swapmeet_node::api::hello::{Challenge, HelloResponse};
use swapmeet_node::home::Home;

/// How long the node may take to answer the identity check (`POST /v1/hello`).
const HELLO_TIMEOUT: Duration = Duration::from_secs(10);

/// A client of the node running on a home.
pub struct Client {
    base: String,
    token: String,
    agent: ureq::Agent,
}

/// An error the API answered with.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct ApiFailure {
    /// HTTP status.
    pub status: u16,
    /// The node's message.
    pub message: String,
}

fn no_node(home: &Home, addr: Option<&str>) -> anyhow::Error {
    match addr {
        Some(a) => anyhow!(
            "no node is running at {a} (home {}); start one with `swapmeet node`",
            home.dir().display()
        ),
        None => anyhow!(
            "no node is running for home {}; start one with `swapmeet node`",
            home.dir().display()
        ),
    }
}

impl Client {
    /// Connects to the node of `home`.
    pub fn connect(home: &Home) -> Result<Client> {
        let file = home
            .read_node_file()
            .context("reading node.json")?
            .ok_or_else(|| no_node(home, None))?;
        let token = std::fs::read_to_string(home.token_path())
            .with_context(|| format!("reading the API token {}", home.token_path().display()))?
            .trim()
            .to_string();
        let config = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_connect(Some(Duration::from_secs(3)))
            .timeout_global(Some(Duration::from_secs(300)))
            .build();
        let client = Client {
            base: format!("http://{}", file.api),
            token,
            agent: ureq::Agent::new_with_config(config),
        };
        client.check_identity(&file.api.to_string())?;
        Ok(client)
    }

    /// Makes the listener at `api` prove it knows the token before the token is ever sent:
    /// `node.json` survives a `kill -9`, and another process may since have taken the port.
    /// One round trip on loopback, once per `Client`.
    fn check_identity(&self, api: &str) -> Result<()> {
        let challenge = Challenge::new()?;
        let not_ours = |why: String| {
            anyhow!(
                "the process at {api} is not your swapmeet node ({why}; node.json is stale: was \
                 the node killed?); start one with `swapmeet node`"
            )
        };
        let result = self
            .agent
            .post(format!("{}/v1/hello", self.base))
            .config()
            // A stranger that accepts and never answers must not hang the CLI for the agent's
            // long timeout (meant for big imports); the real node answers this at once.
            .timeout_global(Some(HELLO_TIMEOUT))
            .build()
            .header("Content-Type", "application/json")
            .send(serde_json::to_vec(&challenge.request())?);
        let mut resp = match result {
            Ok(r) => r,
            Err(ureq::Error::Io(e)) if e.kind() == std::io::ErrorKind::ConnectionRefused => {
                return Err(anyhow!(
                    "no node is running at {api}; start one with `swapmeet node`"
                ))
            }
            Err(ureq::Error::ConnectionFailed) => {
                return Err(anyhow!(
                    "no node answers at {api}; start one with `swapmeet node`"
                ))
            }
            Err(ureq::Error::Timeout(_)) => {
                return Err(not_ours(format!(
                    "it did not answer the identity check within {}s",
                    HELLO_TIMEOUT.as_secs()
                )))
            }
            Err(e) => return Err(not_ours(format!("it does not speak the node's API: {e}"))),
        };
        let status = resp.status().as_u16();
        if status != 200 {
            return Err(not_ours(format!(
                "it answered the identity check with HTTP {status}"
            )));
        }
        let answer: HelloResponse = resp
            .body_mut()
            .with_config()
            .limit(4096)
            .read_json()
            .map_err(|e| not_ours(format!("its answer to the identity check is not one: {e}")))?;
        challenge
            .verify(&self.token, api, &answer)
            .map_err(|e| not_ours(format!("identity check failed: {e}")))
    }

    fn handle(
        &self,
        result: Result<ureq::http::Response<ureq::Body>, ureq::Error>,
    ) -> Result<Value> {
        let mut resp = match result {
            Ok(r) => r,
            Err(ureq::Error::Io(e)) if e.kind() == std::io::ErrorKind::ConnectionRefused => {
                return Err(anyhow!(
                    "no node is running at {}; start one with `swapmeet node`",
                    self.base.trim_start_matches("http://")
                ))
            }
            Err(ureq::Error::ConnectionFailed) | Err(ureq::Error::Timeout(_)) => {
                return Err(anyhow!(
                    "no node answers at {}; start one with `swapmeet node`",
                    self.base.trim_start_matches("http://")
                ))
            }
            Err(e) => {
                return Err(anyhow!(e).context(format!("talking to the node at {}", self.base)))
            }
        };
        let status = resp.status().as_u16();
        let text = resp
            .body_mut()
            .with_config()
            .limit(64 * 1024 * 1024)
            .read_to_string()
            .context("reading the node's answer")?;
        let value: Value = serde_json::from_str(&text).unwrap_or(Value::String(text));
        if status >= 400 {
            let message = value
                .get("error")
                .and_then(Value::as_str)
                .map(str::to_string)
                .unwrap_or_else(|| format!("the node answered {status}: {value}"));
            return Err(ApiFailure { status, message }.into());
        }
        Ok(value)
    }

    fn auth(&self) -> String {
        format!("Bearer {}", self.token)
    }

    /// GET.
    pub fn get(&self, path: &str) -> Result<Value> {
        let r = self
            .agent
            .get(format!("{}{path}", self.base))
            .header("Authorization", self.auth())
            .call();
        self.handle(r)
    }

    /// GET a body that is not JSON (a photo), as bytes; an error answer is reported as any
    /// other request's.
    pub fn get_bytes(&self, path: &str) -> Result<Vec<u8>> {
        let r = self
            .agent
            .get(format!("{}{path}", self.base))
            .header("Authorization", self.auth())
            .call();
        match r {
            Ok(mut resp) if resp.status().as_u16() < 400 => resp
                .body_mut()
                .with_config()
                .limit(64 * 1024 * 1024)
                .read_to_vec()
                .context("reading the node's answer"),
            other => {
                self.handle(other)?;
                bail!("the node answered without a body")
            }
        }
    }

    /// POST a JSON body, compact (what is measured is what is sent; see [`Client::post_bytes`]).
    pub fn post(&self, path: &str, body: &Value) -> Result<Value> {
        self.post_bytes(path, serde_json::to_vec(body)?)
    }

    /// POST a body that is already JSON, as these exact bytes. Callers that must stay under
    /// the API's body cap build the bytes themselves, measure them, and send them unchanged.
    pub fn post_bytes(&self, path: &str, body: Vec<u8>) -> Result<Value> {
        let r = self
            .agent
            .post(format!("{}{path}", self.base))
            .header("Authorization", self.auth())
            .header("Content-Type", "application/json")
            .send(body);
        self.handle(r)
    }

    /// GET an event stream (`/v1/events`): its body, read as it arrives, with no overall
    /// timeout (it lasts until the node stops or the reader is dropped).
    pub fn stream(&self, path: &str) -> Result<impl std::io::Read> {
        let r = self
            .agent
            .get(format!("{}{path}", self.base))
            .header("Authorization", self.auth())
            .config()
            .timeout_global(None)
            .build()
            .call();
        let resp = match r {
            Ok(resp) if resp.status().as_u16() < 400 => resp,
            other => {
                // An error answer or a failed connection: reported as any other request's.
                self.handle(other)?;
                bail!("the node refused the event stream");
            }
        };
        Ok(resp.into_body().into_reader())
    }

    /// POST raw bytes with their content type (a photo upload).
    pub fn post_raw(&self, path: &str, content_type: &str, body: Vec<u8>) -> Result<Value> {
        let r = self
            .agent
            .post(format!("{}{path}", self.base))
            .header("Authorization", self.auth())
            .header("Content-Type", content_type)
            .send(body);
        self.handle(r)
    }

    /// DELETE.
    pub fn delete(&self, path: &str) -> Result<Value> {
        let r = self
            .agent
            .delete(format!("{}{path}", self.base))
            .header("Authorization", self.auth())
            .call();
        self.handle(r)
    }

    /// PUT a JSON body, compact.
    pub fn put(&self, path: &str, body: &Value) -> Result<Value> {
        let r = self
            .agent
            .put(format!("{}{path}", self.base))
            .header("Authorization", self.auth())
            .header("Content-Type", "application/json")
            .send(serde_json::to_vec(body)?);
        self.handle(r)
    }
}

/// Is this error "not found" from the node?
pub fn is_not_found(e: &anyhow::Error) -> bool {
    e.downcast_ref::<ApiFailure>()
        .is_some_and(|f| f.status == 404)
}

/// Fails with a message when `home` has no identity yet.
pub fn require_identity(home: &Home) -> Result<()> {
    if !home.dir().join("identity.key").exists() {
        bail!(
            "no identity in {}; run `swapmeet init` (or `swapmeet node`, which creates one)",
            home.dir().display()
        );
    }
    Ok(())
}
