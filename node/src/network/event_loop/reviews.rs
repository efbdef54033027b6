//! Publishing reviews: what the local user wrote (or imported) goes out on gossip; what peers
//! sent is relayed by gossipsub itself once ingest accepted it, and what sync brought is known
//! to the peer it came from.

use tokio::sync::broadcast;

use super::EventLoop;
use crate::events::Source;
use crate::market::reviews::ReviewEvent;
use crate::network::gossip;

impl EventLoop {
    /// Publishes a review stored here on the topics of its deal's listing (as this node knows
    /// it) and on `all`; never into the DHT, whose records are listings.
    pub(super) fn on_review_event(&mut self, ev: Result<ReviewEvent, broadcast::error::RecvError>) {
        let ev = match ev {
            Ok(ev) => ev,
            Err(broadcast::error::RecvError::Lagged(n)) => {
                // They still reach peers through sync.
                tracing::warn!(
                    missed = n,
                    "fell behind the reviews' events; some reviews were not gossiped"
                );
                return;
            }
            // The engine is gone; the listings' branch ends the loop.
            Err(broadcast::error::RecvError::Closed) => return,
        };
        if matches!(ev.source, Source::Peer(_) | Source::Store) {
            return;
        }
        let data = ev.envelope.to_vec();
        for area in gossip::publish_areas(&ev.areas) {
            self.publish(gossip::topic(&area).hash(), data.clone());
        }
        self.counters.published += 1;
    }
}
