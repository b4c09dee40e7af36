//! Queue arguments: validation (CONFORMANCE Q05) and equivalence on redeclare (Q04).

use crate::broker::error::{BrokerError, PRECONDITION_FAILED};
use crate::broker::message::MAX_TTL_MS;
use crate::{FieldTable, FieldValue};

/// What a queue does when it is full (`x-overflow`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Overflow {
    /// Enqueue, then drop (or dead-letter) from the head: the default.
    #[default]
    DropHead,
    /// Refuse the new message (a confirm nack).
    RejectPublish,
    /// Refuse the new message and dead-letter it.
    RejectPublishDlx,
}

impl Overflow {
    /// The argument's value: `drop-head`, `reject-publish` or `reject-publish-dlx`.
    pub fn as_str(self) -> &'static str {
        match self {
            Overflow::DropHead => "drop-head",
            Overflow::RejectPublish => "reject-publish",
            Overflow::RejectPublishDlx => "reject-publish-dlx",
        }
    }
}

/// The arguments the broker understands, parsed once at declare.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct QueueArgs {
    pub(crate) message_ttl: Option<u64>,
    pub(crate) expires: Option<u64>,
    pub(crate) max_length: Option<u64>,
    pub(crate) max_length_bytes: Option<u64>,
    pub(crate) overflow: Overflow,
    pub(crate) dead_letter_exchange: Option<String>,
    pub(crate) dead_letter_routing_key: Option<String>,
    pub(crate) max_priority: Option<u8>,
    pub(crate) single_active_consumer: bool,
    /// `x-queue-type: quorum` (CONFORMANCE Q11): returns are counted.
    pub(crate) quorum: bool,
    /// `x-delivery-limit` of a quorum queue.
    pub(crate) delivery_limit: Option<u64>,
}

/// The arguments compared on redeclare (RabbitMQ's list for classic queues).
const EQUIVALENT: &[&str] = &[
    "x-message-ttl",
    "x-expires",
    "x-max-length",
    "x-max-length-bytes",
    "x-overflow",
    "x-dead-letter-exchange",
    "x-dead-letter-routing-key",
    "x-max-priority",
    "x-single-active-consumer",
    "x-queue-type",
];

/// A queue argument the broker refuses (CONFORMANCE Q05): which one and why. The
/// broker reports it as a 406 naming the queue; a definitions import as a path into
/// the file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ArgError {
    pub(crate) name: &'static str,
    pub(crate) reason: String,
    /// The argument is valid, but not for a quorum queue (RabbitMQ's text then names
    /// the queue type instead of a reason).
    pub(crate) not_for_quorum: bool,
}

impl ArgError {
    fn new(name: &'static str, reason: impl Into<String>) -> ArgError {
        ArgError {
            name,
            reason: reason.into(),
            not_for_quorum: false,
        }
    }

    /// The channel error for queue `queue` in `vhost`.
    pub(crate) fn for_queue(&self, queue: &str, vhost: &str) -> BrokerError {
        if self.not_for_quorum {
            return BrokerError::channel(
                PRECONDITION_FAILED,
                format!(
                    "invalid arg '{}' for queue '{queue}' in vhost '{vhost}' of queue type rabbit_quorum_queue",
                    self.name
                ),
            );
        }
        BrokerError::channel(
            PRECONDITION_FAILED,
            format!(
                "invalid arg '{}' for queue '{queue}' in vhost '{vhost}': {}",
                self.name, self.reason
            ),
        )
    }
}

fn int_in(
    args: &FieldTable,
    name: &'static str,
    range: std::ops::RangeInclusive<i128>,
) -> Result<Option<u64>, ArgError> {
    match args.get(name) {
        None => Ok(None),
        Some(v) => match v.as_int() {
            Some(n) if range.contains(&n) => Ok(Some(n as u64)),
            Some(n) => Err(ArgError::new(
                name,
                format!("{n} is out of range {}..={}", range.start(), range.end()),
            )),
            None => Err(ArgError::new(name, "expected an integer")),
        },
    }
}

fn string(args: &FieldTable, name: &'static str) -> Result<Option<String>, ArgError> {
    match args.get(name) {
        None => Ok(None),
        Some(v) => match v.as_bytes().map(std::str::from_utf8) {
            Some(Ok(s)) => Ok(Some(s.to_owned())),
            _ => Err(ArgError::new(name, "expected a string")),
        },
    }
}

impl QueueArgs {
    /// Parses and validates a queue's arguments.
    pub(crate) fn parse(args: &FieldTable) -> Result<QueueArgs, ArgError> {
        let max_ttl = i128::from(MAX_TTL_MS);
        let message_ttl = int_in(args, "x-message-ttl", 0..=max_ttl)?;
        let expires = int_in(args, "x-expires", 1..=max_ttl)?;
        let max_length = int_in(args, "x-max-length", 0..=i128::from(i64::MAX))?;
        let max_length_bytes = int_in(args, "x-max-length-bytes", 0..=i128::from(i64::MAX))?;
        let max_priority = int_in(args, "x-max-priority", 0..=255)?.map(|p| p as u8);
        let overflow = match string(args, "x-overflow")?.as_deref() {
            None | Some("drop-head") => Overflow::DropHead,
            Some("reject-publish") => Overflow::RejectPublish,
            Some("reject-publish-dlx") => Overflow::RejectPublishDlx,
            Some(other) => {
                return Err(ArgError::new(
                    "x-overflow",
                    format!(
                        "'{other}' is not one of 'drop-head', 'reject-publish', 'reject-publish-dlx'"
                    ),
                ));
            }
        };
        let dead_letter_exchange = string(args, "x-dead-letter-exchange")?;
        let dead_letter_routing_key = string(args, "x-dead-letter-routing-key")?;
        if dead_letter_routing_key.is_some() && dead_letter_exchange.is_none() {
            return Err(ArgError::new(
                "x-dead-letter-routing-key",
                "needs x-dead-letter-exchange",
            ));
        }
        let single_active_consumer = match args.get("x-single-active-consumer") {
            None => false,
            Some(v) => v
                .as_bool()
                .ok_or_else(|| ArgError::new("x-single-active-consumer", "expected a boolean"))?,
        };
        let quorum = match queue_type(args)? {
            QueueType::Classic => false,
            QueueType::Quorum => true,
            QueueType::Stream => {
                return Err(ArgError::new(
                    "x-queue-type",
                    "streams are not supported by trackswitch (classic and quorum queues are)",
                ));
            }
        };
        let delivery_limit = if quorum {
            quorum_args(args)?;
            // As RabbitMQ 3.10.8: a negative limit acts as 0, a non-integer one is
            // ignored.
            args.get("x-delivery-limit")
                .and_then(FieldValue::as_int)
                .map(|n| n.clamp(0, i128::from(i64::MAX)) as u64)
        } else {
            // Classic queues ignore it, as RabbitMQ 3.10.8's.
            None
        };
        Ok(QueueArgs {
            message_ttl,
            expires,
            max_length,
            max_length_bytes,
            overflow,
            dead_letter_exchange,
            dead_letter_routing_key,
            max_priority,
            single_active_consumer,
            quorum,
            delivery_limit,
        })
    }
}

/// The queue types RabbitMQ 3.10.8 knows (`x-queue-type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum QueueType {
    Classic,
    Quorum,
    Stream,
}

/// A queue's `x-queue-type`.
pub(crate) fn queue_type(args: &FieldTable) -> Result<QueueType, ArgError> {
    match string(args, "x-queue-type")?.as_deref() {
        None | Some("classic") => Ok(QueueType::Classic),
        Some("quorum") => Ok(QueueType::Quorum),
        Some("stream") => Ok(QueueType::Stream),
        Some(other) => Err(ArgError::new(
            "x-queue-type",
            // RabbitMQ 3.10.8 prints the reason as an Erlang string.
            format!("\"unsupported queue type '{other}'\""),
        )),
    }
}

/// The arguments a quorum queue refuses (RabbitMQ 3.10.8's rules for them; it takes
/// every other one, unknown ones included).
fn quorum_args(args: &FieldTable) -> Result<(), ArgError> {
    for name in QUORUM_UNSUPPORTED {
        if args.get(name).is_some() {
            return Err(ArgError {
                not_for_quorum: true,
                ..ArgError::new(name, "not supported by quorum queues")
            });
        }
    }
    Ok(())
}

/// Arguments quorum queues do not take.
const QUORUM_UNSUPPORTED: &[&str] = &["x-max-priority", "x-queue-mode", "x-queue-master-locator"];

/// Checks that a redeclare's arguments are equivalent to the existing queue's: every
/// argument the broker understands must be absent from both or equal by value
/// (integer widths compare equal); others are ignored.
pub(crate) fn check_equivalent(
    current: &FieldTable,
    received: &FieldTable,
    queue: &str,
    vhost: &str,
) -> Result<(), BrokerError> {
    let quorum = matches!(queue_type(current), Ok(QueueType::Quorum));
    // A quorum queue compares its own arguments too.
    let names = EQUIVALENT
        .iter()
        .chain(quorum.then_some(&"x-delivery-limit"));
    for &name in names {
        let (mut a, mut b) = (current.get(name), received.get(name));
        if name == "x-queue-type" {
            // `classic` is the default: naming it or not is the same.
            let classic =
                |v: Option<&FieldValue>| v.and_then(FieldValue::as_bytes) == Some(b"classic");
            a = a.filter(|_| !classic(a));
            b = b.filter(|_| !classic(b));
        }
        let same = match (a, b) {
            (None, None) => true,
            (Some(a), Some(b)) => a.same_value(b),
            _ => false,
        };
        if !same {
            // RabbitMQ 3.10.8 names the type only when one side is missing.
            let (received, current) = match (b, a) {
                (Some(b), Some(a)) => (format!("'{}'", plain(b)), format!("'{}'", plain(a))),
                (b, a) => (typed(b), typed(a)),
            };
            return Err(BrokerError::channel(
                PRECONDITION_FAILED,
                format!(
                    "inequivalent arg '{name}' for queue '{queue}' in vhost '{vhost}': \
                     received {received} but current is {current}"
                ),
            ));
        }
    }
    Ok(())
}

/// An argument's value as RabbitMQ prints it.
fn plain(v: &FieldValue) -> String {
    match v.as_bytes() {
        Some(b) => String::from_utf8_lossy(b).into_owned(),
        None => match (v.as_int(), v.as_bool()) {
            (Some(n), _) => n.to_string(),
            (None, Some(b)) => b.to_string(),
            (None, None) => format!("{v:?}"),
        },
    }
}

/// `none`, or `the value 'V' of type 'T'` with RabbitMQ's name of the field type.
fn typed(v: Option<&FieldValue>) -> String {
    let Some(v) = v else {
        return "none".into();
    };
    let kind = match v {
        FieldValue::Boolean(_) => "bool",
        FieldValue::ShortShortInt(_) => "byte",
        FieldValue::ShortShortUInt(_) => "unsignedbyte",
        FieldValue::ShortInt(_) => "short",
        FieldValue::ShortUInt(_) => "unsignedshort",
        FieldValue::LongInt(_) => "signedint",
        FieldValue::LongUInt(_) => "unsignedint",
        FieldValue::LongLongInt(_) | FieldValue::LongLongUInt(_) => "long",
        FieldValue::Float(_) => "float",
        FieldValue::Double(_) => "double",
        FieldValue::Decimal { .. } => "decimal",
        FieldValue::ShortString(_) => "shortstr",
        FieldValue::LongString(_) => "longstr",
        FieldValue::ByteArray(_) => "binary",
        FieldValue::Array(_) => "array",
        FieldValue::Timestamp(_) => "timestamp",
        FieldValue::Table(_) => "table",
        FieldValue::Void => "void",
    };
    format!("the value '{}' of type '{kind}'", plain(v))
}

/// A consumer's `x-priority` argument (default 0).
pub(crate) fn consumer_priority(args: &FieldTable) -> Result<i32, BrokerError> {
    match args.get("x-priority") {
        None => Ok(0),
        Some(v) => v
            .as_int()
            .and_then(|n| i32::try_from(n).ok())
            .ok_or_else(|| {
                BrokerError::channel(
                    PRECONDITION_FAILED,
                    "invalid arg 'x-priority': not an integer",
                )
            }),
    }
}
