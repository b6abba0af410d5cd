//! The harness's own termination: Ctrl-C, SIGTERM and panics never strand a node.
//!
//! A crash that runs no code (SIGKILL, abort) is covered by the parent-death signal set at
//! spawn. The paths here give the run loop a chance to stop cleanly: the first SIGINT or
//! SIGTERM is reported to it through [`Termination::recv`] so it can stop the workload,
//! flush the history and shut the cluster down; a second one does not wait for that and
//! kills every node group and exits with 130 at once. A panic kills every node group
//! before the previous panic hook runs.

use std::sync::{Once, OnceLock};

use anyhow::Context;
use tokio::signal::unix::{signal, Signal, SignalKind};

use super::spawn;

/// Exit status after a second termination signal (128 + SIGINT, by convention).
pub const EXIT_FORCED: i32 = 130;

/// Which signal asked the harness to stop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TerminationSignal {
    Interrupt,
    Terminate,
}

/// SIGINT and SIGTERM, caught from the moment [`Termination::install`] returns.
pub struct Termination {
    interrupt: Signal,
    terminate: Signal,
}

impl Termination {
    /// Start catching SIGINT and SIGTERM. Must run inside a tokio runtime.
    pub fn install() -> anyhow::Result<Termination> {
        Ok(Termination {
            interrupt: signal(SignalKind::interrupt()).context("catching SIGINT")?,
            terminate: signal(SignalKind::terminate()).context("catching SIGTERM")?,
        })
    }

    /// Wait for the first signal. Afterwards a second signal of either kind kills every
    /// node group and exits the process with [`EXIT_FORCED`].
    pub async fn recv(mut self) -> TerminationSignal {
        let first = tokio::select! {
            _ = self.interrupt.recv() => TerminationSignal::Interrupt,
            _ = self.terminate.recv() => TerminationSignal::Terminate,
        };
        tokio::spawn(async move {
            tokio::select! {
                _ = self.interrupt.recv() => {},
                _ = self.terminate.recv() => {},
            }
            kill_all_nodes();
            run_teardown();
            eprintln!("faultline: second termination signal, killed every node, exiting");
            std::process::exit(EXIT_FORCED);
        });
        first
    }
}

/// SIGKILL every node group this process started and has not reaped. Safe anywhere,
/// including a panic hook: only atomics and `kill(2)`.
pub fn kill_all_nodes() {
    spawn::kill_all_groups();
}

/// Make every panic kill all node groups before the previous hook runs. Idempotent.
pub fn install_panic_hook() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            kill_all_nodes();
            run_teardown();
            previous(info);
        }));
    });
}

/// What to tear down when the harness exits without unwinding (a second signal) or
/// panics: what a run built outside its own processes (network namespaces). Set once.
static EXIT_TEARDOWN: OnceLock<fn()> = OnceLock::new();

/// Make forced exits and panics run `teardown` (after killing every node group). The first
/// call wins; `teardown` must be idempotent and cover everything the process built.
pub fn on_forced_exit(teardown: fn()) {
    let _ = EXIT_TEARDOWN.set(teardown);
}

fn run_teardown() {
    if let Some(teardown) = EXIT_TEARDOWN.get() {
        teardown();
    }
}
