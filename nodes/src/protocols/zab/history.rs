//! A node's history (DSN III, "h_f"): the transactions it accepted, in strictly increasing
//! zxid order. Positions are 0-based counts; zxids name transactions on the wire.
//!
//! Because a zxid is proposed by one leader only (its epoch is established once), two
//! histories that hold the same zxid agree on everything up to it (DSN, the prefix property
//! of Lemma 1). Synchronization relies on that to send only what a follower lacks.

use super::{Txn, Zxid};

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct History {
    txns: Vec<Txn>,
}

impl History {
    pub fn new() -> Self {
        Self::default()
    }

    /// How many transactions it holds.
    pub fn len(&self) -> u64 {
        self.txns.len() as u64
    }

    pub fn is_empty(&self) -> bool {
        self.txns.is_empty()
    }

    /// The transaction at `position` (0-based).
    pub fn get(&self, position: u64) -> Option<&Txn> {
        self.txns.get(usize::try_from(position).ok()?)
    }

    /// The zxid of the last transaction, [`Zxid::ZERO`] when empty.
    pub fn last_zxid(&self) -> Zxid {
        self.txns.last().map_or(Zxid::ZERO, |t| t.zxid)
    }

    /// The zxid of the transaction before `count` (the last of the first `count`).
    pub fn zxid_before(&self, count: u64) -> Zxid {
        if count == 0 {
            return Zxid::ZERO;
        }
        self.get(count - 1).map_or(Zxid::ZERO, |t| t.zxid)
    }

    /// How many transactions there are up to and including `zxid`, if it is held
    /// (`Some(0)` for [`Zxid::ZERO`]).
    pub fn count_through(&self, zxid: Zxid) -> Option<u64> {
        if zxid == Zxid::ZERO {
            return Some(0);
        }
        self.txns.binary_search_by(|t| t.zxid.cmp(&zxid)).ok().map(|i| i as u64 + 1)
    }

    /// How many transactions have a zxid at most `zxid` (held or not).
    pub fn count_up_to(&self, zxid: Zxid) -> u64 {
        self.txns.partition_point(|t| t.zxid <= zxid) as u64
    }

    /// The transactions from `position` on, at most `limit` of them.
    pub fn slice_from(&self, position: u64, limit: usize) -> Vec<Txn> {
        let start = usize::try_from(position).unwrap_or(usize::MAX).min(self.txns.len());
        self.txns[start..].iter().take(limit).cloned().collect()
    }

    /// Every transaction, in order.
    pub fn txns(&self) -> &[Txn] {
        &self.txns
    }

    /// Append transactions that follow the last one.
    pub fn append(&mut self, txns: impl IntoIterator<Item = Txn>) {
        for txn in txns {
            assert!(txn.zxid > self.last_zxid(), "zxid {} appended after {}", txn.zxid, self.last_zxid());
            self.txns.push(txn);
        }
    }

    /// Keep the first `keep` transactions and drop the rest.
    pub fn truncate(&mut self, keep: u64) {
        self.txns.truncate(usize::try_from(keep).unwrap_or(usize::MAX));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::Request;

    fn txn(epoch: u64, counter: u64) -> Txn {
        Txn { zxid: Zxid { epoch, counter }, request: Request::Put { key: "k".into(), value: 1 } }
    }

    #[test]
    fn positions_are_found_by_zxid() {
        let mut h = History::new();
        h.append([txn(1, 1), txn(1, 2), txn(3, 1)]);
        assert_eq!(h.count_through(Zxid { epoch: 1, counter: 2 }), Some(2));
        assert_eq!(h.count_through(Zxid { epoch: 2, counter: 1 }), None);
        assert_eq!(h.count_through(Zxid::ZERO), Some(0));
        assert_eq!(h.count_up_to(Zxid { epoch: 2, counter: 9 }), 2);
        assert_eq!(h.zxid_before(3), Zxid { epoch: 3, counter: 1 });
        assert_eq!(h.slice_from(1, 1), vec![txn(1, 2)]);
        h.truncate(1);
        assert_eq!(h.last_zxid(), Zxid { epoch: 1, counter: 1 });
    }

    #[test]
    #[should_panic(expected = "appended after")]
    fn an_out_of_order_append_is_a_bug() {
        let mut h = History::new();
        h.append([txn(2, 1), txn(1, 5)]);
    }
}
