//! Raft (Ongaro and Ousterhout, "In Search of an Understandable Consensus Algorithm", 2014;
//! section numbers below refer to that paper, "thesis" to Ongaro's 2014 dissertation).
//!
//! A pure [`Protocol`]: every input arrives through a method, every effect leaves through the
//! [`Outbox`]. The node applies committed entries to the one [`Store`] and answers clients:
//!
//! - a write is appended by the leader and answered once its entry is applied;
//! - a read is answered after a ReadIndex round (thesis 6.4) by default, or at once from the
//!   leader's own state with [`ReadMode::Local`] (unsafe by design: a leader cut off from a
//!   newer one keeps serving stale reads; kept to reproduce that bug; in this mode the
//!   leader also skips check-quorum, so it keeps believing it leads until it hears of a
//!   newer term);
//! - a node that does not lead answers `not_leader` at once, with its best leader hint;
//! - a leader that loses leadership answers its pending writes `indeterminate`: the entry may
//!   still commit under a later leader, so no definite answer is possible. Pending reads get
//!   `not_leader` (definite: a read that was never served changed nothing).
//!
//! # Layout (one concept per file under `raft/`)
//!
//! - [`log`]: the in-memory log with its compaction point.
//! - `state`: roles, per-follower progress, the leader's pending requests.
//! - `election`: terms, pre-vote, RequestVote, check-quorum (5.2, 5.4.1, thesis 9.6).
//! - `replication`: AppendEntries, fast back-off, pipelining, commit (5.3, 5.4.2).
//! - `apply`: client requests and applying committed entries to the store.
//! - `read_index`: linearizable reads (thesis 6.4).
//! - `snapshot`: compaction and InstallSnapshot (section 7).
//! - `recovery`: rebuilding the node from its write-ahead log.
//!
//! # Durability
//!
//! Term, vote, log entries, truncations and snapshots are [`Record`]s. Each is emitted as
//! `Persist` (or, when compacting, as one `Rewrite`) in the same step as the messages that
//! depend on it, and the runtime makes it durable before those messages leave (the contract
//! of [`crate::protocol`]). The commit index is not persisted (Figure 2): it is relearned.
//!
//! # Invariants (checked by the tests in `nodes/tests/raft_*.rs`)
//!
//! At most one leader per term; a committed entry is never lost or changed; every node
//! applies the same sequence of entries; client histories are linearizable (with
//! [`ReadMode::Quorum`]).

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

use crate::api::{NodeId, Request, Role, Status};
use crate::committed_log::CommittedLog;
use crate::protocol::{Config, Context, Outbox, Protocol, RequestId};
use crate::state_machine::Store;

mod apply;
mod election;
pub mod log;
mod read_index;
mod recovery;
mod replication;
mod snapshot;
mod state;

use log::Log;
use state::RoleState;

#[cfg(doc)]
use crate::protocol::ReadMode;

/// Most client requests a leader holds unanswered at once; beyond it, new ones get a definite
/// `unavailable` rather than an unbounded queue.
pub const MAX_PENDING_REQUESTS: usize = 10_000;

/// How many batches of entries a leader keeps in flight to one follower before it waits for
/// acknowledgements (the pipelining window, in units of `Options::max_batch`).
pub const PIPELINE_BATCHES: u64 = 4;

/// The largest log index a peer may mention. Far beyond any real log, it keeps index
/// arithmetic (`index + 1`) from overflowing on a hostile or corrupt frame.
pub const MAX_INDEX: u64 = 1 << 62;

/// What one log entry asks the state machine to do.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Command {
    /// Appended by every new leader so that it can commit an entry of its own term (5.4.2,
    /// 8) and learn the commit index; changes nothing.
    Noop,
    /// A client's write (or a read routed through the log): applied to the store.
    Request { request: Request },
}

/// One log entry. `index` is 1-based and dense; `term` is the leader's term when appended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    pub index: u64,
    pub term: u64,
    pub command: Command,
}

/// The state machine as of one log position (section 7): everything up to and including
/// `last_index` is folded into `store`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Snapshot {
    pub last_index: u64,
    pub last_term: u64,
    pub store: Store,
    /// The committed log's running hash at `last_index` ([`crate::committed_log`]), so
    /// that a node that installs or recovers the snapshot keeps a comparable prefix.
    #[serde(default)]
    pub prefix_hash: u64,
}

/// Why a follower refused an AppendEntries, so that the leader can skip back a whole term at
/// a time instead of one entry per round trip (the optimisation at the end of 5.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Conflict {
    /// The term of the follower's entry at `prev_log_index`; `None` if its log is shorter.
    pub term: Option<u64>,
    /// The first index the follower holds with that term, or its last index + 1 if shorter.
    pub index: u64,
}

/// What Raft nodes say to each other.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Message {
    /// Thesis 9.6: "would you vote for me in `term`?", sent before incrementing the term so
    /// that a node that was cut off cannot force the cluster into a new term. `term` is the
    /// sender's current term + 1; receivers do not adopt it.
    PreVote {
        term: u64,
        last_log_index: u64,
        last_log_term: u64,
    },
    /// `term` echoes the request's; `current_term` is the responder's own term.
    PreVoteResponse {
        term: u64,
        granted: bool,
        current_term: u64,
    },
    /// Section 5.2, with the election restriction of 5.4.1.
    RequestVote {
        term: u64,
        last_log_index: u64,
        last_log_term: u64,
    },
    RequestVoteResponse {
        term: u64,
        granted: bool,
    },
    /// Section 5.3. Doubles as the heartbeat. `round` numbers the leader's broadcasts so that
    /// ReadIndex can tell which round a response confirms.
    AppendEntries {
        term: u64,
        prev_log_index: u64,
        prev_log_term: u64,
        entries: Vec<Entry>,
        leader_commit: u64,
        round: u64,
    },
    /// The answer to AppendEntries and InstallSnapshot. On success `match_index` is the last
    /// index the follower now knows to agree with the leader. On refusal `rejected_index` is
    /// the request's `prev_log_index` and `conflict` says where to retry.
    AppendEntriesResponse {
        term: u64,
        success: bool,
        match_index: u64,
        rejected_index: u64,
        conflict: Option<Conflict>,
        round: u64,
    },
    /// Section 7: the whole snapshot in one message (the store is small in every test this
    /// tool runs; chunking would add state without changing what is being tested).
    InstallSnapshot {
        term: u64,
        snapshot: Snapshot,
        round: u64,
    },
}

/// What a Raft node writes to its write-ahead log. Recovery replays them in order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Record {
    /// The current term and the vote cast in it (Figure 2's persistent state).
    HardState { term: u64, voted_for: Option<NodeId> },
    /// Entries appended at the end of the log (the first one's index is `last_index + 1`).
    Entries { entries: Vec<Entry> },
    /// Every entry at `from` or later was removed (a conflicting suffix, 5.3).
    Truncate { from: u64 },
    /// The log up to `snapshot.last_index` was replaced by this snapshot (section 7).
    Snapshot { snapshot: Snapshot },
}

/// Raft's timers.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Timer {
    /// Followers and candidates: no leader heard from in a randomized timeout; campaign.
    Election,
    /// Leader: send AppendEntries to every follower (heartbeat and retransmission).
    Heartbeat,
    /// Leader: step down unless a majority answered since the last check (thesis 6.2).
    CheckQuorum,
}

/// One Raft node.
#[derive(Debug)]
pub struct Raft {
    config: Config,
    /// Persistent (Figure 2): the latest term seen and the vote cast in it.
    term: u64,
    voted_for: Option<NodeId>,
    log: Log,
    /// The highest index known to be committed; relearned after a restart.
    commit_index: u64,
    /// The highest index applied to `store`; never above `commit_index`.
    applied_index: u64,
    store: Store,
    /// What was applied, as running hashes (`GET /admin/log`).
    committed: CommittedLog,
    /// The latest snapshot, sent to followers whose next entry was compacted away.
    snapshot: Option<Snapshot>,
    role: RoleState,
    /// The leader of the current term, where known (the `not_leader` hint).
    leader: Option<NodeId>,
    /// When this node last heard from a leader of its current term. A node that heard from
    /// one within the minimum election timeout refuses votes (thesis 4.2.3, 9.6), which is
    /// what keeps a returning, cut-off node from disrupting a healthy cluster.
    leader_contact_ms: Option<u64>,
}

impl Protocol for Raft {
    type Message = Message;
    type Record = Record;
    type Timer = Timer;

    const NAME: &'static str = "raft";

    fn recover(config: Config, records: Vec<Record>, ctx: Context, out: &mut Outbox<Self>) -> Self {
        let raft = Raft::replay(config, records);
        raft.reset_election_timer(ctx, out);
        raft
    }

    fn on_message(&mut self, ctx: Context, from: NodeId, message: Message, out: &mut Outbox<Self>) {
        if from == self.config.id || !self.config.members.contains(&from) || !message.is_well_formed() {
            return;
        }
        self.step(ctx, from, message, out);
    }

    fn on_request(&mut self, ctx: Context, request: RequestId, body: Request, out: &mut Outbox<Self>) {
        self.client_request(ctx, request, body, out);
    }

    fn on_timer(&mut self, ctx: Context, timer: Timer, out: &mut Outbox<Self>) {
        match timer {
            Timer::Election => self.election_timeout(ctx, out),
            Timer::Heartbeat => self.heartbeat(ctx, out),
            Timer::CheckQuorum => self.check_quorum(ctx, out),
        }
    }

    fn committed_log(&self) -> Option<&CommittedLog> {
        Some(&self.committed)
    }

    fn status(&self) -> Status {
        Status {
            id: self.config.id,
            protocol: Self::NAME.to_string(),
            role: match self.role {
                RoleState::Leader(_) => Role::Leader,
                RoleState::Candidate { .. } => Role::Candidate,
                // A pre-candidate has not left its term: it is still a follower of it.
                RoleState::Follower | RoleState::PreCandidate { .. } => Role::Follower,
            },
            term: self.term,
            leader: self.leader,
            commit_index: self.commit_index,
            applied_index: self.applied_index,
        }
    }
}

/// Read-only views for tests and tools that inspect a node beyond `/status`.
impl Raft {
    pub fn term(&self) -> u64 {
        self.term
    }

    pub fn voted_for(&self) -> Option<NodeId> {
        self.voted_for
    }

    pub fn log(&self) -> &Log {
        &self.log
    }

    pub fn commit_index(&self) -> u64 {
        self.commit_index
    }

    pub fn applied_index(&self) -> u64 {
        self.applied_index
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    pub fn is_leader(&self) -> bool {
        matches!(self.role, RoleState::Leader(_))
    }

    /// The latest snapshot this node holds.
    pub fn snapshot(&self) -> Option<&Snapshot> {
        self.snapshot.as_ref()
    }
}

impl Raft {
    /// Route a well-formed message from a member. Term rules first (Figure 2, "Rules for
    /// Servers"): a higher term makes this node a follower of it; then the handler.
    fn step(&mut self, ctx: Context, from: NodeId, message: Message, out: &mut Outbox<Self>) {
        match message {
            // Pre-vote traffic carries a prospective term that nobody adopts.
            Message::PreVote { term, last_log_index, last_log_term } => {
                return self.on_pre_vote(ctx, from, term, last_log_index, last_log_term, out)
            }
            Message::PreVoteResponse { term, granted, current_term } => {
                return self.on_pre_vote_response(ctx, from, term, granted, current_term, out)
            }
            _ => {}
        }
        let term = message.term();
        if term > self.term {
            // Thesis 4.2.3: while a leader is known to be alive, a vote request for a new term
            // is disregarded entirely, term included.
            if matches!(message, Message::RequestVote { .. }) && self.in_leader_lease(ctx) {
                return;
            }
            self.become_follower(ctx, term, None, out);
        }
        match message {
            Message::RequestVote { term, last_log_index, last_log_term } => {
                self.on_request_vote(ctx, from, term, last_log_index, last_log_term, out)
            }
            Message::RequestVoteResponse { term, granted } => {
                self.on_request_vote_response(ctx, from, term, granted, out)
            }
            Message::AppendEntries { term, prev_log_index, prev_log_term, entries, leader_commit, round } => {
                let append =
                    replication::Append { term, prev_log_index, prev_log_term, entries, leader_commit };
                self.on_append_entries(ctx, from, append, round, out)
            }
            Message::AppendEntriesResponse {
                term,
                success,
                match_index,
                rejected_index,
                conflict,
                round,
            } => {
                let response =
                    replication::AppendResponse { term, success, match_index, rejected_index, conflict };
                self.on_append_response(ctx, from, response, round, out)
            }
            Message::InstallSnapshot { term, snapshot, round } => {
                self.on_install_snapshot(ctx, from, term, snapshot, round, out)
            }
            Message::PreVote { .. } | Message::PreVoteResponse { .. } => {}
        }
    }

    /// Persist the current term and vote (before anything that depends on them is sent).
    fn persist_hard_state(&self, out: &mut Outbox<Self>) {
        out.persist(Record::HardState { term: self.term, voted_for: self.voted_for });
    }

    fn peers(&self) -> Vec<NodeId> {
        self.config.peers().collect()
    }

    fn quorum(&self) -> usize {
        self.config.quorum()
    }

    /// Whether `granted` (a set of members, this node included where it applies) is a majority.
    fn is_quorum(&self, granted: &BTreeSet<NodeId>) -> bool {
        granted.len() >= self.quorum()
    }
}

impl Message {
    /// The sender's term (the prospective one for pre-vote traffic).
    pub fn term(&self) -> u64 {
        match self {
            Message::PreVote { term, .. }
            | Message::PreVoteResponse { term, .. }
            | Message::RequestVote { term, .. }
            | Message::RequestVoteResponse { term, .. }
            | Message::AppendEntries { term, .. }
            | Message::AppendEntriesResponse { term, .. }
            | Message::InstallSnapshot { term, .. } => *term,
        }
    }

    /// Whether the message is internally consistent. Peer frames are untrusted: one that is
    /// not is dropped rather than allowed to corrupt the log.
    pub fn is_well_formed(&self) -> bool {
        let index_ok = |index: u64| index <= MAX_INDEX;
        match self {
            Message::PreVote { term, last_log_index, last_log_term }
            | Message::RequestVote { term, last_log_index, last_log_term } => {
                last_log_term <= term && *term > 0 && index_ok(*last_log_index)
            }
            Message::PreVoteResponse { .. } | Message::RequestVoteResponse { .. } => true,
            Message::AppendEntries {
                term, prev_log_index, prev_log_term, entries, leader_commit, ..
            } => {
                if prev_log_term > term || (*prev_log_index == 0 && *prev_log_term != 0) {
                    return false;
                }
                let Some(last) = prev_log_index.checked_add(entries.len() as u64) else { return false };
                if !index_ok(last) || !index_ok(*leader_commit) {
                    return false;
                }
                let mut term_floor = *prev_log_term;
                for (offset, entry) in entries.iter().enumerate() {
                    let expected_index = prev_log_index + offset as u64 + 1;
                    if entry.index != expected_index || entry.term < term_floor || entry.term > *term {
                        return false;
                    }
                    term_floor = entry.term;
                }
                true
            }
            Message::AppendEntriesResponse { match_index, rejected_index, conflict, .. } => {
                index_ok(*match_index)
                    && index_ok(*rejected_index)
                    && conflict.is_none_or(|c| c.index >= 1 && index_ok(c.index))
            }
            Message::InstallSnapshot { term, snapshot, .. } => {
                snapshot.last_index > 0
                    && index_ok(snapshot.last_index)
                    && snapshot.last_term > 0
                    && snapshot.last_term <= *term
            }
        }
    }
}
