//! The cycle search: for each anomaly class, the shortest cycle of that class in each
//! strongly connected component, found by restricting which edges may be used, as Elle
//! does.
//!
//! A class is a seed kind, the kinds the rest of the cycle may use, and kinds the rest must
//! include at least once. For each seed edge `a -> b` a breadth-first search runs from `b`
//! back to `a` over the allowed edges, its state a node and which requirements the path
//! has met so far; the first return to `a` with every requirement met is the shortest
//! cycle through that seed, and the shortest over all seeds is reported. The classes are
//! disjoint by construction: G0 uses only ww; G1c is seeded by wr over ww and wr; G-single
//! is seeded by its one rw over ww and wr; G2-item is seeded by rw and needs another rw.
//! The realtime variants must also use a real-time (or process) edge.
//!
//! The searches are pruned exactly: Tarjan's finishing order over the path edges proves
//! that a node whose component finished before the seed's source cannot lead back to it,
//! so a seed pointing forward in that order is skipped and such nodes are never entered.
//! On a history with real-time edges this is what keeps the search from walking the whole
//! future of every anti-dependency.
//!
//! Each breadth-first search counts against [`TxnOptions::max_cycle_searches`], and the
//! time limit is checked as it runs. A class whose search was cut short is remembered: if
//! the model forbids it and nothing forbidden was found, the verdict is unknown.

use std::collections::VecDeque;
use std::time::Instant;

use super::anomaly::{AnomalyKind, EdgeKind};
use super::graph::{DepGraph, KindSet};
use super::options::TxnOptions;
use super::scc;
use crate::hash::FxHashMap;

const WW: KindSet = KindSet::of(&[EdgeKind::Ww]);
const WR: KindSet = KindSet::of(&[EdgeKind::Wr]);
const RW: KindSet = KindSet::of(&[EdgeKind::Rw]);
const RT: KindSet = KindSet::of(&[EdgeKind::Realtime, EdgeKind::Process]);
const WW_WR: KindSet = KindSet::of(&[EdgeKind::Ww, EdgeKind::Wr]);
const WW_WR_RW: KindSet = KindSet::of(&[EdgeKind::Ww, EdgeKind::Wr, EdgeKind::Rw]);

/// One anomaly class as a restricted search.
struct Class {
    kind: AnomalyKind,
    seed: KindSet,
    path: KindSet,
    /// Kinds the path (besides the seed) must use, each at least once.
    require: &'static [KindSet],
}

const CLASSES: [Class; 8] = [
    Class { kind: AnomalyKind::G0, seed: WW, path: WW, require: &[] },
    Class { kind: AnomalyKind::G1c, seed: WR, path: WW_WR, require: &[] },
    Class { kind: AnomalyKind::GSingle, seed: RW, path: WW_WR, require: &[] },
    Class { kind: AnomalyKind::G2Item, seed: RW, path: WW_WR_RW, require: &[RW] },
    Class { kind: AnomalyKind::G0Realtime, seed: RT, path: KindSet(WW.0 | RT.0), require: &[] },
    Class { kind: AnomalyKind::G1cRealtime, seed: WR, path: KindSet(WW_WR.0 | RT.0), require: &[RT] },
    Class { kind: AnomalyKind::GSingleRealtime, seed: RW, path: KindSet(WW_WR.0 | RT.0), require: &[RT] },
    Class {
        kind: AnomalyKind::G2ItemRealtime,
        seed: RW,
        path: KindSet(WW_WR_RW.0 | RT.0),
        require: &[RW, RT],
    },
];

/// A cycle found: its class and its edges in order, each (from, to, the kind it stands as).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct FoundCycle {
    pub kind: AnomalyKind,
    pub edges: Vec<(usize, usize, EdgeKind)>,
}

/// What the search found, and whether it finished.
#[derive(Debug, Default)]
pub(crate) struct CycleSearch {
    /// At most one cycle per class per component.
    pub found: Vec<FoundCycle>,
    /// Why a search of a forbidden class was cut short, if one was.
    pub cut_forbidden: Option<String>,
    /// Why a search of an allowed class was cut short, if one was.
    pub cut_allowed: Option<String>,
    pub searches: usize,
}

/// The search's limits.
pub(crate) struct Budget {
    pub deadline: Option<Instant>,
    pub searches_left: usize,
    pub time_limit_text: String,
}

impl Budget {
    pub fn new(started: Instant, options: &TxnOptions) -> Budget {
        Budget {
            deadline: options.time_limit.map(|limit| started + limit),
            searches_left: options.max_cycle_searches,
            time_limit_text: options
                .time_limit
                .map(|l| format!("time limit of {:.3}s reached", l.as_secs_f64()))
                .unwrap_or_default(),
        }
    }

    fn out_of_time(&self) -> bool {
        self.deadline.is_some_and(|d| Instant::now() >= d)
    }
}

/// Search every class, those `options.consistency` forbids first.
pub(crate) fn search(graph: &DepGraph, options: &TxnOptions, budget: &mut Budget) -> CycleSearch {
    let mut out = CycleSearch::default();
    let has_realtime = graph.has_edge_of(RT);
    let mut classes: Vec<&Class> =
        CLASSES.iter().filter(|c| has_realtime || !c.require.contains(&RT) && c.seed != RT).collect();
    classes.sort_by_key(|c| !c.kind.is_forbidden_under(options.consistency));
    if budget.out_of_time() {
        out.cut_forbidden = Some(budget.time_limit_text.clone());
        return out;
    }
    // No component over every kind means no cycle of any class: a clean history ends
    // here after one walk of the graph instead of one per class.
    let every_kind = KindSet(WW_WR_RW.0 | RT.0);
    if scc::components(graph, every_kind).is_empty() {
        return out;
    }
    let mut local = vec![u32::MAX; graph.node_count()];
    for class in classes {
        let forbidden = class.kind.is_forbidden_under(options.consistency);
        let cut = |out: &mut CycleSearch, why: String| {
            let slot = if forbidden { &mut out.cut_forbidden } else { &mut out.cut_allowed };
            slot.get_or_insert(why);
        };
        if budget.out_of_time() {
            cut(&mut out, budget.time_limit_text.clone());
            continue;
        }
        let components = scc::components(graph, class.seed.union(class.path));
        if components.is_empty() {
            continue;
        }
        let finish = scc::finish_order(graph, class.path);
        for component in components {
            for (i, &v) in component.iter().enumerate() {
                local[v] = i as u32;
            }
            let within = Within { local: &local, finish: &finish };
            match shortest_in(graph, class, &component, within, budget, &mut out.searches) {
                Ok(cycle) => out.found.extend(cycle.map(|edges| FoundCycle { kind: class.kind, edges })),
                Err((partial, why)) => {
                    out.found.extend(partial.map(|edges| FoundCycle { kind: class.kind, edges }));
                    cut(&mut out, why);
                }
            }
            for &v in &component {
                local[v] = u32::MAX;
            }
        }
    }
    out
}

type Cycle = Vec<(usize, usize, EdgeKind)>;

/// Where a search may go: the component's nodes (`local[v] != u32::MAX`), and per node
/// the finishing order of its component over the class's path edges, which rules out
/// nodes that cannot lead back to the seed's source.
#[derive(Clone, Copy)]
struct Within<'a> {
    local: &'a [u32],
    finish: &'a [u32],
}

impl Within<'_> {
    /// Whether `w` is in the component and may still reach `a` over path edges.
    fn may_reach(&self, w: usize, a: usize) -> bool {
        self.local[w] != u32::MAX && self.finish[w] >= self.finish[a]
    }
}

/// The shortest cycle of `class` in one component; on running out of budget, the best
/// found so far and why it stopped.
fn shortest_in(
    graph: &DepGraph,
    class: &Class,
    component: &[usize],
    within: Within,
    budget: &mut Budget,
    searches: &mut usize,
) -> Result<Option<Cycle>, (Option<Cycle>, String)> {
    let mut best: Option<Cycle> = None;
    for &a in component {
        for (b, kinds) in graph.successors(a, class.seed) {
            if !within.may_reach(b, a) {
                continue;
            }
            if budget.searches_left == 0 {
                return Err((best, "the limit on cycle searches was reached".into()));
            }
            budget.searches_left -= 1;
            *searches += 1;
            let seed_kind = first_kind(KindSet(kinds.0 & class.seed.0));
            let limit = best.as_ref().map_or(usize::MAX, Vec::len);
            match bfs(graph, class, (a, b, seed_kind), within, limit, budget) {
                Ok(Some(cycle)) => {
                    best = Some(cycle);
                    if best.as_ref().is_some_and(|c| c.len() <= 2) {
                        return Ok(best);
                    }
                }
                Ok(None) => {}
                Err(why) => return Err((best, why)),
            }
        }
    }
    Ok(best)
}

/// The first kind of a set, in [`EdgeKind::ALL`] order.
fn first_kind(kinds: KindSet) -> EdgeKind {
    EdgeKind::ALL.into_iter().find(|k| kinds.contains(*k)).unwrap_or(EdgeKind::Ww)
}

/// The shortest path from the seed's target back to its source meeting every requirement,
/// shorter than `limit` edges in all, as a cycle starting with the seed.
fn bfs(
    graph: &DepGraph,
    class: &Class,
    seed: (usize, usize, EdgeKind),
    within: Within,
    limit: usize,
    budget: &Budget,
) -> Result<Option<Cycle>, String> {
    let (a, b, _) = seed;
    let full: u8 = (1u8 << class.require.len()) - 1;
    // (node, requirements met) -> (previous node, its requirements met, the edge's kind)
    let mut parent: FxHashMap<(usize, u8), (usize, u8, EdgeKind)> = FxHashMap::default();
    let mut queue: VecDeque<(usize, u8, usize)> = VecDeque::new();
    parent.insert((b, 0), (a, 0, seed.2));
    queue.push_back((b, 0, 1));
    let mut popped = 0u64;
    while let Some((v, met, depth)) = queue.pop_front() {
        popped += 1;
        if popped & 4095 == 0 && budget.out_of_time() {
            return Err(budget.time_limit_text.clone());
        }
        if depth + 1 >= limit {
            break;
        }
        for (w, kinds) in graph.successors(v, class.path) {
            if !within.may_reach(w, a) {
                continue;
            }
            // Each kind the edge may stand as, once per distinct outcome.
            let mut tried: u8 = 0;
            for kind in EdgeKind::ALL {
                if !kinds.contains(kind) || !class.path.contains(kind) {
                    continue;
                }
                let mut now = met;
                for (i, req) in class.require.iter().enumerate() {
                    if req.contains(kind) {
                        now |= 1 << i;
                    }
                }
                if tried & (1 << now) != 0 {
                    continue;
                }
                tried |= 1 << now;
                if w == a {
                    if now == full {
                        return Ok(Some(trace(&parent, seed, (v, met), kind)));
                    }
                    continue;
                }
                if let std::collections::hash_map::Entry::Vacant(e) = parent.entry((w, now)) {
                    e.insert((v, met, kind));
                    queue.push_back((w, now, depth + 1));
                }
            }
        }
    }
    Ok(None)
}

/// The cycle from the parent links: the seed, the path, and the closing edge `last -> a`.
fn trace(
    parent: &FxHashMap<(usize, u8), (usize, u8, EdgeKind)>,
    seed: (usize, usize, EdgeKind),
    last: (usize, u8),
    closing: EdgeKind,
) -> Cycle {
    let (a, b, _) = seed;
    let mut path = vec![(last.0, a, closing)];
    let mut at = last;
    while at != (b, 0) {
        let (prev, prev_met, kind) = parent[&at];
        path.push((prev, at.0, kind));
        at = (prev, prev_met);
    }
    path.push(seed);
    path.reverse();
    path
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::txn::graph::{Dep, Why};
    use crate::txn::options::{Consistency, TxnModel};

    fn graph(n: usize, edges: &[(usize, usize, EdgeKind)]) -> DepGraph {
        DepGraph::build(
            n,
            edges.iter().map(|&(from, to, kind)| Dep { from, to, kind, why: Why::Realtime }).collect(),
        )
    }

    fn run(g: &DepGraph, consistency: Consistency) -> CycleSearch {
        let mut options = TxnOptions::new(TxnModel::ListAppend);
        options.consistency = consistency;
        let mut budget = Budget::new(Instant::now(), &options);
        search(g, &options, &mut budget)
    }

    use EdgeKind::*;

    #[test]
    fn each_class_finds_its_own_shortest_cycle() {
        // 0 -ww-> 1 -ww-> 2 -ww-> 0 and a shortcut 1 -ww-> 0: G0 of length 2.
        let g = graph(3, &[(0, 1, Ww), (1, 2, Ww), (2, 0, Ww), (1, 0, Ww)]);
        let s = run(&g, Consistency::Serializable);
        assert_eq!(s.found.len(), 1);
        assert_eq!(s.found[0].kind, AnomalyKind::G0);
        assert_eq!(s.found[0].edges.len(), 2);

        // Write skew: 0 -rw-> 1 -rw-> 0.
        let g = graph(2, &[(0, 1, Rw), (1, 0, Rw)]);
        let kinds: Vec<_> = run(&g, Consistency::Serializable).found.iter().map(|f| f.kind).collect();
        assert_eq!(kinds, vec![AnomalyKind::G2Item]);

        // Lost update: 0 -rw-> 1 -ww-> 0.
        let g = graph(2, &[(0, 1, Rw), (1, 0, Ww)]);
        let kinds: Vec<_> = run(&g, Consistency::Serializable).found.iter().map(|f| f.kind).collect();
        assert_eq!(kinds, vec![AnomalyKind::GSingle]);

        // 0 -wr-> 1 -ww-> 0 is G1c; with an rt edge 2 -> 0 and 1 -rw-> 2, G-single-realtime.
        let g = graph(3, &[(0, 1, Wr), (1, 0, Ww), (1, 2, Rw), (2, 0, Realtime)]);
        let mut kinds: Vec<_> =
            run(&g, Consistency::StrictSerializable).found.iter().map(|f| f.kind).collect();
        kinds.sort();
        assert_eq!(kinds, vec![AnomalyKind::G1c, AnomalyKind::GSingleRealtime]);
    }

    #[test]
    fn a_cycle_starts_with_its_seed_and_closes() {
        let g = graph(3, &[(0, 1, Wr), (1, 2, Ww), (2, 0, Ww)]);
        let s = run(&g, Consistency::Serializable);
        let edges = &s.found[0].edges;
        assert_eq!(edges, &vec![(0, 1, Wr), (1, 2, Ww), (2, 0, Ww)]);
    }

    #[test]
    fn a_zero_budget_cuts_the_search_of_a_forbidden_class() {
        let g = graph(2, &[(0, 1, Ww), (1, 0, Ww)]);
        let mut options = TxnOptions::new(TxnModel::ListAppend);
        options.max_cycle_searches = 0;
        let mut budget = Budget::new(Instant::now(), &options);
        let s = search(&g, &options, &mut budget);
        assert!(s.found.is_empty());
        assert!(s.cut_forbidden.unwrap().contains("limit on cycle searches"));
    }
}
