//! Whole-file errors. Row-level problems are `Skip`s, never errors.

/// Why a file could not be read as a feed at all.
#[derive(Debug, thiserror::Error)]
pub enum FeedError {
    /// Over the size limit.
    #[error("the feed is {actual} bytes, the limit is {limit}")]
    TooLarge {
        /// Limit.
        limit: usize,
        /// Size.
        actual: usize,
    },
    /// Too many items.
    #[error("the feed has {actual} items, the limit is {limit}")]
    TooManyItems {
        /// Limit.
        limit: usize,
        /// Count.
        actual: usize,
    },
    /// The format could not be told from the content.
    #[error("cannot tell the feed format: {0}; pass --format")]
    Undetected(String),
    /// Not the declared format.
    #[error("not a {format} file: {reason}")]
    NotFormat {
        /// The format expected.
        format: &'static str,
        /// What was wrong.
        reason: String,
    },
    /// Unknown format name.
    #[error("unknown format '{0}': use auto, gmc-xml, gmc-tsv, shopify-csv, woocommerce-csv, magento-csv or json")]
    UnknownFormat(String),
}
