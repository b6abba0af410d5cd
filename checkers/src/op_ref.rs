//! Operations as the checker reads them: borrowed from the history's events, not copied.
//!
//! [`History::operations`] pairs invocations with completions into owned [`Operation`]s,
//! copying each op's function, key, argument and result; for a history checked in a few
//! milliseconds that copying (and freeing) was most of the time. The checker pairs the
//! same way but borrows, and builds owned `Operation`s only for the ops a counterexample
//! shows.

use serde_json::Value;

use crate::hash::FxHashMap;
use crate::history::{EventType, History, Operation, Outcome, Process};
use crate::model::ValueKey;

/// A value as the check reads it: the shapes nearly every history's values take held
/// directly (null, an integer, a pair of small integers such as a cas's `[from, to]`, a
/// string), anything else as borrowed JSON. The form is canonical: a JSON value has
/// exactly one `ValueRef` ([`ValueRef::of`]), so two are equal exactly when their values
/// are.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum ValueRef<'h> {
    Null,
    /// A non-negative integer.
    Int(u64),
    /// A negative integer.
    Neg(i64),
    /// An array of two integers, each within `i32`.
    Pair(i32, i32),
    Str(&'h str),
    /// Any other value (a float, a bool, an object, another array).
    Json(&'h Value),
}

impl<'h> ValueRef<'h> {
    /// The canonical form of `value`.
    #[inline(always)]
    pub(crate) fn of(value: &'h Value) -> ValueRef<'h> {
        match value {
            Value::Null => ValueRef::Null,
            Value::Number(n) => match (n.as_u64(), n.as_i64()) {
                (Some(u), _) => ValueRef::Int(u),
                (None, Some(i)) => ValueRef::Neg(i),
                _ => ValueRef::Json(value),
            },
            Value::String(s) => ValueRef::Str(s),
            Value::Array(items) => match items.as_slice() {
                [a, b] => match (small(a), small(b)) {
                    (Some(a), Some(b)) => ValueRef::Pair(a, b),
                    _ => ValueRef::Json(value),
                },
                _ => ValueRef::Json(value),
            },
            _ => ValueRef::Json(value),
        }
    }

    /// An integer's form.
    #[inline(always)]
    pub(crate) fn int(n: i64) -> ValueRef<'h> {
        match u64::try_from(n) {
            Ok(u) => ValueRef::Int(u),
            Err(_) => ValueRef::Neg(n),
        }
    }

    /// The integer, if the value is one within `i64` (the inverse of [`ValueRef::int`]).
    pub(crate) fn as_i64(self) -> Option<i64> {
        match self {
            ValueRef::Int(n) => i64::try_from(n).ok(),
            ValueRef::Neg(n) => Some(n),
            _ => None,
        }
    }

    /// The value itself.
    pub(crate) fn to_value(self) -> Value {
        match self {
            ValueRef::Null => Value::Null,
            ValueRef::Int(u) => Value::from(u),
            ValueRef::Neg(i) => Value::from(i),
            ValueRef::Pair(a, b) => Value::Array(vec![Value::from(a), Value::from(b)]),
            ValueRef::Str(s) => Value::String(s.to_string()),
            ValueRef::Json(value) => value.clone(),
        }
    }

    /// The two items of a two-item array.
    #[inline(always)]
    pub(crate) fn pair(self) -> Option<(ValueRef<'h>, ValueRef<'h>)> {
        match self {
            ValueRef::Pair(a, b) => Some((ValueRef::int(a.into()), ValueRef::int(b.into()))),
            ValueRef::Json(Value::Array(items)) => match items.as_slice() {
                [a, b] => Some((ValueRef::of(a), ValueRef::of(b))),
                _ => None,
            },
            _ => None,
        }
    }

    /// The items of an array, `None` for anything else.
    pub(crate) fn items(self) -> Option<Vec<Value>> {
        match self {
            ValueRef::Pair(a, b) => Some(vec![Value::from(a), Value::from(b)]),
            ValueRef::Json(Value::Array(items)) => Some(items.clone()),
            _ => None,
        }
    }

    /// The value's interning key, as [`ValueKey::of`] gives it.
    #[inline]
    pub(crate) fn key(self) -> ValueKey {
        match self {
            ValueRef::Null => ValueKey::Null,
            ValueRef::Int(u) => ValueKey::Int(u),
            ValueRef::Neg(i) => ValueKey::Neg(i),
            ValueRef::Json(value) => ValueKey::of(value),
            other => ValueKey::of(&other.to_value()),
        }
    }
}

/// A JSON number that is an integer within `i32`.
fn small(value: &Value) -> Option<i32> {
    value.as_i64().and_then(|n| i32::try_from(n).ok())
}

impl std::fmt::Display for ValueRef<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.to_value().fmt(f)
    }
}

/// One client operation, borrowed from the events that recorded it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct OpRef<'h> {
    pub(crate) invoke_index: u64,
    pub(crate) complete_index: Option<u64>,
    pub(crate) process: u64,
    pub(crate) f: &'h str,
    pub(crate) key: Option<&'h str>,
    /// The invocation's value (the argument).
    pub(crate) value: ValueRef<'h>,
    pub(crate) outcome: OutcomeRef<'h>,
    pub(crate) invoke_time: Option<u64>,
    pub(crate) complete_time: Option<u64>,
}

/// [`Outcome`], borrowed.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum OutcomeRef<'h> {
    Ok(ValueRef<'h>),
    Fail,
    Info,
}

/// The history's client operations in invocation order, paired exactly as
/// [`History::operations`] pairs them.
pub(crate) fn op_refs(history: &History) -> Vec<OpRef<'_>> {
    let mut ops: Vec<OpRef<'_>> = Vec::with_capacity(history.len() / 2 + 1);
    let mut open: FxHashMap<u64, usize> = FxHashMap::default();
    for event in history.events() {
        let Process::Client(p) = event.process else { continue };
        match event.kind {
            EventType::Invoke => {
                open.insert(p, ops.len());
                ops.push(OpRef {
                    invoke_index: event.index,
                    complete_index: None,
                    process: p,
                    f: &event.f,
                    key: event.key.as_deref(),
                    value: ValueRef::of(&event.value),
                    outcome: OutcomeRef::Info,
                    invoke_time: event.time,
                    complete_time: None,
                });
            }
            kind => {
                let Some(at) = open.remove(&p) else { continue };
                let op = &mut ops[at];
                op.complete_index = Some(event.index);
                op.complete_time = event.time;
                op.outcome = match kind {
                    EventType::Ok => OutcomeRef::Ok(ValueRef::of(&event.value)),
                    EventType::Fail => OutcomeRef::Fail,
                    _ => OutcomeRef::Info,
                };
            }
        }
    }
    ops
}

impl<'h> OpRef<'h> {
    /// A borrowed view of an owned operation (tests build operations by hand).
    #[cfg(test)]
    pub(crate) fn of(op: &'h Operation) -> Self {
        OpRef {
            invoke_index: op.invoke_index,
            complete_index: op.complete_index,
            process: op.process,
            f: &op.f,
            key: op.key.as_deref(),
            value: ValueRef::of(&op.value),
            outcome: match &op.outcome {
                Outcome::Ok(value) => OutcomeRef::Ok(ValueRef::of(value)),
                Outcome::Fail => OutcomeRef::Fail,
                Outcome::Info => OutcomeRef::Info,
            },
            invoke_time: op.invoke_time,
            complete_time: op.complete_time,
        }
    }

    /// The owned operation.
    pub(crate) fn to_operation(self) -> Operation {
        Operation {
            invoke_index: self.invoke_index,
            complete_index: self.complete_index,
            process: self.process,
            f: self.f.to_string(),
            key: self.key.map(str::to_string),
            value: self.value.to_value(),
            outcome: match self.outcome {
                OutcomeRef::Ok(value) => Outcome::Ok(value.to_value()),
                OutcomeRef::Fail => Outcome::Fail,
                OutcomeRef::Info => Outcome::Info,
            },
            invoke_time: self.invoke_time,
            complete_time: self.complete_time,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::history::Event;
    use serde_json::json;

    #[test]
    fn pairs_exactly_as_the_history_does() {
        let lines = [
            r#"{"index":0,"process":1,"type":"invoke","f":"write","key":"a","value":1,"time":5}"#,
            r#"{"index":1,"process":2,"type":"invoke","f":"read","key":"a","value":null}"#,
            r#"{"index":2,"process":"nemesis","type":"info","f":"kill","value":null}"#,
            r#"{"index":3,"process":1,"type":"ok","f":"write","key":"a","value":1,"time":9}"#,
            r#"{"index":4,"process":2,"type":"fail","f":"read","key":"a","value":null}"#,
            r#"{"index":5,"process":3,"type":"invoke","f":"read","value":null}"#,
            r#"{"index":6,"process":3,"type":"ok","f":"read","value":[1,2]}"#,
            r#"{"index":7,"process":1,"type":"invoke","f":"write","key":"b","value":2}"#,
            r#"{"index":8,"process":1,"type":"info","f":"write","key":"b","value":2}"#,
            r#"{"index":9,"process":4,"type":"invoke","f":"write","value":3}"#,
        ];
        let events: Vec<Event> = lines.iter().map(|l| serde_json::from_str(l).unwrap()).collect();
        let history = History::from_events(events).unwrap();
        let owned = history.operations();
        let borrowed = op_refs(&history);
        assert_eq!(borrowed.len(), owned.len());
        for (b, o) in borrowed.iter().zip(&owned) {
            assert_eq!(&b.to_operation(), o);
            assert_eq!(OpRef::of(o).to_operation(), *o);
        }
        assert_eq!((borrowed[4].outcome, borrowed[4].complete_index), (OutcomeRef::Info, None), "still open");
        assert_eq!(borrowed[2].outcome, OutcomeRef::Ok(ValueRef::Pair(1, 2)));
        let odd =
            [json!(null), json!(7), json!(-7), json!([1, -2]), json!("s"), json!(1.5), json!([1, 2, 3])];
        for value in odd {
            assert_eq!(ValueRef::of(&value).to_value(), value, "{value}");
            assert_eq!(ValueRef::of(&value).key(), ValueKey::of(&value), "{value}");
        }
        assert_eq!(
            ValueRef::of(&json!([1, 5_000_000_000u64])),
            ValueRef::Json(&json!([1, 5_000_000_000u64]))
        );
    }
}
