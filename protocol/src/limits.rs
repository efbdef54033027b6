//! Every limit of the protocol in one place, and the protocol identifiers.
//!
//! A compatible implementation must enforce exactly these; `docs/PROTOCOL.md` lists them too.

/// Largest encoded signed envelope, in bytes. Checked before anything else is decoded.
pub const MAX_ENVELOPE_BYTES: usize = 16 * 1024;
/// Longest title, in Unicode scalar values.
pub const MAX_TITLE_CHARS: usize = 140;
/// Longest description, in Unicode scalar values.
pub const MAX_DESCRIPTION_CHARS: usize = 5000;
/// Most tags on a listing.
pub const MAX_TAGS: usize = 10;
/// Longest tag, in Unicode scalar values.
pub const MAX_TAG_CHARS: usize = 32;
/// Most image references on a listing.
pub const MAX_IMAGES: usize = 10;
/// Longest item key, in bytes.
pub const MAX_ITEM_KEY_BYTES: usize = 128;
/// Longest place name, in Unicode scalar values.
pub const MAX_PLACE_CHARS: usize = 64;
/// Longest geohash of a listing's location (6 characters is a cell of about 1.2 x 0.6 km).
pub const MAX_GEOHASH_CHARS: usize = 6;
/// Shortest geohash of a listing's location: coarser cells would span several gossip areas.
pub const MIN_GEOHASH_CHARS: usize = 4;
/// Most countries in `ships_to`.
pub const MAX_SHIPS_TO: usize = 64;
/// Largest quantity.
pub const MAX_QUANTITY: u32 = 1_000_000;
/// Longest a listing may live after signing (renewing means signing a new version).
pub const MAX_LIFETIME_SECS: u64 = 30 * 86_400;
/// How far in the future a signing time may be, to tolerate clock skew.
pub const MAX_CLOCK_SKEW_SECS: u64 = 600;
/// Largest image an image reference may describe.
pub const MAX_IMAGE_BYTES: u64 = 20 * 1024 * 1024;
/// Largest thumbnail an image reference may describe. A 320 px JPEG at quality 80 is 15 to
/// 40 KiB; 64 KiB leaves room for busy pictures while keeping the thumbnails a node carries for
/// every listing it holds (10 per listing at most) small next to the listings themselves.
pub const MAX_THUMB_BYTES: u64 = 64 * 1024;
/// Longest image MIME type.
pub const MAX_MIME_CHARS: usize = 64;
/// Largest price, in minor units (ten trillion units of a two-decimal currency).
pub const MAX_AMOUNT_MINOR: u64 = 1_000_000_000_000_000;

/// Most variants on a listing. Real catalogues are far below it (the Magento Luma sample's
/// configurable products have 4 to 15 children; a shirt in 6 sizes and 8 colours is 48), while
/// eBay allows 250. 100 keeps a listing's variants within the 16 KiB envelope with room for a
/// description: a typical variant (two options, a SKU, a quantity) encodes to about 40 bytes,
/// so 100 of them take about 4 KiB; variants with long values are bounded by the envelope.
pub const MAX_VARIANTS: usize = 100;
/// Most option values per variant (eBay allows 5 variation specifics; Shopify 3).
pub const MAX_VARIANT_OPTIONS: usize = 5;
/// Longest option name ("size", "colour"), in Unicode scalar values (as long as a tag).
pub const MAX_OPTION_NAME_CHARS: usize = 32;
/// Longest option value ("XL", "EU 42 / UK 8 / US 9"), in Unicode scalar values.
pub const MAX_OPTION_VALUE_CHARS: usize = 64;
/// Longest variant SKU, in Unicode scalar values (shop SKUs are short codes like "MH01-XS-Black").
pub const MAX_VARIANT_SKU_CHARS: usize = 64;

/// Longest text of a private message, in Unicode scalar values (a chat message, not a letter:
/// it keeps the largest message envelope at about half of [`MAX_MESSAGE_BYTES`]).
pub const MAX_MESSAGE_TEXT_CHARS: usize = 2000;
/// Largest encoded signed message envelope, in bytes (the envelope cap; named on its own so the
/// sealed format's largest padding bucket is tied to it).
pub const MAX_MESSAGE_BYTES: usize = 16 * 1024;
/// Longest a message may live after it was sent, and how long mailboxes keep it at most; also
/// the default lifetime. Two weeks covers a holiday away from the node.
pub const MAX_MESSAGE_LIFETIME_SECS: u64 = 14 * 86_400;
/// Bytes of the big-endian length prefix in front of the signed envelope in a sealed plaintext.
pub const SEAL_LENGTH_PREFIX_BYTES: usize = 2;
/// The sizes a sealed plaintext (length prefix, signed envelope, zero padding) is padded to, so a
/// relay learns only which of these buckets a message falls in. The smallest holds a short
/// question about a listing with a short item key (a message envelope is about 300 bytes plus
/// its item key and text); the largest holds a [`MAX_MESSAGE_BYTES`] envelope and its prefix.
pub const SEAL_BUCKETS: [usize; 6] = [
    512,
    1024,
    2048,
    4096,
    8192,
    MAX_MESSAGE_BYTES + SEAL_LENGTH_PREFIX_BYTES,
];
/// Bytes the AEAD (ChaCha20-Poly1305) adds to a sealed plaintext.
pub const SEAL_AEAD_TAG_BYTES: usize = 16;
/// Bytes of the HPKE encapsulated key (an X25519 public key).
pub const SEAL_ENC_BYTES: usize = 32;
/// Largest encoded sealed message: the largest bucket, the AEAD tag, and at most 82 bytes of
/// header and CBOR framing (array 1, version 1, tag 34, expires_at 9, enc 34, ciphertext
/// header 3). Checked before a sealed message is decoded.
pub const MAX_SEALED_BYTES: usize = SEAL_BUCKETS[SEAL_BUCKETS.len() - 1] + SEAL_AEAD_TAG_BYTES + 82;

/// Gossipsub topics are this prefix followed by an area tag.
pub const PROTOCOL_GOSSIP_PREFIX: &str = "/swapmeet/listings/1/";
/// Kademlia protocol name (a private DHT: swapmeet nodes only).
pub const KAD_PROTOCOL: &str = "/swapmeet/kad/1.0.0";
/// Catch-up sync protocol (request-response).
pub const SYNC_PROTOCOL: &str = "/swapmeet/sync/1";
/// Fetch-by-hash protocol (request-response).
pub const FETCH_PROTOCOL: &str = "/swapmeet/fetch/1";
/// Private message protocol (request-response): delivery, mailbox deposit and collection,
/// receipts.
pub const MESSAGE_PROTOCOL: &str = "/swapmeet/msg/1";
/// Blob protocol (request-response): a range of a photo or thumbnail by its SHA-256.
pub const BLOB_PROTOCOL: &str = "/swapmeet/blob/1";

/// Gossip area tag of the topic that carries every listing (for nodes with no home location).
/// Not a geohash cell: the geohash alphabet has no `a`, `i`, `l` or `o`.
pub const GOSSIP_ALL_AREA: &str = "all";
/// Largest gossipsub RPC frame accepted. An RPC may carry several messages and control data;
/// the envelope inside each message is still capped at [`MAX_ENVELOPE_BYTES`].
pub const GOSSIP_MAX_TRANSMIT_BYTES: usize = 64 * 1024;
/// DHT key prefix of listing records: `/listing/<listing id text>`.
pub const DHT_LISTING_PREFIX: &str = "/listing/";
/// DHT key prefix of area provider records: `/area/<area tag>`.
pub const DHT_AREA_PREFIX: &str = "/area/";
/// DHT key prefix of blob provider records: `/blob/<64 lowercase hex of the SHA-256>`.
pub const DHT_BLOB_PREFIX: &str = "/blob/";
/// Largest Kademlia message: a whole envelope plus the key, the closer peers and framing
/// (the libp2p default of 16 KiB cannot carry a 16 KiB envelope).
pub const KAD_MAX_PACKET_BYTES: usize = 32 * 1024;
/// Identify protocol version announced by swapmeet nodes.
pub const IDENTIFY_PROTOCOL_VERSION: &str = "/swapmeet/1";

/// How long an offer or counter-offer stays open by default: 48 hours, the expiry eBay's Best
/// Offer users know.
pub const DEFAULT_OFFER_LIFETIME_SECS: u64 = 48 * 3600;
/// Longest an offer or counter-offer may stay open: a week, so a forgotten offer cannot pin a
/// seller's stock for longer (a message lives at most [`MAX_MESSAGE_LIFETIME_SECS`], twice this).
pub const MAX_OFFER_LIFETIME_SECS: u64 = 7 * 86_400;
/// Longest text of a review, in Unicode scalar values.
pub const MAX_REVIEW_TEXT_CHARS: usize = 1000;
/// Lowest and highest review rating (stars).
pub const REVIEW_RATING_RANGE: std::ops::RangeInclusive<u8> = 1..=5;
/// Largest encoded deal receipt, in bytes, checked before it is decoded. A receipt's size varies
/// only with its item key and integer widths: terms of at most about 310 bytes (with a 128-byte
/// item key), two 64-byte signatures and framing make under 450 (the committed vector, with
/// the item key `bike-1`, is 304); 1 KiB leaves room for a later version without a new cap.
pub const MAX_DEAL_RECEIPT_BYTES: usize = 1024;

/// Active listings a key may have without a [`crate::stamp::Stamp`]. A private seller's garage
/// sale is far below it (eBay's free allowance is 250 listings a month); a shop beyond it pays
/// with proof-of-work stamps, cheap at a shop's volume (see `BENCHMARKS.md`).
pub const FREE_LISTINGS_PER_KEY: u32 = 1000;
/// Most active listings of one key: stamp slots run from [`FREE_LISTINGS_PER_KEY`] up to (not
/// including) this. Ten times the largest real catalogue in `/work/shared/feeds` expansions
/// (17,500 items) and then some; a larger seller uses several keys (one per shop).
pub const MAX_LISTINGS_PER_KEY: u32 = 100_000;
/// Leading zero bits of the cheapest stamp (slots [`FREE_LISTINGS_PER_KEY`] to twice that):
/// 256 hashes on average, well under a millisecond. Each doubling of the slot adds 2 bits.
pub const STAMP_BASE_BITS: u32 = 8;

/// Most sellers one block list names. A community moderator's list of known spammers fits
/// (a list names keys, and a spammer's many listings share one key); with short reasons
/// (up to ~20 characters each) a full list fits the envelope's [`MAX_ENVELOPE_BYTES`].
pub const MAX_BLOCKLIST_ENTRIES: usize = 256;
/// Longest reason of one block list entry, in characters ("counterfeit sneakers").
pub const MAX_BLOCK_REASON_CHARS: usize = 64;
