//! Ctrl-C in the middle of a run: every node dies, and the history recorded so far stays on
//! disk where `faultline check` accepts it.

mod e2e_support;

use std::process::Stdio;
use std::time::Duration;

use checkers::Verdict;
use e2e_support::*;

#[allow(unsafe_code, reason = "kill(2) sends the harness its Ctrl-C")]
#[test]
fn sigint_mid_run_leaves_no_process_and_a_checkable_history() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("store");
    let child = faultline()
        .args(["test", "--protocol", "raft", "--workload", "register", "--nemesis", "partition"])
        .args(["--time-limit", "60", "--rate", "100", "--seed", "9", "--store"])
        .arg(&store)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let harness_pid = child.id();

    // Wait until the workload is under way: the history has operations in it.
    let run = wait_for_events(&store, 50, Duration::from_secs(60));
    let nodes_before = processes_mentioning(run.path());
    assert!(!nodes_before.is_empty(), "the nodes are running");

    unsafe {
        libc::kill(harness_pid as i32, libc::SIGINT);
    }
    let output = wait_with_deadline(child, Duration::from_secs(30));
    let leftovers = wait_for_no_process(run.path(), Duration::from_secs(10));
    kill_all(&leftovers);
    assert!(leftovers.is_empty(), "nodes survived the harness: {leftovers:?} of {nodes_before:?}");
    assert_eq!(output.status.code(), Some(2), "an interrupted run is unknown: {}", describe(&output));

    let results = run.read_results().unwrap();
    assert_eq!(results.valid, Verdict::Unknown);
    assert!(results.reasons[0].contains("SIGINT"), "{:?}", results.reasons);

    // The history is whole and checks.
    let history = run.read_history().unwrap();
    assert!(history.torn_tail.is_none());
    assert!(history.events.len() > 50);
    let check = faultline().arg("check").arg(store.join("latest")).output().unwrap();
    assert!(
        matches!(check.status.code(), Some(0..=2)),
        "faultline check accepts the interrupted run's history: {}",
        describe(&check)
    );
}
