//! The two summary files of a run: `run.json` (what was asked) and `results.json` (what
//! was found).
//!
//! `run.json`'s top-level `model` names the checker model of the history, so that
//! `faultline check <run dir>` can re-check a stored run without being told how. The spec is
//! kept as JSON: it belongs to the harness, and the store only carries it.

use std::collections::BTreeMap;

use checkers::stats::StatsReport;
use checkers::{CheckDetails, CheckName, Verdict};
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
    /// The checker's own findings (counterexample, lost elements, quantiles, ...), tagged
    /// with the check's name; `null` when the checker gave none (it failed, or the history
    /// did not fit its model).
    #[serde(default)]
    pub details: Option<CheckDetails>,
}

/// `results.json`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RunResults {
    /// All checks merged worst-first, after the vacuity rules (no fault, nothing acknowledged).
    pub valid: Verdict,
    /// Why the run is not valid, where it is not; empty when valid.
    pub reasons: Vec<String>,
    /// Per checker, by name.
    pub checks: BTreeMap<CheckName, CheckResult>,
    /// The command that reproduces the run.
    pub reproduce: String,
    /// Details this reader could not type (a file written by hand or by another version),
    /// one line each; they read as `null`. Never written.
    #[serde(skip)]
    pub unreadable: Vec<String>,
}

impl RunResults {
    pub fn new(
        valid: Verdict,
        reasons: Vec<String>,
        checks: BTreeMap<CheckName, CheckResult>,
        reproduce: String,
    ) -> RunResults {
        RunResults { valid, reasons, checks, reproduce, unreadable: Vec::new() }
    }

    /// One check's result, if it ran.
    pub fn check(&self, name: CheckName) -> Option<&CheckResult> {
        self.checks.get(&name)
    }

    /// One check's typed details, if it ran and gave some.
    pub fn details(&self, name: CheckName) -> Option<&CheckDetails> {
        self.check(name)?.details.as_ref()
    }

    /// The stats check's report.
    pub fn stats(&self) -> Option<&StatsReport> {
        self.details(CheckName::Stats)?.stats()
    }
}

/// `results.json` as it may be found: details with or without their `"check"` tag (files
/// written before the tag existed name the check only by their key), or not of their
/// check's shape at all. A file that read before still reads; what cannot be typed is
/// noted in [`RunResults::unreadable`] instead of failing the whole file.
impl<'de> Deserialize<'de> for RunResults {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        struct Stored {
            valid: Verdict,
            reasons: Vec<String>,
            checks: BTreeMap<CheckName, StoredCheck>,
            reproduce: String,
        }
        #[derive(Deserialize)]
        struct StoredCheck {
            verdict: Verdict,
            summary: String,
            #[serde(default)]
            details: serde_json::Value,
        }
        let stored = Stored::deserialize(d)?;
        let mut unreadable = Vec::new();
        let checks = stored
            .checks
            .into_iter()
            .map(|(name, check)| {
                let details = match typed_details(name, check.details) {
                    Ok(details) => details,
                    Err(why) => {
                        unreadable.push(format!("checks.{name}.details: {why}"));
                        None
                    }
                };
                (name, CheckResult { verdict: check.verdict, summary: check.summary, details })
            })
            .collect();
        Ok(RunResults {
            valid: stored.valid,
            reasons: stored.reasons,
            checks,
            reproduce: stored.reproduce,
            unreadable,
        })
    }
}

/// The details under the key `name`, tagged with it where the tag is missing.
fn typed_details(name: CheckName, mut value: serde_json::Value) -> Result<Option<CheckDetails>, String> {
    let Some(object) = value.as_object_mut() else {
        return if value.is_null() { Ok(None) } else { Err(format!("not an object: {value}")) };
    };
    object.entry("check").or_insert_with(|| name.as_str().into());
    let details: CheckDetails = serde_json::from_value(value).map_err(|e| e.to_string())?;
    if details.name() != name {
        return Err(format!("tagged {:?} under the key {:?}", details.name().as_str(), name.as_str()));
    }
    Ok(Some(details))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn details_that_do_not_fit_their_check_are_noted_and_the_rest_still_reads() {
        let text = r#"{"valid": "unknown", "reasons": ["x"], "reproduce": "r", "checks": {
            "split-brain": {"verdict": "valid", "summary": "s",
                "details": {"verdict": "valid", "samples": 3, "claims": 1, "contested_terms": [],
                    "overlaps": 0, "examples": []}},
            "stats": {"verdict": "valid", "summary": "s", "details": {"faults": []}},
            "bank": {"verdict": "unknown", "summary": "s", "details": {"check": "stats"}},
            "linearizable": {"verdict": "unknown", "summary": "the checker failed"}}}"#;
        let results: RunResults = serde_json::from_str(text).unwrap();
        let split = results.details(CheckName::SplitBrain).expect("untagged details take their key's type");
        assert_eq!(split.name(), CheckName::SplitBrain);
        assert!(results.stats().is_none() && results.details(CheckName::Bank).is_none());
        assert!(results.check(CheckName::Linearizable).unwrap().details.is_none());
        assert_eq!(results.unreadable.len(), 2, "{:?}", results.unreadable);
        assert!(results.unreadable[0].starts_with("checks.bank.details: tagged \"stats\""));
        assert!(results.unreadable[1].starts_with("checks.stats.details: missing field"));
        assert!(serde_json::from_str::<RunResults>(&text.replace("split-brain", "split_brain")).is_err());

        let written = serde_json::to_value(&results).unwrap();
        assert_eq!(written["checks"]["split-brain"]["details"]["check"], "split-brain", "written tagged");
        assert_eq!(written["checks"]["stats"]["details"], serde_json::Value::Null);
        let again: RunResults = serde_json::from_value(written).unwrap();
        assert_eq!(again.checks, results.checks);
    }
}
