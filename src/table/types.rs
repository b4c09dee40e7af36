//! The table's public data types: exchange kinds and options, table options, queue and
//! exchange ids, binding destinations, and the views `bindings()` and `exchanges()`
//! return. Plain data: no table state, no hashing.

use std::fmt;

use crate::error::DeclareError;
use crate::field::FieldTable;

/// The longest name, routing key or binding key AMQP can carry (a short string).
pub const MAX_NAME_LEN: usize = 255;

/// The kind of an exchange, which decides how it matches routing keys.
///
/// With the `serde` feature it is RabbitMQ's name: `"direct"`, `"fanout"`, `"topic"`,
/// `"headers"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(
    feature = "serde",
    derive(serde::Serialize, serde::Deserialize),
    serde(rename_all = "lowercase")
)]
pub enum ExchangeKind {
    /// The binding key equals the routing key, byte for byte.
    Direct,
    /// Every binding matches; keys are ignored.
    Fanout,
    /// The binding key is a pattern with `*` and `#` (see [`topic`](crate::topic)).
    Topic,
    /// The binding's arguments match the message headers (see
    /// [`HeadersMatch`](crate::HeadersMatch)).
    Headers,
}

impl ExchangeKind {
    /// The AMQP type name: `direct`, `fanout`, `topic` or `headers`.
    pub fn as_str(self) -> &'static str {
        match self {
            ExchangeKind::Direct => "direct",
            ExchangeKind::Fanout => "fanout",
            ExchangeKind::Topic => "topic",
            ExchangeKind::Headers => "headers",
        }
    }
}

impl fmt::Display for ExchangeKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for ExchangeKind {
    type Err = DeclareError;

    /// Parses an AMQP exchange type name.
    ///
    /// # Errors
    ///
    /// [`DeclareError::UnknownType`] (406) for any other name.
    fn from_str(s: &str) -> Result<ExchangeKind, DeclareError> {
        match s {
            "direct" => Ok(ExchangeKind::Direct),
            "fanout" => Ok(ExchangeKind::Fanout),
            "topic" => Ok(ExchangeKind::Topic),
            "headers" => Ok(ExchangeKind::Headers),
            other => Err(DeclareError::UnknownType { name: other.into() }),
        }
    }
}

/// The properties of an exchange other than its kind; a redeclare must repeat them.
///
/// With the `serde` feature it is a map of its fields by name; missing ones take their
/// defaults.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[cfg_attr(
    feature = "serde",
    derive(serde::Serialize, serde::Deserialize),
    serde(default)
)]
pub struct ExchangeOptions {
    /// Survives a broker restart (recorded only: this table lives in memory).
    pub durable: bool,
    /// Deleted when its last binding as a source goes (never if it never had one).
    pub auto_delete: bool,
    /// Cannot be published to directly, only reached through other exchanges.
    pub internal: bool,
    /// The exchange that receives messages this one routes nowhere (the
    /// `alternate-exchange` argument). It need not exist; a missing one is skipped.
    pub alternate_exchange: Option<String>,
}

/// Options of the table itself.
///
/// With the `serde` feature it is a map of its fields by name; missing ones take their
/// defaults.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[cfg_attr(
    feature = "serde",
    derive(serde::Serialize, serde::Deserialize),
    serde(default)
)]
pub struct TableOptions {
    /// The most `#` words an AMQP topic binding key may have; `None` (the default) is
    /// no limit. `Some(2)` reproduces RabbitMQ 4.3.5 and later, which refuses more with
    /// 406. (MQTT allows one `#`, last; NATS has none.)
    pub max_hash_words: Option<usize>,
    /// The syntax of the topic exchanges' binding and routing keys.
    pub topic_dialect: TopicDialect,
}

/// The syntax of a table's topic exchanges (see [`topic`](crate::topic)), chosen when
/// the table is made.
///
/// With the `serde` feature it is its lowercase name: `"amqp"`, `"mqtt"`, `"nats"`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
#[cfg_attr(
    feature = "serde",
    derive(serde::Serialize, serde::Deserialize),
    serde(rename_all = "lowercase")
)]
pub enum TopicDialect {
    /// AMQP 0-9-1 ([`Amqp`](crate::topic::Amqp)): `.` between words, `*` one word, `#`
    /// zero or more anywhere; every key is valid.
    #[default]
    Amqp,
    /// MQTT 3.1.1 and 5 ([`Mqtt`](crate::topic::Mqtt)): binding keys are
    /// [`MqttFilter`](crate::topic::MqttFilter)s (`/`, `+`, `#` last); routing keys are
    /// topic names, and an invalid one (with a wildcard, say) routes nowhere.
    Mqtt,
    /// NATS ([`Nats`](crate::topic::Nats)): binding keys are
    /// [`NatsSubject`](crate::topic::NatsSubject)s (`.`, `*`, `>` last); routing keys
    /// with a wildcard or an empty token route nowhere.
    Nats,
}

/// A queue's id in a [`RoutingTable`](crate::RoutingTable): dense, reused after the queue
/// is deleted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct QueueId(pub(crate) u32);

impl QueueId {
    /// The id as an index (dense: below the table's highest queue count).
    pub fn index(self) -> usize {
        self.0 as usize
    }
}

/// An exchange's id in a [`RoutingTable`](crate::RoutingTable): dense, reused after the
/// exchange is deleted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ExchangeId(pub(crate) u32);

impl ExchangeId {
    /// The id as an index.
    pub fn index(self) -> usize {
        self.0 as usize
    }
}

/// The destination of a binding, by name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Destination<'a> {
    /// A queue.
    Queue(&'a str),
    /// An exchange (an exchange-to-exchange binding).
    Exchange(&'a str),
}

/// A binding, as listed by [`RoutingTable::bindings`](crate::RoutingTable::bindings).
#[derive(Debug, Clone, PartialEq)]
pub struct Binding<'a> {
    /// The source exchange.
    pub source: &'a str,
    /// Where matching messages go.
    pub destination: Destination<'a>,
    /// The binding key (a pattern for topic exchanges).
    pub key: &'a [u8],
    /// The binding arguments.
    pub arguments: &'a FieldTable,
}

/// An exchange, as listed by [`RoutingTable::exchanges`](crate::RoutingTable::exchanges).
#[derive(Debug, Clone, PartialEq)]
pub struct ExchangeInfo<'a> {
    /// Its name (`""` is the default exchange).
    pub name: &'a str,
    /// Its kind.
    pub kind: ExchangeKind,
    /// Its options.
    pub options: &'a ExchangeOptions,
    /// Number of bindings with it as the source.
    pub bindings: usize,
}
