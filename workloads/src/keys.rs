//! Keys in rotation, as Jepsen's independent keys: a few open at once, each retired after a
//! number of operations for a fresh one, so that no key's history grows past what a
//! linearizability search checks quickly, however long the run.
//!
//! A retired key is never touched by the workload again, so a write lost on it would go
//! unseen; the rotation therefore remembers every key it handed out ([`KeyRotation::issued`]),
//! and the harness reads each of them from every node once the faults heal.

use rand::Rng;
use rand_chacha::ChaCha8Rng;

#[derive(Debug, Clone)]
pub(crate) struct KeyRotation {
    prefix: &'static str,
    per_key: u64,
    /// (key number, operations issued on it so far), one slot per open key.
    active: Vec<(u64, u64)>,
    next_key: u64,
}

impl KeyRotation {
    /// `open` keys at once named `{prefix}{n}`, each retired after `per_key` operations.
    pub(crate) fn new(prefix: &'static str, open: usize, per_key: u64) -> KeyRotation {
        let active = (0..open as u64).map(|k| (k, 0)).collect();
        KeyRotation { prefix, per_key, active, next_key: open as u64 }
    }

    /// The key of the next operation, drawn among the open ones, and counted against it.
    pub(crate) fn next(&mut self, rng: &mut ChaCha8Rng) -> String {
        let slot = rng.gen_range(0..self.active.len());
        let (number, used) = &mut self.active[slot];
        let key = format!("{}{number}", self.prefix);
        *used += 1;
        if *used >= self.per_key {
            self.active[slot] = (self.next_key, 0);
            self.next_key += 1;
        }
        key
    }

    /// Every key handed out so far, in the order they were opened: the retired ones and the
    /// open ones with at least one operation.
    pub(crate) fn issued(&self) -> Vec<String> {
        let unused: Vec<u64> = self.active.iter().filter(|(_, used)| *used == 0).map(|(n, _)| *n).collect();
        (0..self.next_key).filter(|n| !unused.contains(n)).map(|n| format!("{}{n}", self.prefix)).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use std::collections::BTreeSet;

    #[test]
    fn issued_names_every_key_handed_out_and_no_other() {
        let mut rotation = KeyRotation::new("k", 3, 4);
        let mut rng = ChaCha8Rng::seed_from_u64(7);
        assert!(rotation.issued().is_empty(), "nothing handed out yet");
        let mut handed: BTreeSet<String> = BTreeSet::new();
        for round in 0..40 {
            handed.insert(rotation.next(&mut rng));
            let issued: BTreeSet<String> = rotation.issued().into_iter().collect();
            assert_eq!(issued, handed, "after {} keys", round + 1);
        }
        assert!(handed.len() > 10, "keys were retired and replaced: {handed:?}");
    }
}
