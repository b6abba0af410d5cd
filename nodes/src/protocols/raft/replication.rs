//! Log replication (section 5.3) and the commit rule (5.4.2).
//!
//! The leader feeds each follower according to its [`Flow`]: probing one message at a time
//! until the logs are known to match, then pipelining batches of at most
//! `Options::max_batch` entries, advancing `next_index` as it sends, within a window of
//! `PIPELINE_BATCHES` unacknowledged batches. A lost or reordered message shows up as a
//! refusal of a later one, which drops the follower back to probing from the follower's
//! conflict hint: a whole term is skipped per round trip rather than one entry.
//!
//! The heartbeat is an ordinary AppendEntries sent to every follower whatever its flow; it
//! doubles as the retransmission of anything lost.

use super::state::{Flow, RoleState};
use super::{Conflict, Entry, Message, Raft, Record, Timer, PIPELINE_BATCHES};
use crate::api::NodeId;
use crate::protocol::{Context, Outbox, ReadMode};

/// The fields of an AppendEntries request.
pub(super) struct Append {
    pub term: u64,
    pub prev_log_index: u64,
    pub prev_log_term: u64,
    pub entries: Vec<Entry>,
    pub leader_commit: u64,
}

/// The fields of an AppendEntries (or InstallSnapshot) response.
pub(super) struct AppendResponse {
    pub term: u64,
    pub success: bool,
    pub match_index: u64,
    pub rejected_index: u64,
    pub conflict: Option<Conflict>,
}

impl AppendResponse {
    /// A refusal without a conflict hint: the follower's term was newer than the request's.
    /// (Every refusal for a log mismatch carries a hint; see `on_append_entries`.)
    fn is_stale_term_refusal(&self) -> bool {
        !self.success && self.conflict.is_none()
    }
}

impl Raft {
    /// The heartbeat timer fired: a new broadcast round to every follower, then re-arm.
    pub(super) fn heartbeat(&mut self, ctx: Context, out: &mut Outbox<Self>) {
        if !self.is_leader() {
            return;
        }
        self.broadcast_round(ctx, out);
        out.set_timer(Timer::Heartbeat, self.config.options.heartbeat_ms.max(1));
    }

    /// Send every follower an AppendEntries (or its snapshot) numbered with a new round.
    pub(super) fn broadcast_round(&mut self, ctx: Context, out: &mut Outbox<Self>) {
        let RoleState::Leader(leadership) = &mut self.role else { return };
        leadership.round += 1;
        leadership.round_times.record(leadership.round, ctx.now_ms);
        for peer in self.peers() {
            self.send_append(peer, true, out);
        }
    }

    /// Send `peer` what it needs next. With `force` (heartbeats, read rounds) a message goes
    /// out even when there is nothing new or a probe is already in flight.
    pub(super) fn send_append(&mut self, peer: NodeId, force: bool, out: &mut Outbox<Self>) {
        let RoleState::Leader(leadership) = &mut self.role else { return };
        let round = leadership.round;
        let Some(progress) = leadership.progress.get_mut(&peer) else { return };
        match progress.flow {
            Flow::Snapshot { .. } if !force => return,
            Flow::Probe if progress.probe_sent && !force => return,
            _ => {}
        }
        if progress.next_index <= self.log.snapshot_index() || matches!(progress.flow, Flow::Snapshot { .. })
        {
            // Section 7: the entries this follower needs were compacted away.
            let Some(snapshot) = self.snapshot.clone() else { return };
            progress.flow = Flow::Snapshot { index: snapshot.last_index };
            out.send(peer, Message::InstallSnapshot { term: self.term, snapshot, round });
            return;
        }
        let max_batch = self.config.options.max_batch.max(1);
        let allowance = match progress.flow {
            Flow::Replicate => {
                let window = max_batch as u64 * PIPELINE_BATCHES;
                let in_flight = progress.next_index - 1 - progress.match_index;
                window.saturating_sub(in_flight).min(max_batch as u64) as usize
            }
            _ => max_batch,
        };
        let entries = self.log.entries_from(progress.next_index, allowance);
        if entries.is_empty() && !force {
            return;
        }
        let prev_log_index = progress.next_index - 1;
        let Some(prev_log_term) = self.log.term_at(prev_log_index) else { return };
        match progress.flow {
            Flow::Replicate => progress.next_index += entries.len() as u64,
            _ => progress.probe_sent = true,
        }
        out.send(
            peer,
            Message::AppendEntries {
                term: self.term,
                prev_log_index,
                prev_log_term,
                entries,
                leader_commit: self.commit_index,
                round,
            },
        );
    }

    /// Section 5.3, the receiver's side: the consistency check on `prev_log_index`, conflict
    /// truncation, appending what is new, and the commit index from the leader.
    pub(super) fn on_append_entries(
        &mut self,
        ctx: Context,
        from: NodeId,
        append: Append,
        round: u64,
        out: &mut Outbox<Self>,
    ) {
        let Append { term, mut prev_log_index, mut prev_log_term, mut entries, leader_commit } = append;
        if term < self.term {
            // A stale leader: the answer carries the newer term so that it steps down. It
            // confirms no round (0): it answers a request of an older term, and echoing
            // that request's round once let a later leadership count it for its own.
            return self.reply_append(from, false, 0, prev_log_index, None, 0, out);
        }
        if self.accept_leader(ctx, from, out).is_none() {
            return;
        }
        // Entries up to the compaction point are committed and therefore match the leader's
        // (leader completeness, 5.4.3): skip them and check from the compaction point.
        let snapshot_index = self.log.snapshot_index();
        if prev_log_index < snapshot_index {
            entries.retain(|e| e.index > snapshot_index);
            if entries.is_empty() {
                return self.reply_append(from, true, snapshot_index, 0, None, round, out);
            }
            prev_log_index = snapshot_index;
            prev_log_term = self.log.snapshot_term();
        }
        match self.log.term_at(prev_log_index) {
            None => {
                let conflict = Conflict { term: None, index: self.log.last_index() + 1 };
                return self.reply_append(from, false, 0, prev_log_index, Some(conflict), round, out);
            }
            Some(held) if held != prev_log_term => {
                let index = self.log.first_index_of_term_ending_at(held, prev_log_index);
                let conflict = Conflict { term: Some(held), index };
                return self.reply_append(from, false, 0, prev_log_index, Some(conflict), round, out);
            }
            Some(_) => {}
        }
        let match_index = prev_log_index + entries.len() as u64;
        // Skip what is already held; truncate at the first conflict; append the rest.
        let first_new = entries.iter().position(|e| self.log.term_at(e.index) != Some(e.term));
        if let Some(first_new) = first_new {
            let new_entries = entries.split_off(first_new);
            let at = new_entries[0].index;
            if at <= self.log.last_index() {
                if at <= self.commit_index {
                    // A leader contradicting a committed entry cannot exist in Raft (5.4);
                    // refuse the message rather than lose what was committed.
                    debug_assert!(false, "leader {from} conflicts with committed entry {at}");
                    return;
                }
                self.log.truncate_from(at);
                out.persist(Record::Truncate { from: at });
            }
            for entry in &new_entries {
                self.log.append(entry.clone());
            }
            out.persist(Record::Entries { entries: new_entries });
        }
        // Figure 2: commitIndex = min(leaderCommit, index of last new entry), never backwards.
        let commit = leader_commit.min(match_index);
        if commit > self.commit_index {
            self.commit_index = commit;
        }
        self.reply_append(from, true, match_index, 0, None, round, out);
        self.apply_committed(ctx, out);
    }

    /// A message from the leader of the current term arrived: follow it and restart the
    /// election timer. `None` if this node itself leads this term (which Raft rules out).
    pub(super) fn accept_leader(&mut self, ctx: Context, from: NodeId, out: &mut Outbox<Self>) -> Option<()> {
        match self.role {
            RoleState::Leader(_) => {
                debug_assert!(false, "two leaders in term {}: {} and {from}", self.term, self.config.id);
                return None;
            }
            RoleState::Follower => self.leader = Some(from),
            RoleState::PreCandidate { .. } | RoleState::Candidate { .. } => {
                self.become_follower(ctx, self.term, Some(from), out)
            }
        }
        self.leader_contact_ms = Some(ctx.now_ms);
        self.reset_election_timer(ctx, out);
        Some(())
    }

    #[allow(clippy::too_many_arguments)]
    pub(super) fn reply_append(
        &self,
        to: NodeId,
        success: bool,
        match_index: u64,
        rejected_index: u64,
        conflict: Option<Conflict>,
        round: u64,
        out: &mut Outbox<Self>,
    ) {
        out.send(
            to,
            Message::AppendEntriesResponse {
                term: self.term,
                success,
                match_index,
                rejected_index,
                conflict,
                round,
            },
        );
    }

    /// Section 5.3, the leader's side: record progress, back off on refusal, commit.
    pub(super) fn on_append_response(
        &mut self,
        ctx: Context,
        from: NodeId,
        response: AppendResponse,
        round: u64,
        out: &mut Outbox<Self>,
    ) {
        if response.term < self.term {
            return;
        }
        if response.is_stale_term_refusal() {
            // The follower refused a request from an older term of ours (it answers with its
            // own term, which equals ours only because we were elected again since). It says
            // nothing about this leadership: no read credit, no check-quorum contact.
            return;
        }
        let last_index = self.log.last_index();
        let RoleState::Leader(leadership) = &mut self.role else { return };
        let current_round = leadership.round;
        let Some(progress) = leadership.progress.get_mut(&from) else { return };
        leadership.heard_since_check.insert(from);
        if round <= current_round {
            progress.acked_round = progress.acked_round.max(round);
            if self.config.options.read_mode == ReadMode::Lease {
                self.extend_lease();
            }
        }
        let RoleState::Leader(leadership) = &mut self.role else { return };
        let Some(progress) = leadership.progress.get_mut(&from) else { return };
        if response.success {
            if response.match_index > last_index {
                return; // Claims entries this leader never had: malformed.
            }
            progress.match_index = progress.match_index.max(response.match_index);
            progress.next_index = progress.next_index.max(progress.match_index + 1);
            progress.probe_sent = false;
            match progress.flow {
                Flow::Probe => progress.flow = Flow::Replicate,
                Flow::Snapshot { index } if progress.match_index >= index => progress.flow = Flow::Replicate,
                Flow::Snapshot { .. } | Flow::Replicate => {}
            }
            self.confirm_reads();
            self.advance_commit(ctx, out);
            self.send_append(from, false, out);
        } else {
            if let Some(conflict) = response.conflict {
                if conflict.term.is_none() && conflict.index <= progress.match_index {
                    // The follower's log is shorter than it once acknowledged: it lost its
                    // disk (or this refusal is an old one, overtaken). Forget what it
                    // acknowledged and probe from its end; commit never moves backwards, so
                    // forgetting is safe, and a needless probe costs one round trip.
                    progress.match_index = conflict.index.saturating_sub(1);
                    progress.next_index = conflict.index.max(1);
                    progress.flow = Flow::Probe;
                    progress.probe_sent = false;
                    self.send_append(from, false, out);
                    self.confirm_reads();
                    return self.serve_reads(out);
                }
                let stale = match progress.flow {
                    Flow::Replicate => response.rejected_index <= progress.match_index,
                    Flow::Probe => response.rejected_index.checked_add(1) != Some(progress.next_index),
                    Flow::Snapshot { .. } => true,
                };
                if !stale {
                    // Skip the follower's whole conflicting term if this log lacks it, or to
                    // the end of that term here if it has it.
                    let hint = match conflict.term {
                        Some(term) => self.log.last_index_of_term(term).map_or(conflict.index, |i| i + 1),
                        None => conflict.index,
                    };
                    progress.next_index =
                        hint.min(response.rejected_index).min(last_index + 1).max(progress.match_index + 1);
                    progress.flow = Flow::Probe;
                    progress.probe_sent = false;
                    self.send_append(from, false, out);
                }
            }
        }
        self.confirm_reads();
        self.serve_reads(out);
    }

    /// Sections 5.3 and 5.4.2: the highest index held by a majority becomes committed, but
    /// only if its entry is of the current term (older entries commit with it, never by
    /// counting replicas: Figure 8).
    pub(super) fn advance_commit(&mut self, ctx: Context, out: &mut Outbox<Self>) {
        let RoleState::Leader(leadership) = &self.role else { return };
        let mut matched: Vec<u64> = leadership.progress.values().map(|p| p.match_index).collect();
        matched.push(self.log.last_index());
        matched.sort_unstable_by(|a, b| b.cmp(a));
        let majority_index = matched[self.quorum() - 1];
        if majority_index > self.commit_index && self.log.term_at(majority_index) == Some(self.term) {
            self.commit_index = majority_index;
            self.apply_committed(ctx, out);
        }
    }
}
