//! The list-append workload end to end: raft and 2pc keep strict serializability through
//! faults, and 2pc's `--isolation read-committed` (unsafe by design: reads answered when a
//! transaction arrives, writes applied when it commits) is caught as a lost update, named
//! in `results.json` and drawn in the report.

mod e2e_support;

use std::time::Duration;

use checkers::txn::AnomalyKind;
use checkers::{CheckDetails, CheckName, Verdict};
use e2e_support::*;

fn list_append_run(
    store: &std::path::Path,
    protocol: &str,
    nemesis: &str,
    seed: &str,
    rate: &str,
    extra: &[&str],
) -> std::process::Output {
    let mut args = vec![
        "--protocol",
        protocol,
        "--workload",
        "list-append",
        "--nemesis",
        nemesis,
        "--time-limit",
        "8",
        "--nemesis-interval",
        "2",
        "--rate",
        rate,
        "--concurrency",
        "8",
        "--seed",
        seed,
    ];
    args.extend_from_slice(extra);
    run_test(store, &args, Duration::from_secs(150))
}

#[test]
fn raft_keeps_list_append_strict_serializable_through_partitions_and_kills() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("store");
    let output = list_append_run(&store, "raft", "partition,kill", "5", "150", &[]);
    assert_valid_run(&store, &output, &[CheckName::Isolation, CheckName::SplitBrain, CheckName::Stats]);
    let results = results(&store);
    assert!(!results.checks.contains_key(&CheckName::Linearizable), "no register to linearize");
    let Some(CheckDetails::Isolation(report)) = &results.checks[&CheckName::Isolation].details else {
        panic!("no isolation report: {:?}", results.checks[&CheckName::Isolation]);
    };
    assert!(report.transactions > 100, "{report:?}");
    assert!(report.anomaly_counts.is_empty(), "{report:?}");
    assert_every_key_read_at_the_end(&store);
}

#[test]
fn twopc_keeps_list_append_strict_serializable_under_partition() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("store");
    let output = list_append_run(&store, "2pc", "partition", "3", "150", &[]);
    assert_valid_run(&store, &output, &[CheckName::Isolation, CheckName::Stats]);
}

/// The unsafe mode under load and no fault at all: concurrent transactions that read a
/// key and append to it, queued behind the same transaction, each miss the other's append.
/// Transactions must queue for that, so the rate is high enough that they do on an idle
/// machine too (at 150/s they rarely overlap unless the machine is slow).
#[test]
fn twopc_read_committed_is_caught_as_a_lost_update_and_drawn() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("store");
    let output = list_append_run(&store, "2pc", "none", "1", "1000", &["--isolation", "read-committed"]);
    assert_eq!(output.status.code(), Some(1), "invalid\n{}", describe(&output));
    let results = results(&store);
    assert_eq!(results.valid, Verdict::Invalid);
    let check = &results.checks[&CheckName::Isolation];
    assert_eq!(check.verdict, Verdict::Invalid, "{}", check.summary);
    let Some(CheckDetails::Isolation(report)) = &check.details else { panic!("no isolation report") };
    assert!(
        report.anomaly_counts.get(&AnomalyKind::GSingle).is_some_and(|&n| n > 0),
        "a lost update is G-single: {:?}",
        report.anomaly_counts
    );
    assert!(check.summary.contains("G-single"), "{}", check.summary);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(stdout.contains("G-single"), "the text summary counts anomalies by type:\n{stdout}");
    let html = std::fs::read_to_string(latest(&store).path().join("report.html")).unwrap();
    assert!(html.contains("id=\"isolation\""), "the report has the isolation section");
    assert!(html.contains("class=\"cycle\"") && html.contains("class=\"edge rw\""), "and draws a cycle");
    assert!(wait_for_no_process(&canonical(&store), Duration::from_secs(10)).is_empty());
}
