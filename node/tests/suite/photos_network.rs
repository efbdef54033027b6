//! Photos between real nodes in one process (homes in temporary folders, TCP on 127.0.0.1):
//! a buyer's search hit carries the thumbnail and the buyer's node has fetched it; the full
//! photo comes from the seller through `GET /v1/blobs`; with the seller offline a third node
//! gets it from the buyer (a DHT provider); a peer serving corrupted bytes is rejected,
//! penalized, and the fetch completes from another peer. Every wait has an overall deadline,
//! never a timing assertion.

use std::time::{Duration, Instant};

use libp2p::multiaddr::Protocol;
use libp2p::PeerId;
use serde_json::Value;
use swapmeet_node::authoring::ListingDraft;
use swapmeet_node::home::{Home, InitOptions};
use swapmeet_node::media::blobs::{BlobClass, BlobHash};
use swapmeet_node::media::fetch::{FetchError, Via, Want};
use swapmeet_node::node::{Node, NodeOptions};
use swapmeet_node::search::SearchQuery;
use swapmeet_protocol::envelope::Record;
use swapmeet_protocol::listing::{ImageRef, ImageThumb};
use swapmeet_protocol::{Currency, ListingId};

async fn start(dir: &std::path::Path) -> Node {
    let home = Home::new(dir.to_path_buf());
    home.init(&InitOptions {
        location: Some((52.52, 13.405)),
        currency: Some(Currency::new("EUR").unwrap()),
    })
    .unwrap();
    Node::start(
        home,
        NodeOptions {
            api: Some("127.0.0.1:0".parse().unwrap()),
            no_mdns: true,
            listen: vec!["/ip4/127.0.0.1/tcp/0".into()],
            ..Default::default()
        },
    )
    .await
    .unwrap()
}

fn peer(n: &Node) -> PeerId {
    n.network().unwrap().peer_id()
}

async fn connect(a: &Node, b: &Node) {
    let net = b.network().unwrap();
    let addr = eventually("a listen address", || async {
        net.listen_addrs().await.unwrap().into_iter().next()
    })
    .await
    .with(Protocol::P2p(net.peer_id()));
    a.network().unwrap().dial(addr).await.unwrap();
}

/// Polls `f` until it gives Some, for at most a minute.
async fn eventually<T, F: std::future::Future<Output = Option<T>>>(
    what: &str,
    mut f: impl FnMut() -> F,
) -> T {
    let start = Instant::now();
    loop {
        if let Some(v) = f().await {
            return v;
        }
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Bytes that look like a JPEG (the network does not decode them), different per `seed`.
fn jpeg_like(seed: u8, len: usize) -> Vec<u8> {
    let mut b = vec![0xff, 0xd8, 0xff, 0xe0];
    let mut x = u32::from(seed).wrapping_mul(2_654_435_761).wrapping_add(1);
    while b.len() < len {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        b.push(x as u8);
    }
    b
}

struct Photo {
    bytes: Vec<u8>,
    hash: BlobHash,
    thumb: Vec<u8>,
    thumb_hash: BlobHash,
}

/// The seller's node stores two photos (each with its thumbnail) as its own and publishes a
/// listing naming them.
async fn list_with_photos(seller: &Node, title: &str) -> (ListingId, Vec<Photo>) {
    let mut photos = Vec::new();
    for seed in [1u8, 2] {
        // Over two chunks, so a fetch takes more than one request.
        let bytes = jpeg_like(seed.wrapping_add(title.len() as u8), 600_000);
        let thumb = jpeg_like(seed.wrapping_add(100), 20_000);
        let hash = seller.blobs().put(&bytes, BlobClass::Own).unwrap();
        let thumb_hash = seller.blobs().put(&thumb, BlobClass::Own).unwrap();
        photos.push(Photo {
            bytes,
            hash,
            thumb,
            thumb_hash,
        });
    }
    let author = seller.author();
    let draft = ListingDraft {
        title: Some(title.into()),
        price: Some("40 EUR".into()),
        ..Default::default()
    };
    let published = author.create(&draft).unwrap();
    let v = seller
        .engine()
        .get_verified(&published.id)
        .unwrap()
        .unwrap();
    let Record::Listing(mut l) = v.payload().clone() else {
        panic!("not a listing")
    };
    l.seq += 1;
    l.images = photos
        .iter()
        .map(|p| ImageRef {
            hash: p.hash,
            mime: "image/jpeg".into(),
            size: p.bytes.len() as u64,
            thumb: Some(ImageThumb {
                hash: p.thumb_hash,
                mime: "image/jpeg".into(),
                size: p.thumb.len() as u64,
            }),
        })
        .collect();
    let env = l.sign(author.key()).unwrap();
    author
        .publish_batch(vec![env])
        .unwrap()
        .pop()
        .unwrap()
        .unwrap();
    (published.id, photos)
}

struct Api {
    base: String,
    token: String,
    agent: ureq::Agent,
}

impl Api {
    fn new(node: &Node) -> Api {
        let config = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(Duration::from_secs(60)))
            .build();
        Api {
            base: format!("http://{}", node.api_addr()),
            token: node.token().to_string(),
            agent: ureq::Agent::new_with_config(config),
        }
    }

    /// GET: status, headers (name, value), body bytes.
    fn get(&self, path: &str) -> (u16, Vec<(String, String)>, Vec<u8>) {
        let mut r = self
            .agent
            .get(format!("{}{path}", self.base))
            .header("Authorization", format!("Bearer {}", self.token))
            .call()
            .unwrap();
        let headers = r
            .headers()
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_str().unwrap_or("").to_string()))
            .collect();
        let body = r
            .body_mut()
            .with_config()
            .limit(64 << 20)
            .read_to_vec()
            .unwrap();
        (r.status().as_u16(), headers, body)
    }
}

impl Api {
    fn post(&self, path: &str, body: &Value) -> (u16, Value) {
        let mut r = self
            .agent
            .post(format!("{}{path}", self.base))
            .header("Authorization", format!("Bearer {}", self.token))
            .header("Content-Type", "application/json")
            .send(body.to_string().as_bytes())
            .unwrap();
        let text = r.body_mut().read_to_string().unwrap();
        (
            r.status().as_u16(),
            serde_json::from_str(&text).unwrap_or(Value::Null),
        )
    }
}

fn header<'a>(h: &'a [(String, String)], name: &str) -> Option<&'a str> {
    h.iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_buyer_sees_the_thumbnail_fetches_the_photo_and_a_third_node_gets_it_with_the_seller_offline(
) {
    let dirs: Vec<_> = (0..3).map(|_| tempfile::tempdir().unwrap()).collect();
    let seller = start(dirs[0].path()).await;
    let buyer = start(dirs[1].path()).await;
    let third = start(dirs[2].path()).await;
    connect(&buyer, &seller).await;
    connect(&third, &buyer).await;
    connect(&third, &seller).await;
    let (id, photos) = list_with_photos(&seller, "Touring bike with photos").await;

    // The listing reaches the buyer, whose node fetches its thumbnails on its own.
    eventually("the listing at the buyer's node", || async {
        buyer.engine().get(&id).unwrap().map(|_| ())
    })
    .await;
    for p in &photos {
        eventually("the thumbnail at the buyer's node", || async {
            buyer.blobs().has(&p.thumb_hash).then_some(())
        })
        .await;
        assert_eq!(buyer.blobs().get(&p.thumb_hash).unwrap().unwrap(), p.thumb);
        assert_eq!(buyer.blobs().class(&p.thumb_hash), Some(BlobClass::Thumb));
        // Full photos are fetched on demand only.
        assert!(!buyer.blobs().has(&p.hash));
    }
    // The search hit names the first photo's thumbnail. (Searchable at the buyer's next
    // index commit, within a second.)
    let query = SearchQuery {
        text: Some("touring bike".into()),
        ..Default::default()
    };
    let hit = eventually("the listing in the buyer's search", || async {
        let found = buyer.engine().search(&query).unwrap();
        found.hits.into_iter().find(|h| h.id == id)
    })
    .await;
    assert_eq!(hit.summary.thumb, Some(hex::encode(photos[0].thumb_hash)));
    let api = Api::new(&buyer);
    // The API's hit too.
    let (status, found) = api.post("/v1/search", &serde_json::json!({"text": "touring bike"}));
    assert_eq!(status, 200, "{found}");
    let api_hit = found["hits"]
        .as_array()
        .and_then(|h| h.iter().find(|h| h["id"] == id.to_string()))
        .unwrap_or_else(|| panic!("no hit: {found}"));
    assert_eq!(api_hit["thumb"], hex::encode(photos[0].thumb_hash));
    // ... which the API serves from the buyer's store.
    let (status, _, body) = api.get(&format!("/v1/blobs/{}", hex::encode(photos[0].thumb_hash)));
    assert_eq!(status, 200);
    assert_eq!(body, photos[0].thumb);

    // The second photo, through the API: fetched from the seller, with the headers a
    // browser caches it by.
    let hash2 = hex::encode(photos[1].hash);
    let (status, headers, body) = api.get(&format!("/v1/blobs/{hash2}?listing={id}"));
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
    assert_eq!(body, photos[1].bytes);
    assert_eq!(header(&headers, "content-type"), Some("image/jpeg"));
    assert_eq!(
        header(&headers, "cache-control"),
        Some("public, max-age=31536000, immutable")
    );
    assert_eq!(
        header(&headers, "etag"),
        Some(format!("\"{hash2}\"").as_str())
    );
    assert_eq!(
        buyer.blobs().class(&photos[1].hash),
        Some(BlobClass::Cached)
    );
    // Malformed hash: 400 naming the field; a hash nobody has: 404.
    let (status, _, body) = api.get("/v1/blobs/not-a-hash");
    assert_eq!(status, 400);
    let err: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(err["field"], "hash", "{err}");
    let (status, _, body) = api.get(&format!("/v1/blobs/{}", "00".repeat(32)));
    assert_eq!(status, 404, "{}", String::from_utf8_lossy(&body));

    // The first photo, through `fetch_blob` with the seller as the hint.
    let got = buyer
        .fetch_blob(photos[0].hash, Some(peer(&seller)))
        .await
        .unwrap();
    assert_eq!(got, photos[0].bytes);

    // The third node learns that the buyer holds it (a DHT provider record).
    let third_net = third.network().unwrap().clone();
    eventually(
        "the buyer as a provider of the photo at the third node",
        || async {
            let p = third_net.blob_providers(photos[0].hash).await.unwrap();
            p.contains(&peer(&buyer)).then_some(())
        },
    )
    .await;

    // The seller goes offline; the third node still gets the photo, from the buyer.
    let seller_peer = peer(&seller);
    seller.shutdown().await.unwrap();
    let fetched = third
        .fetch(Want::photo(photos[0].hash, Some(seller_peer)))
        .await
        .unwrap();
    assert_eq!(fetched.bytes, photos[0].bytes);
    assert_eq!(fetched.from, Some(peer(&buyer)));
    assert_eq!(fetched.via, Via::Provider);
    assert!(
        fetched
            .failures
            .iter()
            .any(|f| f.peer == seller_peer.to_string()),
        "{:?}",
        fetched.failures
    );

    buyer.shutdown().await.unwrap();
    third.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_peer_serving_corrupted_bytes_is_penalized_and_the_fetch_completes_from_another() {
    let dirs: Vec<_> = (0..3).map(|_| tempfile::tempdir().unwrap()).collect();
    let seller = start(dirs[0].path()).await;
    let corrupt = start(dirs[1].path()).await;
    let buyer = start(dirs[2].path()).await;
    connect(&buyer, &seller).await;
    connect(&buyer, &corrupt).await;
    connect(&corrupt, &seller).await;
    let (id, photos) = list_with_photos(&seller, "Camera with photos").await;
    eventually("the listing at the buyer's node", || async {
        buyer.engine().get(&id).unwrap().map(|_| ())
    })
    .await;
    // The corrupt peer holds the photo, and its file then rots (same size, other bytes): it
    // serves chunks without checking them, as a peer that lies would.
    let p = &photos[0];
    corrupt.blobs().put(&p.bytes, BlobClass::Cached).unwrap();
    let mut rotten = p.bytes.clone();
    rotten[300_000] ^= 0xff;
    std::fs::write(corrupt.blobs().path_of(&p.hash), &rotten).unwrap();

    // Asked first (as the hint), it sends bytes that do not match; the fetch goes on to the
    // seller and completes, keeping only the right bytes.
    let fetched = buyer
        .fetch(Want::photo(p.hash, Some(peer(&corrupt))))
        .await
        .unwrap();
    assert_eq!(fetched.bytes, p.bytes);
    assert_eq!(fetched.from, Some(peer(&seller)));
    assert_eq!(fetched.failures.len(), 1, "{:?}", fetched.failures);
    assert_eq!(fetched.failures[0].peer, peer(&corrupt).to_string());
    assert!(fetched.failures[0].reason.contains("do not match"));
    assert_eq!(buyer.blobs().get(&p.hash).unwrap().unwrap(), p.bytes);
    // The corrupt peer has a strike at the buyer's node, as for invalid gossip.
    let corrupt_id = peer(&corrupt).to_string();
    eventually("the strike in the buyer's peer list", || async {
        buyer
            .network()
            .unwrap()
            .peers()
            .await
            .unwrap()
            .into_iter()
            .find(|v| v.peer_id == corrupt_id && v.strikes == 1)
    })
    .await;

    // Asked alone for a blob only it has, its bytes are refused: nothing is kept.
    let only = jpeg_like(77, 50_000);
    let only_hash = corrupt.blobs().put(&only, BlobClass::Cached).unwrap();
    let mut bad = only.clone();
    bad[10] ^= 1;
    std::fs::write(corrupt.blobs().path_of(&only_hash), &bad).unwrap();
    let err = buyer
        .fetch(Want::photo(only_hash, Some(peer(&corrupt))))
        .await
        .unwrap_err();
    assert!(matches!(err, FetchError::AllFailed { .. }), "{err}");
    assert!(!buyer.blobs().has(&only_hash));

    for n in [seller, corrupt, buyer] {
        n.shutdown().await.unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_withdrawn_listings_photos_are_collected_and_no_longer_announced() {
    let dirs: Vec<_> = (0..2).map(|_| tempfile::tempdir().unwrap()).collect();
    let seller = start(dirs[0].path()).await;
    let buyer = start(dirs[1].path()).await;
    connect(&buyer, &seller).await;
    let (id, photos) = list_with_photos(&seller, "Lamp with photos").await;
    for p in &photos {
        eventually("the thumbnail at the buyer's node", || async {
            buyer.blobs().has(&p.thumb_hash).then_some(())
        })
        .await;
    }
    // A photo looked at, cached.
    buyer
        .fetch_blob(photos[0].hash, Some(peer(&seller)))
        .await
        .unwrap();
    let net = buyer.network().unwrap().clone();
    eventually("the buyer announcing what it holds", || async {
        (net.status().blobs.providing >= 3).then_some(())
    })
    .await;
    // While the listing is live, a collection keeps everything it names.
    let kept = buyer.collect_blobs().await.unwrap();
    assert_eq!(kept.removed, 0, "{kept:?}");
    assert!(buyer.blobs().has(&photos[0].hash));

    seller
        .author()
        .withdraw(&id, swapmeet_protocol::WithdrawReason::Sold)
        .unwrap();
    eventually("the withdrawal at the buyer's node", || async {
        buyer
            .engine()
            .get(&id)
            .unwrap()
            .filter(|r| r.kind == swapmeet_node::store::RecordKind::Withdrawal)
    })
    .await;
    let report = buyer.collect_blobs().await.unwrap();
    assert_eq!(report.removed, 3, "{report:?}");
    for p in &photos {
        assert!(!buyer.blobs().has(&p.thumb_hash));
        assert!(!buyer.blobs().has(&p.hash));
    }
    eventually("the buyer to stop announcing them", || async {
        (net.status().blobs.providing == 0).then_some(())
    })
    .await;
    // At the seller too: the withdrawn listing's photos were released from Own (no listing
    // of the user names them) and go with the next collection.
    let report = seller.collect_blobs().await.unwrap();
    assert_eq!(report.removed, 4, "{report:?}");
    for p in &photos {
        assert!(!seller.blobs().has(&p.hash) && !seller.blobs().has(&p.thumb_hash));
    }

    buyer.shutdown().await.unwrap();
    seller.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_peer_over_its_serving_rate_answers_busy_and_the_fetch_moves_on() {
    use swapmeet_node::media::fetch;
    use swapmeet_node::network::blobs::ServeLimits;
    use swapmeet_node::network::local::{loopback_config, LocalNode};
    use swapmeet_protocol::SecretKey;

    let dirs: Vec<_> = (0..3).map(|_| tempfile::tempdir().unwrap()).collect();
    // A peer that serves 8 chunks and then (almost) nothing more: a burst of 8, refilled at
    // one chunk in a thousand seconds.
    let mut stingy_config = loopback_config(None);
    stingy_config.blob_serve = ServeLimits {
        peer_chunks_per_sec: 0.001,
        peer_chunk_burst: 8,
        ..ServeLimits::default()
    };
    let stingy = LocalNode::start(
        dirs[0].path(),
        SecretKey::from_bytes([41; 32]),
        stingy_config,
    )
    .await
    .unwrap();
    let generous = LocalNode::start(
        dirs[1].path(),
        SecretKey::from_bytes([42; 32]),
        loopback_config(None),
    )
    .await
    .unwrap();
    let buyer = LocalNode::start(
        dirs[2].path(),
        SecretKey::from_bytes([43; 32]),
        loopback_config(None),
    )
    .await
    .unwrap();
    buyer.connect(&stingy).await.unwrap();
    buyer.connect(&generous).await.unwrap();
    // Ten chunks: the stingy peer serves eight, then answers Busy.
    let bytes = jpeg_like(9, 10 * 256 * 1024);
    let hash = stingy.blobs.put(&bytes, BlobClass::Own).unwrap();
    generous.blobs.put(&bytes, BlobClass::Own).unwrap();

    let fetched = fetch::fetch(
        &buyer.blobs,
        buyer.net(),
        Want::photo(hash, Some(stingy.net().peer_id())),
    )
    .await
    .unwrap();
    assert_eq!(fetched.bytes, bytes);
    assert_eq!(fetched.from, Some(generous.net().peer_id()));
    assert_eq!(fetched.via, Via::Connected);
    assert_eq!(fetched.failures.len(), 1, "{:?}", fetched.failures);
    assert_eq!(fetched.failures[0].reason, "busy");
    // It answered Busy to the first request past its burst and to the 3 asks again; being
    // refused a few times is no misbehaviour.
    let stingy_net = stingy.net().clone();
    eventually("the stingy peer's busy count", || async {
        (stingy_net.status().blobs.busy == 4).then_some(())
    })
    .await;
    assert_eq!(stingy.net().status().blobs.chunks_served, 8);
    let strikes = buyer
        .net()
        .peers()
        .await
        .unwrap()
        .into_iter()
        .find(|p| p.peer_id == stingy.net().peer_id().to_string())
        .map(|p| p.strikes);
    assert_eq!(strikes, Some(0));

    for n in [stingy, generous, buyer] {
        n.stop().await.unwrap();
    }
}
