//! A key-value store of strings: `get`, `put`, `append` (Porcupine's kv model).
//!
//! A missing key reads as the empty string, as in Porcupine's kv histories, unless the
//! check's `initial` gives another string. `append` concatenates. An `ok` get whose value
//! is `null` reports no result, so it constrains nothing and is dropped.
//!
//! Two machines: [`KvModel`] checks one key (the default: keys are independent objects),
//! [`KvMapModel`] checks the whole history as one map-valued object (`partition: false`),
//! which is what a checker without P-compositionality has to do.

use serde_json::Value;

use super::strings::{StringId, Strings};
use super::{ok_result, unknown_f, Machine, Model, StateId};
use crate::hash::{FxHashMap, Interner};
use crate::history::Operation;

/// A typed kv op.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct KvOp {
    key: String,
    kind: KvKind,
    value: String,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum KvKind {
    Get,
    Put,
    Append,
}

fn parse(op: &Operation) -> Result<Option<KvOp>, String> {
    let kind = match op.f.as_str() {
        "get" | "read" => KvKind::Get,
        "put" | "write" => KvKind::Put,
        "append" => KvKind::Append,
        f => return Err(unknown_f("kv", f, "get, put or append")),
    };
    let Some(key) = op.key.clone() else {
        return Err(format!("kv {} has no key", op.f));
    };
    let value = if kind == KvKind::Get {
        match ok_result(op) {
            None | Some(Value::Null) => return Ok(None),
            Some(Value::String(s)) => s.clone(),
            Some(other) => return Err(format!("kv values are strings, get returned {other}")),
        }
    } else {
        match &op.value {
            Value::String(s) => s.clone(),
            other => return Err(format!("kv values are strings, {} has value {other}", op.f)),
        }
    };
    Ok(Some(KvOp { key, kind, value }))
}

fn initial_string(initial: Option<Value>) -> Result<String, String> {
    match initial {
        None | Some(Value::Null) => Ok(String::new()),
        Some(Value::String(s)) => Ok(s),
        Some(other) => Err(format!("the kv model's initial value must be a string, got {other}")),
    }
}

/// Each key checked on its own; the state is the id of the key's string.
pub(crate) struct KvModel {
    initial: String,
}

impl KvModel {
    pub(crate) fn new(initial: Option<Value>) -> Result<Self, String> {
        Ok(KvModel { initial: initial_string(initial)? })
    }
}

impl Model for KvModel {
    type Op = KvOp;
    type Machine = KvKeyMachine;

    fn parse(&self, op: &Operation) -> Result<Option<KvOp>, String> {
        parse(op)
    }

    fn machine(&self, ops: &[&KvOp]) -> KvKeyMachine {
        let mut strings = Strings::default();
        let initial = strings.literal(&self.initial);
        let ops = ops.iter().map(|op| (op.kind, strings.literal(&op.value))).collect();
        KvKeyMachine { strings, initial, ops }
    }
}

pub(crate) struct KvKeyMachine {
    strings: Strings,
    initial: StringId,
    /// Each op's kind and the id of its value.
    ops: Vec<(KvKind, StringId)>,
}

impl Machine for KvKeyMachine {
    fn initial(&self) -> StateId {
        self.initial
    }

    #[inline]
    fn step(&mut self, state: StateId, op: u32) -> Option<StateId> {
        let (kind, value) = self.ops[op as usize];
        match kind {
            KvKind::Get => (state == value).then_some(state),
            KvKind::Put => Some(value),
            KvKind::Append => Some(self.strings.append(state, value)),
        }
    }

    fn describe_state(&self, state: StateId) -> Value {
        Value::String(self.strings.text(state))
    }

    fn heap_bytes(&self) -> usize {
        self.strings.heap_bytes() + self.ops.len() * 8
    }
}

/// The whole store as one object; the state is the id of the vector of per-key string ids.
pub(crate) struct KvMapModel {
    initial: String,
}

impl KvMapModel {
    pub(crate) fn new(initial: Option<Value>) -> Result<Self, String> {
        Ok(KvMapModel { initial: initial_string(initial)? })
    }
}

impl Model for KvMapModel {
    type Op = KvOp;
    type Machine = KvMapMachine;

    fn parse(&self, op: &Operation) -> Result<Option<KvOp>, String> {
        parse(op)
    }

    fn partition_key(&self, _op: &Operation) -> Option<String> {
        None
    }

    fn machine(&self, ops: &[&KvOp]) -> KvMapMachine {
        let mut keys: Interner<String> = Interner::default();
        let mut strings = Strings::default();
        let initial = strings.literal(&self.initial);
        let compiled: Vec<(u32, KvKind, u32)> =
            ops.iter().map(|op| (keys.intern(op.key.clone()), op.kind, strings.literal(&op.value))).collect();
        let mut states = Interner::default();
        states.intern(vec![initial; keys.len()].into_boxed_slice());
        KvMapMachine { keys, strings, states, ops: compiled, steps: FxHashMap::default() }
    }
}

pub(crate) struct KvMapMachine {
    keys: Interner<String>,
    strings: Strings,
    states: Interner<Box<[u32]>>,
    ops: Vec<(u32, KvKind, u32)>,
    /// (state, op) -> next state, for put and append, which build a new map.
    steps: FxHashMap<(u32, u32), u32>,
}

impl Machine for KvMapMachine {
    fn initial(&self) -> StateId {
        0
    }

    #[inline]
    fn step(&mut self, state: StateId, op: u32) -> Option<StateId> {
        let (key, kind, value) = self.ops[op as usize];
        if kind == KvKind::Get {
            return (self.states.get(state)[key as usize] == value).then_some(state);
        }
        if let Some(&next) = self.steps.get(&(state, op)) {
            return Some(next);
        }
        let mut map = self.states.get(state).clone();
        map[key as usize] = match kind {
            KvKind::Append => self.strings.append(map[key as usize], value),
            _ => value,
        };
        let next = self.states.intern(map);
        self.steps.insert((state, op), next);
        Some(next)
    }

    fn describe_state(&self, state: StateId) -> Value {
        let map = self.states.get(state);
        let object: serde_json::Map<String, Value> = (0..self.keys.len())
            .map(|k| (self.keys.get(k as u32).clone(), Value::String(self.strings.text(map[k]))))
            .collect();
        Value::Object(object)
    }

    fn heap_bytes(&self) -> usize {
        self.strings.heap_bytes()
            + self.states.heap_bytes()
            + self.keys.heap_bytes()
            + self.ops.len() * 12
            + self.steps.capacity() * 13 * 8 / 7
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::history::Outcome;
    use serde_json::json;

    fn op(f: &str, key: Option<&str>, value: Value, outcome: Outcome) -> Operation {
        Operation {
            invoke_index: 0,
            complete_index: Some(1),
            process: 0,
            f: f.to_string(),
            key: key.map(str::to_string),
            value,
            outcome,
            invoke_time: None,
            complete_time: None,
        }
    }

    #[test]
    fn append_concatenates_and_missing_keys_read_empty() {
        let model = KvModel::new(None).unwrap();
        let parsed: Vec<KvOp> = [
            op("get", Some("a"), Value::Null, Outcome::Ok(json!(""))),
            op("append", Some("a"), json!("x"), Outcome::Ok(json!("x"))),
            op("append", Some("a"), json!("y"), Outcome::Ok(json!("y"))),
            op("get", Some("a"), Value::Null, Outcome::Ok(json!("xy"))),
        ]
        .iter()
        .map(|o| model.parse(o).unwrap().unwrap())
        .collect();
        let refs: Vec<&KvOp> = parsed.iter().collect();
        let mut m = model.machine(&refs);
        let s = m.initial();
        assert_eq!(m.step(s, 0), Some(s));
        let s = m.step(s, 1).unwrap();
        assert_eq!(m.step(s, 3), None);
        let s = m.step(s, 2).unwrap();
        assert_eq!(m.step(s, 3), Some(s));
        assert_eq!(m.describe_state(s), json!("xy"));
    }

    #[test]
    fn the_map_machine_keeps_keys_apart() {
        let model = KvMapModel::new(Some(json!("0"))).unwrap();
        let parsed: Vec<KvOp> = [
            op("put", Some("a"), json!("1"), Outcome::Ok(json!("1"))),
            op("get", Some("b"), Value::Null, Outcome::Ok(json!("0"))),
            op("append", Some("b"), json!("2"), Outcome::Ok(json!("2"))),
        ]
        .iter()
        .map(|o| model.parse(o).unwrap().unwrap())
        .collect();
        let refs: Vec<&KvOp> = parsed.iter().collect();
        let mut m = model.machine(&refs);
        let s = m.step(m.initial(), 0).unwrap();
        assert_eq!(m.step(s, 1), Some(s));
        let s = m.step(s, 2).unwrap();
        assert_eq!(m.describe_state(s), json!({"a": "1", "b": "02"}));
        assert_eq!(m.step(s, 1), None);
    }

    #[test]
    fn bad_kv_input_is_named() {
        let model = KvModel::new(None).unwrap();
        assert!(model.parse(&op("put", None, json!("1"), Outcome::Fail)).unwrap_err().contains("no key"));
        assert!(model.parse(&op("put", Some("a"), json!(1), Outcome::Fail)).unwrap_err().contains("strings"));
        assert_eq!(model.parse(&op("get", Some("a"), Value::Null, Outcome::Ok(Value::Null))), Ok(None));
        assert!(KvModel::new(Some(json!(5))).is_err());
    }
}
