//! MQTT topic filters ([`MqttFilter`]), topic names, and the rules they follow.
//!
//! The rules are those of MQTT 3.1.1 section 4.7 (and section 1.5.3 for strings), which
//! MQTT 5 keeps unchanged in its own section 4.7; statement numbers in brackets are
//! MQTT 3.1.1's normative statements. Shared subscriptions (MQTT 5 section 4.8.2) are
//! in [`MqttSubscriptions`](super::MqttSubscriptions).

use std::fmt;

use super::dialect::split_on;

/// The longest topic name or filter, in bytes: a UTF-8 encoded string's length is two
/// bytes [MQTT-4.7.3-3].
pub(crate) const MAX_LEN: usize = 65_535;

/// An MQTT topic filter, checked once: `/` between levels, `+` one level, `#` zero or
/// more levels as the last level.
///
/// The rules (MQTT 3.1.1 section 4.7, unchanged in MQTT 5):
///
/// 1. levels are split on every `/`; an empty level is a level (`a//b` has three,
///    `/finance` two, the first empty);
/// 2. `+` occupies a whole level and matches exactly one level, an empty one too;
/// 3. `#` is the whole last level and matches the parent level and any number of
///    levels below it (`sport/#` matches `sport`, `sport/tennis` and `sport/a/b`);
/// 4. a filter starting with `+` or `#` does not match a topic name starting with `$`
///    (`#` does not match `$SYS/uptime`; `$SYS/#` does);
/// 5. every other level matches an equal level, byte for byte.
///
/// A topic name (the key routed) follows the same string rules and has no wildcard; a
/// key that is not a valid topic name matches nothing. A filter starting `$share/` is
/// an ordinary filter here (its first level is the literal `$share`); shared
/// subscriptions are parsed by [`MqttSubscription`](super::MqttSubscription).
///
/// # Examples
///
/// ```
/// use trackswitch::topic::{MqttFilter, MqttRule};
///
/// let f = MqttFilter::new("sport/tennis/+")?;
/// assert!(f.matches("sport/tennis/player1"));
/// assert!(!f.matches("sport/tennis/player1/ranking"));
/// assert!(MqttFilter::new("sport/#")?.matches("sport"));
///
/// let err = MqttFilter::new("sport/tennis#").unwrap_err();
/// assert_eq!(err.rule(), MqttRule::MultiLevelWildcard);
/// assert_eq!(err.rule().statement(), "MQTT-4.7.1-2");
/// # Ok::<(), trackswitch::topic::MqttFilterError>(())
/// ```
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct MqttFilter {
    /// Valid by the filter rules: 1 to [`MAX_LEN`] bytes of UTF-8 without U+0000, `+`
    /// and `#` only as whole levels, `#` only last.
    bytes: Box<[u8]>,
}

impl MqttFilter {
    /// The longest filter accepted, in bytes [MQTT-4.7.3-3].
    pub const MAX_LEN: usize = MAX_LEN;

    /// Checks a topic filter.
    ///
    /// # Errors
    ///
    /// An [`MqttFilterError`] naming the first statement the filter breaks: empty
    /// [MQTT-4.7.3-1], longer than [`MqttFilter::MAX_LEN`] [MQTT-4.7.3-3], ill-formed
    /// UTF-8 [MQTT-1.5.3-1], a null character [MQTT-4.7.3-2], a `#` that is not the
    /// whole last level [MQTT-4.7.1-2], a `+` that is not a whole level
    /// [MQTT-4.7.1-3].
    pub fn new(filter: impl AsRef<[u8]>) -> Result<MqttFilter, MqttFilterError> {
        let bytes = filter.as_ref();
        check(bytes, Kind::Filter)?;
        Ok(MqttFilter::from_checked(bytes))
    }

    /// A filter of bytes the caller has checked.
    pub(crate) fn from_checked(bytes: &[u8]) -> MqttFilter {
        MqttFilter {
            bytes: bytes.into(),
        }
    }

    /// Checks a topic name (what a PUBLISH carries): the filter rules, and no
    /// wildcard character at all [MQTT-4.7.1-1].
    ///
    /// A trie in the [`Mqtt`](super::Mqtt) dialect matches nothing for a key this
    /// refuses, so calling it is needed only to tell the publisher why.
    ///
    /// # Examples
    ///
    /// ```
    /// use trackswitch::topic::{MqttFilter, MqttRule};
    ///
    /// assert!(MqttFilter::check_topic_name("/finance").is_ok());
    /// let err = MqttFilter::check_topic_name("sport/+").unwrap_err();
    /// assert_eq!(err.rule(), MqttRule::WildcardInTopicName);
    /// ```
    ///
    /// # Errors
    ///
    /// As [`new`](Self::new), and [`MqttRule::WildcardInTopicName`] for a `+` or `#`
    /// anywhere.
    pub fn check_topic_name(name: impl AsRef<[u8]>) -> Result<(), MqttFilterError> {
        check(name.as_ref(), Kind::Name)
    }

    /// The filter's bytes, exactly as given.
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// The filter as a string (filters are UTF-8 [MQTT-1.5.3-1]).
    pub fn as_str(&self) -> &str {
        std::str::from_utf8(&self.bytes).expect("a checked filter is UTF-8")
    }

    /// Number of levels (at least one).
    pub fn level_count(&self) -> usize {
        1 + self.bytes.iter().filter(|&&b| b == b'/').count()
    }

    /// Whether the filter has no wildcard, so it matches exactly one topic: itself.
    pub fn is_exact(&self) -> bool {
        !self.bytes.iter().any(|&b| b == b'+' || b == b'#')
    }

    /// Whether this filter matches the topic name `topic`, by the rules above; false
    /// when `topic` is not a valid topic name.
    ///
    /// This walks one filter in O(levels); use a [`TopicTrie`](super::TopicTrie) in
    /// the [`Mqtt`](super::Mqtt) dialect to match many filters at once.
    pub fn matches(&self, topic: impl AsRef<[u8]>) -> bool {
        let topic = topic.as_ref();
        if !is_topic_name(topic) {
            return false;
        }
        let mut levels = split_on(b'/', topic);
        for (i, f) in split_on(b'/', &self.bytes).enumerate() {
            if i == 0 && topic[0] == b'$' && (f == b"+" || f == b"#") {
                return false;
            }
            if f == b"#" {
                return true;
            }
            match levels.next() {
                Some(l) if f == b"+" || f == l => {}
                _ => return false,
            }
        }
        levels.next().is_none()
    }
}

/// Whether `name` is a valid topic name (what the trie routes).
#[inline]
pub(crate) fn is_topic_name(name: &[u8]) -> bool {
    broken_rule(name, Kind::Name).is_none()
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Kind {
    Filter,
    Name,
    Share,
}

/// The MQTT rules a filter, topic name or shared subscription can break.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum MqttRule {
    /// "All Topic Names and Topic Filters MUST be at least one character long"
    /// [MQTT-4.7.3-1].
    Empty,
    /// "Topic Names and Topic Filters are UTF-8 encoded strings, they MUST NOT encode to
    /// more than 65535 bytes" [MQTT-4.7.3-3].
    TooLong,
    /// "The character data in a UTF-8 encoded string MUST be well-formed UTF-8"
    /// [MQTT-1.5.3-1].
    NotUtf8,
    /// "Topic Names and Topic Filters MUST NOT include the null character (Unicode
    /// U+0000)" [MQTT-4.7.3-2].
    NullCharacter,
    /// "The multi-level wildcard character MUST be specified either on its own or
    /// following a topic level separator. In either case it MUST be the last character
    /// specified in the Topic Filter" [MQTT-4.7.1-2].
    MultiLevelWildcard,
    /// "The single-level wildcard can be used at any level in the Topic Filter,
    /// including first and last levels. Where it is used it MUST occupy an entire level
    /// of the filter" [MQTT-4.7.1-3].
    SingleLevelWildcard,
    /// "The wildcard characters can be used in Topic Filters, but MUST NOT be used
    /// within a Topic Name" [MQTT-4.7.1-1].
    WildcardInTopicName,
    /// A shared subscription's "ShareName MUST NOT contain the characters "/", "+" or
    /// "#", but MUST be followed by a "/" character. This "/" character MUST be followed
    /// by a Topic Filter" and the ShareName is "at least one character long" (MQTT 5
    /// [MQTT-4.8.2-1], [MQTT-4.8.2-2]).
    ShareName,
}

impl MqttRule {
    /// The specification's number for the statement (MQTT 3.1.1 numbering; the shared
    /// subscription rule is MQTT 5's).
    pub fn statement(self) -> &'static str {
        match self {
            MqttRule::Empty => "MQTT-4.7.3-1",
            MqttRule::TooLong => "MQTT-4.7.3-3",
            MqttRule::NotUtf8 => "MQTT-1.5.3-1",
            MqttRule::NullCharacter => "MQTT-4.7.3-2",
            MqttRule::MultiLevelWildcard => "MQTT-4.7.1-2",
            MqttRule::SingleLevelWildcard => "MQTT-4.7.1-3",
            MqttRule::WildcardInTopicName => "MQTT-4.7.1-1",
            MqttRule::ShareName => "MQTT-4.8.2-2",
        }
    }

    /// The statement as the specification words it.
    pub fn text(self) -> &'static str {
        match self {
            MqttRule::Empty => {
                "All Topic Names and Topic Filters MUST be at least one character long"
            }
            MqttRule::TooLong => {
                "Topic Names and Topic Filters are UTF-8 encoded strings, they MUST NOT encode to more than 65535 bytes"
            }
            MqttRule::NotUtf8 => {
                "The character data in a UTF-8 encoded string MUST be well-formed UTF-8"
            }
            MqttRule::NullCharacter => {
                "Topic Names and Topic Filters MUST NOT include the null character (Unicode U+0000)"
            }
            MqttRule::MultiLevelWildcard => {
                "The multi-level wildcard character MUST be specified either on its own or following a topic level separator. In either case it MUST be the last character specified in the Topic Filter"
            }
            MqttRule::SingleLevelWildcard => {
                "The single-level wildcard can be used at any level in the Topic Filter, including first and last levels. Where it is used it MUST occupy an entire level of the filter"
            }
            MqttRule::WildcardInTopicName => {
                "The wildcard characters can be used in Topic Filters, but MUST NOT be used within a Topic Name"
            }
            MqttRule::ShareName => {
                "The ShareName MUST NOT contain the characters \"/\", \"+\" or \"#\", but MUST be followed by a \"/\" character. This \"/\" character MUST be followed by a Topic Filter"
            }
        }
    }
}

/// A topic filter, topic name or shared subscription that breaks an MQTT rule.
///
/// `Display` names the input and quotes the rule as the specification words it, with
/// the statement's number: `topic filter "sport/tennis#": The multi-level wildcard
/// character MUST be specified either on its own or following a topic level separator.
/// In either case it MUST be the last character specified in the Topic Filter
/// [MQTT-4.7.1-2]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MqttFilterError {
    rule: MqttRule,
    kind: Kind,
    /// The refused input (cut to 256 bytes).
    input: Box<[u8]>,
}

impl MqttFilterError {
    fn new(rule: MqttRule, kind: Kind, input: &[u8]) -> MqttFilterError {
        MqttFilterError {
            rule,
            kind,
            input: input[..input.len().min(256)].into(),
        }
    }

    /// The rule broken.
    pub fn rule(&self) -> MqttRule {
        self.rule
    }

    /// The refused input (its first 256 bytes).
    pub fn input(&self) -> &[u8] {
        &self.input
    }
}

impl fmt::Display for MqttFilterError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let what = match self.kind {
            Kind::Filter => "topic filter",
            Kind::Name => "topic name",
            Kind::Share => "shared subscription",
        };
        write!(
            f,
            "{what} {:?}: {} [{}]",
            String::from_utf8_lossy(&self.input),
            self.rule.text(),
            self.rule.statement()
        )
    }
}

impl std::error::Error for MqttFilterError {}

/// Checks a filter or topic name.
fn check(bytes: &[u8], kind: Kind) -> Result<(), MqttFilterError> {
    match broken_rule(bytes, kind) {
        None => Ok(()),
        Some(rule) => Err(MqttFilterError::new(rule, kind, bytes)),
    }
}

/// The first rule `bytes` breaks as a filter (or a topic name), if any; allocates
/// nothing, so routing can call it per key.
fn broken_rule(bytes: &[u8], kind: Kind) -> Option<MqttRule> {
    if bytes.is_empty() {
        return Some(MqttRule::Empty);
    }
    if bytes.len() > MAX_LEN {
        return Some(MqttRule::TooLong);
    }
    if std::str::from_utf8(bytes).is_err() {
        return Some(MqttRule::NotUtf8);
    }
    if bytes.contains(&0) {
        return Some(MqttRule::NullCharacter);
    }
    if kind == Kind::Name {
        let wild = bytes.iter().any(|&b| b == b'+' || b == b'#');
        return wild.then_some(MqttRule::WildcardInTopicName);
    }
    let mut levels = split_on(b'/', bytes).peekable();
    while let Some(level) = levels.next() {
        let last = levels.peek().is_none();
        if level.contains(&b'#') && (level != b"#" || !last) {
            return Some(MqttRule::MultiLevelWildcard);
        }
        if level.contains(&b'+') && level != b"+" {
            return Some(MqttRule::SingleLevelWildcard);
        }
    }
    None
}

/// Checks a shared subscription's share name (MQTT 5 [MQTT-4.8.2-1], [MQTT-4.8.2-2]).
pub(crate) fn check_share_name(whole: &[u8], name: &[u8]) -> Result<(), MqttFilterError> {
    if name.is_empty() || name.iter().any(|&b| matches!(b, b'/' | b'+' | b'#')) {
        return Err(share_name_error(whole));
    }
    Ok(())
}

/// A shared subscription with no valid ShareName (or no `/` and filter after it).
pub(crate) fn share_name_error(whole: &[u8]) -> MqttFilterError {
    MqttFilterError::new(MqttRule::ShareName, Kind::Share, whole)
}

/// A shared subscription whose filter part is invalid: the error names the whole input.
pub(crate) fn share_filter_error(whole: &[u8], e: MqttFilterError) -> MqttFilterError {
    MqttFilterError::new(e.rule, Kind::Share, whole)
}

impl fmt::Display for MqttFilter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for MqttFilter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "MqttFilter({:?})", self.as_str())
    }
}

impl AsRef<[u8]> for MqttFilter {
    fn as_ref(&self) -> &[u8] {
        &self.bytes
    }
}

impl std::str::FromStr for MqttFilter {
    type Err = MqttFilterError;
    fn from_str(s: &str) -> Result<MqttFilter, MqttFilterError> {
        MqttFilter::new(s)
    }
}

impl TryFrom<&str> for MqttFilter {
    type Error = MqttFilterError;
    fn try_from(s: &str) -> Result<MqttFilter, MqttFilterError> {
        MqttFilter::new(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rules_in_order() {
        let rule = |s: &[u8]| MqttFilter::new(s).unwrap_err().rule();
        assert_eq!(rule(b""), MqttRule::Empty);
        assert_eq!(rule(&vec![b'a'; MAX_LEN + 1]), MqttRule::TooLong);
        assert_eq!(rule(b"a/\xff"), MqttRule::NotUtf8);
        assert_eq!(rule(b"a/\0"), MqttRule::NullCharacter);
        assert_eq!(rule(b"#/a"), MqttRule::MultiLevelWildcard);
        assert_eq!(rule(b"a#"), MqttRule::MultiLevelWildcard);
        assert_eq!(rule(b"a+"), MqttRule::SingleLevelWildcard);
        assert!(MqttFilter::new(vec![b'a'; MAX_LEN]).is_ok());
        assert!(MqttFilter::new("/").is_ok());
    }

    #[test]
    fn message_quotes_the_spec() {
        let e = MqttFilter::new("sport/tennis#").unwrap_err();
        assert_eq!(
            e.to_string(),
            "topic filter \"sport/tennis#\": The multi-level wildcard character MUST be \
             specified either on its own or following a topic level separator. In either \
             case it MUST be the last character specified in the Topic Filter [MQTT-4.7.1-2]"
        );
    }
}
