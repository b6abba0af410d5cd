//! Tarjan's strongly connected components over the edges of some kinds, iteratively: a
//! recursive walk would overflow the stack on a history whose versions form a chain a
//! hundred thousand long.
//!
//! Every cycle lies within one component, so the cycle search looks only inside the
//! components of more than one transaction (a transaction never depends on itself).

use std::slice;

use super::graph::{DepGraph, Edge, KindSet};

/// The components of two or more transactions, over edges with a kind in `allowed`.
/// Each component's members are sorted; components are in the order Tarjan finishes them.
pub(crate) fn components(graph: &DepGraph, allowed: KindSet) -> Vec<Vec<usize>> {
    let mut out = Vec::new();
    tarjan(graph, allowed, |component| {
        if component.len() > 1 {
            let mut component = component.to_vec();
            component.sort_unstable();
            out.push(component);
        }
    });
    out
}

/// Each node's component as a number in the order Tarjan finishes them, over edges with a
/// kind in `allowed`. Tarjan finishes a component only after every component it reaches,
/// so `finish[w] < finish[a]` proves that `w` cannot reach `a`: the cycle search uses it
/// to skip seeds and prune its walk.
pub(crate) fn finish_order(graph: &DepGraph, allowed: KindSet) -> Vec<u32> {
    let mut finish = vec![0u32; graph.node_count()];
    let mut next = 0u32;
    tarjan(graph, allowed, |component| {
        for &v in component {
            finish[v] = next;
        }
        next += 1;
    });
    finish
}

/// Tarjan's walk, calling `found` with each component as it is finished.
fn tarjan(graph: &DepGraph, allowed: KindSet, mut found: impl FnMut(&[usize])) {
    let n = graph.node_count();
    let mut t = Tarjan {
        index: vec![UNVISITED; n],
        low: vec![0; n],
        on_stack: vec![false; n],
        stack: Vec::new(),
        next_index: 0,
        walk: Vec::new(),
    };
    let mut component = Vec::new();
    for root in 0..n {
        if t.index[root] != UNVISITED {
            continue;
        }
        t.enter(root, graph);
        while let Some((v, edges)) = t.walk.last_mut() {
            let v = *v;
            if let Some(w) = edges.find(|e| e.kinds.intersects(allowed)).map(|e| e.to as usize) {
                if t.index[w] == UNVISITED {
                    t.enter(w, graph);
                } else if t.on_stack[w] {
                    t.low[v] = t.low[v].min(t.index[w]);
                }
                continue;
            }
            t.walk.pop();
            if let Some(&(parent, _)) = t.walk.last() {
                t.low[parent] = t.low[parent].min(t.low[v]);
            }
            if t.low[v] == t.index[v] {
                component.clear();
                while let Some(w) = t.stack.pop() {
                    t.on_stack[w] = false;
                    component.push(w);
                    if w == v {
                        break;
                    }
                }
                found(&component);
            }
        }
    }
}

const UNVISITED: usize = usize::MAX;

/// The walk's state.
struct Tarjan<'g> {
    index: Vec<usize>,
    low: Vec<usize>,
    on_stack: Vec<bool>,
    stack: Vec<usize>,
    next_index: usize,
    /// The explicit call stack: each node with the iterator over its edges still to visit.
    walk: Vec<(usize, slice::Iter<'g, Edge>)>,
}

impl<'g> Tarjan<'g> {
    fn enter(&mut self, v: usize, graph: &'g DepGraph) {
        self.index[v] = self.next_index;
        self.low[v] = self.next_index;
        self.next_index += 1;
        self.stack.push(v);
        self.on_stack[v] = true;
        self.walk.push((v, graph.out(v).iter()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::txn::anomaly::EdgeKind;
    use crate::txn::graph::{Dep, Why};

    fn graph(n: usize, edges: &[(usize, usize, EdgeKind)]) -> DepGraph {
        DepGraph::build(
            n,
            edges.iter().map(|&(from, to, kind)| Dep { from, to, kind, why: Why::Realtime }).collect(),
        )
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
    fn a_node_that_finishes_first_cannot_reach_one_that_finishes_later() {
        use EdgeKind::*;
        // 0 -> 1 -> 2, and 3 <-> 4 -> 0.
        let g = graph(5, &[(0, 1, Ww), (1, 2, Ww), (3, 4, Ww), (4, 3, Ww), (4, 0, Ww)]);
        let finish = finish_order(&g, KindSet::of(&[Ww]));
        assert!(finish[2] < finish[1] && finish[1] < finish[0] && finish[0] < finish[3]);
        assert_eq!(finish[3], finish[4]);
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
