//! The counter workload through the real harness, checked as a linearizable counter: the
//! bugs known to be there are found (pb-async losing acknowledged adds when its primary is
//! killed, raft's unsafe local reads when its leader is cut off), and the protocols that
//! must stay linearizable do so through partitions, kills and pauses. Every schedule is
//! written out and replayed with `--schedule`, so each fault is certain to happen.

mod e2e_support;

use checkers::{CheckName, Verdict};
use e2e_support::*;

/// Cut off whoever leads for six seconds.
const ISOLATE_LEADER: &str = r#"{
  "seed": 2, "kinds": ["partition-leader"], "interval_ms": 6000, "time_limit_ms": 10000, "nodes": [1, 2, 3],
  "steps": [
    {"at_ms": 2000, "id": 0, "action": "start", "fault": {"type": "partition-leader"}},
    {"at_ms": 8000, "id": 0, "action": "stop", "fault": {"type": "partition-leader"}}
  ]
}"#;

/// A counter run of `protocol` under `schedule`, with `extra` flags; its exit code and
/// the linearizability check's verdict and summary.
fn counter_run(protocol: &str, schedule: &str, extra: &[&str]) -> (Option<i32>, Verdict, String) {
    let run = scheduled_run(protocol, "counter", schedule, extra);
    let linearizable = &run.results.checks[&CheckName::Linearizable];
    let verdict_word = if linearizable.verdict == Verdict::Valid { "valid" } else { "invalid" };
    assert!(run.recheck.contains(&format!(": {verdict_word} (counter)")), "{}", run.recheck);
    (
        run.output.status.code(),
        linearizable.verdict,
        format!("{}\n{}", linearizable.summary, describe(&run.output)),
    )
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
