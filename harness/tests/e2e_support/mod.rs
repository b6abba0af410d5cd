//! Shared by the end-to-end tests: run the built `faultline` binary with a deadline, read
//! the run it stored, and find any process still running from that run.
//!
//! Each test gets its own store in a temporary directory. The nodes of a run carry the
//! run's directory in their argv (`--data-dir <run>/data/<id>`), which identifies them
//! exactly: no other process on the machine names that temporary path.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use checkers::stats::StatsReport;
use checkers::{CheckName, Verdict};
use results::{RunDir, RunResults};

/// The binary under test.
pub fn faultline() -> Command {
    Command::new(env!("CARGO_BIN_EXE_faultline"))
}

/// Run `faultline test <args> --store <store>`; its output, or a panic after `deadline`
/// (having killed it by pid).
pub fn run_test(store: &Path, args: &[&str], deadline: Duration) -> Output {
    let mut command = faultline();
    command.arg("test").args(args).arg("--store").arg(store);
    command.stdout(Stdio::piped()).stderr(Stdio::piped());
    let child = command.spawn().expect("starting faultline");
    wait_with_deadline(child, deadline)
}

/// Wait for a child's exit and output; kill it by pid and panic past the deadline.
pub fn wait_with_deadline(mut child: Child, deadline: Duration) -> Output {
    let until = Instant::now() + deadline;
    loop {
        if child.try_wait().expect("polling faultline").is_some() {
            return child.wait_with_output().expect("reading faultline's output");
        }
        if Instant::now() >= until {
            let _ = child.kill();
            let output = child.wait_with_output().expect("reading faultline's output");
            panic!(
                "faultline did not finish within {deadline:?}\nstdout:\n{}\nstderr:\n{}",
                String::from_utf8_lossy(&output.stdout),
                String::from_utf8_lossy(&output.stderr)
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Wait until the run under `store` has more than `events` events in its history; the run.
/// Panics if it never gets there within `deadline`.
pub fn wait_for_events(store: &Path, events: usize, deadline: Duration) -> RunDir {
    let until = Instant::now() + deadline;
    loop {
        if let Ok(run) = RunDir::open(&store.join("latest")) {
            if run.read_history().map(|h| h.events.len() > events).unwrap_or(false) {
                return run;
            }
        }
        assert!(Instant::now() < until, "the run never got going");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Kill node 1, the primary of pb-async (and 2pc's coordinator), for two and a half seconds.
pub const KILL_THE_PRIMARY: &str = r#"{
  "seed": 0, "kinds": ["kill"], "interval_ms": 3000, "time_limit_ms": 7000, "nodes": [1, 2, 3],
  "steps": [
    {"at_ms": 2500, "id": 0, "action": "start", "fault": {"type": "kill", "kind": "kill", "nodes": [1]}},
    {"at_ms": 5000, "id": 0, "action": "stop", "fault": {"type": "kill", "kind": "kill", "nodes": [1]}}
  ]
}"#;

/// Halves, then kill -9 of node 1, then SIGSTOP of node 2.
pub const PARTITION_KILL_PAUSE: &str = r#"{
  "seed": 5, "kinds": ["partition-halves", "kill", "pause"], "interval_ms": 2000, "time_limit_ms": 10000,
  "nodes": [1, 2, 3],
  "steps": [
    {"at_ms": 1000, "id": 0, "action": "start", "fault": {"type": "partition", "kind": "partition-halves", "grudge": {"1": [3], "2": [3], "3": [1, 2]}}},
    {"at_ms": 3000, "id": 0, "action": "stop", "fault": {"type": "partition", "kind": "partition-halves", "grudge": {"1": [3], "2": [3], "3": [1, 2]}}},
    {"at_ms": 4000, "id": 1, "action": "start", "fault": {"type": "kill", "kind": "kill", "nodes": [1]}},
    {"at_ms": 6000, "id": 1, "action": "stop", "fault": {"type": "kill", "kind": "kill", "nodes": [1]}},
    {"at_ms": 7000, "id": 2, "action": "start", "fault": {"type": "pause", "nodes": [2]}},
    {"at_ms": 9000, "id": 2, "action": "stop", "fault": {"type": "pause", "nodes": [2]}}
  ]
}"#;

/// A finished run of [`scheduled_run`].
pub struct ScheduledRun {
    pub output: Output,
    pub results: RunResults,
    /// What `faultline check` on the stored run printed.
    pub recheck: String,
    /// The run's store (`store/latest` is the run), inside the directory removed on drop.
    pub store: PathBuf,
    /// The run's store, removed when the run is dropped.
    _dir: tempfile::TempDir,
}

/// `faultline test --protocol P --workload W` replaying `schedule` (written out and given
/// with `--schedule`, so each fault is certain to happen) for the schedule's time limit,
/// with `extra` flags, in a store of its own. Asserts that every fault took effect and
/// that no process of the run is left, and checks the stored run again with `faultline
/// check RUN`, which judges it by the model its run.json names.
pub fn scheduled_run(protocol: &str, workload: &str, schedule: &str, extra: &[&str]) -> ScheduledRun {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("store");
    let path = dir.path().join("schedule.json");
    std::fs::write(&path, schedule).unwrap();
    let time_limit =
        (serde_json::from_str::<serde_json::Value>(schedule).unwrap()["time_limit_ms"].as_u64().unwrap()
            / 1000)
            .to_string();
    let args = [
        &["--protocol", protocol, "--workload", workload, "--schedule", path.to_str().unwrap()][..],
        &["--time-limit", &time_limit],
        extra,
    ]
    .concat();
    let output = run_test(&store, &args, Duration::from_secs(180));
    let results = results(&store);
    let windows = &results.stats().expect("the stats check's report").faults;
    assert!(windows.iter().all(|w| w.took_effect), "a fault did not take effect: {windows:?}");
    assert!(wait_for_no_process(&canonical(&store), Duration::from_secs(10)).is_empty());
    let run = latest(&store).path().to_path_buf();
    let again = faultline().arg("check").arg(&run).output().unwrap();
    let recheck = String::from_utf8_lossy(&again.stdout).into_owned();
    ScheduledRun { output, results, recheck, store, _dir: dir }
}

/// The latest run's client events, and where its final reads start among them: the
/// history's tail of reads, one process each, one after another.
pub fn client_events_and_final_reads(store: &Path) -> (Vec<serde_json::Value>, usize) {
    let path = latest(store).path().join("history.jsonl");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let events: Vec<serde_json::Value> = text
        .lines()
        .map(|line| serde_json::from_str::<serde_json::Value>(line).expect("a JSON event"))
        .filter(|event| event["process"].is_u64())
        .collect();
    let mut ops_of = std::collections::HashMap::new();
    for event in &events {
        *ops_of.entry(event["process"].as_u64()).or_insert(0) += 1;
    }
    let mut start = events.len();
    while start >= 2 {
        let (invoke, done) = (&events[start - 2], &events[start - 1]);
        let read_only = invoke["f"] == "read"
            || (invoke["f"] == "txn"
                && invoke["value"].as_array().is_some_and(|steps| steps.len() == 1 && steps[0][0] == "r"));
        let one_read = invoke["process"] == done["process"]
            && ops_of[&invoke["process"].as_u64()] == 2
            && invoke["type"] == "invoke"
            && done["type"] != "invoke"
            && read_only;
        if !one_read {
            break;
        }
        start -= 2;
    }
    (events, start)
}

/// The latest run's final reads: after the workload's last operation, every key a client
/// wrote or read (for list-append, every key that took an append), retired ones included,
/// is read `ok` from some node.
pub fn assert_every_key_read_at_the_end(store: &Path) {
    let (events, start) = client_events_and_final_reads(store);
    // A register or counter op names its key; a transaction names its steps' keys.
    let keys_of = |e: &serde_json::Value, step: &str| -> Vec<String> {
        if let Some(key) = e["key"].as_str() {
            return vec![key.to_string()];
        }
        let steps = e["value"].as_array().map(Vec::as_slice).unwrap_or_default();
        steps.iter().filter(|s| s[0] == step).filter_map(|s| s[1].as_str().map(str::to_string)).collect()
    };
    let touched: std::collections::BTreeSet<String> =
        events[..start].iter().flat_map(|e| keys_of(e, "append")).collect();
    let read: std::collections::BTreeSet<String> =
        events[start..].iter().filter(|e| e["type"] == "ok").flat_map(|e| keys_of(e, "r")).collect();
    assert!(!touched.is_empty(), "no client op in {}", latest(store).path().display());
    assert_eq!(read, touched, "keys read at the end vs keys touched, in {}", latest(store).path().display());
}

/// The latest run's history without its final reads, written to `path` (client events
/// only, as `faultline check` reads them).
pub fn write_history_without_final_reads(store: &Path, path: &Path) {
    let (events, start) = client_events_and_final_reads(store);
    let lines: Vec<String> = events[..start].iter().map(|e| e.to_string()).collect();
    std::fs::write(path, lines.join("\n") + "\n").unwrap();
}

/// The run `store/latest` points at.
pub fn latest(store: &Path) -> RunDir {
    RunDir::open(&store.join("latest")).expect("the store has a latest run")
}

pub fn results(store: &Path) -> RunResults {
    latest(store).read_results().expect("the run has results.json")
}

/// Everything a test wants to see when an assertion fails.
pub fn describe(output: &Output) -> String {
    format!(
        "exit {:?}\nstdout:\n{}\nstderr:\n{}",
        output.status.code(),
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

/// Pids of live processes whose command line mentions `path`, or whose working directory
/// is under it (Redis rewrites its command line into a title, but works in its `--dir`).
pub fn processes_mentioning(path: &Path) -> Vec<u32> {
    let needle = path.to_string_lossy().into_owned();
    let mut pids = Vec::new();
    let Ok(entries) = std::fs::read_dir("/proc") else { return pids };
    for entry in entries.flatten() {
        let Some(pid) = entry.file_name().to_str().and_then(|n| n.parse::<u32>().ok()) else { continue };
        let Ok(cmdline) = std::fs::read(entry.path().join("cmdline")) else { continue };
        let in_dir = std::fs::read_link(entry.path().join("cwd")).is_ok_and(|cwd| cwd.starts_with(path));
        // A zombie has an empty command line: it is not running.
        if (String::from_utf8_lossy(&cmdline).contains(&needle) || in_dir) && !is_zombie(pid) {
            pids.push(pid);
        }
    }
    pids
}

fn is_zombie(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|stat| stat.rsplit_once(')').map(|(_, rest)| rest.trim_start().starts_with('Z')))
        .unwrap_or(false)
}

/// Wait until no process mentions `path`, or give the pids still there after `deadline`.
pub fn wait_for_no_process(path: &Path, deadline: Duration) -> Vec<u32> {
    let until = Instant::now() + deadline;
    loop {
        let pids = processes_mentioning(path);
        if pids.is_empty() || Instant::now() >= until {
            return pids;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Kill leftover processes by exact pid (cleanup after a failed assertion).
#[allow(unsafe_code, reason = "kill(2) of leftovers by exact pid")]
pub fn kill_all(pids: &[u32]) {
    for &pid in pids {
        unsafe {
            libc::kill(pid as i32, libc::SIGKILL);
        }
    }
}

/// The canonical path of a test's store (the run directories are canonicalised).
pub fn canonical(path: &Path) -> PathBuf {
    std::fs::canonicalize(path).expect("the store exists")
}

/// Assert that a run exited 0 and came out valid, with each named check valid, at least
/// one fault in effect, more than 100 acknowledged operations, and no process left behind.
/// Returns the stats check's details for further assertions.
pub fn assert_valid_run(store: &Path, output: &Output, checks: &[CheckName]) -> StatsReport {
    assert_eq!(output.status.code(), Some(0), "{}", describe(output));
    let results = results(store);
    assert_eq!(results.valid, Verdict::Valid);
    for name in checks {
        assert_eq!(results.checks[name].verdict, Verdict::Valid, "{name}: {}", results.checks[name].summary);
    }
    let stats = results.stats().expect("the stats check's report").clone();
    assert!(stats.faults.iter().any(|w| w.took_effect), "{stats:?}");
    assert!(stats.counts.ok > 100, "{stats:?}");
    assert!(wait_for_no_process(&canonical(store), Duration::from_secs(10)).is_empty());
    let data = latest(store).path().join("data");
    assert!(!data.exists(), "a valid run keeps no node data without --keep-data: {}", data.display());
    stats
}

/// Amnesia at the worst time, as a `--schedule`: node 3 is cut off from 1 s while nodes 1
/// and 2 take writes; at `kill_at_ms` node 1 is killed and, 100 ms later, node 2 gets
/// `node_2` (a fault as JSON: a lost disk, or a kill as the control); the cut heals, node 2
/// comes back 400 ms after its fault, and node 1 only 4 s after its kill. Nodes 2 and 3 are
/// then a majority, and if node 2 forgot, neither holds the writes of the cut.
pub fn amnesia_schedule(kill_at_ms: u64, node_2: &str) -> String {
    let cut =
        r#"{"type": "partition", "kind": "partition-one", "grudge": {"1": [3], "2": [3], "3": [1, 2]}}"#;
    let kill_1 = r#"{"type": "kill", "kind": "kill", "nodes": [1]}"#;
    let step = |at: u64, id: u32, action: &str, fault: &str| {
        format!(r#"{{"at_ms": {at}, "id": {id}, "action": "{action}", "fault": {fault}}}"#)
    };
    let steps = [
        step(1000, 0, "start", cut),
        step(kill_at_ms, 1, "start", kill_1),
        step(kill_at_ms + 100, 2, "start", node_2),
        step(kill_at_ms + 300, 0, "stop", cut),
        step(kill_at_ms + 500, 2, "stop", node_2),
        step(kill_at_ms + 4000, 1, "stop", kill_1),
    ];
    format!(
        r#"{{"seed": 9, "kinds": ["partition-one", "kill", "lose-disk"], "interval_ms": 1000, "time_limit_ms": {}, "nodes": [1, 2, 3], "steps": [{}]}}"#,
        kill_at_ms + 7000,
        steps.join(", ")
    )
}
