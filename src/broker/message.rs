//! Messages: [`Message`] (properties and body) as published and delivered.

use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::sync::atomic::Ordering::Relaxed;

use bytes::Bytes;

use crate::FieldTable;
use crate::field::heap_of;
use crate::small::SmallBytes;

/// The 14 basic properties of an AMQP 0-9-1 message (class `basic`), all optional.
///
/// The broker reads `expiration` (per-message TTL, a decimal string of milliseconds),
/// `priority` (priority queues) and `headers` (headers exchanges, `CC`/`BCC`,
/// dead-lettering's `x-death`); it carries every other property through unchanged.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Properties {
    /// MIME content type.
    pub content_type: Option<String>,
    /// MIME content encoding.
    pub content_encoding: Option<String>,
    /// Application headers.
    pub headers: Option<FieldTable>,
    /// 1 = transient, 2 = persistent: with a data directory
    /// ([`BrokerBuilder::data_dir`](super::BrokerBuilder::data_dir)), a persistent
    /// message in a durable queue is written to disk and survives a restart.
    pub delivery_mode: Option<u8>,
    /// Priority, 0 to 9 by convention (priority queues cap it at their maximum).
    pub priority: Option<u8>,
    /// Application correlation id (RPC).
    pub correlation_id: Option<String>,
    /// Queue to reply to (RPC).
    pub reply_to: Option<String>,
    /// Per-message TTL: a decimal string of milliseconds.
    pub expiration: Option<String>,
    /// Application message id.
    pub message_id: Option<String>,
    /// Timestamp, seconds since the Unix epoch.
    pub timestamp: Option<u64>,
    /// Message type name (`type` on the wire).
    pub kind: Option<String>,
    /// Creating user id.
    pub user_id: Option<String>,
    /// Creating application id.
    pub app_id: Option<String>,
    /// Intra-cluster routing identifier (deprecated in 0-9-1).
    pub cluster_id: Option<String>,
}

/// A message: properties and a body.
///
/// The body is [`Bytes`]: a message routed to many queues shares one body, and a
/// delivery hands out a cheap clone.
///
/// # Examples
///
/// ```
/// use trackswitch::broker::Message;
///
/// let mut m = Message::new("hello");
/// m.properties.content_type = Some("text/plain".into());
/// assert_eq!(&m.body[..], b"hello");
/// ```
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Message {
    /// The basic properties.
    pub properties: Properties,
    /// The body.
    pub body: Bytes,
}

impl Message {
    /// A message with this body and no properties.
    pub fn new(body: impl Into<Bytes>) -> Message {
        Message {
            properties: Properties::default(),
            body: body.into(),
        }
    }

    /// Sets the headers (builder style).
    pub fn with_headers(mut self, headers: FieldTable) -> Message {
        self.properties.headers = Some(headers);
        self
    }

    /// Sets the per-message TTL in milliseconds (builder style).
    pub fn with_expiration(mut self, ms: u64) -> Message {
        self.properties.expiration = Some(ms.to_string());
        self
    }

    /// Sets the priority (builder style).
    pub fn with_priority(mut self, priority: u8) -> Message {
        self.properties.priority = Some(priority);
        self
    }
}

/// A short string stored inline up to 22 bytes (exchange names and routing keys
/// mostly are): storing a message then costs no allocation for them.
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct Name(SmallBytes);

impl Name {
    pub(crate) fn as_str(&self) -> &str {
        std::str::from_utf8(&self.0).expect("made from a str")
    }
}

impl From<&str> for Name {
    fn from(s: &str) -> Name {
        Name(SmallBytes::new(s.as_bytes()))
    }
}

impl std::ops::Deref for Name {
    type Target = str;

    fn deref(&self) -> &str {
        self.as_str()
    }
}

impl std::fmt::Debug for Name {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.as_str().fmt(f)
    }
}

/// A message's charge on the broker's memory count: added when the stored message is
/// made, taken back when the last queue, delivery or return holding it lets go.
#[derive(Debug)]
pub(crate) struct Charge {
    memory: Arc<AtomicU64>,
    bytes: u64,
}

impl Charge {
    pub(crate) fn new(memory: &Arc<AtomicU64>, bytes: u64) -> Charge {
        memory.fetch_add(bytes, Relaxed);
        Charge {
            memory: Arc::clone(memory),
            bytes,
        }
    }
}

impl Drop for Charge {
    fn drop(&mut self) {
        self.memory.fetch_sub(self.bytes, Relaxed);
    }
}

impl Properties {
    /// Heap bytes the properties own (strings, headers), for memory accounting.
    pub(crate) fn heap_bytes(&self) -> usize {
        let s = |v: &Option<String>| v.as_ref().map_or(0, |s| heap_of(s.capacity()));
        s(&self.content_type)
            + s(&self.content_encoding)
            + self.headers.as_ref().map_or(0, FieldTable::heap_bytes)
            + s(&self.correlation_id)
            + s(&self.reply_to)
            + s(&self.expiration)
            + s(&self.message_id)
            + s(&self.kind)
            + s(&self.user_id)
            + s(&self.app_id)
            + s(&self.cluster_id)
    }
}

impl Message {
    /// What the message holds in memory: its body (with the shared buffer's control
    /// block) and its properties' heap.
    pub(crate) fn footprint(&self) -> u64 {
        // A `Bytes` shared between queues keeps a small control block beside the body.
        const SHARED_BYTES: usize = 32;
        (heap_of(self.body.len()) + SHARED_BYTES + self.properties.heap_bytes()) as u64
    }
}

/// What a stored message costs beyond its message's footprint: its own allocation
/// (`Arc` counts included) and its names' spill to the heap.
fn stored_overhead(exchange: &Name, routing_key: &Name) -> u64 {
    let spill = |n: &Name| {
        if n.len() > SmallBytes::INLINE {
            heap_of(n.len())
        } else {
            0
        }
    };
    (heap_of(std::mem::size_of::<Stored>() + 16) + spill(exchange) + spill(routing_key)) as u64
}

/// A message as stored in queues: shared by every queue it was routed to.
#[derive(Debug)]
pub(crate) struct Stored {
    /// The exchange it was published to.
    pub(crate) exchange: Name,
    /// The routing key it was published with.
    pub(crate) routing_key: Name,
    pub(crate) message: Message,
    /// The `BCC` header it was published with: removed from the delivered headers, but
    /// its keys still route the message when it is dead-lettered with its original
    /// keys (as RabbitMQ does).
    pub(crate) bcc: Option<Box<crate::FieldValue>>,
    /// Its charge on the broker's memory count; see [`Stored::new`].
    charge: Charge,
}

pub(crate) type StoredRef = Arc<Stored>;

impl Stored {
    /// A stored message, charged on `memory` for all it holds: the message's footprint,
    /// the names, the `BCC` header and the stored message's own allocation.
    pub(crate) fn new(
        exchange: Name,
        routing_key: Name,
        message: Message,
        bcc: Option<Box<crate::FieldValue>>,
        memory: &Arc<AtomicU64>,
    ) -> Stored {
        let bytes = message.footprint()
            + stored_overhead(&exchange, &routing_key)
            + bcc.as_ref().map_or(0, |b| {
                heap_of(std::mem::size_of::<crate::FieldValue>()) as u64 + b.heap_bytes() as u64
            });
        Stored {
            exchange,
            routing_key,
            message,
            bcc,
            charge: Charge::new(memory, bytes),
        }
    }

    /// A copy of this message with another body (an empty one: its body is paged out
    /// to the store; the body read back: paged in). Charged for what it holds.
    pub(crate) fn with_body(&self, body: Bytes) -> Stored {
        Stored::new(
            self.exchange.clone(),
            self.routing_key.clone(),
            Message {
                properties: self.properties().clone(),
                body,
            },
            self.bcc.clone(),
            &self.charge.memory,
        )
    }

    fn properties(&self) -> &Properties {
        &self.message.properties
    }

    /// Whether the publisher asked for it to be persistent (`delivery_mode` 2).
    pub(crate) fn is_persistent(&self) -> bool {
        self.message.properties.delivery_mode == Some(2)
    }

    /// A copy with the `x-delivery-count` header a quorum queue adds to a message
    /// that came back `count` times (the body is shared, not copied).
    pub(crate) fn with_delivery_count(&self, count: u32) -> Stored {
        let mut message = self.message.clone();
        message
            .properties
            .headers
            .get_or_insert_with(FieldTable::new)
            .insert(
                "x-delivery-count",
                crate::FieldValue::LongInt(i32::try_from(count).unwrap_or(i32::MAX)),
            );
        // The body is shared with the original: only the copy's properties and its
        // own allocation are new.
        let bytes = message.properties.heap_bytes() as u64
            + stored_overhead(&self.exchange, &self.routing_key);
        Stored {
            exchange: self.exchange.clone(),
            routing_key: self.routing_key.clone(),
            message,
            bcc: self.bcc.clone(),
            charge: Charge::new(&self.charge.memory, bytes),
        }
    }
}

/// The longest TTL RabbitMQ accepts, in milliseconds (ten years).
pub(crate) const MAX_TTL_MS: u64 = 315_360_000_000;

/// Parses an `expiration` property: a decimal string of 0 to 315,360,000,000 ms.
pub(crate) fn parse_expiration(s: &str) -> Option<u64> {
    if s.is_empty() || s.len() > 12 || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse::<u64>().ok().filter(|&ms| ms <= MAX_TTL_MS)
}

#[cfg(test)]
mod tests {
    use super::parse_expiration;

    #[test]
    fn expiration_parsing() {
        assert_eq!(parse_expiration("0"), Some(0));
        assert_eq!(parse_expiration("60000"), Some(60_000));
        assert_eq!(parse_expiration("315360000000"), Some(315_360_000_000));
        for bad in [
            "",
            "-1",
            "1.5",
            " 1",
            "abc",
            "315360000001",
            "9999999999999",
        ] {
            assert_eq!(parse_expiration(bad), None, "{bad:?}");
        }
    }
}
