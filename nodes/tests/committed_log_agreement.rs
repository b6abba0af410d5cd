//! The white-box committed log (`GET /admin/log`, [`nodes::committed_log`]) in the
//! simulator: correct protocols agree index by index, and pb-async, unsafe by design, is
//! caught diverging under a partition although no client needs to read the difference.

use nodes::api::{NodeId, Request};
use nodes::committed_log::CommittedLog;
use nodes::protocol::Protocol;
use nodes::protocols::paxos::Paxos;
use nodes::protocols::pb::{PbAsync, PbSync};
use nodes::protocols::raft::Raft;
use nodes::protocols::twopc::TwoPc;
use nodes::sim::{Clients, OpState, Sim, SimConfig, WorkloadMix};

fn log_of<P: Protocol>(sim: &Sim<P>, node: NodeId) -> &CommittedLog {
    sim.node(node).and_then(P::committed_log).expect("every built-in protocol keeps a committed log")
}

/// The first index at which two nodes hold different prefix hashes, if any.
fn first_disagreement<P: Protocol>(sim: &Sim<P>) -> Option<(u64, NodeId, NodeId)> {
    let members = sim.members().to_vec();
    for (i, &a) in members.iter().enumerate() {
        for &b in &members[i + 1..] {
            let (la, lb) = (log_of(sim, a), log_of(sim, b));
            for index in 0..=la.last_index().min(lb.last_index()) {
                if let (Some(ha), Some(hb)) = (la.hash_at(index), lb.hash_at(index)) {
                    if ha != hb {
                        return Some((index, a, b));
                    }
                }
            }
        }
    }
    None
}

/// Two seconds of concurrent clients on a healthy network, then a settle.
fn agree_without_faults<P: Protocol>(seed: u64) {
    let mut sim = Sim::<P>::new(seed, SimConfig::new(3));
    sim.run_for(1_000);
    let mut clients = Clients::new(3, WorkloadMix::default(), 1);
    for _ in 0..400 {
        clients.tick(&mut sim);
        sim.run_for(5);
    }
    sim.run_for(3_000);
    let commits: Vec<u64> = sim.members().iter().map(|&n| log_of(&sim, n).last_index()).collect();
    assert!(commits.iter().all(|&c| c > 10), "{}: too little committed: {commits:?}", P::NAME);
    assert_eq!(first_disagreement(&sim), None, "{}: replicas committed different prefixes", P::NAME);
    let first = log_of(&sim, 1);
    for &n in sim.members() {
        let log = log_of(&sim, n);
        let common = log.last_index().min(first.last_index());
        assert_eq!(log.hash_at(common), first.hash_at(common), "{}: node {n}", P::NAME);
    }
}

#[test]
fn every_protocol_commits_the_same_prefix_on_every_node_without_faults() {
    for seed in 0..3 {
        agree_without_faults::<PbAsync>(seed);
        agree_without_faults::<PbSync>(seed);
        agree_without_faults::<TwoPc>(seed);
        agree_without_faults::<Raft>(seed);
        agree_without_faults::<Paxos>(seed);
    }
}

#[test]
fn raft_keeps_the_prefix_hash_across_snapshots_and_installs() {
    let mut config = SimConfig::new(3);
    config.options.snapshot_every = 5;
    let mut sim = Sim::<Raft>::new(1, config);
    sim.run_for(1_000);
    let leader = sim.members().iter().copied().find(|&n| sim.node(n).unwrap().is_leader()).unwrap();
    let follower = sim.members().iter().copied().find(|&n| n != leader).unwrap();
    sim.crash(follower);
    for value in 0..40 {
        assert!(sim.call(leader, Request::Put { key: "k".into(), value }).is_ok());
    }
    sim.restart(follower);
    sim.run_for(2_000);
    let installed = log_of(&sim, follower);
    assert!(installed.hash_at(1).is_none(), "the follower should have installed a snapshot");
    assert_eq!(installed.last_index(), log_of(&sim, leader).last_index());
    assert_eq!(first_disagreement(&sim), None);
}

/// pb-async acknowledges a write once its primary applied it. Cut the primary off: it keeps
/// applying writes that the new primary, elected on the other side, never sees; both sides
/// commit different entries at the same index.
#[test]
fn pb_async_under_a_partition_commits_different_entries_at_one_index() {
    let mut sim = Sim::<PbAsync>::new(7, SimConfig::new(3));
    sim.run_for(500);
    for value in 0..5 {
        assert!(sim.call(1, Request::Put { key: "k".into(), value }).is_ok());
    }
    sim.run_for(200);
    assert_eq!(first_disagreement(&sim), None, "diverged before any fault");
    sim.isolate(1);
    let old_side = sim.call(1, Request::Put { key: "k".into(), value: 100 });
    assert!(old_side.is_ok(), "the cut-off primary still acknowledges: {old_side:?}");
    sim.run_for(3_000);
    let new_primary = [2, 3].into_iter().find(|&n| sim.status(n).unwrap().role.is_leading());
    let new_primary = new_primary.expect("the backups elect a new primary");
    let new_side = sim.call(new_primary, Request::Put { key: "k".into(), value: 200 });
    assert!(matches!(new_side, OpState::Ok(_)), "{new_side:?}");
    let (index, a, b) = first_disagreement(&sim).expect("pb-async diverged and the hashes show it");
    assert_eq!(index, 6, "the first write after the cut: nodes {a} and {b}");
}
