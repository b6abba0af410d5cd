//! The checks of a run, by name: the keys of `results.json`'s `checks`, and the one list
//! every crate names a check from (the workload picks them, the harness runs them, the
//! report and the matrix read them), so that a misspelt check does not compile.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// One check of a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum CheckName {
    /// Linearizability per key against the workload's model.
    Linearizable,
    /// Every acknowledged add is in the final reads.
    LostWrites,
    /// Every read of all accounts conserves the total; no balance is negative.
    Bank,
    /// No two nodes lead in the same term at overlapping times.
    SplitBrain,
    /// Counts, latencies, throughput, availability during faults, messages per op.
    Stats,
    /// No write acknowledged by a leader after another node was seen leading a higher term.
    DeposedLeader,
    /// No two nodes committed different entries at one index, no committed prefix shrank
    /// (white-box: the built-in nodes' committed logs, not the workload's history).
    LogAgreement,
    /// No transactional anomaly the consistency model forbids (dependency cycles G0 to
    /// G2-item, aborted and intermediate reads), as [`crate::txn::check_txn`] finds them.
    Isolation,
    /// Every acknowledged element comes out of the queue once, and nothing else does
    /// ([`crate::queue::check_queue`]).
    Queue,
}

impl CheckName {
    pub const ALL: [CheckName; 9] = [
        CheckName::Linearizable,
        CheckName::LostWrites,
        CheckName::Bank,
        CheckName::SplitBrain,
        CheckName::Stats,
        CheckName::DeposedLeader,
        CheckName::LogAgreement,
        CheckName::Isolation,
        CheckName::Queue,
    ];

    /// The checks that judge safety (consistency of the data), as opposed to split brain,
    /// deposed leaders and the statistics.
    pub const SAFETY: [CheckName; 5] = [
        CheckName::Linearizable,
        CheckName::LostWrites,
        CheckName::Bank,
        CheckName::Isolation,
        CheckName::Queue,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            CheckName::Linearizable => "linearizable",
            CheckName::LostWrites => "lost-writes",
            CheckName::Bank => "bank",
            CheckName::SplitBrain => "split-brain",
            CheckName::Stats => "stats",
            CheckName::DeposedLeader => "deposed-leader",
            CheckName::LogAgreement => "log-agreement",
            CheckName::Isolation => "isolation",
            CheckName::Queue => "queue",
        }
    }
}

impl fmt::Display for CheckName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // `pad`, so that a width (`{name:<14}`) lines names up in a table.
        f.pad(self.as_str())
    }
}

impl FromStr for CheckName {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        CheckName::ALL.into_iter().find(|c| c.as_str() == s).ok_or_else(|| {
            let known: Vec<_> = CheckName::ALL.iter().map(|c| c.as_str()).collect();
            format!("unknown check {s:?} (known: {})", known.join(", "))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_parse_print_and_serialize_alike() {
        for name in CheckName::ALL {
            assert_eq!(name.as_str().parse::<CheckName>(), Ok(name));
            assert_eq!(serde_json::to_value(name).unwrap(), name.as_str());
        }
        assert_eq!(format!("{:<8}|", CheckName::Bank), "bank    |");
        assert!("lost_writes".parse::<CheckName>().unwrap_err().contains("known: linearizable, lost-writes"));
    }
}
