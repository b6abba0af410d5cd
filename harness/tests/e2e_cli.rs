//! `faultline test` refuses bad input with exit 254 and one line, before starting anything.

mod e2e_support;

use std::time::Duration;

use e2e_support::*;

fn refused(args: &[&str], needle: &str) {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("store");
    let output = run_test(&store, args, Duration::from_secs(30));
    assert_eq!(output.status.code(), Some(254), "{args:?}: {}", describe(&output));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains(needle), "{args:?}: expected {needle:?} in {stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
}

#[test]
fn bad_flags_exit_254_with_the_reason() {
    refused(&["--nodes", "0"], "--nodes");
    refused(&["--nemesis", "earthquake"], "unknown fault");
    refused(&["--protocol", "viewstamped"], "unknown protocol");
    refused(&["--workload", "fifo"], "unknown workload");
    refused(&["--rate=-5"], "--rate");
}

#[test]
fn a_schedule_that_does_not_fit_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let schedule = dir.path().join("schedule.json");
    std::fs::write(&schedule, "{not json").unwrap();
    refused(&["--schedule", schedule.to_str().unwrap()], "bad schedule");
    std::fs::write(
        &schedule,
        r#"{"seed":0,"kinds":[],"interval_ms":1000,"time_limit_ms":5000,"nodes":[1,2,3,4,5],"steps":[]}"#,
    )
    .unwrap();
    refused(&["--schedule", schedule.to_str().unwrap()], "--nodes 5");
}
