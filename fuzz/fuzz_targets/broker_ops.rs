//! Property: any sequence of publish, consume, recv, get, ack, nack, reject, cancel,
//! qos, recover, channel and connection close on a `trackswitch::broker::Broker`
//! conserves messages, as a model of each message's state says:
//!
//! - a message is ready (in a queue or a consumer's buffer), outstanding (delivered
//!   with manual ack, by channel and delivery tag), or done (acked, delivered no-ack,
//!   rejected without requeue into the dead-letter sink, or expired);
//! - a delivery is always of a ready message; a message delivered before carries
//!   `redelivered`; a settled delivery tag is refused (406, and the channel closes,
//!   requeueing what it held);
//! - a consumer never holds more than its prefetch;
//! - on a transactional channel (`tx.select`) publishes and settlements are held:
//!   a held publish is nowhere until `tx.commit` makes it ready (`tx.rollback` or a
//!   close drops it); a held settlement leaves the channel's unacked list at once and
//!   takes effect at commit; rolled back, its deliveries are outstanding again;
//!   closed, they are ready again;
//! - at the end, closing everything and draining the queues yields exactly the ready
//!   messages (those of the TTL queue may have expired), each once.
#![no_main]

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use arbitrary::{Arbitrary, Unstructured};
use libfuzzer_sys::{Corpus, fuzz_target};
use trackswitch::FieldTable;
use trackswitch::broker::{
    BUFFER_CAP, Broker, Channel, Connection, ConsumeOptions, Consumer, ManualClock, Message,
    PublishOptions, QueueDeclare,
};

const MAX_OPS: usize = 300;
/// Queues: q0, q1 plain; q2 with a 50 ms TTL; rejected messages of every queue are
/// dead-lettered into `sink` (never consumed during the run).
const QUEUES: usize = 3;
const CHANNELS: usize = 4;
const CONSUMERS: usize = 6;

#[derive(Debug, Arbitrary)]
enum Op {
    Publish {
        queue: u8,
        count: u8,
    },
    Consume {
        slot: u8,
        channel: u8,
        queue: u8,
        no_ack: bool,
    },
    Recv {
        slot: u8,
        count: u8,
    },
    Get {
        channel: u8,
        queue: u8,
        no_ack: bool,
    },
    Ack {
        channel: u8,
        pick: u8,
        multiple: bool,
    },
    Nack {
        channel: u8,
        pick: u8,
        multiple: bool,
        requeue: bool,
    },
    Reject {
        channel: u8,
        pick: u8,
        requeue: bool,
    },
    BadAck {
        channel: u8,
    },
    Cancel {
        slot: u8,
    },
    Qos {
        channel: u8,
        count: u8,
        global: bool,
    },
    Recover {
        channel: u8,
    },
    CloseChannel {
        channel: u8,
    },
    OpenChannel {
        channel: u8,
    },
    CloseConnection {
        conn: bool,
    },
    Advance {
        ms: u8,
    },
    TxSelect {
        channel: u8,
    },
    TxCommit {
        channel: u8,
    },
    TxRollback {
        channel: u8,
    },
}

/// Work a transactional channel holds until commit.
#[derive(Debug, Clone)]
enum Held {
    /// Message id, queue.
    Publish(u64, usize),
    /// (tag, message id) taken off the channel, and what settles them.
    Settle(Vec<(u64, u64)>, Option<bool>),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Ready(usize),
    /// (channel, tag, queue)
    Outstanding(usize, u64, usize),
    Done,
    /// Rejected without requeue: in the sink.
    Sunk,
    /// Published in a transaction not yet committed: in no queue.
    HeldPublish,
    /// Settled in a transaction not yet committed: (channel, tag, queue).
    HeldSettle(usize, u64, usize),
}

struct Chan {
    ch: Channel,
    conn: usize,
    /// Outstanding deliveries: tag -> message id.
    tags: BTreeMap<u64, u64>,
    prefetch: u16,
    /// `Some` once transactional: the held work, in order.
    tx: Option<Vec<Held>>,
}

struct Slot {
    consumer: Consumer,
    channel: usize,
    no_ack: bool,
    prefetch: u16,
}

struct World {
    clock: ManualClock,
    broker: Broker,
    conns: [Option<Connection>; 2],
    chans: Vec<Option<Chan>>,
    slots: Vec<Option<Slot>>,
    state: BTreeMap<u64, State>,
    delivered: BTreeSet<u64>,
    next_id: u64,
}

fn qname(i: usize) -> String {
    format!("q{i}")
}

impl World {
    fn new() -> World {
        let clock = ManualClock::new();
        let broker = Broker::builder().clock(clock.clone()).build();
        let admin = broker.connect_default();
        let ch = admin.open_channel().expect("open");
        ch.queue_declare("sink", &QueueDeclare::default())
            .expect("sink");
        ch.exchange_declare("dlx", "fanout", &Default::default())
            .expect("dlx");
        ch.queue_bind("sink", "dlx", "", &FieldTable::new())
            .expect("bind sink");
        for i in 0..QUEUES {
            let mut args = FieldTable::new();
            args.insert("x-dead-letter-exchange", "dlx");
            if i == 2 {
                args.insert("x-message-ttl", 50);
            }
            ch.queue_declare(
                &qname(i),
                &QueueDeclare {
                    arguments: args,
                    ..QueueDeclare::default()
                },
            )
            .expect("queue");
        }
        drop(ch);
        drop(admin);
        let conns = [
            Some(broker.connect_default()),
            Some(broker.connect_default()),
        ];
        World {
            clock,
            broker,
            conns,
            chans: (0..CHANNELS).map(|_| None).collect(),
            slots: (0..CONSUMERS).map(|_| None).collect(),
            state: BTreeMap::new(),
            delivered: BTreeSet::new(),
            next_id: 0,
        }
    }

    fn chan(&mut self, c: u8) -> Option<usize> {
        let c = c as usize % CHANNELS;
        if self.chans[c].is_none() {
            self.open(c);
        }
        self.chans[c].is_some().then_some(c)
    }

    fn open(&mut self, c: usize) {
        let conn = c % 2;
        if let Some(cn) = &self.conns[conn] {
            if let Ok(ch) = cn.open_channel() {
                self.chans[c] = Some(Chan {
                    ch,
                    conn,
                    tags: BTreeMap::new(),
                    prefetch: 0,
                    tx: None,
                });
            }
        }
    }

    /// The channel closed (error or close): its outstanding messages are ready again,
    /// its consumers gone.
    fn channel_closed(&mut self, c: usize) {
        if let Some(ch) = self.chans[c].take() {
            for (_, id) in ch.tags {
                if let Some(State::Outstanding(_, _, q)) = self.state.get(&id).copied() {
                    self.state.insert(id, State::Ready(q));
                }
            }
            // Held work is discarded: publishes never happen, held deliveries were
            // still unacked and are requeued.
            for held in ch.tx.unwrap_or_default() {
                match held {
                    Held::Publish(id, _) => {
                        self.state.insert(id, State::Done);
                    }
                    Held::Settle(taken, _) => {
                        for (_, id) in taken {
                            if let Some(State::HeldSettle(_, _, q)) = self.state.get(&id).copied() {
                                self.state.insert(id, State::Ready(q));
                            }
                        }
                    }
                }
            }
        }
        for s in &mut self.slots {
            if s.as_ref().is_some_and(|s| s.channel == c) {
                *s = None;
            }
        }
    }

    fn received(&mut self, c: usize, q: usize, d: &trackswitch::broker::Delivery, no_ack: bool) {
        let id = u64::from_le_bytes(d.body().try_into().expect("8-byte id"));
        let st = self.state.get(&id).copied();
        assert_eq!(
            st,
            Some(State::Ready(q)),
            "message {id} delivered from q{q} in state {st:?}"
        );
        if self.delivered.contains(&id) {
            assert!(
                d.redelivered(),
                "message {id} delivered again without redelivered"
            );
        }
        self.delivered.insert(id);
        if no_ack {
            self.state.insert(id, State::Done);
        } else {
            let ch = self.chans[c].as_mut().expect("open channel");
            assert!(
                ch.tags.keys().all(|&t| t < d.delivery_tag()),
                "delivery tags increase"
            );
            ch.tags.insert(d.delivery_tag(), id);
            self.state
                .insert(id, State::Outstanding(c, d.delivery_tag(), q));
        }
    }

    fn pick_tag(&self, c: usize, pick: u8) -> Option<u64> {
        let tags = &self.chans[c].as_ref()?.tags;
        if tags.is_empty() {
            return None;
        }
        tags.keys().nth(pick as usize % tags.len()).copied()
    }

    /// Settles tag (or everything up to it) in the model; in a transaction, holds the
    /// settlement.
    fn settle(&mut self, c: usize, tag: u64, multiple: bool, to: Option<bool>) {
        let ch = self.chans[c].as_mut().expect("open channel");
        let tags: Vec<u64> = if multiple {
            ch.tags.range(..=tag).map(|(&t, _)| t).collect()
        } else {
            vec![tag]
        };
        if ch.tx.is_some() {
            let taken: Vec<(u64, u64)> = tags
                .iter()
                .map(|t| (*t, ch.tags.remove(t).expect("outstanding tag")))
                .collect();
            for &(t, id) in &taken {
                let Some(State::Outstanding(_, _, q)) = self.state.get(&id).copied() else {
                    panic!("tag {t} of message {id} not outstanding");
                };
                self.state.insert(id, State::HeldSettle(c, t, q));
            }
            ch.tx.as_mut().expect("tx").push(Held::Settle(taken, to));
            return;
        }
        self.apply_settle(tags.into_iter().map(|t| (t, None)).collect(), c, to);
    }

    /// Applies a settlement of `(tag, id)` pairs (`id` None: look the tag up on
    /// channel `c`).
    fn apply_settle(&mut self, taken: Vec<(u64, Option<u64>)>, c: usize, to: Option<bool>) {
        for (t, known) in taken {
            let id = match known {
                Some(id) => id,
                None => self.chans[c]
                    .as_mut()
                    .expect("open channel")
                    .tags
                    .remove(&t)
                    .expect("outstanding tag"),
            };
            if let Some(State::HeldSettle(_, _, q)) = self.state.get(&id).copied() {
                self.state.insert(id, State::Outstanding(c, t, q));
            }
            let Some(State::Outstanding(_, _, q)) = self.state.get(&id).copied() else {
                panic!("tag {t} of message {id} not outstanding");
            };
            let next = match to {
                None => State::Done,
                Some(true) => State::Ready(q),
                Some(false) => State::Sunk,
            };
            self.state.insert(id, next);
        }
    }

    fn step(&mut self, op: &Op) {
        match *op {
            Op::Publish { queue, count } => {
                let q = queue as usize % QUEUES;
                let Some(c) = self.chan(0) else { return };
                for _ in 0..(count % 8).max(1) {
                    let id = self.next_id;
                    self.next_id += 1;
                    let chan = self.chans[c].as_mut().expect("open");
                    let p = chan
                        .ch
                        .publish(
                            "",
                            &qname(q),
                            Message::new(id.to_le_bytes().to_vec()),
                            PublishOptions::default(),
                        )
                        .expect("publish to a declared queue");
                    if let Some(held) = &mut chan.tx {
                        assert_eq!(p.queues, 0, "a transactional publish is held");
                        held.push(Held::Publish(id, q));
                        self.state.insert(id, State::HeldPublish);
                    } else {
                        assert_eq!(p.queues, 1);
                        self.state.insert(id, State::Ready(q));
                    }
                }
            }
            Op::Consume {
                slot,
                channel,
                queue,
                no_ack,
            } => {
                let s = slot as usize % CONSUMERS;
                if self.slots[s].is_some() {
                    return;
                }
                let Some(c) = self.chan(channel) else { return };
                let q = queue as usize % QUEUES;
                let ch = self.chans[c].as_ref().expect("open");
                let opts = ConsumeOptions {
                    no_ack,
                    ..ConsumeOptions::default()
                };
                let consumer = ch.ch.consume(&qname(q), &opts).expect("consume");
                self.slots[s] = Some(Slot {
                    consumer,
                    channel: c,
                    no_ack,
                    prefetch: ch.prefetch,
                });
            }
            Op::Recv { slot, count } => {
                let s = slot as usize % CONSUMERS;
                for _ in 0..(count % 16).max(1) {
                    let Some(sl) = &self.slots[s] else { return };
                    let (c, no_ack) = (sl.channel, sl.no_ack);
                    let q: usize = sl.consumer.queue()[1..].parse().expect("q<i>");
                    match sl.consumer.try_recv() {
                        Ok(d) => self.received(c, q, &d, no_ack),
                        Err(_) => return,
                    }
                }
            }
            Op::Get {
                channel,
                queue,
                no_ack,
            } => {
                let Some(c) = self.chan(channel) else { return };
                let q = queue as usize % QUEUES;
                let got = self.chans[c]
                    .as_ref()
                    .expect("open")
                    .ch
                    .get(&qname(q), no_ack)
                    .expect("get");
                if let Some(g) = got {
                    self.received(c, q, &g.delivery, no_ack);
                }
            }
            Op::Ack {
                channel,
                pick,
                multiple,
            } => {
                let Some(c) = self.chan(channel) else { return };
                let Some(tag) = self.pick_tag(c, pick) else {
                    return;
                };
                self.chans[c]
                    .as_ref()
                    .expect("open")
                    .ch
                    .ack(tag, multiple)
                    .expect("ack");
                self.settle(c, tag, multiple, None);
            }
            Op::Nack {
                channel,
                pick,
                multiple,
                requeue,
            } => {
                let Some(c) = self.chan(channel) else { return };
                let Some(tag) = self.pick_tag(c, pick) else {
                    return;
                };
                self.chans[c]
                    .as_ref()
                    .expect("open")
                    .ch
                    .nack(tag, multiple, requeue)
                    .expect("nack");
                self.settle(c, tag, multiple, Some(requeue));
            }
            Op::Reject {
                channel,
                pick,
                requeue,
            } => {
                let Some(c) = self.chan(channel) else { return };
                let Some(tag) = self.pick_tag(c, pick) else {
                    return;
                };
                self.chans[c]
                    .as_ref()
                    .expect("open")
                    .ch
                    .reject(tag, requeue)
                    .expect("reject");
                self.settle(c, tag, false, Some(requeue));
            }
            Op::BadAck { channel } => {
                let Some(c) = self.chan(channel) else { return };
                let ch = self.chans[c].as_ref().expect("open");
                let bad = ch.tags.keys().next_back().map_or(1_000_000, |t| t + 1_000);
                let e = ch.ch.ack(bad, false).expect_err("unknown tag");
                assert_eq!(e.reply_code(), 406);
                assert!(!ch.ch.is_open());
                self.channel_closed(c);
            }
            Op::Cancel { slot } => {
                let s = slot as usize % CONSUMERS;
                // Dropping the handle cancels; what it received stays outstanding.
                self.slots[s] = None;
            }
            Op::Qos {
                channel,
                count,
                global,
            } => {
                let Some(c) = self.chan(channel) else { return };
                let count = u16::from(count % 5);
                let ch = self.chans[c].as_mut().expect("open");
                ch.ch.qos(0, count, global).expect("qos");
                if !global {
                    ch.prefetch = count;
                }
            }
            Op::Recover { channel } => {
                let Some(c) = self.chan(channel) else { return };
                self.chans[c]
                    .as_ref()
                    .expect("open")
                    .ch
                    .recover(true)
                    .expect("recover");
                let tags: Vec<u64> = self.chans[c]
                    .as_ref()
                    .expect("open")
                    .tags
                    .keys()
                    .copied()
                    .collect();
                // Not held in a transaction: recover requeues at once.
                let taken = tags.into_iter().map(|t| (t, None)).collect();
                self.apply_settle(taken, c, Some(true));
            }
            Op::CloseChannel { channel } => {
                let c = channel as usize % CHANNELS;
                if let Some(ch) = &self.chans[c] {
                    ch.ch.close();
                }
                self.channel_closed(c);
            }
            Op::OpenChannel { channel } => {
                let c = channel as usize % CHANNELS;
                if self.chans[c].is_none() {
                    self.open(c);
                }
            }
            Op::CloseConnection { conn } => {
                let n = usize::from(conn);
                if let Some(cn) = self.conns[n].take() {
                    cn.close();
                    for c in 0..CHANNELS {
                        if self.chans[c].as_ref().is_some_and(|ch| ch.conn == n) {
                            self.channel_closed(c);
                        }
                    }
                    self.conns[n] = Some(self.broker.connect_default());
                }
            }
            Op::Advance { ms } => {
                self.clock
                    .advance(Duration::from_millis(u64::from(ms % 64)));
            }
            Op::TxSelect { channel } => {
                let Some(c) = self.chan(channel) else { return };
                let ch = self.chans[c].as_mut().expect("open");
                ch.ch.tx_select().expect("tx.select");
                ch.tx.get_or_insert_with(Vec::new);
            }
            Op::TxCommit { channel } | Op::TxRollback { channel } => {
                let commit = matches!(op, Op::TxCommit { .. });
                let Some(c) = self.chan(channel) else { return };
                let ch = self.chans[c].as_mut().expect("open");
                let result = if commit {
                    ch.ch.tx_commit().map(|returned| assert!(returned.is_empty()))
                } else {
                    ch.ch.tx_rollback()
                };
                let Some(held) = ch.tx.as_mut().map(std::mem::take) else {
                    let e = result.expect_err("not transactional");
                    assert_eq!(e.reply_code(), 406);
                    self.channel_closed(c);
                    return;
                };
                result.expect("commit or rollback");
                for h in held {
                    match (h, commit) {
                        (Held::Publish(id, q), true) => {
                            self.state.insert(id, State::Ready(q));
                        }
                        (Held::Publish(id, _), false) => {
                            self.state.insert(id, State::Done);
                        }
                        (Held::Settle(taken, to), true) => {
                            let taken = taken.into_iter().map(|(t, id)| (t, Some(id))).collect();
                            self.apply_settle(taken, c, to);
                        }
                        (Held::Settle(taken, _), false) => {
                            let ch = self.chans[c].as_mut().expect("open");
                            for (t, id) in taken {
                                ch.tags.insert(t, id);
                                let Some(State::HeldSettle(_, _, q)) = self.state.get(&id).copied()
                                else {
                                    panic!("message {id} not held");
                                };
                                self.state.insert(id, State::Outstanding(c, t, q));
                            }
                        }
                    }
                }
            }
        }
    }

    fn check(&self) {
        for s in self.slots.iter().flatten() {
            let info = self
                .broker
                .consumers()
                .into_iter()
                .find(|i| i.tag == s.consumer.tag())
                .expect("consumer listed");
            assert!(info.buffered <= BUFFER_CAP);
            if !s.no_ack && s.prefetch > 0 {
                assert!(
                    info.unacked <= u32::from(s.prefetch),
                    "consumer holds {} over prefetch {}",
                    info.unacked,
                    s.prefetch
                );
            }
        }
        let outstanding = self
            .state
            .values()
            .filter(|s| matches!(s, State::Outstanding(..)))
            .count();
        let unacked: usize = self.broker.channels().iter().map(|c| c.unacked).sum();
        assert_eq!(unacked, outstanding, "channels' unacked vs model");
    }

    /// Closes everything and drains: exactly the ready messages come out, once.
    fn finish(mut self) {
        self.slots.iter_mut().for_each(|s| *s = None);
        for c in 0..CHANNELS {
            if let Some(ch) = &self.chans[c] {
                ch.ch.close();
            }
            self.channel_closed(c);
        }
        let conn = self.broker.connect_default();
        let ch = conn.open_channel().expect("open");
        let mut got: BTreeMap<usize, Vec<u64>> = BTreeMap::new();
        for q in 0..QUEUES {
            while let Some(g) = ch.get(&qname(q), true).expect("get") {
                let id = u64::from_le_bytes(g.delivery.body().try_into().expect("id"));
                got.entry(q).or_default().push(id);
            }
        }
        let mut sunk = Vec::new();
        while let Some(g) = ch.get("sink", true).expect("get") {
            sunk.push(u64::from_le_bytes(
                g.delivery.body().try_into().expect("id"),
            ));
        }
        for q in 0..QUEUES {
            let mut want: Vec<u64> = self
                .state
                .iter()
                .filter(|(_, s)| **s == State::Ready(q))
                .map(|(&id, _)| id)
                .collect();
            let mut have = got.remove(&q).unwrap_or_default();
            have.sort_unstable();
            want.sort_unstable();
            if q == 2 {
                // The TTL queue: some may have expired (into the sink), none duplicated.
                let mut dedup = have.clone();
                dedup.dedup();
                assert_eq!(dedup.len(), have.len(), "q2 duplicates");
                assert!(
                    have.iter().all(|id| want.binary_search(id).is_ok()),
                    "q2 extra"
                );
            } else {
                assert_eq!(have, want, "q{q}: drained vs model");
            }
        }
        sunk.sort_unstable();
        let mut want_sunk: Vec<u64> = self
            .state
            .iter()
            .filter(|(_, s)| **s == State::Sunk)
            .map(|(&id, _)| id)
            .collect();
        want_sunk.sort_unstable();
        // Expired q2 messages are dead-lettered too: the sink holds the rejected ones
        // plus some of q2's.
        assert!(
            want_sunk.iter().all(|id| sunk.binary_search(id).is_ok()),
            "rejected messages reach the sink"
        );
        let mut dedup = sunk.clone();
        dedup.dedup();
        assert_eq!(dedup.len(), sunk.len(), "sink duplicates");
        for id in &sunk {
            let st = self.state.get(id);
            assert!(
                matches!(st, Some(State::Sunk | State::Ready(2))),
                "message {id} in the sink in state {st:?}"
            );
        }
    }
}

fuzz_target!(|data: &[u8]| -> Corpus {
    let mut u = Unstructured::new(data);
    let Ok(ops) = Vec::<Op>::arbitrary(&mut u) else {
        return Corpus::Reject;
    };
    if ops.len() > MAX_OPS {
        return Corpus::Reject;
    }
    let mut w = World::new();
    for op in &ops {
        w.step(op);
        w.check();
    }
    w.finish();
    Corpus::Keep
});
