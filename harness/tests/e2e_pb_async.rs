//! pb-async acknowledges a write before any backup has it: killing the primary loses
//! acknowledged writes, and so does cutting it off while a backup takes over. The harness
//! must catch both. The schedules are written by hand (and replayed with `--schedule`) so
//! that the fault hits the primary, node 1, every time.

mod e2e_support;

use std::time::Duration;

use checkers::{CheckDetails, CheckName, Verdict};
use e2e_support::*;
use faultline::nemesis::Schedule;

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

/// Node 1, the primary, cut off from both backups from 3 s to the end of the run.
const CUT_THE_PRIMARY_TO_THE_END: &str = r#"{
  "seed": 0, "kinds": ["partition-halves"], "interval_ms": 5000, "time_limit_ms": 8000, "nodes": [1, 2, 3],
  "steps": [
    {"at_ms": 3000, "id": 0, "action": "start", "fault": {"type": "partition", "kind": "partition-halves", "grudge": {"1": [2, 3], "2": [1], "3": [1]}}},
    {"at_ms": 8000, "id": 0, "action": "stop", "fault": {"type": "partition", "kind": "partition-halves", "grudge": {"1": [2, 3], "2": [1], "3": [1]}}}
  ]
}"#;

/// The cut-off primary goes on acknowledging writes while a backup promotes itself; the
/// clients never leave the old primary, so no workload read sees the new one. When the
/// cut heals the old primary steps down and its writes are gone. Only the final reads
/// (every key the run touched, from every node) see that: the same history without them
/// passes `check`.
fn assert_only_the_final_reads_find_the_loss(workload: &str, check: CheckName, model: &str) {
    let run = scheduled_run("pb-async", workload, CUT_THE_PRIMARY_TO_THE_END, &["--seed", "2"]);
    let verdict = &run.results.checks[&check];
    assert_eq!(verdict.verdict, Verdict::Invalid, "{}", describe(&run.output));
    assert_eq!(run.output.status.code(), Some(1), "{}", describe(&run.output));
    assert_every_key_read_at_the_end(&run.store);
    let without = run.store.join("without-final-reads.jsonl");
    write_history_without_final_reads(&run.store, &without);
    let again = faultline().args(["check", "--model", model]).arg(&without).output().unwrap();
    let printed = String::from_utf8_lossy(&again.stdout);
    assert_eq!(again.status.code(), Some(0), "without its final reads the history is valid: {printed}");
    assert!(printed.contains(&format!(": valid ({model}")), "{printed}");
}

#[test]
fn pb_async_loses_register_writes_that_only_the_final_reads_see() {
    assert_only_the_final_reads_find_the_loss("register", CheckName::Linearizable, "cas-register");
}

/// The same loss in transactions: a final read of a list misses appends acknowledged
/// before it began.
#[test]
fn pb_async_loses_list_appends_that_only_the_final_reads_see() {
    assert_only_the_final_reads_find_the_loss("list-append", CheckName::Isolation, "list-append");
}

/// `faultline test --nemesis pause-leader` with a generated schedule, as a user runs it:
/// `--time-limit 10 --nemesis-interval 2` and the default 1 s op timeout.
fn pause_leader_run(
    protocol: &str,
    seed: &str,
) -> (tempfile::TempDir, std::path::PathBuf, std::process::Output) {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("store");
    let args = [
        "--protocol",
        protocol,
        "--workload",
        "set",
        "--nemesis",
        "pause-leader",
        "--nemesis-interval",
        "2",
        "--time-limit",
        "10",
        "--seed",
        seed,
    ];
    let output = run_test(&store, &args, Duration::from_secs(120));
    assert!(wait_for_no_process(&canonical(&store), Duration::from_secs(10)).is_empty());
    (dir, store, output)
}

/// A paused primary that wakes while clients still wait on it answers them before it
/// hears it was replaced: pb-async acknowledges writes the new primary never gets. Half
/// the generated pauses end within the op timeout for this; pauses that all outlasted it
/// found lost writes in 1 of 6 seeds, the short ones in 5 of 6. The finding depends on
/// which the woken node reads first, its queued requests or its peers' news, so it is
/// asked of one of three seeds; Raft, under the same schedule, must lose nothing.
#[test]
fn a_paused_primary_that_wakes_to_waiting_clients_loses_acknowledged_writes() {
    let mut found = Vec::new();
    for seed in ["2", "3", "4"] {
        let (_dir, store, output) = pause_leader_run("pb-async", seed);
        let text = std::fs::read_to_string(latest(&store).path().join("schedule.json")).unwrap();
        let schedule = Schedule::from_json(&text).unwrap();
        let short = schedule.steps.chunks(2).filter(|p| p[1].at_ms - p[0].at_ms < 1000).count();
        let results = results(&store);
        let lost = &results.checks[&CheckName::LostWrites];
        found.push(format!("seed {seed}: {short} short pauses, lost-writes {}", lost.summary));
        // Each of these seeds draws at least one short pause of the primary.
        assert!(short > 0, "no pause ended within the op timeout: {found:?}");
        if lost.verdict == Verdict::Invalid {
            assert_eq!(output.status.code(), Some(1), "{}", describe(&output));
            let (_dir, store, output) = pause_leader_run("raft", seed);
            assert_valid_run(&store, &output, &[CheckName::LostWrites, CheckName::DeposedLeader]);
            return;
        }
    }
    panic!("no lost writes in three runs: {found:#?}");
}
