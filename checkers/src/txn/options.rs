//! What a transactional check is asked to do: the data model the transactions speak, the
//! consistency model they are held to, and the budget.
//!
//! The consistency models are ordered weakest first, so that "the weakest model an anomaly
//! rules out" and "is this anomaly forbidden here" are one comparison.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// The objects a transaction's micro-ops act on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum TxnModel {
    /// Lists of integers: `append` one element, `r` the whole list. Every read reveals the
    /// order of every append before it, so versions are known exactly.
    ListAppend,
    /// Registers of integers: `w` a value, `r` one value. Reads reveal little of the
    /// order of writes, so fewer dependencies can be inferred.
    RwRegister,
}

impl TxnModel {
    pub const ALL: [TxnModel; 2] = [TxnModel::ListAppend, TxnModel::RwRegister];

    pub fn as_str(self) -> &'static str {
        match self {
            TxnModel::ListAppend => "list-append",
            TxnModel::RwRegister => "rw-register",
        }
    }
}

impl fmt::Display for TxnModel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.as_str())
    }
}

impl FromStr for TxnModel {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        TxnModel::ALL
            .into_iter()
            .find(|m| m.as_str() == s)
            .ok_or_else(|| format!("unknown transaction model {s:?} (expected list-append, rw-register)"))
    }
}

/// The isolation level a history is held to, weakest first (the derived order is the
/// strength order).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Consistency {
    /// Forbids G0 (dirty writes), G1a (aborted reads), G1b (intermediate reads) and G1c
    /// (circular information flow).
    ReadCommitted,
    /// Also forbids G-single (read skew, lost update); allows G2-item (write skew).
    SnapshotIsolation,
    /// Forbids every dependency cycle.
    Serializable,
    /// Serializable in an order that respects real time: a transaction that completed
    /// before another began precedes it.
    StrictSerializable,
}

impl Consistency {
    /// Weakest first.
    pub const ALL: [Consistency; 4] = [
        Consistency::ReadCommitted,
        Consistency::SnapshotIsolation,
        Consistency::Serializable,
        Consistency::StrictSerializable,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Consistency::ReadCommitted => "read-committed",
            Consistency::SnapshotIsolation => "snapshot-isolation",
            Consistency::Serializable => "serializable",
            Consistency::StrictSerializable => "strict-serializable",
        }
    }
}

impl fmt::Display for Consistency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.as_str())
    }
}

impl FromStr for Consistency {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Consistency::ALL.into_iter().find(|c| c.as_str() == s).ok_or_else(|| {
            format!(
                "unknown consistency model {s:?} (expected read-committed, snapshot-isolation, \
                 serializable, strict-serializable)"
            )
        })
    }
}

/// How to check a transactional history. Build with [`TxnOptions::new`], then set fields.
#[derive(Debug, Clone, PartialEq)]
pub struct TxnOptions {
    pub model: TxnModel,
    pub consistency: Consistency,
    /// Give up and answer `Unknown` after this long (unless a forbidden anomaly was
    /// already found: that is real whatever else was not searched).
    pub time_limit: Option<Duration>,
    /// At most this many cycle searches (one breadth-first search from one edge each);
    /// past it the verdict is `Unknown` unless a forbidden anomaly was found.
    pub max_cycle_searches: usize,
    /// At most this many example anomalies kept per kind; the counts stay complete.
    pub max_examples_per_kind: usize,
}

impl TxnOptions {
    /// Strict serializability, no time limit, a million cycle searches, 8 examples per kind.
    pub fn new(model: TxnModel) -> Self {
        TxnOptions {
            model,
            consistency: Consistency::StrictSerializable,
            time_limit: None,
            max_cycle_searches: 1_000_000,
            max_examples_per_kind: 8,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_order_is_strength() {
        for m in TxnModel::ALL {
            assert_eq!(m.to_string().parse::<TxnModel>(), Ok(m));
            assert_eq!(serde_json::to_value(m).unwrap(), m.as_str());
        }
        for c in Consistency::ALL {
            assert_eq!(c.to_string().parse::<Consistency>(), Ok(c));
            assert_eq!(serde_json::to_value(c).unwrap(), c.as_str());
        }
        assert!(Consistency::ReadCommitted < Consistency::SnapshotIsolation);
        assert!(Consistency::Serializable < Consistency::StrictSerializable);
        assert!("serialisable".parse::<Consistency>().unwrap_err().contains("expected read-committed"));
        assert!("list_append".parse::<TxnModel>().is_err());
        assert_eq!(TxnOptions::new(TxnModel::ListAppend).consistency, Consistency::StrictSerializable);
    }
}
