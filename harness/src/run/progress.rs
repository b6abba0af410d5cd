//! What a run says while it goes, on stderr, in one of two forms.
//!
//! On a terminal: a progress line redrawn in place (elapsed time, ok/fail/info counts,
//! faults in force), with the phases printed above it. Anywhere else (a file, a pipe, a CI
//! log) a redrawn line is noise or nothing at all, so the run prints plain lines instead:
//! every phase, every fault step as it is applied, the counts every
//! [`PLAIN_COUNTS_EVERY`], and the verdict. A run that takes minutes is thus never silent
//! in a log.

use std::io::IsTerminal;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use checkers::Verdict;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use super::recorder::Counters;
use crate::nemesis::Record;

/// How often the line is redrawn.
const REFRESH: Duration = Duration::from_millis(200);
/// How often the counts are printed when stderr is not a terminal.
pub const PLAIN_COUNTS_EVERY: Duration = Duration::from_secs(10);

/// The run's voice on stderr. Cloning shares the one bar.
#[derive(Clone)]
pub struct Progress {
    bar: ProgressBar,
    /// Whether stderr is a terminal: the redrawn line, or plain lines.
    attended: bool,
}

impl Progress {
    /// A bar for a phase of `seconds`, drawn only when stderr is a terminal.
    pub fn new(seconds: u64) -> Progress {
        let attended = std::io::stderr().is_terminal();
        let target = if attended { ProgressDrawTarget::stderr() } else { ProgressDrawTarget::hidden() };
        let bar = ProgressBar::with_draw_target(Some(seconds), target);
        let style = ProgressStyle::with_template("{elapsed:>4} [{bar:30}] {pos}/{len}s  {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> ");
        bar.set_style(style);
        Progress { bar, attended }
    }

    /// Redraw from the counters until the returned task is aborted; without a terminal,
    /// print them every [`PLAIN_COUNTS_EVERY`] instead.
    pub fn follow(
        &self,
        counters: Arc<Counters>,
        faults_active: Arc<AtomicUsize>,
    ) -> tokio::task::JoinHandle<()> {
        let bar = self.bar.clone();
        let attended = self.attended;
        let started = std::time::Instant::now();
        tokio::spawn(async move {
            let mut ticker = tokio::time::interval(if attended { REFRESH } else { PLAIN_COUNTS_EVERY });
            // The first tick is immediate; without a terminal it would print zeros.
            ticker.tick().await;
            loop {
                ticker.tick().await;
                let (ok, fail, info) = counters.snapshot();
                let counts = format!(
                    "ok {ok}  fail {fail}  info {info}  faults {}",
                    faults_active.load(Ordering::Relaxed)
                );
                if attended {
                    bar.set_position(started.elapsed().as_secs());
                    bar.set_message(counts);
                } else {
                    eprintln!("faultline: {:.0} s: {counts}", started.elapsed().as_secs_f64());
                }
            }
        })
    }

    /// Say which phase the run is in (always, above the bar on a terminal).
    pub fn phase(&self, text: &str) {
        self.bar.suspend(|| eprintln!("faultline: {text}"));
    }

    /// A line only for logs: on a terminal the bar already shows it.
    pub fn plain(&self, text: &str) {
        if !self.attended {
            eprintln!("faultline: {text}");
        }
    }

    /// One fault step as it was applied, `at_s` seconds into the workload (logs only).
    pub fn fault(&self, at_s: f64, record: &Record) {
        self.plain(&fault_line(at_s, record));
    }

    /// The verdict, last (logs only: on a terminal it is on stdout, next to the checks).
    pub fn verdict(&self, verdict: Verdict, run: &std::path::Path) {
        self.plain(&format!("verdict: {verdict} ({})", run.display()));
    }

    pub fn finish(&self) {
        self.bar.finish_and_clear();
    }
}

/// `fault at 5.0 s: start-kill nodes [2] (took effect)`, or why it did not.
pub fn fault_line(at_s: f64, record: &Record) -> String {
    let target = ["nodes", "node", "leader"]
        .iter()
        .find_map(|key| record.value.get(*key).filter(|v| !v.is_null()).map(|v| format!(" {key} {v}")))
        .unwrap_or_default();
    let effect = match (&record.error, record.took_effect) {
        (None, true) => "took effect".to_string(),
        (Some(why), true) => format!("took effect in part: {why}"),
        (Some(why), false) => format!("no effect: {why}"),
        (None, false) => "no effect".to_string(),
    };
    format!("fault at {at_s:.1} s: {}{target} ({effect})", record.f)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_fault_line_names_the_step_its_target_and_whether_it_bit() {
        let kill =
            Record { f: "start-kill".into(), value: json!({"nodes": [2]}), took_effect: true, error: None };
        assert_eq!(fault_line(5.04, &kill), "fault at 5.0 s: start-kill nodes [2] (took effect)");
        let none = Record::not_taken("start-lose-disk".into(), json!({"node": 3}), "no such process");
        assert_eq!(
            fault_line(1.0, &none),
            "fault at 1.0 s: start-lose-disk node 3 (no effect: no such process)"
        );
        let heal = Record { f: "heal".into(), value: json!({}), took_effect: true, error: None };
        assert_eq!(fault_line(9.0, &heal), "fault at 9.0 s: heal (took effect)");
    }
}
