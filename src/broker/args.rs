//! Queue arguments: validation (CONFORMANCE Q05) and equivalence on redeclare (Q04).

use crate::broker::error::{BrokerError, PRECONDITION_FAILED};
use crate::broker::message::MAX_TTL_MS;
use crate::{FieldTable, FieldValue};

/// What a queue does when it is full (`x-overflow`).
///
/// With the `serde` feature it is the argument's value: `"drop-head"`,
/// `"reject-publish"` or `"reject-publish-dlx"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[cfg_attr(
    feature = "serde",
    derive(serde::Serialize, serde::Deserialize),
    serde(rename_all = "kebab-case")
)]
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
/// broker reports it as a 406 naming the queue, in RabbitMQ 3.10.8's words
/// ([`Wire`]); a definitions import as a path into the file with `reason`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ArgError {
    pub(crate) name: &'static str,
    /// For people: `-1 is out of range 0..=255`.
    pub(crate) reason: String,
    /// What RabbitMQ 3.10.8 says on the wire.
    pub(crate) wire: Wire,
}

/// RabbitMQ 3.10.8's text for a refused argument.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Wire {
    /// `invalid arg 'A' for queue 'Q' in vhost 'V': REASON` (REASON as Erlang prints
    /// it: `{value_negative,-1}`, `invalid_overflow`, ...).
    Reason(String),
    /// `invalid type 'T' for arg 'A' in queue 'Q' in vhost 'V'`.
    InvalidType(&'static str),
    /// `invalid arg 'A' for queue 'Q' in vhost 'V' of queue type rabbit_quorum_queue`.
    NotForQuorum,
}

impl ArgError {
    fn new(name: &'static str, reason: impl Into<String>, wire: Wire) -> ArgError {
        ArgError {
            name,
            reason: reason.into(),
            wire,
        }
    }

    /// The channel error for queue `queue` in `vhost`.
    pub(crate) fn for_queue(&self, queue: &str, vhost: &str) -> BrokerError {
        let name = self.name;
        let text = match &self.wire {
            Wire::Reason(r) => {
                format!("invalid arg '{name}' for queue '{queue}' in vhost '{vhost}': {r}")
            }
            Wire::InvalidType(t) => {
                format!("invalid type '{t}' for arg '{name}' in queue '{queue}' in vhost '{vhost}'")
            }
            Wire::NotForQuorum => format!(
                "invalid arg '{name}' for queue '{queue}' in vhost '{vhost}' of queue type rabbit_quorum_queue"
            ),
        };
        BrokerError::channel(PRECONDITION_FAILED, text)
    }
}

/// How RabbitMQ words an integer over an argument's maximum.
#[derive(Debug, Clone, Copy)]
enum TooLarge {
    /// `{value_too_large,N}` (TTLs).
    Value,
    /// `{max_value_exceeded,N}` (`x-max-priority`).
    MaxExceeded,
}

/// An integer argument in `min..=max`, `min` being 0 or 1 as RabbitMQ's checks.
fn int_in(
    args: &FieldTable,
    name: &'static str,
    min: i128,
    max: i128,
    too_large: TooLarge,
) -> Result<Option<u64>, ArgError> {
    let Some(v) = args.get(name) else {
        return Ok(None);
    };
    let Some(n) = v.as_int() else {
        return Err(ArgError::new(
            name,
            "expected an integer",
            Wire::Reason(format!("\"expected integer, got {}\"", type_name(v))),
        ));
    };
    if (min..=max).contains(&n) {
        return Ok(Some(n as u64));
    }
    let wire = if n < 0 {
        format!("{{value_negative,{n}}}")
    } else if n == 0 {
        "{value_zero,0}".to_owned()
    } else {
        match too_large {
            TooLarge::Value => format!("{{value_too_large,{n}}}"),
            TooLarge::MaxExceeded => format!("{{max_value_exceeded,{n}}}"),
        }
    };
    Err(ArgError::new(
        name,
        format!("{n} is out of range {min}..={max}"),
        Wire::Reason(wire),
    ))
}

/// A string argument; `invalid_type` for RabbitMQ's other wording of a wrong type
/// (the dead-letter arguments).
fn string(
    args: &FieldTable,
    name: &'static str,
    invalid_type: bool,
) -> Result<Option<String>, ArgError> {
    let Some(v) = args.get(name) else {
        return Ok(None);
    };
    match v.as_bytes().map(std::str::from_utf8) {
        Some(Ok(s)) => Ok(Some(s.to_owned())),
        _ => {
            let t = type_name(v);
            let wire = match invalid_type {
                true => Wire::InvalidType(t),
                false => Wire::Reason(format!("{{unacceptable_type,{t}}}")),
            };
            Err(ArgError::new(name, "expected a string", wire))
        }
    }
}

impl QueueArgs {
    /// Parses and validates a queue's arguments.
    pub(crate) fn parse(args: &FieldTable) -> Result<QueueArgs, ArgError> {
        let max_ttl = i128::from(MAX_TTL_MS);
        let big = i128::from(i64::MAX);
        let message_ttl = int_in(args, "x-message-ttl", 0, max_ttl, TooLarge::Value)?;
        let expires = int_in(args, "x-expires", 1, max_ttl, TooLarge::Value)?;
        let max_length = int_in(args, "x-max-length", 0, big, TooLarge::Value)?;
        let max_length_bytes = int_in(args, "x-max-length-bytes", 0, big, TooLarge::Value)?;
        let max_priority =
            int_in(args, "x-max-priority", 0, 255, TooLarge::MaxExceeded)?.map(|p| p as u8);
        let overflow = match string(args, "x-overflow", false)?.as_deref() {
            None | Some("drop-head") => Overflow::DropHead,
            Some("reject-publish") => Overflow::RejectPublish,
            Some("reject-publish-dlx") => Overflow::RejectPublishDlx,
            Some(other) => {
                return Err(ArgError::new(
                    "x-overflow",
                    format!(
                        "'{other}' is not one of 'drop-head', 'reject-publish', 'reject-publish-dlx'"
                    ),
                    Wire::Reason("invalid_overflow".into()),
                ));
            }
        };
        let dead_letter_exchange = string(args, "x-dead-letter-exchange", true)?;
        let dead_letter_routing_key = string(args, "x-dead-letter-routing-key", true)?;
        if dead_letter_routing_key.is_some() && dead_letter_exchange.is_none() {
            return Err(ArgError::new(
                "x-dead-letter-routing-key",
                "needs x-dead-letter-exchange",
                Wire::Reason("routing_key_but_no_dlx_defined".into()),
            ));
        }
        let single_active_consumer = match args.get("x-single-active-consumer") {
            None => false,
            Some(v) => v.as_bool().ok_or_else(|| {
                ArgError::new(
                    "x-single-active-consumer",
                    "expected a boolean",
                    Wire::Reason(format!("{{unacceptable_type,{}}}", type_name(v))),
                )
            })?,
        };
        let quorum = match queue_type(args)? {
            QueueType::Classic => false,
            QueueType::Quorum => true,
            QueueType::Stream => {
                let why =
                    "streams are not supported by trackswitch (classic and quorum queues are)";
                return Err(ArgError::new("x-queue-type", why, Wire::Reason(why.into())));
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
    match string(args, "x-queue-type", false)?.as_deref() {
        None | Some("classic") => Ok(QueueType::Classic),
        Some("quorum") => Ok(QueueType::Quorum),
        Some("stream") => Ok(QueueType::Stream),
        Some(other) => Err(ArgError::new(
            "x-queue-type",
            format!("unsupported queue type '{other}'"),
            // RabbitMQ 3.10.8 prints the reason as an Erlang string.
            Wire::Reason(format!("\"unsupported queue type '{other}'\"")),
        )),
    }
}

/// The arguments a quorum queue refuses (RabbitMQ 3.10.8's rules for them; it takes
/// every other one, unknown ones included).
fn quorum_args(args: &FieldTable) -> Result<(), ArgError> {
    for name in QUORUM_UNSUPPORTED {
        if args.get(name).is_some() {
            return Err(ArgError::new(
                name,
                "not supported by quorum queues",
                Wire::NotForQuorum,
            ));
        }
    }
    // Taken (a single node has nothing to do with them), but checked as RabbitMQ does.
    if let Some(strategy) = string(args, "x-dead-letter-strategy", false)? {
        if strategy != "at-most-once" && strategy != "at-least-once" {
            return Err(ArgError::new(
                "x-dead-letter-strategy",
                format!("'{strategy}' is not one of 'at-most-once', 'at-least-once'"),
                Wire::Reason("invalid_dlx_strategy".into()),
            ));
        }
    }
    int_in(
        args,
        "x-quorum-initial-group-size",
        1,
        i128::from(u32::MAX),
        TooLarge::Value,
    )?;
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
        let (a, b) = (current.get(name), received.get(name));
        if name == "x-queue-type" {
            // `classic` is the default: naming it or not is the same.
            let classic =
                |v: Option<&FieldValue>| v.is_none_or(|v| v.as_bytes() == Some(&b"classic"[..]));
            if classic(a) && classic(b) {
                continue;
            }
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
    match v {
        None => "none".into(),
        Some(v) => format!("the value '{}' of type '{}'", plain(v), type_name(v)),
    }
}

/// RabbitMQ's name of a field value's type.
fn type_name(v: &FieldValue) -> &'static str {
    match v {
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
    }
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
