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

use checkers::Verdict;
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
pub fn assert_valid_run(store: &Path, output: &Output, checks: &[&str]) -> serde_json::Value {
    assert_eq!(output.status.code(), Some(0), "{}", describe(output));
    let results = results(store);
    assert_eq!(results.valid, Verdict::Valid);
    for name in checks {
        assert_eq!(
            results.checks[*name].verdict,
            Verdict::Valid,
            "{name}: {}",
            results.checks[*name].summary
        );
    }
    let stats = results.checks["stats"].details.clone();
    assert!(stats["faults"].as_array().unwrap().iter().any(|w| w["took_effect"] == true), "{stats}");
    assert!(stats["counts"]["ok"].as_u64().unwrap() > 100, "{stats}");
    assert!(wait_for_no_process(&canonical(store), Duration::from_secs(10)).is_empty());
    stats
}
