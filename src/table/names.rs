//! [`NameIndex`]: the live slots of a slab (exchanges or queues) by name.
//!
//! A lookup must cost one cache miss, not the two of a hash map whose control bytes and
//! entries live apart, nor a third for a boxed key: the index is one array of 8-byte
//! slots, each the name's 32-bit hash beside the slot id, probed linearly, and a
//! candidate is confirmed against the slab's own inline [`Name`](super::store::Name),
//! on the line the caller reads next anyway.

use std::hash::BuildHasher;

/// What a [`NameIndex`] needs of a slab's items.
pub(super) trait Named {
    fn name(&self) -> &[u8];
}

fn slot_name<T: Named>(slab: &[Option<T>], id: u32) -> &[u8] {
    slab[id as usize]
        .as_ref()
        .expect("a named slot is live")
        .name()
}

/// The 32 bits of a name's hash the index keeps; they also pick its home slot.
fn hash32(hasher: &impl BuildHasher, name: &[u8]) -> u32 {
    (hasher.hash_one(name) >> 32) as u32
}

/// A slot: 0 when empty, else `hash32 << 32 | (id + 1)`.
fn pack(hash: u32, id: u32) -> u64 {
    (hash as u64) << 32 | (id as u64 + 1)
}

fn hash_of(slot: u64) -> u32 {
    (slot >> 32) as u32
}

fn id_of(slot: u64) -> u32 {
    (slot as u32).wrapping_sub(1)
}

/// The live slots of a slab by name: open addressing with linear probing over a
/// power-of-two array, at most 3/4 full, deletion by backward shift (no tombstones).
///
/// Invariants (checked by [`NameIndex::check`]): every id in it is a live slot of its
/// slab, once, stored with its name's hash, and reachable from its home slot
/// (`hash & mask`) without crossing an empty slot; `len` counts the ids.
#[derive(Debug, Clone, Default)]
pub(super) struct NameIndex {
    slots: Vec<u64>,
    len: usize,
}

impl NameIndex {
    fn mask(&self) -> usize {
        self.slots.len() - 1
    }

    pub(super) fn get<T: Named>(
        &self,
        hasher: &impl BuildHasher,
        slab: &[Option<T>],
        name: &[u8],
    ) -> Option<u32> {
        if self.len == 0 {
            return None;
        }
        let h = hash32(hasher, name);
        let mask = self.mask();
        let mut i = h as usize & mask;
        loop {
            let s = self.slots[i];
            if s == 0 {
                return None;
            }
            if hash_of(s) == h && slot_name(slab, id_of(s)) == name {
                return Some(id_of(s));
            }
            i = (i + 1) & mask;
        }
    }

    /// Adds the live slot `id`, whose name is not in the index.
    pub(super) fn insert<T: Named>(
        &mut self,
        hasher: &impl BuildHasher,
        slab: &[Option<T>],
        id: u32,
    ) {
        assert!(id < u32::MAX, "ids stay below 2^31");
        if (self.len + 1) * 4 > self.slots.len() * 3 {
            self.grow();
        }
        self.place(pack(hash32(hasher, slot_name(slab, id)), id));
        self.len += 1;
    }

    fn place(&mut self, slot: u64) {
        let mask = self.mask();
        let mut i = hash_of(slot) as usize & mask;
        while self.slots[i] != 0 {
            i = (i + 1) & mask;
        }
        self.slots[i] = slot;
    }

    fn grow(&mut self) {
        let capacity = (self.slots.len() * 2).max(8);
        let old = std::mem::replace(&mut self.slots, vec![0; capacity]);
        for s in old.into_iter().filter(|&s| s != 0) {
            self.place(s);
        }
    }

    /// Removes `id`, named `name` (its slot may be gone from the slab already).
    pub(super) fn remove(&mut self, hasher: &impl BuildHasher, name: &[u8], id: u32) {
        if self.len == 0 {
            return;
        }
        let want = pack(hash32(hasher, name), id);
        let mask = self.mask();
        let mut i = hash_of(want) as usize & mask;
        loop {
            match self.slots[i] {
                0 => return,
                s if s == want => break,
                _ => i = (i + 1) & mask,
            }
        }
        // Backward shift: pull later members of the run into the hole while their home
        // is not between the hole and them.
        self.slots[i] = 0;
        self.len -= 1;
        let mut hole = i;
        let mut j = (i + 1) & mask;
        loop {
            let s = self.slots[j];
            if s == 0 {
                return;
            }
            let home = hash_of(s) as usize & mask;
            if (j.wrapping_sub(home) & mask) >= (j.wrapping_sub(hole) & mask) {
                self.slots[hole] = s;
                self.slots[j] = 0;
                hole = j;
            }
            j = (j + 1) & mask;
        }
    }

    pub(super) fn len(&self) -> usize {
        self.len
    }

    /// Panics unless the invariants hold for `slab`.
    pub(super) fn check<T: Named>(&self, hasher: &impl BuildHasher, slab: &[Option<T>]) {
        let mut seen = vec![false; slab.len()];
        let mut count = 0;
        for (at, &s) in self.slots.iter().enumerate() {
            if s == 0 {
                continue;
            }
            count += 1;
            let id = id_of(s);
            assert!(!seen[id as usize], "an id twice in the name index");
            seen[id as usize] = true;
            assert_eq!(
                hash_of(s),
                hash32(hasher, slot_name(slab, id)),
                "stale hash"
            );
            let mut i = hash_of(s) as usize & self.mask();
            while i != at {
                assert_ne!(self.slots[i], 0, "a name cut off from its home slot");
                i = (i + 1) & self.mask();
            }
        }
        assert_eq!(count, self.len, "name index count out of date");
        assert!(self.slots.is_empty() || self.len * 4 <= self.slots.len() * 3);
    }
}

#[cfg(test)]
mod tests {
    use super::{NameIndex, Named};

    struct Item(Vec<u8>);

    impl Named for Item {
        fn name(&self) -> &[u8] {
            &self.0
        }
    }

    /// A hasher whose 32 kept bits take few values, so runs collide, wrap around the
    /// end of the array and shift back on removal.
    #[derive(Clone, Default)]
    struct Clumpy;

    impl std::hash::BuildHasher for Clumpy {
        type Hasher = ClumpyHasher;
        fn build_hasher(&self) -> ClumpyHasher {
            ClumpyHasher(Default::default())
        }
    }

    /// std's hasher with its result folded onto five values of the kept bits.
    struct ClumpyHasher(std::collections::hash_map::DefaultHasher);

    impl std::hash::Hasher for ClumpyHasher {
        fn write(&mut self, bytes: &[u8]) {
            self.0.write(bytes);
        }
        fn finish(&self) -> u64 {
            (self.0.finish() % 5) << 32 | 0xffff_ffff
        }
    }

    fn exercise(hasher: &impl std::hash::BuildHasher) {
        let mut slab: Vec<Option<Item>> = Vec::new();
        let mut index = NameIndex::default();
        let mut state = 0x9e37_79b9_u64;
        for step in 0..4000u32 {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            let n = (state % 64) as usize;
            let name = format!("n{n}").into_bytes();
            match index.get(hasher, &slab, &name) {
                Some(id) => {
                    assert_eq!(slab[id as usize].as_ref().unwrap().0, name);
                    if step % 3 != 0 {
                        index.remove(hasher, &name, id);
                        slab[id as usize] = None;
                    }
                }
                None => {
                    assert!(slab.iter().flatten().all(|i| i.0 != name), "{n} lost");
                    let id = match slab.iter().position(Option::is_none) {
                        Some(free) => free,
                        None => {
                            slab.push(None);
                            slab.len() - 1
                        }
                    };
                    slab[id] = Some(Item(name));
                    index.insert(hasher, &slab, id as u32);
                }
            }
            index.check(hasher, &slab);
            assert_eq!(index.len(), slab.iter().flatten().count());
        }
    }

    #[test]
    fn lookups_match_the_slab_through_inserts_and_removes() {
        exercise(&hashbrown::DefaultHashBuilder::default());
        exercise(&Clumpy);
    }
}
