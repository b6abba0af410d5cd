//! Clock faults: how a node's clock is skewed, drawn from the run's seed, and applied.
//!
//! Protocols that lean on time (leader leases, election and lease timeouts) are only as
//! safe as their clocks. Three shapes of skew, each on one node:
//! - a **jump** forward (timers fire early: a follower calls an election, a lease ends) or
//!   back (the built-in clock then stands still, stretching whatever lease it holds);
//! - a **strobe**: rapid back-and-forth jumps for a while, so that every timer deadline is
//!   seen both too early and too late;
//! - a **rate**: the clock runs fast or slow until the stop.
//!
//! The stop resets the clock to real time. Amounts are drawn when the schedule is made and
//! written into `schedule.json`, so a replay skews the same node the same way.

use std::time::Duration;

use rand::Rng;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use crate::host::{ClockChange, Clocks};
use nodes::api::NodeId;

/// Largest jump drawn or accepted, either way, in milliseconds.
pub const MAX_JUMP_MS: i64 = 60_000;
/// Jumps drawn are at least this long: shorter ones hide inside election timeouts.
pub const MIN_DRAWN_JUMP_MS: i64 = 1_000;
/// Drawn jumps are at most this long.
pub const MAX_DRAWN_JUMP_MS: i64 = 10_000;
/// Slowest and fastest rate accepted (the built-in nodes' own bounds).
pub const MIN_RATE: f64 = 0.1;
pub const MAX_RATE: f64 = 10.0;
/// The rates drawn: slow enough to stretch a lease, fast enough to end one early.
pub const DRAWN_RATES: [f64; 6] = [0.1, 0.25, 0.5, 2.0, 4.0, 10.0];
/// A strobe's flips: at most this many, at least this far apart.
pub const MAX_STROBE_FLIPS: u32 = 200;
pub const MIN_STROBE_PERIOD_MS: u64 = 10;

/// How one node's clock is skewed.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(tag = "skew", rename_all = "kebab-case", deny_unknown_fields)]
pub enum ClockSkew {
    /// One jump by `ms` (negative: back).
    Jump { ms: i64 },
    /// `flips` jumps, alternately by `+ms` and `-ms`, `period_ms` apart.
    Strobe { ms: i64, period_ms: u64, flips: u32 },
    /// The clock runs at `rate` times real time.
    Rate { rate: f64 },
}

impl ClockSkew {
    /// Draw a skew for a fault lasting `interval_ms`; a strobe takes at most half of it.
    pub fn draw(rng: &mut ChaCha8Rng, interval_ms: u64) -> ClockSkew {
        match rng.gen_range(0..4) {
            0 | 1 => {
                let ms = rng.gen_range(MIN_DRAWN_JUMP_MS..=MAX_DRAWN_JUMP_MS);
                ClockSkew::Jump { ms: if rng.gen_bool(0.5) { ms } else { -ms } }
            }
            2 => {
                let period_ms = rng.gen_range(MIN_STROBE_PERIOD_MS..=100);
                let flips = ((interval_ms / 2) / period_ms).clamp(2, MAX_STROBE_FLIPS as u64) as u32;
                ClockSkew::Strobe { ms: rng.gen_range(200..=2_000), period_ms, flips }
            }
            _ => ClockSkew::Rate { rate: DRAWN_RATES[rng.gen_range(0..DRAWN_RATES.len())] },
        }
    }

    /// Amounts within bounds; a one-line reason otherwise.
    pub fn validate(&self) -> Result<(), String> {
        match *self {
            ClockSkew::Jump { ms } | ClockSkew::Strobe { ms, .. } if ms.abs() > MAX_JUMP_MS => {
                Err(format!("clock jump {ms} ms is beyond +-{MAX_JUMP_MS}"))
            }
            ClockSkew::Strobe { flips, .. } if flips == 0 || flips > MAX_STROBE_FLIPS => {
                Err(format!("strobe flips {flips} outside 1..={MAX_STROBE_FLIPS}"))
            }
            ClockSkew::Strobe { period_ms, .. } if period_ms < MIN_STROBE_PERIOD_MS => {
                Err(format!("strobe period {period_ms} ms is below {MIN_STROBE_PERIOD_MS}"))
            }
            ClockSkew::Rate { rate } if !(MIN_RATE..=MAX_RATE).contains(&rate) => {
                Err(format!("clock rate {rate} is outside [{MIN_RATE}, {MAX_RATE}]"))
            }
            _ => Ok(()),
        }
    }

    /// Apply the skew to node `id`. A strobe runs to its end here (a few seconds at most)
    /// and leaves the clock where its last flip put it; the stop resets it.
    pub async fn apply(&self, clocks: &dyn Clocks, id: NodeId, timeout: Duration) -> anyhow::Result<()> {
        match *self {
            ClockSkew::Jump { ms } => clocks.skew_clock(id, ClockChange::Jump { ms }, timeout).await,
            ClockSkew::Rate { rate } => clocks.skew_clock(id, ClockChange::Rate { rate }, timeout).await,
            ClockSkew::Strobe { ms, period_ms, flips } => {
                let mut ticker = tokio::time::interval(Duration::from_millis(period_ms));
                for flip in 0..flips {
                    ticker.tick().await;
                    let ms = if flip % 2 == 0 { ms } else { -ms };
                    clocks.skew_clock(id, ClockChange::Jump { ms }, timeout).await?;
                }
                Ok(())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn drawn_skews_are_valid_and_every_shape_is_drawn() {
        let mut rng = ChaCha8Rng::seed_from_u64(7);
        let mut shapes = [false; 3];
        for _ in 0..200 {
            let skew = ClockSkew::draw(&mut rng, 5_000);
            skew.validate().unwrap();
            shapes[match skew {
                ClockSkew::Jump { .. } => 0,
                ClockSkew::Strobe { .. } => 1,
                ClockSkew::Rate { .. } => 2,
            }] = true;
        }
        assert_eq!(shapes, [true; 3]);
    }

    #[test]
    fn out_of_bounds_skews_are_refused() {
        assert!(ClockSkew::Jump { ms: MAX_JUMP_MS + 1 }.validate().is_err());
        assert!(ClockSkew::Rate { rate: 0.01 }.validate().is_err());
        assert!(ClockSkew::Strobe { ms: 10, period_ms: 1, flips: 3 }.validate().is_err());
        assert!(ClockSkew::Strobe { ms: 10, period_ms: 50, flips: 0 }.validate().is_err());
    }

    #[test]
    fn a_skew_round_trips_through_json() {
        let skew = ClockSkew::Strobe { ms: 500, period_ms: 20, flips: 4 };
        let text = serde_json::to_string(&skew).unwrap();
        assert_eq!(text, r#"{"skew":"strobe","ms":500,"period_ms":20,"flips":4}"#);
        assert_eq!(serde_json::from_str::<ClockSkew>(&text).unwrap(), skew);
    }
}
