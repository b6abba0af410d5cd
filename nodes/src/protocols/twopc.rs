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
//! With `--isolation read-committed` (unsafe by design, [`read_committed`]) a queued
//! transaction's reads are answered from the coordinator's store when it arrives instead of
//! when it commits: reads of committed data without locks, so concurrent transactions lose
//! each other's updates.
//!
//! # Recovery
//!
//! A restarted participant rebuilds its store from its records. Prepared transactions with no
//! decision are in doubt: it asks the coordinator (`Query`) every heartbeat until it learns
//! the outcome, and holds back later committed transactions until then. A restarted
//! coordinator aborts every transaction it prepared but never decided (presumed abort: it
//! cannot have answered a client `ok` for them) and tells the participants; it answers a
//! query for a transaction it does not know as committed with abort.
//!
//! # Compaction
//!
//! Every `snapshot_every` applied transactions a node rewrites its log as one `Snapshot`
//! (its store and counters; on the coordinator also the committed transactions some
//! participant may still ask about) followed by the records of what is still open. A
//! participant reports its floor (everything at or below is settled there, so it will never
//! ask) with each `Pong`; the coordinator forgets commits below every floor.

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use serde::{Deserialize, Serialize};

use crate::api::{ApiError, ErrorCode, NodeId, Request, Response, Role, Status};
use crate::committed_log::CommittedLog;
use crate::protocol::{Config, Context, Isolation, Outbox, Protocol, RequestId};
use crate::state_machine::Store;

mod participant;
mod read_committed;

use participant::Participant;
use read_committed::EarlyReads;

/// Most client writes the coordinator holds waiting for a transaction; beyond it, writes are
/// refused with a definite `unavailable`.
pub const MAX_QUEUED: usize = 4096;

/// A transaction's number, dense and increasing, assigned by the coordinator.
pub type TxId = u64;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Message {
    /// Coordinator to participant: prepare `txid`. Every transaction up to `decided_through`
    /// is decided.
    Prepare { txid: TxId, ops: Vec<Request>, decided_through: TxId },
    /// Participant to coordinator.
    Vote { txid: TxId, yes: bool },
    /// Coordinator to participant: the outcome of `txid` (also the answer to a `Query`).
    Decision { txid: TxId, commit: bool },
    /// Participant to coordinator: the decision of `txid` is durable here.
    DecisionAck { txid: TxId },
    /// Participant to coordinator: what became of `txid`, which I prepared?
    Query { txid: TxId },
    /// Coordinator liveness probe; every transaction up to `decided_through` is decided.
    Ping { decided_through: TxId },
    /// Participant to coordinator: alive; every transaction up to `floor` is settled here
    /// (so it will never ask about one).
    Pong { floor: TxId },
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Record {
    /// This node prepared `txid` (on the coordinator: began it).
    Prepared { txid: TxId, ops: Vec<Request> },
    /// The outcome of `txid`, as decided (coordinator) or learned (participant).
    Decided { txid: TxId, commit: bool },
    /// Everything settled up to a point, replacing the records it summarises (written first
    /// by a compaction's rewrite, every `snapshot_every` applied transactions).
    Snapshot(Box<Snapshot>),
}

/// A node's settled state, as one record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Snapshot {
    pub store: Store,
    pub applied_through: TxId,
    pub committed_through: TxId,
    pub floor: TxId,
    /// The highest transaction number this node has seen (the coordinator's last one issued).
    pub highest: TxId,
    /// Coordinator: committed transactions some participant may still ask about.
    pub committed: Vec<TxId>,
    /// How many transactions were applied, and the committed log's running hash then
    /// ([`crate::committed_log`]).
    #[serde(default)]
    pub applied_count: u64,
    #[serde(default)]
    pub prefix_hash: u64,
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

/// The coordinator role.
#[derive(Debug, Default)]
struct Coordinator {
    next_txid: TxId,
    current: Option<InFlight>,
    queue: VecDeque<Queued>,
    /// Every transaction decided commit (to answer queries; absent and not current: abort).
    committed: BTreeSet<TxId>,
    /// Decisions some participant has not acknowledged yet.
    unacked: BTreeMap<TxId, (bool, BTreeSet<NodeId>)>,
    /// When each participant was last heard from; absent: never (deemed down).
    last_heard_ms: BTreeMap<NodeId, u64>,
    /// Each participant's floor: it will never query a transaction at or below it.
    floors: BTreeMap<NodeId, TxId>,
}

/// A client write waiting for a transaction.
#[derive(Debug)]
struct Queued {
    request: RequestId,
    body: Request,
    /// `--isolation read-committed`: the reads answered when it arrived.
    early_reads: Option<EarlyReads>,
}

#[derive(Debug)]
struct InFlight {
    txid: TxId,
    requests: Vec<(RequestId, Option<EarlyReads>)>,
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
        let early_reads = match (&body, self.config.options.isolation) {
            (Request::Txn { ops }, Isolation::ReadCommitted) => EarlyReads::now(&self.participant.store, ops),
            _ => None,
        };
        let c = self.coordinating.as_mut().expect("coordinator");
        c.queue.push_back(Queued { request, body, early_reads });
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
            for queued in c.queue.drain(..) {
                out.reply(queued.request, Err(unavailable(&down)));
            }
            return;
        }
        let take = c.queue.len().min(batch);
        let (requests, ops): (Vec<_>, Vec<Request>) =
            c.queue.drain(..take).map(|q| ((q.request, q.early_reads), q.body)).unzip();
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
            for ((request, early_reads), result) in current.requests.into_iter().zip(results) {
                let result = match early_reads {
                    Some(early) => early.overlay(result),
                    None => result,
                };
                out.reply(request, result);
            }
        } else {
            let message = format!("transaction {txid} aborted: {why}; nothing was applied");
            for (request, _) in current.requests {
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
            Message::Pong { floor } => {
                c.floors.insert(from, floor);
            }
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
                out.send(from, Message::Pong { floor: p.floor });
            }
            Message::Vote { .. }
            | Message::DecisionAck { .. }
            | Message::Query { .. }
            | Message::Pong { .. } => {}
        }
    }

    /// Every `snapshot_every` applied transactions, replace the log with a snapshot of the
    /// settled state plus the records of what is still open (in doubt, or committed and
    /// held back), so the log and recovery stay bounded.
    fn maybe_compact(&mut self, out: &mut Outbox<Self>) {
        let every = self.config.options.snapshot_every;
        let p = &mut self.participant;
        if every == 0 || p.since_snapshot < every {
            return;
        }
        p.since_snapshot = 0;
        let (highest, committed) = match &self.coordinating {
            Some(c) => (c.next_txid - 1, c.committed.iter().copied().collect()),
            None => (p.highest, Vec::new()),
        };
        let snapshot = Snapshot {
            store: p.store.clone(),
            applied_through: p.applied_through,
            committed_through: p.committed_through,
            floor: p.floor,
            highest,
            committed,
            applied_count: p.committed.last_index(),
            prefix_hash: p.committed.last_hash(),
        };
        p.committed.compact_to(p.committed.last_index());
        let mut records = vec![Record::Snapshot(Box::new(snapshot))];
        for (&txid, ops) in &p.in_doubt {
            records.push(Record::Prepared { txid, ops: ops.clone() });
        }
        for (&txid, ops) in &p.ready {
            records.push(Record::Prepared { txid, ops: ops.clone() });
            records.push(Record::Decided { txid, commit: true });
        }
        out.rewrite(records);
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
        // No participant will ask about a transaction at or below every floor: forget them.
        let everyone_settled = self
            .config
            .peers()
            .map(|p| c.floors.get(&p).copied().unwrap_or(0))
            .chain([self.participant.floor])
            .min()
            .unwrap_or(0);
        c.committed = c.committed.split_off(&everyone_settled.saturating_add(1));
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

pub(crate) type OpResult = Result<Response, ApiError>;

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
        let mut committed: BTreeSet<TxId> = BTreeSet::new();
        for record in records {
            match record {
                Record::Prepared { txid, ops } => {
                    participant.highest = participant.highest.max(txid);
                    if txid > participant.floor && !participant.outcomes.contains_key(&txid) {
                        participant.in_doubt.insert(txid, ops);
                    }
                }
                Record::Decided { txid, commit } => {
                    participant.highest = participant.highest.max(txid);
                    if commit {
                        committed.insert(txid);
                    }
                    if txid > participant.floor {
                        participant.settle(txid, commit);
                    }
                }
                Record::Snapshot(snapshot) => {
                    let Snapshot {
                        store,
                        applied_through,
                        committed_through,
                        floor,
                        highest,
                        committed: known,
                        applied_count,
                        prefix_hash,
                    } = *snapshot;
                    participant = Participant {
                        committed: CommittedLog::starting_at(applied_count, applied_through, prefix_hash),
                        store,
                        applied_through,
                        committed_through,
                        floor,
                        decided_through: floor,
                        highest,
                        ..Participant::default()
                    };
                    committed = known.into_iter().collect();
                }
            }
        }
        let mut node = TwoPc { config, coordinator, participant, coordinating: None };
        if node.config.id == coordinator {
            let next_txid = node.participant.highest + 1;
            node.coordinating = Some(Coordinator { next_txid, committed, ..Coordinator::default() });
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
        self.maybe_compact(out);
    }

    fn on_request(&mut self, ctx: Context, request: RequestId, body: Request, out: &mut Outbox<Self>) {
        if !self.is_coordinator() {
            return out.reply(request, Err(ApiError::not_leader(Some(self.coordinator))));
        }
        self.on_coordinator_request(ctx, request, body, out);
        self.maybe_compact(out);
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
        self.maybe_compact(out);
    }

    fn committed_log(&self) -> Option<&CommittedLog> {
        Some(&self.participant.committed)
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
