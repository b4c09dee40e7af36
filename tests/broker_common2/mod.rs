//! Helpers shared by the broker conformance tests of the D, P and X rows
//! (`broker_consumers`, `broker_confirms`, `broker_concurrency`, `broker_async`,
//! `broker_stress`): a broker with one connection and channel, declares, publishes,
//! receives with a generous timeout, and reads the introspection views.

// Each test file uses its own subset of these helpers.
#![allow(dead_code)]

use std::time::Duration;

use trackswitch::FieldTable;
use trackswitch::FieldValue;
use trackswitch::broker::{
    Broker, BrokerError, Channel, Connection, ConsumeOptions, Consumer, ConsumerInfo, Delivery,
    Message, PublishOptions, QueueDeclare, QueueInfo, Scope, TryRecvError,
};

/// How long a test waits for something that should happen at once: generous, so a
/// loaded machine never fails a correct broker (no test asserts timings).
pub(crate) const PATIENCE: Duration = Duration::from_secs(20);

/// A broker, a connection and a channel on it.
pub(crate) fn setup() -> (Broker, Connection, Channel) {
    let broker = Broker::new();
    let conn = broker.connect_default();
    let ch = conn
        .open_channel()
        .expect("a new connection opens channels");
    (broker, conn, ch)
}

/// An argument table from name/value pairs.
pub(crate) fn args<const N: usize>(pairs: [(&str, FieldValue); N]) -> FieldTable {
    let mut t = FieldTable::new();
    for (k, v) in pairs {
        t.insert(k, v);
    }
    t
}

/// Declares a plain queue.
pub(crate) fn declare(ch: &Channel, name: &str) {
    ch.queue_declare(name, &QueueDeclare::default())
        .expect("declare a plain queue");
}

/// Declares a queue with arguments.
pub(crate) fn declare_with(ch: &Channel, name: &str, arguments: FieldTable) {
    let o = QueueDeclare {
        arguments,
        ..QueueDeclare::default()
    };
    ch.queue_declare(name, &o)
        .expect("declare a queue with arguments");
}

/// Publishes `body` to queue `queue` through the default exchange.
pub(crate) fn publish(ch: &Channel, queue: &str, body: &str) {
    let p = ch
        .publish(
            "",
            queue,
            Message::new(body.to_string()),
            PublishOptions::default(),
        )
        .expect("publish");
    assert_eq!(
        p.queues, 1,
        "publishing {body:?} to {queue:?} reached no queue"
    );
}

/// Publishes `m0`, `m1`, ... `m{n-1}` to `queue`.
pub(crate) fn publish_n(ch: &Channel, queue: &str, n: usize) {
    for i in 0..n {
        publish(ch, queue, &format!("m{i}"));
    }
}

/// A consumer with default options and a tag.
pub(crate) fn consume(ch: &Channel, queue: &str, tag: &str) -> Consumer {
    let o = ConsumeOptions {
        tag: tag.into(),
        ..ConsumeOptions::default()
    };
    ch.consume(queue, &o).expect("consume")
}

/// A consumer with arguments (e.g. `x-priority`).
pub(crate) fn consume_with(
    ch: &Channel,
    queue: &str,
    tag: &str,
    arguments: FieldTable,
) -> Consumer {
    let o = ConsumeOptions {
        tag: tag.into(),
        arguments,
        ..ConsumeOptions::default()
    };
    ch.consume(queue, &o).expect("consume with arguments")
}

/// The body as text.
pub(crate) fn text(d: &Delivery) -> String {
    String::from_utf8_lossy(d.body()).into_owned()
}

/// The next delivery; panics if none comes within [`PATIENCE`].
pub(crate) fn recv(c: &Consumer) -> Delivery {
    c.recv_timeout(PATIENCE)
        .unwrap_or_else(|e| panic!("consumer {} got nothing: {e}", c.tag()))
}

/// Everything buffered for `c` right now (dispatch is synchronous: what a publish or a
/// settle makes deliverable is buffered when it returns).
pub(crate) fn drain(c: &Consumer) -> Vec<Delivery> {
    let mut out = Vec::new();
    loop {
        match c.try_recv() {
            Ok(d) => out.push(d),
            Err(TryRecvError::Empty) => return out,
            Err(e) => panic!("consumer {} ended: {e}", c.tag()),
        }
    }
}

/// The bodies of `ds`, as text.
pub(crate) fn bodies(ds: &[Delivery]) -> Vec<String> {
    ds.iter().map(text).collect()
}

/// Asserts that nothing is buffered for `c`.
pub(crate) fn assert_nothing(c: &Consumer) {
    match c.try_recv() {
        Err(TryRecvError::Empty) => {}
        Ok(d) => panic!("consumer {} unexpectedly got {:?}", c.tag(), text(&d)),
        Err(e) => panic!("consumer {} ended: {e}", c.tag()),
    }
}

/// The queue `name` in `/`, from [`Broker::queues`].
pub(crate) fn queue_info(broker: &Broker, name: &str) -> Option<QueueInfo> {
    broker
        .queues("/")
        .expect("vhost / exists")
        .into_iter()
        .find(|q| q.name == name)
}

/// The queue's (ready, unacked, consumers) counts.
pub(crate) fn counts(broker: &Broker, name: &str) -> (u64, u64, usize) {
    let q = queue_info(broker, name).unwrap_or_else(|| panic!("queue {name} exists"));
    (q.ready, q.unacked, q.consumers)
}

/// The consumer `tag`, from [`Broker::consumers`].
pub(crate) fn consumer_info(broker: &Broker, tag: &str) -> Option<ConsumerInfo> {
    broker.consumers().into_iter().find(|c| c.tag == tag)
}

/// Asserts that `e` is a channel error with `code`, fresh (not a report of an earlier
/// close).
pub(crate) fn assert_channel_error(e: &BrokerError, code: u16) {
    assert_eq!(e.reply_code(), code, "{e}");
    assert_eq!(e.scope(), Scope::Channel, "{e}");
    assert!(!e.is_closed(), "{e}");
}

/// Asserts that `e` is a connection error with `code`, fresh.
pub(crate) fn assert_connection_error(e: &BrokerError, code: u16) {
    assert_eq!(e.reply_code(), code, "{e}");
    assert_eq!(e.scope(), Scope::Connection, "{e}");
    assert!(!e.is_closed(), "{e}");
}

/// Asserts that `ch` was closed by a channel error `code` and that later calls fail
/// with a "channel closed" error naming it, while the connection survives.
pub(crate) fn assert_channel_closed_by(conn: &Connection, ch: &Channel, code: u16) {
    assert!(!ch.is_open());
    let reason = ch.close_reason().expect("a closed channel has a reason");
    assert_eq!(reason.reply_code(), code, "{reason}");
    let later = ch
        .queue_declare("after-close", &QueueDeclare::default())
        .expect_err("a closed channel refuses calls");
    assert!(later.is_closed(), "{later}");
    assert_eq!(later.reply_code(), code, "{later}");
    assert!(later.to_string().starts_with("channel closed: "), "{later}");
    assert_eq!(later.reply_text(), reason.reply_text());
    // The connection survives a channel error.
    assert!(conn.is_open());
    let other = conn.open_channel().expect("the connection survives");
    other
        .queue_declare("", &QueueDeclare::exclusive())
        .expect("a fresh channel works");
}

/// Asserts that `conn` (and `ch`, one of its channels) was closed by a connection
/// error `code`: later calls on any of its channels fail naming it, and no channel
/// opens.
pub(crate) fn assert_connection_closed_by(conn: &Connection, ch: &Channel, code: u16) {
    assert!(!conn.is_open());
    assert!(!ch.is_open());
    let reason = conn
        .close_reason()
        .expect("a closed connection has a reason");
    assert_eq!(reason.reply_code(), code, "{reason}");
    let later = ch
        .queue_declare("after-close", &QueueDeclare::default())
        .expect_err("a channel of a closed connection refuses calls");
    assert!(later.is_closed(), "{later}");
    assert_eq!(later.reply_code(), code, "{later}");
    let open = conn
        .open_channel()
        .expect_err("a closed connection opens no channel");
    assert!(open.is_closed(), "{open}");
    assert_eq!(open.reply_code(), code, "{open}");
    assert!(
        open.to_string().starts_with("connection closed: "),
        "{open}"
    );
}

/// rand's seeded ChaCha8 generator: a run replays from its printed seed.
#[derive(Debug, Clone)]
pub(crate) struct Rng(rand_chacha::ChaCha8Rng);

impl Rng {
    /// A generator from `seed`.
    pub(crate) fn new(seed: u64) -> Rng {
        Rng(rand::SeedableRng::seed_from_u64(seed))
    }

    /// The next 64 random bits.
    pub(crate) fn next_u64(&mut self) -> u64 {
        rand::RngCore::next_u64(&mut self.0)
    }

    /// A number in `0..n` (`n > 0`).
    pub(crate) fn below(&mut self, n: u64) -> u64 {
        rand::Rng::random_range(&mut self.0, 0..n)
    }

    /// True with probability `percent` / 100.
    pub(crate) fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }
}

/// A seed from `TRACKSWITCH_SEED` if set, else from the clock; printed so a failing
/// run can be replayed.
pub(crate) fn seed(test: &str) -> u64 {
    let seed = std::env::var("TRACKSWITCH_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(1, |d| d.as_nanos() as u64)
        });
    println!("{test}: seed {seed} (replay with TRACKSWITCH_SEED={seed})");
    seed
}
