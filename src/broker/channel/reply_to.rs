//! Direct reply-to (CONFORMANCE D11), RabbitMQ's RPC shortcut: a channel consumes the
//! pseudo-queue `amq.rabbitmq.reply-to` (no-ack only), then publishes requests with
//! `reply_to = amq.rabbitmq.reply-to`; the broker rewrites that to
//! `amq.rabbitmq.reply-to.<token>`, and a reply published to the default exchange
//! with that key goes straight to the consumer.
//!
//! Behind the consumer is a pseudo-queue named by the token, exclusive to the
//! consumer's connection and deleted with the consumer. Only the default exchange
//! reaches it: declares, binds, gets, purges, deletes and listings do not see it. A
//! reply to a token whose consumer is gone is unroutable (dropped, or returned when
//! mandatory).

use std::sync::Arc;

use super::{ChannelShared, Consumer};
use crate::broker::error::{BrokerError, PRECONDITION_FAILED};
use crate::broker::message::Message;
use crate::broker::options::ConsumeOptions;
use crate::broker::queue::QueueCell;
use crate::broker::sync::lock;

/// The pseudo-queue a channel consumes for direct reply-to, and the `reply_to` a
/// publish names it by.
pub(crate) const REPLY_TO: &str = "amq.rabbitmq.reply-to";

impl ChannelShared {
    /// `basic.consume` of [`REPLY_TO`]: makes the channel's pseudo-queue and
    /// consumes it (through `consume`, which subscribes to a queue).
    pub(super) fn consume_reply_to(
        self: &Arc<Self>,
        options: &ConsumeOptions,
        consume: impl FnOnce(Arc<QueueCell>) -> Result<Consumer, BrokerError>,
    ) -> Result<Consumer, BrokerError> {
        if !options.no_ack {
            return Err(BrokerError::channel(
                PRECONDITION_FAILED,
                "reply consumer cannot acknowledge",
            ));
        }
        if lock(&self.state).reply_queue.is_some() {
            return Err(BrokerError::channel(
                PRECONDITION_FAILED,
                "reply consumer already set",
            ));
        }
        let cell = self.vhost().reply_to_queue(self.conn.id);
        let name: Arc<str> = Arc::from(&*cell.name);
        match consume(Arc::clone(&cell)) {
            Ok(consumer) => {
                lock(&self.state).reply_queue = Some(name);
                Ok(consumer)
            }
            Err(e) => {
                self.vhost().delete_queue_cell(&cell);
                Err(e)
            }
        }
    }

    /// Rewrites a `reply_to` of [`REPLY_TO`] to this channel's pseudo-queue.
    ///
    /// # Errors
    ///
    /// 406 when the channel does not consume [`REPLY_TO`].
    pub(super) fn rewrite_reply_to(&self, message: &mut Message) -> Result<(), BrokerError> {
        if message.properties.reply_to.as_deref() != Some(REPLY_TO) {
            return Ok(());
        }
        match &lock(&self.state).reply_queue {
            Some(name) => {
                message.properties.reply_to = Some(name.to_string());
                Ok(())
            }
            None => Err(BrokerError::channel(
                PRECONDITION_FAILED,
                "fast reply consumer does not exist",
            )),
        }
    }

    /// Forgets the reply consumer when the consumer of queue `name` is cancelled.
    pub(super) fn forget_reply_queue(&self, name: &str) {
        let mut st = lock(&self.state);
        if st.reply_queue.as_deref() == Some(name) {
            st.reply_queue = None;
        }
    }
}
