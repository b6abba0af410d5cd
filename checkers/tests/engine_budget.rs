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
    // Keys k0..k3 hold the same invalid history, each needing many slices of search.
    // Searches take slices in turn, k0 first, so k0 reaches the violation first and the
    // searches of k1..k3, one slice behind, are cancelled before they finish.
    let violating: Vec<Event> = generate(&GenOptions {
        ops: 1000,
        keys: 1,
        concurrency: 5,
        seed: 1,
        model: ModelKind::Register,
        violate: true,
    });
    let mut events = Vec::new();
    for copy in 0..4u64 {
        let offset = events.len() as u64;
        for mut e in violating.clone() {
            e.index += offset;
            if let checkers::Process::Client(p) = e.process {
                e.process = checkers::Process::Client(p + copy * 1000);
            }
            e.key = Some(format!("k{copy}"));
            events.push(e);
        }
    }
    let history = History::from_events(events).unwrap();
    let mut options = CheckOptions::new(ModelKind::Register);
    options.threads = 1;
    let report = check(&history, &options).unwrap();
    assert_eq!(report.verdict, Verdict::Invalid);
    assert_eq!(report.stats.partitions, 4);
    assert_eq!(report.stats.partitions_checked, 1, "the others were cancelled: {}", report.render_text());
    assert!(report.reason.contains("k0"), "{}", report.reason);
    assert_eq!(report.counterexample.unwrap().key.as_deref(), Some("k0"));

    options.threads = 4;
    assert_eq!(check(&history, &options).unwrap().verdict, Verdict::Invalid);
}

#[test]
fn ordinary_partitions_are_searched_a_few_at_a_time_not_all_at_once() {
    // Ten keys of 1,400 ops each, fifty clients: each search needs about ten steps per op.
    // It finishes in its first turn and hands its memo on, so two threads hold two
    // searches' tables at a time (about 1.6 MB in all). Were every search to yield after
    // a fixed few thousand steps, all ten would be started before any finished, and would
    // need about 5.4 MB between them.
    let gen = GenOptions {
        ops: 20_000,
        keys: 10,
        concurrency: 50,
        seed: 2,
        model: ModelKind::CasRegister,
        violate: false,
    };
    let history = History::from_events(generate(&gen)).unwrap();
    let options = CheckOptions {
        threads: 2,
        memory_limit_bytes: Some(3 << 20),
        ..CheckOptions::new(ModelKind::CasRegister)
    };
    let report = check(&history, &options).unwrap();
    assert_eq!(report.verdict, Verdict::Valid, "{}", report.reason);
    assert_eq!(report.stats.partitions_checked, 10);
}
