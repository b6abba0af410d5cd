//! The anomalies a transactional history can show, named as Adya and Elle name them, and
//! the weakest consistency model each one rules out.
//!
//! Cycle anomalies are told apart by the edges their cycle needs (Adya's phenomena):
//! G0 only write-write edges, G1c write-write and write-read, G-single exactly one
//! read-write (anti-dependency) edge, G2-item two or more. A `-realtime` variant is a cycle
//! that also needs a real-time (or process-order) edge: it breaks strict serializability
//! only. The rest are found without a graph, from what single reads saw.

use std::fmt;

use serde::{Deserialize, Serialize};

use super::options::Consistency;
use crate::history::Process;

/// The kind of an anomaly. Ordered by how little it takes to break a model: the kinds
/// every model forbids first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum AnomalyKind {
    /// A cycle of write-write dependencies (dirty write).
    G0,
    /// A committed transaction read a value written by an aborted one.
    G1a,
    /// A transaction read a value another transaction overwrote within itself before it
    /// committed: an intermediate state.
    G1b,
    /// A cycle of write-write and write-read dependencies, with at least one write-read.
    G1c,
    /// A cycle with exactly one read-write (anti-)dependency: read skew, lost update.
    #[serde(rename = "G-single")]
    GSingle,
    /// A cycle with two or more read-write dependencies: write skew.
    #[serde(rename = "G2-item")]
    G2Item,
    /// A transaction's read disagrees with its own earlier reads and writes.
    #[serde(rename = "internal")]
    Internal,
    /// An element appears twice in one read of a list.
    #[serde(rename = "duplicate-appends")]
    DuplicateAppends,
    /// Two reads of one list that cannot both be prefixes of one order of appends.
    #[serde(rename = "incompatible-order")]
    IncompatibleOrder,
    /// A read saw a value that no transaction ever wrote.
    #[serde(rename = "garbage-read")]
    GarbageRead,
    #[serde(rename = "G0-realtime")]
    G0Realtime,
    #[serde(rename = "G1c-realtime")]
    G1cRealtime,
    #[serde(rename = "G-single-realtime")]
    GSingleRealtime,
    #[serde(rename = "G2-item-realtime")]
    G2ItemRealtime,
}

impl AnomalyKind {
    pub const ALL: [AnomalyKind; 14] = [
        AnomalyKind::G0,
        AnomalyKind::G1a,
        AnomalyKind::G1b,
        AnomalyKind::G1c,
        AnomalyKind::GSingle,
        AnomalyKind::G2Item,
        AnomalyKind::Internal,
        AnomalyKind::DuplicateAppends,
        AnomalyKind::IncompatibleOrder,
        AnomalyKind::GarbageRead,
        AnomalyKind::G0Realtime,
        AnomalyKind::G1cRealtime,
        AnomalyKind::GSingleRealtime,
        AnomalyKind::G2ItemRealtime,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            AnomalyKind::G0 => "G0",
            AnomalyKind::G1a => "G1a",
            AnomalyKind::G1b => "G1b",
            AnomalyKind::G1c => "G1c",
            AnomalyKind::GSingle => "G-single",
            AnomalyKind::G2Item => "G2-item",
            AnomalyKind::Internal => "internal",
            AnomalyKind::DuplicateAppends => "duplicate-appends",
            AnomalyKind::IncompatibleOrder => "incompatible-order",
            AnomalyKind::GarbageRead => "garbage-read",
            AnomalyKind::G0Realtime => "G0-realtime",
            AnomalyKind::G1cRealtime => "G1c-realtime",
            AnomalyKind::GSingleRealtime => "G-single-realtime",
            AnomalyKind::G2ItemRealtime => "G2-item-realtime",
        }
    }

    /// The weakest of the four models this anomaly violates. Read committed already
    /// forbids G0, G1 and everything a single read can show (a list read twice in
    /// different orders, a value nobody wrote); snapshot isolation adds G-single;
    /// serializability adds G2-item; only strict serializability orders transactions by
    /// real time, so only it is broken by a cycle that needs a real-time edge.
    pub fn weakest_model_ruled_out(self) -> Consistency {
        match self {
            AnomalyKind::G0
            | AnomalyKind::G1a
            | AnomalyKind::G1b
            | AnomalyKind::G1c
            | AnomalyKind::Internal
            | AnomalyKind::DuplicateAppends
            | AnomalyKind::IncompatibleOrder
            | AnomalyKind::GarbageRead => Consistency::ReadCommitted,
            AnomalyKind::GSingle => Consistency::SnapshotIsolation,
            AnomalyKind::G2Item => Consistency::Serializable,
            AnomalyKind::G0Realtime
            | AnomalyKind::G1cRealtime
            | AnomalyKind::GSingleRealtime
            | AnomalyKind::G2ItemRealtime => Consistency::StrictSerializable,
        }
    }

    /// Whether a history held to `consistency` may not show this anomaly.
    pub fn is_forbidden_under(self, consistency: Consistency) -> bool {
        self.weakest_model_ruled_out() <= consistency
    }

    /// Whether this is a dependency cycle (as opposed to a single bad read).
    pub fn is_cycle(self) -> bool {
        matches!(
            self,
            AnomalyKind::G0
                | AnomalyKind::G1c
                | AnomalyKind::GSingle
                | AnomalyKind::G2Item
                | AnomalyKind::G0Realtime
                | AnomalyKind::G1cRealtime
                | AnomalyKind::GSingleRealtime
                | AnomalyKind::G2ItemRealtime
        )
    }
}

impl fmt::Display for AnomalyKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.as_str())
    }
}

/// One anomaly found: its kind, the transactions involved, and for a cycle its edges.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Anomaly {
    pub kind: AnomalyKind,
    /// What happened, in words a person can follow without the graph.
    pub explanation: String,
    /// The transactions involved; for a cycle, in cycle order.
    pub transactions: Vec<TxnSummary>,
    /// The cycle's edges; empty for an anomaly found from single reads.
    pub cycle: Vec<CycleEdge>,
}

/// A transaction as an anomaly shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TxnSummary {
    /// `T` and the index of its invocation in the history: `T12`.
    pub name: String,
    /// The index of its invocation in the history.
    pub index: usize,
    pub process: Process,
    /// The micro-ops as completed (as invoked, for a transaction that did not complete ok).
    pub value: serde_json::Value,
}

/// One edge of a dependency cycle, between positions in the anomaly's `transactions`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CycleEdge {
    pub from: usize,
    pub to: usize,
    pub kind: EdgeKind,
    /// The key the dependency is on; `None` for real-time and process edges.
    pub key: Option<String>,
    /// Why `from` must precede `to`, in words.
    pub why: String,
}

/// Why one transaction must precede another.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum EdgeKind {
    /// `from` wrote a version and `to` wrote the next one.
    #[serde(rename = "ww")]
    Ww,
    /// `to` read what `from` wrote.
    #[serde(rename = "wr")]
    Wr,
    /// `from` read a version that `to` overwrote (an anti-dependency).
    #[serde(rename = "rw")]
    Rw,
    /// `from` completed before `to` was invoked.
    #[serde(rename = "rt")]
    Realtime,
    /// `from` and `to` ran in this order on one process.
    #[serde(rename = "process")]
    Process,
}

impl EdgeKind {
    pub const ALL: [EdgeKind; 5] =
        [EdgeKind::Ww, EdgeKind::Wr, EdgeKind::Rw, EdgeKind::Realtime, EdgeKind::Process];

    pub fn as_str(self) -> &'static str {
        match self {
            EdgeKind::Ww => "ww",
            EdgeKind::Wr => "wr",
            EdgeKind::Rw => "rw",
            EdgeKind::Realtime => "rt",
            EdgeKind::Process => "process",
        }
    }

    /// A one-bit mask, for edge sets.
    pub(crate) fn bit(self) -> u8 {
        1 << (self as u8)
    }
}

impl fmt::Display for EdgeKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_elles_and_serde_agrees() {
        for kind in AnomalyKind::ALL {
            assert_eq!(serde_json::to_value(kind).unwrap(), kind.as_str());
        }
        for kind in EdgeKind::ALL {
            assert_eq!(serde_json::to_value(kind).unwrap(), kind.as_str());
        }
    }

    #[test]
    fn each_model_forbids_what_it_should() {
        use AnomalyKind::*;
        use Consistency::*;
        let forbidden =
            |c| AnomalyKind::ALL.into_iter().filter(|k| k.is_forbidden_under(c)).collect::<Vec<_>>();
        assert_eq!(
            forbidden(ReadCommitted),
            vec![G0, G1a, G1b, G1c, Internal, DuplicateAppends, IncompatibleOrder, GarbageRead]
        );
        assert!(forbidden(SnapshotIsolation).contains(&GSingle));
        assert!(!forbidden(SnapshotIsolation).contains(&G2Item));
        assert!(forbidden(Serializable).contains(&G2Item));
        assert!(!forbidden(Serializable).contains(&GSingleRealtime));
        assert_eq!(forbidden(StrictSerializable).len(), AnomalyKind::ALL.len());
        assert_eq!(G2ItemRealtime.weakest_model_ruled_out(), StrictSerializable);
    }
}
