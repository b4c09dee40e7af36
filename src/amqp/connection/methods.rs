//! Channel methods: each client method mapped onto the broker channel's call, and the
//! reply it earns.

use super::{Conn, Failure, Fault, Sub, broker_failure, close};
use crate::amqp::method::{Method, Reply};
use crate::broker::{BrokerError, ConsumeOptions, ExchangeDeclare, QueueDeclare};

impl Conn {
    /// `tx.commit`: the held work is applied; the returns of held mandatory publishes
    /// come before commit-ok, and commit-ok only once the persistent messages it put
    /// in durable queues are on disk (the connection waits: its client does too).
    pub(super) async fn tx_commit(&mut self, channel: u16) -> Result<(), Failure> {
        let ids = (90, 20);
        let (returned, synced) = self
            .channel(channel)?
            .tx_commit_unsynced()
            .map_err(|e| broker_failure(&e, ids))?;
        for r in &returned {
            self.emit_return(channel, r)?;
        }
        if let Some(p) = synced {
            p.await;
        }
        self.emit(channel, &Reply::TxCommitOk)?;
        Ok(())
    }

    pub(super) fn on_method(&mut self, channel: u16, m: Method) -> Result<(), Failure> {
        let ids = m.ids();
        let fail = |e: BrokerError| broker_failure(&e, ids);
        match m {
            Method::ChannelClose { .. } => {
                self.drop_channel(channel)?;
                self.emit(channel, &Reply::ChannelCloseOk)?;
            }
            Method::ChannelCloseOk | Method::FlowOk { .. } | Method::CancelOk { .. } => {}
            Method::Flow { active: true } => self.emit(channel, &Reply::FlowOk { active: true })?,
            Method::Flow { active: false } => {
                return Err(close(540, "NOT_IMPLEMENTED - active=false", ids).into());
            }
            Method::AccessRequest { .. } => self.emit(channel, &Reply::AccessRequestOk)?,
            Method::ExchangeDeclare {
                exchange,
                kind,
                passive,
                durable,
                auto_delete,
                internal,
                nowait,
                arguments,
            } => {
                let options = ExchangeDeclare {
                    passive,
                    durable,
                    auto_delete,
                    internal,
                    arguments,
                };
                self.channel(channel)?
                    .exchange_declare(&exchange, &kind, &options)
                    .map_err(fail)?;
                self.reply(channel, nowait, &Reply::ExchangeDeclareOk)?;
            }
            Method::ExchangeDelete {
                exchange,
                if_unused,
                nowait,
            } => {
                self.channel(channel)?
                    .exchange_delete(&exchange, if_unused)
                    .map_err(fail)?;
                self.reply(channel, nowait, &Reply::ExchangeDeleteOk)?;
            }
            Method::ExchangeBind {
                destination,
                source,
                routing_key,
                nowait,
                arguments,
            } => {
                self.channel(channel)?
                    .exchange_bind(&destination, &source, &routing_key, &arguments)
                    .map_err(fail)?;
                self.reply(channel, nowait, &Reply::ExchangeBindOk)?;
            }
            Method::ExchangeUnbind {
                destination,
                source,
                routing_key,
                nowait,
                arguments,
            } => {
                self.channel(channel)?
                    .exchange_unbind(&destination, &source, &routing_key, &arguments)
                    .map_err(fail)?;
                self.reply(channel, nowait, &Reply::ExchangeUnbindOk)?;
            }
            Method::QueueDeclare {
                queue,
                passive,
                durable,
                exclusive,
                auto_delete,
                nowait,
                arguments,
            } => {
                let options = QueueDeclare {
                    passive,
                    durable,
                    exclusive,
                    auto_delete,
                    arguments,
                };
                let ok = self
                    .channel(channel)?
                    .queue_declare(&queue, &options)
                    .map_err(fail)?;
                let reply = Reply::QueueDeclareOk {
                    queue: ok.queue,
                    message_count: ok.message_count,
                    consumer_count: ok.consumer_count,
                };
                self.reply(channel, nowait, &reply)?;
            }
            Method::QueueBind {
                queue,
                exchange,
                routing_key,
                nowait,
                arguments,
            } => {
                self.channel(channel)?
                    .queue_bind(&queue, &exchange, &routing_key, &arguments)
                    .map_err(fail)?;
                self.reply(channel, nowait, &Reply::QueueBindOk)?;
            }
            Method::QueueUnbind {
                queue,
                exchange,
                routing_key,
                arguments,
            } => {
                self.channel(channel)?
                    .queue_unbind(&queue, &exchange, &routing_key, &arguments)
                    .map_err(fail)?;
                self.emit(channel, &Reply::QueueUnbindOk)?;
            }
            Method::QueuePurge { queue, nowait } => {
                let message_count = self.channel(channel)?.queue_purge(&queue).map_err(fail)?;
                self.reply(channel, nowait, &Reply::QueuePurgeOk { message_count })?;
            }
            Method::QueueDelete {
                queue,
                if_unused,
                if_empty,
                nowait,
            } => {
                let message_count = self
                    .channel(channel)?
                    .queue_delete(&queue, if_unused, if_empty)
                    .map_err(fail)?;
                // Its consumers on this connection hear of it first (RabbitMQ 3.10.8
                // sends basic.cancel before delete-ok).
                self.take_ready()?;
                self.reply(channel, nowait, &Reply::QueueDeleteOk { message_count })?;
            }
            Method::Qos {
                prefetch_size,
                prefetch_count,
                global,
            } => {
                self.channel(channel)?
                    .qos(prefetch_size, prefetch_count, global)
                    .map_err(fail)?;
                self.emit(channel, &Reply::QosOk)?;
            }
            Method::Consume {
                queue,
                consumer_tag,
                no_ack,
                exclusive,
                nowait,
                arguments,
                ..
            } => {
                if consumer_tag.len() > 255 {
                    return Err(close(501, "FRAME_ERROR - consumer tag too long", ids).into());
                }
                let options = ConsumeOptions {
                    tag: consumer_tag,
                    no_ack,
                    exclusive,
                    arguments,
                };
                let consumer = self
                    .channel(channel)?
                    .consume(&queue, &options)
                    .map_err(fail)?;
                let tag = consumer.tag().to_owned();
                self.subs.push(Sub {
                    channel,
                    tag: tag.clone(),
                    consumer,
                });
                self.reply(channel, nowait, &Reply::ConsumeOk { consumer_tag: tag })?;
            }
            Method::Cancel {
                consumer_tag,
                nowait,
            } => {
                self.subs
                    .retain(|s| !(s.channel == channel && s.tag == consumer_tag));
                self.channel(channel)?.cancel(&consumer_tag).map_err(fail)?;
                self.reply(channel, nowait, &Reply::CancelOk { consumer_tag })?;
            }
            Method::Get { queue, no_ack } => {
                match self.channel(channel)?.get(&queue, no_ack).map_err(fail)? {
                    Some(ok) => {
                        let d = &ok.delivery;
                        let reply = Reply::GetOk {
                            delivery_tag: d.delivery_tag(),
                            redelivered: d.redelivered(),
                            exchange: d.exchange().to_owned(),
                            routing_key: d.routing_key().to_owned(),
                            message_count: ok.message_count,
                        };
                        self.emit_content(channel, &reply, d.message())?;
                    }
                    None => self.emit(channel, &Reply::GetEmpty)?,
                }
            }
            Method::Ack {
                delivery_tag,
                multiple,
            } => self
                .channel(channel)?
                .ack(delivery_tag, multiple)
                .map_err(fail)?,
            Method::Nack {
                delivery_tag,
                multiple,
                requeue,
            } => {
                self.channel(channel)?
                    .nack(delivery_tag, multiple, requeue)
                    .map_err(fail)?;
            }
            Method::Reject {
                delivery_tag,
                requeue,
            } => self
                .channel(channel)?
                .reject(delivery_tag, requeue)
                .map_err(fail)?,
            Method::RecoverAsync { requeue } => {
                self.channel(channel)?.recover(requeue).map_err(fail)?
            }
            Method::Recover { requeue } => {
                self.channel(channel)?.recover(requeue).map_err(fail)?;
                self.emit(channel, &Reply::RecoverOk)?;
            }
            Method::ConfirmSelect { nowait } => {
                self.channel(channel)?.confirm_select().map_err(fail)?;
                self.reply(channel, nowait, &Reply::ConfirmSelectOk)?;
            }
            Method::TxSelect => {
                self.channel(channel)?.tx_select().map_err(fail)?;
                self.emit(channel, &Reply::TxSelectOk)?;
            }
            Method::TxCommit => {
                return Err(close(541, "INTERNAL_ERROR - unexpected method routing", ids).into());
            }
            Method::TxRollback => {
                self.channel(channel)?.tx_rollback().map_err(fail)?;
                self.emit(channel, &Reply::TxRollbackOk)?;
            }
            Method::Publish(_) | Method::ChannelOpen => {
                // The assembler takes publishes and the caller handles channel.open.
                return Err(close(541, "INTERNAL_ERROR - unexpected method routing", ids).into());
            }
            Method::StartOk { .. }
            | Method::SecureOk { .. }
            | Method::TuneOk { .. }
            | Method::ConnectionOpen { .. }
            | Method::ConnectionClose { .. }
            | Method::ConnectionCloseOk
            | Method::UpdateSecret { .. }
            | Method::ServerOnly { .. } => {
                return Err(close(
                    503,
                    format!(
                        "COMMAND_INVALID - method {}.{} not valid on channel {channel}",
                        ids.0, ids.1
                    ),
                    ids,
                )
                .into());
            }
        }
        Ok(())
    }

    fn reply(&mut self, channel: u16, nowait: bool, reply: &Reply) -> Result<(), Fault> {
        if nowait {
            Ok(())
        } else {
            self.emit(channel, reply)
        }
    }
}
