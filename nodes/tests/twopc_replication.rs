//! 2pc on the simulator: replication without faults, recovery of persisted and in-doubt
//! transactions, and refusing writes (definite `unavailable`) while a participant is out.

use nodes::api::{ErrorCode, Request, Response, Role};
use nodes::protocols::twopc::{Record, TwoPc};
use nodes::sim::{check_seeds, OpState, Sim, SimConfig};
use nodes::state_machine::Store;

fn put(key: &str, value: i64) -> Request {
    Request::Put { key: key.into(), value }
}

fn get(key: &str) -> Request {
    Request::Get { key: key.into() }
}

fn stores(sim: &Sim<TwoPc>) -> Vec<Store> {
    sim.members().iter().map(|&n| sim.node(n).expect("node is up").store().clone()).collect()
}

fn converged(sim: &Sim<TwoPc>) -> bool {
    let all = stores(sim);
    all.windows(2).all(|w| w[0] == w[1])
        && sim.members().iter().all(|&n| sim.node(n).unwrap().in_doubt().is_empty())
}

/// A cluster past its first heartbeats, so the coordinator has heard every participant.
fn started(seed: u64, nodes: u32) -> Sim<TwoPc> {
    let mut sim = Sim::<TwoPc>::new(seed, SimConfig::new(nodes));
    sim.run_for(200);
    sim
}

#[test]
fn twopc_replicates_writes_without_faults() {
    check_seeds(0..20, |seed| {
        let mut sim = started(seed, 3);
        let mut ops = Vec::new();
        for i in 0..60 {
            let request = match i % 3 {
                0 => put(&format!("r{}", i % 5), i),
                1 => Request::SetAdd { key: "s".into(), element: i },
                _ => Request::Cas { key: format!("r{}", (i + 2) % 5), from: i - 2, to: i },
            };
            ops.push(sim.submit(1, request));
            let pause = sim.random_between(0, 5);
            sim.run_for(pause);
        }
        assert!(sim.run_until(2_000, |s| ops.iter().all(|&op| !s.op(op).state.is_pending())));
        for &op in &ops {
            let record = sim.op(op);
            match (&record.request, &record.state) {
                (Request::Cas { .. }, OpState::Fail(e)) => assert_eq!(e.code, ErrorCode::PreconditionFailed),
                (_, state) => assert!(state.is_ok(), "{:?} ended {state:?}", record.request),
            }
        }
        assert!(sim.run_until(1_000, converged), "replicas did not converge");
        let expected: Vec<i64> = (0..60).filter(|i| i % 3 == 1).collect();
        assert_eq!(
            sim.call(1, Request::SetRead { key: "s".into() }),
            OpState::Ok(Response::Elements { elements: expected })
        );
        let refused = sim.call(3, get("r0"));
        assert!(
            matches!(&refused, OpState::Fail(e) if e.code == ErrorCode::NotLeader && e.leader == Some(1))
        );
        assert_eq!(sim.status(1).unwrap().role, Role::Coordinator);
        assert_eq!(sim.status(2).unwrap().role, Role::Participant);
    });
}

#[test]
fn twopc_restart_keeps_every_persisted_entry() {
    check_seeds(0..10, |seed| {
        let mut sim = started(seed, 3);
        for i in 0..20 {
            assert!(sim.call(1, put(&format!("k{}", i % 4), i)).is_ok());
        }
        assert!(sim.run_until(1_000, converged));
        for id in [3, 2, 1] {
            let prepared = sim.persisted(id).iter().filter(|r| matches!(r, Record::Prepared { .. })).count();
            let committed = sim
                .persisted(id)
                .iter()
                .filter(|r| matches!(r, Record::Decided { commit: true, .. }))
                .count();
            assert_eq!((prepared, committed), (20, 20), "node {id} persisted every transaction");
            let before = sim.node(id).unwrap().store().clone();
            sim.crash_restart(id);
            assert_eq!(sim.node(id).unwrap().store(), &before, "node {id} recovered its state");
            assert_eq!(sim.node(id).unwrap().applied_through(), 20);
        }
        sim.run_for(300);
        assert!(sim.call(1, put("k0", 100)).is_ok());
        assert!(sim.run_until(1_000, converged));
    });
}

#[test]
fn twopc_refuses_writes_while_a_participant_is_cut_off() {
    check_seeds(0..20, |seed| {
        let mut sim = started(seed, 3);
        assert!(sim.call(1, put("x", 1)).is_ok());
        sim.isolate(3);
        // Once the coordinator has missed node 3 for its liveness window, writes fail at once.
        sim.run_for(sim.config().options.election_timeout_min_ms + 100);
        let before = sim.now_ms();
        let refused = sim.call(1, put("x", 2));
        assert!(
            matches!(&refused, OpState::Fail(e) if e.code == ErrorCode::Unavailable && e.definite),
            "{refused:?}"
        );
        assert_eq!(sim.now_ms(), before, "refused in the same instant, not after waiting");
        // Nothing was applied anywhere; reads at the coordinator still work.
        assert_eq!(sim.call(1, get("x")), OpState::Ok(Response::Value { value: Some(1) }));
        sim.heal();
        // Writes come back once the coordinator hears node 3 again.
        let mut written = false;
        for _ in 0..40 {
            if sim.call(1, put("x", 3)).is_ok() {
                written = true;
                break;
            }
            sim.run_for(50);
        }
        assert!(written, "writes resumed after the heal");
        assert!(sim.run_until(1_000, converged));
        assert_eq!(sim.node(3).unwrap().store().read(&get("x")).unwrap(), Response::Value { value: Some(3) });
    });
}

fn prepared_here(sim: &Sim<TwoPc>, node: u32) -> bool {
    sim.persisted(node).iter().any(|r| matches!(r, Record::Prepared { .. }))
}

#[test]
fn twopc_participant_restarted_in_doubt_learns_the_outcome() {
    check_seeds(0..20, |seed| {
        let mut sim = started(seed, 3);
        let op = sim.submit(1, put("x", 7));
        assert!(sim.run_until(500, |s| prepared_here(s, 3)));
        sim.crash(3); // its yes vote is already on the wire; the decision will not reach it
        assert!(sim.run_until(1_000, |s| !s.op(op).state.is_pending()));
        assert!(sim.op(op).state.is_ok(), "{:?}", sim.op(op).state);
        sim.restart(3);
        assert_eq!(sim.node(3).unwrap().in_doubt().len(), 1, "restarted in doubt");
        assert!(sim.run_until(1_000, converged));
        assert_eq!(sim.node(3).unwrap().store().read(&get("x")).unwrap(), Response::Value { value: Some(7) });
    });
}

#[test]
fn twopc_coordinator_restarted_mid_transaction_aborts_it() {
    check_seeds(0..20, |seed| {
        let mut sim = started(seed, 3);
        let op = sim.submit(1, put("x", 7));
        assert!(sim.run_until(500, |s| prepared_here(s, 2) && prepared_here(s, 3)));
        assert!(sim.op(op).state.is_pending());
        sim.crash(1);
        assert!(matches!(sim.op(op).state, OpState::Info(_)), "the client cannot know");
        sim.run_for(500);
        assert_eq!(sim.node(2).unwrap().in_doubt().len(), 1, "blocked while the coordinator is down");
        sim.restart(1);
        assert!(sim.run_until(2_000, converged));
        for n in [1, 2, 3] {
            let read = sim.node(n).unwrap().store().read(&get("x")).unwrap();
            assert_eq!(read, Response::Value { value: None }, "node {n}: presumed abort");
        }
        sim.run_for(300);
        assert!(sim.call(1, put("x", 8)).is_ok());
    });
}

#[test]
fn twopc_compacts_its_log_and_recovers_from_the_snapshot() {
    check_seeds(0..10, |seed| {
        let mut config = SimConfig::new(3);
        config.options.snapshot_every = 5;
        let mut sim = Sim::<TwoPc>::new(seed, config);
        sim.run_for(200);
        for i in 0..40 {
            assert!(sim.call(1, put(&format!("k{}", i % 4), i)).is_ok());
        }
        assert!(sim.run_until(1_000, converged));
        for id in [3, 2, 1] {
            let records = sim.persisted(id);
            assert!(matches!(records.first(), Some(Record::Snapshot(_))), "node {id} compacted");
            assert!(records.len() < 15, "node {id} keeps {} records for 40 transactions", records.len());
            let before = sim.node(id).unwrap().store().clone();
            sim.crash_restart(id);
            assert_eq!(sim.node(id).unwrap().store(), &before, "node {id} recovered from its snapshot");
        }
        sim.run_for(300);
        assert!(sim.call(1, put("k0", 100)).is_ok(), "transaction numbers continue after the snapshot");
        assert!(sim.run_until(1_000, converged));
        assert_eq!(sim.node(2).unwrap().applied_through(), 41);
    });
}
