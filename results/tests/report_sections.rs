//! The report of a small hand-made run directory: every section, the fault window, the
//! counterexample drawn on the timeline, the node logs linked; nothing fetched from the
//! network.

use std::collections::BTreeMap;

use checkers::{CheckDetails, CheckName, Event, EventType, Process, Verdict};
use results::report::{write_report, REPORT_HTML};
use results::{CheckResult, RunDir, RunInfo, RunResults};
use serde_json::json;

fn event(process: Process, kind: EventType, f: &str, value: serde_json::Value, ms: u64) -> Event {
    Event {
        index: 0,
        time: Some(ms * 1_000_000),
        process,
        kind,
        f: f.into(),
        key: if process == Process::Nemesis { None } else { Some("r0".into()) },
        value,
        error: None,
        node: Some("1".into()),
    }
}

/// The stats check's details with these fault windows, the rest of the report plain.
fn stats_details(faults: serde_json::Value) -> CheckDetails {
    serde_json::from_value(json!({"check": "stats", "verdict": "valid", "reasons": [],
        "counts": {"ok": 2, "fail": 1, "info": 1}, "by_function": {}, "latency": null,
        "throughput_ok_per_s": null, "duration_s": null, "availability": null,
        "availability_without_faults": null, "faults": faults, "messages": null,
        "messages_per_ok_op": null}))
    .unwrap()
}

/// p0 writes 1 (ok), p1 writes 2 (info, during the partition), p2 reads 7 (cannot be
/// linearized: nothing wrote 7), concurrent with p1's write.
fn small_run(store: &std::path::Path) -> RunDir {
    use EventType::*;
    let run = RunDir::create(store, "raft-register").unwrap();
    run.write_run_info(&RunInfo {
        model: "cas-register".into(),
        test: "raft-register".into(),
        seed: 42,
        command: vec!["faultline".into(), "test".into(), "--seed".into(), "42".into()],
        versions: BTreeMap::new(),
        spec: json!({"protocol": "raft", "nemesis": "partition"}),
        started: "2026-11-26T12:00:00.000Z".into(),
    })
    .unwrap();
    let c = Process::Client;
    let events = vec![
        event(c(0), Invoke, "write", json!(1), 10),
        event(c(0), Ok, "write", json!(1), 30),
        event(
            Process::Nemesis,
            Info,
            "start-partition",
            json!({"grudge": {"1": [2]}, "took_effect": true}),
            100,
        ),
        event(c(1), Invoke, "write", json!(2), 120),
        event(c(2), Invoke, "read", json!(null), 150),
        event(c(2), Ok, "read", json!(7), 170),
        event(c(1), Info, "write", json!(2), 400),
        event(Process::Nemesis, Info, "stop-partition", json!({"took_effect": true}), 500),
        event(c(3), Invoke, "read", json!(null), 600),
        event(c(3), Fail, "read", json!(null), 620),
    ];
    let mut writer = run.history_writer().unwrap();
    for e in &events {
        writer.append(e).unwrap();
    }
    writer.sync().unwrap();
    let op = |invoke: u64, complete: u64, process: u64, f: &str, value: serde_json::Value, outcome: &str| {
        json!({"invoke_index": invoke, "complete_index": complete, "process": process, "f": f,
               "key": "r0", "value": value, "outcome": outcome})
    };
    let mut failing = op(4, 5, 2, "read", json!(null), "ok");
    failing["result"] = json!(7);
    let counterexample = json!({
        "key": "r0",
        "failing_op": failing,
        "linearized": 1,
        "initial_state": null,
        "prefix": [{"op": op(0, 1, 0, "write", json!(1), "ok"), "state_after": 1}],
        "final_state": 1,
        "concurrent": [op(3, 6, 1, "write", json!(2), "info")],
    });
    let linearizable = json!({"check": "linearizable", "model": "cas-register", "verdict": "invalid",
        "reason": "not linearizable", "counterexample": counterexample,
        "stats": {"ops": 4, "partitions": 1, "partitions_checked": 1, "states_explored": 3, "elapsed_ms": 0.1}});
    let faults = json!([{"fault": "partition", "start_s": 0.1, "end_s": 0.5, "took_effect": true,
                         "counts": {"ok": 1, "fail": 0, "info": 1}, "availability": 0.5}]);
    let checks = BTreeMap::from([
        (
            CheckName::Linearizable,
            CheckResult {
                verdict: Verdict::Invalid,
                summary: "read 7 of r0 cannot be linearized".into(),
                details: Some(serde_json::from_value(linearizable).unwrap()),
            },
        ),
        (
            CheckName::Stats,
            CheckResult {
                verdict: Verdict::Valid,
                summary: "2 ok, 1 fail, 1 info".into(),
                details: Some(stats_details(faults)),
            },
        ),
    ]);
    run.write_results(&RunResults::new(
        Verdict::Invalid,
        vec!["linearizable: read 7 of r0 cannot be linearized".into()],
        checks,
        "faultline test --seed 42".into(),
    ))
    .unwrap();
    run.write_net(&json!({
        "links": {"1->2": {"frames": 120, "delivered": 100, "dropped": 20, "bytes": 4000},
                  "2->1": {"frames": 80, "delivered": 80, "dropped": 0, "bytes": 3000}},
        "total": {"frames": 200, "delivered": 180, "dropped": 20, "bytes": 7000}
    }))
    .unwrap();
    std::fs::write(run.node_log(1), "node 1 started\n").unwrap();
    std::fs::write(run.node_log(2), "node 2 started\n").unwrap();
    run
}

#[test]
fn the_report_of_a_small_run_has_every_section() {
    let store = tempfile::tempdir().unwrap();
    let run = small_run(store.path());
    let path = write_report(&run).unwrap();
    assert_eq!(path, run.path().join(REPORT_HTML));
    let html = std::fs::read_to_string(&path).unwrap();
    for id in [
        "verdicts",
        "counterexample",
        "timeline",
        "latency",
        "throughput",
        "faults",
        "network",
        "logs",
        "run",
    ] {
        assert!(html.contains(&format!("id=\"{id}\"")), "section {id} is missing");
    }
    // Verdicts and reasons.
    assert!(html.contains("class=\"badge v-invalid\">invalid"));
    assert!(html.contains("linearizable: read 7 of r0 cannot be linearized"));
    assert!(html.contains("faultline test --seed 42"));
    // One bar per op on the timeline (four ops, one row per process), with outcome colours.
    assert_eq!(html.matches(" [event ").count(), 4 + 2, "four bars, and the two highlighted ones again");
    assert!(
        html.contains("class=\"ok\"") && html.contains("class=\"fail\"") && html.contains("class=\"info\"")
    );
    // The fault window, shaded on the timeline and on both plots, and listed.
    assert_eq!(html.matches("class=\"fault\"").count(), 3, "timeline, latency, throughput");
    assert!(html.contains("partition 0.10s-0.50s"));
    // The counterexample: listed, and the failing op and its concurrent op outlined.
    assert!(html.contains("cannot linearize on key &quot;r0&quot;: p2 read &quot;r0&quot; -&gt; 7 (ok)"));
    assert!(html.contains("class=\"ok failing\""), "the failing read is outlined");
    assert!(html.contains("class=\"info concurrent\""), "the concurrent write is outlined");
    assert!(html.contains("p2 read &quot;r0&quot; -&gt; 7 (ok)"));
    // Messages per link.
    assert!(html.contains("Messages per link"));
    assert!(html.contains("<td>1-&gt;2</td><td class=\"n\">120</td>"));
    // Node logs linked by relative path.
    assert!(html.contains("<a href=\"nodes/1.log\">") && html.contains("<a href=\"nodes/2.log\">"));
    // Self-contained: nothing to fetch.
    for remote in ["<script", "http://", "https://", "<link", "src="] {
        let outside_xmlns = html.replace("http://www.w3.org/2000/svg", "");
        assert!(!outside_xmlns.contains(remote), "the report refers to {remote}");
    }
}

#[test]
fn packets_counted_in_namespaces_are_not_called_messages() {
    let store = tempfile::tempdir().unwrap();
    let run = small_run(store.path());
    run.write_net(&json!({
        "unit": "packets",
        "links": {"1->2": {"frames": 33, "dropped": 4}},
        "total": {"frames": 33, "dropped": 4}
    }))
    .unwrap();
    let html = std::fs::read_to_string(write_report(&run).unwrap()).unwrap();
    assert!(html.contains("Packets per link") && !html.contains("Messages per link"));
    assert!(html.contains("<td>1-&gt;2</td><td class=\"n\">33</td>"));
}

#[test]
fn a_run_without_results_or_net_still_gets_a_report_saying_so() {
    let store = tempfile::tempdir().unwrap();
    let run = small_run(store.path());
    std::fs::remove_file(run.path().join("results.json")).unwrap();
    std::fs::remove_file(run.path().join("net.json")).unwrap();
    let html = std::fs::read_to_string(write_report(&run).unwrap()).unwrap();
    assert!(html.contains("no results.json: the run was not checked"));
    assert!(html.contains("No net.json"));
    // Fault windows come from the nemesis events instead.
    assert_eq!(html.matches("class=\"fault\"").count(), 3);
    assert!(!html.contains("id=\"counterexample\""));
}

#[test]
fn text_from_the_run_is_escaped() {
    let store = tempfile::tempdir().unwrap();
    let run = small_run(store.path());
    let mut results = run.read_results().unwrap();
    results.reasons.push("<script>alert(1)</script>".into());
    run.write_results(&results).unwrap();
    let html = std::fs::read_to_string(write_report(&run).unwrap()).unwrap();
    assert!(!html.contains("<script>"));
    assert!(html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
}
