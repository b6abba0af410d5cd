//! Multi-Paxos (`paxos`): Lamport's "Paxos Made Simple", with the practical concerns of
//! Chandra, Griesemer and Redstone's "Paxos Made Live", as a pure [`Protocol`].
//!
//! Every node is proposer, acceptor and learner. The parts, one per file:
//!
//! - [`ballot`]: proposal numbers (round, node), each node's rounds disjoint (PMS §2.5).
//! - [`acceptor`]: promise and accept (PMS §2.2-2.3); its state is what the log persists.
//! - [`election`]: a candidate runs phase 1 once for every open slot (PMS §3).
//! - [`leader`]: the distinguished proposer: phase 2 only while it leads, re-proposing what
//!   phase 1 found and filling gaps with no-ops (PMS §3); heartbeats (PML §2.4).
//! - [`learner`]: chosen values, applied to the store in slot order (PMS §2.4, §3).
//! - [`catch_up`]: followers learn from the leader's piggybacked decisions, and a lagging or
//!   restarted replica fetches the chosen values it misses.
//! - [`snapshot`]: compaction every `snapshot_every` applied slots, and snapshot install for
//!   a replica that needs slots the others have compacted (PML §5.5).
//! - [`message`]: messages, log records and timers.
//!
//! # Decisions this implementation makes
//!
//! - **Clients talk to the leader.** A follower or candidate answers `not_leader` at once,
//!   with the leader it last heard from as the hint (no forwarding: the client retries, and
//!   the history records the definite failure).
//! - **The leader replies after applying.** A request is answered once its slot is chosen and
//!   every slot before it applied, with the store's answer. If the slot is chosen with another
//!   value (a higher ballot took it), the request definitely did not happen (`not_leader`):
//!   a command is only ever proposed in one slot. If the leader steps down first, every
//!   waiting request gets an indefinite `indeterminate` error: it may still be chosen.
//! - **Reads go through the log** (`ReadMode::Quorum`): a read is a command like any other,
//!   chosen in a slot and answered when applied, so it sees every write chosen before it.
//!   `ReadMode::Local` (unsafe by design) answers from the leader's applied state at once,
//!   stale when a deposed leader has not noticed yet.
//! - **Learning costs no extra message.** The leader piggybacks "slot s was chosen by ballot b"
//!   on its next accept or heartbeat; a follower that accepted s in ballot b or higher holds
//!   the chosen value (PMS §2.2, P2b). Whatever it cannot learn that way it fetches by
//!   catch-up. Stable writes thus cost 2(n-1) messages: accept and accepted.
//! - **`phase1_every_op`** (the classic protocol, PMS §2): the leader still wins an election
//!   with one phase 1 for all slots, but then runs a phase 1 for each new value's slot
//!   before its phase 2: 4(n-1) messages per write. A value found accepted there is
//!   proposed in that slot and the client's command moves on to the next slot.
//! - **Persistence** (PMS §2.3, PML §4): the promised ballot and each accepted value are
//!   [`Record`]s emitted in the same step as the promise or accepted message, so the runtime
//!   makes them durable before the answer leaves. Learned values are not logged; the log is
//!   compacted to a snapshot of the applied state every `snapshot_every` slots, so it stays
//!   bounded and a restarted node resumes (and prepares) from past its snapshot.
//! - **No leader lease** (PML §5.2 is not needed for safety): a deposed leader keeps its role
//!   until it hears of a higher ballot; reads through the log stay linearizable meanwhile.
//!   A leader that has not heard from a majority (accepted answers, promises, heartbeat
//!   acknowledgements) for the longest election timeout steps down (check-quorum), so a
//!   cut-off leader tells clients `not_leader` instead of holding them until they time out.
//!   Waiting writes then get `indeterminate`; waiting reads a definite `not_leader`. With
//!   `ReadMode::Local` there is no check-quorum: the cut-off leader keeps serving stale reads.

use std::collections::BTreeMap;

use crate::api::{ApiError, ErrorCode, NodeId, Request, Role as StatusRole, Status};
use crate::committed_log::CommittedLog;
use crate::protocol::{Config, Context, Outbox, Protocol, ReadMode, RequestId};

pub mod acceptor;
pub mod ballot;
mod catch_up;
mod election;
mod leader;
pub mod learner;
pub mod message;
pub mod snapshot;

pub use ballot::Ballot;
pub use message::{AcceptedEntry, CommandId, Decision, Learned, Message, Record, Scope, Slot, Timer, Value};
pub use snapshot::Snapshot;

use acceptor::{Acceptor, Answer};
use catch_up::CatchUp;
use election::Election;
use leader::Leadership;
use learner::Learner;

/// Most slots a leader keeps in flight (phase 1 or 2 not finished); more requests get a
/// definite `unavailable` until some are chosen.
pub const MAX_IN_FLIGHT: usize = 4096;

/// Most entries accepted in one peer message; a message with more is malformed.
pub const MAX_ENTRIES_PER_MESSAGE: usize = 65_536;

/// One Multi-Paxos node.
#[derive(Debug)]
pub struct Paxos {
    config: Config,
    /// This node's position among the sorted members: fixes its residue class of rounds.
    index: usize,
    acceptor: Acceptor,
    learner: Learner,
    role: Role,
    /// The highest round seen in any ballot, so that the next candidacy outbids it.
    highest_round: u64,
    /// The node this one last heard leading, for `not_leader` hints and `/status`.
    leader_hint: Option<NodeId>,
    catch_up: CatchUp,
    /// Promise records persisted since the log was last rewritten.
    promises_logged: usize,
}

#[derive(Debug)]
enum Role {
    Follower,
    Candidate(Election),
    Leader(Leadership),
}

impl Protocol for Paxos {
    type Message = Message;
    type Record = Record;
    type Timer = Timer;

    const NAME: &'static str = "paxos";

    fn recover(config: Config, records: Vec<Record>, ctx: Context, out: &mut Outbox<Self>) -> Self {
        let index =
            config.members.iter().position(|&m| m == config.id).unwrap_or_else(|| {
                panic!("node {} is not among the members {:?}", config.id, config.members)
            });
        let acceptor = Acceptor::recover(&records);
        let snapshot = records.into_iter().rev().find_map(|record| match record {
            Record::Snapshot { snapshot } => Some(snapshot),
            _ => None,
        });
        let node = Paxos {
            highest_round: acceptor.promised().round,
            config,
            index,
            acceptor,
            learner: snapshot.map(Learner::from_snapshot).unwrap_or_default(),
            role: Role::Follower,
            leader_hint: None,
            catch_up: CatchUp::default(),
            promises_logged: 0,
        };
        node.reset_election_timer(ctx, out);
        node
    }

    fn on_message(&mut self, ctx: Context, from: NodeId, message: Message, out: &mut Outbox<Self>) {
        if let Err(why) = self.validate(from, &message) {
            tracing::warn!(from, "paxos: ignoring malformed message: {why}");
            return;
        }
        match message {
            Message::Prepare { ballot, scope } => self.on_prepare(ctx, from, ballot, scope, out),
            Message::Promise { ballot, scope: Scope::From(_), accepted, compacted } => {
                self.on_election_promise(ctx, from, ballot, accepted, compacted, out)
            }
            Message::Promise { ballot, scope: Scope::One(slot), accepted, .. } => {
                self.on_slot_promise(ctx, from, ballot, slot, accepted, out)
            }
            Message::Accept { ballot, entries, learned } => {
                self.on_accept(ctx, from, ballot, entries, learned, out)
            }
            Message::Accepted { ballot, slots, compacted } => {
                self.on_accepted(ctx, from, ballot, slots, compacted, out)
            }
            Message::Reject { ballot, promised } => {
                self.see_round(promised.round);
                if self.own_ballot() == Some(ballot) && promised > ballot {
                    self.step_down(ctx, out);
                }
            }
            Message::Heartbeat { ballot, learned } => {
                if ballot < self.acceptor.promised() {
                    out.send(from, Message::Reject { ballot, promised: self.acceptor.promised() });
                    return;
                }
                out.send(from, Message::HeartbeatAck { ballot });
                self.heard_leader(ctx, ballot, out);
                self.learn_from_leader(ctx, from, learned, out);
            }
            Message::HeartbeatAck { ballot } => self.heard_follower(ctx, from, ballot),
            Message::CatchUp { from: first } => self.on_catch_up(from, first, out),
            Message::Chosen { entries, commit } => self.on_chosen(ctx, from, entries, commit, out),
            Message::Snapshot { snapshot } => self.on_snapshot(from, snapshot, out),
        }
    }

    fn on_request(&mut self, ctx: Context, request: RequestId, body: Request, out: &mut Outbox<Self>) {
        match &mut self.role {
            Role::Leader(_) if self.config.options.read_mode == ReadMode::Local && body.is_read_only() => {
                out.reply(request, self.learner.store().read(&body));
            }
            Role::Leader(_) => self.on_client_request(ctx, request, body, out),
            Role::Candidate(_) | Role::Follower => {
                out.reply(request, Err(ApiError::not_leader(self.leader_hint)))
            }
        }
    }

    fn on_timer(&mut self, ctx: Context, timer: Timer, out: &mut Outbox<Self>) {
        match (timer, &self.role) {
            (Timer::Election, Role::Follower | Role::Candidate(_)) => self.start_election(ctx, out),
            (Timer::Heartbeat, Role::Leader(_)) => self.tick(ctx, out),
            // A timer of a role this node no longer has.
            (Timer::Election, Role::Leader(_)) | (Timer::Heartbeat, _) => {}
        }
    }

    fn committed_log(&self) -> Option<&CommittedLog> {
        Some(self.learner.committed())
    }

    fn status(&self) -> Status {
        let (role, term, leader) = match &self.role {
            Role::Leader(l) => (StatusRole::Leader, l.ballot.round, Some(self.config.id)),
            Role::Candidate(e) => (StatusRole::Candidate, e.ballot.round, None),
            Role::Follower => (StatusRole::Follower, self.acceptor.promised().round, self.leader_hint),
        };
        Status {
            id: self.config.id,
            protocol: Self::NAME.to_string(),
            role,
            term,
            leader,
            commit_index: self.learner.commit(),
            applied_index: self.learner.commit(),
        }
    }
}

/// Read-only views for tests and invariant checks across a simulated cluster.
impl Paxos {
    /// Values this node knows are chosen, by slot.
    pub fn chosen(&self) -> &BTreeMap<Slot, Value> {
        self.learner.chosen()
    }

    /// What this node's acceptor accepted, by slot, with the ballot.
    pub fn accepted(&self) -> &BTreeMap<Slot, (Ballot, Value)> {
        self.acceptor.accepted()
    }

    pub fn promised(&self) -> Ballot {
        self.acceptor.promised()
    }

    /// Slots 1..=applied are chosen and applied to the store.
    pub fn applied(&self) -> Slot {
        self.learner.commit()
    }

    /// Slots 1..=compacted are folded into this node's snapshot: no longer in
    /// [`Paxos::chosen`] or [`Paxos::accepted`].
    pub fn compacted(&self) -> Slot {
        self.learner.base()
    }

    pub fn store(&self) -> &crate::state_machine::Store {
        self.learner.store()
    }

    pub fn is_leader(&self) -> bool {
        matches!(self.role, Role::Leader(_))
    }
}

impl Paxos {
    /// The ballot this node proposes with, while it is candidate or leader.
    fn own_ballot(&self) -> Option<Ballot> {
        match &self.role {
            Role::Follower => None,
            Role::Candidate(e) => Some(e.ballot),
            Role::Leader(l) => Some(l.ballot),
        }
    }

    fn see_round(&mut self, round: u64) {
        self.highest_round = self.highest_round.max(round);
    }

    fn quorum(&self) -> usize {
        self.config.quorum()
    }

    fn max_batch(&self) -> usize {
        self.config.options.max_batch.max(1)
    }

    /// A follower waits this long without hearing a leader before it runs for election.
    fn reset_election_timer(&self, ctx: Context, out: &mut Outbox<Self>) {
        let options = &self.config.options;
        let max = options.election_timeout_max_ms.max(options.election_timeout_min_ms);
        out.set_timer(Timer::Election, ctx.random_between(options.election_timeout_min_ms, max));
    }

    /// After a candidacy failed (refused, or no majority in time): a randomized back-off
    /// from a window half again as wide as the election timeout's, so that two duelling
    /// proposers soon stop preparing at the same time (PMS §3 on progress).
    fn back_off(&self, ctx: Context, out: &mut Outbox<Self>) {
        let options = &self.config.options;
        let min = options.election_timeout_min_ms;
        let max = options.election_timeout_max_ms.max(min);
        out.set_timer(Timer::Election, ctx.random_between(min, max + min / 2));
    }

    /// Phase 1b for a prepare from `from`.
    fn on_prepare(
        &mut self,
        ctx: Context,
        from: NodeId,
        ballot: Ballot,
        scope: Scope,
        out: &mut Outbox<Self>,
    ) {
        match self.acceptor.prepare(ballot, scope) {
            Answer::Refused { promised } => out.send(from, Message::Reject { ballot, promised }),
            Answer::Granted { answer, record } => {
                if let Some(record) = record {
                    out.persist(record);
                    self.logged_promise(out);
                }
                let compacted = self.acceptor.compacted();
                out.send(from, Message::Promise { ballot, scope, accepted: answer, compacted });
                if self.own_ballot().is_some_and(|own| own < ballot) {
                    self.step_down(ctx, out);
                }
                if matches!(scope, Scope::From(_)) && matches!(self.role, Role::Follower) {
                    // A candidate is running phase 1: give it time before competing.
                    self.leader_hint = None;
                    self.reset_election_timer(ctx, out);
                }
            }
        }
    }

    /// Phase 2b for an accept from the leader `from`.
    fn on_accept(
        &mut self,
        ctx: Context,
        from: NodeId,
        ballot: Ballot,
        entries: Vec<(Slot, Value)>,
        learned: Learned,
        out: &mut Outbox<Self>,
    ) {
        match self.acceptor.accept(ballot, &entries) {
            Answer::Refused { promised } => out.send(from, Message::Reject { ballot, promised }),
            Answer::Granted { answer, record } => {
                out.effects.extend(record.map(crate::protocol::Effect::Persist));
                let compacted = self.acceptor.compacted();
                out.send(from, Message::Accepted { ballot, slots: answer, compacted });
                self.heard_leader(ctx, ballot, out);
                self.learn_from_leader(ctx, from, learned, out);
            }
        }
    }

    /// A message from a leader with a ballot at or above this node's promise.
    fn heard_leader(&mut self, ctx: Context, ballot: Ballot, out: &mut Outbox<Self>) {
        if self.own_ballot().is_some_and(|own| own < ballot) {
            self.step_down(ctx, out);
        }
        if matches!(self.role, Role::Follower) {
            self.leader_hint = Some(ballot.node);
            self.reset_election_timer(ctx, out);
        }
    }

    /// Stop proposing: a higher ballot exists. Waiting clients learn that their request may
    /// or may not happen (the new leader may still choose it).
    fn step_down(&mut self, ctx: Context, out: &mut Outbox<Self>) {
        let previous = std::mem::replace(&mut self.role, Role::Follower);
        let was_candidate = matches!(previous, Role::Candidate(_));
        if let Role::Leader(leadership) = previous {
            out.cancel_timer(Timer::Heartbeat);
            for (request, read_only) in leadership.into_waiting_requests() {
                let error = if read_only {
                    // A read changes nothing: failing it is definite whatever becomes of it.
                    ApiError::not_leader(None)
                } else {
                    ApiError::new(ErrorCode::Indeterminate, "leadership lost before the request was chosen")
                };
                out.reply(request, Err(error));
            }
        }
        self.leader_hint = None;
        if was_candidate {
            self.back_off(ctx, out);
        } else {
            self.reset_election_timer(ctx, out);
        }
    }

    /// Content checks on a peer message (the sender itself is authenticated).
    fn validate(&mut self, from: NodeId, message: &Message) -> Result<(), String> {
        if from == self.config.id || !self.config.members.contains(&from) {
            return Err(format!("sender {from} is not a peer"));
        }
        let own = |ballot: &Ballot| ballot.node == self.config.id;
        let theirs = |ballot: &Ballot| ballot.node == from && ballot.round > 0;
        let slot_ok = |slot: Slot| (1..u64::MAX / 2).contains(&slot);
        let entries_ok = |entries: &[(Slot, Value)]| {
            entries.len() <= MAX_ENTRIES_PER_MESSAGE && entries.iter().all(|(slot, _)| slot_ok(*slot))
        };
        let learned_ok = |l: &Learned| {
            l.commit < u64::MAX / 2
                && l.decisions.len() <= MAX_ENTRIES_PER_MESSAGE
                && l.decisions.iter().all(|d| slot_ok(d.slot))
        };
        let ok = match message {
            Message::Prepare { ballot, scope } => theirs(ballot) && slot_ok(scope.first()),
            Message::Promise { ballot, scope, accepted, compacted } => {
                own(ballot)
                    && slot_ok(scope.first())
                    && *compacted < u64::MAX / 2
                    && accepted.len() <= MAX_ENTRIES_PER_MESSAGE
                    && accepted.iter().all(|e| scope.contains(e.slot) && e.ballot <= *ballot)
            }
            Message::Accept { ballot, entries, learned } => {
                theirs(ballot) && entries_ok(entries) && learned_ok(learned)
            }
            Message::Accepted { ballot, slots, compacted } => {
                own(ballot)
                    && *compacted < u64::MAX / 2
                    && slots.len() <= MAX_ENTRIES_PER_MESSAGE
                    && slots.iter().all(|s| slot_ok(*s))
            }
            Message::Reject { ballot, promised } => own(ballot) && promised > ballot,
            Message::Heartbeat { ballot, learned } => theirs(ballot) && learned_ok(learned),
            Message::HeartbeatAck { ballot } => own(ballot),
            Message::CatchUp { from } => slot_ok(*from),
            Message::Chosen { entries, commit } => entries_ok(entries) && *commit < u64::MAX / 2,
            Message::Snapshot { snapshot } => slot_ok(snapshot.last_slot),
        };
        if !ok {
            return Err(format!("{message:?}").chars().take(200).collect());
        }
        let round = match message {
            Message::Prepare { ballot, .. }
            | Message::Accept { ballot, .. }
            | Message::Heartbeat { ballot, .. } => ballot.round,
            _ => 0,
        };
        self.see_round(round);
        Ok(())
    }
}
