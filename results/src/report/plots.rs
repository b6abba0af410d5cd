//! Latency over time and throughput over time, with the fault windows shaded.
//!
//! Both are aggregated before drawing, so their size does not grow with the history:
//! latency per pixel column (the range of latencies of the acknowledged operations invoked
//! in that column, and their median as a line; log scale, since a timeout is a thousand
//! times a healthy op), throughput per time bucket (at most about [`MAX_BUCKETS`] of them,
//! each a round number of seconds).

use std::fmt::Write;

use super::data::{Drawing, Status};
use super::svg::{self, escape, nice_step, trim_number, TimeScale, LEFT, PLOT_WIDTH};

/// About the most throughput buckets.
pub const MAX_BUCKETS: f64 = 200.0;

/// Empty pixel columns the latency median line bridges.
const MEDIAN_GAP_COLUMNS: usize = 10;

const HEIGHT: f64 = 180.0;
const TOP: f64 = 10.0;

/// The latency plot's SVG, or `None` when no operation was acknowledged.
pub fn latency(drawing: &Drawing) -> Option<String> {
    let scale = TimeScale { end_ns: drawing.end_ns };
    let mut columns: Vec<Vec<f64>> = vec![Vec::new(); PLOT_WIDTH as usize];
    for op in drawing.ops.iter().filter(|op| op.status == Status::Ok) {
        if let Some(ns) = op.latency_ns() {
            columns[scale.column(op.start_ns)].push((ns as f64 / 1e6).max(0.001));
        }
    }
    let all = columns.iter().flatten().copied();
    let (min, max) = all.fold((f64::INFINITY, 0f64), |(lo, hi), v| (lo.min(v), hi.max(v)));
    if !min.is_finite() {
        return None;
    }
    let lo = 10f64.powf(min.log10().floor());
    let hi = 10f64.powf(max.log10().ceil()).max(lo * 10.0);
    let y = |ms: f64| TOP + HEIGHT - (ms.log10() - lo.log10()) / (hi.log10() - lo.log10()) * HEIGHT;
    let mut out = open("latency", drawing);
    let mut decade = lo;
    while decade <= hi * 1.0001 {
        let _ = write!(
            out,
            "<line class=\"grid\" x1=\"{LEFT}\" x2=\"{}\" y1=\"{:.1}\" y2=\"{:.1}\"/><text class=\"tick\" x=\"{}\" y=\"{:.1}\" text-anchor=\"end\">{} ms</text>",
            LEFT + PLOT_WIDTH,
            y(decade),
            y(decade),
            LEFT - 4,
            y(decade) + 3.0,
            trim_number(decade)
        );
        decade *= 10.0;
    }
    // The median line breaks after more than MEDIAN_GAP_COLUMNS empty columns (nothing
    // acknowledged), so it never draws a latency across a stretch where nothing completed.
    let mut median_lines: Vec<Vec<String>> = vec![Vec::new()];
    let mut empty_run = 0;
    for (c, values) in columns.iter_mut().enumerate() {
        if values.is_empty() {
            empty_run += 1;
            if empty_run == MEDIAN_GAP_COLUMNS + 1 && median_lines.last().is_some_and(|l| !l.is_empty()) {
                median_lines.push(Vec::new());
            }
            continue;
        }
        empty_run = 0;
        values.sort_by(f64::total_cmp);
        let x = LEFT as f64 + c as f64 + 0.5;
        let (first, last) = (values[0], values[values.len() - 1]);
        let _ = write!(
            out,
            "<line class=\"range\" x1=\"{x:.1}\" x2=\"{x:.1}\" y1=\"{:.1}\" y2=\"{:.1}\"/>",
            y(first),
            y(last) - 0.5
        );
        if let Some(line) = median_lines.last_mut() {
            line.push(format!("{x:.1},{:.1}", y(values[values.len() / 2])));
        }
    }
    for line in median_lines.iter().filter(|l| !l.is_empty()) {
        let _ = write!(out, "<polyline class=\"median\" points=\"{}\"/>", line.join(" "));
    }
    close(&mut out, scale);
    Some(out)
}

/// The throughput plot's SVG (completions per second by outcome), or `None` without ops.
pub fn throughput(drawing: &Drawing) -> Option<String> {
    if drawing.ops.is_empty() {
        return None;
    }
    let scale = TimeScale { end_ns: drawing.end_ns };
    let bucket_s = nice_step(drawing.end_ns as f64 / 1e9 / MAX_BUCKETS).max(0.001);
    let bucket_ns = (bucket_s * 1e9) as u64;
    let buckets = (drawing.end_ns / bucket_ns + 1) as usize;
    let mut counts = vec![[0u64; 3]; buckets];
    for op in &drawing.ops {
        if let Some(end) = op.end_ns {
            counts[(end / bucket_ns) as usize][op.status as usize] += 1;
        }
    }
    let peak = counts.iter().flat_map(|c| c.iter()).copied().max().unwrap_or(0).max(1) as f64 / bucket_s;
    let top = nice_step(peak / 4.0) * 4.0;
    let y = |rate: f64| TOP + HEIGHT - rate / top * HEIGHT;
    let mut out = open("throughput", drawing);
    for i in 0..=4 {
        let rate = top * i as f64 / 4.0;
        let _ = write!(
            out,
            "<line class=\"grid\" x1=\"{LEFT}\" x2=\"{}\" y1=\"{:.1}\" y2=\"{:.1}\"/><text class=\"tick\" x=\"{}\" y=\"{:.1}\" text-anchor=\"end\">{}/s</text>",
            LEFT + PLOT_WIDTH,
            y(rate),
            y(rate),
            LEFT - 4,
            y(rate) + 3.0,
            trim_number(rate)
        );
    }
    for status in [Status::Ok, Status::Fail, Status::Info] {
        let mut points = Vec::with_capacity(buckets * 2);
        for (b, count) in counts.iter().enumerate() {
            let rate = count[status as usize] as f64 / bucket_s;
            let x0 = scale.x(b as u64 * bucket_ns);
            let x1 = scale.x((b as u64 + 1) * bucket_ns);
            points.push(format!("{x0:.1},{:.1} {x1:.1},{:.1}", y(rate), y(rate)));
        }
        let _ = write!(
            out,
            "<polyline class=\"rate {}\" points=\"{}\"><title>{} per second, {} s buckets</title></polyline>",
            status.as_str(),
            points.join(" "),
            status.as_str(),
            escape(&trim_number(bucket_s))
        );
    }
    close(&mut out, scale);
    Some(out)
}

fn open(class: &str, drawing: &Drawing) -> String {
    let scale = TimeScale { end_ns: drawing.end_ns };
    let mut out = String::new();
    let height = TOP + HEIGHT + 22.0;
    let _ = write!(
        out,
        "<svg xmlns=\"http://www.w3.org/2000/svg\" class=\"plot {class}\" width=\"{}\" height=\"{height:.0}\" viewBox=\"0 0 {} {height:.0}\">",
        svg::total_width(),
        svg::total_width()
    );
    svg::fault_windows(&mut out, scale, &drawing.windows, TOP, HEIGHT);
    out
}

fn close(out: &mut String, scale: TimeScale) {
    svg::time_axis(out, scale, TOP + HEIGHT + 2.0);
    out.push_str("</svg>");
}
