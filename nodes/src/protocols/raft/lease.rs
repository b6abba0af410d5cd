//! Leader-lease reads (thesis 6.4.1), `ReadMode::Lease`: unsafe under clock skew, by design.
//!
//! A follower that heard from the leader refuses votes for `election_timeout_min_ms` on its
//! own clock (`in_leader_lease`). So once a majority answered a broadcast the leader sent at
//! time `t`, no other leader can be elected before `t + election_timeout_min_ms`, provided
//! every clock runs at the same rate. Until `t + LEASE_FRACTION * election_timeout_min_ms`
//! the leader serves reads from its own state without a ReadIndex round.
//!
//! The proviso is the point of the mode: a leader whose clock runs slow (or is set back, or
//! that is paused between checking its lease and answering) keeps believing in a lease the
//! others stopped honouring, and serves stale reads while a newer leader commits writes.
//! Kept to show that the harness's clock faults find exactly that. When the lease does not
//! hold the read falls back to ReadIndex.

use std::collections::VecDeque;

use super::state::RoleState;
use super::Raft;
use crate::api::Request;
use crate::protocol::{Context, Outbox, RequestId};

/// The lease lasts this fraction of the minimum election timeout past the send time of the
/// latest broadcast a majority answered: strictly less than the followers' vote refusal.
pub const LEASE_NUMERATOR: u64 = 3;
pub const LEASE_DENOMINATOR: u64 = 4;
/// Send times of this many recent rounds are remembered (older answers extend nothing).
pub const MAX_ROUNDS_TIMED: usize = 64;

/// When recent rounds were sent, oldest first.
#[derive(Debug, Default)]
pub struct RoundTimes(VecDeque<(u64, u64)>);

impl RoundTimes {
    pub fn record(&mut self, round: u64, sent_ms: u64) {
        if self.0.len() == MAX_ROUNDS_TIMED {
            self.0.pop_front();
        }
        self.0.push_back((round, sent_ms));
    }

    /// When the latest remembered round at or below `round` was sent.
    fn sent_at_or_before(&self, round: u64) -> Option<u64> {
        self.0.iter().rev().find(|(r, _)| *r <= round).map(|&(_, ms)| ms)
    }
}

impl Raft {
    /// `ReadMode::Lease`: answer at once while the lease holds and this leadership's no-op
    /// is applied; otherwise a ReadIndex round.
    pub(super) fn lease_read(
        &mut self,
        ctx: Context,
        request: RequestId,
        body: Request,
        out: &mut Outbox<Self>,
    ) {
        let RoleState::Leader(leadership) = &self.role else { return };
        let holds = leadership.lease_until_ms.is_some_and(|until| ctx.now_ms < until);
        if holds && self.applied_index >= leadership.noop_index {
            return out.reply(request, self.store.read(&body));
        }
        self.start_read(ctx, request, body, out)
    }

    /// Extend the lease from the latest round a majority (this node included) answered.
    pub(super) fn extend_lease(&mut self) {
        let quorum = self.quorum();
        let lease_ms = self.config.options.election_timeout_min_ms * LEASE_NUMERATOR / LEASE_DENOMINATOR;
        let RoleState::Leader(leadership) = &mut self.role else { return };
        let mut acked: Vec<u64> = leadership.progress.values().map(|p| p.acked_round).collect();
        acked.push(leadership.round);
        acked.sort_unstable_by(|a, b| b.cmp(a));
        let confirmed = acked[quorum - 1];
        if let Some(sent_ms) = leadership.round_times.sent_at_or_before(confirmed) {
            let until = sent_ms.saturating_add(lease_ms);
            leadership.lease_until_ms = Some(leadership.lease_until_ms.map_or(until, |u| u.max(until)));
        }
    }
}
