//! The replicated log as one node holds it: a compaction point (the last index and term
//! folded into a snapshot, section 7) followed by a dense run of entries.
//!
//! Invariant: `entries[i].index == snapshot_index + 1 + i`, and terms never decrease along
//! the log. Every method keeps it; callers check a message's shape before handing entries in
//! (see `Message::is_well_formed`), and `append` asserts it as a last line of defence.

use super::Entry;

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Log {
    /// Index of the last entry folded into the snapshot (0: none).
    snapshot_index: u64,
    /// Term of that entry (0: none).
    snapshot_term: u64,
    entries: Vec<Entry>,
}

impl Log {
    pub fn new() -> Self {
        Self::default()
    }

    /// The index of the last entry (the snapshot's if the log after it is empty).
    pub fn last_index(&self) -> u64 {
        self.snapshot_index + self.entries.len() as u64
    }

    /// The term of the last entry (the snapshot's if the log after it is empty).
    pub fn last_term(&self) -> u64 {
        self.entries.last().map_or(self.snapshot_term, |e| e.term)
    }

    pub fn snapshot_index(&self) -> u64 {
        self.snapshot_index
    }

    pub fn snapshot_term(&self) -> u64 {
        self.snapshot_term
    }

    /// The term of the entry at `index`: known for the compaction point and every entry after
    /// it; `None` before it (compacted away) and past the end.
    pub fn term_at(&self, index: u64) -> Option<u64> {
        if index == self.snapshot_index {
            return Some(self.snapshot_term);
        }
        self.entry(index).map(|e| e.term)
    }

    /// The entry at `index`, if it is held (not compacted, not past the end).
    pub fn entry(&self, index: u64) -> Option<&Entry> {
        let offset = index.checked_sub(self.snapshot_index + 1)?;
        self.entries.get(usize::try_from(offset).ok()?)
    }

    /// Up to `max` entries starting at `from` (empty if `from` is past the end). `from` must
    /// be after the compaction point.
    pub fn entries_from(&self, from: u64, max: usize) -> Vec<Entry> {
        debug_assert!(from > self.snapshot_index, "entries_from({from}) at or before the snapshot");
        let Some(offset) = from.checked_sub(self.snapshot_index + 1) else { return Vec::new() };
        let start = usize::try_from(offset).unwrap_or(usize::MAX).min(self.entries.len());
        let end = start.saturating_add(max).min(self.entries.len());
        self.entries[start..end].to_vec()
    }

    /// Every entry after `index` (for rewriting the log after compaction).
    pub fn entries_after(&self, index: u64) -> Vec<Entry> {
        let from = index.max(self.snapshot_index) + 1;
        self.entries_from(from, usize::MAX)
    }

    /// Append one entry at the end.
    pub fn append(&mut self, entry: Entry) {
        assert_eq!(entry.index, self.last_index() + 1, "log append leaves a gap or overlaps");
        assert!(entry.term >= self.last_term(), "log terms must not decrease");
        self.entries.push(entry);
    }

    /// Remove every entry at `from` or later. Entries at or before the compaction point are
    /// committed and are never removed.
    pub fn truncate_from(&mut self, from: u64) {
        assert!(from > self.snapshot_index, "truncating at {from}, inside the snapshot");
        let keep = (from - self.snapshot_index - 1) as usize;
        self.entries.truncate(keep);
    }

    /// Move the compaction point to (`index`, `term`). Entries after it are kept if the log
    /// holds `index` with that `term` (log matching, 5.3, makes the suffix consistent);
    /// otherwise the whole log is replaced by the compaction point.
    pub fn compact_to(&mut self, index: u64, term: u64) {
        if index <= self.snapshot_index {
            return;
        }
        if self.term_at(index) == Some(term) {
            let drop = (index - self.snapshot_index) as usize;
            self.entries.drain(..drop);
        } else {
            self.entries.clear();
        }
        self.snapshot_index = index;
        self.snapshot_term = term;
    }

    /// The first index after the compaction point whose entry has `term`, where the run of
    /// `term` ends at `at` (used for the conflict hint of 5.3).
    pub fn first_index_of_term_ending_at(&self, term: u64, at: u64) -> u64 {
        let mut index = at;
        while index > self.snapshot_index + 1 && self.term_at(index - 1) == Some(term) {
            index -= 1;
        }
        index
    }

    /// The last index holding an entry of `term`, if any (the leader's side of the hint).
    pub fn last_index_of_term(&self, term: u64) -> Option<u64> {
        self.entries.iter().rev().find(|e| e.term == term).map(|e| e.index)
    }

    /// Section 5.4.1: whether a log ending at (`last_index`, `last_term`) is at least as
    /// up-to-date as this one: a later last term wins; with equal terms the longer log wins.
    pub fn is_up_to_date(&self, last_index: u64, last_term: u64) -> bool {
        (last_term, last_index) >= (self.last_term(), self.last_index())
    }
}

#[cfg(test)]
mod tests {
    use super::super::Command;
    use super::*;

    fn entry(index: u64, term: u64) -> Entry {
        Entry { index, term, command: Command::Noop }
    }

    fn log_of(terms: &[u64]) -> Log {
        let mut log = Log::new();
        for (i, &t) in terms.iter().enumerate() {
            log.append(entry(i as u64 + 1, t));
        }
        log
    }

    #[test]
    fn indices_and_terms_survive_compaction() {
        let mut log = log_of(&[1, 1, 2, 3, 3]);
        log.compact_to(3, 2);
        assert_eq!((log.snapshot_index(), log.snapshot_term()), (3, 2));
        assert_eq!(log.term_at(3), Some(2));
        assert_eq!(log.term_at(2), None);
        assert_eq!(log.term_at(5), Some(3));
        assert_eq!(log.last_index(), 5);
        assert_eq!(log.entries_from(4, 10).len(), 2);
        assert_eq!(log.entries_after(0).len(), 2);
    }

    #[test]
    fn compaction_to_an_unknown_point_drops_the_log() {
        let mut log = log_of(&[1, 1]);
        log.compact_to(7, 4);
        assert_eq!(log.last_index(), 7);
        assert_eq!(log.last_term(), 4);
        assert!(log.entry(2).is_none());
    }

    #[test]
    fn truncation_removes_the_suffix() {
        let mut log = log_of(&[1, 2, 2, 2]);
        log.truncate_from(3);
        assert_eq!(log.last_index(), 2);
        log.append(entry(3, 5));
        assert_eq!(log.last_term(), 5);
    }

    #[test]
    fn the_first_index_of_a_term_is_found_within_the_log() {
        let log = log_of(&[1, 2, 2, 2, 3]);
        assert_eq!(log.first_index_of_term_ending_at(2, 4), 2);
        assert_eq!(log.last_index_of_term(2), Some(4));
        assert_eq!(log.last_index_of_term(7), None);
    }

    #[test]
    fn up_to_date_compares_last_term_then_length() {
        let log = log_of(&[1, 2, 2]);
        assert!(log.is_up_to_date(1, 3));
        assert!(log.is_up_to_date(3, 2));
        assert!(!log.is_up_to_date(2, 2));
        assert!(!log.is_up_to_date(9, 1));
    }

    #[test]
    #[should_panic(expected = "gap")]
    fn a_gap_is_refused() {
        let mut log = log_of(&[1]);
        log.append(entry(3, 1));
    }
}
