//! The white-box log-agreement check through the real harness: every built-in node's
//! committed log is sampled over `/admin/log`, stored in `commit-log.json`, and compared.
//! pb-async's cut-off primary keeps committing while a backup takes over, so the two
//! commit different entries at the same index: invalid. Raft under the same cut agrees.

mod e2e_support;

use std::time::Duration;

use checkers::log_agreement::Violation;
use checkers::{CheckDetails, CheckName, Verdict};
use e2e_support::*;

/// Node 1 (pb-async's first primary, and often Raft's first leader) cut off for four
/// seconds, long enough for the others to move on without it.
const ISOLATE_NODE_1: &str = r#"{
  "seed": 3, "kinds": ["partition-one"], "interval_ms": 4000, "time_limit_ms": 8000, "nodes": [1, 2, 3],
  "steps": [
    {"at_ms": 1500, "id": 0, "action": "start", "fault": {"type": "partition", "kind": "partition-one", "grudge": {"1": [2, 3], "2": [1], "3": [1]}}},
    {"at_ms": 5500, "id": 0, "action": "stop", "fault": {"type": "partition", "kind": "partition-one", "grudge": {"1": [2, 3], "2": [1], "3": [1]}}}
  ]
}"#;

fn run(protocol: &str) -> (std::process::Output, std::path::PathBuf, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let schedule = dir.path().join("isolate-1.json");
    std::fs::write(&schedule, ISOLATE_NODE_1).unwrap();
    let store = dir.path().join("store");
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
            "8",
            "--rate",
            "200",
            "--concurrency",
            "6",
            "--seed",
            "3",
        ],
        Duration::from_secs(150),
    );
    (output, store, dir)
}

#[test]
fn pb_async_with_its_primary_cut_off_commits_divergent_logs() {
    let (output, store, _dir) = run("pb-async");
    let results = results(&store);
    let check = &results.checks[&CheckName::LogAgreement];
    assert_eq!(check.verdict, Verdict::Invalid, "{}", describe(&output));
    let Some(CheckDetails::LogAgreement(report)) = &check.details else { panic!("{check:?}") };
    match report.examples[0] {
        Violation::Divergence { first, second, .. } => assert_ne!(first.node, second.node),
        Violation::Rewritten { .. } | Violation::CommitDropped { .. } => {}
    }
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(stdout.lines().any(|l| l.starts_with("log-agreement") && l.contains("invalid")), "{stdout}");
    // The samples are kept with the run.
    let samples = latest(&store).read_commit_log().unwrap().expect("commit-log.json is written");
    assert!(samples.iter().any(|s| !s.entries.is_empty()));
    assert!(wait_for_no_process(&canonical(&store), Duration::from_secs(10)).is_empty());
}

#[test]
fn raft_with_a_node_cut_off_keeps_one_committed_log() {
    let (output, store, _dir) = run("raft");
    assert_valid_run(&store, &output, &[CheckName::Linearizable, CheckName::LogAgreement, CheckName::Stats]);
    // The header names the replayed schedule, not the `--nemesis` default it overrides.
    let stderr = String::from_utf8_lossy(&output.stderr);
    let header = stderr.lines().find(|l| l.contains(" workload, ")).unwrap_or_default();
    assert!(header.contains("workload, schedule ") && header.contains("isolate-1.json"), "{header}");
    let results = results(&store);
    let Some(CheckDetails::LogAgreement(report)) = &results.checks[&CheckName::LogAgreement].details else {
        panic!("{results:?}")
    };
    assert_eq!(report.nodes, 3, "{report:?}");
    assert!(report.highest_index > 10, "{report:?}");
}
