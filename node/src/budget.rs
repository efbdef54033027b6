//! The node's memory budget (`[node] memory_mib` in config.toml): the caches the node sizes
//! from it, and what it does not bound.
//!
//! Sized from the budget: the store's caches (an eighth: the records' block cache and sled's
//! page cache; the records' memtables take up to half of that more while writes come in)
//! and the search index writer's indexing memory (an eighth; tantivy flushes a segment when it
//! is full, so a smaller one only means more, smaller segments for the merger). The other
//! three quarters are the room for what grows with the store and is not a cache, so the
//! budget does not bound it: the store's lookups and the allowance book (about 210 bytes per
//! stored record with the store's own state, BENCHMARKS.md, "Memory" and "The records in an
//! LSM tree"), and the index's memory-mapped files (the OS pages them in and out). The default
//! leaves room for a few hundred thousand listings; `swapmeet status` shows the resident memory
//! beside the budget.

use thiserror::Error;

/// The default budget: a laptop's node, which should stay out of its user's way.
pub const DEFAULT_MEMORY_MIB: u64 = 256;
/// The least budget accepted: below it the caches stop helping.
pub const MIN_MEMORY_MIB: u64 = 64;
/// The most accepted: beyond it the figure is surely a typo.
pub const MAX_MEMORY_MIB: u64 = 1024 * 1024;

/// tantivy refuses less than 15 MB of indexing memory per thread.
const MIN_INDEX_WRITER_BYTES: u64 = 16 * 1024 * 1024;
/// Beyond this the writer's segments get no better for a node's small documents.
const MAX_INDEX_WRITER_BYTES: u64 = 256 * 1024 * 1024;

/// A memory budget out of range.
#[derive(Debug, Error, PartialEq, Eq)]
#[error("node.memory_mib: {0} is out of range: {MIN_MEMORY_MIB} to {MAX_MEMORY_MIB}")]
pub struct BudgetError(pub u64);

/// A checked memory budget.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MemoryBudget {
    bytes: u64,
}

impl Default for MemoryBudget {
    fn default() -> Self {
        MemoryBudget {
            bytes: DEFAULT_MEMORY_MIB * 1024 * 1024,
        }
    }
}

impl MemoryBudget {
    /// A budget of `mib` MiB, checked.
    pub fn from_mib(mib: u64) -> Result<MemoryBudget, BudgetError> {
        if !(MIN_MEMORY_MIB..=MAX_MEMORY_MIB).contains(&mib) {
            return Err(BudgetError(mib));
        }
        Ok(MemoryBudget {
            bytes: mib * 1024 * 1024,
        })
    }

    /// The budget in bytes.
    pub fn bytes(&self) -> u64 {
        self.bytes
    }

    /// The store's caches (`StoreConfig::cache_capacity`).
    pub fn store_cache_bytes(&self) -> u64 {
        self.bytes / 8
    }

    /// The search index writer's indexing memory.
    pub fn index_writer_bytes(&self) -> usize {
        let b = (self.bytes / 8).clamp(MIN_INDEX_WRITER_BYTES, MAX_INDEX_WRITER_BYTES);
        usize::try_from(b).unwrap_or(usize::MAX)
    }
}

/// The process's resident memory in bytes (Linux: `VmRSS` in `/proc/self/status`); `None`
/// elsewhere.
pub fn resident_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let kib: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))?
        .trim()
        .strip_suffix("kB")?
        .trim()
        .parse()
        .ok()?;
    Some(kib * 1024)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn caches_are_sized_from_the_budget_within_what_they_accept() {
        let d = MemoryBudget::default();
        assert_eq!(d.store_cache_bytes(), 32 << 20);
        assert_eq!(d.index_writer_bytes(), 32 << 20);
        let small = MemoryBudget::from_mib(MIN_MEMORY_MIB).unwrap();
        assert_eq!(small.store_cache_bytes(), 8 << 20);
        assert_eq!(small.index_writer_bytes(), 16 << 20, "tantivy's floor");
        let big = MemoryBudget::from_mib(8192).unwrap();
        assert_eq!(big.store_cache_bytes(), 1 << 30);
        assert_eq!(big.index_writer_bytes(), 256 << 20);
        let e = MemoryBudget::from_mib(10).unwrap_err();
        assert_eq!(
            e.to_string(),
            "node.memory_mib: 10 is out of range: 64 to 1048576"
        );
    }

    #[test]
    #[cfg(target_os = "linux")]
    fn the_resident_memory_is_read_on_linux() {
        let rss = resident_bytes().unwrap();
        assert!(rss > 1024 * 1024, "{rss}");
    }
}
