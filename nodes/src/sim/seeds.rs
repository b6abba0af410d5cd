//! Running one test over many seeds, and saying which seed failed.

use std::panic::{catch_unwind, AssertUnwindSafe};

/// Environment variable that narrows [`check_seeds`] to the one seed it names.
pub const SEED_ENV: &str = "FAULTLINE_SEED";

/// Run `test` for every seed of `seeds` (or only for `$FAULTLINE_SEED` when it is set).
/// The first seed whose test panics ends the run with a panic that starts `seed N:` and
/// says how to run that seed alone.
pub fn check_seeds(seeds: impl IntoIterator<Item = u64>, mut test: impl FnMut(u64)) {
    let only = std::env::var(SEED_ENV).ok().map(|s| {
        s.trim().parse::<u64>().unwrap_or_else(|_| panic!("{SEED_ENV}={s:?} is not a seed (a u64)"))
    });
    let seeds: Vec<u64> = match only {
        Some(seed) => vec![seed],
        None => seeds.into_iter().collect(),
    };
    assert!(!seeds.is_empty(), "check_seeds: no seeds to run");
    for seed in seeds {
        if let Err(panic) = catch_unwind(AssertUnwindSafe(|| test(seed))) {
            let message = panic
                .downcast_ref::<String>()
                .map(String::as_str)
                .or_else(|| panic.downcast_ref::<&str>().copied())
                .unwrap_or("(a panic without a message)");
            // The simulator's own panics already start with the seed.
            let prefix = format!("seed {seed}: ");
            let message = message.strip_prefix(&prefix).unwrap_or(message);
            panic!("seed {seed}: {message}\n  rerun this seed alone: {SEED_ENV}={seed} cargo test ...");
        }
    }
}
