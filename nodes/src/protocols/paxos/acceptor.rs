//! The acceptor: the part of a node whose state decides safety and must survive crashes.
//!
//! "Paxos Made Simple" §2.2 and §2.3: an acceptor promises, in phase 1, never to accept a
//! proposal numbered below the prepare it answers, and reports the highest-numbered proposal
//! it has accepted; in phase 2 it accepts unless it has promised a higher number. Multi-Paxos
//! (§3) keeps one promise for all slots, so one prepare covers every open slot.
//!
//! Every change of state comes back as a [`Record`] that the caller persists in the same step
//! as the answer it sends, so the runtime makes the record durable first (the durability
//! contract of [`crate::protocol`]). Prepares and accepts that change nothing produce no
//! record: duplicates and retransmissions cost no write.

use std::collections::BTreeMap;

use super::ballot::Ballot;
use super::message::{AcceptedEntry, Record, Scope, Slot, Value};

/// Promised ballot and accepted values.
#[derive(Debug, Clone, Default)]
pub struct Acceptor {
    /// Nothing below this ballot is accepted any more, in any slot.
    promised: Ballot,
    /// Per slot, the value accepted in the highest ballot so far, above `compacted`.
    accepted: BTreeMap<Slot, (Ballot, Value)>,
    /// Slots up to here are chosen and folded into this node's snapshot: their accepted
    /// values are forgotten, and promises say so ([`super::snapshot`]).
    compacted: Slot,
}

/// How an acceptor answered a prepare or an accept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer<T> {
    /// Granted; persist the record (if any) before sending the answer.
    Granted { answer: T, record: Option<Record> },
    /// Refused: the acceptor has promised this higher ballot.
    Refused { promised: Ballot },
}

impl Acceptor {
    /// Rebuild from the records that were made durable, in order.
    pub fn recover(records: &[Record]) -> Acceptor {
        let mut acceptor = Acceptor::default();
        for record in records {
            match record {
                Record::Promise { ballot } => acceptor.promised = acceptor.promised.max(*ballot),
                Record::Accepted { ballot, entries } => {
                    acceptor.promised = acceptor.promised.max(*ballot);
                    for (slot, value) in entries {
                        acceptor.store(*slot, *ballot, value);
                    }
                }
                Record::Snapshot { snapshot } => acceptor.compact_to(snapshot.last_slot),
            }
        }
        acceptor
    }

    /// Forget accepted values at or below `slot` (chosen, and held in a snapshot).
    pub fn compact_to(&mut self, slot: Slot) {
        if slot > self.compacted {
            self.accepted = self.accepted.split_off(&(slot + 1));
            self.compacted = slot;
        }
    }

    /// Slots up to here are compacted (0: none).
    pub fn compacted(&self) -> Slot {
        self.compacted
    }

    pub fn promised(&self) -> Ballot {
        self.promised
    }

    /// What this acceptor accepted in `slot`, if anything.
    pub fn accepted_at(&self, slot: Slot) -> Option<&(Ballot, Value)> {
        self.accepted.get(&slot)
    }

    /// Everything accepted, by slot (for tests and invariant checks).
    pub fn accepted(&self) -> &BTreeMap<Slot, (Ballot, Value)> {
        &self.accepted
    }

    /// Phase 1b. Granted when `ballot` is at least the promise (equal: the same proposer asks
    /// again, e.g. a per-slot prepare of the classic variant or a retransmission).
    pub fn prepare(&mut self, ballot: Ballot, scope: Scope) -> Answer<Vec<AcceptedEntry>> {
        if ballot < self.promised {
            return Answer::Refused { promised: self.promised };
        }
        let record = (ballot > self.promised).then_some(Record::Promise { ballot });
        self.promised = ballot;
        let accepted = match scope {
            Scope::From(first) => self.accepted.range(first..).map(entry).collect(),
            Scope::One(slot) => self.accepted.get_key_value(&slot).map(entry).into_iter().collect(),
        };
        Answer::Granted { answer: accepted, record }
    }

    /// Phase 2b, for a batch of slots of one ballot. Granted when `ballot` is at least the
    /// promise; accepting raises the promise to `ballot`. Compacted slots are skipped and
    /// not acknowledged: they are chosen already, and this acceptor holds no value there.
    pub fn accept(&mut self, ballot: Ballot, entries: &[(Slot, Value)]) -> Answer<Vec<Slot>> {
        if ballot < self.promised {
            return Answer::Refused { promised: self.promised };
        }
        let compacted = self.compacted;
        let changed: Vec<(Slot, Value)> = entries
            .iter()
            .filter(|(slot, _)| *slot > compacted)
            .filter(|(slot, value)| self.accepted.get(slot) != Some(&(ballot, value.clone())))
            .cloned()
            .collect();
        let record = if changed.is_empty() && ballot == self.promised {
            None
        } else {
            Some(Record::Accepted { ballot, entries: changed.clone() })
        };
        self.promised = ballot;
        for (slot, value) in &changed {
            self.store(*slot, ballot, value);
        }
        let answer = entries.iter().map(|(slot, _)| *slot).filter(|slot| *slot > compacted).collect();
        Answer::Granted { answer, record }
    }

    fn store(&mut self, slot: Slot, ballot: Ballot, value: &Value) {
        if slot <= self.compacted {
            return;
        }
        match self.accepted.get(&slot) {
            Some((held, _)) if *held > ballot => {}
            _ => {
                self.accepted.insert(slot, (ballot, value.clone()));
            }
        }
    }
}

fn entry((slot, (ballot, value)): (&Slot, &(Ballot, Value))) -> AcceptedEntry {
    AcceptedEntry { slot: *slot, ballot: *ballot, value: value.clone() }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b(round: u64, node: u32) -> Ballot {
        Ballot { round, node }
    }

    fn granted<T>(answer: Answer<T>) -> (T, Option<Record>) {
        match answer {
            Answer::Granted { answer, record } => (answer, record),
            Answer::Refused { promised } => panic!("refused, promised {promised}"),
        }
    }

    #[test]
    fn a_promise_refuses_lower_ballots_and_reports_accepted_values() {
        let mut a = Acceptor::default();
        let (_, record) = granted(a.accept(b(1, 1), &[(1, Value::Noop), (2, Value::Noop)]));
        assert!(record.is_some());
        let (accepted, record) = granted(a.prepare(b(2, 2), Scope::From(2)));
        assert_eq!(record, Some(Record::Promise { ballot: b(2, 2) }));
        assert_eq!(accepted, vec![AcceptedEntry { slot: 2, ballot: b(1, 1), value: Value::Noop }]);
        assert_eq!(a.accept(b(1, 1), &[(3, Value::Noop)]), Answer::Refused { promised: b(2, 2) });
        assert_eq!(a.prepare(b(1, 3), Scope::One(1)), Answer::Refused { promised: b(2, 2) });
        assert!(a.accepted_at(3).is_none(), "a refused accept stored its value");
    }

    #[test]
    fn repeats_write_nothing_and_recovery_restores_the_state() {
        let mut a = Acceptor::default();
        let mut log = Vec::new();
        let (_, r) = granted(a.prepare(b(1, 1), Scope::From(1)));
        log.extend(r);
        let (_, r) = granted(a.prepare(b(1, 1), Scope::One(4)));
        assert!(r.is_none(), "a repeated prepare wrote a record");
        let (_, r) = granted(a.accept(b(1, 1), &[(1, Value::Noop)]));
        log.extend(r);
        let (_, r) = granted(a.accept(b(1, 1), &[(1, Value::Noop)]));
        assert!(r.is_none(), "a duplicated accept wrote a record");
        let (_, r) = granted(a.accept(b(4, 2), &[(2, Value::Noop)]));
        log.extend(r);
        let back = Acceptor::recover(&log);
        assert_eq!(back.promised(), b(4, 2));
        assert_eq!(back.accepted(), a.accepted());
    }

    #[test]
    fn compacted_slots_are_neither_reported_nor_accepted() {
        let mut a = Acceptor::default();
        granted(a.accept(b(1, 1), &[(1, Value::Noop), (2, Value::Noop), (3, Value::Noop)]));
        a.compact_to(2);
        let (accepted, _) = granted(a.prepare(b(2, 2), Scope::From(1)));
        assert_eq!(accepted.iter().map(|e| e.slot).collect::<Vec<_>>(), vec![3]);
        let (slots, record) = granted(a.accept(b(2, 2), &[(2, Value::Noop), (4, Value::Noop)]));
        assert_eq!(slots, vec![4], "a compacted slot was acknowledged");
        assert_eq!(record, Some(Record::Accepted { ballot: b(2, 2), entries: vec![(4, Value::Noop)] }));
        assert_eq!(a.compacted(), 2);
    }
}
