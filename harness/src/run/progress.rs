//! The progress line while a run goes: elapsed time, ok/fail/info counts, faults in force.
//! Drawn on stderr only when stderr is a terminal; hidden otherwise (logs, CI, tests).

use std::io::IsTerminal;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use super::recorder::Counters;

/// How often the line is redrawn.
const REFRESH: Duration = Duration::from_millis(200);

/// A progress line over the workload phase.
pub struct Progress {
    bar: ProgressBar,
}

impl Progress {
    /// A bar for a phase of `seconds`.
    pub fn new(seconds: u64) -> Progress {
        let target = if std::io::stderr().is_terminal() {
            ProgressDrawTarget::stderr()
        } else {
            ProgressDrawTarget::hidden()
        };
        let bar = ProgressBar::with_draw_target(Some(seconds), target);
        let style = ProgressStyle::with_template("{elapsed:>4} [{bar:30}] {pos}/{len}s  {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> ");
        bar.set_style(style);
        Progress { bar }
    }

    /// Redraw from the counters until the returned task is aborted.
    pub fn follow(
        &self,
        counters: Arc<Counters>,
        faults_active: Arc<AtomicUsize>,
    ) -> tokio::task::JoinHandle<()> {
        let bar = self.bar.clone();
        let started = std::time::Instant::now();
        tokio::spawn(async move {
            let mut ticker = tokio::time::interval(REFRESH);
            loop {
                ticker.tick().await;
                let (ok, fail, info) = counters.snapshot();
                bar.set_position(started.elapsed().as_secs());
                bar.set_message(format!(
                    "ok {ok}  fail {fail}  info {info}  faults {}",
                    faults_active.load(Ordering::Relaxed)
                ));
            }
        })
    }

    /// Say which phase the run is in.
    pub fn phase(&self, text: &str) {
        self.bar.suspend(|| eprintln!("faultline: {text}"));
    }

    pub fn finish(&self) {
        self.bar.finish_and_clear();
    }
}
