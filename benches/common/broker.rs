//! Broker workloads (target T7): publish -> route -> enqueue -> deliver -> ack of
//! 16-byte bodies through a topic exchange, beside the floor `channel_hop` (the same
//! bodies through a bare `crossbeam-channel` send + recv). Shared by `benches/broker.rs`
//! and the report example; every function checks what it received.

use std::hint::black_box;
use std::thread;
use std::time::{Duration, Instant};

use bytes::Bytes;
use trackswitch::FieldTable;
use trackswitch::broker::{
    AccessControl, Broker, Channel, ConnectOptions, Connection, ConsumeOptions, Consumer,
    ExchangeDeclare, Message, Permissions, PublishOptions, QueueDeclare, UserRecord,
};

/// The body every message carries.
pub const BODY: &[u8; 16] = b"0123456789abcdef";

/// The floor: `n` bodies through an unbounded crossbeam channel, sender and receiver
/// on one thread (`threads == 1`, send then receive each) or two.
pub fn channel_hop(n: u64, threads: usize) -> Duration {
    let body = Bytes::from_static(BODY);
    let (tx, rx) = crossbeam_channel::unbounded::<Bytes>();
    if threads == 1 {
        let start = Instant::now();
        for _ in 0..n {
            tx.send(body.clone()).expect("receiver alive");
            let got = rx.recv().expect("sender alive");
            black_box(&got);
        }
        return start.elapsed();
    }
    let start = Instant::now();
    let consumer = thread::spawn(move || {
        let mut bytes = 0usize;
        for _ in 0..n {
            bytes += rx.recv().expect("sender alive").len();
        }
        assert_eq!(bytes as u64, n * 16);
    });
    for _ in 0..n {
        tx.send(body.clone()).expect("receiver alive");
    }
    consumer.join().expect("consumer thread");
    start.elapsed()
}

/// A broker with a topic exchange `bench` and `queues` queues `q{i}`, each bound with
/// `q{i}.*`, one manual-ack consumer per queue (prefetch `prefetch`).
pub struct Setup {
    /// Kept alive for the consumers and channels.
    pub broker: Broker,
    /// The publisher's connection and channel.
    pub publisher: (Connection, Channel),
    /// The consumers' connection and channel (one channel for all).
    pub consumer_channel: (Connection, Channel),
    /// One consumer per queue.
    pub consumers: Vec<Consumer>,
    /// Routing key of queue i: `q{i}.x`.
    pub keys: Vec<String>,
}

impl Setup {
    /// Builds the topology.
    pub fn new(queues: usize, prefetch: u16) -> Setup {
        let broker = Broker::new();
        let pc = broker.connect(ConnectOptions::default()).expect("vhost /");
        let pch = pc.open_channel().expect("open");
        pch.exchange_declare("bench", "topic", &ExchangeDeclare::default())
            .expect("declare exchange");
        let cc = broker.connect(ConnectOptions::default()).expect("vhost /");
        let cch = cc.open_channel().expect("open");
        cch.qos(0, prefetch, false).expect("qos");
        let mut consumers = Vec::new();
        let mut keys = Vec::new();
        for i in 0..queues {
            let q = format!("q{i}");
            pch.queue_declare(&q, &QueueDeclare::default())
                .expect("declare queue");
            pch.queue_bind(&q, "bench", &format!("q{i}.*"), &FieldTable::new())
                .expect("bind");
            consumers.push(
                cch.consume(&q, &ConsumeOptions::default())
                    .expect("consume"),
            );
            keys.push(format!("q{i}.x"));
        }
        Setup {
            broker,
            publisher: (pc, pch),
            consumer_channel: (cc, cch),
            consumers,
            keys,
        }
    }
}

impl Setup {
    /// The same with access control on: the connections' user (guest) may write to
    /// `bench` and read `q*` only, regexes that are run (not `.*`), so every publish
    /// is checked (through the broker's per-thread cache).
    pub fn with_permissions(self) -> Setup {
        self.broker.add_user(UserRecord::new("guest", ""));
        self.broker
            .set_permissions("guest", "/", Permissions::new("^$", "^bench$", "^q"))
            .expect("permissions");
        self.broker.set_access_control(AccessControl::Enforced);
        self
    }
}

fn publish(ch: &Channel, key: &str) {
    let p = ch
        .publish(
            "bench",
            key,
            Message::new(Bytes::from_static(BODY)),
            PublishOptions::default(),
        )
        .expect("publish");
    assert_eq!(p.queues, 1, "routed to its queue");
}

/// `n` messages, one thread: publish one (to queue `i % queues`), receive it from that
/// queue's consumer, ack it.
pub fn broker_one_thread(s: &Setup, n: u64) -> Duration {
    let queues = s.keys.len();
    let start = Instant::now();
    for i in 0..n as usize {
        let q = i % queues;
        publish(&s.publisher.1, &s.keys[q]);
        let d = s.consumers[q]
            .try_recv()
            .expect("delivered synchronously to a consumer with credit");
        black_box(d.body());
        d.ack().expect("ack");
    }
    start.elapsed()
}

/// `n` messages, two threads: one publishes round-robin over the queues, the other
/// receives from every consumer in turn and acks.
pub fn broker_two_threads(s: &Setup, n: u64) -> Duration {
    let queues = s.keys.len();
    let start = Instant::now();
    thread::scope(|scope| {
        scope.spawn(|| {
            for i in 0..n as usize {
                publish(&s.publisher.1, &s.keys[i % queues]);
            }
        });
        let mut got = 0u64;
        let mut q = 0;
        while got < n {
            match s.consumers[q].recv_timeout(Duration::from_secs(30)) {
                Ok(d) => {
                    black_box(d.body());
                    d.ack().expect("ack");
                    got += 1;
                }
                Err(e) => panic!("consumer {q}: {e}"),
            }
            q = (q + 1) % queues;
        }
    });
    let left: u64 = s
        .broker
        .queues("/")
        .expect("vhost /")
        .iter()
        .map(|q| q.ready + q.unacked)
        .sum();
    assert_eq!(left, 0, "every message delivered and acked");
    start.elapsed()
}
