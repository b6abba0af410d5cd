//! Jepsen's semantics of uncertain outcomes, each case in both directions.

use checkers::{check, generate, CheckOptions, Event, GenOptions, History, ModelKind, Outcome, Verdict};

fn history(lines: &[&str]) -> History {
    let events: Vec<Event> = lines.iter().map(|l| serde_json::from_str(l).unwrap()).collect();
    History::from_events(events).unwrap()
}

fn verdict(model: ModelKind, lines: &[&str]) -> Verdict {
    check(&history(lines), &CheckOptions::new(model)).unwrap().verdict
}

#[test]
fn an_info_write_may_take_effect_long_after_its_process_crashed() {
    let lines = [
        r#"{"index":0,"process":1,"type":"invoke","f":"write","value":3}"#,
        r#"{"index":1,"process":1,"type":"info","f":"write","value":3}"#,
        r#"{"index":2,"process":2,"type":"invoke","f":"read","value":null}"#,
        r#"{"index":3,"process":2,"type":"ok","f":"read","value":null}"#,
        r#"{"index":4,"process":2,"type":"invoke","f":"write","value":4}"#,
        r#"{"index":5,"process":2,"type":"ok","f":"write","value":4}"#,
        r#"{"index":6,"process":2,"type":"invoke","f":"read","value":null}"#,
        r#"{"index":7,"process":2,"type":"ok","f":"read","value":3}"#,
    ];
    assert_eq!(verdict(ModelKind::Register, &lines), Verdict::Valid);
}

#[test]
fn an_info_op_may_also_never_happen() {
    // A crashed cas whose compare can never succeed must not make the history invalid.
    let lines = [
        r#"{"index":0,"process":1,"type":"invoke","f":"cas","value":[9,1]}"#,
        r#"{"index":1,"process":1,"type":"info","f":"cas","value":[9,1]}"#,
        r#"{"index":2,"process":2,"type":"invoke","f":"read","value":null}"#,
        r#"{"index":3,"process":2,"type":"ok","f":"read","value":null}"#,
    ];
    assert_eq!(verdict(ModelKind::CasRegister, &lines), Verdict::Valid);
}

#[test]
fn an_op_still_open_at_the_end_counts_as_info() {
    let lines = [
        r#"{"index":0,"process":1,"type":"invoke","f":"write","value":3}"#,
        r#"{"index":1,"process":2,"type":"invoke","f":"read","value":null}"#,
        r#"{"index":2,"process":2,"type":"ok","f":"read","value":3}"#,
    ];
    assert_eq!(verdict(ModelKind::Register, &lines), Verdict::Valid);
}

#[test]
fn an_info_op_cannot_take_effect_before_it_was_invoked() {
    let lines = [
        r#"{"index":0,"process":2,"type":"invoke","f":"read","value":null}"#,
        r#"{"index":1,"process":2,"type":"ok","f":"read","value":3}"#,
        r#"{"index":2,"process":1,"type":"invoke","f":"write","value":3}"#,
        r#"{"index":3,"process":1,"type":"info","f":"write","value":3}"#,
    ];
    assert_eq!(verdict(ModelKind::Register, &lines), Verdict::Invalid);
}

#[test]
fn a_failed_write_did_not_happen() {
    let lines = [
        r#"{"index":0,"process":1,"type":"invoke","f":"write","value":3}"#,
        r#"{"index":1,"process":1,"type":"fail","f":"write","value":3}"#,
        r#"{"index":2,"process":2,"type":"invoke","f":"read","value":null}"#,
        r#"{"index":3,"process":2,"type":"ok","f":"read","value":3}"#,
    ];
    assert_eq!(verdict(ModelKind::Register, &lines), Verdict::Invalid);
    let dropped = check(&history(&lines), &CheckOptions::new(ModelKind::Register)).unwrap();
    assert_eq!(dropped.stats.ops, 1, "the failed write is not an op of the search");
}

#[test]
fn reads_with_unknown_results_constrain_nothing() {
    // Reads that failed, crashed, or (kv) returned no value would each contradict the write.
    for (model, f, write) in [(ModelKind::Register, "read", "write"), (ModelKind::Kv, "get", "put")] {
        let w = format!(r#"{{"index":0,"process":1,"type":"invoke","f":"{write}","key":"k","value":"v"}}"#);
        let w_ok = format!(r#"{{"index":1,"process":1,"type":"ok","f":"{write}","key":"k","value":"v"}}"#);
        let mut lines = vec![w, w_ok];
        let mut next = 2;
        for (process, kind, value) in [(2, "fail", "null"), (3, "info", "null")] {
            lines.push(format!(
                r#"{{"index":{next},"process":{process},"type":"invoke","f":"{f}","key":"k","value":null}}"#
            ));
            lines.push(format!(
                r#"{{"index":{},"process":{process},"type":"{kind}","f":"{f}","key":"k","value":{value}}}"#,
                next + 1
            ));
            next += 2;
        }
        if model == ModelKind::Kv {
            lines.push(format!(
                r#"{{"index":{next},"process":4,"type":"invoke","f":"get","key":"k","value":null}}"#
            ));
            lines.push(format!(
                r#"{{"index":{},"process":4,"type":"ok","f":"get","key":"k","value":null}}"#,
                next + 1
            ));
        }
        let refs: Vec<&str> = lines.iter().map(String::as_str).collect();
        let report = check(&history(&refs), &CheckOptions::new(model)).unwrap();
        assert_eq!(report.verdict, Verdict::Valid, "{model}");
        assert_eq!(report.stats.ops, 1, "{model}: only the write is searched");
    }
}

#[test]
fn nemesis_events_are_ignored() {
    let lines = [
        r#"{"index":0,"process":"nemesis","type":"info","f":"start-partition","value":{"grudge":{}}}"#,
        r#"{"index":1,"process":1,"type":"invoke","f":"write","value":1}"#,
        r#"{"index":2,"process":1,"type":"ok","f":"write","value":1}"#,
        r#"{"index":3,"process":"nemesis","type":"info","f":"stop-partition","value":null}"#,
    ];
    assert_eq!(verdict(ModelKind::Register, &lines), Verdict::Valid);
}

#[test]
fn crashed_writes_nobody_read_cost_the_search_nothing() {
    // Many clients on few keys, with crashed writes that sometimes took effect (and were
    // read) and mostly did not: the search tries only the crashed writes whose values
    // something read, so it explores about one configuration per op, and a planted
    // violation is still found.
    for violate in [false, true] {
        let options = GenOptions {
            ops: 20_000,
            keys: 10,
            concurrency: 50,
            seed: 2,
            model: ModelKind::CasRegister,
            violate,
        };
        let history = History::from_events(generate(&options)).unwrap();
        let crashed = history.operations().iter().filter(|op| op.outcome == Outcome::Info).count();
        assert!(crashed > 100, "{crashed} crashed ops");
        let report = check(&history, &CheckOptions::new(ModelKind::CasRegister)).unwrap();
        assert_eq!(report.verdict == Verdict::Invalid, violate, "{}", report.reason);
        if !violate {
            assert!(
                report.stats.states_explored < 4 * report.stats.ops,
                "{} states for {} ops",
                report.stats.states_explored,
                report.stats.ops
            );
        }
    }
}
