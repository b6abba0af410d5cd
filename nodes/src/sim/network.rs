//! The simulated network's faults: per-link behaviour and partitions as grudges.
//!
//! A [`NetConfig`] says how every message fares: a delay drawn uniformly from
//! `[delay_min_ms, delay_max_ms]` (two messages on one link overtake each other whenever the
//! later one draws the shorter delay, which is how reordering arises), a probability of
//! loss and a probability of being delivered twice. [`Grudges`] say who refuses whom: node
//! `a` holding a grudge against `b` drops every message from `b`. A grudge need not be
//! mutual, so one-way cuts are a grudge on one side only.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use crate::api::NodeId;

/// How the network treats every message. The defaults are a healthy LAN: no loss, no
/// duplicates, 1 to 10 ms of delay.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NetConfig {
    /// Shortest delivery delay.
    pub delay_min_ms: u64,
    /// Longest delivery delay; must be at least `delay_min_ms`.
    pub delay_max_ms: u64,
    /// Probability in `[0, 1]` that a message is lost.
    pub loss: f64,
    /// Probability in `[0, 1]` that a delivered message is delivered a second time (with its
    /// own delay).
    pub duplicate: f64,
}

impl Default for NetConfig {
    fn default() -> Self {
        NetConfig { delay_min_ms: 1, delay_max_ms: 10, loss: 0.0, duplicate: 0.0 }
    }
}

impl NetConfig {
    /// Panics with a message if the configuration is impossible (a bug in the test).
    pub(crate) fn validate(&self) {
        assert!(
            self.delay_min_ms <= self.delay_max_ms,
            "NetConfig: delay_min_ms {} > delay_max_ms {}",
            self.delay_min_ms,
            self.delay_max_ms
        );
        assert!((0.0..=1.0).contains(&self.loss), "NetConfig: loss {} outside [0, 1]", self.loss);
        assert!(
            (0.0..=1.0).contains(&self.duplicate),
            "NetConfig: duplicate {} outside [0, 1]",
            self.duplicate
        );
    }
}

/// A partition: for each node, the set of nodes whose messages it drops. Empty means a
/// healed network.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Grudges {
    /// receiver -> senders it refuses.
    pub refuses: BTreeMap<NodeId, BTreeSet<NodeId>>,
}

impl Grudges {
    /// No grudges: every message may pass.
    pub fn none() -> Self {
        Self::default()
    }

    /// Whether a message from `from` to `to` is cut.
    pub fn blocks(&self, from: NodeId, to: NodeId) -> bool {
        self.refuses.get(&to).is_some_and(|senders| senders.contains(&from))
    }

    /// `to` drops what `from` sends (one-way: `to` may still reach `from`).
    pub fn cut_one_way(&mut self, from: NodeId, to: NodeId) {
        if from != to {
            self.refuses.entry(to).or_default().insert(from);
        }
    }

    /// Cut both directions between `a` and `b`.
    pub fn cut(&mut self, a: NodeId, b: NodeId) {
        self.cut_one_way(a, b);
        self.cut_one_way(b, a);
    }

    /// Components that cannot talk across: every node of one side refuses every node of
    /// another. Nodes named in no side keep all their links.
    pub fn split(sides: &[&[NodeId]]) -> Self {
        let mut g = Grudges::none();
        for (i, side) in sides.iter().enumerate() {
            for other in &sides[i + 1..] {
                for &a in *side {
                    for &b in *other {
                        g.cut(a, b);
                    }
                }
            }
        }
        g
    }

    /// `node` cut off from every other member, both ways.
    pub fn isolate(node: NodeId, members: &[NodeId]) -> Self {
        let mut g = Grudges::none();
        for &m in members {
            g.cut(node, m);
        }
        g
    }

    pub fn is_empty(&self) -> bool {
        self.refuses.values().all(BTreeSet::is_empty)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_one_way_cut_blocks_only_its_direction() {
        let mut g = Grudges::none();
        g.cut_one_way(1, 2);
        assert!(g.blocks(1, 2));
        assert!(!g.blocks(2, 1));
        assert!(!g.is_empty());
    }

    #[test]
    fn split_cuts_across_sides_only() {
        let g = Grudges::split(&[&[1, 2], &[3]]);
        assert!(g.blocks(1, 3) && g.blocks(3, 1) && g.blocks(2, 3) && g.blocks(3, 2));
        assert!(!g.blocks(1, 2) && !g.blocks(2, 1));
        let iso = Grudges::isolate(2, &[1, 2, 3]);
        assert!(iso.blocks(2, 1) && iso.blocks(3, 2) && !iso.blocks(1, 3));
    }
}
