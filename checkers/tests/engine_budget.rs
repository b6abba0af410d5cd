//! Budgets and cancellation: a search that did not finish is never valid.

use std::time::Duration;

use checkers::{check, generate, CheckOptions, Event, GenOptions, History, ModelKind, Verdict};

fn big_history(model: ModelKind) -> History {
    let options = GenOptions { ops: 1200, keys: 1, concurrency: 10, seed: 3, model, violate: false };
    History::from_events(generate(&options)).unwrap()
}

#[test]
fn a_time_limit_gives_unknown_with_the_reason() {
    let history = big_history(ModelKind::Register);
    let mut options = CheckOptions::new(ModelKind::Register);
    assert_eq!(check(&history, &options).unwrap().verdict, Verdict::Valid, "the history itself is valid");
    options.time_limit = Some(Duration::ZERO);
    let report = check(&history, &options).unwrap();
    assert_eq!(report.verdict, Verdict::Unknown);
    assert!(report.reason.contains("time limit"), "{}", report.reason);
    assert_eq!(report.stats.partitions_checked, 0);
}

#[test]
fn a_memory_limit_gives_unknown_with_the_reason() {
    for model in [ModelKind::Register, ModelKind::Kv, ModelKind::Set] {
        let history = big_history(model);
        let mut options = CheckOptions::new(model);
        options.memory_limit_bytes = Some(64 * 1024);
        let report = check(&history, &options).unwrap();
        assert_eq!(report.verdict, Verdict::Unknown, "{model}");
        assert!(report.reason.contains("memory limit"), "{model}: {}", report.reason);
    }
}

#[test]
fn a_generous_memory_limit_lets_the_search_finish() {
    let history = big_history(ModelKind::CasRegister);
    let mut options = CheckOptions::new(ModelKind::CasRegister);
    options.memory_limit_bytes = Some(1 << 30);
    assert_eq!(check(&history, &options).unwrap().verdict, Verdict::Valid);
}

#[test]
fn the_first_violation_cancels_the_other_partitions() {
    // Key k0 is large and invalid, so it is searched first; the rest are then cancelled.
    let mut events: Vec<Event> = generate(&GenOptions {
        ops: 1000,
        keys: 1,
        concurrency: 5,
        seed: 1,
        model: ModelKind::Register,
        violate: true,
    });
    for e in &mut events {
        e.key = Some("k0".into());
    }
    let offset = events.len() as u64;
    let base = 1_000u64;
    let small = generate(&GenOptions {
        ops: 400,
        keys: 8,
        concurrency: 5,
        seed: 2,
        model: ModelKind::Register,
        violate: false,
    });
    for mut e in small {
        e.index += offset;
        if let checkers::Process::Client(p) = e.process {
            e.process = checkers::Process::Client(p + base);
        }
        e.key = e.key.map(|k| format!("small-{k}"));
        events.push(e);
    }
    let history = History::from_events(events).unwrap();
    let mut options = CheckOptions::new(ModelKind::Register);
    options.threads = 1;
    let report = check(&history, &options).unwrap();
    assert_eq!(report.verdict, Verdict::Invalid);
    assert_eq!(report.stats.partitions, 9);
    assert_eq!(report.stats.partitions_checked, 1, "the others were cancelled: {}", report.render_text());
    assert_eq!(report.counterexample.unwrap().key.as_deref(), Some("k0"));

    options.threads = 4;
    assert_eq!(check(&history, &options).unwrap().verdict, Verdict::Invalid);
}
