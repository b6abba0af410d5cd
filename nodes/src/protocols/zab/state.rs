//! The three states of a Zab node (DSN IV, Medeiros 3) and the volatile state of each. All of
//! it is lost in a crash; a restarted node looks for a leader again.

use std::collections::{BTreeMap, BTreeSet};

use super::{Vote, Zxid};
use crate::api::{NodeId, Request};
use crate::protocol::RequestId;

#[derive(Debug)]
pub enum NodeState {
    Looking(Looking),
    Following(Following),
    Leading(Box<Leading>),
}

/// Fast Leader Election in progress (Medeiros 3.1).
#[derive(Debug)]
pub struct Looking {
    /// This node's current vote.
    pub vote: Vote,
    /// The votes of looking members in the current round, this node's included.
    pub votes: BTreeMap<NodeId, Vote>,
}

/// Following `leader`, or trying to.
#[derive(Debug)]
pub struct Following {
    pub leader: NodeId,
    /// Names this attempt to follow; the leader echoes it so that answers to an earlier
    /// attempt (before a restart or a new election) are ignored.
    pub session: u64,
    /// The leader's epoch, once its NEWEPOCH was accepted.
    pub epoch: Option<u64>,
    pub phase: FollowerPhase,
    /// The latest heartbeat round of the leader seen, echoed in acknowledgements.
    pub round: u64,
    /// Whether this session accepted the leader's epoch as new (repeated in resent ACKEPOCHs).
    pub acked_fresh: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FollowerPhase {
    /// FOLLOWERINFO sent, waiting for NEWEPOCH.
    Discovery,
    /// ACKEPOCH sent, waiting for NEWLEADER.
    Synchronization,
    /// The leader's history adopted: accepting proposals and commits.
    Broadcast,
}

/// Leading, or trying to establish an epoch to lead.
#[derive(Debug)]
pub struct Leading {
    /// The epoch proposed in discovery (0 until a quorum reported its accepted epochs).
    pub epoch: u64,
    pub phase: LeaderPhase,
    /// Per follower that reached this leader, how far it got.
    pub peers: BTreeMap<NodeId, PeerProgress>,
    /// The number of the latest heartbeat round (for reads).
    pub round: u64,
    /// The counter of the last zxid proposed in `epoch`.
    pub counter: u64,
    /// Client writes awaiting commit, by zxid.
    pub pending_writes: BTreeMap<Zxid, RequestId>,
    /// Client reads awaiting a quorum's confirmation, in arrival order.
    pub pending_reads: Vec<PendingRead>,
    /// Followers heard from since the last check of the quorum.
    pub heard_since_check: BTreeSet<NodeId>,
}

impl Leading {
    pub fn pending_count(&self) -> usize {
        self.pending_writes.len() + self.pending_reads.len()
    }

    /// Followers that adopted this leader's history, with their progress.
    pub fn broadcasting(&self) -> impl Iterator<Item = (NodeId, &PeerProgress)> + '_ {
        self.peers.iter().filter(|(_, p)| p.phase == PeerPhase::Broadcast).map(|(&n, p)| (n, p))
    }
}

#[derive(Debug)]
pub enum LeaderPhase {
    /// Collecting accepted epochs (`infos`, this node's included) until a quorum reported,
    /// then fresh ACKEPOCHs (`fresh`, this node's included) for the epoch proposed; `stale`
    /// holds the members that had already accepted it from another would-be leader.
    Discovery {
        infos: BTreeMap<NodeId, u64>,
        fresh: BTreeSet<NodeId>,
        stale: BTreeSet<NodeId>,
    },
    /// The epoch is established; waiting for a quorum (this node included) to acknowledge
    /// NEWLEADER. Then the first `initial` transactions are committed.
    Synchronization {
        acked: BTreeSet<NodeId>,
        initial: u64,
    },
    Broadcast,
}

/// What the leader knows of one follower.
#[derive(Debug, Clone)]
pub struct PeerProgress {
    pub session: u64,
    pub phase: PeerPhase,
    /// The follower's last zxid as its ACKEPOCH reported it (where synchronization starts).
    pub reported_last: Zxid,
    /// Broadcast: how many transactions of the leader's history the follower holds.
    pub acked: u64,
    /// Broadcast: how many have been sent to it (acked <= sent).
    pub sent: u64,
    /// The latest heartbeat round it answered.
    pub acked_round: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PeerPhase {
    /// NEWEPOCH sent, waiting for ACKEPOCH.
    Discovery,
    /// NEWLEADER sent, waiting for its acknowledgement.
    Synchronization,
    Broadcast,
}

/// A read waiting for a quorum to answer heartbeat `round` (see the module documentation).
#[derive(Debug, Clone)]
pub struct PendingRead {
    pub request: RequestId,
    pub body: Request,
    pub round: u64,
}
