//! Keys in rotation, as Jepsen's independent keys: a few open at once, each retired after a
//! number of operations for a fresh one, so that no key's history grows past what a
//! linearizability search checks quickly, however long the run.

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
}
