//! What a check returns: the verdict, why, and the evidence.

use serde::{Deserialize, Serialize};

use crate::counterexample::Counterexample;
use crate::lost_writes::LostWrites;
use crate::options::ModelKind;
use crate::verdict::Verdict;

/// The result of [`check`](crate::check).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CheckReport {
    pub model: ModelKind,
    pub verdict: Verdict,
    /// One line: why this verdict.
    pub reason: String,
    /// For an invalid history: the op that cannot be linearized and its context.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub counterexample: Option<Counterexample>,
    /// For the set model: the lost-write analysis.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lost_writes: Option<LostWrites>,
    pub stats: CheckStats,
}

/// How much was checked.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct CheckStats {
    /// Operations the search considered (failed ops and unknown reads are dropped first).
    pub ops: u64,
    /// Independent objects (keys) checked.
    pub partitions: u64,
    /// Partitions whose search finished.
    pub partitions_checked: u64,
    /// Distinct (linearized set, state) configurations explored.
    pub states_explored: u64,
    /// Wall time of the whole check, from its call to its return.
    pub elapsed_ms: f64,
}

impl CheckReport {
    /// A few lines for the terminal: the verdict and reason, then the evidence.
    pub fn render_text(&self) -> String {
        let mut out = format!("{} ({}): {}\n", self.verdict, self.model, self.reason);
        if let Some(counterexample) = &self.counterexample {
            out.push_str(&counterexample.render_text());
        }
        if let Some(lost) = &self.lost_writes {
            out.push_str(&lost.render_text());
        }
        let s = &self.stats;
        out.push_str(&format!(
            "  checked {} ops in {} of {} partitions, {} states explored, {:.1} ms\n",
            s.ops, s.partitions_checked, s.partitions, s.states_explored, s.elapsed_ms
        ));
        out
    }
}

/// The history cannot be judged by this model: a value of the wrong shape, an operation
/// the model does not have. `event` is the index of the offending invocation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckError {
    pub event: Option<u64>,
    pub message: String,
}

impl std::fmt::Display for CheckError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.event {
            Some(event) => write!(f, "event {event}: {}", self.message),
            None => f.write_str(&self.message),
        }
    }
}

impl std::error::Error for CheckError {}
