//! The protocols, each a pure [`crate::protocol::Protocol`] state machine.
//!
//! | name       | module     | guarantee                                                    |
//! |------------|------------|--------------------------------------------------------------|
//! | `pb-async` | [`pb`]     | none under faults: loses acknowledged writes, splits brain   |
//! | `pb-sync`  | [`pb`]     | no write without every backup; unsafe ad-hoc failover        |
//! | `2pc`      | [`twopc`]  | linearizable, nothing lost; unavailable while a node is out  |
//! | `paxos`    | [`paxos`]  | linearizable, available with a majority                      |
//! | `raft`     | [`raft`]   | linearizable, available with a majority                      |
//! | `zab`      | [`zab`]    | linearizable, available with a majority                      |

use std::fmt;
use std::str::FromStr;

pub mod paxos;
pub mod pb;
pub mod raft;
pub mod twopc;
pub mod zab;

/// The protocols a node can run, by their command-line names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ProtocolName {
    PbAsync,
    PbSync,
    TwoPc,
    Paxos,
    Raft,
    Zab,
}

impl ProtocolName {
    pub const ALL: [ProtocolName; 6] = [
        ProtocolName::PbAsync,
        ProtocolName::PbSync,
        ProtocolName::TwoPc,
        ProtocolName::Paxos,
        ProtocolName::Raft,
        ProtocolName::Zab,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ProtocolName::PbAsync => "pb-async",
            ProtocolName::PbSync => "pb-sync",
            ProtocolName::TwoPc => "2pc",
            ProtocolName::Paxos => "paxos",
            ProtocolName::Raft => "raft",
            ProtocolName::Zab => "zab",
        }
    }

    /// Whether the design keeps the data safe under every fault of its model. `pb-async`
    /// and `pb-sync` fail over without a quorum, so a fault that makes a backup promote
    /// itself (a partition, a dead or paused primary, a link that drops heartbeats) may
    /// break them;
    /// `2pc` (by blocking), `paxos`, `raft` and `zab` must stay safe under every fault of
    /// their model. That model has no node forgetting what it wrote to disk: `lose-disk`
    /// is outside it, and may break any of them.
    pub fn safe_by_design(self) -> bool {
        match self {
            ProtocolName::PbAsync | ProtocolName::PbSync => false,
            ProtocolName::TwoPc | ProtocolName::Paxos | ProtocolName::Raft | ProtocolName::Zab => true,
        }
    }
}

impl fmt::Display for ProtocolName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for ProtocolName {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        ProtocolName::ALL.into_iter().find(|p| p.as_str() == s).ok_or_else(|| {
            let known: Vec<_> = ProtocolName::ALL.iter().map(|p| p.as_str()).collect();
            format!("unknown protocol {s:?} (known: {})", known.join(", "))
        })
    }
}
