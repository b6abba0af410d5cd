//! `faultline gen`: a synthetic history as JSON Lines on stdout.
//!
//! The history comes from `checkers::gen`: linearizable by construction, or with
//! `--violate` holding one known violation. The same flags and seed always give the same
//! bytes, so a failing test or benchmark can be reproduced from its command line. Used as
//! `faultline gen --seed 7 --model kv --keys 10 | faultline check --model kv -`.

use std::process::ExitCode;

use checkers::gen::{generate, GenOptions};
use checkers::ModelKind;

/// The most ops one history may have: far past what any check finishes in reasonable time.
const MAX_OPS: u64 = 100_000_000;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Operations to generate.
    #[arg(long, default_value_t = 1000, value_parser = clap::value_parser!(u64).range(1..=MAX_OPS))]
    pub ops: u64,
    /// Independent keys the operations spread over.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u64).range(1..=1_000_000))]
    pub keys: u64,
    /// Client processes with an operation in flight at once.
    #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u64).range(1..=10_000))]
    pub concurrency: u64,
    /// Seed of every random choice.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Model whose operations to generate: register, cas-register, kv, set, mutex.
    #[arg(long, value_name = "MODEL", default_value = "cas-register")]
    pub model: ModelKind,
    /// Plant one violation of the model in the history.
    #[arg(long)]
    pub violate: bool,
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let options = GenOptions {
        ops: args.ops as usize,
        keys: args.keys as usize,
        concurrency: args.concurrency as usize,
        seed: args.seed,
        violate: args.violate,
        ..GenOptions::new(args.model)
    };
    let events = generate(&options);
    match checkers::format::write_jsonl(&events, std::io::stdout().lock()) {
        Ok(()) => Ok(ExitCode::SUCCESS),
        // The reader went away (`faultline gen | head`): nothing more to say.
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(ExitCode::SUCCESS),
        Err(e) => Err(anyhow::Error::new(e).context("writing the history to stdout")),
    }
}
