//! A read/write register (Jepsen's `register`, Porcupine's register).
//!
//! `read` observes the value, `write` replaces it. Values are any JSON, compared
//! structurally; `null` is nil, so an `ok` read of `null` says the register held nothing.

use serde_json::Value;

use super::{ok_result, unknown_f, Machine, Model, StateId, ValueKey};
use crate::hash::Interner;
use crate::op_ref::OpRef;
use crate::op_ref::ValueRef;

/// A typed register op. Shared with the cas-register.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum RegisterOp<'h> {
    Read(ValueRef<'h>),
    Write(ValueRef<'h>),
    Cas(ValueRef<'h>, ValueRef<'h>),
}

pub(crate) struct RegisterModel {
    pub(crate) initial: Value,
    pub(crate) cas: bool,
}

impl RegisterModel {
    pub(crate) fn new(initial: Option<Value>, cas: bool) -> Self {
        RegisterModel { initial: initial.unwrap_or(Value::Null), cas }
    }

    fn name(&self) -> &'static str {
        if self.cas {
            "cas-register"
        } else {
            "register"
        }
    }
}

impl Model for RegisterModel {
    type Op<'h> = RegisterOp<'h>;
    type Machine = RegisterMachine;

    #[inline(always)]
    fn parse<'h>(&self, op: OpRef<'h>) -> Result<Option<RegisterOp<'h>>, String> {
        match op.f {
            "read" => Ok(ok_result(op).map(RegisterOp::Read)),
            "write" => Ok(Some(RegisterOp::Write(op.value))),
            "cas" if self.cas => match op.value.pair() {
                Some((from, to)) => Ok(Some(RegisterOp::Cas(from, to))),
                _ => Err(format!("cas value must be [from, to], got {}", op.value)),
            },
            "cas" => Err("the register model has no cas (use the cas-register model)".to_string()),
            f => {
                Err(unknown_f(self.name(), f, if self.cas { "read, write or cas" } else { "read or write" }))
            }
        }
    }

    fn machine(&self, ops: &[&RegisterOp<'_>]) -> RegisterMachine {
        let mut machine = RegisterMachine {
            values: Interner::with_capacity(ops.len() + 1),
            originals: Vec::with_capacity(ops.len() + 1),
            ops: Vec::new(),
            observed: Vec::new(),
        };
        let initial = machine.value(ValueRef::of(&self.initial));
        debug_assert_eq!(initial, 0);
        for op in ops {
            let compiled = match **op {
                RegisterOp::Read(v) => Compiled::Read(machine.value(v)),
                RegisterOp::Write(v) => Compiled::Write(machine.value(v)),
                RegisterOp::Cas(from, to) => Compiled::Cas(machine.value(from), machine.value(to)),
            };
            machine.ops.push(compiled);
        }
        machine.observed = vec![false; machine.originals.len()];
        for op in &machine.ops {
            if let Compiled::Read(v) | Compiled::Cas(v, _) = *op {
                machine.observed[v as usize] = true;
            }
        }
        machine
    }
}

#[derive(Debug, Clone, Copy)]
enum Compiled {
    Read(u32),
    Write(u32),
    Cas(u32, u32),
}

/// The state is the id of the value held; the initial value has id 0.
pub(crate) struct RegisterMachine {
    values: Interner<ValueKey>,
    originals: Vec<Value>,
    ops: Vec<Compiled>,
    /// Per value: whether some op reads it or compares against it.
    observed: Vec<bool>,
}

impl RegisterMachine {
    fn value(&mut self, value: ValueRef<'_>) -> u32 {
        let id = self.values.intern(value.key());
        if id as usize == self.originals.len() {
            self.originals.push(value.to_value());
        }
        id
    }
}

impl Machine for RegisterMachine {
    fn initial(&self) -> StateId {
        0
    }

    #[inline]
    fn step(&mut self, state: StateId, op: u32) -> Option<StateId> {
        match self.ops[op as usize] {
            Compiled::Read(v) => (state == v).then_some(state),
            Compiled::Write(v) => Some(v),
            Compiled::Cas(from, to) => (state == from).then_some(to),
        }
    }

    /// A write (or cas) of a value that no op reads or compares against: while the
    /// register holds that value only writes can take effect, so leaving the op out of
    /// a linearization leaves one. (Jepsen's register workloads write unique values, so
    /// a crashed write nobody read is the common case.)
    fn observable(&self, op: u32) -> bool {
        match self.ops[op as usize] {
            Compiled::Read(_) => true,
            Compiled::Write(v) | Compiled::Cas(_, v) => self.observed[v as usize],
        }
    }

    fn describe_state(&self, state: StateId) -> Value {
        self.originals[state as usize].clone()
    }

    fn heap_bytes(&self) -> usize {
        self.values.heap_bytes() + self.originals.len() * 65 + self.ops.len() * 12
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn reads_see_the_last_write_and_cas_compares() {
        let model = RegisterModel::new(None, true);
        let (null, one, two) = (Value::Null, json!(1), json!(2));
        let ops = [
            RegisterOp::Read(ValueRef::of(&null)),
            RegisterOp::Write(ValueRef::of(&one)),
            RegisterOp::Cas(ValueRef::of(&one), ValueRef::of(&two)),
            RegisterOp::Read(ValueRef::of(&two)),
        ];
        let refs: Vec<&RegisterOp> = ops.iter().collect();
        let mut m = model.machine(&refs);
        let s0 = m.initial();
        assert_eq!(m.step(s0, 0), Some(s0));
        assert_eq!(m.step(s0, 2), None, "cas from 1 fails on nil");
        let s1 = m.step(s0, 1).unwrap();
        assert_eq!(m.describe_state(s1), json!(1));
        assert_eq!(m.step(s1, 3), None);
        let s2 = m.step(s1, 2).unwrap();
        assert_eq!(m.step(s2, 3), Some(s2));
    }

    #[test]
    fn only_writes_of_values_something_reads_or_compares_are_observable() {
        let model = RegisterModel::new(None, true);
        let v: Vec<Value> = (0..6).map(|n| json!(n)).collect();
        let ops = [
            RegisterOp::Write(ValueRef::of(&v[1])),
            RegisterOp::Write(ValueRef::of(&v[2])),
            RegisterOp::Cas(ValueRef::of(&v[3]), ValueRef::of(&v[4])),
            RegisterOp::Cas(ValueRef::of(&v[1]), ValueRef::of(&v[5])),
            RegisterOp::Read(ValueRef::of(&v[2])),
            RegisterOp::Write(ValueRef::of(&v[3])),
        ];
        let refs: Vec<&RegisterOp> = ops.iter().collect();
        let m = model.machine(&refs);
        let observable: Vec<bool> = (0..ops.len() as u32).map(|op| m.observable(op)).collect();
        // 1 is compared by a cas, 2 read, 3 compared; 4 and 5 are never seen.
        assert_eq!(observable, [true, true, false, false, true, true]);
    }
}
