//! Queues: ready messages in FIFO (per priority) order, consumers, dispatch, TTL,
//! limits and the dead letters they produce.
//!
//! # Locking
//!
//! Each queue has its own mutex ([`QueueCell::state`]). Lock order across the broker:
//! a vhost's topology lock, then one queue's lock, then one consumer's buffer lock.
//! A channel's state lock is a leaf (nothing is locked while it is held). No code
//! holds two queue locks at once: dead letters are collected under a queue's lock and
//! published after it is released ([`Effects`]).
//!
//! # Order
//!
//! Every message gets a sequence number at enqueue; ready messages are kept sorted by
//! it (per priority level), so a requeued message goes back to its original position.
//!
//! # The store
//!
//! A durable queue of a broker with a data directory writes its persistent messages
//! to the store and settles them there (`persist`): the store sits under the queue
//! and knows nothing of it.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex, Weak};

use super::args::{Overflow, QueueArgs};
use super::clock::{Task, Timer};
use super::consumer::{CancelReason, ConsumerShared};
use super::deadletter::{DeadLetter, Reason};
use super::message::StoredRef;
use super::store::{Loc, Mark, SyncPoint};

mod persist;

use super::sync::lock;
use crate::FieldTable;
pub(crate) use persist::{Persist, Recovered};

/// A message in a queue.
#[derive(Debug, Clone)]
pub(crate) struct Entry {
    /// Position in the queue: unique per queue, increasing in enqueue order.
    pub(crate) seq: u64,
    pub(crate) msg: StoredRef,
    /// When it expires (ms on the broker clock), fixed at enqueue.
    pub(crate) deadline: Option<u64>,
    pub(crate) redelivered: bool,
    /// Priority level (0 in a queue without priorities).
    pub(crate) level: u8,
    /// How often it came back from a consumer unsettled (quorum queues count it:
    /// `x-delivery-count`, `x-delivery-limit`).
    pub(crate) returns: u32,
    /// Body bytes (the body itself may be on disk only).
    pub(crate) len: u64,
    /// Its record in the store (a persistent message in a durable queue).
    pub(crate) loc: Option<Loc>,
    /// Its body is on disk only: `msg` holds an empty one until it is read back.
    pub(crate) paged: bool,
}

/// What one queue entry costs in memory beyond the message it shares: its slot in the
/// queue (twice, for the slack of a growing ring buffer) and its unacked bookkeeping.
pub(crate) const ENTRY_BYTES: u64 = 2 * std::mem::size_of::<Entry>() as u64 + 32;

impl Entry {
    /// Body bytes (the queue's byte statistics and `x-max-length-bytes`).
    pub(crate) fn size(&self) -> u64 {
        self.len
    }

    /// The message as a delivery hands it out: with `x-delivery-count` once it came
    /// back (quorum queues count returns; `always`: also 0 the first time, as a
    /// quorum queue's `basic.get`). The stored message never carries it.
    pub(crate) fn delivered_message(&self, always: bool) -> StoredRef {
        if self.returns > 0 || always {
            Arc::new(self.msg.with_delivery_count(self.returns))
        } else {
            Arc::clone(&self.msg)
        }
    }

    fn expired(&self, now: u64) -> bool {
        self.deadline.is_some_and(|d| d <= now)
    }
}

/// What a queue operation leaves to do after the queue's lock is released.
#[derive(Debug, Default)]
pub(crate) struct Effects {
    /// Messages to dead-letter (publishing needs the topology lock).
    pub(crate) dead: Vec<DeadLetter>,
    /// The store's point to sync for what was enqueued (confirms wait for it).
    pub(crate) synced: Option<SyncPoint>,
    /// The queue should be deleted (auto-delete after its last consumer went).
    pub(crate) delete: bool,
}

/// Per-queue counters, readable without the queue's lock.
#[derive(Debug, Default)]
pub(crate) struct QueueStats {
    pub(crate) published: AtomicU64,
    pub(crate) delivered: AtomicU64,
    pub(crate) acked: AtomicU64,
    pub(crate) redelivered: AtomicU64,
    pub(crate) dropped: AtomicU64,
}

/// The immutable properties of a queue, fixed at declare.
#[derive(Debug)]
pub(crate) struct QueueConfig {
    pub(crate) durable: bool,
    pub(crate) auto_delete: bool,
    /// The connection that owns an exclusive queue.
    pub(crate) owner: Option<u64>,
    pub(crate) arguments: FieldTable,
    pub(crate) args: QueueArgs,
    /// A direct reply-to pseudo-queue (`amq.rabbitmq.reply-to.<token>`, D11): only
    /// routable from the default exchange; declare, bind, consume, get, purge,
    /// delete and listings do not see it.
    pub(crate) reply_to: bool,
}

/// What a queue needs of what holds it, for the work a queue operation leaves to be
/// done after the queue's lock is released: deleting the queue itself (auto-delete,
/// `x-expires`) and publishing dead letters. The vhost implements it; the queue never
/// names the vhost, so the data flows one way (vhost -> queue -> consumer buffer).
pub(crate) trait QueueHost: Send + Sync + std::fmt::Debug {
    /// Deletes this very queue (if it is still the one under its name).
    fn delete_queue(&self, cell: &Arc<QueueCell>);
    /// Publishes dead letters to their exchanges.
    fn publish_dead_letters(&self, work: Vec<DeadLetter>);
}

/// A queue: its name, configuration and locked state.
#[derive(Debug)]
pub(crate) struct QueueCell {
    pub(crate) name: Box<str>,
    pub(crate) config: QueueConfig,
    pub(crate) state: Mutex<QueueState>,
    pub(crate) stats: QueueStats,
    /// What holds the queue (its vhost): it deletes the queue and publishes its dead
    /// letters. The queue knows it only through [`QueueHost`].
    pub(crate) host: Weak<dyn QueueHost>,
    pub(crate) timer: Arc<Timer>,
    /// The broker-wide memory count (the watermark's): [`ENTRY_BYTES`] per entry here;
    /// each message's own bytes are charged by the message (`message::Charge`).
    pub(crate) memory: Arc<AtomicU64>,
    /// Set for a durable queue of a broker with a data directory.
    pub(crate) persist: Option<Persist>,
}

/// A consumer as a queue sees it.
#[derive(Debug)]
pub(crate) struct Subscriber {
    pub(crate) consumer: Arc<ConsumerShared>,
    /// When it last received a message (dispatch order): round-robin picks the
    /// lowest among consumers of the same priority.
    stamp: u64,
}

/// The mutable state of a queue.
#[derive(Debug)]
pub(crate) struct QueueState {
    /// Ready messages per priority level (index = level), each sorted by `seq`.
    /// Invariant: `ready.len() == max_priority + 1` (1 without priorities).
    ready: Vec<VecDeque<Entry>>,
    /// Number of ready messages (sum of `ready` lengths).
    pub(crate) ready_count: u64,
    /// Body bytes of ready messages.
    pub(crate) ready_bytes: u64,
    /// Messages delivered with manual ack and not settled yet (consumer buffers
    /// included).
    pub(crate) unacked: u64,
    /// Consumers in arrival order (single active consumer: the first is active).
    pub(crate) consumers: Vec<Subscriber>,
    stamp: u64,
    next_seq: u64,
    pub(crate) deleted: bool,
    pub(crate) ever_consumed: bool,
    /// Last use (declare, get, consumer change), for `x-expires`.
    last_used: u64,
    expiry_scheduled: bool,
    /// The earliest head deadline the timer will wake this queue for.
    head_scheduled: Option<u64>,
    /// A message with a per-message TTL was enqueued once: from then on every
    /// operation reads the clock (a queue without TTLs never does).
    ttl_seen: bool,
}

/// Why a queue refused a new consumer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ConsumerRefused {
    /// The queue was deleted meanwhile (404).
    Deleted,
    /// The consumer's channel closed meanwhile.
    Ended,
    /// It has an exclusive consumer, or an exclusive consumer asked to join a queue
    /// with consumers or with single active consumer (403).
    InExclusiveUse,
}

/// What happened to a message offered to a queue.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Enqueued {
    Accepted,
    /// `reject-publish`: refused (a confirm nack).
    Refused,
}

impl QueueCell {
    pub(crate) fn new(
        name: &str,
        config: QueueConfig,
        host: Weak<dyn QueueHost>,
        timer: Arc<Timer>,
        memory: Arc<AtomicU64>,
        persist: Option<Persist>,
    ) -> Arc<QueueCell> {
        let levels = config.args.max_priority.map_or(1, |p| usize::from(p) + 1);
        let now = timer.now();
        let q = Arc::new(QueueCell {
            name: name.into(),
            config,
            state: Mutex::new(QueueState {
                ready: (0..levels).map(|_| VecDeque::new()).collect(),
                ready_count: 0,
                ready_bytes: 0,
                unacked: 0,
                consumers: Vec::new(),
                stamp: 0,
                next_seq: 0,
                deleted: false,
                ever_consumed: false,
                last_used: now,
                expiry_scheduled: false,
                head_scheduled: None,
                ttl_seen: false,
            }),
            stats: QueueStats::default(),
            host,
            timer,
            memory,
            persist,
        });
        if let Some(ms) = q.config.args.expires {
            let mut st = lock(&q.state);
            st.expiry_scheduled = true;
            q.timer
                .schedule(now + ms, Task::Expires(Arc::downgrade(&q)));
        }
        q
    }

    pub(crate) fn is_exclusive_to_other(&self, conn: u64) -> bool {
        self.config.owner.is_some_and(|o| o != conn)
    }

    fn now(&self) -> u64 {
        self.timer.now()
    }

    /// Whether messages of this queue can expire (so the clock matters).
    fn may_expire(&self, st: &QueueState) -> bool {
        self.config.args.message_ttl.is_some() || st.ttl_seen
    }

    /// The time, for operations that only need it when messages can expire: 0
    /// otherwise (no entry has a deadline then).
    fn now_if_ttl(&self, st: &QueueState) -> u64 {
        if self.may_expire(st) { self.now() } else { 0 }
    }

    fn level_of(&self, msg: &StoredRef) -> u8 {
        match self.config.args.max_priority {
            None => 0,
            Some(max) => msg.message.properties.priority.unwrap_or(0).min(max),
        }
    }

    /// Offers a message published (or dead-lettered) to this queue.
    pub(crate) fn enqueue(
        self: &Arc<Self>,
        msg: StoredRef,
        per_message_ttl: Option<u64>,
        fx: &mut Effects,
    ) -> Enqueued {
        let ttl = match (self.config.args.message_ttl, per_message_ttl) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        let mut st = lock(&self.state);
        if per_message_ttl.is_some() {
            st.ttl_seen = true;
        }
        let now = self.now_if_ttl(&st);
        if st.deleted {
            return Enqueued::Accepted;
        }
        let args = &self.config.args;
        let size = msg.message.body.len() as u64;
        if args.overflow != Overflow::DropHead && self.full_for(&st, size) {
            if args.overflow == Overflow::RejectPublishDlx {
                fx.dead.push(self.dead_letter(msg, Reason::Maxlen));
            }
            self.stats.dropped.fetch_add(1, Relaxed);
            return Enqueued::Refused;
        }
        let seq = st.next_seq;
        let mut entry = Entry {
            seq,
            level: self.level_of(&msg),
            len: size,
            msg,
            deadline: ttl.map(|t| now.saturating_add(t)),
            redelivered: false,
            returns: 0,
            loc: None,
            paged: false,
        };
        st.next_seq += 1;
        if let Some(point) = self.persist_entry(&mut entry) {
            fx.synced = Some(match fx.synced.take() {
                Some(p) => p.max(point),
                None => point,
            });
        }
        self.stats.published.fetch_add(1, Relaxed);
        st.push_back(entry);
        self.memory.fetch_add(ENTRY_BYTES, Relaxed);
        // RabbitMQ offers a new message to consumers before it checks expiry: with a
        // TTL of 0 it goes to a consumer with credit now, or expires below.
        self.dispatch(&mut st, now, Some(seq), fx);
        // drop-head: over a limit after the enqueue, drop from the head.
        while args.overflow == Overflow::DropHead && self.over_limit(&st) {
            let Some(e) = self.pop_ready(&mut st) else {
                break;
            };
            self.discard(e, Reason::Maxlen, fx);
        }
        self.expire(&mut st, now, fx);
        Enqueued::Accepted
    }

    /// Whether one more message of `size` bytes would exceed a limit.
    fn full_for(&self, st: &QueueState, size: u64) -> bool {
        let a = &self.config.args;
        a.max_length.is_some_and(|m| st.ready_count >= m)
            || a.max_length_bytes
                .is_some_and(|m| st.ready_bytes.saturating_add(size) > m)
    }

    fn over_limit(&self, st: &QueueState) -> bool {
        let a = &self.config.args;
        a.max_length.is_some_and(|m| st.ready_count > m)
            || a.max_length_bytes.is_some_and(|m| st.ready_bytes > m)
    }

    /// Removes the next ready message (highest priority first).
    fn pop_ready(&self, st: &mut QueueState) -> Option<Entry> {
        let e = st.ready.iter_mut().rev().find_map(VecDeque::pop_front)?;
        st.ready_count -= 1;
        st.ready_bytes -= e.size();
        Some(e)
    }

    /// A message leaves the queue without being delivered: dead-lettered for `reason`
    /// if the queue has a dead-letter exchange, otherwise dropped.
    fn discard(&self, mut e: Entry, reason: Reason, fx: &mut Effects) {
        self.memory.fetch_sub(ENTRY_BYTES, Relaxed);
        self.stats.dropped.fetch_add(1, Relaxed);
        if self.config.args.dead_letter_exchange.is_some() && self.load(&mut e) {
            // Acked once its dead letter is made: the copy is published after this
            // queue's lock is released (a crash in between loses the copy, as in
            // RabbitMQ without at-least-once dead-lettering).
            self.settled(&mut e, Mark::Acked);
            fx.dead.push(self.dead_letter(e.msg, reason));
        } else {
            self.settled(&mut e, Mark::Acked);
        }
    }

    fn dead_letter(&self, msg: StoredRef, reason: Reason) -> DeadLetter {
        let a = &self.config.args;
        DeadLetter {
            msg,
            reason,
            queue: self.name.clone(),
            exchange: a.dead_letter_exchange.clone().unwrap_or_default(),
            routing_key: a.dead_letter_routing_key.clone(),
        }
    }

    /// Drops or dead-letters expired messages at the head of every priority level, and
    /// asks the timer to come back for the next head deadline.
    fn expire(self: &Arc<Self>, st: &mut QueueState, now: u64, fx: &mut Effects) {
        if !self.may_expire(st) {
            return;
        }
        for level in 0..st.ready.len() {
            while st.ready[level].front().is_some_and(|e| e.expired(now)) {
                let e = st.ready[level].pop_front().expect("front exists");
                st.ready_count -= 1;
                st.ready_bytes -= e.size();
                self.discard(e, Reason::Expired, fx);
            }
        }
        let next = st
            .ready
            .iter()
            .filter_map(|l| l.front().and_then(|e| e.deadline))
            .min();
        if let Some(at) = next {
            if st.head_scheduled.is_none_or(|s| at < s || s <= now) {
                st.head_scheduled = Some(at);
                self.timer.schedule(at, Task::Head(Arc::downgrade(self)));
            }
        }
    }

    /// Timer callback: expire what reached its deadline at the head.
    pub(crate) fn expire_head(self: &Arc<Self>, now: u64) {
        let mut fx = Effects::default();
        {
            let mut st = lock(&self.state);
            if st.deleted {
                return;
            }
            if st.head_scheduled.is_some_and(|s| s <= now) {
                st.head_scheduled = None;
            }
            self.expire(&mut st, now, &mut fx);
        }
        self.finish(fx);
    }

    /// Timer callback: delete the queue if it stayed unused for `x-expires`.
    pub(crate) fn check_expiry(self: &Arc<Self>, now: u64) {
        let Some(ms) = self.config.args.expires else {
            return;
        };
        let expired = {
            let mut st = lock(&self.state);
            if st.deleted {
                return;
            }
            let due = st.last_used.saturating_add(ms);
            if !st.consumers.is_empty() {
                // In use: the last consumer to leave schedules the next check.
                st.expiry_scheduled = false;
                false
            } else if now >= due {
                true
            } else {
                // Used since: come back when it could next expire.
                self.timer
                    .schedule(due, Task::Expires(Arc::downgrade(self)));
                false
            }
        };
        if expired {
            if let Some(v) = self.host.upgrade() {
                // Expiry does not dead-letter the queue's messages.
                v.delete_queue(self);
            }
        }
    }

    /// Marks the queue used (declare, get, consumer change), for `x-expires`.
    pub(crate) fn touch(&self, st: &mut QueueState) {
        st.last_used = self.now();
    }

    /// Runs what a queue operation left to do, after its lock is released.
    pub(crate) fn finish(self: &Arc<Self>, fx: Effects) {
        if fx.dead.is_empty() && !fx.delete {
            return;
        }
        if let Some(v) = self.host.upgrade() {
            if fx.delete {
                v.delete_queue(self);
            }
            v.publish_dead_letters(fx.dead);
        }
    }

    /// After a change (credit, consumers, requeued messages): hands ready messages to
    /// consumers with credit, then expires what is due at the head.
    fn serve(self: &Arc<Self>, st: &mut QueueState, fx: &mut Effects) {
        let now = self.now_if_ttl(st);
        self.dispatch(st, now, None, fx);
        self.expire(st, now, fx);
    }

    /// Hands ready messages to consumers with credit, highest consumer priority first,
    /// round-robin among equals; skips (drops or dead-letters) expired messages.
    /// `fresh` is the message being enqueued, which may go out even if its deadline is
    /// now (TTL 0).
    fn dispatch(&self, st: &mut QueueState, now: u64, fresh: Option<u64>, fx: &mut Effects) {
        while st.ready_count > 0 && !st.consumers.is_empty() {
            let Some(i) = self.pick(st) else { return };
            let Some(mut e) = self.pop_ready(st) else {
                return;
            };
            if e.expired(now) && fresh != Some(e.seq) {
                self.discard(e, Reason::Expired, fx);
                continue;
            }
            if !self.load(&mut e) {
                self.memory.fetch_sub(ENTRY_BYTES, Relaxed);
                continue;
            }
            st.stamp += 1;
            let sub = &mut st.consumers[i];
            sub.stamp = st.stamp;
            let c = Arc::clone(&sub.consumer);
            if !c.no_ack {
                st.unacked += 1;
                self.settled(&mut e, Mark::Delivered);
            } else {
                self.memory.fetch_sub(ENTRY_BYTES, Relaxed);
                self.settled(&mut e, Mark::Acked);
            }
            self.stats.delivered.fetch_add(1, Relaxed);
            if e.redelivered {
                self.stats.redelivered.fetch_add(1, Relaxed);
            }
            c.push(e);
        }
    }

    /// The consumer to give the next message to, if any has credit.
    fn pick(&self, st: &QueueState) -> Option<usize> {
        if self.config.args.single_active_consumer {
            return st.consumers[0].consumer.has_credit().then_some(0);
        }
        if let [only] = &st.consumers[..] {
            return only.consumer.has_credit().then_some(0);
        }
        let mut best: Option<(usize, i32, u64)> = None;
        for (i, s) in st.consumers.iter().enumerate() {
            let p = s.consumer.priority;
            let better = match best {
                None => true,
                Some((_, bp, bs)) => p > bp || (p == bp && s.stamp < bs),
            };
            if better && s.consumer.has_credit() {
                best = Some((i, p, s.stamp));
            }
        }
        best.map(|(i, _, _)| i)
    }

    /// Adds a consumer and dispatches to it.
    pub(crate) fn add_consumer(
        self: &Arc<Self>,
        c: Arc<ConsumerShared>,
    ) -> Result<(), ConsumerRefused> {
        let mut fx = Effects::default();
        {
            let mut st = lock(&self.state);
            if st.deleted {
                return Err(ConsumerRefused::Deleted);
            }
            // Its channel closed meanwhile (and could not remove it yet): adding it would
            // strand messages in its buffer.
            if c.ended().is_some() {
                return Err(ConsumerRefused::Ended);
            }
            // Checked under the queue's lock: two concurrent consumes cannot both pass.
            if st.consumers.iter().any(|s| s.consumer.exclusive)
                || (c.exclusive
                    && (!st.consumers.is_empty() || self.config.args.single_active_consumer))
            {
                return Err(ConsumerRefused::InExclusiveUse);
            }
            st.ever_consumed = true;
            self.touch(&mut st);
            st.consumers.push(Subscriber {
                consumer: c,
                stamp: 0,
            });
            self.serve(&mut st, &mut fx);
        }
        self.finish(fx);
        Ok(())
    }

    /// Removes a consumer; messages in its buffer (never handed out) go back to their
    /// places. Deletes an auto-delete queue whose last consumer this was.
    pub(crate) fn remove_consumer(self: &Arc<Self>, c: &Arc<ConsumerShared>, reason: CancelReason) {
        let mut fx = Effects::default();
        {
            let mut st = lock(&self.state);
            let before = st.consumers.len();
            st.consumers.retain(|s| !Arc::ptr_eq(&s.consumer, c));
            let buffered = c.end(reason);
            if !st.deleted {
                for mut e in buffered {
                    if !c.no_ack {
                        st.unacked -= 1;
                    } else {
                        self.memory.fetch_add(ENTRY_BYTES, Relaxed);
                        self.persist_again(&mut e);
                    }
                    st.insert_back(e);
                }
                self.touch(&mut st);
                self.serve(&mut st, &mut fx);
                if st.consumers.is_empty() && before > 0 {
                    if self.config.auto_delete && st.ever_consumed {
                        fx.delete = true;
                    } else if let Some(ms) = self.config.args.expires {
                        if !st.expiry_scheduled {
                            st.expiry_scheduled = true;
                            let at = st.last_used + ms;
                            self.timer.schedule(at, Task::Expires(Arc::downgrade(self)));
                        }
                    }
                }
            }
        }
        self.finish(fx);
    }

    /// Settles unacked messages of this queue (ack, or reject/nack without requeue
    /// when `dead` is set) and dispatches with the freed credit.
    pub(crate) fn settle(self: &Arc<Self>, entries: impl IntoIterator<Item = Entry>, reject: bool) {
        let mut fx = Effects::default();
        {
            let mut st = lock(&self.state);
            for mut e in entries {
                st.unacked = st.unacked.saturating_sub(1);
                if st.deleted {
                    self.memory.fetch_sub(ENTRY_BYTES, Relaxed);
                    self.forgotten(&mut e);
                    continue;
                }
                if reject {
                    self.discard(e, Reason::Rejected, &mut fx);
                } else {
                    self.memory.fetch_sub(ENTRY_BYTES, Relaxed);
                    self.stats.acked.fetch_add(1, Relaxed);
                    self.settled(&mut e, Mark::Acked);
                }
            }
            if !st.deleted {
                self.serve(&mut st, &mut fx);
            }
        }
        self.finish(fx);
    }

    /// Puts unacked messages back at their original positions, marked redelivered.
    pub(crate) fn requeue(self: &Arc<Self>, entries: impl IntoIterator<Item = Entry>) {
        let mut fx = Effects::default();
        {
            let mut st = lock(&self.state);
            for mut e in entries {
                st.unacked = st.unacked.saturating_sub(1);
                if st.deleted {
                    self.memory.fetch_sub(ENTRY_BYTES, Relaxed);
                    self.forgotten(&mut e);
                    continue;
                }
                e.redelivered = true;
                if self.config.args.quorum {
                    // A quorum queue counts returns: over `x-delivery-limit` the
                    // message is dead-lettered (or dropped); otherwise its next
                    // deliveries carry the count in `x-delivery-count`.
                    e.returns = e.returns.saturating_add(1);
                    if self
                        .config
                        .args
                        .delivery_limit
                        .is_some_and(|limit| u64::from(e.returns) > limit)
                    {
                        self.discard(e, Reason::DeliveryLimit, &mut fx);
                        continue;
                    }
                    // Returned messages go to the back of a quorum queue.
                    e.seq = st.next_seq;
                    st.next_seq += 1;
                    let moved = Mark::Moved {
                        seq: e.seq,
                        returns: e.returns,
                    };
                    self.settled(&mut e, moved);
                }
                self.page_out_again(&mut e);
                st.insert_back(e);
            }
            if !st.deleted {
                self.serve(&mut st, &mut fx);
            }
        }
        self.finish(fx);
    }

    /// Puts back a no-ack message whose channel closed before it was handed out.
    pub(crate) fn restore(self: &Arc<Self>, mut e: Entry) {
        let mut fx = Effects::default();
        {
            let mut st = lock(&self.state);
            if st.deleted {
                return;
            }
            self.persist_again(&mut e);
            self.memory.fetch_add(ENTRY_BYTES, Relaxed);
            st.insert_back(e);
            self.serve(&mut st, &mut fx);
        }
        self.finish(fx);
    }

    /// Gives free credit to consumers (after a prefetch change or a buffer drained).
    pub(crate) fn poke(self: &Arc<Self>) {
        let mut fx = Effects::default();
        {
            let mut st = lock(&self.state);
            if st.deleted {
                return;
            }
            self.serve(&mut st, &mut fx);
        }
        self.finish(fx);
    }

    /// `basic.get`: the next ready message and the count left, or `None`.
    pub(crate) fn get(self: &Arc<Self>, no_ack: bool) -> Option<(Entry, u64)> {
        let mut fx = Effects::default();
        let got = {
            let mut st = lock(&self.state);
            let now = self.now();
            self.touch(&mut st);
            self.expire(&mut st, now, &mut fx);
            let mut got = None;
            while let Some(mut e) = self.pop_ready(&mut st) {
                if e.expired(now) {
                    self.discard(e, Reason::Expired, &mut fx);
                    continue;
                }
                if !self.load(&mut e) {
                    self.memory.fetch_sub(ENTRY_BYTES, Relaxed);
                    continue;
                }
                if no_ack {
                    self.memory.fetch_sub(ENTRY_BYTES, Relaxed);
                    self.settled(&mut e, Mark::Acked);
                } else {
                    st.unacked += 1;
                    self.settled(&mut e, Mark::Delivered);
                }
                self.stats.delivered.fetch_add(1, Relaxed);
                if e.redelivered {
                    self.stats.redelivered.fetch_add(1, Relaxed);
                }
                got = Some(e);
                break;
            }
            self.expire(&mut st, now, &mut fx);
            // The count left is taken once expired messages at the new head are gone
            // (as RabbitMQ's basic.get-ok).
            got.map(|e| (e, st.ready_count))
        };
        self.finish(fx);
        got
    }

    /// Removes every ready message; returns how many.
    pub(crate) fn purge(&self) -> u64 {
        let mut st = lock(&self.state);
        let n = st.ready_count;
        for l in &mut st.ready {
            for mut e in l.drain(..) {
                self.settled(&mut e, Mark::Acked);
            }
        }
        st.ready_count = 0;
        st.ready_bytes = 0;
        self.memory.fetch_sub(n * ENTRY_BYTES, Relaxed);
        n
    }

    /// Marks the queue deleted, drops its messages and ends its consumers; returns the
    /// number of ready messages it held.
    pub(crate) fn mark_deleted(&self) -> u64 {
        let subs = {
            let mut st = lock(&self.state);
            if st.deleted {
                return 0;
            }
            st.deleted = true;
            let n = st.ready_count;
            self.memory.fetch_sub(n * ENTRY_BYTES, Relaxed);
            for l in &mut st.ready {
                for mut e in l.drain(..) {
                    self.forgotten(&mut e);
                }
            }
            st.ready_count = 0;
            st.ready_bytes = 0;
            let subs = std::mem::take(&mut st.consumers);
            for s in &subs {
                for mut e in s.consumer.end(CancelReason::QueueDeleted) {
                    self.forgotten(&mut e);
                    if !s.consumer.no_ack {
                        st.unacked -= 1;
                        self.memory.fetch_sub(ENTRY_BYTES, Relaxed);
                    }
                }
            }
            // Unacked messages stay with their channels until settled.
            (n, subs)
        };
        subs.0
    }

    /// Number of ready messages and consumers.
    pub(crate) fn counts(&self) -> (u64, usize) {
        let st = lock(&self.state);
        (st.ready_count, st.consumers.len())
    }
}

impl QueueState {
    fn push_back(&mut self, e: Entry) {
        self.ready_count += 1;
        self.ready_bytes += e.size();
        self.ready[usize::from(e.level)].push_back(e);
    }

    /// Inserts a message back at its position by sequence number.
    fn insert_back(&mut self, e: Entry) {
        self.ready_count += 1;
        self.ready_bytes += e.size();
        let level = &mut self.ready[usize::from(e.level)];
        let at = level.partition_point(|x| x.seq < e.seq);
        level.insert(at, e);
    }

    /// Checks the counts against the contents (tests and fuzzing).
    #[cfg(test)]
    pub(crate) fn check(&self) {
        let n: usize = self.ready.iter().map(VecDeque::len).sum();
        assert_eq!(n as u64, self.ready_count);
        let b: u64 = self.ready.iter().flatten().map(Entry::size).sum();
        assert_eq!(b, self.ready_bytes);
        for l in &self.ready {
            assert!(l.iter().zip(l.iter().skip(1)).all(|(a, b)| a.seq < b.seq));
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::FieldTable;
    use crate::broker::{
        Broker, ConsumeOptions, Message, PublishOptions, QueueDeclare, sync::lock,
    };

    /// Requeues in any order restore the original order, and the counts stay true.
    #[test]
    fn requeue_restores_order_and_counts() {
        let broker = Broker::new();
        let conn = broker.connect_default();
        let ch = conn.open_channel().unwrap();
        let mut args = FieldTable::new();
        args.insert("x-max-priority", 3);
        ch.queue_declare(
            "q",
            &QueueDeclare {
                arguments: args,
                ..QueueDeclare::default()
            },
        )
        .unwrap();
        for i in 0..6u8 {
            let m = Message::new(vec![i; usize::from(i) + 1]).with_priority(i % 3);
            let p = ch.publish("", "q", m, PublishOptions::default()).unwrap();
            assert_eq!(p.queues, 1);
        }
        let c = ch.consume("q", &ConsumeOptions::default()).unwrap();
        let tags: Vec<u64> = (0..6).map(|_| c.recv().unwrap().delivery_tag()).collect();
        drop(c);
        for t in [tags[3], tags[0], tags[5], tags[1], tags[4], tags[2]] {
            ch.reject(t, true).unwrap();
        }
        let vhost = broker.vhost("/").unwrap();
        let cell = vhost.topo.load().queue("q").cloned().unwrap();
        let st = lock(&cell.state);
        st.check();
        assert_eq!(st.ready_count, 6);
        assert_eq!(st.unacked, 0);
    }
}
