//! Hash maps keyed by what peers send (words, envelope hashes, listing ids, seller keys): a
//! hash an attacker can aim collisions at is not an option, and std's SipHash was about 5% of
//! the alert task in the alerts bench's profile. foldhash keyed with 128 bits from the OS (a
//! process-wide seed and one per map) is several times quicker, and its seeds are unknown to
//! whoever writes the listings.

use std::sync::OnceLock;

use foldhash::fast::SeedableRandomState;
use foldhash::SharedSeed;

/// The hasher of a map keyed by peers' data; see [`keyed_hasher`].
pub(crate) type KeyedHasher = SeedableRandomState;

/// A hasher for a new map, keyed with fresh randomness.
pub(crate) fn keyed_hasher() -> KeyedHasher {
    fn random_u64() -> u64 {
        let mut b = [0u8; 8];
        // Without OS randomness (it is there on every platform the node runs on), foldhash's
        // own per-process seed (from addresses) is what remains.
        let _ = getrandom::fill(&mut b);
        u64::from_le_bytes(b)
    }
    static SHARED: OnceLock<SharedSeed> = OnceLock::new();
    let shared = SHARED.get_or_init(|| SharedSeed::from_u64(random_u64()));
    SeedableRandomState::with_seed(random_u64(), shared)
}
