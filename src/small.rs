//! [`SmallBytes`]: short byte strings stored inline; [`Values`]: a non-empty list of
//! distinct values stored inline while it holds one.

/// A byte string stored inline up to 22 bytes (the size of a `Box<[u8]>` plus a tag),
/// on the heap beyond. Trie edge words and binding keys are mostly short: inline they
/// cost no allocation, and comparing one reads no other cache line.
#[derive(Clone)]
pub(crate) enum SmallBytes {
    Inline {
        len: u8,
        bytes: [u8; SmallBytes::INLINE],
    },
    Heap(Box<[u8]>),
}

impl SmallBytes {
    pub(crate) const INLINE: usize = 22;

    pub(crate) fn new(b: &[u8]) -> SmallBytes {
        if b.len() <= SmallBytes::INLINE {
            let mut bytes = [0; SmallBytes::INLINE];
            bytes[..b.len()].copy_from_slice(b);
            SmallBytes::Inline {
                len: b.len() as u8,
                bytes,
            }
        } else {
            SmallBytes::Heap(b.into())
        }
    }
}

impl std::ops::Deref for SmallBytes {
    type Target = [u8];

    #[inline]
    fn deref(&self) -> &[u8] {
        match self {
            SmallBytes::Inline { len, bytes } => &bytes[..*len as usize],
            SmallBytes::Heap(b) => b,
        }
    }
}

impl PartialEq for SmallBytes {
    fn eq(&self, other: &SmallBytes) -> bool {
        **self == **other
    }
}

impl Eq for SmallBytes {}

impl std::hash::Hash for SmallBytes {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        (**self).hash(state);
    }
}

impl std::fmt::Debug for SmallBytes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:?}", String::from_utf8_lossy(self))
    }
}

/// A non-empty list of distinct values, inline while it holds one: most keys and
/// patterns have a single binding, which then costs no allocation and no pointer to
/// follow when routing.
///
/// Invariant: `Many` holds at least two values.
#[derive(Debug, Clone)]
pub(crate) enum Values<V> {
    One(V),
    Many(Vec<V>),
}

impl<V> Values<V> {
    /// Adds `value`; false (and no change) if it is there already.
    pub(crate) fn insert(&mut self, value: V) -> bool
    where
        V: PartialEq,
    {
        if self.contains(&value) {
            return false;
        }
        match self {
            Values::Many(v) => v.push(value),
            Values::One(_) => {
                let Values::One(first) = std::mem::replace(self, Values::Many(Vec::new())) else {
                    unreachable!("matched One")
                };
                *self = Values::Many(vec![first, value]);
            }
        }
        true
    }

    /// Removes `value`, keeping the order of the rest. `None` if it is not there;
    /// `Some(true)` if it was the last one, which the caller must then drop.
    pub(crate) fn remove(&mut self, value: &V) -> Option<bool>
    where
        V: PartialEq,
    {
        let i = self.iter().position(|v| v == value)?;
        match self {
            Values::One(_) => Some(true),
            Values::Many(v) => {
                v.remove(i);
                if v.len() == 1 {
                    let last = v.pop().expect("one value left");
                    *self = Values::One(last);
                }
                Some(false)
            }
        }
    }
}

impl<V> std::ops::Deref for Values<V> {
    type Target = [V];

    #[inline]
    fn deref(&self) -> &[V] {
        match self {
            Values::One(v) => std::slice::from_ref(v),
            Values::Many(v) => v,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{SmallBytes, Values};

    #[test]
    fn inline_and_heap_hold_the_same_bytes() {
        for len in [0, 1, 21, 22, 23, 300] {
            let b: Vec<u8> = (0..len).map(|i| i as u8).collect();
            let s = SmallBytes::new(&b);
            assert_eq!(&*s, b.as_slice());
            assert_eq!(matches!(s, SmallBytes::Inline { .. }), len <= 22);
            assert_eq!(s, SmallBytes::new(&b));
        }
    }

    #[test]
    fn values_stay_distinct_and_ordered_from_one_to_many_and_back() {
        let mut v = Values::One(1);
        assert!(!v.insert(1));
        assert!(v.insert(2) && v.insert(3));
        assert_eq!(&*v, [1, 2, 3]);
        assert_eq!(v.remove(&9), None);
        assert_eq!(v.remove(&1), Some(false));
        assert_eq!(v.remove(&3), Some(false));
        assert!(matches!(v, Values::One(2)));
        assert_eq!(v.remove(&2), Some(true));
    }
}
