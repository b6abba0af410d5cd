//! Becoming leader: one phase 1 for every open slot at once.
//!
//! "Paxos Made Simple" §3: a newly chosen leader executes phase 1 for all instances not yet
//! known chosen with a single short message, since the same ballot serves every instance.
//! The candidate then proposes, in each slot from its first unlearned one to the highest
//! slot any promise reported, the value accepted there with the highest ballot, or a no-op
//! where nothing was reported (the gap filling of §3). A candidate that is refused, or
//! that does not hear from a majority before its randomized timeout, tries again later with
//! a higher ballot; the random timeouts break duels between candidates ("Paxos Made Live"
//! §2.4 and the liveness argument of PMS §2.4).
//!
//! Slots at or below the highest compaction point a promise named are chosen (an acceptor
//! compacts only what it applied): the new leader proposes nothing there, and fetches that
//! prefix from the node that compacted it ([`super::snapshot`]).

use std::collections::{BTreeMap, BTreeSet};

use super::acceptor::Answer;
use super::leader::Leadership;
use super::message::{AcceptedEntry, Message, Scope, Slot, Timer, Value};
use super::{Ballot, Paxos, Role};
use crate::api::NodeId;
use crate::protocol::{Context, Outbox};

/// A candidate's phase 1 in progress.
#[derive(Debug)]
pub(super) struct Election {
    pub ballot: Ballot,
    /// The first slot this candidate has not learned; the prepare covers it and all above.
    from: Slot,
    promised_by: BTreeSet<NodeId>,
    /// Per slot, the highest-ballot value any promise reported so far.
    found: BTreeMap<Slot, (Ballot, Value)>,
    /// The highest compaction point a promise named, and who named it.
    compacted: Option<(NodeId, Slot)>,
}

impl Election {
    fn add_promise(&mut self, from: NodeId, accepted: Vec<AcceptedEntry>, compacted: Slot) {
        self.promised_by.insert(from);
        if self.compacted.is_none_or(|(_, held)| held < compacted) && compacted > 0 {
            self.compacted = Some((from, compacted));
        }
        for entry in accepted {
            if entry.slot < self.from {
                continue;
            }
            match self.found.get(&entry.slot) {
                Some((held, _)) if *held >= entry.ballot => {}
                _ => {
                    self.found.insert(entry.slot, (entry.ballot, entry.value));
                }
            }
        }
    }
}

impl Paxos {
    /// Phase 1a with a ballot above every round seen.
    pub(super) fn start_election(&mut self, ctx: Context, out: &mut Outbox<Self>) {
        let above = self.highest_round.max(self.acceptor.promised().round);
        let ballot = Ballot::next_for(self.config.id, self.index, self.config.members.len(), above);
        self.see_round(ballot.round);
        self.leader_hint = None;
        let from = self.learner.commit() + 1;
        let scope = Scope::From(from);
        let mut election =
            Election { ballot, from, promised_by: BTreeSet::new(), found: BTreeMap::new(), compacted: None };
        match self.acceptor.prepare(ballot, scope) {
            Answer::Granted { answer, record } => {
                if let Some(record) = record {
                    out.persist(record);
                    self.logged_promise(out);
                }
                election.add_promise(self.config.id, answer, self.acceptor.compacted());
            }
            Answer::Refused { promised } => {
                unreachable!("own acceptor refused ballot {ballot} above its promise {promised}")
            }
        }
        tracing::debug!(node = self.config.id, %ballot, from, "paxos: starting election");
        self.role = Role::Candidate(election);
        for peer in self.config.peers().collect::<Vec<_>>() {
            out.send(peer, Message::Prepare { ballot, scope });
        }
        // If phase 1 does not finish by then, try again with a higher ballot.
        self.back_off(ctx, out);
        self.maybe_win(ctx, out);
    }

    /// Phase 1b arrived for a candidacy.
    pub(super) fn on_election_promise(
        &mut self,
        ctx: Context,
        from: NodeId,
        ballot: Ballot,
        accepted: Vec<AcceptedEntry>,
        compacted: Slot,
        out: &mut Outbox<Self>,
    ) {
        let Role::Candidate(election) = &mut self.role else { return };
        if election.ballot != ballot {
            return;
        }
        election.add_promise(from, accepted, compacted);
        self.maybe_win(ctx, out);
    }

    fn maybe_win(&mut self, ctx: Context, out: &mut Outbox<Self>) {
        let Role::Candidate(election) = &self.role else { return };
        if election.promised_by.len() < self.quorum() {
            return;
        }
        let Role::Candidate(election) = std::mem::replace(&mut self.role, Role::Follower) else {
            unreachable!()
        };
        let compacted = election.compacted.map_or(0, |(_, slot)| slot);
        let last = election
            .found
            .keys()
            .next_back()
            .copied()
            .unwrap_or(0)
            .max(self.learner.last_chosen())
            .max(self.learner.commit())
            .max(compacted);
        let mut reproposals = Vec::new();
        for slot in election.from.max(compacted + 1)..=last {
            if self.learner.is_chosen(slot) {
                continue;
            }
            let value = election.found.get(&slot).map(|(_, v)| v.clone()).unwrap_or(Value::Noop);
            reproposals.push((slot, value));
        }
        tracing::debug!(
            node = self.config.id,
            ballot = %election.ballot,
            reproposals = reproposals.len(),
            "paxos: elected"
        );
        self.role = Role::Leader(Leadership::new(election.ballot, last + 1, ctx.now_ms));
        self.leader_hint = Some(self.config.id);
        out.cancel_timer(Timer::Election);
        out.set_timer(Timer::Heartbeat, self.config.options.heartbeat_ms.max(1));
        if let Some((node, slot)) = election.compacted.filter(|&(_, slot)| slot > self.learner.commit()) {
            self.catch_up.behind_of = Some((node, slot));
            self.ask_catch_up(ctx, node, out);
        }
        if reproposals.is_empty() {
            // Announce the new leadership at once so followers stop their election timers.
            self.broadcast_heartbeat(ctx, out);
        } else {
            self.propose(ctx, reproposals, out);
        }
    }
}
