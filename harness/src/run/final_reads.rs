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
//! `not_leader` serves no reads at all (a backup, a follower) and is not asked again. A
//! node that never answers leaves its adds "never read" rather than "lost".

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use checkers::EventType;
use nodes::api::NodeId;
use workloads::Op;

use super::client::{next_node, ClientShared};

/// Time between two attempts on one node.
const RETRY: Duration = Duration::from_millis(100);

/// Ask every node each of `reads`, in order; whether each node answered all of them `ok`.
pub async fn read_every_node(
    shared: &ClientShared,
    reads: &[Op],
    deadline: Duration,
) -> anyhow::Result<BTreeMap<NodeId, bool>> {
    let until = Instant::now() + deadline;
    let mut answered = BTreeMap::new();
    for &node in &shared.nodes {
        let mut all = true;
        'reads: for op in reads {
            loop {
                let completion = shared.perform(shared.new_process(), node, op).await?;
                if completion.kind == EventType::Ok {
                    continue 'reads;
                }
                let serves_no_reads = completion.kind == EventType::Fail
                    && completion.error.as_deref().is_some_and(|e| e.starts_with("not_leader"));
                if serves_no_reads || Instant::now() + RETRY >= until {
                    all = false;
                    break 'reads;
                }
                tokio::time::sleep(RETRY).await;
            }
        }
        answered.insert(node, all);
    }
    Ok(answered)
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
