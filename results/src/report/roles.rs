//! The role lane: one row per node, its claimed role and term over time as the status
//! poller saw them, drawn above the operation timeline on the same time scale and over the
//! same fault windows. A deposed leader shows as a leader bar of an old term overlapping a
//! leader bar of a newer one.
//!
//! Consecutive samples of a node with the same role and term merge into one segment, from
//! the first one's send to the next different sample's send; a segment is drawn only where
//! it is at least a pixel wide, and at most [`MAX_SEGMENTS`] are drawn in all.

use std::collections::BTreeMap;
use std::fmt::Write;

use super::data::Drawing;
use super::svg::{self, escape, TimeScale, LEFT};
use crate::roles::RoleSample;

/// The most role segments drawn; the rest are counted in a note.
pub const MAX_SEGMENTS: usize = 4000;

const ROW_HEIGHT: f64 = 16.0;
const BAR_HEIGHT: f64 = 12.0;
const TOP: f64 = 16.0;

/// One node holding one role in one term.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Segment {
    pub node: u32,
    pub role: String,
    pub leading: bool,
    pub term: u64,
    pub from_ns: u64,
    pub to_ns: u64,
}

/// The segments of every node, by node then time.
pub fn segments(samples: &[RoleSample]) -> Vec<Segment> {
    let mut by_node: BTreeMap<u32, Vec<&RoleSample>> = BTreeMap::new();
    for s in samples {
        by_node.entry(s.node).or_default().push(s);
    }
    let mut out = Vec::new();
    for (node, mut list) in by_node {
        list.sort_by_key(|s| (s.sent_ns, s.received_ns));
        let mut open: Option<Segment> = None;
        for s in list {
            match &mut open {
                Some(seg) if seg.role == s.role && seg.term == s.term => seg.to_ns = s.received_ns,
                _ => {
                    if let Some(mut seg) = open.take() {
                        seg.to_ns = seg.to_ns.max(s.sent_ns);
                        out.push(seg);
                    }
                    open = Some(Segment {
                        node,
                        role: s.role.clone(),
                        leading: s.leading,
                        term: s.term,
                        from_ns: s.sent_ns,
                        to_ns: s.received_ns,
                    });
                }
            }
        }
        out.extend(open);
    }
    out
}

/// The lane's SVG, or `None` when no node answered a status poll.
pub fn render(drawing: &Drawing, samples: &[RoleSample]) -> Option<String> {
    let segments = segments(samples);
    if segments.is_empty() {
        return None;
    }
    let end_ns = drawing.end_ns.max(segments.iter().map(|s| s.to_ns).max().unwrap_or(1));
    let scale = TimeScale { end_ns };
    let nodes: Vec<u32> = {
        let mut n: Vec<u32> = segments.iter().map(|s| s.node).collect();
        n.dedup();
        n
    };
    let height = TOP + nodes.len() as f64 * ROW_HEIGHT;
    let mut out = String::new();
    let _ = write!(
        out,
        "<svg xmlns=\"http://www.w3.org/2000/svg\" class=\"roles\" width=\"{w}\" height=\"{h:.0}\" viewBox=\"0 0 {w} {h:.0}\">",
        w = svg::total_width(),
        h = height + 22.0
    );
    svg::fault_windows(&mut out, scale, &drawing.windows, 0.0, height);
    for (row, node) in nodes.iter().enumerate() {
        let _ = write!(
            out,
            "<text class=\"rowlabel\" x=\"{}\" y=\"{:.1}\" text-anchor=\"end\">node {node}</text>",
            LEFT - 4,
            TOP + row as f64 * ROW_HEIGHT + BAR_HEIGHT - 2.0
        );
    }
    let mut drawn = 0;
    for seg in &segments {
        let row = nodes.iter().position(|&n| n == seg.node).expect("every segment's node has a row");
        let x0 = scale.x(seg.from_ns);
        let x1 = scale.x(seg.to_ns);
        if x1 - x0 < 1.0 && !seg.leading {
            continue;
        }
        if drawn == MAX_SEGMENTS {
            break;
        }
        drawn += 1;
        let y = TOP + row as f64 * ROW_HEIGHT;
        let class = match (seg.leading, seg.role.as_str()) {
            (true, _) => "lead",
            (false, "candidate") => "cand",
            _ => "follow",
        };
        let _ = write!(
            out,
            "<rect class=\"{class}\" x=\"{x0:.1}\" y=\"{y:.1}\" width=\"{:.1}\" height=\"{BAR_HEIGHT}\"><title>node {} {} term {} {:.2}s-{:.2}s</title></rect>",
            (x1 - x0).max(1.0),
            seg.node,
            escape(&seg.role),
            seg.term,
            seg.from_ns as f64 / 1e9,
            seg.to_ns as f64 / 1e9
        );
        if x1 - x0 > 24.0 {
            let _ = write!(
                out,
                "<text class=\"termlabel\" x=\"{:.1}\" y=\"{:.1}\">{} {}</text>",
                x0 + 2.0,
                y + BAR_HEIGHT - 3.0,
                escape(&seg.role),
                seg.term
            );
        }
    }
    svg::time_axis(&mut out, scale, height + 2.0);
    out.push_str("</svg>");
    if drawn < segments.len() && drawn == MAX_SEGMENTS {
        let _ = write!(out, "<p>{} more role segments not drawn.</p>", segments.len() - drawn);
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(node: u32, at: u64, role: &str, term: u64) -> RoleSample {
        let leading = role == "leader" || role == "primary";
        RoleSample { node, sent_ns: at, received_ns: at + 5, role: role.into(), leading, term }
    }

    #[test]
    fn samples_of_one_role_and_term_merge_into_segments() {
        let samples = [
            s(1, 0, "primary", 1),
            s(1, 100, "primary", 1),
            s(2, 0, "backup", 1),
            s(2, 100, "primary", 2),
            s(1, 200, "primary", 1),
        ];
        let segs = segments(&samples);
        assert_eq!(segs.len(), 3);
        assert_eq!((segs[0].node, segs[0].from_ns, segs[0].to_ns), (1, 0, 205));
        assert_eq!((segs[1].role.as_str(), segs[1].to_ns), ("backup", 100));
        assert_eq!((segs[2].term, segs[2].leading), (2, true));
    }

    #[test]
    fn the_lane_draws_a_row_per_node_and_nothing_without_samples() {
        let drawing = Drawing { end_ns: 1_000, ..Drawing::default() };
        assert!(render(&drawing, &[]).is_none());
        let svg = render(&drawing, &[s(1, 0, "leader", 3), s(2, 0, "follower", 3), s(1, 900, "leader", 3)])
            .expect("a lane");
        assert!(svg.contains("node 1") && svg.contains("node 2"), "{svg}");
        assert!(svg.contains("class=\"lead\"") && svg.contains("leader term 3"), "{svg}");
    }
}
