//! Giving freed heap back to the system. Under glibc's malloc, what the replicator frees (the
//! Arrow and DataFusion buffers of a batch's writes, MERGE, OPTIMIZE, checkpoints) stays in the
//! free lists of the runtime threads' arenas, scattered between live chunks, where glibc's own
//! trimming (only a heap's free top) cannot return it. Measured in the soak: RSS stepped up
//! by ~150 MiB at each upkeep and never came down (peak 636 MiB in 12 minutes), while
//! `malloc_trim` returned 160–230 MiB each time, leaving 55–120 MiB of live heap
//! (docs/benchmarks.md, "The replicator's memory").

use std::time::{Duration, Instant};

/// How often the replicator returns freed heap between upkeeps: often enough that a batch's
/// leftovers do not pile up, rare enough that the walk over the free lists (3–25 ms in the
/// soak) costs nothing.
pub const RELEASE_EVERY: Duration = Duration::from_secs(60);

/// Returns the free pages of every arena to the system (glibc's `malloc_trim`).
#[cfg(all(target_os = "linux", target_env = "gnu"))]
pub fn release_freed() {
    let started = Instant::now();
    // SAFETY: `malloc_trim` takes no pointer and touches only chunks already free, under the
    // arenas' own locks; any thread may call it at any time.
    let released = unsafe { libc::malloc_trim(0) } == 1;
    tracing::debug!(released, took = ?started.elapsed(), "freed heap returned to the system");
}

/// Other allocators return freed memory their own way.
#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
pub fn release_freed() {}

/// Calls [`release_freed`] at most once per `every`.
#[derive(Debug)]
pub struct Release {
    every: Duration,
    last: Instant,
}

impl Release {
    pub fn every(every: Duration) -> Release {
        Release {
            every,
            last: Instant::now(),
        }
    }

    /// Returns freed heap if `every` has passed since the last time; whether it did.
    pub fn if_due(&mut self) -> bool {
        let due = self.last.elapsed() >= self.every;
        if due {
            self.now();
        }
        due
    }

    /// Returns freed heap now (after a pass that freed much, such as upkeep).
    pub fn now(&mut self) {
        release_freed();
        self.last = Instant::now();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn releases_only_once_the_interval_has_passed() {
        let mut release = Release::every(Duration::from_secs(3600));
        assert!(!release.if_due(), "not due right after it was made");

        let mut release = Release::every(Duration::ZERO);
        assert!(release.if_due());
        assert!(release.if_due(), "a zero interval is always due");
    }

    #[test]
    fn releasing_now_restarts_the_interval() {
        let mut release = Release::every(Duration::from_secs(3600));
        let before = Instant::now();
        release.now();
        assert!(release.last >= before, "now() restarted the interval");
        assert!(!release.if_due());
    }
}
