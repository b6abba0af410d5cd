//! Per-link faults and the decision taken for each frame.
//!
//! The decision is a pure function of the link's faults, whether the link is cut, and a
//! random source the caller seeds, so a given seed and frame sequence always meet the same
//! fate. Probabilities 0 and 1 are exact (never and always), which is what tests rely on.

use std::time::Duration;

use rand::Rng;
use serde::{Deserialize, Serialize};

/// Faults on one directed link. The default is none.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LinkFaults {
    /// Probability that a frame is dropped.
    #[serde(default)]
    pub drop: f64,
    /// Probability that a frame is delivered twice.
    #[serde(default)]
    pub duplicate: f64,
    /// Probability that a frame is held back and delivered after the link's next frame
    /// (or after a short hold if no next frame comes).
    #[serde(default)]
    pub reorder: f64,
    /// Fixed delay added to every frame.
    #[serde(default)]
    pub delay_ms: u64,
    /// Extra delay, uniform in `0..=jitter_ms`. Delivery order is kept (a later frame is
    /// never delivered before an earlier one because of jitter; reordering is its own fault).
    #[serde(default)]
    pub jitter_ms: u64,
}

/// Upper bound on `delay_ms + jitter_ms`: a fault, not a black hole in disguise.
pub const MAX_DELAY_MS: u64 = 60_000;

impl LinkFaults {
    pub fn is_none(&self) -> bool {
        *self == LinkFaults::default()
    }

    /// Probabilities within `0..=1`, delays bounded.
    pub fn validate(&self) -> Result<(), String> {
        for (name, p) in [("drop", self.drop), ("duplicate", self.duplicate), ("reorder", self.reorder)] {
            if !(0.0..=1.0).contains(&p) {
                return Err(format!("{name} probability must be within 0..=1, got {p}"));
            }
        }
        if self.delay_ms.saturating_add(self.jitter_ms) > MAX_DELAY_MS {
            return Err(format!(
                "delay_ms + jitter_ms must be at most {MAX_DELAY_MS}, got {} + {}",
                self.delay_ms, self.jitter_ms
            ));
        }
        Ok(())
    }
}

/// What happens to one frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fate {
    /// Dropped because the link is cut by the grudge.
    Cut,
    /// Dropped by the loss probability.
    Lost,
    /// Delivered, after `delay`, once or twice, possibly held back for reordering.
    Deliver { delay: Duration, duplicate: bool, hold: bool },
}

/// Decide one frame's fate. Draws from `rng` only for faults that are set, so a link
/// without faults consumes no randomness.
pub fn decide(faults: &LinkFaults, cut: bool, rng: &mut impl Rng) -> Fate {
    if cut {
        return Fate::Cut;
    }
    if faults.drop > 0.0 && rng.gen_bool(faults.drop) {
        return Fate::Lost;
    }
    let delay = delay(faults, rng);
    let duplicate = faults.duplicate > 0.0 && rng.gen_bool(faults.duplicate);
    let hold = faults.reorder > 0.0 && rng.gen_bool(faults.reorder);
    Fate::Deliver { delay, duplicate, hold }
}

/// The delay of one frame or chunk: the fixed delay plus a uniform draw of the jitter.
/// Draws from `rng` only when there is jitter.
pub fn delay(faults: &LinkFaults, rng: &mut impl Rng) -> Duration {
    let jitter = if faults.jitter_ms > 0 { rng.gen_range(0..=faults.jitter_ms) } else { 0 };
    Duration::from_millis(faults.delay_ms + jitter)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    #[test]
    fn probabilities_zero_and_one_are_exact() {
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let always = LinkFaults { duplicate: 1.0, reorder: 1.0, ..LinkFaults::default() };
        for _ in 0..100 {
            assert_eq!(
                decide(&always, false, &mut rng),
                Fate::Deliver { delay: Duration::ZERO, duplicate: true, hold: true }
            );
            assert_eq!(decide(&LinkFaults { drop: 1.0, ..always }, false, &mut rng), Fate::Lost);
            assert_eq!(decide(&always, true, &mut rng), Fate::Cut);
        }
    }

    #[test]
    fn validation_refuses_out_of_range() {
        assert!(LinkFaults { drop: 1.5, ..LinkFaults::default() }.validate().is_err());
        assert!(LinkFaults { delay_ms: MAX_DELAY_MS + 1, ..LinkFaults::default() }.validate().is_err());
        assert!(LinkFaults { drop: 0.5, delay_ms: 10, jitter_ms: 5, ..LinkFaults::default() }
            .validate()
            .is_ok());
    }
}
