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

fn invalid(name: &str, queue: &str, vhost: &str, why: &str) -> BrokerError {
    BrokerError::channel(
        PRECONDITION_FAILED,
        format!("invalid arg '{name}' for queue '{queue}' in vhost '{vhost}': {why}"),
    )
}

fn int_in(
    args: &FieldTable,
    name: &str,
    range: std::ops::RangeInclusive<i128>,
    ctx: (&str, &str),
) -> Result<Option<u64>, BrokerError> {
    match args.get(name) {
        None => Ok(None),
        Some(v) => match v.as_int() {
            Some(n) if range.contains(&n) => Ok(Some(n as u64)),
            Some(n) => Err(invalid(name, ctx.0, ctx.1, &format!("{n} is out of range"))),
            None => Err(invalid(name, ctx.0, ctx.1, "not an integer")),
        },
    }
}

fn string(args: &FieldTable, name: &str, ctx: (&str, &str)) -> Result<Option<String>, BrokerError> {
    match args.get(name) {
        None => Ok(None),
        Some(v) => match v.as_bytes().map(std::str::from_utf8) {
            Some(Ok(s)) => Ok(Some(s.to_owned())),
            _ => Err(invalid(name, ctx.0, ctx.1, "not a string")),
        },
    }
}

impl QueueArgs {
    /// Parses and validates the arguments of queue `queue` in `vhost`.
    pub(crate) fn parse(
        args: &FieldTable,
        queue: &str,
        vhost: &str,
    ) -> Result<QueueArgs, BrokerError> {
        let ctx = (queue, vhost);
        let max_ttl = i128::from(MAX_TTL_MS);
        let overflow = match string(args, "x-overflow", ctx)?.as_deref() {
            None | Some("drop-head") => Overflow::DropHead,
            Some("reject-publish") => Overflow::RejectPublish,
            Some("reject-publish-dlx") => Overflow::RejectPublishDlx,
            Some(other) => return Err(invalid("x-overflow", queue, vhost, &format!("'{other}'"))),
        };
        let dead_letter_exchange = string(args, "x-dead-letter-exchange", ctx)?;
        let dead_letter_routing_key = string(args, "x-dead-letter-routing-key", ctx)?;
        if dead_letter_routing_key.is_some() && dead_letter_exchange.is_none() {
            return Err(invalid(
                "x-dead-letter-routing-key",
                queue,
                vhost,
                "needs x-dead-letter-exchange",
            ));
        }
        let single_active_consumer = match args.get("x-single-active-consumer") {
            None => false,
            Some(v) => v.as_bool().ok_or_else(|| {
                invalid("x-single-active-consumer", queue, vhost, "not a boolean")
            })?,
        };
        match string(args, "x-queue-type", ctx)?.as_deref() {
            None | Some("classic") => {}
            Some(other) => {
                return Err(invalid(
                    "x-queue-type",
                    queue,
                    vhost,
                    &format!("only classic queues are supported, not '{other}'"),
                ));
            }
        }
        Ok(QueueArgs {
            message_ttl: int_in(args, "x-message-ttl", 0..=max_ttl, ctx)?,
            expires: int_in(args, "x-expires", 1..=max_ttl, ctx)?,
            max_length: int_in(args, "x-max-length", 0..=i128::from(i64::MAX), ctx)?,
            max_length_bytes: int_in(args, "x-max-length-bytes", 0..=i128::from(i64::MAX), ctx)?,
            overflow,
            dead_letter_exchange,
            dead_letter_routing_key,
            max_priority: int_in(args, "x-max-priority", 0..=255, ctx)?.map(|p| p as u8),
            single_active_consumer,
        })
    }
}

/// Checks that a redeclare's arguments are equivalent to the existing queue's: every
/// argument the broker understands must be absent from both or equal by value
/// (integer widths compare equal); others are ignored.
pub(crate) fn check_equivalent(
    current: &FieldTable,
    received: &FieldTable,
    queue: &str,
    vhost: &str,
) -> Result<(), BrokerError> {
    for &name in EQUIVALENT {
        let (a, b) = (current.get(name), received.get(name));
        let same = match (a, b) {
            (None, None) => true,
            (Some(a), Some(b)) => a.same_value(b),
            _ => false,
        };
        if !same {
            return Err(BrokerError::channel(
                PRECONDITION_FAILED,
                format!(
                    "inequivalent arg '{name}' for queue '{queue}' in vhost '{vhost}': \
                     received {} but current is {}",
                    show(b),
                    show(a)
                ),
            ));
        }
    }
    Ok(())
}

fn show(v: Option<&FieldValue>) -> String {
    match v {
        None => "none".into(),
        Some(v) => match v.as_bytes() {
            Some(b) => format!("'{}'", String::from_utf8_lossy(b)),
            None => match v.as_int() {
                Some(n) => n.to_string(),
                None => format!("{v:?}"),
            },
        },
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
