//! Log compaction and InstallSnapshot (section 7).
//!
//! Every `Options::snapshot_every` applied entries the node folds the applied prefix of its
//! log into a [`Snapshot`] of the store and rewrites its write-ahead log to
//! `[snapshot, term and vote, remaining entries]`, so the log stays bounded. A follower whose
//! next entry the leader no longer holds (lagging, or restarted with an empty data
//! directory) receives the snapshot whole, then ordinary AppendEntries from there.

use super::state::RoleState;
use super::{Raft, Record, Snapshot};
use crate::api::NodeId;
use crate::committed_log::CommittedLog;
use crate::protocol::{Context, Outbox};

impl Raft {
    /// Compact if enough entries were applied since the last snapshot.
    pub(super) fn maybe_snapshot(&mut self, out: &mut Outbox<Self>) {
        let every = self.config.options.snapshot_every;
        if every == 0 || self.applied_index - self.log.snapshot_index() < every {
            return;
        }
        let Some(last_term) = self.log.term_at(self.applied_index) else { return };
        let snapshot = Snapshot {
            last_index: self.applied_index,
            last_term,
            store: self.store.clone(),
            prefix_hash: self.committed.last_hash(),
        };
        debug_assert_eq!(self.committed.last_index(), self.applied_index);
        self.log.compact_to(snapshot.last_index, snapshot.last_term);
        self.committed.compact_to(snapshot.last_index);
        self.snapshot = Some(snapshot);
        out.rewrite(self.wal_records());
    }

    /// The whole durable state as a fresh write-ahead log.
    pub(super) fn wal_records(&self) -> Vec<Record> {
        let mut records = Vec::with_capacity(3);
        if let Some(snapshot) = &self.snapshot {
            records.push(Record::Snapshot { snapshot: snapshot.clone() });
        }
        records.push(Record::HardState { term: self.term, voted_for: self.voted_for });
        let entries = self.log.entries_after(self.log.snapshot_index());
        if !entries.is_empty() {
            records.push(Record::Entries { entries });
        }
        records
    }

    /// Section 7, the receiver's side: a snapshot beyond what this node has committed
    /// replaces the state machine and the covered prefix of the log (a consistent suffix is
    /// kept); one it already covers is simply acknowledged.
    pub(super) fn on_install_snapshot(
        &mut self,
        ctx: Context,
        from: NodeId,
        term: u64,
        snapshot: Snapshot,
        round: u64,
        out: &mut Outbox<Self>,
    ) {
        if term < self.term {
            return self.reply_append(from, false, 0, 0, None, round, out);
        }
        if self.accept_leader(ctx, from, out).is_none() {
            return;
        }
        if snapshot.last_index <= self.commit_index {
            // Everything committed here matches the leader (5.4.3): report that much.
            let commit = self.commit_index;
            return self.reply_append(from, true, commit, 0, None, round, out);
        }
        debug_assert!(matches!(self.role, RoleState::Follower));
        let last_index = snapshot.last_index;
        self.log.compact_to(snapshot.last_index, snapshot.last_term);
        self.store = snapshot.store.clone();
        self.committed = CommittedLog::starting_at(last_index, snapshot.last_term, snapshot.prefix_hash);
        self.commit_index = last_index;
        self.applied_index = last_index;
        self.snapshot = Some(snapshot);
        out.rewrite(self.wal_records());
        self.reply_append(from, true, last_index, 0, None, round, out);
    }
}
