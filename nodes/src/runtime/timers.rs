//! Pending timers of one node, ordered by deadline.
//!
//! The contract of [`crate::protocol`]: setting a timer that is pending replaces it,
//! cancelling one that is not pending does nothing, and none survive a crash (this table
//! lives only in memory). Deadlines are milliseconds on the node's monotonic clock; timers
//! with equal deadlines fire in the order they were set.

use std::collections::{BTreeMap, BTreeSet};

/// Timers keyed by name, with an index by deadline.
#[derive(Debug)]
pub struct Timers<T: Ord + Clone> {
    /// Name -> (deadline, sequence number of the set that armed it).
    by_name: BTreeMap<T, (u64, u64)>,
    /// (deadline, sequence, name): the next timer to fire is the first entry.
    by_deadline: BTreeSet<(u64, u64, T)>,
    next_sequence: u64,
}

impl<T: Ord + Clone> Default for Timers<T> {
    fn default() -> Self {
        Timers { by_name: BTreeMap::new(), by_deadline: BTreeSet::new(), next_sequence: 0 }
    }
}

impl<T: Ord + Clone> Timers<T> {
    pub fn new() -> Self {
        Self::default()
    }

    /// Arm `timer` to fire at `deadline_ms`, replacing any pending one of the same name.
    pub fn set(&mut self, timer: T, deadline_ms: u64) {
        self.cancel(&timer);
        let sequence = self.next_sequence;
        self.next_sequence += 1;
        self.by_deadline.insert((deadline_ms, sequence, timer.clone()));
        self.by_name.insert(timer, (deadline_ms, sequence));
    }

    /// Disarm `timer` if it is pending.
    pub fn cancel(&mut self, timer: &T) {
        if let Some((deadline, sequence)) = self.by_name.remove(timer) {
            let removed = self.by_deadline.remove(&(deadline, sequence, timer.clone()));
            debug_assert!(removed, "timer index out of step with the name table");
        }
    }

    /// The earliest pending deadline.
    pub fn next_deadline(&self) -> Option<u64> {
        self.by_deadline.first().map(|(deadline, _, _)| *deadline)
    }

    /// Remove and return the earliest timer due at `now_ms`, if any.
    pub fn pop_due(&mut self, now_ms: u64) -> Option<T> {
        let (deadline, _, _) = self.by_deadline.first()?;
        if *deadline > now_ms {
            return None;
        }
        let (_, _, timer) = self.by_deadline.pop_first()?;
        self.by_name.remove(&timer);
        Some(timer)
    }

    pub fn len(&self) -> usize {
        self.by_name.len()
    }

    pub fn is_empty(&self) -> bool {
        self.by_name.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::Timers;

    #[test]
    fn set_replaces_and_cancel_is_idempotent() {
        let mut t = Timers::new();
        t.set("election", 100);
        t.set("heartbeat", 50);
        t.set("election", 300);
        assert_eq!(t.len(), 2);
        assert_eq!(t.pop_due(299), Some("heartbeat"));
        assert_eq!(t.pop_due(299), None);
        t.cancel(&"election");
        t.cancel(&"election");
        t.cancel(&"never set");
        assert!(t.is_empty());
        assert_eq!(t.next_deadline(), None);
    }

    #[test]
    fn due_timers_fire_by_deadline_then_by_order_set() {
        let mut t = Timers::new();
        t.set("c", 20);
        t.set("b", 10);
        t.set("a", 10);
        assert_eq!(t.next_deadline(), Some(10));
        let fired: Vec<_> = std::iter::from_fn(|| t.pop_due(25)).collect();
        assert_eq!(fired, vec!["b", "a", "c"]);
    }
}
