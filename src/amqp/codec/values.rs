//! Field tables, field values and basic properties converted between `amq-protocol`'s
//! types and the crate's.

use amq_protocol::protocol::basic;
use amq_protocol::types::{
    AMQPValue, ByteArray, DecimalValue, FieldArray, FieldTable as WireTable, LongString,
    ShortString,
};

use crate::amqp::method::Properties;
use crate::{FieldTable, FieldValue};

pub(super) fn table_from_wire(t: &WireTable) -> FieldTable {
    let mut out = FieldTable::new();
    for (k, v) in t {
        out.push(k.as_str(), value_from_wire(v));
    }
    out
}

fn value_from_wire(v: &AMQPValue) -> FieldValue {
    match v {
        AMQPValue::Boolean(b) => FieldValue::Boolean(*b),
        AMQPValue::ShortShortInt(i) => FieldValue::ShortShortInt(*i),
        AMQPValue::ShortShortUInt(i) => FieldValue::ShortShortUInt(*i),
        AMQPValue::ShortInt(i) => FieldValue::ShortInt(*i),
        AMQPValue::ShortUInt(i) => FieldValue::ShortUInt(*i),
        AMQPValue::LongInt(i) => FieldValue::LongInt(*i),
        AMQPValue::LongUInt(i) => FieldValue::LongUInt(*i),
        AMQPValue::LongLongInt(i) => FieldValue::LongLongInt(*i),
        AMQPValue::Float(f) => FieldValue::Float(*f),
        AMQPValue::Double(d) => FieldValue::Double(*d),
        AMQPValue::DecimalValue(d) => FieldValue::Decimal {
            scale: d.scale,
            value: d.value,
        },
        AMQPValue::ShortString(s) => FieldValue::ShortString(s.as_str().to_owned()),
        AMQPValue::LongString(s) => FieldValue::LongString(s.as_bytes().to_vec()),
        AMQPValue::FieldArray(a) => {
            FieldValue::Array(a.as_slice().iter().map(value_from_wire).collect())
        }
        AMQPValue::Timestamp(t) => FieldValue::Timestamp(*t),
        AMQPValue::FieldTable(t) => FieldValue::Table(table_from_wire(t)),
        AMQPValue::ByteArray(b) => FieldValue::ByteArray(b.as_slice().to_vec()),
        AMQPValue::Void => FieldValue::Void,
    }
}

/// Converts a table for the wire. Entries whose name is over 255 bytes cannot be
/// written and are left out (the wire never gives us such names).
pub(super) fn table_to_wire(t: &FieldTable) -> WireTable {
    let mut out = WireTable::default();
    for (k, v) in t.iter() {
        if let Ok(k) = ShortString::try_new(k) {
            out.insert(k, value_to_wire(v));
        }
    }
    out
}

fn value_to_wire(v: &FieldValue) -> AMQPValue {
    match v {
        FieldValue::Boolean(b) => AMQPValue::Boolean(*b),
        FieldValue::ShortShortInt(i) => AMQPValue::ShortShortInt(*i),
        FieldValue::ShortShortUInt(i) => AMQPValue::ShortShortUInt(*i),
        FieldValue::ShortInt(i) => AMQPValue::ShortInt(*i),
        FieldValue::ShortUInt(i) => AMQPValue::ShortUInt(*i),
        FieldValue::LongInt(i) => AMQPValue::LongInt(*i),
        FieldValue::LongUInt(i) => AMQPValue::LongUInt(*i),
        FieldValue::LongLongInt(i) => AMQPValue::LongLongInt(*i),
        // The codec has no unsigned 64-bit value (RabbitMQ reads `L` and `l` as signed).
        FieldValue::LongLongUInt(u) => {
            AMQPValue::LongLongInt(i64::try_from(*u).unwrap_or(i64::MAX))
        }
        FieldValue::Float(f) => AMQPValue::Float(*f),
        FieldValue::Double(d) => AMQPValue::Double(*d),
        FieldValue::Decimal { scale, value } => AMQPValue::DecimalValue(DecimalValue {
            scale: *scale,
            value: *value,
        }),
        FieldValue::ShortString(s) => match ShortString::try_new(s.as_str()) {
            Ok(s) => AMQPValue::ShortString(s),
            Err(_) => AMQPValue::LongString(LongString::from(s.as_bytes())),
        },
        FieldValue::LongString(b) => AMQPValue::LongString(LongString::from(b.as_slice())),
        FieldValue::ByteArray(b) => AMQPValue::ByteArray(ByteArray::from(b.as_slice())),
        FieldValue::Array(a) => AMQPValue::FieldArray(FieldArray::from(
            a.iter().map(value_to_wire).collect::<Vec<_>>(),
        )),
        FieldValue::Timestamp(t) => AMQPValue::Timestamp(*t),
        FieldValue::Table(t) => AMQPValue::FieldTable(table_to_wire(t)),
        FieldValue::Void => AMQPValue::Void,
    }
}

pub(super) fn properties_from_wire(p: &basic::AMQPProperties) -> Properties {
    let s = |s: &Option<ShortString>| s.as_ref().map(|s| s.as_str().to_owned());
    Properties {
        content_type: s(p.content_type()),
        content_encoding: s(p.content_encoding()),
        headers: p.headers().as_ref().map(table_from_wire),
        delivery_mode: *p.delivery_mode(),
        priority: *p.priority(),
        correlation_id: s(p.correlation_id()),
        reply_to: s(p.reply_to()),
        expiration: s(p.expiration()),
        message_id: s(p.message_id()),
        timestamp: *p.timestamp(),
        kind: s(p.kind()),
        user_id: s(p.user_id()),
        app_id: s(p.app_id()),
        cluster_id: s(p.cluster_id()),
    }
}

#[cfg(test)]
pub(super) fn properties_to_wire(p: &Properties) -> basic::AMQPProperties {
    let mut w = basic::AMQPProperties::default();
    let o = |s: &Option<String>| s.as_deref().map(short);
    if let Some(v) = o(&p.content_type) {
        w = w.with_content_type(v);
    }
    if let Some(v) = o(&p.content_encoding) {
        w = w.with_content_encoding(v);
    }
    if let Some(v) = &p.headers {
        w = w.with_headers(table_to_wire(v));
    }
    if let Some(v) = p.delivery_mode {
        w = w.with_delivery_mode(v);
    }
    if let Some(v) = p.priority {
        w = w.with_priority(v);
    }
    if let Some(v) = o(&p.correlation_id) {
        w = w.with_correlation_id(v);
    }
    if let Some(v) = o(&p.reply_to) {
        w = w.with_reply_to(v);
    }
    if let Some(v) = o(&p.expiration) {
        w = w.with_expiration(v);
    }
    if let Some(v) = o(&p.message_id) {
        w = w.with_message_id(v);
    }
    if let Some(v) = p.timestamp {
        w = w.with_timestamp(v);
    }
    if let Some(v) = o(&p.kind) {
        w = w.with_type(v);
    }
    if let Some(v) = o(&p.user_id) {
        w = w.with_user_id(v);
    }
    if let Some(v) = o(&p.app_id) {
        w = w.with_app_id(v);
    }
    if let Some(v) = o(&p.cluster_id) {
        w = w.with_cluster_id(v);
    }
    w
}

/// A short string for the wire: `s` cut to at most 255 bytes at a character boundary.
pub(crate) fn short(s: &str) -> ShortString {
    ShortString::try_new(truncated(s)).unwrap_or_else(|_| ShortString::default())
}

/// `s` cut to at most 255 bytes at a character boundary: what a short string holds.
pub(super) fn truncated(s: &str) -> &str {
    let mut end = s.len().min(255);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}
