//! Properties of the transactional checker over generated histories: at many seeds and
//! shapes, every planted anomaly is found and named, under the weakest consistency model
//! that rules it out and under every stronger one, and allowed under the weaker ones; a
//! clean history is valid under every model. A failure prints the `faultline gen` command
//! line that reproduces the history (the shape flags it cannot express are printed
//! beside it).

use checkers::txn::gen::{generate_txn, TxnGenOptions, TxnViolation};
use checkers::txn::{check_txn, AnomalyKind, Consistency, TxnModel, TxnOptions, TxnReport};
use checkers::{History, Verdict};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// Seeds per planted kind and model; every seed draws its own shape.
const SEEDS: u64 = 40;

/// A shape drawn from the seed: small and large transactions, few and many keys, keys
/// that retire quickly or never, no crashes or many.
fn shape(model: TxnModel, seed: u64, violate: Option<TxnViolation>) -> TxnGenOptions {
    let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0x7478_6e73);
    TxnGenOptions {
        txns: rng.gen_range(0..250),
        keys: rng.gen_range(1..8),
        max_ops_per_txn: rng.gen_range(1..7),
        max_writes_per_key: if rng.gen_bool(0.3) { 1000 } else { rng.gen_range(1..40) },
        concurrency: rng.gen_range(1..12),
        seed,
        violate,
        info_rate: if rng.gen_bool(0.3) { 0.0 } else { rng.gen_range(0.0..0.15) },
        fail_rate: if rng.gen_bool(0.3) { 0.0 } else { rng.gen_range(0.0..0.15) },
        ..TxnGenOptions::new(model)
    }
}

fn check(options: &TxnGenOptions, consistency: Consistency) -> TxnReport {
    let history = History::from_events(generate_txn(options))
        .unwrap_or_else(|e| panic!("{}: generated history refused: {e}", repro(options)));
    check_txn(&history, &TxnOptions { consistency, ..TxnOptions::new(options.model) })
        .unwrap_or_else(|e| panic!("{}: {e}", repro(options)))
}

fn repro(o: &TxnGenOptions) -> String {
    let violate = o.violate.map(|v| format!(" --violate {v}")).unwrap_or_default();
    format!(
        "faultline gen --model {} --txns {} --keys {} --concurrency {} --seed {}{violate} \
         (max_ops_per_txn {}, max_writes_per_key {}, info_rate {:.3}, fail_rate {:.3})",
        o.model,
        o.txns,
        o.keys,
        o.concurrency,
        o.seed,
        o.max_ops_per_txn,
        o.max_writes_per_key,
        o.info_rate,
        o.fail_rate
    )
}

/// The kinds a plant may be reported as: its own, plus those that necessarily come with
/// it. In a register an overwrite is seen only through a read of what it overwrote, so a
/// write cycle comes with a read cycle.
fn allowed(model: TxnModel, violation: TxnViolation) -> Vec<AnomalyKind> {
    let mut kinds = vec![violation.anomaly_kind()];
    if model == TxnModel::RwRegister && violation == TxnViolation::G0 {
        kinds.push(AnomalyKind::G1c);
    }
    kinds
}

fn planted_anomalies_are_found_and_named(model: TxnModel) {
    for violation in TxnViolation::ALL.into_iter().filter(|v| v.applies_to(model)) {
        let kind = violation.anomaly_kind();
        for seed in 0..SEEDS {
            let options = shape(model, seed, Some(violation));
            for consistency in Consistency::ALL {
                let report = check(&options, consistency);
                let found: Vec<AnomalyKind> = report.anomaly_counts.keys().copied().collect();
                let context = format!("{} under {consistency}: found {found:?}", repro(&options));
                if kind.is_forbidden_under(consistency) {
                    assert_eq!(report.verdict, Verdict::Invalid, "{context}\n{}", report.render_text());
                    assert_eq!(report.anomaly_counts.get(&kind), Some(&1), "{context}");
                    let allowed = allowed(model, violation);
                    assert!(found.iter().all(|k| allowed.contains(k)), "{context}, allowed {allowed:?}");
                    let example = report.anomalies.iter().find(|a| a.kind == kind).expect("an example");
                    assert!(!example.explanation.is_empty() && !example.transactions.is_empty(), "{context}");
                    assert_eq!(example.cycle.is_empty(), !kind.is_cycle(), "{context}");
                } else {
                    assert_eq!(report.verdict, Verdict::Valid, "{context}\n{}", report.render_text());
                }
            }
        }
    }
}

fn clean_histories_are_valid_under_every_model(model: TxnModel) {
    for seed in 0..SEEDS * 3 {
        let options = shape(model, seed, None);
        for consistency in Consistency::ALL {
            let report = check(&options, consistency);
            assert_eq!(
                report.verdict,
                Verdict::Valid,
                "{} under {consistency}\n{}",
                repro(&options),
                report.render_text()
            );
            assert!(report.anomaly_counts.is_empty(), "{}: {:?}", repro(&options), report.anomaly_counts);
        }
    }
}

#[test]
fn list_append_plants_are_found_and_named() {
    planted_anomalies_are_found_and_named(TxnModel::ListAppend);
}

#[test]
fn rw_register_plants_are_found_and_named() {
    planted_anomalies_are_found_and_named(TxnModel::RwRegister);
}

#[test]
fn clean_list_append_histories_are_valid() {
    clean_histories_are_valid_under_every_model(TxnModel::ListAppend);
}

#[test]
fn clean_rw_register_histories_are_valid() {
    clean_histories_are_valid_under_every_model(TxnModel::RwRegister);
}

#[test]
fn a_crowded_history_is_valid_with_every_transaction_considered() {
    // Many clients on few keys: dense dependencies, long reads, crashed transactions that
    // take effect late. Failed transactions are not considered, everything else is.
    for model in TxnModel::ALL {
        let options =
            TxnGenOptions { txns: 3000, keys: 3, concurrency: 20, seed: 11, ..TxnGenOptions::new(model) };
        let history = History::from_events(generate_txn(&options)).expect("generated history is valid");
        let failed = history.operations().iter().filter(|op| op.outcome == checkers::Outcome::Fail).count();
        let report = check(&options, Consistency::StrictSerializable);
        assert_eq!(report.verdict, Verdict::Valid, "{}\n{}", repro(&options), report.render_text());
        assert_eq!(report.transactions, 3000 - failed, "{}", repro(&options));
    }
}
