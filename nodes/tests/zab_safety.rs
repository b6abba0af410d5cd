//! Zab's safety and liveness over many seeds in the simulator, under partitions (halves,
//! isolated nodes, the isolated leader, one-way cuts), message loss, duplication, long
//! delays, pauses (SIGSTOP-like: the node keeps its state, its clock jumps) and
//! crash-restart.
//!
//! Checked on every seed:
//! - at most one leader per epoch (from every status the nodes reported);
//! - total order and agreement (DSN IV, "integrity", "total order", "agreement"): whenever a
//!   node is seen to have committed a transaction at a position, it is the same transaction
//!   every node ever committed there, and it is never lost: the final leader still holds it;
//! - every node delivers the same sequence: after healing, all stores are equal;
//! - the client history is linearizable (`checkers::check`, cas-register model per key);
//! - liveness: once healed with every node up, a leader is elected and a write succeeds
//!   within a bounded simulated time, and every node catches up.
//!
//! A failing seed is printed (`seed N: ...`); rerun it alone with
//! `FAULTLINE_SEED=N cargo test -p faultline-nodes --test zab_safety`, and keep it below as a
//! named regression test.

use std::collections::BTreeMap;

use checkers::{CheckOptions, ModelKind, Verdict};
use nodes::api::{NodeId, Request};
use nodes::protocols::zab::{Txn, Zab};
use nodes::sim::{check_seeds, Grudges, NetConfig, OpState, Sim, SimConfig};

/// How long faults and client load run, per seed, in simulated milliseconds.
const CHAOS_MS: u64 = 3_000;
/// Liveness bound: after healing, a leader and a successful write within this long.
const RECOVERY_BOUND_MS: u64 = 6_000;
/// Most client operations in flight at once (bounds the linearizability search).
const CLIENTS: usize = 4;
/// How often committed transactions are sampled on every node.
const OBSERVE_EVERY_MS: u64 = 5;

#[test]
fn seeds_0_to_250_of_faults_keep_zab_safe_and_live() {
    suite(0..250);
}

#[test]
fn seeds_250_to_500_of_faults_keep_zab_safe_and_live() {
    suite(250..500);
}

fn suite(seeds: std::ops::Range<u64>) {
    let (mut ok, mut ops) = (0usize, 0usize);
    check_seeds(seeds.clone(), |seed| {
        let (o, n) = run_seed(seed);
        ok += o;
        ops += n;
    });
    // No vacuous green: under these faults a good share of operations still succeeds.
    assert!(ok * 4 >= ops, "only {ok} of {ops} operations succeeded over seeds {seeds:?}");
}

/// One seeded run: a cluster, a fault schedule, a client load, then every check. Returns
/// how many operations succeeded, of how many.
fn run_seed(seed: u64) -> (usize, usize) {
    let mut sim = build(seed);
    let mut observer = Observer::default();
    let mut faults = Faults { down: vec![], paused: vec![], base: sim.network().clone() };
    let members = sim.members().to_vec();
    let mut next_value = 1i64;
    let mut next_op_at = 0u64;
    let mut next_fault_at = sim.random_between(200, 600);

    while sim.now_ms() < CHAOS_MS {
        let in_flight = sim.ops().iter().filter(|op| op.state.is_pending()).count();
        if sim.now_ms() >= next_op_at && in_flight < CLIENTS {
            submit_random_op(&mut sim, &members, &mut next_value);
            next_op_at = sim.now_ms() + sim.random_between(2, 25);
        }
        if sim.now_ms() >= next_fault_at {
            faults.inject(&mut sim, &members);
            next_fault_at = sim.now_ms() + sim.random_between(150, 700);
        }
        sim.run_for(OBSERVE_EVERY_MS);
        observer.observe(&sim);
    }

    // Heal everything; liveness must follow within a bound.
    faults.heal(&mut sim);
    let healed_at = sim.now_ms();
    let elected = sim.run_until(RECOVERY_BOUND_MS, |s| leader_of(s).is_some());
    assert!(elected, "no leader {RECOVERY_BOUND_MS} ms after healing");
    let mut written = false;
    while !written && sim.now_ms() < healed_at + RECOVERY_BOUND_MS {
        let leader = leader_of(&sim).unwrap_or(members[0]);
        let state = sim.call(leader, Request::Put { key: "k0".into(), value: next_value });
        next_value += 1;
        written = state.is_ok();
        if !written {
            sim.run_for(50);
        }
        observer.observe(&sim);
    }
    assert!(written, "no write succeeded within {RECOVERY_BOUND_MS} ms of healing");

    // Let every node catch up, then compare what they delivered.
    let converged = sim.run_until(RECOVERY_BOUND_MS, |s| {
        let Some(leader) = leader_of(s) else { return false };
        let committed = s.node(leader).unwrap().committed();
        members.iter().all(|&n| s.node(n).is_some_and(|z| z.applied() == committed))
    });
    observer.observe(&sim);
    assert!(converged, "nodes did not converge on the leader's commit point after healing");
    let leader = leader_of(&sim).expect("a leader after convergence");
    let reference = sim.node(leader).unwrap().store().clone();
    for &n in &members {
        assert_eq!(sim.node(n).unwrap().store(), &reference, "node {n} delivered a different sequence");
    }

    observer.check_nothing_committed_was_lost(sim.node(leader).unwrap());
    for (epoch, leaders) in sim.leaders_by_term() {
        assert!(leaders.len() <= 1, "epoch {epoch} had leaders {leaders:?}");
    }
    // Let every client operation end before judging the history.
    sim.run_for(sim.config().client_timeout_ms + 1);
    check_linearizable(&sim);
    (sim.ops().iter().filter(|o| o.state.is_ok()).count(), sim.ops().len())
}

fn build(seed: u64) -> Sim<Zab> {
    // The shape of the cluster and its network come from the seed too.
    let mut shape = Shape(seed ^ 0x5A5A_1234_9E37_79B9);
    let nodes = if shape.next().is_multiple_of(2) { 3 } else { 5 };
    let mut config = SimConfig::new(nodes);
    config.options.max_batch = [1, 4, 64][(shape.next() % 3) as usize];
    config.network = NetConfig {
        delay_min_ms: 1,
        delay_max_ms: 5 + shape.next() % 30,
        loss: [0.0, 0.02, 0.1][(shape.next() % 3) as usize],
        duplicate: [0.0, 0.05][(shape.next() % 2) as usize],
    };
    config.client_timeout_ms = 1_000;
    Sim::new(seed, config)
}

/// A tiny generator for the cluster's shape, so it does not consume the simulator's draws.
struct Shape(u64);

impl Shape {
    fn next(&mut self) -> u64 {
        // splitmix64
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
}

/// The broadcasting leader of the highest epoch among live nodes.
fn leader_of(sim: &Sim<Zab>) -> Option<NodeId> {
    sim.members()
        .iter()
        .copied()
        .filter_map(|n| sim.node(n).filter(|z| z.is_broadcasting_leader()).map(|z| (z.current_epoch(), n)))
        .max()
        .map(|(_, n)| n)
}

/// A write, read or cas on one of three registers, mostly sent to the node that leads.
fn submit_random_op(sim: &mut Sim<Zab>, members: &[NodeId], next_value: &mut i64) {
    let node = match leader_of(sim) {
        Some(leader) if sim.random_between(0, 9) < 8 => leader,
        _ => members[sim.random_between(0, members.len() as u64 - 1) as usize],
    };
    let key = format!("k{}", sim.random_between(0, 2));
    let request = match sim.random_between(0, 9) {
        0..=3 => {
            *next_value += 1;
            Request::Put { key, value: *next_value }
        }
        4..=7 => Request::Get { key },
        _ => {
            let from = sim.random_between(0, (*next_value).max(1) as u64) as i64;
            *next_value += 1;
            Request::Cas { key, from, to: *next_value }
        }
    };
    sim.submit(node, request);
}

/// The faults in force, so that healing can undo them all.
struct Faults {
    down: Vec<NodeId>,
    paused: Vec<NodeId>,
    /// The seed's own network, which a heal restores.
    base: NetConfig,
}

impl Faults {
    fn inject(&mut self, sim: &mut Sim<Zab>, members: &[NodeId]) {
        let pick = |sim: &mut Sim<Zab>| members[sim.random_between(0, members.len() as u64 - 1) as usize];
        match sim.random_between(0, 12) {
            0 => {
                sim.heal();
                sim.set_network(self.base.clone());
            }
            1 => {
                // Random halves.
                let mut shuffled = members.to_vec();
                for i in (1..shuffled.len()).rev() {
                    let j = sim.random_between(0, i as u64) as usize;
                    shuffled.swap(i, j);
                }
                let cut = sim.random_between(1, members.len() as u64 - 1) as usize;
                let (a, b) = shuffled.split_at(cut);
                sim.partition(Grudges::split(&[a, b]));
            }
            2 => {
                let node = pick(sim);
                sim.isolate(node);
            }
            3 => {
                if let Some(leader) = leader_of(sim) {
                    sim.isolate(leader);
                }
            }
            4 => {
                let mut grudges = Grudges::none();
                let (a, b) = (pick(sim), pick(sim));
                if a != b {
                    grudges.cut_one_way(a, b);
                }
                sim.partition(grudges);
            }
            5 => {
                let node = pick(sim);
                if !self.paused.contains(&node) {
                    sim.crash_restart(node);
                }
            }
            6 => {
                // Crash a node (the leader when there is one) and keep it down for a while.
                let node = leader_of(sim).unwrap_or_else(|| pick(sim));
                if !self.down.contains(&node) && !self.paused.contains(&node) {
                    sim.crash(node);
                    self.down.push(node);
                }
            }
            7 => {
                if let Some(node) = self.down.pop() {
                    sim.restart(node);
                }
            }
            8 => {
                // Pause a node (the leader when there is one), as SIGSTOP.
                let node = leader_of(sim).unwrap_or_else(|| pick(sim));
                if !self.down.contains(&node) && !self.paused.contains(&node) {
                    sim.pause(node);
                    self.paused.push(node);
                }
            }
            9 => {
                if let Some(node) = self.paused.pop() {
                    sim.resume(node);
                }
            }
            10 => {
                // Long delays: messages overtake each other by up to a second, beyond the
                // election timeout, until the next heal.
                let network = sim.network().clone();
                let delay_max_ms = sim.random_between(200, 1_000);
                sim.set_network(NetConfig { delay_max_ms, ..network });
            }
            11 => {
                let network = sim.network().clone();
                let duplicate = [0.0, 0.1, 0.3][sim.random_between(0, 2) as usize];
                sim.set_network(NetConfig { duplicate, ..network });
            }
            _ => {
                let network = sim.network().clone();
                let loss = [0.0, 0.05, 0.2][sim.random_between(0, 2) as usize];
                sim.set_network(NetConfig { loss, ..network });
            }
        }
    }

    fn heal(&mut self, sim: &mut Sim<Zab>) {
        sim.heal();
        sim.set_network(NetConfig::default());
        for n in self.paused.drain(..) {
            sim.resume(n);
        }
        for n in self.down.drain(..) {
            sim.restart(n);
        }
    }
}

/// Every committed transaction any node was seen to hold, by position.
#[derive(Default)]
struct Observer {
    committed: BTreeMap<u64, Txn>,
    /// Per node, the commit point up to which its transactions were compared already.
    checked: BTreeMap<NodeId, u64>,
}

impl Observer {
    fn observe(&mut self, sim: &Sim<Zab>) {
        for &n in sim.members() {
            let Some(node) = sim.node(n) else { continue };
            let checked = self.checked.entry(n).or_insert(0);
            if node.committed() < *checked {
                *checked = 0; // restarted: its commit point is being relearned
            }
            let from = *checked;
            *checked = node.committed();
            for position in from..node.committed() {
                let txn = node.history().get(position).expect("a committed transaction is held");
                match self.committed.get(&position) {
                    Some(seen) => assert_eq!(
                        seen, txn,
                        "node {n} committed a different transaction at position {position} than seen before"
                    ),
                    None => {
                        self.committed.insert(position, txn.clone());
                    }
                }
            }
        }
    }

    fn check_nothing_committed_was_lost(&self, leader: &Zab) {
        for (position, txn) in &self.committed {
            assert_eq!(
                leader.history().get(*position),
                Some(txn),
                "committed transaction at position {position} is missing from the leader"
            );
        }
    }
}

fn check_linearizable(sim: &Sim<Zab>) {
    let history = sim.history().expect("the simulator records a valid history");
    let mut options = CheckOptions::new(ModelKind::CasRegister);
    options.threads = 1;
    options.time_limit = Some(std::time::Duration::from_secs(20));
    let report = checkers::check(&history, &options).expect("the history fits the cas-register model");
    assert_eq!(report.verdict, Verdict::Valid, "history not linearizable: {}", report.render_text());
    let acknowledged = sim.ops().iter().filter(|op| matches!(op.state, OpState::Ok(_))).count();
    assert!(acknowledged > 0, "no operation was acknowledged: the run checked nothing");
}
