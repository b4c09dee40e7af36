//! AMQP 0-9-1 message routing: a trie topic matcher for `*` and `#`, hashed direct
//! lookups, fanout bitsets and headers matching, behind one routing table with
//! RabbitMQ's semantics.
//!
//! # Overview
//!
//! - [`topic::TopicTrie`] matches a routing key against many topic patterns
//!   ([`topic::Pattern`]) at once: exact patterns in one flat hash, wildcard ones in a
//!   trie walked as a de-duplicated set of live states, so any number of `#` stays
//!   polynomial.
//! - [`DirectIndex`] maps a whole key to its values with one hash probe.
//! - [`DestSet`] is a dense bitset of destination ids: de-duplication, fanout members.
//! - [`HeadersMatch`] checks a headers binding (`x-match` all / any / all-with-x /
//!   any-with-x) against message headers ([`FieldTable`], [`FieldValue`]).
//! - [`RoutingTable`] puts them together: exchanges of the four [`ExchangeKind`]s,
//!   bindings to queues and to exchanges, alternate exchanges, `CC`/`BCC`, and one copy
//!   per queue, with the reply codes RabbitMQ gives.
//!   Its topic exchanges speak AMQP by default, or MQTT or NATS ([`TopicDialect`] in
//!   its [`TableOptions`]); [`SharedRoutingTable`] (feature `shared`) routes from any
//!   number of threads while a writer changes it.
//! - [`reference`](mod@reference) (feature `reference`) holds naive matchers used as oracles.
//! - [`broker`](mod@broker) (feature `broker`) is an in-process AMQP 0-9-1 broker with
//!   RabbitMQ's semantics on top of the table: queues, consumers, channels,
//!   connections, prefetch, acks, confirms, TTL, dead-lettering.
//! - `amqp` (feature `server`) puts the broker on the wire for real AMQP clients.
//!
//! Structures are plain values: share them behind a lock or an `Arc` snapshot as the
//! application needs. Routing takes `&self` and writes into caller-owned buffers, so
//! steady-state routing allocates nothing.
//!
//! # Examples
//!
//! A direct exchange routes on byte-equal keys:
//!
//! ```
//! use trackswitch::{Destination, ExchangeKind, FieldTable, RoutingTable};
//!
//! let mut table = RoutingTable::new();
//! table.declare_exchange("logs", ExchangeKind::Direct, &Default::default())?;
//! table.declare_queue("errors")?;
//! table.bind("logs", Destination::Queue("errors"), "error", &FieldTable::new())?;
//! assert_eq!(table.route("logs", "error", None)?.len(), 1);
//! assert!(table.route("logs", "info", None)?.is_empty());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! A fanout exchange ignores keys:
//!
//! ```
//! use trackswitch::{Destination, ExchangeKind, FieldTable, RoutingTable};
//!
//! let mut table = RoutingTable::new();
//! table.declare_exchange("chat", ExchangeKind::Fanout, &Default::default())?;
//! for q in ["alice", "bob"] {
//!     table.declare_queue(q)?;
//!     table.bind("chat", Destination::Queue(q), "", &FieldTable::new())?;
//! }
//! assert_eq!(table.route("chat", "anything", None)?.len(), 2);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! A topic exchange matches patterns with `*` (one word) and `#` (zero or more):
//!
//! ```
//! use trackswitch::{Destination, FieldTable, RoutingTable};
//!
//! let mut table = RoutingTable::new();
//! table.declare_queue("eu")?;
//! table.bind("amq.topic", Destination::Queue("eu"), "eu.#", &FieldTable::new())?;
//! assert_eq!(table.route("amq.topic", "eu.sport.premium", None)?.len(), 1);
//! assert_eq!(table.route("amq.topic", "eu", None)?.len(), 1);
//! assert!(table.route("amq.topic", "ru.sport", None)?.is_empty());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! A headers exchange matches arguments against message headers:
//!
//! ```
//! use trackswitch::{Destination, FieldTable, RoutingTable};
//!
//! let mut table = RoutingTable::new();
//! table.declare_queue("pdf")?;
//! let mut args = FieldTable::new();
//! args.insert("format", "pdf");
//! table.bind("amq.headers", Destination::Queue("pdf"), "", &args)?;
//! let mut headers = FieldTable::new();
//! headers.insert("format", "pdf");
//! assert_eq!(table.route("amq.headers", "", Some(&headers))?.len(), 1);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Topic rules
//!
//! Keys and patterns are bytes, compared byte for byte. Let `words(s)` be the empty
//! list when `s` is empty, else `s` split on every `.`. A pattern `P` matches a key `K`
//! when `m(words(P), words(K))`, where
//!
//! ```text
//! m([], k)        = k == []
//! m(["#"], k)     = true
//! m(["#"|p], k)   = exists i in 0..=len(k): m(p, k[i..])
//! m(["*"|p], k)   = k != [] && m(p, k[1..])
//! m([w|p], k)     = k != [] && k[0] == w && m(p, k[1..])      (any other word w)
//! ```
//!
//! So `#`, `#.#` match every key, the empty one too; `*` does not match the empty key;
//! `a*` and `#a` are literals; a key's `*` or `#` words are literals.
//!
//! # Delivery semantics of the table
//!
//! - One publish reaches each queue at most once, however many bindings, `#` paths,
//!   `CC`/`BCC` keys or exchange-to-exchange paths lead there.
//! - Each exchange is evaluated at most once per message, so cycles end.
//! - An exchange whose own bindings yield nothing hands the message to its alternate
//!   exchange (if that exists); a message that reaches no queue is *unroutable*: an
//!   empty [`RouteResult`], not an error.
//! - Names, routing keys and binding keys are at most 255 bytes (AMQP short strings).
//!
//! # Features
//!
//! - `reference` (default): the [`reference`](mod@reference) oracles (adds `regex`).
//! - `serde`: `Serialize` and `Deserialize` for the public data types
//!   ([`topic::Pattern`], [`FieldTable`], [`FieldValue`], [`ExchangeKind`],
//!   [`ExchangeOptions`], [`TableOptions`], the broker's info types); each type's docs
//!   give its format (adds `serde`).
//! - `cli` (default): the `trackswitch` binary (`trackswitch match`; adds `serde_json`,
//!   enables `serde`).
//! - `shared` (default): [`SharedRoutingTable`], routing from any number of threads
//!   without a lock while a writer changes the table (adds `arc-swap`).
//! - `broker` (default): the in-process broker, [`broker`](mod@broker) (adds `bytes`,
//!   `futures-core`, `serde_json` and `serde_path_to_error`; enables `serde`).
//! - `server` (default): the AMQP 0-9-1 server, `amqp::Server`, and
//!   `trackswitch serve` (adds `tokio`, `amq-protocol`, `tracing`).
//! - `tls` (default, implies `server`): TLS (`amqps`) listeners, `amqp::TlsConfig` and
//!   `trackswitch serve --tls-listen`, with client certificates and EXTERNAL (adds
//!   `rustls` with the ring provider and `tokio-rustls`; no OpenSSL).
//! - `management` (default, implies `server`): [`management`], RabbitMQ's management
//!   HTTP API, a web UI and Prometheus metrics for a running server, and `trackswitch
//!   serve --management` (adds `axum`).
//!
//! With `default-features = false` the crate depends on std and `hashbrown` only.

#![forbid(unsafe_code)]

#[cfg(feature = "server")]
pub mod amqp;
mod bitset;
#[cfg(feature = "broker")]
pub mod broker;
mod direct;
mod error;
mod exact;
mod field;
mod headers;
#[cfg(feature = "management")]
pub mod management;
#[cfg(feature = "reference")]
pub mod reference;
mod small;
mod table;
#[cfg(feature = "serde")]
mod text;
pub mod topic;

pub use bitset::DestSet;
pub use direct::DirectIndex;
pub use error::{
    ACCESS_REFUSED, BindError, DeclareError, DeleteError, NOT_FOUND, ObjectKind,
    PRECONDITION_FAILED, PatternError, RouteError,
};
pub use field::{FieldTable, FieldValue};
/// The indexes' default hasher: hashbrown's, foldhash seeded at random per index (keys
/// come from publishers). Every index and the [`RoutingTable`] take another
/// [`BuildHasher`](std::hash::BuildHasher) through `with_hasher`.
pub use hashbrown::DefaultHashBuilder;
pub use headers::{HeadersMatch, XMatch};
pub use table::{
    Binding, Destination, ExchangeId, ExchangeInfo, ExchangeKind, ExchangeOptions, MAX_NAME_LEN,
    QueueId, RouteResult, RoutingTable, TableOptions, TopicDialect,
};
#[cfg(feature = "shared")]
pub use table::{SharedRoutingTable, TableSnapshot};

/// The README's examples, run as doctests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
