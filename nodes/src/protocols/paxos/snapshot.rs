//! Compaction of the chosen log, and snapshot install for a replica behind it.
//!
//! "Paxos Made Live" §5.5: the replicated log cannot grow forever, so every replica
//! periodically writes a snapshot of its state machine and drops the log before it. Here,
//! every `Options::snapshot_every` applied slots a node folds its applied prefix into a
//! [`Snapshot`] (the store, the last applied slot and the running hash of the committed
//! prefix) and rewrites its write-ahead log to `[snapshot, promise, values accepted above
//! the snapshot]`. Learned values below the snapshot are forgotten, and so are the
//! acceptor's accepted values there: those slots are chosen and this node knows their
//! values, so they need no more voting.
//!
//! What keeps this safe and live:
//!
//! - A restarted node recovers its snapshot, so it resumes applying, and prepares, from
//!   past it instead of from slot 1 (a promise then carries only what was accepted since).
//! - An acceptor that compacted a slot no longer reports it in a promise, so every promise
//!   names its compaction point (`compacted`). A candidate never proposes at or below the
//!   highest compaction point its promises named (those slots are chosen, whatever the
//!   promises say), and fetches that prefix by catch-up from the node that compacted it.
//! - Accepts for compacted slots are ignored (not acknowledged): the slot is chosen, and an
//!   acknowledgement from an acceptor that no longer holds a value must not count. The
//!   `Accepted` answer names the compaction point instead, so a leader that reproposed slots
//!   its followers have since compacted learns that it is behind and fetches them (without
//!   this, those proposals would wait forever for acknowledgements that never come).
//! - Catch-up from a slot the server has compacted is answered with a snapshot of the
//!   server's applied state, installed only if it is ahead of the receiver's.
//!
//! A node cut off from the others applies nothing but keeps running for election, and each
//! candidacy persists a promise; after [`MAX_LOGGED_PROMISES`] of them the log is rewritten
//! as well, so its length is bounded in time as well as in operations.
//!
//! Size: a snapshot travels in one message. One larger than the peer frame limit is refused
//! by the runtime with an error naming both sizes (never sent in pieces, never a panic);
//! the node behind then stays behind until the limit is raised (`--max-frame-bytes`).
//! Chunking is not implemented.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::message::{Message, Record, Slot, Value};
use super::{Ballot, Paxos, Role};
use crate::api::{ApiError, ErrorCode, NodeId};
use crate::protocol::Outbox;
use crate::state_machine::Store;

/// Promise records a log may gather before it is rewritten (see [`Paxos::logged_promise`]).
pub const MAX_LOGGED_PROMISES: usize = 32;

/// The applied state up to `last_slot`: what replaces the chosen log before it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Snapshot {
    /// Every slot up to and including this one is chosen and reflected in `store`.
    pub last_slot: Slot,
    /// The committed prefix's running hash at `last_slot` (see [`crate::committed_log`]).
    pub prefix_hash: u64,
    pub store: Store,
}

impl Paxos {
    /// Compact if enough slots were applied since the last compaction point.
    pub(super) fn maybe_snapshot(&mut self, out: &mut Outbox<Self>) {
        let every = self.config.options.snapshot_every;
        if every == 0 || self.learner.commit() - self.learner.base() < every {
            return;
        }
        self.rewrite_log(out);
    }

    /// A promise was persisted. Promises accumulate without any slot being applied (a node
    /// cut off keeps running for election), so after [`MAX_LOGGED_PROMISES`] of them the log
    /// is rewritten (compacted, if anything was) to keep it bounded.
    pub(super) fn logged_promise(&mut self, out: &mut Outbox<Self>) {
        self.promises_logged += 1;
        if self.promises_logged >= MAX_LOGGED_PROMISES {
            self.rewrite_log(out);
        }
    }

    /// Compact to the applied slot (unless compaction is off and nothing was compacted) and
    /// rewrite the write-ahead log as the current durable state.
    fn rewrite_log(&mut self, out: &mut Outbox<Self>) {
        let compact = self.config.options.snapshot_every > 0 || self.learner.base() > 0;
        let snapshot = compact.then(|| self.learner.compact());
        if let Some(snapshot) = &snapshot {
            self.acceptor.compact_to(snapshot.last_slot);
        }
        let records = self.wal_records(snapshot);
        out.rewrite(records);
    }

    /// The whole durable state as a fresh write-ahead log, from `snapshot` on.
    fn wal_records(&mut self, snapshot: Option<Snapshot>) -> Vec<Record> {
        self.promises_logged = 0;
        let mut records: Vec<Record> =
            snapshot.map(|snapshot| Record::Snapshot { snapshot }).into_iter().collect();
        records.push(Record::Promise { ballot: self.acceptor.promised() });
        let mut by_ballot: BTreeMap<Ballot, Vec<(Slot, Value)>> = BTreeMap::new();
        for (slot, (ballot, value)) in self.acceptor.accepted() {
            by_ballot.entry(*ballot).or_default().push((*slot, value.clone()));
        }
        records.extend(by_ballot.into_iter().map(|(ballot, entries)| Record::Accepted { ballot, entries }));
        records
    }

    /// Catch-up asked for slots this node has compacted: send its applied state instead.
    pub(super) fn send_snapshot(&self, to: NodeId, out: &mut Outbox<Self>) {
        out.send(to, Message::Snapshot { snapshot: self.learner.snapshot() });
    }

    /// A snapshot arrived (an answer to catch-up). Installed only if it is ahead of what this
    /// node applied; then persisted as the new start of the write-ahead log.
    pub(super) fn on_snapshot(&mut self, from: NodeId, snapshot: Snapshot, out: &mut Outbox<Self>) {
        if snapshot.last_slot <= self.learner.commit() {
            self.catch_up.asked_ms = None;
            return;
        }
        let last_slot = snapshot.last_slot;
        tracing::info!(node = self.config.id, from, last_slot, "paxos: installing a snapshot");
        self.learner.install(snapshot);
        self.acceptor.compact_to(last_slot);
        if let Role::Leader(leadership) = &mut self.role {
            // Slots the snapshot covers are chosen; whether with this leader's commands is
            // not known here, so their clients get an indefinite answer.
            for (request, read_only) in leadership.forget_through(last_slot) {
                let error = if read_only {
                    ApiError::not_leader(None)
                } else {
                    ApiError::new(ErrorCode::Indeterminate, "the slot was learned from a snapshot")
                };
                out.reply(request, Err(error));
            }
        }
        let records = self.wal_records(Some(self.learner.snapshot()));
        out.rewrite(records);
        self.catch_up.asked_ms = None;
        self.apply_and_answer(out);
        if self.catch_up.behind_of.is_some_and(|(_, slot)| slot <= self.learner.commit()) {
            self.catch_up.behind_of = None;
        }
    }
}
