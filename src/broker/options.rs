//! The arguments and results of channel methods.

use super::channel::Delivery;
use super::message::Message;
use crate::FieldTable;

/// `exchange.declare` options.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ExchangeDeclare {
    /// Only check that the exchange exists (404 if not).
    pub passive: bool,
    /// Survives a restart of a broker with a data directory
    /// ([`BrokerBuilder::data_dir`](super::BrokerBuilder::data_dir)).
    pub durable: bool,
    /// Deleted when its last binding as a source goes.
    pub auto_delete: bool,
    /// Only reachable through exchange-to-exchange bindings.
    pub internal: bool,
    /// Arguments; the broker reads `alternate-exchange`.
    pub arguments: FieldTable,
}

impl ExchangeDeclare {
    /// Passive: check that the exchange exists.
    pub fn passive() -> ExchangeDeclare {
        ExchangeDeclare {
            passive: true,
            ..ExchangeDeclare::default()
        }
    }
}

/// `queue.declare` options.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct QueueDeclare {
    /// Only check that the queue exists (404 if not) and read its counts.
    pub passive: bool,
    /// With a data directory ([`BrokerBuilder::data_dir`](super::BrokerBuilder::data_dir)),
    /// the queue (unless exclusive or auto-delete) and its persistent messages
    /// survive a restart.
    pub durable: bool,
    /// Owned by the declaring connection and deleted when it closes.
    pub exclusive: bool,
    /// Deleted when its last consumer goes (if it ever had one).
    pub auto_delete: bool,
    /// Arguments: `x-message-ttl`, `x-expires`, `x-max-length`, `x-max-length-bytes`,
    /// `x-overflow`, `x-dead-letter-exchange`, `x-dead-letter-routing-key`,
    /// `x-max-priority`, `x-single-active-consumer`, `x-queue-type` (`classic`, or
    /// `quorum` with `x-delivery-limit`).
    pub arguments: FieldTable,
}

impl QueueDeclare {
    /// Passive: check that the queue exists and read its counts.
    pub fn passive() -> QueueDeclare {
        QueueDeclare {
            passive: true,
            ..QueueDeclare::default()
        }
    }

    /// Exclusive (and auto-delete), as clients declare temporary reply queues.
    pub fn exclusive() -> QueueDeclare {
        QueueDeclare {
            exclusive: true,
            auto_delete: true,
            ..QueueDeclare::default()
        }
    }
}

/// `queue.declare-ok`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueueDeclareOk {
    /// The queue's name (generated for an empty name).
    pub queue: String,
    /// Ready messages.
    pub message_count: u32,
    /// Consumers.
    pub consumer_count: u32,
}

/// `basic.consume` options.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ConsumeOptions {
    /// The consumer tag; empty: the broker generates one (`amq.ctag-...`).
    pub tag: String,
    /// Deliveries need no acknowledgement (and do not count against prefetch).
    pub no_ack: bool,
    /// The only consumer of the queue.
    pub exclusive: bool,
    /// Arguments; the broker reads `x-priority`.
    pub arguments: FieldTable,
}

impl ConsumeOptions {
    /// No-ack consumption.
    pub fn no_ack() -> ConsumeOptions {
        ConsumeOptions {
            no_ack: true,
            ..ConsumeOptions::default()
        }
    }
}

/// `basic.publish` flags.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PublishOptions {
    /// Return the message if it reaches no queue.
    pub mandatory: bool,
    /// Not supported (as RabbitMQ): 540.
    pub immediate: bool,
}

impl PublishOptions {
    /// Mandatory publishing.
    pub fn mandatory() -> PublishOptions {
        PublishOptions {
            mandatory: true,
            immediate: false,
        }
    }
}

/// An unroutable mandatory message, given back (`basic.return`).
#[derive(Debug, Clone, PartialEq)]
pub struct Returned {
    /// 312 NO_ROUTE.
    pub reply_code: u16,
    /// `NO_ROUTE`.
    pub reply_text: String,
    /// The exchange it was published to.
    pub exchange: String,
    /// The routing key it was published with.
    pub routing_key: String,
    /// The message, with its original properties.
    pub message: Message,
}

/// What a publish did. Routing is synchronous: when `publish` returns, the message is
/// in every queue it reached, and in confirm mode its confirm is decided.
#[derive(Debug, Clone, PartialEq)]
pub struct Published {
    /// The publish sequence number in confirm mode (from 1 per channel).
    pub seq: Option<u64>,
    /// The confirm: true (ack) unless a queue refused the message
    /// (`reject-publish`). Unroutable messages are acked (after their return).
    pub ack: bool,
    /// How many queues the message reached (refusing queues included).
    pub queues: usize,
    /// The message itself, if it was mandatory and reached no queue.
    pub returned: Option<Box<Returned>>,
    /// With a data directory, for a persistent message that reached a durable queue:
    /// the point its confirm waits for. The confirm ([`ack`](Self::ack)) may be sent
    /// only once it [is synced](super::SyncPoint::is_synced) (RabbitMQ's rule: a confirm
    /// means on disk).
    pub synced: Option<super::SyncPoint>,
}

/// `basic.get-ok`: a message and the number of ready messages left.
#[derive(Debug)]
pub struct GetOk {
    /// The message; settle it unless fetched with `no_ack`.
    pub delivery: Delivery,
    /// Ready messages left in the queue.
    pub message_count: u32,
}
