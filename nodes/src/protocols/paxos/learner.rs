//! The learner: which values are chosen, and the store they are applied to in slot order.
//!
//! "Paxos Made Simple" §2.4 and §3: a learner finds out that a value was chosen (here from
//! the leader's piggybacked decisions, or from another replica's chosen values during
//! catch-up) and the state machine executes commands in slot order, never skipping a slot.
//! Chosen values are kept after applying so that this node can serve catch-up to others,
//! until a snapshot folds them into the compaction point ([`super::snapshot`]).

use std::collections::BTreeMap;

use super::message::{Slot, Value};
use super::snapshot::Snapshot;
use crate::api::{ApiError, Response};
use crate::committed_log::CommittedLog;
use crate::state_machine::Store;

/// The learned log and the applied state.
#[derive(Debug, Clone, Default)]
pub struct Learner {
    /// Every value known to be chosen, by slot (possibly with gaps above `applied`), from
    /// `base + 1` on.
    chosen: BTreeMap<Slot, Value>,
    /// The compaction point: slots 1..=base are folded into the store and forgotten.
    base: Slot,
    /// Slots 1..=applied are chosen and applied, in order.
    applied: Slot,
    store: Store,
    /// Slots 1..=applied as running hashes (`GET /admin/log`); a slot's term is the ballot
    /// round of the command's proposer (0 for a no-op).
    committed: CommittedLog,
}

/// One slot applied to the store.
#[derive(Debug, Clone, PartialEq)]
pub struct Applied {
    pub slot: Slot,
    pub value: Value,
    /// The store's answer (no-ops answer `Done`).
    pub result: Result<Response, ApiError>,
}

/// Learning a value that contradicts what was learned before for the same slot. Our own
/// protocol never does this; a peer that sends it is broken, and its message is ignored.
#[derive(Debug, Clone, PartialEq)]
pub struct Conflict {
    pub slot: Slot,
    pub held: Value,
    pub offered: Value,
}

impl Learner {
    /// A learner that starts from a snapshot (recovered, or installed from a peer).
    pub fn from_snapshot(snapshot: Snapshot) -> Learner {
        Learner {
            chosen: BTreeMap::new(),
            base: snapshot.last_slot,
            applied: snapshot.last_slot,
            committed: CommittedLog::starting_at(snapshot.last_slot, 0, snapshot.prefix_hash),
            store: snapshot.store,
        }
    }

    /// Record that `value` is chosen in `slot`. Returns whether it was new. A slot at or
    /// below the compaction point is already applied: nothing to learn.
    pub fn learn(&mut self, slot: Slot, value: Value) -> Result<bool, Box<Conflict>> {
        assert!(slot >= 1, "slot 0 is not a log position");
        if slot <= self.base {
            return Ok(false);
        }
        match self.chosen.get(&slot) {
            Some(held) if *held == value => Ok(false),
            Some(held) => Err(Box::new(Conflict { slot, held: held.clone(), offered: value })),
            None => {
                self.chosen.insert(slot, value);
                Ok(true)
            }
        }
    }

    /// Apply every chosen slot that directly follows the applied prefix.
    pub fn apply_ready(&mut self) -> Vec<Applied> {
        let mut done = Vec::new();
        while let Some(value) = self.chosen.get(&(self.applied + 1)) {
            self.applied += 1;
            let result = match value {
                Value::Noop => Ok(Response::Done {}),
                Value::Command { request, .. } => self.store.apply(request),
            };
            let (round, content) = match value {
                Value::Noop => (0, None),
                Value::Command { id, request } => (id.ballot.round, Some(request)),
            };
            self.committed.append_value(round, &content);
            done.push(Applied { slot: self.applied, value: value.clone(), result });
        }
        done
    }

    /// The highest slot such that it and every slot before it are chosen and applied.
    pub fn commit(&self) -> Slot {
        self.applied
    }

    /// The compaction point (0: nothing compacted).
    pub fn base(&self) -> Slot {
        self.base
    }

    /// The applied state as a snapshot (the store is copied).
    pub fn snapshot(&self) -> Snapshot {
        Snapshot {
            last_slot: self.applied,
            prefix_hash: self.committed.last_hash(),
            store: self.store.clone(),
        }
    }

    /// Fold every applied slot into the compaction point; returns the snapshot taken there.
    pub fn compact(&mut self) -> Snapshot {
        self.chosen = self.chosen.split_off(&(self.applied + 1));
        self.base = self.applied;
        self.committed.compact_to(self.applied);
        self.snapshot()
    }

    /// Replace the applied state with a snapshot that is ahead of it; chosen values above the
    /// snapshot are kept.
    pub fn install(&mut self, snapshot: Snapshot) {
        assert!(snapshot.last_slot > self.applied, "installing a snapshot that is not ahead");
        let chosen = self.chosen.split_off(&(snapshot.last_slot + 1));
        *self = Learner { chosen, ..Learner::from_snapshot(snapshot) };
    }

    pub fn is_chosen(&self, slot: Slot) -> bool {
        self.chosen.contains_key(&slot)
    }

    /// The highest slot known chosen (0: none).
    pub fn last_chosen(&self) -> Slot {
        self.chosen.keys().next_back().copied().unwrap_or(0)
    }

    /// Chosen values from `from` on, contiguous, at most `limit` of them (none if `from` is
    /// at or below the compaction point: the caller sends a snapshot instead).
    pub fn contiguous_from(&self, from: Slot, limit: usize) -> Vec<(Slot, Value)> {
        let mut out = Vec::new();
        if from <= self.base {
            return out;
        }
        for (slot, value) in self.chosen.range(from.max(1)..) {
            if out.len() >= limit || *slot != from.max(1) + out.len() as u64 {
                break;
            }
            out.push((*slot, value.clone()));
        }
        out
    }

    /// Everything learned, by slot (for tests and invariant checks).
    pub fn chosen(&self) -> &BTreeMap<Slot, Value> {
        &self.chosen
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    pub fn committed(&self) -> &CommittedLog {
        &self.committed
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::Request;
    use crate::protocols::paxos::ballot::Ballot;
    use crate::protocols::paxos::message::CommandId;

    fn put(seq: u64, value: i64) -> Value {
        Value::Command {
            id: CommandId { ballot: Ballot { round: 1, node: 1 }, seq },
            request: Request::Put { key: "k".into(), value },
        }
    }

    #[test]
    fn values_apply_in_slot_order_and_never_past_a_gap() {
        let mut l = Learner::default();
        assert_eq!(l.learn(2, put(2, 20)), Ok(true));
        assert!(l.apply_ready().is_empty(), "applied slot 2 before slot 1");
        assert_eq!(l.learn(1, Value::Noop), Ok(true));
        let applied: Vec<Slot> = l.apply_ready().iter().map(|a| a.slot).collect();
        assert_eq!(applied, vec![1, 2]);
        assert_eq!(l.commit(), 2);
        assert_eq!(l.learn(2, put(2, 20)), Ok(false));
        assert!(l.learn(2, put(3, 30)).is_err(), "a second value for slot 2 was accepted");
        assert_eq!(
            l.store().read(&Request::Get { key: "k".into() }),
            Ok(Response::Value { value: Some(20) })
        );
    }

    #[test]
    fn compaction_forgets_the_applied_prefix_and_install_keeps_what_lies_above() {
        let mut l = Learner::default();
        for slot in 1..=4 {
            l.learn(slot, put(slot, slot as i64)).unwrap();
        }
        l.learn(6, Value::Noop).unwrap();
        l.apply_ready();
        let snapshot = l.compact();
        assert_eq!((snapshot.last_slot, l.base(), l.chosen().len()), (4, 4, 1));
        assert_eq!(l.learn(2, put(9, 9)), Ok(false), "a compacted slot was learned again");
        assert!(l.contiguous_from(3, 10).is_empty());
        let mut behind = Learner::default();
        behind.learn(5, Value::Noop).unwrap();
        behind.install(snapshot);
        assert_eq!(behind.apply_ready().len(), 1);
        assert_eq!((behind.commit(), behind.store()), (5, l.store()));
        assert_eq!(behind.committed().hash_at(4), l.committed().hash_at(4));
    }

    #[test]
    fn catch_up_serves_only_a_contiguous_bounded_run() {
        let mut l = Learner::default();
        for slot in [1, 2, 3, 5] {
            l.learn(slot, Value::Noop).unwrap();
        }
        assert_eq!(l.contiguous_from(2, 10).len(), 2);
        assert_eq!(l.contiguous_from(1, 2).len(), 2);
        assert_eq!(l.contiguous_from(5, 10).len(), 1);
        assert!(l.contiguous_from(4, 10).is_empty());
    }
}
