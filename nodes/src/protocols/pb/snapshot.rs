//! Log compaction for primary/backup, and the snapshot a backup receives when it is behind.
//!
//! Every node applies every entry it holds, so every `Options::snapshot_every` entries it
//! folds its log into a [`Snapshot`] of the store (the last index, that entry's era, the
//! committed prefix's running hash) and rewrites its write-ahead log to `[era, snapshot]`.
//!
//! The primary sends its state instead of entries when a backup needs entries it no longer
//! holds (the backup's next index is at or below its compaction point), and when a backup
//! cannot check an append against its own log because the append starts below the backup's
//! compaction point (the backup answers `Nack { from_index: 0 }`). The snapshot is taken on
//! demand (the primary's current store at its last index), so it is never older than what
//! the primary would ship. A backup installs it unless its own log already holds that
//! index in the same era (log matching: the same prefix), or already holds an entry of the
//! primary's era at or past it (the snapshot is a delayed or duplicated one, and installing
//! it would roll back entries the backup acknowledged: under `pb-sync` those may be
//! acknowledged writes); installing replaces its store and log, which is how a deposed
//! primary's applied tail below a compaction point is dropped.
//!
//! Size: a snapshot travels in one message. One larger than the peer frame limit is refused
//! by the runtime with an error naming both sizes (never chunked, never a panic); the backup
//! then stays behind until the limit is raised (`--max-frame-bytes`).

use serde::{Deserialize, Serialize};

use super::{Era, Message, PrimaryBackup, Record, ReplyRule};
use crate::api::NodeId;
use crate::committed_log::CommittedLog;
use crate::protocol::Outbox;
use crate::state_machine::Store;

/// Highest log index a snapshot may name: keeps `index + 1` arithmetic from overflowing on
/// a hostile or corrupt frame.
pub const MAX_INDEX: u64 = 1 << 62;

/// The state after applying the log up to `index`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Snapshot {
    pub index: u64,
    /// The era of the entry at `index` (none for the empty log).
    pub era: Option<Era>,
    /// The committed prefix's running hash at `index` (see [`crate::committed_log`]).
    pub prefix_hash: u64,
    pub store: Store,
}

impl<R: ReplyRule> PrimaryBackup<R> {
    /// The current state as a snapshot (every entry is applied between steps).
    fn current_snapshot(&self) -> Snapshot {
        let index = self.last_index();
        Snapshot {
            index,
            era: self.era_at(index),
            prefix_hash: self.committed.last_hash(),
            store: self.store.clone(),
        }
    }

    /// Compact if enough entries were applied since the last compaction point. A primary
    /// keeps the entries its backups have not been sent yet (so a backup a little behind gets
    /// entries, not the whole state), but never more than `snapshot_every` of them: a backup
    /// further behind than that gets a snapshot.
    pub(super) fn maybe_snapshot(&mut self, out: &mut Outbox<Self>) {
        let every = self.config.options.snapshot_every;
        let (base, last) = (self.base(), self.last_index());
        if every == 0 || last - base < every || self.applied < self.log.len() {
            return;
        }
        let mut point = last;
        if self.is_primary() {
            let unsent = self.config.peers().map(|p| self.next_index.get(&p).copied().unwrap_or(1)).min();
            point = unsent.map_or(last, |next| next.saturating_sub(1).min(last)).max(last - every);
        }
        if point < base + every {
            return;
        }
        // The state at `point`: the previous snapshot's store with the entries up to it.
        let folded = (point - base) as usize;
        let mut store = self.snapshot.as_ref().map_or_else(Store::new, |s| s.store.clone());
        for entry in &self.log[..folded] {
            let _ = store.apply(&entry.request);
        }
        // Past `committed_log::MAX_RETAINED` entries the hash may be folded already: then
        // the log is not compacted (only an interval above that bound can get here).
        let Some(prefix_hash) = self.committed.hash_at(point) else { return };
        let snapshot = Snapshot { index: point, era: self.era_at(point), prefix_hash, store };
        self.committed.compact_to(point);
        self.log.drain(..folded);
        self.applied -= folded;
        self.snapshot = Some(snapshot);
        out.rewrite(self.wal_records());
    }

    /// The whole durable state as a fresh write-ahead log.
    pub(super) fn wal_records(&self) -> Vec<Record> {
        let mut records = vec![Record::Era(self.era)];
        records.extend(self.snapshot.clone().map(Record::Snapshot));
        records.extend(self.log.iter().cloned().map(Record::Entry));
        records
    }

    /// Primary: send `peer` the current state; entries follow from the next index.
    pub(super) fn ship_snapshot(&mut self, peer: NodeId, out: &mut Outbox<Self>) {
        let snapshot = self.current_snapshot();
        self.next_index.insert(peer, snapshot.index + 1);
        out.send(peer, Message::Snapshot { era: self.era, snapshot });
    }

    /// Backup: the primary of this node's era sent its state.
    pub(super) fn on_snapshot(&mut self, from: NodeId, snapshot: Snapshot, out: &mut Outbox<Self>) {
        if snapshot.index > MAX_INDEX {
            tracing::warn!(from, index = snapshot.index, "pb: ignoring a snapshot past the index limit");
            return;
        }
        let index = snapshot.index;
        let holds_it =
            index >= self.base() && index <= self.last_index() && self.era_at(index) == snapshot.era;
        // Holding an entry of this era means everything up to it continues the primary's log
        // (each append was checked): a snapshot not beyond it is stale (delayed or
        // duplicated) and installing it would roll acknowledged entries back.
        let stale = index <= self.last_index() && self.era_at(self.last_index()) == Some(self.era);
        if stale && !holds_it {
            return;
        }
        if !holds_it {
            tracing::info!(node = self.config.id, from, index, "pb: installing the primary's snapshot");
            let term = snapshot.era.map_or(0, |era| era.epoch);
            self.committed = CommittedLog::starting_at(index, term, snapshot.prefix_hash);
            self.store = snapshot.store.clone();
            self.log.clear();
            self.applied = 0;
            self.snapshot = Some(snapshot);
            out.rewrite(self.wal_records());
        }
        out.send(from, Message::Ack { era: self.era, index });
    }
}
