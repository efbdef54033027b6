//! A garage sale of three nodes in one process, over real TCP on 127.0.0.1:
//!
//! - a seller in Berlin lists a bike;
//! - a buyer a few kilometres away finds it with a local search ("road bike under 300 EUR
//!   within 20 km") moments later;
//! - a node in Munich follows its own area and never stores the Berlin listing;
//! - the buyer offers 200 EUR, the seller counters at 230, the buyer accepts: the seller's node
//!   confirms its stock and both nodes sign the deal; the example prints the receipt line,
//!   which anyone can verify from the two public keys alone;
//! - both review each other (reviews carry the receipt, so only a real deal can be reviewed);
//!   each review reaches the other party's node by gossip and shows in its reputation figures.
//!
//! Run: `cargo run -p swapmeet-examples --bin garage-sale`

use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use swapmeet_node::api::reviews::review_with_receipt;
use swapmeet_node::authoring::ListingDraft;
use swapmeet_node::market::{DealState, Market, OfferRequestParsed, Pick};
use swapmeet_node::network::local::{loopback_config, LocalNode};
use swapmeet_node::search::{GeoFilter, PriceFilter, SearchQuery, Sort};
use swapmeet_protocol::{Currency, DealReceipt, ListingId, Price, SecretKey, ThreadId};

const SELLER_HOME: (f64, f64) = (52.5200, 13.4050); // Berlin Mitte
const BUYER_HOME: (f64, f64) = (52.4870, 13.4250); // Neukölln, ~4 km away
const FAR_HOME: (f64, f64) = (48.1370, 11.5750); // Munich

#[tokio::main]
async fn main() -> Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn".into()),
        )
        .init();
    let dirs: Vec<_> = (0..3)
        .map(|_| tempfile::tempdir())
        .collect::<Result<_, _>>()?;
    let start = |i: usize, home| {
        let dir = dirs[i].path().to_path_buf();
        async move {
            LocalNode::start(
                &dir,
                SecretKey::from_bytes([i as u8 + 1; 32]),
                loopback_config(Some(home)),
            )
            .await
            .context("starting a node")
        }
    };
    let seller = start(0, SELLER_HOME).await?;
    let buyer = start(1, BUYER_HOME).await?;
    let far = start(2, FAR_HOME).await?;
    println!("seller {}", seller.net().peer_id());
    println!("buyer  {}", buyer.net().peer_id());
    println!("munich {}", far.net().peer_id());
    buyer.connect(&seller).await?;
    far.connect(&seller).await?;
    far.connect(&buyer).await?;
    // A node answers DHT queries once a peer's AutoNAT has dialled it back (until then it is
    // a Kademlia client); the three confirm each other within seconds. Gossip needs none of
    // it: this wait is only for the look-up by id at the end.
    let confirming = Instant::now();
    for n in [&seller, &buyer, &far] {
        while n.net().status().reachability.kad_mode != "server" {
            if confirming.elapsed() > Duration::from_secs(30) {
                bail!("AutoNAT did not confirm the nodes within 30 s");
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    println!(
        "all three confirmed reachable (AutoNAT) after {} ms",
        confirming.elapsed().as_millis()
    );
    // A few gossip heartbeats for the meshes to form.
    tokio::time::sleep(Duration::from_secs(1)).await;

    let draft = ListingDraft {
        title: Some("Road bike, Shimano 105, 56 cm".into()),
        description: Some("Serviced last month, new tyres. Pickup in Mitte.".into()),
        price: Some("250 EUR".into()),
        category: Some("bikes".into()),
        condition: Some("good".into()),
        tags: Some(vec!["road".into(), "shimano".into()]),
        location: Some(format!("{},{}", SELLER_HOME.0, SELLER_HOME.1)),
        pickup: Some(true),
        ..ListingDraft::default()
    };
    let published_at = Instant::now();
    let listing = seller.author.create(&draft)?;
    println!(
        "\nseller listed {} ({})",
        listing.id,
        draft.title.as_deref().unwrap_or("")
    );

    let query = SearchQuery {
        text: Some("road bike".into()),
        price: Some(PriceFilter {
            currency: Currency::new("EUR")?,
            min_minor: None,
            max_minor: Some(30_000), // 300.00 EUR in cents
        }),
        near: Some(GeoFilter {
            lat: BUYER_HOME.0,
            lon: BUYER_HOME.1,
            radius_km: Some(20.0),
        }),
        sort: Sort::Nearest,
        ..SearchQuery::default()
    };
    let hit = loop {
        if let Some(hit) = buyer.engine.search(&query)?.hits.into_iter().next() {
            break hit;
        }
        if published_at.elapsed() > Duration::from_secs(30) {
            bail!("the buyer did not find the bike within 30 s");
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    };
    println!(
        "buyer searched \"road bike\" under 300 EUR within 20 km and found it after {} ms: {} at {:.1} km",
        published_at.elapsed().as_millis(),
        hit.summary.title,
        hit.distance_km.unwrap_or_default()
    );

    // Give Munich every chance to hear of it: a full sync with both Berlin nodes.
    far.net().sync_now().await?;
    let deadline = Instant::now() + Duration::from_secs(30);
    while !far.net().status().syncing.is_empty() && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    match far.engine.get(&listing.id)? {
        None => println!("munich does not carry it: it follows only the cells around Munich"),
        Some(_) => bail!("munich stored a Berlin listing"),
    }
    // ...but can still look it up in the DHT when given the id.
    if far.net().get_listing(listing.id).await?.is_some() {
        println!("munich can still fetch it by id from the DHT");
    }

    let receipt = negotiate(&seller, &buyer, listing.id).await?;
    review_each_other(&seller, &buyer, &receipt).await?;

    for n in [far, buyer, seller] {
        n.stop().await?;
    }
    Ok(())
}

/// Runs a blocking market call on the blocking pool.
async fn blocking<T: Send + 'static>(f: impl FnOnce() -> Result<T> + Send + 'static) -> Result<T> {
    tokio::task::spawn_blocking(f).await?
}

/// Polls `market`'s view of `thread` until `done` holds, for at most 30 s.
async fn wait_until(
    market: &Market,
    thread: ThreadId,
    what: &str,
    done: impl Fn(&swapmeet_node::market::NegotiationView) -> bool,
) -> Result<swapmeet_node::market::NegotiationView> {
    let start = Instant::now();
    loop {
        let m = market.clone();
        let view = blocking(move || Ok(m.negotiation(&thread)?)).await;
        let state = match &view {
            Ok(v) if done(v) => return view,
            Ok(v) => format!(
                "offers {:?}, deal {:?}, ignored {:?}",
                v.state.offers.iter().map(|o| o.status).collect::<Vec<_>>(),
                v.deal.as_ref().map(|d| d.state),
                v.state.ignored
            ),
            Err(e) => e.to_string(),
        };
        if start.elapsed() > Duration::from_secs(30) {
            bail!("{what} did not happen within 30 s (the thread: {state})");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The buyer offers, the seller counters, the buyer accepts; prints the co-signed receipt.
async fn negotiate(seller: &LocalNode, buyer: &LocalNode, id: ListingId) -> Result<DealReceipt> {
    let terms = |price: &str| OfferRequestParsed {
        price: price.into(),
        quantity: None,
        expires_in_secs: None,
        message: None,
    };
    let listing = buyer
        .engine
        .get_verified(&id)?
        .context("the buyer's node does not hold the bike")?;
    let b = buyer.market.clone();
    let view = blocking(move || Ok(b.offer(&listing, &terms("200"))?)).await?;
    let thread = view.head.thread;
    println!(
        "
buyer offered 200.00 EUR (open 48 h)"
    );
    let open_at = |amount: u64| {
        move |v: &swapmeet_node::market::NegotiationView| {
            v.state.open().any(|o| o.terms.amount_minor == amount)
        }
    };
    wait_until(
        &seller.market,
        thread,
        "the offer reaching the seller",
        open_at(20_000),
    )
    .await?;
    let s = seller.market.clone();
    blocking(move || Ok(s.counter(&thread, &terms("230"))?)).await?;
    println!("seller countered at 230.00 EUR");
    wait_until(
        &buyer.market,
        thread,
        "the counter reaching the buyer",
        open_at(23_000),
    )
    .await?;
    let b = buyer.market.clone();
    blocking(move || Ok(b.accept(&thread, &Pick::default())?)).await?;
    println!("buyer accepted the counter");
    let confirmed = |v: &swapmeet_node::market::NegotiationView| {
        v.deal
            .as_ref()
            .is_some_and(|d| d.state == DealState::Confirmed && d.receipt.is_some())
    };
    let view = wait_until(&buyer.market, thread, "the co-signed deal", confirmed).await?;
    wait_until(
        &seller.market,
        thread,
        "the seller's copy of the deal",
        confirmed,
    )
    .await?;
    let receipt = view
        .deal
        .and_then(|d| d.receipt)
        .context("a confirmed deal without its receipt")?;
    // What anyone holding the line does: decode it and check both signatures.
    let line = receipt.to_text();
    let terms = DealReceipt::from_text(&line)?.verify()?.clone();
    println!(
        "deal {}: {} for {}, signed by buyer and seller; the receipt anyone can verify:\n{line}",
        receipt.id(),
        Price::Fixed {
            amount_minor: terms.amount_minor,
            currency: terms.currency,
        },
        terms.quantity
    );
    Ok(receipt)
}

/// Both parties review each other with the deal's receipt (what `swapmeet review DEAL` does);
/// each review travels by gossip to the other party's node, which counts it in the figures
/// `swapmeet show` and search hits carry.
async fn review_each_other(
    seller: &LocalNode,
    buyer: &LocalNode,
    receipt: &DealReceipt,
) -> Result<()> {
    for (by, who, rating, text) in [
        (
            buyer,
            "buyer",
            5,
            "Bike exactly as described, friendly handover.",
        ),
        (seller, "seller", 5, "Paid on the spot, on time."),
    ] {
        let (engine, key, receipt) = (by.engine.clone(), by.author.key().clone(), receipt.clone());
        blocking(move || {
            review_with_receipt(&engine, &key, &receipt, rating, text)
                .map_err(|e| anyhow::anyhow!("the review was refused: {e:?}"))
        })
        .await?;
        println!("{who} reviewed the deal: {rating} stars, \"{text}\"");
    }
    // Each party's node hears the review about it from the other's node.
    let deadline = Instant::now() + Duration::from_secs(30);
    for (node, who) in [(seller, "seller"), (buyer, "buyer")] {
        let me = node.author.key().public();
        let rep = loop {
            let rep = node.engine.reputation(&me);
            if rep.reviews > 0 {
                break rep;
            }
            if Instant::now() > deadline {
                bail!("the review about the {who} did not reach the {who}'s node within 30 s");
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        };
        println!(
            "the {who}'s node now shows the {who}: {} deal, {:.1} stars from {} review",
            rep.deals,
            rep.average_rating.unwrap_or_default(),
            rep.reviews
        );
    }
    Ok(())
}
