//! What a peer sends over the request-response protocols, read through the same codecs the
//! swarm uses (`read_request` / `read_response` on the stream's bytes) and then handled as the
//! node handles it. The first byte picks the protocol and the direction:
//!
//! - 0: a `/swapmeet/sync/1` request, answered by a `SyncServer` over a small store (the
//!   negentropy reconciliation of the peer's message, or the lookups of a fetch);
//! - 1: a sync response, taken by a `SyncClient` session (the peer's negentropy reply, or
//!   envelopes that must have been asked for);
//! - 2, 3: a `/swapmeet/msg/1` request, response;
//! - 4, 5: a `/swapmeet/blob/1` request, response (a chunk checked against a request).
//!
//! Nothing may panic; what decodes re-encodes to something that decodes to the same value.

use std::sync::OnceLock;

use futures::executor::block_on;
use futures::io::Cursor;
use libp2p::request_response::Codec;
use libp2p::StreamProtocol;
use swapmeet_node::network::blobs::{BlobCodec, BlobRequest, BlobResponse};
use swapmeet_node::network::messaging::{MsgCodec, MsgRequest, MsgResponse};
use swapmeet_node::network::sync::{SyncClient, SyncCodec, SyncRequest, SyncResponse, SyncServer};
use swapmeet_node::synth::Synth;
use swapmeet_node::{Engine, EngineConfig, Source};

/// Where the store goes when the corpus replay picks a folder it removes afterwards; libFuzzer's
/// process leaves it unset and uses the temporary directory.
static STORE_DIR: OnceLock<std::path::PathBuf> = OnceLock::new();

/// Sets the store's folder; only before the first input.
#[allow(dead_code)] // the corpus replay calls it, libFuzzer's entry does not
pub fn set_store_dir(dir: std::path::PathBuf) {
    let _ = STORE_DIR.set(dir);
}

/// Records in the fuzzing store: enough for the reconciliation to split ranges.
const RECORDS: usize = 64;

/// The store the server answers from and the client reconciles: opened once per process (in a
/// folder under the temporary directory that the process leaves behind).
fn engine() -> &'static Engine {
    static ENGINE: OnceLock<Engine> = OnceLock::new();
    ENGINE.get_or_init(|| {
        let dir = STORE_DIR.get().cloned().unwrap_or_else(|| {
            std::env::temp_dir().join(format!("swapmeet-fuzz-{}", std::process::id()))
        });
        let (engine, _) = Engine::open(&dir, EngineConfig::default()).expect("open the store");
        let mut synth = Synth::new(7, 8, engine.now());
        let records = (0..RECORDS).map(|_| synth.signed()).collect();
        engine
            .ingest(records, Source::Import)
            .expect("store the records");
        engine
    })
}

fn server() -> &'static SyncServer {
    static SERVER: OnceLock<SyncServer> = OnceLock::new();
    SERVER.get_or_init(|| SyncServer::new(engine().clone()))
}

fn protocol() -> StreamProtocol {
    StreamProtocol::new("/swapmeet/fuzz/1")
}

fn sync_request(data: &[u8]) {
    let Ok(req) = block_on(SyncCodec::default().read_request(&protocol(), &mut Cursor::new(data)))
    else {
        return;
    };
    assert_eq!(req.encode(), data, "a sync request has one encoding");
    // The server must answer or refuse, never panic, whatever areas and message it is given.
    let _ = server().handle(req);
}

fn sync_response(data: &[u8]) {
    let Ok(res) = block_on(SyncCodec::default().read_response(&protocol(), &mut Cursor::new(data)))
    else {
        return;
    };
    match &res {
        SyncResponse::Reconcile { message } => {
            assert_eq!(
                SyncResponse::decode(&res.encode()).ok().as_ref(),
                Some(&res)
            );
            let (mut client, _) =
                SyncClient::start(engine(), vec!["all".into()]).expect("start a session");
            if let Ok(Some(next)) = client.on_reconcile(message) {
                assert!(matches!(
                    SyncRequest::decode(&next.encode()),
                    Ok(SyncRequest::Reconcile { .. })
                ));
            }
            while let Some(fetch) = client.next_fetch() {
                assert!(SyncRequest::decode(&fetch.encode()).is_ok());
            }
        }
        SyncResponse::Envelopes { envelopes } => {
            assert_eq!(
                SyncResponse::decode(&res.encode()).ok().as_ref(),
                Some(&res)
            );
            let (mut client, _) =
                SyncClient::start(engine(), vec!["all".into()]).expect("start a session");
            // Nothing was asked for: any envelope is the peer's fault.
            let taken = client.on_envelopes(envelopes.clone());
            assert!(envelopes.is_empty() || taken.is_err());
        }
        SyncResponse::Refused { .. } => {}
    }
}

fn msg_request(data: &[u8]) {
    if let Ok(req) = block_on(MsgCodec.read_request(&protocol(), &mut Cursor::new(data))) {
        assert_eq!(MsgRequest::decode(&req.encode()).ok(), Some(req));
    }
}

fn msg_response(data: &[u8]) {
    if let Ok(res) = block_on(MsgCodec.read_response(&protocol(), &mut Cursor::new(data))) {
        if !matches!(res, MsgResponse::Refused { .. }) {
            assert_eq!(MsgResponse::decode(&res.encode()).ok(), Some(res));
        }
    }
}

fn blob_request(data: &[u8]) {
    if let Ok(req) = block_on(BlobCodec.read_request(&protocol(), &mut Cursor::new(data))) {
        assert_eq!(req.encode(), data, "a blob request has one encoding");
    }
}

fn blob_response(data: &[u8]) {
    // The request it answers: the first bytes of the input, as a peer's answer could be to
    // any request this node sent.
    let Some((head, rest)) = data.split_at_checked(12) else {
        return;
    };
    let req = BlobRequest {
        hash: [0; 32],
        offset: u64::from_be_bytes(head[..8].try_into().expect("8 bytes")),
        len: u32::from_be_bytes(head[8..].try_into().expect("4 bytes")),
    };
    if let Ok(res) = block_on(BlobCodec.read_response(&protocol(), &mut Cursor::new(rest))) {
        if let BlobResponse::Chunk { total_size, bytes } = &res {
            let _ = BlobResponse::check_chunk(&req, *total_size, bytes.len());
            assert_eq!(
                BlobResponse::decode(&res.encode()).ok().as_ref(),
                Some(&res)
            );
        }
    }
}

/// One input, as libFuzzer and the corpus replay (`node/tests/suite/fuzz_corpora.rs`) give it.
pub fn run(data: &[u8]) {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    match mode % 6 {
        0 => sync_request(rest),
        1 => sync_response(rest),
        2 => msg_request(rest),
        3 => msg_response(rest),
        4 => blob_request(rest),
        _ => blob_response(rest),
    }
}
