//! The register workload: reads, writes and compare-and-sets on many keys.
//!
//! Linearizability checking is exponential in the concurrency of one object, so no key lives
//! forever: a few keys are active at a time, and each is retired after `ops_per_key`
//! operations and replaced by a fresh one (Jepsen's "independent" keys). Every per-key
//! history therefore stays small enough to check, however long the run. Values come from a
//! small range so that compare-and-sets succeed often enough to matter. After the faults
//! heal, every key handed out is read from every node ([`RegisterGenerator::final_reads`]):
//! a write lost on a key the workload had already retired is seen there.

use rand::Rng;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use crate::keys::KeyRotation;
use crate::op::Op;

/// Parameters of the register workload.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RegisterParams {
    /// Keys open at once.
    pub active_keys: usize,
    /// Operations issued on a key before it is retired.
    pub ops_per_key: u64,
    /// Written and compared values are drawn from `0..values`.
    pub values: i64,
}

impl Default for RegisterParams {
    fn default() -> Self {
        RegisterParams { active_keys: 8, ops_per_key: 120, values: 5 }
    }
}

/// The register generator's state.
#[derive(Debug, Clone)]
pub struct RegisterGenerator {
    params: RegisterParams,
    keys: KeyRotation,
}

impl RegisterGenerator {
    pub fn new(params: RegisterParams) -> RegisterGenerator {
        assert!(params.active_keys > 0 && params.ops_per_key > 0 && params.values > 0, "{params:?}");
        let keys = KeyRotation::new("r", params.active_keys, params.ops_per_key);
        RegisterGenerator { keys, params }
    }

    pub fn next_op(&mut self, rng: &mut ChaCha8Rng) -> Op {
        let key = self.keys.next(rng);
        let values = self.params.values;
        match rng.gen_range(0..10) {
            0..=3 => Op::Read { key },
            4..=6 => Op::Write { key, value: rng.gen_range(0..values) },
            _ => Op::Cas { key, from: rng.gen_range(0..values), to: rng.gen_range(0..values) },
        }
    }

    /// A read of every key handed out so far, retired ones included.
    pub fn final_reads(&self) -> Vec<Op> {
        self.keys.issued().into_iter().map(|key| Op::Read { key }).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use std::collections::BTreeMap;

    #[test]
    fn no_key_gets_more_than_its_bound_and_all_three_kinds_appear() {
        let params = RegisterParams { active_keys: 3, ops_per_key: 10, values: 4 };
        let mut generator = RegisterGenerator::new(params);
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let mut per_key: BTreeMap<String, u64> = BTreeMap::new();
        let mut kinds: BTreeMap<&str, u64> = BTreeMap::new();
        for _ in 0..1000 {
            let op = generator.next_op(&mut rng);
            *per_key.entry(op.key().unwrap().to_string()).or_default() += 1;
            *kinds.entry(op.f()).or_default() += 1;
        }
        assert!(per_key.values().all(|&n| n <= 10), "{per_key:?}");
        assert!(per_key.len() >= 100, "keys are retired and replaced");
        assert_eq!(kinds.len(), 3, "{kinds:?}");
    }
}
