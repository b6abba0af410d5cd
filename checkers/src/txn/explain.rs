//! Anomalies in words: each cycle edge's reason as a sentence about the two transactions
//! ("T3 appended 4 to x, and T7 appended 5 right after it"), and a cycle as those
//! sentences in order, closing with why no serial order can exist.

use super::anomaly::{Anomaly, AnomalyKind, CycleEdge, EdgeKind};
use super::cycles::FoundCycle;
use super::graph::{DepGraph, Why};
use super::micro_op::{Parsed, Txn};

impl Anomaly {
    /// An anomaly seen in single reads: no cycle.
    pub(crate) fn single(kind: AnomalyKind, explanation: String, txns: Vec<&Txn>) -> Anomaly {
        Anomaly {
            kind,
            explanation,
            transactions: txns.into_iter().map(Txn::summary).collect(),
            cycle: Vec::new(),
        }
    }
}

/// A found cycle as an anomaly: its transactions in cycle order, its edges with reasons.
pub(crate) fn cycle_anomaly(found: &FoundCycle, graph: &DepGraph, parsed: &Parsed) -> Anomaly {
    let n = found.edges.len();
    let transactions = found.edges.iter().map(|&(from, _, _)| parsed.txns[from].summary()).collect();
    let cycle: Vec<CycleEdge> = found
        .edges
        .iter()
        .enumerate()
        .map(|(i, &(from, to, kind))| {
            let why = match kind {
                EdgeKind::Realtime => Why::Realtime,
                EdgeKind::Process => Why::Process { process: parsed.txns[from].process },
                EdgeKind::Ww | EdgeKind::Wr | EdgeKind::Rw => {
                    graph.edge(from, to).and_then(|e| graph.why(e, kind)).cloned().unwrap_or(Why::Realtime)
                }
            };
            CycleEdge {
                from: i,
                to: (i + 1) % n,
                kind,
                key: why.key().map(|k| parsed.key(k).to_string()),
                why: sentence(&why, &parsed.txns[from], &parsed.txns[to], parsed),
            }
        })
        .collect();
    let mut names: Vec<String> = found.edges.iter().map(|&(from, _, _)| parsed.txns[from].name()).collect();
    names.push(names[0].clone());
    let steps: Vec<String> = cycle.iter().map(|e| format!("{} ({})", e.why, e.kind)).collect();
    let realtime = found.edges.iter().any(|e| matches!(e.2, EdgeKind::Realtime | EdgeKind::Process));
    let explanation = format!(
        "{}: {}. So {}: each must come before the next, and no serial order{} exists.",
        describe(found.kind),
        steps.join("; "),
        names.join(" -> "),
        if realtime { " that respects real time" } else { "" }
    );
    Anomaly { kind: found.kind, explanation, transactions, cycle }
}

/// What a cycle class means, in a phrase.
fn describe(kind: AnomalyKind) -> &'static str {
    match kind {
        AnomalyKind::G0 => "G0 (dirty write): a cycle of write-write dependencies",
        AnomalyKind::G1c => "G1c (circular information flow): a cycle of writes and reads",
        AnomalyKind::GSingle => "G-single (read skew): a cycle with one anti-dependency",
        AnomalyKind::G2Item => "G2-item (write skew): a cycle with two or more anti-dependencies",
        AnomalyKind::G0Realtime => "G0-realtime: write-write dependencies against real time",
        AnomalyKind::G1cRealtime => "G1c-realtime: writes and reads against real time",
        AnomalyKind::GSingleRealtime => "G-single-realtime: one anti-dependency against real time",
        AnomalyKind::G2ItemRealtime => "G2-item-realtime: anti-dependencies against real time",
        AnomalyKind::G1a
        | AnomalyKind::G1b
        | AnomalyKind::Internal
        | AnomalyKind::DuplicateAppends
        | AnomalyKind::IncompatibleOrder
        | AnomalyKind::GarbageRead => kind.as_str(),
    }
}

/// One edge's reason as a sentence about `from` and `to`.
fn sentence(why: &Why, from: &Txn, to: &Txn, parsed: &Parsed) -> String {
    let (f, t) = (from.name(), to.name());
    let key = |k| parsed.key_phrase(k);
    match *why {
        Why::AppendedAfter { key: k, prev, next } => {
            format!("{f} appended {prev} to {}, and {t} appended {next} right after it", key(k))
        }
        Why::ReadAppend { key: k, element } => {
            format!("{t} read {} and saw {f}'s append of {element}", key(k))
        }
        Why::ReadWithout { key: k, last: Some(last), next } => {
            format!("{f} read {} up to {last}, without {next}, which {t} appended next", key(k))
        }
        Why::ReadWithout { key: k, last: None, next } => {
            format!("{f} read {} empty, without {next}, which {t} appended first", key(k))
        }
        Why::OverwroteRead { key: k, read, wrote } => {
            format!("{f} wrote {} = {read}, which {t} read and then overwrote with {wrote}", key(k))
        }
        Why::ReadValue { key: k, value } => format!("{t} read {} = {value}, written by {f}", key(k)),
        Why::ReadBeforeWrite { key: k, read: Some(read), wrote } => {
            format!("{f} read {} = {read}, which {t} overwrote with {wrote}", key(k))
        }
        Why::ReadBeforeWrite { key: k, read: None, wrote } => {
            format!("{f} read {} unset, before {t} wrote {wrote} there", key(k))
        }
        Why::Realtime => format!("{f} completed before {t} began"),
        Why::Process { process } => format!("{f} ran before {t} on process {process}"),
    }
}
