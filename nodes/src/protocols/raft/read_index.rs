//! Linearizable reads without writing to the log: ReadIndex (thesis 6.4).
//!
//! 1. The read index is the commit index, but never below the leader's no-op: until an entry
//!    of its own term commits, a new leader does not know which earlier entries are committed.
//! 2. The leader sends a new broadcast round and waits until a majority (itself included)
//!    answered that round or a later one in its term: at that moment no newer leader had been
//!    elected, so nothing committed before the read arrived can be missing from its log.
//! 3. Once the state machine has applied up to the read index, the read is served from it.

use super::state::{PendingRead, RoleState};
use super::Raft;
use crate::api::Request;
use crate::protocol::{Context, Outbox, RequestId};

impl Raft {
    pub(super) fn start_read(
        &mut self,
        ctx: Context,
        request: RequestId,
        body: Request,
        out: &mut Outbox<Self>,
    ) {
        let quorum = self.quorum();
        let RoleState::Leader(leadership) = &mut self.role else { return };
        let read_index = self.commit_index.max(leadership.noop_index);
        let round = leadership.round + 1;
        leadership.pending_reads.push(PendingRead {
            request,
            body,
            read_index,
            round,
            confirmed: quorum == 1,
        });
        self.broadcast_round(ctx, out);
        self.serve_reads(out);
    }

    /// Mark reads whose round a majority has answered.
    pub(super) fn confirm_reads(&mut self) {
        let quorum = self.quorum();
        let RoleState::Leader(leadership) = &mut self.role else { return };
        for read in leadership.pending_reads.iter_mut().filter(|r| !r.confirmed) {
            let acks = 1 + leadership.progress.values().filter(|p| p.acked_round >= read.round).count();
            read.confirmed = acks >= quorum;
        }
    }

    /// Answer every confirmed read whose read index has been applied, in arrival order.
    pub(super) fn serve_reads(&mut self, out: &mut Outbox<Self>) {
        let RoleState::Leader(leadership) = &mut self.role else { return };
        let applied = self.applied_index;
        let (ready, waiting): (Vec<PendingRead>, Vec<PendingRead>) =
            std::mem::take(&mut leadership.pending_reads)
                .into_iter()
                .partition(|r| r.confirmed && applied >= r.read_index);
        leadership.pending_reads = waiting;
        for read in ready {
            out.reply(read.request, self.store.read(&read.body));
        }
    }
}
