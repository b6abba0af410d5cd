//! Raft's behaviours one at a time, each in the simulator under a fixed seed: elections,
//! client answers, pre-vote, check-quorum, ReadIndex versus local reads, snapshots.

use nodes::api::{ErrorCode, NodeId, Request, Response};
use nodes::protocol::ReadMode;
use nodes::protocols::raft::{Raft, Record};
use nodes::sim::{Grudges, OpState, Sim, SimConfig};

fn cluster(seed: u64, nodes: u32) -> Sim<Raft> {
    Sim::new(seed, SimConfig::new(nodes))
}

/// Run until exactly one live node leads and return it.
fn await_leader(sim: &mut Sim<Raft>, within_ms: u64) -> NodeId {
    let found = sim.run_until(within_ms, |s| leader_of(s).is_some());
    assert!(found, "seed {}: no leader within {within_ms} ms", sim.seed());
    leader_of(sim).unwrap()
}

fn leader_of(sim: &Sim<Raft>) -> Option<NodeId> {
    let leaders: Vec<NodeId> =
        sim.members().iter().copied().filter(|&n| sim.node(n).is_some_and(|r| r.is_leader())).collect();
    match leaders.as_slice() {
        [one] => Some(*one),
        _ => None,
    }
}

fn put(key: &str, value: i64) -> Request {
    Request::Put { key: key.into(), value }
}

fn get(key: &str) -> Request {
    Request::Get { key: key.into() }
}

fn value(v: i64) -> OpState {
    OpState::Ok(Response::Value { value: Some(v) })
}

#[test]
fn a_healthy_cluster_elects_one_leader_and_serves_writes_and_reads() {
    let mut sim = cluster(1, 3);
    let leader = await_leader(&mut sim, 5_000);
    assert_eq!(sim.call(leader, put("x", 7)), OpState::Ok(Response::Done {}));
    assert_eq!(sim.call(leader, get("x")), value(7));
    assert!(sim.leaders_by_term().values().all(|leaders| leaders.len() == 1));
    // Every node applies the write once the leader's commit index reaches it.
    sim.run_for(500);
    for n in sim.members().to_vec() {
        let node = sim.node(n).unwrap();
        assert_eq!(node.store().read(&get("x")).unwrap(), Response::Value { value: Some(7) }, "node {n}");
    }
}

#[test]
fn a_follower_refuses_requests_at_once_with_a_leader_hint() {
    let mut sim = cluster(2, 3);
    let leader = await_leader(&mut sim, 5_000);
    sim.run_for(200);
    let follower = sim.members().iter().copied().find(|&n| n != leader).unwrap();
    let OpState::Fail(error) = sim.call(follower, put("x", 1)) else { panic!("follower accepted a write") };
    assert_eq!(error.code, ErrorCode::NotLeader);
    assert!(error.definite);
    assert_eq!(error.leader, Some(leader));
}

#[test]
fn a_failed_cas_is_a_definite_precondition_failure() {
    let mut sim = cluster(3, 3);
    let leader = await_leader(&mut sim, 5_000);
    sim.call(leader, put("x", 1));
    let OpState::Fail(error) = sim.call(leader, Request::Cas { key: "x".into(), from: 2, to: 3 }) else {
        panic!("cas with a wrong expectation succeeded")
    };
    assert_eq!(error.code, ErrorCode::PreconditionFailed);
    assert_eq!(
        sim.call(leader, Request::Cas { key: "x".into(), from: 1, to: 3 }),
        OpState::Ok(Response::Done {})
    );
    assert_eq!(sim.call(leader, get("x")), value(3));
}

#[test]
fn a_leader_cut_off_from_the_majority_steps_down_and_a_new_one_takes_over() {
    let mut sim = cluster(4, 5);
    let old = await_leader(&mut sim, 5_000);
    sim.isolate(old);
    let ok = sim.run_until(5_000, |s| {
        !s.node(old).unwrap().is_leader()
            && s.members().iter().any(|&n| n != old && s.node(n).unwrap().is_leader())
    });
    assert!(ok, "check-quorum did not depose the isolated leader, or no new leader was elected");
    let new = leader_of(&sim).unwrap();
    assert_ne!(new, old);
    assert_eq!(sim.call(new, put("y", 2)), OpState::Ok(Response::Done {}));
}

#[test]
fn pending_writes_of_a_deposed_leader_end_indeterminate() {
    let mut sim = cluster(5, 3);
    let old = await_leader(&mut sim, 5_000);
    sim.isolate(old);
    let op = sim.submit(old, put("z", 9));
    sim.run_until(5_000, |s| !s.op(op).state.is_pending());
    match &sim.op(op).state {
        OpState::Info(error) => assert_eq!(error.code, ErrorCode::Indeterminate),
        other => panic!("a write the old leader could not commit ended {other:?}"),
    }
}

#[test]
fn pre_vote_keeps_a_returning_node_from_disrupting_the_leader() {
    let mut sim = cluster(6, 3);
    let leader = await_leader(&mut sim, 5_000);
    let term = sim.node(leader).unwrap().term();
    let outcast = sim.members().iter().copied().find(|&n| n != leader).unwrap();
    sim.isolate(outcast);
    // Many election timeouts pass on the isolated node.
    sim.run_for(10_000);
    assert_eq!(sim.node(outcast).unwrap().term(), term, "pre-vote failed, yet the term moved");
    sim.heal();
    sim.run_for(3_000);
    assert!(sim.node(leader).unwrap().is_leader(), "the returning node deposed a healthy leader");
    assert_eq!(sim.node(leader).unwrap().term(), term);
    assert_eq!(sim.status(outcast).unwrap().leader, Some(leader));
}

/// The old leader ends up alone on the minority side; the majority elects another leader
/// and overwrites `k`. A read then sent to the old leader must not return the old value,
/// unless the node serves reads locally (unsafe by design).
fn read_on_a_cut_off_leader(read_mode: ReadMode) -> OpState {
    let mut config = SimConfig::new(5);
    config.options.read_mode = read_mode;
    let mut sim = Sim::<Raft>::new(7, config);
    let old = await_leader(&mut sim, 5_000);
    assert_eq!(sim.call(old, put("k", 1)), OpState::Ok(Response::Done {}));
    sim.run_for(100);
    let majority: Vec<NodeId> = sim.members().iter().copied().filter(|&n| n != old).collect();
    sim.partition(Grudges::split(&[&[old], &majority]));
    let elected = sim.run_until(5_000, |s| majority.iter().any(|&n| s.node(n).unwrap().is_leader()));
    assert!(elected, "the majority elected no leader");
    let new = majority.iter().copied().find(|&n| sim.node(n).unwrap().is_leader()).unwrap();
    assert_eq!(sim.call(new, put("k", 2)), OpState::Ok(Response::Done {}));
    sim.call(old, get("k"))
}

#[test]
fn local_reads_on_a_cut_off_leader_are_stale() {
    assert_eq!(read_on_a_cut_off_leader(ReadMode::Local), value(1), "the unsafe local read was not stale");
}

#[test]
fn read_index_on_a_cut_off_leader_never_serves_stale_data() {
    let state = read_on_a_cut_off_leader(ReadMode::Quorum);
    assert!(!state.is_ok(), "ReadIndex served a read without a majority: {state:?}");
}

#[test]
fn a_follower_behind_the_compaction_point_catches_up_through_a_snapshot() {
    let mut config = SimConfig::new(3);
    config.options.snapshot_every = 5;
    let mut sim = Sim::<Raft>::new(8, config);
    let leader = await_leader(&mut sim, 5_000);
    let lagging = sim.members().iter().copied().find(|&n| n != leader).unwrap();
    sim.isolate(lagging);
    sim.run_for(50);
    for i in 0..20 {
        sim.call(leader, put("k", i));
    }
    let leader = leader_of(&sim).unwrap();
    assert!(sim.node(leader).unwrap().log().snapshot_index() > 0, "the leader did not compact");
    sim.heal();
    let caught_up = sim.run_until(5_000, |s| {
        s.node(lagging).unwrap().store().read(&get("k")).ok() == Some(Response::Value { value: Some(19) })
    });
    assert!(caught_up, "the lagging follower never caught up");
    assert!(
        sim.persisted(lagging).iter().any(|r| matches!(r, Record::Snapshot { .. })),
        "the follower caught up without installing a snapshot"
    );
    // The compacted log is bounded: the write-ahead log was rewritten, not grown forever.
    assert!(sim.persisted(leader).len() < 20);
}

#[test]
fn a_restarted_node_recovers_term_vote_and_log() {
    let mut sim = cluster(9, 3);
    let leader = await_leader(&mut sim, 5_000);
    for i in 0..5 {
        sim.call(leader, put("k", i));
    }
    sim.run_for(300);
    let follower = sim.members().iter().copied().find(|&n| n != leader).unwrap();
    let before = sim.node(follower).unwrap();
    let (term, vote, last) = (before.term(), before.voted_for(), before.log().last_index());
    sim.crash_restart(follower);
    let after = sim.node(follower).unwrap();
    assert_eq!((after.term(), after.voted_for(), after.log().last_index()), (term, vote, last));
    // The whole cluster restarting keeps every acknowledged write.
    for n in sim.members().to_vec() {
        sim.crash_restart(n);
    }
    let leader = await_leader(&mut sim, 5_000);
    assert_eq!(sim.call(leader, get("k")), value(4));
}
