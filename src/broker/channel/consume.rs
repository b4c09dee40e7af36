//! Consumers on a channel: `basic.qos`, `basic.consume` (tags, priorities,
//! exclusivity, the queue's refusal) and `basic.cancel` (CONFORMANCE D01 to D05).

use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;

use super::Consumer;
use super::{Channel, ChannelShared, REPLY_TO, random_suffix};
use crate::broker::access::{Perm, Resource};
use crate::broker::args::consumer_priority;
use crate::broker::consumer::{CancelReason, ConsumerShared};
use crate::broker::error::{BrokerError, NOT_ALLOWED, NOT_FOUND, NOT_IMPLEMENTED};
use crate::broker::options::ConsumeOptions;
use crate::broker::queue::{ConsumerRefused, QueueCell};
use crate::broker::sync::lock;
use crate::broker::vhost::in_exclusive_use;

impl ChannelShared {
    /// Cancels the consumer `tag`; returns whether it existed.
    pub(crate) fn cancel_consumer(&self, tag: &str) -> bool {
        let found = lock(&self.state).consumers.remove(tag);
        match found {
            Some((c, q)) => {
                if q.config.reply_to {
                    self.forget_reply_queue(&q.name);
                }
                q.remove_consumer(&c, CancelReason::Cancelled);
                true
            }
            None => false,
        }
    }

    /// Subscribes a consumer to `cell` (`basic.consume` of a resolved queue).
    pub(super) fn subscribe(
        self: &Arc<Self>,
        cell: Arc<QueueCell>,
        options: &ConsumeOptions,
    ) -> Result<Consumer, BrokerError> {
        let s = self;
        let priority = consumer_priority(&options.arguments)?;
        let tag: Arc<str> = if options.tag.is_empty() {
            format!("amq.ctag-{}", random_suffix()).into()
        } else {
            options.tag.as_str().into()
        };
        // A consumer whose queue was deleted is over and its tag free again, as
        // RabbitMQ forgets it when it sends the cancel.
        let stale = lock(&s.state)
            .consumers
            .get(&tag)
            .map(|(c, _)| Arc::clone(c));
        if let Some(stale) = stale.filter(|c| c.ended() == Some(CancelReason::QueueDeleted)) {
            let mut st = lock(&s.state);
            if st
                .consumers
                .get(&tag)
                .is_some_and(|(c, _)| Arc::ptr_eq(c, &stale))
            {
                st.consumers.remove(&tag);
            }
        }
        // The tag is checked and taken under one lock: of two concurrent consumes
        // with one tag, one gets 530.
        let shared = {
            let mut st = lock(&s.state);
            // A close since `run` checked would not cancel a consumer added now.
            if let Some(cause) = &st.closed {
                return Err(cause.as_closed());
            }
            if st.consumers.contains_key(&tag) {
                return Err(BrokerError::connection(
                    NOT_ALLOWED,
                    format!("attempt to reuse consumer tag '{tag}'"),
                ));
            }
            let shared = Arc::new(ConsumerShared::new(
                Arc::clone(&tag),
                options.no_ack,
                options.exclusive,
                priority,
                u32::from(st.prefetch),
                Arc::clone(&s.credit),
                Arc::downgrade(&cell),
            ));
            st.consumers
                .insert(Arc::clone(&tag), (Arc::clone(&shared), Arc::clone(&cell)));
            shared
        };
        // The queue checks exclusivity under its lock (403).
        match cell.add_consumer(Arc::clone(&shared)) {
            Ok(()) => {}
            // Cancelled, or its channel closed, meanwhile: the consume happened and
            // ended at once (the canceller already removed it from the channel).
            Err(ConsumerRefused::Ended) => s.check_open()?,
            Err(refused) => {
                lock(&s.state).consumers.remove(&tag);
                return Err(match refused {
                    ConsumerRefused::InExclusiveUse => {
                        in_exclusive_use(&cell.name, &s.vhost().name)
                    }
                    _ => BrokerError::channel(
                        NOT_FOUND,
                        format!("no queue '{}' in vhost '{}'", cell.name, s.vhost().name),
                    ),
                });
            }
        }
        Ok(Consumer {
            shared,
            channel: Arc::clone(s),
            queue_name: Arc::from(&*cell.name),
        })
    }
}

impl Channel {
    /// `basic.qos`: with `global = false`, the prefetch of consumers created from now
    /// on; with `global = true`, a limit shared by all the channel's consumers. 0 is
    /// unlimited. Only deliveries that need an ack count.
    ///
    /// # Errors
    ///
    /// 540 (connection error) for a non-zero `prefetch_size`.
    pub fn qos(
        &self,
        prefetch_size: u32,
        prefetch_count: u16,
        global: bool,
    ) -> Result<(), BrokerError> {
        self.shared.run(|s| {
            if prefetch_size != 0 {
                return Err(BrokerError::connection(
                    NOT_IMPLEMENTED,
                    "prefetch_size!=0 (".to_string() + &prefetch_size.to_string() + ")",
                ));
            }
            if global {
                s.credit.limit.store(u32::from(prefetch_count), Relaxed);
                s.poke_consumed_queues();
            } else {
                lock(&s.state).prefetch = prefetch_count;
            }
            Ok(())
        })
    }

    /// `basic.consume`: subscribes to a queue, or (queue `amq.rabbitmq.reply-to`,
    /// no-ack) to this channel's direct reply-to address.
    ///
    /// # Errors
    ///
    /// 404 (missing queue), 405 (another connection's exclusive queue), 403
    /// (exclusive consume on a queue with consumers or with single active consumer,
    /// or joining a queue with an exclusive consumer), 406 (bad `x-priority`; the
    /// reply-to address consumed with acks or twice), 530 (connection error: the tag
    /// is in use on this channel).
    pub fn consume(&self, queue: &str, options: &ConsumeOptions) -> Result<Consumer, BrokerError> {
        let conn = self.conn_id();
        self.shared.run(|s| {
            if queue == REPLY_TO {
                return s.consume_reply_to(options, |cell| s.subscribe(cell, options));
            }
            let queue = s.queue_name(queue)?;
            s.conn.who().check(Perm::Read, Resource::Queue, &queue)?;
            let cell = s.vhost().queue_for(conn, &queue)?;
            s.subscribe(cell, options)
        })
    }

    /// `basic.cancel`: cancels a consumer; no deliveries reach it after this returns
    /// (its buffered messages go back to the queue); the messages it received stay
    /// unacked on the channel. An unknown tag is fine (returns false).
    ///
    /// # Errors
    ///
    /// Only for a closed channel.
    pub fn cancel(&self, consumer_tag: &str) -> Result<bool, BrokerError> {
        self.shared.run(|s| Ok(s.cancel_consumer(consumer_tag)))
    }
}
