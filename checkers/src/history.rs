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
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Number(u64),
            Text(String),
        }
        match Raw::deserialize(d)? {
            Raw::Number(n) => Ok(Process::Client(n)),
            Raw::Text(t) if t == "nemesis" => Ok(Process::Nemesis),
            Raw::Text(t) => t.parse::<u64>().map(Process::Client).map_err(|_| {
                serde::de::Error::custom(format!(
                    "process must be a non-negative integer or \"nemesis\", got {t:?}"
                ))
            }),
        }
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
    /// Position in the history, dense from 0. Importers assign it.
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
