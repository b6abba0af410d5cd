//! A lock: `acquire` takes it if free, `release` frees it if held (Jepsen's mutex model).
//!
//! The model does not track an owner, as Jepsen's does not: a history shows which process
//! called, not which one the system under test believed held the lock. An `acquire` that
//! completes `fail` was refused and is dropped.

use serde_json::Value;

use super::{unknown_f, Machine, Model, StateId};
use crate::op_ref::OpRef;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum MutexOp {
    Acquire,
    Release,
}

pub(crate) struct MutexModel {
    held: bool,
}

const FREE: StateId = 0;
const HELD: StateId = 1;

impl MutexModel {
    pub(crate) fn new(initial: Option<Value>) -> Result<Self, String> {
        match initial {
            None | Some(Value::Null | Value::Bool(false)) => Ok(MutexModel { held: false }),
            Some(Value::Bool(true)) => Ok(MutexModel { held: true }),
            Some(other) => {
                Err(format!("the mutex model's initial value is true (held) or false, got {other}"))
            }
        }
    }
}

impl Model for MutexModel {
    type Op<'h> = MutexOp;
    type Machine = MutexMachine;

    #[inline]
    fn parse<'h>(&self, op: OpRef<'h>) -> Result<Option<MutexOp>, String> {
        match op.f {
            "acquire" => Ok(Some(MutexOp::Acquire)),
            "release" => Ok(Some(MutexOp::Release)),
            f => Err(unknown_f("mutex", f, "acquire or release")),
        }
    }

    fn machine(&self, ops: &[&MutexOp]) -> MutexMachine {
        MutexMachine {
            initial: if self.held { HELD } else { FREE },
            ops: ops.iter().map(|&&op| op).collect(),
        }
    }
}

pub(crate) struct MutexMachine {
    initial: StateId,
    ops: Vec<MutexOp>,
}

impl Machine for MutexMachine {
    fn initial(&self) -> StateId {
        self.initial
    }

    #[inline]
    fn step(&mut self, state: StateId, op: u32) -> Option<StateId> {
        match (self.ops[op as usize], state) {
            (MutexOp::Acquire, FREE) => Some(HELD),
            (MutexOp::Release, HELD) => Some(FREE),
            _ => None,
        }
    }

    fn describe_state(&self, state: StateId) -> Value {
        Value::String(if state == HELD { "held" } else { "free" }.to_string())
    }

    fn heap_bytes(&self) -> usize {
        self.ops.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_held_lock_cannot_be_acquired_and_a_free_one_not_released() {
        let model = MutexModel::new(None).unwrap();
        let ops = [MutexOp::Acquire, MutexOp::Release];
        let refs: Vec<&MutexOp> = ops.iter().collect();
        let mut m = model.machine(&refs);
        let held = m.step(m.initial(), 0).unwrap();
        assert_eq!(m.step(held, 0), None);
        assert_eq!(m.step(m.initial(), 1), None);
        assert_eq!(m.step(held, 1), Some(m.initial()));
        assert_eq!(m.describe_state(held), Value::String("held".into()));
        assert!(MutexModel::new(Some(serde_json::json!(2))).is_err());
    }
}
