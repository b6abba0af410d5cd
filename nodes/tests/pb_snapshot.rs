//! Primary/backup compaction: ten simulated minutes of writes with a small snapshot
//! interval and occasional faults, then every node killed at once and restarted.
//!
//! The persisted log stays bounded by the snapshot interval (not by the op count), a
//! backup behind the primary's compaction point receives the primary's state, the replicas
//! converge after healing, and a restarted cluster resumes from its snapshots with its
//! state intact. (Primary/backup is unsafe by design, so no linearizability is asserted.)

use nodes::api::{NodeId, Request, Response, Role};
use nodes::protocols::pb::{Async, Sync};
use nodes::protocols::pb::{PrimaryBackup, Record, ReplyRule};
use nodes::sim::{
    check_seeds, describe_faults, run_chaos, set_adds_by_outcome, ChaosPlan, FaultMix, OpState, Sim,
    SimConfig, WorkloadMix, SET_KEY,
};

/// Ten minutes of simulated time.
const RUN_MS: u64 = 600_000;
const SNAPSHOT_EVERY: u64 = 50;
/// Most records a node's write-ahead log may hold: era, snapshot, and the entries since the
/// last compaction (a primary keeps up to one interval more for backups not yet sent them).
const MAX_PERSISTED: usize = 3 * SNAPSHOT_EVERY as usize + 8;

fn config() -> SimConfig {
    let mut cfg = SimConfig::new(3);
    cfg.options.snapshot_every = SNAPSHOT_EVERY;
    cfg
}

fn primary<R: ReplyRule>(sim: &Sim<PrimaryBackup<R>>) -> Option<NodeId> {
    sim.members()
        .iter()
        .filter_map(|&n| sim.status(n).map(|s| (s, n)))
        .filter(|(s, _)| s.role == Role::Primary)
        .max_by_key(|(s, _)| s.term)
        .map(|(_, n)| n)
}

fn persisted_len<R: ReplyRule>(sim: &Sim<PrimaryBackup<R>>) -> usize {
    sim.members().iter().map(|&id| sim.persisted(id).len()).max().unwrap_or(0)
}

fn starts_with_snapshot<R: ReplyRule>(sim: &Sim<PrimaryBackup<R>>, id: NodeId) -> bool {
    sim.persisted(id).iter().any(|r| matches!(r, Record::Snapshot(_)))
}

fn all_equal<R: ReplyRule>(sim: &Sim<PrimaryBackup<R>>) -> bool {
    let stores: Vec<_> = sim.members().iter().filter_map(|&m| sim.node(m)).map(|n| n.store()).collect();
    stores.len() == sim.members().len() && stores.windows(2).all(|w| w[0] == w[1])
}

/// A write through whoever is primary succeeds within `within_ms`; returns that primary.
fn write_succeeds<R: ReplyRule>(sim: &mut Sim<PrimaryBackup<R>>, within_ms: u64, value: i64) -> NodeId {
    let deadline = sim.now_ms() + within_ms;
    while sim.now_ms() < deadline {
        let (node, state) = sim.call_leader(1, Request::Put { key: "liveness".into(), value });
        if state.is_ok() {
            return node;
        }
        sim.run_for(50);
    }
    panic!("no write succeeded within {within_ms} ms (t = {} ms)", sim.now_ms());
}

fn long_run<R: ReplyRule>() {
    check_seeds(0..2, |seed| {
        let mut sim = Sim::<PrimaryBackup<R>>::new(seed, config());
        let mut next_value = 1i64;
        let mut max_persisted = 0;
        let mut next_fault_ms = 5_000;
        let mut steps = 0u64;
        while sim.now_ms() < RUN_MS {
            let pause = sim.random_between(20, 60);
            sim.run_for(pause);
            if sim.ops().iter().filter(|o| o.state.is_pending()).count() < 2 {
                let node = primary(&sim).unwrap_or(1);
                let key = format!("k{}", sim.random_between(0, 3));
                let request = if sim.random_between(0, 2) == 0 {
                    Request::Get { key }
                } else {
                    next_value += 1;
                    Request::Put { key, value: next_value }
                };
                sim.submit(node, request);
            }
            if sim.now_ms() >= next_fault_ms {
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
                max_persisted = max_persisted.max(persisted_len(&sim));
                assert!(
                    max_persisted <= MAX_PERSISTED,
                    "a log holds {max_persisted} records at {} ms (bound {MAX_PERSISTED})",
                    sim.now_ms()
                );
            }
        }
        sim.heal();
        write_succeeds(&mut sim, 5_000, -1);
        assert!(sim.run_until(5_000, all_equal), "the replicas did not converge after healing");
        let ok = sim.ops().iter().filter(|o| o.state.is_ok()).count();
        assert!(ok > 2_000, "only {ok} operations succeeded in ten simulated minutes");

        // Kill every node at once; only what they persisted survives.
        let before: Vec<_> = sim.members().iter().map(|&m| sim.node(m).unwrap().store().clone()).collect();
        for m in sim.members().to_vec() {
            assert!(starts_with_snapshot(&sim, m), "node {m} never compacted its log");
            sim.crash(m);
        }
        for m in sim.members().to_vec() {
            sim.restart(m);
        }
        for (i, &m) in sim.members().to_vec().iter().enumerate() {
            assert_eq!(sim.node(m).unwrap().store(), &before[i], "node {m} lost state in the restart");
        }
        let node = write_succeeds(&mut sim, 5_000, -2);
        match sim.call(node, Request::Get { key: "liveness".into() }) {
            OpState::Ok(Response::Value { value }) => assert_eq!(value, Some(-2)),
            other => panic!("a read after the restart ended {other:?}"),
        }
        assert!(sim.run_until(5_000, all_equal), "the replicas did not converge after the restart");
        assert!(persisted_len(&sim) <= MAX_PERSISTED);
        println!("seed {seed}: {} ops ({ok} ok), largest log {max_persisted} records", sim.ops().len());
    });
}

#[test]
fn pb_async_long_run_stays_bounded_and_survives_killing_every_node() {
    long_run::<Async>();
}

#[test]
fn pb_sync_long_run_stays_bounded_and_survives_killing_every_node() {
    long_run::<Sync>();
}

/// A backup down while the primary compacted far past it gets the primary's state.
#[test]
fn a_backup_behind_the_compaction_point_receives_the_snapshot() {
    check_seeds(0..5, |seed| {
        let mut sim = Sim::<PrimaryBackup<Async>>::new(seed, config());
        assert!(sim.call(1, Request::Put { key: "k".into(), value: 0 }).is_ok());
        sim.run_for(100);
        let lagging_at = sim.status(3).unwrap().applied_index;
        sim.crash(3);
        for value in 1..=(3 * SNAPSHOT_EVERY as i64) {
            assert!(sim.call(1, Request::Put { key: "k".into(), value }).is_ok(), "write {value}");
        }
        let compacted = sim.node(1).unwrap().compacted();
        assert!(compacted > lagging_at + 1, "the primary did not compact past the backup");
        sim.restart(3);
        assert!(sim.run_until(5_000, all_equal), "the backup did not catch up");
        assert!(starts_with_snapshot(&sim, 3));
        assert_eq!(sim.status(3).unwrap().applied_index, sim.status(1).unwrap().applied_index);
    });
}

/// The chaos schedules of `pb_faults` with a snapshot every few entries, so compaction and
/// snapshot transfer happen under every fault (failovers included): after healing there is
/// one primary and identical replicas, and pb-sync still loses no acknowledged write.
fn settles_under_chaos_with_frequent_snapshots<R: ReplyRule>() {
    let plan = ChaosPlan {
        clients: 5,
        workload: WorkloadMix::default(),
        faults: FaultMix::all(3),
        duration_ms: 3_000,
        fault_every_ms: 250,
        settle_ms: 3_000,
    };
    check_seeds(0..150, |seed| {
        let mut cfg = SimConfig::new(3);
        cfg.options.snapshot_every = 4;
        let mut sim = Sim::<PrimaryBackup<R>>::new(seed, cfg);
        let faults = run_chaos(&mut sim, &plan);
        let context = || format!("faults: {}", describe_faults(&faults));
        let primaries: Vec<NodeId> =
            sim.members().iter().copied().filter(|&n| sim.status(n).unwrap().role == Role::Primary).collect();
        assert_eq!(primaries.len(), 1, "after healing, one primary: {primaries:?}; {}", context());
        let primary = sim.node(primaries[0]).unwrap();
        for &n in sim.members() {
            let node = sim.node(n).unwrap();
            assert_eq!(node.era(), primary.era(), "node {n} follows another era; {}", context());
            assert_eq!(node.store(), primary.store(), "node {n} diverged after healing; {}", context());
        }
        assert!(primary.compacted() > 0, "nothing was compacted; {}", context());
        if R::WAIT_FOR_BACKUPS {
            let (acked, _) = set_adds_by_outcome(&sim);
            let read = primary.store().read(&Request::SetRead { key: SET_KEY.into() }).unwrap();
            let Response::Elements { elements } = read else { panic!("set read gave {read:?}") };
            let lost: Vec<_> = acked.iter().filter(|e| !elements.contains(e)).collect();
            assert!(lost.is_empty(), "pb-sync lost acknowledged adds {lost:?}; {}", context());
        }
    });
}

#[test]
fn pb_async_settles_under_chaos_with_frequent_snapshots() {
    settles_under_chaos_with_frequent_snapshots::<Async>();
}

#[test]
fn pb_sync_settles_under_chaos_with_frequent_snapshots_and_keeps_acknowledged_writes() {
    settles_under_chaos_with_frequent_snapshots::<Sync>();
}
