//! `--read lease` is unsafe under clock skew, and the harness's checker catches it; the same
//! schedule with `--read quorum` stays linearizable.
//!
//! The schedule: a leader serves reads on its lease; its clock is slowed to a tenth and it
//! is cut off. The others stop hearing from it, elect a new leader after their (real-rate)
//! election timeouts and commit a write. On the old leader's slow clock its lease has
//! barely begun, so it answers a read from its own, stale state.

use checkers::{CheckOptions, ModelKind, Verdict};
use nodes::api::{NodeId, Request, Response};
use nodes::protocol::ReadMode;
use nodes::protocols::raft::Raft;
use nodes::runtime::clock::ClockChange;
use nodes::sim::{OpState, Sim, SimConfig};

fn leader(sim: &Sim<Raft>) -> Option<NodeId> {
    sim.members()
        .iter()
        .copied()
        .filter(|&n| sim.node(n).is_some_and(Raft::is_leader))
        .max_by_key(|&n| sim.node(n).map(Raft::term))
}

/// Runs the schedule; returns what the old leader's read answered and the checker's verdict.
fn skewed_leader_reads(read_mode: ReadMode) -> (OpState, Verdict) {
    let mut config = SimConfig::new(3);
    config.options.read_mode = read_mode;
    let mut sim = Sim::<Raft>::new(5, config);
    sim.run_until(5_000, |s| leader(s).is_some());
    let old = leader(&sim).expect("a leader");
    assert!(sim.call(old, Request::Put { key: "k".into(), value: 1 }).is_ok());
    sim.run_for(100); // heartbeats answered: the lease is fresh
    let first = sim.call(old, Request::Get { key: "k".into() });
    assert_eq!(first, OpState::Ok(Response::Value { value: Some(1) }));

    sim.skew_clock(old, ClockChange::Rate { rate: 0.1 });
    sim.isolate(old);
    let others: Vec<NodeId> = sim.members().iter().copied().filter(|&n| n != old).collect();
    let elected = sim.run_until(3_000, |s| others.iter().any(|&n| s.node(n).is_some_and(Raft::is_leader)));
    assert!(elected, "the majority side elected no leader");
    let new = others.iter().copied().find(|&n| sim.node(n).unwrap().is_leader()).unwrap();
    assert!(sim.call(new, Request::Put { key: "k".into(), value: 2 }).is_ok());

    let stale = sim.call(old, Request::Get { key: "k".into() });
    let history = sim.history_of_keys(|k| k == "k").expect("a valid history");
    let mut options = CheckOptions::new(ModelKind::CasRegister);
    options.threads = 1;
    let verdict = checkers::check(&history, &options).expect("the checker accepts the history").verdict;
    (stale, verdict)
}

#[test]
fn a_lease_read_on_a_leader_with_a_slow_clock_is_stale_and_the_checker_finds_it() {
    let (read, verdict) = skewed_leader_reads(ReadMode::Lease);
    assert_eq!(read, OpState::Ok(Response::Value { value: Some(1) }), "the lease read was not served stale");
    assert_eq!(verdict, Verdict::Invalid, "the checker missed the stale lease read");
}

#[test]
fn the_same_schedule_with_quorum_reads_is_linearizable() {
    let (read, verdict) = skewed_leader_reads(ReadMode::Quorum);
    assert!(!read.is_ok(), "a cut-off leader served a quorum read: {read:?}");
    assert_eq!(verdict, Verdict::Valid);
}
