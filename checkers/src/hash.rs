//! Small, fast hashing for the search's hot tables.
//!
//! The memo and the interners hash millions of small integers and short strings; SipHash
//! (std's default) is built to resist adversarial keys, which a checker that reads its own
//! interned ids does not need. This is the multiply-rotate hash used by rustc ("Fx").

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

/// The multiply-rotate hasher. Not resistant to chosen keys; fine for interned ids.
#[derive(Default, Clone, Copy)]
pub(crate) struct FxHasher {
    hash: u64,
}

const SEED: u64 = 0x51_7c_c1_b7_27_22_0a_95;

impl FxHasher {
    #[inline]
    fn add(&mut self, word: u64) {
        self.hash = (self.hash.rotate_left(5) ^ word).wrapping_mul(SEED);
    }
}

impl Hasher for FxHasher {
    #[inline]
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for chunk in &mut chunks {
            self.add(u64::from_le_bytes(chunk.try_into().expect("chunks of 8")));
        }
        let rest = chunks.remainder();
        if !rest.is_empty() {
            let mut word = [0u8; 8];
            word[..rest.len()].copy_from_slice(rest);
            self.add(u64::from_le_bytes(word));
        }
    }
    #[inline]
    fn write_u8(&mut self, n: u8) {
        self.add(n as u64);
    }
    #[inline]
    fn write_u32(&mut self, n: u32) {
        self.add(n as u64);
    }
    #[inline]
    fn write_u64(&mut self, n: u64) {
        self.add(n);
    }
    #[inline]
    fn write_usize(&mut self, n: usize) {
        self.add(n as u64);
    }
    #[inline]
    fn finish(&self) -> u64 {
        self.hash
    }
}

pub(crate) type FxBuild = BuildHasherDefault<FxHasher>;
pub(crate) type FxHashMap<K, V> = HashMap<K, V, FxBuild>;

/// A well-mixed 64-bit value for `n` (splitmix64's finaliser): Zobrist keys for the
/// linearized-set hash and a mixer for state ids.
#[inline]
pub(crate) fn mix64(n: u64) -> u64 {
    let mut z = n.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// Heap bytes a value owns, for the memory budget.
pub(crate) trait HeapSize {
    fn heap_size(&self) -> usize;
}

impl HeapSize for String {
    fn heap_size(&self) -> usize {
        self.capacity()
    }
}

impl HeapSize for Box<[u32]> {
    fn heap_size(&self) -> usize {
        4 * self.len()
    }
}

/// Assigns dense `u32` ids to values, so states and values compare and hash as integers.
#[derive(Debug, Clone)]
pub(crate) struct Interner<T: std::hash::Hash + Eq + Clone + HeapSize> {
    values: Vec<T>,
    ids: FxHashMap<T, u32>,
    /// Heap bytes of the values, each held twice (the vector and the map's key).
    payload_bytes: usize,
}

impl<T: std::hash::Hash + Eq + Clone + HeapSize> Default for Interner<T> {
    fn default() -> Self {
        Interner { values: Vec::new(), ids: FxHashMap::default(), payload_bytes: 0 }
    }
}

impl<T: std::hash::Hash + Eq + Clone + HeapSize> Interner<T> {
    /// An interner with room for `n` values.
    pub(crate) fn with_capacity(n: usize) -> Self {
        Interner {
            values: Vec::with_capacity(n),
            ids: FxHashMap::with_capacity_and_hasher(n, Default::default()),
            payload_bytes: 0,
        }
    }

    /// The id of `value`, assigning the next one if it is new.
    pub(crate) fn intern(&mut self, value: T) -> u32 {
        let next = self.values.len();
        match self.ids.entry(value) {
            std::collections::hash_map::Entry::Occupied(known) => *known.get(),
            std::collections::hash_map::Entry::Vacant(slot) => {
                let id = u32::try_from(next).expect("more than 2^32 distinct values interned");
                self.payload_bytes += 2 * slot.key().heap_size();
                self.values.push(slot.key().clone());
                slot.insert(id);
                id
            }
        }
    }

    /// Bytes held, approximately: the values plus a vector slot and a table slot each.
    pub(crate) fn heap_bytes(&self) -> usize {
        let slot = std::mem::size_of::<T>();
        self.payload_bytes + self.values.capacity() * slot + self.ids.capacity() * (slot + 5) * 8 / 7
    }

    pub(crate) fn get(&self, id: u32) -> &T {
        &self.values[id as usize]
    }

    pub(crate) fn len(&self) -> usize {
        self.values.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interning_gives_one_id_per_distinct_value() {
        let mut interner = Interner::default();
        let a = interner.intern("a".to_string());
        let b = interner.intern("b".to_string());
        assert_ne!(a, b);
        assert_eq!(interner.intern("a".to_string()), a);
        assert_eq!(interner.get(b), "b");
        assert_eq!(interner.len(), 2);
    }

    #[test]
    fn mixing_spreads_neighbouring_integers() {
        assert_ne!(mix64(1) >> 57, mix64(2) >> 57);
        assert_ne!(mix64(0), 0);
    }
}
