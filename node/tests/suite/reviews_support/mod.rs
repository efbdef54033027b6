//! Helpers of the review tests: seeded keys, real receipts (both parties' keys are known in a
//! test, so both signatures are real), reviews valid and forged, and nodes on loopback.

use std::future::Future;
use std::time::{Duration, Instant};

use swapmeet_node::authoring::ListingDraft;
use swapmeet_node::engine::{Engine, EngineConfig};
use swapmeet_node::network::local::{loopback_config, LocalNode};
use swapmeet_node::IngestOutcome;
use swapmeet_protocol::{
    Currency, DealError, DealReceipt, DealTerms, EnvelopeHash, Party, PublicKey, Review,
    ReviewError, SecretKey, SignedEnvelope,
};
use tempfile::TempDir;

pub const BERLIN: (f64, f64) = (52.52, 13.405);
/// The area (4-character geohash cell) of Berlin, a topic both nodes follow.
pub const CELL: &str = "u33d";
pub const DEADLINE: Duration = Duration::from_secs(60);

pub fn key(n: u8) -> SecretKey {
    SecretKey::from_bytes([n; 32])
}

pub fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

pub async fn eventually<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let start = Instant::now();
    loop {
        if check().await {
            return;
        }
        assert!(
            start.elapsed() < DEADLINE,
            "gave up after {DEADLINE:?} waiting for: {what}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

pub fn draft(title: &str) -> ListingDraft {
    ListingDraft {
        title: Some(title.into()),
        price: Some("200 EUR".into()),
        location: Some(format!("{},{}", BERLIN.0, BERLIN.1)),
        category: Some("bikes".into()),
        condition: Some("good".into()),
        pickup: Some(true),
        ..ListingDraft::default()
    }
}

/// A deal on a listing of `seller`'s, co-signed by both parties, accepted a minute ago.
pub fn deal(seller: &SecretKey, buyer: &SecretKey, item_key: &str, n: u8) -> DealReceipt {
    let t = DealTerms {
        seller: seller.public(),
        item_key: item_key.into(),
        version: EnvelopeHash([n; 32]),
        buyer: buyer.public(),
        amount_minor: 20_000,
        currency: Currency::new("EUR").unwrap(),
        quantity: 1,
        accepted_at: now() - 60,
        accept: EnvelopeHash([n.wrapping_add(100); 32]),
    };
    DealReceipt::assemble(&t, t.sign(buyer).unwrap(), t.sign(seller).unwrap()).unwrap()
}

/// A review signed through the protocol's rules.
pub fn review(
    by: &SecretKey,
    receipt: &DealReceipt,
    about: PublicKey,
    rating: u8,
    at: u64,
) -> Vec<u8> {
    Review {
        receipt: receipt.clone(),
        about,
        rating,
        text: format!("{rating} stars"),
        written_at: at,
    }
    .sign(by)
    .unwrap()
    .into_bytes()
}

/// An envelope of kind review with any payload, signed by `key`: what a forger can make
/// without the protocol's checks (`Review::sign` refuses all of these).
pub fn forge(key: &SecretKey, payload: &[u8]) -> Vec<u8> {
    fn bytes_header(out: &mut Vec<u8>, len: usize) {
        match len {
            0..=23 => out.push(0x40 | len as u8),
            24..=255 => out.extend_from_slice(&[0x58, len as u8]),
            _ => out.extend_from_slice(&[0x59, (len >> 8) as u8, len as u8]),
        }
    }
    let mut msg = b"swapmeet/v1/review\0".to_vec();
    msg.extend_from_slice(payload);
    let sig = key.sign(&msg).to_bytes();
    let mut out = vec![0x85, 0x01, 0x05];
    bytes_header(&mut out, 32);
    out.extend_from_slice(key.public().as_bytes());
    bytes_header(&mut out, payload.len());
    out.extend_from_slice(payload);
    bytes_header(&mut out, 64);
    out.extend_from_slice(&sig);
    out
}

/// `payload` with the first occurrence of `from` replaced by `to` (same length).
pub fn swap(payload: &[u8], from: &[u8], to: &[u8]) -> Vec<u8> {
    assert_eq!(from.len(), to.len());
    let at = payload
        .windows(from.len())
        .position(|w| w == from)
        .expect("the bytes to replace are in the payload");
    let mut out = payload.to_vec();
    out[at..at + from.len()].copy_from_slice(to);
    out
}

/// The `about` field as encoded in a review's payload (key 2, a 32-byte string), so that the
/// seller's key inside the receipt is left alone.
pub fn about_field(key: &PublicKey) -> Vec<u8> {
    let mut out = vec![0x02, 0x58, 0x20];
    out.extend_from_slice(key.as_bytes());
    out
}

pub fn payload_of(envelope: &[u8]) -> Vec<u8> {
    SignedEnvelope::decode(envelope)
        .unwrap()
        .payload_bytes()
        .to_vec()
}

/// An invalid review: what it is, its bytes, and the reason every node must give.
pub type Invalid = (&'static str, Vec<u8>, fn(&ReviewError) -> bool);

/// The four kinds of invalid review of a deal between `seller` and `buyer`, each with the
/// typed reason every node must give: a forged receipt (the seller's signature does not
/// verify), a review without a deal (no receipt in the receipt's place), a review by a third
/// party, a review about the wrong party.
pub fn invalid_reviews(
    seller: &SecretKey,
    buyer: &SecretKey,
    third: &SecretKey,
    receipt: &DealReceipt,
) -> Vec<Invalid> {
    let good = payload_of(&review(buyer, receipt, seller.public(), 5, now()));
    let receipt_bytes = receipt.encode();
    let mut forged_receipt = receipt_bytes.clone();
    let last = forged_receipt.len() - 1;
    forged_receipt[last] ^= 0x01;
    let no_deal = vec![0xff; receipt_bytes.len()];
    vec![
        (
            "a forged receipt",
            forge(buyer, &swap(&good, &receipt_bytes, &forged_receipt)),
            |e| {
                matches!(
                    e,
                    ReviewError::Receipt(DealError::BadSignature {
                        party: Party::Seller
                    })
                )
            },
        ),
        (
            "a review without a deal",
            forge(buyer, &swap(&good, &receipt_bytes, &no_deal)),
            |e| matches!(e, ReviewError::Receipt(DealError::Terms(_))),
        ),
        ("a review by a third party", forge(third, &good), |e| {
            matches!(e, ReviewError::SignerNotAParty)
        }),
        (
            "a review about the wrong party",
            forge(
                buyer,
                &swap(
                    &good,
                    &about_field(&seller.public()),
                    &about_field(&third.public()),
                ),
            ),
            |e| matches!(e, ReviewError::NotAboutTheOtherParty),
        ),
    ]
}

pub fn engine(dir: &std::path::Path) -> Engine {
    Engine::open(dir, EngineConfig::default()).unwrap().0
}

pub fn stored(o: &IngestOutcome) -> bool {
    matches!(o, IngestOutcome::ReviewStored { .. })
}

pub struct Nodes {
    pub nodes: Vec<Option<LocalNode>>,
    pub dirs: Vec<TempDir>,
}

impl Nodes {
    pub async fn start(keys: &[u8]) -> Nodes {
        let mut nodes = Vec::new();
        let mut dirs = Vec::new();
        for k in keys {
            let dir = tempfile::tempdir().unwrap();
            let n = LocalNode::start(dir.path(), key(*k), loopback_config(Some(BERLIN)))
                .await
                .unwrap();
            nodes.push(Some(n));
            dirs.push(dir);
        }
        Nodes { nodes, dirs }
    }

    pub fn n(&self, i: usize) -> &LocalNode {
        self.nodes[i].as_ref().expect("a running node")
    }

    pub async fn link(&self, a: usize, b: usize) {
        self.n(a).connect(self.n(b)).await.unwrap();
        eventually("the nodes to connect", || async {
            !self.n(a).net().connected_peers().await.unwrap().is_empty()
        })
        .await;
        // A few heartbeats for gossipsub's meshes.
        tokio::time::sleep(Duration::from_secs(1)).await;
    }

    /// Starts node `i` again on its folder (a node coming back online).
    pub async fn restart(&mut self, i: usize, k: u8) {
        let n = LocalNode::start(self.dirs[i].path(), key(k), loopback_config(Some(BERLIN)))
            .await
            .unwrap();
        self.nodes[i] = Some(n);
    }

    pub async fn stop(&mut self, i: usize) {
        if let Some(n) = self.nodes[i].take() {
            n.stop().await.unwrap();
        }
    }

    pub async fn stop_all(mut self) {
        for i in 0..self.nodes.len() {
            self.stop(i).await;
        }
    }
}
