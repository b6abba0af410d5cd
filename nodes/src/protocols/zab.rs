//! Zab, ZooKeeper's atomic broadcast (Junqueira, Reed and Serafini, "Zab: High-performance
//! broadcast for primary-backup systems", DSN 2011, cited as "DSN" with its section numbers;
//! and Medeiros, "ZooKeeper's atomic broadcast protocol: Theory and practice", 2012, cited as
//! "Medeiros" for what the implementation does beyond the paper).
//!
//! A pure [`Protocol`]. A node is in one of three states (DSN IV, Medeiros 3): `looking`
//! (electing), `following` or `leading`. A leader runs the three phases of DSN IV-A to IV-C
//! with each follower, and the cluster moves through them together:
//!
//! 0. **Election** (`election`): Fast Leader Election (Medeiros 3.1). Votes name the
//!    candidate with the newest history, ordered by (current epoch, last zxid, id); a node
//!    that sees a quorum agree on its vote follows (or leads) that candidate. Election is
//!    only a heuristic for liveness: safety comes from the epochs of the next phase.
//! 1. **Discovery** (`discovery`, DSN IV-A): followers report their accepted epoch
//!    (FOLLOWERINFO, "CEPOCH" in DSN); the prospective leader proposes one more than the
//!    largest in a quorum (NEWEPOCH); a follower accepts it only if it is larger than any it
//!    accepted before, and answers ACKEPOCH with its current epoch and last zxid. A quorum of
//!    fresh ACKEPOCHs establishes the epoch: no other leader can establish it, because the
//!    quorums intersect. As in ZooKeeper (Medeiros 3.2), the leader keeps its own history
//!    and gives up if any follower of that quorum reports a newer one (the election made
//!    that rare).
//! 2. **Synchronization** (`synchronization`, DSN IV-B): the leader sends each follower the
//!    part of its history the follower lacks (NEWLEADER); the follower adopts it and its
//!    epoch as current, durably, and acknowledges. Once a quorum has, everything in the
//!    leader's initial history is committed.
//! 3. **Broadcast** (`broadcast`, DSN IV-C): a write becomes a proposal with zxid = (epoch,
//!    counter), sent in zxid order; followers append it and acknowledge; a quorum of
//!    acknowledgements commits it, and COMMIT tells the followers.
//!
//! DSN assumes reliable FIFO channels, which TCP gives ZooKeeper. Here messages may be lost,
//! reordered or duplicated, so each proposal names the zxid it follows, followers accept only
//! in order and acknowledge cumulatively, and the leader retransmits from the last
//! acknowledged zxid on every heartbeat. A follower never truncates its history outside
//! synchronization.
//!
//! # Reads (`reads`)
//!
//! ZooKeeper serves reads from whichever server the client is connected to: sequentially
//! consistent, not linearizable (a server behind, or a deposed leader, answers stale data),
//! which is why it has `sync`. This node is tested against a linearizability checker beside
//! Raft and Paxos, so reads go through the leader and are confirmed by a quorum, in the
//! manner of Raft's ReadIndex: the leader answers a read from its state once a quorum of
//! followers still synchronised in its epoch has answered a heartbeat sent after the read
//! arrived (then no newer epoch had been established, so no write newer than the leader's
//! state had been acknowledged). This costs one round trip and no log entry, where routing
//! the read through the log would cost a proposal, a quorum write and a commit.
//! [`ReadMode::Local`] answers at once from the leader's state, unsafe by design.
//!
//! # Durability
//!
//! The accepted epoch, the current epoch and the history are [`Record`]s, persisted in the
//! same step as the message that depends on them (ACKEPOCH, the ACK of NEWLEADER, the ACK of
//! a proposal), so the runtime makes them durable first (DSN IV: "f.a", "f.e" and "h_f"
//! are stored on stable storage). What is committed is not persisted: it is relearned from
//! the leader.
//!
//! # Invariants (checked by `nodes/tests/zab_*.rs`)
//!
//! At most one established leader per epoch; a committed transaction is never lost or
//! changed and every node delivers the same sequence; client histories are linearizable with
//! [`ReadMode::Quorum`].

use serde::{Deserialize, Serialize};

use crate::api::{NodeId, Request, Role, Status};
use crate::committed_log::CommittedLog;
use crate::protocol::{Config, Context, Outbox, Protocol, RequestId};
use crate::state_machine::Store;

mod broadcast;
mod discovery;
mod election;
pub mod history;
mod reads;
mod recovery;
mod state;
mod synchronization;

use history::History;
use state::{FollowerPhase, LeaderPhase, NodeState};

#[cfg(doc)]
use crate::protocol::ReadMode;

/// Most client requests a leader holds unanswered at once; beyond it, new ones get a definite
/// `unavailable` rather than an unbounded queue.
pub const MAX_PENDING_REQUESTS: usize = 10_000;

/// The largest epoch or counter a peer may mention: far beyond any real run, it keeps
/// `+ 1` from overflowing on a hostile frame.
pub const MAX_ZXID_PART: u64 = 1 << 62;

/// A transaction id (DSN III): the epoch of the leader that proposed it and its position
/// among that leader's proposals. Ordered by epoch, then counter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, Default)]
pub struct Zxid {
    pub epoch: u64,
    pub counter: u64,
}

impl Zxid {
    /// Before every transaction: the last zxid of an empty history.
    pub const ZERO: Zxid = Zxid { epoch: 0, counter: 0 };

    fn is_sane(self) -> bool {
        self.epoch <= MAX_ZXID_PART && self.counter <= MAX_ZXID_PART
    }
}

impl std::fmt::Display for Zxid {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}.{}", self.epoch, self.counter)
    }
}

/// One transaction of the history: a client request, ordered by its zxid.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Txn {
    pub zxid: Zxid,
    pub request: Request,
}

/// A vote of Fast Leader Election: the candidate and how new its history is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Vote {
    pub leader: NodeId,
    /// The candidate's current epoch.
    pub epoch: u64,
    /// The candidate's last zxid.
    pub zxid: Zxid,
}

impl Vote {
    /// The election's total order (Medeiros 3.1): newer history first, then the larger id.
    pub fn rank(&self) -> (u64, Zxid, NodeId) {
        (self.epoch, self.zxid, self.leader)
    }
}

/// What the sender of a notification is doing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PeerState {
    Looking,
    Following,
    Leading,
}

/// What Zab nodes say to each other. Every message after the election carries the epoch it
/// belongs to; one of another epoch is ignored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Message {
    /// Fast Leader Election: the sender's election round, state and vote. A node that
    /// follows or leads answers a looking node's notification with its own, naming its leader.
    Notification { round: u64, state: PeerState, vote: Vote },
    /// Discovery, follower to prospective leader: the follower's accepted epoch (DSN
    /// "CEPOCH"). `session` names this attempt to follow, so that answers to an earlier one
    /// are told apart.
    FollowerInfo { accepted_epoch: u64, session: u64 },
    /// Discovery, leader to follower: the new epoch (DSN "NEWEPOCH").
    NewEpoch { epoch: u64, session: u64 },
    /// Discovery, follower to leader (DSN "ACK-E"). `fresh` is false when the follower had
    /// already accepted this epoch: such an answer lets it join an established leader but does
    /// not count towards establishing the epoch (ZooKeeper acknowledges it with epoch -1).
    AckEpoch { epoch: u64, session: u64, fresh: bool, current_epoch: u64, last: Zxid },
    /// Synchronization (DSN "NEWLEADER"): keep the first `keep` transactions (the last of
    /// which is `keep_last`), replace the rest by `txns`, and take `epoch` as current.
    NewLeader { epoch: u64, session: u64, keep: u64, keep_last: Zxid, txns: Vec<Txn> },
    /// Synchronization (DSN "ACK-LD"): the follower holds the leader's history up to `last`.
    AckNewLeader { epoch: u64, session: u64, last: Zxid },
    /// Broadcast (DSN "PROPOSE"): transactions that follow `prev` in the leader's history.
    Proposal { epoch: u64, prev: Zxid, txns: Vec<Txn> },
    /// Broadcast (DSN "ACK"), cumulative: the follower holds the leader's history up to
    /// `last`. `gap` says a proposal arrived that did not follow it (resend from `last`);
    /// `round` echoes the latest heartbeat round seen (for reads).
    Ack { epoch: u64, last: Zxid, gap: bool, round: u64 },
    /// Broadcast (DSN "COMMIT"): everything up to `zxid` is committed.
    Commit { epoch: u64, zxid: Zxid },
    /// The leader's heartbeat (ZooKeeper's PING), with what is committed; answered by `Ack`.
    Ping { epoch: u64, commit: Zxid, round: u64 },
}

/// What a Zab node writes to its write-ahead log (DSN IV: the persistent variables).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Record {
    /// The last NEWEPOCH accepted ("f.a").
    AcceptedEpoch { epoch: u64 },
    /// The last NEWLEADER accepted ("f.e"), when the leader itself establishes its epoch.
    CurrentEpoch { epoch: u64 },
    /// Synchronization: keep the first `keep` transactions, then these, and `epoch` is current.
    Synced { epoch: u64, keep: u64, txns: Vec<Txn> },
    /// Proposals appended at the end of the history ("h_f").
    Appended { txns: Vec<Txn> },
}

/// Zab's timers.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Timer {
    /// Looking: start a new election round. Following: the leader fell silent. Leading
    /// before broadcast: the epoch was not established in time. Each gives up and looks.
    Election,
    /// Looking: resend the notification; following before synchronization: resend
    /// FOLLOWERINFO or ACKEPOCH; leading: heartbeat and retransmission.
    Tick,
    /// Leading: give up unless a quorum answered since the last check (ZooKeeper's syncLimit).
    CheckQuorum,
}

/// One Zab node.
#[derive(Debug)]
pub struct Zab {
    config: Config,
    /// Persistent: the latest epoch accepted in discovery (DSN "f.a").
    accepted_epoch: u64,
    /// Persistent: the epoch of the last NEWLEADER accepted (DSN "f.e").
    current_epoch: u64,
    /// Persistent: the transactions accepted, in zxid order (DSN "h_f").
    history: History,
    /// How many transactions of `history` are known committed; relearned after a restart.
    committed: u64,
    /// How many have been delivered to `store`; never above `committed`.
    applied: u64,
    store: Store,
    /// What was delivered, as running hashes (`GET /admin/log`), one index per transaction.
    committed_log: CommittedLog,
    state: NodeState,
    /// The largest accepted epoch any member reported to this node as leader (volatile): a
    /// new epoch is proposed above it, so that a member that accepted a larger epoch from a
    /// would-be leader that never established it can join the next leader.
    epoch_seen: u64,
    /// Fast Leader Election's logical clock: the current election round (volatile, as in
    /// ZooKeeper; a restarted node catches up from the notifications it receives).
    round: u64,
}

impl Protocol for Zab {
    type Message = Message;
    type Record = Record;
    type Timer = Timer;

    const NAME: &'static str = "zab";

    fn recover(config: Config, records: Vec<Record>, ctx: Context, out: &mut Outbox<Self>) -> Self {
        let mut zab = Zab::replay(config, records);
        zab.start_looking(ctx, out);
        zab
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
            Timer::Tick => self.tick(ctx, out),
            Timer::CheckQuorum => self.check_quorum(ctx, out),
        }
    }

    fn status(&self) -> Status {
        let (role, leader) = match &self.state {
            NodeState::Looking(_) => (Role::Candidate, None),
            NodeState::Following(f) => (Role::Follower, Some(f.leader).filter(|_| f.epoch.is_some())),
            NodeState::Leading(l) => match l.phase {
                LeaderPhase::Discovery { .. } => (Role::Candidate, None),
                LeaderPhase::Synchronization { .. } | LeaderPhase::Broadcast => {
                    (Role::Leader, Some(self.config.id))
                }
            },
        };
        Status {
            id: self.config.id,
            protocol: Self::NAME.to_string(),
            role,
            term: self.accepted_epoch,
            leader,
            commit_index: self.committed,
            applied_index: self.applied,
        }
    }

    fn committed_log(&self) -> Option<&CommittedLog> {
        Some(&self.committed_log)
    }
}

/// Read-only views for tests and tools that inspect a node beyond `/status`.
impl Zab {
    pub fn accepted_epoch(&self) -> u64 {
        self.accepted_epoch
    }

    pub fn current_epoch(&self) -> u64 {
        self.current_epoch
    }

    pub fn history(&self) -> &History {
        &self.history
    }

    /// How many transactions of the history are known committed.
    pub fn committed(&self) -> u64 {
        self.committed
    }

    pub fn applied(&self) -> u64 {
        self.applied
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    /// Whether this node leads an established epoch and broadcasts in it.
    pub fn is_broadcasting_leader(&self) -> bool {
        matches!(&self.state, NodeState::Leading(l) if matches!(l.phase, LeaderPhase::Broadcast))
    }

    /// Whether this node follows a leader whose history it has adopted.
    pub fn is_synced_follower(&self) -> bool {
        matches!(&self.state, NodeState::Following(f) if f.phase == FollowerPhase::Broadcast)
    }
}

impl Zab {
    /// Route a well-formed message from a member to the phase it belongs to.
    fn step(&mut self, ctx: Context, from: NodeId, message: Message, out: &mut Outbox<Self>) {
        match message {
            Message::Notification { round, state, vote } => {
                self.on_notification(ctx, from, round, state, vote, out)
            }
            Message::FollowerInfo { accepted_epoch, session } => {
                self.on_follower_info(ctx, from, accepted_epoch, session, out)
            }
            Message::NewEpoch { epoch, session } => self.on_new_epoch(ctx, from, epoch, session, out),
            Message::AckEpoch { epoch, session, fresh, current_epoch, last } => {
                let ack = discovery::AckEpoch { epoch, session, fresh, current_epoch, last };
                self.on_ack_epoch(ctx, from, ack, out)
            }
            Message::NewLeader { epoch, session, keep, keep_last, txns } => {
                let sync = synchronization::NewLeader { epoch, session, keep, keep_last, txns };
                self.on_new_leader(ctx, from, sync, out)
            }
            Message::AckNewLeader { epoch, session, last } => {
                self.on_ack_new_leader(ctx, from, epoch, session, last, out)
            }
            Message::Proposal { epoch, prev, txns } => self.on_proposal(ctx, from, epoch, prev, txns, out),
            Message::Ack { epoch, last, gap, round } => self.on_ack(ctx, from, epoch, last, gap, round, out),
            Message::Commit { epoch, zxid } => self.on_commit(ctx, from, epoch, zxid, out),
            Message::Ping { epoch, commit, round } => self.on_ping(ctx, from, epoch, commit, round, out),
        }
    }

    fn peers(&self) -> Vec<NodeId> {
        self.config.peers().collect()
    }

    fn quorum(&self) -> usize {
        self.config.quorum()
    }

    /// This node's vote for itself: the newness of its own history.
    fn own_vote(&self) -> Vote {
        Vote { leader: self.config.id, epoch: self.current_epoch, zxid: self.history.last_zxid() }
    }

    /// Apply every committed transaction not yet applied, in zxid order, answering the
    /// leader's pending writes; then serve reads that became ready.
    fn apply_committed(&mut self, out: &mut Outbox<Self>) {
        while self.applied < self.committed {
            let Some(txn) = self.history.get(self.applied) else {
                debug_assert!(false, "committed transaction {} missing", self.applied);
                break;
            };
            let result = self.store.apply(&txn.request);
            self.committed_log.append_value(txn.zxid.epoch, &txn.request);
            let zxid = txn.zxid;
            self.applied += 1;
            if let NodeState::Leading(leading) = &mut self.state {
                if let Some(request) = leading.pending_writes.remove(&zxid) {
                    out.reply(request, result);
                }
            }
        }
        self.serve_reads(out);
    }
}

impl Message {
    /// Whether the message is internally consistent. Peer frames are untrusted: one that is
    /// not is dropped rather than allowed to corrupt the history.
    pub fn is_well_formed(&self) -> bool {
        let epoch_ok = |e: u64| e <= MAX_ZXID_PART;
        // Strictly increasing, after `after`, none from an epoch above `epoch`.
        let ordered = |after: Zxid, txns: &[Txn], epoch: u64| {
            let mut last = after;
            txns.iter().all(|t| {
                let ok = t.zxid > last && t.zxid.is_sane() && t.zxid.epoch <= epoch && t.zxid.counter > 0;
                last = t.zxid;
                ok
            })
        };
        match self {
            Message::Notification { round, vote, .. } => {
                epoch_ok(*round) && epoch_ok(vote.epoch) && vote.zxid.is_sane()
            }
            Message::FollowerInfo { accepted_epoch, .. } => epoch_ok(*accepted_epoch),
            Message::NewEpoch { epoch, .. } => *epoch > 0 && epoch_ok(*epoch),
            Message::AckEpoch { epoch, current_epoch, last, .. } => {
                *epoch > 0
                    && epoch_ok(*epoch)
                    && current_epoch <= epoch
                    && last.is_sane()
                    && last.epoch <= *epoch
            }
            Message::NewLeader { epoch, keep, keep_last, txns, .. } => {
                *epoch > 0
                    && epoch_ok(*epoch)
                    && *keep <= MAX_ZXID_PART
                    && (*keep == 0) == (*keep_last == Zxid::ZERO)
                    && keep_last.epoch <= *epoch
                    && ordered(*keep_last, txns, *epoch)
            }
            Message::AckNewLeader { epoch, last, .. } => {
                *epoch > 0 && epoch_ok(*epoch) && last.epoch <= *epoch
            }
            Message::Proposal { epoch, prev, txns } => {
                *epoch > 0
                    && epoch_ok(*epoch)
                    && prev.epoch <= *epoch
                    && !txns.is_empty()
                    && txns.iter().all(|t| t.zxid.epoch == *epoch)
                    && ordered(*prev, txns, *epoch)
            }
            Message::Ack { epoch, last, round, .. } => {
                *epoch > 0 && epoch_ok(*epoch) && last.epoch <= *epoch && last.is_sane() && epoch_ok(*round)
            }
            Message::Commit { epoch, zxid } => {
                *epoch > 0 && epoch_ok(*epoch) && zxid.epoch <= *epoch && zxid.is_sane()
            }
            Message::Ping { epoch, commit, round } => {
                *epoch > 0
                    && epoch_ok(*epoch)
                    && commit.epoch <= *epoch
                    && commit.is_sane()
                    && epoch_ok(*round)
            }
        }
    }
}

impl Zab {
    /// A one-line summary of the node's volatile state, for failure messages.
    pub fn debug_state(&self) -> String {
        format!(
            "accepted {} current {} last {} len {} committed {} round {} {:?}",
            self.accepted_epoch,
            self.current_epoch,
            self.history.last_zxid(),
            self.history.len(),
            self.committed,
            self.round,
            self.state
        )
    }
}
