//! From a run directory's files to what the report draws.
//!
//! [`ReportInput::load`] is the only part that touches the disk; [`Drawing::of`] is pure.
//! Operations are paired here from the raw events (not through `checkers::History`, which
//! refuses a malformed history): a report must draw whatever was recorded, including the
//! history of a crashed run. An invocation that never completed is drawn as `info` up to the
//! end of the history, as Jepsen treats it.

use std::collections::BTreeMap;

use checkers::{CheckName, Counterexample, Event, EventType, OpSummary, Process};
use serde_json::Value;

use crate::roles::RoleSample;
use crate::run_dir::{RunDir, NET_JSON, RESULTS_JSON};
use crate::run_info::{RunInfo, RunResults};

/// Everything the report is made of, as read from the run directory.
#[derive(Debug, Clone, Default)]
pub struct ReportInput {
    pub info: Option<RunInfo>,
    pub results: Option<RunResults>,
    pub events: Vec<Event>,
    /// `net.json` as written by the proxy: `{"links": {"a->b": {...}}, "total": {...}}`.
    pub net: Option<Value>,
    /// `roles.json`: every node's role and term per status poll.
    pub roles: Vec<RoleSample>,
    /// Node log file names under `nodes/`, sorted.
    pub logs: Vec<String>,
    /// Files that were missing or unreadable, for the page to say so.
    pub problems: Vec<String>,
}

impl ReportInput {
    /// Read what there is; a missing or unreadable file becomes a line in `problems`.
    pub fn load(run: &RunDir) -> anyhow::Result<ReportInput> {
        let mut input = ReportInput::default();
        match run.read_run_info() {
            Ok(info) => input.info = Some(info),
            Err(e) => input.problems.push(format!("{e:#}")),
        }
        if run.path().join(RESULTS_JSON).exists() {
            match run.read_results() {
                Ok(results) => {
                    input.problems.extend(
                        results.unreadable.iter().map(|why| format!("{RESULTS_JSON}: {why}; not shown")),
                    );
                    input.results = Some(results);
                }
                Err(e) => input.problems.push(format!("{e:#}")),
            }
        } else {
            input.problems.push(format!("no {RESULTS_JSON}: the run was not checked"));
        }
        if run.history_path().exists() {
            match run.read_history() {
                Ok(read) => {
                    if read.torn_tail.is_some() {
                        input.problems.push("the history's last line was torn (a crashed run)".into());
                    }
                    input.events = read.events;
                }
                Err(e) => input.problems.push(format!("{e:#}")),
            }
        } else {
            input.problems.push("no history.jsonl".into());
        }
        if run.path().join(NET_JSON).exists() {
            match run.read_net::<Value>() {
                Ok(net) => input.net = Some(net),
                Err(e) => input.problems.push(format!("{e:#}")),
            }
        }
        match run.read_roles() {
            Ok(roles) => input.roles = roles,
            Err(e) => input.problems.push(format!("{e:#}")),
        }
        if let Ok(entries) = std::fs::read_dir(run.nodes_dir()) {
            let mut logs: Vec<String> = entries
                .filter_map(|e| e.ok())
                .filter(|e| e.path().is_file())
                .filter_map(|e| e.file_name().into_string().ok())
                .filter(|name| name.ends_with(".log"))
                .collect();
            logs.sort();
            input.logs = logs;
        }
        Ok(input)
    }
}

/// How an operation ended, as drawn.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Status {
    Ok,
    Fail,
    Info,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Ok => "ok",
            Status::Fail => "fail",
            Status::Info => "info",
        }
    }
}

/// One operation with its times (nanoseconds since the start of the run).
#[derive(Debug, Clone, PartialEq)]
pub struct DrawnOp {
    /// Position of the invocation in the history, as the checkers number events.
    pub invoke_index: u64,
    pub process: u64,
    pub f: String,
    pub key: Option<String>,
    pub value: Value,
    /// What an `ok` op returned.
    pub result: Option<Value>,
    pub status: Status,
    pub start_ns: u64,
    /// `None`: never completed.
    pub end_ns: Option<u64>,
}

impl DrawnOp {
    /// `p3 write "r0" 5 -> ok`, for tooltips.
    pub fn label(&self) -> String {
        let key = self.key.as_ref().map(|k| format!(" {k:?}")).unwrap_or_default();
        let value = if self.value.is_null() { String::new() } else { format!(" {}", self.value) };
        let result = match &self.result {
            Some(r) if !r.is_null() && *r != self.value => format!(" -> {r}"),
            _ => String::new(),
        };
        format!("p{} {}{key}{value}{result} ({})", self.process, self.f, self.status.as_str())
    }

    pub fn latency_ns(&self) -> Option<u64> {
        self.end_ns.map(|end| end.saturating_sub(self.start_ns))
    }
}

/// A fault in force from `start_ns` to `end_ns` (`None`: until the end).
#[derive(Debug, Clone, PartialEq)]
pub struct Window {
    pub name: String,
    pub start_ns: u64,
    pub end_ns: Option<u64>,
    pub took_effect: bool,
}

/// The counterexample of one check, as drawn and listed.
#[derive(Debug, Clone, PartialEq)]
pub struct Highlight {
    /// The check that found it.
    pub check: CheckName,
    pub key: Option<String>,
    /// The op that cannot be linearized.
    pub failing: u64,
    /// Ops concurrent with it that the prefix did not linearize.
    pub concurrent: Vec<u64>,
    /// Lines for people: the failing op, the prefix, the states, the concurrent ops.
    pub lines: Vec<String>,
}

/// What the report draws.
#[derive(Debug, Clone, Default)]
pub struct Drawing {
    pub ops: Vec<DrawnOp>,
    pub windows: Vec<Window>,
    /// The time of the last event (the right edge of every plot), at least 1.
    pub end_ns: u64,
    pub highlights: Vec<Highlight>,
    /// Nemesis events, for the fault list: (time, f, took effect, error).
    pub nemesis: Vec<(u64, String, bool, Option<String>)>,
}

impl Drawing {
    pub fn of(input: &ReportInput) -> Drawing {
        let end_ns = input.events.iter().filter_map(|e| e.time).max().unwrap_or(0).max(1);
        let mut ops = Vec::new();
        let mut open: BTreeMap<u64, usize> = BTreeMap::new();
        let mut nemesis = Vec::new();
        for (position, event) in input.events.iter().enumerate() {
            let time = event.time.unwrap_or(0);
            let process = match event.process {
                Process::Client(p) => p,
                Process::Nemesis => {
                    let took_effect = event.value.get("took_effect").and_then(Value::as_bool).unwrap_or(true);
                    nemesis.push((time, event.f.clone(), took_effect, event.error.clone()));
                    continue;
                }
            };
            if event.kind == EventType::Invoke {
                open.insert(process, ops.len());
                ops.push(DrawnOp {
                    invoke_index: position as u64,
                    process,
                    f: event.f.clone(),
                    key: event.key.clone(),
                    value: event.value.clone(),
                    result: None,
                    status: Status::Info,
                    start_ns: time,
                    end_ns: None,
                });
                continue;
            }
            // A completion with no open invocation is a malformed history; the checkers say
            // so, the drawing skips it.
            if let Some(at) = open.remove(&process) {
                let op = &mut ops[at];
                op.end_ns = Some(time.max(op.start_ns));
                op.status = match event.kind {
                    EventType::Ok => Status::Ok,
                    EventType::Fail => Status::Fail,
                    _ => Status::Info,
                };
                if event.kind == EventType::Ok {
                    op.result = Some(event.value.clone());
                }
            }
        }
        let windows = windows_from_results(input).unwrap_or_else(|| windows_from_nemesis(&nemesis));
        let highlights = input
            .results
            .iter()
            .flat_map(|r| r.checks.iter())
            .filter_map(|(name, check)| Some(highlight(*name, check.details.as_ref()?.counterexample()?)))
            .collect();
        Drawing { ops, windows, end_ns, highlights, nemesis }
    }
}

/// The stats check's windows: the nemesis's own record of when each fault was in force.
fn windows_from_results(input: &ReportInput) -> Option<Vec<Window>> {
    let stats = input.results.as_ref()?.stats()?;
    let nanos = |s: f64| (s.is_finite() && s >= 0.0).then_some((s * 1e9) as u64);
    stats
        .faults
        .iter()
        .map(|w| {
            Some(Window {
                name: w.fault.clone(),
                start_ns: nanos(w.start_s)?,
                end_ns: w.end_s.and_then(nanos),
                took_effect: w.took_effect,
            })
        })
        .collect()
}

/// Without results: `start-X` opens a window of X, `stop-X` closes the oldest open one,
/// `heal` closes them all.
fn windows_from_nemesis(nemesis: &[(u64, String, bool, Option<String>)]) -> Vec<Window> {
    let mut open: Vec<Window> = Vec::new();
    let mut closed = Vec::new();
    for (time, f, took_effect, _) in nemesis {
        if let Some(name) = f.strip_prefix("start-") {
            open.push(Window {
                name: name.to_string(),
                start_ns: *time,
                end_ns: None,
                took_effect: *took_effect,
            });
        } else if let Some(name) = f.strip_prefix("stop-") {
            if let Some(at) = open.iter().position(|w| w.name == name) {
                let mut w = open.remove(at);
                w.end_ns = Some(*time);
                closed.push(w);
            }
        } else if f == "heal" {
            for mut w in open.drain(..) {
                w.end_ns = Some(*time);
                closed.push(w);
            }
        }
    }
    closed.extend(open);
    closed.sort_by_key(|w| w.start_ns);
    closed
}

fn highlight(check: CheckName, cx: &Counterexample) -> Highlight {
    let mut lines = Vec::new();
    let on_key = cx.key.as_ref().map(|k| format!(" on key {k:?}")).unwrap_or_default();
    lines.push(format!("cannot linearize{on_key}: {}", render_op(&cx.failing_op)));
    lines.push(format!(
        "longest linearizable prefix: {} ops, from initial state {}",
        cx.linearized, cx.initial_state
    ));
    if cx.prefix.len() < cx.linearized {
        lines.push(format!("  ... {} earlier ops", cx.linearized - cx.prefix.len()));
    }
    for step in &cx.prefix {
        lines.push(format!("  {}  => {}", render_op(&step.op), step.state_after));
    }
    lines.push(format!(
        "in state {} the op above cannot take effect, and no order of the ops concurrent with it helps",
        cx.final_state
    ));
    if cx.concurrent.is_empty() {
        lines.push("concurrent ops: none".into());
    } else {
        lines.push("concurrent ops not in the prefix:".into());
        for op in &cx.concurrent {
            lines.push(format!("  {}", render_op(op)));
        }
    }
    Highlight {
        check,
        key: cx.key.clone(),
        failing: cx.failing_op.invoke_index,
        concurrent: cx.concurrent.iter().map(|op| op.invoke_index).collect(),
        lines,
    }
}

/// An op in one line: `p3 read "r0" -> 2 (ok) [events 10..14]`.
fn render_op(op: &OpSummary) -> String {
    let key = op.key.as_ref().map(|k| format!(" {k:?}")).unwrap_or_default();
    let value = if op.value.is_null() { String::new() } else { format!(" {}", op.value) };
    let result = op.result.as_ref().map(|r| format!(" -> {r}")).unwrap_or_default();
    let end = op.complete_index.map(|i| i.to_string()).unwrap_or_default();
    format!(
        "p{} {}{key}{value}{result} ({}) [events {}..{end}]",
        op.process,
        op.f,
        op.outcome.as_str(),
        op.invoke_index
    )
}
