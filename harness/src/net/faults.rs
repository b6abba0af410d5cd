//! Faults on one directed link: what the nemesis asks of a network, in plain data.
//!
//! Both backends take the same `LinkFaults`: the proxy applies them per frame, the
//! namespace backend turns what the kernel can do of them into netem settings and says
//! which parts it cannot.

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validation_refuses_out_of_range() {
        assert!(LinkFaults { drop: 1.5, ..LinkFaults::default() }.validate().is_err());
        assert!(LinkFaults { delay_ms: MAX_DELAY_MS + 1, ..LinkFaults::default() }.validate().is_err());
        assert!(LinkFaults { drop: 0.5, delay_ms: 10, jitter_ms: 5, ..LinkFaults::default() }
            .validate()
            .is_ok());
    }
}
