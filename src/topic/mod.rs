//! Topic exchange matching: [`Pattern`] (a checked binding key) and [`TopicTrie`], in
//! AMQP's syntax and, as dialects, MQTT's and NATS's.
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
//!
//! # Dialects
//!
//! The same trie speaks MQTT and NATS too, chosen by its [`Dialect`] type parameter when
//! it is made ([`TopicTrie::with_dialect`]); AMQP ([`Amqp`]) is the default, so
//! [`TopicTrie::new`] is unchanged and costs nothing more.
//!
//! - [`Mqtt`]: patterns are [`MqttFilter`]s (`/` between levels, `+` one level, `#` the
//!   parent and any levels below, last only; `$` topics hidden from leading wildcards),
//!   errors quote the MQTT specification ([`MqttRule`]); shared subscriptions
//!   (`$share/{group}/{filter}`, one member per message, round-robin) are
//!   [`MqttSubscriptions`].
//! - [`Nats`]: patterns are [`NatsSubject`]s (`.` between tokens, `*` one token, `>` one
//!   or more, last only; no empty token).
//!
//! ```
//! use trackswitch::topic::{Mqtt, MqttFilter, Nats, NatsSubject, TopicTrie};
//!
//! let mut mqtt = TopicTrie::with_dialect(Mqtt);
//! mqtt.insert(&MqttFilter::new("sport/tennis/player1/#")?, "fan");
//! assert_eq!(mqtt.route("sport/tennis/player1"), ["fan"]);
//!
//! let mut nats = TopicTrie::with_dialect(Nats);
//! nats.insert(&NatsSubject::new("foo.>")?, "all-foo");
//! assert!(nats.route("foo").is_empty());
//! assert_eq!(nats.route("foo.bar.baz"), ["all-foo"]);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod dialect;
mod mqtt;
mod mqtt_shared;
mod nats;
mod pattern;
#[cfg(feature = "serde")]
mod pattern_serde;
mod trie;

pub use dialect::{Amqp, Dialect, Mqtt, Nats};
pub use mqtt::{MqttFilter, MqttFilterError, MqttRule};
pub use mqtt_shared::{MqttSubscription, MqttSubscriptions};
pub use nats::{NatsRule, NatsSubject, NatsSubjectError};
#[cfg(feature = "reference")]
pub(crate) use pattern::split;
pub(crate) use pattern::words;
pub use pattern::{Pattern, Word};
pub use trie::TopicTrie;
