//! The limits a search runs under, shared by every worker of one check.
//!
//! A search stops for one of three reasons: the deadline passed, the memory it counts for
//! itself would pass the limit, or another partition already proved the history invalid.
//! The first two make the verdict `Unknown`; none of them can make it `Valid`.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// Why a search stopped before finishing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Stop {
    Time(Duration),
    Memory(u64),
    /// Another partition was found not linearizable; this one no longer matters.
    Cancelled,
}

impl Stop {
    pub(crate) fn describe(self) -> String {
        match self {
            Stop::Time(limit) => format!("time limit of {:.3}s reached", limit.as_secs_f64()),
            Stop::Memory(limit) => format!("memory limit of {} MiB reached", limit / (1024 * 1024)),
            Stop::Cancelled => "cancelled: another key was found not linearizable".to_string(),
        }
    }
}

/// The shared limits and the cancellation flag.
pub(crate) struct Budget {
    started: Instant,
    time_limit: Option<Duration>,
    memory_limit: Option<u64>,
    /// Bytes currently held by every worker's search tables, as they report them.
    used_bytes: AtomicU64,
    cancelled: AtomicBool,
}

impl Budget {
    pub(crate) fn new(started: Instant, time_limit: Option<Duration>, memory_limit: Option<u64>) -> Self {
        Budget {
            started,
            time_limit,
            memory_limit,
            used_bytes: AtomicU64::new(0),
            cancelled: AtomicBool::new(false),
        }
    }

    pub(crate) fn cancel(&self) {
        self.cancelled.store(true, Ordering::Relaxed);
    }

    pub(crate) fn is_cancelled(&self) -> bool {
        self.cancelled.load(Ordering::Relaxed)
    }

    /// Whether the search may go on, given that this worker now holds `mine` bytes (of
    /// which it last reported `reported`) and may need `growth` more for its next step.
    /// Updates the shared count.
    pub(crate) fn check(&self, reported: &mut u64, mine: u64, growth: u64) -> Result<(), Stop> {
        if self.is_cancelled() {
            return Err(Stop::Cancelled);
        }
        if let Some(limit) = self.time_limit {
            if self.started.elapsed() >= limit {
                return Err(Stop::Time(limit));
            }
        }
        if mine != *reported {
            if mine > *reported {
                self.used_bytes.fetch_add(mine - *reported, Ordering::Relaxed);
            } else {
                self.used_bytes.fetch_sub(*reported - mine, Ordering::Relaxed);
            }
            *reported = mine;
        }
        if let Some(limit) = self.memory_limit {
            if self.used_bytes.load(Ordering::Relaxed).saturating_add(growth) > limit {
                return Err(Stop::Memory(limit));
            }
        }
        Ok(())
    }

    /// A worker's tables were freed.
    pub(crate) fn release(&self, reported: u64) {
        self.used_bytes.fetch_sub(reported, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn memory_is_shared_and_released() {
        let budget = Budget::new(Instant::now(), None, Some(1000));
        let (mut a, mut b) = (0, 0);
        assert_eq!(budget.check(&mut a, 600, 0), Ok(()));
        assert_eq!(budget.check(&mut b, 300, 200), Err(Stop::Memory(1000)));
        budget.release(a);
        assert_eq!(budget.check(&mut b, 300, 200), Ok(()));
    }

    #[test]
    fn a_zero_time_limit_stops_at_once_and_cancel_wins() {
        let budget = Budget::new(Instant::now(), Some(Duration::ZERO), None);
        assert_eq!(budget.check(&mut 0, 0, 0), Err(Stop::Time(Duration::ZERO)));
        budget.cancel();
        assert_eq!(budget.check(&mut 0, 0, 0), Err(Stop::Cancelled));
    }
}
