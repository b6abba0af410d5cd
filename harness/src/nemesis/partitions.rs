//! Grudges for each partition kind, as pure functions of the nodes and a random source.
//!
//! Shapes follow Jepsen's nemeses: halves (the smaller half first), one node isolated, a
//! bridge node between two halves that cannot talk, a ring of majorities, and a one-way
//! cut between halves.

use std::collections::{BTreeMap, BTreeSet};

use nodes::api::NodeId;
use rand::seq::SliceRandom;
use rand::Rng;

use crate::net::Grudge;

/// `nodes` split into its first `n / 2` and the rest.
pub fn bisect(nodes: &[NodeId]) -> (Vec<NodeId>, Vec<NodeId>) {
    let (a, b) = nodes.split_at(nodes.len() / 2);
    (a.to_vec(), b.to_vec())
}

/// The first half (by id) cut off from the rest, both ways.
pub fn halves(nodes: &[NodeId]) -> Grudge {
    let mut sorted = nodes.to_vec();
    sorted.sort_unstable();
    let (a, b) = bisect(&sorted);
    Grudge::complete(&[a, b])
}

/// A random half cut off from the rest, both ways.
pub fn random_halves(nodes: &[NodeId], rng: &mut impl Rng) -> Grudge {
    let (a, b) = bisect(&shuffled(nodes, rng));
    Grudge::complete(&[a, b])
}

/// `node` cut off from every other node, both ways.
pub fn isolate(nodes: &[NodeId], node: NodeId) -> Grudge {
    let rest: Vec<NodeId> = nodes.iter().copied().filter(|&n| n != node).collect();
    Grudge::complete(&[vec![node], rest])
}

/// Two random halves that cannot talk, and a bridge node (taken from the larger half)
/// that talks to both.
pub fn bridge(nodes: &[NodeId], rng: &mut impl Rng) -> Grudge {
    let (a, mut b) = bisect(&shuffled(nodes, rng));
    let Some(bridge) = b.pop() else { return Grudge::none() };
    let mut grudge = Grudge::complete(&[a, b]);
    grudge.0.remove(&bridge);
    grudge
}

/// Nodes in a random ring; each sees itself and the next `majority - 1` nodes clockwise and
/// drops traffic from the others. Every node sees a majority and no two see the same one.
/// Visibility is not symmetric, so some cuts are one-way (as in Jepsen's majorities ring).
pub fn majorities_ring(nodes: &[NodeId], rng: &mut impl Rng) -> Grudge {
    let ring = shuffled(nodes, rng);
    let n = ring.len();
    let majority = n / 2 + 1;
    let visible: BTreeMap<NodeId, BTreeSet<NodeId>> =
        (0..n).map(|k| (ring[k], (0..majority).map(|d| ring[(k + d) % n]).collect())).collect();
    Grudge::from_visibility(&visible)
}

/// A random half's traffic to the other half dropped; the reverse direction flows.
pub fn one_way(nodes: &[NodeId], rng: &mut impl Rng) -> Grudge {
    let (a, b) = bisect(&shuffled(nodes, rng));
    let mut grudge = Grudge::none();
    for &from in &a {
        for &to in &b {
            grudge.cut(from, to);
        }
    }
    grudge
}

fn shuffled(nodes: &[NodeId], rng: &mut impl Rng) -> Vec<NodeId> {
    let mut v = nodes.to_vec();
    v.sort_unstable();
    v.shuffle(rng);
    v
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    const FIVE: [NodeId; 5] = [1, 2, 3, 4, 5];

    fn sees(g: &Grudge, node: NodeId) -> BTreeSet<NodeId> {
        FIVE.iter().copied().filter(|&o| o == node || !g.is_cut(o, node)).collect()
    }

    #[test]
    fn halves_split_two_three() {
        let g = halves(&FIVE);
        assert_eq!(sees(&g, 1), BTreeSet::from([1, 2]));
        assert_eq!(sees(&g, 4), BTreeSet::from([3, 4, 5]));
    }

    #[test]
    fn isolate_cuts_one_node_both_ways() {
        let g = isolate(&FIVE, 3);
        assert_eq!(sees(&g, 3), BTreeSet::from([3]));
        assert!(FIVE.iter().filter(|&&n| n != 3).all(|&n| g.is_cut(3, n) && g.is_cut(n, 3)));
    }

    #[test]
    fn bridge_node_sees_everyone_and_halves_do_not_meet() {
        let g = bridge(&FIVE, &mut ChaCha8Rng::seed_from_u64(3));
        let bridges: Vec<NodeId> = FIVE.iter().copied().filter(|&n| sees(&g, n).len() == 5).collect();
        assert_eq!(bridges.len(), 1, "{g:?}");
        let others: Vec<NodeId> = FIVE.iter().copied().filter(|&n| n != bridges[0]).collect();
        assert!(others.iter().all(|&n| sees(&g, n).len() == 3), "{g:?}");
    }

    #[test]
    fn ring_gives_every_node_a_distinct_majority() {
        for seed in 0..20 {
            let g = majorities_ring(&FIVE, &mut ChaCha8Rng::seed_from_u64(seed));
            let views: BTreeSet<BTreeSet<NodeId>> = FIVE.iter().map(|&n| sees(&g, n)).collect();
            assert_eq!(views.len(), 5);
            assert!(views.iter().all(|v| v.len() == 3));
        }
    }

    #[test]
    fn one_way_cuts_one_direction() {
        let g = one_way(&FIVE, &mut ChaCha8Rng::seed_from_u64(9));
        let cut: Vec<(NodeId, NodeId)> = FIVE
            .iter()
            .flat_map(|&a| FIVE.iter().map(move |&b| (a, b)))
            .filter(|&(a, b)| g.is_cut(a, b))
            .collect();
        assert_eq!(cut.len(), 6);
        assert!(cut.iter().all(|&(a, b)| !g.is_cut(b, a)));
    }
}
