//! The white-box agreement checker: no two nodes committed different entries at one index,
//! and no node's committed prefix ever shrank.
//!
//! Client histories see only what clients asked for; two replicas that committed different
//! entries at one log index may never be read apart. So the harness also samples every
//! node's committed log: for each committed index the entry's term and a running hash of
//! the whole committed prefix up to it. Equal hashes at one index mean equal prefixes, so
//! one comparison per index covers everything before it.
//!
//! Two rules, both over the samples in time order:
//! - **Agreement**: at each index every node that committed it shows the same hash.
//! - **Stability**: a node never shows a different hash at an index it committed before
//!   (the prefix was rewritten), and its commit index never falls unless the node was
//!   restarted since the previous sample (a commit index may be volatile; the entries under
//!   it may not).
//!
//! A sample is only what the node said, so a divergence that healed between two samples
//! can be missed; what is reported was seen. No committed entry sampled at all is
//! `unknown`: nothing was watched.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::verdict::Verdict;

/// At most this many violations are kept in the report (the counts are always exact).
pub const MAX_REPORTED: usize = 20;

/// One committed entry as a node reported it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogEntry {
    pub index: u64,
    /// The entry's term, epoch or ballot; 0 where the node no longer knows it (a snapshot).
    pub term: u64,
    /// Running hash of the committed prefix `1..=index`.
    pub hash: u64,
}

/// One answer of one node to a committed-log poll.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogSample {
    pub node: u32,
    /// When the answer was received, in run nanoseconds.
    pub at_ns: u64,
    /// How many times the harness had restarted this node when it asked.
    pub restarts: u32,
    /// The node's commit index in this answer.
    pub commit_index: u64,
    /// The committed entries the answer listed (a slice of the log, in index order).
    pub entries: Vec<LogEntry>,
}

/// Where one node was seen holding one entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Sighting {
    pub node: u32,
    pub at_ns: u64,
    pub term: u64,
    pub hash: u64,
}

/// One broken rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum Violation {
    /// Two nodes committed different prefixes up to `index`: `first` is the earliest
    /// sighting at that index, `second` the first one that disagreed with it.
    Divergence { index: u64, first: Sighting, second: Sighting },
    /// One node showed a different committed prefix at an index it had shown before.
    Rewritten { index: u64, before: Sighting, after: Sighting },
    /// A node's commit index fell with no restart of that node in between.
    CommitDropped { node: u32, at_ns: u64, from: u64, to: u64 },
}

/// What the agreement checker found.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LogAgreementReport {
    pub verdict: Verdict,
    pub samples: usize,
    /// Nodes that answered at least once.
    pub nodes: usize,
    /// Distinct (node, index) entries seen.
    pub entries: usize,
    /// The highest committed index any node showed.
    pub highest_index: u64,
    /// Indexes at which two nodes disagreed (each counted once).
    pub divergent_indexes: usize,
    /// Entries rewritten plus commit indexes that fell.
    pub shrinks: usize,
    /// The first divergence between two nodes, even past the kept examples.
    pub first_divergence: Option<Violation>,
    /// The first [`MAX_REPORTED`] violations, in the order they were seen.
    pub examples: Vec<Violation>,
}

impl LogAgreementReport {
    /// One line for the run's summary.
    pub fn summary(&self) -> String {
        match self.verdict {
            Verdict::Unknown => "no committed log entry was sampled".to_string(),
            Verdict::Valid => format!(
                "{} nodes agree on every committed index up to {} ({} samples)",
                self.nodes, self.highest_index, self.samples
            ),
            Verdict::Invalid => {
                // Two nodes disagreeing says more than one node's lapse: shown first.
                let first = match self.first_divergence.as_ref().or(self.examples.first()) {
                    Some(v) => describe(v),
                    None => "no example kept".to_string(),
                };
                format!(
                    "{} divergent indexes, {} shrunk prefixes; first: {first}",
                    self.divergent_indexes, self.shrinks
                )
            }
        }
    }
}

/// A violation in words.
pub fn describe(v: &Violation) -> String {
    match v {
        Violation::Divergence { index, first, second } => format!(
            "at index {index} node {} committed term {} (hash {:016x}) but node {} committed term {} \
             (hash {:016x})",
            first.node, first.term, first.hash, second.node, second.term, second.hash
        ),
        Violation::Rewritten { index, before, after } => format!(
            "node {} changed its committed entry at index {index} from term {} to term {}",
            before.node, before.term, after.term
        ),
        Violation::CommitDropped { node, from, to, .. } => {
            format!("node {node}'s commit index fell from {from} to {to} without a restart")
        }
    }
}

/// Judge a run's committed-log samples (in any order).
pub fn check(samples: &[LogSample]) -> LogAgreementReport {
    let mut ordered: Vec<&LogSample> = samples.iter().collect();
    ordered.sort_by_key(|s| (s.at_ns, s.node));

    // The first sighting at each index, over all nodes.
    let mut first: BTreeMap<u64, Sighting> = BTreeMap::new();
    // Each node's own last sighting at each index, and its last commit index and restarts.
    let mut own: BTreeMap<u32, BTreeMap<u64, Sighting>> = BTreeMap::new();
    let mut last: BTreeMap<u32, (u64, u32)> = BTreeMap::new();
    let mut divergent: BTreeMap<u64, ()> = BTreeMap::new();
    let mut first_divergence = None;
    let mut shrinks = 0;
    let mut examples = Vec::new();
    let keep = |v: Violation, examples: &mut Vec<Violation>| {
        if examples.len() < MAX_REPORTED {
            examples.push(v);
        }
    };

    for s in ordered {
        if let Some(&(commit, restarts)) = last.get(&s.node) {
            if s.commit_index < commit && s.restarts == restarts {
                shrinks += 1;
                keep(
                    Violation::CommitDropped {
                        node: s.node,
                        at_ns: s.at_ns,
                        from: commit,
                        to: s.commit_index,
                    },
                    &mut examples,
                );
            }
        }
        last.insert(s.node, (s.commit_index, s.restarts));
        let mine = own.entry(s.node).or_default();
        for e in &s.entries {
            let seen = Sighting { node: s.node, at_ns: s.at_ns, term: e.term, hash: e.hash };
            if let Some(before) = mine.insert(e.index, seen) {
                if before.hash != e.hash {
                    shrinks += 1;
                    keep(Violation::Rewritten { index: e.index, before, after: seen }, &mut examples);
                }
            }
            match first.get(&e.index) {
                None => {
                    first.insert(e.index, seen);
                }
                Some(f) if f.hash != e.hash && f.node != s.node => {
                    if divergent.insert(e.index, ()).is_none() {
                        let v = Violation::Divergence { index: e.index, first: *f, second: seen };
                        first_divergence.get_or_insert(v);
                        keep(v, &mut examples);
                    }
                }
                Some(_) => {}
            }
        }
    }

    let entries = own.values().map(BTreeMap::len).sum();
    let verdict = if !examples.is_empty() {
        Verdict::Invalid
    } else if entries == 0 {
        Verdict::Unknown
    } else {
        Verdict::Valid
    };
    LogAgreementReport {
        verdict,
        samples: samples.len(),
        nodes: last.len(),
        entries,
        highest_index: first.keys().next_back().copied().unwrap_or(0),
        divergent_indexes: divergent.len(),
        shrinks,
        first_divergence,
        examples,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(node: u32, at_ns: u64, restarts: u32, entries: &[(u64, u64, u64)]) -> LogSample {
        LogSample {
            node,
            at_ns,
            restarts,
            commit_index: entries.last().map_or(0, |e| e.0),
            entries: entries.iter().map(|&(index, term, hash)| LogEntry { index, term, hash }).collect(),
        }
    }

    #[test]
    fn nodes_with_the_same_prefix_agree() {
        let samples = [
            sample(1, 10, 0, &[(1, 1, 0xa), (2, 1, 0xb)]),
            sample(2, 11, 0, &[(1, 1, 0xa)]),
            sample(2, 20, 0, &[(2, 1, 0xb), (3, 2, 0xc)]),
            sample(1, 21, 0, &[(3, 2, 0xc)]),
        ];
        let report = check(&samples);
        assert_eq!(report.verdict, Verdict::Valid, "{report:?}");
        assert_eq!((report.nodes, report.entries, report.highest_index), (2, 6, 3));
    }

    #[test]
    fn different_hashes_at_one_index_are_a_divergence() {
        let samples = [
            sample(1, 10, 0, &[(1, 1, 0xa), (2, 1, 0xb)]),
            sample(2, 12, 0, &[(1, 1, 0xa), (2, 2, 0xd), (3, 2, 0xe)]),
            sample(3, 13, 0, &[(2, 2, 0xd)]),
        ];
        let report = check(&samples);
        assert_eq!(report.verdict, Verdict::Invalid);
        assert_eq!(report.divergent_indexes, 1, "index 2 counts once however many disagree");
        match report.examples[0] {
            Violation::Divergence { index, first, second } => {
                assert_eq!(index, 2);
                assert_eq!((first.node, first.term), (1, 1));
                assert_eq!((second.node, second.term), (2, 2));
            }
            other => panic!("expected a divergence, got {other:?}"),
        }
        assert!(report.summary().contains("at index 2 node 1 committed term 1"), "{}", report.summary());
        assert_eq!(report.first_divergence, Some(report.examples[0]));
    }

    #[test]
    fn a_node_rewriting_its_committed_entry_is_a_shrink() {
        let samples = [sample(1, 10, 0, &[(1, 1, 0xa)]), sample(1, 20, 1, &[(1, 3, 0xf)])];
        let report = check(&samples);
        assert_eq!(report.verdict, Verdict::Invalid);
        assert_eq!(report.shrinks, 1);
        assert!(matches!(report.examples[0], Violation::Rewritten { index: 1, .. }));
    }

    #[test]
    fn a_commit_index_may_fall_only_across_a_restart() {
        let restarted = [sample(1, 10, 0, &[(1, 1, 0xa), (2, 1, 0xb)]), sample(1, 20, 1, &[])];
        assert_eq!(check(&restarted).verdict, Verdict::Valid);

        let not_restarted = [sample(1, 10, 0, &[(1, 1, 0xa), (2, 1, 0xb)]), sample(1, 20, 0, &[])];
        let report = check(&not_restarted);
        assert_eq!(report.verdict, Verdict::Invalid);
        assert_eq!(report.examples[0], Violation::CommitDropped { node: 1, at_ns: 20, from: 2, to: 0 });
    }

    #[test]
    fn samples_are_judged_in_time_order_whatever_order_they_come_in() {
        let samples = [sample(1, 20, 0, &[]), sample(1, 10, 0, &[(1, 1, 0xa), (2, 1, 0xb)])];
        assert_eq!(check(&samples).verdict, Verdict::Invalid, "the later sample shows the drop");
    }

    #[test]
    fn nothing_sampled_is_unknown() {
        assert_eq!(check(&[]).verdict, Verdict::Unknown);
        assert_eq!(check(&[sample(1, 1, 0, &[])]).verdict, Verdict::Unknown);
    }

    #[test]
    fn the_report_keeps_a_bounded_number_of_examples() {
        let a: Vec<_> = (1..=100).map(|i| (i, 1, i)).collect();
        let b: Vec<_> = (1..=100).map(|i| (i, 2, 1000 + i)).collect();
        let report = check(&[sample(1, 1, 0, &a), sample(2, 2, 0, &b)]);
        assert_eq!(report.divergent_indexes, 100);
        assert!(matches!(report.first_divergence, Some(Violation::Divergence { index: 1, .. })));
        assert_eq!(report.examples.len(), MAX_REPORTED);
    }
}
