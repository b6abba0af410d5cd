//! `--isolation read-committed`: a transaction's reads answered when it arrives, its writes
//! applied when it commits. Unsafe by design.
//!
//! Read committed (Berenson et al., "A Critique of ANSI SQL Isolation Levels", 1995) lets a
//! transaction read only committed data but holds no read locks: what it read may be
//! overwritten before it commits. Here the coordinator answers a queued transaction's reads
//! from its store (exactly the committed state) at arrival, and the transaction's writes are
//! applied at its commit as usual, so every replica still applies the same writes in the
//! same order; only the answers differ from the serializable mode's. Two transactions that
//! read a key and then append to it, queued behind the same transaction in flight, each
//! read the key without the other's append while one append lands after the other: a
//! lost update (G-single), which the list-append workload's checker must catch. Two pops
//! of a queue arriving together both answer its head, and its second element is removed
//! unseen: a duplicate and a loss, which the queue workload's checker must catch.

use crate::api::{ApiError, Response, TxnOp, TxnResult};
use crate::state_machine::Store;

/// A transaction's reads as answered at its arrival: one entry per step, `Some` for a read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EarlyReads(Vec<Option<TxnResult>>);

impl EarlyReads {
    /// The reads of `ops` against `store` now (its own earlier writes included); `None` if
    /// the transaction reads nothing, or would abort now (its commit then answers for it).
    pub fn now(store: &Store, ops: &[TxnOp]) -> Option<EarlyReads> {
        if !ops.iter().any(is_plain_read) {
            return None;
        }
        let Ok(Response::Results { results }) = store.preview_txn(ops) else { return None };
        let reads = ops.iter().zip(results).map(|(op, result)| is_plain_read(op).then_some(result)).collect();
        Some(EarlyReads(reads))
    }

    /// The commit's answer with the early reads in place of the reads made at commit.
    pub fn overlay(self, committed: Result<Response, ApiError>) -> Result<Response, ApiError> {
        match committed {
            Ok(Response::Results { results }) if results.len() == self.0.len() => {
                let results = results
                    .into_iter()
                    .zip(self.0)
                    .map(|(at_commit, early)| early.unwrap_or(at_commit))
                    .collect();
                Ok(Response::Results { results })
            }
            other => other,
        }
    }
}

/// A step whose result is a value read (a `Check` decides the commit and stays with it).
/// A `Pop` answers with the element it reads at the head of the list, as a queue on such
/// a store does (read the head, delete the head at commit): two pops that arrive together
/// both answer the same element, and the second element is removed unseen.
fn is_plain_read(op: &TxnOp) -> bool {
    matches!(op, TxnOp::Read { .. } | TxnOp::ReadList { .. } | TxnOp::Pop { .. })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::Request;

    #[test]
    fn reads_keep_what_they_saw_at_arrival_and_writes_land_at_commit() {
        let mut store = Store::new();
        let ops = vec![TxnOp::ReadList { key: "x".into() }, TxnOp::Append { key: "x".into(), value: 2 }];
        let early = EarlyReads::now(&store, &ops).expect("a txn that reads");
        // Another transaction commits an append in between.
        store.apply(&Request::Txn { ops: vec![TxnOp::Append { key: "x".into(), value: 1 }] }).unwrap();
        let committed = store.apply(&Request::Txn { ops: ops.clone() });
        assert_eq!(
            committed,
            Ok(Response::Results { results: vec![TxnResult::List(vec![1]), None.into()] }),
            "serializable: the read at commit sees the append before it"
        );
        assert_eq!(
            early.overlay(committed),
            Ok(Response::Results { results: vec![TxnResult::List(vec![]), None.into()] }),
            "read committed: the read at arrival missed it"
        );
        let append_only = [TxnOp::Append { key: "x".into(), value: 3 }];
        assert_eq!(EarlyReads::now(&store, &append_only), None);
    }

    #[test]
    fn two_pops_arriving_together_answer_the_same_head() {
        let mut store = Store::new();
        store.apply(&Request::Txn { ops: vec![TxnOp::Append { key: "q".into(), value: 1 }] }).unwrap();
        store.apply(&Request::Txn { ops: vec![TxnOp::Append { key: "q".into(), value: 2 }] }).unwrap();
        let pop = vec![TxnOp::Pop { key: "q".into() }];
        let first = EarlyReads::now(&store, &pop).expect("a pop reads");
        let second = EarlyReads::now(&store, &pop).expect("a pop reads");
        let head = Ok(Response::Results { results: vec![Some(1).into()] });
        assert_eq!(first.overlay(store.apply(&Request::Txn { ops: pop.clone() })), head);
        assert_eq!(
            second.overlay(store.apply(&Request::Txn { ops: pop.clone() })),
            head,
            "2 was removed unseen"
        );
        assert_eq!(
            store.apply(&Request::Txn { ops: pop }),
            Ok(Response::Results { results: vec![None.into()] })
        );
    }
}
