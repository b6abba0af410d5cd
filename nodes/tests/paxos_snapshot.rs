//! Paxos compaction: ten simulated minutes of writes with a small snapshot interval and
//! occasional faults, then every node killed at once and restarted.
//!
//! Regression for "logs that never shrink": before snapshots, every node's log held every
//! accepted slot and a restarted node prepared from slot 1, so after a long run the promises
//! outgrew the frame and slot limits and no leader could be elected. Here the persisted log
//! stays bounded by the snapshot interval (not by the op count), a restarted node resumes
//! past its snapshot, a node cut off while the others compacted catches up by snapshot
//! install, and the whole history stays linearizable.

mod paxos_support;

use nodes::api::{NodeId, Request, Response};
use nodes::protocols::paxos::{Paxos, Record};
use nodes::sim::{check_seeds, OpState, Sim};
use paxos_support::*;

/// Ten minutes of simulated time.
const RUN_MS: u64 = 600_000;
const SNAPSHOT_EVERY: u64 = 50;
/// Most records a node's write-ahead log may hold: a snapshot, a promise, and what was
/// accepted since the last compaction (one record per accept message, a few intervals'
/// worth while a node learns late). Independent of the number of operations.
const MAX_PERSISTED: usize = 4 * SNAPSHOT_EVERY as usize + 16;

fn persisted_len(sim: &Sim<Paxos>) -> usize {
    sim.members().iter().map(|&id| sim.persisted(id).len()).max().unwrap_or(0)
}

/// Each node's log length, kinds of record and progress, for a failure message.
fn describe_logs(sim: &Sim<Paxos>) -> String {
    let mut lines = vec![format!("logs past {MAX_PERSISTED} records at {} ms:", sim.now_ms())];
    for &id in sim.members() {
        let records = sim.persisted(id);
        let accepted = records.iter().filter(|r| matches!(r, Record::Accepted { .. })).count();
        let progress = sim.node(id).map(|n| (n.applied(), n.compacted(), n.accepted().len(), n.is_leader()));
        lines.push(format!(
            "  node {id}: {} records ({accepted} accepted); (applied, compacted, accepted slots, leader): {progress:?}",
            records.len()
        ));
    }
    lines.join("\n")
}

fn starts_with_snapshot(sim: &Sim<Paxos>, id: NodeId) -> bool {
    matches!(sim.persisted(id).first(), Some(Record::Snapshot { .. }))
}

#[test]
fn a_long_run_stays_bounded_and_survives_killing_every_node() {
    check_seeds(0..2, |seed| {
        let mut cfg = config(3, false);
        cfg.options.snapshot_every = SNAPSHOT_EVERY;
        let mut sim = Sim::<Paxos>::new(seed, cfg);
        let mut workload = Workload::new(4);
        let mut observed = Observed::default();
        let mut max_persisted = 0;
        let mut next_fault_ms = 5_000;
        let mut steps = 0u64;
        while sim.now_ms() < RUN_MS {
            let pause = sim.random_between(20, 60);
            sim.run_for(pause);
            if sim.ops().iter().filter(|o| o.state.is_pending()).count() < 2 {
                workload.submit(&mut sim);
            }
            if sim.now_ms() >= next_fault_ms {
                // Heal, or cut off / restart one node: a majority stays up and connected.
                let node = sim.random_between(1, 3) as NodeId;
                match sim.random_between(0, 2) {
                    0 => sim.heal(),
                    1 => sim.isolate(node),
                    _ => sim.crash_restart(node),
                }
                next_fault_ms = sim.now_ms() + sim.random_between(2_000, 8_000);
            }
            steps += 1;
            if steps.is_multiple_of(50) {
                observed.sample(&sim);
                assert_same_sequence(&sim);
                max_persisted = max_persisted.max(persisted_len(&sim));
                assert!(max_persisted <= MAX_PERSISTED, "{}", describe_logs(&sim));
            }
        }
        heal_all(&mut sim);
        write_succeeds_within(&mut sim, 5_000, -1);
        let ok = sim.ops().iter().filter(|o| o.state.is_ok()).count();
        let highest = sim.members().iter().filter_map(|&m| sim.node(m)).map(|n| n.applied()).max().unwrap();
        assert!(ok > 5_000, "only {ok} operations succeeded in ten simulated minutes");
        assert!(highest > 20 * SNAPSHOT_EVERY, "only {highest} slots chosen");

        // Kill every node at once; only what they persisted survives.
        let compacted: Vec<u64> = sim.members().iter().map(|&m| sim.node(m).unwrap().compacted()).collect();
        for m in sim.members().to_vec() {
            assert!(starts_with_snapshot(&sim, m), "node {m} never compacted its log");
            sim.crash(m);
        }
        for m in sim.members().to_vec() {
            sim.restart(m);
        }
        for (i, &m) in sim.members().to_vec().iter().enumerate() {
            let applied = sim.node(m).unwrap().applied();
            assert!(
                applied >= compacted[i] && applied > 0,
                "node {m} restarted at slot {applied}, below its snapshot at {}",
                compacted[i]
            );
        }
        let leader = write_succeeds_within(&mut sim, 5_000, -2);
        match sim.call(leader, Request::Get { key: "liveness".into() }) {
            OpState::Ok(Response::Value { value }) => assert_eq!(value, Some(-2)),
            other => panic!("a read after the restart ended {other:?}"),
        }
        observed.sample(&sim);
        all_catch_up_within(&mut sim, 5_000, &observed, leader);
        sim.run_for(sim.config().client_timeout_ms + 1);
        observed.sample(&sim);
        observed.assert_nothing_lost(&sim);
        assert_same_sequence(&sim);
        assert_one_leader_per_term(&sim);
        assert!(persisted_len(&sim) <= MAX_PERSISTED);
        assert_linearizable(&sim);
        println!(
            "seed {seed}: {} ops ({ok} ok), {highest} slots, largest log {max_persisted} records",
            sim.ops().len()
        );
    });
}

/// A node cut off while the others chose and compacted far past it cannot get those slots
/// as values any more: it must install a snapshot, and then agrees with the others.
#[test]
fn a_node_behind_the_compaction_point_installs_a_snapshot() {
    check_seeds(0..5, |seed| {
        let mut cfg = config(3, false);
        cfg.options.snapshot_every = SNAPSHOT_EVERY;
        let mut sim = Sim::<Paxos>::new(seed, cfg);
        let leader = write_succeeds_within(&mut sim, 5_000, 0);
        let behind = sim.members().iter().copied().find(|&m| m != leader).unwrap();
        sim.isolate(behind);
        for value in 1..=(3 * SNAPSHOT_EVERY as i64) {
            let (_, state) = sim.call_leader(leader, Request::Put { key: "k".into(), value });
            assert!(state.is_ok(), "write {value} ended {state:?}");
        }
        let lagging_at = sim.node(behind).unwrap().applied();
        let served_from = sim
            .members()
            .iter()
            .filter(|&&m| m != behind)
            .map(|&m| sim.node(m).unwrap().compacted())
            .min()
            .unwrap();
        assert!(served_from > lagging_at + 1, "the others did not compact past the cut-off node");
        sim.heal();
        let target = sim.node(leader).unwrap().applied();
        assert!(
            sim.run_until(5_000, |s| s.node(behind).unwrap().applied() >= target),
            "the node behind did not catch up"
        );
        assert!(starts_with_snapshot(&sim, behind));
        assert_eq!(
            sim.node(behind).unwrap().store().read(&Request::Get { key: "k".into() }),
            sim.node(leader).unwrap().store().read(&Request::Get { key: "k".into() })
        );
        assert_same_sequence(&sim);
        assert_linearizable(&sim);
    });
}

/// The chaos of `paxos_safety` (partitions, loss, duplication, pauses, crash-restarts of one
/// node or all) with a snapshot every few slots, so that compaction, snapshot install and
/// recovery from a snapshot happen under every fault: every invariant still holds.
#[test]
fn safety_and_liveness_under_faults_with_frequent_snapshots() {
    check_seeds(0..500, |seed| {
        let mut cfg = config([5, 3, 3][(seed % 3) as usize], seed % 2 == 1);
        cfg.options.snapshot_every = 4;
        let client_timeout_ms = cfg.client_timeout_ms;
        let mut sim = Sim::<Paxos>::new(seed, cfg);
        let mut workload = Workload::new(3);
        let mut observed = Observed::default();
        let mut next_fault_ms = sim.random_between(100, 400);
        while sim.now_ms() < 2_000 {
            let pause = sim.random_between(2, 20);
            sim.run_for(pause);
            if sim.ops().iter().filter(|o| o.state.is_pending()).count() < 4 {
                workload.submit(&mut sim);
            }
            if sim.now_ms() >= next_fault_ms {
                inject_fault(&mut sim);
                next_fault_ms = sim.now_ms() + sim.random_between(100, 400);
            }
            observed.sample(&sim);
            assert_same_sequence(&sim);
        }
        heal_all(&mut sim);
        let node = write_succeeds_within(&mut sim, 5_000, -1);
        observed.sample(&sim);
        all_catch_up_within(&mut sim, 5_000, &observed, node);
        sim.run_for(client_timeout_ms + 1);
        observed.sample(&sim);
        observed.assert_nothing_lost(&sim);
        assert_same_sequence(&sim);
        assert_one_leader_per_term(&sim);
        assert_linearizable(&sim);
        let compacted = sim.members().iter().filter_map(|&m| sim.node(m)).map(|n| n.compacted()).max();
        assert!(compacted > Some(0), "nothing was compacted");
    });
}
