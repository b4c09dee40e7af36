//! Client methods off the wire: each `amq-protocol` class and method mapped onto the
//! server's [`Method`]; methods only a server sends become `ServerOnly`.

use amq_protocol::protocol::{
    AMQPClass, access, basic, channel, confirm, connection, exchange, queue, tx,
};

use amq_protocol::types::ShortString;

use super::table_from_wire;
use crate::amqp::method::{Method, Publish};

pub(super) fn method_from_wire(class: AMQPClass) -> Method {
    let ids = (class.get_amqp_class_id(), class.get_amqp_method_id());
    let s = |s: ShortString| String::from(s);
    match class {
        AMQPClass::Connection(m) => match m {
            connection::AMQPMethod::StartOk(m) => Method::StartOk {
                client_properties: table_from_wire(&m.client_properties),
                mechanism: s(m.mechanism),
                response: m.response.as_bytes().to_vec(),
                locale: s(m.locale),
            },
            connection::AMQPMethod::SecureOk(m) => Method::SecureOk {
                response: m.response.as_bytes().to_vec(),
            },
            connection::AMQPMethod::TuneOk(m) => Method::TuneOk {
                channel_max: m.channel_max,
                frame_max: m.frame_max,
                heartbeat: m.heartbeat,
            },
            connection::AMQPMethod::Open(m) => Method::ConnectionOpen {
                vhost: s(m.virtual_host),
            },
            connection::AMQPMethod::Close(m) => Method::ConnectionClose {
                reply_code: m.reply_code,
                reply_text: s(m.reply_text),
                class_id: m.class_id,
                method_id: m.method_id,
            },
            connection::AMQPMethod::CloseOk(_) => Method::ConnectionCloseOk,
            connection::AMQPMethod::UpdateSecret(m) => Method::UpdateSecret {
                new_secret: m.new_secret.as_bytes().to_vec(),
                reason: s(m.reason),
            },
            _ => server_only(ids),
        },
        AMQPClass::Channel(m) => match m {
            channel::AMQPMethod::Open(_) => Method::ChannelOpen,
            channel::AMQPMethod::Flow(m) => Method::Flow { active: m.active },
            channel::AMQPMethod::FlowOk(m) => Method::FlowOk { active: m.active },
            channel::AMQPMethod::Close(m) => Method::ChannelClose {
                reply_code: m.reply_code,
                reply_text: s(m.reply_text),
                class_id: m.class_id,
                method_id: m.method_id,
            },
            channel::AMQPMethod::CloseOk(_) => Method::ChannelCloseOk,
            _ => server_only(ids),
        },
        AMQPClass::Access(m) => match m {
            access::AMQPMethod::Request(m) => Method::AccessRequest { realm: s(m.realm) },
            _ => server_only(ids),
        },
        AMQPClass::Exchange(m) => match m {
            exchange::AMQPMethod::Declare(m) => Method::ExchangeDeclare {
                exchange: s(m.exchange),
                kind: s(m.kind),
                passive: m.passive,
                durable: m.durable,
                auto_delete: m.auto_delete,
                internal: m.internal,
                nowait: m.nowait,
                arguments: table_from_wire(&m.arguments),
            },
            exchange::AMQPMethod::Delete(m) => Method::ExchangeDelete {
                exchange: s(m.exchange),
                if_unused: m.if_unused,
                nowait: m.nowait,
            },
            exchange::AMQPMethod::Bind(m) => Method::ExchangeBind {
                destination: s(m.destination),
                source: s(m.source),
                routing_key: s(m.routing_key),
                nowait: m.nowait,
                arguments: table_from_wire(&m.arguments),
            },
            exchange::AMQPMethod::Unbind(m) => Method::ExchangeUnbind {
                destination: s(m.destination),
                source: s(m.source),
                routing_key: s(m.routing_key),
                nowait: m.nowait,
                arguments: table_from_wire(&m.arguments),
            },
            _ => server_only(ids),
        },
        AMQPClass::Queue(m) => match m {
            queue::AMQPMethod::Declare(m) => Method::QueueDeclare {
                queue: s(m.queue),
                passive: m.passive,
                durable: m.durable,
                exclusive: m.exclusive,
                auto_delete: m.auto_delete,
                nowait: m.nowait,
                arguments: table_from_wire(&m.arguments),
            },
            queue::AMQPMethod::Bind(m) => Method::QueueBind {
                queue: s(m.queue),
                exchange: s(m.exchange),
                routing_key: s(m.routing_key),
                nowait: m.nowait,
                arguments: table_from_wire(&m.arguments),
            },
            queue::AMQPMethod::Purge(m) => Method::QueuePurge {
                queue: s(m.queue),
                nowait: m.nowait,
            },
            queue::AMQPMethod::Delete(m) => Method::QueueDelete {
                queue: s(m.queue),
                if_unused: m.if_unused,
                if_empty: m.if_empty,
                nowait: m.nowait,
            },
            queue::AMQPMethod::Unbind(m) => Method::QueueUnbind {
                queue: s(m.queue),
                exchange: s(m.exchange),
                routing_key: s(m.routing_key),
                arguments: table_from_wire(&m.arguments),
            },
            _ => server_only(ids),
        },
        AMQPClass::Basic(m) => match m {
            basic::AMQPMethod::Consume(m) => Method::Consume {
                queue: s(m.queue),
                consumer_tag: s(m.consumer_tag),
                no_local: m.no_local,
                no_ack: m.no_ack,
                exclusive: m.exclusive,
                nowait: m.nowait,
                arguments: table_from_wire(&m.arguments),
            },
            basic::AMQPMethod::Cancel(m) => Method::Cancel {
                consumer_tag: s(m.consumer_tag),
                nowait: m.nowait,
            },
            basic::AMQPMethod::CancelOk(m) => Method::CancelOk {
                consumer_tag: s(m.consumer_tag),
            },
            basic::AMQPMethod::Publish(m) => Method::Publish(Publish {
                exchange: s(m.exchange),
                routing_key: s(m.routing_key),
                mandatory: m.mandatory,
                immediate: m.immediate,
            }),
            basic::AMQPMethod::Get(m) => Method::Get {
                queue: s(m.queue),
                no_ack: m.no_ack,
            },
            basic::AMQPMethod::Ack(m) => Method::Ack {
                delivery_tag: m.delivery_tag,
                multiple: m.multiple,
            },
            basic::AMQPMethod::Reject(m) => Method::Reject {
                delivery_tag: m.delivery_tag,
                requeue: m.requeue,
            },
            basic::AMQPMethod::RecoverAsync(m) => Method::RecoverAsync { requeue: m.requeue },
            basic::AMQPMethod::Recover(m) => Method::Recover { requeue: m.requeue },
            basic::AMQPMethod::Nack(m) => Method::Nack {
                delivery_tag: m.delivery_tag,
                multiple: m.multiple,
                requeue: m.requeue,
            },
            _ => server_only(ids),
        },
        AMQPClass::Tx(m) => match m {
            tx::AMQPMethod::Select(_) => Method::TxSelect,
            tx::AMQPMethod::Commit(_) => Method::TxCommit,
            tx::AMQPMethod::Rollback(_) => Method::TxRollback,
            _ => server_only(ids),
        },
        AMQPClass::Confirm(m) => match m {
            confirm::AMQPMethod::Select(m) => Method::ConfirmSelect { nowait: m.nowait },
            confirm::AMQPMethod::SelectOk(_) => server_only(ids),
        },
    }
}

fn server_only((class_id, method_id): (u16, u16)) -> Method {
    Method::ServerOnly {
        class_id,
        method_id,
    }
}
