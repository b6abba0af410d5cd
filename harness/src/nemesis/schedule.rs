//! The fault schedule: a timed list of fault starts and stops, generated from the run's
//! seed and written to `schedule.json`, so a run can be replayed fault for fault.
//!
//! Faults do not overlap: after each interval of calm one fault starts, and it stops one
//! interval later (Jepsen's default rhythm; a killed leader comes back sooner, see
//! [`KILL_LEADER_DOWN_MAX_MS`], and so do half the paused nodes, see
//! [`SHORT_PAUSE_PER_MILLE`]). That keeps every window of the history
//! attributable to exactly one fault. Targets are chosen at generation time (which half,
//! which node to kill, which links hold their frames and for how long), so a replayed
//! schedule hits the same nodes; only the faults aimed by role (`partition-leader`,
//! `kill-leader`, `pause-leader`, `failover`, a `clock` fault aimed at the leader) are
//! resolved when they run, because the leader is a fact of that run.

use nodes::api::NodeId;
use rand::seq::SliceRandom;
use rand::Rng;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use super::clock::ClockSkew;
use super::kinds::FaultKind;
use super::partitions;
use crate::net::{Grudge, LinkFaults};

/// Longest hold a schedule file may ask for.
pub const HOLD_LIMIT_MS: u64 = 600_000;

/// Upper bound on steps in one schedule.
pub const MAX_STEPS: usize = 100_000;

/// Link fault parameters used by generated schedules.
pub const LATENCY_DELAY_MS: u64 = 50;
pub const LATENCY_JITTER_MS: u64 = 50;
pub const LOSS_PROBABILITY: f64 = 0.2;
pub const DUPLICATE_PROBABILITY: f64 = 0.2;
pub const REORDER_PROBABILITY: f64 = 0.2;
/// How long a `hold` keeps frames: drawn in this range, well past every election timeout.
pub const HOLD_MIN_MS: u64 = 1_000;
pub const HOLD_MAX_MS: u64 = 5_000;
/// A killed leader is restarted at most this long after its kill, however long the
/// interval: the fault is about the old leader coming back and serving with what it kept
/// while clients still run, which a restart at the end of the run would never show. Long
/// enough for any built-in protocol to elect or promote a successor first.
pub const KILL_LEADER_DOWN_MAX_MS: u64 = 2_000;
/// A pause (`pause`, `pause-leader`) is short in half the draws: it ends after this share
/// of the clients' op timeout (drawn between the two, in thousandths), so clients are still
/// waiting on the paused node when it wakes. A node paused longer than its peers'
/// failover timeout, which wakes to requests still queued, is the process pause that
/// splits a cluster's brain in practice (a garbage-collection stall): if it answers them
/// before it learns it was replaced, a protocol without quorum checks acknowledges writes
/// nobody else has. A pause that outlasts the op timeout finds no one waiting.
pub const SHORT_PAUSE_PER_MILLE: (u64, u64) = (700, 950);

/// What a schedule is generated from.
#[derive(Debug, Clone, PartialEq)]
pub struct ScheduleParams {
    pub seed: u64,
    pub kinds: Vec<FaultKind>,
    /// Calm between faults, and how long each fault lasts.
    pub interval_ms: u64,
    pub time_limit_ms: u64,
    pub nodes: Vec<NodeId>,
    /// How long a client waits for an answer (the run's op timeout): short pauses end
    /// within it (see [`SHORT_PAUSE_PER_MILLE`]).
    pub client_timeout_ms: u64,
}

/// A generated (or loaded) schedule. `schedule.json` is this, serialized.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Schedule {
    pub seed: u64,
    pub kinds: Vec<FaultKind>,
    pub interval_ms: u64,
    pub time_limit_ms: u64,
    pub nodes: Vec<NodeId>,
    /// Ordered by `at_ms`.
    pub steps: Vec<Step>,
}

/// One start or stop of a fault, `at_ms` after the workload began.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Step {
    pub at_ms: u64,
    /// Pairs a stop with its start.
    pub id: u32,
    pub action: Action,
    pub fault: Fault,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    Start,
    Stop,
}

/// A fault with its targets decided.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "kebab-case", deny_unknown_fields)]
pub enum Fault {
    /// A partition with a fixed grudge (every partition kind but `partition-leader`).
    Partition { kind: FaultKind, grudge: Grudge },
    /// Cut off whichever node leads when the step runs.
    PartitionLeader,
    /// Faults on every link (latency, loss, duplicate or reorder).
    Link { kind: FaultKind, faults: LinkFaults },
    /// kill -9 these nodes; the stop restarts them.
    Kill { kind: FaultKind, nodes: Vec<NodeId> },
    /// SIGSTOP these nodes; the stop resumes them.
    Pause { nodes: Vec<NodeId> },
    /// Kill and wipe this node; the stop restarts it empty, having forgotten its votes and
    /// promises (outside the consensus protocols' model: see [`FaultKind::LoseDisk`]).
    LoseDisk { node: NodeId },
    /// Cut off whichever node is primary when the step runs and promote another (see
    /// [`FaultKind::Failover`]).
    Failover,
    /// kill -9 whichever node leads when the step runs; the stop restarts it.
    KillLeader,
    /// SIGSTOP whichever node leads when the step runs; the stop resumes it.
    PauseLeader,
    /// Keep the frames sent on these directed links for `hold_ms` from the start, then
    /// deliver them, shuffled by `shuffle_seed` if it is set, else in order.
    Hold { links: Vec<(NodeId, NodeId)>, hold_ms: u64, shuffle_seed: Option<u64> },
    /// Skew a node's clock (`node` absent: whichever node leads when the step runs); the
    /// stop resets it.
    Clock {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        node: Option<NodeId>,
        skew: ClockSkew,
    },
}

impl Fault {
    pub fn kind(&self) -> FaultKind {
        match self {
            Fault::Partition { kind, .. } | Fault::Link { kind, .. } | Fault::Kill { kind, .. } => *kind,
            Fault::PartitionLeader => FaultKind::PartitionLeader,
            Fault::Pause { .. } => FaultKind::Pause,
            Fault::LoseDisk { .. } => FaultKind::LoseDisk,
            Fault::Failover => FaultKind::Failover,
            Fault::KillLeader => FaultKind::KillLeader,
            Fault::PauseLeader => FaultKind::PauseLeader,
            Fault::Hold { .. } => FaultKind::Hold,
            Fault::Clock { .. } => FaultKind::Clock,
        }
    }

    /// The family named in the history's `f`: `partition`, `latency`, `loss`,
    /// `duplicate`, `reorder`, `kill`, `pause`, `lose-disk`, `failover`, `hold`, `clock`.
    pub fn family(&self) -> &'static str {
        match self {
            Fault::Partition { .. } | Fault::PartitionLeader => "partition",
            Fault::Link { kind, .. } => kind.name(),
            Fault::Kill { .. } | Fault::KillLeader => "kill",
            Fault::Pause { .. } | Fault::PauseLeader => "pause",
            Fault::LoseDisk { .. } => "lose-disk",
            Fault::Failover => "failover",
            Fault::Hold { .. } => "hold",
            Fault::Clock { .. } => "clock",
        }
    }
}

impl Step {
    /// The history's `f`: `start-partition`, `stop-kill`, ...
    pub fn f(&self) -> String {
        let verb = match self.action {
            Action::Start => "start",
            Action::Stop => "stop",
        };
        format!("{verb}-{}", self.fault.family())
    }
}

impl Schedule {
    /// Generate a schedule. The same parameters always give the same schedule.
    pub fn generate(params: &ScheduleParams) -> Result<Schedule, String> {
        if params.interval_ms == 0 {
            return Err("the nemesis interval must be positive".into());
        }
        let mut nodes = params.nodes.clone();
        nodes.sort_unstable();
        nodes.dedup();
        if nodes.is_empty() && !params.kinds.is_empty() {
            return Err("a schedule with faults needs at least one node".into());
        }
        let mut kinds = params.kinds.clone();
        kinds.sort_unstable();
        kinds.dedup();
        let mut rng = ChaCha8Rng::seed_from_u64(params.seed);
        let mut steps = Vec::new();
        let mut at_ms = params.interval_ms;
        let mut id = 0u32;
        while !kinds.is_empty() && at_ms.saturating_add(params.interval_ms) <= params.time_limit_ms {
            if steps.len() + 2 > MAX_STEPS {
                return Err(format!("more than {MAX_STEPS} steps: raise the nemesis interval"));
            }
            let kind = *kinds.choose(&mut rng).expect("kinds is not empty");
            let fault = concrete(kind, &nodes, params.interval_ms, &mut rng);
            steps.push(Step { at_ms, id, action: Action::Start, fault: fault.clone() });
            let stop_ms = at_ms + duration_ms(&fault, params, &mut rng);
            steps.push(Step { at_ms: stop_ms, id, action: Action::Stop, fault });
            id += 1;
            at_ms = at_ms.saturating_add(2 * params.interval_ms);
        }
        Ok(Schedule {
            seed: params.seed,
            kinds,
            interval_ms: params.interval_ms,
            time_limit_ms: params.time_limit_ms,
            nodes,
            steps,
        })
    }

    /// The kind of every fault its steps start or stop (a hand-edited schedule may hold
    /// kinds its `kinds` do not name).
    pub fn drawn_kinds(&self) -> impl Iterator<Item = FaultKind> + '_ {
        self.steps.iter().map(|step| step.fault.kind())
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).expect("a schedule serializes")
    }

    /// Parse and check a schedule (e.g. `--schedule FILE`).
    pub fn from_json(text: &str) -> Result<Schedule, String> {
        let schedule: Schedule = serde_json::from_str(text).map_err(|e| format!("bad schedule: {e}"))?;
        schedule.validate()?;
        Ok(schedule)
    }

    /// Steps in time order, targets among the schedule's nodes, probabilities in range.
    pub fn validate(&self) -> Result<(), String> {
        if self.steps.len() > MAX_STEPS {
            return Err(format!("bad schedule: more than {MAX_STEPS} steps"));
        }
        let known = |n: &NodeId| self.nodes.contains(n);
        for (i, step) in self.steps.iter().enumerate() {
            let err = |m: String| Err(format!("bad schedule: step {i}: {m}"));
            if i > 0 && step.at_ms < self.steps[i - 1].at_ms {
                return err("steps are not in time order".into());
            }
            match &step.fault {
                Fault::Partition { grudge, .. } => {
                    if let Some(n) =
                        grudge.0.iter().flat_map(|(k, v)| std::iter::once(k).chain(v)).find(|n| !known(n))
                    {
                        return err(format!("node {n} is not in the schedule's nodes"));
                    }
                }
                Fault::Link { faults, .. } => {
                    if let Err(e) = faults.validate() {
                        return err(e);
                    }
                }
                Fault::Kill { nodes, .. } | Fault::Pause { nodes } => {
                    if let Some(n) = nodes.iter().find(|n| !known(n)) {
                        return err(format!("node {n} is not in the schedule's nodes"));
                    }
                }
                Fault::LoseDisk { node } => {
                    if !known(node) {
                        return err(format!("node {node} is not in the schedule's nodes"));
                    }
                }
                Fault::Hold { links, hold_ms, .. } => {
                    if let Some((a, b)) = links.iter().find(|(a, b)| !known(a) || !known(b) || a == b) {
                        return err(format!("link {a}->{b} is not between two of the schedule's nodes"));
                    }
                    if !(1..=HOLD_LIMIT_MS).contains(hold_ms) {
                        return err(format!("hold_ms {hold_ms} is outside 1..={HOLD_LIMIT_MS}"));
                    }
                }
                Fault::Clock { node, skew } => {
                    if let Some(n) = node.filter(|n| !known(n)) {
                        return err(format!("node {n} is not in the schedule's nodes"));
                    }
                    if let Err(e) = skew.validate() {
                        return err(e);
                    }
                }
                Fault::PartitionLeader | Fault::Failover | Fault::KillLeader | Fault::PauseLeader => {}
            }
        }
        Ok(())
    }
}

/// How long a generated fault lasts: one interval, but a killed leader comes back within
/// [`KILL_LEADER_DOWN_MAX_MS`], and half the pauses end while clients still wait on the
/// paused node ([`SHORT_PAUSE_PER_MILLE`]).
fn duration_ms(fault: &Fault, params: &ScheduleParams, rng: &mut ChaCha8Rng) -> u64 {
    let interval_ms = params.interval_ms;
    match fault {
        Fault::KillLeader => interval_ms.min(KILL_LEADER_DOWN_MAX_MS),
        Fault::Pause { .. } | Fault::PauseLeader if rng.gen_bool(0.5) => {
            let (low, high) = SHORT_PAUSE_PER_MILLE;
            let per_mille = rng.gen_range(low..=high);
            let short = params.client_timeout_ms.saturating_mul(per_mille) / 1000;
            interval_ms.min(short.max(1))
        }
        _ => interval_ms,
    }
}

fn concrete(kind: FaultKind, nodes: &[NodeId], interval_ms: u64, rng: &mut ChaCha8Rng) -> Fault {
    let any = |rng: &mut ChaCha8Rng| *nodes.choose(rng).expect("nodes is not empty");
    let partition = |grudge| Fault::Partition { kind, grudge };
    let link = |faults| Fault::Link { kind, faults };
    let none = LinkFaults::default();
    match kind {
        FaultKind::PartitionHalves => partition(partitions::halves(nodes)),
        FaultKind::PartitionRandomHalves => partition(partitions::random_halves(nodes, rng)),
        FaultKind::PartitionOne => partition(partitions::isolate(nodes, any(rng))),
        FaultKind::PartitionLeader => Fault::PartitionLeader,
        FaultKind::PartitionRing => partition(partitions::majorities_ring(nodes, rng)),
        FaultKind::PartitionBridge => partition(partitions::bridge(nodes, rng)),
        FaultKind::PartitionOneWay => partition(partitions::one_way(nodes, rng)),
        FaultKind::Latency => {
            link(LinkFaults { delay_ms: LATENCY_DELAY_MS, jitter_ms: LATENCY_JITTER_MS, ..none })
        }
        FaultKind::Loss => link(LinkFaults { drop: LOSS_PROBABILITY, ..none }),
        FaultKind::Duplicate => link(LinkFaults { duplicate: DUPLICATE_PROBABILITY, ..none }),
        FaultKind::Reorder => link(LinkFaults { reorder: REORDER_PROBABILITY, ..none }),
        FaultKind::Kill => Fault::Kill { kind, nodes: vec![any(rng)] },
        FaultKind::KillAll => Fault::Kill { kind, nodes: nodes.to_vec() },
        FaultKind::Pause => Fault::Pause { nodes: vec![any(rng)] },
        FaultKind::LoseDisk => Fault::LoseDisk { node: any(rng) },
        FaultKind::Failover => Fault::Failover,
        FaultKind::KillLeader => Fault::KillLeader,
        FaultKind::PauseLeader => Fault::PauseLeader,
        FaultKind::KillMinority => {
            let count = ((nodes.len().saturating_sub(1)) / 2).max(1);
            Fault::Kill { kind, nodes: pick(nodes, count, rng) }
        }
        FaultKind::KillMajority => Fault::Kill { kind, nodes: pick(nodes, nodes.len() / 2 + 1, rng) },
        FaultKind::Hold => {
            let from = any(rng);
            let links = nodes.iter().filter(|&&to| to != from).map(|&to| (from, to)).collect();
            let hold_ms = rng.gen_range(HOLD_MIN_MS..=HOLD_MAX_MS);
            let shuffle_seed = rng.gen_bool(0.5).then(|| rng.gen());
            Fault::Hold { links, hold_ms, shuffle_seed }
        }
        FaultKind::Clock => {
            // The leader's clock matters most to leases; the others' to elections.
            let node = if rng.gen_bool(0.5) { None } else { Some(any(rng)) };
            Fault::Clock { node, skew: ClockSkew::draw(rng, interval_ms) }
        }
    }
}

/// `count` distinct nodes drawn at random, in id order.
fn pick(nodes: &[NodeId], count: usize, rng: &mut ChaCha8Rng) -> Vec<NodeId> {
    let mut chosen: Vec<NodeId> = nodes.choose_multiple(rng, count.min(nodes.len())).copied().collect();
    chosen.sort_unstable();
    chosen
}
