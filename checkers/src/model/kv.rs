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
use crate::hash::{mix64, Interner};
use crate::id_table::IdTable;
use crate::op_ref::{OpRef, ValueRef};

/// A typed kv op.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct KvOp<'h> {
    key: &'h str,
    kind: KvKind,
    value: &'h str,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum KvKind {
    Get,
    Put,
    Append,
}

#[inline(always)]
fn parse<'h>(op: OpRef<'h>) -> Result<Option<KvOp<'h>>, String> {
    let kind = match op.f {
        "get" | "read" => KvKind::Get,
        "put" | "write" => KvKind::Put,
        "append" => KvKind::Append,
        f => return Err(unknown_f("kv", f, "get, put or append")),
    };
    let Some(key) = op.key else {
        return Err(format!("kv {} has no key", op.f));
    };
    let value = if kind == KvKind::Get {
        match ok_result(op) {
            None | Some(ValueRef::Null) => return Ok(None),
            Some(ValueRef::Str(s)) => s,
            Some(other) => return Err(format!("kv values are strings, get returned {other}")),
        }
    } else {
        match op.value {
            ValueRef::Str(s) => s,
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
    type Op<'h> = KvOp<'h>;
    type Machine = KvKeyMachine;

    #[inline(always)]
    fn parse<'h>(&self, op: OpRef<'h>) -> Result<Option<KvOp<'h>>, String> {
        parse(op)
    }

    fn machine(&self, ops: &[&KvOp<'_>]) -> KvKeyMachine {
        // Room for about as many strings as the search's memo starts with.
        let mut strings = Strings::with_capacity(4 * ops.len());
        let initial = strings.literal(&self.initial);
        let ops = ops.iter().map(|op| (op.kind, strings.literal(op.value))).collect();
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

    const PRUNES: bool = true;

    fn resets(&self, op: u32) -> bool {
        self.ops[op as usize].0 == KvKind::Put
    }

    fn guards(&self, op: u32) -> bool {
        self.ops[op as usize].0 == KvKind::Get
    }

    /// Appends only extend a string, so a get can still be reached only from a prefix of
    /// the value it returned.
    fn can_reach(&mut self, state: StateId, op: u32) -> bool {
        match self.ops[op as usize] {
            (KvKind::Get, value) => self.strings.may_be_prefix(state, value),
            _ => true,
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
    type Op<'h> = KvOp<'h>;
    type Machine = KvMapMachine;

    #[inline(always)]
    fn parse<'h>(&self, op: OpRef<'h>) -> Result<Option<KvOp<'h>>, String> {
        parse(op)
    }

    fn partitioned(&self) -> bool {
        false
    }

    fn machine(&self, ops: &[&KvOp<'_>]) -> KvMapMachine {
        let mut keys: Interner<String> = Interner::default();
        let mut strings = Strings::default();
        let initial = strings.literal(&self.initial);
        let compiled: Vec<(u32, KvKind, u32)> = ops
            .iter()
            .map(|op| (keys.intern(op.key.to_string()), op.kind, strings.literal(op.value)))
            .collect();
        let states = Maps::new(keys.len(), initial, 4 * ops.len());
        let slots = (64 * ops.len()).next_power_of_two().clamp(1 << 12, 1 << 20);
        KvMapMachine { keys, strings, states, ops: compiled, steps: vec![(NO_STATE, 0, 0); slots] }
    }
}

pub(crate) struct KvMapMachine {
    keys: Interner<String>,
    strings: Strings,
    states: Maps,
    ops: Vec<(u32, KvKind, u32)>,
    /// Recent (state, op, next state) steps of put and append, which build a new map, one
    /// per slot by a hash of (state, op), overwritten on collision: a step found here is
    /// not recomputed, one not found is (with the same answer), so the table never grows.
    steps: Vec<(StateId, u32, StateId)>,
}

const NO_STATE: StateId = StateId::MAX;

impl Machine for KvMapMachine {
    fn initial(&self) -> StateId {
        0
    }

    #[inline]
    fn step(&mut self, state: StateId, op: u32) -> Option<StateId> {
        let (key, kind, value) = self.ops[op as usize];
        if kind == KvKind::Get {
            return (self.states.get(state, key) == value).then_some(state);
        }
        let slot = mix64((state as u64) << 32 | op as u64) as usize & (self.steps.len() - 1);
        let (seen_state, seen_op, seen_next) = self.steps[slot];
        if seen_state == state && seen_op == op {
            return Some(seen_next);
        }
        let value = match kind {
            KvKind::Append => self.strings.append(self.states.get(state, key), value),
            _ => value,
        };
        let next = self.states.with(state, key, value);
        self.steps[slot] = (state, op, next);
        Some(next)
    }

    const PRUNES: bool = true;

    /// A put on any key counts as a reset (the rule below looks at one key only).
    fn resets(&self, op: u32) -> bool {
        self.ops[op as usize].1 == KvKind::Put
    }

    fn guards(&self, op: u32) -> bool {
        self.ops[op as usize].1 == KvKind::Get
    }

    /// Appends only extend a key's string, so a get can still be reached only from a
    /// prefix of the value it returned.
    fn can_reach(&mut self, state: StateId, op: u32) -> bool {
        match self.ops[op as usize] {
            (key, KvKind::Get, value) => self.strings.may_be_prefix(self.states.get(state, key), value),
            _ => true,
        }
    }

    fn describe_state(&self, state: StateId) -> Value {
        let object: serde_json::Map<String, Value> = (0..self.keys.len() as u32)
            .map(|k| (self.keys.get(k).clone(), Value::String(self.strings.text(self.states.get(state, k)))))
            .collect();
        Value::Object(object)
    }

    fn heap_bytes(&self) -> usize {
        self.strings.heap_bytes()
            + self.states.heap_bytes()
            + self.keys.heap_bytes()
            + self.ops.len() * 12
            + self.steps.capacity() * 12
    }
}

/// Interned maps from key index to string id, stored flat: state `i` is
/// `values[i * width..][..width]`. A map's hash is the XOR of one mixed word per
/// (key, value), so the map that differs in one key is hashed in O(1) and found in the
/// index without being built; equality is still checked key by key.
struct Maps {
    width: usize,
    values: Vec<u32>,
    hashes: Vec<u64>,
    index: IdTable,
}

impl Maps {
    /// The maps, holding the one with every key at `initial` as state 0.
    fn new(width: usize, initial: StringId, capacity: usize) -> Self {
        let hash = (0..width as u32).fold(0, |h, k| h ^ Self::word(k, initial));
        let mut maps = Maps {
            width,
            values: Vec::with_capacity(capacity * width),
            hashes: Vec::with_capacity(capacity),
            index: IdTable::with_capacity(capacity),
        };
        let values = &mut maps.values;
        let hashes = &mut maps.hashes;
        let id = maps.index.find_or_insert(
            hash,
            &mut (),
            |_, _| false,
            |_| {
                values.extend(std::iter::repeat_n(initial, width));
                hashes.push(hash);
                0
            },
        );
        debug_assert_eq!(id, Err(0));
        maps
    }

    #[inline]
    fn word(key: u32, value: StringId) -> u64 {
        mix64((key as u64) << 32 | value as u64)
    }

    #[inline]
    fn get(&self, state: StateId, key: u32) -> StringId {
        self.values[state as usize * self.width + key as usize]
    }

    /// The id of `state` with `key` set to `value`.
    fn with(&mut self, state: StateId, key: u32, value: StringId) -> StateId {
        let old = self.get(state, key);
        if old == value {
            return state;
        }
        let hash = self.hashes[state as usize] ^ Self::word(key, old) ^ Self::word(key, value);
        let width = self.width;
        let base = state as usize * width;
        let found = self.index.find_or_insert(
            hash,
            &mut (&mut self.values, &mut self.hashes),
            |(values, hashes), candidate| {
                let at = candidate as usize * width;
                hashes[candidate as usize] == hash
                    && (0..width)
                        .all(|k| values[at + k] == if k == key as usize { value } else { values[base + k] })
            },
            |(values, hashes)| {
                let id = u32::try_from(hashes.len()).expect("fewer than 2^32 maps under any memory limit");
                values.extend_from_within(base..base + width);
                values[id as usize * width + key as usize] = value;
                hashes.push(hash);
                id
            },
        );
        found.unwrap_or_else(|new| new)
    }

    fn heap_bytes(&self) -> usize {
        self.values.capacity() * 4 + self.hashes.capacity() * 8 + self.index.heap_bytes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::history::{Operation, Outcome};
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
        .into_iter()
        .map(|o| model.parse(OpRef::of(Box::leak(Box::new(o)))).unwrap().unwrap())
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
        .into_iter()
        .map(|o| model.parse(OpRef::of(Box::leak(Box::new(o)))).unwrap().unwrap())
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
        assert!(model
            .parse(OpRef::of(&op("put", None, json!("1"), Outcome::Fail)))
            .unwrap_err()
            .contains("no key"));
        assert!(model
            .parse(OpRef::of(&op("put", Some("a"), json!(1), Outcome::Fail)))
            .unwrap_err()
            .contains("strings"));
        assert_eq!(
            model.parse(OpRef::of(&op("get", Some("a"), Value::Null, Outcome::Ok(Value::Null)))),
            Ok(None)
        );
        assert!(KvModel::new(Some(json!(5))).is_err());
    }

    fn kv_ops<M: for<'h> Model<Op<'h> = KvOp<'h>>>(
        model: &M,
        ops: &[(&str, &str, &str)],
    ) -> Vec<KvOp<'static>> {
        ops.iter()
            .map(|&(f, key, v)| {
                let outcome = Outcome::Ok(json!(v));
                let value = if f == "get" { Value::Null } else { json!(v) };
                let op: &'static Operation = Box::leak(Box::new(op(f, Some(key), value, outcome)));
                model.parse(OpRef::of(op)).unwrap().unwrap()
            })
            .collect()
    }

    #[test]
    fn a_get_is_reachable_only_from_a_prefix_of_its_value_and_puts_reset() {
        let model = KvModel::new(None).unwrap();
        let parsed = kv_ops(&model, &[("append", "a", "x"), ("put", "a", "y"), ("get", "a", "xy")]);
        let refs: Vec<&KvOp> = parsed.iter().collect();
        let mut m = model.machine(&refs);
        assert!(m.resets(1) && !m.resets(0) && !m.resets(2));
        assert!(m.guards(2) && !m.guards(0) && !m.guards(1));
        let x = m.step(m.initial(), 0).unwrap();
        let y = m.step(x, 1).unwrap();
        assert!(m.can_reach(m.initial(), 2) && m.can_reach(x, 2));
        assert!(!m.can_reach(y, 2), "\"y\" is no prefix of \"xy\"");
        assert!(m.can_reach(y, 0), "an append is reachable from anywhere");

        let model = KvMapModel::new(None).unwrap();
        let parsed = kv_ops(&model, &[("append", "a", "x"), ("append", "b", "z"), ("get", "a", "x")]);
        let refs: Vec<&KvOp> = parsed.iter().collect();
        let mut m = model.machine(&refs);
        let bz = m.step(m.initial(), 1).unwrap();
        assert!(m.can_reach(bz, 2), "another key's string does not matter");
        let ax = m.step(bz, 0).unwrap();
        let axx = m.step(ax, 0).unwrap();
        assert!(m.can_reach(ax, 2) && !m.can_reach(axx, 2));
    }

    #[test]
    fn a_put_that_may_come_first_stops_the_prefix_rule() {
        // append x, then (concurrently) get x, put y and get y; get y returns first. The
        // only linearization reads x before the put, passing through "x", which is no
        // prefix of "y": pruning there would wrongly refute the history.
        use crate::budget::Budget;
        use crate::search::{search, Interval, Outcome};
        let model = KvModel::new(None).unwrap();
        let parsed =
            kv_ops(&model, &[("append", "a", "x"), ("get", "a", "x"), ("put", "a", "y"), ("get", "a", "y")]);
        let refs: Vec<&KvOp> = parsed.iter().collect();
        let intervals = [
            Interval { call: 0, ret: Some(5) },
            Interval { call: 6, ret: Some(20) },
            Interval { call: 7, ret: Some(21) },
            Interval { call: 8, ret: Some(9) },
        ];
        let budget = Budget::new(std::time::Instant::now(), None, None);
        assert_eq!(search(&mut model.machine(&refs), &intervals, &budget), Outcome::Linearizable);
        // Without the put the same reads cannot both be explained.
        let intervals = [intervals[0], intervals[1], intervals[3]];
        let parsed = [parsed[0].clone(), parsed[1].clone(), parsed[3].clone()];
        let refs: Vec<&KvOp> = parsed.iter().collect();
        let outcome = search(&mut model.machine(&refs), &intervals, &budget);
        assert!(matches!(outcome, Outcome::NotLinearizable { .. }), "{outcome:?}");
    }
}
