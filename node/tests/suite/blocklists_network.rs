//! Signed block lists between real nodes: the author publishes a list, a node whose user
//! trusts the author applies it (the listed seller's records deleted, later ones refused), a
//! node that does not trust the author stores and relays the list but blocks nobody, and
//! untrusting brings the seller's records back from a peer with the next sync.

use std::time::Duration;

use swapmeet_node::network::local::LocalNode;
use swapmeet_node::{IngestOutcome, Source};
use swapmeet_protocol::{BlockEntry, BlockList, Listing, SecretKey};

use crate::local_support;
use local_support::{berlin_listing, berlin_nodes, eventually};

fn listing(item: &str, now: u64) -> Listing {
    berlin_listing(item, &format!("Offer {item}"), now)
}

fn held(node: &LocalNode, l: &Listing, seller: &SecretKey) -> bool {
    node.engine.get(&l.id(&seller.public())).unwrap().is_some()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_list_acts_only_where_its_author_is_trusted() {
    let (nodes, _dirs) = berlin_nodes(3, 70).await;
    let (author, trusting, other) = (&nodes[0], &nodes[1], &nodes[2]);
    let author_key = author.author.key().public();

    // A spammer's and an honest seller's listings are held by both readers already.
    let spammer = SecretKey::from_bytes([97; 32]);
    let honest = SecretKey::from_bytes([98; 32]);
    let now = trusting.engine.now();
    let spam = listing("spam", now);
    let good = listing("good", now);
    for n in [trusting, other] {
        let out = n
            .engine
            .ingest(
                vec![spam.sign(&spammer).unwrap(), good.sign(&honest).unwrap()],
                Source::Peer("earlier".into()),
            )
            .unwrap();
        assert!(out.iter().all(IngestOutcome::is_stored), "{out:?}");
    }

    // The trusting user trusts the author before any list of theirs exists.
    let t = trusting.engine.trust_author(&author_key).unwrap();
    assert!(t.new && !t.has_list && t.removed == 0, "{t:?}");

    trusting.connect(author).await.unwrap();
    other.connect(author).await.unwrap();
    other.connect(trusting).await.unwrap();
    for n in [author, trusting, other] {
        eventually("the first syncs to finish", || async {
            n.net().status().syncs_completed >= 1
        })
        .await;
    }
    // Gossipsub meshes form over a few heartbeats (200 ms each here).
    tokio::time::sleep(Duration::from_secs(1)).await;

    let published = author
        .author
        .publish_blocklist(vec![BlockEntry {
            seller: spammer.public(),
            reason: "counterfeit sneakers".into(),
        }])
        .unwrap();
    assert_eq!(published.id, BlockList::id_of(&author_key));

    // The trusting node applies it: the spammer's listing is gone, the honest one stays.
    eventually("the trusting node to apply the list", || async {
        trusting.engine.blocklist_of(&author_key).unwrap().is_some()
            && !held(trusting, &spam, &spammer)
    })
    .await;
    assert!(held(trusting, &good, &honest));
    assert!(trusting
        .engine
        .moderation()
        .is_blocked(spammer.public().as_bytes()));
    // What of the spammer's arrives later is refused (so neither stored nor relayed).
    let later = listing("spam-2", now);
    let out = trusting
        .engine
        .ingest(
            vec![later.sign(&spammer).unwrap()],
            Source::Peer("later".into()),
        )
        .unwrap();
    assert!(
        matches!(out[0], IngestOutcome::Blocked { .. }),
        "{:?}",
        out[0]
    );

    // The node that does not trust the author holds (and so relays) the list, blocks nobody.
    eventually("the other node to hold the list", || async {
        other.engine.blocklist_of(&author_key).unwrap().is_some()
    })
    .await;
    assert!(held(other, &spam, &spammer));
    assert!(!other
        .engine
        .moderation()
        .is_blocked(spammer.public().as_bytes()));
    let out = other
        .engine
        .ingest(
            vec![later.sign(&spammer).unwrap()],
            Source::Peer("later".into()),
        )
        .unwrap();
    assert!(out[0].is_stored(), "{:?}", out[0]);

    // Untrusting lifts the block; the next sync brings back what the other node still holds.
    assert!(trusting.engine.untrust_author(&author_key).unwrap());
    assert!(!trusting
        .engine
        .moderation()
        .is_blocked(spammer.public().as_bytes()));
    eventually(
        "the spammer's listings to come back with a sync",
        || async {
            trusting.net().sync_now().await.unwrap();
            held(trusting, &spam, &spammer) && held(trusting, &later, &spammer)
        },
    )
    .await;

    for n in nodes {
        n.stop().await.unwrap();
    }
}
