//! Photos: the content-addressed blob store that keeps them, and (from the encoder) the
//! re-encoding that strips their metadata before anything is published.
//!
//! # Layout
//! - [`blobs`]: files under `HOME/blobs`, named by SHA-256, checked on every write and read;
//!   classes (own, thumbnail, cached) decide what may be evicted.
//! - [`encode`]: re-encoding JPEG/PNG/WebP to a metadata-free JPEG and its thumbnail, with the
//!   decompression-bomb guard.
//! - [`photos`]: the user's uploads: re-encoded, kept as Own, paired with their thumbnails.

pub mod blobs;
pub mod encode;
pub mod photos;

pub use blobs::{BlobClass, BlobError, BlobHash, BlobStore, BlobUsage, CollectReport};
pub use encode::{reencode, EncodeError, Encoded};
pub use photos::{PhotoError, PhotoLibrary};
