//! Faults the simulator can inject: network behaviour, partitions, links that keep their
//! messages, crashes, restarts, pauses. Each is recorded in the history as a nemesis event when it starts and ends.

use serde_json::json;

use super::network::{Grudges, NetConfig, StaleMessages};
use super::recording;
use super::simulator::{Scheduled, Sim, StatusChange};
use crate::api::{ApiError, ErrorCode, NodeId};
use crate::protocol::Protocol;

impl<P: Protocol> Sim<P> {
    pub fn network(&self) -> &NetConfig {
        &self.network
    }

    /// Change delay, loss and duplication from now on (messages in flight keep their fate).
    pub fn set_network(&mut self, network: NetConfig) {
        network.validate();
        self.events.push(recording::nemesis(self.now_ms, "network", json!(network)));
        self.network = network;
    }

    pub fn stale_messages(&self) -> &StaleMessages {
        &self.stale
    }

    /// Hold a fraction of messages sent from now on for a long time (see [`StaleMessages`]);
    /// `StaleMessages::none()` stops it (messages already held keep their fate).
    pub fn set_stale_messages(&mut self, stale: StaleMessages) {
        stale.validate();
        self.events.push(recording::nemesis(self.now_ms, "stale-messages", json!(stale)));
        self.stale = stale;
    }

    /// Keep every message sent on the directed link `from -> to` from now on: neither
    /// delivered nor dropped (a stalled connection that will flush), until
    /// [`Sim::release_link`]. Unlike [`StaleMessages`], which link and how long is the
    /// test's choice, so a schedule can place an old message exactly where it wants it.
    /// A cut link still drops; at most [`super::MAX_HELD_EVENTS`] messages are kept per link.
    pub fn keep_link(&mut self, from: NodeId, to: NodeId) {
        self.events.push(recording::nemesis(self.now_ms, "start-keep", json!([from, to])));
        self.keeping.insert((from, to));
    }

    /// New messages on `from -> to` flow again; those already kept stay kept.
    pub fn stop_keeping(&mut self, from: NodeId, to: NodeId) {
        self.events.push(recording::nemesis(self.now_ms, "stop-keep", json!([from, to])));
        self.keeping.remove(&(from, to));
    }

    /// Stop keeping `from -> to` and deliver what it kept, oldest first, all arriving now
    /// (a partition in force when they arrive still drops them).
    pub fn release_link(&mut self, from: NodeId, to: NodeId) {
        self.keeping.remove(&(from, to));
        let kept = self.kept.remove(&(from, to)).unwrap_or_default();
        self.events.push(recording::nemesis(self.now_ms, "release-keep", json!([from, to, kept.len()])));
        for message in kept {
            self.schedule(0, Scheduled::Deliver { from, to, message });
        }
    }

    /// How many messages `from -> to` keeps now.
    pub fn kept_on_link(&self, from: NodeId, to: NodeId) -> usize {
        self.kept.get(&(from, to)).map_or(0, Vec::len)
    }

    pub fn grudges(&self) -> &Grudges {
        &self.grudges
    }

    /// Replace the partition. A cut message is dropped both when sent and when it would
    /// arrive, so a partition also catches what was in flight.
    pub fn partition(&mut self, grudges: Grudges) {
        self.events.push(recording::nemesis(self.now_ms, "start-partition", json!(grudges.refuses)));
        self.grudges = grudges;
    }

    /// Remove every grudge.
    pub fn heal(&mut self) {
        self.events.push(recording::nemesis(self.now_ms, "stop-partition", json!(null)));
        self.grudges = Grudges::none();
    }

    /// Cut `node` off from every other member, both ways.
    pub fn isolate(&mut self, node: NodeId) {
        let g = Grudges::isolate(node, &self.config.members);
        self.partition(g);
    }

    /// Kill the node: it keeps only its persisted records. Pending timers are gone, and
    /// every client operation it held becomes `info` (the client cannot know its fate).
    /// Crashing a node that is down does nothing.
    pub fn crash(&mut self, id: NodeId) {
        let now = self.now_ms;
        let Some(node) = self.nodes.get_mut(&id) else {
            panic!("seed {}: crash of unknown node {id}", self.seed)
        };
        if node.state.take().is_none() {
            return;
        }
        node.timers.clear();
        node.timer_deadlines.clear();
        node.paused = false;
        node.held.clear();
        node.last_status = None;
        let held = std::mem::take(&mut node.requests);
        self.events.push(recording::nemesis(now, "crash", json!(id)));
        self.status_log.push(StatusChange { at_ms: now, node: id, status: None });
        for (_, op) in held {
            let error =
                ApiError::new(ErrorCode::Indeterminate, format!("node {id} crashed holding the request"));
            self.complete(op, Err(error));
        }
    }

    /// Start a crashed node again through [`Protocol::recover`] with its persisted records.
    /// Restarting a node that is up does nothing.
    pub fn restart(&mut self, id: NodeId) {
        assert!(self.nodes.contains_key(&id), "seed {}: restart of unknown node {id}", self.seed);
        if self.is_up(id) {
            return;
        }
        self.events.push(recording::nemesis(self.now_ms, "restart", json!(id)));
        self.boot(id);
    }

    /// Freeze the node as SIGSTOP would: it keeps its state but runs no step; messages,
    /// timers and client requests for it wait (time still passes, so its timers fire late
    /// and its clock jumps). Pausing a paused or down node does nothing.
    pub fn pause(&mut self, id: NodeId) {
        assert!(self.nodes.contains_key(&id), "seed {}: pause of unknown node {id}", self.seed);
        if !self.is_up(id) || self.is_paused(id) {
            return;
        }
        self.events.push(recording::nemesis(self.now_ms, "pause", json!(id)));
        self.nodes.get_mut(&id).expect("known node").paused = true;
    }

    /// Let a paused node run again: what waited for it is delivered now, in arrival order.
    pub fn resume(&mut self, id: NodeId) {
        let Some(node) = self.nodes.get_mut(&id) else {
            panic!("seed {}: resume of unknown node {id}", self.seed)
        };
        if !node.paused {
            return;
        }
        node.paused = false;
        let held = std::mem::take(&mut node.held);
        self.events.push(recording::nemesis(self.now_ms, "resume", json!(id)));
        for what in held {
            self.schedule(0, what);
        }
    }

    pub fn is_paused(&self, id: NodeId) -> bool {
        self.nodes.get(&id).is_some_and(|n| n.paused)
    }

    /// Crash then restart at once: the node loses everything it did not persist.
    pub fn crash_restart(&mut self, id: NodeId) {
        self.crash(id);
        self.restart(id);
    }
}
