//! Counterexamples say what went wrong in terms a person can check by hand.

use checkers::{check, CheckOptions, Event, History, ModelKind, Verdict};
use serde_json::json;

fn history(lines: &[&str]) -> History {
    let events: Vec<Event> = lines.iter().map(|l| serde_json::from_str(l).unwrap()).collect();
    History::from_events(events).unwrap()
}

/// write 1; write 2 || read 1 (overlapping); read 2; read 1 (stale, after read 2).
const STALE: [&str; 10] = [
    r#"{"index":0,"process":1,"type":"invoke","f":"write","value":1}"#,
    r#"{"index":1,"process":1,"type":"ok","f":"write","value":1}"#,
    r#"{"index":2,"process":1,"type":"invoke","f":"write","value":2}"#,
    r#"{"index":3,"process":2,"type":"invoke","f":"read","value":null}"#,
    r#"{"index":4,"process":2,"type":"ok","f":"read","value":1}"#,
    r#"{"index":5,"process":1,"type":"ok","f":"write","value":2}"#,
    r#"{"index":6,"process":2,"type":"invoke","f":"read","value":null}"#,
    r#"{"index":7,"process":3,"type":"invoke","f":"read","value":null}"#,
    r#"{"index":8,"process":2,"type":"ok","f":"read","value":2}"#,
    r#"{"index":9,"process":3,"type":"ok","f":"read","value":1}"#,
];

#[test]
fn the_failing_op_prefix_states_and_concurrent_ops_are_reported() {
    let report = check(&history(&STALE), &CheckOptions::new(ModelKind::Register)).unwrap();
    assert_eq!(report.verdict, Verdict::Invalid);
    let c = report.counterexample.as_ref().unwrap();
    assert_eq!(c.failing_op.invoke_index, 7);
    assert_eq!(c.failing_op.result, Some(json!(1)));
    assert_eq!(c.initial_state, json!(null));
    assert_eq!(c.linearized, 4, "write 1, read 1, write 2, read 2");
    let order: Vec<u64> = c.prefix.iter().map(|s| s.op.invoke_index).collect();
    assert_eq!(order, vec![0, 3, 2, 6]);
    let states: Vec<_> = c.prefix.iter().map(|s| s.state_after.clone()).collect();
    assert_eq!(states, vec![json!(1), json!(1), json!(2), json!(2)]);
    assert_eq!(c.final_state, json!(2));
    assert!(c.concurrent.is_empty(), "the read overlapping it is in the prefix");
    assert!(report.reason.contains("p3 read -> 1"), "{}", report.reason);
}

#[test]
fn the_counterexample_renders_as_text_and_json() {
    let report = check(&history(&STALE), &CheckOptions::new(ModelKind::Register)).unwrap();
    let text = report.render_text();
    assert!(text.starts_with("invalid (register): not linearizable"), "{text}");
    assert!(text.contains("cannot linearize: p3 read -> 1 [events 7..9]"), "{text}");
    assert!(text.contains("p1 write 2 [events 2..5]  => 2"), "{text}");
    let json = serde_json::to_value(&report).unwrap();
    assert_eq!(json["verdict"], "invalid");
    assert_eq!(json["model"], "register");
    assert_eq!(json["counterexample"]["failing_op"]["invoke_index"], 7);
    assert_eq!(json["counterexample"]["prefix"][3]["state_after"], 2);
    assert!(json["stats"]["states_explored"].as_u64().unwrap() > 0);
}

#[test]
fn concurrent_ops_outside_the_prefix_are_listed() {
    // Write 1 completes; then read 2 overlaps a crashed cas that can never apply, and an
    // ok write 3 that does not help either. Nothing wrote 2.
    let lines = [
        r#"{"index":0,"process":1,"type":"invoke","f":"write","value":1}"#,
        r#"{"index":1,"process":1,"type":"ok","f":"write","value":1}"#,
        r#"{"index":2,"process":4,"type":"invoke","f":"cas","value":[5,6]}"#,
        r#"{"index":3,"process":2,"type":"invoke","f":"read","value":null}"#,
        r#"{"index":4,"process":2,"type":"ok","f":"read","value":2}"#,
    ];
    let report = check(&history(&lines), &CheckOptions::new(ModelKind::CasRegister)).unwrap();
    let c = report.counterexample.clone().unwrap();
    assert_eq!(c.failing_op.invoke_index, 3);
    assert_eq!(c.linearized, 1);
    assert_eq!(c.final_state, json!(1));
    assert_eq!(c.concurrent.len(), 1);
    assert_eq!(c.concurrent[0].invoke_index, 2);
    assert_eq!(c.concurrent[0].outcome, checkers::EventType::Info);
    assert!(report.render_text().contains("p4 cas [5,6] (info) [events 2..]"), "{}", report.render_text());
}

#[test]
fn keyed_counterexamples_name_the_key_and_kv_states_are_strings() {
    let lines = [
        r#"{"index":0,"process":1,"type":"invoke","f":"append","key":"x","value":"a"}"#,
        r#"{"index":1,"process":1,"type":"ok","f":"append","key":"x","value":"a"}"#,
        r#"{"index":2,"process":2,"type":"invoke","f":"get","key":"x","value":null}"#,
        r#"{"index":3,"process":2,"type":"ok","f":"get","key":"x","value":"b"}"#,
    ];
    let report = check(&history(&lines), &CheckOptions::new(ModelKind::Kv)).unwrap();
    let c = report.counterexample.unwrap();
    assert_eq!(c.key.as_deref(), Some("x"));
    assert_eq!(c.final_state, json!("a"));
    assert!(report.reason.contains("on key \"x\""), "{}", report.reason);

    let mut options = CheckOptions::new(ModelKind::Kv);
    options.partition = false;
    let report = check(&history(&lines), &options).unwrap();
    let c = report.counterexample.unwrap();
    assert_eq!(c.key, None);
    assert_eq!(c.final_state, json!({"x": "a"}));
}

#[test]
fn set_reports_combine_linearizability_and_lost_writes() {
    let lines = [
        r#"{"index":0,"process":1,"type":"invoke","f":"add","value":1}"#,
        r#"{"index":1,"process":1,"type":"ok","f":"add","value":1}"#,
        r#"{"index":2,"process":1,"type":"invoke","f":"add","value":2}"#,
        r#"{"index":3,"process":1,"type":"ok","f":"add","value":2}"#,
        r#"{"index":4,"process":2,"type":"invoke","f":"read","value":null}"#,
        r#"{"index":5,"process":2,"type":"ok","f":"read","value":[1]}"#,
    ];
    let report = check(&history(&lines), &CheckOptions::new(ModelKind::Set)).unwrap();
    assert_eq!(report.verdict, Verdict::Invalid);
    let lost = report.lost_writes.as_ref().unwrap();
    assert_eq!(lost.lost.count, 1);
    assert_eq!(lost.lost.examples, vec![json!(2)]);
    assert_eq!(lost.stable, 1);
    assert!(report.reason.contains("lost writes: 1 lost"), "{}", report.reason);
    assert!(report.render_text().contains("lost: 1 (e.g. 2)"));
}
