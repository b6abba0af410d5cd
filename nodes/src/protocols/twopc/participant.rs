//! The participant role of `2pc`: a replica that prepares, learns decisions and applies
//! committed transactions in transaction order.
//!
//! Every member runs one, the coordinator included. A committed transaction is applied
//! only once every earlier transaction this node prepared is decided, so all replicas apply
//! the same writes in the same order. Everything at or below the floor is settled here and
//! forgotten: this node will never ask about it, and ignores stale messages about it.

use std::collections::BTreeMap;

use super::{OpResult, Record, TwoPc, TxId};
use crate::api::Request;
use crate::committed_log::CommittedLog;
use crate::protocol::Outbox;
use crate::state_machine::Store;

/// The participant role: a replica that prepares, learns decisions and applies in order.
#[derive(Debug, Default)]
pub(super) struct Participant {
    pub(super) store: Store,
    /// Prepared, outcome unknown here.
    pub(super) in_doubt: BTreeMap<TxId, Vec<Request>>,
    /// Committed, waiting for an earlier in-doubt transaction to be decided.
    pub(super) ready: BTreeMap<TxId, Vec<Request>>,
    /// Outcomes known here, above `floor`.
    pub(super) outcomes: BTreeMap<TxId, bool>,
    /// Every transaction up to here is decided and settled on this node; forgotten.
    pub(super) floor: TxId,
    /// What the coordinator last said is decided.
    pub(super) decided_through: TxId,
    /// The last transaction applied to the store.
    pub(super) applied_through: TxId,
    /// The highest committed transaction known.
    pub(super) committed_through: TxId,
    /// The highest transaction number seen.
    pub(super) highest: TxId,
    /// Transactions applied since the log was last compacted.
    pub(super) since_snapshot: u64,
    /// The committed transactions in the order applied here, as running hashes
    /// (`GET /admin/log`): index n is the n-th transaction applied, its term the txid.
    pub(super) committed: CommittedLog,
}

impl Participant {
    /// Prepare `txid` (persisting it) and say how to vote; `None`: too old to matter.
    pub(super) fn prepare(&mut self, txid: TxId, ops: &[Request], out: &mut Outbox<TwoPc>) -> Option<bool> {
        self.highest = self.highest.max(txid);
        if txid <= self.floor {
            return None; // decided long ago; the coordinator no longer counts this vote
        }
        if txid <= self.applied_through && !self.in_doubt.contains_key(&txid) {
            // Not in doubt yet at or below what is applied: decided already (a later
            // transaction was applied, and none is applied past one in doubt). A stale
            // duplicate, perhaps after a restart from a snapshot that forgot its outcome:
            // preparing it again could apply it twice.
            return None;
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
    pub(super) fn learn(
        &mut self,
        txid: TxId,
        commit: bool,
        out: &mut Outbox<TwoPc>,
    ) -> Vec<(TxId, Vec<OpResult>)> {
        if txid <= self.floor || self.outcomes.contains_key(&txid) {
            return Vec::new();
        }
        out.persist(Record::Decided { txid, commit });
        self.settle(txid, commit);
        self.apply_ready()
    }

    /// Record an outcome in memory (from a message or from the log).
    pub(super) fn settle(&mut self, txid: TxId, commit: bool) {
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
    pub(super) fn apply_ready(&mut self) -> Vec<(TxId, Vec<OpResult>)> {
        let mut applied = Vec::new();
        let blocker = self.in_doubt.keys().next().copied().unwrap_or(TxId::MAX);
        while let Some(entry) = self.ready.first_entry() {
            if *entry.key() > blocker {
                break;
            }
            let (txid, ops) = entry.remove_entry();
            let results = ops.iter().map(|op| self.store.apply(op)).collect();
            self.committed.append_value(txid, &(txid, &ops));
            self.applied_through = self.applied_through.max(txid);
            self.since_snapshot += 1;
            applied.push((txid, results));
        }
        self.forget_settled();
        applied
    }

    pub(super) fn note_decided_through(&mut self, decided_through: TxId) {
        self.decided_through = self.decided_through.max(decided_through);
        self.forget_settled();
    }

    /// Raise the floor to what is decided everywhere and settled here; drop what lies below.
    pub(super) fn forget_settled(&mut self) {
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
