//! [`Dialect`]: the topic syntax a [`TopicTrie`](super::TopicTrie) speaks, chosen by type.
//!
//! One trie serves three syntaxes. A dialect says how a key splits into words, which
//! words of a pattern are wildcards, and which keys can match at all; the trie itself
//! only knows three kinds of edge (a literal word, one word, zero or more words), so
//! each dialect translates its patterns into those edges:
//!
//! | dialect  | separator | one word | many words                          | maps to       |
//! |----------|-----------|----------|-------------------------------------|---------------|
//! | [`Amqp`] | `.`       | `*`      | `#`: zero or more, anywhere         | `*`, `#`      |
//! | [`Mqtt`] | `/`       | `+`      | `#`: zero or more, last level only  | `*`, `#`      |
//! | [`Nats`] | `.`       | `*`      | `>`: one or more, last token only   | `*`, `*` `#`  |
//!
//! MQTT's `a/#` matches `a` exactly as AMQP's `a.#` does, so both map `#` to the same
//! edge; NATS's `>` takes at least one token, so it is a one-word edge followed by a
//! zero-or-more edge. What is left is checked once per key, never per word: MQTT keys
//! starting with `$` skip the wildcard edges of the root, and keys that are not valid
//! topic names (MQTT) or subjects (NATS) match nothing.
//!
//! The dialect is a type parameter whose methods are resolved at compile time, so the
//! AMQP trie (the default) compiles to the same code it did before dialects existed:
//! its key check is a constant `true` and its `$` rule a constant `false`.

use std::fmt::Debug;
use std::hash::Hash;

use super::Word;
use super::mqtt::{MqttFilter, is_topic_name};
use super::nats::{NatsSubject, is_literal_subject};
use super::pattern::Pattern;

/// A topic syntax: [`Amqp`] (the default), [`Mqtt`] or [`Nats`].
///
/// The trait is sealed: the trie relies on each dialect's rules, so only this crate
/// implements it. Use it as a bound (`D: Dialect`) or name a dialect's pattern type as
/// `D::Pattern`.
///
/// # Examples
///
/// ```
/// use trackswitch::topic::{Dialect, Mqtt, MqttFilter, TopicTrie};
///
/// fn subscribers<D: Dialect>(trie: &TopicTrie<&'static str, trackswitch::DefaultHashBuilder, D>, key: &str) -> usize {
///     trie.route(key).len()
/// }
///
/// let mut trie = TopicTrie::with_dialect(Mqtt);
/// trie.insert(&MqttFilter::new("sport/#")?, "fan");
/// assert_eq!(subscribers(&trie, "sport/tennis"), 1);
/// assert_eq!(Mqtt::SEPARATOR, b'/');
/// # Ok::<(), trackswitch::topic::MqttFilterError>(())
/// ```
pub trait Dialect:
    sealed::Sealed + Copy + Debug + Default + PartialEq + Eq + Hash + Send + Sync + 'static
{
    /// A pattern checked by this dialect's rules: [`Pattern`], [`MqttFilter`] or
    /// [`NatsSubject`].
    type Pattern: Clone + Debug + Eq + Hash + Ord + AsRef<[u8]> + Send + Sync + 'static;

    /// The byte between words (levels, tokens).
    const SEPARATOR: u8;

    /// The dialect's name, for messages.
    const NAME: &'static str;
}

pub(crate) mod sealed {
    use super::Word;

    /// The rules the trie needs, resolved at compile time.
    #[allow(unreachable_pub)] // a sealed trait: public in a private module on purpose
    pub trait Sealed {
        /// Whether `key` can match anything (`true` for every AMQP key).
        fn key_is_valid(key: &[u8]) -> bool;

        /// Whether a key starting with `$` skips the root's wildcard edges (MQTT's
        /// [MQTT-4.7.2-1]).
        const DOLLAR_RULE: bool;

        /// The trie edges spelled by checked pattern bytes.
        fn edges(pattern: &[u8]) -> impl Iterator<Item = Word<'_>> + Clone + '_;

        /// The dialect's pattern of bytes the caller has checked by its rules.
        fn from_checked(bytes: &[u8]) -> <Self as super::Dialect>::Pattern
        where
            Self: super::Dialect;

        /// Whether checked pattern bytes have no wildcard, so they match only
        /// themselves.
        fn is_exact(pattern: &[u8]) -> bool {
            Self::edges(pattern).all(|w| matches!(w, Word::Literal(_)))
        }
    }
}

/// Splits bytes on every `sep`; the empty string is zero words.
#[inline]
pub(crate) fn split_on(sep: u8, bytes: &[u8]) -> impl Iterator<Item = &[u8]> + Clone + '_ {
    let mut words = bytes.split(move |&b| b == sep);
    if bytes.is_empty() {
        // `split` yields one empty slice for an empty input; we want none.
        words.next();
    }
    words
}

/// AMQP 0-9-1 topic syntax (RabbitMQ's): `.` between words, `*` one word, `#` zero or
/// more words anywhere. The default dialect; its patterns are [`Pattern`]s and its rules
/// are those of [the module](crate::topic).
///
/// ```
/// use trackswitch::topic::{Amqp, Pattern, TopicTrie};
///
/// let mut trie = TopicTrie::with_dialect(Amqp); // the same as TopicTrie::new()
/// trie.insert(&Pattern::new("a.#.b")?, 1);
/// assert_eq!(trie.route("a.x.y.b"), [1]);
/// # Ok::<(), trackswitch::PatternError>(())
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Amqp;

impl sealed::Sealed for Amqp {
    fn from_checked(bytes: &[u8]) -> Pattern {
        Pattern::from_checked(bytes)
    }
    #[inline(always)]
    fn key_is_valid(_: &[u8]) -> bool {
        true
    }
    const DOLLAR_RULE: bool = false;
    #[inline]
    fn edges(pattern: &[u8]) -> impl Iterator<Item = Word<'_>> + Clone + '_ {
        super::pattern::words(pattern)
    }
}

impl Dialect for Amqp {
    type Pattern = Pattern;
    const SEPARATOR: u8 = b'.';
    const NAME: &'static str = "amqp";
}

/// MQTT 3.1.1 and 5 topic syntax: `/` between levels, `+` one level, `#` zero or more
/// levels as the last level only, topics starting with `$` hidden from filters that
/// start with a wildcard. Its patterns are [`MqttFilter`]s; see there for the rules and
/// [`MqttSubscriptions`](super::MqttSubscriptions) for shared subscriptions.
///
/// ```
/// use trackswitch::topic::{Mqtt, MqttFilter, TopicTrie};
///
/// let mut trie = TopicTrie::with_dialect(Mqtt);
/// trie.insert(&MqttFilter::new("sport/tennis/+")?, 1);
/// trie.insert(&MqttFilter::new("#")?, 2);
/// let mut hits = trie.route("sport/tennis/player1");
/// hits.sort();
/// assert_eq!(hits, [1, 2]);
/// assert!(trie.route("$SYS/uptime").is_empty()); // [MQTT-4.7.2-1]
/// # Ok::<(), trackswitch::topic::MqttFilterError>(())
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Mqtt;

impl sealed::Sealed for Mqtt {
    fn from_checked(bytes: &[u8]) -> MqttFilter {
        MqttFilter::from_checked(bytes)
    }
    #[inline]
    fn key_is_valid(key: &[u8]) -> bool {
        is_topic_name(key)
    }
    const DOLLAR_RULE: bool = true;
    #[inline]
    fn edges(pattern: &[u8]) -> impl Iterator<Item = Word<'_>> + Clone + '_ {
        split_on(b'/', pattern).map(|w| match w {
            b"+" => Word::Star,
            b"#" => Word::Hash,
            w => Word::Literal(w),
        })
    }
}

impl Dialect for Mqtt {
    type Pattern = MqttFilter;
    const SEPARATOR: u8 = b'/';
    const NAME: &'static str = "mqtt";
}

/// NATS subject syntax: `.` between tokens, `*` one token, `>` one or more tokens as the
/// last token only, no empty token. Its patterns are [`NatsSubject`]s; see there for the
/// rules.
///
/// ```
/// use trackswitch::topic::{Nats, NatsSubject, TopicTrie};
///
/// let mut trie = TopicTrie::with_dialect(Nats);
/// trie.insert(&NatsSubject::new("foo.>")?, 1);
/// assert_eq!(trie.route("foo.bar.baz"), [1]);
/// assert!(trie.route("foo").is_empty()); // `>` takes at least one token
/// # Ok::<(), trackswitch::topic::NatsSubjectError>(())
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Nats;

impl sealed::Sealed for Nats {
    fn from_checked(bytes: &[u8]) -> NatsSubject {
        NatsSubject::from_checked(bytes)
    }
    #[inline]
    fn key_is_valid(key: &[u8]) -> bool {
        is_literal_subject(key)
    }
    const DOLLAR_RULE: bool = false;
    #[inline]
    fn edges(pattern: &[u8]) -> impl Iterator<Item = Word<'_>> + Clone + '_ {
        // `>` is one token then zero or more: a `*` edge followed by a `#` edge.
        split_on(b'.', pattern).flat_map(|w| {
            let (first, second) = match w {
                b"*" => (Word::Star, None),
                b">" => (Word::Star, Some(Word::Hash)),
                w => (Word::Literal(w), None),
            };
            std::iter::once(first).chain(second)
        })
    }
}

impl Dialect for Nats {
    type Pattern = NatsSubject;
    const SEPARATOR: u8 = b'.';
    const NAME: &'static str = "nats";
}
