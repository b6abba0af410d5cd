//! The dependency graph: one node per committed or indeterminate transaction, one edge per
//! ordered pair that some evidence orders, carrying every kind of evidence found for that
//! pair (a bit per [`EdgeKind`]) and, per kind, the first reason, kept as a small typed
//! value and put into words only when a cycle is reported.

use super::anomaly::EdgeKind;
use super::micro_op::KeyId;

/// A set of edge kinds, one bit each.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct KindSet(pub u8);

impl KindSet {
    pub const fn of(kinds: &[EdgeKind]) -> KindSet {
        let mut bits = 0;
        let mut i = 0;
        while i < kinds.len() {
            bits |= 1 << (kinds[i] as u8);
            i += 1;
        }
        KindSet(bits)
    }

    pub fn contains(self, kind: EdgeKind) -> bool {
        self.0 & kind.bit() != 0
    }

    pub fn intersects(self, other: KindSet) -> bool {
        self.0 & other.0 != 0
    }

    pub fn union(self, other: KindSet) -> KindSet {
        KindSet(self.0 | other.0)
    }
}

/// Why one transaction precedes another, before it is put into words.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Why {
    /// list-append ww: `from` appended `prev`, and the next element of the key is `next`,
    /// appended by `to`.
    AppendedAfter { key: KeyId, prev: i64, next: i64 },
    /// list-append wr: `to` read the key up to `element`, which `from` appended.
    ReadAppend { key: KeyId, element: i64 },
    /// list-append rw: `from` read the key ending at `last` (empty for `None`); the next
    /// element, `next`, was appended by `to`.
    ReadWithout { key: KeyId, last: Option<i64>, next: i64 },
    /// rw-register ww: `from` wrote `read`, which `to` read before writing `wrote`.
    OverwroteRead { key: KeyId, read: i64, wrote: i64 },
    /// rw-register wr: `to` read `value`, written by `from`.
    ReadValue { key: KeyId, value: i64 },
    /// rw-register rw: `from` read `read` (unset for `None`), which `to` overwrote with
    /// `wrote`.
    ReadBeforeWrite { key: KeyId, read: Option<i64>, wrote: i64 },
    /// `from` completed before `to` was invoked.
    Realtime,
    /// `from` ran before `to` on this process.
    Process { process: u64 },
}

impl Why {
    /// The key the reason is about, if any.
    pub fn key(&self) -> Option<KeyId> {
        match *self {
            Why::AppendedAfter { key, .. }
            | Why::ReadAppend { key, .. }
            | Why::ReadWithout { key, .. }
            | Why::OverwroteRead { key, .. }
            | Why::ReadValue { key, .. }
            | Why::ReadBeforeWrite { key, .. } => Some(key),
            Why::Realtime | Why::Process { .. } => None,
        }
    }
}

/// One piece of evidence: `from` must precede `to` (positions in the parsed txns).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Dep {
    pub from: usize,
    pub to: usize,
    pub kind: EdgeKind,
    pub why: Why,
}

/// One edge out of a node: its target, its kinds, and where its reasons start.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Edge {
    pub to: u32,
    pub kinds: KindSet,
    /// Index of its first reason in [`DepGraph::whys`]; it has one per data kind present,
    /// in the order they were first found.
    whys: u32,
}

/// The kinds that carry a stored reason: real-time and process reasons are implied by the
/// kind and the transactions, so storing them would only spend memory.
const DATA: KindSet = KindSet::of(&[EdgeKind::Ww, EdgeKind::Wr, EdgeKind::Rw]);

/// The graph over transactions `0..n`, built once from every piece of evidence: edges in
/// one array grouped by source (compressed sparse rows), reasons in one side table.
///
/// A node's edges are in the reverse order in which their pairs were first found (the
/// order the search has always walked them, so the cycles it reports stay the same).
pub(crate) struct DepGraph {
    /// `edges[starts[v]..starts[v + 1]]` are the edges out of `v`.
    starts: Vec<usize>,
    edges: Vec<Edge>,
    whys: Vec<(EdgeKind, Why)>,
}

impl DepGraph {
    /// The graph over `nodes` transactions of `deps`, in the order they were found; a
    /// transaction depending on itself is not an edge. For each ordered pair the first
    /// reason per data kind is kept.
    pub fn build(nodes: usize, deps: Vec<Dep>) -> DepGraph {
        // Bucket the evidence by source, keeping the order it was found in: a counting
        // sort, linear, and without a hash lookup per piece of evidence.
        let mut starts = vec![0usize; nodes + 1];
        for dep in &deps {
            if dep.from != dep.to {
                starts[dep.from + 1] += 1;
            }
        }
        for v in 0..nodes {
            starts[v + 1] += starts[v];
        }
        let mut fill = starts.clone();
        let mut by_source = vec![0u32; starts[nodes]];
        for (i, dep) in deps.iter().enumerate() {
            if dep.from != dep.to {
                by_source[fill[dep.from]] = u32::try_from(i).expect("fewer than 2^32 dependencies");
                fill[dep.from] += 1;
            }
        }
        drop(fill);

        let mut edges = Vec::with_capacity(by_source.len());
        let mut whys = Vec::new();
        let mut out_starts = Vec::with_capacity(nodes + 1);
        out_starts.push(0);
        // One node's evidence as (target, position found), and its merged edges with the
        // position each pair was first found.
        let mut group: Vec<(u32, u32)> = Vec::new();
        let mut merged: Vec<(u32, Edge)> = Vec::new();
        for v in 0..nodes {
            group.clear();
            group
                .extend(by_source[starts[v]..starts[v + 1]].iter().map(|&i| (deps[i as usize].to as u32, i)));
            group.sort_unstable();
            merged.clear();
            let mut at = 0;
            while at < group.len() {
                let (to, first) = group[at];
                let whys_start = u32::try_from(whys.len()).expect("fewer than 2^32 reasons");
                let mut kinds = KindSet::default();
                while at < group.len() && group[at].0 == to {
                    let dep = &deps[group[at].1 as usize];
                    if !kinds.contains(dep.kind) {
                        kinds.0 |= dep.kind.bit();
                        if DATA.contains(dep.kind) {
                            whys.push((dep.kind, dep.why.clone()));
                        }
                    }
                    at += 1;
                }
                merged.push((first, Edge { to, kinds, whys: whys_start }));
            }
            merged.sort_unstable_by_key(|&(first, _)| std::cmp::Reverse(first));
            edges.extend(merged.iter().map(|&(_, e)| e));
            out_starts.push(edges.len());
        }
        DepGraph { starts: out_starts, edges, whys }
    }

    pub fn node_count(&self) -> usize {
        self.starts.len() - 1
    }

    pub fn edge_count(&self) -> usize {
        self.edges.len()
    }

    /// The edges out of `node`.
    pub fn out(&self, node: usize) -> &[Edge] {
        &self.edges[self.starts[node]..self.starts[node + 1]]
    }

    /// The edge from `a` to `b`, if any.
    pub fn edge(&self, a: usize, b: usize) -> Option<&Edge> {
        self.out(a).iter().find(|e| e.to as usize == b)
    }

    /// The first reason found for `kind` on `edge`, if that is a data kind it carries.
    pub fn why(&self, edge: &Edge, kind: EdgeKind) -> Option<&Why> {
        let count = (edge.kinds.0 & DATA.0).count_ones() as usize;
        let start = edge.whys as usize;
        self.whys[start..start + count].iter().find(|(k, _)| *k == kind).map(|(_, w)| w)
    }

    /// Successors of `node` over edges with a kind in `allowed`, with their kinds.
    pub fn successors(&self, node: usize, allowed: KindSet) -> impl Iterator<Item = (usize, KindSet)> + '_ {
        self.out(node).iter().filter(move |e| e.kinds.intersects(allowed)).map(|e| (e.to as usize, e.kinds))
    }

    /// Whether any edge has a kind in `kinds`.
    pub fn has_edge_of(&self, kinds: KindSet) -> bool {
        self.edges.iter().any(|e| e.kinds.intersects(kinds))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn evidence_for_one_pair_merges_into_one_edge_keeping_the_first_reason_per_kind() {
        let rt = |from, to| Dep { from, to, kind: EdgeKind::Realtime, why: Why::Realtime };
        let deps = vec![
            rt(0, 1),
            Dep { from: 0, to: 1, kind: EdgeKind::Ww, why: Why::AppendedAfter { key: 0, prev: 1, next: 2 } },
            Dep { from: 0, to: 1, kind: EdgeKind::Ww, why: Why::AppendedAfter { key: 1, prev: 5, next: 6 } },
            rt(2, 2),
        ];
        let g = DepGraph::build(3, deps);
        assert_eq!(g.edge_count(), 1);
        let edge = g.edge(0, 1).unwrap();
        assert_eq!(edge.kinds, KindSet::of(&[EdgeKind::Ww, EdgeKind::Realtime]));
        assert_eq!(g.why(edge, EdgeKind::Ww), Some(&Why::AppendedAfter { key: 0, prev: 1, next: 2 }));
        assert_eq!(g.why(edge, EdgeKind::Realtime), None);
        let ww = KindSet::of(&[EdgeKind::Ww]);
        assert_eq!(g.successors(0, ww).count(), 1);
        assert_eq!(g.successors(0, KindSet::of(&[EdgeKind::Rw])).count(), 0);
        assert!(g.has_edge_of(ww));
        assert!(!g.has_edge_of(KindSet::of(&[EdgeKind::Rw])));
    }

    #[test]
    fn a_node_walks_its_edges_newest_pair_first() {
        let ww = |from, to| Dep { from, to, kind: EdgeKind::Ww, why: Why::Realtime };
        let g = DepGraph::build(4, vec![ww(0, 2), ww(0, 1), ww(0, 2), ww(0, 3), ww(1, 0)]);
        let targets: Vec<usize> = g.out(0).iter().map(|e| e.to as usize).collect();
        assert_eq!(targets, vec![3, 1, 2]);
        assert_eq!(g.out(1).len(), 1);
        assert!(g.out(2).is_empty() && g.out(3).is_empty());
    }
}
