//! The local API's JSON request bodies, read as the server reads them (`serde_json::from_slice`
//! into the typed request, unknown fields refused) and then checked as the server checks them
//! before anything is stored. The first byte picks the endpoint:
//!
//! - 0: `POST /v1/listings` and `PUT /v1/listings/{id}`: `draft_body` splits the listing draft
//!   from the market settings; the settings are checked (`SettingsUpdate::apply`) and the draft
//!   is built and signed as a new version (`Author::prepare_upsert`, which publishes nothing).
//!   What the node signs must verify: peers would refuse it otherwise.
//! - 1: `POST /v1/search` and `/v1/wanted/search`: the query is validated, then run on a small
//!   store (tantivy's query parsing of the user's text included).
//! - 2: `POST /v1/watches`: a saved search (validated like a search).
//! - 3, 4, 5: offers, counters and picks (`/v1/offers...`): the prices are parsed as the
//!   market parses them.
//! - 6: `PUT /v1/listings/{id}/market`: settings, checked.
//! - 7 to 11: messages, watches of one listing and their removal, reviews, the hello
//!   handshake, wanted posts: the typed bodies.
//!
//! Nothing may panic.

use std::sync::OnceLock;

use futures::executor::block_on;
use serde_json::from_slice;
use swapmeet_node::api::alerts::{RemoveWatchRequest, WatchListingRequest, WatchRequest};
use swapmeet_node::api::hello::HelloRequest;
use swapmeet_node::api::market::{
    draft_body, CounterRequest, MarketSettingsRequest, OfferRequest, PickRequest,
};
use swapmeet_node::api::messages::SendRequest;
use swapmeet_node::api::reviews::ReviewRequest;
use swapmeet_node::authoring::Author;
use swapmeet_node::synth::Synth;
use swapmeet_node::wanted::WantedDraft;
use swapmeet_node::{Engine, EngineConfig, SearchQuery, Source};
use swapmeet_protocol::{Currency, Price, SecretKey};

/// Where the store goes when the corpus replay picks a folder it removes afterwards; libFuzzer's
/// process leaves it unset and uses the temporary directory.
static STORE_DIR: OnceLock<std::path::PathBuf> = OnceLock::new();

/// Sets the store's folder; only before the first input.
#[allow(dead_code)] // the corpus replay calls it, libFuzzer's entry does not
pub fn set_store_dir(dir: std::path::PathBuf) {
    let _ = STORE_DIR.set(dir);
}

/// Records in the fuzzing store: enough for searches to find something.
const RECORDS: usize = 64;

fn eur() -> Currency {
    Currency::new("EUR").expect("EUR is a currency")
}

/// The store searches run on and drafts are built against: opened once per process (in a
/// folder under the temporary directory that the process leaves behind).
fn engine() -> &'static Engine {
    static ENGINE: OnceLock<Engine> = OnceLock::new();
    ENGINE.get_or_init(|| {
        let dir = STORE_DIR.get().cloned().unwrap_or_else(|| {
            std::env::temp_dir().join(format!("swapmeet-fuzz-api-{}", std::process::id()))
        });
        let (engine, _) = Engine::open(&dir, EngineConfig::default()).expect("open the store");
        let mut synth = Synth::new(11, 8, engine.now());
        let records = (0..RECORDS).map(|_| synth.signed()).collect();
        engine
            .ingest(records, Source::Import)
            .expect("store the records");
        engine
            .make_searchable(std::time::Duration::from_secs(60))
            .expect("commit the index");
        engine
    })
}

fn author() -> &'static Author {
    static AUTHOR: OnceLock<Author> = OnceLock::new();
    AUTHOR.get_or_init(|| {
        Author::new(
            SecretKey::from_bytes([1; 32]),
            eur(),
            Some((52.52, 13.40)),
            engine().clone(),
        )
    })
}

fn listing(body: &[u8]) {
    let Ok((draft, update)) = block_on(draft_body(axum::body::Body::from(body.to_vec()))) else {
        return;
    };
    let _ = update.apply(Default::default(), eur());
    let key = draft.key.clone().unwrap_or_else(|| "fuzz-item".into());
    if let Ok(env) = author().prepare_upsert(&key, &draft) {
        if let Err(e) = env.verify(engine().now()) {
            panic!("the node signed a listing peers refuse: {e}; draft {draft:?}");
        }
    }
}

fn search(body: &[u8]) {
    if let Ok(q) = from_slice::<SearchQuery>(body) {
        if q.validate().is_ok() {
            let _ = engine().search(&q);
            let _ = swapmeet_node::wanted::search(engine(), &q);
        }
    }
}

/// One input, as libFuzzer and the corpus replay (`node/tests/suite/fuzz_corpora.rs`) give it.
pub fn run(data: &[u8]) {
    let Some((&mode, body)) = data.split_first() else {
        return;
    };
    match mode % 12 {
        0 => listing(body),
        1 => search(body),
        2 => {
            if let Ok(w) = from_slice::<WatchRequest>(body) {
                let _ = w.query.validate();
            }
        }
        3 => {
            if let Ok(o) = from_slice::<OfferRequest>(body) {
                let _ = Price::parse(&o.price, Some(eur()));
            }
        }
        4 => {
            if let Ok(c) = from_slice::<CounterRequest>(body) {
                let _ = Price::parse(&c.price, Some(eur()));
            }
        }
        5 => {
            let _ = from_slice::<PickRequest>(body);
        }
        6 => {
            if let Ok(m) = from_slice::<MarketSettingsRequest>(body) {
                let _ = m.update().apply(Default::default(), eur());
            }
        }
        7 => {
            let _ = from_slice::<SendRequest>(body);
        }
        8 => {
            let _ = from_slice::<WatchListingRequest>(body);
            let _ = from_slice::<RemoveWatchRequest>(body);
        }
        9 => {
            let _ = from_slice::<ReviewRequest>(body);
        }
        10 => {
            let _ = from_slice::<HelloRequest>(body);
        }
        _ => {
            let _ = from_slice::<WantedDraft>(body);
        }
    }
}
