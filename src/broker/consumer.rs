//! Consumers: the per-consumer buffer the queue pushes into, and the errors of
//! receiving from it. The application's handles ([`Consumer`], [`Delivery`]) live with
//! the channel they settle on (`broker::channel::delivery`).
//!
//! A queue pushes a message into a consumer's buffer only while the consumer has
//! credit: room under its prefetch (and its channel's global prefetch) for manual-ack
//! consumers, and in every case room in the buffer itself ([`BUFFER_CAP`]). Everything
//! else stays in the queue, where another consumer can take it. Pushing wakes a
//! blocked `recv` (condition variable) or a pending `poll_recv` (`std::task::Waker`),
//! so async use needs no runtime in the core.

use std::collections::VecDeque;
use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering::Relaxed};
use std::sync::{Arc, Condvar, Mutex, PoisonError, Weak};
use std::task::{Context, Poll, Waker};
use std::time::Instant;

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

    /// Takes the next buffered entry, waiting as `wait` says: `Ok(None)` when nothing
    /// came in time, `Err` once the consumer has ended and its buffer is empty.
    pub(crate) fn take_wait(&self, wait: Wait) -> Result<Option<Entry>, CancelReason> {
        let got = {
            let mut b = lock(&self.buf);
            loop {
                if let Some(r) = self.take(&mut b) {
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
                b = match timeout {
                    None => self.cond.wait(b).unwrap_or_else(PoisonError::into_inner),
                    Some(left) => {
                        self.cond
                            .wait_timeout(b, left)
                            .unwrap_or_else(PoisonError::into_inner)
                            .0
                    }
                };
                b.waiting -= 1;
            }
        };
        let e = got?;
        self.after_take();
        Ok(Some(e))
    }

    /// Polls for the next buffered entry; `Ready(Err)` once the consumer has ended and
    /// its buffer is empty. The waker is woken when an entry arrives or the consumer
    /// ends.
    pub(crate) fn poll_take(&self, cx: &mut Context<'_>) -> Poll<Result<Entry, CancelReason>> {
        let got = {
            let mut b = lock(&self.buf);
            match self.take(&mut b) {
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
        let e = got?;
        self.after_take();
        Poll::Ready(Ok(e))
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

/// Why [`Consumer::recv`](crate::broker::Consumer::recv) returned no message: the consumer ended.
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

/// Why [`Consumer::try_recv`](crate::broker::Consumer::try_recv) returned no message.
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

/// Why [`Consumer::recv_timeout`](crate::broker::Consumer::recv_timeout) returned no message.
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

/// How long a receive waits for a delivery.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Wait {
    No,
    Forever,
    Until(Instant),
}
