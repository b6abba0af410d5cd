//! Generated histories agree with their construction: valid without `violate`, invalid
//! with it, at many seeds and for every model. A failure prints the seed.

use checkers::{check, generate, CheckOptions, GenOptions, History, ModelKind, Verdict};
use serde_json::json;

fn checked(options: &GenOptions) -> checkers::CheckReport {
    let history = History::from_events(generate(options)).unwrap_or_else(|e| {
        panic!("{} seed {}: generated history refused: {e}", options.model, options.seed)
    });
    check(&history, &CheckOptions::new(options.model))
        .unwrap_or_else(|e| panic!("{} seed {}: {e}", options.model, options.seed))
}

#[test]
fn generated_histories_are_linearizable_by_construction() {
    for model in ModelKind::ALL {
        for seed in 0..40 {
            let options = GenOptions { ops: 400, keys: 3, concurrency: 8, seed, model, violate: false };
            let report = checked(&options);
            assert_eq!(
                report.verdict,
                Verdict::Valid,
                "faultline gen --model {model} --ops 400 --keys 3 --concurrency 8 --seed {seed}: {}",
                report.render_text()
            );
        }
    }
}

#[test]
fn generated_violations_are_found_and_pointed_at() {
    for model in ModelKind::ALL {
        for seed in 0..40 {
            let options = GenOptions { ops: 400, keys: 3, concurrency: 8, seed, model, violate: true };
            let report = checked(&options);
            let context = format!(
                "faultline gen --model {model} --ops 400 --keys 3 --concurrency 8 --seed {seed} --violate"
            );
            assert_eq!(report.verdict, Verdict::Invalid, "{context}: {}", report.render_text());
            let counterexample =
                report.counterexample.as_ref().unwrap_or_else(|| panic!("{context}: no counterexample"));
            let bogus = match model {
                ModelKind::Register | ModelKind::CasRegister => Some(json!(-1)),
                ModelKind::Kv => Some(json!("never-written")),
                ModelKind::Set => Some(json!([-1])),
                ModelKind::Mutex => None,
                // A total above every increment: the read is the op that cannot happen.
                ModelKind::Counter => {
                    assert_eq!(counterexample.failing_op.f, "read", "{context}: {}", report.render_text());
                    None
                }
            };
            if let Some(bogus) = bogus {
                assert_eq!(
                    counterexample.failing_op.result,
                    Some(bogus),
                    "{context}: {}",
                    report.render_text()
                );
            }
        }
    }
}

#[test]
fn a_single_key_history_with_high_concurrency_checks() {
    for model in [ModelKind::Register, ModelKind::CasRegister] {
        let options = GenOptions { ops: 1000, keys: 1, concurrency: 8, seed: 5, model, violate: false };
        assert_eq!(checked(&options).verdict, Verdict::Valid, "{model}");
    }
}
