//! `faultline gen`: a synthetic history as JSON Lines on stdout.
//!
//! Single-object models (register, cas-register, kv, set, mutex, counter) come from
//! `checkers::gen`:
//! linearizable by construction, or with `--violate` holding one known violation.
//! Queues (`total-queue`) come from `checkers::queue::gen`: every element accounted for, or
//! with `--violate` one lost, duplicated or unexpected element.
//! Transactional models (list-append, rw-register) come from `checkers::txn::gen`:
//! strict-serializable by construction, or with `--violate KIND` holding one planted anomaly
//! of that kind (G0, G1a, G1b, G1c, G-single, G2-item, internal, duplicate-appends,
//! garbage-read, incompatible-order). The same flags and seed always give the same bytes, so
//! a failing test or benchmark can be reproduced from its command line. Used as
//! `faultline gen --seed 7 --model kv --keys 10 | faultline check --model kv -`.

use std::process::ExitCode;
use std::str::FromStr;

use checkers::gen::{generate, GenOptions};
use checkers::queue::gen::{generate_queue, QueueGenOptions};
use checkers::txn::gen::{generate_txn, TxnGenOptions, TxnViolation};
use checkers::txn::TxnModel;
use checkers::{Event, ModelKind};

/// The most ops one history may have: far past what any check finishes in reasonable time.
const MAX_OPS: u64 = 100_000_000;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Operations (transactions, for list-append and rw-register) to generate.
    #[arg(
        long,
        visible_alias = "txns",
        default_value_t = 1000,
        value_parser = clap::value_parser!(u64).range(1..=MAX_OPS)
    )]
    pub ops: u64,
    /// Independent keys the operations spread over; for transactions, the keys active at
    /// once, each retired for a fresh one after 32 writes [default: 1, or 10 for
    /// transactions].
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..=1_000_000))]
    pub keys: Option<u64>,
    /// Client processes with an operation in flight at once.
    #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u64).range(1..=10_000))]
    pub concurrency: u64,
    /// Seed of every random choice.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Model whose operations to generate: register, cas-register, kv, set, mutex, counter,
    /// list-append, rw-register, total-queue.
    #[arg(long, value_name = "MODEL", default_value = "cas-register")]
    pub model: GenModel,
    /// Plant one violation in the history. Transactional models take the anomaly's kind:
    /// G0, G1a, G1b, G1c, G-single, G2-item, internal, duplicate-appends, garbage-read,
    /// incompatible-order.
    #[arg(long, value_name = "KIND", num_args = 0..=1)]
    pub violate: Option<Option<String>>,
}

/// A single-object model or a transactional one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GenModel {
    Object(ModelKind),
    Txn(TxnModel),
    /// Enqueues, dequeues and a final drain per queue.
    Queue,
}

impl FromStr for GenModel {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if let Ok(model) = s.parse::<TxnModel>() {
            return Ok(GenModel::Txn(model));
        }
        if s == "total-queue" {
            return Ok(GenModel::Queue);
        }
        s.parse::<ModelKind>().map(GenModel::Object).map_err(|_| {
            format!(
                "unknown model {s:?}; expected register, cas-register, kv, set, mutex, \
                 counter, list-append, rw-register or total-queue"
            )
        })
    }
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let events = match history(&args) {
        Ok(events) => events,
        Err(e) => {
            eprintln!("faultline: error: {e}");
            return Ok(ExitCode::from(crate::EXIT_BAD_INPUT));
        }
    };
    match checkers::format::write_jsonl(&events, std::io::stdout().lock()) {
        Ok(()) => Ok(ExitCode::SUCCESS),
        // The reader went away (`faultline gen | head`): nothing more to say.
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(ExitCode::SUCCESS),
        Err(e) => Err(anyhow::Error::new(e).context("writing the history to stdout")),
    }
}

/// The generated events, or why the flags do not describe a history.
fn history(args: &Args) -> Result<Vec<Event>, String> {
    match args.model {
        GenModel::Object(model) => {
            if let Some(Some(kind)) = &args.violate {
                return Err(format!(
                    "--violate takes no kind for {model} (got {kind:?}); \
                     kinds are for list-append and rw-register"
                ));
            }
            Ok(generate(&GenOptions {
                ops: args.ops as usize,
                keys: args.keys.unwrap_or(1) as usize,
                concurrency: args.concurrency as usize,
                seed: args.seed,
                violate: args.violate.is_some(),
                ..GenOptions::new(model)
            }))
        }
        GenModel::Queue => {
            if let Some(Some(kind)) = &args.violate {
                return Err(format!(
                    "--violate takes no kind for total-queue (got {kind:?}); the seed picks the fault"
                ));
            }
            Ok(generate_queue(&QueueGenOptions {
                ops: args.ops as usize,
                keys: args.keys.unwrap_or(1) as usize,
                concurrency: args.concurrency as usize,
                seed: args.seed,
                violate: args.violate.is_some(),
            }))
        }
        GenModel::Txn(model) => {
            let violate = match &args.violate {
                None => None,
                Some(None) => {
                    return Err(format!("--violate needs a kind for {model}: {}", kinds(model).join(", ")))
                }
                Some(Some(kind)) => {
                    let kind: TxnViolation = kind.parse()?;
                    if !kind.applies_to(model) {
                        return Err(format!(
                            "{kind} cannot be planted in a {model} history; kinds for {model}: {}",
                            kinds(model).join(", ")
                        ));
                    }
                    Some(kind)
                }
            };
            Ok(generate_txn(&TxnGenOptions {
                txns: args.ops as usize,
                keys: args.keys.unwrap_or(10) as usize,
                concurrency: args.concurrency as usize,
                seed: args.seed,
                violate,
                ..TxnGenOptions::new(model)
            }))
        }
    }
}

fn kinds(model: TxnModel) -> Vec<&'static str> {
    TxnViolation::ALL.into_iter().filter(|k| k.applies_to(model)).map(TxnViolation::as_str).collect()
}
