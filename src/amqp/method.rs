//! The AMQP 0-9-1 methods the server reads and writes, as plain Rust values.
//!
//! These types keep the wire codec's own types (`amq-protocol`) inside
//! [`codec`](super::codec): the rest of the server matches on [`Method`] and builds
//! [`Reply`] values. Names and strings are `String`s, arguments and headers are the
//! crate's [`FieldTable`].

use crate::FieldTable;

/// The 14 basic content properties: the broker's own type.
pub(crate) use crate::broker::Properties;

/// A content header frame's payload.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct ContentHeader {
    /// The content class; only 60 (basic) carries content.
    pub(crate) class_id: u16,
    /// Total body size announced by the header.
    pub(crate) body_size: u64,
    pub(crate) properties: Properties,
}

/// `basic.publish` arguments: what a content assembler carries until the body is in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Publish {
    pub(crate) exchange: String,
    pub(crate) routing_key: String,
    pub(crate) mandatory: bool,
    pub(crate) immediate: bool,
}

/// A method a client sends (client-to-server direction of every class).
#[allow(missing_docs)] // field names are the spec's
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Method {
    StartOk {
        client_properties: FieldTable,
        mechanism: String,
        response: Vec<u8>,
        locale: String,
    },
    SecureOk {
        response: Vec<u8>,
    },
    TuneOk {
        channel_max: u16,
        frame_max: u32,
        heartbeat: u16,
    },
    ConnectionOpen {
        vhost: String,
    },
    ConnectionClose {
        reply_code: u16,
        reply_text: String,
        class_id: u16,
        method_id: u16,
    },
    ConnectionCloseOk,
    UpdateSecret {
        new_secret: Vec<u8>,
        reason: String,
    },
    ChannelOpen,
    Flow {
        active: bool,
    },
    FlowOk {
        active: bool,
    },
    ChannelClose {
        reply_code: u16,
        reply_text: String,
        class_id: u16,
        method_id: u16,
    },
    ChannelCloseOk,
    AccessRequest {
        realm: String,
    },
    ExchangeDeclare {
        exchange: String,
        kind: String,
        passive: bool,
        durable: bool,
        auto_delete: bool,
        internal: bool,
        nowait: bool,
        arguments: FieldTable,
    },
    ExchangeDelete {
        exchange: String,
        if_unused: bool,
        nowait: bool,
    },
    ExchangeBind {
        destination: String,
        source: String,
        routing_key: String,
        nowait: bool,
        arguments: FieldTable,
    },
    ExchangeUnbind {
        destination: String,
        source: String,
        routing_key: String,
        nowait: bool,
        arguments: FieldTable,
    },
    QueueDeclare {
        queue: String,
        passive: bool,
        durable: bool,
        exclusive: bool,
        auto_delete: bool,
        nowait: bool,
        arguments: FieldTable,
    },
    QueueBind {
        queue: String,
        exchange: String,
        routing_key: String,
        nowait: bool,
        arguments: FieldTable,
    },
    QueuePurge {
        queue: String,
        nowait: bool,
    },
    QueueDelete {
        queue: String,
        if_unused: bool,
        if_empty: bool,
        nowait: bool,
    },
    QueueUnbind {
        queue: String,
        exchange: String,
        routing_key: String,
        arguments: FieldTable,
    },
    Qos {
        prefetch_size: u32,
        prefetch_count: u16,
        global: bool,
    },
    Consume {
        queue: String,
        consumer_tag: String,
        no_local: bool,
        no_ack: bool,
        exclusive: bool,
        nowait: bool,
        arguments: FieldTable,
    },
    Cancel {
        consumer_tag: String,
        nowait: bool,
    },
    /// The client's answer to a server-sent `basic.cancel`.
    CancelOk {
        consumer_tag: String,
    },
    Publish(Publish),
    Get {
        queue: String,
        no_ack: bool,
    },
    Ack {
        delivery_tag: u64,
        multiple: bool,
    },
    Reject {
        delivery_tag: u64,
        requeue: bool,
    },
    RecoverAsync {
        requeue: bool,
    },
    Recover {
        requeue: bool,
    },
    Nack {
        delivery_tag: u64,
        multiple: bool,
        requeue: bool,
    },
    TxSelect,
    TxCommit,
    TxRollback,
    ConfirmSelect {
        nowait: bool,
    },
    /// A well-formed method that only a server may send (e.g. `basic.deliver`).
    ServerOnly {
        class_id: u16,
        method_id: u16,
    },
}

impl Method {
    /// The method's `(class id, method id)`, as Close frames report the failing method.
    pub(crate) fn ids(&self) -> (u16, u16) {
        match self {
            Method::StartOk { .. } => (10, 11),
            Method::SecureOk { .. } => (10, 21),
            Method::TuneOk { .. } => (10, 31),
            Method::ConnectionOpen { .. } => (10, 40),
            Method::ConnectionClose { .. } => (10, 50),
            Method::ConnectionCloseOk => (10, 51),
            Method::UpdateSecret { .. } => (10, 70),
            Method::ChannelOpen => (20, 10),
            Method::Flow { .. } => (20, 20),
            Method::FlowOk { .. } => (20, 21),
            Method::ChannelClose { .. } => (20, 40),
            Method::ChannelCloseOk => (20, 41),
            Method::AccessRequest { .. } => (30, 10),
            Method::ExchangeDeclare { .. } => (40, 10),
            Method::ExchangeDelete { .. } => (40, 20),
            Method::ExchangeBind { .. } => (40, 30),
            Method::ExchangeUnbind { .. } => (40, 40),
            Method::QueueDeclare { .. } => (50, 10),
            Method::QueueBind { .. } => (50, 20),
            Method::QueuePurge { .. } => (50, 30),
            Method::QueueDelete { .. } => (50, 40),
            Method::QueueUnbind { .. } => (50, 50),
            Method::Qos { .. } => (60, 10),
            Method::Consume { .. } => (60, 20),
            Method::Cancel { .. } => (60, 30),
            Method::CancelOk { .. } => (60, 31),
            Method::Publish(_) => (60, 40),
            Method::Get { .. } => (60, 70),
            Method::Ack { .. } => (60, 80),
            Method::Reject { .. } => (60, 90),
            Method::RecoverAsync { .. } => (60, 100),
            Method::Recover { .. } => (60, 110),
            Method::Nack { .. } => (60, 120),
            Method::TxSelect => (90, 10),
            Method::TxCommit => (90, 20),
            Method::TxRollback => (90, 30),
            Method::ConfirmSelect { .. } => (85, 10),
            Method::ServerOnly {
                class_id,
                method_id,
            } => (*class_id, *method_id),
        }
    }
}

/// A method the server sends.
#[allow(missing_docs)] // field names are the spec's
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Reply {
    Start {
        server_properties: FieldTable,
        mechanisms: String,
        locales: String,
    },
    Tune {
        channel_max: u16,
        frame_max: u32,
        heartbeat: u16,
    },
    OpenOk,
    ConnectionClose {
        reply_code: u16,
        reply_text: String,
        class_id: u16,
        method_id: u16,
    },
    ConnectionCloseOk,
    Blocked {
        reason: String,
    },
    Unblocked,
    UpdateSecretOk,
    ChannelOpenOk,
    FlowOk {
        active: bool,
    },
    ChannelClose {
        reply_code: u16,
        reply_text: String,
        class_id: u16,
        method_id: u16,
    },
    ChannelCloseOk,
    AccessRequestOk,
    ExchangeDeclareOk,
    ExchangeDeleteOk,
    ExchangeBindOk,
    ExchangeUnbindOk,
    QueueDeclareOk {
        queue: String,
        message_count: u32,
        consumer_count: u32,
    },
    QueueBindOk,
    QueuePurgeOk {
        message_count: u32,
    },
    QueueDeleteOk {
        message_count: u32,
    },
    QueueUnbindOk,
    QosOk,
    ConsumeOk {
        consumer_tag: String,
    },
    Cancel {
        consumer_tag: String,
    },
    CancelOk {
        consumer_tag: String,
    },
    Return {
        reply_code: u16,
        reply_text: String,
        exchange: String,
        routing_key: String,
    },
    GetOk {
        delivery_tag: u64,
        redelivered: bool,
        exchange: String,
        routing_key: String,
        message_count: u32,
    },
    GetEmpty,
    Ack {
        delivery_tag: u64,
        multiple: bool,
    },
    Nack {
        delivery_tag: u64,
        multiple: bool,
        requeue: bool,
    },
    RecoverOk,
    ConfirmSelectOk,
    TxSelectOk,
    TxCommitOk,
    TxRollbackOk,
}
