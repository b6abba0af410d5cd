//! The counter workload through the real harness, checked as a linearizable counter: the
//! bugs known to be there are found (pb-async losing acknowledged adds when its primary is
//! killed, raft's unsafe local reads when its leader is cut off), and the protocols that
//! must stay linearizable do so through partitions, kills and pauses. Every schedule is
//! written out and replayed with `--schedule`, so each fault is certain to happen.

mod e2e_support;

use std::time::Duration;

use checkers::{CheckName, Verdict};
use e2e_support::*;

/// Kill node 1, pb-async's primary, for two and a half seconds.
const KILL_THE_PRIMARY: &str = r#"{
  "seed": 0, "kinds": ["kill"], "interval_ms": 3000, "time_limit_ms": 7000, "nodes": [1, 2, 3],
  "steps": [
    {"at_ms": 2500, "id": 0, "action": "start", "fault": {"type": "kill", "kind": "kill", "nodes": [1]}},
    {"at_ms": 5000, "id": 0, "action": "stop", "fault": {"type": "kill", "kind": "kill", "nodes": [1]}}
  ]
}"#;

/// Cut off whoever leads for six seconds.
const ISOLATE_LEADER: &str = r#"{
  "seed": 2, "kinds": ["partition-leader"], "interval_ms": 6000, "time_limit_ms": 10000, "nodes": [1, 2, 3],
  "steps": [
    {"at_ms": 2000, "id": 0, "action": "start", "fault": {"type": "partition-leader"}},
    {"at_ms": 8000, "id": 0, "action": "stop", "fault": {"type": "partition-leader"}}
  ]
}"#;

/// Halves, then kill -9 of node 1, then SIGSTOP of node 2.
const PARTITION_KILL_PAUSE: &str = r#"{
  "seed": 5, "kinds": ["partition-halves", "kill", "pause"], "interval_ms": 2000, "time_limit_ms": 10000,
  "nodes": [1, 2, 3],
  "steps": [
    {"at_ms": 1000, "id": 0, "action": "start", "fault": {"type": "partition", "kind": "partition-halves", "grudge": {"1": [3], "2": [3], "3": [1, 2]}}},
    {"at_ms": 3000, "id": 0, "action": "stop", "fault": {"type": "partition", "kind": "partition-halves", "grudge": {"1": [3], "2": [3], "3": [1, 2]}}},
    {"at_ms": 4000, "id": 1, "action": "start", "fault": {"type": "kill", "kind": "kill", "nodes": [1]}},
    {"at_ms": 6000, "id": 1, "action": "stop", "fault": {"type": "kill", "kind": "kill", "nodes": [1]}},
    {"at_ms": 7000, "id": 2, "action": "start", "fault": {"type": "pause", "nodes": [2]}},
    {"at_ms": 9000, "id": 2, "action": "stop", "fault": {"type": "pause", "nodes": [2]}}
  ]
}"#;

/// A counter run of `protocol` under `schedule`, with `extra` flags; its exit code and
/// the linearizability check's verdict and summary.
fn counter_run(protocol: &str, schedule: &str, extra: &[&str]) -> (Option<i32>, Verdict, String) {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("store");
    let path = dir.path().join("schedule.json");
    std::fs::write(&path, schedule).unwrap();
    let time_limit =
        (serde_json::from_str::<serde_json::Value>(schedule).unwrap()["time_limit_ms"].as_u64().unwrap()
            / 1000)
            .to_string();
    let args = [
        &["--protocol", protocol, "--workload", "counter", "--schedule", path.to_str().unwrap()][..],
        &["--time-limit", &time_limit],
        extra,
    ]
    .concat();
    let output = run_test(&store, &args, Duration::from_secs(180));
    let results = results(&store);
    let windows = &results.stats().expect("the stats check's report").faults;
    assert!(windows.iter().all(|w| w.took_effect), "a fault did not take effect: {windows:?}");
    assert!(wait_for_no_process(&canonical(&store), Duration::from_secs(10)).is_empty());
    let linearizable = &results.checks[&CheckName::Linearizable];
    // The stored run names its model, so `faultline check` judges it again the same way.
    let run = latest(&store).path().to_path_buf();
    let again = faultline().arg("check").arg(&run).output().unwrap();
    let text = String::from_utf8_lossy(&again.stdout);
    let verdict_word = if linearizable.verdict == Verdict::Valid { "valid" } else { "invalid" };
    assert!(text.contains(&format!(": {verdict_word} (counter)")), "{text}");
    (output.status.code(), linearizable.verdict, format!("{}\n{}", linearizable.summary, describe(&output)))
}

#[test]
fn pb_async_loses_acknowledged_adds_when_its_primary_is_killed() {
    let flags = ["--rate", "500", "--concurrency", "10", "--seed", "11"];
    let (code, verdict, summary) = counter_run("pb-async", KILL_THE_PRIMARY, &flags);
    assert_eq!((code, verdict), (Some(1), Verdict::Invalid), "{summary}");
    assert!(summary.contains("not linearizable on key \"c"), "{summary}");
}

/// Local reads answer from a deposed leader, which has not seen the adds the new one took.
#[test]
fn raft_local_reads_miss_adds_when_the_leader_is_cut_off_and_read_index_does_not() {
    let flags = ["--rate", "300", "--concurrency", "30", "--op-timeout-ms", "300", "--seed", "2"];
    let (code, verdict, summary) =
        counter_run("raft", ISOLATE_LEADER, &[&flags[..], &["--read", "local"]].concat());
    assert_eq!((code, verdict), (Some(1), Verdict::Invalid), "{summary}");
    let (code, verdict, summary) =
        counter_run("raft", ISOLATE_LEADER, &[&flags[..], &["--read", "quorum"]].concat());
    assert_eq!((code, verdict), (Some(0), Verdict::Valid), "{summary}");
}

#[test]
fn consensus_protocols_keep_a_linearizable_counter_through_partition_kill_and_pause() {
    for protocol in ["raft", "paxos", "zab"] {
        let flags = ["--rate", "150", "--concurrency", "8", "--seed", "5"];
        let (code, verdict, summary) = counter_run(protocol, PARTITION_KILL_PAUSE, &flags);
        assert_eq!((code, verdict), (Some(0), Verdict::Valid), "{protocol}: {summary}");
    }
}
