//! The history: what a run recorded, one event per operation boundary.
//!
//! This is the edge representation, shared by every recorder (the harness, the simulator,
//! importers of Jepsen and Porcupine files). Values stay JSON here; a model parses them into
//! its own typed operations when a check starts, so a history can be loaded and validated
//! without knowing which model will judge it.
//!
//! Semantics follow Jepsen: an `invoke` opens an operation on a process; `ok` says it took
//! effect, `fail` says it definitely did not, `info` says it may have (the operation stays
//! pending to the end of the history and the process is never used again).
//!
//! The native file format is JSON Lines, one [`Event`] per line, in the order things
//! happened (a process's completion after its invocation):
//!
//! ```text
//! {"index":0,"time":1200,"process":3,"type":"invoke","f":"write","key":"k1","value":5}
//! {"index":1,"time":1900,"process":4,"type":"invoke","f":"read","key":"k1","value":null}
//! {"index":2,"time":5300,"process":3,"type":"ok","f":"write","key":"k1","value":5}
//! {"index":3,"time":6000,"process":"nemesis","type":"info","f":"start-partition","value":{"grudge":{"1":[2]}}}
//! {"index":4,"time":7100,"process":4,"type":"info","f":"read","key":"k1","value":null,"error":"timeout"}
//! {"index":5,"time":7300,"process":5,"type":"invoke","f":"cas","key":"k1","value":[5,6]}
//! {"index":6,"time":8000,"process":5,"type":"fail","f":"cas","key":"k1","value":[5,6],"error":"precondition"}
//! ```
//!
//! | field | required | meaning |
//! |---|---|---|
//! | `process` | yes | a client process (non-negative integer) or `"nemesis"` |
//! | `type` | yes | `invoke`, `ok`, `fail` or `info` |
//! | `f` | yes | the operation: `read`, `write`, `cas`, `get`, `put`, `append`, `add`, `acquire`, ... |
//! | `value` | no (`null`) | the argument on `invoke`, the result on `ok` (what a read saw) |
//! | `key` | no | the independent object the op acts on; checks split per key |
//! | `index` | no | position; reassigned densely in file order when loaded |
//! | `time` | no | nanoseconds since the run started; informative, never used for order |
//! | `error` | no | why a `fail` or `info` happened |
//! | `node` | no | the node the client talked to |
//!
//! Loading ([`crate::format`]) validates with [`History::from_events`]: at most one op in
//! flight per process, every completion after an invocation of the same `f` (and `key`)
//! on its process, and no event of a process after its `info`. Other fields are ignored,
//! so recorders may add their own.

use serde::{Deserialize, Serialize};

/// How an event relates to its operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EventType {
    /// The operation started.
    Invoke,
    /// The operation completed and took effect.
    Ok,
    /// The operation completed and definitely did not take effect.
    Fail,
    /// The outcome is unknown: it may or may not have taken effect, at any time after invoke.
    Info,
}

impl EventType {
    /// The name in a history file: `invoke`, `ok`, `fail`, `info`.
    pub fn as_str(self) -> &'static str {
        match self {
            EventType::Invoke => "invoke",
            EventType::Ok => "ok",
            EventType::Fail => "fail",
            EventType::Info => "info",
        }
    }
}

/// Who performed an event: a client process (a logical thread of one op at a time) or the
/// nemesis, whose events record faults and never take part in consistency checks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Process {
    Client(u64),
    Nemesis,
}

impl Serialize for Process {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Process::Client(n) => s.serialize_u64(*n),
            Process::Nemesis => s.serialize_str("nemesis"),
        }
    }
}

impl<'de> Deserialize<'de> for Process {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(ProcessVisitor)
    }
}

/// Accepts a non-negative integer, `"nemesis"`, or an integer written as a string.
struct ProcessVisitor;

impl serde::de::Visitor<'_> for ProcessVisitor {
    type Value = Process;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a non-negative integer or \"nemesis\"")
    }

    fn visit_u64<E: serde::de::Error>(self, n: u64) -> Result<Process, E> {
        Ok(Process::Client(n))
    }

    fn visit_i64<E: serde::de::Error>(self, n: i64) -> Result<Process, E> {
        u64::try_from(n)
            .map(Process::Client)
            .map_err(|_| E::custom(format!("process must be a non-negative integer, got {n}")))
    }

    fn visit_str<E: serde::de::Error>(self, t: &str) -> Result<Process, E> {
        if t == "nemesis" {
            return Ok(Process::Nemesis);
        }
        t.parse::<u64>().map(Process::Client).map_err(|_| {
            E::custom(format!("process must be a non-negative integer or \"nemesis\", got {t:?}"))
        })
    }
}

impl std::fmt::Display for Process {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Process::Client(n) => write!(f, "{n}"),
            Process::Nemesis => f.write_str("nemesis"),
        }
    }
}

/// One line of a history.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Event {
    /// Position in the history, dense from 0. Loaders reassign it in file order, so a file
    /// may omit it.
    #[serde(default)]
    pub index: u64,
    /// Nanoseconds since the start of the run, where the recorder knew it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time: Option<u64>,
    pub process: Process,
    #[serde(rename = "type")]
    pub kind: EventType,
    /// The operation's function: `read`, `write`, `cas`, `add`, `get`, `put`, `append`,
    /// `acquire`, `release`, `transfer`, or a nemesis action.
    pub f: String,
    /// The object the operation acts on, for models that split per key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    /// The argument on `invoke`; the result on `ok` (a read's value); `null` when unknown.
    #[serde(default)]
    pub value: serde_json::Value,
    /// Why a `fail` or `info` happened, as the recorder described it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Recorder-specific details that checkers ignore (the node a client talked to, ...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node: Option<String>,
}

/// A history that passed validation: dense indices, at most one operation in flight per
/// process, every completion matching the invocation before it on the same process (same
/// `f` and `key`), no event after a process's `info`. Nemesis events are kept but belong to
/// no operation.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct History {
    events: Vec<Event>,
}

/// Why a history was refused. `event` is the 0-based position of the offending event in
/// the input, `related` the earlier event it conflicts with (the open invocation, the
/// retiring `info`); the loader turns both into file lines.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HistoryError {
    pub event: usize,
    pub message: String,
    pub related: Option<usize>,
}

impl std::fmt::Display for HistoryError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "event {}: {}", self.event, self.message)?;
        match self.related {
            Some(related) => write!(f, " (see event {related})"),
            None => Ok(()),
        }
    }
}

impl std::error::Error for HistoryError {}

/// How an operation ended.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// It took effect; the value is the completion's (a read's result).
    Ok(serde_json::Value),
    /// It definitely did not take effect.
    Fail,
    /// Unknown: it may have taken effect at any time after its invocation. Also the outcome
    /// of an operation still open when the history ends.
    Info,
}

/// One operation: an invocation paired with its completion.
#[derive(Debug, Clone, PartialEq)]
pub struct Operation {
    /// Position of the invocation in the history (its `index`).
    pub invoke_index: u64,
    /// Position of the completion; `None` if the history ended first.
    pub complete_index: Option<u64>,
    pub process: u64,
    pub f: String,
    pub key: Option<String>,
    /// The invocation's value (the argument).
    pub value: serde_json::Value,
    pub outcome: Outcome,
    pub invoke_time: Option<u64>,
    pub complete_time: Option<u64>,
}

impl History {
    /// Validate events and build a history. Indices are reassigned densely in input order.
    ///
    /// Refused: an invocation while the process has one in flight, a completion with no
    /// invocation open on its process, a completion whose `f` (or `key`, when it names one)
    /// differs from its invocation's, and any event of a process after its `info` (Jepsen
    /// retires a process whose op is indeterminate; its successor gets a new number).
    pub fn from_events(mut events: Vec<Event>) -> Result<History, HistoryError> {
        use std::collections::HashMap;
        // process -> position of its open invocation
        let mut open: HashMap<u64, usize> = HashMap::new();
        // process -> position of the info that retired it
        let mut retired: HashMap<u64, usize> = HashMap::new();
        for i in 0..events.len() {
            events[i].index = i as u64;
            let event = &events[i];
            let Process::Client(p) = event.process else { continue };
            let err =
                |message: String, related: usize| HistoryError { event: i, message, related: Some(related) };
            if let Some(&at) = retired.get(&p) {
                return Err(err(
                    format!("process {p} has an event after its info (a crashed process is never reused)"),
                    at,
                ));
            }
            if event.kind == EventType::Invoke {
                if let Some(&at) = open.get(&p) {
                    return Err(err(
                        format!("process {p} invokes while an earlier op is still in flight"),
                        at,
                    ));
                }
                open.insert(p, i);
                continue;
            }
            let Some(at) = open.remove(&p) else {
                return Err(HistoryError {
                    event: i,
                    message: format!("process {p} completes an op ({}) it never invoked", event.f),
                    related: None,
                });
            };
            let invoke = &events[at];
            if invoke.f != event.f || (event.key.is_some() && invoke.key != event.key) {
                let describe = |e: &Event| match &e.key {
                    Some(key) => format!("{} on key {key:?}", e.f),
                    None => e.f.clone(),
                };
                return Err(err(
                    format!("process {p} completes {} but invoked {}", describe(event), describe(invoke)),
                    at,
                ));
            }
            if event.kind == EventType::Info {
                retired.insert(p, i);
            }
        }
        Ok(History { events })
    }

    pub fn events(&self) -> &[Event] {
        &self.events
    }

    pub fn into_events(self) -> Vec<Event> {
        self.events
    }

    pub fn len(&self) -> usize {
        self.events.len()
    }

    pub fn is_empty(&self) -> bool {
        self.events.is_empty()
    }

    /// Client operations in invocation order, each paired with its completion. An
    /// operation still open at the end is `Info` (it may have happened).
    pub fn operations(&self) -> Vec<Operation> {
        use std::collections::HashMap;
        let mut ops: Vec<Operation> = Vec::new();
        let mut open: HashMap<u64, usize> = HashMap::new();
        for event in &self.events {
            let Process::Client(p) = event.process else { continue };
            match event.kind {
                EventType::Invoke => {
                    open.insert(p, ops.len());
                    ops.push(Operation {
                        invoke_index: event.index,
                        complete_index: None,
                        process: p,
                        f: event.f.clone(),
                        key: event.key.clone(),
                        value: event.value.clone(),
                        outcome: Outcome::Info,
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
                        EventType::Ok => Outcome::Ok(event.value.clone()),
                        EventType::Fail => Outcome::Fail,
                        _ => Outcome::Info,
                    };
                }
            }
        }
        ops
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(process: Process, kind: EventType, f: &str, key: Option<&str>) -> Event {
        Event {
            index: 99,
            time: None,
            process,
            kind,
            f: f.into(),
            key: key.map(String::from),
            value: serde_json::Value::Null,
            error: None,
            node: None,
        }
    }

    use EventType::*;
    const P0: Process = Process::Client(0);

    #[test]
    fn a_valid_history_gets_dense_indices_and_paired_operations() {
        let events = vec![
            ev(P0, Invoke, "write", None),
            ev(Process::Nemesis, Info, "kill", None),
            ev(P0, Ok, "write", None),
            ev(P0, Invoke, "read", None),
            ev(P0, Info, "read", None),
            ev(Process::Client(1), Invoke, "read", None),
        ];
        let history = History::from_events(events).unwrap();
        assert!(history.events().iter().enumerate().all(|(i, e)| e.index == i as u64));
        let ops = history.operations();
        assert_eq!(ops.len(), 3);
        assert_eq!(
            (ops[0].complete_index, &ops[0].outcome),
            (Some(2), &Outcome::Ok(serde_json::Value::Null))
        );
        assert_eq!(ops[1].outcome, Outcome::Info);
        assert_eq!((ops[2].complete_index, &ops[2].outcome), (None, &Outcome::Info), "open at the end");
    }

    #[test]
    fn each_rule_names_the_event_and_the_one_it_conflicts_with() {
        let refused = |events: Vec<Event>| History::from_events(events).unwrap_err();
        let e = refused(vec![ev(P0, Invoke, "read", None), ev(P0, Invoke, "read", None)]);
        assert_eq!((e.event, e.related), (1, Some(0)));
        assert!(e.message.contains("still in flight"));
        let e = refused(vec![ev(P0, Ok, "read", None)]);
        assert_eq!((e.event, e.related), (0, None));
        assert!(e.message.contains("never invoked"));
        let e = refused(vec![ev(P0, Invoke, "read", Some("a")), ev(P0, Ok, "read", Some("b"))]);
        assert_eq!(e.message, "process 0 completes read on key \"b\" but invoked read on key \"a\"");
        let e = refused(vec![ev(P0, Invoke, "read", None), ev(P0, Fail, "write", None)]);
        assert_eq!(e.to_string(), "event 1: process 0 completes write but invoked read (see event 0)");
        let e = refused(vec![
            ev(P0, Invoke, "read", None),
            ev(P0, Info, "read", None),
            ev(P0, Invoke, "read", None),
        ]);
        assert_eq!((e.event, e.related), (2, Some(1)));
        assert!(e.message.contains("after its info"));
    }

    #[test]
    fn process_numbers_and_the_nemesis_read_from_json() {
        let p: Process = serde_json::from_str("\"nemesis\"").unwrap();
        assert_eq!(p, Process::Nemesis);
        assert_eq!(serde_json::from_str::<Process>("7").unwrap(), Process::Client(7));
        assert_eq!(serde_json::from_str::<Process>("\"7\"").unwrap(), Process::Client(7));
        let e = serde_json::from_str::<Process>("-1").unwrap_err().to_string();
        assert!(e.contains("non-negative"), "{e}");
        assert!(serde_json::from_str::<Process>("\"bob\"").is_err());
        let event: Event = serde_json::from_str(r#"{"process":1,"type":"ok","f":"read"}"#).unwrap();
        assert_eq!(event.index, 0, "index may be omitted");
    }
}
