//! The flat exact-key map shared by [`DirectIndex`](crate::DirectIndex) and the exact
//! part of [`TopicTrie`](crate::topic::TopicTrie): whole key -> values, one hash and
//! one probe per lookup.

use std::hash::BuildHasher;

use hashbrown::{DefaultHashBuilder, HashTable};

use crate::small::Values;

/// One key and the values bound to it.
#[derive(Debug, Clone)]
pub(crate) struct Entry<K, V> {
    pub(crate) key: K,
    /// No two values are equal.
    pub(crate) values: Values<V>,
}

/// Whole key -> distinct values, keyed hashing.
#[derive(Debug, Clone)]
pub(crate) struct ExactMap<K, V, S = DefaultHashBuilder> {
    /// Each entry is hashed with `hasher` over `key.as_ref()`.
    table: HashTable<Entry<K, V>>,
    /// Randomly seeded per map (by default): keys come from untrusted publishers.
    hasher: S,
    /// Sum of `values.len()` over all entries.
    len: usize,
}

impl<K, V, S: Default> Default for ExactMap<K, V, S> {
    fn default() -> Self {
        ExactMap::with_hasher(S::default())
    }
}

impl<K, V, S> ExactMap<K, V, S> {
    /// An empty map hashing with `hasher`.
    pub(crate) fn with_hasher(hasher: S) -> Self {
        ExactMap {
            table: HashTable::new(),
            hasher,
            len: 0,
        }
    }

    /// The map's hasher.
    pub(crate) fn hasher(&self) -> &S {
        &self.hasher
    }
}

impl<K: AsRef<[u8]>, V, S: BuildHasher> ExactMap<K, V, S> {
    fn hash(&self, key: &[u8]) -> u64 {
        self.hasher.hash_one(key)
    }

    /// The entry of `key`, if any value is bound to it.
    #[inline]
    pub(crate) fn get(&self, key: &[u8]) -> Option<&Entry<K, V>> {
        if self.table.is_empty() {
            return None;
        }
        self.table.find(self.hash(key), |e| e.key.as_ref() == key)
    }

    /// Adds `value` under `key`; `make_key` builds the stored key when the key is new.
    /// Returns false (and changes nothing) when the pair is already there.
    pub(crate) fn insert(&mut self, key: &[u8], make_key: impl FnOnce() -> K, value: V) -> bool
    where
        V: PartialEq,
    {
        let hash = self.hash(key);
        let hasher = &self.hasher;
        let entry = self.table.entry(
            hash,
            |e| e.key.as_ref() == key,
            |e| hasher.hash_one(e.key.as_ref()),
        );
        match entry {
            hashbrown::hash_table::Entry::Occupied(mut o) => {
                if !o.get_mut().values.insert(value) {
                    return false;
                }
            }
            hashbrown::hash_table::Entry::Vacant(v) => {
                v.insert(Entry {
                    key: make_key(),
                    values: Values::One(value),
                });
            }
        }
        self.len += 1;
        true
    }

    /// Removes `value` from `key`; drops the key when it has no value left.
    /// Returns whether the pair was there.
    pub(crate) fn remove(&mut self, key: &[u8], value: &V) -> bool
    where
        V: PartialEq,
    {
        let hash = self.hash(key);
        let Ok(mut o) = self.table.find_entry(hash, |e| e.key.as_ref() == key) else {
            return false;
        };
        match o.get_mut().values.remove(value) {
            None => return false,
            Some(true) => {
                o.remove();
            }
            Some(false) => {}
        }
        self.len -= 1;
        true
    }

    /// Number of (key, value) pairs.
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// Number of distinct keys.
    pub(crate) fn key_count(&self) -> usize {
        self.table.len()
    }

    pub(crate) fn iter(&self) -> impl Iterator<Item = &Entry<K, V>> + '_ {
        self.table.iter()
    }

    pub(crate) fn clear(&mut self) {
        self.table.clear();
        self.len = 0;
    }

    /// Panics unless every entry is non-empty, free of duplicate values, findable by
    /// its own key, and the pair count is right.
    pub(crate) fn check_invariants(&self)
    where
        V: PartialEq,
    {
        let mut total = 0;
        for e in self.table.iter() {
            for (i, v) in e.values.iter().enumerate() {
                assert!(
                    !e.values[i + 1..].contains(v),
                    "duplicate value under one key"
                );
            }
            let found = self
                .get(e.key.as_ref())
                .expect("entry not findable by its key");
            assert!(std::ptr::eq(found, e), "two entries for one key");
            total += e.values.len();
        }
        assert_eq!(total, self.len, "pair count out of date");
    }
}
