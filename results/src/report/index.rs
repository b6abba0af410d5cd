//! The store's index: every run found under `<store>/<test>/<run>/`, newest first, and the
//! HTML page that lists them (what `faultline serve` shows at `/`).
//!
//! Scanning is bounded ([`MAX_RUNS`] listed) and never follows a symbolic link (the
//! store's `latest` is one, and a link could lead out of the store). A run whose files do
//! not parse is listed with verdict `unknown` and the problem, not skipped: a broken run is
//! exactly the one a person needs to see.

use std::fmt::Write;
use std::path::Path;

use serde_json::Value;

use super::svg::escape;
use super::REPORT_HTML;
use crate::run_dir::{RESULTS_JSON, RUN_JSON};

/// The most runs an index lists.
pub const MAX_RUNS: usize = 2000;

/// One run as the index shows it.
#[derive(Debug, Clone, PartialEq)]
pub struct RunSummary {
    /// `<test>/<run>`, relative to the store, with `/` separators.
    pub path: String,
    pub test: String,
    pub started: String,
    pub protocol: String,
    pub workload: String,
    pub nemesis: String,
    pub seed: Option<u64>,
    /// `valid`, `invalid`, `unknown`, or `unchecked` (no results.json yet).
    pub verdict: String,
    /// The first reason, if not valid.
    pub reason: String,
    pub has_report: bool,
}

/// What to show: each `None` matches everything. `fault` matches a run whose nemesis names
/// it (`partition` matches `partition,kill`).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Filter {
    pub protocol: Option<String>,
    pub fault: Option<String>,
    pub verdict: Option<String>,
}

impl Filter {
    pub fn matches(&self, run: &RunSummary) -> bool {
        self.protocol.as_ref().is_none_or(|p| run.protocol == *p)
            && self.verdict.as_ref().is_none_or(|v| run.verdict == *v)
            && self.fault.as_ref().is_none_or(|f| run.nemesis.split(',').any(|n| n.trim() == f))
    }
}

/// Every run of the store, newest first (by start time, then path); at most [`MAX_RUNS`].
pub fn list_runs(store: &Path) -> anyhow::Result<Vec<RunSummary>> {
    let mut runs = Vec::new();
    for test in sorted_dirs(store)? {
        for run in sorted_dirs(&store.join(&test))? {
            let dir = store.join(&test).join(&run);
            if dir.join(RUN_JSON).is_file() {
                runs.push(summary(&dir, format!("{test}/{run}")));
            }
        }
    }
    runs.sort_by(|a, b| b.started.cmp(&a.started).then_with(|| b.path.cmp(&a.path)));
    runs.truncate(MAX_RUNS);
    Ok(runs)
}

/// Real directories (not links) under `dir`, by name, skipping hidden ones.
fn sorted_dirs(dir: &Path) -> anyhow::Result<Vec<String>> {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) => return Err(anyhow::anyhow!("reading {}: {e}", dir.display())),
    };
    let mut names: Vec<String> = entries
        .filter_map(|e| e.ok())
        .filter(|e| e.file_type().map(|t| t.is_dir()).unwrap_or(false))
        .filter_map(|e| e.file_name().into_string().ok())
        .filter(|n| !n.starts_with('.'))
        .collect();
    names.sort();
    Ok(names)
}

fn summary(dir: &Path, path: String) -> RunSummary {
    let read = |name: &str| -> Option<Value> {
        serde_json::from_str(&std::fs::read_to_string(dir.join(name)).ok()?).ok()
    };
    let info = read(RUN_JSON).unwrap_or(Value::Null);
    let text = |v: Option<&Value>| v.and_then(Value::as_str).unwrap_or("").to_string();
    // `faultline test` records its workload with its parameters (`{"name": "register",
    // ...}`); older or hand-written runs give the name alone. Both show the name.
    let spec = info.get("spec");
    let (verdict, reason) = match read(RESULTS_JSON) {
        Some(results) => (
            text(results.get("valid")),
            results.get("reasons").and_then(|r| r.get(0)).and_then(Value::as_str).unwrap_or("").to_string(),
        ),
        None if dir.join(RESULTS_JSON).exists() => ("unknown".into(), "results.json does not parse".into()),
        None => ("unchecked".into(), String::new()),
    };
    RunSummary {
        path,
        test: text(info.get("test")),
        started: text(info.get("started")),
        protocol: text(spec.and_then(|s| s.get("protocol"))),
        workload: text(spec.and_then(|s| s.get("workload")).map(|w| w.get("name").unwrap_or(w))),
        nemesis: text(spec.and_then(|s| s.get("nemesis"))),
        seed: info.get("seed").and_then(Value::as_u64),
        verdict: if verdict.is_empty() { "unknown".into() } else { verdict },
        reason,
        has_report: dir.join(REPORT_HTML).is_file(),
    }
}

/// The index page: a filter form and one row per run, each linking to its report.
/// `prefix` is the URL path runs are served under (`/runs/`).
pub fn render(runs: &[RunSummary], filter: &Filter, prefix: &str) -> String {
    let shown: Vec<&RunSummary> = runs.iter().filter(|r| filter.matches(r)).collect();
    let mut out = String::from(
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>faultline runs</title><style>\
body{font-family:system-ui,sans-serif;margin:1.5em}table{border-collapse:collapse}\
td,th{padding:2px 8px;border-bottom:1px solid #eee;text-align:left}\
.v-valid{background:#2a8a2a;color:#fff}.v-invalid{background:#c62828;color:#fff}.v-unknown{background:#f0b400}.v-unchecked{background:#ccc}\
.badge{padding:1px 8px;border-radius:4px;font-weight:600}</style></head><body>\n<h1>faultline runs</h1>\n",
    );
    let options = |name: &str, values: Vec<String>, current: &Option<String>| {
        let mut s = format!("<label>{name} <select name=\"{name}\"><option value=\"\">any</option>");
        for v in values {
            let selected = if current.as_deref() == Some(v.as_str()) { " selected" } else { "" };
            let _ = write!(s, "<option{selected}>{}</option>", escape(&v));
        }
        s.push_str("</select></label> ");
        s
    };
    let distinct = |f: &dyn Fn(&RunSummary) -> Vec<String>| {
        let set: std::collections::BTreeSet<String> =
            runs.iter().flat_map(f).filter(|s| !s.is_empty()).collect();
        set.into_iter().collect::<Vec<_>>()
    };
    out.push_str("<form method=\"get\" action=\"/\">");
    out.push_str(&options("protocol", distinct(&|r| vec![r.protocol.clone()]), &filter.protocol));
    out.push_str(&options(
        "fault",
        distinct(&|r| r.nemesis.split(',').map(|s| s.trim().to_string()).collect()),
        &filter.fault,
    ));
    out.push_str(&options("verdict", distinct(&|r| vec![r.verdict.clone()]), &filter.verdict));
    out.push_str("<button type=\"submit\">filter</button></form>\n");
    let _ = writeln!(out, "<p id=\"count\">{} of {} runs</p>", shown.len(), runs.len());
    out.push_str("<table id=\"runs\"><tr><th>started</th><th>test</th><th>protocol</th><th>workload</th><th>faults</th><th>seed</th><th>verdict</th><th>why</th></tr>\n");
    for run in shown {
        let target = if run.has_report { REPORT_HTML } else { RESULTS_JSON };
        let link = format!("{prefix}{}/{target}", run.path);
        let _ = writeln!(
            out,
            "<tr class=\"run\"><td><a href=\"{}\">{}</a></td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td><span class=\"badge v-{}\">{}</span></td><td>{}</td></tr>",
            escape(&link),
            escape(if run.started.is_empty() { &run.path } else { &run.started }),
            escape(&run.test),
            escape(&run.protocol),
            escape(&run.workload),
            escape(&run.nemesis),
            run.seed.map(|s| s.to_string()).unwrap_or_default(),
            escape(&run.verdict),
            escape(&run.verdict),
            escape(&run.reason)
        );
    }
    out.push_str("</table></body></html>\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The run.json `faultline test` writes: the workload is an object with its parameters.
    fn write_run(store: &Path, test: &str, run: &str, started: &str, workload: Value) {
        let dir = store.join(test).join(run);
        std::fs::create_dir_all(&dir).unwrap();
        let info = serde_json::json!({
            "model": "cas-register",
            "test": test,
            "seed": 42,
            "command": [],
            "versions": {},
            "spec": {"protocol": "raft", "workload": workload, "nemesis": "partition,kill"},
            "started": started,
        });
        std::fs::write(dir.join(RUN_JSON), info.to_string()).unwrap();
        std::fs::write(dir.join(RESULTS_JSON), r#"{"valid": "valid", "reasons": []}"#).unwrap();
    }

    /// Regression: the default run (raft-register) was listed with an empty workload,
    /// because its spec holds the workload as an object.
    #[test]
    fn every_column_shows_what_the_run_recorded() {
        let store = tempfile::tempdir().unwrap();
        let workload =
            serde_json::json!({"name": "register", "register": {"keys": 5}, "set": {}, "bank": {}});
        write_run(store.path(), "raft-register", "20261204T100000", "2026-12-04T10:00:00.000Z", workload);
        let set = Value::String("set".into());
        write_run(store.path(), "raft-set", "20261204T090000", "2026-12-04T09:00:00.000Z", set);
        let runs = list_runs(store.path()).unwrap();
        assert_eq!(runs.len(), 2);
        let run = &runs[0];
        assert_eq!(run.path, "raft-register/20261204T100000");
        assert_eq!(
            (run.test.as_str(), run.protocol.as_str(), run.workload.as_str(), run.nemesis.as_str()),
            ("raft-register", "raft", "register", "partition,kill")
        );
        assert_eq!((run.seed, run.verdict.as_str()), (Some(42), "valid"));
        assert_eq!(run.started, "2026-12-04T10:00:00.000Z");
        assert_eq!(runs[1].workload, "set", "a workload given by name alone");
        let page = render(&runs, &Filter::default(), "/runs/");
        assert!(page.contains("<td>raft</td><td>register</td><td>partition,kill</td><td>42</td>"), "{page}");
    }
}
