//! Conformance row X02 (`shared/CONFORMANCE.md`): conservation under concurrency.
//!
//! Publisher threads (confirm mode) and consumer threads share one work queue whose
//! dead-letter exchange feeds a dead-letter queue. Consumers ack, hold, nack and reject
//! (requeue or not) at random, fetch with `get`, cancel and re-consume, recover, close
//! and reopen their channel, and one closes its connection. After the publishers
//! finish, consumers ack everything left. Then every published id must have been acked
//! exactly once or dead-lettered exactly once (and be in the dead-letter queue), and
//! every delivery of an id after its first must carry `redelivered = true`.
//!
//! The RNG is seeded and the seed printed; replay with `TRACKSWITCH_SEED=<seed>`.

#![cfg(feature = "broker")]

mod broker_common2;

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::SeqCst};
use std::thread;
use std::time::{Duration, Instant};

use broker_common2::*;
use trackswitch::FieldTable;
use trackswitch::FieldValue;
use trackswitch::broker::{
    Broker, Channel, ConsumeOptions, Consumer, Delivery, ExchangeDeclare, Message, PublishOptions,
    QueueDeclare, RecvTimeoutError,
};

const PUBLISHERS: u64 = 4;
const PER_PUBLISHER: u64 = 2_000;
const TOTAL: u64 = PUBLISHERS * PER_PUBLISHER;
const CONSUMERS: u64 = 4;
const WORK: &str = "work";
const DEAD: &str = "dead";

/// State shared by the threads.
#[derive(Debug, Default)]
struct Shared {
    /// Ids with a final outcome (acked or dead-lettered).
    settled: AtomicU64,
    /// The publishers are done: consumers ack everything from now on.
    draining: AtomicBool,
    /// A consumer has closed its connection.
    connection_closed: AtomicBool,
    /// A global order of deliveries (a delivery is recorded before its message can be
    /// requeued, so a redelivery always gets a later number).
    order: AtomicU64,
}

/// What one consumer thread saw and did.
#[derive(Debug, Default)]
struct Log {
    /// (order, id, redelivered) of every delivery handed to the application.
    deliveries: Vec<(u64, u64, bool)>,
    acked: Vec<u64>,
    dead: Vec<u64>,
    /// How often each kind of disruption happened (reported, to see the mix).
    chaos: Chaos,
}

/// Counts of the disruptive operations a consumer thread made.
#[derive(Debug, Default, Clone, Copy)]
struct Chaos {
    cancels: u32,
    channel_closes: u32,
    connection_closes: u32,
    recovers: u32,
    nack_alls: u32,
    gets: u32,
    during_publishing: u32,
}

fn id_of(d: &Delivery) -> u64 {
    text(d).parse().expect("bodies are ids")
}

/// One consumer thread's state.
struct Worker<'a> {
    shared: &'a Shared,
    rng: Rng,
    log: Log,
    /// Deliveries received and not settled yet: every unacked delivery of the
    /// channel is here (anything else is settled at once).
    held: Vec<(Delivery, u64)>,
}

impl Worker<'_> {
    fn record(&mut self, d: &Delivery) -> u64 {
        let id = id_of(d);
        let order = self.shared.order.fetch_add(1, SeqCst);
        self.log.deliveries.push((order, id, d.redelivered()));
        id
    }

    fn acked(&mut self, id: u64) {
        self.log.acked.push(id);
        self.shared.settled.fetch_add(1, SeqCst);
    }

    fn dead(&mut self, id: u64) {
        self.log.dead.push(id);
        self.shared.settled.fetch_add(1, SeqCst);
    }

    /// Acks every held delivery with one `multiple` ack.
    fn flush(&mut self, ch: &Channel) {
        let Some(max) = self.held.iter().map(|(d, _)| d.delivery_tag()).max() else {
            return;
        };
        ch.ack(max, true).expect("ack multiple of held deliveries");
        for (_, id) in std::mem::take(&mut self.held) {
            self.acked(id);
        }
    }

    /// Forgets the held deliveries: they were requeued (recover, nack of all, close).
    fn requeued_all(&mut self) {
        self.held.clear();
    }

    /// Settles a manual-ack delivery at random (or acks it when draining).
    fn settle(&mut self, ch: &Channel, d: Delivery, id: u64) {
        if self.shared.draining.load(SeqCst) {
            self.flush(ch);
            d.ack().expect("ack");
            self.acked(id);
            return;
        }
        match self.rng.below(100) {
            0..60 => {
                d.ack().expect("ack");
                self.acked(id);
            }
            60..70 => {
                self.held.push((d, id));
                if self.held.len() > 8 {
                    self.flush(ch);
                }
            }
            70..78 => d.nack(true).expect("nack requeue"),
            78..83 => d.reject(true).expect("reject requeue"),
            83..87 => {
                d.nack(false).expect("nack to the dead letters");
                self.dead(id);
            }
            87..90 => {
                d.reject(false).expect("reject to the dead letters");
                self.dead(id);
            }
            90..95 => {
                self.held.push((d, id));
                self.flush(ch);
            }
            _ => {
                // This one and every held one back to the queue.
                ch.nack(d.delivery_tag(), true, true)
                    .expect("nack multiple requeue");
                self.requeued_all();
            }
        }
    }
}

fn open_channel(conn: &trackswitch::broker::Connection, which: u64) -> Channel {
    let ch = conn.open_channel().expect("open a channel");
    match which % 4 {
        0 => ch.qos(0, 1, false).unwrap(),
        1 => ch.qos(0, 10, false).unwrap(),
        2 => {} // unlimited
        _ => ch.qos(0, 5, true).unwrap(),
    }
    ch
}

fn start_consuming(ch: &Channel, which: u64) -> Consumer {
    let o = ConsumeOptions {
        tag: format!("c{which}"),
        ..ConsumeOptions::default()
    };
    ch.consume(WORK, &o).expect("consume the work queue")
}

fn consumer_thread(broker: Broker, shared: Arc<Shared>, which: u64, seed: u64) -> Log {
    let mut w = Worker {
        shared: &shared,
        rng: Rng::new(seed ^ (which + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15)),
        log: Log::default(),
        held: Vec::new(),
    };
    let mut conn = broker.connect_default();
    let mut ch = open_channel(&conn, which);
    let mut consumer = Some(start_consuming(&ch, which));
    let deadline = Instant::now() + PATIENCE * 3;
    while shared.settled.load(SeqCst) < TOTAL {
        assert!(
            Instant::now() < deadline,
            "consumer {which} stalled: {} of {TOTAL} settled",
            shared.settled.load(SeqCst)
        );
        let draining = shared.draining.load(SeqCst);
        if !draining && w.log.deliveries.len() > 50 && !shared.connection_closed.swap(true, SeqCst)
        {
            // The first consumer to get this far closes its connection (which requeues
            // its held deliveries), once, and reconnects.
            w.log.chaos.connection_closes += 1;
            consumer = None;
            conn.close();
            w.requeued_all();
            conn = broker.connect_default();
            ch = open_channel(&conn, which);
        }
        if !draining {
            w.log.chaos.during_publishing += 1;
            match w.rng.below(1000) {
                0..5 => {
                    // Cancel: held deliveries stay unacked on the channel.
                    if let Some(c) = consumer.take() {
                        w.log.chaos.cancels += 1;
                        c.cancel();
                    }
                }
                5..8 => {
                    // Close the channel: held deliveries are requeued.
                    w.log.chaos.channel_closes += 1;
                    consumer = None;
                    ch.close();
                    w.requeued_all();
                    ch = open_channel(&conn, which);
                }
                8..12 => {
                    w.log.chaos.recovers += 1;
                    ch.recover(true).expect("recover");
                    w.requeued_all();
                }
                12..15 => {
                    w.log.chaos.nack_alls += 1;
                    ch.nack(0, true, true).expect("nack everything");
                    w.requeued_all();
                }
                15..60 => {
                    w.log.chaos.gets += 1;
                    let no_ack = w.rng.chance(30);
                    if let Some(g) = ch.get(WORK, no_ack).expect("get") {
                        let id = w.record(&g.delivery);
                        if no_ack {
                            w.acked(id);
                        } else {
                            w.settle(&ch, g.delivery, id);
                        }
                    }
                }
                _ => {}
            }
        }
        if consumer.is_none() {
            consumer = Some(start_consuming(&ch, which));
        }
        let c = consumer.as_ref().expect("just consumed");
        match c.recv_timeout(Duration::from_millis(20)) {
            Ok(d) => {
                let id = w.record(&d);
                w.settle(&ch, d, id);
            }
            // Nothing came: held deliveries may be what blocks the prefetch.
            Err(RecvTimeoutError::Timeout) => w.flush(&ch),
            Err(RecvTimeoutError::Ended(r)) => panic!("consumer {which} ended: {r:?}"),
        }
    }
    assert!(w.held.is_empty(), "consumer {which} holds settled ids");
    let log = std::mem::take(&mut w.log);
    drop(consumer);
    drop(ch);
    drop(conn);
    log
}

fn publisher_thread(broker: Broker, which: u64, seed: u64) {
    let mut rng = Rng::new(seed ^ (which + 101).wrapping_mul(0xD1B5_4A32_D192_ED03));
    let conn = broker.connect_default();
    let mut ch = conn.open_channel().unwrap();
    ch.confirm_select().unwrap();
    for i in 0..PER_PUBLISHER {
        if rng.chance(1) {
            // A fresh channel now and then (publishing state is per channel).
            ch = conn.open_channel().unwrap();
            ch.confirm_select().unwrap();
        }
        let id = which * PER_PUBLISHER + i;
        let mut m = Message::new(id.to_string());
        m.properties.message_id = Some(id.to_string());
        let p = ch
            .publish("", WORK, m, PublishOptions::mandatory())
            .expect("publish");
        assert!(p.ack && p.queues == 1 && p.returned.is_none(), "{p:?}");
        if rng.chance(5) {
            thread::yield_now();
        }
    }
}

#[test]
fn c_x02_conservation_under_concurrency() {
    let seed = seed("c_x02_conservation_under_concurrency");
    let broker = Broker::new();
    let admin = broker.connect_default();
    let ach = admin.open_channel().unwrap();
    ach.exchange_declare("dlx", "fanout", &ExchangeDeclare::default())
        .unwrap();
    declare(&ach, DEAD);
    ach.queue_bind(DEAD, "dlx", "", &FieldTable::new()).unwrap();
    ach.queue_declare(
        WORK,
        &QueueDeclare {
            arguments: args([("x-dead-letter-exchange", FieldValue::from("dlx"))]),
            ..QueueDeclare::default()
        },
    )
    .unwrap();

    let shared = Arc::new(Shared::default());
    let consumers: Vec<_> = (0..CONSUMERS)
        .map(|i| {
            let (b, s) = (broker.clone(), Arc::clone(&shared));
            thread::spawn(move || consumer_thread(b, s, i, seed))
        })
        .collect();
    let publishers: Vec<_> = (0..PUBLISHERS)
        .map(|i| {
            let b = broker.clone();
            thread::spawn(move || publisher_thread(b, i, seed))
        })
        .collect();
    for p in publishers {
        p.join().expect("publisher thread");
    }
    shared.draining.store(true, SeqCst);
    let logs: Vec<Log> = consumers
        .into_iter()
        .map(|c| c.join().expect("consumer thread"))
        .collect();

    // The work queue is empty and nothing is outstanding.
    let work = queue_info(&broker, WORK).unwrap();
    assert_eq!(
        (work.ready, work.unacked, work.consumers),
        (0, 0, 0),
        "{work:?}"
    );
    assert_eq!(work.published, TOTAL, "{work:?}");

    // Acked exactly once, or dead-lettered exactly once; never both.
    let mut outcome: HashMap<u64, (u32, u32)> = HashMap::new();
    for log in &logs {
        for &id in &log.acked {
            outcome.entry(id).or_default().0 += 1;
        }
        for &id in &log.dead {
            outcome.entry(id).or_default().1 += 1;
        }
    }
    for id in 0..TOTAL {
        let o = outcome.get(&id).copied().unwrap_or_default();
        assert!(
            o == (1, 0) || o == (0, 1),
            "id {id}: acked {} times, dead-lettered {} times (seed {seed})",
            o.0,
            o.1
        );
    }
    assert_eq!(
        outcome.len() as u64,
        TOTAL,
        "unknown ids settled (seed {seed})"
    );

    // The dead-letter queue holds exactly the dead-lettered ids, once each.
    let dead_expected: u64 = logs.iter().map(|l| l.dead.len() as u64).sum();
    assert_eq!(queue_info(&broker, DEAD).unwrap().ready, dead_expected);
    let mut in_dlq: HashMap<u64, u32> = HashMap::new();
    while let Some(g) = ach.get(DEAD, true).unwrap() {
        let death = g.delivery.message().properties.headers.as_ref();
        assert!(
            death.is_some_and(|h| h.contains("x-death")),
            "dead letters carry x-death"
        );
        *in_dlq.entry(id_of(&g.delivery)).or_default() += 1;
    }
    for log in &logs {
        for id in &log.dead {
            assert_eq!(
                in_dlq.get(id),
                Some(&1),
                "id {id} in the DLQ once (seed {seed})"
            );
        }
    }
    assert_eq!(in_dlq.len() as u64, dead_expected);
    assert_eq!(broker.memory_used(), 0, "every body released");

    // Nothing duplicated outside the redelivery rules: after an id's first delivery,
    // every later one is flagged redelivered; the first never is.
    let mut deliveries: Vec<(u64, u64, bool)> = logs
        .iter()
        .flat_map(|l| l.deliveries.iter().copied())
        .collect();
    deliveries.sort_unstable();
    let mut seen: HashMap<u64, u32> = HashMap::new();
    let mut redeliveries = 0;
    for (order, id, redelivered) in deliveries {
        let n = seen.entry(id).or_default();
        if *n == 0 {
            assert!(
                !redelivered,
                "id {id} first delivered as redelivered (#{order}, seed {seed})"
            );
        } else {
            assert!(
                redelivered,
                "id {id} delivered again without redelivered (#{order}, seed {seed})"
            );
            redeliveries += 1;
        }
        *n += 1;
    }
    assert_eq!(seen.len() as u64, TOTAL, "every id was delivered");
    println!("settled {TOTAL}: {dead_expected} dead-lettered, {redeliveries} redeliveries");
    for (i, log) in logs.iter().enumerate() {
        println!("consumer {i}: {:?}", log.chaos);
    }
    assert!(
        logs.iter().any(|l| l.chaos.connection_closes == 1),
        "a consumer closed its connection (seed {seed})"
    );
}
