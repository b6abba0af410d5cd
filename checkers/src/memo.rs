//! The search's memo: every (linearized set, model state) configuration already explored.
//!
//! Wing & Gong's search revisits the same configuration through different orders of the
//! same concurrent ops; the memo (Lowe's cache) cuts each revisit. A configuration is
//! stored compactly: the linearized set is all ops below the first one not yet linearized
//! (left implicit) plus the words of the bitset from there to the highest linearized op.
//! Those words live in one arena and entries chain through an index, so an entry costs a
//! few dozen bytes and no allocation of its own. The hash is incremental (a Zobrist hash
//! of the set, kept up to date as ops are added and removed), so a probe does not rehash
//! the bitset; equality still compares the words, so a hash collision never prunes.
//!
//! Ops of unknown outcome (`info`) are kept apart: they have no deadline, so a
//! configuration that has linearized fewer of them, with the same completed ops and the
//! same state, can do everything the other can (it may still linearize the rest later).
//! The memo therefore prunes a configuration when one with the same completed ops and
//! state and a *subset* of its unknown ops was seen, not only an identical one. Without
//! this, k crashed ops make 2^k configurations that differ only in which of them
//! happened, and histories with hundreds of crashed ops cannot be decided.

use std::collections::HashMap;

use crate::hash::{mix64, IdentityBuild};

#[derive(Clone, Copy)]
struct Entry {
    /// Next entry with the same hash, or `NONE`.
    next: u32,
    state: u32,
    first_word: u32,
    len: u32,
    offset: u64,
    /// The unknown-outcome ops linearized, as words from 0, trailing zeros trimmed.
    unknown_len: u32,
    unknown_offset: u64,
}

const NONE: u32 = u32::MAX;

#[derive(Default)]
pub(crate) struct Memo {
    heads: HashMap<u64, u32, IdentityBuild>,
    entries: Vec<Entry>,
    words: Vec<u64>,
}

impl Memo {
    /// The probe hash of a configuration from the set's Zobrist hash and the state.
    #[inline]
    pub(crate) fn hash(set_hash: u64, state: u32) -> u64 {
        set_hash ^ mix64(state as u64 ^ 0x5bd1_e995_0000_0000)
    }

    /// Records the configuration unless it is dominated; `false` if a configuration with
    /// the same completed set (`words` from `first_word` on, ending at the last non-zero
    /// word) and state, and a subset of its unknown ops (`unknown`), was already there.
    pub(crate) fn insert(
        &mut self,
        hash: u64,
        state: u32,
        first_word: u32,
        words: &[u64],
        unknown: &[u64],
    ) -> bool {
        let unknown = &unknown[..unknown.iter().rposition(|&w| w != 0).map_or(0, |i| i + 1)];
        let head = self.heads.get(&hash).copied().unwrap_or(NONE);
        let mut at = head;
        while at != NONE {
            let e = self.entries[at as usize];
            if e.state == state
                && e.first_word == first_word
                && e.len as usize == words.len()
                && e.unknown_len as usize <= unknown.len()
                && &self.words[e.offset as usize..e.offset as usize + words.len()] == words
            {
                let seen = &self.words
                    [e.unknown_offset as usize..e.unknown_offset as usize + e.unknown_len as usize];
                if seen.iter().zip(unknown).all(|(&s, &u)| s & !u == 0) {
                    return false;
                }
            }
            at = e.next;
        }
        let id = u32::try_from(self.entries.len()).expect("memo entries fit in u32 under any memory limit");
        let offset = self.words.len() as u64;
        self.words.extend_from_slice(words);
        let unknown_offset = self.words.len() as u64;
        self.words.extend_from_slice(unknown);
        self.entries.push(Entry {
            next: head,
            state,
            first_word,
            len: words.len() as u32,
            offset,
            unknown_len: unknown.len() as u32,
            unknown_offset,
        });
        self.heads.insert(hash, id);
        true
    }

    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }

    /// Bytes held now.
    pub(crate) fn bytes(&self) -> u64 {
        (self.heads.capacity() * 17 * 8 / 7
            + self.entries.capacity() * std::mem::size_of::<Entry>()
            + self.words.capacity() * 8) as u64
    }

    /// The most the next few inserts could add at once: a table or arena doubling, during
    /// which old and new allocations are both alive.
    pub(crate) fn growth_bytes(&self) -> u64 {
        let table = self.heads.capacity().max(16) * 17 * 8 / 7 * 2;
        let entries = self.entries.capacity().max(16) * std::mem::size_of::<Entry>() * 2;
        let words = self.words.capacity().max(16) * 8 * 2;
        table.max(entries).max(words) as u64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn equal_hashes_with_different_sets_are_both_kept() {
        let mut memo = Memo::default();
        assert!(memo.insert(7, 1, 0, &[0b101], &[]));
        assert!(!memo.insert(7, 1, 0, &[0b101], &[]));
        assert!(memo.insert(7, 1, 0, &[0b111], &[]), "a collision must not prune");
        assert!(memo.insert(7, 2, 0, &[0b101], &[]));
        assert!(memo.insert(7, 1, 1, &[0b101], &[]));
        assert!(memo.insert(8, 1, 0, &[], &[]));
        assert_eq!(memo.len(), 5);
        assert!(memo.bytes() > 0 && memo.growth_bytes() > 0);
    }

    #[test]
    fn fewer_unknown_ops_dominate_more() {
        let mut memo = Memo::default();
        assert!(memo.insert(1, 0, 0, &[1], &[0b01, 0]));
        assert!(!memo.insert(1, 0, 0, &[1], &[0b11]), "a superset of unknown ops is dominated");
        assert!(memo.insert(1, 0, 0, &[1], &[0b10]), "an incomparable set is not");
        assert!(memo.insert(1, 0, 0, &[1], &[]), "a subset is new");
        assert!(!memo.insert(1, 0, 0, &[1], &[0b100]));
    }
}
