//! The timeline: one row per process, each operation a bar from its invocation to its
//! completion, coloured by outcome, over the shaded fault windows, with the
//! counterexample's operations outlined on top.
//!
//! Bounded whatever the history's length: with at most [`MAX_BARS`] operations every one
//! is its own bar with a tooltip; beyond that each row is aggregated per pixel column (a
//! column shows the worst outcome of the operations that cover it: info over fail over ok)
//! and consecutive columns of one outcome merge into one bar. With more than [`MAX_ROWS`]
//! processes (clients retire a process after every `info`), operations are packed into
//! lanes instead: an op goes to the first lane free at its invocation.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write;

use super::data::{Drawing, DrawnOp, Status};
use super::svg::{self, escape, TimeScale, LEFT, PLOT_WIDTH};

/// The most operations drawn as individual bars.
pub const MAX_BARS: usize = 2000;
/// The most rows; more processes are packed into this many lanes.
pub const MAX_ROWS: usize = 48;

const ROW_HEIGHT: f64 = 14.0;
const BAR_HEIGHT: f64 = 10.0;
const TOP: f64 = 16.0;

/// The timeline's SVG.
pub fn render(drawing: &Drawing) -> String {
    let scale = TimeScale { end_ns: drawing.end_ns };
    let (labels, row_of) = rows(&drawing.ops);
    let height = TOP + labels.len().max(1) as f64 * ROW_HEIGHT;
    let mut out = String::new();
    let _ = write!(
        out,
        "<svg xmlns=\"http://www.w3.org/2000/svg\" class=\"timeline\" width=\"{}\" height=\"{:.0}\" viewBox=\"0 0 {} {:.0}\">",
        svg::total_width(),
        height + 22.0,
        svg::total_width(),
        height + 22.0
    );
    svg::fault_windows(&mut out, scale, &drawing.windows, 0.0, height);
    for (row, label) in labels.iter().enumerate() {
        let _ = write!(
            out,
            "<text class=\"rowlabel\" x=\"{}\" y=\"{:.1}\" text-anchor=\"end\">{}</text>",
            LEFT - 4,
            TOP + row as f64 * ROW_HEIGHT + BAR_HEIGHT - 1.0,
            escape(label)
        );
    }
    if drawing.ops.len() <= MAX_BARS {
        for (op, row) in drawing.ops.iter().zip(&row_of) {
            bar(&mut out, scale, drawing.end_ns, op, *row, "");
        }
    } else {
        aggregated(&mut out, scale, drawing, &row_of, labels.len());
    }
    highlights(&mut out, scale, drawing, &row_of);
    svg::time_axis(&mut out, scale, height + 2.0);
    out.push_str("</svg>");
    out
}

/// Whether the timeline aggregates (too many operations for one bar each).
pub fn is_aggregated(drawing: &Drawing) -> bool {
    drawing.ops.len() > MAX_BARS
}

/// Row labels, and each op's row.
fn rows(ops: &[DrawnOp]) -> (Vec<String>, Vec<usize>) {
    let processes: BTreeSet<u64> = ops.iter().map(|op| op.process).collect();
    if processes.len() <= MAX_ROWS {
        let index: BTreeMap<u64, usize> = processes.iter().enumerate().map(|(i, p)| (*p, i)).collect();
        let labels = processes.iter().map(|p| format!("p{p}")).collect();
        return (labels, ops.iter().map(|op| index[&op.process]).collect());
    }
    let mut order: Vec<usize> = (0..ops.len()).collect();
    order.sort_by_key(|&i| (ops[i].start_ns, ops[i].invoke_index));
    let mut lane_free_at: Vec<u64> = Vec::new();
    let mut row_of = vec![0; ops.len()];
    for i in order {
        let op = &ops[i];
        let end = op.end_ns.unwrap_or(u64::MAX);
        let lane = match lane_free_at.iter().position(|&free| free <= op.start_ns) {
            Some(lane) => lane,
            None if lane_free_at.len() < MAX_ROWS => {
                lane_free_at.push(0);
                lane_free_at.len() - 1
            }
            // Every lane busy: overlap in the lane that frees first.
            None => (0..lane_free_at.len()).min_by_key(|&l| lane_free_at[l]).unwrap_or(0),
        };
        lane_free_at[lane] = lane_free_at[lane].max(end);
        row_of[i] = lane;
    }
    let labels = (0..lane_free_at.len()).map(|l| format!("lane {l}")).collect();
    (labels, row_of)
}

fn bar(out: &mut String, scale: TimeScale, end_ns: u64, op: &DrawnOp, row: usize, extra_class: &str) {
    let x0 = scale.x(op.start_ns);
    let x1 = scale.x(op.end_ns.unwrap_or(end_ns)).max(x0 + 1.0);
    let y = TOP + row as f64 * ROW_HEIGHT;
    let latency = op.latency_ns().map(|ns| format!(", {:.1} ms", ns as f64 / 1e6)).unwrap_or_default();
    let _ = write!(
        out,
        "<rect class=\"{}{extra_class}\" x=\"{x0:.1}\" y=\"{y:.1}\" width=\"{:.1}\" height=\"{BAR_HEIGHT}\"><title>{}{latency} [event {}]</title></rect>",
        op.status.as_str(),
        x1 - x0,
        escape(&op.label()),
        op.invoke_index
    );
}

fn aggregated(out: &mut String, scale: TimeScale, drawing: &Drawing, row_of: &[usize], rows: usize) {
    let columns = PLOT_WIDTH as usize;
    let mut cells: Vec<Option<Status>> = vec![None; rows * columns];
    for (op, &row) in drawing.ops.iter().zip(row_of) {
        let c0 = scale.column(op.start_ns);
        let c1 = scale.column(op.end_ns.unwrap_or(drawing.end_ns)).max(c0);
        for cell in &mut cells[row * columns + c0..=row * columns + c1] {
            *cell = (*cell).max(Some(op.status));
        }
    }
    let column_width = PLOT_WIDTH as f64 / columns as f64;
    for row in 0..rows {
        let line = &cells[row * columns..(row + 1) * columns];
        let mut c = 0;
        while c < columns {
            let Some(status) = line[c] else {
                c += 1;
                continue;
            };
            let start = c;
            while c < columns && line[c] == Some(status) {
                c += 1;
            }
            let _ = write!(
                out,
                "<rect class=\"{}\" x=\"{:.1}\" y=\"{:.1}\" width=\"{:.1}\" height=\"{BAR_HEIGHT}\"/>",
                status.as_str(),
                LEFT as f64 + start as f64 * column_width,
                TOP + row as f64 * ROW_HEIGHT,
                (c - start) as f64 * column_width
            );
        }
    }
}

/// The counterexample's ops, always drawn one by one on top: the failing op and the ops
/// concurrent with it, outlined.
fn highlights(out: &mut String, scale: TimeScale, drawing: &Drawing, row_of: &[usize]) {
    if drawing.highlights.is_empty() {
        return;
    }
    let by_index: BTreeMap<u64, usize> =
        drawing.ops.iter().enumerate().map(|(i, op)| (op.invoke_index, i)).collect();
    for h in &drawing.highlights {
        for index in &h.concurrent {
            if let Some(&i) = by_index.get(index) {
                bar(out, scale, drawing.end_ns, &drawing.ops[i], row_of[i], " concurrent");
            }
        }
        if let Some(&i) = by_index.get(&h.failing) {
            bar(out, scale, drawing.end_ns, &drawing.ops[i], row_of[i], " failing");
            let op = &drawing.ops[i];
            let _ = write!(
                out,
                "<text class=\"failmark\" x=\"{:.1}\" y=\"{:.1}\">&#10007; cannot linearize</text>",
                scale.x(op.end_ns.unwrap_or(drawing.end_ns)) + 3.0,
                TOP + row_of[i] as f64 * ROW_HEIGHT + BAR_HEIGHT - 1.0
            );
        }
    }
}
