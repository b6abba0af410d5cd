//! The split-brain checker: two nodes leading in the same term at overlapping times.
//!
//! The harness polls every node's status during the run. A [`Sample`] says what one node
//! answered and when the question was in flight: the answer was true at some instant in
//! `[sent_ns, received_ns]`. Consecutive samples of one node that show it leading in the
//! same term form a [`Claim`] spanning `[first.sent_ns, last.received_ns]`. Two claims of
//! different nodes in the same term whose spans intersect are a split brain: within one
//! term (or epoch, or ballot) at most one node may order writes.
//!
//! Polling sees only what it samples, so a short-lived split can be missed; what is
//! reported was observed. No sample at all is `unknown`: nothing was watched.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::verdict::Verdict;

/// At most this many overlaps are kept in the report (the count is always exact).
pub const MAX_REPORTED: usize = 20;

/// One node's answer to one status poll.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Sample {
    pub node: u32,
    /// When the poll was sent and its answer received, in run nanoseconds.
    pub sent_ns: u64,
    pub received_ns: u64,
    /// Whether the node said it orders writes (leader, primary, coordinator).
    pub leading: bool,
    /// Its term, epoch or ballot round.
    pub term: u64,
}

/// A node leading in one term, as observed by consecutive samples.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claim {
    pub node: u32,
    pub term: u64,
    pub from_ns: u64,
    pub to_ns: u64,
}

/// Two claims of the same term at overlapping times.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Overlap {
    pub term: u64,
    pub first: Claim,
    pub second: Claim,
}

/// What the split-brain checker found.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SplitBrainReport {
    pub verdict: Verdict,
    pub samples: usize,
    /// Leadership claims observed, by start time.
    pub claims: usize,
    /// Terms in which more than one node was ever seen leading, overlapping or not.
    pub contested_terms: Vec<u64>,
    pub overlaps: usize,
    /// The first [`MAX_REPORTED`] overlaps.
    pub examples: Vec<Overlap>,
}

/// Judge a run's status samples (in any order).
pub fn check(samples: &[Sample]) -> SplitBrainReport {
    let claims = claims(samples);
    let mut by_term: BTreeMap<u64, Vec<&Claim>> = BTreeMap::new();
    for claim in &claims {
        by_term.entry(claim.term).or_default().push(claim);
    }
    let mut overlaps = Vec::new();
    let mut contested_terms = Vec::new();
    for (&term, claims) in &by_term {
        if claims.iter().any(|c| c.node != claims[0].node) {
            contested_terms.push(term);
        }
        for (i, a) in claims.iter().enumerate() {
            for b in &claims[i + 1..] {
                if a.node != b.node && a.from_ns <= b.to_ns && b.from_ns <= a.to_ns {
                    overlaps.push(Overlap { term, first: **a, second: **b });
                }
            }
        }
    }
    let verdict = if !overlaps.is_empty() {
        Verdict::Invalid
    } else if samples.is_empty() {
        Verdict::Unknown
    } else {
        Verdict::Valid
    };
    let count = overlaps.len();
    overlaps.truncate(MAX_REPORTED);
    SplitBrainReport {
        verdict,
        samples: samples.len(),
        claims: claims.len(),
        contested_terms,
        overlaps: count,
        examples: overlaps,
    }
}

/// The leadership claims in the samples, ordered by start time then node.
pub fn claims(samples: &[Sample]) -> Vec<Claim> {
    let mut by_node: BTreeMap<u32, Vec<&Sample>> = BTreeMap::new();
    for s in samples {
        by_node.entry(s.node).or_default().push(s);
    }
    let mut claims = Vec::new();
    for (node, mut samples) in by_node {
        samples.sort_by_key(|s| (s.sent_ns, s.received_ns));
        let mut open: Option<Claim> = None;
        for s in samples {
            match &mut open {
                Some(c) if s.leading && s.term == c.term => c.to_ns = c.to_ns.max(s.received_ns),
                _ => {
                    claims.extend(open.take());
                    if s.leading {
                        open = Some(Claim { node, term: s.term, from_ns: s.sent_ns, to_ns: s.received_ns });
                    }
                }
            }
        }
        claims.extend(open);
    }
    claims.sort_by_key(|c| (c.from_ns, c.node));
    claims
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(node: u32, at: u64, leading: bool, term: u64) -> Sample {
        Sample { node, sent_ns: at, received_ns: at + 5, leading, term }
    }

    #[test]
    fn a_clean_handover_is_valid() {
        // Node 1 leads term 1, steps down; node 2 leads term 2.
        let samples = [
            s(1, 0, true, 1),
            s(2, 0, false, 1),
            s(1, 100, false, 2),
            s(2, 100, true, 2),
            s(2, 200, true, 2),
        ];
        let report = check(&samples);
        assert_eq!(report.verdict, Verdict::Valid);
        assert_eq!(report.claims, 2);
        assert!(report.contested_terms.is_empty());
    }

    #[test]
    fn two_leaders_in_one_term_at_once_is_invalid() {
        let samples = [s(1, 0, true, 3), s(1, 100, true, 3), s(2, 50, true, 3), s(3, 50, false, 3)];
        let report = check(&samples);
        assert_eq!(report.verdict, Verdict::Invalid);
        assert_eq!(report.overlaps, 1);
        assert_eq!(report.examples[0].first, Claim { node: 1, term: 3, from_ns: 0, to_ns: 105 });
        assert_eq!(report.examples[0].second.node, 2);
    }

    #[test]
    fn same_term_at_disjoint_times_is_contested_but_not_an_overlap() {
        let samples = [s(1, 0, true, 4), s(1, 100, false, 4), s(2, 200, true, 4)];
        let report = check(&samples);
        assert_eq!(report.verdict, Verdict::Valid);
        assert_eq!(report.contested_terms, vec![4]);
    }

    #[test]
    fn nothing_polled_is_unknown() {
        assert_eq!(check(&[]).verdict, Verdict::Unknown);
    }
}
