//! Running the fault schedule: each step at its time, its record in the history, and the
//! windows during which each fault was in force (for availability in the stats).
//!
//! The schedule comes from the run's seed (or a recorded `schedule.json`, replayed). A step
//! that did nothing (a kill that found no process) is recorded with `took_effect: false`,
//! and its window says so, so a run whose faults never bit is not mistaken for a tough one.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use checkers::stats::FaultWindow;
use tokio::sync::watch;

use crate::nemesis::{Action, FaultKind, Nemesis, Record, Schedule, ScheduleParams};

use super::progress::Progress;
use super::recorder::RecorderHandle;
use super::spec::RunSpec;

/// The kinds of fault a run injects.
pub type FaultKinds = Vec<FaultKind>;

/// Parse `--nemesis` (`partition,kill`, `none`, ...).
pub fn parse_nemesis(flag: &str) -> Result<FaultKinds, String> {
    FaultKind::parse_list(flag).map_err(|e| format!("--nemesis: {e}"))
}

/// The run's schedule: replayed from `--schedule`, or generated from the seed.
pub fn schedule_for(spec: &RunSpec) -> anyhow::Result<Schedule> {
    let nodes: Vec<u32> = (1..=spec.nodes).collect();
    match &spec.schedule {
        Some(path) => load_schedule(path, &nodes),
        None => Schedule::generate(&ScheduleParams {
            seed: spec.seed,
            kinds: spec.nemesis.clone(),
            interval_ms: spec.nemesis_interval.as_millis() as u64,
            time_limit_ms: spec.time_limit.as_millis() as u64,
            nodes,
            client_timeout_ms: spec.op_timeout.as_millis() as u64,
        })
        .map_err(|e| anyhow::anyhow!("--nemesis: {e}")),
    }
}

/// One line for each kind of fault in the run (asked for, or in a replayed schedule) that
/// is outside the consensus protocols' safety model, saying so; printed at the start, so a
/// reader of an invalid verdict knows it was expected.
pub fn outside_model_notices(kinds: &[FaultKind], schedule: &Schedule) -> Vec<&'static str> {
    let all: std::collections::BTreeSet<FaultKind> =
        kinds.iter().copied().chain(schedule.drawn_kinds()).collect();
    all.into_iter().filter_map(FaultKind::outside_model_reason).collect()
}

fn load_schedule(path: &Path, nodes: &[u32]) -> anyhow::Result<Schedule> {
    let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let schedule = Schedule::from_json(&text).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
    if schedule.nodes != nodes {
        bail!(
            "{}: the schedule is for nodes {:?}, this run has {:?} (use --nodes {})",
            path.display(),
            schedule.nodes,
            nodes,
            schedule.nodes.len()
        );
    }
    Ok(schedule)
}

/// What the nemesis did, for the checkers.
#[derive(Debug, Default)]
pub struct FaultLog {
    pub windows: Vec<FaultWindow>,
}

/// Execute the steps due before `stop` turns true, then heal everything. Each record goes
/// to the history and to `progress` (a line in a log); `active` follows the faults in
/// force for the progress line.
pub async fn drive(
    mut nemesis: Nemesis,
    schedule: Schedule,
    start: Instant,
    recorder: RecorderHandle,
    active: Arc<AtomicUsize>,
    progress: Progress,
    mut stop: watch::Receiver<bool>,
) -> anyhow::Result<FaultLog> {
    let mut open: BTreeMap<u32, FaultWindow> = BTreeMap::new();
    let mut windows = Vec::new();
    for step in &schedule.steps {
        let due = start + Duration::from_millis(step.at_ms);
        tokio::select! {
            _ = tokio::time::sleep_until(due.into()) => {}
            _ = stop.changed() => break,
        }
        if *stop.borrow() {
            break;
        }
        let record = nemesis.execute(step).await;
        progress.fault(start.elapsed().as_secs_f64(), &record);
        let now = recorder.now_ns();
        recorder.record(record.to_event(now)).await?;
        match step.action {
            Action::Start => {
                let name = step.f().trim_start_matches("start-").to_string();
                open.insert(
                    step.id,
                    FaultWindow { name, start_ns: now, end_ns: None, took_effect: record.took_effect },
                );
            }
            Action::Stop => {
                if let Some(mut window) = open.remove(&step.id) {
                    window.end_ns = Some(now);
                    windows.push(window);
                }
            }
        }
        active.store(nemesis.active(), Ordering::Relaxed);
    }
    let healed: Vec<Record> = nemesis.heal_all().await;
    let now = recorder.now_ns();
    for record in &healed {
        progress.fault(start.elapsed().as_secs_f64(), record);
        recorder.record(record.to_event(recorder.now_ns())).await?;
    }
    active.store(nemesis.active(), Ordering::Relaxed);
    for (_, mut window) in open {
        window.end_ns = Some(now);
        windows.push(window);
    }
    windows.sort_by_key(|w| w.start_ns);
    Ok(FaultLog { windows })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn schedule(kinds: &[FaultKind]) -> Schedule {
        Schedule::generate(&ScheduleParams {
            seed: 1,
            kinds: kinds.to_vec(),
            interval_ms: 100,
            time_limit_ms: 1_000,
            nodes: vec![1, 2, 3],
            client_timeout_ms: 1_000,
        })
        .unwrap()
    }

    #[test]
    fn a_run_with_lose_disk_says_once_that_it_is_outside_the_model() {
        let asked = parse_nemesis("kill,lose-disk").unwrap();
        let notices = outside_model_notices(&asked, &schedule(&asked));
        assert_eq!(notices.len(), 1, "{notices:?}");
        assert!(notices[0].contains("lose-disk") && notices[0].contains("outside their safety model"));
        assert!(!notices[0].contains('\n'));
        // A replayed schedule that holds lose-disk says so too.
        assert_eq!(outside_model_notices(&[], &schedule(&[FaultKind::LoseDisk])).len(), 1);
        let ordinary = parse_nemesis("all").unwrap();
        assert!(outside_model_notices(&ordinary, &schedule(&ordinary)).is_empty());
    }
}
