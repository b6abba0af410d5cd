//! The queue workload through the real harness, judged by the total-queue analysis: the
//! bugs known to be there are found (pb-async losing acknowledged elements and handing out
//! dequeued ones again when its primary is killed; 2pc's unsafe read-committed mode
//! answering two dequeues with one element), and the protocols that must keep a queue do
//! so through partitions, kills and pauses, the queue drained to empty at the end. Every
//! schedule is written out and replayed with `--schedule`, so each fault is certain to
//! happen.

mod e2e_support;

use checkers::queue::QueueReport;
use checkers::{CheckDetails, CheckName, Verdict};
use e2e_support::*;

/// A queue run of `protocol` under `schedule`, with `extra` flags: its exit code, the
/// queue check's verdict and report, and a description for failures.
fn queue_run(protocol: &str, schedule: &str, extra: &[&str]) -> (Option<i32>, Verdict, QueueReport, String) {
    let run = scheduled_run(protocol, "queue", schedule, extra);
    let check = &run.results.checks[&CheckName::Queue];
    let report = check.details.as_ref().and_then(CheckDetails::queue).expect("the queue report").clone();
    let verdict_word = if check.verdict == Verdict::Valid { "valid" } else { "invalid" };
    assert!(run.recheck.contains(&format!(": {verdict_word} (total-queue)")), "{}", run.recheck);
    (run.output.status.code(), check.verdict, report, format!("{}\n{}", check.summary, describe(&run.output)))
}

#[test]
fn pb_async_loses_acknowledged_elements_when_its_primary_is_killed() {
    let flags = ["--rate", "500", "--concurrency", "10", "--seed", "11"];
    let (code, verdict, report, summary) = queue_run("pb-async", KILL_THE_PRIMARY, &flags);
    assert_eq!((code, verdict), (Some(1), Verdict::Invalid), "{summary}");
    // The new primary never had the old one's last enqueues (lost), nor its last
    // dequeues (handed out again).
    assert!(report.lost > 0 || report.duplicated.count > 0, "{summary}");
    assert_eq!(report.unexpected.count, 0, "{summary}");
}

/// Read committed answers a dequeue with the head it read on arrival and pops the head at
/// commit: two dequeues arriving together take one element, and the next one vanishes.
#[test]
fn two_phase_commit_under_read_committed_hands_one_element_to_two_dequeues_and_serializable_does_not() {
    let flags = ["--rate", "500", "--concurrency", "10", "--seed", "4"];
    let unsafe_flags = [&flags[..], &["--isolation", "read-committed"]].concat();
    let (code, verdict, report, summary) = queue_run("2pc", KILL_THE_PRIMARY, &unsafe_flags);
    assert_eq!((code, verdict), (Some(1), Verdict::Invalid), "{summary}");
    assert!(report.duplicated.count > 0 && report.lost > 0, "{summary}");
    let (code, verdict, report, summary) = queue_run("2pc", KILL_THE_PRIMARY, &flags);
    assert_eq!((code, verdict), (Some(0), Verdict::Valid), "{summary}");
    assert_eq!(report.not_drained.count, 0, "the queue was drained to empty: {summary}");
}

#[test]
fn consensus_protocols_keep_a_queue_through_partition_kill_and_pause() {
    for protocol in ["raft", "paxos", "zab"] {
        let flags = ["--rate", "150", "--concurrency", "8", "--seed", "5"];
        let (code, verdict, report, summary) = queue_run(protocol, PARTITION_KILL_PAUSE, &flags);
        assert_eq!((code, verdict), (Some(0), Verdict::Valid), "{protocol}: {summary}");
        assert!(report.acknowledged > 100 && report.not_drained.count == 0, "{protocol}: {summary}");
    }
}
