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

/// One client operation, borrowed from the events that recorded it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct OpRef<'h> {
    pub(crate) invoke_index: u64,
    pub(crate) complete_index: Option<u64>,
    pub(crate) process: u64,
    pub(crate) f: &'h str,
    pub(crate) key: Option<&'h str>,
    /// The invocation's value (the argument).
    pub(crate) value: &'h Value,
    pub(crate) outcome: OutcomeRef<'h>,
    pub(crate) invoke_time: Option<u64>,
    pub(crate) complete_time: Option<u64>,
}

/// [`Outcome`], borrowed.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum OutcomeRef<'h> {
    Ok(&'h Value),
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
                    value: &event.value,
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
                    EventType::Ok => OutcomeRef::Ok(&event.value),
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
            value: &op.value,
            outcome: match &op.outcome {
                Outcome::Ok(value) => OutcomeRef::Ok(value),
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
            value: self.value.clone(),
            outcome: match self.outcome {
                OutcomeRef::Ok(value) => Outcome::Ok(value.clone()),
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
        assert_eq!(borrowed[2].outcome, OutcomeRef::Ok(&json!([1, 2])));
    }
}
