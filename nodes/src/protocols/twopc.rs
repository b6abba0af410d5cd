//! `2pc`: two-phase commit with a static coordinator, replicating every write to every node.
//!
//! What it implements: the two-phase commit protocol (Gray, "Notes on Data Base Operating
//! Systems", 1978, §5.8.3.3; Bernstein, Hadzilacos and Goodman, "Concurrency Control and
//! Recovery in Database Systems", 1987, ch. 7), with presumed abort (Mohan, Lindsay and
//! Obermarck, "Transaction Management in the R* Distributed Database Management System",
//! 1986): a coordinator that finds no decision for a transaction aborts it.
//!
//! # Roles
//!
//! The lowest member is the coordinator, forever; every member, the coordinator included, is
//! a participant holding a full replica. Only the coordinator takes client requests; the
//! others answer `not_leader` at once, naming it.
//!
//! # Writes
//!
//! The coordinator runs one transaction at a time; writes that arrive meanwhile queue (at
//! most [`MAX_QUEUED`]) and the next transaction carries up to `max_batch` of them, in
//! arrival order. For transaction `t` with writes `ops`:
//!
//! 1. The coordinator persists `Prepared(t, ops)` (its own participant's prepare, which also
//!    records that `t` began) and sends `Prepare(t, ops)` to every other participant.
//! 2. A participant persists `Prepared(t, ops)` and votes yes. (Every write is serialised by
//!    the coordinator, so a participant has no conflict to refuse; it votes no only to a
//!    stale prepare of a transaction it already knows aborted.)
//! 3. With every vote yes, the coordinator persists `Decided(t, commit)`, applies `ops` to
//!    its store and answers each client with its op's result. A missing vote by
//!    `election_timeout_min_ms` (or a participant deemed down meanwhile) or a no aborts:
//!    `Decided(t, abort)` is persisted and the clients get a definite `unavailable` (an
//!    aborted transaction changed nothing anywhere).
//! 4. The decision goes to every participant, re-sent each heartbeat until acknowledged. A
//!    participant persists it and applies committed transactions in transaction order,
//!    each only once every earlier transaction it prepared is decided, so every replica
//!    applies the same writes in the same order.
//!
//! Before it starts a transaction, and when a write arrives, the coordinator checks that it
//! heard from every participant within `election_timeout_min_ms` (each answers a `Ping`
//! every `heartbeat_ms`); otherwise the write fails at once with a definite `unavailable`
//! instead of waiting on a node that is down or cut off. This is 2pc's price: one node out
//! stops every write.
//!
//! # Reads
//!
//! Reads are served by the coordinator from its own store, at once. This is linearizable:
//! a write takes effect at the moment the coordinator decides to commit it (it is applied
//! to the coordinator's store in that same step, and that decision is durable and final),
//! so the coordinator's store always holds exactly the writes whose linearization point has
//! passed. A write acknowledged before a read began was decided before it, so the read sees
//! it; a write not yet decided is not visible and is linearized after the read. The
//! coordinator is the only node that decides, and after a restart it rebuilds the same store
//! from its own log (a decision is persisted before any effect of it leaves the node), so no
//! second source of truth can disagree with it.
//!
//! # Recovery
//!
//! A restarted participant rebuilds its store from its records. Prepared transactions with no
//! decision are in doubt: it asks the coordinator (`Query`) every heartbeat until it learns
//! the outcome, and holds back later committed transactions until then. A restarted
//! coordinator aborts every transaction it prepared but never decided (presumed abort: it
//! cannot have answered a client `ok` for them) and tells the participants; it answers a
//! query for a transaction it does not know as committed with abort.

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use serde::{Deserialize, Serialize};

use crate::api::{ApiError, ErrorCode, NodeId, Request, Response, Role, Status};
use crate::protocol::{Config, Context, Outbox, Protocol, RequestId};
use crate::state_machine::Store;

/// Most client writes the coordinator holds waiting for a transaction; beyond it, writes are
/// refused with a definite `unavailable`.
pub const MAX_QUEUED: usize = 4096;

/// A transaction's number, dense and increasing, assigned by the coordinator.
pub type TxId = u64;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Message {
    /// Coordinator to participant: prepare `txid`. Every transaction up to `decided_through`
    /// is decided.
    Prepare {
        txid: TxId,
        ops: Vec<Request>,
        decided_through: TxId,
    },
    /// Participant to coordinator.
    Vote {
        txid: TxId,
        yes: bool,
    },
    /// Coordinator to participant: the outcome of `txid` (also the answer to a `Query`).
    Decision {
        txid: TxId,
        commit: bool,
    },
    /// Participant to coordinator: the decision of `txid` is durable here.
    DecisionAck {
        txid: TxId,
    },
    /// Participant to coordinator: what became of `txid`, which I prepared?
    Query {
        txid: TxId,
    },
    /// Coordinator liveness probe; every transaction up to `decided_through` is decided.
    Ping {
        decided_through: TxId,
    },
    Pong,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Record {
    /// This node prepared `txid` (on the coordinator: began it).
    Prepared { txid: TxId, ops: Vec<Request> },
    /// The outcome of `txid`, as decided (coordinator) or learned (participant).
    Decided { txid: TxId, commit: bool },
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Timer {
    /// Coordinator: ping, re-send unacknowledged decisions. Participant: query in-doubt ones.
    Heartbeat,
    /// Coordinator: abort `txid` if its votes are not all in.
    VoteDeadline(TxId),
}

/// One node of `2pc`: a participant, and on the lowest member also the coordinator.
pub struct TwoPc {
    config: Config,
    coordinator: NodeId,
    participant: Participant,
    coordinating: Option<Coordinator>,
}

/// The participant role: a replica that prepares, learns decisions and applies in order.
#[derive(Debug, Default)]
struct Participant {
    store: Store,
    /// Prepared, outcome unknown here.
    in_doubt: BTreeMap<TxId, Vec<Request>>,
    /// Committed, waiting for an earlier in-doubt transaction to be decided.
    ready: BTreeMap<TxId, Vec<Request>>,
    /// Outcomes known here, above `floor`.
    outcomes: BTreeMap<TxId, bool>,
    /// Every transaction up to here is decided and settled on this node; forgotten.
    floor: TxId,
    /// What the coordinator last said is decided.
    decided_through: TxId,
    /// The last transaction applied to the store.
    applied_through: TxId,
    /// The highest committed transaction known.
    committed_through: TxId,
}

/// The coordinator role.
#[derive(Debug, Default)]
struct Coordinator {
    next_txid: TxId,
    current: Option<InFlight>,
    queue: VecDeque<(RequestId, Request)>,
    /// Every transaction decided commit (to answer queries; absent and not current: abort).
    committed: BTreeSet<TxId>,
    /// Decisions some participant has not acknowledged yet.
    unacked: BTreeMap<TxId, (bool, BTreeSet<NodeId>)>,
    /// When each participant was last heard from; absent: never (deemed down).
    last_heard_ms: BTreeMap<NodeId, u64>,
}

#[derive(Debug)]
struct InFlight {
    txid: TxId,
    requests: Vec<RequestId>,
    yes: BTreeSet<NodeId>,
}

impl TwoPc {
    pub fn is_coordinator(&self) -> bool {
        self.coordinating.is_some()
    }

    /// The applied state of this replica.
    pub fn store(&self) -> &Store {
        &self.participant.store
    }

    /// The last transaction applied here.
    pub fn applied_through(&self) -> TxId {
        self.participant.applied_through
    }

    /// Transactions prepared here whose outcome this node does not know.
    pub fn in_doubt(&self) -> Vec<TxId> {
        self.participant.in_doubt.keys().copied().collect()
    }

    /// Participants not heard from within the liveness window (coordinator only).
    fn unreachable(&self, now_ms: u64) -> Vec<NodeId> {
        let Some(c) = &self.coordinating else { return Vec::new() };
        let window = self.config.options.election_timeout_min_ms;
        self.config
            .peers()
            .filter(|p| c.last_heard_ms.get(p).is_none_or(|&t| now_ms.saturating_sub(t) >= window))
            .collect()
    }

    fn on_coordinator_request(
        &mut self,
        ctx: Context,
        request: RequestId,
        body: Request,
        out: &mut Outbox<Self>,
    ) {
        if body.is_read_only() {
            // See the module doc: the coordinator's store is exactly the decided writes.
            let answer = self.participant.store.apply(&body);
            return out.reply(request, answer);
        }
        let down = self.unreachable(ctx.now_ms);
        if !down.is_empty() {
            return out.reply(request, Err(unavailable(&down)));
        }
        let c = self.coordinating.as_mut().expect("coordinator");
        if c.queue.len() >= MAX_QUEUED {
            let error = ApiError::new(ErrorCode::Unavailable, "too many writes queued at the coordinator");
            return out.reply(request, Err(error));
        }
        c.queue.push_back((request, body));
        self.start_next(ctx, out);
    }

    /// Begin the next transaction if none is in flight and writes wait.
    fn start_next(&mut self, ctx: Context, out: &mut Outbox<Self>) {
        let down = self.unreachable(ctx.now_ms);
        let batch = self.config.options.max_batch.max(1);
        let c = self.coordinating.as_mut().expect("coordinator");
        if c.current.is_some() || c.queue.is_empty() {
            return;
        }
        if !down.is_empty() {
            for (request, _) in c.queue.drain(..) {
                out.reply(request, Err(unavailable(&down)));
            }
            return;
        }
        let take = c.queue.len().min(batch);
        let (requests, ops): (Vec<RequestId>, Vec<Request>) = c.queue.drain(..take).unzip();
        let txid = c.next_txid;
        c.next_txid += 1;
        let decided_through = txid - 1;
        c.current = Some(InFlight { txid, requests, yes: BTreeSet::new() });
        // Our own participant prepares in this step: durable before any Prepare leaves.
        let own_vote = self.participant.prepare(txid, &ops, out);
        debug_assert_eq!(own_vote, Some(true), "the coordinator's own prepare of a fresh transaction");
        for peer in self.config.peers() {
            out.send(peer, Message::Prepare { txid, ops: ops.clone(), decided_through });
        }
        out.set_timer(Timer::VoteDeadline(txid), self.config.options.election_timeout_min_ms);
        self.on_vote(ctx, self.config.id, txid, true, out);
    }

    fn on_vote(&mut self, ctx: Context, from: NodeId, txid: TxId, yes: bool, out: &mut Outbox<Self>) {
        let members = self.config.members.len();
        let c = self.coordinating.as_mut().expect("coordinator");
        let Some(current) = c.current.as_mut().filter(|t| t.txid == txid) else { return };
        if !yes {
            return self.decide(ctx, false, &format!("participant {from} voted no"), out);
        }
        current.yes.insert(from);
        if current.yes.len() == members {
            self.decide(ctx, true, "", out);
        }
    }

    /// Decide the transaction in flight, answer its clients, tell the participants.
    fn decide(&mut self, ctx: Context, commit: bool, why: &str, out: &mut Outbox<Self>) {
        let c = self.coordinating.as_mut().expect("coordinator");
        let current = c.current.take().expect("a transaction in flight");
        let txid = current.txid;
        if commit {
            c.committed.insert(txid);
        }
        let peers: BTreeSet<NodeId> = self.config.peers().collect();
        if !peers.is_empty() {
            c.unacked.insert(txid, (commit, peers.clone()));
        }
        out.cancel_timer(Timer::VoteDeadline(txid));
        // Durable and applied here first: the decision is the linearization point.
        let applied = self.participant.learn(txid, commit, out);
        self.participant.note_decided_through(txid);
        if commit {
            let results = applied
                .into_iter()
                .find(|(t, _)| *t == txid)
                .map(|(_, results)| results)
                .expect("the coordinator applies a commit at once: nothing earlier is in doubt");
            for (request, result) in current.requests.into_iter().zip(results) {
                out.reply(request, result);
            }
        } else {
            let message = format!("transaction {txid} aborted: {why}; nothing was applied");
            for request in current.requests {
                out.reply(request, Err(ApiError::new(ErrorCode::Unavailable, message.clone())));
            }
        }
        for peer in peers {
            out.send(peer, Message::Decision { txid, commit });
        }
        self.start_next(ctx, out);
    }

    fn coordinator_message(&mut self, ctx: Context, from: NodeId, message: Message, out: &mut Outbox<Self>) {
        let c = self.coordinating.as_mut().expect("coordinator");
        c.last_heard_ms.insert(from, ctx.now_ms);
        match message {
            Message::Vote { txid, yes } => self.on_vote(ctx, from, txid, yes, out),
            Message::DecisionAck { txid } => {
                if let Some((_, waiting)) = c.unacked.get_mut(&txid) {
                    waiting.remove(&from);
                    if waiting.is_empty() {
                        c.unacked.remove(&txid);
                    }
                }
            }
            Message::Query { txid } => {
                if c.current.as_ref().is_some_and(|t| t.txid == txid) {
                    return; // still collecting votes: the answer comes with the decision
                }
                out.send(from, Message::Decision { txid, commit: c.committed.contains(&txid) });
            }
            Message::Pong => {}
            // Participant-bound messages from a peer: a confused or hostile sender.
            Message::Prepare { .. } | Message::Decision { .. } | Message::Ping { .. } => {}
        }
    }

    fn participant_message(&mut self, from: NodeId, message: Message, out: &mut Outbox<Self>) {
        if from != self.coordinator {
            return; // only the coordinator addresses participants
        }
        let p = &mut self.participant;
        match message {
            Message::Prepare { txid, ops, decided_through } => {
                p.note_decided_through(decided_through);
                if let Some(yes) = p.prepare(txid, &ops, out) {
                    out.send(from, Message::Vote { txid, yes });
                }
            }
            Message::Decision { txid, commit } => {
                p.learn(txid, commit, out);
                out.send(from, Message::DecisionAck { txid });
            }
            Message::Ping { decided_through } => {
                p.note_decided_through(decided_through);
                out.send(from, Message::Pong);
            }
            Message::Vote { .. } | Message::DecisionAck { .. } | Message::Query { .. } | Message::Pong => {}
        }
    }

    fn coordinator_heartbeat(&mut self, ctx: Context, out: &mut Outbox<Self>) {
        let batch = self.config.options.max_batch.max(1);
        let down = self.unreachable(ctx.now_ms);
        let c = self.coordinating.as_mut().expect("coordinator");
        let decided_through = match &c.current {
            Some(t) => t.txid - 1,
            None => c.next_txid - 1,
        };
        for peer in self.config.peers() {
            out.send(peer, Message::Ping { decided_through });
        }
        // Re-send what is unacknowledged, oldest first, a bounded number per heartbeat.
        for (&txid, (commit, waiting)) in c.unacked.iter().take(batch) {
            for &peer in waiting {
                out.send(peer, Message::Decision { txid, commit: *commit });
            }
        }
        if c.current.is_some() && !down.is_empty() {
            let why = format!("participant(s) {down:?} unreachable");
            self.decide(ctx, false, &why, out);
        }
    }
}

impl Participant {
    /// Prepare `txid` (persisting it) and say how to vote; `None`: too old to matter.
    fn prepare(&mut self, txid: TxId, ops: &[Request], out: &mut Outbox<TwoPc>) -> Option<bool> {
        if txid <= self.floor {
            return None; // decided long ago; the coordinator no longer counts this vote
        }
        if let Some(&commit) = self.outcomes.get(&txid) {
            return Some(commit);
        }
        if let std::collections::btree_map::Entry::Vacant(slot) = self.in_doubt.entry(txid) {
            out.persist(Record::Prepared { txid, ops: ops.to_vec() });
            slot.insert(ops.to_vec());
        }
        Some(true)
    }

    /// Learn (and persist) the outcome of `txid`; returns what became applicable, with each
    /// op's result.
    fn learn(&mut self, txid: TxId, commit: bool, out: &mut Outbox<TwoPc>) -> Vec<(TxId, Vec<OpResult>)> {
        if txid <= self.floor || self.outcomes.contains_key(&txid) {
            return Vec::new();
        }
        out.persist(Record::Decided { txid, commit });
        self.settle(txid, commit);
        self.apply_ready()
    }

    /// Record an outcome in memory (from a message or from the log).
    fn settle(&mut self, txid: TxId, commit: bool) {
        self.outcomes.insert(txid, commit);
        let ops = self.in_doubt.remove(&txid);
        if commit {
            self.committed_through = self.committed_through.max(txid);
            if let Some(ops) = ops {
                self.ready.insert(txid, ops);
            }
        }
    }

    /// Apply committed transactions that no earlier in-doubt one holds back, in order.
    fn apply_ready(&mut self) -> Vec<(TxId, Vec<OpResult>)> {
        let mut applied = Vec::new();
        let blocker = self.in_doubt.keys().next().copied().unwrap_or(TxId::MAX);
        while let Some(entry) = self.ready.first_entry() {
            if *entry.key() > blocker {
                break;
            }
            let (txid, ops) = entry.remove_entry();
            let results = ops.iter().map(|op| self.store.apply(op)).collect();
            self.applied_through = self.applied_through.max(txid);
            applied.push((txid, results));
        }
        self.forget_settled();
        applied
    }

    fn note_decided_through(&mut self, decided_through: TxId) {
        self.decided_through = self.decided_through.max(decided_through);
        self.forget_settled();
    }

    /// Raise the floor to what is decided everywhere and settled here; drop what lies below.
    fn forget_settled(&mut self) {
        let mut floor = self.decided_through;
        if let Some(&t) = self.in_doubt.keys().next() {
            floor = floor.min(t - 1);
        }
        if let Some(&t) = self.ready.keys().next() {
            floor = floor.min(t - 1);
        }
        if floor > self.floor {
            self.floor = floor;
            self.outcomes = self.outcomes.split_off(&floor.saturating_add(1));
        }
    }
}

type OpResult = Result<Response, ApiError>;

fn unavailable(down: &[NodeId]) -> ApiError {
    ApiError::new(
        ErrorCode::Unavailable,
        format!("participant(s) {down:?} unreachable; the write was not applied"),
    )
}

impl Protocol for TwoPc {
    type Message = Message;
    type Record = Record;
    type Timer = Timer;

    const NAME: &'static str = "2pc";

    fn recover(config: Config, records: Vec<Record>, ctx: Context, out: &mut Outbox<Self>) -> Self {
        let coordinator = config.members.first().copied().unwrap_or(config.id);
        let mut participant = Participant::default();
        let mut highest: TxId = 0;
        for record in records {
            match record {
                Record::Prepared { txid, ops } => {
                    highest = highest.max(txid);
                    if !participant.outcomes.contains_key(&txid) {
                        participant.in_doubt.insert(txid, ops);
                    }
                }
                Record::Decided { txid, commit } => {
                    highest = highest.max(txid);
                    participant.settle(txid, commit);
                }
            }
        }
        let mut node = TwoPc { config, coordinator, participant, coordinating: None };
        if node.config.id == coordinator {
            let committed = node.participant.outcomes.iter().filter(|(_, &c)| c).map(|(&t, _)| t).collect();
            node.coordinating =
                Some(Coordinator { next_txid: highest + 1, committed, ..Coordinator::default() });
            // Presumed abort: what this coordinator prepared but never decided, it aborts.
            for txid in node.in_doubt() {
                node.participant.learn(txid, false, out);
                let peers: BTreeSet<NodeId> = node.config.peers().collect();
                for &peer in &peers {
                    out.send(peer, Message::Decision { txid, commit: false });
                }
                if !peers.is_empty() {
                    node.coordinating.as_mut().expect("coordinator").unacked.insert(txid, (false, peers));
                }
            }
        }
        node.participant.apply_ready();
        let _ = ctx;
        out.set_timer(Timer::Heartbeat, node.config.options.heartbeat_ms.max(1));
        node
    }

    fn on_message(&mut self, ctx: Context, from: NodeId, message: Message, out: &mut Outbox<Self>) {
        if from == self.config.id || !self.config.members.contains(&from) {
            return; // not a peer: untrusted, ignored
        }
        if self.is_coordinator() {
            self.coordinator_message(ctx, from, message, out);
        } else {
            self.participant_message(from, message, out);
        }
    }

    fn on_request(&mut self, ctx: Context, request: RequestId, body: Request, out: &mut Outbox<Self>) {
        if !self.is_coordinator() {
            return out.reply(request, Err(ApiError::not_leader(Some(self.coordinator))));
        }
        self.on_coordinator_request(ctx, request, body, out);
    }

    fn on_timer(&mut self, ctx: Context, timer: Timer, out: &mut Outbox<Self>) {
        match timer {
            Timer::Heartbeat => {
                if self.is_coordinator() {
                    self.coordinator_heartbeat(ctx, out);
                } else {
                    let batch = self.config.options.max_batch.max(1);
                    for &txid in self.participant.in_doubt.keys().take(batch) {
                        out.send(self.coordinator, Message::Query { txid });
                    }
                }
                out.set_timer(Timer::Heartbeat, self.config.options.heartbeat_ms.max(1));
            }
            Timer::VoteDeadline(txid) => {
                let current = self.coordinating.as_ref().and_then(|c| c.current.as_ref()).map(|t| t.txid);
                if current == Some(txid) {
                    self.decide(ctx, false, "not every participant voted in time", out);
                }
            }
        }
    }

    fn status(&self) -> Status {
        Status {
            id: self.config.id,
            protocol: Self::NAME.to_string(),
            role: if self.is_coordinator() { Role::Coordinator } else { Role::Participant },
            term: 0,
            leader: Some(self.coordinator),
            commit_index: self.participant.committed_through,
            applied_index: self.participant.applied_through,
        }
    }
}
