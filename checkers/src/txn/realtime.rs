//! Real-time order without n^2 edges: a transaction that completed before another was
//! invoked precedes it (strict serializability).
//!
//! Walking the history in order, a frontier holds the completed transactions not yet
//! covered by a later one. An invocation gets an edge from every transaction in the
//! frontier. When a transaction completes it joins the frontier and evicts everything that
//! was in the frontier at its own invocation: a transaction invoked from now on gets an
//! edge from it, and through it (it followed them) reaches them transitively. The frontier
//! holds at most the transactions that completed while one was in flight, so the edges are
//! O(transactions x concurrency).
//!
//! An indeterminate transaction never completes here: it may have taken effect at any
//! moment after its invocation, so nothing is known to follow it. An edge between two
//! transactions of one process is reported as `process` order, a special case of real
//! time that a person finds quicker.

use std::collections::BTreeSet;

use super::anomaly::EdgeKind;
use super::graph::{Dep, Why};
use super::micro_op::Txn;
use crate::hash::FxHashMap;

/// The real-time edges between `txns` (in invocation order).
pub(crate) fn edges(txns: &[Txn]) -> Vec<Dep> {
    // (event index, txn, is completion), in history order.
    let mut moments: Vec<(u64, usize, bool)> = Vec::with_capacity(txns.len() * 2);
    for (i, t) in txns.iter().enumerate() {
        moments.push((t.index, i, false));
        if let Some(done) = t.completed {
            moments.push((done, i, true));
        }
    }
    moments.sort_unstable();
    let mut frontier: BTreeSet<usize> = BTreeSet::new();
    let mut seen_at_invoke: FxHashMap<usize, Vec<usize>> = FxHashMap::default();
    let mut deps = Vec::new();
    for (_, i, completion) in moments {
        if completion {
            for covered in seen_at_invoke.remove(&i).unwrap_or_default() {
                frontier.remove(&covered);
            }
            frontier.insert(i);
        } else {
            for &before in &frontier {
                let process = txns[i].process;
                let (kind, why) = if txns[before].process == process {
                    (EdgeKind::Process, Why::Process { process })
                } else {
                    (EdgeKind::Realtime, Why::Realtime)
                };
                deps.push(Dep { from: before, to: i, kind, why });
            }
            if txns[i].completed.is_some() {
                seen_at_invoke.insert(i, frontier.iter().copied().collect());
            }
        }
    }
    deps
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::txn::micro_op::Status;

    fn txn(process: u64, index: u64, completed: Option<u64>) -> Txn<'static> {
        Txn {
            index,
            completed,
            process,
            status: if completed.is_some() { Status::Committed } else { Status::Indeterminate },
            ops: vec![],
            value: &serde_json::Value::Null,
        }
    }

    fn pairs(deps: &[Dep]) -> Vec<(usize, usize, EdgeKind)> {
        let mut p: Vec<_> = deps.iter().map(|d| (d.from, d.to, d.kind)).collect();
        p.sort();
        p
    }

    #[test]
    fn a_sequence_links_each_to_the_next_only() {
        let txns: Vec<Txn> = (0..4).map(|i| txn(i % 2, 2 * i, Some(2 * i + 1))).collect();
        let deps = edges(&txns);
        use EdgeKind::*;
        assert_eq!(pairs(&deps), vec![(0, 1, Realtime), (1, 2, Realtime), (2, 3, Realtime)]);
    }

    #[test]
    fn concurrent_transactions_are_not_ordered_and_both_precede_a_later_one() {
        // 0 and 1 overlap; 2 starts after both completed; 3 after 2; 4 is indeterminate.
        let txns = vec![
            txn(0, 0, Some(2)),
            txn(1, 1, Some(3)),
            txn(2, 4, Some(5)),
            txn(0, 6, Some(8)),
            txn(1, 7, None),
        ];
        use EdgeKind::*;
        assert_eq!(
            pairs(&edges(&txns)),
            vec![(0, 2, Realtime), (1, 2, Realtime), (2, 3, Realtime), (2, 4, Realtime)]
        );
    }

    #[test]
    fn edges_on_one_process_are_process_order() {
        let txns = vec![txn(5, 0, Some(1)), txn(5, 2, Some(3))];
        let deps = edges(&txns);
        assert_eq!(deps[0].why, Why::Process { process: 5 });
        assert_eq!(deps[0].kind, EdgeKind::Process);
    }
}
