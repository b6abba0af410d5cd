//! Ballot numbers: who may propose, and which proposal wins.
//!
//! "Paxos Made Simple" §2.2 asks for proposal numbers that are totally ordered and that no
//! two proposers ever share; §2.5 suggests drawing them from disjoint sets. A [`Ballot`] is
//! the pair (round, node), compared round first. On top of that each node draws its rounds
//! from its own residue class (`round % members == index of the node`), so a round alone
//! names one proposer. That makes the round usable as the `term` of `GET /status`: two nodes
//! that both report themselves leader in the same term really would be a split brain, never
//! two honest candidates of the same round.

use serde::{Deserialize, Serialize};

use crate::api::NodeId;

/// A proposal number. `Ballot::ZERO` is below every ballot a node can use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, Default)]
pub struct Ballot {
    /// Compared first. Never 0 for a real ballot.
    pub round: u64,
    /// The proposer; breaks ties (which the residue rule already prevents).
    pub node: NodeId,
}

impl Ballot {
    /// Below every real ballot: what an acceptor has promised before it promised anything.
    pub const ZERO: Ballot = Ballot { round: 0, node: 0 };

    /// The smallest ballot of `node` (at `index` among `member_count` sorted members) whose
    /// round is above `above_round`.
    pub fn next_for(node: NodeId, index: usize, member_count: usize, above_round: u64) -> Ballot {
        assert!(member_count > 0 && index < member_count, "node {node} at {index} of {member_count} members");
        let n = member_count as u64;
        let index = index as u64;
        // The first round > above_round congruent to index mod n.
        let base = above_round + 1;
        let round = base + (index + n - base % n) % n;
        Ballot { round, node }
    }
}

impl std::fmt::Display for Ballot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}.{}", self.round, self.node)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ballots_order_by_round_then_node() {
        assert!(Ballot { round: 2, node: 1 } > Ballot { round: 1, node: 3 });
        assert!(Ballot { round: 2, node: 3 } > Ballot { round: 2, node: 1 });
        assert!(Ballot::ZERO < Ballot { round: 1, node: 0 });
    }

    #[test]
    fn each_node_draws_rounds_from_its_own_residue_class() {
        for above in 0..20 {
            let rounds: Vec<u64> =
                (0..3).map(|i| Ballot::next_for(i as NodeId + 1, i, 3, above).round).collect();
            for (i, r) in rounds.iter().enumerate() {
                assert!(*r > above, "round {r} not above {above}");
                assert!(*r <= above + 3, "round {r} skips too far past {above}");
                assert_eq!(r % 3, i as u64, "node index {i} drew round {r}");
            }
        }
        assert_eq!(Ballot::next_for(7, 0, 1, 0).round, 1);
        assert_eq!(Ballot::next_for(7, 0, 1, 41).round, 42);
    }
}
