//! The application's handles on a subscription: [`Consumer`] (blocking, non-blocking
//! and async receive) and [`Delivery`] (settled through its channel).
//!
//! They sit above the queue's per-consumer buffer ([`ConsumerShared`], in
//! `broker::consumer`): a handle takes from the buffer and registers what it took on
//! its channel; the buffer and the queue never see the channel.

use std::fmt;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use super::ChannelShared;
use crate::broker::consumer::{
    CancelReason, ConsumerShared, RecvError, RecvTimeoutError, TryRecvError, Wait,
};
use crate::broker::message::{Message, StoredRef};
use crate::broker::queue::Entry;

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
            match self.shared.take_wait(wait)? {
                None => return Ok(None),
                Some(e) => {
                    if let Some(d) = self.deliver(e) {
                        return Ok(Some(d));
                    }
                }
            }
        }
    }

    /// Polls for the next delivery: `Ready(None)` once the consumer has ended. The
    /// waker is woken when a message arrives or the consumer ends. This is what the
    /// [`Stream`](futures_core::Stream) implementation calls.
    pub fn poll_recv(&self, cx: &mut Context<'_>) -> Poll<Option<Delivery>> {
        loop {
            match self.shared.poll_take(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(Err(_)) => return Poll::Ready(None),
                Poll::Ready(Ok(e)) => {
                    if let Some(d) = self.deliver(e) {
                        return Poll::Ready(Some(d));
                    }
                }
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
