//! Phase 1, discovery (DSN IV-A; Medeiros 3.2, FOLLOWERINFO, LEADERINFO and ACKEPOCH).
//!
//! The prospective leader waits until a quorum (itself included) has reported its accepted
//! epoch, proposes one more than the largest, and accepts it itself. A follower accepts a
//! NEWEPOCH only if it is larger than every epoch it accepted before, persists it, and answers
//! with its current epoch and last zxid. A quorum of such fresh acknowledgements establishes
//! the epoch; because quorums intersect and a node accepts an epoch as new only once, at most
//! one leader establishes any epoch, and every later proposal of an older epoch is refused by
//! a member of that quorum.
//!
//! The leader keeps its own history (ZooKeeper's choice, Medeiros 3.2, rather than DSN's
//! adoption of the newest follower history): it gives up if a follower of the quorum reports
//! a newer (current epoch, last zxid) than its own, and the election, which ranks votes the
//! same way, makes that rare.

use super::state::{FollowerPhase, LeaderPhase, NodeState, PeerPhase, PeerProgress};
use super::{Message, Record, Timer, Zab, Zxid};
use crate::api::NodeId;
use crate::protocol::{Context, Outbox};

/// An ACKEPOCH, as received.
pub(super) struct AckEpoch {
    pub epoch: u64,
    pub session: u64,
    pub fresh: bool,
    pub current_epoch: u64,
    pub last: Zxid,
}

impl Zab {
    /// Leader: a follower asks to join.
    pub(super) fn on_follower_info(
        &mut self,
        ctx: Context,
        from: NodeId,
        accepted_epoch: u64,
        session: u64,
        out: &mut Outbox<Self>,
    ) {
        let NodeState::Leading(leading) = &mut self.state else {
            // Not leading (the election went on without the asker): say so, as an election
            // notification, so that it does not wait out a whole timeout.
            let message = self.notification();
            return out.send(from, message);
        };
        self.epoch_seen = self.epoch_seen.max(accepted_epoch);
        if leading.epoch > 0 && accepted_epoch > leading.epoch {
            // The member accepted a larger epoch from a would-be leader that never established
            // it, so it can never accept this one: elect again, for an epoch above it (else it
            // would stay out for as long as this leader leads).
            return self.start_looking(ctx, out);
        }
        if leading.peers.get(&from).is_some_and(|p| p.session == session) {
            // A duplicate of a request already answered: resend the answer if still due.
            if leading.epoch > 0 && leading.peers[&from].phase == PeerPhase::Discovery {
                out.send(from, Message::NewEpoch { epoch: leading.epoch, session });
            }
            return;
        }
        leading.heard_since_check.insert(from);
        leading.peers.insert(
            from,
            PeerProgress {
                session,
                phase: PeerPhase::Discovery,
                reported_last: Zxid::ZERO,
                acked: 0,
                sent: 0,
                acked_round: 0,
            },
        );
        if leading.epoch > 0 {
            out.send(from, Message::NewEpoch { epoch: leading.epoch, session });
            return;
        }
        if let LeaderPhase::Discovery { infos, .. } = &mut leading.phase {
            infos.insert(from, accepted_epoch);
        }
        self.propose_epoch_if_quorum(ctx, out);
    }

    /// Leader: once a quorum reported its accepted epoch, propose the next one and accept it.
    pub(super) fn propose_epoch_if_quorum(&mut self, ctx: Context, out: &mut Outbox<Self>) {
        let quorum = self.quorum();
        let own_id = self.config.id;
        let NodeState::Leading(leading) = &mut self.state else { return };
        let LeaderPhase::Discovery { infos, fresh, .. } = &mut leading.phase else { return };
        if leading.epoch > 0 || infos.len() < quorum {
            return;
        }
        let largest = infos.values().copied().max().unwrap_or(0).max(self.epoch_seen);
        debug_assert!(largest >= self.accepted_epoch, "the leader's own epoch is among the infos");
        let epoch = largest + 1;
        leading.epoch = epoch;
        fresh.insert(own_id);
        self.accepted_epoch = epoch;
        out.persist(Record::AcceptedEpoch { epoch });
        for (&peer, progress) in &leading.peers {
            out.send(peer, Message::NewEpoch { epoch, session: progress.session });
        }
        self.establish_if_quorum(ctx, out);
    }

    /// Follower: the leader proposes an epoch.
    pub(super) fn on_new_epoch(
        &mut self,
        ctx: Context,
        from: NodeId,
        epoch: u64,
        session: u64,
        out: &mut Outbox<Self>,
    ) {
        let NodeState::Following(following) = &mut self.state else { return };
        if following.leader != from || following.session != session {
            return;
        }
        match following.phase {
            FollowerPhase::Discovery => {}
            // A duplicate: the answer is resent by the tick.
            FollowerPhase::Synchronization | FollowerPhase::Broadcast => return,
        }
        let fresh = if epoch > self.accepted_epoch {
            self.accepted_epoch = epoch;
            out.persist(Record::AcceptedEpoch { epoch });
            true
        } else if epoch == self.accepted_epoch {
            false
        } else {
            // DSN IV-A: a leader behind an epoch this node accepted cannot lead it.
            return self.start_looking(ctx, out);
        };
        following.epoch = Some(epoch);
        following.phase = FollowerPhase::Synchronization;
        following.acked_fresh = fresh;
        self.reset_follower_timer(ctx, out);
        self.send_ack_epoch(out);
    }

    /// Follower: (re)send ACKEPOCH for the epoch accepted in this session.
    pub(super) fn send_ack_epoch(&self, out: &mut Outbox<Self>) {
        let NodeState::Following(following) = &self.state else { return };
        let Some(epoch) = following.epoch else { return };
        out.send(
            following.leader,
            Message::AckEpoch {
                epoch,
                session: following.session,
                fresh: following.acked_fresh,
                current_epoch: self.current_epoch,
                last: self.history.last_zxid(),
            },
        );
    }

    /// Leader: a follower accepted (or had accepted) the epoch.
    pub(super) fn on_ack_epoch(&mut self, ctx: Context, from: NodeId, ack: AckEpoch, out: &mut Outbox<Self>) {
        let own = (self.current_epoch, self.history.last_zxid());
        let NodeState::Leading(leading) = &mut self.state else { return };
        if leading.epoch != ack.epoch {
            return;
        }
        let Some(peer) = leading.peers.get_mut(&from).filter(|p| p.session == ack.session) else { return };
        if peer.phase == PeerPhase::Broadcast {
            return; // a duplicate from before NEWLEADER was acknowledged
        }
        leading.heard_since_check.insert(from);
        peer.phase = PeerPhase::Synchronization;
        peer.reported_last = ack.last;
        match &mut leading.phase {
            LeaderPhase::Discovery { fresh, stale, .. } => {
                if (ack.current_epoch, ack.last) > own {
                    // Medeiros 3.2: a follower is ahead of the leader; elect again.
                    return self.start_looking(ctx, out);
                }
                if ack.fresh {
                    fresh.insert(from);
                } else {
                    stale.insert(from);
                    if self.config.members.len() - stale.len() < self.config.quorum() {
                        // Too many members accepted this epoch from another would-be leader
                        // for it ever to be established: elect again, for a larger epoch.
                        return self.start_looking(ctx, out);
                    }
                }
                self.establish_if_quorum(ctx, out);
            }
            LeaderPhase::Synchronization { .. } | LeaderPhase::Broadcast => self.send_new_leader(from, out),
        }
    }

    /// Leader: a quorum of fresh ACKEPOCHs establishes the epoch; synchronization starts.
    fn establish_if_quorum(&mut self, ctx: Context, out: &mut Outbox<Self>) {
        let quorum = self.quorum();
        let own_id = self.config.id;
        let timeout_ms = self.establishment_timeout_ms(ctx);
        let NodeState::Leading(leading) = &mut self.state else { return };
        let LeaderPhase::Discovery { fresh, .. } = &leading.phase else { return };
        if leading.epoch == 0 || fresh.len() < quorum {
            return;
        }
        let epoch = leading.epoch;
        let mut acked = std::collections::BTreeSet::new();
        acked.insert(own_id);
        leading.phase = LeaderPhase::Synchronization { acked, initial: self.history.len() };
        out.set_timer(Timer::Election, timeout_ms);
        // The leader adopts its own history as the epoch's initial one (DSN IV-B, "f.e").
        self.current_epoch = epoch;
        out.persist(Record::CurrentEpoch { epoch });
        let waiting: Vec<NodeId> = leading
            .peers
            .iter()
            .filter(|(_, p)| p.phase == PeerPhase::Synchronization)
            .map(|(&n, _)| n)
            .collect();
        for peer in waiting {
            self.send_new_leader(peer, out);
        }
        self.start_broadcast_if_quorum(out);
    }

    /// How long a prospective leader may take to establish its epoch, and then to
    /// synchronise a quorum, before it gives up: two election timeouts, as each phase takes
    /// two round trips where a Raft election takes one.
    pub(super) fn establishment_timeout_ms(&self, ctx: Context) -> u64 {
        self.election_timeout_ms(ctx).saturating_mul(2)
    }

    /// Follower: any sign of life from the leader of this session postpones giving up.
    pub(super) fn reset_follower_timer(&self, ctx: Context, out: &mut Outbox<Self>) {
        out.set_timer(Timer::Election, self.election_timeout_ms(ctx));
    }
}
