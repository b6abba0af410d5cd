//! `faultline report RUN_DIR` writes the run's report.html; a directory that is not a run is
//! refused with exit 254 and one line.

use std::process::Command;

#[test]
fn report_rewrites_report_html_and_refuses_a_non_run() {
    let store = tempfile::tempdir().unwrap();
    let run = results::RunDir::create(store.path(), "t").unwrap();
    run.write_run_info(&results::RunInfo {
        model: "cas-register".into(),
        test: "t".into(),
        seed: 1,
        command: vec![],
        versions: Default::default(),
        spec: serde_json::json!({}),
        started: "2026-11-26T12:00:00.000Z".into(),
    })
    .unwrap();
    std::fs::write(run.history_path(), "").unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_faultline"))
        .arg("report")
        .arg(store.path().join("latest"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let html = std::fs::read_to_string(run.path().join("report.html")).unwrap();
    assert!(html.contains("id=\"verdicts\"") && html.contains("Not checked"));

    let out = Command::new(env!("CARGO_BIN_EXE_faultline")).arg("report").arg(store.path()).output().unwrap();
    assert_eq!(out.status.code(), Some(254));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("is not a run directory"), "{stderr}");
    assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
}
