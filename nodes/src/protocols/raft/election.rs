//! Leader election (section 5.2) with the election restriction (5.4.1), pre-vote (thesis
//! 9.6) and check-quorum (thesis 6.2).
//!
//! Why both extras: a node cut off from the cluster keeps timing out. Without pre-vote it
//! would raise its term on every timeout and, when it returns, force the healthy leader to
//! step down. With pre-vote it first asks whether a majority would vote for it; nodes that
//! heard from a leader within the minimum election timeout say no, so its term stays put.
//! Check-quorum is the other half: a leader that has not heard from a majority within an
//! election timeout steps down, so followers can trust "I heard from a leader recently".
//!
//! With `ReadMode::Local` a leader does not run check-quorum: it trusts its own belief that
//! it leads until it hears of a newer term, as a leader without a lease did in etcd before
//! check-quorum existed. That is what makes its local reads go stale under a partition that
//! isolates it, which is the point of the mode. Safety of the log does not depend on it.

use std::collections::{BTreeMap, BTreeSet};

use super::state::{Leadership, Progress, RoleState};
use super::{Command, Entry, Message, Raft, Record, Timer};
use crate::api::NodeId;
use crate::protocol::{Context, Outbox, ReadMode};

/// Rounds one leadership may number before reaching the next term's base (at one
/// broadcast per heartbeat of 1 ms, 49 days).
pub(super) const ROUNDS_PER_TERM: u64 = 1 << 32;

/// The round before a leader of `term` sends its first broadcast: rounds of an earlier
/// term's leadership are all below it, so an answer to one can never confirm a read of
/// this leadership (the stale-round read, `nodes/tests/raft_stale_round_read.rs`).
pub(super) fn first_round(term: u64) -> u64 {
    term.saturating_mul(ROUNDS_PER_TERM)
}

impl Raft {
    /// Become a follower of `term` (adopting it, with no vote, if it is newer). A leader that
    /// steps down abandons its pending requests (see the module documentation of `raft`).
    pub(super) fn become_follower(
        &mut self,
        ctx: Context,
        term: u64,
        leader: Option<NodeId>,
        out: &mut Outbox<Self>,
    ) {
        debug_assert!(term >= self.term, "become_follower to an older term");
        if term > self.term {
            self.term = term;
            self.voted_for = None;
            self.leader_contact_ms = None;
            self.persist_hard_state(out);
        }
        self.leader = leader;
        let previous = std::mem::replace(&mut self.role, RoleState::Follower);
        match previous {
            RoleState::Follower => {}
            RoleState::Leader(leadership) => {
                out.cancel_timer(Timer::Heartbeat);
                out.cancel_timer(Timer::CheckQuorum);
                self.abandon_requests(*leadership, out);
                self.reset_election_timer(ctx, out);
            }
            RoleState::PreCandidate { .. } | RoleState::Candidate { .. } => {
                self.reset_election_timer(ctx, out);
            }
        }
    }

    /// Section 5.2: a randomized timeout in `[election_timeout_min_ms, election_timeout_max_ms]`
    /// so that split votes are rare and resolve quickly.
    pub(super) fn reset_election_timer(&self, ctx: Context, out: &mut Outbox<Self>) {
        let options = &self.config.options;
        let low = options.election_timeout_min_ms.max(1);
        let high = options.election_timeout_max_ms.max(low);
        out.set_timer(Timer::Election, ctx.random_between(low, high));
    }

    /// Whether this node believes a leader of its term is alive: it leads itself (check-quorum
    /// removes a leader that lost its majority), or it heard from the leader within the
    /// minimum election timeout. Such a node grants no (pre-)votes for a newer term.
    pub(super) fn in_leader_lease(&self, ctx: Context) -> bool {
        match self.role {
            RoleState::Leader(_) => true,
            _ => {
                self.leader.is_some()
                    && self.leader_contact_ms.is_some_and(|at| {
                        ctx.now_ms.saturating_sub(at) < self.config.options.election_timeout_min_ms
                    })
            }
        }
    }

    /// No leader heard from: start a pre-vote (thesis 9.6) for the next term.
    pub(super) fn election_timeout(&mut self, ctx: Context, out: &mut Outbox<Self>) {
        if matches!(self.role, RoleState::Leader(_)) {
            return;
        }
        self.leader = None;
        self.role = RoleState::PreCandidate { granted: BTreeSet::from([self.config.id]) };
        self.reset_election_timer(ctx, out);
        if self.pre_vote_won() {
            return self.start_election(ctx, out);
        }
        let message = Message::PreVote {
            term: self.term + 1,
            last_log_index: self.log.last_index(),
            last_log_term: self.log.last_term(),
        };
        for peer in self.peers() {
            out.send(peer, message.clone());
        }
    }

    /// Thesis 9.6: grant if the candidate could win (its log is at least as up-to-date, 5.4.1,
    /// and its prospective term is newer) and no leader is known to be alive. Nothing here
    /// changes this node's term or vote.
    pub(super) fn on_pre_vote(
        &mut self,
        ctx: Context,
        from: NodeId,
        term: u64,
        last_log_index: u64,
        last_log_term: u64,
        out: &mut Outbox<Self>,
    ) {
        let granted = term > self.term
            && !self.in_leader_lease(ctx)
            && self.log.is_up_to_date(last_log_index, last_log_term);
        out.send(from, Message::PreVoteResponse { term, granted, current_term: self.term });
    }

    pub(super) fn on_pre_vote_response(
        &mut self,
        ctx: Context,
        from: NodeId,
        term: u64,
        granted: bool,
        current_term: u64,
        out: &mut Outbox<Self>,
    ) {
        if !granted && current_term > self.term {
            // The responder is in a newer term: this node is behind and cannot win.
            return self.become_follower(ctx, current_term, None, out);
        }
        let prospective = self.term + 1;
        if let RoleState::PreCandidate { granted: votes } = &mut self.role {
            if granted && term == prospective {
                votes.insert(from);
                if self.pre_vote_won() {
                    self.start_election(ctx, out);
                }
            }
        }
    }

    fn pre_vote_won(&self) -> bool {
        matches!(&self.role, RoleState::PreCandidate { granted } if self.is_quorum(granted))
    }

    /// Section 5.2: increment the term, vote for itself (persisted before the requests go
    /// out), and ask every peer for its vote.
    fn start_election(&mut self, ctx: Context, out: &mut Outbox<Self>) {
        self.term += 1;
        self.voted_for = Some(self.config.id);
        self.leader = None;
        self.leader_contact_ms = None;
        self.persist_hard_state(out);
        self.role = RoleState::Candidate { granted: BTreeSet::from([self.config.id]) };
        self.reset_election_timer(ctx, out);
        if matches!(&self.role, RoleState::Candidate { granted } if self.is_quorum(granted)) {
            return self.become_leader(ctx, out);
        }
        let message = Message::RequestVote {
            term: self.term,
            last_log_index: self.log.last_index(),
            last_log_term: self.log.last_term(),
        };
        for peer in self.peers() {
            out.send(peer, message.clone());
        }
    }

    /// Sections 5.2 and 5.4.1: one vote per term, first come first served, only for a
    /// candidate whose log is at least as up-to-date. A higher term was adopted before this
    /// runs (see `Raft::step`), so `term` is at most the current one.
    pub(super) fn on_request_vote(
        &mut self,
        ctx: Context,
        from: NodeId,
        term: u64,
        last_log_index: u64,
        last_log_term: u64,
        out: &mut Outbox<Self>,
    ) {
        let granted = term == self.term
            && self.voted_for.is_none_or(|v| v == from)
            && self.log.is_up_to_date(last_log_index, last_log_term);
        if granted {
            if self.voted_for.is_none() {
                self.voted_for = Some(from);
                self.persist_hard_state(out);
            }
            // Granting a vote resets the timer (Figure 2) so this node does not compete.
            self.reset_election_timer(ctx, out);
        }
        out.send(from, Message::RequestVoteResponse { term: self.term, granted });
    }

    pub(super) fn on_request_vote_response(
        &mut self,
        ctx: Context,
        from: NodeId,
        term: u64,
        granted: bool,
        out: &mut Outbox<Self>,
    ) {
        if term != self.term || !granted {
            return;
        }
        if let RoleState::Candidate { granted: votes } = &mut self.role {
            votes.insert(from);
            if matches!(&self.role, RoleState::Candidate { granted } if self.is_quorum(granted)) {
                self.become_leader(ctx, out);
            }
        }
    }

    /// Section 5.2: a majority voted. Initialise each follower's progress (Figure 2) and
    /// append a no-op of the new term (section 8): committing it commits every earlier entry
    /// (5.4.2) and tells the leader the commit index, which ReadIndex needs.
    fn become_leader(&mut self, ctx: Context, out: &mut Outbox<Self>) {
        let next_index = self.log.last_index() + 1;
        let progress: BTreeMap<NodeId, Progress> =
            self.peers().into_iter().map(|peer| (peer, Progress::new(next_index))).collect();
        let noop = Entry { index: next_index, term: self.term, command: Command::Noop };
        self.log.append(noop.clone());
        out.persist(Record::Entries { entries: vec![noop] });
        self.role = RoleState::Leader(Box::new(Leadership {
            progress,
            noop_index: next_index,
            // Rounds never repeat across leaderships, even across restarts: a leader's
            // rounds start at a base derived from its term (see `first_round`).
            round: first_round(self.term),
            pending_writes: BTreeMap::new(),
            pending_reads: Vec::new(),
            heard_since_check: BTreeSet::new(),
            round_times: Default::default(),
            lease_until_ms: None,
        }));
        self.leader = Some(self.config.id);
        out.cancel_timer(Timer::Election);
        if self.config.options.read_mode != ReadMode::Local {
            out.set_timer(Timer::CheckQuorum, self.check_quorum_period_ms());
        }
        self.heartbeat(ctx, out);
        self.advance_commit(ctx, out);
    }

    /// Thesis 6.2: a leader that has not heard from a majority during the last period steps
    /// down, so that it stops serving (and so that followers' leases mean something).
    pub(super) fn check_quorum(&mut self, ctx: Context, out: &mut Outbox<Self>) {
        let RoleState::Leader(leadership) = &mut self.role else { return };
        let heard = leadership.heard_since_check.len() + 1;
        leadership.heard_since_check.clear();
        if heard < self.config.quorum() {
            let term = self.term;
            return self.become_follower(ctx, term, None, out);
        }
        out.set_timer(Timer::CheckQuorum, self.check_quorum_period_ms());
    }

    fn check_quorum_period_ms(&self) -> u64 {
        self.config.options.election_timeout_min_ms.max(1)
    }
}
