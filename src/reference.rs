//! Naive, obviously-correct topic matchers: the oracles for tests, fuzzing and benches.
//!
//! Two independent matchers, written so they can be checked by reading:
//!
//! - [`matches()`] follows the five rules of [`topic`](crate::topic) word by word
//!   (memoised on positions, so many `#` words cannot make it exponential);
//! - [`RegexMatcher`] translates a pattern into a regular expression over bytes and
//!   runs it.
//!
//! [`NaiveTable`] scans every binding with [`matches()`]: the O(bindings) design many
//! brokers use, and the baseline of the benchmarks.
//!
//! The other dialects have their own matchers, written from their specifications:
//! [`mqtt_matches`] (MQTT 3.1.1 / 5 section 4.7) and [`nats_matches`] (NATS subjects),
//! with the validity checks they imply.
//!
//! Needs the `reference` feature (on by default).

mod dialects;

pub use dialects::{
    mqtt_filter_is_valid, mqtt_matches, mqtt_topic_name_is_valid, nats_literal_is_valid,
    nats_matches, nats_subject_is_valid,
};

use regex::bytes::Regex;

use crate::topic::{Pattern, split};

/// Whether `pattern` matches `key`, by the five topic rules.
///
/// # Examples
///
/// ```
/// use trackswitch::reference;
///
/// assert!(reference::matches(b"a.#.b", b"a.b"));
/// assert!(reference::matches(b"#", b""));
/// assert!(!reference::matches(b"*", b""));
/// ```
pub fn matches(pattern: &[u8], key: &[u8]) -> bool {
    let p: Vec<&[u8]> = split(pattern).collect();
    let k: Vec<&[u8]> = split(key).collect();
    let mut memo = vec![None; (p.len() + 1) * (k.len() + 1)];
    rules(&p, &k, 0, 0, &mut memo)
}

/// Does `p[i..]` match `k[j..]`? `memo[i * (k.len() + 1) + j]` caches the answer.
fn rules(p: &[&[u8]], k: &[&[u8]], i: usize, j: usize, memo: &mut [Option<bool>]) -> bool {
    let slot = i * (k.len() + 1) + j;
    if let Some(answer) = memo[slot] {
        return answer;
    }
    let answer = match p.get(i) {
        // 1. The empty pattern (or what is left of one) matches only zero words.
        None => j == k.len(),
        // 2. `#` alone matches anything.
        Some(&b"#") if i + 1 == p.len() => true,
        // 3. `#` then more: the rest must match some suffix of the key.
        Some(&b"#") => (j..=k.len()).any(|s| rules(p, k, i + 1, s, memo)),
        // 4. `*` takes exactly one word.
        Some(&b"*") => j < k.len() && rules(p, k, i + 1, j + 1, memo),
        // 5. A literal takes one equal word.
        Some(w) => k.get(j) == Some(w) && rules(p, k, i + 1, j + 1, memo),
    };
    memo[slot] = Some(answer);
    answer
}

/// A topic pattern compiled to a regular expression.
///
/// The key is rewritten as `.w1.w2...` (one `.` before each word, so the empty key,
/// zero words, is the empty string and a single empty word is `.`); then a literal word
/// `w` is `\.w`, `*` is `\.[^.]*` and `#` is `(?:\.[^.]*)*`, anchored at both ends.
///
/// # Examples
///
/// ```
/// use trackswitch::reference::RegexMatcher;
///
/// let m = RegexMatcher::new(b"a.*.#")?;
/// assert!(m.matches(b"a.b.c.d"));
/// assert!(!m.matches(b"a"));
/// # Ok::<(), regex::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct RegexMatcher {
    regex: Regex,
}

impl RegexMatcher {
    /// Compiles `pattern`.
    ///
    /// # Errors
    ///
    /// The regex crate's error when the expression exceeds its size limit (patterns of
    /// thousands of words).
    pub fn new(pattern: &[u8]) -> Result<RegexMatcher, regex::Error> {
        let mut re = String::from("(?s-u)^");
        for word in split(pattern) {
            match word {
                b"*" => re.push_str(r"\.[^.]*"),
                b"#" => re.push_str(r"(?:\.[^.]*)*"),
                literal => {
                    re.push_str(r"\.");
                    for b in literal {
                        re.push_str(&format!(r"\x{b:02X}"));
                    }
                }
            }
        }
        re.push('$');
        Ok(RegexMatcher {
            regex: Regex::new(&re)?,
        })
    }

    /// Whether the pattern matches `key`.
    pub fn matches(&self, key: &[u8]) -> bool {
        if key.is_empty() {
            return self.regex.is_match(b"");
        }
        let mut dotted = Vec::with_capacity(key.len() + 1);
        dotted.push(b'.');
        dotted.extend_from_slice(key);
        self.regex.is_match(&dotted)
    }
}

/// A list of (pattern, value) bindings, scanned in full for every key.
///
/// This is the O(bindings) design many brokers use. Each binding is matched with a
/// small bitmask NFA (one bit per pattern position, so no backtracking and no
/// allocation per binding); patterns over 63 words fall back to [`matches()`].
///
/// # Examples
///
/// ```
/// use trackswitch::reference::NaiveTable;
/// use trackswitch::topic::Pattern;
///
/// let mut t = NaiveTable::new();
/// t.insert(&Pattern::new("a.*")?, 1);
/// t.insert(&Pattern::new("#")?, 2);
/// assert_eq!(t.route(b"a.b"), [1, 2]);
/// # Ok::<(), trackswitch::PatternError>(())
/// ```
#[derive(Debug, Clone)]
pub struct NaiveTable<V> {
    bindings: Vec<NaiveBinding<V>>,
    /// The (pattern, value) pairs of `bindings`, to refuse duplicates in O(1).
    present: hashbrown::HashSet<(Pattern, V)>,
}

/// A binding with its pattern split once, at insert.
#[derive(Debug, Clone)]
struct NaiveBinding<V> {
    pattern: Pattern,
    /// Byte range of each word in `pattern`.
    words: Vec<(usize, usize)>,
    /// Bit `i` set iff word `i` is `#` (meaningful up to 63 words).
    hashes: u64,
    value: V,
}

impl<V> NaiveBinding<V> {
    fn new(pattern: &Pattern, value: V) -> Self {
        let bytes = pattern.as_bytes();
        let mut words = Vec::new();
        let mut start = 0;
        for w in split(bytes) {
            words.push((start, start + w.len()));
            start += w.len() + 1;
        }
        let hashes = words
            .iter()
            .take(63)
            .enumerate()
            .filter(|(_, (a, b))| &bytes[*a..*b] == b"#")
            .fold(0u64, |m, (i, _)| m | 1 << i);
        NaiveBinding {
            pattern: pattern.clone(),
            words,
            hashes,
            value,
        }
    }

    /// Whether the pattern matches the key words `key`, by a bitmask NFA: bit `i` of
    /// the state means "the first `i` pattern words have matched the key words read so
    /// far".
    fn matches(&self, key: &[&[u8]]) -> bool {
        let n = self.words.len();
        if n > 63 {
            return matches(self.pattern.as_bytes(), &key.join(&b'.'));
        }
        let bytes = self.pattern.as_bytes();
        // Adds the zero-word moves over `#`, in increasing position.
        let close = |mut reach: u64| {
            for i in 0..n {
                if reach & self.hashes & (1 << i) != 0 {
                    reach |= 1 << (i + 1);
                }
            }
            reach
        };
        let mut reach = close(1);
        for kw in key {
            let mut next = 0u64;
            for (i, &(a, b)) in self.words.iter().enumerate() {
                if reach & (1 << i) == 0 {
                    continue;
                }
                match &bytes[a..b] {
                    b"#" => next |= 1 << i,
                    b"*" => next |= 1 << (i + 1),
                    lit if lit == *kw => next |= 1 << (i + 1),
                    _ => {}
                }
            }
            reach = close(next);
            if reach == 0 {
                return false;
            }
        }
        reach & (1 << n) != 0
    }
}

impl<V> Default for NaiveTable<V> {
    fn default() -> Self {
        NaiveTable {
            bindings: Vec::new(),
            present: hashbrown::HashSet::new(),
        }
    }
}

impl<V: Eq + std::hash::Hash + Clone> NaiveTable<V> {
    /// An empty table.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a binding; false if the same pair is already there.
    pub fn insert(&mut self, pattern: &Pattern, value: V) -> bool {
        if !self.present.insert((pattern.clone(), value.clone())) {
            return false;
        }
        self.bindings.push(NaiveBinding::new(pattern, value));
        true
    }

    /// Removes a binding; false if it was not there.
    pub fn remove(&mut self, pattern: &Pattern, value: &V) -> bool {
        if !self.present.remove(&(pattern.clone(), value.clone())) {
            return false;
        }
        let i = self
            .bindings
            .iter()
            .position(|b| b.pattern == *pattern && b.value == *value)
            .expect("a present pair is in the list");
        self.bindings.remove(i);
        true
    }

    /// Appends the value of every binding whose pattern matches `key`, in insertion
    /// order.
    pub fn route_into(&self, key: &[u8], out: &mut Vec<V>) {
        let words: Vec<&[u8]> = split(key).collect();
        for b in &self.bindings {
            if b.matches(&words) {
                out.push(b.value.clone());
            }
        }
    }

    /// The value of every binding whose pattern matches `key`, in insertion order.
    pub fn route(&self, key: &[u8]) -> Vec<V> {
        let mut out = Vec::new();
        self.route_into(key, &mut out);
        out
    }

    /// Number of bindings.
    pub fn len(&self) -> usize {
        self.bindings.len()
    }

    /// Whether there is no binding.
    pub fn is_empty(&self) -> bool {
        self.bindings.is_empty()
    }

    /// The bindings, in insertion order.
    pub fn iter(&self) -> impl Iterator<Item = (&Pattern, &V)> + '_ {
        self.bindings.iter().map(|b| (&b.pattern, &b.value))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_two_oracles_agree_on_edge_cases() {
        let words = ["", "a", "*", "#", "a*"];
        let mut patterns = vec![String::new()];
        for a in words {
            patterns.push(a.to_string());
            for b in words {
                patterns.push(format!("{a}.{b}"));
                for c in words {
                    patterns.push(format!("{a}.{b}.{c}"));
                }
            }
        }
        for p in &patterns {
            let re = RegexMatcher::new(p.as_bytes()).unwrap();
            for k in &patterns {
                assert_eq!(
                    matches(p.as_bytes(), k.as_bytes()),
                    re.matches(k.as_bytes()),
                    "pattern {p:?} key {k:?}"
                );
            }
        }
    }

    #[test]
    fn non_utf8_bytes_are_literal() {
        let re = RegexMatcher::new(b"\xff.#").unwrap();
        assert!(re.matches(b"\xff.x\n"));
        assert!(!re.matches(b"\xfe"));
        assert!(matches(b"\xff.#", b"\xff"));
    }
}
