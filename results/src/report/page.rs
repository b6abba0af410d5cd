//! The HTML page: sections in the order a person asks their questions. Did it pass, and
//! why not? What happened when? How fast, and what did the faults do to it? How much did
//! the nodes talk? Where are their logs?
//!
//! Every section has a fixed `id` (`verdicts`, `counterexample`, `isolation`, `deposed`, `roles`,
//! `timeline`, `latency`,
//! `throughput`, `faults`, `network`, `logs`, `run`) so links and tests can find it. All text
//! from the run is escaped; there is no script and no external resource.

use std::fmt::Write;

use serde_json::Value;

use super::data::{Drawing, ReportInput};
use super::svg::escape;
use super::{cycle, plots, roles, timeline};
use checkers::{CheckDetails, CheckName};

const STYLE: &str = "body{font-family:system-ui,sans-serif;margin:1.5em;color:#222}
h1{font-size:1.4em}h2{font-size:1.15em;margin-top:1.6em;border-bottom:1px solid #ddd}
table{border-collapse:collapse}td,th{padding:2px 8px;border-bottom:1px solid #eee;text-align:left}
td.n{text-align:right;font-variant-numeric:tabular-nums}
.v-valid{color:#fff;background:#2a8a2a}.v-invalid{color:#fff;background:#c62828}.v-unknown{color:#222;background:#f0b400}
.badge{padding:1px 8px;border-radius:4px;font-weight:600}
pre{background:#f6f6f6;padding:8px;overflow-x:auto}
svg{display:block;margin:4px 0}
svg .ok{fill:#3a9a3a}svg .fail{fill:#d33}svg .info{fill:#e8900c}
svg .fault{fill:#888;fill-opacity:.16}svg .noeffect{fill-opacity:.06}
svg .failing{stroke:#8000c0;stroke-width:3}svg .concurrent{stroke:#0050c0;stroke-width:2}
svg .failmark{font-size:10px;fill:#8000c0;font-weight:600}
svg .faultlabel{font-size:9px;fill:#555}svg .rowlabel,svg .tick{font-size:9px;fill:#444}
svg .lead{fill:#5a2ca0}svg .cand{fill:#e8b040}svg .follow{fill:#b8c4d0}svg .termlabel{font-size:9px;fill:#fff}
svg .axis{stroke:#444}svg .grid{stroke:#ddd}
svg .range{stroke:#3a9a3a;stroke-opacity:.45}svg .median{fill:none;stroke:#205020;stroke-width:1.2}
svg .rate{fill:none;stroke-width:1.3}svg .rate.ok{stroke:#3a9a3a}svg .rate.fail{stroke:#d33}svg .rate.info{stroke:#e8900c}
.legend span{display:inline-block;width:12px;height:10px;margin:0 3px 0 10px;vertical-align:middle}
.problems{color:#a00}
svg .txn{fill:#fafafa;stroke:#555}svg .txnname{font-size:11px;font-weight:600;fill:#222}svg .microop{font-size:10px;font-family:monospace;fill:#333}
svg .edge{fill:none;stroke:#444;stroke-width:1.4}svg .edge.rw{stroke:#c62828;stroke-dasharray:5 3}svg .edge.rt{stroke:#0050c0}svg .edge.process{stroke:#0050c0;stroke-dasharray:2 2}
svg .arrowhead{fill:#444}svg .edgelabel{font-size:10px;font-weight:600;fill:#222;paint-order:stroke;stroke:#fff;stroke-width:3px}";

/// Most anomalies drawn on the page; the counts cover them all.
const MAX_ANOMALIES_DRAWN: usize = 20;

/// The whole page.
pub fn render(input: &ReportInput) -> String {
    let drawing = Drawing::of(input);
    let mut out = String::with_capacity(64 * 1024);
    let title = input.info.as_ref().map(|i| i.test.clone()).unwrap_or_else(|| "faultline run".into());
    let verdict = input.results.as_ref().map(|r| r.valid.as_str()).unwrap_or("unknown");
    let _ = write!(
        out,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>{} — {verdict}</title><style>{STYLE}</style></head><body>\n",
        escape(&title)
    );
    let _ = writeln!(out, "<h1>{} <span class=\"badge v-{verdict}\">{verdict}</span></h1>", escape(&title));
    if !input.problems.is_empty() {
        out.push_str("<ul class=\"problems\">");
        for p in &input.problems {
            let _ = write!(out, "<li>{}</li>", escape(p));
        }
        out.push_str("</ul>\n");
    }
    verdicts(&mut out, input);
    counterexample(&mut out, &drawing);
    isolation(&mut out, input);
    deposed(&mut out, input);
    roles_section(&mut out, input, &drawing);
    timeline_section(&mut out, &drawing);
    plot_sections(&mut out, &drawing);
    faults(&mut out, &drawing);
    network(&mut out, input);
    logs(&mut out, input);
    run_section(&mut out, input);
    out.push_str("</body></html>\n");
    out
}

fn verdicts(out: &mut String, input: &ReportInput) {
    out.push_str("<h2 id=\"verdicts\">Verdicts</h2>\n");
    let Some(results) = &input.results else {
        out.push_str("<p>Not checked: no results.json.</p>\n");
        return;
    };
    if !results.reasons.is_empty() {
        out.push_str("<ul class=\"reasons\">");
        for reason in &results.reasons {
            let _ = write!(out, "<li>{}</li>", escape(reason));
        }
        out.push_str("</ul>\n");
    }
    out.push_str("<table><tr><th>check</th><th>verdict</th><th>summary</th></tr>");
    for (name, check) in &results.checks {
        let v = check.verdict.as_str();
        let _ = write!(
            out,
            "<tr><td>{}</td><td><span class=\"badge v-{v}\">{v}</span></td><td>{}</td></tr>",
            escape(name.as_str()),
            escape(&check.summary)
        );
    }
    out.push_str("</table>\n");
    if !results.reproduce.is_empty() {
        let _ = writeln!(out, "<p>Reproduce: <code>{}</code></p>", escape(&results.reproduce));
    }
}

fn counterexample(out: &mut String, drawing: &Drawing) {
    if drawing.highlights.is_empty() {
        return;
    }
    out.push_str("<h2 id=\"counterexample\">Counterexample</h2>\n<p>Outlined on the timeline: the operation that cannot be linearized (purple) and the operations concurrent with it (blue).</p>\n");
    for h in &drawing.highlights {
        let _ = write!(out, "<h3>{}</h3><pre>", escape(h.check.as_str()));
        for line in &h.lines {
            out.push_str(&escape(line));
            out.push('\n');
        }
        out.push_str("</pre>\n");
    }
}

/// The isolation check's anomalies: their counts by type, then each one's cycle drawn,
/// its edges and its explanation.
fn isolation(out: &mut String, input: &ReportInput) {
    let Some(CheckDetails::Isolation(report)) = input
        .results
        .as_ref()
        .and_then(|r| r.check(CheckName::Isolation))
        .filter(|c| c.verdict != checkers::Verdict::Valid)
        .and_then(|c| c.details.as_ref())
    else {
        return;
    };
    out.push_str("<h2 id=\"isolation\">Isolation anomalies</h2>\n");
    let _ = writeln!(
        out,
        "<p>{} transactions held to {} ({} model).</p>",
        report.transactions,
        escape(&report.consistency.to_string()),
        escape(&report.model.to_string())
    );
    if let Some(reason) = &report.reason {
        let _ = writeln!(out, "<p>{}</p>", escape(reason));
    }
    if !report.anomaly_counts.is_empty() {
        out.push_str("<table class=\"anomalies\"><tr><th>anomaly</th><th>count</th></tr>");
        for (kind, count) in &report.anomaly_counts {
            let _ =
                write!(out, "<tr><td>{}</td><td class=\"n\">{count}</td></tr>", escape(&kind.to_string()));
        }
        out.push_str("</table>\n");
    }
    out.push_str("<p class=\"legend\">Transactions as boxes, dependencies as arrows: ww (wrote over), wr (read what the other wrote), <span style=\"background:#c62828\"></span>rw (read a version the other overwrote), <span style=\"background:#0050c0\"></span>rt (finished before the other began); hover an arrow for why.</p>\n");
    for (i, anomaly) in report.anomalies.iter().take(MAX_ANOMALIES_DRAWN).enumerate() {
        let _ = writeln!(out, "<h3 class=\"anomaly\">{}</h3>", escape(&anomaly.kind.to_string()));
        let _ = writeln!(out, "<p>{}</p>", escape(&anomaly.explanation));
        if let Some(svg) = cycle::render(anomaly, i) {
            out.push_str(&svg);
            out.push('\n');
        }
        if !anomaly.cycle.is_empty() {
            out.push_str("<ul class=\"edges\">");
            for edge in &anomaly.cycle {
                let name = |at: usize| anomaly.transactions.get(at).map_or("?", |t| t.name.as_str());
                let _ = write!(
                    out,
                    "<li>{} &rarr; {} <b>{}</b>{}: {}</li>",
                    escape(name(edge.from)),
                    escape(name(edge.to)),
                    edge.kind.as_str(),
                    edge.key.as_deref().map(|k| format!(" on {}", escape(k))).unwrap_or_default(),
                    escape(&edge.why)
                );
            }
            out.push_str("</ul>\n");
        }
    }
    if report.anomalies.len() > MAX_ANOMALIES_DRAWN {
        let _ =
            writeln!(out, "<p>... and {} more examples</p>", report.anomalies.len() - MAX_ANOMALIES_DRAWN);
    }
    let _ = writeln!(
        out,
        "<details><summary>as text</summary><pre>{}</pre></details>",
        escape(&report.render_text())
    );
}

/// The deposed-leader check's overlapping claims and offending writes.
fn deposed(out: &mut String, input: &ReportInput) {
    let Some(CheckDetails::DeposedLeader(report)) = input
        .results
        .as_ref()
        .and_then(|r| r.check(CheckName::DeposedLeader))
        .filter(|c| c.verdict == checkers::Verdict::Invalid)
        .and_then(|c| c.details.as_ref())
    else {
        return;
    };
    out.push_str("<h2 id=\"deposed\">Deposed leader</h2>\n");
    let _ = writeln!(out, "<p>{}</p>", escape(&report.summary()));
    out.push_str("<table><tr><th>deposed node</th><th>its term</th><th>claimed</th><th>newer node</th><th>newer term</th><th>from</th><th>writes</th></tr>");
    for p in &report.overlapping_claims {
        let _ = write!(
            out,
            "<tr><td class=\"n\">{}</td><td class=\"n\">{}</td><td>{:.3}s-{:.3}s</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td>{:.3}s</td><td class=\"n\">{}</td></tr>",
            p.old.node,
            p.old.term,
            p.old.from_ns as f64 / 1e9,
            p.old.to_ns as f64 / 1e9,
            p.newer.node,
            p.newer.term,
            p.newer.from_ns as f64 / 1e9,
            p.writes
        );
    }
    out.push_str("</table>\n<pre>");
    for w in &report.examples {
        let _ = writeln!(
            out,
            "event {}: process {} {} {} ok at node {} (term {}) in [{:.3}s, {:.3}s]",
            w.invoke_index,
            w.process,
            escape(&w.f),
            escape(w.key.as_deref().unwrap_or("-")),
            w.served_by.node,
            w.served_by.term,
            w.invoke_ns as f64 / 1e9,
            w.complete_ns as f64 / 1e9
        );
    }
    if report.deposed_writes > report.examples.len() {
        let _ = writeln!(out, "... and {} more", report.deposed_writes - report.examples.len());
    }
    out.push_str("</pre>\n");
}

fn roles_section(out: &mut String, input: &ReportInput, drawing: &Drawing) {
    let Some(svg) = roles::render(drawing, &input.roles) else { return };
    out.push_str("<h2 id=\"roles\">Roles</h2>\n<p class=\"legend\"><span style=\"background:#5a2ca0\"></span>leading (leader, primary, coordinator)<span style=\"background:#e8b040\"></span>candidate<span style=\"background:#b8c4d0\"></span>following<span style=\"background:#ccc\"></span>fault in force; hover a bar for its term</p>\n");
    out.push_str(&svg);
    out.push('\n');
}

fn timeline_section(out: &mut String, drawing: &Drawing) {
    out.push_str("<h2 id=\"timeline\">Timeline</h2>\n<p class=\"legend\"><span style=\"background:#3a9a3a\"></span>ok<span style=\"background:#d33\"></span>fail<span style=\"background:#e8900c\"></span>info (may have happened)<span style=\"background:#ccc\"></span>fault in force</p>\n");
    if drawing.ops.is_empty() {
        out.push_str("<p>No operations were recorded.</p>\n");
        return;
    }
    if timeline::is_aggregated(drawing) {
        let _ = writeln!(
            out,
            "<p>{} operations: aggregated per pixel column (each column shows the worst outcome covering it: info, then fail, then ok).</p>",
            drawing.ops.len()
        );
    } else {
        let _ = writeln!(out, "<p>{} operations; hover a bar for the operation.</p>", drawing.ops.len());
    }
    out.push_str(&timeline::render(drawing));
    out.push('\n');
}

fn plot_sections(out: &mut String, drawing: &Drawing) {
    out.push_str("<h2 id=\"latency\">Latency over time</h2>\n<p>Acknowledged operations by invocation time: the range per pixel column and the median line (log scale).</p>\n");
    match plots::latency(drawing) {
        Some(svg) => out.push_str(&svg),
        None => out.push_str("<p>No operation was acknowledged.</p>"),
    }
    out.push_str("\n<h2 id=\"throughput\">Throughput over time</h2>\n<p class=\"legend\">Completions per second: <span style=\"background:#3a9a3a\"></span>ok<span style=\"background:#d33\"></span>fail<span style=\"background:#e8900c\"></span>info</p>\n");
    match plots::throughput(drawing) {
        Some(svg) => out.push_str(&svg),
        None => out.push_str("<p>No operations were recorded.</p>"),
    }
    out.push('\n');
}

fn faults(out: &mut String, drawing: &Drawing) {
    out.push_str("<h2 id=\"faults\">Faults</h2>\n");
    if drawing.windows.is_empty() {
        out.push_str("<p>No fault was in force during the run.</p>\n");
    } else {
        out.push_str(
            "<table class=\"windows\"><tr><th>fault</th><th>from</th><th>to</th><th>took effect</th></tr>",
        );
        for w in &drawing.windows {
            let end = w.end_ns.map(|e| format!("{:.2} s", e as f64 / 1e9)).unwrap_or("end".into());
            let _ = write!(
                out,
                "<tr><td>{}</td><td class=\"n\">{:.2} s</td><td class=\"n\">{end}</td><td>{}</td></tr>",
                escape(&w.name),
                w.start_ns as f64 / 1e9,
                if w.took_effect { "yes" } else { "no" }
            );
        }
        out.push_str("</table>\n");
    }
    if !drawing.nemesis.is_empty() {
        out.push_str("<details><summary>nemesis events</summary><table>");
        for (time, f, took_effect, error) in &drawing.nemesis {
            let _ = write!(
                out,
                "<tr><td class=\"n\">{:.3} s</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                *time as f64 / 1e9,
                escape(f),
                if *took_effect { "" } else { "no effect" },
                escape(error.as_deref().unwrap_or(""))
            );
        }
        out.push_str("</table></details>\n");
    }
}

fn network(out: &mut String, input: &ReportInput) {
    // `unit` is absent in runs recorded before it existed: those were the proxy's frames.
    let unit = input.net.as_ref().and_then(|n| n.get("unit")).and_then(Value::as_str).unwrap_or("frames");
    if unit == "packets" {
        out.push_str("<h2 id=\"network\">Packets per link</h2>\n");
        out.push_str("<p>Counted by nftables in each receiving node's namespace (IP packets, not protocol messages).</p>\n");
    } else {
        out.push_str("<h2 id=\"network\">Messages per link</h2>\n");
    }
    let Some(links) = input.net.as_ref().and_then(|n| n.get("links")).and_then(Value::as_object) else {
        out.push_str("<p>No net.json: the proxy's counts were not recorded.</p>\n");
        return;
    };
    let columns = ["frames", "delivered", "dropped", "delayed", "duplicated", "bytes", "connections"];
    out.push_str("<table class=\"net\"><tr><th>link</th>");
    for c in columns {
        let _ = write!(out, "<th>{c}</th>");
    }
    out.push_str("</tr>");
    // serde_json's map without `preserve_order` is sorted by key.
    let total = input.net.as_ref().and_then(|n| n.get("total"));
    for (name, stats) in links.iter().map(|(k, v)| (k.as_str(), v)).chain(total.map(|t| ("total", t))) {
        let _ = write!(out, "<tr><td>{}</td>", escape(name));
        for c in columns {
            let v = stats.get(c).and_then(Value::as_u64).map(|v| v.to_string()).unwrap_or_default();
            let _ = write!(out, "<td class=\"n\">{v}</td>");
        }
        out.push_str("</tr>");
    }
    out.push_str("</table>\n");
}

fn logs(out: &mut String, input: &ReportInput) {
    out.push_str("<h2 id=\"logs\">Node logs</h2>\n");
    if input.logs.is_empty() {
        out.push_str("<p>No node logs.</p>\n");
        return;
    }
    out.push_str("<ul>");
    for name in &input.logs {
        let _ = write!(out, "<li><a href=\"nodes/{}\">nodes/{}</a></li>", escape(name), escape(name));
    }
    out.push_str("</ul>\n");
}

fn run_section(out: &mut String, input: &ReportInput) {
    out.push_str("<h2 id=\"run\">Run</h2>\n");
    let Some(info) = &input.info else {
        out.push_str("<p>No run.json.</p>\n");
        return;
    };
    let _ = writeln!(
        out,
        "<table><tr><td>test</td><td>{}</td></tr><tr><td>model</td><td>{}</td></tr><tr><td>seed</td><td>{}</td></tr><tr><td>started</td><td>{}</td></tr><tr><td>command</td><td><code>{}</code></td></tr></table>",
        escape(&info.test),
        escape(&info.model),
        info.seed,
        escape(&info.started),
        escape(&info.command.join(" "))
    );
    let spec = serde_json::to_string_pretty(&info.spec).unwrap_or_default();
    let _ = writeln!(out, "<details><summary>spec</summary><pre>{}</pre></details>", escape(&spec));
}
