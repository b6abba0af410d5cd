//! The nemesis: injects the faults of a [`Schedule`] into a running cluster and heals them.
//!
//! Network faults go to the run's [`Network`] (the fault proxy, or firewall rules in network
//! namespaces); process faults go to the supervisor (kill -9 and restart, SIGSTOP/SIGCONT,
//! lose a disk); the `failover` fault also uses the system's [`Operator`] (promote a replica,
//! repoint the others); the `clock` fault goes to the system's [`Clocks`]. Executing a step never
//! fails the run: whatever happened is returned as a [`Record`] for the history, with
//! `took_effect` false (and an error) when the fault could not be applied — a kill of a
//! node already dead, a leader partition when no node leads.
//!
//! [`Nemesis::heal_all`] ends every fault still in force and then sweeps: heals the
//! network, clears link faults, resumes paused nodes and restarts dead ones, so final reads
//! see a whole cluster whatever the schedule left behind.

pub mod clock;
pub mod kinds;
pub mod partitions;
pub mod record;
pub mod schedule;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use checkers::history::Event;
use nodes::api::NodeId;
use serde_json::json;
use tokio::sync::{mpsc, watch};
use tokio::time::Instant;

pub use clock::ClockSkew;
pub use kinds::FaultKind;
pub use record::Record;
pub use schedule::{Action, Fault, Schedule, ScheduleParams, Step, KILL_LEADER_DOWN_MAX_MS};

use crate::host::{ClockChange, Clocks, NodeState, Operator};
use crate::net::Grudge;
use crate::net::Network;
use crate::supervisor::Supervisor;

/// Timeouts the nemesis works within.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NemesisConfig {
    /// How long a restarted node has to answer `/health`.
    pub health_deadline: Duration,
    /// Timeout of each `/status` request when looking for the leader.
    pub status_timeout: Duration,
}

impl Default for NemesisConfig {
    fn default() -> Self {
        NemesisConfig { health_deadline: Duration::from_secs(10), status_timeout: Duration::from_secs(1) }
    }
}

/// Executes steps against one cluster. Remembers which faults are in force.
pub struct Nemesis {
    supervisor: Arc<Supervisor>,
    network: Arc<dyn Network>,
    operator: Option<Arc<dyn Operator>>,
    /// How clock faults reach the nodes; without it they are recorded as not taken.
    clocks: Option<Arc<dyn Clocks>>,
    config: NemesisConfig,
    /// Faults started and not yet stopped, by step id.
    active: BTreeMap<u32, InForce>,
    /// Nodes whose disk was lost and that have not been healthy since: the operator
    /// readmits each before it starts again.
    wiped: BTreeSet<NodeId>,
}

/// A fault in force, as it was resolved when it started.
#[derive(Debug, Clone, PartialEq)]
enum InForce {
    Fault(Fault),
    /// `failover`: `old` was cut off and `promoted` made primary.
    FailedOver {
        old: NodeId,
        promoted: NodeId,
    },
}

impl Nemesis {
    pub fn new(supervisor: Arc<Supervisor>, network: Arc<dyn Network>, config: NemesisConfig) -> Nemesis {
        Nemesis {
            supervisor,
            network,
            operator: None,
            clocks: None,
            config,
            active: BTreeMap::new(),
            wiped: BTreeSet::new(),
        }
    }

    /// Give the nemesis the system's operator actions (needed by `failover`).
    pub fn with_operator(mut self, operator: Arc<dyn Operator>) -> Nemesis {
        self.operator = Some(operator);
        self
    }

    /// Give the nemesis a way to skew node clocks (needed by `clock`).
    pub fn with_clocks(mut self, clocks: Arc<dyn Clocks>) -> Nemesis {
        self.clocks = Some(clocks);
        self
    }

    /// Faults in force now.
    pub fn active(&self) -> usize {
        self.active.len()
    }

    /// Run a schedule: each step at `start + at_ms`, its record sent to `events` as a
    /// history event (time since `start`). Returns early when `stop` turns true. Heal
    /// separately with [`heal_all`](Self::heal_all).
    pub async fn run(
        &mut self,
        schedule: &Schedule,
        start: Instant,
        events: mpsc::Sender<Event>,
        mut stop: watch::Receiver<bool>,
    ) {
        for step in &schedule.steps {
            if *stop.borrow() {
                return;
            }
            let at = start + Duration::from_millis(step.at_ms);
            tokio::select! {
                _ = tokio::time::sleep_until(at) => {}
                changed = stop.changed() => {
                    if changed.is_err() || *stop.borrow() {
                        return;
                    }
                }
            }
            let began = Instant::now();
            let record = self.execute(step).await;
            let time_ns = began.saturating_duration_since(start).as_nanos() as u64;
            if events.send(record.to_event(time_ns)).await.is_err() {
                return;
            }
        }
    }

    /// Apply one step. Never panics and never returns an error: see [`Record`].
    pub async fn execute(&mut self, step: &Step) -> Record {
        let f = step.f();
        match step.action {
            Action::Start => {
                let (record, in_force) = self.start(f, &step.fault).await;
                if let Some(fault) = in_force {
                    self.active.insert(step.id, fault);
                }
                record
            }
            Action::Stop => {
                // Stop what actually started (a resolved leader partition, say); if the start
                // never took effect there is nothing to undo.
                match self.active.remove(&step.id) {
                    Some(fault) => self.stop(f, &fault).await,
                    None => Record::not_taken(
                        f,
                        json!({ "fault": step.fault.kind().name() }),
                        "the fault was not in force",
                    ),
                }
            }
        }
    }

    /// End every fault in force, then heal whatever else is broken. One record per fault
    /// stopped, and a final `heal` record of the sweep.
    pub async fn heal_all(&mut self) -> Vec<Record> {
        let mut records = Vec::new();
        for (_, fault) in std::mem::take(&mut self.active) {
            let f = format!("stop-{}", fault.family());
            records.push(self.stop(f, &fault).await);
        }
        let mut done = serde_json::Map::new();
        let mut errors = Vec::new();
        if !self.network.grudge().is_empty() {
            match self.network.heal() {
                Ok(()) => {
                    done.insert("healed_network".into(), json!(true));
                }
                Err(e) => errors.push(format!("heal the network: {e:#}")),
            }
        }
        if self.network.has_holds() {
            match self.network.clear_holds() {
                Ok(()) => {
                    done.insert("cleared_holds".into(), json!(true));
                }
                Err(e) => errors.push(format!("clear holds: {e:#}")),
            }
        }
        if self.network.has_link_faults() {
            match self.network.clear_link_faults() {
                Ok(()) => {
                    done.insert("cleared_link_faults".into(), json!(true));
                }
                Err(e) => errors.push(format!("clear link faults: {e:#}")),
            }
        }
        let mut resumed = Vec::new();
        let mut restarted = Vec::new();
        for id in self.supervisor.node_ids() {
            match self.supervisor.state(id) {
                NodeState::Paused { .. } => match self.supervisor.resume(id) {
                    Ok(true) => resumed.push(id),
                    Ok(false) => {}
                    Err(e) => errors.push(format!("resume {id}: {e:#}")),
                },
                NodeState::Exited { .. } | NodeState::NotStarted => {
                    let (done, failed) = self.restart_all(&[id]).await;
                    restarted.extend(done);
                    errors.extend(failed.into_iter().map(|e| format!("restart {e}")));
                }
                NodeState::Running { .. } => {}
            }
        }
        if !resumed.is_empty() {
            done.insert("resumed".into(), json!(resumed));
        }
        if !restarted.is_empty() {
            done.insert("restarted".into(), json!(restarted));
        }
        let took_effect = !done.is_empty();
        records.push(Record {
            f: "heal".into(),
            value: serde_json::Value::Object(done),
            took_effect,
            error: join_errors(errors),
        });
        records
    }

    /// Start a fault; also returns the fault as it is in force (leader resolved), if it is.
    async fn start(&mut self, f: String, fault: &Fault) -> (Record, Option<InForce>) {
        let kind = fault.kind().name();
        let in_force = |fault: &Fault| Some(InForce::Fault(fault.clone()));
        match fault {
            Fault::Partition { grudge, .. } => {
                let value = json!({ "fault": kind, "grudge": grudge });
                match self.network.set_grudge(grudge.clone()) {
                    Ok(()) => {
                        let record = Record { f, value, took_effect: !grudge.is_empty(), error: None };
                        (record, in_force(fault))
                    }
                    Err(e) => (Record::not_taken(f, value, format!("{e:#}")), None),
                }
            }
            Fault::PartitionLeader => match self.find_leader().await {
                Some((leader, term)) => {
                    let grudge = partitions::isolate(&self.supervisor.node_ids(), leader);
                    let value = json!({ "fault": kind, "leader": leader, "term": term, "grudge": grudge });
                    match self.network.set_grudge(grudge.clone()) {
                        Ok(()) => {
                            let resolved = Fault::Partition { kind: FaultKind::PartitionLeader, grudge };
                            (Record { f, value, took_effect: true, error: None }, in_force(&resolved))
                        }
                        Err(e) => (Record::not_taken(f, value, format!("{e:#}")), None),
                    }
                }
                None => {
                    let value = json!({ "fault": kind });
                    let error = "no node claims to lead";
                    (Record::not_taken(f, value, error), None)
                }
            },
            Fault::Failover => self.fail_over(f).await,
            Fault::KillLeader | Fault::PauseLeader => {
                let Some((leader, term)) = self.find_leader().await else {
                    let error = "no node claims to lead";
                    return (Record::not_taken(f, json!({ "fault": kind }), error), None);
                };
                let nodes = vec![leader];
                let pause = matches!(fault, Fault::PauseLeader);
                let (done, errors) = if pause {
                    for_each(&nodes, |id| self.supervisor.pause(id))
                } else {
                    for_each(&nodes, |id| self.supervisor.kill(id))
                };
                let verb = if pause { "paused" } else { "killed" };
                let value =
                    json!({ "fault": kind, "leader": leader, "term": term, "nodes": nodes, verb: done });
                let took_effect = !done.is_empty();
                let resolved = if pause {
                    Fault::Pause { nodes }
                } else {
                    Fault::Kill { kind: FaultKind::KillLeader, nodes }
                };
                let record = Record { f, value, took_effect, error: join_errors(errors) };
                (record, if took_effect { in_force(&resolved) } else { None })
            }
            Fault::Hold { links, hold_ms, shuffle_seed } => {
                let value = json!({
                    "fault": kind, "links": links, "hold_ms": hold_ms, "shuffled": shuffle_seed.is_some()
                });
                match self.network.hold(links, Duration::from_millis(*hold_ms), *shuffle_seed) {
                    Ok(()) => {
                        (Record { f, value, took_effect: !links.is_empty(), error: None }, in_force(fault))
                    }
                    Err(e) => (Record::not_taken(f, value, format!("{e:#}")), None),
                }
            }
            Fault::Clock { node, skew } => self.skew_clock(f, *node, *skew).await,
            Fault::Link { faults, .. } => {
                let value = json!({ "fault": kind, "link_faults": faults });
                match self.network.set_all_link_faults(*faults) {
                    Ok(()) => {
                        (Record { f, value, took_effect: !faults.is_none(), error: None }, in_force(fault))
                    }
                    Err(e) => (Record::not_taken(f, value, format!("{e:#}")), None),
                }
            }
            Fault::Kill { nodes, .. } => {
                let (done, errors) = for_each(nodes, |id| self.supervisor.kill(id));
                let value = json!({ "fault": kind, "nodes": nodes, "killed": done });
                let took_effect = !done.is_empty();
                let record = Record { f, value, took_effect, error: join_errors(errors) };
                (record, if took_effect { in_force(fault) } else { None })
            }
            Fault::Pause { nodes } => {
                let (done, errors) = for_each(nodes, |id| self.supervisor.pause(id));
                let value = json!({ "fault": kind, "nodes": nodes, "paused": done });
                let took_effect = !done.is_empty();
                let record = Record { f, value, took_effect, error: join_errors(errors) };
                (record, if took_effect { in_force(fault) } else { None })
            }
            Fault::LoseDisk { node } => {
                match self.check_lose_disk(*node).and_then(|()| self.supervisor.lose_disk(*node)) {
                    Ok(was_alive) => {
                        self.wiped.insert(*node);
                        let value =
                            json!({ "fault": kind, "node": node, "killed": was_alive, "wiped": true });
                        (Record { f, value, took_effect: true, error: None }, in_force(fault))
                    }
                    Err(e) => {
                        let value = json!({ "fault": kind, "node": node });
                        (Record::not_taken(f, value, format!("{e:#}")), None)
                    }
                }
            }
        }
    }

    /// Ask the system whether `id` may lose its disk; without an operator it may.
    fn check_lose_disk(&self, id: NodeId) -> anyhow::Result<()> {
        self.operator.as_ref().map_or(Ok(()), |operator| operator.check_lose_disk(id))
    }

    /// The operator's failover: find the primary, cut it off, promote the lowest other id,
    /// point the remaining nodes at it. In force as soon as the cut and the promotion
    /// happened; a replica that could not be repointed is reported, not fatal.
    async fn fail_over(&mut self, f: String) -> (Record, Option<InForce>) {
        let kind = FaultKind::Failover.name();
        let Some(operator) = self.operator.clone() else {
            let error = "this system has no operator failover";
            return (Record::not_taken(f, json!({ "fault": kind }), error), None);
        };
        let Some((old, _)) = self.find_leader().await else {
            let error = "no node claims to be primary";
            return (Record::not_taken(f, json!({ "fault": kind }), error), None);
        };
        let ids = self.supervisor.node_ids();
        let Some(promoted) = ids.iter().copied().find(|&id| id != old) else {
            let error = "no other node to promote";
            return (Record::not_taken(f, json!({ "fault": kind, "primary": old }), error), None);
        };
        let grudge = partitions::isolate(&ids, old);
        let mut value = json!({ "fault": kind, "primary": old, "promoted": promoted, "grudge": grudge });
        if let Err(e) = self.network.set_grudge(grudge) {
            return (Record::not_taken(f, value, format!("cut off {old}: {e:#}")), None);
        }
        let timeout = self.config.status_timeout;
        if let Err(e) = operator.promote(promoted, timeout).await {
            let healed = self.network.heal();
            let mut error = format!("promote {promoted}: {e:#}");
            if let Err(h) = healed {
                error.push_str(&format!("; heal: {h:#}"));
            }
            return (Record::not_taken(f, value, error), None);
        }
        let mut repointed = Vec::new();
        let mut errors = Vec::new();
        for &id in ids.iter().filter(|&&id| id != old && id != promoted) {
            match operator.follow(id, promoted, timeout).await {
                Ok(()) => repointed.push(id),
                Err(e) => errors.push(format!("repoint {id}: {e:#}")),
            }
        }
        value["repointed"] = json!(repointed);
        let record = Record { f, value, took_effect: true, error: join_errors(errors) };
        (record, Some(InForce::FailedOver { old, promoted }))
    }

    /// Skew one node's clock: the named node, or the leader found now.
    async fn skew_clock(
        &mut self,
        f: String,
        node: Option<NodeId>,
        skew: ClockSkew,
    ) -> (Record, Option<InForce>) {
        let kind = FaultKind::Clock.name();
        let mut value = json!({ "fault": kind, "skew": skew });
        let Some(clocks) = self.clocks.clone() else {
            return (Record::not_taken(f, value, "this run has no way to skew clocks"), None);
        };
        let id = match node {
            Some(id) => id,
            None => match self.find_leader().await {
                Some((leader, term)) => {
                    value["leader"] = json!(leader);
                    value["term"] = json!(term);
                    leader
                }
                None => return (Record::not_taken(f, value, "no node claims to lead"), None),
            },
        };
        value["node"] = json!(id);
        match skew.apply(clocks.as_ref(), id, self.config.status_timeout).await {
            Ok(()) => {
                let resolved = Fault::Clock { node: Some(id), skew };
                (Record { f, value, took_effect: true, error: None }, Some(InForce::Fault(resolved)))
            }
            Err(e) => {
                // A strobe may have flipped some times before failing: put the clock back.
                let _ = clocks.skew_clock(id, ClockChange::Reset, self.config.status_timeout).await;
                (Record::not_taken(f, value, format!("{e:#}")), None)
            }
        }
    }

    async fn stop(&mut self, f: String, in_force: &InForce) -> Record {
        let fault = match in_force {
            InForce::Fault(fault) => fault,
            InForce::FailedOver { old, promoted } => {
                let kind = FaultKind::Failover.name();
                let mut errors = Vec::new();
                if let Err(e) = self.network.heal() {
                    errors.push(format!("heal: {e:#}"));
                }
                let demoted = match &self.operator {
                    Some(operator) => {
                        match operator.follow(*old, *promoted, self.config.status_timeout).await {
                            Ok(()) => true,
                            Err(e) => {
                                errors.push(format!("make {old} follow {promoted}: {e:#}"));
                                false
                            }
                        }
                    }
                    None => false,
                };
                let value = json!({ "fault": kind, "primary": promoted, "demoted": demoted.then_some(*old) });
                return Record { f, value, took_effect: true, error: join_errors(errors) };
            }
        };
        let kind = fault.kind().name();
        match fault {
            Fault::Hold { .. } => {
                // Frames already kept still leave at their time; no new frame is kept.
                let value = json!({ "fault": kind });
                match self.network.clear_holds() {
                    Ok(()) => Record { f, value, took_effect: true, error: None },
                    Err(e) => Record::not_taken(f, value, format!("{e:#}")),
                }
            }
            Fault::Partition { .. } | Fault::PartitionLeader | Fault::Failover => {
                let was_cut = !self.network.grudge().is_empty();
                let value = json!({ "fault": kind, "grudge": Grudge::none() });
                match self.network.heal() {
                    Ok(()) => Record { f, value, took_effect: was_cut, error: None },
                    Err(e) => Record::not_taken(f, value, format!("{e:#}")),
                }
            }
            Fault::Link { .. } => {
                let value = json!({ "fault": kind });
                match self.network.clear_link_faults() {
                    Ok(()) => Record { f, value, took_effect: true, error: None },
                    Err(e) => Record::not_taken(f, value, format!("{e:#}")),
                }
            }
            // Resolved when they started: a kill or pause of the leader of then.
            Fault::KillLeader | Fault::PauseLeader => {
                Record::not_taken(f, json!({ "fault": kind }), "the fault was not resolved")
            }
            Fault::Kill { nodes, .. } => {
                let (done, errors) = self.restart_all(nodes).await;
                let value = json!({ "fault": kind, "nodes": nodes, "restarted": done });
                Record { f, value, took_effect: !done.is_empty(), error: join_errors(errors) }
            }
            Fault::LoseDisk { node } => {
                let (done, errors) = self.restart_all(&[*node]).await;
                let value = json!({ "fault": kind, "node": node, "restarted": done });
                Record { f, value, took_effect: !done.is_empty(), error: join_errors(errors) }
            }
            Fault::Clock { node, .. } => {
                let value = json!({ "fault": kind, "node": node });
                let (Some(id), Some(clocks)) = (node, &self.clocks) else {
                    return Record::not_taken(f, value, "the clock fault had no node to reset");
                };
                match clocks.skew_clock(*id, ClockChange::Reset, self.config.status_timeout).await {
                    Ok(()) => Record { f, value, took_effect: true, error: None },
                    Err(e) => Record::not_taken(f, value, format!("{e:#}")),
                }
            }
            Fault::Pause { nodes } => {
                let (done, errors) = for_each(nodes, |id| self.supervisor.resume(id));
                let value = json!({ "fault": kind, "nodes": nodes, "resumed": done });
                Record { f, value, took_effect: !done.is_empty(), error: join_errors(errors) }
            }
        }
    }

    /// Restart each node: all are started first, then each waited for, so a cluster that
    /// needs a quorum to answer `/health` can form one. A node whose disk was lost is first
    /// readmitted by the system's operator; one the operator could not readmit stays down.
    async fn restart_all(&mut self, nodes: &[NodeId]) -> (Vec<NodeId>, Vec<String>) {
        let mut started = Vec::new();
        let mut errors = Vec::new();
        for &id in nodes {
            if self.supervisor.state(id).is_alive() {
                continue;
            }
            if let (true, Some(operator)) = (self.wiped.contains(&id), &self.operator) {
                if let Err(e) = operator.readmit(id, self.config.health_deadline).await {
                    errors.push(format!("node {id}: readmit it after its disk was lost: {e:#}"));
                    continue;
                }
            }
            match self.supervisor.start(id) {
                Ok(()) => started.push(id),
                Err(e) => errors.push(format!("node {id}: {e:#}")),
            }
        }
        let until = Instant::now() + self.config.health_deadline;
        let mut done = Vec::new();
        for id in started {
            let left = until.saturating_duration_since(Instant::now());
            match self.supervisor.wait_healthy(id, left).await {
                Ok(()) => {
                    self.wiped.remove(&id);
                    done.push(id);
                }
                Err(e) => errors.push(format!("node {id}: {e:#}")),
            }
        }
        (done, errors)
    }

    /// The node that claims to lead with the highest term, from every node's `/status`.
    /// Ties in the highest term (split brain) go to the lowest id.
    async fn find_leader(&self) -> Option<(NodeId, u64)> {
        let mut asks = tokio::task::JoinSet::new();
        for id in self.supervisor.node_ids() {
            let supervisor = self.supervisor.clone();
            let timeout = self.config.status_timeout;
            asks.spawn(async move { supervisor.status(id, timeout).await.ok() });
        }
        let mut best: Option<(u64, std::cmp::Reverse<NodeId>)> = None;
        while let Some(answer) = asks.join_next().await {
            if let Ok(Some(status)) = answer {
                if status.role.is_leading() {
                    let candidate = (status.term, std::cmp::Reverse(status.id));
                    best = best.max(Some(candidate));
                }
            }
        }
        best.map(|(term, std::cmp::Reverse(id))| (id, term))
    }
}

impl InForce {
    fn family(&self) -> &'static str {
        match self {
            InForce::Fault(fault) => fault.family(),
            InForce::FailedOver { .. } => "failover",
        }
    }
}

/// Apply `op` to each node; the nodes where it took effect, and the errors.
fn for_each(
    nodes: &[NodeId],
    mut op: impl FnMut(NodeId) -> anyhow::Result<bool>,
) -> (Vec<NodeId>, Vec<String>) {
    let mut done = Vec::new();
    let mut errors = Vec::new();
    for &id in nodes {
        match op(id) {
            Ok(true) => done.push(id),
            Ok(false) => {}
            Err(e) => errors.push(format!("node {id}: {e:#}")),
        }
    }
    (done, errors)
}

fn join_errors(errors: Vec<String>) -> Option<String> {
    (!errors.is_empty()).then(|| errors.join("; "))
}
