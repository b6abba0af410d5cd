//! Tarjan's strongly connected components over the edges of some kinds, iteratively: a
//! recursive walk would overflow the stack on a history whose versions form a chain a
//! hundred thousand long.
//!
//! Every cycle lies within one component, so the cycle search looks only inside the
//! components of more than one transaction (a transaction never depends on itself).

use super::graph::{DepGraph, KindSet};

/// The components of two or more transactions, over edges with a kind in `allowed`.
/// Each component's members are sorted; components are in the order Tarjan finishes them.
pub(crate) fn components(graph: &DepGraph, allowed: KindSet) -> Vec<Vec<usize>> {
    let n = graph.node_count();
    let mut t = Tarjan {
        index: vec![UNVISITED; n],
        low: vec![0; n],
        on_stack: vec![false; n],
        stack: Vec::new(),
        next_index: 0,
        walk: Vec::new(),
    };
    let mut out = Vec::new();
    for root in 0..n {
        if t.index[root] != UNVISITED {
            continue;
        }
        t.enter(root, graph, allowed);
        while let Some((v, successors, next)) = t.walk.last_mut() {
            let v = *v;
            if let Some(&w) = successors.get(*next) {
                *next += 1;
                if t.index[w] == UNVISITED {
                    t.enter(w, graph, allowed);
                } else if t.on_stack[w] {
                    t.low[v] = t.low[v].min(t.index[w]);
                }
                continue;
            }
            t.walk.pop();
            if let Some(&(parent, _, _)) = t.walk.last() {
                t.low[parent] = t.low[parent].min(t.low[v]);
            }
            if t.low[v] == t.index[v] {
                let mut component = Vec::new();
                while let Some(w) = t.stack.pop() {
                    t.on_stack[w] = false;
                    component.push(w);
                    if w == v {
                        break;
                    }
                }
                if component.len() > 1 {
                    component.sort_unstable();
                    out.push(component);
                }
            }
        }
    }
    out
}

const UNVISITED: usize = usize::MAX;

/// The walk's state.
struct Tarjan {
    index: Vec<usize>,
    low: Vec<usize>,
    on_stack: Vec<bool>,
    stack: Vec<usize>,
    next_index: usize,
    /// The explicit call stack: (node, its successors, how many were visited).
    walk: Vec<(usize, Vec<usize>, usize)>,
}

impl Tarjan {
    fn enter(&mut self, v: usize, graph: &DepGraph, allowed: KindSet) {
        self.index[v] = self.next_index;
        self.low[v] = self.next_index;
        self.next_index += 1;
        self.stack.push(v);
        self.on_stack[v] = true;
        self.walk.push((v, graph.successors(v, allowed).map(|(w, _)| w).collect(), 0));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::txn::anomaly::EdgeKind;
    use crate::txn::graph::{Dep, Why};

    fn graph(n: usize, edges: &[(usize, usize, EdgeKind)]) -> DepGraph {
        let mut g = DepGraph::new(n);
        for &(from, to, kind) in edges {
            g.add(Dep { from, to, kind, why: Why::Realtime });
        }
        g
    }

    #[test]
    fn finds_cycles_of_the_allowed_kinds_only() {
        use EdgeKind::*;
        let g = graph(6, &[(0, 1, Ww), (1, 2, Ww), (2, 0, Rw), (3, 4, Ww), (4, 3, Ww), (4, 5, Ww)]);
        let mut all = components(&g, KindSet::of(&[Ww, Rw]));
        all.sort();
        assert_eq!(all, vec![vec![0, 1, 2], vec![3, 4]]);
        assert_eq!(components(&g, KindSet::of(&[Ww])), vec![vec![3, 4]]);
    }

    #[test]
    fn a_long_chain_closed_into_a_ring_does_not_overflow_the_stack() {
        let n = 200_000;
        let mut edges: Vec<(usize, usize, EdgeKind)> = (0..n - 1).map(|i| (i, i + 1, EdgeKind::Ww)).collect();
        edges.push((n - 1, 0, EdgeKind::Ww));
        let found = components(&graph(n, &edges), KindSet::of(&[EdgeKind::Ww]));
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].len(), n);
    }
}
