//! How followers learn chosen values: from the leader's decisions, or by catch-up.
//!
//! The leader piggybacks on each accept and heartbeat the slots chosen since its previous
//! broadcast, each with the ballot whose majority chose it, and its commit point. A follower
//! that accepted such a slot in that ballot or a higher one holds the chosen value ("Paxos
//! Made Simple" §2.2: every proposal numbered at or above the choosing ballot carries the
//! chosen value), so it learns without any value on the wire.
//!
//! Whatever a follower cannot learn that way (it missed the accept, it restarted and lost
//! its learned log, it was cut off) shows as a commit point above its own. It then asks the
//! leader for the chosen values from its first unlearned slot ("Paxos Made Live" §4's
//! catch-up), at most once per heartbeat interval while unanswered, and asks again at once
//! after each answer until it is level. Any node answers from its learned log, at most
//! `max_batch` contiguous slots per answer, or with a snapshot of its applied state when
//! the slots asked for are compacted ([`super::snapshot`]). A leader elected past a prefix
//! it has not learned (a promise named a compaction point above its commit) asks the node
//! that compacted it, again on each tick until it has that prefix.

use super::message::{Learned, Message, Slot, Value};
use super::Paxos;
use crate::api::NodeId;
use crate::protocol::{Context, Outbox};

/// Pacing of this node's own catch-up requests.
#[derive(Debug, Default)]
pub(super) struct CatchUp {
    /// When the last request went out, if one did.
    pub(super) asked_ms: Option<u64>,
    /// Leader: a node that compacted up to this slot, which this node has not applied yet.
    pub(super) behind_of: Option<(NodeId, Slot)>,
}

impl Paxos {
    /// Learn from what a leader's accept or heartbeat says was chosen.
    pub(super) fn learn_from_leader(
        &mut self,
        ctx: Context,
        leader: NodeId,
        learned: Learned,
        out: &mut Outbox<Self>,
    ) {
        for decision in learned.decisions {
            let Some((ballot, value)) = self.acceptor.accepted_at(decision.slot) else { continue };
            if *ballot >= decision.ballot {
                self.learn(decision.slot, value.clone());
            }
        }
        self.apply_and_answer(out);
        if learned.commit > self.learner.commit() {
            let heartbeat_ms = self.config.options.heartbeat_ms.max(1);
            if self.catch_up.asked_ms.is_none_or(|at| ctx.now_ms >= at + heartbeat_ms) {
                self.ask_catch_up(ctx, leader, out);
            }
        }
    }

    /// Another node asks for chosen values from `first` on.
    pub(super) fn on_catch_up(&mut self, from: NodeId, first: Slot, out: &mut Outbox<Self>) {
        if first <= self.learner.base() {
            return self.send_snapshot(from, out);
        }
        let entries = self.learner.contiguous_from(first, self.max_batch());
        if !entries.is_empty() {
            out.send(from, Message::Chosen { entries, commit: self.learner.commit() });
        }
    }

    /// Chosen values arrived (an answer to catch-up).
    pub(super) fn on_chosen(
        &mut self,
        ctx: Context,
        from: NodeId,
        entries: Vec<(Slot, Value)>,
        commit: Slot,
        out: &mut Outbox<Self>,
    ) {
        let before = self.learner.commit();
        for (slot, value) in entries {
            self.learn(slot, value);
        }
        self.apply_and_answer(out);
        if commit > self.learner.commit() && self.learner.commit() > before {
            self.ask_catch_up(ctx, from, out);
        } else {
            self.catch_up.asked_ms = None;
        }
        if self.catch_up.behind_of.is_some_and(|(_, slot)| slot <= self.learner.commit()) {
            self.catch_up.behind_of = None;
        }
    }

    /// Leader's tick: still missing a prefix a promise said was compacted? Ask again, at
    /// most once per heartbeat interval.
    pub(super) fn catch_up_if_behind(&mut self, ctx: Context, out: &mut Outbox<Self>) {
        let Some((node, slot)) = self.catch_up.behind_of else { return };
        if slot <= self.learner.commit() {
            self.catch_up.behind_of = None;
            return;
        }
        let heartbeat_ms = self.config.options.heartbeat_ms.max(1);
        if self.catch_up.asked_ms.is_none_or(|at| ctx.now_ms >= at + heartbeat_ms) {
            self.ask_catch_up(ctx, node, out);
        }
    }

    pub(super) fn ask_catch_up(&mut self, ctx: Context, from: NodeId, out: &mut Outbox<Self>) {
        self.catch_up.asked_ms = Some(ctx.now_ms);
        out.send(from, Message::CatchUp { from: self.learner.commit() + 1 });
    }

    fn learn(&mut self, slot: Slot, value: Value) {
        if let Err(conflict) = self.learner.learn(slot, value) {
            tracing::error!(
                node = self.config.id,
                ?conflict,
                "paxos: ignoring a chosen value that contradicts a learned one"
            );
        }
    }
}
