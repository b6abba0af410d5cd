//! pb-async acknowledges a write before any backup has it: killing the primary loses
//! acknowledged writes, and the harness must catch it. The schedule is written by hand (and
//! replayed with `--schedule`) so that the kill hits the primary, node 1, every time.

mod e2e_support;

use std::time::Duration;

use checkers::{CheckDetails, CheckName, Verdict};
use e2e_support::*;

#[test]
fn pb_async_with_its_primary_killed_is_invalid_with_lost_writes() {
    let dir = tempfile::tempdir().unwrap();
    let schedule = dir.path().join("kill-primary.json");
    std::fs::write(&schedule, KILL_THE_PRIMARY).unwrap();
    let store = dir.path().join("store");
    let output = run_test(
        &store,
        &[
            "--protocol",
            "pb-async",
            "--workload",
            "set",
            "--schedule",
            schedule.to_str().unwrap(),
            "--time-limit",
            "7",
            "--rate",
            "500",
            "--concurrency",
            "10",
            "--seed",
            "11",
        ],
        Duration::from_secs(120),
    );
    assert_eq!(output.status.code(), Some(1), "{}", describe(&output));
    let results = results(&store);
    assert_eq!(results.valid, Verdict::Invalid);
    let lost = &results.checks[&CheckName::LostWrites];
    assert_eq!(lost.verdict, Verdict::Invalid, "{}", describe(&output));
    let analysis = lost.details.as_ref().and_then(CheckDetails::lost_writes).expect("a lost-write analysis");
    assert!(analysis.lost.count > 0, "lost writes are counted: {analysis:?}");

    // The kill took effect and shows as a fault window in the stats.
    let stats = results.stats().expect("the stats check's report");
    assert_eq!(stats.faults[0].fault, "kill");
    assert!(stats.faults[0].took_effect);

    // The failure prints how to reproduce it, seed and schedule included.
    let stdout = String::from_utf8_lossy(&output.stdout);
    let line = stdout.lines().find(|l| l.starts_with("reproduce: faultline test")).expect("a reproduce line");
    assert!(line.contains("--seed 11") && line.contains("--schedule"), "{line}");
    // The schedule decides the faults: no `--nemesis` default beside it.
    assert!(!line.contains("--nemesis"), "{line}");
    // A run that is not valid keeps its nodes' data for whoever investigates it.
    assert!(latest(&store).path().join("data/1").is_dir(), "the invalid run kept its data");
    assert!(wait_for_no_process(&canonical(&store), Duration::from_secs(10)).is_empty());
}
