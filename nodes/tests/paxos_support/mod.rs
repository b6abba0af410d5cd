//! Shared by the Paxos test files: a cluster under a seeded nemesis, and the invariants.
//!
//! The invariants, checked on every sample of a run and at its end:
//! - **one value per slot**: every value any node learned, and every value a majority of
//!   acceptors holds in one ballot (chosen by definition), agree slot by slot across the
//!   whole run; two acceptors never hold different values for one (slot, ballot);
//! - **same sequence**: what nodes learned agrees, so their applied prefixes are equal;
//! - **nothing chosen is lost**: after healing, every node learns every value that was ever
//!   observed chosen, crash-restarts included (or holds it in its snapshot: a compacted slot
//!   counts as learned, and the equal stores of the same-sequence check cover its value);
//! - **linearizable**: the client history passes `checkers::check` (cas-register, per key);
//! - **one leader per term**: `/status` never shows two leaders in one term.

#![allow(dead_code)]

use std::collections::BTreeMap;

use checkers::{CheckOptions, ModelKind, Verdict};
use nodes::api::{ErrorCode, NodeId, Request, Role};
use nodes::protocol::Options;
use nodes::protocols::paxos::acceptor::Acceptor;
use nodes::protocols::paxos::{Ballot, Paxos, Slot, Value};
use nodes::sim::{Grudges, NetConfig, OpState, Sim, SimConfig, StaleMessages};

/// The cluster configuration the suites use: fast timers, a lossy and slow network.
pub fn config(nodes: u32, phase1_every_op: bool) -> SimConfig {
    let mut cfg = SimConfig::new(nodes);
    cfg.options.heartbeat_ms = 20;
    cfg.options.election_timeout_min_ms = 100;
    cfg.options.election_timeout_max_ms = 200;
    cfg.options.phase1_every_op = phase1_every_op;
    cfg.options.max_batch = 16;
    cfg.network = NetConfig { delay_min_ms: 1, delay_max_ms: 10, loss: 0.0, duplicate: 0.0 };
    cfg.client_timeout_ms = 500;
    cfg
}

/// The up node that reports itself leader in the highest term, if any.
pub fn leader(sim: &Sim<Paxos>) -> Option<NodeId> {
    sim.members()
        .iter()
        .filter_map(|&n| sim.status(n).map(|s| (s, n)))
        .filter(|(s, _)| s.role == Role::Leader)
        .max_by_key(|(s, _)| s.term)
        .map(|(_, n)| n)
}

/// Everything ever seen chosen, kept across samples so that a value later overwritten in
/// the acceptors (by a higher ballot) still counts.
#[derive(Debug, Default)]
pub struct Observed {
    pub chosen: BTreeMap<Slot, Value>,
}

impl Observed {
    /// Look at every node (down ones through their persisted records) and check agreement.
    pub fn sample(&mut self, sim: &Sim<Paxos>) {
        let quorum = sim.members().len() / 2 + 1;
        let mut by_ballot: BTreeMap<(Slot, Ballot), (Value, usize)> = BTreeMap::new();
        for &id in sim.members() {
            let accepted = match sim.node(id) {
                Some(node) => {
                    for (slot, value) in node.chosen() {
                        self.record(*slot, value, &format!("learned by node {id}"), sim.now_ms());
                    }
                    node.accepted().clone()
                }
                None => Acceptor::recover(sim.persisted(id)).accepted().clone(),
            };
            for (slot, (ballot, value)) in accepted {
                let entry = by_ballot.entry((slot, ballot)).or_insert((value.clone(), 0));
                assert_eq!(
                    entry.0,
                    value,
                    "two acceptors hold different values for slot {slot} in ballot {ballot} at {} ms",
                    sim.now_ms()
                );
                entry.1 += 1;
            }
        }
        for ((slot, ballot), (value, count)) in by_ballot {
            if count >= quorum {
                self.record(
                    slot,
                    &value,
                    &format!("accepted by a majority in ballot {ballot}"),
                    sim.now_ms(),
                );
            }
        }
    }

    fn record(&mut self, slot: Slot, value: &Value, how: &str, now_ms: u64) {
        match self.chosen.get(&slot) {
            Some(held) => assert_eq!(
                held, value,
                "two values chosen in slot {slot} at {now_ms} ms: {held:?} before, now {value:?} {how}"
            ),
            None => {
                self.chosen.insert(slot, value.clone());
            }
        }
    }

    /// After healing: every node that is up has learned every value observed chosen (above
    /// its compaction point).
    pub fn assert_nothing_lost(&self, sim: &Sim<Paxos>) {
        for &id in sim.members() {
            let node = sim.node(id).unwrap_or_else(|| panic!("node {id} is down at the end"));
            for (slot, value) in self.chosen.range(node.compacted() + 1..) {
                assert_eq!(
                    node.chosen().get(slot),
                    Some(value),
                    "node {id} lost (or never learned) the value chosen in slot {slot}"
                );
            }
        }
    }

    pub fn highest_slot(&self) -> Slot {
        self.chosen.keys().next_back().copied().unwrap_or(0)
    }
}

/// Every up node's applied store is the same function of the same log: equal prefixes give
/// equal stores, checked where two nodes applied the same number of slots.
pub fn assert_same_sequence(sim: &Sim<Paxos>) {
    let up: Vec<&Paxos> = sim.members().iter().filter_map(|&id| sim.node(id)).collect();
    for a in &up {
        for b in &up {
            let common = a.applied().min(b.applied());
            for slot in a.compacted().max(b.compacted()) + 1..=common {
                assert_eq!(
                    a.chosen().get(&slot),
                    b.chosen().get(&slot),
                    "applied logs differ at slot {slot}"
                );
            }
            if a.applied() == b.applied() {
                assert_eq!(a.store(), b.store(), "stores differ after applying the same log");
            }
        }
    }
}

/// The client history is linearizable as a set of compare-and-set registers.
pub fn assert_linearizable(sim: &Sim<Paxos>) {
    let history = sim.history().expect("the simulator records a valid history");
    let report = checkers::check(&history, &CheckOptions::new(ModelKind::CasRegister))
        .unwrap_or_else(|e| panic!("the checker refused the history: {e}"));
    assert_eq!(report.verdict, Verdict::Valid, "history not linearizable: {}", report.render_text());
}

/// No two nodes ever reported leading in the same term.
pub fn assert_one_leader_per_term(sim: &Sim<Paxos>) {
    for (term, leaders) in sim.leaders_by_term() {
        assert!(leaders.len() <= 1, "term {term} had leaders {leaders:?}");
    }
}

/// Generates client operations on a few registers, with unique written values.
pub struct Workload {
    next_value: i64,
    keys: u32,
}

impl Workload {
    pub fn new(keys: u32) -> Workload {
        Workload { next_value: 1, keys }
    }

    pub fn op(&mut self, sim: &mut Sim<Paxos>) -> Request {
        let key = format!("k{}", sim.random_between(0, self.keys as u64 - 1));
        let value = self.next_value;
        self.next_value += 1;
        match sim.random_between(0, 9) {
            0..=3 => Request::Get { key },
            4..=7 => Request::Put { key, value },
            _ => {
                let from = sim.random_between(0, value.max(1) as u64) as i64;
                Request::Cas { key, from, to: value }
            }
        }
    }

    /// Submit one op, to the leader most of the time and to a random node otherwise.
    pub fn submit(&mut self, sim: &mut Sim<Paxos>) {
        let request = self.op(sim);
        let members = sim.members().to_vec();
        let random = members[sim.random_between(0, members.len() as u64 - 1) as usize];
        let node = match leader(sim) {
            Some(l) if sim.random_between(0, 3) > 0 => l,
            _ => random,
        };
        sim.submit(node, request);
    }
}

/// One fault, drawn from the seed.
pub fn inject_fault(sim: &mut Sim<Paxos>) {
    let members = sim.members().to_vec();
    let n = members.len();
    let pick = |sim: &mut Sim<Paxos>| members[sim.random_between(0, n as u64 - 1) as usize];
    match sim.random_between(0, 11) {
        0 | 1 => sim.heal(),
        10 => {
            // Pause the leader (or any node), or resume whoever is paused.
            match members.iter().copied().find(|&m| sim.is_paused(m)) {
                Some(node) => sim.resume(node),
                None => {
                    let node = leader(sim).unwrap_or_else(|| pick(sim));
                    sim.pause(node);
                }
            }
        }
        11 => {
            // Hold a fraction of messages for up to several election timeouts, or stop.
            let stale = if sim.stale_messages().fraction > 0.0 {
                StaleMessages::none()
            } else {
                let fraction = [0.02, 0.05, 0.1][sim.random_between(0, 2) as usize];
                StaleMessages { fraction, min_ms: 100, max_ms: 4 * Options::DEFAULT_ELECTION_TIMEOUT_MAX_MS }
            };
            sim.set_stale_messages(stale);
        }
        2 => {
            let mut shuffled = members.clone();
            for i in (1..n).rev() {
                let j = sim.random_between(0, i as u64) as usize;
                shuffled.swap(i, j);
            }
            let cut = sim.random_between(1, n as u64 - 1) as usize;
            let (a, b) = shuffled.split_at(cut);
            sim.partition(Grudges::split(&[a, b]));
        }
        3 => {
            let node = pick(sim);
            sim.isolate(node);
        }
        4 => {
            if let Some(l) = leader(sim) {
                sim.isolate(l);
            }
        }
        5 => {
            let node = pick(sim);
            sim.crash_restart(node);
        }
        6 => {
            // Keep a majority up so the run can make progress meanwhile.
            let down = members.iter().filter(|&&m| !sim.is_up(m)).count();
            if down < n - (n / 2 + 1) {
                let node = pick(sim);
                sim.crash(node);
            }
        }
        7 => {
            for &m in &members {
                sim.restart(m);
            }
        }
        8 => {
            let loss = sim.random_between(0, 20) as f64 / 100.0;
            let duplicate = sim.random_between(0, 10) as f64 / 100.0;
            let delay_max_ms = sim.random_between(2, 60);
            sim.set_network(NetConfig { delay_min_ms: 1, delay_max_ms, loss, duplicate });
        }
        _ => {
            if sim.random_between(0, 3) == 0 {
                // Kill every node at once: only what they persisted survives.
                for &m in &members {
                    sim.crash_restart(m);
                }
            }
        }
    }
}

/// Heal everything and bring every node back.
pub fn heal_all(sim: &mut Sim<Paxos>) {
    sim.heal();
    sim.set_network(NetConfig { delay_min_ms: 1, delay_max_ms: 10, loss: 0.0, duplicate: 0.0 });
    if sim.stale_messages().fraction > 0.0 {
        sim.set_stale_messages(StaleMessages::none());
    }
    for m in sim.members().to_vec() {
        sim.resume(m);
        sim.restart(m);
    }
}

/// Liveness: within `within_ms` of simulated time a leader emerges and a write through it
/// succeeds. Returns the node that took the write.
pub fn write_succeeds_within(sim: &mut Sim<Paxos>, within_ms: u64, value: i64) -> NodeId {
    let deadline = sim.now_ms() + within_ms;
    while sim.now_ms() < deadline {
        let left = deadline - sim.now_ms();
        if !sim.run_until(left, |s| leader(s).is_some()) {
            break;
        }
        let node = leader(sim).expect("just seen");
        match sim.call(node, Request::Put { key: "liveness".into(), value }) {
            OpState::Ok(_) => return node,
            OpState::Fail(e) | OpState::Info(e) => {
                assert!(
                    matches!(e.code, ErrorCode::NotLeader | ErrorCode::Indeterminate | ErrorCode::Timeout),
                    "a write on a healed cluster failed with {e:?}"
                );
            }
            OpState::Pending => {}
        }
    }
    let nodes: Vec<_> = sim
        .members()
        .iter()
        .map(|&m| (m, sim.status(m), sim.node(m).map(|n| (n.applied(), n.compacted(), n.promised()))))
        .collect();
    panic!("no write succeeded within {within_ms} ms of healing (t = {} ms): {nodes:?}", sim.now_ms());
}

/// After a successful write at `node`, every node catches up to everything observed chosen.
pub fn all_catch_up_within(sim: &mut Sim<Paxos>, within_ms: u64, observed: &Observed, node: NodeId) {
    let target = observed.highest_slot().max(sim.node(node).map_or(0, |n| n.applied()));
    let caught_up = sim.run_until(within_ms, |s| {
        s.members().iter().all(|&m| s.node(m).is_some_and(|n| n.applied() >= target))
    });
    let applied: Vec<(NodeId, Slot)> =
        sim.members().iter().map(|&m| (m, sim.node(m).map_or(0, |n| n.applied()))).collect();
    assert!(caught_up, "nodes did not catch up to slot {target} within {within_ms} ms: {applied:?}");
}
