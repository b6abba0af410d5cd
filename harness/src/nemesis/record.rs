//! What the nemesis did, as the history records it.
//!
//! Each executed step becomes one `info` event of the nemesis process (Jepsen's
//! convention: a fault neither succeeds nor fails as a client operation does). Whether the
//! fault *took effect* is part of the value, so a run whose faults never happened (the
//! leader was not found, the node was already dead) can say so instead of passing as a run
//! under faults.

use checkers::history::{Event, EventType, Process};
use serde_json::Value;

/// One executed step or heal.
#[derive(Debug, Clone, PartialEq)]
pub struct Record {
    /// `start-partition`, `stop-kill`, `heal`, ...
    pub f: String,
    /// What was targeted and what happened: the grudge, the nodes, the link faults.
    pub value: Value,
    pub took_effect: bool,
    /// Why it did not fully take effect, for people.
    pub error: Option<String>,
}

impl Record {
    /// A step that did not take effect, and why.
    pub fn not_taken(f: String, value: Value, error: impl Into<String>) -> Record {
        Record { f, value, took_effect: false, error: Some(error.into()) }
    }

    /// The history event, `time_ns` after the run began. The value gains `took_effect`.
    /// The index is 0: the recorder assigns indices.
    pub fn to_event(&self, time_ns: u64) -> Event {
        let mut value = self.value.clone();
        match &mut value {
            Value::Object(map) => {
                map.insert("took_effect".into(), Value::Bool(self.took_effect));
            }
            other => {
                *other = serde_json::json!({ "value": other.take(), "took_effect": self.took_effect });
            }
        }
        Event {
            index: 0,
            time: Some(time_ns),
            process: Process::Nemesis,
            kind: EventType::Info,
            f: self.f.clone(),
            key: None,
            value,
            error: self.error.clone(),
            node: None,
        }
    }
}
