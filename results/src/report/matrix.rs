//! The protocol x fault matrix: one row per run, measured from its `results.json`, and
//! judged against what the design expects of the protocol under that fault. The
//! expectation itself is the caller's: it belongs to the protocols, not to the store.
//!
//! Expectations are about safety (linearizability, lost acknowledged writes) and split
//! brain, and come in two strengths. [`Expect::Safe`]: the protocol *must* stay safe; an
//! `invalid` is unexpected, and so is `unknown` (a run that could not be judged proves
//! nothing, so it cannot count as the guarantee holding). [`Expect::MayFail`]: the protocol
//! is unsafe by design under this fault (`pb-async` loses writes when its primary dies), so
//! either outcome is expected; whether the failure was *found* is reported, not required,
//! because a short run may simply not hit it. [`Expect::OutsideModel`]: the fault breaks an
//! assumption the protocol's safety rests on (`lose-disk`: a node forgets what it wrote
//! to disk), so a violation is expected and no bug; judged as `MayFail`, named apart so a
//! reader of the table does not take it for a protocol that is unsafe by design.
//! Availability and speed are measured, never judged: they depend on the machine.

use std::fmt::Write;

use checkers::{CheckDetails, CheckName, Verdict};
use serde::{Deserialize, Serialize};

use crate::run_info::RunResults;

/// The faults of the matrix and the `--nemesis` each maps to.
/// `lose-disk` is asked for by name only (`--nemeses lose-disk`): it is outside the safety
/// model of the consensus protocols. So is `failover`, an operator's failover, which only a
/// system with an operator (Redis) takes.
pub const FAULTS: [(&str, &str); 14] = [
    ("none", "none"),
    ("partition", "partition-halves,partition-leader"),
    ("kill", "kill"),
    ("pause", "pause"),
    ("one-way", "partition-one-way"),
    ("link", "loss,latency"),
    ("kill-leader", "kill-leader"),
    ("pause-leader", "pause-leader"),
    ("kill-minority", "kill-minority"),
    ("kill-majority", "kill-majority"),
    ("hold", "hold"),
    ("clock", "clock"),
    ("lose-disk", "lose-disk"),
    ("failover", "failover"),
];

/// The `--nemesis` of a matrix fault name.
pub fn nemesis_of(fault: &str) -> Option<&'static str> {
    FAULTS.iter().find(|(name, _)| *name == fault).map(|(_, nemesis)| *nemesis)
}

/// What the design promises of a protocol under a fault.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Expect {
    /// Must stay linearizable, lose nothing, never show two leaders of one term.
    Safe,
    /// Unsafe by design here: a violation is expected but not required.
    MayFail,
    /// The fault is outside the protocol's safety model (a node that forgets its disk): a
    /// violation is expected but not required, and is no bug of the protocol.
    OutsideModel,
}

/// One run of the matrix, measured.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Row {
    pub protocol: String,
    pub fault: String,
    pub seed: u64,
    /// The run directory, or why there is none.
    pub run: String,
    /// The run's overall verdict; `None` when the harness failed.
    pub verdict: Option<Verdict>,
    /// Safety: the linearizability, lost-write, bank, isolation or queue checks, merged
    /// (the field keeps its first name so older matrix.json files load).
    pub linearizable: Option<Verdict>,
    /// Acknowledged writes the final reads did not show (set workload), or acknowledged
    /// elements the queue lost (queue workload).
    pub lost_writes: Option<u64>,
    /// The split-brain check found two leaders of one term.
    pub split_brain: Option<Verdict>,
    /// The deposed-leader check found writes acknowledged by a replaced leader.
    #[serde(default)]
    pub deposed_leader: Option<Verdict>,
    /// The log-agreement check found two nodes' committed logs differing at one index, or a
    /// committed prefix shrinking (white-box; `None` where the system exposes no log).
    #[serde(default)]
    pub log_agreement: Option<Verdict>,
    /// Share of ops acknowledged while a fault was in force (effective windows only).
    pub availability_during_fault: Option<f64>,
    pub p50_ms: Option<f64>,
    pub p99_ms: Option<f64>,
    pub throughput_ok_per_s: Option<f64>,
    pub messages_per_op: Option<f64>,
    pub expect: Expect,
    /// Whether the row matches its expectation.
    pub expected: bool,
    /// Why not, or what was found where a failure was allowed.
    pub note: String,
}

impl Row {
    /// Measure a run from its results and judge it against `expect`; `Err` results: the
    /// harness failed (`why`).
    pub fn measure(
        protocol: &str,
        fault: &str,
        seed: u64,
        expect: Expect,
        run: String,
        results: Result<&RunResults, String>,
    ) -> Row {
        let mut row = Row {
            protocol: protocol.into(),
            fault: fault.into(),
            seed,
            run,
            verdict: None,
            linearizable: None,
            lost_writes: None,
            split_brain: None,
            deposed_leader: None,
            log_agreement: None,
            availability_during_fault: None,
            p50_ms: None,
            p99_ms: None,
            throughput_ok_per_s: None,
            messages_per_op: None,
            expect,
            expected: false,
            note: String::new(),
        };
        let results = match results {
            Ok(results) => results,
            Err(why) => {
                row.note = format!("no result: {why}");
                return row;
            }
        };
        row.verdict = Some(results.valid);
        let safety: Vec<Verdict> =
            CheckName::SAFETY.into_iter().filter_map(|name| results.check(name)).map(|c| c.verdict).collect();
        row.linearizable = (!safety.is_empty()).then(|| Verdict::merge_all(safety.iter().copied()));
        row.lost_writes = results
            .details(CheckName::LostWrites)
            .and_then(CheckDetails::lost_writes)
            .map(|lost| lost.lost.count)
            .or_else(|| {
                results.details(CheckName::Queue).and_then(CheckDetails::queue).map(|queue| queue.lost)
            });
        row.split_brain = results.check(CheckName::SplitBrain).map(|c| c.verdict);
        row.deposed_leader = results.check(CheckName::DeposedLeader).map(|c| c.verdict);
        row.log_agreement = results.check(CheckName::LogAgreement).map(|c| c.verdict);
        if let Some(stats) = results.stats() {
            row.p50_ms = stats.latency.map(|l| l.p50_ms);
            row.p99_ms = stats.latency.map(|l| l.p99_ms);
            row.throughput_ok_per_s = stats.throughput_ok_per_s;
            row.messages_per_op = stats.messages_per_ok_op;
            let windows: Vec<f64> =
                stats.faults.iter().filter(|w| w.took_effect).filter_map(|w| w.availability).collect();
            if !windows.is_empty() {
                row.availability_during_fault = Some(windows.iter().sum::<f64>() / windows.len() as f64);
            }
        }
        let violations: Vec<&str> = [
            (
                row.linearizable == Some(Verdict::Invalid),
                "not safe (linearizability, lost writes, bank, isolation or queue)",
            ),
            (row.lost_writes.is_some_and(|n| n > 0), "lost acknowledged writes"),
            (row.split_brain == Some(Verdict::Invalid), "split brain"),
            (row.deposed_leader == Some(Verdict::Invalid), "writes acknowledged by a deposed leader"),
            (row.log_agreement == Some(Verdict::Invalid), "committed logs diverge"),
        ]
        .iter()
        .filter(|(found, _)| *found)
        .map(|(_, what)| *what)
        .collect();
        let judged = row.linearizable.is_some_and(|v| v != Verdict::Unknown);
        (row.expected, row.note) = match expect {
            Expect::Safe if !violations.is_empty() => {
                (false, format!("must be safe, found: {}", violations.join(", ")))
            }
            Expect::Safe if !judged => {
                (false, "must be safe, but safety could not be judged (unknown)".into())
            }
            Expect::Safe => (true, "safe, as it must be".into()),
            Expect::MayFail if violations.is_empty() => (true, "may fail; none found in this run".into()),
            Expect::MayFail => (true, format!("may fail; found: {}", violations.join(", "))),
            Expect::OutsideModel if violations.is_empty() => {
                (true, "outside the safety model, may fail; none found in this run".into())
            }
            Expect::OutsideModel => {
                (true, format!("outside the safety model, may fail; found: {}", violations.join(", ")))
            }
        };
        row
    }
}

/// The whole matrix as Markdown: one table, each row marked against its expectation.
pub fn markdown(rows: &[Row]) -> String {
    let mut out = String::from(
        "| protocol | fault | seed | safety | lost writes | split brain | deposed leader | log agreement | availability in fault | p50 ms | p99 ms | ok/s | msgs/op | expected | |\n\
         |---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|\n",
    );
    let verdict = |v: Option<Verdict>| v.map(|v| v.as_str().to_string()).unwrap_or("-".into());
    let number = |v: Option<f64>, digits: usize| v.map(|v| format!("{v:.digits$}")).unwrap_or("-".into());
    for r in rows {
        let seen = |v: Option<Verdict>| match v {
            Some(Verdict::Invalid) => "seen".to_string(),
            Some(Verdict::Valid) => "no".to_string(),
            other => verdict(other),
        };
        let split = seen(r.split_brain);
        let deposed = seen(r.deposed_leader);
        let diverged = match r.log_agreement {
            Some(Verdict::Invalid) => "diverged".to_string(),
            Some(Verdict::Valid) => "agree".to_string(),
            other => verdict(other),
        };
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} {} |",
            r.protocol,
            r.fault,
            r.seed,
            verdict(r.linearizable),
            r.lost_writes.map(|n| n.to_string()).unwrap_or("-".into()),
            split,
            deposed,
            diverged,
            r.availability_during_fault.map(|a| format!("{:.0}%", a * 100.0)).unwrap_or("-".into()),
            number(r.p50_ms, 1),
            number(r.p99_ms, 1),
            number(r.throughput_ok_per_s, 1),
            number(r.messages_per_op, 1),
            match r.expect {
                Expect::Safe => "safe",
                Expect::MayFail => "may fail",
                Expect::OutsideModel => "may fail (outside model)",
            },
            if r.expected { "✓" } else { "✗ UNEXPECTED" },
            r.note.replace('|', "/"),
        );
    }
    let unexpected = rows.iter().filter(|r| !r.expected).count();
    let _ = writeln!(out, "\n{} runs, {unexpected} unexpected.", rows.len());
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::run_info::CheckResult;
    use checkers::stats::{Counts, Latency, StatsReport, WindowStats};
    use std::collections::BTreeMap;

    fn window(took_effect: bool, availability: f64) -> WindowStats {
        WindowStats {
            fault: "kill".into(),
            start_s: 1.0,
            end_s: Some(2.0),
            took_effect,
            counts: Counts::default(),
            availability: Some(availability),
        }
    }

    fn results(linearizable: Verdict, split: Verdict) -> RunResults {
        let check = |verdict| CheckResult { verdict, summary: String::new(), details: None };
        let stats = StatsReport {
            verdict: Verdict::Valid,
            reasons: vec![],
            counts: Counts::default(),
            by_function: BTreeMap::new(),
            latency: Some(Latency { p50_ms: 1.5, p90_ms: 5.0, p99_ms: 9.0, max_ms: 12.0 }),
            throughput_ok_per_s: Some(80.0),
            duration_s: Some(10.0),
            availability: Some(0.9),
            availability_without_faults: Some(1.0),
            faults: vec![window(true, 0.5), window(false, 0.0)],
            messages: Some(400),
            messages_per_ok_op: Some(4.0),
        };
        RunResults::new(
            Verdict::merge_all([linearizable, split]),
            vec![],
            BTreeMap::from([
                (CheckName::Linearizable, check(linearizable)),
                (CheckName::SplitBrain, check(split)),
                (
                    CheckName::Stats,
                    CheckResult {
                        verdict: Verdict::Valid,
                        summary: String::new(),
                        details: Some(CheckDetails::Stats(stats)),
                    },
                ),
            ]),
            String::new(),
        )
    }

    #[test]
    fn a_must_be_safe_row_that_fails_is_unexpected_and_a_may_fail_one_is_not() {
        let measure = |expect, results: &RunResults| {
            Row::measure("raft", "partition", 1, expect, "r".into(), Ok(results))
        };
        let bad = results(Verdict::Invalid, Verdict::Valid);
        let safe = measure(Expect::Safe, &bad);
        assert!(!safe.expected, "{}", safe.note);
        let may = measure(Expect::MayFail, &bad);
        assert!(may.expected && may.note.contains("found: not safe"), "{}", may.note);
        let good = results(Verdict::Valid, Verdict::Valid);
        assert!(measure(Expect::MayFail, &good).expected, "may, not must");
        assert!(measure(Expect::Safe, &good).expected);
        let unknown = results(Verdict::Unknown, Verdict::Valid);
        assert!(!measure(Expect::Safe, &unknown).expected, "unknown is no pass");
        let failed = Row::measure("raft", "kill", 1, Expect::Safe, "r".into(), Err("exit 255".into()));
        assert!(!failed.expected && failed.note.contains("exit 255"));
        let split = results(Verdict::Valid, Verdict::Invalid);
        assert!(!measure(Expect::Safe, &split).expected);
    }

    #[test]
    fn a_fault_outside_the_model_may_be_invalid_and_the_table_says_why() {
        let bad = results(Verdict::Invalid, Verdict::Valid);
        let row = Row::measure("raft", "lose-disk", 1, Expect::OutsideModel, "r".into(), Ok(&bad));
        assert!(row.expected, "{}", row.note);
        assert!(row.note.contains("outside the safety model") && row.note.contains("not safe"));
        let good = results(Verdict::Valid, Verdict::Valid);
        let clean = Row::measure("raft", "lose-disk", 1, Expect::OutsideModel, "r".into(), Ok(&good));
        assert!(clean.expected, "{}", clean.note);
        let table = markdown(&[row]);
        assert!(table.contains("| may fail (outside model) | ✓"), "{table}");
        assert_eq!(serde_json::to_value(Expect::OutsideModel).unwrap(), "outside-model");
        assert_eq!(nemesis_of("lose-disk"), Some("lose-disk"));
    }

    #[test]
    fn diverging_committed_logs_are_a_violation_and_get_their_column() {
        let mut diverged = results(Verdict::Valid, Verdict::Valid);
        let check = CheckResult { verdict: Verdict::Invalid, summary: String::new(), details: None };
        diverged.checks.insert(CheckName::LogAgreement, check);
        let row = Row::measure("pb-async", "partition", 2, Expect::MayFail, "r".into(), Ok(&diverged));
        assert_eq!(row.log_agreement, Some(Verdict::Invalid));
        assert!(row.expected && row.note.contains("committed logs diverge"), "{}", row.note);
        let safe = Row::measure("raft", "clock", 2, Expect::Safe, "r".into(), Ok(&diverged));
        assert!(!safe.expected, "{}", safe.note);
        let table = markdown(&[row]);
        assert!(
            table.contains("| pb-async | partition | 2 | valid | - | no | - | diverged | 50% |"),
            "{table}"
        );
    }

    #[test]
    fn measurements_come_from_the_stats_and_only_effective_windows_count() {
        let good = results(Verdict::Valid, Verdict::Valid);
        let row = Row::measure("raft", "kill", 3, Expect::Safe, "r".into(), Ok(&good));
        assert_eq!(row.availability_during_fault, Some(0.5));
        assert_eq!((row.p50_ms, row.p99_ms), (Some(1.5), Some(9.0)));
        assert_eq!(row.messages_per_op, Some(4.0));
        let table = markdown(&[row]);
        assert!(
            table.contains(
                "| raft | kill | 3 | valid | - | no | - | - | 50% | 1.5 | 9.0 | 80.0 | 4.0 | safe | ✓"
            ),
            "{table}"
        );
        assert!(table.contains("1 runs, 0 unexpected."));
        assert_eq!(nemesis_of("one-way"), Some("partition-one-way"));
        assert_eq!(nemesis_of("hold"), Some("hold"));
        assert_eq!(nemesis_of("clock"), Some("clock"));
        assert_eq!(nemesis_of("earthquake"), None);
    }

    /// A results.json written before details were tagged (or by hand, with the fields a
    /// person reads) measures as it did.
    #[test]
    fn an_untagged_results_file_still_measures() {
        let text = r#"{"valid": "valid", "reasons": [], "reproduce": "",
            "checks": {
              "linearizable": {"verdict": "valid", "summary": "ok", "details": null},
              "stats": {"verdict": "valid", "summary": "ok", "details": {
                "verdict": "valid", "reasons": [], "counts": {"ok": 1, "fail": 0, "info": 0},
                "by_function": {}, "latency": {"p50_ms": 2.0, "p90_ms": 3.0, "p99_ms": 4.0, "max_ms": 5.0},
                "throughput_ok_per_s": 10.0, "duration_s": 1.0, "availability": 1.0,
                "availability_without_faults": 1.0, "messages": null, "messages_per_ok_op": null,
                "faults": [{"fault": "kill", "start_s": 0.1, "end_s": 0.5, "took_effect": true,
                            "counts": {"ok": 1, "fail": 0, "info": 0}, "availability": 0.25}]}}}}"#;
        let results: RunResults = serde_json::from_str(text).unwrap();
        assert!(results.unreadable.is_empty(), "{:?}", results.unreadable);
        let row = Row::measure("raft", "kill", 1, Expect::Safe, "r".into(), Ok(&results));
        assert_eq!((row.p99_ms, row.availability_during_fault), (Some(4.0), Some(0.25)));
        assert!(row.expected, "{}", row.note);
    }
}
