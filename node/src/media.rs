//! Photos: the content-addressed blob store that keeps them, and (from the encoder) the
//! re-encoding that strips their metadata before anything is published.
//!
//! # Layout
//! - [`blobs`]: files under `HOME/blobs`, named by SHA-256, checked on every write and read;
//!   classes (own, thumbnail, cached) decide what may be evicted; beside them, the card-size
//!   thumbnails of the search page's result cards (derived, never published).
//! - [`encode`]: re-encoding JPEG/PNG/WebP to a metadata-free JPEG and its thumbnail, with the
//!   decompression-bomb guard; a thumbnail's card thumbnail.
//! - [`fetch`]: a blob from the network (hint, DHT providers, connected peers), verified
//!   before it is kept; a peer whose bytes do not match is penalized.
//! - [`photos`]: the user's uploads: re-encoded, kept as Own, paired with their thumbnails.
//! - [`upkeep`]: announcing what is held, prefetching the thumbnails of listings from peers,
//!   collecting what no live listing names.

pub mod blobs;
pub mod encode;
pub mod fetch;
pub mod photos;
pub mod upkeep;

pub use blobs::{BlobClass, BlobError, BlobHash, BlobStore, BlobUsage, CollectReport};
pub use encode::{reencode, EncodeError, Encoded};
pub use photos::{PhotoError, PhotoLibrary};
