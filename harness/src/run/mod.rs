//! The run loop of `faultline test`: one run, phase by phase.
//!
//! 1. **start**: the fault proxy on every link, the nodes through the supervisor, each
//!    healthy within a deadline;
//! 2. **ready**: wait (bounded) until some node leads; a workload's setup (bank accounts);
//! 3. **workload with faults** for `--time-limit`: clients at `--rate` and `--concurrency`,
//!    the nemesis on its seeded schedule, `/status` polled for split brain;
//! 4. **heal** every fault, **quiesce** (every node healthy, a leader, a short settle);
//! 5. **final reads** from every node (the set, every account, every register, counter or
//!    list key ever touched), or the queue's **drain**;
//! 6. **stop** the cluster, **check** the history, **write** `results.json`.
//!
//! Ctrl-C or SIGTERM at any point: the phases are dropped (client, poller and nemesis tasks
//! aborted, the cluster killed by drop), every node group is killed, and the recorder
//! writes out what it has: the history on disk stays checkable, and the run is `unknown`.
//!
//! Tour: [`spec`] the parameters, [`cluster`] the processes, [`client`] and [`outcome`] the
//! operations, [`pacer`] the rate, [`recorder`] the history, [`faults`] the schedule,
//! [`status_poll`] the leadership samples, [`log_poll`] the committed logs, [`final_reads`],
//! [`checks`], [`progress`]; [`run_dir_file`] tells a parent process where the run is.

pub mod checks;
pub mod client;
pub mod cluster;
pub mod faults;
pub mod final_reads;
pub mod host_watch;
pub mod log_poll;
pub mod pacer;
pub mod progress;
pub mod recorder;
pub mod run_dir_file;
pub mod spec;
pub mod status_poll;

use std::collections::BTreeMap;
use std::process::ExitCode;
use std::sync::atomic::{AtomicU64, AtomicUsize};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{anyhow, Context};
use checkers::log_agreement::LogSample;
use checkers::stats::{FaultWindow, StatsReport};
use checkers::{CheckDetails, CheckName};
use checkers::{History, Verdict};
use results::{RoleSample, RunDir, RunInfo, RunResults};
use tokio::sync::watch;
use tokio::task::JoinSet;

use crate::nemesis::{Nemesis, NemesisConfig, Schedule};
use crate::net::NetStats;
use crate::supervisor::{install_panic_hook, kill_all_nodes, Termination, TerminationSignal};

use self::checks::Evidence;
use self::client::{run_client, ClientShared};
use self::cluster::Cluster;
use self::pacer::Pacer;
use self::progress::Progress;
use self::recorder::{Recorder, RecorderHandle};
use self::spec::RunSpec;
use crate::system::outcome::Answer;

/// How long the cluster has to elect a leader before the workload starts anyway.
const READY_DEADLINE: Duration = Duration::from_secs(10);
/// How long the workload's setup may take.
const SETUP_DEADLINE: Duration = Duration::from_secs(10);
/// After healing: how long nodes have to be healthy and lead again.
const RECOVERY_DEADLINE: Duration = Duration::from_secs(15);
/// After recovery, a pause for replication to catch up before the final reads.
const SETTLE: Duration = Duration::from_secs(1);
/// How long the final reads may take, all nodes together.
const FINAL_READ_DEADLINE: Duration = Duration::from_secs(15);

/// Run one test to its verdict; the process's exit code.
pub fn run(spec: RunSpec) -> anyhow::Result<ExitCode> {
    install_panic_hook();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .worker_threads(2)
        .build()
        .context("starting the async runtime")?;
    let result = runtime.block_on(run_async(spec));
    runtime.shutdown_timeout(Duration::from_secs(2));
    result
}

/// What the phases leave for the checkers besides the history.
struct PhaseReport {
    samples: Vec<RoleSample>,
    /// The built-in nodes' committed-log samples; `None` for a real system.
    commit_log: Option<Vec<LogSample>>,
    windows: Vec<FaultWindow>,
    /// Traffic counters, where the network counts messages (the proxy does).
    net: Option<NetStats>,
}

enum Ended {
    Finished(anyhow::Result<PhaseReport>),
    Interrupted(TerminationSignal),
}

async fn run_async(mut spec: RunSpec) -> anyhow::Result<ExitCode> {
    let termination = Termination::install()?;
    let schedule = match faults::schedule_for(&spec) {
        Ok(schedule) => schedule,
        Err(e) => {
            eprintln!("faultline: error: {e:#}");
            return Ok(ExitCode::from(crate::EXIT_BAD_INPUT));
        }
    };
    if spec.schedule.is_some() {
        spec.adopt_schedule(&schedule);
    }
    let run_dir = RunDir::create(&spec.store, &spec.test_name)?;
    let reproduce = spec.reproduce_command();
    let faults = match &spec.schedule {
        Some(path) => format!("schedule {}", path.display()),
        None => format!("nemesis {}", spec.nemesis_flag),
    };
    eprintln!(
        "faultline: {} on {} nodes, {} workload, {faults}, {} s, seed {}",
        spec.subject(),
        spec.nodes,
        spec.workload.name,
        spec.time_limit.as_secs_f64(),
        spec.seed
    );
    for notice in faults::outside_model_notices(&spec.nemesis, &schedule) {
        eprintln!("faultline: warning: {notice}");
    }
    eprintln!("faultline: run directory {}", run_dir.path().display());
    run_dir_file::announce(run_dir.path())?;
    if !spec.system.is_builtin() {
        eprintln!(
            "faultline: log-agreement: not applicable ({} exposes no committed log to compare)",
            spec.subject()
        );
    }
    run_dir.write_schedule(&schedule)?;
    run_dir.write_run_info(&run_info(&spec))?;

    let recorder = Recorder::start(run_dir.history_writer()?, Instant::now())?;
    let progress = Progress::new(spec.time_limit.as_secs().max(1));
    // One signal future for the whole run: the handlers stay installed once set, so a
    // signal during the check must be heard here too, not swallowed.
    let signal = termination.recv();
    tokio::pin!(signal);
    let ended = {
        let phases = phases(&spec, &run_dir, schedule, recorder.handle(), &progress);
        tokio::select! {
            report = phases => Ended::Finished(report),
            signal = &mut signal => Ended::Interrupted(signal),
        }
    };
    progress.finish();
    if matches!(ended, Ended::Interrupted(_)) {
        kill_all_nodes();
    }
    let events = tokio::task::spawn_blocking(move || recorder.finish())
        .await
        .map_err(|_| anyhow!("the recorder's thread was lost"))??;
    eprintln!("faultline: {} events in {}", events.len(), run_dir.history_path().display());

    let report = match ended {
        Ended::Interrupted(signal) => {
            let why =
                format!("interrupted by {} before the run ended; nothing was checked", signal_name(signal));
            eprintln!("faultline: {why}");
            finish_unchecked(&run_dir, why, reproduce)?;
            return Ok(ExitCode::from(Verdict::Unknown.exit_code()));
        }
        Ended::Finished(Err(e)) => {
            // The error itself is printed by the caller, with exit code 255.
            finish_unchecked(&run_dir, format!("the harness failed: {e:#}"), reproduce)?;
            return Err(e);
        }
        Ended::Finished(Ok(report)) => report,
    };
    if let Some(net) = &report.net {
        // The proxy counts protocol frames; the namespace backend counts IP packets.
        let mut value = serde_json::to_value(net)?;
        value["unit"] = if counts_frames(&spec) { "frames" } else { "packets" }.into();
        run_dir.write_net(&value)?;
    }

    run_dir.write_roles(&report.samples)?;

    if let Some(commit_log) = &report.commit_log {
        run_dir.write_commit_log(commit_log)?;
    }
    let results = match History::from_events(events) {
        Ok(history) => {
            eprintln!("faultline: checking");
            let evidence = Evidence {
                history,
                samples: results::roles::samples(&report.samples),
                commit_log: report.commit_log,
                windows: report.windows,
                // Messages per operation only where messages are counted (the proxy's
                // frames); packets are not messages.
                messages: report.net.as_ref().filter(|_| counts_frames(&spec)).map(|n| n.total.frames),
            };
            let workload = spec.workload.clone();
            let limit = spec.check_time_limit;
            let command = reproduce.clone();
            let checking =
                tokio::task::spawn_blocking(move || checks::check_run(&workload, &evidence, limit, command));
            tokio::select! {
                done = checking => done.map_err(|_| anyhow!("the checkers' thread was lost"))?,
                signal = &mut signal => {
                    let why = format!("interrupted by {} while checking; the run is recorded", signal_name(signal));
                    eprintln!("faultline: {why}");
                    finish_unchecked(&run_dir, why, reproduce)?;
                    return Ok(ExitCode::from(Verdict::Unknown.exit_code()));
                }
            }
        }
        Err(e) => {
            unchecked(format!("the recorded history is malformed (a harness bug): {e}"), reproduce.clone())
        }
    };
    run_dir.write_results(&results)?;
    results::report::write_report(&run_dir)?;
    if results.valid == Verdict::Valid && !spec.keep_data {
        drop_node_data(&run_dir);
    }
    print_results(&results, &run_dir);
    progress.verdict(results.valid, run_dir.path());
    Ok(ExitCode::from(results.valid.exit_code()))
}

/// Removes a valid run's node data directories once it is judged. They are the nodes' own
/// state, not the record (history, schedule, node logs and results stay), and etcd's
/// preallocated write-ahead logs alone make them over 300 MB a run: a matrix of etcd
/// filled a disk. A run that is not valid keeps them for whoever investigates it.
fn drop_node_data(run_dir: &RunDir) {
    let data = run_dir.path().join(results::run_dir::DATA_DIR);
    match std::fs::remove_dir_all(&data) {
        Ok(()) => eprintln!(
            "faultline: the nodes' data directories of this valid run removed (--keep-data keeps them)"
        ),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => eprintln!("faultline: warning: removing {}: {e}", data.display()),
    }
}

/// Whether the run's network counts protocol frames (the proxy, between built-in nodes on
/// this machine) rather than IP packets (nft counters: namespaces and SSH hosts).
fn counts_frames(spec: &RunSpec) -> bool {
    spec.system.is_builtin() && spec.ssh.is_none()
}

/// Steps 1 to 6 up to the check; the returned future may be dropped at any await (a
/// termination signal), which aborts every task it started and kills the cluster.
async fn phases(
    spec: &RunSpec,
    run_dir: &RunDir,
    schedule: Schedule,
    recorder: RecorderHandle,
    progress: &Progress,
) -> anyhow::Result<PhaseReport> {
    progress.phase("starting the cluster");
    let http = ClientShared::http_client(spec.concurrency)?;
    let cluster = if let Some(ssh) = &spec.ssh {
        let cluster = Cluster::start_ssh(spec, run_dir, http.clone(), ssh).await?;
        if !spec.system.is_builtin() {
            let mut info = run_info(spec);
            info.versions.insert(cluster.system.name().to_string(), cluster.system.version());
            run_dir.write_run_info(&info)?;
        }
        cluster
    } else if spec.system.is_builtin() {
        Cluster::start(spec, run_dir, http.clone()).await?
    } else {
        let cluster = Cluster::start_real(spec, run_dir).await?;
        let mut info = run_info(spec);
        info.versions.insert(cluster.system.name().to_string(), cluster.system.version());
        run_dir.write_run_info(&info)?;
        cluster
    };
    let nodes = cluster.supervisor.node_ids().len();
    if cluster.wait_for_leader(READY_DEADLINE).await {
        progress.plain(&format!("cluster up: {nodes} nodes healthy, a leader known"));
    } else {
        progress.phase("no node leads yet; starting the workload anyway");
    }
    if let Some(setup) = spec.workload.setup() {
        setup_until_ok(&http, &cluster, &setup, spec.op_timeout).await?;
    }
    let shared = Arc::new(ClientShared {
        system: cluster.system.clone(),
        nodes: cluster.supervisor.node_ids(),
        recorder: recorder.clone(),
        generator: Mutex::new(spec.workload.generator(spec.seed)),
        pacer: Pacer::new(spec.rate),
        next_process: AtomicU64::new(spec.concurrency as u64),
        op_timeout: spec.op_timeout,
    });
    let (stop, stopped) = watch::channel(false);
    let (stop_polling, polling_stopped) = watch::channel(false);
    let mut poller = JoinSet::new();
    poller.spawn(status_poll::poll(
        cluster.supervisor.probe().clone(),
        cluster.supervisor.node_ids(),
        recorder.clone(),
        polling_stopped.clone(),
    ));
    let mut host_watcher = JoinSet::new();
    if let Some(remotes) = &cluster.remotes {
        host_watcher.spawn(host_watch::watch(remotes.clone(), recorder.clone(), polling_stopped.clone()));
    }
    let mut log_poller = JoinSet::new();
    if spec.system.is_builtin() {
        log_poller.spawn(log_poll::poll(
            http.clone(),
            cluster.supervisor.clone(),
            cluster.clients.iter().map(|(&id, &addr)| (id, addr)).collect(),
            recorder.clone(),
            polling_stopped,
        ));
    }

    progress.phase("running the workload with faults");
    let active = Arc::new(AtomicUsize::new(0));
    let ticker = AbortOnDrop(progress.follow(recorder.counters().clone(), active.clone()));
    let mut clients = JoinSet::new();
    for worker in 0..spec.concurrency {
        clients.spawn(run_client(shared.clone(), worker, stopped.clone()));
    }
    let nemesis = Nemesis::new(cluster.supervisor.clone(), cluster.network.clone(), NemesisConfig::default())
        .with_operator(cluster.system.clone())
        .with_clocks(cluster.system.clone());
    let mut nemesis_task = JoinSet::new();
    nemesis_task.spawn(faults::drive(
        nemesis,
        schedule,
        Instant::now(),
        recorder.clone(),
        active,
        progress.clone(),
        stopped.clone(),
    ));

    let deadline = tokio::time::sleep(spec.time_limit);
    tokio::pin!(deadline);
    loop {
        tokio::select! {
            _ = &mut deadline => break,
            Some(done) = clients.join_next() => done.context("a client task failed")??,
        }
    }
    let _ = stop.send(true);
    progress.phase("healing");
    while let Some(done) = clients.join_next().await {
        done.context("a client task failed")??;
    }
    let fault_log = nemesis_task.join_next().await.ok_or_else(|| anyhow!("the nemesis task vanished"))?;
    let fault_log = fault_log.context("the nemesis task failed")??;
    drop(ticker);

    progress.phase("quiescing");
    if let Err(e) = cluster.wait_healthy(RECOVERY_DEADLINE).await {
        progress.phase(&format!("not every node recovered: {e:#}"));
    }
    cluster.wait_for_leader(RECOVERY_DEADLINE).await;
    tokio::time::sleep(SETTLE).await;
    let reads = shared.generator.lock().unwrap_or_else(|p| p.into_inner()).final_reads();
    if !reads.is_empty() {
        progress.phase(&format!("final reads from every node ({} each)", reads.len()));
        let answered = final_reads::read_every_node(&shared, &reads, FINAL_READ_DEADLINE).await?;
        let silent: Vec<_> = answered
            .iter()
            .filter(|(_, a)| **a == final_reads::FinalAnswer::Unanswered)
            .map(|(id, _)| *id)
            .collect();
        if !silent.is_empty() {
            progress.phase(&format!("nodes {silent:?} left final reads unanswered"));
        }
        if !answered.values().any(|a| *a == final_reads::FinalAnswer::All) {
            progress.phase("no node answered every final read");
        }
    }
    if let Some(dequeue) = spec.workload.final_dequeue() {
        progress.phase("draining the queue");
        if !final_reads::dequeue_until_empty(&shared, &dequeue, FINAL_READ_DEADLINE).await? {
            progress.phase("the queue never answered empty");
        }
    }
    let _ = stop_polling.send(true);
    while host_watcher.join_next().await.is_some() {}
    let samples =
        poller.join_next().await.transpose().context("the status poller failed")?.unwrap_or_default();
    let commit_log = match log_poller.join_next().await {
        Some(pollers) => {
            let pollers = pollers.context("the log poller failed")?;
            Some(log_poll::final_poll(pollers, &http, &cluster.supervisor, &recorder).await)
        }
        None => None,
    };
    let net = cluster.network.stats();
    progress.phase("stopping the cluster");
    cluster.stop();
    Ok(PhaseReport { samples, commit_log, windows: fault_log.windows, net })
}

/// Send the workload's setup to each node in turn until one acknowledges it.
async fn setup_until_ok(
    http: &reqwest::Client,
    cluster: &Cluster,
    setup: &nodes::api::Request,
    timeout: Duration,
) -> anyhow::Result<()> {
    let until = Instant::now() + SETUP_DEADLINE;
    let mut last = String::new();
    while Instant::now() < until {
        for &addr in cluster.clients.values() {
            match crate::system::builtin::send(http, addr, setup, timeout).await {
                Answer::Success(_) => return Ok(()),
                other => last = format!("{other:?}"),
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Err(anyhow!("the workload's setup was not acknowledged within {SETUP_DEADLINE:?} (last answer: {last})"))
}

/// Aborts a task when dropped.
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

fn signal_name(signal: TerminationSignal) -> &'static str {
    match signal {
        TerminationSignal::Interrupt => "SIGINT",
        TerminationSignal::Terminate => "SIGTERM",
    }
}

fn run_info(spec: &RunSpec) -> RunInfo {
    RunInfo {
        model: spec.workload.model().to_string(),
        test: spec.test_name.clone(),
        seed: spec.seed,
        command: std::env::args().collect(),
        // A real system's own version is added once its adapter has asked the binary.
        versions: BTreeMap::from([
            ("faultline".to_string(), env!("CARGO_PKG_VERSION").to_string()),
            ("system".to_string(), spec.subject()),
        ]),
        spec: spec.to_json(),
        started: results::timestamp::now_rfc3339(),
    }
}

fn unchecked(why: String, reproduce: String) -> RunResults {
    RunResults::new(Verdict::Unknown, vec![why], BTreeMap::new(), reproduce)
}

/// Write `results.json` for a run that ended before it could be checked, and say where
/// its history is.
fn finish_unchecked(run_dir: &RunDir, why: String, reproduce: String) -> anyhow::Result<()> {
    eprintln!("faultline: check what was recorded with: faultline check {}", run_dir.path().display());
    run_dir.write_results(&unchecked(why, reproduce))
}

fn print_results(results: &RunResults, run_dir: &RunDir) {
    crate::outln!();
    for (name, check) in &results.checks {
        crate::outln!("{name:<14} {:<8} {}", check.verdict.as_str(), check.summary);
    }
    // The overlapping claims and the offending writes, not only the first.
    if let Some(CheckDetails::DeposedLeader(deposed)) = results
        .checks
        .get(&CheckName::DeposedLeader)
        .filter(|c| c.verdict == Verdict::Invalid)
        .and_then(|c| c.details.as_ref())
    {
        for line in deposed.render_text(5).lines().skip(1) {
            crate::outln!("               {}", line.trim_start());
        }
    }
    // The isolation anomalies by type, allowed ones included (the summary names the
    // forbidden ones only).
    if let Some(CheckDetails::Isolation(report)) =
        results.checks.get(&CheckName::Isolation).and_then(|c| c.details.as_ref())
    {
        for (kind, count) in &report.anomaly_counts {
            let allowed = if kind.is_forbidden_under(report.consistency) { "" } else { " (allowed)" };
            crate::outln!("               {kind:<18} {count}{allowed}");
        }
    }
    if let Some(stats) = results.stats() {
        print_stats(stats);
    }
    crate::outln!();
    crate::outln!("verdict: {}  ({})", results.valid, run_dir.path().display());
    for reason in &results.reasons {
        crate::outln!("  {reason}");
    }
    if results.valid != Verdict::Valid {
        crate::outln!("reproduce: {}", results.reproduce);
    }
}

fn print_stats(stats: &StatsReport) {
    let c = stats.counts;
    let mut line = format!("               {} ok / {} fail / {} info", c.ok, c.fail, c.info);
    if let Some(t) = stats.throughput_ok_per_s {
        line.push_str(&format!(", {t:.1} ok/s"));
    }
    if let Some(l) = stats.latency {
        line.push_str(&format!(", latency p50 {:.1} ms p99 {:.1} ms", l.p50_ms, l.p99_ms));
    }
    if let Some(m) = stats.messages_per_ok_op {
        line.push_str(&format!(", {m:.1} msgs/op"));
    }
    crate::outln!("{line}");
    for w in &stats.faults {
        let availability = w.availability.map_or("-".to_string(), |a| format!("{:.0}%", a * 100.0));
        let end = w.end_s.map_or("end".to_string(), |e| format!("{e:.1}s"));
        crate::outln!(
            "               {:<24} {:>6.1}s-{:<7} availability {availability}{}",
            w.fault,
            w.start_s,
            end,
            if w.took_effect { "" } else { " (no effect)" }
        );
    }
}
