//! What the alert service keeps in sled: saved searches, the searches listings left (to alert
//! once per listing, and again on a lower price), and the alerts themselves. Local only: nothing
//! here is published.

use serde::{de::DeserializeOwned, Deserialize, Serialize};
use swapmeet_protocol::{Currency, ListingId, Price};

use super::AlertError;
use crate::search::SearchQuery;
use crate::store::Store;

/// Saved searches: id (u64 big-endian) to JSON [`SavedSearch`].
pub const TREE_SEARCHES: &str = "alerts_searches";
/// The saved searches a listing matched at an earlier version and left with a later one:
/// listing id (16 bytes) to a list of [`Matched`] (binary, [`encode_matched`]; JSON before),
/// one per search, with the version and price it left at, so coming back alerts only a lower
/// price. (Whether a search stays in or enters a listing is decided from the version an update
/// replaced; records written before that also hold searches a listing is still in, which reads
/// the same.) Keyed by listing so that an update reads and writes one record however many
/// searches it touches, and a listing's record goes when the listing does (sold, withdrawn,
/// expired).
pub const TREE_MATCHED: &str = "alerts_matched_by_listing";
/// The first layout of [`TREE_MATCHED`]: search id (8 bytes) + listing id (16 bytes) to JSON
/// `{seq, price}`. Moved into [`TREE_MATCHED`] when the trees are opened.
pub const TREE_MATCHED_V1: &str = "alerts_matched";
/// Alerts: id (u64 big-endian, increasing, so newest last) to JSON [`Alert`].
pub const TREE_LOG: &str = "alerts_log";
/// Watched listings: listing id (16 bytes) to JSON [`WatchedListing`].
pub const TREE_WATCHED: &str = "alerts_watched";
/// What wanted posts have alerted: wanted post id (16 bytes) + listing id (16 bytes) to the
/// JSON [`Matched`] of the listing version that alerted (its `search` is 0), so each pair
/// alerts once, and again on a lower price, across restarts. Both sides use it: a seller's
/// listing that answers someone's wanted post, a listing that answers the user's own.
pub const TREE_WANTED_MATCHED: &str = "alerts_wanted_matched";
/// The user's own listings warned about: listing id (16 bytes) to the expiry warned about
/// (u64 big-endian), so each expiry warns once and a renewal warns again.
pub const TREE_OWN_WARNED: &str = "alerts_own_warned";

/// A saved search.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SavedSearch {
    /// Its id (shown by `watch list`, accepted by `watch rm`).
    pub id: u64,
    /// Its name (unique on this node).
    pub name: String,
    /// What it looks for: the search's own query (sort, limit and offset unused).
    pub query: SearchQuery,
    /// When it was saved (unix seconds).
    pub created_at: u64,
}

/// What an alert is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AlertKind {
    /// A listing the search had not matched before.
    Match,
    /// A listing it matched is now cheaper.
    PriceDrop,
    /// Many matches at once (a catch-up sync): one alert naming them.
    Digest,
    /// A watched listing's price changed (up or down).
    PriceChange,
    /// A watched listing was sold.
    Sold,
    /// A watched listing was withdrawn by its seller.
    Withdrawn,
    /// A watched listing expires soon.
    Expiring,
    /// A watched listing expired.
    Expired,
    /// One of the user's own listings expires soon; `command` renews it.
    Renew,
    /// Someone's new wanted post matches one of the user's own listings (`listing`); `wanted`
    /// is the post, `title` and `price` its title and maximum price, `command` answers it.
    WantedMatch,
}

/// One alert.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Alert {
    /// Its id (increasing).
    pub id: u64,
    /// The saved search (none for a watched or an own listing).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub search: Option<u64>,
    /// The saved search's name when the alert fired (empty for a watched or an own listing).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub search_name: String,
    /// What it is about.
    pub kind: AlertKind,
    /// The listing (match and price drop).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub listing: Option<String>,
    /// Its title.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    /// Its (lowest) price now.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub price: Option<Price>,
    /// Its (lowest) price before (price drop, price change).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub previous_price: Option<Price>,
    /// When the listing expires (expiring, renew), unix seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<u64>,
    /// The command that deals with it (renew: `swapmeet renew ID`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub command: Option<String>,
    /// The wanted post: of a `wanted_match`, or of the user whose wanted post a `match`
    /// answers (then `search_name` is "wanted: TITLE").
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wanted: Option<String>,
    /// Listings of a digest (the first [`super::DIGEST_MAX_IDS`]).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub listings: Vec<String>,
    /// How many listings it covers (1, or a digest's count).
    pub count: u64,
    /// When it fired (unix seconds).
    pub at: u64,
    /// Whether the user has seen it.
    pub seen: bool,
}

/// A listing the user watches.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct WatchedListing {
    /// The listing id.
    pub listing: String,
    /// Its title, as last seen.
    pub title: String,
    /// Its (lowest) price, as last seen.
    pub price: Price,
    /// Its version, as last seen.
    pub seq: u64,
    /// When it expires (unix seconds), as last seen.
    pub expires_at: u64,
    /// When the user started watching it (unix seconds).
    pub since: u64,
    /// The expiry already warned about (a renewal moves the expiry, which warns again).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub warned_expiry: Option<u64>,
}

/// What a search last matched of a listing.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Matched {
    /// The saved search.
    pub search: u64,
    /// The listing version.
    pub seq: u64,
    /// Its lowest price then.
    pub price: Price,
}

/// The trees.
pub struct AlertStore {
    pub(super) searches: sled::Tree,
    pub(super) matched: sled::Tree,
    pub(super) log: sled::Tree,
    pub(super) watched: sled::Tree,
    pub(super) own_warned: sled::Tree,
    /// The store's durability point: alerts and saved searches are announced or acknowledged
    /// only once durable.
    durable: crate::store::Durability,
    pub(super) wanted_matched: sled::Tree,
}

fn corrupt(tree: &'static str, e: impl std::fmt::Display) -> AlertError {
    AlertError::Corrupt {
        tree,
        reason: e.to_string(),
    }
}

pub(super) fn decode<T: DeserializeOwned>(
    tree: &'static str,
    bytes: &[u8],
) -> Result<T, AlertError> {
    serde_json::from_slice(bytes).map_err(|e| corrupt(tree, e))
}

pub(super) fn encode<T: Serialize>(v: &T) -> Vec<u8> {
    // Serializing these plain structs to JSON cannot fail (no maps with non-string keys).
    serde_json::to_vec(v).unwrap_or_default()
}

/// The first byte of a binary [`Matched`] list; the JSON lists written before start with `[`.
const MATCHED_BINARY: u8 = 1;
/// Bytes of one binary [`Matched`]: search, seq and amount (8 bytes each, big-endian), then
/// the currency's three letters (zeros for free).
const MATCHED_LEN: usize = 27;

/// Encodes what the searches matched of one listing. Binary, not JSON: one is written for
/// every listing a saved search matches, and JSON's encoding and size showed in the alerts
/// bench's profile.
pub(super) fn encode_matched(entries: &[Matched]) -> Vec<u8> {
    let mut out = Vec::with_capacity(1 + entries.len() * MATCHED_LEN);
    out.push(MATCHED_BINARY);
    for e in entries {
        out.extend_from_slice(&e.search.to_be_bytes());
        out.extend_from_slice(&e.seq.to_be_bytes());
        let (amount, code) = match &e.price {
            Price::Free => (0, [0u8; 3]),
            Price::Fixed {
                amount_minor,
                currency,
            } => {
                let mut c = [0u8; 3];
                for (d, s) in c.iter_mut().zip(currency.code().bytes()) {
                    *d = s;
                }
                (*amount_minor, c)
            }
        };
        out.extend_from_slice(&amount.to_be_bytes());
        out.extend_from_slice(&code);
    }
    out
}

/// Decodes [`encode_matched`]'s bytes, or the JSON list of the layout before it.
pub(super) fn decode_matched(bytes: &[u8]) -> Result<Vec<Matched>, AlertError> {
    let Some((&MATCHED_BINARY, body)) = bytes.split_first() else {
        return decode(TREE_MATCHED, bytes);
    };
    if body.len() % MATCHED_LEN != 0 {
        return Err(corrupt(TREE_MATCHED, format!("{} bytes", bytes.len())));
    }
    let u64_at = |b: &[u8], at: usize| {
        let mut x = [0u8; 8];
        x.copy_from_slice(&b[at..at + 8]);
        u64::from_be_bytes(x)
    };
    body.chunks_exact(MATCHED_LEN)
        .map(|b| {
            let code = &b[24..27];
            let price = if code == [0, 0, 0] {
                Price::Free
            } else {
                let text = std::str::from_utf8(code).map_err(|e| corrupt(TREE_MATCHED, e))?;
                Price::Fixed {
                    amount_minor: u64_at(b, 16),
                    currency: Currency::new(text).map_err(|e| corrupt(TREE_MATCHED, e))?,
                }
            };
            Ok(Matched {
                search: u64_at(b, 0),
                seq: u64_at(b, 8),
                price,
            })
        })
        .collect()
}

/// What a search matched in the first layout.
#[derive(Deserialize)]
struct MatchedV1 {
    seq: u64,
    price: Price,
}

impl AlertStore {
    /// Opens the trees.
    pub fn open(store: &Store) -> Result<AlertStore, AlertError> {
        let s = AlertStore {
            searches: store.tree(TREE_SEARCHES)?,
            matched: store.tree(TREE_MATCHED)?,
            log: store.tree(TREE_LOG)?,
            watched: store.tree(TREE_WATCHED)?,
            own_warned: store.tree(TREE_OWN_WARNED)?,
            durable: store.durability().clone(),
            wanted_matched: store.tree(TREE_WANTED_MATCHED)?,
        };
        s.upgrade(&store.tree(TREE_MATCHED_V1)?)?;
        Ok(s)
    }

    /// Moves what the first layout recorded into [`TREE_MATCHED`], then empties it. Key by
    /// key, never a `sled::Batch` (see `Alerts::trim`); a crash part way leaves entries in
    /// both trees, and the next open moves them again (the same values).
    fn upgrade(&self, v1: &sled::Tree) -> Result<(), AlertError> {
        if v1.is_empty() {
            return Ok(());
        }
        let mut by_listing: std::collections::BTreeMap<[u8; 16], Vec<Matched>> = Default::default();
        for kv in v1.iter() {
            let (k, v) = kv?;
            let (search, listing) = match (k.get(..8), k.get(8..)) {
                (Some(s), Some(l)) if l.len() == 16 => (s, l),
                _ => {
                    return Err(corrupt(
                        TREE_MATCHED_V1,
                        format!("key of {} bytes", k.len()),
                    ))
                }
            };
            let mut sb = [0u8; 8];
            sb.copy_from_slice(search);
            let mut lb = [0u8; 16];
            lb.copy_from_slice(listing);
            let m: MatchedV1 = decode(TREE_MATCHED_V1, &v)?;
            by_listing.entry(lb).or_default().push(Matched {
                search: u64::from_be_bytes(sb),
                seq: m.seq,
                price: m.price,
            });
        }
        for (listing, entries) in by_listing {
            self.matched.insert(listing, encode_matched(&entries))?;
        }
        self.sync()?;
        v1.clear()?;
        self.sync()?;
        Ok(())
    }

    /// Makes everything written to these trees (and the rest of the store) durable; see
    /// [`crate::store::Durability`]. Blocking.
    pub(super) fn sync(&self) -> Result<(), sled::Error> {
        self.durable.sync()
    }

    /// What the saved searches matched of a listing.
    pub(super) fn matched_of(&self, id: &ListingId) -> Result<Vec<Matched>, AlertError> {
        match self.matched.get(id.as_bytes())? {
            Some(v) => decode_matched(&v),
            None => Ok(Vec::new()),
        }
    }

    /// Every saved search, in id order.
    pub fn searches(&self) -> Result<Vec<SavedSearch>, AlertError> {
        self.searches
            .iter()
            .map(|kv| {
                let (_, v) = kv?;
                decode(TREE_SEARCHES, &v)
            })
            .collect()
    }

    /// Every watched listing.
    pub fn watched(&self) -> Result<Vec<WatchedListing>, AlertError> {
        self.watched
            .iter()
            .map(|kv| {
                let (_, v) = kv?;
                decode(TREE_WATCHED, &v)
            })
            .collect()
    }

    /// The next id of a tree whose keys are u64 big-endian.
    pub(super) fn next_id(tree: &sled::Tree) -> Result<u64, AlertError> {
        Ok(match tree.last()? {
            Some((k, _)) => {
                let b: [u8; 8] = k.as_ref().try_into().map_err(|_| {
                    corrupt("alerts", format!("key of {} bytes, expected 8", k.len()))
                })?;
                u64::from_be_bytes(b) + 1
            }
            None => 1,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matched_lists_round_trip_and_the_json_layout_still_reads() {
        let entries = vec![
            Matched {
                search: 7,
                seq: 3,
                price: Price::Fixed {
                    amount_minor: 29_900,
                    currency: Currency::new("EUR").unwrap(),
                },
            },
            Matched {
                search: u64::MAX,
                seq: 1,
                price: Price::Free,
            },
        ];
        let bytes = encode_matched(&entries);
        assert_eq!(bytes.len(), 1 + 2 * MATCHED_LEN);
        let back = decode_matched(&bytes).unwrap();
        assert_eq!(format!("{back:?}"), format!("{entries:?}"));
        let json = encode(&entries);
        let old = decode_matched(&json).unwrap();
        assert_eq!(format!("{old:?}"), format!("{entries:?}"));
        assert!(decode_matched(&bytes[..bytes.len() - 1]).is_err());
    }
}
