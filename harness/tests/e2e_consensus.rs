//! Raft, Multi-Paxos and Zab keep a linearizable register through partitions, kills and pauses,
//! run through the real harness: node processes, the fault proxy, the nemesis. The fault
//! schedule is written out explicitly (and replayed with `--schedule`) so that every fault
//! kind is certain to happen, whatever the seed would have drawn.

mod e2e_support;

use std::time::Duration;

use checkers::{CheckName, Verdict};
use e2e_support::*;

/// Halves, then kill -9 of node 1, then SIGSTOP of node 2, then cut off whoever leads.
const SCHEDULE: &str = r#"{
  "seed": 11,
  "kinds": ["partition-halves", "partition-leader", "kill", "pause"],
  "interval_ms": 2000,
  "time_limit_ms": 16000,
  "nodes": [1, 2, 3],
  "steps": [
    {"at_ms": 1500, "id": 0, "action": "start", "fault": {"type": "partition", "kind": "partition-halves", "grudge": {"1": [3], "2": [3], "3": [1, 2]}}},
    {"at_ms": 3500, "id": 0, "action": "stop", "fault": {"type": "partition", "kind": "partition-halves", "grudge": {"1": [3], "2": [3], "3": [1, 2]}}},
    {"at_ms": 5000, "id": 1, "action": "start", "fault": {"type": "kill", "kind": "kill", "nodes": [1]}},
    {"at_ms": 7000, "id": 1, "action": "stop", "fault": {"type": "kill", "kind": "kill", "nodes": [1]}},
    {"at_ms": 8500, "id": 2, "action": "start", "fault": {"type": "pause", "nodes": [2]}},
    {"at_ms": 10500, "id": 2, "action": "stop", "fault": {"type": "pause", "nodes": [2]}},
    {"at_ms": 12000, "id": 3, "action": "start", "fault": {"type": "partition-leader"}},
    {"at_ms": 14000, "id": 3, "action": "stop", "fault": {"type": "partition-leader"}}
  ]
}"#;

fn valid_under_partition_kill_and_pause(protocol: &str) {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("store");
    let schedule = dir.path().join("schedule.json");
    std::fs::write(&schedule, SCHEDULE).unwrap();
    let output = run_test(
        &store,
        &[
            "--protocol",
            protocol,
            "--workload",
            "register",
            "--schedule",
            schedule.to_str().unwrap(),
            "--time-limit",
            "16",
            "--rate",
            "100",
            "--concurrency",
            "5",
            "--seed",
            "11",
        ],
        Duration::from_secs(180),
    );
    let stats = assert_valid_run(
        &store,
        &output,
        &[CheckName::Linearizable, CheckName::SplitBrain, CheckName::Stats],
    );
    let windows = &stats.faults;
    for kind in ["partition", "kill", "pause"] {
        assert!(
            windows.iter().any(|w| w.fault == kind && w.took_effect),
            "no {kind} took effect: {windows:?}"
        );
    }
}

#[test]
fn raft_stays_valid_under_partition_kill_and_pause() {
    valid_under_partition_kill_and_pause("raft");
}

#[test]
fn paxos_stays_valid_under_partition_kill_and_pause() {
    valid_under_partition_kill_and_pause("paxos");
}

#[test]
fn zab_stays_valid_under_partition_kill_and_pause() {
    valid_under_partition_kill_and_pause("zab");
}

/// Cut off whoever leads for six seconds: long enough for the others to elect a new leader
/// and take writes while clients whose home is the old leader keep reading from it.
const ISOLATE_LEADER: &str = r#"{
  "seed": 2,
  "kinds": ["partition-leader"],
  "interval_ms": 6000,
  "time_limit_ms": 10000,
  "nodes": [1, 2, 3],
  "steps": [
    {"at_ms": 2000, "id": 0, "action": "start", "fault": {"type": "partition-leader"}},
    {"at_ms": 8000, "id": 0, "action": "stop", "fault": {"type": "partition-leader"}}
  ]
}"#;

/// Raft under a partition that isolates the leader, with reads served `local` or through
/// ReadIndex; the verdict of the linearizability check.
fn raft_reads_with_leader_isolated(read: &str) -> (Option<i32>, Verdict) {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("store");
    let schedule = dir.path().join("schedule.json");
    std::fs::write(&schedule, ISOLATE_LEADER).unwrap();
    let output = run_test(
        &store,
        &[
            "--protocol",
            "raft",
            "--read",
            read,
            "--workload",
            "register",
            "--schedule",
            schedule.to_str().unwrap(),
            "--time-limit",
            "10",
            "--rate",
            "300",
            "--concurrency",
            "30",
            "--op-timeout-ms",
            "300",
            "--seed",
            "2",
        ],
        Duration::from_secs(180),
    );
    let results = results(&store);
    let windows = &results.stats().expect("the stats check's report").faults;
    assert!(windows.iter().any(|w| w.took_effect), "the leader was never cut off: {windows:?}");
    assert!(wait_for_no_process(&canonical(&store), Duration::from_secs(10)).is_empty());
    (output.status.code(), results.checks[&CheckName::Linearizable].verdict)
}

#[test]
fn raft_local_reads_are_stale_when_the_leader_is_cut_off() {
    assert_eq!(raft_reads_with_leader_isolated("local"), (Some(1), Verdict::Invalid));
}

#[test]
fn raft_read_index_stays_linearizable_when_the_leader_is_cut_off() {
    assert_eq!(raft_reads_with_leader_isolated("quorum"), (Some(0), Verdict::Valid));
}
