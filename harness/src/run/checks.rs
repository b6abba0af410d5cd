//! Judging a run: every checker of the workload over the recorded evidence, merged
//! worst-first into `results.json`.
//!
//! Each checker is isolated: a panic inside one makes that check `unknown` (with the
//! panic's message) and the others still run. The stats checker carries the vacuity rules
//! (no fault took effect, almost nothing acknowledged), so such a run merges to `unknown`
//! at best, never `valid`.

use std::collections::BTreeMap;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::time::Duration;

use checkers::log_agreement::LogSample;
use checkers::split_brain::Sample;
use checkers::stats::FaultWindow;
use checkers::{CheckDetails, CheckName, CheckOptions, History, ModelKind, Verdict};
use results::{CheckResult, RunResults};
use workloads::Workload;

/// Everything a run recorded that the checkers judge.
pub struct Evidence {
    pub history: History,
    pub samples: Vec<Sample>,
    /// The built-in nodes' committed-log samples; `None` where the system exposes no
    /// committed log (etcd, Redis), so the log-agreement check does not apply.
    pub commit_log: Option<Vec<LogSample>>,
    pub windows: Vec<FaultWindow>,
    /// Protocol frames the proxy carried.
    pub messages: Option<u64>,
}

/// Run the workload's checkers and merge them.
pub fn check_run(
    workload: &Workload,
    evidence: &Evidence,
    time_limit: Duration,
    reproduce: String,
) -> RunResults {
    let mut checks = BTreeMap::new();
    let mut names = workload.checkers();
    if evidence.commit_log.is_some() {
        names.push(CheckName::LogAgreement);
    }
    for name in names {
        let result = catch_unwind(AssertUnwindSafe(|| one(name, workload, evidence, time_limit)))
            .unwrap_or_else(|p| {
                let message = p
                    .downcast_ref::<String>()
                    .cloned()
                    .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
                    .unwrap_or_else(|| "a panic".to_string());
                CheckResult {
                    verdict: Verdict::Unknown,
                    summary: format!("the checker failed: {message}"),
                    details: None,
                }
            });
        checks.insert(name, result);
    }
    merge(checks, reproduce)
}

/// Merge per-checker results worst-first, with the reasons of everything not valid.
pub fn merge(checks: BTreeMap<CheckName, CheckResult>, reproduce: String) -> RunResults {
    let valid = Verdict::merge_all(checks.values().map(|c| c.verdict));
    let reasons = checks
        .iter()
        .filter(|(_, c)| c.verdict != Verdict::Valid)
        .map(|(name, c)| format!("{name}: {}", c.summary))
        .collect();
    RunResults::new(valid, reasons, checks, reproduce)
}

fn one(name: CheckName, workload: &Workload, evidence: &Evidence, time_limit: Duration) -> CheckResult {
    match name {
        // The workload names its model once, as run.json records it.
        CheckName::Linearizable => match workload.model().parse::<ModelKind>() {
            Ok(model) => model_check(model, evidence, time_limit),
            Err(e) => CheckResult {
                verdict: Verdict::Unknown,
                summary: format!("the workload names no linearizability model: {e}"),
                details: None,
            },
        },
        CheckName::LostWrites => lost_writes(evidence, time_limit.min(SET_SEARCH_LIMIT)),
        CheckName::Bank => {
            let report =
                checkers::bank::check(&evidence.history, &workload.bank.accounts, workload.bank.total());
            let summary = match report.verdict {
                Verdict::Valid => {
                    format!("{} reads, every one sums to {}", report.reads, workload.bank.total())
                }
                Verdict::Unknown => "no read of the accounts completed".to_string(),
                Verdict::Invalid => format!(
                    "{} of {} reads break conservation (first: {:?} at event {})",
                    report.bad_reads, report.reads, report.errors[0].kind, report.errors[0].index
                ),
            };
            result(report.verdict, summary, CheckDetails::Bank(report))
        }
        CheckName::SplitBrain => {
            let report = checkers::split_brain::check(&evidence.samples);
            let summary = match report.verdict {
                Verdict::Valid => {
                    format!(
                        "{} status samples, {} leadership claims, none overlapping",
                        report.samples, report.claims
                    )
                }
                Verdict::Unknown => "no node answered a status poll".to_string(),
                Verdict::Invalid => {
                    let o = &report.examples[0];
                    format!(
                        "{} overlaps; nodes {} and {} both led term {}",
                        report.overlaps, o.first.node, o.second.node, o.term
                    )
                }
            };
            result(report.verdict, summary, CheckDetails::SplitBrain(report))
        }
        CheckName::LogAgreement => {
            let samples = evidence.commit_log.as_deref().unwrap_or_default();
            let report = checkers::log_agreement::check(samples);
            result(report.verdict, report.summary(), CheckDetails::LogAgreement(report))
        }
        CheckName::DeposedLeader => {
            let report = checkers::deposed_leader::check(&evidence.history, &evidence.samples);
            result(report.verdict, report.summary(), CheckDetails::DeposedLeader(report))
        }
        CheckName::Isolation => isolation(workload, evidence, time_limit),
        CheckName::Queue => match checkers::queue::check_queue(&evidence.history) {
            Ok(report) => result(report.verdict, report.summary(), CheckDetails::Queue(report)),
            Err(e) => CheckResult {
                verdict: Verdict::Unknown,
                summary: format!("the history does not fit a queue: {e}"),
                details: None,
            },
        },
        CheckName::Stats => {
            let report = checkers::stats::check(&evidence.history, &evidence.windows, evidence.messages);
            let c = report.counts;
            let summary = if report.reasons.is_empty() {
                format!("{} ok, {} fail, {} info", c.ok, c.fail, c.info)
            } else {
                report.reasons.join("; ")
            };
            result(report.verdict, summary, CheckDetails::Stats(report))
        }
    }
}

/// The set model's linearizability search is a bonus to the lost-write analysis, and on a
/// set of thousands of elements it rarely finishes; it gets this long at most.
const SET_SEARCH_LIMIT: Duration = Duration::from_secs(5);

/// The lost-write analysis of the set model decides; the set's linearizability search,
/// where it finished, is reported alongside.
fn lost_writes(evidence: &Evidence, time_limit: Duration) -> CheckResult {
    let mut options = CheckOptions::new(ModelKind::Set);
    options.time_limit = Some(time_limit);
    match checkers::check(&evidence.history, &options) {
        Ok(report) => match &report.lost_writes {
            Some(lost) => {
                let search = if report.stats.partitions_checked == report.stats.partitions {
                    format!("set linearizability search: {}", report.verdict)
                } else {
                    "set linearizability search did not finish".to_string()
                };
                let summary = format!(
                    "{} lost, {} stale, {} never read of {} acknowledged adds ({search})",
                    lost.lost.count, lost.stale.count, lost.never_read.count, lost.acknowledged
                );
                // A finished search that found a violation counts; one that ran out of
                // time does not make the lost-write verdict unknown.
                let verdict =
                    if report.verdict == Verdict::Invalid { Verdict::Invalid } else { lost.verdict };
                result(verdict, summary, CheckDetails::LostWrites(report))
            }
            None => CheckResult {
                verdict: Verdict::Unknown,
                summary: format!("no lost-write analysis: {}", report.reason),
                details: None,
            },
        },
        Err(e) => CheckResult {
            verdict: Verdict::Unknown,
            summary: format!("the history does not fit the set model: {e}"),
            details: None,
        },
    }
}

fn model_check(model: ModelKind, evidence: &Evidence, time_limit: Duration) -> CheckResult {
    let mut options = CheckOptions::new(model);
    options.time_limit = Some(time_limit);
    match checkers::check(&evidence.history, &options) {
        Ok(report) => {
            let summary = report.reason.clone();
            result(report.verdict, summary, CheckDetails::Linearizable(report))
        }
        Err(e) => CheckResult {
            verdict: Verdict::Unknown,
            summary: format!("the history does not fit the {model} model: {e}"),
            details: None,
        },
    }
}

/// A transactional run's history as list-append transactions, held to the workload's
/// consistency model (strict serializability by default: what a linearizable store owes
/// its transactions).
fn isolation(workload: &Workload, evidence: &Evidence, time_limit: Duration) -> CheckResult {
    let mut options = checkers::TxnOptions::new(checkers::TxnModel::ListAppend);
    options.consistency = workload.list_append.consistency;
    options.time_limit = Some(time_limit);
    match checkers::check_txn(&evidence.history, &options) {
        Ok(report) => result(report.verdict, report.summary(), CheckDetails::Isolation(report)),
        Err(e) => CheckResult {
            verdict: Verdict::Unknown,
            summary: format!("the history does not fit the list-append model: {e}"),
            details: None,
        },
    }
}

fn result(verdict: Verdict, summary: String, details: CheckDetails) -> CheckResult {
    CheckResult { verdict, summary, details: Some(details) }
}
