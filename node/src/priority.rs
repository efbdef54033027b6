//! Background scheduling priority for work that can wait.
//!
//! A node stores and relays listings for its peers while it indexes them for search. Indexing
//! (tantivy's indexing, segment-writing and merging threads) can wait a few hundred
//! milliseconds without anyone noticing; relaying cannot: a gossiped listing is forwarded only
//! after it has been stored, so every moment a node's network task waits for a core adds to
//! how long the listing takes to reach the rest of the network. On two cores the index's
//! threads took three quarters of the CPU while 30 nodes relayed listings (file creation for
//! new segments is costly on a busy file system), and the network tasks waited for them.
//!
//! So the index's threads run at a lower priority (a higher nice value): they take every idle
//! cycle, and yield when storing, relaying or answering the user needs the core. Under a
//! sustained load they fall behind, commits grow larger, and each listing costs the index less.

/// The nice value of background threads: 19, the lowest. Such a thread gets about 1/70 of the
/// share of a normal one when both want the same core (Linux weights 15 against 1024), and
/// everything when nobody else wants it. A node runs a few dozen tantivy threads; at a milder
/// nice value their weights added up to a large share again.
pub const BACKGROUND_NICE: i32 = 19;

/// Runs `f` on a thread of background priority and returns its result. Threads that `f` starts
/// inherit the priority (on Linux a new thread takes the nice value of the thread creating it),
/// which is how a library's worker threads are lowered without changing the library.
pub fn in_background<T: Send>(f: impl FnOnce() -> T + Send) -> T {
    std::thread::scope(|s| {
        s.spawn(|| {
            lower_this_thread();
            f()
        })
        .join()
        .unwrap_or_else(|e| std::panic::resume_unwind(e))
    })
}

/// Raises the calling thread's nice value to [`BACKGROUND_NICE`] (never lowers it: a node the
/// user already started at a lower priority keeps it).
#[cfg(target_os = "linux")]
fn lower_this_thread() {
    use rustix::process::{getpriority_process, setpriority_process};
    // On Linux, PRIO_PROCESS with no pid names the calling thread, not the whole process.
    let current = getpriority_process(None).unwrap_or(0);
    if current < BACKGROUND_NICE {
        if let Err(e) = setpriority_process(None, BACKGROUND_NICE) {
            // Not fatal: the work runs at normal priority.
            tracing::debug!(error = %e, "could not lower a background thread's priority");
        }
    }
}

/// Elsewhere the call applies to the whole process (the network too), so it is not made.
#[cfg(not(target_os = "linux"))]
fn lower_this_thread() {}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::*;

    /// The nice value of a thread of this process, from `/proc`.
    fn nice_of(tid: &str) -> i32 {
        let stat = std::fs::read_to_string(format!("/proc/self/task/{tid}/stat")).unwrap();
        // Fields after the command name (which is in parentheses and may hold spaces); nice
        // is field 19 of the line, the 17th after the name.
        let rest = &stat[stat.rfind(')').unwrap() + 2..];
        rest.split(' ').nth(16).unwrap().parse().unwrap()
    }

    #[test]
    fn threads_started_in_the_background_inherit_its_priority() {
        let tid = || rustix::thread::gettid().as_raw_nonzero().to_string();
        let before = nice_of(&tid());
        let (mine, child) = in_background(|| {
            let mine = nice_of(&tid());
            let child = std::thread::spawn(move || nice_of(&tid())).join().unwrap();
            (mine, child)
        });
        assert!(mine >= BACKGROUND_NICE, "{mine}");
        assert!(child >= BACKGROUND_NICE, "{child}");
        // The caller keeps its own priority.
        assert_eq!(nice_of(&tid()), before);
    }
}
