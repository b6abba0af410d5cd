//! What a transactional check returns: the verdict, the anomalies counted by kind with
//! examples, and why the verdict is unknown when it is.

use std::collections::BTreeMap;
use std::fmt::Write;

use serde::{Deserialize, Serialize};

use super::anomaly::{Anomaly, AnomalyKind};
use super::options::{Consistency, TxnModel};
use crate::verdict::Verdict;

/// The result of [`check_txn`](super::check_txn).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TxnReport {
    /// Invalid if an anomaly the consistency model forbids was found; Unknown if the
    /// search of a forbidden class was cut short by the budget (never a false Valid).
    pub verdict: Verdict,
    pub model: TxnModel,
    pub consistency: Consistency,
    /// Every anomaly found, by kind, allowed ones included. Single-read anomalies count
    /// each occurrence; cycles count one per kind per strongly connected component.
    pub anomaly_counts: BTreeMap<AnomalyKind, usize>,
    /// Examples: at most `max_examples_per_kind` of each kind, forbidden kinds first.
    pub anomalies: Vec<Anomaly>,
    /// Committed and indeterminate transactions considered.
    pub transactions: usize,
    /// Why the verdict is unknown (or why a search was cut short), when it was.
    pub reason: Option<String>,
    pub elapsed_ms: f64,
}

impl TxnReport {
    /// The anomaly kinds found that the consistency model forbids.
    pub fn forbidden_kinds(&self) -> Vec<AnomalyKind> {
        self.anomaly_counts.keys().copied().filter(|k| k.is_forbidden_under(self.consistency)).collect()
    }

    /// One line: the verdict and its grounds.
    pub fn summary(&self) -> String {
        let forbidden = self.forbidden_kinds();
        match self.verdict {
            Verdict::Invalid => {
                let kinds: Vec<String> =
                    forbidden.iter().map(|k| format!("{} {k}", self.anomaly_counts[k])).collect();
                format!("not {}: {}", self.consistency, kinds.join(", "))
            }
            Verdict::Unknown => {
                format!("unknown: {}", self.reason.as_deref().unwrap_or("the search did not finish"))
            }
            Verdict::Valid => {
                format!("{} transactions, no anomaly {} forbids", self.transactions, self.consistency)
            }
        }
    }

    /// The verdict, anomaly counts by kind, then each example explained.
    pub fn render_text(&self) -> String {
        let mut out =
            format!("{} ({}, {}): {}\n", self.verdict, self.model, self.consistency, self.summary());
        if !self.anomaly_counts.is_empty() {
            out.push_str("  anomalies:\n");
            for (kind, count) in &self.anomaly_counts {
                let note = if kind.is_forbidden_under(self.consistency) {
                    String::new()
                } else {
                    format!(" (allowed under {})", self.consistency)
                };
                let _ = writeln!(out, "    {kind:<18} {count}{note}");
            }
        }
        for anomaly in &self.anomalies {
            let names: Vec<&str> = anomaly.transactions.iter().map(|t| t.name.as_str()).collect();
            let _ = writeln!(out, "  {} [{}]: {}", anomaly.kind, names.join(" "), anomaly.explanation);
            for t in &anomaly.transactions {
                let _ =
                    writeln!(out, "      {} (process {}, event {}): {}", t.name, t.process, t.index, t.value);
            }
        }
        let _ = writeln!(out, "  checked {} transactions in {:.1} ms", self.transactions, self.elapsed_ms);
        out
    }
}
