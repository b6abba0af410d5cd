//! Messages per write without faults, counted by the simulator: the cost column of the
//! protocol table (n nodes, so n - 1 peers of the node that orders writes). Heartbeats are
//! pushed out of the measured window and links kept in order, so that only the write path
//! is counted.

use nodes::api::Request;
use nodes::protocol::Protocol;
use nodes::protocols::paxos::Paxos;
use nodes::protocols::pb::{PbAsync, PbSync};
use nodes::protocols::raft::Raft;
use nodes::protocols::twopc::TwoPc;
use nodes::protocols::zab::Zab;
use nodes::sim::{Sim, SimConfig};

const WRITES: u64 = 10;

/// Messages sent while `WRITES` sequential writes complete, per write.
fn messages_per_write<P: Protocol>(nodes: u32) -> u64 {
    let mut config = SimConfig::new(nodes);
    config.options.heartbeat_ms = 1_000;
    config.options.election_timeout_min_ms = 10_000;
    config.options.election_timeout_max_ms = 20_000;
    // A fixed delay keeps every link in order: reordering would add retransmissions.
    config.network.delay_min_ms = 1;
    config.network.delay_max_ms = 1;
    let mut sim = Sim::<P>::new(1, config);
    // One heartbeat round (2pc's coordinator must hear everyone before it writes).
    sim.run_for(1_100);
    // The node that orders writes: node 1 for the primary/backup protocols and 2pc, the
    // elected leader for the others.
    let leading = |sim: &Sim<P>| (1..=nodes).find(|&n| sim.status(n).is_some_and(|s| s.role.is_leading()));
    assert!(sim.run_until(30_000, |s| leading(s).is_some()), "{}: nobody leads", P::NAME);
    let leader = leading(&sim).expect("checked");
    // Past the new leader's first heartbeats and every follower's joining (a zab node still
    // looking learns of the leader when it resends its vote, two heartbeats later).
    sim.run_for(2_500);
    let before: u64 = sim.messages_sent().values().sum();
    for i in 0..WRITES as i64 {
        let state = sim.call(leader, Request::Put { key: "k".into(), value: i });
        assert!(state.is_ok(), "{}: {state:?}", P::NAME);
    }
    sim.run_for(50); // let trailing acknowledgements land, well before the next heartbeat
    let after: u64 = sim.messages_sent().values().sum();
    (after - before) / WRITES
}

#[test]
fn messages_per_write_match_each_protocols_design() {
    for n in [3u32, 5] {
        let peers = u64::from(n - 1);
        // Ship and acknowledge.
        assert_eq!(messages_per_write::<PbAsync>(n), 2 * peers, "pb-async, {n} nodes");
        assert_eq!(messages_per_write::<PbSync>(n), 2 * peers, "pb-sync, {n} nodes");
        // Prepare, vote, decision, acknowledgement.
        assert_eq!(messages_per_write::<TwoPc>(n), 4 * peers, "2pc, {n} nodes");
    }
}

/// Zab pays one more hop than Raft or Paxos: the proposal, its acknowledgement, and an
/// explicit COMMIT (Raft and Multi-Paxos carry the commit point on the next message). The
/// figures for all three are printed for the README's table.
#[test]
fn zab_sends_proposal_ack_and_commit_per_write() {
    for n in [3u32, 5] {
        let peers = u64::from(n - 1);
        let (zab, raft, paxos) =
            (messages_per_write::<Zab>(n), messages_per_write::<Raft>(n), messages_per_write::<Paxos>(n));
        println!("{n} nodes, messages per write: zab {zab}, raft {raft}, paxos {paxos}");
        assert_eq!(zab, 3 * peers, "zab, {n} nodes");
        assert!(raft < zab && paxos < zab, "raft {raft} and paxos {paxos} against zab {zab}");
    }
}
