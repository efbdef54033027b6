//! Block lists: publishing the user's own (signed, a record through the one ingest path) and
//! applying the lists of the authors the user trusts.
//!
//! A list is stored, gossiped, synced and put in the DHT like any record, on every node that
//! follows the shipping area, trusted or not: a node relays lists it does not apply, as it
//! relays listings it does not search. A list acts only on a node whose user trusts its author
//! ([`Engine::trust_author`]): its sellers are then blocked as if the user had blocked them
//! (their records deleted, later ones refused at ingest, so neither shown, stored nor relayed).
//! A newer list of a trusted author replaces the older one's effect; untrusting an author (or
//! a newer list that drops a seller) lifts the block, and the seller's records come back with
//! the next sync, as after `swapmeet unblock`.

use serde::{Deserialize, Serialize};
use swapmeet_protocol::{decode_stored, BlockEntry, BlockList, PublicKey, Record};

use crate::authoring::{invalid, Author, AuthorError, Published};
use crate::engine::{Engine, EngineError};
use crate::store::RecordKind;

/// How long a published list lives (the protocol's most, as a listing): the author
/// republishes it to keep it alive.
pub const BLOCKLIST_LIFETIME_SECS: u64 = swapmeet_protocol::limits::MAX_LIFETIME_SECS;

/// What trusting an author did.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TrustOutcome {
    /// Whether the trust is new.
    pub new: bool,
    /// Whether the node holds a list of this author now (else it applies once one arrives).
    pub has_list: bool,
    /// Sellers the list blocks that were not blocked before.
    pub newly_blocked: usize,
    /// Records of those sellers deleted from this node.
    pub removed: usize,
}

impl Engine {
    /// The stored block list of `author`, if the node has a live one.
    pub fn blocklist_of(&self, author: &PublicKey) -> Result<Option<BlockList>, EngineError> {
        let Some(rec) = self.get(&BlockList::id_of(author))? else {
            return Ok(None);
        };
        if rec.kind != RecordKind::BlockList || rec.expires_at <= self.now() {
            return Ok(None);
        }
        // Stored, so verified when it arrived.
        Ok(match decode_stored(&rec.envelope).map(|p| p.record) {
            Ok(Record::BlockList(b)) => Some(b),
            _ => None,
        })
    }

    /// Applies the stored list of `author` (if the user trusts them): its sellers are blocked
    /// and their records deleted; sellers only an earlier list named are blocked no more.
    /// Returns (newly blocked sellers, records deleted). Blocking.
    pub(crate) fn apply_blocklist(
        &self,
        author: &PublicKey,
    ) -> Result<(usize, usize), EngineError> {
        if !self.moderation().is_trusted(author.as_bytes()) {
            return Ok((0, 0));
        }
        let sellers: Vec<[u8; 32]> = self
            .blocklist_of(author)?
            .map(|b| b.entries.iter().map(|e| *e.seller.as_bytes()).collect())
            .unwrap_or_default();
        let newly = self.moderation().set_list(author.as_bytes(), sellers);
        let mut removed = 0;
        for s in &newly {
            if let Ok(key) = PublicKey::from_bytes(s) {
                removed += self.remove_seller_records(&key)?;
            }
        }
        Ok((newly.len(), removed))
    }

    /// Applies the lists of every trusted author the store holds (at open). Blocking.
    pub(crate) fn load_trusted_lists(&self) -> Result<(), EngineError> {
        for (author, _) in self.moderation().trusted() {
            self.apply_blocklist(&author)?;
        }
        Ok(())
    }

    /// Trusts `author`'s block list: durable before it returns, then the list the node holds
    /// (if any) is applied, and later versions are applied as they arrive. Blocking.
    pub fn trust_author(&self, author: &PublicKey) -> Result<TrustOutcome, EngineError> {
        let new = self.moderation().trust(author, self.now())?;
        self.store().flush()?;
        let has_list = self.blocklist_of(author)?.is_some();
        let (newly_blocked, removed) = self.apply_blocklist(author)?;
        Ok(TrustOutcome {
            new,
            has_list,
            newly_blocked,
            removed,
        })
    }

    /// Stops trusting `author`: their list blocks nobody here any more (the sellers it named
    /// come back as peers offer their records again). Returns whether the author was trusted.
    /// Blocking.
    pub fn untrust_author(&self, author: &PublicKey) -> Result<bool, EngineError> {
        let was = self.moderation().untrust(author)?;
        self.store().flush()?;
        Ok(was)
    }
}

impl Author {
    /// Signs and publishes the user's block list with `entries` (sorted and deduplicated
    /// here), replacing the user's earlier list. Blocking.
    pub fn publish_blocklist(&self, entries: Vec<BlockEntry>) -> Result<Published, AuthorError> {
        let me = self.key().public();
        if entries.iter().any(|e| e.seller == me) {
            return Err(invalid(
                "entries",
                "a block list cannot name its own author",
            ));
        }
        let now = self.engine().now();
        let mut list = BlockList {
            seq: self.next_seq(&BlockList::id_of(&me))?,
            signed_at: now,
            expires_at: now.saturating_add(BLOCKLIST_LIFETIME_SECS),
            entries,
        };
        list.normalize();
        let env = list.sign(self.key()).map_err(AuthorError::Refused)?;
        self.publish(env)
    }
}
