//! Helpers shared by the `broker_*` conformance test files (CONFORMANCE.md rows R, E,
//! Q, M): a broker on a manual clock, one-line declare/bind/publish, queue contents
//! read through the public API, and the checks every channel or connection error
//! must pass.

// Each test file uses its own subset of these helpers.
#![allow(dead_code)]

use std::fmt::Debug;
use std::time::Duration;

use trackswitch::broker::{
    Broker, BrokerError, Channel, Connection, ExchangeDeclare, GetOk, ManualClock, Message,
    PublishOptions, Published, QueueDeclare, Scope,
};
use trackswitch::{FieldTable, FieldValue};

/// A broker on a manual clock and one connection to `/`.
pub(crate) struct Env {
    pub(crate) clock: ManualClock,
    pub(crate) broker: Broker,
    pub(crate) conn: Connection,
}

impl Env {
    pub(crate) fn new() -> Env {
        let clock = ManualClock::new();
        let broker = Broker::builder().clock(clock.clone()).build();
        let conn = broker.connect_default();
        Env {
            clock,
            broker,
            conn,
        }
    }

    /// A new channel on the env's connection.
    pub(crate) fn ch(&self) -> Channel {
        self.conn.open_channel().expect("the connection is open")
    }

    /// Moves the clock forward by `ms` milliseconds (expiries run before it returns).
    pub(crate) fn advance(&self, ms: u64) {
        self.clock.advance(Duration::from_millis(ms));
    }

    /// Ready messages of a queue (introspection: does not count as a use of it).
    pub(crate) fn ready(&self, queue: &str) -> u64 {
        self.queue_info(queue)
            .unwrap_or_else(|| panic!("queue '{queue}' should exist"))
            .ready
    }

    pub(crate) fn queue_info(&self, queue: &str) -> Option<trackswitch::broker::QueueInfo> {
        self.broker
            .queues("/")
            .expect("vhost / exists")
            .into_iter()
            .find(|q| q.name == queue)
    }

    pub(crate) fn queue_exists(&self, queue: &str) -> bool {
        self.queue_info(queue).is_some()
    }

    pub(crate) fn exchange_exists(&self, exchange: &str) -> bool {
        self.broker
            .exchanges("/")
            .expect("vhost / exists")
            .iter()
            .any(|x| x.name == exchange)
    }

    /// (source, destination, key) of every binding, sorted.
    pub(crate) fn bindings(&self) -> Vec<(String, String, String)> {
        let mut v: Vec<_> = self
            .broker
            .bindings("/")
            .expect("vhost / exists")
            .into_iter()
            .map(|b| (b.source, b.destination, b.routing_key))
            .collect();
        v.sort();
        v
    }
}

/// A field table from (name, value) pairs, in order.
pub(crate) fn table(entries: &[(&str, FieldValue)]) -> FieldTable {
    entries.iter().map(|(k, v)| (*k, v.clone())).collect()
}

/// A long string field value.
pub(crate) fn ls(s: &str) -> FieldValue {
    FieldValue::from(s)
}

/// An array of long strings.
pub(crate) fn strs(items: &[&str]) -> FieldValue {
    FieldValue::Array(items.iter().map(|s| ls(s)).collect())
}

/// Queue declare options with these arguments.
pub(crate) fn with_args(entries: &[(&str, FieldValue)]) -> QueueDeclare {
    QueueDeclare {
        arguments: table(entries),
        ..QueueDeclare::default()
    }
}

pub(crate) fn declare_q(ch: &Channel, name: &str) {
    ch.queue_declare(name, &QueueDeclare::default())
        .unwrap_or_else(|e| panic!("declare queue '{name}': {e}"));
}

pub(crate) fn declare_q_args(ch: &Channel, name: &str, entries: &[(&str, FieldValue)]) {
    ch.queue_declare(name, &with_args(entries))
        .unwrap_or_else(|e| panic!("declare queue '{name}': {e}"));
}

pub(crate) fn declare_x(ch: &Channel, name: &str, kind: &str) {
    ch.exchange_declare(name, kind, &ExchangeDeclare::default())
        .unwrap_or_else(|e| panic!("declare exchange '{name}': {e}"));
}

/// Declares an exchange with an `alternate-exchange`.
pub(crate) fn declare_x_ae(ch: &Channel, name: &str, kind: &str, ae: &str) {
    let o = ExchangeDeclare {
        arguments: table(&[("alternate-exchange", ls(ae))]),
        ..ExchangeDeclare::default()
    };
    ch.exchange_declare(name, kind, &o)
        .unwrap_or_else(|e| panic!("declare exchange '{name}': {e}"));
}

pub(crate) fn bind(ch: &Channel, queue: &str, exchange: &str, key: &str) {
    ch.queue_bind(queue, exchange, key, &FieldTable::new())
        .unwrap_or_else(|e| panic!("bind '{queue}' to '{exchange}' with '{key}': {e}"));
}

pub(crate) fn bind_args(ch: &Channel, queue: &str, exchange: &str, args: &FieldTable) {
    ch.queue_bind(queue, exchange, "", args)
        .unwrap_or_else(|e| panic!("bind '{queue}' to '{exchange}': {e}"));
}

pub(crate) fn bind_x(ch: &Channel, destination: &str, source: &str, key: &str) {
    ch.exchange_bind(destination, source, key, &FieldTable::new())
        .unwrap_or_else(|e| panic!("bind '{destination}' to '{source}': {e}"));
}

/// What a helper publish did: [`Published`] without its `must_use` (most tests publish
/// to set a scene and read the outcome only sometimes).
#[derive(Debug)]
pub(crate) struct Sent(pub(crate) Published);

impl std::ops::Deref for Sent {
    type Target = Published;
    fn deref(&self) -> &Published {
        &self.0
    }
}

/// Publishes a message (non-mandatory) and returns what the publish did.
pub(crate) fn publish(ch: &Channel, exchange: &str, key: &str, message: Message) -> Sent {
    ch.publish(exchange, key, message, PublishOptions::default())
        .map(Sent)
        .unwrap_or_else(|e| panic!("publish to '{exchange}' with '{key}': {e}"))
}

/// Publishes a body (non-mandatory).
pub(crate) fn send(ch: &Channel, exchange: &str, key: &str, body: &str) -> Sent {
    publish(ch, exchange, key, Message::new(body.to_string()))
}

/// Fetches the next message (`no_ack`).
pub(crate) fn get(ch: &Channel, queue: &str) -> Option<GetOk> {
    ch.get(queue, true)
        .unwrap_or_else(|e| panic!("get from '{queue}': {e}"))
}

/// Drains a queue with no-ack gets; returns the bodies in order.
pub(crate) fn drain(ch: &Channel, queue: &str) -> Vec<String> {
    let mut out = Vec::new();
    while let Some(g) = get(ch, queue) {
        out.push(String::from_utf8_lossy(g.delivery.body()).into_owned());
    }
    out
}

/// A header of a message.
pub(crate) fn header<'m>(m: &'m Message, name: &str) -> Option<&'m FieldValue> {
    m.properties.headers.as_ref().and_then(|h| h.get(name))
}

/// A string field value as a `String` (panics on other types).
pub(crate) fn text(v: &FieldValue) -> String {
    String::from_utf8_lossy(
        v.as_bytes()
            .unwrap_or_else(|| panic!("{v:?} is not a string")),
    )
    .into_owned()
}

/// Checks a channel error: the code, channel scope, the channel closed with that
/// cause, the connection still open, and later calls on the channel failing with
/// `is_closed()` and the original cause. Returns the error.
pub(crate) fn expect_channel_error<T: Debug>(
    conn: &Connection,
    ch: &Channel,
    result: Result<T, BrokerError>,
    code: u16,
) -> BrokerError {
    let err = match result {
        Ok(v) => panic!("expected a {code} channel error, got Ok({v:?})"),
        Err(e) => e,
    };
    assert_eq!(err.reply_code(), code, "wrong code: {err}");
    assert_eq!(err.scope(), Scope::Channel, "not a channel error: {err}");
    assert!(
        !err.is_closed(),
        "the first error is the cause itself: {err}"
    );
    assert!(!ch.is_open(), "a channel error closes the channel");
    assert_eq!(ch.close_reason().as_ref(), Some(&err));
    assert!(conn.is_open(), "a channel error leaves the connection open");
    let later = ch
        .queue_declare("amq.conformance-probe", &QueueDeclare::passive())
        .expect_err("a closed channel refuses every call");
    assert!(later.is_closed(), "{later}");
    assert_eq!(later.reply_code(), code);
    assert_eq!(later.reply_text(), err.reply_text());
    let shown = later.to_string();
    assert!(
        shown.starts_with("channel closed") && shown.contains(&err.reply_text()),
        "{shown}"
    );
    // The connection still opens channels that work.
    let other = conn.open_channel().expect("the connection survives");
    other
        .exchange_declare("amq.direct", "direct", &ExchangeDeclare::passive())
        .expect("a new channel works");
    err
}

/// Checks a connection error: the code, connection scope, the connection and the
/// channel closed, later calls failing with `is_closed()` and the original cause.
pub(crate) fn expect_connection_error<T: Debug>(
    conn: &Connection,
    ch: &Channel,
    result: Result<T, BrokerError>,
    code: u16,
) -> BrokerError {
    let err = match result {
        Ok(v) => panic!("expected a {code} connection error, got Ok({v:?})"),
        Err(e) => e,
    };
    assert_eq!(err.reply_code(), code, "wrong code: {err}");
    assert_eq!(
        err.scope(),
        Scope::Connection,
        "not a connection error: {err}"
    );
    assert!(!ch.is_open());
    assert!(!conn.is_open());
    assert_eq!(conn.close_reason().as_ref(), Some(&err));
    let later = ch
        .queue_declare("amq.conformance-probe", &QueueDeclare::passive())
        .expect_err("a closed channel refuses every call");
    assert!(later.is_closed() && later.reply_code() == code, "{later}");
    let again = conn
        .open_channel()
        .expect_err("a closed connection opens nothing");
    assert!(again.is_closed() && again.reply_code() == code, "{again}");
    assert!(
        again.to_string().starts_with("connection closed"),
        "{again}"
    );
    err
}
