//! Validated topic binding keys and the word splitting shared by keys and patterns.

use std::fmt;

use crate::error::PatternError;

/// One word of a [`Pattern`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Word<'a> {
    /// A word that must equal the key's word byte for byte.
    Literal(&'a [u8]),
    /// `*`: exactly one word (an empty word too).
    Star,
    /// `#`: zero or more words.
    Hash,
}

impl<'a> Word<'a> {
    /// Classifies one word of a pattern: only a whole `*` or `#` is a wildcard.
    pub(crate) fn of(word: &'a [u8]) -> Word<'a> {
        match word {
            b"*" => Word::Star,
            b"#" => Word::Hash,
            w => Word::Literal(w),
        }
    }
}

/// Splits a key or pattern into words: the empty string is zero words, anything else
/// is split on every `.` (so `a..b` is three words and `.` is two empty words).
pub(crate) fn split(bytes: &[u8]) -> impl Iterator<Item = &[u8]> + Clone + '_ {
    super::dialect::split_on(b'.', bytes)
}

/// The classified words of pattern bytes.
pub(crate) fn words(bytes: &[u8]) -> impl Iterator<Item = Word<'_>> + Clone + '_ {
    split(bytes).map(Word::of)
}

/// Whether pattern bytes have no wildcard word.
pub(crate) fn is_exact(bytes: &[u8]) -> bool {
    words(bytes).all(|w| matches!(w, Word::Literal(_)))
}

/// A topic binding key, checked once.
///
/// A pattern is bytes; words are split on every `.`; the empty pattern is zero words.
/// A word that is exactly `*` matches exactly one word, a word that is exactly `#`
/// matches zero or more words; every other word (`a*`, `#a`, `##`) is a literal.
/// Any number of `#` is accepted and matching stays polynomial.
///
/// # Examples
///
/// ```
/// use trackswitch::topic::Pattern;
///
/// let p = Pattern::new("eu.*.free_user")?;
/// assert_eq!(p.to_string(), "eu.*.free_user");
/// assert_eq!(p.word_count(), 3);
/// assert!(!p.is_exact());
/// assert!(Pattern::new("a*.#b")?.is_exact()); // partial wildcards are literals
/// assert_eq!(Pattern::new("")?.word_count(), 0);
/// # Ok::<(), trackswitch::PatternError>(())
/// ```
///
/// With the `serde` feature a pattern is its string (bytes when it is not UTF-8),
/// checked when read.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Pattern {
    /// The pattern's bytes exactly as given; at most [`Pattern::MAX_LEN`] long.
    bytes: Box<[u8]>,
}

impl Pattern {
    /// The longest pattern accepted, in bytes.
    ///
    /// AMQP caps binding keys at 255 bytes (the routing table enforces that); the bare
    /// structures accept longer patterns up to this bound, which keeps memory per
    /// binding bounded whatever the caller hands in.
    pub const MAX_LEN: usize = 65_535;

    /// Checks a binding key.
    ///
    /// # Errors
    ///
    /// [`PatternError::TooLong`] when `bytes` is longer than [`Pattern::MAX_LEN`].
    /// Any bytes are otherwise valid: non-UTF-8, empty words, and any number of
    /// wildcards.
    pub fn new(bytes: impl AsRef<[u8]>) -> Result<Pattern, PatternError> {
        let bytes = bytes.as_ref();
        if bytes.len() > Pattern::MAX_LEN {
            return Err(PatternError::TooLong {
                len: bytes.len(),
                max: Pattern::MAX_LEN,
            });
        }
        Ok(Pattern {
            bytes: bytes.into(),
        })
    }

    /// A pattern of bytes the caller has checked (at most `MAX_LEN` long).
    pub(crate) fn from_checked(bytes: &[u8]) -> Pattern {
        debug_assert!(bytes.len() <= Pattern::MAX_LEN);
        Pattern {
            bytes: bytes.into(),
        }
    }

    /// The pattern's bytes, exactly as given.
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// The words of the pattern, classified.
    ///
    /// # Examples
    ///
    /// ```
    /// use trackswitch::topic::{Pattern, Word};
    ///
    /// let p = Pattern::new("a.*.#")?;
    /// let words: Vec<Word<'_>> = p.words().collect();
    /// assert_eq!(words, [Word::Literal(b"a"), Word::Star, Word::Hash]);
    /// # Ok::<(), trackswitch::PatternError>(())
    /// ```
    pub fn words(&self) -> impl Iterator<Item = Word<'_>> + Clone + '_ {
        words(&self.bytes)
    }

    /// Number of words (zero for the empty pattern).
    pub fn word_count(&self) -> usize {
        if self.bytes.is_empty() {
            0
        } else {
            1 + self.bytes.iter().filter(|&&b| b == b'.').count()
        }
    }

    /// Number of `#` words.
    pub fn hash_count(&self) -> usize {
        self.words().filter(|w| *w == Word::Hash).count()
    }

    /// Whether the pattern has no wildcard word, so it matches exactly one key: itself.
    pub fn is_exact(&self) -> bool {
        is_exact(&self.bytes)
    }

    /// Whether this pattern matches `key`, by the topic rules.
    ///
    /// This walks the pattern alone in O(words of pattern x words of key); use a
    /// [`TopicTrie`](crate::topic::TopicTrie) to match many patterns at once.
    ///
    /// # Examples
    ///
    /// ```
    /// use trackswitch::topic::Pattern;
    ///
    /// let p = Pattern::new("ru.#")?;
    /// assert!(p.matches("ru"));
    /// assert!(p.matches("ru.sport.premium"));
    /// assert!(!p.matches("eu.ru"));
    /// # Ok::<(), trackswitch::PatternError>(())
    /// ```
    pub fn matches(&self, key: impl AsRef<[u8]>) -> bool {
        let words: Vec<Word<'_>> = self.words().collect();
        // reach[i]: the first i pattern words can match the key words read so far.
        let mut reach = vec![false; words.len() + 1];
        reach[0] = true;
        close(&words, &mut reach);
        for kw in split(key.as_ref()) {
            let mut next = vec![false; words.len() + 1];
            for (i, w) in words.iter().enumerate() {
                if !reach[i] {
                    continue;
                }
                match w {
                    Word::Literal(l) if *l == kw => next[i + 1] = true,
                    Word::Literal(_) => {}
                    Word::Star => next[i + 1] = true,
                    // `#` absorbs the word and may absorb more.
                    Word::Hash => next[i] = true,
                }
            }
            close(&words, &mut next);
            reach = next;
        }
        reach[words.len()]
    }
}

/// Adds the zero-word moves over `#` to a reach set.
fn close(words: &[Word<'_>], reach: &mut [bool]) {
    for i in 0..words.len() {
        if reach[i] && words[i] == Word::Hash {
            reach[i + 1] = true;
        }
    }
}

impl fmt::Display for Pattern {
    /// Writes the pattern back byte for byte when it is UTF-8; an invalid byte is
    /// written as `\xNN`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for chunk in self.bytes.utf8_chunks() {
            f.write_str(chunk.valid())?;
            for b in chunk.invalid() {
                write!(f, "\\x{b:02x}")?;
            }
        }
        Ok(())
    }
}

impl fmt::Debug for Pattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Pattern(\"")?;
        for chunk in self.bytes.utf8_chunks() {
            write!(f, "{}", chunk.valid().escape_debug())?;
            for b in chunk.invalid() {
                write!(f, "\\x{b:02x}")?;
            }
        }
        f.write_str("\")")
    }
}

impl AsRef<[u8]> for Pattern {
    fn as_ref(&self) -> &[u8] {
        &self.bytes
    }
}

impl TryFrom<&str> for Pattern {
    type Error = PatternError;
    fn try_from(s: &str) -> Result<Pattern, PatternError> {
        Pattern::new(s)
    }
}

impl TryFrom<&[u8]> for Pattern {
    type Error = PatternError;
    fn try_from(s: &[u8]) -> Result<Pattern, PatternError> {
        Pattern::new(s)
    }
}

impl std::str::FromStr for Pattern {
    type Err = PatternError;
    fn from_str(s: &str) -> Result<Pattern, PatternError> {
        Pattern::new(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_rules() {
        let w = |s: &str| split(s.as_bytes()).map(<[u8]>::to_vec).collect::<Vec<_>>();
        assert!(w("").is_empty());
        assert_eq!(w("."), vec![b"".to_vec(), b"".to_vec()]);
        assert_eq!(w("a..b").len(), 3);
        assert_eq!(w("a."), vec![b"a".to_vec(), b"".to_vec()]);
    }

    #[test]
    fn matches_follows_the_rules() {
        let m = |p: &str, k: &str| Pattern::new(p).unwrap().matches(k);
        assert!(m("", ""));
        assert!(!m("", "a"));
        assert!(m("#", ""));
        assert!(m("#.#", ""));
        assert!(!m("*", ""));
        assert!(m("*", "a"));
        assert!(m("*.*", "."));
        assert!(!m("*", "."));
        assert!(m("a.#.#.b", "a.b"));
        assert!(m("#.b", "b"));
        assert!(!m("a.*.#", "a"));
        assert!(m("a.*.#", "a.b"));
        assert!(!m("a*", "ab"));
        assert!(m("a*", "a*"));
        assert!(m("#.*.#", "a"));
        assert!(!m("#.*.#", ""));
    }

    #[test]
    fn display_is_byte_for_byte() {
        let p = Pattern::new(b"a.\xff.*").unwrap();
        assert_eq!(p.to_string(), "a.\\xff.*");
        assert_eq!(Pattern::new("ä.#").unwrap().to_string(), "ä.#");
        assert_eq!(format!("{p:?}"), "Pattern(\"a.\\xff.*\")");
    }

    #[test]
    fn too_long_is_refused() {
        let long = vec![b'a'; Pattern::MAX_LEN + 1];
        assert!(Pattern::new(&long).is_err());
        assert!(Pattern::new(&long[1..]).is_ok());
    }
}
