//! A counter: `add` with an integer value adds it (negative to subtract), `read` observes
//! the total (Jepsen's counter workload, `{:f :add, :value 1}` and `{:f :read}`).
//!
//! This is the counter as a linearizable object: every read must be the total of the adds
//! linearized before it, in one order that respects real time. Jepsen's own counter
//! checker is weaker (each read within the bounds of the adds that had certainly and
//! possibly happened), so a history it accepts can be invalid here: two reads that see
//! different subsets of the same concurrent adds, each within bounds, that no single order
//! explains. The total is kept as a 128-bit integer, so no history of 64-bit adds
//! overflows it; states are interned totals.

use serde_json::Value;

use super::{ok_result, unknown_f, Machine, Model, StateId};
use crate::hash::FxHashMap;
use crate::op_ref::OpRef;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum CounterOp {
    Add(i64),
    Read(i64),
}

pub(crate) struct CounterModel {
    initial: i64,
}

impl CounterModel {
    pub(crate) fn new(initial: Option<Value>) -> Result<Self, String> {
        match initial {
            None | Some(Value::Null) => Ok(CounterModel { initial: 0 }),
            Some(value) => value
                .as_i64()
                .map(|initial| CounterModel { initial })
                .ok_or_else(|| format!("the counter model's initial value is an integer, got {value}")),
        }
    }
}

impl Model for CounterModel {
    type Op<'h> = CounterOp;
    type Machine = CounterMachine;

    #[inline]
    fn parse<'h>(&self, op: OpRef<'h>) -> Result<Option<CounterOp>, String> {
        match op.f {
            "add" => match op.value.as_i64() {
                Some(n) => Ok(Some(CounterOp::Add(n))),
                None => Err(format!("a counter's add takes an integer, got {}", op.value)),
            },
            "read" => match ok_result(op) {
                None => Ok(None),
                Some(value) => match value.as_i64() {
                    Some(n) => Ok(Some(CounterOp::Read(n))),
                    None => Err(format!("a counter's read returns an integer, got {value}")),
                },
            },
            f => Err(unknown_f("counter", f, "add or read")),
        }
    }

    fn machine(&self, ops: &[&CounterOp]) -> CounterMachine {
        let reads = ops.iter().any(|op| matches!(op, CounterOp::Read(_)));
        let mut machine = CounterMachine {
            ops: ops.iter().map(|&&op| op).collect(),
            totals: Vec::new(),
            ids: FxHashMap::default(),
            reads,
        };
        machine.intern(i128::from(self.initial));
        machine
    }
}

pub(crate) struct CounterMachine {
    ops: Vec<CounterOp>,
    /// Interned totals, by state id.
    totals: Vec<i128>,
    ids: FxHashMap<i128, StateId>,
    /// Whether any op reads: if none does, no add can be observed.
    reads: bool,
}

impl CounterMachine {
    fn intern(&mut self, total: i128) -> StateId {
        let next = self.totals.len() as StateId;
        let id = *self.ids.entry(total).or_insert(next);
        if id == next {
            self.totals.push(total);
        }
        id
    }
}

impl Machine for CounterMachine {
    fn initial(&self) -> StateId {
        0
    }

    #[inline]
    fn step(&mut self, state: StateId, op: u32) -> Option<StateId> {
        let total = self.totals[state as usize];
        match self.ops[op as usize] {
            CounterOp::Add(n) => Some(self.intern(total + i128::from(n))),
            CounterOp::Read(n) => (total == i128::from(n)).then_some(state),
        }
    }

    fn observable(&self, _op: u32) -> bool {
        self.reads
    }

    fn describe_state(&self, state: StateId) -> Value {
        let total = self.totals[state as usize];
        match i64::try_from(total) {
            Ok(n) => Value::from(n),
            Err(_) => Value::String(total.to_string()),
        }
    }

    fn heap_bytes(&self) -> usize {
        self.ops.len() * std::mem::size_of::<CounterOp>()
            + self.totals.capacity() * (std::mem::size_of::<i128>() * 2 + std::mem::size_of::<StateId>() + 8)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn adds_sum_and_reads_see_the_sum() {
        let model = CounterModel::new(Some(Value::from(10))).unwrap();
        let ops = [CounterOp::Add(5), CounterOp::Add(-3), CounterOp::Read(12), CounterOp::Read(15)];
        let refs: Vec<&CounterOp> = ops.iter().collect();
        let mut m = model.machine(&refs);
        assert_eq!(m.describe_state(m.initial()), Value::from(10));
        let s = m.step(m.initial(), 0).unwrap();
        assert_eq!(m.step(s, 3), Some(s), "a read of the total leaves it");
        let s = m.step(s, 1).unwrap();
        assert_eq!(m.step(s, 2), Some(s));
        assert_eq!(m.step(s, 3), None, "a read of another total cannot happen");
        assert_eq!(m.describe_state(s), Value::from(12));
        assert!(m.observable(0));
        let adds = [CounterOp::Add(1)];
        let refs: Vec<&CounterOp> = adds.iter().collect();
        assert!(!model.machine(&refs).observable(0), "nothing reads: no add is observable");
    }

    #[test]
    fn totals_past_64_bits_do_not_overflow() {
        let model = CounterModel::new(None).unwrap();
        let ops = [CounterOp::Add(i64::MAX), CounterOp::Add(i64::MAX)];
        let refs: Vec<&CounterOp> = ops.iter().collect();
        let mut m = model.machine(&refs);
        let s = m.step(m.initial(), 0).unwrap();
        let s = m.step(s, 1).unwrap();
        assert_eq!(m.describe_state(s), Value::String((2 * i128::from(i64::MAX)).to_string()));
        assert!(CounterModel::new(Some(Value::from("x"))).is_err());
        assert!(CounterModel::new(Some(Value::from(1.5))).is_err());
    }
}
