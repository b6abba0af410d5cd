//! The simulator's kept links (`Sim::keep_link`): what a link keeps is neither delivered nor
//! dropped until it is released; stopping keeps what was kept; a cut link still drops.

use nodes::api::{NodeId, Request};
use nodes::protocols::raft::Raft;
use nodes::sim::{Grudges, Sim, SimConfig};

fn leader(sim: &Sim<Raft>) -> NodeId {
    sim.members().iter().copied().find(|&n| sim.node(n).is_some_and(Raft::is_leader)).expect("a leader")
}

#[test]
fn a_kept_link_holds_its_messages_until_released() {
    let mut sim = Sim::<Raft>::new(3, SimConfig::new(3));
    assert!(sim.run_until(5_000, |s| s.members().iter().any(|&n| s.node(n).is_some_and(Raft::is_leader))));
    let l = leader(&sim);
    let x = sim.members().iter().copied().find(|&n| n != l).unwrap();

    sim.keep_link(l, x);
    assert!(sim.call(l, Request::Put { key: "k".into(), value: 1 }).is_ok(), "the other follower suffices");
    sim.run_for(100);
    let kept = sim.kept_on_link(l, x);
    assert!(kept > 0);
    let committed = sim.node(l).unwrap().commit_index();
    assert!(sim.node(x).unwrap().commit_index() < committed, "x heard nothing of the write");

    // New messages flow again; the kept ones stay kept.
    sim.stop_keeping(l, x);
    sim.run_for(200);
    assert_eq!(sim.kept_on_link(l, x), kept);
    assert_eq!(sim.node(x).unwrap().commit_index(), committed, "x caught up on the fresh messages");

    // Released: delivered now, nothing left.
    sim.release_link(l, x);
    sim.run_for(20);
    assert_eq!(sim.kept_on_link(l, x), 0);
    assert!(sim.node(l).unwrap().is_leader(), "old heartbeats are harmless to the leader that sent them");
}

#[test]
fn a_cut_link_drops_what_it_would_keep() {
    let mut sim = Sim::<Raft>::new(4, SimConfig::new(3));
    assert!(sim.run_until(5_000, |s| s.members().iter().any(|&n| s.node(n).is_some_and(Raft::is_leader))));
    let l = leader(&sim);
    let x = sim.members().iter().copied().find(|&n| n != l).unwrap();
    let mut cut = Grudges::none();
    cut.cut_one_way(l, x);
    sim.partition(cut);
    sim.keep_link(l, x);
    sim.run_for(300);
    assert_eq!(sim.kept_on_link(l, x), 0);
}
