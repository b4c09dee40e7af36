//! [`SmallBytes`]: short byte strings stored inline.

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

#[cfg(test)]
mod tests {
    use super::SmallBytes;

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
}
