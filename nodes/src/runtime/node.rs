//! The actor that owns one protocol instance and executes its effects.
//!
//! Exactly one task touches the protocol. Inputs arrive on two bounded channels (client
//! requests from the HTTP layer, messages from the peer transport) and from timers; each
//! input is one protocol step whose effects are executed in the contract's order:
//!
//! 1. `Persist` / `Rewrite` are appended to the write-ahead log;
//! 2. the log is fsynced;
//! 3. only then do `Send` and `Reply` leave the node.
//!
//! Steps are grouped: after one input the actor takes the inputs already waiting (up to
//! [`MAX_STEPS_PER_SYNC`]), runs each, and covers all of them with a single fsync before
//! releasing their sends and replies. Holding a message back longer than necessary is
//! always allowed; releasing it before its records are durable never is.
//!
//! Every client request carries a deadline. If the protocol has not answered by then the
//! actor answers `timeout` (indefinite) and drops any later answer.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Instant;

use anyhow::Context as _;
use rand::{RngCore, SeedableRng};
use rand_chacha::ChaCha8Rng;
use tokio::sync::{mpsc, oneshot};
use tracing::{debug, error, info, warn};

use super::clock::{ClockChange, ClockReading, SkewedClock};
use super::frame;
use super::timers::Timers;
use super::transport::{Outbound, SendRefused};
use super::wal::Wal;
use crate::api::{ApiError, ErrorCode, NodeId, Request, Response, Status};
use crate::committed_log::{LogPage, LogQuery};
use crate::protocol::{Config, Context, Effect, Outbox, Protocol, RequestId};

/// Inputs taken before one fsync covers them all.
pub const MAX_STEPS_PER_SYNC: usize = 256;
/// Client requests held (accepted but unanswered) at once; more are refused `unavailable`.
pub const MAX_IN_FLIGHT_REQUESTS: usize = 10_000;

/// The answer to a client request.
pub type Answer = Result<Response, ApiError>;

/// What the HTTP layer asks of the actor.
#[derive(Debug)]
pub enum ClientInput {
    Request {
        body: Request,
        answer: oneshot::Sender<Answer>,
    },
    Status {
        answer: oneshot::Sender<Status>,
    },
    /// `GET /admin/log`: `None` if the protocol keeps no committed log.
    Log {
        query: LogQuery,
        answer: oneshot::Sender<Option<LogPage>>,
    },
    /// `POST /admin/clock`.
    Clock {
        change: ClockChange,
        answer: oneshot::Sender<ClockReading>,
    },
}

/// The actor's state: the protocol and everything that executes its effects.
pub struct Node<P: Protocol> {
    protocol: P,
    id: NodeId,
    wal: Wal,
    outbound: Outbound,
    timers: Timers<P::Timer>,
    /// The protocol's (skewable) clock; timers run on it, request deadlines on real time.
    clock: SkewedClock,
    random: ChaCha8Rng,
    request_timeout_ms: u64,
    pending: BTreeMap<RequestId, Pending>,
    /// (real deadline_ms, request): the next request to time out is the first entry.
    deadlines: BTreeSet<(u64, RequestId)>,
    next_request: RequestId,
    /// Effects of steps not yet covered by an fsync.
    held_sends: Vec<(NodeId, Vec<u8>)>,
    held_replies: Vec<(RequestId, Answer)>,
}

struct Pending {
    answer: oneshot::Sender<Answer>,
    deadline_ms: u64,
}

impl<P: Protocol> Node<P> {
    /// Recover the protocol from the log in `wal` and execute its first effects.
    pub fn recover(
        config: Config,
        wal: Wal,
        records: Vec<super::wal::Recovered>,
        outbound: Outbound,
        request_timeout_ms: u64,
    ) -> anyhow::Result<Node<P>> {
        let mut decoded = Vec::with_capacity(records.len());
        for record in records {
            let value: P::Record = serde_json::from_slice(&record.payload).with_context(|| {
                format!("the log record at byte {} is not a {} record", record.offset, P::NAME)
            })?;
            decoded.push(value);
        }
        let seed: u64 = rand::random();
        info!(id = config.id, protocol = P::NAME, records = decoded.len(), seed, "recovering");
        let mut clock = SkewedClock::new(Instant::now());
        let mut random = ChaCha8Rng::seed_from_u64(seed);
        let ctx = Context { now_ms: clock.now_ms(), random: random.next_u64() };
        let mut out = Outbox::new();
        let id = config.id;
        let protocol = P::recover(config, decoded, ctx, &mut out);
        let mut node = Node {
            protocol,
            id,
            wal,
            outbound,
            timers: Timers::new(),
            clock,
            random,
            request_timeout_ms,
            pending: BTreeMap::new(),
            deadlines: BTreeSet::new(),
            next_request: 0,
            held_sends: Vec::new(),
            held_replies: Vec::new(),
        };
        node.execute(out)?;
        node.flush()?;
        Ok(node)
    }

    /// Run until `shutdown` completes (Ok) or the node can no longer keep its contract (Err).
    pub async fn run<M>(
        mut self,
        mut clients: mpsc::Receiver<ClientInput>,
        mut peers: mpsc::Receiver<(NodeId, P::Message)>,
        shutdown: M,
    ) -> anyhow::Result<()>
    where
        M: std::future::Future<Output = ()>,
    {
        tokio::pin!(shutdown);
        loop {
            let wake = self.next_wake().map(tokio::time::Instant::from_std);
            tokio::select! {
                () = &mut shutdown => {
                    info!("shutting down");
                    return Ok(());
                }
                Some(input) = clients.recv() => self.on_client(input)?,
                Some((from, message)) = peers.recv() => self.on_peer(from, message)?,
                () = sleep_until(wake), if wake.is_some() => {}
            }
            // Take what is already waiting, alternating so neither source starves the other.
            for _ in 1..MAX_STEPS_PER_SYNC / 2 {
                let mut took = false;
                if let Ok((from, message)) = peers.try_recv() {
                    self.on_peer(from, message)?;
                    took = true;
                }
                if let Ok(input) = clients.try_recv() {
                    self.on_client(input)?;
                    took = true;
                }
                if !took {
                    break;
                }
            }
            self.fire_due()?;
            self.flush()?;
        }
    }

    fn on_client(&mut self, input: ClientInput) -> anyhow::Result<()> {
        match input {
            ClientInput::Status { answer } => {
                let _ = answer.send(self.protocol.status());
                Ok(())
            }
            ClientInput::Log { query, answer } => {
                let _ = answer.send(self.protocol.committed_log().map(|log| log.page(self.id, query)));
                Ok(())
            }
            ClientInput::Clock { change, answer } => {
                let reading = self.clock.apply(change);
                info!(?change, ?reading, "clock changed");
                let _ = answer.send(reading);
                Ok(())
            }
            ClientInput::Request { body, answer } => {
                if self.pending.len() >= MAX_IN_FLIGHT_REQUESTS {
                    let _ = answer.send(Err(ApiError::new(
                        ErrorCode::Unavailable,
                        format!("node holds {MAX_IN_FLIGHT_REQUESTS} unanswered requests; try later"),
                    )));
                    return Ok(());
                }
                let request = self.next_request;
                self.next_request += 1;
                let deadline_ms = self.clock.real_ms() + self.request_timeout_ms;
                self.pending.insert(request, Pending { answer, deadline_ms });
                self.deadlines.insert((deadline_ms, request));
                self.step(|protocol, ctx, out| protocol.on_request(ctx, request, body, out))
            }
        }
    }

    fn on_peer(&mut self, from: NodeId, message: P::Message) -> anyhow::Result<()> {
        self.step(|protocol, ctx, out| protocol.on_message(ctx, from, message, out))
    }

    /// Fire every timer that is due and time out every request past its deadline.
    fn fire_due(&mut self) -> anyhow::Result<()> {
        let now_ms = self.clock.now_ms();
        while let Some(timer) = self.timers.pop_due(now_ms) {
            self.step(|protocol, ctx, out| protocol.on_timer(ctx, timer, out))?;
        }
        let now_ms = self.clock.real_ms();
        while let Some(&(deadline_ms, request)) = self.deadlines.first() {
            if deadline_ms > now_ms {
                break;
            }
            self.deadlines.pop_first();
            if let Some(pending) = self.pending.remove(&request) {
                debug!(request, "request deadline passed");
                let _ = pending.answer.send(Err(ApiError::new(
                    ErrorCode::Timeout,
                    format!(
                        "no answer within {} ms; the operation may still take effect",
                        self.request_timeout_ms
                    ),
                )));
            }
        }
        Ok(())
    }

    /// The real instant of the next timer (on the protocol's clock) or request deadline.
    fn next_wake(&self) -> Option<Instant> {
        let now = Instant::now();
        let timer = self.timers.next_deadline().map(|ms| now + self.clock.real_wait(now, ms));
        let request = self.deadlines.first().map(|&(deadline_ms, _)| self.clock.real_instant(deadline_ms));
        match (timer, request) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Run one protocol step and stage its effects.
    fn step(&mut self, input: impl FnOnce(&mut P, Context, &mut Outbox<P>)) -> anyhow::Result<()> {
        let ctx = Context { now_ms: self.clock.now_ms(), random: self.random.next_u64() };
        let mut out = Outbox::new();
        input(&mut self.protocol, ctx, &mut out);
        self.execute(out)
    }

    /// Write records to the log now; hold sends and replies until the next flush.
    fn execute(&mut self, mut out: Outbox<P>) -> anyhow::Result<()> {
        let now_ms = self.clock.now_ms();
        for effect in out.drain() {
            match effect {
                Effect::Persist(record) => {
                    let payload = serde_json::to_vec(&record).context("encoding a log record")?;
                    self.wal.append(&payload);
                }
                Effect::Rewrite(records) => {
                    let payloads = records
                        .iter()
                        .map(serde_json::to_vec)
                        .collect::<Result<Vec<_>, _>>()
                        .context("encoding log records")?;
                    let wal = &mut self.wal;
                    blocking(|| wal.rewrite(&payloads)).context("rewriting the write-ahead log")?;
                }
                Effect::Send { to, message } => {
                    if to == self.id {
                        warn!(?message, "protocol sent a message to its own node; dropped");
                        continue;
                    }
                    let payload = serde_json::to_vec(&message).context("encoding a peer message")?;
                    self.held_sends.push((to, frame::encode(&payload)));
                }
                Effect::Reply { request, result } => self.held_replies.push((request, result)),
                Effect::SetTimer { timer, after_ms } => {
                    self.timers.set(timer, now_ms.saturating_add(after_ms))
                }
                Effect::CancelTimer { timer } => self.timers.cancel(&timer),
            }
        }
        Ok(())
    }

    /// Make staged records durable, then release the sends and replies that waited on them.
    fn flush(&mut self) -> anyhow::Result<()> {
        if self.wal.has_pending() {
            let wal = &mut self.wal;
            blocking(|| wal.sync()).context("syncing the write-ahead log")?;
        }
        for (to, frame) in self.held_sends.drain(..) {
            match self.outbound.send(to, frame) {
                Ok(()) => {}
                Err(SendRefused::QueueFull) => debug!(peer = to, "send queue full; message dropped"),
                Err(SendRefused::UnknownPeer) => warn!(peer = to, "protocol sent to a non-member; dropped"),
                Err(SendRefused::TooLarge { bytes, limit }) => error!(
                    peer = to,
                    "a message of {bytes} bytes exceeds the peer frame limit of {limit} bytes \
                     (--max-frame-bytes); not sent"
                ),
            }
        }
        for (request, result) in self.held_replies.drain(..) {
            match self.pending.remove(&request) {
                Some(pending) => {
                    self.deadlines.remove(&(pending.deadline_ms, request));
                    let _ = pending.answer.send(result);
                }
                None => debug!(request, "answer to a request already answered or timed out; dropped"),
            }
        }
        Ok(())
    }
}

/// Run blocking disk work without stalling the other tasks of a multi-threaded runtime.
fn blocking<T>(work: impl FnOnce() -> T) -> T {
    use tokio::runtime::{Handle, RuntimeFlavor};
    match Handle::try_current().map(|h| h.runtime_flavor()) {
        Ok(RuntimeFlavor::MultiThread) => tokio::task::block_in_place(work),
        _ => work(),
    }
}

async fn sleep_until(wake: Option<tokio::time::Instant>) {
    match wake {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}
