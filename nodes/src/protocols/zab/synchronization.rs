//! Phase 2, synchronization (DSN IV-B; Medeiros 3.3, NEWLEADER with DIFF or SNAP).
//!
//! The leader sends each follower that acknowledged its epoch the part of its history the
//! follower lacks: if the follower's last zxid is in the leader's history, the two agree up
//! to it (the prefix property, see [`super::history`]) and only what follows is sent (a DIFF);
//! otherwise the follower holds transactions no quorum accepted, and it receives the whole
//! history instead (ZooKeeper's SNAP; its TRUNC is folded in). The follower adopts the
//! history and the epoch as current in one durable record before it acknowledges.
//!
//! Once a quorum (the leader included) has acknowledged, every transaction of the leader's
//! initial history is committed (DSN IV-B) and broadcast begins. A follower that joins an
//! established leader later goes through the same steps, then catches up on the proposals
//! made since.

use super::state::{FollowerPhase, LeaderPhase, NodeState, PeerPhase};
use super::{Message, Record, Timer, Txn, Zab, Zxid};
use crate::api::NodeId;
use crate::protocol::{Context, Outbox};

/// A NEWLEADER, as received.
pub(super) struct NewLeader {
    pub epoch: u64,
    pub session: u64,
    pub keep: u64,
    pub keep_last: Zxid,
    pub txns: Vec<Txn>,
}

impl Zab {
    /// Leader: send `peer` the history it lacks, from what its ACKEPOCH reported.
    pub(super) fn send_new_leader(&self, peer: NodeId, out: &mut Outbox<Self>) {
        let NodeState::Leading(leading) = &self.state else { return };
        let Some(progress) = leading.peers.get(&peer) else { return };
        let (keep, keep_last) = match self.history.count_through(progress.reported_last) {
            Some(keep) => (keep, progress.reported_last),
            None => (0, Zxid::ZERO),
        };
        out.send(
            peer,
            Message::NewLeader {
                epoch: leading.epoch,
                session: progress.session,
                keep,
                keep_last,
                txns: self.history.slice_from(keep, usize::MAX),
            },
        );
    }

    /// Follower: adopt the leader's history and epoch, durably, then acknowledge.
    pub(super) fn on_new_leader(
        &mut self,
        ctx: Context,
        from: NodeId,
        sync: NewLeader,
        out: &mut Outbox<Self>,
    ) {
        let NodeState::Following(following) = &self.state else { return };
        if following.leader != from
            || following.session != sync.session
            || following.epoch != Some(sync.epoch)
            || following.phase != FollowerPhase::Synchronization
        {
            return;
        }
        self.reset_follower_timer(ctx, out);
        if sync.keep > self.history.len() || self.history.zxid_before(sync.keep) != sync.keep_last {
            // Computed from an older report: report again.
            return self.send_ack_epoch(out);
        }
        // What this node already delivered must survive synchronization unchanged.
        let kept_committed = self.committed.min(sync.keep);
        let replaced_committed = self.committed - kept_committed;
        let consistent = (0..replaced_committed).all(|i| {
            let mine = self.history.get(kept_committed + i).map(|t| t.zxid);
            mine == sync.txns.get(i as usize).map(|t| t.zxid)
        });
        if !consistent {
            // Only a broken leader (or a bug the safety tests exist to catch) sends this.
            debug_assert!(false, "NEWLEADER of epoch {} would change a committed transaction", sync.epoch);
            return;
        }
        self.history.truncate(sync.keep);
        self.history.append(sync.txns.iter().cloned());
        self.current_epoch = sync.epoch;
        out.persist(Record::Synced { epoch: sync.epoch, keep: sync.keep, txns: sync.txns });
        let NodeState::Following(following) = &mut self.state else { return };
        following.phase = FollowerPhase::Broadcast;
        out.send(
            from,
            Message::AckNewLeader {
                epoch: sync.epoch,
                session: sync.session,
                last: self.history.last_zxid(),
            },
        );
    }

    /// Leader: a follower adopted the history.
    pub(super) fn on_ack_new_leader(
        &mut self,
        _ctx: Context,
        from: NodeId,
        epoch: u64,
        session: u64,
        last: Zxid,
        out: &mut Outbox<Self>,
    ) {
        let Some(held) = self.history.count_through(last) else { return };
        let NodeState::Leading(leading) = &mut self.state else { return };
        if leading.epoch != epoch {
            return;
        }
        let Some(peer) = leading.peers.get_mut(&from).filter(|p| p.session == session) else { return };
        if peer.phase != PeerPhase::Synchronization {
            return;
        }
        leading.heard_since_check.insert(from);
        peer.phase = PeerPhase::Broadcast;
        peer.acked = held;
        peer.sent = held;
        match &mut leading.phase {
            LeaderPhase::Synchronization { acked, .. } => {
                acked.insert(from);
                self.start_broadcast_if_quorum(out);
            }
            LeaderPhase::Broadcast => {
                // Joined an established leader: catch up on what was proposed since.
                self.send_proposals(from, out);
                self.send_commit_to(from, out);
                self.advance_commit(out);
            }
            LeaderPhase::Discovery { .. } => {}
        }
    }

    /// Leader: a quorum holds the initial history; it is committed and broadcast begins.
    pub(super) fn start_broadcast_if_quorum(&mut self, out: &mut Outbox<Self>) {
        let quorum = self.quorum();
        let NodeState::Leading(leading) = &mut self.state else { return };
        let LeaderPhase::Synchronization { acked, initial } = &leading.phase else { return };
        if acked.len() < quorum {
            return;
        }
        let initial = *initial;
        leading.phase = LeaderPhase::Broadcast;
        leading.heard_since_check.clear();
        self.committed = self.committed.max(initial);
        out.cancel_timer(Timer::Election);
        out.set_timer(Timer::CheckQuorum, self.config.options.election_timeout_min_ms);
        let peers: Vec<NodeId> = leading.broadcasting().map(|(n, _)| n).collect();
        self.apply_committed(out);
        for peer in peers {
            self.send_commit_to(peer, out);
        }
    }
}
