//! Strings built by appending, interned without copying: the kv model's values.
//!
//! A kv search reaches a new state with almost every append it tries, and each state is a
//! string as long as everything appended to the key so far. Copying and rehashing that
//! string at every step made the checker's time grow with the square of a key's history.
//! Here a string is a node: either a literal (a value that appears in an op, or the
//! initial value) or a parent node plus an appended literal. Each node carries a
//! polynomial hash and the length, and the hash of a concatenation follows from its parts
//! (`h(a + b) = h(a) * B^len(b) + h(b)`), so an append costs a table probe, never a copy.
//!
//! Ids stay canonical: equal strings get equal ids, however they were built, so a get
//! compares ids and the search's memo merges equal states. A hash match is never taken on
//! trust: a node reached again by the same (parent, literal) is equal by construction,
//! and any other match is confirmed by comparing the bytes (then remembered), so a hash
//! collision can cost time but never change a verdict.

use crate::hash::{mix64, FxHashMap};
use crate::id_table::IdTable;

/// An interned string's id.
pub(crate) type StringId = u32;

const NONE: u32 = u32::MAX;
/// The polynomial hash's base (odd, so powers never vanish modulo 2^64).
const BASE: u64 = 0x0000_0100_0000_01b3;

#[derive(Clone, Copy)]
struct Node {
    hash: u64,
    len: u64,
    /// The string this one extends, or `NONE` for a literal.
    parent: u32,
    /// For an appended node: the literal appended. For a literal: its index in `literals`.
    suffix: u32,
}

/// Interned strings closed under append.
pub(crate) struct Strings {
    /// Node ids by mixed (hash, length).
    index: IdTable,
    store: Store,
}

/// The nodes and what comparing them needs.
struct Store {
    nodes: Vec<Node>,
    literals: Vec<String>,
    /// `BASE^len` of each literal, by its index in `literals`.
    literal_power: Vec<u64>,
    /// (parent, literal) -> node for appends whose result was already interned with
    /// another shape (confirmed equal byte by byte once).
    aliases: FxHashMap<(u32, u32), u32>,
    scratch: (Vec<u8>, Vec<u8>),
    /// Per literal, once asked for: the hash of each of its prefixes, by length.
    prefix_hashes: Vec<Option<Box<[u64]>>>,
}

impl Default for Strings {
    fn default() -> Self {
        Strings::with_capacity(0)
    }
}

impl Strings {
    /// An empty store with room for `n` strings before it first grows.
    pub(crate) fn with_capacity(n: usize) -> Self {
        Strings {
            index: IdTable::with_capacity(n),
            store: Store {
                nodes: Vec::with_capacity(n),
                literals: Vec::new(),
                literal_power: Vec::new(),
                aliases: FxHashMap::default(),
                scratch: (Vec::new(), Vec::new()),
                prefix_hashes: Vec::new(),
            },
        }
    }

    /// The id of a literal string, interning it if new.
    pub(crate) fn literal(&mut self, text: &str) -> StringId {
        let hash = text.bytes().fold(0u64, |h, b| h.wrapping_mul(BASE).wrapping_add(b as u64));
        let len = text.len() as u64;
        let found = self.index.find_or_insert(
            key(hash, len),
            &mut self.store,
            |store, candidate| {
                let n = store.nodes[candidate as usize];
                if n.hash != hash || n.len != len {
                    return false;
                }
                let mut scratch = std::mem::take(&mut store.scratch.0);
                scratch.clear();
                store.write(candidate, &mut scratch);
                let equal = scratch == text.as_bytes();
                store.scratch.0 = scratch;
                equal
            },
            |store| {
                let index = store.literals.len() as u32;
                store.literals.push(text.to_string());
                store.prefix_hashes.push(None);
                store.literal_power.push((0..len).fold(1u64, |p, _| p.wrapping_mul(BASE)));
                store.push(Node { hash, len, parent: NONE, suffix: index })
            },
        );
        found.unwrap_or_else(|new| new)
    }

    /// The id of `head` followed by the literal `tail` (an id from [`Strings::literal`]).
    #[inline]
    pub(crate) fn append(&mut self, head: StringId, tail: StringId) -> StringId {
        let store = &self.store;
        let (h, t) = (store.nodes[head as usize], store.nodes[tail as usize]);
        debug_assert_eq!(t.parent, NONE, "only literals are appended");
        let hash = h.hash.wrapping_mul(store.literal_power[t.suffix as usize]).wrapping_add(t.hash);
        let len = h.len + t.len;
        let found = self.index.find_or_insert(
            key(hash, len),
            &mut self.store,
            |store, candidate| {
                let n = store.nodes[candidate as usize];
                n.hash == hash
                    && n.len == len
                    && ((n.parent == head && n.suffix == tail) || store.same_bytes(candidate, head, tail))
            },
            |store| store.push(Node { hash, len, parent: head, suffix: tail }),
        );
        found.unwrap_or_else(|new| new)
    }

    /// Whether the string `head` may be a prefix of the literal `whole`: `false` only when
    /// it certainly is not (the prefix of that length hashes differently); equal hashes
    /// are not confirmed, so a collision can only answer `true`.
    pub(crate) fn may_be_prefix(&mut self, head: StringId, whole: StringId) -> bool {
        let store = &mut self.store;
        let (h, w) = (store.nodes[head as usize], store.nodes[whole as usize]);
        debug_assert_eq!(w.parent, NONE, "prefixes are asked of literals");
        if h.len > w.len {
            return false;
        }
        let literals = &store.literals;
        let prefixes = store.prefix_hashes[w.suffix as usize].get_or_insert_with(|| {
            let mut hash = 0u64;
            std::iter::once(0)
                .chain(literals[w.suffix as usize].bytes().map(|b| {
                    hash = hash.wrapping_mul(BASE).wrapping_add(b as u64);
                    hash
                }))
                .collect()
        });
        prefixes[h.len as usize] == h.hash
    }

    /// The string itself.
    pub(crate) fn text(&self, id: StringId) -> String {
        let mut bytes = Vec::with_capacity(self.store.nodes[id as usize].len as usize);
        self.store.write(id, &mut bytes);
        String::from_utf8(bytes).expect("concatenated UTF-8 literals are UTF-8")
    }

    pub(crate) fn heap_bytes(&self) -> usize {
        let store = &self.store;
        self.index.heap_bytes()
            + store.nodes.capacity() * std::mem::size_of::<Node>()
            + store.literal_power.capacity() * 8
            + store.literals.iter().map(|s| s.capacity() + 24).sum::<usize>()
            + store.aliases.capacity() * 13 * 8 / 7
            + store.scratch.0.capacity()
            + store.scratch.1.capacity()
            + store.prefix_hashes.iter().flatten().map(|p| p.len() * 8).sum::<usize>()
            + store.prefix_hashes.capacity() * 16
    }
}

/// The index key of a string's hash and length.
fn key(hash: u64, len: u64) -> u64 {
    mix64(hash ^ len.rotate_left(29))
}

impl Store {
    fn push(&mut self, node: Node) -> StringId {
        let id =
            u32::try_from(self.nodes.len()).expect("fewer than 2^32 distinct strings under any memory limit");
        self.nodes.push(node);
        id
    }

    /// Whether `candidate` holds the bytes of `head` followed by `tail` (equal hash and
    /// length already known), remembering a match so that it is compared only once.
    #[cold]
    fn same_bytes(&mut self, candidate: u32, head: u32, tail: u32) -> bool {
        if let Some(&id) = self.aliases.get(&(head, tail)) {
            return id == candidate;
        }
        let (mut a, mut b) = std::mem::take(&mut self.scratch);
        a.clear();
        b.clear();
        self.write(head, &mut a);
        self.write(tail, &mut a);
        self.write(candidate, &mut b);
        let equal = a == b;
        self.scratch = (a, b);
        if equal {
            self.aliases.insert((head, tail), candidate);
        }
        equal
    }

    /// Appends the bytes of `id` to `out`.
    fn write(&self, id: StringId, out: &mut Vec<u8>) {
        let mut suffixes = Vec::new();
        let mut at = id;
        loop {
            let n = self.nodes[at as usize];
            if n.parent == NONE {
                out.extend_from_slice(self.literals[n.suffix as usize].as_bytes());
                break;
            }
            suffixes.push(n.suffix);
            at = n.parent;
        }
        for &literal in suffixes.iter().rev() {
            let n = self.nodes[literal as usize];
            out.extend_from_slice(self.literals[n.suffix as usize].as_bytes());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn equal_strings_get_one_id_however_they_were_built() {
        let mut s = Strings::default();
        let empty = s.literal("");
        let (ab, c, a, bc, abc) =
            (s.literal("ab"), s.literal("c"), s.literal("a"), s.literal("bc"), s.literal("abc"));
        assert_eq!(s.literal("ab"), ab);
        assert_eq!(s.append(empty, ab), ab, "appending to the empty string gives the literal");
        let ab_c = s.append(ab, c);
        assert_eq!(ab_c, abc, "an append equal to a literal is that literal");
        assert_eq!(s.append(a, bc), abc, "another split of the same bytes");
        assert_eq!(s.append(a, bc), abc, "and again, through the alias");
        let abcc = s.append(abc, c);
        let ab_c = s.append(ab, c);
        let abcc2 = s.append(ab_c, c);
        assert_eq!(abcc, abcc2);
        assert_ne!(abcc, abc);
        assert_eq!(s.text(abcc), "abcc");
        let aa = s.append(a, a);
        assert_eq!(s.text(aa), "aa");
        assert!(s.heap_bytes() > 0);
    }

    #[test]
    fn prefixes_are_told_apart_by_their_hashes() {
        let mut s = Strings::default();
        let (empty, x, y, xyx) = (s.literal(""), s.literal("x"), s.literal("y"), s.literal("xyx"));
        let xy = s.append(x, y);
        let yx = s.append(y, x);
        assert!(s.may_be_prefix(empty, xyx));
        assert!(s.may_be_prefix(x, xyx));
        assert!(s.may_be_prefix(xy, xyx));
        assert!(s.may_be_prefix(xyx, xyx));
        assert!(!s.may_be_prefix(y, xyx));
        assert!(!s.may_be_prefix(yx, xyx));
        let xyxy = s.append(xyx, y);
        assert!(!s.may_be_prefix(xyxy, xyx), "longer than the whole");
    }

    #[test]
    fn a_hash_collision_never_merges_different_strings() {
        // Forge a collision: "zzz" takes the hash of "abc" and joins its bucket.
        let mut s = Strings::default();
        let forged = s.literal("zzz");
        let hash = "abc".bytes().fold(0u64, |h, b| h.wrapping_mul(BASE).wrapping_add(b as u64));
        s.store.nodes[forged as usize].hash = hash;
        let stored = s.index.find_or_insert(key(hash, 3), &mut (), |_, _| false, |_| forged);
        assert_eq!(stored, Err(forged));

        let (a, ab, bc, c) = (s.literal("a"), s.literal("ab"), s.literal("bc"), s.literal("c"));
        let abc = s.append(ab, c);
        assert_ne!(abc, forged, "equal hash and length, other bytes: a new string");
        assert_eq!(s.text(abc), "abc");
        assert_eq!(s.append(a, bc), abc, "the genuine equal string is found past the forged one");
        assert_eq!(s.literal("abc"), abc);
        assert_eq!(s.text(forged), "zzz");
    }
}
