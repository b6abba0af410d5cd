//! The transactional checker on small hand-written histories: one per anomaly kind, clean
//! ones valid under every consistency model, write skew allowed by snapshot isolation and
//! rejected by serializability, budgets of zero, bad input, and a Jepsen EDN file.

use std::path::Path;
use std::time::Duration;

use checkers::format::{load_path, Format};
use checkers::txn::{check_txn, AnomalyKind, Consistency, EdgeKind, TxnModel, TxnOptions, TxnReport};
use checkers::{Event, History, Verdict};
use serde_json::{json, Value};

/// One event: (process, type, value).
type Ev = (u64, &'static str, Value);

fn history(events: &[Ev]) -> History {
    let events: Vec<Event> = events
        .iter()
        .map(|(p, kind, value)| {
            serde_json::from_value(json!({"process": p, "type": kind, "f": "txn", "value": value})).unwrap()
        })
        .collect();
    History::from_events(events).unwrap()
}

/// A transaction that runs alone: invoke and complete with the same value.
fn alone(p: u64, kind: &'static str, value: Value) -> [Ev; 2] {
    [(p, "invoke", value.clone()), (p, kind, value)]
}

fn check(events: &[Ev], model: TxnModel, consistency: Consistency) -> TxnReport {
    let mut options = TxnOptions::new(model);
    options.consistency = consistency;
    check_txn(&history(events), &options).unwrap()
}

fn append(events: &[Ev], consistency: Consistency) -> TxnReport {
    check(events, TxnModel::ListAppend, consistency)
}

fn kinds(report: &TxnReport) -> Vec<AnomalyKind> {
    report.anomaly_counts.keys().copied().collect()
}

fn cat<const N: usize>(parts: [&[Ev]; N]) -> Vec<Ev> {
    parts.concat()
}

use Consistency::*;

#[test]
fn a_clean_history_is_valid_under_every_model() {
    let events = cat([
        &alone(0, "ok", json!([["append", "x", 1], ["r", "y", []]])),
        &alone(1, "ok", json!([["r", "x", [1]], ["append", "x", 2], ["append", "y", 1]])),
        &alone(0, "ok", json!([["r", "x", [1, 2]], ["r", "y", [1]]])),
    ]);
    for consistency in Consistency::ALL {
        let report = append(&events, consistency);
        assert_eq!(report.verdict, Verdict::Valid, "{consistency}: {}", report.render_text());
        assert!(report.anomalies.is_empty());
        assert_eq!(report.transactions, 3);
    }
}

#[test]
fn g0_two_transactions_append_to_two_keys_in_opposite_orders() {
    let events = vec![
        (0, "invoke", json!([["append", "x", 1], ["append", "y", 1]])),
        (1, "invoke", json!([["append", "x", 2], ["append", "y", 2]])),
        (0, "ok", json!([["append", "x", 1], ["append", "y", 1]])),
        (1, "ok", json!([["append", "x", 2], ["append", "y", 2]])),
        (2, "invoke", json!([["r", "x", null], ["r", "y", null]])),
        (2, "ok", json!([["r", "x", [1, 2]], ["r", "y", [2, 1]]])),
    ];
    let report = append(&events, ReadCommitted);
    assert_eq!(report.verdict, Verdict::Invalid);
    assert_eq!(kinds(&report), vec![AnomalyKind::G0]);
    let g0 = &report.anomalies[0];
    assert_eq!(g0.cycle.len(), 2);
    assert!(g0.cycle.iter().all(|e| e.kind == EdgeKind::Ww));
    assert!(
        g0.explanation.contains("T0 appended 1 to x, and T1 appended 2 right after it"),
        "{}",
        g0.explanation
    );
    assert_eq!(g0.transactions[g0.cycle[0].from].name, "T0");
}

#[test]
fn g1a_reading_an_aborted_append() {
    let events =
        cat([&alone(0, "fail", json!([["append", "x", 1]])), &alone(1, "ok", json!([["r", "x", [1]]]))]);
    let report = append(&events, ReadCommitted);
    assert_eq!((report.verdict, kinds(&report)), (Verdict::Invalid, vec![AnomalyKind::G1a]));
    assert!(report.anomalies[0].explanation.contains("failed"), "{}", report.anomalies[0].explanation);
}

#[test]
fn g1b_reading_an_intermediate_state() {
    let events = vec![
        (0, "invoke", json!([["append", "x", 1], ["append", "x", 2]])),
        (1, "invoke", json!([["r", "x", null]])),
        (1, "ok", json!([["r", "x", [1]]])),
        (0, "ok", json!([["append", "x", 1], ["append", "x", 2]])),
    ];
    let report = append(&events, ReadCommitted);
    assert_eq!(kinds(&report), vec![AnomalyKind::G1b]);
    assert!(report.anomalies[0].explanation.contains("intermediate"));
}

#[test]
fn g1c_each_reads_the_others_append() {
    let events = vec![
        (0, "invoke", json!([["append", "x", 1], ["r", "y", null]])),
        (1, "invoke", json!([["append", "y", 1], ["r", "x", null]])),
        (0, "ok", json!([["append", "x", 1], ["r", "y", [1]]])),
        (1, "ok", json!([["append", "y", 1], ["r", "x", [1]]])),
    ];
    let report = append(&events, ReadCommitted);
    assert_eq!((report.verdict, kinds(&report)), (Verdict::Invalid, vec![AnomalyKind::G1c]));
    assert!(report.anomalies[0].cycle.iter().all(|e| e.kind == EdgeKind::Wr));
}

/// T1 reads x before T0's append and y after it.
fn read_skew() -> Vec<Ev> {
    vec![
        (0, "invoke", json!([["append", "x", 1], ["append", "y", 1]])),
        (1, "invoke", json!([["r", "x", null], ["r", "y", null]])),
        (0, "ok", json!([["append", "x", 1], ["append", "y", 1]])),
        (1, "ok", json!([["r", "x", []], ["r", "y", [1]]])),
        (2, "invoke", json!([["r", "x", null]])),
        (2, "ok", json!([["r", "x", [1]]])),
    ]
}

#[test]
fn g_single_is_forbidden_by_snapshot_isolation_and_allowed_by_read_committed() {
    let report = append(&read_skew(), SnapshotIsolation);
    assert_eq!((report.verdict, kinds(&report)), (Verdict::Invalid, vec![AnomalyKind::GSingle]));
    let cycle = &report.anomalies[0].cycle;
    assert_eq!(cycle.iter().filter(|e| e.kind == EdgeKind::Rw).count(), 1);
    let rw = cycle.iter().find(|e| e.kind == EdgeKind::Rw).unwrap();
    assert_eq!(rw.key.as_deref(), Some("x"));
    assert_eq!(rw.why, "T1 read x empty, without 1, which T0 appended first");

    let report = append(&read_skew(), ReadCommitted);
    assert_eq!(report.verdict, Verdict::Valid, "{}", report.render_text());
    assert_eq!(report.anomaly_counts[&AnomalyKind::GSingle], 1, "found, though allowed");
    assert!(report.render_text().contains("(allowed under read-committed)"));
}

/// Each reads a key empty and appends to the key the other read.
fn write_skew() -> Vec<Ev> {
    vec![
        (0, "invoke", json!([["r", "x", null], ["append", "y", 1]])),
        (1, "invoke", json!([["r", "y", null], ["append", "x", 1]])),
        (0, "ok", json!([["r", "x", []], ["append", "y", 1]])),
        (1, "ok", json!([["r", "y", []], ["append", "x", 1]])),
        (2, "invoke", json!([["r", "x", null], ["r", "y", null]])),
        (2, "ok", json!([["r", "x", [1]], ["r", "y", [1]]])),
    ]
}

#[test]
fn write_skew_is_g2_item_allowed_by_snapshot_isolation_and_rejected_by_serializability() {
    let si = append(&write_skew(), SnapshotIsolation);
    assert_eq!(si.verdict, Verdict::Valid, "{}", si.render_text());
    assert_eq!(kinds(&si), vec![AnomalyKind::G2Item]);
    let serializable = append(&write_skew(), Serializable);
    assert_eq!(serializable.verdict, Verdict::Invalid);
    let g2 = &serializable.anomalies[0];
    assert_eq!(g2.cycle.iter().filter(|e| e.kind == EdgeKind::Rw).count(), 2);
    assert_eq!(AnomalyKind::G2Item.weakest_model_ruled_out(), Serializable);
    assert!(serializable.render_text().contains("G2-item"));
}

#[test]
fn a_stale_read_after_completion_is_a_realtime_anomaly_only_under_strict_serializability() {
    let events = cat([
        &alone(0, "ok", json!([["append", "x", 1]])),
        &alone(1, "ok", json!([["r", "x", []]])),
        &alone(2, "ok", json!([["r", "x", [1]]])),
    ]);
    let strict = append(&events, StrictSerializable);
    assert_eq!((strict.verdict, kinds(&strict)), (Verdict::Invalid, vec![AnomalyKind::GSingleRealtime]));
    let cycle = &strict.anomalies[0].cycle;
    assert!(cycle.iter().any(|e| e.kind == EdgeKind::Realtime), "{cycle:?}");
    assert!(strict.anomalies[0].explanation.contains("T0 completed before T2 began"));
    assert!(strict.anomalies[0].explanation.contains("real time"));
    assert_eq!(append(&events, Serializable).verdict, Verdict::Valid);
}

#[test]
fn process_order_is_named_as_such() {
    let events =
        cat([&alone(0, "ok", json!([["append", "x", 1]])), &alone(0, "ok", json!([["r", "x", []]]))]);
    let mut strict = append(&events, StrictSerializable);
    // The read alone cannot place 1 after it: a third reader makes the order known.
    assert!(strict.anomalies.is_empty());
    let more = cat([&events, &alone(1, "ok", json!([["r", "x", [1]]]))]);
    strict = append(&more, StrictSerializable);
    let cycle = &strict.anomalies[0].cycle;
    assert!(cycle.iter().any(|e| e.kind == EdgeKind::Process && e.why == "T0 ran before T2 on process 0"));
}

#[test]
fn internal_a_read_without_its_own_append() {
    let events = alone(0, "ok", json!([["append", "x", 1], ["r", "x", []]]));
    let report = append(&events, ReadCommitted);
    assert_eq!(kinds(&report), vec![AnomalyKind::Internal]);
    assert!(report.anomalies[0].explanation.contains("it had itself appended 1"));
    let fine = alone(0, "ok", json!([["r", "x", []], ["append", "x", 1], ["r", "x", [1]]]));
    assert_eq!(append(&fine, StrictSerializable).verdict, Verdict::Valid);
}

#[test]
fn duplicate_garbage_and_incompatible_reads() {
    let events = cat([
        &alone(0, "ok", json!([["append", "x", 1]])),
        &alone(1, "ok", json!([["append", "x", 2]])),
        &alone(2, "ok", json!([["r", "x", [1, 1]]])),
        &alone(2, "ok", json!([["r", "y", [9]]])),
        &alone(3, "ok", json!([["r", "x", [1, 2]]])),
        &alone(3, "ok", json!([["r", "x", [2, 1]]])),
    ]);
    let report = append(&events, ReadCommitted);
    assert_eq!(
        kinds(&report),
        vec![AnomalyKind::DuplicateAppends, AnomalyKind::IncompatibleOrder, AnomalyKind::GarbageRead]
    );
    assert_eq!(report.anomaly_counts[&AnomalyKind::IncompatibleOrder], 2, "[1 1] and [2 1] against [1 2]");
    assert_eq!(report.verdict, Verdict::Invalid);
}

#[test]
fn indeterminate_appends_may_explain_reads_and_their_reads_are_not_trusted() {
    let events = vec![
        (0, "invoke", json!([["append", "x", 1], ["r", "y", null]])),
        (0, "info", json!([["append", "x", 1], ["r", "y", null]])),
        (1, "invoke", json!([["r", "x", null]])),
        (1, "ok", json!([["r", "x", [1]]])),
    ];
    let report = append(&events, StrictSerializable);
    assert_eq!(report.verdict, Verdict::Valid, "{}", report.render_text());
    assert_eq!(report.transactions, 2);
}

#[test]
fn examples_are_capped_but_counts_complete() {
    let mut events = Vec::new();
    for i in 0..20 {
        events.extend(alone(i, "ok", json!([["r", format!("k{i}"), [100]]])));
    }
    let mut options = TxnOptions::new(TxnModel::ListAppend);
    options.max_examples_per_kind = 3;
    let report = check_txn(&history(&events), &options).unwrap();
    assert_eq!(report.anomaly_counts[&AnomalyKind::GarbageRead], 20);
    assert_eq!(report.anomalies.len(), 3);
}

#[test]
fn a_budget_of_zero_is_unknown_never_valid() {
    for budget in ["time", "searches"] {
        let mut options = TxnOptions::new(TxnModel::ListAppend);
        options.consistency = Serializable;
        match budget {
            "time" => options.time_limit = Some(Duration::ZERO),
            _ => options.max_cycle_searches = 0,
        }
        let report = check_txn(&history(&write_skew()), &options).unwrap();
        assert_eq!(report.verdict, Verdict::Unknown, "{budget}");
        assert!(report.reason.is_some());
        // Even a clean history cannot be called valid without time to look.
        if budget == "time" {
            let clean = alone(0, "ok", json!([["append", "x", 1]]));
            assert_eq!(check_txn(&history(&clean), &options).unwrap().verdict, Verdict::Unknown);
        }
    }
    // A forbidden anomaly found without any search stays invalid.
    let mut options = TxnOptions::new(TxnModel::ListAppend);
    options.time_limit = Some(Duration::ZERO);
    let garbage = alone(0, "ok", json!([["r", "x", [5]]]));
    assert_eq!(check_txn(&history(&garbage), &options).unwrap().verdict, Verdict::Invalid);
}

#[test]
fn bad_input_is_an_error_not_a_panic() {
    let err =
        |events: &[Ev], model| check_txn(&history(events), &TxnOptions::new(model)).unwrap_err().to_string();
    let e = err(&alone(0, "ok", json!([["append", "x", "one"]])), TxnModel::ListAppend);
    assert!(e.contains("the element must be an integer"), "{e}");
    let e = err(&alone(0, "ok", json!({"x": 1})), TxnModel::ListAppend);
    assert!(e.contains("must be a list of micro-ops"), "{e}");
    let twice =
        cat([&alone(0, "ok", json!([["append", "x", 1]])), &alone(1, "ok", json!([["append", "x", 1]]))]);
    let e = err(&twice, TxnModel::ListAppend);
    assert!(e.contains("appended once per key"), "{e}");
    let e = err(&alone(0, "ok", json!([["w", "x", 1]])), TxnModel::ListAppend);
    assert!(!e.contains('\n') && e.contains("rw-register"), "{e}");
}

fn register(events: &[Ev], consistency: Consistency) -> TxnReport {
    check(events, TxnModel::RwRegister, consistency)
}

#[test]
fn rw_register_clean_and_single_read_anomalies() {
    let clean = cat([
        &alone(0, "ok", json!([["r", "x", null], ["w", "x", 1]])),
        &alone(1, "ok", json!([["r", "x", 1], ["w", "x", 2], ["r", "x", 2]])),
        &alone(0, "ok", json!([["r", "x", 2]])),
    ]);
    for consistency in Consistency::ALL {
        assert_eq!(register(&clean, consistency).verdict, Verdict::Valid, "{consistency}");
    }
    let bad = cat([
        &alone(0, "fail", json!([["w", "x", 1]])),
        &alone(1, "ok", json!([["w", "y", 1], ["w", "y", 2]])),
        &alone(2, "ok", json!([["r", "x", 1], ["r", "y", 1], ["r", "z", 7]])),
        &alone(3, "ok", json!([["w", "z", 3], ["r", "z", 4]])),
    ]);
    let report = register(&bad, ReadCommitted);
    assert_eq!(
        kinds(&report),
        vec![AnomalyKind::G1a, AnomalyKind::G1b, AnomalyKind::Internal, AnomalyKind::GarbageRead]
    );
}

#[test]
fn rw_register_cycles() {
    // G1c: each reads the other's write.
    let g1c = vec![
        (0, "invoke", json!([["w", "x", 1], ["r", "y", null]])),
        (1, "invoke", json!([["w", "y", 2], ["r", "x", null]])),
        (0, "ok", json!([["w", "x", 1], ["r", "y", 2]])),
        (1, "ok", json!([["w", "y", 2], ["r", "x", 1]])),
    ];
    assert_eq!(kinds(&register(&g1c, ReadCommitted)), vec![AnomalyKind::G1c]);
    // G-single: T2 reads x = 1 but y = 3, written by T1 along with x = 2 after reading 1.
    let g_single = vec![
        (0, "invoke", json!([["w", "x", 1]])),
        (0, "ok", json!([["w", "x", 1]])),
        (1, "invoke", json!([["r", "x", null], ["w", "x", 2], ["w", "y", 3]])),
        (2, "invoke", json!([["r", "x", null], ["r", "y", null]])),
        (1, "ok", json!([["r", "x", 1], ["w", "x", 2], ["w", "y", 3]])),
        (2, "ok", json!([["r", "x", 1], ["r", "y", 3]])),
    ];
    let report = register(&g_single, SnapshotIsolation);
    assert_eq!((report.verdict, kinds(&report)), (Verdict::Invalid, vec![AnomalyKind::GSingle]));
    let rw = report.anomalies[0].cycle.iter().find(|e| e.kind == EdgeKind::Rw).unwrap();
    assert_eq!(rw.why, "T3 read x = 1, which T2 overwrote with 2");
    // Lost update from unset: both read x unset and write it.
    let lost = vec![
        (0, "invoke", json!([["r", "x", null], ["w", "x", 1]])),
        (1, "invoke", json!([["r", "x", null], ["w", "x", 2]])),
        (0, "ok", json!([["r", "x", null], ["w", "x", 1]])),
        (1, "ok", json!([["r", "x", null], ["w", "x", 2]])),
    ];
    let report = register(&lost, Serializable);
    assert_eq!((report.verdict, kinds(&report)), (Verdict::Invalid, vec![AnomalyKind::G2Item]));
    assert!(
        report.anomalies[0].explanation.contains("read x unset, before"),
        "{}",
        report.anomalies[0].explanation
    );
}

#[test]
fn a_jepsen_edn_list_append_history_loads_and_shows_its_read_skew() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/elle/list-append-g-single.edn");
    let history = load_path(&path, Format::Auto).unwrap();
    let report = check_txn(&history, &TxnOptions::new(TxnModel::ListAppend)).unwrap();
    assert_eq!(report.verdict, Verdict::Invalid, "{}", report.render_text());
    assert_eq!(kinds(&report), vec![AnomalyKind::GSingle]);
    assert_eq!(report.transactions, 8, "ok and info, not the failed one");
    let names: Vec<&str> = report.anomalies[0].transactions.iter().map(|t| t.name.as_str()).collect();
    assert_eq!(names, vec!["T7", "T6"]);
    let json = serde_json::to_value(&report).unwrap();
    assert_eq!(json["anomalies"][0]["kind"], "G-single");
    assert_eq!(json["anomalies"][0]["cycle"][0]["kind"], "rw");
    assert_eq!(json["consistency"], "strict-serializable");
    let back: TxnReport = serde_json::from_value(json).unwrap();
    assert_eq!(back, report);
}
