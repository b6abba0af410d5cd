//! The dependency graph: one node per committed or indeterminate transaction, one edge per
//! ordered pair that some evidence orders, carrying every kind of evidence found for that
//! pair (a bit per [`EdgeKind`]) and, per kind, the first reason, kept as a small typed
//! value and put into words only when a cycle is reported.

use std::collections::HashMap;

use petgraph::graph::{DiGraph, EdgeIndex, NodeIndex};
use petgraph::visit::EdgeRef;

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

/// What one edge carries.
#[derive(Debug, Clone, Default)]
pub(crate) struct EdgeData {
    pub kinds: KindSet,
    /// The first reason found for each data kind present (ww, wr, rw).
    pub whys: Vec<(EdgeKind, Why)>,
}

impl EdgeData {
    pub fn why(&self, kind: EdgeKind) -> Option<&Why> {
        self.whys.iter().find(|(k, _)| *k == kind).map(|(_, w)| w)
    }
}

/// The graph over transactions `0..n`.
pub(crate) struct DepGraph {
    pub graph: DiGraph<(), EdgeData, u32>,
    edges: HashMap<(u32, u32), EdgeIndex<u32>>,
}

impl DepGraph {
    pub fn new(nodes: usize) -> DepGraph {
        let mut graph = DiGraph::with_capacity(nodes, nodes * 2);
        for _ in 0..nodes {
            graph.add_node(());
        }
        DepGraph { graph, edges: HashMap::new() }
    }

    /// Add one piece of evidence; a transaction depending on itself is not an edge.
    pub fn add(&mut self, dep: Dep) {
        if dep.from == dep.to {
            return;
        }
        let (a, b) = (dep.from as u32, dep.to as u32);
        let graph = &mut self.graph;
        let index = *self.edges.entry((a, b)).or_insert_with(|| {
            graph.add_edge(NodeIndex::new(dep.from), NodeIndex::new(dep.to), EdgeData::default())
        });
        let data = &mut self.graph[index];
        if !data.kinds.contains(dep.kind) {
            data.kinds.0 |= dep.kind.bit();
            // Real-time and process reasons are implied by the kind and the transactions:
            // not storing them spares an allocation on most edges of a long history.
            if !matches!(dep.kind, EdgeKind::Realtime | EdgeKind::Process) {
                data.whys.push((dep.kind, dep.why));
            }
        }
    }

    pub fn node_count(&self) -> usize {
        self.graph.node_count()
    }

    pub fn edge_count(&self) -> usize {
        self.graph.edge_count()
    }

    /// The edge from `a` to `b`, if any.
    pub fn edge(&self, a: usize, b: usize) -> Option<&EdgeData> {
        self.edges.get(&(a as u32, b as u32)).map(|&i| &self.graph[i])
    }

    /// Successors of `node` over edges with a kind in `allowed`, with their kinds.
    pub fn successors(&self, node: usize, allowed: KindSet) -> impl Iterator<Item = (usize, KindSet)> + '_ {
        self.graph
            .edges(NodeIndex::new(node))
            .filter(move |e| e.weight().kinds.intersects(allowed))
            .map(|e| (e.target().index(), e.weight().kinds))
    }

    /// Every edge with a kind in `kinds`, as (from, to, kinds).
    pub fn edges_of(&self, kinds: KindSet) -> impl Iterator<Item = (usize, usize, KindSet)> + '_ {
        self.graph
            .edge_references()
            .filter(move |e| e.weight().kinds.intersects(kinds))
            .map(|e| (e.source().index(), e.target().index(), e.weight().kinds))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn evidence_for_one_pair_merges_into_one_edge_keeping_the_first_reason_per_kind() {
        let mut g = DepGraph::new(3);
        let rt = |from, to| Dep { from, to, kind: EdgeKind::Realtime, why: Why::Realtime };
        g.add(rt(0, 1));
        g.add(Dep {
            from: 0,
            to: 1,
            kind: EdgeKind::Ww,
            why: Why::AppendedAfter { key: 0, prev: 1, next: 2 },
        });
        g.add(Dep {
            from: 0,
            to: 1,
            kind: EdgeKind::Ww,
            why: Why::AppendedAfter { key: 1, prev: 5, next: 6 },
        });
        g.add(rt(2, 2));
        assert_eq!(g.edge_count(), 1);
        let edge = g.edge(0, 1).unwrap();
        assert_eq!(edge.kinds, KindSet::of(&[EdgeKind::Ww, EdgeKind::Realtime]));
        assert_eq!(edge.why(EdgeKind::Ww), Some(&Why::AppendedAfter { key: 0, prev: 1, next: 2 }));
        let ww = KindSet::of(&[EdgeKind::Ww]);
        assert_eq!(g.successors(0, ww).count(), 1);
        assert_eq!(g.successors(0, KindSet::of(&[EdgeKind::Rw])).count(), 0);
        assert_eq!(g.edges_of(ww).count(), 1);
    }
}
