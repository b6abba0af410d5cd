//! The report of a list-append run with a lost update: the isolation section counts the
//! anomalies by type and draws the cycle (transactions as boxes with their micro-ops,
//! dependencies as labelled arrows), with the checker's explanation beside it.

use std::collections::BTreeMap;

use checkers::txn::{check_txn, AnomalyKind, TxnModel, TxnOptions};
use checkers::{CheckDetails, CheckName, Event, History, Verdict};
use results::report::{write_report, REPORT_HTML};
use results::{CheckResult, RunDir, RunInfo, RunResults};
use serde_json::json;

/// Two transactions both read x as [1] and append to it: each misses the other's append.
fn lost_update_history() -> Vec<Event> {
    let lines = [
        json!({"process": 0, "type": "invoke", "f": "txn", "value": [["append", "x", 1]], "time": 1_000_000}),
        json!({"process": 0, "type": "ok", "f": "txn", "value": [["append", "x", 1]], "time": 2_000_000}),
        json!({"process": 1, "type": "invoke", "f": "txn", "value": [["r", "x", null], ["append", "x", 2]], "time": 3_000_000}),
        json!({"process": 2, "type": "invoke", "f": "txn", "value": [["r", "x", null], ["append", "x", 3]], "time": 3_500_000}),
        json!({"process": 1, "type": "ok", "f": "txn", "value": [["r", "x", [1]], ["append", "x", 2]], "time": 4_000_000}),
        json!({"process": 2, "type": "ok", "f": "txn", "value": [["r", "x", [1]], ["append", "x", 3]], "time": 4_500_000}),
        json!({"process": 0, "type": "invoke", "f": "txn", "value": [["r", "x", null]], "time": 5_000_000}),
        json!({"process": 0, "type": "ok", "f": "txn", "value": [["r", "x", [1, 2, 3]]], "time": 6_000_000}),
    ];
    lines.into_iter().map(|l| serde_json::from_value(l).unwrap()).collect()
}

#[test]
fn the_report_draws_each_isolation_anomaly_as_a_cycle_of_boxes_and_labelled_arrows() {
    let store = tempfile::tempdir().unwrap();
    let run = RunDir::create(store.path(), "2pc-list-append").unwrap();
    run.write_run_info(&RunInfo {
        model: "list-append".into(),
        test: "2pc-list-append".into(),
        seed: 1,
        command: vec!["faultline".into(), "test".into()],
        versions: BTreeMap::new(),
        spec: json!({"protocol": "2pc"}),
        started: "2026-12-04T12:00:00.000Z".into(),
    })
    .unwrap();
    let events = lost_update_history();
    let mut writer = run.history_writer().unwrap();
    for e in &events {
        writer.append(e).unwrap();
    }
    writer.sync().unwrap();
    let history = History::from_events(events).unwrap();
    let report = check_txn(&history, &TxnOptions::new(TxnModel::ListAppend)).unwrap();
    assert_eq!(report.verdict, Verdict::Invalid, "{}", report.render_text());
    assert!(report.anomaly_counts.contains_key(&AnomalyKind::GSingle), "{}", report.render_text());
    let drawn = report.anomalies.iter().filter(|a| !a.cycle.is_empty()).count();
    assert!(drawn > 0);
    let summary = report.summary();
    let checks = BTreeMap::from([(
        CheckName::Isolation,
        CheckResult { verdict: Verdict::Invalid, summary, details: Some(CheckDetails::Isolation(report)) },
    )]);
    run.write_results(&RunResults::new(Verdict::Invalid, vec![], checks, String::new())).unwrap();

    let html = std::fs::read_to_string(write_report(&run).unwrap()).unwrap();
    assert!(html.contains("id=\"isolation\""));
    assert!(html.contains("<td>G-single</td>"), "the anomaly counts by type");
    assert!(html.contains("<h3 class=\"anomaly\">G-single</h3>"));
    assert_eq!(html.matches("<svg class=\"cycle\"").count(), drawn, "one drawing per cycle");
    assert!(html.contains("<rect class=\"txn\""), "transactions as boxes");
    assert!(html.contains(">append x 2<") && html.contains(">r x [1]<"), "with their micro-ops");
    assert!(html.contains("class=\"edge rw\"") && html.contains(">rw x<"), "an rw arrow, labelled");
    assert!(html.contains("class=\"edge ww\"") || html.contains("class=\"edge wr\""), "and its other edge");
    assert!(html.contains("<ul class=\"edges\">"), "each edge explained in words");
    assert!(run.path().join(REPORT_HTML).exists());
}
