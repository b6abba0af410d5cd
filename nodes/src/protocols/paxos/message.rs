//! What Paxos nodes say to each other, write to their log, and set timers for.
//!
//! Slots are numbered from 1. Every message that a proposer sends names its ballot, and
//! every answer repeats the ballot it answers, so a late or duplicated answer to an older
//! ballot is recognised and ignored.

use serde::{Deserialize, Serialize};

use super::ballot::Ballot;
use super::snapshot::Snapshot;
use crate::api::Request;

/// A position in the replicated log. The first slot is 1; 0 means "none".
pub type Slot = u64;

/// What a slot can hold.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Value {
    /// Fills a slot that a new leader found empty ("Paxos Made Simple" §3: gaps are filled
    /// with no-ops so that later commands can be applied).
    Noop,
    /// A client request, tagged so that the proposer recognises its own command when the
    /// slot is chosen (a different value in that slot means the command did not happen).
    Command { id: CommandId, request: Request },
}

/// Unique across the cluster's lifetime: a ballot is used by one node only, and a node never
/// reuses a ballot after a restart, so (ballot, sequence within the ballot) never repeats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct CommandId {
    pub ballot: Ballot,
    pub seq: u64,
}

/// Which slots a prepare covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Scope {
    /// Every slot from this one on: a leader's single phase 1 for all open slots
    /// ("Paxos Made Simple" §3, the distinguished proposer).
    From(Slot),
    /// Exactly this slot: the classic protocol's phase 1 per value (`phase1_every_op`).
    One(Slot),
}

impl Scope {
    pub fn contains(self, slot: Slot) -> bool {
        match self {
            Scope::From(first) => slot >= first,
            Scope::One(only) => slot == only,
        }
    }

    /// The lowest slot covered (every scope has one).
    pub fn first(self) -> Slot {
        match self {
            Scope::From(s) | Scope::One(s) => s,
        }
    }
}

/// A value an acceptor has accepted in a slot, and the ballot it accepted it in.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AcceptedEntry {
    pub slot: Slot,
    pub ballot: Ballot,
    pub value: Value,
}

/// A slot the sender knows is chosen, and the ballot whose majority chose it. An acceptor
/// that accepted that slot in this ballot or a higher one holds the chosen value ("Paxos Made
/// Simple" §2.2, P2b: every proposal above the choosing ballot carries the chosen value).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Decision {
    pub slot: Slot,
    pub ballot: Ballot,
}

/// Peer messages.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Message {
    /// Phase 1a.
    Prepare { ballot: Ballot, scope: Scope },
    /// Phase 1b: the acceptor will accept nothing below `ballot` any more, and here is the
    /// highest-ballot value it accepted in each slot of the prepare's scope above
    /// `compacted`; slots up to `compacted` are chosen and folded into its snapshot.
    Promise {
        ballot: Ballot,
        scope: Scope,
        accepted: Vec<AcceptedEntry>,
        #[serde(default)]
        compacted: Slot,
    },
    /// Phase 2a, batched: accept these values in these slots. Also carries what the leader
    /// has learned, so that followers learn without a separate commit message.
    Accept { ballot: Ballot, entries: Vec<(Slot, Value)>, learned: Learned },
    /// Phase 2b: the acceptor accepted these slots in `ballot`. Slots up to `compacted` it
    /// did not answer: they are chosen and folded into its snapshot.
    Accepted {
        ballot: Ballot,
        slots: Vec<Slot>,
        #[serde(default)]
        compacted: Slot,
    },
    /// The answer to a prepare, accept or heartbeat from a ballot below the acceptor's
    /// promise: the sender is no longer (or not yet) the leader and should step down.
    Reject { ballot: Ballot, promised: Ballot },
    /// The leader is alive ("Paxos Made Live" §2.4: a stable master avoids duels); sent when
    /// nothing else went out for a heartbeat interval.
    Heartbeat { ballot: Ballot, learned: Learned },
    /// A follower's answer to a heartbeat, so that an idle leader knows it still reaches a
    /// majority (check-quorum; without it a cut-off leader would hold clients until they
    /// time out instead of telling them `not_leader`).
    HeartbeatAck { ballot: Ballot },
    /// A lagging or restarted replica asks for the chosen values from `from` on.
    CatchUp { from: Slot },
    /// Chosen values, contiguous from the slot asked for, and the sender's commit point.
    Chosen { entries: Vec<(Slot, Value)>, commit: Slot },
    /// The answer to catch-up from a slot the sender has compacted: its applied state.
    Snapshot { snapshot: Snapshot },
}

/// What a leader tells followers about chosen slots, piggybacked on accepts and heartbeats.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct Learned {
    /// Every slot up to and including this one is chosen and known to the leader.
    pub commit: Slot,
    /// Slots chosen since the leader's previous broadcast, with their choosing ballot.
    pub decisions: Vec<Decision>,
}

/// Write-ahead log records: exactly the acceptor's state, which must survive a crash
/// ("Paxos Made Simple" §2.3: an acceptor remembers its promise and its accepted proposals
/// even if it fails and restarts), and the snapshot the log was compacted to. Learned values
/// above the snapshot are not logged: a restarted node learns them again by catch-up.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Record {
    Promise {
        ballot: Ballot,
    },
    /// Implies a promise of `ballot`.
    Accepted {
        ballot: Ballot,
        entries: Vec<(Slot, Value)>,
    },
    /// The applied state up to a slot; the first record of a compacted log.
    Snapshot {
        snapshot: Snapshot,
    },
}

/// Timer names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Timer {
    /// A follower heard no leader for a randomized timeout, or a candidate's phase 1 did not
    /// finish in time: start (another) election with a higher ballot.
    Election,
    /// The leader's tick: heartbeat when idle, retransmit unanswered prepares and accepts,
    /// step down if no majority answered within an election timeout.
    Heartbeat,
}
