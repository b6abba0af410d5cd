//! The counter workload: adds of small positive integers and reads of the total, on a few
//! counters at a time (Jepsen's counter workload, with its keys made independent).
//!
//! An add is a one-step transaction (`Add` of a delta to a register, absent counting as
//! 0) and a read is a plain register read, so a read takes whatever cheap path a protocol
//! has for reads (lease, ReadIndex, or an unsafe local read). The history is checked
//! against the linearizable counter model: an acknowledged add that a later read does not
//! count is a lost write, and two reads that disagree on which concurrent adds happened
//! are a stale read. As with the register workload, each counter is retired after
//! `ops_per_key` operations, so that each key's history stays small enough to search, and
//! every counter handed out is read from every node once the faults heal
//! ([`CounterGenerator::final_reads`]), so that an add lost on a retired one is seen.

use rand::Rng;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use crate::keys::KeyRotation;
use crate::op::Op;

/// Parameters of the counter workload.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CounterParams {
    /// Counters open at once.
    pub active_keys: usize,
    /// Operations issued on a counter before it is retired.
    pub ops_per_key: u64,
    /// Each add's delta is drawn from `1..=max_delta`.
    pub max_delta: i64,
}

impl Default for CounterParams {
    fn default() -> Self {
        CounterParams { active_keys: 4, ops_per_key: 150, max_delta: 5 }
    }
}

/// The counter generator's state.
#[derive(Debug, Clone)]
pub struct CounterGenerator {
    params: CounterParams,
    keys: KeyRotation,
}

impl CounterGenerator {
    pub fn new(params: CounterParams) -> CounterGenerator {
        assert!(params.active_keys > 0 && params.ops_per_key > 0 && params.max_delta > 0, "{params:?}");
        let keys = KeyRotation::new("c", params.active_keys, params.ops_per_key);
        CounterGenerator { keys, params }
    }

    pub fn next_op(&mut self, rng: &mut ChaCha8Rng) -> Op {
        let key = self.keys.next(rng);
        match rng.gen_range(0..10) {
            0..=5 => Op::Increment { key, delta: rng.gen_range(1..=self.params.max_delta) },
            _ => Op::ReadCounter { key },
        }
    }

    /// A read of every counter handed out so far, retired ones included.
    pub fn final_reads(&self) -> Vec<Op> {
        self.keys.issued().into_iter().map(|key| Op::ReadCounter { key }).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use std::collections::BTreeMap;

    #[test]
    fn counters_are_retired_and_both_kinds_appear() {
        let params = CounterParams { active_keys: 2, ops_per_key: 10, max_delta: 3 };
        let mut generator = CounterGenerator::new(params);
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let mut per_key: BTreeMap<String, u64> = BTreeMap::new();
        let (mut adds, mut reads) = (0, 0);
        for _ in 0..500 {
            match generator.next_op(&mut rng) {
                Op::Increment { key, delta } => {
                    assert!((1..=3).contains(&delta));
                    adds += 1;
                    *per_key.entry(key).or_default() += 1;
                }
                Op::ReadCounter { key } => {
                    reads += 1;
                    *per_key.entry(key).or_default() += 1;
                }
                other => panic!("not a counter op: {other:?}"),
            }
        }
        assert!(per_key.values().all(|&n| n <= 10), "{per_key:?}");
        assert!(per_key.len() >= 50);
        assert!(adds > 200 && reads > 100, "{adds} adds, {reads} reads");
    }
}
