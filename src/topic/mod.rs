//! Topic exchange matching: [`Pattern`] (a checked binding key) and [`TopicTrie`].
//!
//! # The rules
//!
//! Keys and patterns are bytes, compared byte for byte. The empty string is zero
//! words; any other string is split on every `.` (`a..b` is three words, `.` is two
//! empty words). A pattern matches a key when, word by word:
//!
//! 1. the empty pattern matches only the empty key (zero words);
//! 2. `#` alone matches any key, the empty one too;
//! 3. `#` followed by more words matches when the rest of the pattern matches some
//!    suffix of the key (so `#` takes zero or more words, anywhere);
//! 4. `*` takes exactly one word (an empty word too, never zero words);
//! 5. any other word is a literal and takes one equal word (`a*`, `#a`, `##` are
//!    literals; words of a key are always literal).
//!
//! These are RabbitMQ's semantics; `#.#` and `#.#.#` match every key, the empty one
//! too, and `*` does not match the empty key.

mod pattern;
#[cfg(feature = "serde")]
mod pattern_serde;
mod trie;

#[cfg(feature = "reference")]
pub(crate) use pattern::split;
pub(crate) use pattern::words;
pub use pattern::{Pattern, Word};
pub use trie::TopicTrie;
