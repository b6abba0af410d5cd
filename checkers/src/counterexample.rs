//! What a person needs to see when a history is not linearizable.
//!
//! The search finds the longest prefix of ops it could put in a sequential order and the op
//! that then could not take effect before it returned. Shown together with the model
//! state after each op of that prefix and the ops running at the same time as the failing
//! one, this is usually enough to see the bug: "after write 2 the register holds 2; read 1
//! returned 1, and nothing concurrent with it could have written 1".

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::history::{EventType, Operation, Outcome};

/// How many ops of the prefix, and of the concurrent ones, are kept.
pub(crate) const PREFIX_SHOWN: usize = 20;
const CONCURRENT_SHOWN: usize = 20;

/// One operation as a person reads it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OpSummary {
    /// Index of the invocation event in the history.
    pub invoke_index: u64,
    /// Index of the completion event; absent when the op never completed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub complete_index: Option<u64>,
    pub process: u64,
    pub f: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    /// The invocation's argument.
    pub value: Value,
    /// `ok`, `info` or `fail` (never `invoke`).
    pub outcome: EventType,
    /// What an `ok` op returned (`null` included: a read of nothing is a result).
    #[serde(default, skip_serializing_if = "Option::is_none", deserialize_with = "present")]
    pub result: Option<Value>,
}

/// A field that is present is `Some`, even when it is `null`; an absent one is `None`.
fn present<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Value>, D::Error> {
    Value::deserialize(d).map(Some)
}

impl OpSummary {
    pub(crate) fn of(op: &Operation) -> Self {
        let (outcome, result) = match &op.outcome {
            Outcome::Ok(v) => (EventType::Ok, Some(v.clone())),
            Outcome::Fail => (EventType::Fail, None),
            Outcome::Info => (EventType::Info, None),
        };
        OpSummary {
            invoke_index: op.invoke_index,
            complete_index: op.complete_index,
            process: op.process,
            f: op.f.clone(),
            key: op.key.clone(),
            value: op.value.clone(),
            outcome,
            result,
        }
    }

    /// `p3 read -> 2 [events 10..14]`, or `p3 write 5 [events 10..]` for an unknown outcome.
    pub fn render(&self) -> String {
        let key = self.key.as_ref().map(|k| format!(" {k:?}")).unwrap_or_default();
        let what = match (&self.result, self.value.is_null()) {
            (Some(result), true) => format!("{}{key} -> {result}", self.f),
            (Some(result), false) if *result != self.value => {
                format!("{}{key} {} -> {result}", self.f, self.value)
            }
            (_, true) => format!("{}{key}", self.f),
            (_, false) => format!("{}{key} {}", self.f, self.value),
        };
        let end = self.complete_index.map(|c| c.to_string()).unwrap_or_default();
        let outcome = match self.outcome {
            EventType::Ok => String::new(),
            other => format!(" ({})", other.as_str()),
        };
        format!("p{} {what}{outcome} [events {}..{end}]", self.process, self.invoke_index)
    }
}

/// One step of the longest linearizable prefix: the op and the state it left.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PrefixStep {
    pub op: OpSummary,
    pub state_after: Value,
}

/// Why a history is not linearizable, for one object.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Counterexample {
    /// The key (independent object) this happened on, when the history is split per key.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    /// The op that could not be linearized after the longest prefix.
    pub failing_op: OpSummary,
    /// How many ops the longest linearizable prefix holds.
    pub linearized: usize,
    /// The model state before any op.
    pub initial_state: Value,
    /// The last steps of that prefix (at most 20), in linearization order.
    pub prefix: Vec<PrefixStep>,
    /// The state the prefix leaves, in which the failing op cannot take effect.
    pub final_state: Value,
    /// Ops whose interval overlaps the failing op's and that the prefix did not
    /// linearize (at most 20): the only other orders the search could try.
    pub concurrent: Vec<OpSummary>,
}

impl Counterexample {
    /// A few lines for the terminal.
    pub fn render_text(&self) -> String {
        let mut out = String::new();
        let key = self.key.as_ref().map(|k| format!(" on key {k:?}")).unwrap_or_default();
        out.push_str(&format!("  cannot linearize{key}: {}\n", self.failing_op.render()));
        out.push_str(&format!(
            "  longest linearizable prefix: {} ops, from initial state {}\n",
            self.linearized, self.initial_state
        ));
        if self.prefix.len() < self.linearized {
            out.push_str(&format!("    ... {} earlier ops\n", self.linearized - self.prefix.len()));
        }
        for step in &self.prefix {
            out.push_str(&format!("    {}  => {}\n", step.op.render(), step.state_after));
        }
        out.push_str(&format!(
            "  in state {} the op above cannot take effect, and no order of the ops concurrent with it helps\n",
            self.final_state
        ));
        if self.concurrent.is_empty() {
            out.push_str("  concurrent ops: none\n");
        } else {
            out.push_str("  concurrent ops not in the prefix:\n");
            for op in &self.concurrent {
                out.push_str(&format!("    {}\n", op.render()));
            }
        }
        out
    }
}

/// Builds the counterexample from one partition's search result: `prefix` and `failing`
/// index `partition_ops`; `shown_states` are the states after the last
/// [`PREFIX_SHOWN`] ops of the prefix (or all of them, if fewer).
pub(crate) fn build(
    key: Option<String>,
    prefix: &[u32],
    failing: u32,
    initial_state: Value,
    shown_states: Vec<Value>,
    final_state: Value,
    partition_ops: &[&Operation],
) -> Counterexample {
    let failing_op = partition_ops[failing as usize];
    let in_prefix: std::collections::HashSet<u32> = prefix.iter().copied().collect();
    let end = failing_op.complete_index.unwrap_or(u64::MAX);
    let concurrent = partition_ops
        .iter()
        .enumerate()
        .filter(|&(i, op)| {
            i as u32 != failing
                && !in_prefix.contains(&(i as u32))
                && op.invoke_index < end
                && op.complete_index.is_none_or(|c| c > failing_op.invoke_index)
        })
        .take(CONCURRENT_SHOWN)
        .map(|(_, op)| OpSummary::of(op))
        .collect();
    let skip = prefix.len().saturating_sub(PREFIX_SHOWN);
    let steps = prefix[skip..]
        .iter()
        .zip(shown_states)
        .map(|(&op, state_after)| PrefixStep { op: OpSummary::of(partition_ops[op as usize]), state_after })
        .collect();
    Counterexample {
        key,
        failing_op: OpSummary::of(failing_op),
        linearized: prefix.len(),
        initial_state,
        prefix: steps,
        final_state,
        concurrent,
    }
}
