//! Raft keeps a linearizable register through partitions and kills, and says what it is
//! doing on stderr when that is a pipe (one line per phase, per fault step, the verdict).
//! A node that loses its disk is outside Raft's model, and the run says so at its start.

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
    assert_plain_progress(&String::from_utf8_lossy(&output.stderr), "valid");
    assert_every_key_read_at_the_end(&store);
}

/// Without a terminal, the run's progress is plain lines in order: the cluster up, the
/// workload started, each fault step, the check, and the verdict last.
fn assert_plain_progress(stderr: &str, verdict: &str) {
    let lines: Vec<&str> = stderr.lines().collect();
    let at = |needle: &str| {
        lines
            .iter()
            .position(|l| l.starts_with("faultline: ") && l.contains(needle))
            .unwrap_or_else(|| panic!("no line with {needle:?} in stderr:\n{stderr}"))
    };
    let order = [
        at("cluster up: 3 nodes healthy"),
        at("running the workload with faults"),
        at("fault at "),
        at("healing"),
        at("checking"),
        at(&format!("verdict: {verdict}")),
    ];
    assert!(order.windows(2).all(|w| w[0] < w[1]), "out of order {order:?}:\n{stderr}");
    assert!(lines.iter().any(|l| l.contains("fault at ") && l.contains("(took effect)")), "{stderr}");
    assert!(
        !stderr.contains('\r') && !stderr.contains("\u{1b}["),
        "no terminal drawing in a pipe:\n{stderr}"
    );
}

/// lose-disk is no longer in any group, but asked for by name it runs, and the run says at
/// its start, once, that the fault is outside Raft's safety model; an invalid verdict
/// under it is allowed.
#[test]
fn a_run_with_lose_disk_says_it_is_outside_the_safety_model() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("store");
    let output = run_test(
        &store,
        &["--protocol", "raft", "--nemesis", "lose-disk", "--time-limit", "3", "--nemesis-interval", "1"],
        Duration::from_secs(90),
    );
    assert!(matches!(output.status.code(), Some(0..=2)), "{}", describe(&output));
    let stderr = String::from_utf8_lossy(&output.stderr);
    let warnings: Vec<&str> =
        stderr.lines().filter(|l| l.starts_with("faultline: warning: lose-disk")).collect();
    assert_eq!(warnings.len(), 1, "{stderr}");
    assert!(warnings[0].contains("outside their safety model"), "{stderr}");
    let warned = stderr.find("faultline: warning: lose-disk").unwrap();
    assert!(warned < stderr.find("cluster up").expect("cluster up"), "at the start:\n{stderr}");
    assert!(stderr.contains("start-lose-disk node "), "{stderr}");
    let verdict = results(&store).valid;
    assert_plain_progress(&stderr, verdict.as_str());
    assert!(wait_for_no_process(&canonical(&store), Duration::from_secs(10)).is_empty());
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
            "--keep-data",
        ],
        Duration::from_secs(150),
    );
    assert_eq!(output.status.code(), Some(0), "{}", describe(&output));
    // Asked to, a valid run keeps its nodes' data (without it, `assert_valid_run` checks
    // that none is left).
    assert!(latest(&store).path().join("data/1").is_dir(), "{}", describe(&output));
    let results = results(&store);
    let bank = &results.checks[&CheckName::Bank];
    assert_eq!(bank.verdict, Verdict::Valid, "{}", bank.summary);
    let Some(CheckDetails::Bank(report)) = &bank.details else { panic!("no bank report: {bank:?}") };
    assert!(report.reads > 10, "{report:?}");
    assert_eq!(latest(&store).read_run_info().unwrap().model, "bank");
    assert!(wait_for_no_process(&canonical(&store), Duration::from_secs(10)).is_empty());
}
