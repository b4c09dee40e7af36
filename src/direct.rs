//! [`DirectIndex`]: the direct exchange's index, whole routing key -> values.

use std::hash::BuildHasher;

use crate::DefaultHashBuilder;
use crate::exact::ExactMap;

/// Whole routing key -> values, with one hash and one probe per lookup.
///
/// A direct exchange routes a message to the bindings whose key equals the routing key
/// byte for byte. Several values may share a key; a (key, value) pair is stored once.
/// Keys are hashed with a randomly seeded hasher, since they come from publishers: by
/// default [`DefaultHashBuilder`] (foldhash); [`with_hasher`](Self::with_hasher) takes
/// any other [`BuildHasher`].
///
/// # Examples
///
/// ```
/// use trackswitch::DirectIndex;
///
/// let mut index = DirectIndex::new();
/// index.insert("orders.created", 1);
/// index.insert("orders.created", 2);
/// index.insert("orders.paid", 3);
/// assert_eq!(index.route("orders.created"), [1, 2]);
/// assert!(index.route("orders.*").is_empty()); // no wildcards in a direct exchange
///
/// index.remove("orders.created", &1);
/// assert_eq!(index.get("orders.created"), [2]);
/// ```
#[derive(Debug, Clone)]
pub struct DirectIndex<V, S = DefaultHashBuilder> {
    /// Key bytes -> the values inserted under them (never empty, distinct).
    map: ExactMap<Box<[u8]>, V, S>,
}

impl<V, S: Default> Default for DirectIndex<V, S> {
    fn default() -> Self {
        DirectIndex::with_hasher(S::default())
    }
}

impl<V> DirectIndex<V> {
    /// An empty index.
    pub fn new() -> Self {
        Self::default()
    }
}

impl<V, S> DirectIndex<V, S> {
    /// An empty index hashing keys with `hasher`.
    ///
    /// ```
    /// use trackswitch::{DefaultHashBuilder, DirectIndex};
    ///
    /// let mut index = DirectIndex::with_hasher(DefaultHashBuilder::default());
    /// index.insert("k", 1);
    /// assert_eq!(index.get("k"), [1]);
    /// ```
    pub fn with_hasher(hasher: S) -> Self {
        DirectIndex {
            map: ExactMap::with_hasher(hasher),
        }
    }

    /// The index's hasher.
    pub fn hasher(&self) -> &S {
        self.map.hasher()
    }
}

impl<V, S: BuildHasher> DirectIndex<V, S> {
    /// Adds `value` under `key`. Returns false if that pair was already there.
    pub fn insert(&mut self, key: impl AsRef<[u8]>, value: V) -> bool
    where
        V: PartialEq,
    {
        let key = key.as_ref();
        self.map.insert(key, || key.into(), value)
    }

    /// Removes `value` from under `key`. Returns whether the pair was there.
    pub fn remove(&mut self, key: impl AsRef<[u8]>, value: &V) -> bool
    where
        V: PartialEq,
    {
        self.map.remove(key.as_ref(), value)
    }

    /// The values under `key`, in insertion order; empty when none.
    #[inline]
    pub fn get(&self, key: impl AsRef<[u8]>) -> &[V] {
        self.map.get(key.as_ref()).map_or(&[][..], |e| &*e.values)
    }

    /// Appends the values under `key` to `out` (which is not cleared).
    #[inline]
    pub fn route_into(&self, key: impl AsRef<[u8]>, out: &mut Vec<V>)
    where
        V: Clone,
    {
        out.extend_from_slice(self.get(key));
    }

    /// The values under `key`, in a new vector.
    pub fn route(&self, key: impl AsRef<[u8]>) -> Vec<V>
    where
        V: Clone,
    {
        self.get(key).to_vec()
    }

    /// Number of (key, value) pairs.
    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// Whether the index holds no pair.
    pub fn is_empty(&self) -> bool {
        self.map.len() == 0
    }

    /// Number of distinct keys.
    pub fn key_count(&self) -> usize {
        self.map.key_count()
    }

    /// Every (key, value) pair, in no particular order.
    pub fn iter(&self) -> impl Iterator<Item = (&[u8], &V)> + '_ {
        self.map
            .iter()
            .flat_map(|e| e.values.iter().map(move |v| (&*e.key, v)))
    }

    /// Removes every pair.
    pub fn clear(&mut self) {
        self.map.clear();
    }

    /// Checks the structure's invariants (for tests and fuzzing).
    ///
    /// # Panics
    ///
    /// If an invariant is broken: an empty key entry, a duplicate pair, an entry not
    /// findable by its key, or a wrong count.
    pub fn check_invariants(&self)
    where
        V: PartialEq,
    {
        self.map.check_invariants();
    }
}
