//! The distinguished proposer: phase 2 while it leads, and answering clients.
//!
//! "Paxos Made Simple" §3: once phase 1 is done for all open slots, the leader only runs
//! phase 2 for each new command, in the next free slot. With `phase1_every_op` it runs a
//! per-slot phase 1 first (the classic single-decree protocol of §2 applied to each slot).
//! A slot is chosen when a majority accepted it in the leader's ballot (§2.2); the leader
//! learns this from the accepted answers, applies the slot in order, answers the client,
//! and tells followers with its next accept or heartbeat. Unanswered prepares and accepts
//! are sent again on every tick, since the network may lose them.

use std::collections::{BTreeMap, BTreeSet};

use super::acceptor::Answer;
use super::message::{AcceptedEntry, CommandId, Decision, Learned, Message, Scope, Slot, Timer, Value};
use super::{Ballot, Paxos, Role, MAX_IN_FLIGHT};
use crate::api::{ApiError, ErrorCode, NodeId, Request};
use crate::protocol::{Context, Effect, Outbox, ReadMode, RequestId};

/// State that exists only while this node leads.
#[derive(Debug)]
pub(super) struct Leadership {
    pub ballot: Ballot,
    /// The next slot for a new command.
    next_slot: Slot,
    /// Numbers this leader's commands within its ballot.
    next_seq: u64,
    /// Phase 2 in flight, by slot.
    proposals: BTreeMap<Slot, Proposal>,
    /// Classic variant: phase 1 in flight for one new command's slot.
    preparing: BTreeMap<Slot, SlotPrepare>,
    /// Clients waiting for their slot to be chosen and applied: request and its command.
    waiting: BTreeMap<Slot, (RequestId, Value)>,
    /// Slots chosen since the last broadcast, for followers to learn.
    decisions: Vec<Decision>,
    /// When the last accept or heartbeat went to every peer.
    last_broadcast_ms: u64,
    /// When this node became leader, and when each peer last answered in this ballot.
    since_ms: u64,
    answered_ms: BTreeMap<NodeId, u64>,
}

#[derive(Debug)]
struct Proposal {
    value: Value,
    accepted_by: BTreeSet<NodeId>,
    sent_ms: u64,
}

#[derive(Debug)]
struct SlotPrepare {
    request: RequestId,
    command: Value,
    promised_by: BTreeSet<NodeId>,
    /// The highest-ballot value a promise reported for this slot.
    found: Option<(Ballot, Value)>,
    sent_ms: u64,
}

impl Leadership {
    pub fn new(ballot: Ballot, next_slot: Slot, now_ms: u64) -> Leadership {
        Leadership {
            ballot,
            next_slot,
            next_seq: 0,
            proposals: BTreeMap::new(),
            preparing: BTreeMap::new(),
            waiting: BTreeMap::new(),
            decisions: Vec::new(),
            last_broadcast_ms: now_ms,
            since_ms: now_ms,
            answered_ms: BTreeMap::new(),
        }
    }

    /// Every client request still unanswered (when leadership ends), and whether it only reads.
    pub fn into_waiting_requests(self) -> Vec<(RequestId, bool)> {
        let read_only =
            |command: &Value| matches!(command, Value::Command { request, .. } if request.is_read_only());
        let waiting = self.waiting.into_values().map(|(request, command)| (request, read_only(&command)));
        let preparing = self.preparing.into_values().map(|p| (p.request, read_only(&p.command)));
        waiting.chain(preparing).collect()
    }

    /// Forget every slot up to `slot` (learned from a snapshot) and return the requests
    /// that waited on them, with whether each only reads.
    pub fn forget_through(&mut self, slot: Slot) -> Vec<(RequestId, bool)> {
        let read_only =
            |command: &Value| matches!(command, Value::Command { request, .. } if request.is_read_only());
        self.next_slot = self.next_slot.max(slot + 1);
        self.proposals = self.proposals.split_off(&(slot + 1));
        let kept_waiting = self.waiting.split_off(&(slot + 1));
        let kept_preparing = self.preparing.split_off(&(slot + 1));
        let waiting = std::mem::replace(&mut self.waiting, kept_waiting);
        let preparing = std::mem::replace(&mut self.preparing, kept_preparing);
        let waiting = waiting.into_values().map(|(request, command)| (request, read_only(&command)));
        let preparing = preparing.into_values().map(|p| (p.request, read_only(&p.command)));
        waiting.chain(preparing).collect()
    }

    fn in_flight(&self) -> usize {
        self.proposals.len() + self.preparing.len()
    }

    fn take_slot(&mut self) -> Slot {
        let slot = self.next_slot;
        self.next_slot += 1;
        slot
    }
}

impl Paxos {
    fn leadership(&mut self) -> Option<&mut Leadership> {
        match &mut self.role {
            Role::Leader(l) => Some(l),
            _ => None,
        }
    }

    /// A client request at the leader: give it a slot and start the phases for it.
    pub(super) fn on_client_request(
        &mut self,
        ctx: Context,
        request: RequestId,
        body: Request,
        out: &mut Outbox<Self>,
    ) {
        let classic = self.config.options.phase1_every_op;
        let Some(l) = self.leadership() else { unreachable!("on_client_request needs leadership") };
        if l.in_flight() >= MAX_IN_FLIGHT {
            out.reply(request, Err(ApiError::new(ErrorCode::Unavailable, "too many requests in flight")));
            return;
        }
        let command = Value::Command { id: CommandId { ballot: l.ballot, seq: l.next_seq }, request: body };
        l.next_seq += 1;
        let slot = l.take_slot();
        if classic {
            self.prepare_slot(ctx, slot, request, command, out);
        } else {
            l.waiting.insert(slot, (request, command.clone()));
            self.propose(ctx, vec![(slot, command)], out);
        }
    }

    /// Phase 2a for these slots: accept them locally, then ask every peer.
    pub(super) fn propose(&mut self, ctx: Context, entries: Vec<(Slot, Value)>, out: &mut Outbox<Self>) {
        let id = self.config.id;
        let max_batch = self.max_batch();
        let peers: Vec<NodeId> = self.config.peers().collect();
        let Some(ballot) = self.leadership().map(|l| l.ballot) else { return };
        match self.acceptor.accept(ballot, &entries) {
            Answer::Granted { record, .. } => out.effects.extend(record.map(Effect::Persist)),
            Answer::Refused { .. } => {
                // A higher ballot was promised in this very node: no longer the leader.
                self.step_down(ctx, out);
                return;
            }
        }
        let learned = self.take_learned(ctx);
        let l = self.leadership().expect("still leading");
        for (slot, value) in &entries {
            let accepted_by = BTreeSet::from([id]);
            l.proposals.insert(*slot, Proposal { value: value.clone(), accepted_by, sent_ms: ctx.now_ms });
        }
        for peer in peers {
            for chunk in entries.chunks(max_batch) {
                out.send(peer, Message::Accept { ballot, entries: chunk.to_vec(), learned: learned.clone() });
            }
        }
        let slots: Vec<Slot> = entries.iter().map(|(slot, _)| *slot).collect();
        self.count_accepts(ctx, id, ballot, slots, out);
    }

    /// Phase 2b arrived. An acceptor that compacted past this leader's commit point holds
    /// chosen slots the leader has not learned (and will not acknowledge them again): the
    /// leader fetches them from it.
    pub(super) fn on_accepted(
        &mut self,
        ctx: Context,
        from: NodeId,
        ballot: Ballot,
        slots: Vec<Slot>,
        compacted: Slot,
        out: &mut Outbox<Self>,
    ) {
        let leading = self.leadership().is_some_and(|l| l.ballot == ballot);
        if leading
            && compacted > self.learner.commit()
            && self.catch_up.behind_of.is_none_or(|(_, slot)| slot < compacted)
        {
            self.catch_up.behind_of = Some((from, compacted));
            self.catch_up_if_behind(ctx, out);
        }
        self.count_accepts(ctx, from, ballot, slots, out);
    }

    fn count_accepts(
        &mut self,
        ctx: Context,
        from: NodeId,
        ballot: Ballot,
        slots: Vec<Slot>,
        out: &mut Outbox<Self>,
    ) {
        let quorum = self.quorum();
        let Some(l) = self.leadership() else { return };
        if l.ballot != ballot {
            return;
        }
        l.answered_ms.insert(from, ctx.now_ms);
        let mut chosen = Vec::new();
        for slot in slots {
            let Some(proposal) = l.proposals.get_mut(&slot) else { continue };
            proposal.accepted_by.insert(from);
            if proposal.accepted_by.len() >= quorum {
                let proposal = l.proposals.remove(&slot).expect("just seen");
                l.decisions.push(Decision { slot, ballot });
                chosen.push((slot, proposal.value));
            }
        }
        for (slot, value) in chosen {
            if let Err(conflict) = self.learner.learn(slot, value) {
                tracing::error!(
                    node = self.config.id,
                    ?conflict,
                    "paxos: a majority accepted a value that contradicts a learned one"
                );
            }
        }
        self.apply_and_answer(out);
    }

    /// Classic variant, phase 1a for one new command's slot.
    fn prepare_slot(
        &mut self,
        ctx: Context,
        slot: Slot,
        request: RequestId,
        command: Value,
        out: &mut Outbox<Self>,
    ) {
        let id = self.config.id;
        let peers: Vec<NodeId> = self.config.peers().collect();
        let Some(ballot) = self.leadership().map(|l| l.ballot) else { return };
        let scope = Scope::One(slot);
        let own = match self.acceptor.prepare(ballot, scope) {
            Answer::Granted { answer, record } => {
                out.effects.extend(record.map(Effect::Persist));
                answer
            }
            Answer::Refused { .. } => {
                self.step_down(ctx, out);
                out.reply(
                    request,
                    Err(ApiError::new(ErrorCode::NotLeader, "leadership lost before proposing")),
                );
                return;
            }
        };
        let l = self.leadership().expect("still leading");
        let sp =
            SlotPrepare { request, command, promised_by: BTreeSet::new(), found: None, sent_ms: ctx.now_ms };
        l.preparing.insert(slot, sp);
        for peer in peers {
            out.send(peer, Message::Prepare { ballot, scope });
        }
        self.on_slot_promise(ctx, id, ballot, slot, own, out);
    }

    /// Classic variant, phase 1b for one slot.
    pub(super) fn on_slot_promise(
        &mut self,
        ctx: Context,
        from: NodeId,
        ballot: Ballot,
        slot: Slot,
        accepted: Vec<AcceptedEntry>,
        out: &mut Outbox<Self>,
    ) {
        let quorum = self.quorum();
        let Some(l) = self.leadership() else { return };
        if l.ballot != ballot {
            return;
        }
        l.answered_ms.insert(from, ctx.now_ms);
        let Some(sp) = l.preparing.get_mut(&slot) else { return };
        sp.promised_by.insert(from);
        for entry in accepted.into_iter().filter(|e| e.slot == slot) {
            if sp.found.as_ref().is_none_or(|(held, _)| *held < entry.ballot) {
                sp.found = Some((entry.ballot, entry.value));
            }
        }
        if sp.promised_by.len() < quorum {
            return;
        }
        let sp = l.preparing.remove(&slot).expect("just seen");
        match sp.found {
            Some((_, found)) if found != sp.command => {
                // The slot already holds a value that may be chosen: propose that one, and
                // give the client's command the next slot (PMS §2.2, P2c).
                let next = l.take_slot();
                self.propose(ctx, vec![(slot, found)], out);
                if self.leadership().is_some() {
                    self.prepare_slot(ctx, next, sp.request, sp.command, out);
                } else {
                    out.reply(
                        sp.request,
                        Err(ApiError::new(ErrorCode::NotLeader, "leadership lost before proposing")),
                    );
                }
            }
            _ => {
                l.waiting.insert(slot, (sp.request, sp.command.clone()));
                self.propose(ctx, vec![(slot, sp.command)], out);
            }
        }
    }

    /// A follower acknowledged a heartbeat of this ballot.
    pub(super) fn heard_follower(&mut self, ctx: Context, from: NodeId, ballot: Ballot) {
        if let Some(l) = self.leadership().filter(|l| l.ballot == ballot) {
            l.answered_ms.insert(from, ctx.now_ms);
        }
    }

    /// Check-quorum: whether some majority (this node included) answered within `window_ms`.
    fn majority_answered_within(&self, ctx: Context, window_ms: u64) -> bool {
        let Role::Leader(l) = &self.role else { return false };
        if ctx.now_ms < l.since_ms + window_ms {
            return true;
        }
        let id = self.config.id;
        let recent =
            l.answered_ms.iter().filter(|&(&peer, &at)| peer != id && at + window_ms >= ctx.now_ms).count();
        recent + 1 >= self.quorum()
    }

    /// Apply what became applicable; the leader answers its waiting clients.
    pub(super) fn apply_and_answer(&mut self, out: &mut Outbox<Self>) {
        let applied = self.learner.apply_ready();
        self.answer_applied(applied, out);
        self.maybe_snapshot(out);
    }

    fn answer_applied(&mut self, applied: Vec<super::learner::Applied>, out: &mut Outbox<Self>) {
        let Some(l) = self.leadership() else { return };
        for done in applied {
            let Some((request, command)) = l.waiting.remove(&done.slot) else { continue };
            if done.value == command {
                out.reply(request, done.result);
            } else {
                // Our command was proposed in this slot only, and another value was chosen.
                let message = "another leader's value was chosen in this slot".to_string();
                out.reply(request, Err(ApiError { message, ..ApiError::not_leader(None) }));
            }
        }
    }

    /// What followers should learn now: the commit point and the decisions not yet sent.
    fn take_learned(&mut self, ctx: Context) -> Learned {
        let commit = self.learner.commit();
        let l = self.leadership().expect("only a leader tells what it learned");
        l.last_broadcast_ms = ctx.now_ms;
        Learned { commit, decisions: std::mem::take(&mut l.decisions) }
    }

    pub(super) fn broadcast_heartbeat(&mut self, ctx: Context, out: &mut Outbox<Self>) {
        let Some(ballot) = self.leadership().map(|l| l.ballot) else { return };
        let learned = self.take_learned(ctx);
        for peer in self.config.peers() {
            out.send(peer, Message::Heartbeat { ballot, learned: learned.clone() });
        }
    }

    /// The leader's timer: retransmit what is unanswered, heartbeat if idle.
    pub(super) fn tick(&mut self, ctx: Context, out: &mut Outbox<Self>) {
        let heartbeat_ms = self.config.options.heartbeat_ms.max(1);
        let max_batch = self.max_batch();
        let peers: Vec<NodeId> = self.config.peers().collect();
        let commit = self.learner.commit();
        out.set_timer(Timer::Heartbeat, heartbeat_ms);
        let window_ms =
            self.config.options.election_timeout_max_ms.max(self.config.options.election_timeout_min_ms);
        // Unsafe local reads keep a cut-off leader serving, as the mode means to show.
        let check_quorum = self.config.options.read_mode != ReadMode::Local;
        if check_quorum && !self.majority_answered_within(ctx, window_ms) {
            tracing::info!(
                node = self.config.id,
                "paxos: no majority answered within {window_ms} ms; stepping down"
            );
            self.step_down(ctx, out);
            return;
        }
        self.catch_up_if_behind(ctx, out);
        let Some(l) = self.leadership() else { return };
        let ballot = l.ballot;
        let due = |sent_ms: u64| ctx.now_ms >= sent_ms + heartbeat_ms;
        let mut resend: BTreeMap<NodeId, Vec<(Slot, Value)>> = BTreeMap::new();
        for (slot, p) in l.proposals.iter_mut().filter(|(_, p)| due(p.sent_ms)) {
            p.sent_ms = ctx.now_ms;
            for peer in peers.iter().filter(|peer| !p.accepted_by.contains(peer)) {
                resend.entry(*peer).or_default().push((*slot, p.value.clone()));
            }
        }
        for (peer, entries) in resend {
            for chunk in entries.chunks(max_batch) {
                let learned = Learned { commit, decisions: Vec::new() };
                out.send(peer, Message::Accept { ballot, entries: chunk.to_vec(), learned });
            }
        }
        for (slot, sp) in l.preparing.iter_mut().filter(|(_, sp)| due(sp.sent_ms)) {
            sp.sent_ms = ctx.now_ms;
            for peer in peers.iter().filter(|peer| !sp.promised_by.contains(peer)) {
                out.send(*peer, Message::Prepare { ballot, scope: Scope::One(*slot) });
            }
        }
        if due(l.last_broadcast_ms) {
            self.broadcast_heartbeat(ctx, out);
        }
    }
}
