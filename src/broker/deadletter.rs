//! Dead-lettering (CONFORMANCE M03, M04): the `x-death` history and cycle detection.

use std::sync::Arc;

use super::message::{Stored, StoredRef};
use crate::{FieldTable, FieldValue};

/// Why a message was dead-lettered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Reason {
    Rejected,
    Expired,
    Maxlen,
    /// A quorum queue's `x-delivery-limit` was exceeded.
    DeliveryLimit,
}

impl Reason {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Reason::Rejected => "rejected",
            Reason::Expired => "expired",
            Reason::Maxlen => "maxlen",
            Reason::DeliveryLimit => "delivery_limit",
        }
    }
}

/// A message leaving a queue for its dead-letter exchange.
#[derive(Debug)]
pub(crate) struct DeadLetter {
    pub(crate) msg: StoredRef,
    pub(crate) reason: Reason,
    /// The queue it leaves.
    pub(crate) queue: Box<str>,
    /// The queue's `x-dead-letter-exchange`.
    pub(crate) exchange: String,
    /// The queue's `x-dead-letter-routing-key`, if any.
    pub(crate) routing_key: Option<String>,
}

fn text(v: &FieldValue) -> Option<&[u8]> {
    v.as_bytes()
}

fn entry_field<'a>(entry: &'a FieldValue, name: &str) -> Option<&'a FieldValue> {
    match entry {
        FieldValue::Table(t) => t.get(name),
        _ => None,
    }
}

impl DeadLetter {
    /// The routing keys the dead letter is published with: the queue's
    /// `x-dead-letter-routing-key`, or the message's original routing key and `CC`.
    pub(crate) fn keys(&self) -> Vec<String> {
        if let Some(k) = &self.routing_key {
            return vec![k.clone()];
        }
        original_keys(&self.msg)
    }

    /// The message as it is dead-lettered: `x-death` updated (one entry per
    /// (queue, reason), most recent first, with a count), `x-first-death-*` set once,
    /// `x-last-death-*` updated, `expiration` moved into the entry.
    pub(crate) fn message(
        &self,
        now_seconds: u64,
        memory: &std::sync::Arc<std::sync::atomic::AtomicU64>,
    ) -> Stored {
        let old = &self.msg;
        let mut message = old.message.clone();
        let props = &mut message.properties;
        let original_expiration = props.expiration.take();
        let mut headers = props.headers.take().unwrap_or_default();
        let mut deaths: Vec<FieldValue> = match headers.remove("x-death") {
            Some(FieldValue::Array(a)) => a,
            _ => Vec::new(),
        };
        let reason = self.reason.as_str();
        let same = |e: &FieldValue| {
            entry_field(e, "queue").and_then(text) == Some(self.queue.as_bytes())
                && entry_field(e, "reason").and_then(text) == Some(reason.as_bytes())
        };
        let entry = match deaths.iter().position(same) {
            Some(i) => {
                let mut e = deaths.remove(i);
                if let FieldValue::Table(t) = &mut e {
                    let count = t.get("count").and_then(FieldValue::as_int).unwrap_or(0);
                    t.insert("count", FieldValue::LongLongInt((count + 1) as i64));
                }
                e
            }
            None => {
                let mut t = FieldTable::new();
                t.insert("count", FieldValue::LongLongInt(1));
                t.insert("reason", FieldValue::LongString(reason.into()));
                t.insert(
                    "queue",
                    FieldValue::LongString(self.queue.as_bytes().into()),
                );
                t.insert("time", FieldValue::Timestamp(now_seconds));
                t.insert(
                    "exchange",
                    FieldValue::LongString(old.exchange.as_bytes().into()),
                );
                let keys = original_keys(old)
                    .into_iter()
                    .map(|k| FieldValue::LongString(k.into_bytes()))
                    .collect();
                t.insert("routing-keys", FieldValue::Array(keys));
                if let Some(exp) = &original_expiration {
                    t.insert(
                        "original-expiration",
                        FieldValue::LongString(exp.as_bytes().into()),
                    );
                }
                FieldValue::Table(t)
            }
        };
        deaths.insert(0, entry);
        headers.insert("x-death", FieldValue::Array(deaths));
        let first = [
            ("x-first-death-reason", reason.as_bytes()),
            ("x-first-death-queue", self.queue.as_bytes()),
            ("x-first-death-exchange", old.exchange.as_bytes()),
        ];
        for (name, value) in first {
            if !headers.contains(name) {
                headers.insert(name, FieldValue::LongString(value.into()));
            }
        }
        headers.insert("x-last-death-reason", FieldValue::LongString(reason.into()));
        headers.insert(
            "x-last-death-queue",
            FieldValue::LongString(self.queue.as_bytes().into()),
        );
        headers.insert(
            "x-last-death-exchange",
            FieldValue::LongString(old.exchange.as_bytes().into()),
        );
        // With a dead-letter routing key the CC keys no longer apply: RabbitMQ removes
        // the header (checked against RabbitMQ 3.10.8).
        if self.routing_key.is_some() {
            headers.remove("CC");
        }
        props.headers = Some(headers);
        let routing_key = match &self.routing_key {
            Some(k) => k.as_str().into(),
            None => old.routing_key.clone(),
        };
        // A new routing key replaces every original key, BCC included.
        let bcc = match &self.routing_key {
            Some(_) => None,
            None => old.bcc.clone(),
        };
        Stored::new(
            self.exchange.as_str().into(),
            routing_key,
            message,
            bcc,
            memory,
        )
    }
}

/// A message's original routing keys: its routing key and its `CC` keys (`BCC` was
/// removed at publish).
fn original_keys(msg: &Arc<Stored>) -> Vec<String> {
    let mut keys = vec![msg.routing_key.to_string()];
    if let Some(FieldValue::Array(cc)) = msg
        .message
        .properties
        .headers
        .as_ref()
        .and_then(|h| h.get("CC"))
    {
        keys.extend(
            cc.iter()
                .filter_map(FieldValue::as_bytes)
                .map(|b| String::from_utf8_lossy(b).into_owned()),
        );
    }
    keys
}

/// Whether dead-lettering a message with this (already updated) `x-death` into
/// `queue` closes a cycle that must be dropped: the queue appears in the history and
/// no death on the way back to it was a rejection (RabbitMQ's rule).
pub(crate) fn is_cycle(headers: Option<&FieldTable>, queue: &str) -> bool {
    let Some(FieldValue::Array(deaths)) = headers.and_then(|h| h.get("x-death")) else {
        return false;
    };
    for d in deaths {
        if entry_field(d, "reason").and_then(text) == Some(b"rejected") {
            return false;
        }
        if entry_field(d, "queue").and_then(text) == Some(queue.as_bytes()) {
            return true;
        }
    }
    false
}
