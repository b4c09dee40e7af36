//! NATS subjects ([`NatsSubject`]) and the rules they follow.
//!
//! From the NATS documentation ("Subject-Based Messaging", docs.nats.io) and the
//! server's subject check (`nats-server`, `server/sublist.go`, `IsValidSubject`):
//! tokens are split on `.`, none may be empty or hold whitespace, `*` matches one
//! token, `>` one or more and only as the last token.

use std::fmt;

use super::dialect::split_on;

/// The longest subject accepted, in bytes (the bound of [`Pattern`](super::Pattern)).
const MAX_LEN: usize = 65_535;

/// A NATS subject a subscriber can use (wildcards allowed), checked once.
///
/// The rules:
///
/// 1. tokens are split on every `.`; a subject has at least one token and no token is
///    empty (`a..b`, `.a` and `a.` are refused);
/// 2. no token holds whitespace (space, tab, CR, LF, form feed);
/// 3. a token that is exactly `*` matches exactly one token;
/// 4. a token that is exactly `>` matches one or more tokens, and only the last token
///    may be `>` (`foo.>` matches `foo.bar` and `foo.bar.baz`, not `foo`);
/// 5. any other token (`a*`, `>b`) is a literal and matches an equal token.
///
/// A subject routed (what a publisher sends) must be valid and have no `*` or `>`
/// token; a trie in the [`Nats`](super::Nats) dialect matches nothing for any other
/// key.
///
/// # Examples
///
/// ```
/// use trackswitch::topic::NatsSubject;
///
/// let s = NatsSubject::new("foo.*")?;
/// assert!(s.matches("foo.bar"));
/// assert!(!s.matches("foo.bar.baz"));
/// assert!(NatsSubject::new("foo.>")?.matches("foo.bar.baz"));
/// assert!(!NatsSubject::new("foo.>")?.matches("foo"));
/// assert!(NatsSubject::new("foo..bar").is_err());
/// assert!(NatsSubject::new("foo.>.bar").is_err());
/// # Ok::<(), trackswitch::topic::NatsSubjectError>(())
/// ```
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct NatsSubject {
    /// Valid by the rules above; at most [`MAX_LEN`] bytes.
    bytes: Box<[u8]>,
}

impl NatsSubject {
    /// The longest subject accepted, in bytes.
    pub const MAX_LEN: usize = MAX_LEN;

    /// Checks a subject (wildcards allowed).
    ///
    /// # Errors
    ///
    /// A [`NatsSubjectError`] saying what is wrong: empty, too long, an empty token,
    /// whitespace in a token, or a `>` that is not the last token.
    pub fn new(subject: impl AsRef<[u8]>) -> Result<NatsSubject, NatsSubjectError> {
        let bytes = subject.as_ref();
        if let Some(reason) = broken_rule(bytes, false) {
            return Err(NatsSubjectError::new(reason, bytes));
        }
        Ok(NatsSubject::from_checked(bytes))
    }

    /// A subject of bytes the caller has checked.
    pub(crate) fn from_checked(bytes: &[u8]) -> NatsSubject {
        NatsSubject {
            bytes: bytes.into(),
        }
    }

    /// Checks a subject a publisher sends: the rules above, and no `*` or `>` token.
    ///
    /// ```
    /// use trackswitch::topic::{NatsSubject, NatsRule};
    ///
    /// assert!(NatsSubject::check_literal("foo.bar").is_ok());
    /// let err = NatsSubject::check_literal("foo.*").unwrap_err();
    /// assert_eq!(err.rule(), NatsRule::WildcardInLiteral);
    /// ```
    ///
    /// # Errors
    ///
    /// As [`new`](Self::new), and [`NatsRule::WildcardInLiteral`] for a wildcard token.
    pub fn check_literal(subject: impl AsRef<[u8]>) -> Result<(), NatsSubjectError> {
        let bytes = subject.as_ref();
        match broken_rule(bytes, true) {
            None => Ok(()),
            Some(reason) => Err(NatsSubjectError::new(reason, bytes)),
        }
    }

    /// The subject's bytes, exactly as given.
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// Number of tokens (at least one).
    pub fn token_count(&self) -> usize {
        1 + self.bytes.iter().filter(|&&b| b == b'.').count()
    }

    /// Whether the subject has no wildcard token, so it matches exactly itself.
    pub fn is_exact(&self) -> bool {
        split_on(b'.', &self.bytes).all(|t| t != b"*" && t != b">")
    }

    /// Whether this subject matches the literal subject `subject`; false when
    /// `subject` is not a valid literal subject.
    ///
    /// This walks one subject in O(tokens); use a [`TopicTrie`](super::TopicTrie) in
    /// the [`Nats`](super::Nats) dialect to match many at once.
    pub fn matches(&self, subject: impl AsRef<[u8]>) -> bool {
        let subject = subject.as_ref();
        if !is_literal_subject(subject) {
            return false;
        }
        let mut tokens = split_on(b'.', subject);
        for p in split_on(b'.', &self.bytes) {
            let Some(t) = tokens.next() else {
                return false;
            };
            match p {
                b">" => return true,
                b"*" => {}
                p if p == t => {}
                _ => return false,
            }
        }
        tokens.next().is_none()
    }
}

/// Whether `subject` is a valid subject with no wildcard token (what the trie routes).
#[inline]
pub(crate) fn is_literal_subject(subject: &[u8]) -> bool {
    broken_rule(subject, true).is_none()
}

/// The first rule `bytes` breaks, if any; allocates nothing.
fn broken_rule(bytes: &[u8], literal: bool) -> Option<NatsRule> {
    if bytes.is_empty() {
        return Some(NatsRule::Empty);
    }
    if bytes.len() > MAX_LEN {
        return Some(NatsRule::TooLong);
    }
    let mut tokens = split_on(b'.', bytes).peekable();
    while let Some(t) = tokens.next() {
        if t.is_empty() {
            return Some(NatsRule::EmptyToken);
        }
        if t.iter()
            .any(|&b| matches!(b, b' ' | b'\t' | b'\n' | b'\r' | b'\x0c'))
        {
            return Some(NatsRule::Whitespace);
        }
        let wild = t == b"*" || t == b">";
        if literal && wild {
            return Some(NatsRule::WildcardInLiteral);
        }
        if t == b">" && tokens.peek().is_some() {
            return Some(NatsRule::FullWildcardNotLast);
        }
    }
    None
}

/// The rules a NATS subject can break.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum NatsRule {
    /// The subject is empty.
    Empty,
    /// The subject is longer than [`NatsSubject::MAX_LEN`].
    TooLong,
    /// A token is empty (`a..b`, a leading or trailing `.`).
    EmptyToken,
    /// A token holds whitespace.
    Whitespace,
    /// `>` is not the last token.
    FullWildcardNotLast,
    /// A subject to publish to has a `*` or `>` token.
    WildcardInLiteral,
}

impl NatsRule {
    fn text(self) -> &'static str {
        match self {
            NatsRule::Empty => "a subject has at least one token",
            NatsRule::TooLong => "a subject is at most 65535 bytes",
            NatsRule::EmptyToken => "a token must not be empty",
            NatsRule::Whitespace => "a token must not contain whitespace",
            NatsRule::FullWildcardNotLast => "the full wildcard `>` must be the last token",
            NatsRule::WildcardInLiteral => "a subject to publish to must not contain wildcards",
        }
    }
}

/// A subject that breaks a NATS rule; `Display` names the subject and the rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NatsSubjectError {
    rule: NatsRule,
    /// The refused input (cut to 256 bytes).
    input: Box<[u8]>,
}

impl NatsSubjectError {
    fn new(rule: NatsRule, input: &[u8]) -> NatsSubjectError {
        NatsSubjectError {
            rule,
            input: input[..input.len().min(256)].into(),
        }
    }

    /// The rule broken.
    pub fn rule(&self) -> NatsRule {
        self.rule
    }

    /// The refused input (its first 256 bytes).
    pub fn input(&self) -> &[u8] {
        &self.input
    }
}

impl fmt::Display for NatsSubjectError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "invalid subject {:?}: {}",
            String::from_utf8_lossy(&self.input),
            self.rule.text()
        )
    }
}

impl std::error::Error for NatsSubjectError {}

impl fmt::Display for NatsSubject {
    /// Writes the subject back byte for byte when it is UTF-8; an invalid byte is
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

impl fmt::Debug for NatsSubject {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "NatsSubject(\"{self}\")")
    }
}

impl AsRef<[u8]> for NatsSubject {
    fn as_ref(&self) -> &[u8] {
        &self.bytes
    }
}

impl std::str::FromStr for NatsSubject {
    type Err = NatsSubjectError;
    fn from_str(s: &str) -> Result<NatsSubject, NatsSubjectError> {
        NatsSubject::new(s)
    }
}

impl TryFrom<&str> for NatsSubject {
    type Error = NatsSubjectError;
    fn try_from(s: &str) -> Result<NatsSubject, NatsSubjectError> {
        NatsSubject::new(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rules() {
        let rule = |s: &str| NatsSubject::new(s).unwrap_err().rule();
        assert_eq!(rule(""), NatsRule::Empty);
        assert_eq!(rule("a..b"), NatsRule::EmptyToken);
        assert_eq!(rule(".a"), NatsRule::EmptyToken);
        assert_eq!(rule("a."), NatsRule::EmptyToken);
        assert_eq!(rule("a b"), NatsRule::Whitespace);
        assert_eq!(rule(">.a"), NatsRule::FullWildcardNotLast);
        assert!(NatsSubject::new("a*.>b.*.>").is_ok());
        assert_eq!(
            NatsSubject::new("a..b").unwrap_err().to_string(),
            "invalid subject \"a..b\": a token must not be empty"
        );
    }
}
