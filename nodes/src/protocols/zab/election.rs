//! Leader election: Fast Leader Election (Medeiros 3.1; DSN IV leaves the election open,
//! requiring only that it eventually picks one leader that a quorum follows).
//!
//! A looking node votes for itself, then for the best vote it hears in its round, where
//! votes are ordered by (current epoch, last zxid, id): the candidate with the newest
//! history wins, which is what lets the elected leader keep its own history in discovery.
//! Notifications carry the sender's round; a higher round resets the receiver's tally. A node
//! that sees a quorum of its round vote as it does decides: it leads if the vote names it,
//! otherwise it follows the winner. A node that follows or leads answers a looking node with
//! its leader, and a looking node joins a leader that tells it so itself.
//!
//! Nothing here is needed for safety: a wrong decision only costs a failed discovery and a
//! new round after the election timeout.

use std::collections::BTreeMap;

use super::state::{FollowerPhase, Following, LeaderPhase, Leading, Looking, NodeState};
use super::{Message, PeerState, Timer, Vote, Zab};
use crate::api::NodeId;
use crate::protocol::{Context, Outbox};

impl Zab {
    /// Leave whatever this node was doing and start a new election round.
    pub(super) fn start_looking(&mut self, ctx: Context, out: &mut Outbox<Self>) {
        let vote = self.own_vote();
        let previous =
            std::mem::replace(&mut self.state, NodeState::Looking(Looking { vote, votes: BTreeMap::new() }));
        if let NodeState::Leading(leading) = previous {
            Self::abandon_requests(*leading, out);
        }
        out.cancel_timer(Timer::CheckQuorum);
        self.round += 1;
        if let NodeState::Looking(looking) = &mut self.state {
            looking.votes.insert(self.config.id, vote);
        }
        self.broadcast_notification(out);
        out.cancel_timer(Timer::Election);
        out.set_timer(Timer::Tick, self.config.options.heartbeat_ms.saturating_mul(2));
        self.decide_if_agreed(ctx, out);
    }

    /// The randomized election timeout: also how long a follower waits for its leader and a
    /// prospective leader for its quorum.
    pub(super) fn election_timeout_ms(&self, ctx: Context) -> u64 {
        let options = &self.config.options;
        ctx.random_between(options.election_timeout_min_ms, options.election_timeout_max_ms)
    }

    /// A follower whose leader fell silent, or a prospective leader that stopped making
    /// progress towards a quorum, looks again. A looking node does not start new rounds on
    /// its own (as in ZooKeeper): it keeps resending its vote until the others agree, and a
    /// round that elected an unreachable node ends when its followers give up on it.
    pub(super) fn election_timeout(&mut self, ctx: Context, out: &mut Outbox<Self>) {
        let give_up = match &self.state {
            NodeState::Looking(_) => false,
            NodeState::Following(_) => true,
            NodeState::Leading(l) => !matches!(l.phase, LeaderPhase::Broadcast),
        };
        if give_up {
            self.start_looking(ctx, out);
        }
    }

    pub(super) fn on_notification(
        &mut self,
        ctx: Context,
        from: NodeId,
        round: u64,
        state: PeerState,
        vote: Vote,
        out: &mut Outbox<Self>,
    ) {
        let my_round = self.round;
        let own = self.own_vote();
        if let NodeState::Following(following) = &self.state {
            if following.leader == from && following.epoch.is_none() && state != PeerState::Leading {
                // The node this one decided to follow does not lead: look again.
                return self.start_looking(ctx, out);
            }
        }
        let NodeState::Looking(looking) = &mut self.state else {
            // Following or leading: tell a looking node who leads.
            if state == PeerState::Looking {
                let message = self.notification();
                out.send(from, message);
            }
            return;
        };
        match state {
            PeerState::Looking => {
                if round > my_round {
                    self.round = round;
                    looking.votes.clear();
                    looking.vote = if vote.rank() > own.rank() { vote } else { own };
                } else if round < my_round {
                    let message = self.notification();
                    out.send(from, message);
                    return;
                } else if vote.rank() > looking.vote.rank() {
                    looking.vote = vote;
                } else {
                    looking.votes.insert(from, vote);
                    return self.decide_if_agreed(ctx, out);
                }
                looking.votes.insert(from, vote);
                looking.votes.insert(self.config.id, looking.vote);
                self.broadcast_notification(out);
                self.decide_if_agreed(ctx, out);
            }
            PeerState::Leading if vote.leader == from => self.become_following(ctx, from, out),
            PeerState::Leading | PeerState::Following => {}
        }
    }

    /// Decide once a quorum of this round votes as this node does.
    fn decide_if_agreed(&mut self, ctx: Context, out: &mut Outbox<Self>) {
        let NodeState::Looking(looking) = &self.state else { return };
        let agreeing = looking.votes.values().filter(|v| **v == looking.vote).count();
        if agreeing < self.quorum() {
            return;
        }
        let leader = looking.vote.leader;
        if leader == self.config.id {
            self.become_leading(ctx, out);
        } else {
            self.become_following(ctx, leader, out);
        }
    }

    /// Start discovery as a follower of `leader` (DSN IV-A, follower side).
    pub(super) fn become_following(&mut self, ctx: Context, leader: NodeId, out: &mut Outbox<Self>) {
        let session = ctx.random;
        self.state = NodeState::Following(Following {
            leader,
            session,
            epoch: None,
            phase: FollowerPhase::Discovery,
            round: 0,
            acked_fresh: false,
        });
        out.send(leader, Message::FollowerInfo { accepted_epoch: self.accepted_epoch, session });
        out.set_timer(Timer::Election, self.election_timeout_ms(ctx));
        out.set_timer(Timer::Tick, self.config.options.heartbeat_ms);
    }

    /// Start discovery as the prospective leader (DSN IV-A, leader side).
    fn become_leading(&mut self, ctx: Context, out: &mut Outbox<Self>) {
        let mut infos = BTreeMap::new();
        infos.insert(self.config.id, self.accepted_epoch);
        self.state = NodeState::Leading(Box::new(Leading {
            epoch: 0,
            phase: LeaderPhase::Discovery { infos, fresh: Default::default(), stale: Default::default() },
            peers: BTreeMap::new(),
            round: 0,
            counter: 0,
            pending_writes: BTreeMap::new(),
            pending_reads: Vec::new(),
            heard_since_check: Default::default(),
        }));
        out.set_timer(Timer::Election, self.establishment_timeout_ms(ctx));
        out.set_timer(Timer::Tick, self.config.options.heartbeat_ms);
        self.propose_epoch_if_quorum(ctx, out);
    }

    /// What this node tells others about itself in an election.
    pub(super) fn notification(&self) -> Message {
        let (state, vote) = match &self.state {
            NodeState::Looking(looking) => (PeerState::Looking, looking.vote),
            NodeState::Following(f) => (
                PeerState::Following,
                Vote { leader: f.leader, epoch: self.current_epoch, zxid: self.history.last_zxid() },
            ),
            NodeState::Leading(_) => (PeerState::Leading, self.own_vote()),
        };
        Message::Notification { round: self.round, state, vote }
    }

    pub(super) fn broadcast_notification(&self, out: &mut Outbox<Self>) {
        let message = self.notification();
        for peer in self.peers() {
            out.send(peer, message.clone());
        }
    }
}
