//! The protocol trait: a replication protocol as a pure state machine.
//!
//! Inputs (a peer message, a client request, a timer firing) go in; effects (send, reply,
//! persist, set or cancel a timer) come out through an [`Outbox`]. A protocol touches no
//! socket, file, clock or random source: the current time and a fresh random number arrive
//! in every [`Context`]. The same implementation therefore runs unchanged under the real
//! runtime ([`crate::runtime`]) and the deterministic simulator ([`crate::sim`]).
//!
//! # The durability contract
//!
//! Within the effects of one step, every [`Effect::Persist`] and [`Effect::Rewrite`] is made
//! durable (written and fsynced) before any [`Effect::Send`] or [`Effect::Reply`] of the same
//! step leaves the node. A protocol therefore emits "persist my vote" and "send my vote" in
//! one step and may rely on the order. After a crash, [`Protocol::recover`] receives every
//! record that was made durable, in the order it was persisted (a `Rewrite` replaces all
//! earlier records with its own list).
//!
//! # Timers
//!
//! A timer is named by a value of the protocol's `Timer` type. Setting a timer that is
//! already pending replaces it; cancelling one that is not pending does nothing. Timers do
//! not survive a crash: `recover` must set the ones it needs.

use std::fmt::Debug;

use serde::{de::DeserializeOwned, Deserialize, Serialize};

use crate::api::{ApiError, NodeId, Request, Response, Status};
use crate::committed_log::CommittedLog;

/// Names one client request while a node holds it, so that the protocol can answer it later.
pub type RequestId = u64;

/// What a protocol learns about the world at each step.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Context {
    /// Milliseconds on this node's monotonic clock. Only differences are meaningful.
    pub now_ms: u64,
    /// A fresh uniformly random number (from the run's seed in the simulator).
    pub random: u64,
}

impl Context {
    /// A value in `[low, high]` drawn from this step's random number.
    pub fn random_between(&self, low: u64, high: u64) -> u64 {
        debug_assert!(low <= high, "random_between({low}, {high})");
        low + self.random % (high - low + 1)
    }
}

/// The cluster as one node sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// This node.
    pub id: NodeId,
    /// Every member of the cluster, this node included, sorted ascending.
    pub members: Vec<NodeId>,
    pub options: Options,
}

impl Config {
    /// Every member but this node, ascending.
    pub fn peers(&self) -> impl Iterator<Item = NodeId> + '_ {
        self.members.iter().copied().filter(move |&m| m != self.id)
    }

    /// The smallest number of members that forms a majority.
    pub fn quorum(&self) -> usize {
        self.members.len() / 2 + 1
    }
}

/// Protocol options, shared by all protocols; each reads the ones that apply to it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Options {
    /// How often a leader or primary tells the others it is alive.
    pub heartbeat_ms: u64,
    /// Election (or failover) timeouts are drawn uniformly from this range.
    pub election_timeout_min_ms: u64,
    pub election_timeout_max_ms: u64,
    /// How reads are served where a protocol offers a choice.
    pub read_mode: ReadMode,
    /// Paxos: run phase 1 for every value (the classic, unoptimised protocol).
    pub phase1_every_op: bool,
    /// Raft, Paxos, primary/backup, 2PC: take a snapshot and compact the log after this
    /// many applied entries (slots for Paxos, transactions for 2PC) (0: never).
    pub snapshot_every: u64,
    /// Most log entries a leader sends in one message.
    pub max_batch: usize,
    /// 2PC: how a transaction's reads are isolated from concurrent transactions.
    #[serde(default)]
    pub isolation: Isolation,
}

impl Options {
    /// The default upper bound of the election timeout (tests size long delays by it).
    pub const DEFAULT_ELECTION_TIMEOUT_MAX_MS: u64 = 600;
}

impl Default for Options {
    fn default() -> Self {
        Options {
            heartbeat_ms: 50,
            election_timeout_min_ms: 300,
            election_timeout_max_ms: Self::DEFAULT_ELECTION_TIMEOUT_MAX_MS,
            read_mode: ReadMode::Quorum,
            phase1_every_op: false,
            snapshot_every: 10_000,
            max_batch: 256,
            isolation: Isolation::Serializable,
        }
    }
}

/// How a protocol that offers a choice serves reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default, clap::ValueEnum)]
#[serde(rename_all = "snake_case")]
pub enum ReadMode {
    /// Linearizable: the leader confirms it still leads (ReadIndex, a quorum round) first.
    #[default]
    Quorum,
    /// Unsafe by design: the leader answers from its own state at once. Reproduces stale
    /// reads when a deposed leader is cut off from the new one.
    Local,
    /// Raft only. Unsafe under clock skew and pauses: the leader answers from its own state
    /// while its lease (from the last quorum of heartbeat answers, shorter than the minimum
    /// election timeout) holds on its own clock. Protocols without leases serve these reads
    /// as `Quorum`; the command line refuses the mode for them.
    Lease,
}

/// How a protocol that offers a choice isolates a transaction's reads (2PC only).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum Isolation {
    /// A transaction reads and writes at one point: when it commits.
    #[default]
    Serializable,
    /// Unsafe by design: a transaction's reads are answered from the committed state when
    /// it arrives, and its writes applied when it commits, without locks in between. Two
    /// transactions that read a key and then both write it each miss the other's write (a
    /// lost update: G-single, forbidden by snapshot isolation and everything stronger).
    ReadCommitted,
}

/// One thing a protocol wants done.
#[derive(Debug, Clone, PartialEq)]
pub enum Effect<M, R, T> {
    /// Send a message to a peer. The network may lose, delay, duplicate or reorder it.
    Send {
        to: NodeId,
        message: M,
    },
    /// Answer a client request. Each request is answered at most once; the runtime drops
    /// later answers and answers `timeout` itself if none comes by the deadline.
    Reply {
        request: RequestId,
        result: Result<Response, ApiError>,
    },
    /// Append a record to the write-ahead log.
    Persist(R),
    /// Replace the whole write-ahead log with these records (compaction, snapshots).
    Rewrite(Vec<R>),
    /// Fire `timer` after `after_ms`, replacing any pending timer of the same name.
    SetTimer {
        timer: T,
        after_ms: u64,
    },
    CancelTimer {
        timer: T,
    },
}

/// The effects of one step, in order.
#[derive(Debug)]
pub struct Outbox<P: Protocol> {
    pub effects: Vec<Effect<P::Message, P::Record, P::Timer>>,
}

impl<P: Protocol> Default for Outbox<P> {
    fn default() -> Self {
        Outbox { effects: Vec::new() }
    }
}

impl<P: Protocol> Outbox<P> {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn send(&mut self, to: NodeId, message: P::Message) {
        self.effects.push(Effect::Send { to, message });
    }

    pub fn reply(&mut self, request: RequestId, result: Result<Response, ApiError>) {
        self.effects.push(Effect::Reply { request, result });
    }

    pub fn persist(&mut self, record: P::Record) {
        self.effects.push(Effect::Persist(record));
    }

    pub fn rewrite(&mut self, records: Vec<P::Record>) {
        self.effects.push(Effect::Rewrite(records));
    }

    pub fn set_timer(&mut self, timer: P::Timer, after_ms: u64) {
        self.effects.push(Effect::SetTimer { timer, after_ms });
    }

    pub fn cancel_timer(&mut self, timer: P::Timer) {
        self.effects.push(Effect::CancelTimer { timer });
    }

    /// Take the effects, leaving the outbox empty for the next step.
    pub fn drain(&mut self) -> Vec<Effect<P::Message, P::Record, P::Timer>> {
        std::mem::take(&mut self.effects)
    }
}

/// A replication protocol. See the module documentation for the contract.
pub trait Protocol: Send + Sized + 'static {
    /// What nodes say to each other. Encoded as JSON in a length-prefixed frame.
    type Message: Serialize + DeserializeOwned + Clone + Debug + Send + 'static;
    /// What the node writes to its write-ahead log.
    type Record: Serialize + DeserializeOwned + Clone + Debug + Send + 'static;
    /// Names of timers.
    type Timer: Clone + Eq + Ord + std::hash::Hash + Debug + Send + 'static;

    /// The protocol's name on the command line and in `/status` (`raft`, `pb-async`, ...).
    const NAME: &'static str;

    /// Start the node from the records it persisted before (empty on a first start).
    /// Effects emitted here (usually timers) are executed like those of any step.
    fn recover(config: Config, records: Vec<Self::Record>, ctx: Context, out: &mut Outbox<Self>) -> Self;

    /// A message arrived from a peer. The sender is authenticated by the transport's
    /// handshake, but the content is untrusted: a malformed message must be ignored.
    fn on_message(&mut self, ctx: Context, from: NodeId, message: Self::Message, out: &mut Outbox<Self>);

    /// A client request arrived. Answer it now or later through [`Outbox::reply`].
    fn on_request(&mut self, ctx: Context, request: RequestId, body: Request, out: &mut Outbox<Self>);

    /// A timer fired.
    fn on_timer(&mut self, ctx: Context, timer: Self::Timer, out: &mut Outbox<Self>);

    /// What `GET /status` reports.
    fn status(&self) -> Status;

    /// The committed prefix as running hashes, served on `GET /admin/log` so that the
    /// harness can compare replicas (see [`crate::committed_log`]). Every built-in protocol
    /// keeps one; a protocol without one answers `None` and the route says so.
    fn committed_log(&self) -> Option<&CommittedLog> {
        None
    }
}
