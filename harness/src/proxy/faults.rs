//! The decision taken for each frame on a link with faults.
//!
//! The decision is a pure function of the link's faults, whether the link is cut, and a
//! random source the caller seeds, so a given seed and frame sequence always meet the same
//! fate. Probabilities 0 and 1 are exact (never and always), which is what tests rely on.

use std::time::Duration;

use rand::Rng;

use crate::net::LinkFaults;

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
}
