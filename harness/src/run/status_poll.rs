//! Watching leadership: every node's role and term (by the system's probe), polled every [`POLL_INTERVAL`] for the
//! whole run, as samples for the split-brain and deposed-leader checkers and the report's
//! role lane (`roles.json`).
//!
//! Each node has its own polling loop, so a node that hangs (paused, partitioned from us
//! never, but slow) delays only its own samples. A poll that fails or times out yields no
//! sample: an unreachable node claims nothing we can see.

use std::sync::Arc;
use std::time::Duration;

use nodes::api::NodeId;
use results::RoleSample;
use tokio::sync::watch;
use tokio::task::JoinSet;

use super::recorder::RecorderHandle;
use crate::host::Probe;

/// Time between two polls of one node.
pub const POLL_INTERVAL: Duration = Duration::from_millis(75);
/// Deadline of one poll.
pub const POLL_TIMEOUT: Duration = Duration::from_millis(250);
/// Most samples kept per node (about 40 minutes at the poll interval).
pub const MAX_SAMPLES_PER_NODE: usize = 32_768;

/// Poll every node until `stop` turns true; the samples of all nodes.
pub async fn poll(
    probe: Arc<dyn Probe>,
    nodes: Vec<NodeId>,
    clock: RecorderHandle,
    stop: watch::Receiver<bool>,
) -> Vec<RoleSample> {
    let mut tasks = JoinSet::new();
    for id in nodes {
        tasks.spawn(poll_one(probe.clone(), id, clock.clone(), stop.clone()));
    }
    let mut samples = Vec::new();
    while let Some(done) = tasks.join_next().await {
        // A poller that panicked loses its samples only; the checker sees fewer samples.
        if let Ok(mut node_samples) = done {
            samples.append(&mut node_samples);
        }
    }
    samples.sort_by_key(|s| (s.sent_ns, s.node));
    samples
}

async fn poll_one(
    probe: Arc<dyn Probe>,
    id: NodeId,
    clock: RecorderHandle,
    mut stop: watch::Receiver<bool>,
) -> Vec<RoleSample> {
    let mut samples = Vec::new();
    let mut ticker = tokio::time::interval(POLL_INTERVAL);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    while !*stop.borrow() && samples.len() < MAX_SAMPLES_PER_NODE {
        tokio::select! {
            _ = ticker.tick() => {}
            _ = stop.changed() => break,
        }
        let sent_ns = clock.now_ns();
        if let Ok(Ok(status)) = tokio::time::timeout(POLL_TIMEOUT, probe.status(id, POLL_TIMEOUT)).await {
            let role = serde_json::to_value(status.role)
                .ok()
                .and_then(|v| v.as_str().map(str::to_string))
                .unwrap_or_else(|| format!("{:?}", status.role));
            samples.push(RoleSample {
                node: id,
                sent_ns,
                received_ns: clock.now_ns(),
                role,
                leading: status.role.is_leading(),
                term: status.term,
            });
        }
    }
    samples
}
