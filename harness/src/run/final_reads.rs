//! Final reads: after the faults heal, what does every node hold? And, for a queue, what
//! is left in it?
//!
//! The workload names the reads (the set's one read, the bank's read of every account; a
//! read of every register, counter or list key ever handed out, retired ones included,
//! the list's as one-read transactions), and every node is asked each of them in
//! turn. The reads are ordinary operations in the history (fresh processes), so the
//! checkers and a later `faultline check` see them: a write lost on a key no client touched
//! again after the fault is seen here or nowhere. A read is retried with a new process
//! after an `info` or a transient failure until it answers `ok` or the deadline passes (a
//! node that never answers is not asked its remaining reads). A node that answers
//! `not_leader` serves no reads at all (a backup, a follower) and is not asked again,
//! unless no node has answered: then the cluster is between leaders, and every node is
//! asked again until one serves or the deadline passes. A node that never answers leaves
//! its adds "never read" rather than "lost".

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use checkers::EventType;
use nodes::api::NodeId;
use workloads::Op;

use super::client::{next_node, ClientShared};

/// Time between two attempts on one node.
const RETRY: Duration = Duration::from_millis(100);

/// How a node took the final reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FinalAnswer {
    /// It answered every read `ok`.
    All,
    /// It answered `not_leader`: it serves no reads (a backup, a follower).
    NotLeading,
    /// It left a read unanswered when the deadline passed.
    Unanswered,
}

/// Ask every node each of `reads`, in order; how each node took them.
///
/// A cluster between leaders (a restarted node has just started an election) answers
/// `not_leader` everywhere; while no node has answered every read and time is left, every
/// node that did not is asked again.
pub async fn read_every_node(
    shared: &ClientShared,
    reads: &[Op],
    deadline: Duration,
) -> anyhow::Result<BTreeMap<NodeId, FinalAnswer>> {
    let until = Instant::now() + deadline;
    let mut answered: BTreeMap<NodeId, FinalAnswer> = BTreeMap::new();
    loop {
        for &node in &shared.nodes {
            if answered.get(&node) != Some(&FinalAnswer::All) {
                answered.insert(node, read_all_from(shared, node, reads, until).await?);
            }
        }
        if answered.values().any(|&a| a == FinalAnswer::All) || Instant::now() + RETRY >= until {
            return Ok(answered);
        }
        tokio::time::sleep(RETRY).await;
    }
}

/// Ask `node` each of `reads` in turn, retrying one after an `info` or a transient
/// failure until `until`. A `not_leader` answer, or the deadline, ends the node's turn.
async fn read_all_from(
    shared: &ClientShared,
    node: NodeId,
    reads: &[Op],
    until: Instant,
) -> anyhow::Result<FinalAnswer> {
    'reads: for op in reads {
        loop {
            let completion = shared.perform(shared.new_process(), node, op).await?;
            if completion.kind == EventType::Ok {
                continue 'reads;
            }
            if completion.is_not_leader() {
                return Ok(FinalAnswer::NotLeading);
            }
            if Instant::now() + RETRY >= until {
                return Ok(FinalAnswer::Unanswered);
            }
            tokio::time::sleep(RETRY).await;
        }
    }
    Ok(FinalAnswer::All)
}

/// Repeat the dequeue `op` until the queue answers empty (an `ok` with no element), or the
/// deadline passes; whether it answered empty. Each dequeue is an ordinary operation of
/// the history (a fresh process), sent where the last answer pointed, as a client's next
/// operation is: a leader's hint, the next node after a node that leads nothing, home
/// after a timeout. The empty answer is what lets the queue check judge every element
/// acknowledged before it; elements left when the deadline passes stay "not drained".
pub async fn dequeue_until_empty(shared: &ClientShared, op: &Op, deadline: Duration) -> anyhow::Result<bool> {
    let until = Instant::now() + deadline;
    let home = shared.nodes[0];
    let mut node = home;
    loop {
        let completion = shared.perform(shared.new_process(), node, op).await?;
        if completion.kind == EventType::Ok && completion.value.is_null() {
            return Ok(true);
        }
        if Instant::now() + RETRY >= until {
            return Ok(false);
        }
        if completion.kind != EventType::Ok {
            node = next_node(&shared.nodes, home, node, &completion);
            tokio::time::sleep(RETRY).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
    use std::sync::{Arc, Mutex};

    use nodes::api::Status;
    use serde_json::json;
    use workloads::{Workload, WorkloadName};

    use super::*;
    use crate::host::{BoxFuture, Clocks, NodeSpec, Operator, Probe};
    use crate::run::pacer::Pacer;
    use crate::run::recorder::Recorder;
    use crate::system::outcome::Completion;
    use crate::system::System;

    /// A cluster whose nodes all answer `not_leader` for its first `between_leaders`
    /// calls, and then only `leader` serves reads.
    struct Scripted {
        calls: AtomicUsize,
        between_leaders: usize,
        leader: NodeId,
    }

    impl Probe for Scripted {
        fn health(&self, _: NodeId, _: Duration) -> BoxFuture<'_, anyhow::Result<()>> {
            Box::pin(async { Ok(()) })
        }
        fn status(&self, _: NodeId, _: Duration) -> BoxFuture<'_, anyhow::Result<Status>> {
            Box::pin(async { anyhow::bail!("not asked") })
        }
    }

    impl Operator for Scripted {
        fn system_name(&self) -> &'static str {
            "scripted"
        }
    }

    impl Clocks for Scripted {}

    impl System for Scripted {
        fn name(&self) -> &'static str {
            "scripted"
        }
        fn version(&self) -> String {
            "1".into()
        }
        fn workloads(&self) -> &'static [WorkloadName] {
            &[WorkloadName::Register]
        }
        fn node_spec(&self, id: NodeId, _: &std::path::Path) -> anyhow::Result<NodeSpec> {
            anyhow::bail!("node {id} is never started")
        }
        fn invoke<'a>(&'a self, node: NodeId, op: &'a Op, _: Duration) -> BoxFuture<'a, Completion> {
            let call = self.calls.fetch_add(1, Ordering::SeqCst);
            let serves = call >= self.between_leaders && node == self.leader;
            Box::pin(async move {
                if serves {
                    Completion { kind: EventType::Ok, value: json!(1), error: None, leader_hint: None }
                } else {
                    let error = Some("not_leader: this node does not lead".to_string());
                    Completion { kind: EventType::Fail, value: op.invoke_value(), error, leader_hint: None }
                }
            })
        }
    }

    /// Final reads of keys `r0` and `r1` against `system`: who answered all, and the
    /// recorded completions as (node, type).
    async fn final_reads_against(
        system: Scripted,
    ) -> (BTreeMap<NodeId, FinalAnswer>, Vec<(String, EventType)>) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("history.jsonl");
        let recorder =
            Recorder::start(results::HistoryWriter::create(&path).unwrap(), Instant::now()).unwrap();
        let shared = ClientShared {
            system: Arc::new(system),
            nodes: vec![1, 2, 3],
            recorder: recorder.handle(),
            generator: Mutex::new(Workload::new(WorkloadName::Register).generator(1)),
            pacer: Pacer::new(100.0),
            next_process: AtomicU64::new(0),
            op_timeout: Duration::from_millis(100),
        };
        let reads: Vec<Op> = ["r0", "r1"].map(|key| Op::Read { key: key.into() }).to_vec();
        let answered = read_every_node(&shared, &reads, Duration::from_secs(10)).await.unwrap();
        drop(shared);
        let events = recorder.finish().unwrap();
        let done = events
            .iter()
            .filter(|e| e.kind != EventType::Invoke)
            .map(|e| (e.node.clone().unwrap_or_default(), e.kind))
            .collect();
        (answered, done)
    }

    #[tokio::test]
    async fn a_follower_that_does_not_lead_is_asked_once_and_the_leader_every_key() {
        let (answered, done) =
            final_reads_against(Scripted { calls: AtomicUsize::new(0), between_leaders: 0, leader: 1 }).await;
        use FinalAnswer::*;
        assert_eq!(answered, BTreeMap::from([(1, All), (2, NotLeading), (3, NotLeading)]));
        let ok = ("1".to_string(), EventType::Ok);
        let refused = |node: &str| (node.to_string(), EventType::Fail);
        assert_eq!(done, vec![ok.clone(), ok, refused("2"), refused("3")]);
    }

    #[tokio::test]
    async fn a_cluster_between_leaders_is_asked_again_until_one_node_serves() {
        let (answered, done) =
            final_reads_against(Scripted { calls: AtomicUsize::new(0), between_leaders: 7, leader: 2 }).await;
        use FinalAnswer::*;
        assert_eq!(answered, BTreeMap::from([(1, NotLeading), (2, All), (3, NotLeading)]));
        let served: Vec<_> = done.iter().filter(|(_, kind)| *kind == EventType::Ok).collect();
        assert_eq!(served, vec![&("2".to_string(), EventType::Ok); 2], "both keys, from the new leader");
        assert!(done.len() > 6, "more than one round was asked: {done:?}");
        assert_eq!(
            done.last(),
            Some(&("3".to_string(), EventType::Fail)),
            "the round that served is finished"
        );
    }
}
