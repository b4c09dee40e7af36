//! Server replies onto the wire: each [`Reply`] as the `amq-protocol` class and method
//! it is.

use amq_protocol::protocol::{
    AMQPClass, access, basic, channel, confirm, connection, exchange, queue, tx,
};

use amq_protocol::types::LongString;

use super::{short, table_to_wire};
use crate::amqp::method::Reply;

pub(super) fn reply_to_wire(r: &Reply) -> AMQPClass {
    use AMQPClass as C;
    match r {
        Reply::Start {
            server_properties,
            mechanisms,
            locales,
        } => C::Connection(connection::AMQPMethod::Start(connection::Start {
            version_major: 0,
            version_minor: 9,
            server_properties: table_to_wire(server_properties),
            mechanisms: LongString::from(mechanisms.as_bytes()),
            locales: LongString::from(locales.as_bytes()),
        })),
        Reply::Tune {
            channel_max,
            frame_max,
            heartbeat,
        } => C::Connection(connection::AMQPMethod::Tune(connection::Tune {
            channel_max: *channel_max,
            frame_max: *frame_max,
            heartbeat: *heartbeat,
        })),
        Reply::OpenOk => C::Connection(connection::AMQPMethod::OpenOk(connection::OpenOk {})),
        Reply::ConnectionClose {
            reply_code,
            reply_text,
            class_id,
            method_id,
        } => C::Connection(connection::AMQPMethod::Close(connection::Close {
            reply_code: *reply_code,
            reply_text: short(reply_text),
            class_id: *class_id,
            method_id: *method_id,
        })),
        Reply::ConnectionCloseOk => {
            C::Connection(connection::AMQPMethod::CloseOk(connection::CloseOk {}))
        }
        Reply::Blocked { reason } => {
            C::Connection(connection::AMQPMethod::Blocked(connection::Blocked {
                reason: short(reason),
            }))
        }
        Reply::Unblocked => {
            C::Connection(connection::AMQPMethod::Unblocked(connection::Unblocked {}))
        }
        Reply::UpdateSecretOk => C::Connection(connection::AMQPMethod::UpdateSecretOk(
            connection::UpdateSecretOk {},
        )),
        Reply::ChannelOpenOk => C::Channel(channel::AMQPMethod::OpenOk(channel::OpenOk {})),
        Reply::FlowOk { active } => C::Channel(channel::AMQPMethod::FlowOk(channel::FlowOk {
            active: *active,
        })),
        Reply::ChannelClose {
            reply_code,
            reply_text,
            class_id,
            method_id,
        } => C::Channel(channel::AMQPMethod::Close(channel::Close {
            reply_code: *reply_code,
            reply_text: short(reply_text),
            class_id: *class_id,
            method_id: *method_id,
        })),
        Reply::ChannelCloseOk => C::Channel(channel::AMQPMethod::CloseOk(channel::CloseOk {})),
        Reply::AccessRequestOk => C::Access(access::AMQPMethod::RequestOk(access::RequestOk {})),
        Reply::ExchangeDeclareOk => {
            C::Exchange(exchange::AMQPMethod::DeclareOk(exchange::DeclareOk {}))
        }
        Reply::ExchangeDeleteOk => {
            C::Exchange(exchange::AMQPMethod::DeleteOk(exchange::DeleteOk {}))
        }
        Reply::ExchangeBindOk => C::Exchange(exchange::AMQPMethod::BindOk(exchange::BindOk {})),
        Reply::ExchangeUnbindOk => {
            C::Exchange(exchange::AMQPMethod::UnbindOk(exchange::UnbindOk {}))
        }
        Reply::QueueDeclareOk {
            queue: q,
            message_count,
            consumer_count,
        } => C::Queue(queue::AMQPMethod::DeclareOk(queue::DeclareOk {
            queue: short(q),
            message_count: *message_count,
            consumer_count: *consumer_count,
        })),
        Reply::QueueBindOk => C::Queue(queue::AMQPMethod::BindOk(queue::BindOk {})),
        Reply::QueuePurgeOk { message_count } => {
            C::Queue(queue::AMQPMethod::PurgeOk(queue::PurgeOk {
                message_count: *message_count,
            }))
        }
        Reply::QueueDeleteOk { message_count } => {
            C::Queue(queue::AMQPMethod::DeleteOk(queue::DeleteOk {
                message_count: *message_count,
            }))
        }
        Reply::QueueUnbindOk => C::Queue(queue::AMQPMethod::UnbindOk(queue::UnbindOk {})),
        Reply::QosOk => C::Basic(basic::AMQPMethod::QosOk(basic::QosOk {})),
        Reply::ConsumeOk { consumer_tag } => {
            C::Basic(basic::AMQPMethod::ConsumeOk(basic::ConsumeOk {
                consumer_tag: short(consumer_tag),
            }))
        }
        Reply::Cancel { consumer_tag } => C::Basic(basic::AMQPMethod::Cancel(basic::Cancel {
            consumer_tag: short(consumer_tag),
            nowait: false,
        })),
        Reply::CancelOk { consumer_tag } => {
            C::Basic(basic::AMQPMethod::CancelOk(basic::CancelOk {
                consumer_tag: short(consumer_tag),
            }))
        }
        Reply::Return {
            reply_code,
            reply_text,
            exchange: e,
            routing_key,
        } => C::Basic(basic::AMQPMethod::Return(basic::Return {
            reply_code: *reply_code,
            reply_text: short(reply_text),
            exchange: short(e),
            routing_key: short(routing_key),
        })),
        Reply::GetOk {
            delivery_tag,
            redelivered,
            exchange: e,
            routing_key,
            message_count,
        } => C::Basic(basic::AMQPMethod::GetOk(basic::GetOk {
            delivery_tag: *delivery_tag,
            redelivered: *redelivered,
            exchange: short(e),
            routing_key: short(routing_key),
            message_count: *message_count,
        })),
        Reply::GetEmpty => C::Basic(basic::AMQPMethod::GetEmpty(basic::GetEmpty {})),
        Reply::Ack {
            delivery_tag,
            multiple,
        } => C::Basic(basic::AMQPMethod::Ack(basic::Ack {
            delivery_tag: *delivery_tag,
            multiple: *multiple,
        })),
        Reply::Nack {
            delivery_tag,
            multiple,
            requeue,
        } => C::Basic(basic::AMQPMethod::Nack(basic::Nack {
            delivery_tag: *delivery_tag,
            multiple: *multiple,
            requeue: *requeue,
        })),
        Reply::RecoverOk => C::Basic(basic::AMQPMethod::RecoverOk(basic::RecoverOk {})),
        Reply::ConfirmSelectOk => C::Confirm(confirm::AMQPMethod::SelectOk(confirm::SelectOk {})),
        Reply::TxSelectOk => C::Tx(tx::AMQPMethod::SelectOk(tx::SelectOk {})),
        Reply::TxCommitOk => C::Tx(tx::AMQPMethod::CommitOk(tx::CommitOk {})),
        Reply::TxRollbackOk => C::Tx(tx::AMQPMethod::RollbackOk(tx::RollbackOk {})),
    }
}
