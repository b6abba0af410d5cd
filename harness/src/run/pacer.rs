//! The rate limit: `--rate` operations per second across all clients.
//!
//! Slots are handed out one `1/rate` apart on a shared clock; a client waits for its slot
//! before invoking. A client that falls behind does not bank slots: the next slot is never
//! earlier than now, so a stall is not followed by a burst.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// Shared by every client of a run.
#[derive(Debug)]
pub struct Pacer {
    start: Instant,
    /// `None`: no limit beyond the concurrency.
    interval_ns: Option<u64>,
    next_ns: AtomicU64,
}

impl Pacer {
    /// `rate` operations per second overall; 0 means as fast as the clients can go.
    pub fn new(rate: f64) -> Pacer {
        assert!(rate.is_finite() && rate >= 0.0, "rate {rate}");
        let interval_ns = (rate > 0.0).then(|| (1e9 / rate).max(1.0) as u64);
        Pacer { start: Instant::now(), interval_ns, next_ns: AtomicU64::new(0) }
    }

    /// The delay until the caller's slot, claiming it.
    pub fn claim(&self) -> Duration {
        self.claim_at(self.start.elapsed().as_nanos() as u64)
    }

    /// The delay from `now` (nanoseconds on the pacer's clock) until the caller's slot.
    fn claim_at(&self, now: u64) -> Duration {
        let Some(interval) = self.interval_ns else { return Duration::ZERO };
        let previous = self
            .next_ns
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |next| Some(next.max(now) + interval))
            .expect("the update always succeeds");
        Duration::from_nanos(previous.max(now) - now)
    }

    /// Wait for the caller's slot.
    pub async fn wait(&self) {
        let delay = self.claim();
        if !delay.is_zero() {
            tokio::time::sleep(delay).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_are_spaced_by_the_interval_and_a_stall_banks_nothing() {
        let pacer = Pacer::new(10.0); // 100 ms apart
        let ms = |n: u64| n * 1_000_000;
        assert_eq!(pacer.claim_at(ms(0)), Duration::ZERO);
        assert_eq!(pacer.claim_at(ms(0)), Duration::from_millis(100));
        assert_eq!(pacer.claim_at(ms(50)), Duration::from_millis(150));
        // Far behind schedule: the next slot is now, then one interval later, no burst.
        assert_eq!(pacer.claim_at(ms(1000)), Duration::ZERO);
        assert_eq!(pacer.claim_at(ms(1000)), Duration::from_millis(100));
    }

    #[test]
    fn unlimited_never_waits() {
        let unlimited = Pacer::new(0.0);
        assert!((0..100).all(|_| unlimited.claim().is_zero()));
    }
}
