//! Client requests: writes become proposals, reads are confirmed by a quorum (see "Reads" in
//! the [module documentation](super) for why reads do not follow ZooKeeper's).
//!
//! Only a leader in the broadcast phase orders requests. A follower answers `not_leader`
//! with its leader as the hint; a prospective leader still establishing its epoch answers
//! `unavailable` (definite: nothing was proposed). A leader that gives up answers its
//! pending writes `indeterminate` (their proposals may still be committed by the next
//! leader, which keeps every transaction a quorum holds) and its pending reads `not_leader`
//! (definite: a read that was never served changed nothing).

use super::state::{LeaderPhase, Leading, NodeState, PendingRead};
use super::{Zab, MAX_PENDING_REQUESTS};
use crate::api::{ApiError, ErrorCode, Request};
use crate::protocol::{Context, Outbox, ReadMode, RequestId};

impl Zab {
    pub(super) fn client_request(
        &mut self,
        _ctx: Context,
        request: RequestId,
        body: Request,
        out: &mut Outbox<Self>,
    ) {
        let leading = match &mut self.state {
            NodeState::Leading(leading) => leading,
            NodeState::Following(f) => {
                let hint = f.epoch.map(|_| f.leader);
                return out.reply(request, Err(ApiError::not_leader(hint)));
            }
            NodeState::Looking(_) => return out.reply(request, Err(ApiError::not_leader(None))),
        };
        if !matches!(leading.phase, LeaderPhase::Broadcast) {
            let error = ApiError::new(ErrorCode::Unavailable, "the leader is still establishing its epoch");
            return out.reply(request, Err(error));
        }
        if leading.pending_count() >= MAX_PENDING_REQUESTS {
            let error = ApiError::new(
                ErrorCode::Unavailable,
                format!("the leader already holds {MAX_PENDING_REQUESTS} requests"),
            );
            return out.reply(request, Err(error));
        }
        if !body.is_read_only() {
            return self.propose(request, body, out);
        }
        match self.config.options.read_mode {
            // Unsafe by design: a deposed leader that has not noticed serves stale state.
            ReadMode::Local => out.reply(request, self.store.read(&body)),
            // Lease reads are raft's; the command line refuses them here, served as quorum.
            ReadMode::Quorum | ReadMode::Lease => {
                leading.pending_reads.push(PendingRead { request, body, round: leading.round + 1 });
                // The heartbeat opens the round the read waits for.
                self.leader_heartbeat(out);
                self.serve_reads(out);
            }
        }
    }

    /// Answer every read whose round a quorum (this leader included) has answered, from the
    /// leader's state, in arrival order. Everything the
    /// leader acknowledged is applied, since it answers a write only once it applied it.
    pub(super) fn serve_reads(&mut self, out: &mut Outbox<Self>) {
        let quorum = self.quorum();
        let NodeState::Leading(leading) = &mut self.state else { return };
        if leading.pending_reads.is_empty() {
            return;
        }
        let confirmed_round = {
            let mut rounds: Vec<u64> = leading.broadcasting().map(|(_, p)| p.acked_round).collect();
            rounds.push(leading.round);
            rounds.sort_unstable_by(|a, b| b.cmp(a));
            rounds.get(quorum - 1).copied().unwrap_or(0)
        };
        let (ready, waiting): (Vec<PendingRead>, Vec<PendingRead>) =
            std::mem::take(&mut leading.pending_reads).into_iter().partition(|r| r.round <= confirmed_round);
        leading.pending_reads = waiting;
        for read in ready {
            out.reply(read.request, self.store.read(&read.body));
        }
    }

    /// Answer everything a former leader still held (see the module documentation).
    pub(super) fn abandon_requests(leading: Leading, out: &mut Outbox<Self>) {
        for (_, request) in leading.pending_writes {
            let error = ApiError::new(
                ErrorCode::Indeterminate,
                "leadership was lost before the write was committed; it may still take effect",
            );
            out.reply(request, Err(error));
        }
        for read in leading.pending_reads {
            out.reply(read.request, Err(ApiError::not_leader(None)));
        }
    }
}
