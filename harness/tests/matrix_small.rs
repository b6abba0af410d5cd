//! `faultline matrix` at a small time limit: raft with no fault and under kill must be safe,
//! and is; the table is printed and written as Markdown and JSON; every run leaves its
//! report; with stderr piped, each finished cell is a line there. Bad flags are refused
//! with exit 254 before anything runs.

use std::process::Command;

#[test]
fn a_small_matrix_runs_every_cell_and_marks_it_against_the_design() {
    let store = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_faultline"))
        .args([
            "matrix",
            "--protocols",
            "raft",
            "--nemeses",
            "none,kill",
            "--time-limit",
            "2",
            "--seeds",
            "1",
        ])
        .arg("--store")
        .arg(store.path())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "stdout:\n{stdout}\nstderr:\n{stderr}");
    assert!(stdout.contains("| protocol | fault | seed | safety | lost writes | split brain |"), "{stdout}");
    assert!(stdout.contains("| raft | none | 1 | valid |"), "{stdout}");
    assert!(stdout.contains("| raft | kill | 1 | valid |"), "{stdout}");
    assert!(stdout.contains("2 runs, 0 unexpected."), "{stdout}");
    // Piped stderr: one line per finished cell, in order, so a log shows progress.
    // With no fault the run is not called valid (nothing was tested), but it is safe.
    let first = stderr.find("faultline: [1/2] raft under none, seed 1: ");
    let second =
        stderr.find("faultline: [2/2] raft under kill, seed 1: valid (safety valid), as expected (safe)");
    assert!(first.is_some() && first < second, "{stderr}");
    let cells: Vec<&str> = stderr.lines().filter(|l| l.starts_with("faultline: [")).collect();
    assert_eq!(cells.len(), 2, "{stderr}");
    assert!(cells[0].contains("(safety valid), as expected (safe)"), "{stderr}");
    let md = std::fs::read_to_string(store.path().join("matrix.md")).unwrap();
    assert!(stdout.contains(md.trim()));
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(store.path().join("matrix.json")).unwrap()).unwrap();
    let rows = json.as_array().unwrap();
    assert_eq!(rows.len(), 2);
    for row in rows {
        assert_eq!(row["expected"], true, "{row}");
        assert_eq!(row["expect"], "safe");
        let run = std::path::Path::new(row["run"].as_str().unwrap());
        assert!(run.join("report.html").is_file(), "{} has no report", run.display());
    }
    assert!(rows[1]["availability_during_fault"].is_number(), "kill took effect: {}", rows[1]);
}

#[test]
fn bad_matrix_flags_exit_254_with_one_line() {
    let store = tempfile::tempdir().unwrap();
    for argv in [
        vec!["matrix", "--nemeses", "earthquake"],
        vec!["matrix", "--protocols", "viewstamped"],
        vec!["matrix", "--systems", "redis"],
        vec!["matrix", "--systems", "zookeeper", "--workload", "set"],
        vec!["matrix", "--time-limit", "0"],
        vec!["matrix", "--seeds", "0"],
    ] {
        let out = Command::new(env!("CARGO_BIN_EXE_faultline"))
            .args(&argv)
            .arg("--store")
            .arg(store.path())
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(254), "{argv:?}");
        assert!(!store.path().join("matrix.md").exists());
    }
}
