//! Consumers: the per-consumer buffer the queue pushes into, the [`Consumer`] handle
//! (blocking, non-blocking and async receive) and [`Delivery`].
//!
//! A queue pushes a message into a consumer's buffer only while the consumer has
//! credit: room under its prefetch (and its channel's global prefetch) for manual-ack
//! consumers, and in every case room in the buffer itself ([`BUFFER_CAP`]). Everything
//! else stays in the queue, where another consumer can take it. Pushing wakes a
//! blocked `recv` (condition variable) or a pending `poll_recv` (`std::task::Waker`),
//! so async use needs no runtime in the core.

use std::collections::VecDeque;
use std::fmt;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering::Relaxed};
use std::sync::{Arc, Condvar, Mutex, PoisonError, Weak};
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use super::channel::ChannelShared;
use super::message::{Message, StoredRef};
use super::queue::{Entry, QueueCell};
use super::sync::lock;

/// The most messages a consumer's buffer holds before the queue keeps the rest (for
/// no-ack consumers and prefetch 0, which have no other bound).
pub const BUFFER_CAP: u32 = 128;

/// Why a consumer ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum CancelReason {
    /// The application cancelled it (`basic.cancel`, or the handle was dropped).
    Cancelled,
    /// Its queue was deleted: a wire server sends `basic.cancel` to clients that
    /// advertised `consumer_cancel_notify`.
    QueueDeleted,
    /// Its channel (or connection) closed.
    ChannelClosed,
}

/// The prefetch credit a channel shares among its consumers (`basic.qos` with
/// `global = true`).
#[derive(Debug, Default)]
pub(crate) struct ChannelCredit {
    /// 0 = no channel-wide limit.
    pub(crate) limit: AtomicU32,
    /// Manual-ack deliveries of the channel's consumers not settled yet.
    pub(crate) in_flight: AtomicU32,
}

#[derive(Debug, Default)]
struct Buffer {
    items: VecDeque<Entry>,
    waker: Option<Waker>,
    /// Threads blocked in `recv`.
    waiting: u32,
    ended: Option<CancelReason>,
}

/// A consumer as the queue and channel see it.
#[derive(Debug)]
pub(crate) struct ConsumerShared {
    pub(crate) tag: Arc<str>,
    pub(crate) no_ack: bool,
    pub(crate) exclusive: bool,
    /// `x-priority`.
    pub(crate) priority: i32,
    /// Per-consumer prefetch; 0 = unlimited.
    pub(crate) prefetch: u32,
    /// Manual-ack deliveries not settled (buffer included).
    pub(crate) in_flight: AtomicU32,
    /// Messages in the buffer (readable without its lock).
    buffered: AtomicU32,
    /// Dispatch skipped it because its buffer was full: the next take pokes the queue.
    starved: AtomicBool,
    pub(crate) credit: Arc<ChannelCredit>,
    pub(crate) queue: Weak<QueueCell>,
    buf: Mutex<Buffer>,
    cond: Condvar,
}

impl ConsumerShared {
    pub(crate) fn new(
        tag: Arc<str>,
        no_ack: bool,
        exclusive: bool,
        priority: i32,
        prefetch: u32,
        credit: Arc<ChannelCredit>,
        queue: Weak<QueueCell>,
    ) -> ConsumerShared {
        ConsumerShared {
            tag,
            no_ack,
            exclusive,
            priority,
            prefetch,
            in_flight: AtomicU32::new(0),
            buffered: AtomicU32::new(0),
            starved: AtomicBool::new(false),
            credit,
            queue,
            buf: Mutex::new(Buffer::default()),
            cond: Condvar::new(),
        }
    }

    /// Whether the queue may push one more message (called under the queue's lock).
    pub(crate) fn has_credit(&self) -> bool {
        if self.buffered.load(Relaxed) >= BUFFER_CAP {
            self.starved.store(true, Relaxed);
            return false;
        }
        if self.no_ack {
            return true;
        }
        if self.prefetch != 0 && self.in_flight.load(Relaxed) >= self.prefetch {
            return false;
        }
        let limit = self.credit.limit.load(Relaxed);
        limit == 0 || self.credit.in_flight.load(Relaxed) < limit
    }

    /// Pushes a message (called under the queue's lock, after `has_credit`).
    pub(crate) fn push(&self, e: Entry) {
        self.buffered.fetch_add(1, Relaxed);
        if !self.no_ack {
            self.in_flight.fetch_add(1, Relaxed);
            self.credit.in_flight.fetch_add(1, Relaxed);
        }
        let waker = {
            let mut b = lock(&self.buf);
            b.items.push_back(e);
            if b.waiting > 0 {
                self.cond.notify_one();
            }
            b.waker.take()
        };
        if let Some(w) = waker {
            w.wake();
        }
    }

    /// Ends the consumer; returns what its buffer held (never handed out).
    pub(crate) fn end(&self, reason: CancelReason) -> VecDeque<Entry> {
        let (items, waker) = {
            let mut b = lock(&self.buf);
            if b.ended.is_none() {
                b.ended = Some(reason);
            }
            self.cond.notify_all();
            (std::mem::take(&mut b.items), b.waker.take())
        };
        let n = items.len() as u32;
        self.buffered.fetch_sub(n, Relaxed);
        if !self.no_ack {
            self.release(n);
        }
        if let Some(w) = waker {
            w.wake();
        }
        items
    }

    /// Returns `n` manual-ack credits (settled or taken back).
    pub(crate) fn release(&self, n: u32) {
        self.in_flight.fetch_sub(n, Relaxed);
        self.credit.in_flight.fetch_sub(n, Relaxed);
    }

    pub(crate) fn ended(&self) -> Option<CancelReason> {
        lock(&self.buf).ended
    }

    pub(crate) fn buffered(&self) -> u32 {
        self.buffered.load(Relaxed)
    }

    /// Takes the next buffered message, or reports the consumer's end.
    fn take(&self, b: &mut Buffer) -> Option<Result<Entry, CancelReason>> {
        if let Some(e) = b.items.pop_front() {
            self.buffered.fetch_sub(1, Relaxed);
            return Some(Ok(e));
        }
        b.ended.map(Err)
    }

    /// After a take: if the queue held messages back for lack of buffer room, let it
    /// dispatch again.
    fn after_take(&self) {
        if self.starved.swap(false, Relaxed) {
            if let Some(q) = self.queue.upgrade() {
                q.poke();
            }
        }
    }
}

/// Why [`Consumer::recv`] returned no message: the consumer ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecvError {
    /// Why it ended.
    pub reason: CancelReason,
}

impl fmt::Display for RecvError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "consumer ended: {:?}", self.reason)
    }
}

impl std::error::Error for RecvError {}

/// Why [`Consumer::try_recv`] returned no message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TryRecvError {
    /// Nothing is buffered right now.
    Empty,
    /// The consumer ended.
    Ended(CancelReason),
}

impl fmt::Display for TryRecvError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TryRecvError::Empty => f.write_str("no message ready"),
            TryRecvError::Ended(r) => write!(f, "consumer ended: {r:?}"),
        }
    }
}

impl std::error::Error for TryRecvError {}

/// Why [`Consumer::recv_timeout`] returned no message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecvTimeoutError {
    /// No message came in time.
    Timeout,
    /// The consumer ended.
    Ended(CancelReason),
}

impl fmt::Display for RecvTimeoutError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RecvTimeoutError::Timeout => f.write_str("timed out waiting for a message"),
            RecvTimeoutError::Ended(r) => write!(f, "consumer ended: {r:?}"),
        }
    }
}

impl std::error::Error for RecvTimeoutError {}

/// How long [`Consumer::receive`] waits for a delivery.
#[derive(Debug, Clone, Copy)]
enum Wait {
    No,
    Forever,
    Until(Instant),
}

/// A subscription to a queue (`basic.consume`).
///
/// Receive with [`recv`](Self::recv) (blocking), [`recv_timeout`](Self::recv_timeout),
/// [`try_recv`](Self::try_recv), or as a [`futures_core::Stream`] (any executor).
/// Each received [`Delivery`] gets its channel's next delivery tag. Dropping the
/// handle cancels the consumer; messages received and not yet acknowledged stay
/// unacknowledged on the channel.
///
/// # Examples
///
/// ```
/// use trackswitch::broker::{Broker, ConsumeOptions, Message, PublishOptions, QueueDeclare};
///
/// let broker = Broker::new();
/// let conn = broker.connect_default();
/// let ch = conn.open_channel().unwrap();
/// ch.queue_declare("jobs", &QueueDeclare::default()).unwrap();
/// let consumer = ch.consume("jobs", &ConsumeOptions::default()).unwrap();
/// ch.publish("", "jobs", Message::new("job 1"), PublishOptions::default()).unwrap();
/// let d = consumer.recv().unwrap();
/// assert_eq!(&d.message().body[..], b"job 1");
/// assert_eq!(d.delivery_tag(), 1);
/// d.ack().unwrap();
/// ```
pub struct Consumer {
    pub(crate) shared: Arc<ConsumerShared>,
    pub(crate) channel: Arc<ChannelShared>,
    pub(crate) queue_name: Arc<str>,
}

impl fmt::Debug for Consumer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Consumer")
            .field("tag", &self.shared.tag)
            .field("queue", &self.queue_name)
            .field("no_ack", &self.shared.no_ack)
            .field("buffered", &self.shared.buffered())
            .finish()
    }
}

impl Consumer {
    /// The consumer tag (server-generated `amq.ctag-...` when none was given).
    pub fn tag(&self) -> &str {
        &self.shared.tag
    }

    /// The queue it consumes from.
    pub fn queue(&self) -> &str {
        &self.queue_name
    }

    /// Why it ended, once it has.
    pub fn cancel_reason(&self) -> Option<CancelReason> {
        self.shared.ended()
    }

    /// Turns a buffered entry into a delivery: assigns the channel's next delivery
    /// tag and records it as unacked. `None` if the channel closed meanwhile (the
    /// message went back to its queue).
    fn deliver(&self, e: Entry) -> Option<Delivery> {
        self.shared.after_take();
        let queue = self.shared.queue.upgrade();
        let (msg, redelivered) = (e.delivered_message(false), e.redelivered);
        let tag = self
            .channel
            .register(e, queue, Some(&self.shared), self.shared.no_ack)?;
        Some(Delivery {
            msg,
            tag,
            redelivered,
            consumer_tag: Some(Arc::clone(&self.shared.tag)),
            channel: Arc::clone(&self.channel),
        })
    }

    /// Waits for the next delivery.
    ///
    /// # Errors
    ///
    /// [`RecvError`] once the consumer has ended (cancelled, queue deleted, channel
    /// closed) and its buffer is empty.
    pub fn recv(&self) -> Result<Delivery, RecvError> {
        match self.receive(Wait::Forever) {
            Ok(d) => Ok(d.expect("waits until a delivery or the end")),
            Err(reason) => Err(RecvError { reason }),
        }
    }

    /// Waits at most `timeout` for the next delivery.
    ///
    /// # Errors
    ///
    /// [`RecvTimeoutError::Timeout`] when nothing came in time;
    /// [`RecvTimeoutError::Ended`] once the consumer has ended.
    pub fn recv_timeout(&self, timeout: Duration) -> Result<Delivery, RecvTimeoutError> {
        match self.receive(Wait::Until(Instant::now() + timeout)) {
            Ok(Some(d)) => Ok(d),
            Ok(None) => Err(RecvTimeoutError::Timeout),
            Err(reason) => Err(RecvTimeoutError::Ended(reason)),
        }
    }

    /// Takes the next delivery if one is buffered.
    ///
    /// # Errors
    ///
    /// [`TryRecvError::Empty`] when none is; [`TryRecvError::Ended`] once the consumer
    /// has ended.
    pub fn try_recv(&self) -> Result<Delivery, TryRecvError> {
        match self.receive(Wait::No) {
            Ok(Some(d)) => Ok(d),
            Ok(None) => Err(TryRecvError::Empty),
            Err(reason) => Err(TryRecvError::Ended(reason)),
        }
    }

    /// Takes the next delivery, waiting as `wait` says: `Ok(None)` when nothing came
    /// in time, `Err` once the consumer has ended and its buffer is empty.
    fn receive(&self, wait: Wait) -> Result<Option<Delivery>, CancelReason> {
        loop {
            let got = {
                let mut b = lock(&self.shared.buf);
                loop {
                    if let Some(r) = self.shared.take(&mut b) {
                        break r;
                    }
                    let timeout = match wait {
                        Wait::No => return Ok(None),
                        Wait::Forever => None,
                        Wait::Until(deadline) => {
                            match deadline.checked_duration_since(Instant::now()) {
                                Some(left) if !left.is_zero() => Some(left),
                                _ => return Ok(None),
                            }
                        }
                    };
                    b.waiting += 1;
                    let cond = &self.shared.cond;
                    b = match timeout {
                        None => cond.wait(b).unwrap_or_else(PoisonError::into_inner),
                        Some(left) => {
                            cond.wait_timeout(b, left)
                                .unwrap_or_else(PoisonError::into_inner)
                                .0
                        }
                    };
                    b.waiting -= 1;
                }
            };
            match got {
                Ok(e) => {
                    if let Some(d) = self.deliver(e) {
                        return Ok(Some(d));
                    }
                }
                Err(reason) => return Err(reason),
            }
        }
    }

    /// Polls for the next delivery: `Ready(None)` once the consumer has ended. The
    /// waker is woken when a message arrives or the consumer ends. This is what the
    /// [`Stream`](futures_core::Stream) implementation calls.
    pub fn poll_recv(&self, cx: &mut Context<'_>) -> Poll<Option<Delivery>> {
        loop {
            let got = {
                let mut b = lock(&self.shared.buf);
                match self.shared.take(&mut b) {
                    Some(r) => r,
                    None => {
                        match &b.waker {
                            Some(w) if w.will_wake(cx.waker()) => {}
                            _ => b.waker = Some(cx.waker().clone()),
                        }
                        return Poll::Pending;
                    }
                }
            };
            match got {
                Ok(e) => {
                    if let Some(d) = self.deliver(e) {
                        return Poll::Ready(Some(d));
                    }
                }
                Err(_) => return Poll::Ready(None),
            }
        }
    }

    /// Cancels the consumer (`basic.cancel`); see [`Channel::cancel`](super::Channel::cancel).
    pub fn cancel(self) {
        drop(self);
    }
}

impl Drop for Consumer {
    fn drop(&mut self) {
        if self.shared.ended().is_none() {
            self.channel.cancel_consumer(&self.shared.tag);
        }
    }
}

impl futures_core::Stream for Consumer {
    type Item = Delivery;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Delivery>> {
        self.poll_recv(cx)
    }
}

/// A message delivered to a consumer or fetched with [`Channel::get`](super::Channel::get).
///
/// Settle it with [`ack`](Self::ack), [`nack`](Self::nack) or [`reject`](Self::reject)
/// (or on the channel by tag); a delivery of a no-ack consumer needs nothing.
pub struct Delivery {
    pub(crate) msg: StoredRef,
    pub(crate) tag: u64,
    pub(crate) redelivered: bool,
    pub(crate) consumer_tag: Option<Arc<str>>,
    pub(crate) channel: Arc<ChannelShared>,
}

impl fmt::Debug for Delivery {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Delivery")
            .field("delivery_tag", &self.tag)
            .field("redelivered", &self.redelivered)
            .field("exchange", &self.msg.exchange)
            .field("routing_key", &self.msg.routing_key)
            .field("body_len", &self.msg.message.body.len())
            .finish()
    }
}

impl Delivery {
    /// The message: properties and body.
    pub fn message(&self) -> &Message {
        &self.msg.message
    }

    /// The body (shorthand for `message().body`).
    pub fn body(&self) -> &[u8] {
        &self.msg.message.body
    }

    /// The channel's delivery tag (from 1, shared by consumers and `get`).
    pub fn delivery_tag(&self) -> u64 {
        self.tag
    }

    /// Whether the message was delivered before and requeued.
    pub fn redelivered(&self) -> bool {
        self.redelivered
    }

    /// The exchange it was published to.
    pub fn exchange(&self) -> &str {
        &self.msg.exchange
    }

    /// The routing key it was published with.
    pub fn routing_key(&self) -> &str {
        &self.msg.routing_key
    }

    /// The consumer's tag (`None` for `get`).
    pub fn consumer_tag(&self) -> Option<&str> {
        self.consumer_tag.as_deref()
    }

    /// Acknowledges this delivery.
    ///
    /// # Errors
    ///
    /// As [`Channel::ack`](super::Channel::ack).
    pub fn ack(&self) -> Result<(), super::BrokerError> {
        ChannelShared::ack(&self.channel, self.tag, false)
    }

    /// Negatively acknowledges this delivery: requeued, or dead-lettered / dropped.
    ///
    /// # Errors
    ///
    /// As [`Channel::nack`](super::Channel::nack).
    pub fn nack(&self, requeue: bool) -> Result<(), super::BrokerError> {
        ChannelShared::nack(&self.channel, self.tag, false, requeue)
    }

    /// Rejects this delivery: requeued, or dead-lettered / dropped.
    ///
    /// # Errors
    ///
    /// As [`Channel::reject`](super::Channel::reject).
    pub fn reject(&self, requeue: bool) -> Result<(), super::BrokerError> {
        ChannelShared::nack(&self.channel, self.tag, false, requeue)
    }
}
