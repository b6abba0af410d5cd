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
//! The native file format is JSON Lines, one [`Event`] per line:
//!
//! ```text
//! {"index":0,"time":1200,"process":3,"type":"invoke","f":"write","key":"k1","value":5}
//! {"index":1,"time":5300,"process":3,"type":"ok","f":"write","key":"k1","value":5}
//! {"index":2,"time":6000,"process":"nemesis","type":"info","f":"start-partition","value":{"grudge":{"1":[2]}}}
//! ```

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
/// the input; the loader adds the file and line.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("event {event}: {message}")]
pub struct HistoryError {
    pub event: usize,
    pub message: String,
}

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
    pub fn from_events(mut events: Vec<Event>) -> Result<History, HistoryError> {
        use std::collections::HashMap;
        // process -> (event position of the open invoke, or None when idle / retired)
        let mut open: HashMap<u64, usize> = HashMap::new();
        let mut retired: std::collections::HashSet<u64> = std::collections::HashSet::new();
        for (i, event) in events.iter_mut().enumerate() {
            event.index = i as u64;
            let Process::Client(p) = event.process else { continue };
            let err = |message: String| HistoryError { event: i, message };
            if retired.contains(&p) {
                return Err(err(format!(
                    "process {p} has an event after its info (a crashed process is never reused)"
                )));
            }
            match event.kind {
                EventType::Invoke => {
                    if let Some(&at) = open.get(&p) {
                        return Err(err(format!(
                            "process {p} invokes while its op from event {at} is still in flight"
                        )));
                    }
                    open.insert(p, i);
                }
                _ => {
                    let Some(at) = open.remove(&p) else {
                        return Err(err(format!(
                            "process {p} completes an op ({}) it never invoked",
                            event.f
                        )));
                    };
                    if event.kind == EventType::Info {
                        retired.insert(p);
                    }
                    let _ = at;
                }
            }
        }
        // Second pass: completions must match their invocation's f and key.
        let mut pending: HashMap<u64, usize> = HashMap::new();
        for (i, event) in events.iter().enumerate() {
            let Process::Client(p) = event.process else { continue };
            if event.kind == EventType::Invoke {
                pending.insert(p, i);
            } else if let Some(at) = pending.remove(&p) {
                let inv = &events[at];
                if inv.f != event.f || (event.key.is_some() && inv.key != event.key) {
                    return Err(HistoryError {
                        event: i,
                        message: format!(
                            "process {p} completes {} {:?} but invoked {} {:?} at event {at}",
                            event.f, event.key, inv.f, inv.key
                        ),
                    });
                }
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
