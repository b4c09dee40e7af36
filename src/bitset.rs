//! [`DestSet`]: a dense set of destination ids.

/// A dense bitset of `u32` destination ids, cheap to fill, merge, walk and clear.
///
/// Used to de-duplicate routing results (one copy per queue), to hold the members of a
/// fanout exchange, and to mark exchanges already evaluated. Memory is 1.5 bits per id up
/// to the largest id inserted (a bit, plus a `u32` position per 64-bit word). Clearing and
/// iterating cost O(words touched), not O(largest id), so a set reused across routes
/// costs only what each route put in it.
///
/// # Examples
///
/// ```
/// use trackswitch::DestSet;
///
/// let mut seen = DestSet::new();
/// assert!(seen.insert(7));
/// assert!(!seen.insert(7)); // already there: this is how duplicates are dropped
/// seen.insert(1_000);
/// assert_eq!(seen.len(), 2);
/// assert_eq!(seen.to_vec(), [7, 1_000]);
/// seen.clear();
/// assert!(seen.is_empty());
/// ```
#[derive(Clone, Default)]
pub struct DestSet {
    /// Bit `id % 64` of `words[id / 64]` is set iff `id` is in the set.
    words: Vec<u64>,
    /// Indices of the non-zero words, each once, in the order they became non-zero.
    touched: Vec<u32>,
    /// `pos[w]` is the position of `w` in `touched` while `words[w]` is non-zero
    /// (meaningless otherwise); same length as `words`.
    pos: Vec<u32>,
    /// Number of ids in the set.
    len: usize,
}

impl DestSet {
    /// An empty set.
    pub fn new() -> DestSet {
        DestSet::default()
    }

    /// Adds `id`. Returns whether it was new.
    #[inline]
    pub fn insert(&mut self, id: u32) -> bool {
        let w = (id / 64) as usize;
        let bit = 1u64 << (id % 64);
        if w >= self.words.len() {
            self.grow(w + 1);
        }
        let word = &mut self.words[w];
        if *word & bit != 0 {
            return false;
        }
        if *word == 0 {
            self.pos[w] = self.touched.len() as u32;
            self.touched.push(w as u32);
        }
        *word |= bit;
        self.len += 1;
        true
    }

    /// Removes `id`. Returns whether it was there.
    pub fn remove(&mut self, id: u32) -> bool {
        let w = (id / 64) as usize;
        let bit = 1u64 << (id % 64);
        let Some(word) = self.words.get_mut(w) else {
            return false;
        };
        if *word & bit == 0 {
            return false;
        }
        *word &= !bit;
        self.len -= 1;
        if *word == 0 {
            let at = self.pos[w] as usize;
            self.touched.swap_remove(at);
            if let Some(&moved) = self.touched.get(at) {
                self.pos[moved as usize] = at as u32;
            }
        }
        true
    }

    fn grow(&mut self, words: usize) {
        self.words.resize(words, 0);
        self.pos.resize(words, 0);
    }

    /// Whether `id` is in the set.
    #[inline]
    pub fn contains(&self, id: u32) -> bool {
        self.words
            .get((id / 64) as usize)
            .is_some_and(|w| w & (1u64 << (id % 64)) != 0)
    }

    /// Number of ids in the set.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether the set is empty.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Removes every id, in O(words touched since the last clear).
    #[inline]
    pub fn clear(&mut self) {
        for &w in &self.touched {
            self.words[w as usize] = 0;
        }
        self.touched.clear();
        self.len = 0;
    }

    /// Adds every id of `other`. Costs O(words of `other`).
    pub fn union(&mut self, other: &DestSet) {
        self.union_new(other, |_| {});
    }

    /// Adds every id of `other` and calls `new` with each id that was not yet in `self`,
    /// word by word (ascending within a word). This is how a fanout exchange's members
    /// join a result without a per-id membership test.
    pub fn union_new(&mut self, other: &DestSet, mut new: impl FnMut(u32)) {
        if let Some(&max) = other.touched.iter().max() {
            if max as usize >= self.words.len() {
                self.grow(max as usize + 1);
            }
        }
        for &w in &other.touched {
            let add = other.words[w as usize] & !self.words[w as usize];
            if add == 0 {
                continue;
            }
            let word = &mut self.words[w as usize];
            if *word == 0 {
                self.pos[w as usize] = self.touched.len() as u32;
                self.touched.push(w);
            }
            *word |= add;
            self.len += add.count_ones() as usize;
            let mut bits = add;
            while bits != 0 {
                let b = bits.trailing_zeros();
                new(w * 64 + b);
                bits &= bits - 1;
            }
        }
    }

    /// The ids, word by word in the order words were first touched (ascending within a
    /// word); use [`to_vec`](Self::to_vec) for ascending order.
    pub fn iter(&self) -> impl Iterator<Item = u32> + '_ {
        self.touched.iter().flat_map(move |&w| {
            let mut bits = self.words[w as usize];
            std::iter::from_fn(move || {
                if bits == 0 {
                    return None;
                }
                let b = bits.trailing_zeros();
                bits &= bits - 1;
                Some(w * 64 + b)
            })
        })
    }

    /// The ids in ascending order.
    pub fn to_vec(&self) -> Vec<u32> {
        let mut v: Vec<u32> = self.iter().collect();
        v.sort_unstable();
        v
    }

    /// Checks the structure's invariants (for tests and fuzzing).
    ///
    /// # Panics
    ///
    /// If a non-zero word is not listed in `touched`, a zero word is, an index is
    /// listed twice, a position is wrong, or the count of ids is wrong.
    pub fn check_invariants(&self) {
        assert_eq!(self.words.len(), self.pos.len(), "pos out of step");
        let mut listed = vec![false; self.words.len()];
        for (at, &w) in self.touched.iter().enumerate() {
            assert!(!listed[w as usize], "word {w} listed twice");
            listed[w as usize] = true;
            assert_ne!(self.words[w as usize], 0, "zero word {w} listed");
            assert_eq!(
                self.pos[w as usize] as usize, at,
                "wrong position of word {w}"
            );
        }
        let mut len = 0;
        for (i, &word) in self.words.iter().enumerate() {
            assert!(word == 0 || listed[i], "non-zero word {i} not listed");
            len += word.count_ones() as usize;
        }
        assert_eq!(len, self.len, "id count out of date");
    }
}

impl std::fmt::Debug for DestSet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_set().entries(self.to_vec()).finish()
    }
}

impl PartialEq for DestSet {
    fn eq(&self, other: &DestSet) -> bool {
        self.len == other.len && self.iter().all(|id| other.contains(id))
    }
}

impl Eq for DestSet {}

impl FromIterator<u32> for DestSet {
    fn from_iter<I: IntoIterator<Item = u32>>(iter: I) -> DestSet {
        let mut s = DestSet::new();
        s.extend(iter);
        s
    }
}

impl Extend<u32> for DestSet {
    fn extend<I: IntoIterator<Item = u32>>(&mut self, iter: I) {
        for id in iter {
            self.insert(id);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn insert_remove_churn_keeps_touched_bounded() {
        let mut s = DestSet::new();
        for round in 0..100u32 {
            for id in 0..1000 {
                s.insert(id * 64 + round % 64);
            }
            for id in 0..1000 {
                s.remove(id * 64 + round % 64);
            }
            s.check_invariants();
        }
        assert!(s.touched.is_empty());
        assert!(s.is_empty());
    }

    #[test]
    fn union_reports_new_ids() {
        let mut a: DestSet = [1, 2, 300].into_iter().collect();
        let b: DestSet = [2, 3, 300, 5000].into_iter().collect();
        let mut new = Vec::new();
        a.union_new(&b, |id| new.push(id));
        new.sort_unstable();
        assert_eq!(new, [3, 5000]);
        assert_eq!(a.to_vec(), [1, 2, 3, 300, 5000]);
        a.check_invariants();
    }
}
