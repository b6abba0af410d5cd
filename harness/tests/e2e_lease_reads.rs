//! `--read lease` through the real harness: a clock fault on the leader makes its lease
//! outlive its leadership, and the linearizability check finds the stale read.
//!
//! The schedule: at 2 s the leader's clock is set back six seconds (the built-in clock then
//! stands still until real time catches up, so the lease it holds never runs out) and the
//! same leader is cut off. The other two elect a new leader on their own clocks and commit
//! writes; the old leader, its lease still alive on its stopped clock, answers reads from its
//! own state, which no longer has them. With `--read quorum` the same cut-off leader cannot
//! confirm a ReadIndex round, so its reads time out instead: valid.
//!
//! Nine clients, three homed on each node, and a 300 ms operation timeout keep the old
//! leader's clients reading through the cut (a write there waits out its timeout). Measured
//! with the release build: invalid in 10 of 10 runs with lease reads, valid in 3 of 3 with
//! quorum reads.

mod e2e_support;

use std::time::Duration;

use checkers::{CheckName, Verdict};
use e2e_support::*;

/// The leader's clock set back (it stands still for six seconds) and the leader cut off,
/// from 2 s to 5.5 s. Both are aimed at whichever node leads when the steps run; the clock
/// goes first, so the partition finds the same leader (no election can finish between two
/// steps a few milliseconds apart).
const STOP_THE_LEADERS_CLOCK_AND_CUT_IT_OFF: &str = r#"{
  "seed": 5, "kinds": ["clock", "partition-leader"], "interval_ms": 3500, "time_limit_ms": 8000, "nodes": [1, 2, 3],
  "steps": [
    {"at_ms": 2000, "id": 0, "action": "start", "fault": {"type": "clock", "skew": {"skew": "jump", "ms": -6000}}},
    {"at_ms": 2000, "id": 1, "action": "start", "fault": {"type": "partition-leader"}},
    {"at_ms": 5500, "id": 1, "action": "stop", "fault": {"type": "partition-leader"}},
    {"at_ms": 5500, "id": 0, "action": "stop", "fault": {"type": "clock", "skew": {"skew": "jump", "ms": -6000}}}
  ]
}"#;

fn run(read: &str) -> (std::process::Output, std::path::PathBuf, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let schedule = dir.path().join("stop-the-leaders-clock.json");
    std::fs::write(&schedule, STOP_THE_LEADERS_CLOCK_AND_CUT_IT_OFF).unwrap();
    let store = dir.path().join("store");
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
            "8",
            "--rate",
            "200",
            "--concurrency",
            "9",
            "--op-timeout-ms",
            "300",
            "--seed",
            "5",
        ],
        Duration::from_secs(150),
    );
    (output, store, dir)
}

#[test]
fn lease_reads_on_a_leader_whose_clock_stopped_are_stale() {
    let (output, store, _dir) = run("lease");
    let results = results(&store);
    let check = &results.checks[&CheckName::Linearizable];
    assert_eq!(check.verdict, Verdict::Invalid, "{}", describe(&output));
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(stdout.lines().any(|l| l.starts_with("linearizable") && l.contains("invalid")), "{stdout}");
    // Both faults took effect, on the same node.
    let history = latest(&store).read_history().unwrap();
    let starts: Vec<&serde_json::Value> = history
        .events
        .iter()
        .filter(|e| e.f == "start-clock" || e.f == "start-partition")
        .map(|e| &e.value)
        .collect();
    assert_eq!(starts.len(), 2, "{starts:?}");
    assert_eq!(starts[0]["node"], starts[1]["leader"], "{starts:?}");
    assert!(wait_for_no_process(&canonical(&store), Duration::from_secs(10)).is_empty());
}

#[test]
fn quorum_reads_under_the_same_faults_are_linearizable() {
    let (output, store, _dir) = run("quorum");
    assert_valid_run(&store, &output, &[CheckName::Linearizable, CheckName::Stats]);
}
