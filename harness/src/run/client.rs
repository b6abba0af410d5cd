//! Clients: the processes that invoke operations on the cluster.
//!
//! A client worker runs one operation at a time as one logical process. It talks to one
//! node (its home, `worker % nodes`) through the system's adapter and picks the node of its
//! next operation from how the last one ended ([`next_node`]): it follows a `not_leader`
//! answer's hint, moves on to the next node when a node says it does not lead and knows no
//! leader (a deposed leader cut off from the rest would otherwise keep it for the whole
//! partition), and goes home again after a connection failure or a timeout (so a restarted
//! node gets its clients back, which is how a restarted old primary gets to acknowledge the
//! writes that pb-async then loses). When an
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
        }
        node = next_node(&ids, home, node, &completion);
    }
}

/// The node a worker at `node` (whose home is `home`) asks next, after `completion`.
///
/// - `info` (a timeout, a lost connection) or a connection that could not be opened: home;
/// - a `not_leader` naming a member: that member;
/// - a `not_leader` naming no leader: the next node in id order, so that a node that knows
///   no leader does not keep the worker;
/// - anything else (`ok`, a definite refusal): the same node.
pub fn next_node(ids: &[NodeId], home: NodeId, node: NodeId, completion: &Completion) -> NodeId {
    let error = completion.error.as_deref().unwrap_or("");
    if completion.kind == EventType::Info
        || (completion.kind == EventType::Fail && error.starts_with("not sent"))
    {
        return home;
    }
    if let Some(leader) = completion.leader_hint.filter(|l| ids.contains(l)) {
        return leader;
    }
    if completion.is_not_leader() {
        return node_after(ids, node);
    }
    node
}

/// The node after `node` in id order, the first after the last.
fn node_after(ids: &[NodeId], node: NodeId) -> NodeId {
    let at = ids.iter().position(|&id| id == node).unwrap_or(0);
    ids[(at + 1) % ids.len()]
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

    fn ended(kind: EventType, error: Option<&str>, leader_hint: Option<NodeId>) -> Completion {
        Completion { kind, value: Value::Null, error: error.map(str::to_string), leader_hint }
    }

    const IDS: [NodeId; 3] = [1, 2, 3];

    #[test]
    fn a_hint_is_followed_when_it_names_a_member() {
        let hinted = ended(EventType::Fail, Some("not_leader: ask 2"), Some(2));
        assert_eq!(next_node(&IDS, 1, 3, &hinted), 2);
        let stranger = ended(EventType::Fail, Some("not_leader: ask 9"), Some(9));
        assert_eq!(next_node(&IDS, 1, 3, &stranger), 1, "no such member: on to the next node, wrapping");
    }

    #[test]
    fn a_node_that_knows_no_leader_passes_the_worker_on() {
        let unknown = ended(EventType::Fail, Some("not_leader: no leader known"), None);
        assert_eq!(next_node(&IDS, 1, 1, &unknown), 2);
        assert_eq!(next_node(&IDS, 1, 2, &unknown), 3);
    }

    #[test]
    fn a_timeout_or_a_refused_connection_sends_the_worker_home_and_other_answers_keep_it() {
        assert_eq!(next_node(&IDS, 2, 3, &ended(EventType::Info, Some("timeout"), None)), 2);
        let refused = ended(EventType::Fail, Some("not sent: connection refused"), None);
        assert_eq!(next_node(&IDS, 2, 3, &refused), 2);
        assert_eq!(next_node(&IDS, 2, 3, &ended(EventType::Ok, None, None)), 3);
        let refused = ended(EventType::Fail, Some("precondition_failed: 4 is not 5"), None);
        assert_eq!(next_node(&IDS, 2, 3, &refused), 3);
        let unavailable = ended(EventType::Fail, Some("unavailable: establishing"), None);
        assert_eq!(next_node(&IDS, 2, 3, &unavailable), 3, "a leader getting ready keeps the worker");
    }
}
