//! The search's memo: every (linearized set, model state) configuration already explored.
//!
//! Wing & Gong's search revisits the same configuration through different orders of the
//! same concurrent ops; the memo (Lowe's cache) cuts each revisit. A configuration is
//! stored compactly: the linearized set is all ops below the first one not yet linearized
//! (left implicit) plus the words of the bitset from there to the highest linearized op.
//! Those words live in one arena and an index of ids (`id_table`) finds them, so an entry costs a
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

use crate::hash::mix64;
use crate::id_table::IdTable;

/// A memo holding more than this is dropped rather than reused.
const RECYCLE_MAX_BYTES: u64 = 64 << 20;

#[derive(Clone, Copy)]
struct Entry {
    state: u32,
    first_word: u32,
    len: u32,
    /// The unknown-outcome ops linearized, as words from 0, trailing zeros trimmed; they
    /// follow the completed set's words in the arena.
    unknown_len: u32,
    offset: u64,
}

pub(crate) struct Memo {
    index: IdTable,
    entries: Vec<Entry>,
    words: Vec<u64>,
}

impl Default for Memo {
    fn default() -> Self {
        Memo::with_capacity(0)
    }
}

impl Memo {
    /// An empty memo with room for `entries` configurations before it first grows.
    pub(crate) fn with_capacity(entries: usize) -> Self {
        Memo {
            index: IdTable::with_capacity(entries),
            entries: Vec::with_capacity(entries),
            words: Vec::with_capacity(entries),
        }
    }

    /// The probe hash of a configuration from the set's Zobrist hash and the state.
    #[inline]
    pub(crate) fn hash(set_hash: u64, state: u32) -> u64 {
        mix64(set_hash ^ (state as u64).wrapping_mul(0x5bd1_e995_0000_0001))
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
        let found = self.index.find_or_insert(
            hash,
            &mut (&mut self.entries, &mut self.words),
            |(entries, arena), id| {
                let e = entries[id as usize];
                if e.state != state
                    || e.first_word != first_word
                    || e.len as usize != words.len()
                    || e.unknown_len as usize > unknown.len()
                {
                    return false;
                }
                let at = e.offset as usize;
                let seen = &arena[at..at + words.len() + e.unknown_len as usize];
                // Word by word: the sets are a few words long, too short for memcmp.
                seen.iter().zip(words).all(|(&s, &w)| s == w)
                    && seen[words.len()..].iter().zip(unknown).all(|(&s, &u)| s & !u == 0)
            },
            |(entries, arena)| {
                let id =
                    u32::try_from(entries.len()).expect("memo entries fit in u32 under any memory limit");
                let offset = arena.len() as u64;
                arena.extend_from_slice(words);
                arena.extend_from_slice(unknown);
                entries.push(Entry {
                    state,
                    first_word,
                    len: words.len() as u32,
                    unknown_len: unknown.len() as u32,
                    offset,
                });
                id
            },
        );
        found.is_err()
    }

    /// The memo emptied for another search, keeping its room unless that room is more
    /// than a next search should hold without having asked for it.
    pub(crate) fn recycle(mut self) -> Memo {
        if self.bytes() > RECYCLE_MAX_BYTES {
            return Memo::default();
        }
        self.index.clear();
        self.entries.clear();
        self.words.clear();
        self
    }

    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }

    /// Bytes held now.
    pub(crate) fn bytes(&self) -> u64 {
        (self.index.heap_bytes()
            + self.entries.capacity() * std::mem::size_of::<Entry>()
            + self.words.capacity() * 8) as u64
    }

    /// The most the next few inserts could add at once: a table or arena doubling, during
    /// which old and new allocations are both alive.
    pub(crate) fn growth_bytes(&self) -> u64 {
        let entries = self.entries.capacity().max(16) * std::mem::size_of::<Entry>() * 2;
        let words = self.words.capacity().max(16) * 8 * 2;
        self.index.growth_bytes().max(entries).max(words) as u64
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
        let mut memo = memo.recycle();
        assert_eq!(memo.len(), 0);
        assert!(memo.insert(7, 1, 0, &[0b101], &[]), "a recycled memo has forgotten everything");
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
