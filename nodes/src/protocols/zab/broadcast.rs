//! Phase 3, broadcast (DSN IV-C; Medeiros 3.4), and the heartbeats that keep a leader and
//! its followers together.
//!
//! The leader gives each write the next zxid of its epoch, appends it, and sends it to every
//! synchronised follower in zxid order. A follower appends a proposal only if it follows its
//! last zxid (DSN's FIFO channel, rebuilt here over a network that loses and reorders),
//! persists it, and acknowledges cumulatively; an out-of-order proposal gets an
//! acknowledgement marked `gap` and the leader resends from the follower's last zxid, as it
//! also does on every heartbeat for followers that are behind. A transaction is committed
//! once a quorum (the leader included) holds it; COMMIT carries the news, and PING (the
//! heartbeat) repeats it. A follower delivers in zxid order whatever of its history is at or
//! below the commit point: its history is a prefix of the leader's.
//!
//! The leader gives up when it has not heard from a quorum within the minimum election
//! timeout (ZooKeeper's syncLimit), a follower when its leader fell silent for an election
//! timeout; both then look for a leader again.

use super::state::{FollowerPhase, LeaderPhase, NodeState, PeerPhase};
use super::{Message, Record, Timer, Txn, Zab, Zxid};
use crate::api::{NodeId, Request};
use crate::protocol::{Context, Outbox, RequestId};

impl Zab {
    /// Leader, broadcasting: order a write (DSN IV-C, step 1).
    pub(super) fn propose(&mut self, request: RequestId, body: Request, out: &mut Outbox<Self>) {
        let NodeState::Leading(leading) = &mut self.state else { return };
        leading.counter += 1;
        let txn = Txn { zxid: Zxid { epoch: leading.epoch, counter: leading.counter }, request: body };
        let prev = self.history.last_zxid();
        self.history.append([txn.clone()]);
        leading.pending_writes.insert(txn.zxid, request);
        out.persist(Record::Appended { txns: vec![txn.clone()] });
        let length = self.history.len();
        let epoch = leading.epoch;
        let window = self.config.options.max_batch as u64;
        for (&peer, progress) in &mut leading.peers {
            // In step (and within the window of unacknowledged proposals): send it now.
            // Others catch up through acknowledgements and heartbeats.
            if progress.phase == PeerPhase::Broadcast
                && progress.sent + 1 == length
                && length - progress.acked <= window * 4
            {
                progress.sent = length;
                out.send(peer, Message::Proposal { epoch, prev, txns: vec![txn.clone()] });
            }
        }
        self.advance_commit(out);
    }

    /// Leader: send `peer` what it has not acknowledged, from its last acknowledged zxid.
    pub(super) fn send_proposals(&mut self, peer: NodeId, out: &mut Outbox<Self>) {
        let max_batch = self.config.options.max_batch;
        let NodeState::Leading(leading) = &mut self.state else { return };
        let Some(progress) = leading.peers.get_mut(&peer) else { return };
        if progress.phase != PeerPhase::Broadcast || progress.acked >= self.history.len() {
            return;
        }
        let txns = self.history.slice_from(progress.acked, max_batch);
        progress.sent = progress.acked + txns.len() as u64;
        let prev = self.history.zxid_before(progress.acked);
        out.send(peer, Message::Proposal { epoch: leading.epoch, prev, txns });
    }

    /// Follower: a proposal (DSN IV-C, step 2).
    pub(super) fn on_proposal(
        &mut self,
        ctx: Context,
        from: NodeId,
        epoch: u64,
        prev: Zxid,
        txns: Vec<Txn>,
        out: &mut Outbox<Self>,
    ) {
        if !self.is_synced_with(from, epoch) {
            return;
        }
        self.reset_follower_timer(ctx, out);
        let last = self.history.last_zxid();
        let first_new = txns.iter().position(|t| t.zxid > last);
        let mut gap = false;
        if let Some(first) = first_new {
            let before = if first == 0 { prev } else { txns[first - 1].zxid };
            if before == last {
                let new: Vec<Txn> = txns[first..].to_vec();
                self.history.append(new.iter().cloned());
                out.persist(Record::Appended { txns: new });
            } else {
                gap = true;
            }
        }
        self.send_ack(from, epoch, gap, out);
    }

    fn send_ack(&self, leader: NodeId, epoch: u64, gap: bool, out: &mut Outbox<Self>) {
        let NodeState::Following(following) = &self.state else { return };
        out.send(leader, Message::Ack { epoch, last: self.history.last_zxid(), gap, round: following.round });
    }

    /// Leader: a follower's cumulative acknowledgement (DSN IV-C, step 3).
    #[allow(clippy::too_many_arguments)]
    pub(super) fn on_ack(
        &mut self,
        _ctx: Context,
        from: NodeId,
        epoch: u64,
        last: Zxid,
        gap: bool,
        round: u64,
        out: &mut Outbox<Self>,
    ) {
        let Some(held) = self.history.count_through(last) else { return };
        let NodeState::Leading(leading) = &mut self.state else { return };
        if leading.epoch != epoch {
            return;
        }
        let Some(progress) = leading.peers.get_mut(&from) else { return };
        if progress.phase != PeerPhase::Broadcast {
            return;
        }
        leading.heard_since_check.insert(from);
        progress.acked_round = progress.acked_round.max(round);
        progress.acked = progress.acked.max(held);
        progress.sent = progress.sent.max(progress.acked);
        // Resend after a gap, or send more once everything sent is acknowledged.
        let idle = progress.sent == progress.acked && progress.acked < self.history.len();
        if gap || idle {
            self.send_proposals(from, out);
        }
        self.advance_commit(out);
        self.serve_reads(out);
    }

    /// Leader: commit what a quorum holds, deliver it, and say so.
    pub(super) fn advance_commit(&mut self, out: &mut Outbox<Self>) {
        let quorum = self.quorum();
        let NodeState::Leading(leading) = &self.state else { return };
        if !matches!(leading.phase, LeaderPhase::Broadcast) {
            return;
        }
        let mut held: Vec<u64> = leading.broadcasting().map(|(_, p)| p.acked).collect();
        held.push(self.history.len());
        held.sort_unstable_by(|a, b| b.cmp(a));
        let Some(&quorum_holds) = held.get(quorum - 1) else { return };
        if quorum_holds <= self.committed {
            return;
        }
        self.committed = quorum_holds;
        let peers: Vec<NodeId> = leading.broadcasting().map(|(n, _)| n).collect();
        self.apply_committed(out);
        let NodeState::Leading(leading) = &self.state else { return };
        let commit = Message::Commit { epoch: leading.epoch, zxid: self.history.zxid_before(self.committed) };
        for peer in peers {
            out.send(peer, commit.clone());
        }
    }

    /// Leader: tell one follower the commit point.
    pub(super) fn send_commit_to(&self, peer: NodeId, out: &mut Outbox<Self>) {
        let NodeState::Leading(leading) = &self.state else { return };
        if self.committed > 0 {
            out.send(
                peer,
                Message::Commit { epoch: leading.epoch, zxid: self.history.zxid_before(self.committed) },
            );
        }
    }

    /// Follower: everything up to `zxid` is committed (DSN IV-C, step 4).
    pub(super) fn on_commit(
        &mut self,
        ctx: Context,
        from: NodeId,
        epoch: u64,
        zxid: Zxid,
        out: &mut Outbox<Self>,
    ) {
        if !self.is_synced_with(from, epoch) {
            return;
        }
        self.reset_follower_timer(ctx, out);
        self.learn_commit(zxid, out);
    }

    /// Follower: the leader's heartbeat.
    pub(super) fn on_ping(
        &mut self,
        ctx: Context,
        from: NodeId,
        epoch: u64,
        commit: Zxid,
        round: u64,
        out: &mut Outbox<Self>,
    ) {
        if !self.is_synced_with(from, epoch) {
            return;
        }
        self.reset_follower_timer(ctx, out);
        if let NodeState::Following(following) = &mut self.state {
            following.round = following.round.max(round);
        }
        self.learn_commit(commit, out);
        self.send_ack(from, epoch, false, out);
    }

    fn learn_commit(&mut self, zxid: Zxid, out: &mut Outbox<Self>) {
        // This history is a prefix of the leader's: all of it up to `zxid` is committed.
        let committed = self.history.count_up_to(zxid);
        if committed > self.committed {
            self.committed = committed;
            self.apply_committed(out);
        }
    }

    /// Whether this node follows `leader` in `epoch` with its history adopted.
    fn is_synced_with(&self, leader: NodeId, epoch: u64) -> bool {
        matches!(&self.state, NodeState::Following(f)
            if f.leader == leader && f.epoch == Some(epoch) && f.phase == FollowerPhase::Broadcast)
    }

    /// The periodic timer of every state (see [`Timer::Tick`]).
    pub(super) fn tick(&mut self, _ctx: Context, out: &mut Outbox<Self>) {
        let heartbeat_ms = self.config.options.heartbeat_ms;
        match &self.state {
            NodeState::Looking(_) => {
                self.broadcast_notification(out);
                out.set_timer(Timer::Tick, heartbeat_ms.saturating_mul(2));
            }
            NodeState::Following(following) => {
                match following.phase {
                    FollowerPhase::Discovery => out.send(
                        following.leader,
                        Message::FollowerInfo {
                            accepted_epoch: self.accepted_epoch,
                            session: following.session,
                        },
                    ),
                    FollowerPhase::Synchronization => self.send_ack_epoch(out),
                    FollowerPhase::Broadcast => {}
                }
                out.set_timer(Timer::Tick, heartbeat_ms);
            }
            NodeState::Leading(_) => {
                self.leader_heartbeat(out);
                out.set_timer(Timer::Tick, heartbeat_ms);
            }
        }
    }

    /// Leader: resend whatever each follower still lacks, and ping the synchronised ones.
    pub(super) fn leader_heartbeat(&mut self, out: &mut Outbox<Self>) {
        let NodeState::Leading(leading) = &mut self.state else { return };
        let established = !matches!(leading.phase, LeaderPhase::Discovery { .. });
        let broadcasting = matches!(leading.phase, LeaderPhase::Broadcast);
        let (epoch, mut resend_sync, mut behind, mut ping) = (leading.epoch, vec![], vec![], vec![]);
        for (&peer, progress) in &leading.peers {
            match progress.phase {
                PeerPhase::Discovery if epoch > 0 => {
                    out.send(peer, Message::NewEpoch { epoch, session: progress.session })
                }
                PeerPhase::Discovery => {}
                PeerPhase::Synchronization if established => resend_sync.push(peer),
                PeerPhase::Synchronization => {}
                PeerPhase::Broadcast => {
                    if progress.acked < self.history.len() {
                        behind.push(peer);
                    }
                    ping.push(peer);
                }
            }
        }
        if broadcasting {
            leading.round += 1;
        }
        let round = leading.round;
        for peer in resend_sync {
            self.send_new_leader(peer, out);
        }
        if !broadcasting {
            return;
        }
        for peer in behind {
            self.send_proposals(peer, out);
        }
        let commit = self.history.zxid_before(self.committed);
        for peer in ping {
            out.send(peer, Message::Ping { epoch, commit, round });
        }
    }

    /// Leader: give up unless a quorum was heard from since the last check.
    pub(super) fn check_quorum(&mut self, ctx: Context, out: &mut Outbox<Self>) {
        let quorum = self.quorum();
        let NodeState::Leading(leading) = &mut self.state else { return };
        if !matches!(leading.phase, LeaderPhase::Broadcast) {
            return;
        }
        if leading.heard_since_check.len() + 1 < quorum {
            return self.start_looking(ctx, out);
        }
        leading.heard_since_check.clear();
        out.set_timer(Timer::CheckQuorum, self.config.options.election_timeout_min_ms);
    }
}
