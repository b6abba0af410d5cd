//! An isolation anomaly drawn: its transactions as boxes (name and micro-ops) on a circle,
//! its dependency edges as labelled arrows (`ww`, `wr`, `rw`, `rt`, `process`, with the
//! key), and beside it the checker's explanation.
//!
//! A person reading a cycle wants to follow it round: the boxes stand in cycle order
//! clockwise from the top, so each edge of the cycle is a short arrow to the next box.
//! Two edges between the same pair (both directions in a two-transaction cycle) bend to
//! opposite sides instead of overlapping. A limit on everything: at most
//! [`MAX_BOXES`] transactions and [`MAX_LINES`] micro-ops per box are drawn, the rest
//! counted; text is cut at [`MAX_CHARS`].

use std::f64::consts::PI;
use std::fmt::Write;

use checkers::txn::{Anomaly, TxnSummary};
use serde_json::Value;

use super::svg::escape;

/// Most transactions drawn in one cycle.
pub const MAX_BOXES: usize = 12;
/// Most micro-op lines in one box.
pub const MAX_LINES: usize = 6;
/// Most characters on one line of a box.
pub const MAX_CHARS: usize = 28;

const BOX_WIDTH: f64 = 190.0;
const LINE_HEIGHT: f64 = 14.0;
const MARGIN: f64 = 24.0;

/// The drawing of one anomaly's cycle (`id` makes its arrowhead marker unique on the
/// page); `None` for an anomaly without a cycle (an aborted read, an internal one).
pub fn render(anomaly: &Anomaly, id: usize) -> Option<String> {
    if anomaly.cycle.is_empty() || anomaly.transactions.is_empty() {
        return None;
    }
    let boxes: Vec<Box> = anomaly.transactions.iter().take(MAX_BOXES).map(Box::of).collect();
    let n = boxes.len();
    let tallest = boxes.iter().map(|b| b.height).fold(0.0, f64::max);
    // A circle wide enough that neighbouring boxes do not touch.
    let radius = if n == 1 { 0.0 } else { ((BOX_WIDTH + 70.0) * n as f64 / (2.0 * PI)).max(130.0) };
    let width = 2.0 * (radius + BOX_WIDTH / 2.0 + MARGIN);
    let height = 2.0 * (radius + tallest / 2.0 + MARGIN);
    let (cx, cy) = (width / 2.0, height / 2.0);
    let centre = |i: usize| {
        let angle = -PI / 2.0 + 2.0 * PI * i as f64 / n as f64;
        (cx + radius * angle.cos(), cy + radius * angle.sin())
    };
    let mut out = String::new();
    let _ = write!(
        out,
        "<svg class=\"cycle\" width=\"{width:.0}\" height=\"{height:.0}\" viewBox=\"0 0 {width:.0} {height:.0}\" xmlns=\"http://www.w3.org/2000/svg\"><defs><marker id=\"arrow{id}\" viewBox=\"0 0 10 10\" refX=\"10\" refY=\"5\" markerWidth=\"7\" markerHeight=\"7\" orient=\"auto-start-reverse\"><path d=\"M0,0 L10,5 L0,10 z\" class=\"arrowhead\"/></marker></defs>"
    );
    for (i, b) in boxes.iter().enumerate() {
        let (x, y) = centre(i);
        b.draw(&mut out, x - BOX_WIDTH / 2.0, y - b.height / 2.0);
    }
    for edge in &anomaly.cycle {
        let (Some(from), Some(to)) = (boxes.get(edge.from), boxes.get(edge.to)) else { continue };
        let (a, b) = (centre(edge.from), centre(edge.to));
        // Bend every edge to its right: the two directions between a pair part ways.
        let (dx, dy) = (b.0 - a.0, b.1 - a.1);
        let length = (dx * dx + dy * dy).sqrt().max(1.0);
        let bend = if edge.from == edge.to { 0.0 } else { 0.18 * length.max(60.0) };
        let control = ((a.0 + b.0) / 2.0 - dy / length * bend, (a.1 + b.1) / 2.0 + dx / length * bend);
        let start = border_point(a, control, from.height);
        let end = border_point(b, control, to.height);
        let label = match &edge.key {
            Some(key) => format!("{} {}", edge.kind.as_str(), clip(key)),
            None => edge.kind.as_str().to_string(),
        };
        let _ = write!(
            out,
            "<path class=\"edge {}\" d=\"M{:.1},{:.1} Q{:.1},{:.1} {:.1},{:.1}\" marker-end=\"url(#arrow{id})\"><title>{}</title></path>",
            edge.kind.as_str(),
            start.0,
            start.1,
            control.0,
            control.1,
            end.0,
            end.1,
            escape(&edge.why)
        );
        // The label at the curve's middle (a quadratic's point at t = 1/2).
        let mid = (
            0.25 * start.0 + 0.5 * control.0 + 0.25 * end.0,
            0.25 * start.1 + 0.5 * control.1 + 0.25 * end.1,
        );
        let _ = write!(
            out,
            "<text class=\"edgelabel\" x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\">{}</text>",
            mid.0,
            mid.1 - 3.0,
            escape(&label)
        );
    }
    out.push_str("</svg>");
    Some(out)
}

/// One transaction's box: its name over its micro-ops, one a line.
struct Box {
    title: String,
    lines: Vec<String>,
    height: f64,
}

impl Box {
    fn of(txn: &TxnSummary) -> Box {
        let ops: Vec<String> = match &txn.value {
            Value::Array(ops) => ops.iter().map(micro_op).collect(),
            other => vec![other.to_string()],
        };
        let mut lines: Vec<String> = ops.iter().take(MAX_LINES).map(|l| clip(l)).collect();
        if ops.len() > MAX_LINES {
            lines.push(format!("... {} more", ops.len() - MAX_LINES));
        }
        let title = clip(&format!("{} (process {})", txn.name, txn.process));
        let height = LINE_HEIGHT * (lines.len() + 1) as f64 + 10.0;
        Box { title, lines, height }
    }

    fn draw(&self, out: &mut String, x: f64, y: f64) {
        let _ = write!(
            out,
            "<rect class=\"txn\" x=\"{x:.1}\" y=\"{y:.1}\" width=\"{BOX_WIDTH:.0}\" height=\"{:.1}\" rx=\"4\"/><text class=\"txnname\" x=\"{:.1}\" y=\"{:.1}\">{}</text>",
            self.height,
            x + 6.0,
            y + LINE_HEIGHT + 1.0,
            escape(&self.title)
        );
        for (i, line) in self.lines.iter().enumerate() {
            let _ = write!(
                out,
                "<text class=\"microop\" x=\"{:.1}\" y=\"{:.1}\">{}</text>",
                x + 6.0,
                y + LINE_HEIGHT * (i + 2) as f64 + 1.0,
                escape(line)
            );
        }
    }
}

/// `["append", "x", 3]` as `append x 3`, `["r", "y", [1, 2]]` as `r y [1,2]`.
fn micro_op(op: &Value) -> String {
    match op {
        Value::Array(parts) => parts
            .iter()
            .map(|p| match p {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            })
            .collect::<Vec<_>>()
            .join(" "),
        other => other.to_string(),
    }
}

/// At most [`MAX_CHARS`] characters, an ellipsis marking a cut.
fn clip(text: &str) -> String {
    if text.chars().count() <= MAX_CHARS {
        return text.to_string();
    }
    let mut cut: String = text.chars().take(MAX_CHARS - 1).collect();
    cut.push('…');
    cut
}

/// Where the line from a box's centre towards `toward` leaves the box.
fn border_point(centre: (f64, f64), toward: (f64, f64), box_height: f64) -> (f64, f64) {
    let (dx, dy) = (toward.0 - centre.0, toward.1 - centre.1);
    if dx == 0.0 && dy == 0.0 {
        return centre;
    }
    let (half_w, half_h) = (BOX_WIDTH / 2.0 + 2.0, box_height / 2.0 + 2.0);
    let t = (half_w / dx.abs()).min(half_h / dy.abs());
    (centre.0 + t * dx, centre.1 + t * dy)
}

#[cfg(test)]
mod tests {
    use super::*;
    use checkers::txn::{AnomalyKind, CycleEdge, EdgeKind};
    use checkers::Process;
    use serde_json::json;

    fn txn(name: &str, index: usize, value: Value) -> TxnSummary {
        TxnSummary { name: name.into(), index, process: Process::Client(index as u64), value }
    }

    fn edge(from: usize, to: usize, kind: EdgeKind, key: Option<&str>) -> CycleEdge {
        CycleEdge { from, to, kind, key: key.map(str::to_string), why: format!("{from} before {to} <&>") }
    }

    /// A lost update: both read x as [1], both appended; T2's append came after T1's.
    fn lost_update() -> Anomaly {
        Anomaly {
            kind: AnomalyKind::GSingle,
            explanation: "T2 read x without T1's append of 2, which precedes T2's append of 3".into(),
            transactions: vec![
                txn("T1", 1, json!([["r", "x", [1]], ["append", "x", 2]])),
                txn("T2", 2, json!([["r", "x", [1]], ["append", "x", 3]])),
            ],
            cycle: vec![edge(0, 1, EdgeKind::Ww, Some("x")), edge(1, 0, EdgeKind::Rw, Some("x"))],
        }
    }

    #[test]
    fn a_cycle_draws_its_transactions_as_boxes_and_its_edges_as_labelled_arrows() {
        let svg = render(&lost_update(), 3).expect("a cycle is drawn");
        assert_eq!(svg.matches("<rect class=\"txn\"").count(), 2);
        assert!(svg.contains(">T1 (process 1)<") && svg.contains(">T2 (process 2)<"), "{svg}");
        assert!(svg.contains(">r x [1]<") && svg.contains(">append x 3<"), "micro-ops in the boxes: {svg}");
        assert!(svg.contains("class=\"edge ww\"") && svg.contains("class=\"edge rw\""), "{svg}");
        assert!(svg.contains(">ww x<") && svg.contains(">rw x<"), "edges labelled with kind and key: {svg}");
        assert!(svg.contains("marker-end=\"url(#arrow3)\"") && svg.contains("id=\"arrow3\""));
        assert!(svg.contains("&lt;&amp;&gt;") && !svg.contains("<&>"), "text from the run is escaped");
        // The two edges between one pair bend apart instead of overlapping.
        let paths: Vec<&str> = svg.split("<path class=\"edge").skip(1).collect();
        assert_eq!(paths.len(), 2);
        assert_ne!(paths[0].split('Q').nth(1), paths[1].split('Q').nth(1));
    }

    #[test]
    fn no_cycle_no_drawing_and_a_long_cycle_is_cut_to_the_limit() {
        let mut single = lost_update();
        single.kind = AnomalyKind::G1a;
        single.cycle.clear();
        assert_eq!(render(&single, 0), None);
        let n = MAX_BOXES + 8;
        let long = Anomaly {
            kind: AnomalyKind::G2Item,
            explanation: String::new(),
            transactions: (0..n).map(|i| txn(&format!("T{i}"), i, json!([["append", "k", i]]))).collect(),
            cycle: (0..n).map(|i| edge(i, (i + 1) % n, EdgeKind::Rw, Some("k"))).collect(),
        };
        let svg = render(&long, 0).unwrap();
        assert_eq!(svg.matches("<rect class=\"txn\"").count(), MAX_BOXES);
        assert_eq!(
            svg.matches("<path class=\"edge").count(),
            MAX_BOXES - 1,
            "edges between drawn boxes only"
        );
        let many = txn("T0", 0, json!((0..20).map(|i| json!(["append", "k", i])).collect::<Vec<_>>()));
        assert_eq!(Box::of(&many).lines.len(), MAX_LINES + 1);
        assert!(Box::of(&many).lines.last().unwrap().contains("14 more"));
    }
}
