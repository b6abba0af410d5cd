//! A hash index over ids whose records live elsewhere: the search's hottest lookups.
//!
//! The memo and the kv string store keep their records in plain vectors and need only a
//! way from a hash to the ids that may match it. This table stores, per slot, the id and
//! the top 32 bits of its hash in one word, probing linearly: a lookup reads one cache
//! line in the common case and touches a record only when those 32 bits agree, and growing
//! re-places slots from the stored bits without asking the records. It never decides
//! equality itself: the caller's test does, so a collision costs a comparison, never a
//! wrong answer. Nothing is ever removed.

/// Hashes passed in must be well mixed in their top bits (e.g. from `mix64`).
pub(crate) struct IdTable {
    /// `tag << 32 | (id + 1)`, or `EMPTY` (zero, so a new table is zeroed memory that the
    /// allocator can hand out without writing it).
    slots: Vec<u64>,
    /// log2 of `slots.len()`.
    bits: u32,
    len: usize,
}

const EMPTY: u64 = 0;
const MIN_BITS: u32 = 4;
const QUADRUPLE_BELOW_BITS: u32 = 20;

impl IdTable {
    /// Room for `n` ids before the first growth.
    pub(crate) fn with_capacity(n: usize) -> Self {
        let bits = (n.max(1) * 2).next_power_of_two().trailing_zeros().clamp(MIN_BITS, 32);
        IdTable { slots: vec![EMPTY; 1 << bits], bits, len: 0 }
    }

    /// The first id under `hash` that `matches` accepts, as `Ok`; if there is none, stores
    /// the id `new` gives and returns it as `Err`. One probe does both. `records` is what
    /// both look at (the caller's vectors), lent to each in turn.
    #[inline]
    pub(crate) fn find_or_insert<R>(
        &mut self,
        hash: u64,
        records: &mut R,
        mut matches: impl FnMut(&mut R, u32) -> bool,
        new: impl FnOnce(&mut R) -> u32,
    ) -> Result<u32, u32> {
        if (self.len + 1) * 2 > self.slots.len() {
            self.grow();
        }
        let tag = hash >> 32;
        let mask = self.slots.len() - 1;
        let mut at = self.home(tag);
        loop {
            let slot = self.slots[at];
            if slot == EMPTY {
                let id = new(records);
                debug_assert!(id < u32::MAX, "ids leave room for the empty slot's encoding");
                self.slots[at] = tag << 32 | (id as u64 + 1);
                self.len += 1;
                return Err(id);
            }
            let id = (slot as u32).wrapping_sub(1);
            if slot >> 32 == tag && matches(records, id) {
                return Ok(id);
            }
            at = (at + 1) & mask;
        }
    }

    /// Forgets every id, keeping the room.
    pub(crate) fn clear(&mut self) {
        self.slots.fill(EMPTY);
        self.len = 0;
    }

    pub(crate) fn heap_bytes(&self) -> usize {
        self.slots.capacity() * 8
    }

    /// What the next growth would allocate while the old slots are still held.
    pub(crate) fn growth_bytes(&self) -> usize {
        self.slots.len() * if self.bits < QUADRUPLE_BELOW_BITS { 4 } else { 2 } * 8
    }

    #[inline]
    fn home(&self, tag: u64) -> usize {
        (tag >> (32 - self.bits)) as usize
    }

    #[inline]
    fn place(&mut self, slot: u64) {
        let mask = self.slots.len() - 1;
        let mut at = self.home(slot >> 32);
        while self.slots[at] != EMPTY {
            at = (at + 1) & mask;
        }
        self.slots[at] = slot;
    }

    /// Quadruples the slots while the table is small (searches often grow tables from a
    /// few hundred ids to hundreds of thousands, and each growth re-places every id),
    /// doubles them once it is large.
    fn grow(&mut self) {
        assert!(self.bits < 32, "an id table holds fewer than 2^31 ids");
        let step = if self.bits < QUADRUPLE_BELOW_BITS { 2 } else { 1 };
        let bits = (self.bits + step).min(32);
        let old = std::mem::replace(&mut self.slots, vec![EMPTY; 1 << bits]);
        self.bits = bits;
        // Re-place in old slot order starting after an empty slot, so that ids that
        // share a home keep their relative order.
        let start = old.iter().position(|&s| s == EMPTY).unwrap_or(0);
        for &slot in old[start..].iter().chain(&old[..start]) {
            if slot != EMPTY {
                self.place(slot);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hash::mix64;

    #[test]
    fn finds_every_id_through_growth_and_collisions() {
        let mut table = IdTable::with_capacity(1);
        let hash = |id: u32| mix64(id as u64 / 2);
        // Two ids under each hash: the second must not match the first's test.
        for id in 0..5000u32 {
            assert_eq!(table.find_or_insert(hash(id), &mut (), |_, c| c == id, |_| id), Err(id));
        }
        for id in 0..5000u32 {
            assert_eq!(table.find_or_insert(hash(id), &mut (), |_, c| c == id, |_| unreachable!()), Ok(id));
            let pair = table.find_or_insert(hash(id), &mut (), |_, c| c / 2 == id / 2, |_| unreachable!());
            assert_eq!(pair, Ok(id & !1), "the first stored is found first, across growth");
        }
        assert_eq!(table.find_or_insert(mix64(1 << 40), &mut (), |_, _| true, |_| 7), Err(7));
        let mut asked = 0;
        assert_eq!(
            table.find_or_insert(
                mix64(1 << 40),
                &mut asked,
                |n, _| {
                    *n += 1;
                    false
                },
                |_| 8
            ),
            Err(8)
        );
        assert_eq!(asked, 1, "only the id with an equal tag is offered to the test");
        assert!(table.heap_bytes() >= 5002 * 2 * 8 && table.growth_bytes() > table.heap_bytes());
        table.clear();
        assert_eq!(table.find_or_insert(hash(3), &mut (), |_, _| true, |_| 3), Err(3), "cleared");
    }
}
