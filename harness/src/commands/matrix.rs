//! `faultline matrix`: every protocol under every fault, several seeds each, as one table.
//!
//! Each cell is a real `faultline test` run: this executable spawns itself, one run at a
//! time (the runs share the machine's ports and cores, and a run's timing is part of what
//! it measures). Each run tells where its directory is through the file named by
//! `FAULTLINE_RUN_DIR_FILE` (`run::run_dir_file`); its `results.json` is measured
//! (`results::report::matrix`) and judged against what the design expects of its protocol
//! under the fault ([`expectation`]). The table is printed as Markdown and
//! written with its JSON next to the runs, in the store: `matrix.md`, `matrix.json`.
//!
//! On a terminal a progress bar shows the cell running; anywhere else (a file, a pipe, a
//! CI log) one line per finished cell goes to stderr instead ([`cell_line`]), so a long
//! matrix is never silent.
//!
//! Beside faultline's own protocols, `--systems` adds real-system rows, each run under
//! every fault it can take (not `hold` or `clock`, see [`Subject::takes`]):
//! - `zookeeper`: ZooKeeper with plain reads (`zookeeper`: sequentially consistent, so a
//!   stale read under a fault is allowed) and with `sync` before each read
//!   (`zookeeper+sync`: must stay linearizable, but under pauses, which stop the timers
//!   its leader relies on to step down before it answers a sync alone);
//! - `etcd`: etcd with linearizable reads (`etcd`: must stay linearizable) and with
//!   serializable ones (`etcd+serializable`: a member's local state, stale reads allowed);
//! - `redis`: Redis with its queue (`RPUSH`/`LPOP`), which must keep every element under
//!   every fault but an operator's `failover`, the one fault only Redis takes and that
//!   the matrix runs only when named (`--nemeses failover`): its cut-off primary's
//!   enqueues are gone once it follows the promoted replica.
//!
//! With `--workload queue` every system's rows must keep the queue: etcd's and ZooKeeper's
//! dequeues take an element only by a delete their leader orders. The rows need the
//! network-namespace backend (root, `ip`, `nft`) and Debian's packages; without them they
//! are left out, and the matrix says so and why.
//!
//! Exit 0 when every row is as expected, 1 when any is not, 254 for bad flags. A run that
//! the harness could not complete is a row too (unexpected), so one broken cell never hides
//! the rest of the matrix.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};

use anyhow::Context;
use indicatif::{ProgressBar, ProgressStyle};
use nodes::protocols::ProtocolName;
use results::report::matrix::{self, Expect, Row, FAULTS};
use results::RunDir;

use crate::nemesis::FaultKind;
use crate::run::run_dir_file::{self, RUN_DIR_FILE_ENV};

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Protocols, comma-separated (default: every one); `none` for the --systems rows alone.
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "pb-async,pb-sync,2pc,paxos,raft,zab",
        value_parser = protocol_or_none
    )]
    pub protocols: Vec<Option<ProtocolName>>,
    /// Faults, comma-separated: none, partition, kill, pause, one-way, link, kill-leader,
    /// pause-leader, kill-minority, kill-majority, hold, clock (the default: all of these),
    /// lose-disk (by name only: outside the consensus protocols' safety model) and
    /// failover (by name only: an operator's failover, run on the redis rows alone).
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "none,partition,kill,pause,one-way,link,kill-leader,pause-leader,kill-minority,kill-majority,hold,clock"
    )]
    pub nemeses: Vec<String>,
    /// Seconds of workload per run.
    #[arg(long, default_value_t = 10.0)]
    pub time_limit: f64,
    /// Runs per protocol and fault (seeds 1..=N).
    #[arg(long, default_value_t = 1)]
    pub seeds: u64,
    /// Where the runs, matrix.md and matrix.json go.
    #[arg(long, default_value = "store")]
    pub store: PathBuf,
    /// The workload of every run: register, set, bank, list-append, counter, queue.
    #[arg(long, default_value = "register")]
    pub workload: String,
    /// Real systems to add, comma-separated (network namespaces): zookeeper (plain and
    /// synced reads; register or queue workload), etcd (linearizable and serializable
    /// reads; register or queue), redis (queue). Default: none.
    #[arg(long, value_delimiter = ',')]
    pub systems: Vec<MatrixSystem>,
    /// Keep the nodes' data directories of valid runs too (`faultline test --keep-data`).
    #[arg(long)]
    pub keep_data: bool,
}

/// A protocol's name, or `none` (no protocol rows).
fn protocol_or_none(word: &str) -> Result<Option<ProtocolName>, String> {
    match word {
        "none" => Ok(None),
        name => name.parse().map(Some),
    }
}

/// A real system the matrix can add.
#[derive(clap::ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum MatrixSystem {
    Zookeeper,
    Etcd,
    Redis,
}

impl MatrixSystem {
    /// Its name on the command line.
    fn name(self) -> String {
        use clap::ValueEnum;
        self.to_possible_value().map_or_else(|| format!("{self:?}"), |v| v.get_name().to_string())
    }

    /// The workloads its rows can be judged on: each has a client for them, and under no
    /// fault each must be safe on them (Redis's replicas serve reads that lag the primary
    /// with no fault at all, so its register and counter are left out).
    fn workloads(self) -> &'static [&'static str] {
        match self {
            MatrixSystem::Zookeeper | MatrixSystem::Etcd => &["register", "queue"],
            MatrixSystem::Redis => &["queue"],
        }
    }

    /// Its rows' subjects.
    fn subjects(self) -> Vec<Subject> {
        match self {
            MatrixSystem::Zookeeper => {
                [false, true].map(|sync_reads| Subject::ZooKeeper { sync_reads }).into()
            }
            MatrixSystem::Etcd => {
                [false, true].map(|serializable_reads| Subject::Etcd { serializable_reads }).into()
            }
            MatrixSystem::Redis => vec![Subject::Redis],
        }
    }
}

/// What one row of the matrix runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Subject {
    /// faultline's own nodes running a protocol.
    Protocol(ProtocolName),
    /// ZooKeeper, its reads plain (`sync_reads` false) or after a `sync`.
    ZooKeeper { sync_reads: bool },
    /// etcd, its reads linearizable (`serializable_reads` false) or serializable.
    Etcd { serializable_reads: bool },
    /// Redis: one primary, asynchronous replicas, failover by an operator.
    Redis,
}

impl Subject {
    /// The row's name in the table.
    pub fn label(self) -> &'static str {
        match self {
            Subject::Protocol(p) => p.as_str(),
            Subject::ZooKeeper { sync_reads: false } => "zookeeper",
            Subject::ZooKeeper { sync_reads: true } => "zookeeper+sync",
            Subject::Etcd { serializable_reads: false } => "etcd",
            Subject::Etcd { serializable_reads: true } => "etcd+serializable",
            Subject::Redis => "redis",
        }
    }

    /// Whether the matrix fault `fault` runs on this row: an operator's failover only on
    /// the system that has an operator; `hold` and `clock` only on faultline's own nodes.
    /// A real system's nodes sit in network namespaces, which cannot keep a link's packets
    /// and release them later; etcd, Redis and ZooKeeper keep their time where libfaketime
    /// cannot reach it. Such a run would record the fault as not taken and test nothing,
    /// so it is not made.
    fn takes(self, fault: &str) -> bool {
        match fault {
            "failover" => self == Subject::Redis,
            "hold" | "clock" => matches!(self, Subject::Protocol(_)),
            _ => true,
        }
    }

    /// Whether the design promises the workload's safety check under these faults.
    fn safe_by_design(self, workload: &str, kinds: &[FaultKind]) -> bool {
        match self {
            Subject::Protocol(p) => p.safe_by_design(),
            // Plain reads are served from the connected server's own state (sequential
            // consistency); with `sync` first they see every committed write, as long as
            // the leader that answers the sync still leads. ZooKeeper's leader answers a
            // sync alone, without a quorum round, relying on its timeouts to make it step
            // down before the followers elect another: a paused leader's timers stop with
            // it, and it wakes still leading for up to a tick, answering syncs on its
            // connections with its stale state (a stale synced read, seen after a pause of
            // the leader). The queue recipe's dequeue takes an element only by a delete
            // the leader orders, so a stale listing cannot hand one element out twice.
            Subject::ZooKeeper { sync_reads } => {
                let pauses = kinds.iter().any(|k| matches!(k, FaultKind::Pause | FaultKind::PauseLeader));
                (sync_reads && !pauses) || workload == "queue"
            }
            // etcd's linearizable reads go through its Raft log (ReadIndex); serializable
            // ones are a member's own state. The queue's dequeue is a delete guarded by a
            // compare that only the leader orders, whatever the reads.
            Subject::Etcd { serializable_reads } => !serializable_reads || workload == "queue",
            // Every write goes to the one primary, and without a failover no replica is
            // promoted: kill -9 keeps what the AOF wrote, a cut or paused primary stays
            // the primary. Its failover is judged apart ([`expectation`]).
            Subject::Redis => true,
        }
    }

    /// The `faultline test` flags that select it.
    fn test_flags(self) -> Vec<&'static str> {
        match self {
            Subject::Protocol(p) => vec!["--protocol", p.as_str()],
            Subject::ZooKeeper { sync_reads: false } => vec!["--system", "zookeeper"],
            Subject::ZooKeeper { sync_reads: true } => vec!["--system", "zookeeper", "--zk-sync-reads"],
            Subject::Etcd { serializable_reads: false } => vec!["--system", "etcd"],
            Subject::Etcd { serializable_reads: true } => {
                vec!["--system", "etcd", "--etcd-serializable-reads"]
            }
            Subject::Redis => vec!["--system", "redis"],
        }
    }
}

/// Why `system` cannot run on this machine, if it cannot.
fn missing(system: MatrixSystem) -> Option<String> {
    if let Err(e) = crate::netns::preflight() {
        return Some(format!("{e:#}"));
    }
    let (binary, package) = match system {
        MatrixSystem::Zookeeper => {
            let jar = crate::system::zookeeper::ZkOptions::default().jar_dir.join("zookeeper.jar");
            return (!jar.is_file()).then(|| {
                format!("{} is missing (Debian package {})", jar.display(), crate::system::zookeeper::PACKAGE)
            });
        }
        MatrixSystem::Etcd => ("etcd", "etcd-server"),
        MatrixSystem::Redis => ("redis-server", "redis-server"),
    };
    (!crate::netns::command::on_path(binary))
        .then(|| format!("{binary} is not on PATH (Debian package {package})"))
}

/// The rows' subjects: the protocols, then each system asked for that can run here. Says on
/// stderr which systems are left out, and why.
fn subjects(args: &Args) -> Vec<Subject> {
    let mut subjects: Vec<Subject> = args.protocols.iter().flatten().map(|&p| Subject::Protocol(p)).collect();
    for &system in &args.systems {
        match missing(system) {
            None => subjects.extend(system.subjects()),
            Some(why) => eprintln!("faultline: matrix: {} rows left out: {why}", system.name()),
        }
    }
    subjects
}

/// The cells to run, in order: each subject under each fault it takes, each seed.
fn cells<'a>(args: &'a Args, subjects: &'a [Subject]) -> impl Iterator<Item = (Subject, &'a str, u64)> + 'a {
    subjects.iter().flat_map(move |&subject| {
        args.nemeses
            .iter()
            .filter(move |fault| subject.takes(fault))
            .flat_map(move |fault| (1..=args.seeds).map(move |seed| (subject, fault.as_str(), seed)))
    })
}

/// The most runs one matrix may ask for.
const MAX_RUNS: u64 = 1000;

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    if let Err(e) = validate(&args) {
        eprintln!("faultline: error: {e}");
        return Ok(ExitCode::from(crate::EXIT_BAD_INPUT));
    }
    std::fs::create_dir_all(&args.store).with_context(|| format!("creating {}", args.store.display()))?;
    let me = std::env::current_exe().context("finding the faultline executable")?;
    let subjects = subjects(&args);
    for fault in &args.nemeses {
        let left_out: Vec<&str> = subjects.iter().filter(|s| !s.takes(fault)).map(|s| s.label()).collect();
        if !left_out.is_empty() {
            eprintln!(
                "faultline: matrix: {fault} is left out of the rows that cannot take it: {}",
                left_out.join(", ")
            );
        }
    }
    let total = cells(&args, &subjects).count() as u64;
    let bar = ProgressBar::new(total);
    bar.set_style(
        ProgressStyle::with_template("{elapsed_precise} [{bar:30}] {pos}/{len} runs {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let attended = std::io::stderr().is_terminal();
    let mut rows = Vec::new();
    for (subject, fault, seed) in cells(&args, &subjects) {
        bar.set_message(format!("{} under {fault}, seed {seed}", subject.label()));
        let row = one_run(&me, &args, subject, fault, seed);
        if !attended {
            eprintln!("faultline: {}", cell_line(rows.len() + 1, total, &row));
        }
        rows.push(row);
        bar.inc(1);
    }
    bar.finish_and_clear();
    let table = matrix::markdown(&rows);
    // Written before it is printed: the files are the record, stdout only a view of it.
    let md = args.store.join("matrix.md");
    results::write_atomically(&md, table.as_bytes())?;
    let json = args.store.join("matrix.json");
    let text = serde_json::to_string_pretty(&rows).context("encoding the matrix")?;
    results::write_atomically(&json, (text + "\n").as_bytes())?;
    crate::outln!("{table}");
    eprintln!("faultline: matrix written to {} and {}", md.display(), json.display());
    Ok(if rows.iter().all(|r| r.expected) { ExitCode::SUCCESS } else { ExitCode::from(1) })
}

fn validate(args: &Args) -> Result<(), String> {
    if !(args.time_limit.is_finite() && (0.5..=3600.0).contains(&args.time_limit)) {
        return Err(format!("--time-limit must be between 0.5 and 3600 seconds, got {}", args.time_limit));
    }
    if args.nemeses.is_empty() {
        return Err("--nemeses needs at least one name".into());
    }
    if args.protocols.iter().flatten().next().is_none() && args.systems.is_empty() {
        return Err("--protocols none leaves nothing to run without --systems".into());
    }
    if let Some(bad) = args.nemeses.iter().find(|f| matrix::nemesis_of(f).is_none()) {
        let known: Vec<&str> = FAULTS.iter().map(|(name, _)| *name).collect();
        return Err(format!("--nemeses: unknown fault {bad:?} (known: {})", known.join(", ")));
    }
    if !["register", "set", "bank", "list-append", "counter", "queue"].contains(&args.workload.as_str()) {
        return Err(format!(
            "--workload must be register, set, bank, list-append, counter or queue, got {:?}",
            args.workload
        ));
    }
    if let Some(system) = args.systems.iter().find(|s| !s.workloads().contains(&args.workload.as_str())) {
        return Err(format!(
            "--systems: the matrix runs {} with the {} workload{} only, not {}",
            system.name(),
            system.workloads().join(" and "),
            if system.workloads().len() > 1 { "s" } else { "" },
            args.workload
        ));
    }
    let systems: usize = args.systems.iter().map(|s| s.subjects().len()).sum();
    let subjects = (args.protocols.iter().flatten().count() + systems) as u64;
    let total = subjects * args.nemeses.len() as u64 * args.seeds;
    if args.seeds == 0 || total > MAX_RUNS {
        return Err(format!("--seeds must give between 1 and {MAX_RUNS} runs in all, got {total}"));
    }
    Ok(())
}

/// What the design promises of a subject under a matrix fault: with no fault every
/// subject must be safe; a fault outside the consensus protocols' safety model
/// (`lose-disk`) may break any of them; an operator's failover of an asynchronously
/// replicated primary may lose what it acknowledged; under any other fault, those safe by
/// design must stay so and the others may fail.
pub fn expectation(subject: Subject, fault: &str, workload: &str) -> Expect {
    let kinds = matrix::nemesis_of(fault).and_then(|n| FaultKind::parse_list(n).ok()).unwrap_or_default();
    if kinds.iter().any(|k| k.outside_consensus_model()) {
        Expect::OutsideModel
    } else if kinds.contains(&FaultKind::Failover) {
        Expect::MayFail
    } else if fault == "none" || subject.safe_by_design(workload, &kinds) {
        Expect::Safe
    } else {
        Expect::MayFail
    }
}

/// One finished cell for a log: `[2/12] raft under kill, seed 1: valid (safety valid), as
/// expected (safe): ...`. The run's verdict and the safety verdict the cell is judged by
/// differ when, say, no fault was asked for (a run with no fault is never called valid).
pub fn cell_line(done: usize, total: u64, row: &Row) -> String {
    let verdict = match (row.verdict, row.linearizable) {
        (None, _) => "no verdict".to_string(),
        (Some(v), Some(safety)) => format!("{v} (safety {safety})"),
        (Some(v), None) => v.to_string(),
    };
    let expect = match row.expect {
        Expect::Safe => "safe",
        Expect::MayFail => "may fail",
        Expect::OutsideModel => "may fail, outside the safety model",
    };
    let judged = if row.expected { "as expected" } else { "UNEXPECTED" };
    format!(
        "[{done}/{total}] {} under {}, seed {}: {verdict}, {judged} ({expect}): {}",
        row.protocol, row.fault, row.seed, row.note
    )
}

/// Run one `faultline test` and measure it.
fn one_run(me: &Path, args: &Args, subject: Subject, fault: &str, seed: u64) -> Row {
    let expect = expectation(subject, fault, &args.workload);
    let label = subject.label();
    let failed = |run: String, why: String| Row::measure(label, fault, seed, expect, run, Err(why));
    let nemesis = matrix::nemesis_of(fault).expect("validated");
    let name = format!("matrix-{}-{fault}", label.replace('+', "-"));
    // A few fault changes per run whatever its length.
    let interval = (args.time_limit / 4.0).max(0.5);
    // Where the run writes its directory; one at a time, so one name serves every run.
    let dir_file = args.store.join(format!(".matrix-run-dir.{}", std::process::id()));
    if let Err(e) = std::fs::remove_file(&dir_file) {
        if e.kind() != std::io::ErrorKind::NotFound {
            return failed(String::new(), format!("cannot clear {}: {e}", dir_file.display()));
        }
    }
    let output = Command::new(me)
        .arg("test")
        .args(subject.test_flags())
        .args(["--nemesis", nemesis, "--workload", &args.workload])
        .args(["--name", &name])
        .args(["--time-limit", &args.time_limit.to_string(), "--nemesis-interval", &interval.to_string()])
        .args(args.keep_data.then_some("--keep-data"))
        .args(["--seed", &seed.to_string(), "--store"])
        .arg(&args.store)
        .env(RUN_DIR_FILE_ENV, &dir_file)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .output();
    let output = match output {
        Ok(output) => output,
        Err(e) => return failed(String::new(), format!("cannot start: {e}")),
    };
    let written = run_dir_file::read(&dir_file);
    let _ = std::fs::remove_file(&dir_file);
    let stderr = String::from_utf8_lossy(&output.stderr);
    let last = stderr.lines().last().unwrap_or("").to_string();
    let code = output.status.code();
    let dir = match written {
        Ok(Some(dir)) => dir,
        Ok(None) => return failed(String::new(), format!("exit {code:?}: {last}")),
        Err(e) => return failed(String::new(), format!("{e:#}")),
    };
    let shown = dir.display().to_string();
    if !matches!(code, Some(0..=2)) {
        return failed(shown, format!("exit {code:?}: {last}"));
    }
    let results = RunDir::open(&dir).and_then(|run| run.read_results()).map_err(|e| format!("{e:#}"));
    Row::measure(label, fault, seed, expect, shown, results.as_ref().map_err(Clone::clone))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The matrix's faults inside the consensus model and taken by every row: all but
    /// lose-disk and failover.
    fn consensus_faults() -> impl Iterator<Item = &'static str> {
        FAULTS.iter().map(|(f, _)| *f).filter(|f| !["lose-disk", "failover"].contains(f))
    }

    #[test]
    fn primary_backup_may_fail_under_a_fault_and_everything_is_safe_without_one() {
        let protocol = Subject::Protocol;
        assert_eq!(expectation(protocol(ProtocolName::PbAsync), "kill", "register"), Expect::MayFail);
        assert_eq!(expectation(protocol(ProtocolName::PbSync), "partition", "register"), Expect::MayFail);
        assert_eq!(expectation(protocol(ProtocolName::PbAsync), "none", "register"), Expect::Safe);
        for p in [ProtocolName::TwoPc, ProtocolName::Paxos, ProtocolName::Raft, ProtocolName::Zab] {
            for fault in consensus_faults() {
                assert_eq!(expectation(protocol(p), fault, "register"), Expect::Safe, "{p} under {fault}");
            }
        }
    }

    #[test]
    fn a_finished_cell_is_one_line_with_its_verdict_and_judgement() {
        let failed = Row::measure("raft", "kill", 2, Expect::Safe, String::new(), Err("exit 255".into()));
        let line = cell_line(3, 12, &failed);
        assert!(line.starts_with("[3/12] raft under kill, seed 2: no verdict, UNEXPECTED (safe)"), "{line}");
        assert!(line.contains("exit 255") && !line.contains('\n'), "{line}");
    }

    /// Regression: a node that forgets its disk is outside every consensus protocol's
    /// model; the matrix expects that such a run may be invalid instead of calling it a bug.
    #[test]
    fn lose_disk_may_break_even_the_protocols_safe_by_design() {
        for protocol in [ProtocolName::TwoPc, ProtocolName::Paxos, ProtocolName::Raft, ProtocolName::Zab] {
            assert!(protocol.safe_by_design(), "{protocol}");
            assert_eq!(
                expectation(Subject::Protocol(protocol), "lose-disk", "register"),
                Expect::OutsideModel,
                "{protocol}"
            );
        }
        assert_eq!(
            expectation(Subject::Protocol(ProtocolName::PbAsync), "lose-disk", "register"),
            Expect::OutsideModel
        );
        let defaults = <Args as clap::Args>::augment_args(clap::Command::new("m"))
            .get_matches_from(["m"])
            .get_many::<String>("nemeses")
            .unwrap()
            .cloned()
            .collect::<Vec<_>>();
        let defaults: Vec<&str> = defaults.iter().flat_map(|d| d.split(',')).collect();
        assert_eq!(defaults, consensus_faults().collect::<Vec<_>>(), "lose-disk and failover by name only");
    }

    #[test]
    fn zookeeper_plain_reads_may_be_stale_under_a_fault_and_synced_reads_must_not() {
        let (plain, synced) =
            (Subject::ZooKeeper { sync_reads: false }, Subject::ZooKeeper { sync_reads: true });
        assert_eq!((plain.label(), synced.label()), ("zookeeper", "zookeeper+sync"));
        assert_eq!(expectation(plain, "none", "register"), Expect::Safe);
        for fault in consensus_faults().skip(1) {
            assert_eq!(expectation(plain, fault, "register"), Expect::MayFail, "zookeeper under {fault}");
            // A paused leader wakes still leading and answers syncs alone.
            let synced_expect = if fault.starts_with("pause") { Expect::MayFail } else { Expect::Safe };
            assert_eq!(expectation(synced, fault, "register"), synced_expect, "zookeeper+sync under {fault}");
            assert_eq!(expectation(plain, fault, "queue"), Expect::Safe, "zookeeper's queue under {fault}");
            assert_eq!(expectation(synced, fault, "queue"), Expect::Safe, "zookeeper's queue under {fault}");
        }
        assert_eq!(expectation(synced, "pause-leader", "register"), Expect::MayFail);
        assert_eq!(expectation(synced, "kill-leader", "register"), Expect::Safe);
        assert_eq!(synced.test_flags(), ["--system", "zookeeper", "--zk-sync-reads"]);
        assert_eq!(Subject::Protocol(ProtocolName::Zab).test_flags(), ["--protocol", "zab"]);
    }

    #[test]
    fn etcd_must_stay_linearizable_and_keep_its_queue_and_redis_may_lose_only_to_a_failover() {
        let (linear, serializable) =
            (Subject::Etcd { serializable_reads: false }, Subject::Etcd { serializable_reads: true });
        assert_eq!((linear.label(), serializable.label()), ("etcd", "etcd+serializable"));
        assert_eq!(serializable.test_flags(), ["--system", "etcd", "--etcd-serializable-reads"]);
        assert_eq!(expectation(serializable, "none", "register"), Expect::Safe);
        for fault in consensus_faults() {
            assert_eq!(expectation(linear, fault, "register"), Expect::Safe, "etcd under {fault}");
            assert_eq!(expectation(linear, fault, "queue"), Expect::Safe, "etcd's queue under {fault}");
            assert_eq!(expectation(serializable, fault, "queue"), Expect::Safe, "{fault}");
            assert_eq!(expectation(Subject::Redis, fault, "queue"), Expect::Safe, "redis under {fault}");
        }
        for fault in consensus_faults().skip(1) {
            assert_eq!(expectation(serializable, fault, "register"), Expect::MayFail, "{fault}");
        }
        assert_eq!(expectation(Subject::Redis, "failover", "queue"), Expect::MayFail);
        assert_eq!(expectation(Subject::Redis, "lose-disk", "queue"), Expect::OutsideModel);
        assert_eq!(Subject::Redis.test_flags(), ["--system", "redis"]);
    }

    #[test]
    fn a_failover_runs_on_the_redis_rows_alone_and_hold_and_clock_on_the_protocols() {
        let args = <Args as clap::Args>::augment_args(clap::Command::new("m"))
            .try_get_matches_from(["m", "--nemeses", "none,failover", "--seeds", "2", "--workload", "queue"])
            .and_then(|m| <Args as clap::FromArgMatches>::from_arg_matches(&m))
            .unwrap();
        let subjects = [Subject::Protocol(ProtocolName::Raft), Subject::Redis];
        for system in [
            Subject::Redis,
            Subject::Etcd { serializable_reads: false },
            Subject::ZooKeeper { sync_reads: true },
        ] {
            assert!(
                !system.takes("hold") && !system.takes("clock") && system.takes("kill"),
                "{}",
                system.label()
            );
        }
        assert!(
            Subject::ZooKeeper { sync_reads: false }.takes("lose-disk") && Subject::Redis.takes("lose-disk")
        );
        let raft = Subject::Protocol(ProtocolName::Raft);
        assert!(raft.takes("hold") && raft.takes("clock") && !raft.takes("failover"));
        let cells: Vec<(&str, &str, u64)> =
            cells(&args, &subjects).map(|(subject, fault, seed)| (subject.label(), fault, seed)).collect();
        assert_eq!(
            cells,
            [
                ("raft", "none", 1),
                ("raft", "none", 2),
                ("redis", "none", 1),
                ("redis", "none", 2),
                ("redis", "failover", 1),
                ("redis", "failover", 2)
            ]
        );
    }

    #[test]
    fn each_system_runs_only_the_workloads_its_rows_can_be_judged_on() {
        let parse = |argv: &[&str]| {
            let argv = ["m"].iter().chain(argv).copied().collect::<Vec<_>>();
            let matches =
                <Args as clap::Args>::augment_args(clap::Command::new("m")).try_get_matches_from(argv);
            matches.and_then(|m| <Args as clap::FromArgMatches>::from_arg_matches(&m)).unwrap()
        };
        assert!(validate(&parse(&["--systems", "etcd,zookeeper", "--workload", "queue"])).is_ok());
        assert!(validate(&parse(&["--systems", "etcd"])).is_ok());
        assert!(validate(&parse(&["--systems", "redis", "--workload", "queue"])).is_ok());
        let systems_alone = parse(&["--protocols", "none", "--systems", "redis", "--workload", "queue"]);
        assert!(validate(&systems_alone).is_ok() && systems_alone.protocols == [None]);
        let refused = validate(&parse(&["--protocols", "none"])).unwrap_err();
        assert_eq!(refused, "--protocols none leaves nothing to run without --systems");
        let refused = validate(&parse(&["--systems", "redis"])).unwrap_err();
        assert_eq!(refused, "--systems: the matrix runs redis with the queue workload only, not register");
        let refused = validate(&parse(&["--systems", "etcd", "--workload", "set"])).unwrap_err();
        assert!(refused.contains("etcd with the register and queue workloads only"), "{refused}");
    }
}
