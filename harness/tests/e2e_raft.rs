//! Raft keeps a linearizable register through partitions and kills.

mod e2e_support;

use std::time::Duration;

use checkers::{CheckDetails, CheckName, Verdict};
use e2e_support::*;

#[test]
fn raft_stays_valid_under_partitions_and_kills() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("store");
    let output = run_test(
        &store,
        &[
            "--protocol",
            "raft",
            "--workload",
            "register",
            "--nemesis",
            "partition,kill",
            "--time-limit",
            "12",
            "--nemesis-interval",
            "2",
            "--rate",
            "100",
            "--concurrency",
            "5",
            "--seed",
            "5",
        ],
        Duration::from_secs(150),
    );
    assert_valid_run(&store, &output, &[CheckName::Linearizable, CheckName::SplitBrain, CheckName::Stats]);
}

#[test]
fn raft_conserves_money_under_partitions_and_kills() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("store");
    let output = run_test(
        &store,
        &[
            "--protocol",
            "raft",
            "--workload",
            "bank",
            "--nemesis",
            "partition,kill",
            "--time-limit",
            "10",
            "--nemesis-interval",
            "2",
            "--rate",
            "100",
            "--concurrency",
            "5",
            "--seed",
            "4",
        ],
        Duration::from_secs(150),
    );
    assert_eq!(output.status.code(), Some(0), "{}", describe(&output));
    let results = results(&store);
    let bank = &results.checks[&CheckName::Bank];
    assert_eq!(bank.verdict, Verdict::Valid, "{}", bank.summary);
    let Some(CheckDetails::Bank(report)) = &bank.details else { panic!("no bank report: {bank:?}") };
    assert!(report.reads > 10, "{report:?}");
    assert_eq!(latest(&store).read_run_info().unwrap().model, "bank");
    assert!(wait_for_no_process(&canonical(&store), Duration::from_secs(10)).is_empty());
}
