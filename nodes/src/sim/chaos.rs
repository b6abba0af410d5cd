//! Seeded fault schedules and a client workload, for tests that run a protocol through many
//! random histories ("never loses a write over 200 schedules").
//!
//! Both draw from the simulation's one random source, so a seed fixes the schedule, the
//! workload and the network together. [`run_chaos`] ties them into one run: clients keep
//! operations going while a fault is injected every so often, then everything is healed
//! and the run waits for the cluster to settle, so that the final state can be judged.

use std::collections::BTreeSet;

use serde_json::json;

use super::network::{Grudges, NetConfig, StaleMessages};
use super::simulator::{OpId, OpState, Sim};
use crate::api::{ErrorCode, NodeId, Request};
use crate::protocol::Protocol;

/// Which faults a random schedule may inject.
#[derive(Debug, Clone, PartialEq)]
pub struct FaultMix {
    /// Isolate a node, split the cluster in two, or cut one direction of a link.
    pub partitions: bool,
    /// Crash a node (it restarts later from its records).
    pub crashes: bool,
    /// Raise loss, duplication and delay.
    pub lossy_network: bool,
    /// Most nodes down at once.
    pub max_down: usize,
}

impl FaultMix {
    /// Every kind of fault, with up to a minority of `members` down at once.
    pub fn all(members: usize) -> Self {
        FaultMix {
            partitions: true,
            crashes: true,
            lossy_network: true,
            max_down: members.saturating_sub(1) / 2,
        }
    }
}

/// One fault the schedule applied.
#[derive(Debug, Clone, PartialEq)]
pub enum Fault {
    Partition(Grudges),
    Heal,
    Crash(NodeId),
    Restart(NodeId),
    Network(NetConfig),
}

impl<P: Protocol> Sim<P> {
    /// Draw one fault allowed by `mix` from the run's random source and apply it.
    pub fn random_fault(&mut self, mix: &FaultMix) -> Fault {
        let members = self.members().to_vec();
        let down: Vec<NodeId> = members.iter().copied().filter(|&n| !self.is_up(n)).collect();
        let mut choices: Vec<u8> = vec![0]; // heal
        if mix.partitions && members.len() > 1 {
            choices.extend([1, 2, 3]);
        }
        if mix.crashes && down.len() < mix.max_down {
            choices.push(4);
        }
        if !down.is_empty() {
            choices.push(5);
        }
        if mix.lossy_network {
            choices.push(6);
        }
        let pick = choices[self.random_between(0, choices.len() as u64 - 1) as usize];
        let any =
            |sim: &mut Self, from: &[NodeId]| from[sim.random_between(0, from.len() as u64 - 1) as usize];
        match pick {
            1 => {
                let node = any(self, &members);
                let g = Grudges::isolate(node, &members);
                self.partition(g.clone());
                Fault::Partition(g)
            }
            2 => {
                let mut shuffled = members.clone();
                for i in (1..shuffled.len()).rev() {
                    let j = self.random_between(0, i as u64) as usize;
                    shuffled.swap(i, j);
                }
                let cut = shuffled.len() / 2;
                let g = Grudges::split(&[&shuffled[..cut], &shuffled[cut..]]);
                self.partition(g.clone());
                Fault::Partition(g)
            }
            3 => {
                let from = any(self, &members);
                let others: Vec<NodeId> = members.iter().copied().filter(|&m| m != from).collect();
                let to = any(self, &others);
                let mut g = self.grudges().clone();
                g.cut_one_way(from, to);
                self.partition(g.clone());
                Fault::Partition(g)
            }
            4 => {
                let up: Vec<NodeId> = members.iter().copied().filter(|&n| self.is_up(n)).collect();
                let node = any(self, &up);
                self.crash(node);
                Fault::Crash(node)
            }
            5 => {
                let node = any(self, &down);
                self.restart(node);
                Fault::Restart(node)
            }
            6 => {
                let delay_max_ms = self.random_between(1, 100);
                let network = NetConfig {
                    delay_min_ms: 1,
                    delay_max_ms,
                    loss: self.random_between(0, 30) as f64 / 100.0,
                    duplicate: self.random_between(0, 10) as f64 / 100.0,
                };
                self.set_network(network.clone());
                Fault::Network(network)
            }
            _ => {
                self.heal();
                Fault::Heal
            }
        }
    }

    /// Undo every fault: no partition, a healthy network, every node up and running.
    pub fn heal_all(&mut self) {
        self.heal();
        self.set_network(NetConfig::default());
        if self.stale_messages() != &StaleMessages::none() {
            self.set_stale_messages(StaleMessages::none());
        }
        for node in self.members().to_vec() {
            self.resume(node);
            self.restart(node);
        }
    }
}

/// The operations a [`Clients`] workload issues.
#[derive(Debug, Clone, PartialEq)]
pub struct WorkloadMix {
    /// Registers `r0..r{registers}`: reads, writes of unique values, and cas.
    pub registers: usize,
    /// One set `s`: adds of unique elements (reads of it are left to the final check).
    pub set_adds: bool,
}

impl Default for WorkloadMix {
    fn default() -> Self {
        WorkloadMix { registers: 3, set_adds: true }
    }
}

/// Concurrent clients, each with at most one operation in flight. A client follows
/// `not_leader` hints; after any other failure it tries a random node next.
#[derive(Debug, Clone)]
pub struct Clients {
    mix: WorkloadMix,
    /// Per client: the node it talks to and its operation in flight.
    slots: Vec<(NodeId, Option<OpId>)>,
    next_value: i64,
}

impl Clients {
    pub fn new(count: usize, mix: WorkloadMix, first_node: NodeId) -> Self {
        assert!(count > 0, "Clients::new: at least one client");
        Clients { mix, slots: vec![(first_node, None); count], next_value: 1 }
    }

    /// Give every idle client its next operation (and retarget after its last answer).
    pub fn tick<P: Protocol>(&mut self, sim: &mut Sim<P>) {
        for i in 0..self.slots.len() {
            if let Some(op) = self.slots[i].1 {
                match &sim.op(op).state {
                    OpState::Pending => continue,
                    OpState::Fail(e) if e.code == ErrorCode::NotLeader && e.leader.is_some() => {
                        self.slots[i].0 = e.leader.expect("checked");
                    }
                    OpState::Ok(_) => {}
                    _ => {
                        let members = sim.members().to_vec();
                        self.slots[i].0 = members[sim.random_between(0, members.len() as u64 - 1) as usize];
                    }
                }
            }
            let request = self.next_request(sim);
            let target = self.slots[i].0;
            self.slots[i].1 = Some(sim.submit(target, request));
        }
    }

    fn next_request<P: Protocol>(&mut self, sim: &mut Sim<P>) -> Request {
        let value = self.next_value;
        self.next_value += 1;
        let kinds = if self.mix.set_adds { 4 } else { 3 };
        let kind = if self.mix.registers == 0 { 3 } else { sim.random_between(0, kinds - 1) };
        let key = || format!("r{}", sim_key(value, self.mix.registers));
        match kind {
            0 => Request::Get { key: key() },
            1 => Request::Put { key: key(), value },
            2 => Request::Cas { key: key(), from: value - sim.random_between(1, 8) as i64, to: value },
            _ => Request::SetAdd { key: SET_KEY.into(), element: value },
        }
    }
}

fn sim_key(value: i64, registers: usize) -> i64 {
    value.rem_euclid(registers.max(1) as i64)
}

/// How a chaos run is shaped.
#[derive(Debug, Clone)]
pub struct ChaosPlan {
    pub clients: usize,
    pub workload: WorkloadMix,
    pub faults: FaultMix,
    /// How long clients and faults run.
    pub duration_ms: u64,
    /// A fault is drawn every this many milliseconds (0: never).
    pub fault_every_ms: u64,
    /// After healing, how long the cluster gets to settle before the run ends.
    pub settle_ms: u64,
}

/// Run `plan` against `sim`: clients and faults for `duration_ms`, then heal everything,
/// let the cluster settle (clients stop issuing; in-flight operations finish or time out)
/// and make the [`final_reads`]. Returns the faults applied, for failure messages.
pub fn run_chaos<P: Protocol>(sim: &mut Sim<P>, plan: &ChaosPlan) -> Vec<Fault> {
    let first = sim.members()[0];
    let mut clients = Clients::new(plan.clients, plan.workload.clone(), first);
    let mut faults = Vec::new();
    let start = sim.now_ms();
    let mut next_fault = start + plan.fault_every_ms;
    const SLICE_MS: u64 = 5;
    while sim.now_ms() < start + plan.duration_ms {
        clients.tick(sim);
        sim.run_for(SLICE_MS);
        if plan.fault_every_ms > 0 && sim.now_ms() >= next_fault {
            faults.push(sim.random_fault(&plan.faults));
            next_fault += plan.fault_every_ms;
        }
    }
    sim.heal_all();
    sim.run_for(plan.settle_ms);
    final_reads(sim, &plan.workload);
    faults
}

/// Read every key of the workload once more after healing, as ordinary operations in the
/// history (what Jepsen calls final reads): a lost write shows as a read that misses it.
pub fn final_reads<P: Protocol>(sim: &mut Sim<P>, workload: &WorkloadMix) {
    let first = sim.members()[0];
    let mut reads: Vec<Request> =
        (0..workload.registers).map(|r| Request::Get { key: format!("r{r}") }).collect();
    if workload.set_adds {
        reads.push(Request::SetRead { key: SET_KEY.into() });
    }
    for read in reads {
        sim.call_leader(first, read);
    }
}

/// The key of the workload's set.
pub const SET_KEY: &str = "s";

/// Elements of set `s` whose add ended `ok`, and those whose add ended `fail`.
pub fn set_adds_by_outcome<P: Protocol>(sim: &Sim<P>) -> (BTreeSet<i64>, BTreeSet<i64>) {
    let mut ok = BTreeSet::new();
    let mut failed = BTreeSet::new();
    for op in sim.ops() {
        if let Request::SetAdd { element, .. } = op.request {
            match op.state {
                OpState::Ok(_) => {
                    ok.insert(element);
                }
                OpState::Fail(_) => {
                    failed.insert(element);
                }
                _ => {}
            }
        }
    }
    (ok, failed)
}

/// For the failure message of a chaos test: the faults, compactly.
pub fn describe_faults(faults: &[Fault]) -> String {
    let parts: Vec<String> = faults
        .iter()
        .map(|f| match f {
            Fault::Partition(g) => format!("partition {}", json!(g.refuses)),
            Fault::Heal => "heal".into(),
            Fault::Crash(n) => format!("crash {n}"),
            Fault::Restart(n) => format!("restart {n}"),
            Fault::Network(n) => format!("net loss {} dup {} delay<={}", n.loss, n.duplicate, n.delay_max_ms),
        })
        .collect();
    parts.join(", ")
}
