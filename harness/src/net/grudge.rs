//! Partitions as grudges: for each node, the set of nodes whose traffic it drops.
//!
//! The directed link `i -> j` is cut exactly when `j`'s grudge contains `i`. A symmetric
//! partition is a grudge where that holds both ways; a one-way cut is one that is not.
//! Grudges are plain data: the nemesis computes them, a network applies a whole grudge to
//! every link at once, and the history records them as they are.

use std::collections::{BTreeMap, BTreeSet};

use nodes::api::NodeId;
use serde::{Deserialize, Serialize};

/// For each node, the nodes whose traffic it drops. Nodes with an empty set are omitted.
///
/// JSON: `{"2": [1]}` (node 2 drops traffic from node 1). Keys are read back from strings
/// explicitly, so a grudge also loads inside internally tagged enums (`schedule.json`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct Grudge(pub BTreeMap<NodeId, BTreeSet<NodeId>>);

impl<'de> Deserialize<'de> for Grudge {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = BTreeMap::<String, BTreeSet<NodeId>>::deserialize(d)?;
        let mut grudge = BTreeMap::new();
        for (key, senders) in raw {
            let node: NodeId = key
                .parse()
                .map_err(|_| serde::de::Error::custom(format!("grudge key {key:?} is not a node id")))?;
            if senders.contains(&node) {
                return Err(serde::de::Error::custom(format!("node {node} holds a grudge against itself")));
            }
            grudge.insert(node, senders);
        }
        Ok(Grudge(grudge))
    }
}

impl Grudge {
    /// An error naming the first node of the grudge that `known` does not know.
    pub fn check_nodes(&self, known: impl Fn(NodeId) -> bool) -> anyhow::Result<()> {
        for (to, froms) in &self.0 {
            for &node in std::iter::once(to).chain(froms) {
                if !known(node) {
                    anyhow::bail!("the grudge names node {node}, which is not in this network");
                }
            }
        }
        Ok(())
    }

    /// No cuts: the healed network.
    pub fn none() -> Grudge {
        Grudge::default()
    }

    /// Whether traffic from `from` to `to` is cut.
    pub fn is_cut(&self, from: NodeId, to: NodeId) -> bool {
        self.0.get(&to).is_some_and(|senders| senders.contains(&from))
    }

    pub fn is_empty(&self) -> bool {
        self.0.values().all(BTreeSet::is_empty)
    }

    /// Make `to` drop traffic from `from` (one direction).
    pub fn cut(&mut self, from: NodeId, to: NodeId) {
        assert_ne!(from, to, "a node cannot hold a grudge against itself");
        self.0.entry(to).or_default().insert(from);
    }

    /// Cut both directions between every pair of nodes in different components; nodes in
    /// the same component keep talking. Nodes in no component are left untouched.
    pub fn complete(components: &[Vec<NodeId>]) -> Grudge {
        let mut grudge = Grudge::none();
        for (a, left) in components.iter().enumerate() {
            for right in &components[a + 1..] {
                for &i in left {
                    for &j in right {
                        grudge.cut(i, j);
                        grudge.cut(j, i);
                    }
                }
            }
        }
        grudge
    }

    /// Each node keeps talking only to the nodes in its `visible` set (itself implied);
    /// everything else it drops. Used for partitions that are not components (bridge,
    /// majorities ring).
    pub fn from_visibility(visible: &BTreeMap<NodeId, BTreeSet<NodeId>>) -> Grudge {
        let all: BTreeSet<NodeId> = visible.keys().copied().collect();
        let mut grudge = Grudge::none();
        for (&node, sees) in visible {
            for &other in &all {
                if other != node && !sees.contains(&other) {
                    grudge.cut(other, node);
                }
            }
        }
        grudge
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn complete_cuts_across_components_only() {
        let g = Grudge::complete(&[vec![1, 2], vec![3]]);
        assert!(g.is_cut(1, 3) && g.is_cut(3, 1) && g.is_cut(2, 3) && g.is_cut(3, 2));
        assert!(!g.is_cut(1, 2) && !g.is_cut(2, 1));
    }

    #[test]
    fn one_way_is_directed() {
        let mut g = Grudge::none();
        g.cut(1, 2);
        assert!(g.is_cut(1, 2));
        assert!(!g.is_cut(2, 1));
        assert_eq!(serde_json::to_string(&g).unwrap(), r#"{"2":[1]}"#);
        assert_eq!(serde_json::from_str::<Grudge>(r#"{"2":[1]}"#).unwrap(), g);
        assert!(serde_json::from_str::<Grudge>(r#"{"x":[1]}"#).is_err());
        assert!(serde_json::from_str::<Grudge>(r#"{"1":[1]}"#).is_err());
    }
}
