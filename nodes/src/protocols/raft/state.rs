//! A node's role and the volatile state that belongs to each role (Figure 2: "volatile state
//! on leaders" is [`Leadership`], reinitialised after every election).

use std::collections::{BTreeMap, BTreeSet};

use super::lease::RoundTimes;
use crate::api::{NodeId, Request};
use crate::protocol::RequestId;

#[derive(Debug)]
pub enum RoleState {
    Follower,
    /// Thesis 9.6: asking whether a majority would vote, without changing the term yet.
    /// Holds the members that said yes (this node included).
    PreCandidate {
        granted: BTreeSet<NodeId>,
    },
    /// Section 5.2: campaigning in the current term. Holds the votes received (own included).
    Candidate {
        granted: BTreeSet<NodeId>,
    },
    Leader(Box<Leadership>),
}

/// What a leader tracks while it leads one term.
#[derive(Debug)]
pub struct Leadership {
    /// Per follower: how far its log is known to match and what to send next.
    pub progress: BTreeMap<NodeId, Progress>,
    /// The index of the no-op appended on election. Until it commits the leader does not know
    /// the commit index (thesis 6.4), so reads wait for it.
    pub noop_index: u64,
    /// The number of the latest AppendEntries broadcast (for ReadIndex).
    pub round: u64,
    /// Client writes awaiting their entry's application, by log index.
    pub pending_writes: BTreeMap<u64, RequestId>,
    /// Client reads awaiting a ReadIndex confirmation, in arrival order.
    pub pending_reads: Vec<PendingRead>,
    /// Followers that answered since the last check-quorum (thesis 6.2).
    pub heard_since_check: BTreeSet<NodeId>,
    /// `ReadMode::Lease`: when recent rounds were sent, and until when (this node's clock)
    /// the lease holds.
    pub round_times: RoundTimes,
    pub lease_until_ms: Option<u64>,
}

impl Leadership {
    pub fn pending_count(&self) -> usize {
        self.pending_writes.len() + self.pending_reads.len()
    }
}

/// How a leader feeds one follower (the states of the flow control in thesis 10.2.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flow {
    /// Where the follower's log diverges is unknown: one AppendEntries at a time, retried on
    /// every heartbeat, until one succeeds.
    Probe,
    /// The follower is in step: entries are pipelined, `next_index` advancing optimistically
    /// as they are sent, within a window of unacknowledged entries.
    Replicate,
    /// The follower needs the snapshot ending at this index; nothing else is sent until it
    /// acknowledges it (the snapshot is resent on heartbeats in case it was lost).
    Snapshot { index: u64 },
}

#[derive(Debug, Clone)]
pub struct Progress {
    /// The next index to send (Figure 2).
    pub next_index: u64,
    /// The highest index known to be replicated on the follower (Figure 2).
    pub match_index: u64,
    pub flow: Flow,
    /// In `Probe`: a probe is in flight; wait for its answer or the next heartbeat.
    pub probe_sent: bool,
    /// The latest broadcast round the follower answered in this term.
    pub acked_round: u64,
}

impl Progress {
    pub fn new(next_index: u64) -> Self {
        Progress { next_index, match_index: 0, flow: Flow::Probe, probe_sent: false, acked_round: 0 }
    }
}

/// A read waiting for ReadIndex (thesis 6.4): served once a majority confirmed leadership in
/// a round sent after the read arrived, and the state machine has reached `read_index`.
#[derive(Debug, Clone)]
pub struct PendingRead {
    pub request: RequestId,
    pub body: Request,
    pub read_index: u64,
    pub round: u64,
    pub confirmed: bool,
}
