//! The simulator proper: virtual time, one event queue, one random source, the nodes.
//!
//! See the [module documentation](super) for the model and its guarantees.

use std::collections::{BTreeMap, BTreeSet};

use checkers::{Event, EventType, History, HistoryError};
use rand::{Rng, RngCore, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{de::DeserializeOwned, Serialize};

use super::clock::NodeClock;
use super::network::{Grudges, NetConfig, StaleMessages};
use super::recording;
use crate::api::{ApiError, ErrorCode, NodeId, Request, Response, Status};
use crate::protocol::{Config, Context, Effect, Options, Outbox, Protocol, RequestId};

/// Names one client operation: its index in submission order and its client process.
pub type OpId = u64;

/// How a simulated cluster is built.
#[derive(Debug, Clone)]
pub struct SimConfig {
    /// The members, ascending (1..=n by [`SimConfig::new`]).
    pub members: Vec<NodeId>,
    /// Protocol options, the same on every node.
    pub options: Options,
    /// How the network treats messages at the start (change it with [`Sim::set_network`]).
    pub network: NetConfig,
    /// A client gives up on an operation after this long and records it as `info`.
    pub client_timeout_ms: u64,
    /// Most events one `run_*` call may process; exceeding it means a livelock (for example
    /// a zero-delay timer that re-arms itself) and panics with the seed.
    pub max_events_per_run: u64,
    /// Push every message and record through JSON, as the real runtime does, so that a
    /// message that would not survive the wire fails here first.
    pub json_round_trip: bool,
}

impl SimConfig {
    /// `nodes` members numbered 1..=nodes, default options, a healthy network, 1 s client
    /// timeout.
    pub fn new(nodes: u32) -> Self {
        assert!(nodes >= 1, "SimConfig::new: a cluster needs at least one node");
        SimConfig {
            members: (1..=nodes).collect(),
            options: Options::default(),
            network: NetConfig::default(),
            client_timeout_ms: 1_000,
            max_events_per_run: 20_000_000,
            json_round_trip: true,
        }
    }
}

/// Where a client operation stands.
#[derive(Debug, Clone, PartialEq)]
pub enum OpState {
    /// Submitted, no answer yet.
    Pending,
    /// Took effect.
    Ok(Response),
    /// Definitely did not take effect.
    Fail(ApiError),
    /// May have taken effect: an indefinite error, the node crashed holding it, or the
    /// client timed out.
    Info(ApiError),
}

impl OpState {
    pub fn is_pending(&self) -> bool {
        matches!(self, OpState::Pending)
    }

    pub fn is_ok(&self) -> bool {
        matches!(self, OpState::Ok(_))
    }

    /// The error, for a `Fail` or `Info`.
    pub fn error(&self) -> Option<&ApiError> {
        match self {
            OpState::Fail(e) | OpState::Info(e) => Some(e),
            _ => None,
        }
    }
}

/// One client operation and its fate.
#[derive(Debug, Clone, PartialEq)]
pub struct ClientOp {
    pub node: NodeId,
    pub request: Request,
    pub invoked_ms: u64,
    /// When it completed (answer, crash or client timeout).
    pub completed_ms: Option<u64>,
    pub state: OpState,
}

/// A node's status changed (or the node went down: `status` is `None`).
#[derive(Debug, Clone, PartialEq)]
pub struct StatusChange {
    pub at_ms: u64,
    pub node: NodeId,
    pub status: Option<Status>,
}

/// What waits in the queue.
pub(super) enum Scheduled<P: Protocol> {
    Deliver { from: NodeId, to: NodeId, message: P::Message },
    Timer { node: NodeId, timer: P::Timer, generation: u64 },
    Request { node: NodeId, op: OpId },
    ClientTimeout { op: OpId },
}

/// One node: its live state (none while crashed) and what survives a crash.
pub(super) struct SimNode<P: Protocol> {
    pub(super) state: Option<P>,
    /// The write-ahead log: every record persisted, as `recover` will see it.
    pub(super) records: Vec<P::Record>,
    /// Pending timers by name, with the generation that may still fire.
    pub(super) timers: BTreeMap<P::Timer, u64>,
    /// Pending timers' deadlines on the node's clock, to re-plan them when it is skewed.
    pub(super) timer_deadlines: BTreeMap<P::Timer, u64>,
    /// Requests the node holds, to the client operation each answers.
    pub(super) requests: BTreeMap<RequestId, OpId>,
    /// This incarnation's monotonic clock: virtual time plus a random offset (protocols may
    /// rely only on differences, as with a real process's clock), skewable as a fault.
    pub(super) clock: NodeClock,
    pub(super) last_status: Option<Status>,
    /// Paused (as by SIGSTOP): events for the node wait in `held` until it resumes.
    pub(super) paused: bool,
    pub(super) held: Vec<Scheduled<P>>,
}

/// Most events a paused node holds; messages beyond it are dropped, as a full socket
/// buffer would (timers and client requests are always kept).
pub const MAX_HELD_EVENTS: usize = 100_000;

/// A seeded, deterministic cluster of `P` nodes in one process.
pub struct Sim<P: Protocol> {
    pub(super) seed: u64,
    pub(super) config: SimConfig,
    pub(super) rng: ChaCha8Rng,
    pub(super) now_ms: u64,
    /// Next sequence number: orders events of equal time, names timer generations.
    pub(super) seq: u64,
    pub(super) queue: BTreeMap<(u64, u64), Scheduled<P>>,
    pub(super) nodes: BTreeMap<NodeId, SimNode<P>>,
    pub(super) network: NetConfig,
    pub(super) stale: StaleMessages,
    pub(super) grudges: Grudges,
    pub(super) next_request: RequestId,
    pub(super) ops: Vec<ClientOp>,
    pub(super) events: Vec<Event>,
    pub(super) status_log: Vec<StatusChange>,
    /// Messages handed to the network per directed link (before loss and duplication).
    pub(super) sent: BTreeMap<(NodeId, NodeId), u64>,
    /// Directed links whose new messages are kept (see [`Sim::keep_link`]).
    pub(super) keeping: BTreeSet<(NodeId, NodeId)>,
    /// Messages kept per directed link, oldest first, until [`Sim::release_link`].
    pub(super) kept: BTreeMap<(NodeId, NodeId), Vec<P::Message>>,
}

impl<P: Protocol> Sim<P> {
    /// Start every member from an empty log (each runs [`Protocol::recover`] with no records).
    pub fn new(seed: u64, config: SimConfig) -> Self {
        config.network.validate();
        let mut members = config.members.clone();
        members.sort_unstable();
        members.dedup();
        assert!(!members.is_empty(), "seed {seed}: a cluster needs at least one member");
        let config = SimConfig { members, ..config };
        let mut sim = Sim {
            seed,
            network: config.network.clone(),
            stale: StaleMessages::none(),
            rng: ChaCha8Rng::seed_from_u64(seed),
            config,
            now_ms: 0,
            seq: 0,
            queue: BTreeMap::new(),
            nodes: BTreeMap::new(),
            grudges: Grudges::none(),
            next_request: 1,
            ops: Vec::new(),
            events: Vec::new(),
            status_log: Vec::new(),
            sent: BTreeMap::new(),
            keeping: BTreeSet::new(),
            kept: BTreeMap::new(),
        };
        for id in sim.config.members.clone() {
            sim.nodes.insert(
                id,
                SimNode {
                    state: None,
                    records: Vec::new(),
                    timers: BTreeMap::new(),
                    requests: BTreeMap::new(),
                    timer_deadlines: BTreeMap::new(),
                    clock: NodeClock::started(0, 0),
                    last_status: None,
                    paused: false,
                    held: Vec::new(),
                },
            );
        }
        // All members exist before any boots, so that a first step may already send.
        for id in sim.config.members.clone() {
            sim.boot(id);
        }
        sim
    }

    // ----- time -----

    pub fn seed(&self) -> u64 {
        self.seed
    }

    /// Virtual milliseconds since the start.
    pub fn now_ms(&self) -> u64 {
        self.now_ms
    }

    pub fn members(&self) -> &[NodeId] {
        &self.config.members
    }

    pub fn config(&self) -> &SimConfig {
        &self.config
    }

    /// A number from the run's random source, for test drivers (workloads, fault
    /// schedules) that must derive from the same seed.
    pub fn random(&mut self) -> u64 {
        self.rng.next_u64()
    }

    /// A value in `[low, high]` from the run's random source.
    pub fn random_between(&mut self, low: u64, high: u64) -> u64 {
        assert!(low <= high, "seed {}: random_between({low}, {high})", self.seed);
        self.rng.gen_range(low..=high)
    }

    /// Process the earliest pending event, advancing time to it. False if nothing is pending.
    pub fn step(&mut self) -> bool {
        let Some(((at, _), next)) = self.queue.pop_first() else { return false };
        debug_assert!(at >= self.now_ms, "time went backwards");
        self.now_ms = at;
        self.dispatch(next);
        true
    }

    /// Run every event due in the next `ms` milliseconds; time then stands at now + `ms`.
    pub fn run_for(&mut self, ms: u64) {
        let end = self.now_ms.saturating_add(ms);
        let mut budget = self.config.max_events_per_run;
        while self.queue.first_key_value().is_some_and(|(&(at, _), _)| at <= end) {
            self.spend(&mut budget);
            self.step();
        }
        self.now_ms = end;
    }

    /// Run until `done` holds (checked before every event) or `within_ms` pass. Returns
    /// whether it held; on false, time stands at the deadline.
    pub fn run_until(&mut self, within_ms: u64, mut done: impl FnMut(&Self) -> bool) -> bool {
        let end = self.now_ms.saturating_add(within_ms);
        let mut budget = self.config.max_events_per_run;
        loop {
            if done(self) {
                return true;
            }
            match self.queue.first_key_value() {
                Some((&(at, _), _)) if at <= end => {
                    self.spend(&mut budget);
                    self.step();
                }
                _ => {
                    self.now_ms = end;
                    return done(self);
                }
            }
        }
    }

    fn spend(&self, budget: &mut u64) {
        assert!(
            *budget > 0,
            "seed {}: more than {} events in one run call at {} ms: a livelock?",
            self.seed,
            self.config.max_events_per_run,
            self.now_ms
        );
        *budget -= 1;
    }

    // ----- clients -----

    /// A client sends `request` to `node`. The operation is recorded as invoked now and
    /// completes when the node answers, the node crashes holding it (`info`), or the client
    /// timeout passes (`info`). A node that is down refuses the connection: a definite
    /// `unavailable`.
    pub fn submit(&mut self, node: NodeId, request: Request) -> OpId {
        assert!(self.nodes.contains_key(&node), "seed {}: submit to unknown node {node}", self.seed);
        let op = self.ops.len() as OpId;
        let (_, _, value) = recording::invocation(&request);
        self.events.push(recording::event(op, self.now_ms, EventType::Invoke, &request, value, None, node));
        self.ops.push(ClientOp {
            node,
            request,
            invoked_ms: self.now_ms,
            completed_ms: None,
            state: OpState::Pending,
        });
        self.schedule(0, Scheduled::Request { node, op });
        let timeout = self.config.client_timeout_ms;
        self.schedule(timeout, Scheduled::ClientTimeout { op });
        op
    }

    /// Submit and run until the operation completes; returns how it ended.
    pub fn call(&mut self, node: NodeId, request: Request) -> OpState {
        let op = self.submit(node, request);
        let limit = self.config.client_timeout_ms + 1;
        self.run_until(limit, |sim| !sim.ops[op as usize].state.is_pending());
        self.ops[op as usize].state.clone()
    }

    /// [`Sim::call`], then follow `not_leader` hints: resubmit to the named node, at most
    /// once per member. Every attempt is its own operation in the history. Returns the last
    /// attempt's node and outcome.
    pub fn call_leader(&mut self, node: NodeId, request: Request) -> (NodeId, OpState) {
        let mut target = node;
        for _ in 0..self.config.members.len() {
            let state = self.call(target, request.clone());
            match &state {
                OpState::Fail(e) if e.code == ErrorCode::NotLeader => match e.leader {
                    Some(next) if next != target && self.nodes.contains_key(&next) => target = next,
                    _ => return (target, state),
                },
                _ => return (target, state),
            }
        }
        let state = self.call(target, request);
        (target, state)
    }

    pub fn op(&self, op: OpId) -> &ClientOp {
        &self.ops[op as usize]
    }

    /// Every client operation, by [`OpId`].
    pub fn ops(&self) -> &[ClientOp] {
        &self.ops
    }

    /// The recorded events (client operations and faults), in order.
    pub fn events(&self) -> &[Event] {
        &self.events
    }

    /// The recorded history, validated by the checkers' rules.
    pub fn history(&self) -> Result<History, HistoryError> {
        History::from_events(self.events.clone())
    }

    /// The client operations on keys that `keep` accepts, as a validated history (nemesis
    /// events and keyless operations left out): one model's share of a mixed workload.
    pub fn history_of_keys(&self, keep: impl Fn(&str) -> bool) -> Result<History, HistoryError> {
        let events = self
            .events
            .iter()
            .filter(|e| e.process != checkers::Process::Nemesis && e.key.as_deref().is_some_and(&keep))
            .cloned()
            .collect();
        History::from_events(events)
    }

    // ----- nodes -----

    /// A live node's protocol state; `None` while it is down.
    pub fn node(&self, id: NodeId) -> Option<&P> {
        self.nodes.get(&id).and_then(|n| n.state.as_ref())
    }

    pub fn is_up(&self, id: NodeId) -> bool {
        self.node(id).is_some()
    }

    /// What `GET /status` would say; `None` while the node is down.
    pub fn status(&self, id: NodeId) -> Option<Status> {
        self.node(id).map(P::status)
    }

    /// The records node `id` has made durable, as it would recover them.
    pub fn persisted(&self, id: NodeId) -> &[P::Record] {
        self.nodes.get(&id).map(|n| n.records.as_slice()).unwrap_or(&[])
    }

    /// Every status each node reported, in time order, recorded when it changed (after each
    /// step) and when a node went down (`None`).
    pub fn status_log(&self) -> &[StatusChange] {
        &self.status_log
    }

    /// For each term (epoch, ballot) in which any node ever claimed to lead, the nodes that
    /// claimed it. More than one node in a term is split brain.
    pub fn leaders_by_term(&self) -> BTreeMap<u64, BTreeSet<NodeId>> {
        let mut leaders: BTreeMap<u64, BTreeSet<NodeId>> = BTreeMap::new();
        for change in &self.status_log {
            if let Some(s) = &change.status {
                if s.role.is_leading() {
                    leaders.entry(s.term).or_default().insert(change.node);
                }
            }
        }
        leaders
    }

    /// Messages handed to the network per directed link `(from, to)`, counted before loss
    /// and duplication (what the protocol sent).
    pub fn messages_sent(&self) -> &BTreeMap<(NodeId, NodeId), u64> {
        &self.sent
    }

    // ----- the machinery -----

    pub(super) fn boot(&mut self, id: NodeId) {
        let offset = self.rng.gen_range(0..1_000_000_000);
        let config =
            Config { id, members: self.config.members.clone(), options: self.config.options.clone() };
        let round_trip = self.config.json_round_trip;
        let node = self.nodes.get_mut(&id).expect("booting a known node");
        node.clock = NodeClock::started(self.now_ms, offset);
        node.timer_deadlines.clear();
        let records: Vec<P::Record> = if round_trip {
            node.records.iter().map(|r| json_round_trip(self.seed, "record", r)).collect()
        } else {
            node.records.clone()
        };
        let ctx = Context { now_ms: self.now_ms + offset, random: self.rng.next_u64() };
        let mut out = Outbox::new();
        let state = P::recover(config, records, ctx, &mut out);
        self.nodes.get_mut(&id).expect("known node").state = Some(state);
        self.execute(id, out);
    }

    pub(super) fn schedule(&mut self, after_ms: u64, what: Scheduled<P>) {
        let seq = self.seq;
        self.seq += 1;
        self.queue.insert((self.now_ms.saturating_add(after_ms), seq), what);
    }

    fn context(&mut self, id: NodeId) -> Context {
        let now = self.now_ms;
        let now_ms = self.nodes.get_mut(&id).expect("known node").clock.read(now);
        Context { now_ms, random: self.rng.next_u64() }
    }

    fn dispatch(&mut self, what: Scheduled<P>) {
        let target = match &what {
            Scheduled::Deliver { to, .. } => Some(*to),
            Scheduled::Timer { node, .. } | Scheduled::Request { node, .. } => Some(*node),
            Scheduled::ClientTimeout { .. } => None,
        };
        if let Some(node) = target.and_then(|id| self.nodes.get_mut(&id)).filter(|n| n.paused) {
            let is_message = matches!(what, Scheduled::Deliver { .. });
            if !is_message || node.held.len() < MAX_HELD_EVENTS {
                node.held.push(what);
            }
            return;
        }
        match what {
            Scheduled::Deliver { from, to, message } => {
                if self.grudges.blocks(from, to) || !self.is_up(to) {
                    return;
                }
                let ctx = self.context(to);
                let mut out = Outbox::new();
                self.live(to).on_message(ctx, from, message, &mut out);
                self.execute(to, out);
            }
            Scheduled::Timer { node, timer, generation } => {
                let Some(n) = self.nodes.get_mut(&node) else { return };
                if n.state.is_none() || n.timers.get(&timer) != Some(&generation) {
                    return; // replaced, cancelled, or lost in a crash
                }
                n.timers.remove(&timer);
                n.timer_deadlines.remove(&timer);
                let ctx = self.context(node);
                let mut out = Outbox::new();
                self.live(node).on_timer(ctx, timer, &mut out);
                self.execute(node, out);
            }
            Scheduled::Request { node, op } => {
                if !self.ops[op as usize].state.is_pending() {
                    return;
                }
                if !self.is_up(node) {
                    let error = ApiError::new(ErrorCode::Unavailable, format!("node {node} is down"));
                    self.complete(op, Err(error));
                    return;
                }
                let request = self.next_request;
                self.next_request += 1;
                self.nodes.get_mut(&node).expect("known node").requests.insert(request, op);
                let body = self.ops[op as usize].request.clone();
                let ctx = self.context(node);
                let mut out = Outbox::new();
                self.live(node).on_request(ctx, request, body, &mut out);
                self.execute(node, out);
            }
            Scheduled::ClientTimeout { op } => {
                if self.ops[op as usize].state.is_pending() {
                    let error = ApiError::new(ErrorCode::Timeout, "no answer within the client timeout");
                    self.complete(op, Err(error));
                }
            }
        }
    }

    fn live(&mut self, id: NodeId) -> &mut P {
        self.nodes.get_mut(&id).and_then(|n| n.state.as_mut()).expect("dispatching to a live node")
    }

    /// Carry out one step's effects under the durability contract: records first (durable
    /// at once), timers, then messages and replies.
    fn execute(&mut self, id: NodeId, mut out: Outbox<P>) {
        let mut outgoing = Vec::new();
        for effect in out.drain() {
            match effect {
                Effect::Persist(record) => {
                    let record = if self.config.json_round_trip {
                        json_round_trip(self.seed, "record", &record)
                    } else {
                        record
                    };
                    self.nodes.get_mut(&id).expect("known node").records.push(record);
                }
                Effect::Rewrite(records) => {
                    self.nodes.get_mut(&id).expect("known node").records = records;
                }
                Effect::SetTimer { timer, after_ms } => {
                    let generation = self.seq;
                    let now = self.now_ms;
                    let node = self.nodes.get_mut(&id).expect("known node");
                    node.timers.insert(timer.clone(), generation);
                    let deadline = node.clock.read(now).saturating_add(after_ms);
                    node.timer_deadlines.insert(timer.clone(), deadline);
                    let delay = node.clock.virtual_delay(now, deadline);
                    self.schedule(delay, Scheduled::Timer { node: id, timer, generation });
                }
                Effect::CancelTimer { timer } => {
                    let node = self.nodes.get_mut(&id).expect("known node");
                    node.timers.remove(&timer);
                    node.timer_deadlines.remove(&timer);
                }
                other => outgoing.push(other),
            }
        }
        for effect in outgoing {
            match effect {
                Effect::Send { to, message } => self.transmit(id, to, message),
                Effect::Reply { request, result } => {
                    let op = self.nodes.get_mut(&id).expect("known node").requests.remove(&request);
                    if let Some(op) = op {
                        self.complete(op, result);
                    }
                }
                _ => unreachable!("only sends and replies are deferred"),
            }
        }
        self.note_status(id);
    }

    fn transmit(&mut self, from: NodeId, to: NodeId, message: P::Message) {
        assert!(self.nodes.contains_key(&to), "seed {}: node {from} sent to unknown node {to}", self.seed);
        *self.sent.entry((from, to)).or_default() += 1;
        let message = if self.config.json_round_trip {
            json_round_trip(self.seed, "message", &message)
        } else {
            message
        };
        if self.grudges.blocks(from, to) {
            return;
        }
        if self.keeping.contains(&(from, to)) {
            let kept = self.kept.entry((from, to)).or_default();
            if kept.len() < MAX_HELD_EVENTS {
                kept.push(message);
            }
            return;
        }
        if self.rng.gen_bool(self.network.loss) {
            return;
        }
        let copies = if self.rng.gen_bool(self.network.duplicate) { 2 } else { 1 };
        for _ in 0..copies {
            let mut delay = self.rng.gen_range(self.network.delay_min_ms..=self.network.delay_max_ms);
            if self.stale.fraction > 0.0 && self.rng.gen_bool(self.stale.fraction) {
                delay = self.rng.gen_range(self.stale.min_ms..=self.stale.max_ms);
            }
            self.schedule(delay, Scheduled::Deliver { from, to, message: message.clone() });
        }
    }

    /// Record how a client operation ended; later answers to it are dropped.
    pub(super) fn complete(&mut self, op: OpId, result: Result<Response, ApiError>) {
        let now = self.now_ms;
        let entry = &mut self.ops[op as usize];
        if !entry.state.is_pending() {
            return;
        }
        let (_, _, argument) = recording::invocation(&entry.request);
        let (kind, value, error, state) = match result {
            Ok(response) => {
                (EventType::Ok, recording::ok_value(&entry.request, &response), None, OpState::Ok(response))
            }
            Err(e) if e.definite => (EventType::Fail, argument, Some(e.message.clone()), OpState::Fail(e)),
            Err(e) => (EventType::Info, argument, Some(e.message.clone()), OpState::Info(e)),
        };
        entry.state = state;
        entry.completed_ms = Some(now);
        let event = recording::event(op, now, kind, &entry.request, value, error, entry.node);
        self.events.push(event);
    }

    fn note_status(&mut self, id: NodeId) {
        let node = self.nodes.get_mut(&id).expect("known node");
        let Some(state) = node.state.as_ref() else { return };
        let status = state.status();
        if node.last_status.as_ref() != Some(&status) {
            node.last_status = Some(status.clone());
            self.status_log.push(StatusChange { at_ms: self.now_ms, node: id, status: Some(status) });
        }
    }
}

/// Encode and decode through JSON, as the runtime's wire and log do. A value that does not
/// survive is a protocol bug: panic with the seed.
fn json_round_trip<T: Serialize + DeserializeOwned>(seed: u64, what: &str, value: &T) -> T {
    let bytes = serde_json::to_vec(value)
        .unwrap_or_else(|e| panic!("seed {seed}: a {what} does not encode as JSON: {e}"));
    serde_json::from_slice(&bytes)
        .unwrap_or_else(|e| panic!("seed {seed}: a {what} does not decode from JSON: {e}"))
}
