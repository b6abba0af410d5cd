//! The list-append workload: transactions of appends and whole-list reads, checked for
//! isolation (Elle's list-append, `checkers::txn`).
//!
//! Each transaction has one to `max_txn_len` steps, each an append of a new value to a key
//! or a read of a key's whole list. Values are unique per key and increase, so a read list
//! names exactly which appends it saw and in what order: every write is recoverable from
//! the reads, which is what lets the checker infer the version order of each key and build
//! the dependency graph. Keys are few at a time (so transactions collide) and each is
//! retired after `appends_per_key` appends and replaced by a fresh one, so lists stay short
//! however long the run (reads and the checker's inference stay cheap). No client reads a
//! retired key again, so once the faults heal every key that took an append is read from
//! every node ([`ListAppendGenerator::final_reads`]): an append lost after its key's last
//! read shows there as a read that misses an acknowledged append.

use checkers::txn::Consistency;
use rand::Rng;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use crate::op::Op;

/// Parameters of the list-append workload.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ListAppendParams {
    /// Keys open at once.
    pub active_keys: usize,
    /// Appends issued to a key before it is retired.
    pub appends_per_key: i64,
    /// Most steps in one transaction (at least one).
    pub max_txn_len: usize,
    /// The isolation level the history is held to (`--consistency`).
    #[serde(default = "strict_serializable")]
    pub consistency: Consistency,
}

fn strict_serializable() -> Consistency {
    Consistency::StrictSerializable
}

impl Default for ListAppendParams {
    fn default() -> Self {
        ListAppendParams {
            active_keys: 5,
            appends_per_key: 32,
            max_txn_len: 4,
            consistency: Consistency::StrictSerializable,
        }
    }
}

/// One step of a list-append transaction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MicroOp {
    /// Append `value` to the list at `key`.
    Append { key: String, value: i64 },
    /// Read the whole list at `key`.
    Read { key: String },
}

impl MicroOp {
    pub fn key(&self) -> &str {
        match self {
            MicroOp::Append { key, .. } | MicroOp::Read { key } => key,
        }
    }
}

/// The list-append generator's state.
#[derive(Debug, Clone)]
pub struct ListAppendGenerator {
    params: ListAppendParams,
    /// (key number, the last value appended to it), one slot per active key.
    active: Vec<(u64, i64)>,
    next_key: u64,
}

impl ListAppendGenerator {
    pub fn new(params: ListAppendParams) -> ListAppendGenerator {
        assert!(params.active_keys > 0 && params.appends_per_key > 0 && params.max_txn_len > 0, "{params:?}");
        let active = (0..params.active_keys as u64).map(|k| (k, 0)).collect();
        ListAppendGenerator { next_key: params.active_keys as u64, active, params }
    }

    pub fn next_op(&mut self, rng: &mut ChaCha8Rng) -> Op {
        let len = rng.gen_range(1..=self.params.max_txn_len);
        let ops = (0..len)
            .map(|_| {
                let slot = rng.gen_range(0..self.active.len());
                let (number, last) = &mut self.active[slot];
                let key = format!("l{number}");
                if rng.gen_bool(0.5) {
                    return MicroOp::Read { key };
                }
                *last += 1;
                let value = *last;
                if value >= self.params.appends_per_key {
                    self.active[slot] = (self.next_key, 0);
                    self.next_key += 1;
                }
                MicroOp::Append { key, value }
            })
            .collect();
        Op::Txn { ops }
    }

    /// One read-only transaction per key that took an append, retired keys included, in
    /// the order the keys were opened.
    pub fn final_reads(&self) -> Vec<Op> {
        let untouched: Vec<u64> =
            self.active.iter().filter(|(_, last)| *last == 0).map(|(n, _)| *n).collect();
        (0..self.next_key)
            .filter(|n| !untouched.contains(n))
            .map(|n| Op::Txn { ops: vec![MicroOp::Read { key: format!("l{n}") }] })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use std::collections::BTreeMap;

    #[test]
    fn appends_are_unique_and_increasing_per_key_and_keys_are_retired() {
        let params = ListAppendParams { active_keys: 3, appends_per_key: 8, ..ListAppendParams::default() };
        let mut generator = ListAppendGenerator::new(params);
        let mut rng = ChaCha8Rng::seed_from_u64(7);
        let mut last: BTreeMap<String, i64> = BTreeMap::new();
        let (mut reads, mut lengths) = (0, BTreeMap::<usize, u64>::new());
        for _ in 0..2000 {
            let Op::Txn { ops } = generator.next_op(&mut rng) else { panic!("not a txn") };
            *lengths.entry(ops.len()).or_default() += 1;
            for op in ops {
                match op {
                    MicroOp::Append { key, value } => {
                        let previous = last.insert(key.clone(), value).unwrap_or(0);
                        assert_eq!(value, previous + 1, "{key}");
                        assert!(value <= 8, "{key} outlived its bound");
                    }
                    MicroOp::Read { .. } => reads += 1,
                }
            }
        }
        assert!(reads > 0);
        assert!(last.len() > 100, "keys are retired and replaced: {}", last.len());
        assert_eq!(lengths.keys().copied().collect::<Vec<_>>(), vec![1, 2, 3, 4]);
        let finals: Vec<String> = generator
            .final_reads()
            .into_iter()
            .map(|op| match op {
                Op::Txn { ops } if ops.len() == 1 && matches!(ops[0], MicroOp::Read { .. }) => {
                    ops[0].key().to_string()
                }
                other => panic!("not a one-read transaction: {other:?}"),
            })
            .collect();
        let appended: Vec<String> = {
            let mut keys: Vec<(u64, String)> =
                last.keys().map(|k| (k[1..].parse::<u64>().unwrap(), k.clone())).collect();
            keys.sort();
            keys.into_iter().map(|(_, k)| k).collect()
        };
        assert_eq!(finals, appended, "every key that took an append, in order, once");
    }
}
