//! Client requests and the application of committed entries (section 8).
//!
//! Only the leader orders requests. A write becomes a log entry and is answered with the
//! store's result when that entry is applied (so a `cas` that fails its precondition is a
//! definite `precondition_failed`, decided in log order on every replica). What the leader
//! still holds when it loses leadership is answered here too: writes `indeterminate`
//! (their entries may yet commit under a later leader), reads `not_leader` (never served).

use super::state::{Leadership, RoleState};
use super::{Command, Entry, Raft, Record, MAX_PENDING_REQUESTS};
use crate::api::{ApiError, ErrorCode, Request, Response};
use crate::protocol::{Context, Outbox, ReadMode, RequestId};

impl Raft {
    pub(super) fn client_request(
        &mut self,
        ctx: Context,
        request: RequestId,
        body: Request,
        out: &mut Outbox<Self>,
    ) {
        let RoleState::Leader(leadership) = &mut self.role else {
            return out.reply(request, Err(ApiError::not_leader(self.leader)));
        };
        if leadership.pending_count() >= MAX_PENDING_REQUESTS {
            let error = ApiError::new(
                ErrorCode::Unavailable,
                format!("the leader already holds {MAX_PENDING_REQUESTS} requests"),
            );
            return out.reply(request, Err(error));
        }
        if body.is_read_only() {
            return match self.config.options.read_mode {
                // Unsafe by design (see the module documentation): no check that this node
                // still leads, so a deposed leader that has not noticed serves stale state.
                ReadMode::Local => out.reply(request, self.store.read(&body)),
                ReadMode::Quorum => self.start_read(ctx, request, body, out),
            };
        }
        let index = self.log.last_index() + 1;
        let entry = Entry { index, term: self.term, command: Command::Request { request: body } };
        self.log.append(entry.clone());
        leadership.pending_writes.insert(index, request);
        out.persist(Record::Entries { entries: vec![entry] });
        for peer in self.peers() {
            self.send_append(peer, false, out);
        }
        // A cluster of one commits at once.
        self.advance_commit(ctx, out);
    }

    /// Apply every committed entry not yet applied, in log order, answering the leader's
    /// pending writes; then serve reads that became ready and compact if it is time.
    pub(super) fn apply_committed(&mut self, _ctx: Context, out: &mut Outbox<Self>) {
        while self.applied_index < self.commit_index {
            let index = self.applied_index + 1;
            let Some(entry) = self.log.entry(index) else {
                // Cannot happen: committed entries past the compaction point are held.
                debug_assert!(false, "committed entry {index} missing from the log");
                break;
            };
            let result = match &entry.command {
                Command::Noop => Ok(Response::Done {}),
                Command::Request { request } => self.store.apply(request),
            };
            self.committed.append_value(entry.term, &entry.command);
            self.applied_index = index;
            if let RoleState::Leader(leadership) = &mut self.role {
                if let Some(request) = leadership.pending_writes.remove(&index) {
                    out.reply(request, result);
                }
            }
        }
        self.serve_reads(out);
        self.maybe_snapshot(out);
    }

    /// Answer everything a former leader still held (see the module documentation).
    pub(super) fn abandon_requests(&self, leadership: Leadership, out: &mut Outbox<Self>) {
        for (_, request) in leadership.pending_writes {
            let error = ApiError::new(
                ErrorCode::Indeterminate,
                "leadership was lost before the write was applied; it may still take effect",
            )
            .with_leader(self.leader);
            out.reply(request, Err(error));
        }
        for read in leadership.pending_reads {
            out.reply(read.request, Err(ApiError::not_leader(self.leader)));
        }
    }
}
