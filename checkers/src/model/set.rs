//! A grow-only set: `add` an element, `read` the whole set (Jepsen's set workload).
//!
//! A read's value is a JSON array of the elements it saw; order and duplicates do not
//! matter. Elements are any JSON, compared structurally. The set is also judged for lost
//! writes (see `lost_writes`), which asks a different question: linearizability says a
//! read may not miss an add that completed before it began; set-full analysis says which
//! elements went missing, for how long, and whether they came back.

use serde_json::Value;

use super::{canonical, ok_result, unknown_f, Machine, Model, StateId};
use crate::hash::{FxHashMap, Interner};
use crate::op_ref::{OpRef, ValueRef};

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum SetOp<'h> {
    Add(ValueRef<'h>),
    Read(Vec<Value>),
}

pub(crate) struct SetModel {
    initial: Vec<Value>,
}

impl SetModel {
    pub(crate) fn new(initial: Option<Value>) -> Result<Self, String> {
        match initial {
            None | Some(Value::Null) => Ok(SetModel { initial: Vec::new() }),
            Some(Value::Array(items)) => Ok(SetModel { initial: items }),
            Some(other) => Err(format!("the set model's initial value must be an array, got {other}")),
        }
    }

    /// The elements present before any add.
    pub(crate) fn initial_elements(&self) -> &[Value] {
        &self.initial
    }
}

impl Model for SetModel {
    type Op<'h> = SetOp<'h>;
    type Machine = SetMachine;

    #[inline]
    fn parse<'h>(&self, op: OpRef<'h>) -> Result<Option<SetOp<'h>>, String> {
        match op.f {
            "add" => Ok(Some(SetOp::Add(op.value))),
            "read" => match ok_result(op) {
                None | Some(ValueRef::Null) => Ok(None),
                Some(result) => match result.items() {
                    Some(items) => Ok(Some(SetOp::Read(items))),
                    None => Err(format!("a set read returns an array, got {result}")),
                },
            },
            f => Err(unknown_f("set", f, "add or read")),
        }
    }

    fn machine(&self, ops: &[&SetOp<'_>]) -> SetMachine {
        let mut machine = SetMachine {
            elements: Interner::default(),
            originals: Vec::new(),
            states: Interner::default(),
            ops: Vec::new(),
            added: FxHashMap::default(),
        };
        let initial = machine.set_of(&self.initial);
        debug_assert_eq!(initial, 0);
        for op in ops {
            let compiled = match op {
                SetOp::Add(e) => Compiled::Add(machine.element(&e.to_value())),
                SetOp::Read(items) => Compiled::Read(machine.set_of(items)),
            };
            machine.ops.push(compiled);
        }
        machine
    }
}

#[derive(Debug, Clone, Copy)]
enum Compiled {
    Add(u32),
    /// The id of the state the read saw.
    Read(StateId),
}

/// The state is the id of a sorted vector of element ids.
pub(crate) struct SetMachine {
    elements: Interner<String>,
    originals: Vec<Value>,
    states: Interner<Box<[u32]>>,
    ops: Vec<Compiled>,
    /// (state, element) -> state with the element added.
    added: FxHashMap<(u32, u32), u32>,
}

impl SetMachine {
    fn element(&mut self, value: &Value) -> u32 {
        let id = self.elements.intern(canonical(value));
        if id as usize == self.originals.len() {
            self.originals.push(value.clone());
        }
        id
    }

    fn set_of(&mut self, items: &[Value]) -> StateId {
        let mut ids: Vec<u32> = items.iter().map(|v| self.element(v)).collect();
        ids.sort_unstable();
        ids.dedup();
        self.states.intern(ids.into_boxed_slice())
    }
}

impl Machine for SetMachine {
    fn initial(&self) -> StateId {
        0
    }

    #[inline]
    fn step(&mut self, state: StateId, op: u32) -> Option<StateId> {
        match self.ops[op as usize] {
            Compiled::Read(seen) => (state == seen).then_some(state),
            Compiled::Add(element) => {
                if let Some(&next) = self.added.get(&(state, element)) {
                    return Some(next);
                }
                let current = self.states.get(state);
                let next = match current.binary_search(&element) {
                    Ok(_) => state,
                    Err(at) => {
                        let mut grown = Vec::with_capacity(current.len() + 1);
                        grown.extend_from_slice(&current[..at]);
                        grown.push(element);
                        grown.extend_from_slice(&current[at..]);
                        self.states.intern(grown.into_boxed_slice())
                    }
                };
                self.added.insert((state, element), next);
                Some(next)
            }
        }
    }

    fn describe_state(&self, state: StateId) -> Value {
        let mut items: Vec<&Value> =
            self.states.get(state).iter().map(|&e| &self.originals[e as usize]).collect();
        items.sort_by_key(|v| canonical(v));
        Value::Array(items.into_iter().cloned().collect())
    }

    fn heap_bytes(&self) -> usize {
        self.states.heap_bytes()
            + self.elements.heap_bytes()
            + self.originals.len() * 96
            + self.added.capacity() * 13 * 8 / 7
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn reads_compare_whole_sets_ignoring_order() {
        let model = SetModel::new(None).unwrap();
        let ops = [
            SetOp::Add(ValueRef::Int(2)),
            SetOp::Add(ValueRef::Int(1)),
            SetOp::Read(vec![json!(1), json!(2)]),
        ];
        let refs: Vec<&SetOp> = ops.iter().collect();
        let mut m = model.machine(&refs);
        let s = m.step(m.initial(), 0).unwrap();
        assert_eq!(m.step(s, 2), None);
        let s = m.step(s, 1).unwrap();
        assert_eq!(m.step(s, 2), Some(s));
        assert_eq!(m.step(s, 0), Some(s), "adding twice is adding once");
        assert_eq!(m.describe_state(s), json!([1, 2]));
    }

    #[test]
    fn initial_must_be_an_array() {
        assert!(SetModel::new(Some(json!(3))).is_err());
        assert_eq!(SetModel::new(Some(json!([1]))).unwrap().initial_elements(), &[json!(1)]);
    }
}
