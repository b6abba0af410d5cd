//! The deposed-leader check in both directions on one seed and one schedule: the leader is
//! cut off from 2 s to 4 s. pb-async's old primary keeps acknowledging writes after a
//! backup promoted itself into the next epoch, and the check flags it; Raft's old leader
//! cannot commit anything once the new one leads, and the check stays quiet. Both runs also
//! leave `roles.json` and draw the role lane in the report.

mod e2e_support;

use std::time::Duration;

use checkers::{CheckDetails, CheckName, Verdict};
use e2e_support::*;

fn cut_the_leader(protocol: &str, store: &std::path::Path) -> std::process::Output {
    run_test(
        store,
        &[
            "--protocol",
            protocol,
            "--workload",
            "set",
            "--nemesis",
            "partition-leader",
            "--nemesis-interval",
            "2",
            "--time-limit",
            "6",
            "--seed",
            "1",
        ],
        Duration::from_secs(120),
    )
}

#[test]
fn pb_async_old_primary_acknowledging_writes_is_flagged() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("store");
    let output = cut_the_leader("pb-async", &store);
    let results = results(&store);
    let check = &results.checks[&CheckName::DeposedLeader];
    assert_eq!(check.verdict, Verdict::Invalid, "{}", describe(&output));
    let Some(CheckDetails::DeposedLeader(report)) = check.details.clone() else { panic!("{check:?}") };
    let pair = report.overlapping_claims[0];
    assert!(pair.old.term < pair.newer.term && pair.old.node != pair.newer.node, "{pair:?}");
    assert!(report.deposed_writes > 0 && !report.examples.is_empty());
    // The text output names the overlapping claims; the report draws them.
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(stdout.contains(&format!("node {} led term {}", pair.old.node, pair.old.term)), "{stdout}");
    let run = latest(&store);
    let html = std::fs::read_to_string(run.path().join("report.html")).unwrap();
    assert!(html.contains("id=\"deposed\"") && html.contains("id=\"roles\""));
    assert!(!run.read_roles().unwrap().is_empty(), "roles.json holds the samples");
    assert!(wait_for_no_process(&canonical(&store), Duration::from_secs(10)).is_empty());
}

#[test]
fn raft_old_leader_is_never_flagged() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("store");
    let output = cut_the_leader("raft", &store);
    let results = results(&store);
    let check = &results.checks[&CheckName::DeposedLeader];
    assert_eq!(check.verdict, Verdict::Valid, "{}", describe(&output));
    let Some(CheckDetails::DeposedLeader(report)) = check.details.clone() else { panic!("{check:?}") };
    assert!(report.writes_judged > 0 && report.samples > 0, "{report:?}");
    let roles = latest(&store).read_roles().unwrap();
    assert!(roles.iter().any(|s| s.role == "leader"), "the lane has a leader");
    assert!(wait_for_no_process(&canonical(&store), Duration::from_secs(10)).is_empty());
}
