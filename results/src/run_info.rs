//! The two summary files of a run: `run.json` (what was asked) and `results.json` (what
//! was found).
//!
//! `run.json`'s top-level `model` names the checker model of the history, so that
//! `faultline check <run dir>` can re-check a stored run without being told how. The spec is
//! kept as JSON: it belongs to the harness, and the store only carries it.

use std::collections::BTreeMap;

use checkers::Verdict;
use serde::{Deserialize, Serialize};

/// `run.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunInfo {
    /// The checker model for `history.jsonl`: `cas-register`, `set`, `bank`.
    pub model: String,
    /// The test's name, also the directory under the store root.
    pub test: String,
    /// The seed every random choice of the run derives from.
    pub seed: u64,
    /// The command line that reproduces the run, one argument per entry.
    pub command: Vec<String>,
    /// Versions of the parts that ran, by name (`faultline`, ...).
    pub versions: BTreeMap<String, String>,
    /// The test's parameters as the harness understood them.
    pub spec: serde_json::Value,
    /// UTC start time, RFC 3339.
    pub started: String,
}

/// One checker's conclusion in `results.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CheckResult {
    pub verdict: Verdict,
    /// One line a person reads first.
    pub summary: String,
    /// The checker's own findings (counterexample, lost elements, quantiles, ...).
    #[serde(default)]
    pub details: serde_json::Value,
}

/// `results.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunResults {
    /// All checks merged worst-first, after the vacuity rules (no fault, nothing acknowledged).
    pub valid: Verdict,
    /// Why the run is not valid, where it is not; empty when valid.
    pub reasons: Vec<String>,
    /// Per checker, by name.
    pub checks: BTreeMap<String, CheckResult>,
    /// The command that reproduces the run.
    pub reproduce: String,
}
