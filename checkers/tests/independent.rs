//! Histories written as `jepsen.independent` writes them (each op's value a `[key value]`
//! tuple, no op naming a key) are checked per key once their tuples are split, with the
//! verdict and the failing key of the same history written with keys; read whole, they
//! are one object of tuples, and valid ones are called invalid.

use serde_json::Value;

use checkers::format::{load_table, load_table_independent, Format};
use checkers::{
    check, check_table, generate, CheckOptions, Event, GenOptions, History, ModelKind, Process, Verdict,
};

/// A JSON value written as EDN.
fn edn(value: &Value) -> String {
    match value {
        Value::Null => "nil".into(),
        Value::Array(items) => format!("[{}]", items.iter().map(edn).collect::<Vec<_>>().join(" ")),
        Value::Object(map) => {
            let pairs: Vec<String> = map.iter().map(|(k, v)| format!("{:?} {}", k, edn(v))).collect();
            format!("{{{}}}", pairs.join(", "))
        }
        other => other.to_string(),
    }
}

/// The key as Jepsen's tests name them: `k7` becomes the integer 7.
fn jepsen_key(key: &str) -> Value {
    key.strip_prefix('k').and_then(|n| n.parse::<u64>().ok()).map_or_else(|| Value::from(key), Value::from)
}

/// `events` as Jepsen writes an independent history: op maps, one to a line, the key
/// moved into the value as `[key value]`. A `fail` keeps a bare `nil`, as clients that
/// return the op with no value do; every other completion carries the tuple.
fn independent_edn(events: &[Event]) -> String {
    let mut out = String::new();
    for (i, e) in events.iter().enumerate() {
        let process = match e.process {
            Process::Client(p) => p.to_string(),
            Process::Nemesis => ":nemesis".into(),
        };
        let value = match (&e.key, e.kind.as_str()) {
            (Some(key), kind) if kind != "fail" || !e.value.is_null() => {
                Value::Array(vec![jepsen_key(key), e.value.clone()])
            }
            _ => e.value.clone(),
        };
        out.push_str(&format!(
            "{{:type :{}, :f :{}, :value {}, :time {}, :process {process}, :index {i}}}\n",
            e.kind.as_str(),
            e.f,
            edn(&value),
            1000 * i
        ));
    }
    out
}

fn options(model: ModelKind) -> CheckOptions {
    CheckOptions::new(model)
}

#[test]
fn split_tuples_give_the_keyed_verdict_and_failing_key_over_many_seeds() {
    let models =
        [ModelKind::Register, ModelKind::CasRegister, ModelKind::Kv, ModelKind::Set, ModelKind::Mutex];
    let (mut checked, mut invalid, mut false_alarms) = (0, 0, 0);
    for model in models {
        for seed in 0..12 {
            for violate in [false, true] {
                let keys = 2 + (seed as usize % 4);
                let gen = GenOptions { ops: 300, keys, concurrency: 6, seed, model, violate };
                let events = generate(&gen);
                let keyed = check(&History::from_events(events.clone()).unwrap(), &options(model)).unwrap();
                let text = independent_edn(&events);
                let whole = load_table(text.as_bytes(), "h.edn", Format::Auto).unwrap();
                assert!(
                    whole.table.looks_independent(),
                    "{model} seed {seed}: read whole, it looks independent"
                );
                let split = load_table_independent(text.as_bytes(), "h.edn", Format::Auto).unwrap();
                assert_eq!(split.format, Format::Edn);
                assert!(!split.table.looks_independent());
                let report = check_table(&split.table, &options(model)).unwrap();
                assert_eq!(
                    report.verdict, keyed.verdict,
                    "{model} seed {seed} violate {violate}: {}",
                    report.reason
                );
                let failing_key =
                    |r: &checkers::CheckReport| r.counterexample.as_ref().and_then(|c| c.key.clone());
                assert_eq!(
                    failing_key(&report),
                    failing_key(&keyed).map(|k| k.trim_start_matches('k').to_string()),
                    "{model} seed {seed}: the counterexample names the same key"
                );
                checked += 1;
                invalid += usize::from(report.verdict == Verdict::Invalid);
                if keyed.verdict == Verdict::Valid {
                    // A kv op with no key is refused outright.
                    let whole = check_table(&whole.table, &options(model));
                    false_alarms += usize::from(whole.is_ok_and(|r| r.verdict == Verdict::Invalid));
                }
            }
        }
    }
    assert_eq!(checked, 120);
    assert_eq!(invalid, 60, "every planted violation is found, and nothing else");
    // What --independent is for: the same valid histories, read as one object of tuples.
    // (kv's twelve are refused instead: its ops have no key.)
    assert!(false_alarms >= 40, "read whole, valid histories are called invalid: {false_alarms} of 48");
}

#[test]
fn a_history_of_one_object_does_not_look_independent() {
    for model in [ModelKind::Register, ModelKind::CasRegister] {
        let events =
            generate(&GenOptions { ops: 200, keys: 1, concurrency: 4, seed: 3, model, violate: false });
        let table = checkers::OpTable::from_history(&History::from_events(events).unwrap()).unwrap();
        assert!(!table.looks_independent(), "{model}: reads of nil, writes of integers");
    }
}
