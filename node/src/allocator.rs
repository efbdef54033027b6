//! How the process's allocator (mimalloc, the binary's and the benchmarks' global allocator)
//! gives memory back to the system.
//!
//! mimalloc 3 keeps a page that became free for `purge_delay` (1 s by default) before handing
//! it back, and does the handing back only when that thread allocates or frees again. A
//! node's threads mostly sleep: the index writer's thread frees its segment's tables at every
//! commit and then waits for the next listing, and what it freed stays resident. Measured
//! (BENCHMARKS.md, "mimalloc kept what it freed"): a lone node grew from 13 to 31 MiB of
//! anonymous memory with three listings sold and stayed there, 12 MiB with the delay at 0;
//! an idle node with 30 peers 52-58 MiB against 47-49 MiB; 1,000,000 listings 398-418 MiB
//! against 378-382 MiB, for ingest about a sixth slower (freed pages are handed back with
//! `madvise` and faulted in again when reused).
//!
//! mimalloc reads its options once, from the environment, before `main` runs, and setting one
//! from the program needs `unsafe` (which the workspace forbids). So [`purge_promptly`] runs
//! the program again in place (`exec`, same process id, same arguments) with the option in its
//! environment when it is not there yet. An option the user set is left as it is.

/// The environment variable mimalloc reads for its purge delay, in milliseconds.
pub const PURGE_DELAY_VAR: &str = "MIMALLOC_PURGE_DELAY";

/// Makes mimalloc hand freed memory back at once: replaces the process with the same program
/// and arguments, with [`PURGE_DELAY_VAR`] set to 0, unless it is set already. Returns only
/// when nothing needed doing, or when the program could not be run again (then the process
/// goes on with mimalloc's defaults, which costs memory, not correctness; the reason is
/// returned for the caller to log). Call it first thing in `main`, before threads start.
#[cfg(unix)]
pub fn purge_promptly() -> Option<String> {
    use std::os::unix::process::CommandExt;

    if std::env::var_os(PURGE_DELAY_VAR).is_some() {
        return None;
    }
    let exe = match std::env::current_exe() {
        Ok(exe) => exe,
        Err(e) => return Some(format!("cannot find the running program: {e}")),
    };
    let mut args = std::env::args_os();
    let mut cmd = std::process::Command::new(exe);
    if let Some(arg0) = args.next() {
        cmd.arg0(arg0);
    }
    // `exec` returns only on failure.
    let e = cmd.args(args).env(PURGE_DELAY_VAR, "0").exec();
    Some(format!("cannot run the program again: {e}"))
}

/// [`purge_promptly`] for programs without a logger (the benchmarks): says on stderr when
/// the program could not be run again.
pub fn purge_promptly_or_say() {
    if let Some(why) = purge_promptly() {
        eprintln!("mimalloc keeps its default purge delay (memory is handed back later): {why}");
    }
}

/// Elsewhere mimalloc keeps its defaults.
#[cfg(not(unix))]
pub fn purge_promptly() -> Option<String> {
    None
}
