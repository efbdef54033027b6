//! The store's errors: each says what was being done and, where the user can act, what to do.

use super::NoSpace;

/// Errors of the store. Each names what was being done.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// sled failed (disk full, I/O error, corruption).
    #[error("store: {context}{}", disk_full_hint(source))]
    Sled {
        /// What the store was doing.
        context: &'static str,
        /// The underlying error.
        #[source]
        source: sled::Error,
    },
    /// fjall, which keeps the records and the change log, failed (disk full, I/O error,
    /// corruption).
    #[error("store: {context}{}", records_hint(source))]
    Records {
        /// What the store was doing.
        context: &'static str,
        /// The underlying error.
        #[source]
        source: fjall::Error,
    },
    /// A value in the store could not be read back; the store is damaged or from another version.
    #[error("store: corrupt value in {tree}: {reason}")]
    Corrupt {
        /// Which tree.
        tree: &'static str,
        /// What was wrong.
        reason: String,
    },
    /// Another process holds the store's lock: a node is already running on this home.
    #[error("store {path} is in use by another process (is a swapmeet node already running on this home?)")]
    Locked {
        /// The store's directory.
        path: String,
    },
    /// sled or fjall found their files damaged (truncated or overwritten) and cannot open
    /// them.
    #[error(
        "the store {path} is damaged and cannot be opened. It holds your listings, \
         messages and deals: restore it from a backup if you have one, or move it away (`mv \
         {path} {path}.damaged`) to start with an empty store: listings, yours included, come \
         back from peers by sync, messages and deals kept only here do not"
    )]
    Damaged {
        /// The store's directory.
        path: String,
        /// What sled or fjall reported.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// The store's folder cannot be written (a read-only disk, or files of another user).
    #[error(
        "the store {path} cannot be written: the node needs its home writable; check \
         that the disk is mounted read-write and the folder belongs to you, or use another home \
         (--home or SWAPMEET_HOME)"
    )]
    NotWritable {
        /// The store's directory.
        path: String,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// The disk is (almost) full: the write was refused and nothing of it stored.
    #[error("store: {0}")]
    DiskFull(#[from] NoSpace),
    /// The in-memory lookups were not built (the node stopped meanwhile, a record could not be
    /// read, or the opener refused the store); the store takes no writes until it is opened
    /// again. The reason is a whole sentence saying what to do.
    #[error("{reason}")]
    NotLoaded {
        /// Why.
        reason: String,
    },
    /// The store was written by an incompatible version of swapmeet.
    #[error("store format {found} is not supported by this version (expects {expected}); use a matching swapmeet or a new home")]
    Format {
        /// Found on disk.
        found: u8,
        /// What this build writes.
        expected: u8,
    },
}

/// What to do when sled met a full disk. The reserve ([`super::Durability::ensure_space`]) keeps the
/// node's own writes from getting there, but another program can take that space too.
fn disk_full_hint(e: &sled::Error) -> &'static str {
    match e {
        // sled clones its sticky error by kind and text, so the kind is what survives.
        sled::Error::Io(io) => io_hint(io),
        _ => "",
    }
}

/// What to do about an I/O error: only a full disk has advice.
fn io_hint(io: &std::io::Error) -> &'static str {
    const ENOSPC: i32 = 28;
    if io.kind() == std::io::ErrorKind::StorageFull || io.raw_os_error() == Some(ENOSPC) {
        ": the disk is full (no space left on device), and the write was not acknowledged; \
         free some space, then restart the node (after a failed write the store takes no \
         more until it is reopened)"
    } else {
        ""
    }
}

/// What fjall's error says, and what to do: a full disk as for sled; a store that refuses
/// writes after a failed sync says so (fjall's own words are terse).
pub(super) fn records_hint(e: &fjall::Error) -> String {
    match e {
        fjall::Error::Io(io) => match io_hint(io) {
            "" => format!(": {io}"),
            hint => hint.to_string(),
        },
        fjall::Error::Poisoned => ": an earlier write to the disk failed, so the store takes no \
             more writes (reads go on); check the disk, then restart the node"
            .to_string(),
        other => format!(": {other:?}"),
    }
}

impl StoreError {
    pub(crate) fn records(context: &'static str) -> impl FnOnce(fjall::Error) -> StoreError {
        move |source| StoreError::Records { context, source }
    }

    pub(crate) fn sled(context: &'static str) -> impl FnOnce(sled::Error) -> StoreError {
        move |source| StoreError::Sled { context, source }
    }
}

/// A read-only filesystem (EROFS) or files the user may not write.
pub(super) fn is_not_writable(e: &std::io::Error) -> bool {
    const EROFS: i32 = 30;
    e.kind() == std::io::ErrorKind::PermissionDenied || e.raw_os_error() == Some(EROFS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_records_failure_says_what_to_do() {
        let full = StoreError::records("writing listings")(fjall::Error::Io(
            std::io::Error::from_raw_os_error(28),
        ));
        assert!(full.to_string().contains("the disk is full"), "{full}");
        let poisoned = StoreError::records("writing listings")(fjall::Error::Poisoned);
        assert!(
            poisoned.to_string().contains("restart the node"),
            "{poisoned}"
        );
        // Through the durability point, which reports sled's error type: the advice is in
        // its cause, which the binary prints ("caused by: ...").
        let synced = StoreError::sled("making writes durable")(
            super::super::records::as_sled_error(fjall::Error::Poisoned),
        );
        let cause = std::error::Error::source(&synced).map(ToString::to_string);
        assert!(
            cause
                .as_deref()
                .is_some_and(|c| c.contains("restart the node")),
            "{cause:?}"
        );
    }
}
