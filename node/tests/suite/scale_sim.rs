//! A small simulated network (30 real nodes over the memory transport, in a few cities with a
//! skewed spread of users; `scale_support/`): what users rely on at any size. Every node
//! following a listing's cell receives it by gossip; a listing record is found through the DHT
//! from another city; nodes that were down while listings were published catch up by sync
//! when they come back. The figures of a large run come from `node/benches/scale.rs`; this
//! test asserts outcomes only, never times.

use crate::scale_support;

use std::time::Duration;

use scale_support::measure;
use scale_support::{Sim, SimConfig};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_small_network_delivers_finds_and_catches_up() {
    let config = SimConfig {
        nodes: 30,
        cities: 3,
        listings: 8,
        churn_listings: 6,
        churn: 0.2,
        bootstrap: 3,
        lookups: 4,
        publish_gap: Duration::from_millis(100),
        settle: Duration::from_secs(3),
        deadline: Duration::from_secs(60),
        seed: 15,
        connections: 96,
        idle: Duration::from_secs(600),
    };
    let run = async {
        let mut sim = Sim::start(config).await.expect("nodes start");
        tokio::time::sleep(sim.config.settle).await;
        let lonely = sim.wait_for_areas(Duration::from_secs(30)).await;
        assert_eq!(lonely, 0, "every node found a peer of its city");
        measure::wait_until_quiet(&sim, Duration::from_secs(60)).await;
        let mut synth = measure::synth(sim.config.seed);

        let count = sim.config.listings;
        let published = measure::publish(&mut sim, &mut synth, count)
            .await
            .expect("listings published");
        assert!(
            published.iter().any(|p| p.expected.len() >= 3),
            "some listing has an audience of several nodes: {:?}",
            published
                .iter()
                .map(|p| p.expected.len())
                .collect::<Vec<_>>()
        );
        let prop = measure::propagation(&sim, &published).await;
        assert_eq!(
            (prop.delivered, prop.incomplete),
            (prop.expected, 0),
            "every node following a listing's cell received it: {prop:?}"
        );
        // Nodes of other cities do not store what they do not follow.
        let store = measure::storage(&sim, published.len());
        assert!(
            store.share_max < 1.0,
            "no located node stores every listing: {store:?}"
        );

        let look = measure::lookups(&mut sim, &published)
            .await
            .expect("look-ups");
        assert!(look.listings > 0);
        assert_eq!(
            look.listings_found, look.listings,
            "every listing record was found through the DHT from another city: {look:?}"
        );
        assert_eq!(
            look.peers_found, look.peers,
            "every PeerId was found through the DHT: {look:?}"
        );

        let churn = measure::churn(&mut sim, &mut synth).await.expect("churn");
        assert_eq!(churn.nodes, 6);
        assert!(
            churn.missed > 0,
            "the churned nodes missed something: {churn:?}"
        );
        assert_eq!(
            churn.caught_up, churn.nodes,
            "every node that was down caught up with what it missed: {churn:?}"
        );
        sim.stop_all().await.expect("nodes stop");
    };
    tokio::time::timeout(Duration::from_secs(240), run)
        .await
        .expect("the simulation finished in time");
}
