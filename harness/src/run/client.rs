//! Clients: the processes that invoke operations on the cluster.
//!
//! A client worker runs one operation at a time as one logical process. It talks to one
//! node (its home, `worker % nodes`) through the system's adapter, follows a `not_leader`
//! answer's hint for its next operation, and goes home again after a connection failure or
//! a timeout. When an
//! operation ends `info`, the process is retired and the worker continues as a new process
//! with a fresh id (Jepsen's rule: a process with an operation of unknown outcome never
//! invokes again). Every call has a deadline ([`ClientShared::op_timeout`]).
//!
//! The invocation is recorded before the request leaves and the completion after the
//! answer is in, so the history's intervals contain the real ones (see `recorder`).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use checkers::EventType;
use nodes::api::NodeId;
use tokio::sync::watch;
use workloads::{Generator, Op};

use super::pacer::Pacer;
use super::recorder::RecorderHandle;
use crate::system::outcome::Completion;
use crate::system::System;

/// What every client of a run shares.
pub struct ClientShared {
    /// How operations reach the nodes.
    pub system: Arc<dyn System>,
    /// The nodes, in id order.
    pub nodes: Vec<NodeId>,
    pub recorder: RecorderHandle,
    pub generator: Mutex<Generator>,
    pub pacer: Pacer,
    /// The next unused process id (ids below it are taken or retired).
    pub next_process: AtomicU64,
    pub op_timeout: Duration,
}

impl ClientShared {
    /// An HTTP client for loopback nodes: no proxy from the environment, bounded pools.
    pub fn http_client(concurrency: usize) -> anyhow::Result<reqwest::Client> {
        use anyhow::Context;
        reqwest::Client::builder()
            .no_proxy()
            .pool_max_idle_per_host(concurrency.max(1))
            .tcp_nodelay(true)
            .connect_timeout(Duration::from_millis(500))
            .build()
            .context("building the HTTP client")
    }

    /// A fresh process id.
    pub fn new_process(&self) -> u64 {
        self.next_process.fetch_add(1, Ordering::Relaxed)
    }

    /// Invoke `op` as `process` on `node`: record the invocation, call, record the
    /// completion. Returns the completion for the caller's bookkeeping.
    pub async fn perform(&self, process: u64, node: NodeId, op: &Op) -> anyhow::Result<Completion> {
        let mut invoke =
            self.recorder.client_event(process, EventType::Invoke, op.f(), op.key(), op.invoke_value());
        invoke.node = Some(node.to_string());
        self.recorder.record(invoke).await?;
        let completion = self.system.invoke(node, op, self.op_timeout).await;
        let mut event =
            self.recorder.client_event(process, completion.kind, op.f(), op.key(), completion.value.clone());
        event.error = completion.error.clone();
        event.node = Some(node.to_string());
        self.recorder.record(event).await?;
        Ok(completion)
    }
}

/// One client worker, until `stop` turns true. Its first process id is `worker`.
pub async fn run_client(
    shared: Arc<ClientShared>,
    worker: usize,
    mut stop: watch::Receiver<bool>,
) -> anyhow::Result<()> {
    let ids = shared.nodes.clone();
    assert!(!ids.is_empty(), "a client needs a node");
    let home = ids[worker % ids.len()];
    let mut node = home;
    let mut process = worker as u64;
    loop {
        if *stop.borrow() {
            return Ok(());
        }
        tokio::select! {
            _ = shared.pacer.wait() => {}
            _ = stop.changed() => return Ok(()),
        }
        if *stop.borrow() {
            return Ok(());
        }
        let op = shared.generator.lock().unwrap_or_else(|p| p.into_inner()).next_op();
        let completion = shared.perform(process, node, &op).await?;
        if completion.kind == EventType::Info {
            process = shared.new_process();
            node = home;
        } else if let Some(leader) = completion.leader_hint.filter(|l| shared.nodes.contains(l)) {
            node = leader;
        } else if completion.kind == EventType::Fail
            && completion.error.as_deref().is_some_and(|e| e.starts_with("not sent"))
        {
            node = home;
        }
    }
}
