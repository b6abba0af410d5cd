//! `report.html`: one self-contained page a person reads instead of a run's JSON.
//!
//! The page is a pure function of the run directory's files ([`ReportInput`] ->
//! `String`): the verdicts of `results.json`, a timeline of operations per process with
//! the fault windows shaded and the counterexample highlighted, latency and throughput
//! plots, the messages per link of `net.json`, and links to the node logs. Everything is
//! inline (CSS and SVG, no script, no network), so the file opens anywhere, also from a
//! copied run directory.
//!
//! A limit on everything: a history of any length draws at most [`timeline::MAX_BARS`]
//! individual bars; past that the timeline aggregates per pixel column, and the plots are
//! drawn per column as well, so a run of 100,000 operations still gives a page of a few
//! hundred kilobytes that opens at once.
//!
//! Tour: [`data`] turns files into what is drawn, [`roles`] (each node's role and term),
//! [`timeline`] and [`plots`] draw SVG, [`cycle`] an isolation anomaly's dependency
//! cycle, [`page`] assembles the HTML.

pub mod cycle;
pub mod data;
pub mod index;
pub mod matrix;
pub mod page;
pub mod plots;
pub mod roles;
pub mod svg;
pub mod timeline;

use std::path::{Path, PathBuf};

use anyhow::Context;

use crate::run_dir::RunDir;

pub use data::ReportInput;

/// The report's file name in a run directory.
pub const REPORT_HTML: &str = "report.html";

/// Read a run directory's files and (re)write its `report.html`; returns its path.
///
/// Missing files are not an error (an interrupted run has no `net.json`, a run killed
/// early no `results.json`): the page says what is missing. Unreadable ones are.
pub fn write_report(run: &RunDir) -> anyhow::Result<PathBuf> {
    let input = ReportInput::load(run)?;
    let html = page::render(&input);
    let path = run.path().join(REPORT_HTML);
    let tmp = run.path().join(format!(".{REPORT_HTML}.tmp"));
    std::fs::write(&tmp, html).with_context(|| format!("writing {}", tmp.display()))?;
    std::fs::rename(&tmp, &path).with_context(|| format!("renaming into {}", path.display()))?;
    Ok(path)
}

/// [`write_report`] for a path (the run directory or a `latest` link).
pub fn write_report_at(path: &Path) -> anyhow::Result<PathBuf> {
    write_report(&RunDir::open(path)?)
}
