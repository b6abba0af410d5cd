//! `faultline check FILE...`: judge recorded histories, on their own.
//!
//! Each FILE is a history in any format `checkers::format` reads (`--format auto`
//! recognises it by content), or a stored run directory such as `store/latest`, whose
//! `history.jsonl` is checked against the `"model"` named in its `run.json`, or a Jepsen
//! test's store directory, whose `history.edn` is checked against `--model`, or `-` for
//! standard input (`faultline gen ... | faultline check --model kv -`). The model comes
//! from `--model`, else the run directory, else the format (Jepsen logs hold a
//! `cas-register`, Porcupine kv files a `kv`); with none of these the file is refused.
//!
//! `--independent` reads a history written by Jepsen's `jepsen.independent` (each op's
//! value a `[key value]` tuple, no op naming a key) per key; a history that looks like one
//! read without it is checked as written, with a note saying so.
//!
//! `--model list-append` or `rw-register` judges transactions (`f: "txn"`, Jepsen's
//! `[:append :x 1]` micro-ops) with `checkers::txn` instead of linearizability, against
//! `--consistency` (default strict-serializable): the text lists the anomalies by kind,
//! then explains each; `--json` holds the `TxnReport`.
//!
//! Every file is checked even when an earlier one fails to load. Output is a verdict per
//! file with its reason and counterexample, or with `--json` one JSON document on stdout.
//! Problems with an input are one line on stderr, `FILE:LINE: message`.
//!
//! Exit code, the most serious outcome over all files: 1 if any history is invalid (a
//! violation found is real whatever else happened), else 255 if faultline itself failed on
//! a file, else 254 if an input was unreadable or unusable (bad arguments included), else 2
//! if any check was inconclusive, else 0.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use checkers::format::{
    load_bytes, load_path_detailed, load_path_table, load_path_table_independent, load_table,
    load_table_independent, Format, LoadError, Loaded, LoadedTable,
};
use checkers::queue::QueueReport;
use checkers::txn::{Consistency, TxnModel, TxnOptions, TxnReport};
use checkers::{CheckOptions, CheckReport, ModelKind, Verdict};
use serde_json::json;
use workloads::bank::BankParams;

use crate::{EXIT_BAD_INPUT, EXIT_INTERNAL};

#[derive(clap::Args, Debug)]
pub struct Args {
    /// History files, stored run directories (their history.jsonl, model from run.json),
    /// Jepsen store directories (their history.edn; name the model), or
    /// `-` for standard input.
    #[arg(required = true, value_name = "FILE")]
    pub files: Vec<PathBuf>,
    /// Model to check against: register, cas-register, kv, set, mutex, counter
    /// (linearizability), or list-append, rw-register (transactions).
    #[arg(long, value_name = "MODEL")]
    pub model: Option<CheckModel>,
    /// For list-append and rw-register: the isolation level the transactions are held to:
    /// read-committed, snapshot-isolation, serializable, strict-serializable (default).
    #[arg(long, value_name = "LEVEL")]
    pub consistency: Option<Consistency>,
    /// Input format: auto, jsonl, edn, jepsen-log, kv.
    #[arg(long, value_name = "FORMAT", default_value = "auto")]
    pub format: Format,
    /// Initial value of the object, as JSON (a bare word is taken as a string). Default: nil.
    #[arg(long, value_name = "VALUE")]
    pub initial: Option<String>,
    /// Check a kv history as one map-valued object instead of per key.
    #[arg(long)]
    pub no_partition: bool,
    /// Read each op's value as a `[key value]` tuple, as Jepsen's `jepsen.independent`
    /// writes them: the key is the object the op acts on, and the check splits per key.
    #[arg(long)]
    pub independent: bool,
    /// Give up after this many seconds per file; the verdict is then unknown.
    #[arg(long, value_name = "SECONDS", value_parser = parse_seconds)]
    pub time_limit: Option<Duration>,
    /// Give up when the search's memo passes this many MiB; the verdict is then unknown.
    #[arg(long, value_name = "MB", value_parser = clap::value_parser!(u64).range(1..))]
    pub memory_limit: Option<u64>,
    /// Print one JSON document instead of text.
    #[arg(long)]
    pub json: bool,
}

/// What a history is judged by: a sequential model (linearizability) or a transactional
/// one (isolation).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CheckModel {
    Linear(ModelKind),
    Txn(TxnModel),
    /// Jepsen's `total-queue`: what came out of a queue against what went in.
    Queue,
}

/// The queue analysis's name, as `--model` takes it.
const QUEUE_MODEL: &str = "total-queue";

impl std::str::FromStr for CheckModel {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if let Ok(model) = s.parse::<ModelKind>() {
            return Ok(CheckModel::Linear(model));
        }
        if s == QUEUE_MODEL {
            return Ok(CheckModel::Queue);
        }
        s.parse::<TxnModel>()
            .map(CheckModel::Txn)
            .map_err(|_| format!("unknown model {s:?} (expected {})", model_names()))
    }
}

impl std::fmt::Display for CheckModel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CheckModel::Linear(model) => model.fmt(f),
            CheckModel::Txn(model) => model.fmt(f),
            CheckModel::Queue => f.write_str(QUEUE_MODEL),
        }
    }
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    if let Some(flag) = misplaced_flag(&args) {
        eprintln!("faultline: error: {flag}");
        return Ok(ExitCode::from(EXIT_BAD_INPUT));
    }
    let initial = args.initial.as_deref().map(parse_initial);
    let mut outcomes = Vec::with_capacity(args.files.len());
    for path in &args.files {
        let outcome = check_one(path, &args, initial.as_ref());
        if !args.json {
            print_text(&outcome);
        } else if let Outcome::Refused { message, .. } | Outcome::Crashed { message, .. } = &outcome {
            eprintln!("faultline: {message}");
        }
        outcomes.push(outcome);
    }
    if args.json {
        let document = json!({
            "verdict": Verdict::merge_all(outcomes.iter().map(Outcome::verdict)),
            "files": outcomes.iter().map(Outcome::to_json).collect::<Vec<_>>(),
        });
        crate::outln!("{}", serde_json::to_string_pretty(&document)?);
    }
    Ok(ExitCode::from(exit_code(&outcomes)))
}

/// A flag that does not apply to the model named, if one was given.
fn misplaced_flag(args: &Args) -> Option<String> {
    match args.model? {
        CheckModel::Linear(model) => args
            .consistency
            .map(|_| format!("--consistency applies to list-append and rw-register, not to {model}")),
        CheckModel::Txn(model) => {
            let flag = if args.initial.is_some() {
                "--initial"
            } else if args.no_partition {
                "--no-partition"
            } else if args.independent {
                "--independent"
            } else if args.memory_limit.is_some() {
                "--memory-limit"
            } else {
                return None;
            };
            Some(format!("{flag} applies to linearizability models, not to {model}"))
        }
        // The queue analysis is one pass: nothing to bound, no object to start from.
        CheckModel::Queue => {
            let flag = if args.initial.is_some() {
                "--initial"
            } else if args.no_partition {
                "--no-partition"
            } else if args.memory_limit.is_some() {
                "--memory-limit"
            } else if args.time_limit.is_some() {
                "--time-limit"
            } else if args.consistency.is_some() {
                "--consistency"
            } else {
                return None;
            };
            Some(format!("{flag} does not apply to {QUEUE_MODEL}"))
        }
    }
}

/// What became of one file.
enum Outcome {
    Checked {
        file: String,
        format: Format,
        failing_line: Option<usize>,
        report: Box<CheckReport>,
        /// What the reader may have meant, when the history suggests another reading.
        hint: Option<&'static str>,
    },
    /// A transactional history, judged for isolation anomalies.
    Txn { file: String, format: Format, report: Box<TxnReport> },
    /// A queue history, judged by what came out against what went in.
    Queue { file: String, format: Format, report: Box<QueueReport> },
    /// A stored bank run, judged by the bank checker.
    Bank { file: String, report: checkers::bank::BankReport },
    /// The input could not be read or used: exit 254.
    Refused { file: String, message: String },
    /// faultline failed on it: exit 255.
    Crashed { file: String, message: String },
}

impl Outcome {
    /// A file that was not checked counts as unknown: nothing checked is not a pass.
    fn verdict(&self) -> Verdict {
        match self {
            Outcome::Checked { report, .. } => report.verdict,
            Outcome::Bank { report, .. } => report.verdict,
            Outcome::Txn { report, .. } => report.verdict,
            Outcome::Queue { report, .. } => report.verdict,
            _ => Verdict::Unknown,
        }
    }

    fn to_json(&self) -> serde_json::Value {
        match self {
            Outcome::Checked { file, format, failing_line, report, hint } => json!({
                "file": file,
                "format": format.as_str(),
                "verdict": report.verdict,
                "failing_line": failing_line,
                "hint": hint,
                "report": report,
            }),
            Outcome::Txn { file, format, report } => json!({
                "file": file,
                "format": format.as_str(),
                "verdict": report.verdict,
                "report": report,
            }),
            Outcome::Queue { file, format, report } => json!({
                "file": file,
                "format": format.as_str(),
                "verdict": report.verdict,
                "queue": report,
            }),
            Outcome::Bank { file, report } => json!({
                "file": file,
                "format": Format::Jsonl.as_str(),
                "verdict": report.verdict,
                "bank": report,
            }),
            Outcome::Refused { file, message } => {
                json!({"file": file, "verdict": Verdict::Unknown, "error": message})
            }
            Outcome::Crashed { file, message } => {
                json!({"file": file, "verdict": Verdict::Unknown, "internal_error": message})
            }
        }
    }
}

fn exit_code(outcomes: &[Outcome]) -> u8 {
    let any = |f: &dyn Fn(&Outcome) -> bool| outcomes.iter().any(f);
    if any(&|o| o.verdict() == Verdict::Invalid) {
        1
    } else if any(&|o| matches!(o, Outcome::Crashed { .. })) {
        EXIT_INTERNAL
    } else if any(&|o| matches!(o, Outcome::Refused { .. })) {
        EXIT_BAD_INPUT
    } else {
        Verdict::merge_all(outcomes.iter().map(Outcome::verdict)).exit_code()
    }
}

fn print_text(outcome: &Outcome) {
    match outcome {
        Outcome::Checked { file, failing_line, report, hint, .. } => {
            crate::out!("{file}: {}", report.render_text());
            if let Some(line) = failing_line {
                crate::outln!("  the op that cannot be linearized was invoked at {file}:{line}");
            }
            if let Some(hint) = hint {
                crate::outln!("  note: {hint}");
            }
        }
        Outcome::Txn { file, report, .. } => crate::out!("{file}: {}", report.render_text()),
        Outcome::Queue { file, report, .. } => {
            crate::outln!("{file}: {} ({QUEUE_MODEL})", report.verdict);
            crate::out!("{}", report.render_text());
        }
        Outcome::Bank { file, report } => {
            crate::outln!("{file}: {}", report.verdict);
            crate::outln!("  bank: {} reads, {} broke a rule", report.reads, report.bad_reads);
            for error in &report.errors {
                crate::outln!(
                    "  event {}: {:?}: {} (sum {:?})",
                    error.index,
                    error.kind,
                    error.value,
                    error.total
                );
            }
        }
        Outcome::Refused { message, .. } | Outcome::Crashed { message, .. } => {
            eprintln!("faultline: {message}");
        }
    }
}

/// Re-check a stored bank run: its history against the accounts and total its run.json names.
fn check_bank_run(dir: &Path, accounts: &[String], total: i64) -> Outcome {
    let path = dir.join("history.jsonl");
    let file = path.display().to_string();
    match load_path_detailed(&path, Format::Jsonl) {
        Ok(loaded) => Outcome::Bank { file, report: checkers::bank::check(&loaded.history, accounts, total) },
        Err(e) => Outcome::Refused { file, message: e.to_string() },
    }
}

/// Load, choose the model, check.
fn check_one(path: &Path, args: &Args, initial: Option<&serde_json::Value>) -> Outcome {
    let file = path.display().to_string();
    let refuse = |message: String| Outcome::Refused { file: file.clone(), message };
    // A stored list-append run is held to the consistency model it ran under, unless
    // --consistency says otherwise.
    let mut run_consistency = None;
    let (history_path, run_model) = if path.is_dir() {
        // A Jepsen test's store directory holds its history as history.edn, and no run.json.
        let jepsen = path.join("history.edn");
        if !path.join("history.jsonl").exists() && jepsen.is_file() {
            return match args.model {
                Some(_) => check_one(&jepsen, args, initial),
                None => refuse(format!(
                    "{}: a Jepsen store directory (history.edn, no run.json): name the model with --model",
                    path.display()
                )),
            };
        }
        let model = match args.model {
            Some(_) => None,
            None => match run_dir_model(path) {
                Ok(RunModel::Model(model)) => Some(model),
                Ok(RunModel::Txn { model, consistency }) => {
                    run_consistency = consistency;
                    Some(CheckModel::Txn(model))
                }
                Ok(RunModel::Bank { accounts, total }) => return check_bank_run(path, &accounts, total),
                Err(message) => return refuse(message),
            },
        };
        (path.join("history.jsonl"), model)
    } else {
        (path.to_path_buf(), None)
    };
    let from_stdin = path == Path::new("-");
    let shown = if from_stdin { STDIN_NAME.to_string() } else { history_path.display().to_string() };
    let stdin_bytes = if from_stdin {
        match read_stdin() {
            Ok(bytes) => Some(bytes),
            Err(e) => return refuse(e.to_string()),
        }
    } else {
        None
    };
    // Transactions (whose values are micro-op lists) are checked from the general history;
    // every other model from the compact op table.
    let load_history = || match &stdin_bytes {
        Some(bytes) => load_bytes(bytes, STDIN_NAME, args.format),
        None => load_path_detailed(&history_path, args.format),
    };
    let load_ops = || match (&stdin_bytes, args.independent) {
        (Some(bytes), false) => load_table(bytes, STDIN_NAME, args.format),
        (Some(bytes), true) => load_table_independent(bytes, STDIN_NAME, args.format),
        (None, false) => load_path_table(&history_path, args.format),
        (None, true) => load_path_table_independent(&history_path, args.format),
    };
    let named = match args.model.or(run_model) {
        Some(CheckModel::Txn(model)) => {
            return match load_history() {
                Ok(loaded) => check_txn_one(loaded, shown, model, run_consistency, args),
                Err(e) => refuse(e.to_string()),
            };
        }
        Some(CheckModel::Queue) => {
            let loaded = match load_ops() {
                Ok(loaded) => loaded,
                Err(e) => return refuse(e.to_string()),
            };
            return match guarded(&shown, || checkers::queue::check_queue_table(&loaded.table)) {
                Err(crashed) => crashed,
                Ok(Ok(report)) => {
                    Outcome::Queue { file: shown, format: loaded.format, report: Box::new(report) }
                }
                Ok(Err(e)) => {
                    let at = loaded.line_of(e.event).map(|l| format!(":{l}")).unwrap_or_default();
                    refuse(format!("{shown}{at}: {} (model {QUEUE_MODEL})", e.message))
                }
            };
        }
        Some(CheckModel::Linear(model)) => Some(model),
        None => None,
    };
    let loaded = match load_ops() {
        Ok(loaded) => loaded,
        Err(e) => return refuse(e.to_string()),
    };
    let Some(model) = named.or_else(|| default_model(&loaded)) else {
        return refuse(format!(
            "{shown}: no model for {} {} history: name one with --model ({})",
            if loaded.format == Format::Edn { "an" } else { "a" },
            loaded.format,
            model_names()
        ));
    };
    if args.consistency.is_some() {
        return refuse(format!(
            "{shown}: --consistency applies to list-append and rw-register, not to {model}"
        ));
    }
    let options = CheckOptions {
        initial: initial.cloned(),
        partition: !args.no_partition,
        time_limit: args.time_limit,
        memory_limit_bytes: args.memory_limit.map(|mb| mb.saturating_mul(1024 * 1024)),
        ..CheckOptions::new(model)
    };
    let hint = (!args.independent && loaded.table.looks_independent()).then_some(INDEPENDENT_HINT);
    let outcome = match guarded(&shown, || checkers::check_table(&loaded.table, &options)) {
        Err(crashed) => crashed,
        Ok(Ok(report)) => {
            let failing_line =
                report.counterexample.as_ref().and_then(|c| loaded.line_of(c.failing_op.invoke_index));
            Outcome::Checked {
                file: shown,
                format: loaded.format,
                failing_line,
                report: Box::new(report),
                hint,
            }
        }
        Ok(Err(e)) => {
            let at = e.event.and_then(|i| loaded.line_of(i)).map(|l| format!(":{l}")).unwrap_or_default();
            let hint = hint.map(|hint| format!("; {hint}")).unwrap_or_default();
            refuse(format!("{shown}{at}: {} (model {model}){hint}", e.message))
        }
    };
    // About a hundred bytes an op, its lines included.
    let size = loaded.table.len().saturating_mul(100);
    checkers::format::free_elsewhere(loaded, size);
    outcome
}

/// Said of a history that reads as one object whose every value is a pair.
const INDEPENDENT_HINT: &str = "no op names a key and every op's value is a pair: if jepsen.independent \
     wrote this history, its pairs are [key value] tuples; check it per key with --independent";

/// Judge a loaded history's transactions.
fn check_txn_one(
    loaded: Loaded,
    shown: String,
    model: TxnModel,
    run_consistency: Option<Consistency>,
    args: &Args,
) -> Outcome {
    let mut options = TxnOptions::new(model);
    options.consistency = args.consistency.or(run_consistency).unwrap_or(Consistency::StrictSerializable);
    options.time_limit = args.time_limit;
    match guarded(&shown, || checkers::txn::check_txn(&loaded.history, &options)) {
        Err(crashed) => crashed,
        Ok(Ok(report)) => Outcome::Txn { file: shown, format: loaded.format, report: Box::new(report) },
        Ok(Err(e)) => {
            let at = e.event.and_then(|i| loaded.line_of(i)).map(|l| format!(":{l}")).unwrap_or_default();
            Outcome::Refused {
                file: shown.clone(),
                message: format!("{shown}{at}: {} (model {model})", e.message),
            }
        }
    }
}

/// Run a checker; a panic inside it becomes an internal error naming the file.
fn guarded<T>(shown: &str, check: impl FnOnce() -> T) -> Result<T, Outcome> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(check)).map_err(|panic| {
        let what = panic
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| panic.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "unknown panic".into());
        Outcome::Crashed {
            file: shown.to_string(),
            message: format!("{shown}: internal error: the checker panicked: {what}"),
        }
    })
}

/// How standard input is named in output and errors.
const STDIN_NAME: &str = "<stdin>";

/// The bytes of standard input (FILE `-`), as in `faultline gen ... | faultline check -`, within the size limit.
fn read_stdin() -> Result<Vec<u8>, LoadError> {
    use std::io::Read;
    let mut bytes = Vec::new();
    let limit = checkers::format::MAX_INPUT_BYTES;
    std::io::stdin().lock().take(limit + 1).read_to_end(&mut bytes).map_err(|e| LoadError {
        path: STDIN_NAME.into(),
        line: None,
        message: format!("cannot read: {e}"),
    })?;
    if bytes.len() as u64 > limit {
        return Err(LoadError {
            path: STDIN_NAME.into(),
            line: None,
            message: format!("more than the {limit}-byte limit for a history"),
        });
    }
    Ok(bytes)
}

fn default_model(loaded: &LoadedTable) -> Option<ModelKind> {
    loaded.format.default_model().and_then(|name| name.parse().ok())
}

/// What a stored run's history is judged by.
enum RunModel {
    /// A linearizability model (register, set, ...).
    Model(CheckModel),
    /// A transactional model, with the consistency model the run was held to (older runs
    /// and other recorders may not say).
    Txn { model: TxnModel, consistency: Option<Consistency> },
    /// The bank checker: every read sums to the initial total, no balance below zero.
    Bank { accounts: Vec<String>, total: i64 },
}

/// The part of a bank run's run.json a re-check reads: `spec.workload.bank`, typed as the
/// workload wrote it.
#[derive(serde::Deserialize)]
struct StoredBankRun {
    spec: StoredSpec,
}

#[derive(serde::Deserialize)]
struct StoredSpec {
    workload: StoredWorkload,
}

#[derive(serde::Deserialize)]
struct StoredWorkload {
    bank: BankParams,
}

/// The model a stored run names in the top-level `"model"` field of its run.json; for a
/// bank run, the accounts and their initial balance from `spec.workload.bank`.
fn run_dir_model(dir: &Path) -> Result<RunModel, String> {
    let path = dir.join("run.json");
    let shown = path.display();
    let text = std::fs::read_to_string(&path).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => {
            format!("{shown}: no such file; a run directory needs one, or name the model with --model")
        }
        _ => format!("{shown}: cannot read: {e}"),
    })?;
    let value: serde_json::Value =
        serde_json::from_str(&text).map_err(|e| format!("{shown}:{}: invalid JSON: {e}", e.line()))?;
    let name = value
        .get("model")
        .and_then(|m| m.as_str())
        .ok_or_else(|| format!("{shown}: no string field \"model\"; name the model with --model"))?;
    if name == "bank" {
        let bad = |why: String| {
            format!(
                "{shown}: a bank run needs spec.workload.bank.accounts (strings) and .initial_balance (integer): {why}"
            )
        };
        let stored: StoredBankRun = serde_json::from_value(value.clone()).map_err(|e| bad(e.to_string()))?;
        let bank = stored.spec.workload.bank;
        if bank.accounts.is_empty() {
            return Err(bad("no accounts".into()));
        }
        let total = bank
            .initial_balance
            .checked_mul(bank.accounts.len() as i64)
            .ok_or_else(|| format!("{shown}: spec.workload.bank: the initial total overflows"))?;
        return Ok(RunModel::Bank { accounts: bank.accounts, total });
    }
    match name.parse::<CheckModel>() {
        Ok(CheckModel::Txn(model)) => {
            let stored = value.pointer("/spec/workload/list_append/consistency");
            let consistency = match stored {
                None | Some(serde_json::Value::Null) => None,
                Some(stored) => Some(serde_json::from_value::<Consistency>(stored.clone()).map_err(|e| {
                    format!(
                        "{shown}: spec.workload.list_append.consistency: {e}; name one with --consistency"
                    )
                })?),
            };
            Ok(RunModel::Txn { model, consistency })
        }
        Ok(model) => Ok(RunModel::Model(model)),
        Err(e) => Err(format!("{shown}: {e}; name the model with --model")),
    }
}

/// `--initial` as JSON, or a bare word as a JSON string.
fn parse_initial(text: &str) -> serde_json::Value {
    serde_json::from_str(text).unwrap_or_else(|_| serde_json::Value::String(text.to_string()))
}

fn parse_seconds(text: &str) -> Result<Duration, String> {
    let seconds: f64 = text.parse().map_err(|_| format!("{text:?} is not a number of seconds"))?;
    if !(seconds.is_finite() && seconds > 0.0 && seconds < 1e9) {
        return Err(format!("{text} must be a positive number of seconds"));
    }
    Ok(Duration::from_secs_f64(seconds))
}

fn model_names() -> String {
    let linear = ModelKind::ALL.iter().map(|m| m.as_str());
    let txn = TxnModel::ALL.iter().map(|m| m.as_str());
    linear.chain(txn).chain([QUEUE_MODEL]).collect::<Vec<_>>().join(", ")
}
