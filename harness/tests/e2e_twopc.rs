//! 2pc is safe under partition but blocks: the run is valid, and its unavailability during
//! the partition shows in the stats.

mod e2e_support;

use std::time::Duration;

use checkers::Verdict;
use e2e_support::*;

#[test]
fn twopc_under_partition_is_valid_and_unavailable_while_cut() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("store");
    let output = run_test(
        &store,
        &[
            "--protocol",
            "2pc",
            "--workload",
            "register",
            "--nemesis",
            "partition-halves",
            "--time-limit",
            "9",
            "--nemesis-interval",
            "3",
            "--rate",
            "100",
            "--concurrency",
            "5",
            "--seed",
            "3",
        ],
        Duration::from_secs(150),
    );
    assert_eq!(output.status.code(), Some(0), "{}", describe(&output));
    let results = results(&store);
    assert_eq!(results.valid, Verdict::Valid);
    let stats = results.stats().expect("the stats check's report");
    let window = &stats.faults[0];
    assert!(window.took_effect);
    let during = window.availability.unwrap();
    let outside = stats.availability_without_faults.unwrap();
    assert!(during < outside, "availability during the partition {during} vs outside {outside}");
    let failed = window.counts.fail + window.counts.info;
    assert!(failed > 0, "operations failed while cut: {window:?}");
    assert!(wait_for_no_process(&canonical(&store), Duration::from_secs(10)).is_empty());
}
