//! Primary/backup replication: `pb-async` and `pb-sync`, one state machine, two reply rules.
//!
//! What it implements: the classic primary-backup scheme (Alsberg and Day, "A principle for
//! resilient sharing of distributed resources", 1976; Budhiraja, Marzullo, Schneider and
//! Toueg, "The primary-backup approach", 1993), with the ad-hoc failover found in many real
//! deployments instead of the view service or quorum those papers assume. It is unsafe on
//! purpose, so that the harness can show the failures a user would meet.
//!
//! # Normal operation
//!
//! The lowest member is primary of epoch 1. The primary orders every write: it evaluates it
//! against its [`Store`] (a failed cas or txn check is answered at once and never logged),
//! appends it to its log, persists the entry, and applies it. Backups receive the log in
//! `Append` messages, check that it continues what they hold (the previous entry's index and
//! era, as in Raft's log matching, §5.3 of Ongaro and Ousterhout 2014), persist, apply in
//! order and `Ack` the index they hold. Reads are served by the primary from its store;
//! any other node answers `not_leader` at once, naming the primary it believes in.
//!
//! - `pb-async` replies as soon as the entry is durable on the primary and ships it
//!   afterwards, in a later step (a `Ship` timer of 0 ms, batching whatever accumulated).
//!   A primary that dies between the two has acknowledged a write no backup ever saw.
//! - `pb-sync` ships in the same step and replies only when every backup acknowledged the
//!   entry. Before it applies a write it checks that every backup was heard from within
//!   `election_timeout_min_ms`; if not, it refuses with a definite `unavailable` (nothing was
//!   applied anywhere). Once applied on the primary, the write can only end `ok` or with an
//!   indefinite error (`indeterminate` when a backup stops answering or the primary is
//!   deposed, `timeout` after `election_timeout_max_ms`), because the primary's own state
//!   already holds it and reads will see it.
//!
//! # Failover (ad hoc, no quorum)
//!
//! Every node sends something to every peer each `heartbeat_ms` (the primary `Append`, the
//! backups `Alive`) and notes when it last heard from each. A backup whose primary has been
//! silent for its election timeout (drawn from the configured range) promotes itself unless
//! it has recently heard from a lower-id node, which it leaves to promote first. The new
//! primary takes era `(highest epoch seen + 1, its id)`, persists it and starts shipping its
//! own log. Nothing stops two primaries under a partition, and a promoted backup that missed
//! the old primary's last entries makes every other node truncate them when it ships. Under
//! `pb-async` those entries include acknowledged writes: they are lost. Under `pb-sync` an
//! acknowledged write is on every node, so every later primary has it; what is lost is a
//! write the old primary applied (and served to readers) but could not replicate: a read
//! saw it, and after the failover no read ever will again. Eras are ordered `(epoch, primary id)`, so two nodes that
//! promote into the same epoch still have distinct eras and the lower id yields.
//!
//! # Durability
//!
//! Records: the era a node follows, log entries, and a snapshot. A node truncating a
//! conflicting suffix rewrites its whole log. A restarted node replays the records and
//! resumes in its era: as primary if the era is its own (it finds out from the others if it
//! was deposed).
//!
//! # Compaction
//!
//! Every `snapshot_every` applied entries a node folds its log into a snapshot of its store
//! and rewrites its write-ahead log to `[era, snapshot]`, so the log stays bounded. A backup
//! that needs entries the primary has compacted, or whose own snapshot an append cannot be
//! checked against, receives the primary's current state instead ([`snapshot`]).

use std::collections::BTreeMap;
use std::marker::PhantomData;

use serde::{Deserialize, Serialize};

use crate::api::{ApiError, ErrorCode, NodeId, Request, Response, Role, Status};
use crate::committed_log::CommittedLog;
use crate::protocol::{Config, Context, Outbox, Protocol, RequestId};
use crate::state_machine::Store;

pub mod snapshot;

pub use snapshot::Snapshot;

/// Most `pb-sync` writes the primary holds unanswered; beyond it, writes are refused with a
/// definite `unavailable` before being applied.
pub const MAX_PENDING_WRITES: usize = 4096;

/// `pb-async`: reply first, ship after.
pub type PbAsync = PrimaryBackup<Async>;
/// `pb-sync`: reply after every backup acknowledged.
pub type PbSync = PrimaryBackup<Sync>;

/// When the primary answers a write.
pub trait ReplyRule: Send + 'static {
    const NAME: &'static str;
    /// Whether a write waits for every backup's acknowledgement.
    const WAIT_FOR_BACKUPS: bool;
}

/// Reply once the entry is durable on the primary.
pub enum Async {}
/// Reply once every backup holds the entry.
pub enum Sync {}

impl ReplyRule for Async {
    const NAME: &'static str = "pb-async";
    const WAIT_FOR_BACKUPS: bool = false;
}

impl ReplyRule for Sync {
    const NAME: &'static str = "pb-sync";
    const WAIT_FOR_BACKUPS: bool = true;
}

/// Who leads, and since when: ordered by epoch, then by the primary's id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Era {
    pub epoch: u64,
    pub primary: NodeId,
}

/// One write in the log, tagged with the era of the primary that ordered it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    pub era: Era,
    pub request: Request,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Message {
    /// From a primary: the entries after `prev_index` (empty: a heartbeat), and how long the
    /// primary's log is, so that a backup drops an older era's tail the primary lacks.
    Append { era: Era, prev_index: u64, prev_era: Option<Era>, entries: Vec<Entry>, primary_last: u64 },
    /// From a backup: it holds the primary's log up to `index`.
    Ack { era: Era, index: u64 },
    /// From a backup: the append did not continue its log; resend from `from_index` (0:
    /// the backup cannot check the append against its compacted log; send a snapshot).
    Nack { era: Era, from_index: u64 },
    /// From a primary: its whole state, for a backup behind its compaction point.
    Snapshot { era: Era, snapshot: Snapshot },
    /// From a backup to everyone: "I am alive, and I follow `era`".
    Alive { era: Era },
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Record {
    /// The node follows (or leads) this era from now on.
    Era(Era),
    /// The next log entry.
    Entry(Entry),
    /// The state up to an index; replaces every entry before it.
    Snapshot(Snapshot),
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Timer {
    /// Send heartbeats (and, on a primary, any unshipped entries).
    Heartbeat,
    /// Backup: check whether the primary has gone silent.
    Election,
    /// `pb-async` primary: ship what accumulated since the last shipment.
    Ship,
    /// `pb-sync` primary: give up waiting on the write at this log index.
    WriteDeadline(u64),
}

/// A write the `pb-sync` primary applied and has not yet answered.
#[derive(Debug, Clone)]
struct PendingWrite {
    request: RequestId,
    response: Response,
}

/// One node of `pb-async` or `pb-sync`.
pub struct PrimaryBackup<R: ReplyRule> {
    config: Config,
    era: Era,
    role: Role,
    /// The entries after the compaction point (`log[k]` is index `base() + 1 + k`).
    log: Vec<Entry>,
    /// The compaction point: the state after the entries the log no longer holds.
    snapshot: Option<Snapshot>,
    store: Store,
    /// How many entries of `log` the store reflects (all of them between steps).
    applied: usize,
    /// The applied entries as running hashes (`GET /admin/log`). Here "committed" means
    /// applied on this node, which is all primary/backup knows; it shrinks when a deposed
    /// primary's tail is dropped, which is what makes pb-async's divergence visible.
    committed: CommittedLog,
    /// Highest epoch seen anywhere: a promotion goes above it.
    max_epoch_seen: u64,
    /// When each peer was last heard from (this node's clock).
    last_heard_ms: BTreeMap<NodeId, u64>,
    /// When the primary of `era` was last heard from.
    primary_heard_ms: u64,
    /// This incarnation's election timeout, drawn once per timer arming.
    election_timeout_ms: u64,
    /// Primary: the next index to ship to each backup.
    next_index: BTreeMap<NodeId, u64>,
    /// Primary: the highest index each backup acknowledged in this era.
    match_index: BTreeMap<NodeId, u64>,
    /// Primary, `pb-sync`: applied writes awaiting every backup's ack, by log index.
    pending: BTreeMap<u64, PendingWrite>,
    /// Primary: whether a `Ship` timer is armed.
    ship_armed: bool,
    rule: PhantomData<R>,
}

impl<R: ReplyRule> PrimaryBackup<R> {
    /// The era this node follows or leads.
    pub fn era(&self) -> Era {
        self.era
    }

    pub fn role(&self) -> Role {
        self.role
    }

    /// The applied state (every log entry, in order).
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// The entries after the compaction point.
    pub fn log(&self) -> &[Entry] {
        &self.log
    }

    /// The last index folded into a snapshot (0: none).
    pub fn compacted(&self) -> u64 {
        self.base()
    }

    fn base(&self) -> u64 {
        self.snapshot.as_ref().map_or(0, |s| s.index)
    }

    fn is_primary(&self) -> bool {
        self.role == Role::Primary
    }

    fn last_index(&self) -> u64 {
        self.base() + self.log.len() as u64
    }

    /// The era of the entry at `index`, if held (at the compaction point: the snapshot's).
    fn era_at(&self, index: u64) -> Option<Era> {
        let base = self.base();
        if index == base {
            self.snapshot.as_ref().and_then(|s| s.era)
        } else if index < base {
            None
        } else {
            self.log.get((index - base - 1) as usize).map(|e| e.era)
        }
    }

    /// Rebuild the store and the committed log from the snapshot and the log.
    fn rebuild(&mut self) {
        let (mut store, mut committed) = match &self.snapshot {
            Some(s) => (
                s.store.clone(),
                CommittedLog::starting_at(s.index, s.era.map_or(0, |era| era.epoch), s.prefix_hash),
            ),
            None => (Store::new(), CommittedLog::new()),
        };
        for entry in &self.log {
            let _ = store.apply(&entry.request);
            committed.append_value(entry.era.epoch, &entry.request);
        }
        self.store = store;
        self.committed = committed;
        self.applied = self.log.len();
    }

    /// Index up to which every backup holds the log (the primary's whole log if alone).
    fn replicated_index(&self) -> u64 {
        self.config
            .peers()
            .map(|p| self.match_index.get(&p).copied().unwrap_or(0))
            .min()
            .unwrap_or(self.last_index())
    }

    fn heard_recently(&self, peer: NodeId, now_ms: u64) -> bool {
        let window = self.config.options.election_timeout_min_ms;
        self.last_heard_ms.get(&peer).is_some_and(|&t| now_ms.saturating_sub(t) < window)
    }

    fn arm_election(&mut self, ctx: Context, out: &mut Outbox<Self>) {
        let o = &self.config.options;
        self.election_timeout_ms = ctx.random_between(
            o.election_timeout_min_ms,
            o.election_timeout_max_ms.max(o.election_timeout_min_ms),
        );
        out.set_timer(Timer::Election, self.election_timeout_ms);
    }

    /// Follow `era` (higher than ours): step down if we led, answer what we held.
    fn adopt(&mut self, era: Era, now_ms: u64, out: &mut Outbox<Self>) {
        debug_assert!(era > self.era);
        self.era = era;
        self.max_epoch_seen = self.max_epoch_seen.max(era.epoch);
        self.primary_heard_ms = now_ms;
        out.persist(Record::Era(era));
        if era.primary == self.config.id {
            return;
        }
        if self.is_primary() {
            for (_, w) in std::mem::take(&mut self.pending) {
                let error =
                    ApiError::new(ErrorCode::Indeterminate, "deposed before every backup acknowledged")
                        .with_leader(Some(era.primary));
                out.reply(w.request, Err(error));
            }
            self.ship_armed = false;
            out.cancel_timer(Timer::Ship);
        }
        self.role = Role::Backup;
    }

    fn become_primary(&mut self, now_ms: u64, out: &mut Outbox<Self>) {
        self.role = Role::Primary;
        self.next_index = self.config.peers().map(|p| (p, self.last_index() + 1)).collect();
        self.match_index = self.config.peers().map(|p| (p, 0)).collect();
        // Backups get a grace period before the sync primary deems them down.
        for p in self.config.peers().collect::<Vec<_>>() {
            self.last_heard_ms.insert(p, now_ms);
        }
        self.ship(out);
    }

    /// Send each backup what it lacks (at most `max_batch` entries), or a bare heartbeat.
    fn ship(&mut self, out: &mut Outbox<Self>) {
        for peer in self.config.peers().collect::<Vec<_>>() {
            self.ship_to(peer, out);
        }
    }

    fn ship_to(&mut self, peer: NodeId, out: &mut Outbox<Self>) {
        let batch = self.config.options.max_batch.max(1);
        let next = self.next_index.get(&peer).copied().unwrap_or(1).min(self.last_index() + 1);
        if next == 0 || next <= self.base() {
            return self.ship_snapshot(peer, out);
        }
        let prev_index = next - 1;
        let from = (prev_index - self.base()) as usize;
        let entries: Vec<Entry> = self.log[from..].iter().take(batch).cloned().collect();
        // Optimistic: assume it arrives; a Nack or a later heartbeat corrects a loss.
        self.next_index.insert(peer, next + entries.len() as u64);
        let message = Message::Append {
            era: self.era,
            prev_index,
            prev_era: self.era_at(prev_index),
            entries,
            primary_last: self.last_index(),
        };
        out.send(peer, message);
    }

    /// The primary takes a write: evaluate, log, persist, apply; then reply or wait.
    fn write(&mut self, ctx: Context, request_id: RequestId, request: Request, out: &mut Outbox<Self>) {
        if R::WAIT_FOR_BACKUPS {
            let down: Vec<NodeId> =
                self.config.peers().filter(|&p| !self.heard_recently(p, ctx.now_ms)).collect();
            if !down.is_empty() {
                let message = format!("backup(s) {down:?} unreachable; the write was not applied");
                out.reply(request_id, Err(ApiError::new(ErrorCode::Unavailable, message)));
                return;
            }
            if self.pending.len() >= MAX_PENDING_WRITES {
                let message = "too many writes awaiting backups; the write was not applied";
                out.reply(request_id, Err(ApiError::new(ErrorCode::Unavailable, message)));
                return;
            }
        }
        let response = match self.store.apply(&request) {
            Ok(response) => response,
            // A failed precondition or a kind mismatch changed nothing: not logged.
            Err(error) => return out.reply(request_id, Err(error)),
        };
        let entry = Entry { era: self.era, request };
        self.committed.append_value(entry.era.epoch, &entry.request);
        self.log.push(entry.clone());
        self.applied = self.log.len();
        out.persist(Record::Entry(entry));
        let index = self.last_index();
        if R::WAIT_FOR_BACKUPS {
            self.pending.insert(index, PendingWrite { request: request_id, response });
            out.set_timer(Timer::WriteDeadline(index), self.config.options.election_timeout_max_ms);
            self.ship(out);
            self.answer_replicated(out);
        } else {
            out.reply(request_id, Ok(response));
            if !self.ship_armed {
                self.ship_armed = true;
                out.set_timer(Timer::Ship, 0);
            }
        }
        self.maybe_snapshot(out);
    }

    /// `pb-sync`: answer every pending write that every backup now holds.
    fn answer_replicated(&mut self, out: &mut Outbox<Self>) {
        let done = self.replicated_index();
        while let Some(entry) = self.pending.first_entry() {
            if *entry.key() > done {
                break;
            }
            let (index, w) = entry.remove_entry();
            out.cancel_timer(Timer::WriteDeadline(index));
            out.reply(w.request, Ok(w.response));
        }
    }

    /// A backup takes an `Append` from the primary of its era.
    fn on_append(
        &mut self,
        from: NodeId,
        prev_index: u64,
        prev_era: Option<Era>,
        entries: Vec<Entry>,
        primary_last: u64,
        out: &mut Outbox<Self>,
    ) {
        let base = self.base();
        let (prev_index, prev_era, entries) = if prev_index >= base {
            (prev_index, prev_era, entries)
        } else {
            // The append starts inside our snapshot: usable only if it reaches the compaction
            // point with the snapshot's era there (log matching); otherwise ask for state.
            let skip = (base - prev_index) as usize;
            match entries.get(skip - 1) {
                Some(at_base) if Some(at_base.era) == self.era_at(base) => {
                    (base, Some(at_base.era), entries[skip..].to_vec())
                }
                _ => return out.send(from, Message::Nack { era: self.era, from_index: 0 }),
            }
        };
        let continues = prev_index <= self.last_index() && self.era_at(prev_index) == prev_era;
        if !continues {
            let from_index = if prev_index > self.last_index() {
                self.last_index() + 1
            } else if prev_index == base {
                0 // our snapshot's last entry conflicts: only the primary's state will do
            } else {
                // Our entry at prev_index is of another era: resend that whole era's stretch.
                let conflict = self.era_at(prev_index);
                let mut first = prev_index;
                while first > base + 1 && self.era_at(first - 1) == conflict {
                    first -= 1;
                }
                first.max(1)
            };
            out.send(from, Message::Nack { era: self.era, from_index });
            return;
        }
        let mut truncated = false;
        for (offset, entry) in entries.iter().enumerate() {
            let index = prev_index + 1 + offset as u64;
            if index <= self.last_index() {
                if self.era_at(index) == Some(entry.era) {
                    continue; // already held (log matching: same era, same entry)
                }
                self.log.truncate((index - base - 1) as usize);
                truncated = true;
            }
            self.log.push(entry.clone());
            if !truncated {
                out.persist(Record::Entry(entry.clone()));
            }
        }
        // This append carried the primary's whole tail: anything after it from an older era
        // is a deposed primary's write the current primary never had (and never will: it
        // appends only entries of its own era). A stale append of this era drops nothing.
        let covered = prev_index + entries.len() as u64;
        if covered == primary_last
            && self.last_index() > covered
            && self.era_at(covered + 1) != Some(self.era)
        {
            self.log.truncate((covered - base) as usize);
            truncated = true;
        }
        if truncated {
            // Entries were dropped: rebuild the state and rewrite the log to match.
            self.rebuild();
            out.rewrite(self.wal_records());
        } else {
            for entry in &self.log[self.applied..] {
                let _ = self.store.apply(&entry.request);
                self.committed.append_value(entry.era.epoch, &entry.request);
            }
        }
        self.applied = self.log.len();
        out.send(from, Message::Ack { era: self.era, index: prev_index + entries.len() as u64 });
        self.maybe_snapshot(out);
    }
}

impl Message {
    fn era(&self) -> Era {
        match self {
            Message::Append { era, .. }
            | Message::Ack { era, .. }
            | Message::Nack { era, .. }
            | Message::Snapshot { era, .. }
            | Message::Alive { era } => *era,
        }
    }
}

impl<R: ReplyRule> Protocol for PrimaryBackup<R> {
    type Message = Message;
    type Record = Record;
    type Timer = Timer;

    const NAME: &'static str = R::NAME;

    fn recover(config: Config, records: Vec<Record>, ctx: Context, out: &mut Outbox<Self>) -> Self {
        let first = config.members.first().copied().unwrap_or(config.id);
        let mut era = Era { epoch: 1, primary: first };
        let mut log = Vec::new();
        let mut snapshot = None;
        for record in records {
            match record {
                Record::Era(e) => era = era.max(e),
                Record::Entry(entry) => log.push(entry),
                Record::Snapshot(s) => {
                    log.clear();
                    snapshot = Some(s);
                }
            }
        }
        let last_heard_ms = config.peers().map(|p| (p, ctx.now_ms)).collect();
        let mut node = PrimaryBackup {
            role: Role::Backup,
            max_epoch_seen: era.epoch,
            applied: 0,
            committed: CommittedLog::new(),
            era,
            log,
            snapshot,
            store: Store::new(),
            last_heard_ms,
            primary_heard_ms: ctx.now_ms,
            election_timeout_ms: config.options.election_timeout_max_ms,
            next_index: BTreeMap::new(),
            match_index: BTreeMap::new(),
            pending: BTreeMap::new(),
            ship_armed: false,
            rule: PhantomData,
            config,
        };
        node.rebuild();
        out.set_timer(Timer::Heartbeat, node.config.options.heartbeat_ms.max(1));
        node.arm_election(ctx, out);
        if node.era.primary == node.config.id {
            node.become_primary(ctx.now_ms, out);
        }
        node
    }

    fn on_message(&mut self, ctx: Context, from: NodeId, message: Message, out: &mut Outbox<Self>) {
        if from == self.config.id || !self.config.members.contains(&from) {
            return; // not a peer: untrusted, ignored
        }
        self.last_heard_ms.insert(from, ctx.now_ms);
        let era = message.era();
        if era > self.era {
            if era.primary == self.config.id {
                return; // an era of ours we never started: not believable
            }
            self.adopt(era, ctx.now_ms, out);
        }
        match message {
            Message::Append { era, prev_index, prev_era, entries, primary_last } => {
                if era < self.era {
                    // A deposed primary: tell it who leads now.
                    out.send(from, Message::Alive { era: self.era });
                } else if era.primary == from && !self.is_primary() {
                    self.primary_heard_ms = ctx.now_ms;
                    self.on_append(from, prev_index, prev_era, entries, primary_last, out);
                }
            }
            Message::Ack { era, index } => {
                if self.is_primary() && era == self.era {
                    let index = index.min(self.last_index());
                    let matched = self.match_index.entry(from).or_insert(0);
                    *matched = (*matched).max(index);
                    let next = self.next_index.entry(from).or_insert(1);
                    *next = (*next).max(index + 1);
                    self.answer_replicated(out);
                }
            }
            Message::Nack { era, from_index } => {
                if self.is_primary() && era == self.era {
                    self.next_index.insert(from, from_index.min(self.last_index() + 1));
                    self.ship_to(from, out);
                }
            }
            Message::Snapshot { era, snapshot } => {
                if era == self.era && era.primary == from && !self.is_primary() {
                    self.primary_heard_ms = ctx.now_ms;
                    self.on_snapshot(from, snapshot, out);
                }
            }
            Message::Alive { .. } => {}
        }
    }

    fn on_request(&mut self, ctx: Context, request: RequestId, body: Request, out: &mut Outbox<Self>) {
        if !self.is_primary() {
            return out.reply(request, Err(ApiError::not_leader(Some(self.era.primary))));
        }
        if body.is_read_only() {
            // Served locally: a read-only request leaves the store as it was.
            let answer = self.store.apply(&body);
            return out.reply(request, answer);
        }
        self.write(ctx, request, body, out);
    }

    fn on_timer(&mut self, ctx: Context, timer: Timer, out: &mut Outbox<Self>) {
        match timer {
            Timer::Heartbeat => {
                if self.is_primary() {
                    self.ship(out);
                    if R::WAIT_FOR_BACKUPS && !self.pending.is_empty() {
                        let down: Vec<NodeId> =
                            self.config.peers().filter(|&p| !self.heard_recently(p, ctx.now_ms)).collect();
                        if !down.is_empty() {
                            for (index, w) in std::mem::take(&mut self.pending) {
                                out.cancel_timer(Timer::WriteDeadline(index));
                                let message = format!(
                                    "backup(s) {down:?} stopped answering; the write is applied on the primary"
                                );
                                out.reply(w.request, Err(ApiError::new(ErrorCode::Indeterminate, message)));
                            }
                        }
                    }
                } else {
                    for peer in self.config.peers().collect::<Vec<_>>() {
                        out.send(peer, Message::Alive { era: self.era });
                    }
                }
                out.set_timer(Timer::Heartbeat, self.config.options.heartbeat_ms.max(1));
            }
            Timer::Election => {
                let silent = ctx.now_ms.saturating_sub(self.primary_heard_ms) >= self.election_timeout_ms;
                let lower_alive =
                    self.config.peers().any(|p| p < self.config.id && self.heard_recently(p, ctx.now_ms));
                if !self.is_primary() && silent && !lower_alive {
                    let era = Era { epoch: self.max_epoch_seen + 1, primary: self.config.id };
                    self.adopt(era, ctx.now_ms, out);
                    self.become_primary(ctx.now_ms, out);
                }
                self.arm_election(ctx, out);
            }
            Timer::Ship => {
                self.ship_armed = false;
                if self.is_primary() {
                    self.ship(out);
                }
            }
            Timer::WriteDeadline(index) => {
                if let Some(w) = self.pending.remove(&index) {
                    let error = ApiError::new(ErrorCode::Timeout, "not every backup acknowledged in time");
                    out.reply(w.request, Err(error));
                }
            }
        }
    }

    fn committed_log(&self) -> Option<&CommittedLog> {
        Some(&self.committed)
    }

    fn status(&self) -> Status {
        let commit_index = if self.is_primary() && R::WAIT_FOR_BACKUPS {
            self.replicated_index()
        } else {
            self.last_index()
        };
        Status {
            id: self.config.id,
            protocol: Self::NAME.to_string(),
            role: self.role,
            term: self.era.epoch,
            leader: Some(self.era.primary),
            commit_index,
            applied_index: self.base() + self.applied as u64,
        }
    }
}
