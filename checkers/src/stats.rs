//! Run statistics: what the workload achieved, and whether the run tested anything.
//!
//! Counts of `ok`/`fail`/`info` (overall and per function), latency quantiles of
//! acknowledged operations, throughput, availability (the share of operations that were
//! acknowledged) overall and during each fault window, and messages per acknowledged
//! operation from the proxy's counts.
//!
//! The verdict guards against vacuous passes: a run that acknowledged almost nothing, or in
//! which no fault took effect, tested nothing and is `unknown`, with the reasons; otherwise
//! statistics are `valid` (they describe, they do not accuse).
//!
//! Times are the history's nanoseconds since the start of the run; operations without
//! times are counted but take no part in latencies and windows.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::history::{History, Operation, Outcome};
use crate::verdict::Verdict;

/// Fewer acknowledged operations than this is "almost nothing".
pub const MIN_ACKNOWLEDGED: u64 = 10;
/// So is a smaller share of all operations than this.
pub const MIN_ACKNOWLEDGED_SHARE: f64 = 0.01;

/// One fault, from its start to its end (`None`: it never ended before the history did).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FaultWindow {
    pub name: String,
    pub start_ns: u64,
    pub end_ns: Option<u64>,
    /// Whether the fault took effect (a kill that found no process did not).
    pub took_effect: bool,
}

/// Counts of outcomes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Counts {
    pub ok: u64,
    pub fail: u64,
    pub info: u64,
}

impl Counts {
    pub fn total(&self) -> u64 {
        self.ok + self.fail + self.info
    }

    fn add(&mut self, outcome: &Outcome) {
        match outcome {
            Outcome::Ok(_) => self.ok += 1,
            Outcome::Fail => self.fail += 1,
            Outcome::Info => self.info += 1,
        }
    }

    /// The share acknowledged; `None` for no operation at all.
    pub fn availability(&self) -> Option<f64> {
        (self.total() > 0).then(|| self.ok as f64 / self.total() as f64)
    }
}

/// Latency quantiles of acknowledged operations, in milliseconds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct Latency {
    pub p50_ms: f64,
    pub p90_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
}

/// Availability during one fault.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WindowStats {
    pub fault: String,
    pub start_s: f64,
    pub end_s: Option<f64>,
    pub took_effect: bool,
    /// Operations invoked during the window, by outcome.
    pub counts: Counts,
    pub availability: Option<f64>,
}

/// What the stats checker found.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StatsReport {
    pub verdict: Verdict,
    /// Why the run is `unknown`, where it is.
    pub reasons: Vec<String>,
    pub counts: Counts,
    pub by_function: BTreeMap<String, Counts>,
    pub latency: Option<Latency>,
    /// Acknowledged operations per second, from the first invocation to the last completion.
    pub throughput_ok_per_s: Option<f64>,
    pub duration_s: Option<f64>,
    pub availability: Option<f64>,
    /// Availability of operations invoked outside every fault window.
    pub availability_without_faults: Option<f64>,
    pub faults: Vec<WindowStats>,
    pub messages: Option<u64>,
    pub messages_per_ok_op: Option<f64>,
}

/// Summarise a history. `messages` is the proxy's total frame count, if known.
pub fn check(history: &History, faults: &[FaultWindow], messages: Option<u64>) -> StatsReport {
    let ops = history.operations();
    let history_end = history.events().iter().filter_map(|e| e.time).max();
    let mut counts = Counts::default();
    let mut by_function: BTreeMap<String, Counts> = BTreeMap::new();
    let mut latencies_ns: Vec<u64> = Vec::new();
    for op in &ops {
        counts.add(&op.outcome);
        by_function.entry(op.f.clone()).or_default().add(&op.outcome);
        if let (Outcome::Ok(_), Some(start), Some(end)) = (&op.outcome, op.invoke_time, op.complete_time) {
            latencies_ns.push(end.saturating_sub(start));
        }
    }
    latencies_ns.sort_unstable();
    let first = ops.iter().filter_map(|o| o.invoke_time).min();
    let last = ops.iter().filter_map(|o| o.complete_time.or(o.invoke_time)).max();
    let duration_s = first.zip(last).map(|(a, b)| b.saturating_sub(a) as f64 / 1e9).filter(|d| *d > 0.0);

    let windows: Vec<WindowStats> = faults.iter().map(|w| window_stats(w, &ops, history_end)).collect();
    let mut outside = Counts::default();
    for op in &ops {
        let Some(t) = op.invoke_time else { continue };
        if !faults.iter().any(|w| in_window(w, t, history_end)) {
            outside.add(&op.outcome);
        }
    }

    let mut reasons = Vec::new();
    if counts.ok < MIN_ACKNOWLEDGED || (counts.ok as f64) < MIN_ACKNOWLEDGED_SHARE * counts.total() as f64 {
        reasons.push(format!(
            "almost nothing was acknowledged ({} ok of {} operations)",
            counts.ok,
            counts.total()
        ));
    }
    if !faults.iter().any(|w| w.took_effect) {
        reasons.push(if faults.is_empty() {
            "no fault was injected".to_string()
        } else {
            format!("none of the {} faults took effect", faults.len())
        });
    }
    StatsReport {
        verdict: if reasons.is_empty() { Verdict::Valid } else { Verdict::Unknown },
        reasons,
        counts,
        by_function,
        latency: latency(&latencies_ns),
        throughput_ok_per_s: duration_s.map(|d| counts.ok as f64 / d),
        duration_s,
        availability: counts.availability(),
        availability_without_faults: outside.availability(),
        faults: windows,
        messages,
        messages_per_ok_op: messages.filter(|_| counts.ok > 0).map(|m| m as f64 / counts.ok as f64),
    }
}

fn in_window(w: &FaultWindow, t: u64, history_end: Option<u64>) -> bool {
    let end = w.end_ns.or(history_end).unwrap_or(u64::MAX);
    w.start_ns <= t && t < end
}

fn window_stats(w: &FaultWindow, ops: &[Operation], history_end: Option<u64>) -> WindowStats {
    let mut counts = Counts::default();
    for op in ops {
        if op.invoke_time.is_some_and(|t| in_window(w, t, history_end)) {
            counts.add(&op.outcome);
        }
    }
    WindowStats {
        fault: w.name.clone(),
        start_s: w.start_ns as f64 / 1e9,
        end_s: w.end_ns.map(|e| e as f64 / 1e9),
        took_effect: w.took_effect,
        counts,
        availability: counts.availability(),
    }
}

/// Nearest-rank quantiles of sorted latencies.
fn latency(sorted_ns: &[u64]) -> Option<Latency> {
    let last = *sorted_ns.last()?;
    let q = |p: f64| {
        let rank = ((p * sorted_ns.len() as f64).ceil() as usize).clamp(1, sorted_ns.len());
        sorted_ns[rank - 1] as f64 / 1e6
    };
    Some(Latency { p50_ms: q(0.50), p90_ms: q(0.90), p99_ms: q(0.99), max_ms: last as f64 / 1e6 })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::history::{Event, EventType, Process};
    use serde_json::json;

    /// Operations as (process, invoke ms, complete ms, outcome).
    fn history(ops: &[(u64, u64, u64, EventType)]) -> History {
        let mut events: Vec<(u64, Event)> = Vec::new();
        for &(p, start, end, kind) in ops {
            let event = |kind, at: u64| Event {
                index: 0,
                time: Some(at * 1_000_000),
                process: Process::Client(p),
                kind,
                f: "write".into(),
                key: Some("k".into()),
                value: json!(1),
                error: None,
                node: None,
            };
            events.push((start, event(EventType::Invoke, start)));
            events.push((end, event(kind, end)));
        }
        events.sort_by_key(|(t, e)| (*t, e.kind != EventType::Invoke));
        History::from_events(events.into_iter().map(|(_, e)| e).collect()).unwrap()
    }

    fn ok_ops(n: u64) -> Vec<(u64, u64, u64, EventType)> {
        (0..n).map(|i| (0, i * 10, i * 10 + 1 + i % 4, EventType::Ok)).collect()
    }

    fn fault(start_ms: u64, end_ms: u64) -> FaultWindow {
        FaultWindow {
            name: "partition".into(),
            start_ns: start_ms * 1_000_000,
            end_ns: Some(end_ms * 1_000_000),
            took_effect: true,
        }
    }

    #[test]
    fn counts_latency_throughput_and_messages() {
        let mut ops = ok_ops(100);
        ops.push((1, 5, 7, EventType::Fail));
        ops.push((2, 6, 8, EventType::Info));
        let report = check(&history(&ops), &[fault(0, 10)], Some(400));
        assert_eq!(report.counts, Counts { ok: 100, fail: 1, info: 1 });
        assert_eq!(report.verdict, Verdict::Valid, "{:?}", report.reasons);
        let latency = report.latency.unwrap();
        assert_eq!((latency.p50_ms, latency.max_ms), (2.0, 4.0));
        assert_eq!(report.messages_per_ok_op, Some(4.0));
        // 100 ok over 0..994 ms (the last completes at 990 + 1 + 3).
        let throughput = report.throughput_ok_per_s.unwrap();
        assert!((throughput - 100.0 / 0.994).abs() < 1e-6, "{throughput}");
    }

    #[test]
    fn availability_during_a_fault_is_measured_from_its_window() {
        let mut ops = ok_ops(20);
        // During 1000..2000 ms: two fails, one ok.
        ops.push((1, 1000, 1001, EventType::Fail));
        ops.push((1, 1100, 1101, EventType::Fail));
        ops.push((1, 1200, 1201, EventType::Ok));
        let report = check(&history(&ops), &[fault(1000, 2000)], None);
        let window = &report.faults[0];
        assert_eq!(window.counts, Counts { ok: 1, fail: 2, info: 0 });
        assert!((window.availability.unwrap() - 1.0 / 3.0).abs() < 1e-9);
        assert_eq!(report.availability_without_faults, Some(1.0));
    }

    #[test]
    fn no_fault_or_nothing_acknowledged_is_unknown_with_reasons() {
        let report = check(&history(&ok_ops(50)), &[], None);
        assert_eq!(report.verdict, Verdict::Unknown);
        assert!(report.reasons[0].contains("no fault"), "{:?}", report.reasons);

        let mut ineffective = fault(0, 10);
        ineffective.took_effect = false;
        let report = check(&history(&ok_ops(50)), &[ineffective], None);
        assert!(report.reasons[0].contains("none of the 1 faults took effect"), "{:?}", report.reasons);

        let fails: Vec<_> = (0..50).map(|i| (0, i * 10, i * 10 + 1, EventType::Fail)).collect();
        let report = check(&history(&fails), &[fault(0, 10)], None);
        assert_eq!(report.verdict, Verdict::Unknown);
        assert!(report.reasons[0].contains("almost nothing was acknowledged (0 ok of 50"));
    }
}
