//! Sequential specifications: what one object does when operations hit it one at a time.
//!
//! Each model has two halves. [`Model::parse`] turns an operation's JSON `f` and
//! `value` into the model's typed op, once, before any search, so that bad input is
//! reported with its event index and the search never sees a string. [`Model::machine`]
//! then compiles one partition's typed ops into a [`Machine`]: a pure step function over
//! interned states. States and values are `u32` ids, so the search's memo hashes and
//! compares integers however large the value behind the id (a kv map, a set, a long
//! appended string) has grown.

use serde_json::Value;

use crate::op_ref::{OpRef, OutcomeRef, ValueRef};

pub(crate) mod cas_register;
pub(crate) mod counter;
pub(crate) mod kv;
pub(crate) mod mutex;
pub(crate) mod register;
pub(crate) mod set;
pub(crate) mod strings;

/// An interned model state.
pub(crate) type StateId = u32;

/// One partition's object, compiled: the search steps it by op position.
pub(crate) trait Machine {
    /// The state before any operation.
    fn initial(&self) -> StateId;
    /// The state after op number `op` (position in the ops the machine was built from)
    /// takes effect in `state`, or `None` if the op cannot happen there (a read that
    /// would see another value, a cas whose compare fails, a second acquire).
    fn step(&mut self, state: StateId, op: u32) -> Option<StateId>;
    /// Whether the search may ask [`Machine::can_reach`] (a model that cannot prune
    /// keeps the default `false`, and the search is compiled without the extra work).
    const PRUNES: bool = false;
    /// Whether op number `op` sets the state whatever it was before (a kv put). Only
    /// consulted when [`Machine::PRUNES`].
    fn resets(&self, _op: u32) -> bool {
        true
    }
    /// Whether [`Machine::can_reach`] can ever be `false` for op `op` (a kv get); the
    /// search looks for the first such op whose return is pending. Only consulted when
    /// [`Machine::PRUNES`].
    fn guards(&self, _op: u32) -> bool {
        false
    }
    /// Whether, from `state`, some sequence of ops that do not reset can lead to a state
    /// in which op `op` takes effect. Must be `true` whenever that is possible (`false`
    /// prunes the search there); it may be `true` when it is not. Only consulted when
    /// [`Machine::PRUNES`].
    fn can_reach(&mut self, _state: StateId, _op: u32) -> bool {
        true
    }
    /// Whether some other op could tell that op number `op` took effect. An op of
    /// unknown outcome that no op can observe need never be linearized (leaving it out of
    /// any linearization leaves one), so the search does not try it. Must be `true`
    /// whenever in doubt.
    fn observable(&self, _op: u32) -> bool {
        true
    }
    /// A state as a person would write it, for counterexamples.
    fn describe_state(&self, state: StateId) -> Value;
    /// Bytes held in interned values and states, for the memory budget.
    fn heap_bytes(&self) -> usize;
}

/// A model: how to read operations, and how to build the machine for one partition.
pub(crate) trait Model: Sync {
    /// Borrows from the history (`'h`), so that parsing copies no value.
    type Op<'h>: Send + Sync;
    /// Sent between worker threads: a partition's search may resume on another one.
    type Machine: Machine + Send;

    /// The typed op, or `None` for an op that constrains nothing (a read whose result is
    /// unknown). Called on every op, failed ones included, so that malformed input is
    /// refused wherever it appears. The error is one line without the event index.
    fn parse<'h>(&self, op: OpRef<'h>) -> Result<Option<Self::Op<'h>>, String>;

    /// Whether an op's key names the independent object it acts on. Ops with different
    /// keys are then checked separately (P-compositionality); otherwise the whole history
    /// is one object.
    fn partitioned(&self) -> bool {
        true
    }

    /// A fresh machine for one partition's ops, in the given order.
    fn machine(&self, ops: &[&Self::Op<'_>]) -> Self::Machine;
}

/// The result of an op that completed `ok`; `None` when it did not (info or fail).
#[inline(always)]
pub(crate) fn ok_result<'h>(op: OpRef<'h>) -> Option<ValueRef<'h>> {
    match op.outcome {
        OutcomeRef::Ok(value) => Some(value),
        _ => None,
    }
}

/// A canonical text for a JSON value: equal values give equal text (object keys are kept
/// sorted by serde_json's default map).
pub(crate) fn canonical(value: &Value) -> String {
    value.to_string()
}

/// A JSON value as an interning key: equal exactly when the [`canonical`] texts are equal,
/// but integers and `null` (nearly every register value) are keyed without building text.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) enum ValueKey {
    Null,
    /// A non-negative integer.
    Int(u64),
    /// A negative integer.
    Neg(i64),
    /// Anything else, by its canonical text (a float's text always has `.` or `e`, so it
    /// never equals an integer's).
    Text(String),
}

impl ValueKey {
    pub(crate) fn of(value: &Value) -> ValueKey {
        match value {
            Value::Null => ValueKey::Null,
            Value::Number(n) => match (n.as_u64(), n.as_i64()) {
                (Some(u), _) => ValueKey::Int(u),
                (None, Some(i)) => ValueKey::Neg(i),
                _ => ValueKey::Text(canonical(value)),
            },
            _ => ValueKey::Text(canonical(value)),
        }
    }
}

impl crate::hash::HeapSize for ValueKey {
    fn heap_size(&self) -> usize {
        match self {
            ValueKey::Text(text) => text.capacity(),
            _ => 0,
        }
    }
}

/// The error for an `f` this model does not know.
pub(crate) fn unknown_f(model: &str, f: &str, expected: &str) -> String {
    format!("the {model} model has no operation {f:?} (expected {expected})")
}
