//! The only module that touches `amq-protocol`: method and content-header payloads in
//! and out, field tables and properties converted to and from the crate's types.
//!
//! Framing (the 7-byte frame header, sizes, the frame-end octet) is done by
//! [`FrameReader`](super::reader::FrameReader) and the `write_*` functions here;
//! `amq-protocol` only sees payloads whose size has already been checked.
//!
//! Two hazards of the codec are fenced off here:
//! - `ShortString::from` panics above 255 bytes, and generating a longer short string
//!   trips a debug assertion: every outbound short string goes through [`short`], which
//!   truncates at a character boundary.
//! - its field-table parser recurses once per nesting level: [`check_depth`] walks the
//!   tables of a payload first and refuses more than [`MAX_TABLE_DEPTH`] levels, so a
//!   hostile frame cannot overflow the stack.

use amq_protocol::frame::{AMQPFrame, WriteContext, gen_frame};
use amq_protocol::protocol::{
    AMQPClass, access, basic, channel, confirm, connection, exchange, parse_class, queue, tx,
};
use amq_protocol::types::{
    AMQPValue, ByteArray, DecimalValue, FieldArray, FieldTable as WireTable, LongString,
    ShortString,
};

use super::method::{ContentHeader, Method, Properties, Publish, Reply};
use crate::{FieldTable, FieldValue};

/// Frame type octets.
pub(crate) const FRAME_METHOD: u8 = 1;
pub(crate) const FRAME_HEADER: u8 = 2;
pub(crate) const FRAME_BODY: u8 = 3;
pub(crate) const FRAME_HEARTBEAT: u8 = 8;
/// The octet that ends every frame.
pub(crate) const FRAME_END: u8 = 0xCE;
/// Frame header (type, channel, size) plus frame-end octet.
pub(crate) const FRAME_OVERHEAD: usize = 8;
/// The only protocol header we speak, and the one we answer any other with.
pub(crate) const PROTOCOL_HEADER: [u8; 8] = *b"AMQP\x00\x00\x09\x01";
/// Deepest nesting of field tables and arrays accepted in a payload.
pub(crate) const MAX_TABLE_DEPTH: usize = 32;

/// A payload the codec could not read: always 501 FRAME_ERROR on the connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct DecodeError {
    /// Class and method ids when the payload was long enough to carry them.
    pub(crate) class_id: u16,
    pub(crate) method_id: u16,
    pub(crate) text: String,
}

/// The codec refused to serialise a value (not expected with in-memory buffers).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct EncodeError(pub(crate) String);

// ---------------------------------------------------------------- decoding

/// Decodes a method frame's payload.
pub(crate) fn decode_method(payload: &[u8]) -> Result<Method, DecodeError> {
    let class_id = payload
        .get(0..2)
        .map_or(0, |b| u16::from_be_bytes([b[0], b[1]]));
    let method_id = payload
        .get(2..4)
        .map_or(0, |b| u16::from_be_bytes([b[0], b[1]]));
    let fail = |text: String| DecodeError {
        class_id,
        method_id,
        text,
    };
    if payload.len() < 4 {
        return Err(fail("FRAME_ERROR - method frame too short".to_owned()));
    }
    // `basic.qos`: the codec drops prefetch-size, which we must see (non-zero: 540).
    if (class_id, method_id) == (60, 10) {
        return match payload[4..] {
            [s0, s1, s2, s3, c0, c1, bits] => Ok(Method::Qos {
                prefetch_size: u32::from_be_bytes([s0, s1, s2, s3]),
                prefetch_count: u16::from_be_bytes([c0, c1]),
                global: bits & 1 != 0,
            }),
            _ => Err(fail("FRAME_ERROR - malformed basic.qos".to_owned())),
        };
    }
    check_depth(payload, class_id, method_id).map_err(fail)?;
    let class = match parse_class(payload) {
        Ok(([], class)) => class,
        Ok(_) => {
            return Err(fail(format!(
                "FRAME_ERROR - trailing bytes after method {class_id}.{method_id}"
            )));
        }
        Err(_) => {
            return Err(fail(format!(
                "FRAME_ERROR - cannot decode method frame for class {class_id} method {method_id}"
            )));
        }
    };
    Ok(method_from_wire(class))
}

/// Decodes a content header frame's payload.
pub(crate) fn decode_header(payload: &[u8]) -> Result<ContentHeader, DecodeError> {
    let class_id = payload
        .get(0..2)
        .map_or(0, |b| u16::from_be_bytes([b[0], b[1]]));
    let fail = |text: &str| DecodeError {
        class_id,
        method_id: 0,
        text: text.to_owned(),
    };
    check_header_depth(payload).map_err(|t| fail(&t))?;
    match amq_protocol::frame::parsing::parse_content_header(payload) {
        Ok(([], h)) => Ok(ContentHeader {
            class_id: h.class_id,
            body_size: h.body_size,
            properties: properties_from_wire(&h.properties),
        }),
        _ => Err(fail("FRAME_ERROR - cannot decode content header")),
    }
}

/// The AMQPLAIN response: a field table without its length prefix, holding `LOGIN`
/// and `PASSWORD`.
pub(crate) fn decode_amqplain(response: &[u8]) -> Option<(String, String)> {
    let mut table = u32::try_from(response.len()).ok()?.to_be_bytes().to_vec();
    table.extend_from_slice(response);
    table_depth(&mut Cursor(&table), 1).ok()?;
    let (rest, t) = amq_protocol::types::parsing::parse_field_table(&table[..]).ok()?;
    if !rest.is_empty() {
        return None;
    }
    let text = |name: &str| match t.inner().get(name)? {
        AMQPValue::LongString(s) => String::from_utf8(s.as_bytes().to_vec()).ok(),
        AMQPValue::ShortString(s) => Some(s.as_str().to_owned()),
        _ => None,
    };
    Some((text("LOGIN")?, text("PASSWORD")?))
}

fn method_from_wire(class: AMQPClass) -> Method {
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

// ---------------------------------------------------------------- depth check

/// A forward-only reader over a payload, for [`check_depth`].
struct Cursor<'a>(&'a [u8]);

impl<'a> Cursor<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        if self.0.len() < n {
            return None;
        }
        let (head, tail) = self.0.split_at(n);
        self.0 = tail;
        Some(head)
    }
    fn u8(&mut self) -> Option<u8> {
        self.take(1).map(|b| b[0])
    }
    fn u16(&mut self) -> Option<u16> {
        self.take(2).map(|b| u16::from_be_bytes([b[0], b[1]]))
    }
    fn u32(&mut self) -> Option<u32> {
        self.take(4)
            .map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }
    fn short_string(&mut self) -> Option<()> {
        let n = self.u8()?;
        self.take(usize::from(n)).map(drop)
    }
    fn sized(&mut self) -> Option<Cursor<'a>> {
        let n = self.u32()?;
        self.take(usize::try_from(n).ok()?).map(Cursor)
    }
}

/// How deep the field tables at the cursor nest, `Err` past [`MAX_TABLE_DEPTH`].
/// Malformed input ends the walk quietly (`Ok`): the real parser reports it.
fn table_depth(c: &mut Cursor<'_>, depth: usize) -> Result<(), String> {
    if depth > MAX_TABLE_DEPTH {
        return Err(format!(
            "FRAME_ERROR - field tables nested deeper than {MAX_TABLE_DEPTH}"
        ));
    }
    let Some(mut inner) = c.sized() else {
        return Ok(());
    };
    while !inner.0.is_empty() {
        if inner.short_string().is_none() {
            return Ok(());
        }
        if !value_depth(&mut inner, depth)? {
            return Ok(());
        }
    }
    Ok(())
}

/// Skips one field value; `Ok(false)` when the input is malformed.
fn value_depth(c: &mut Cursor<'_>, depth: usize) -> Result<bool, String> {
    let Some(kind) = c.u8() else { return Ok(false) };
    let skip = match kind {
        b't' | b'b' | b'B' => 1,
        b's' | b'U' | b'u' => 2,
        b'I' | b'i' | b'f' => 4,
        b'D' => 5,
        b'L' | b'l' | b'd' | b'T' => 8,
        b'V' => 0,
        b'S' | b'x' => return Ok(c.sized().is_some()),
        b'F' => {
            table_depth(c, depth + 1)?;
            return Ok(true);
        }
        b'A' => {
            if depth + 1 > MAX_TABLE_DEPTH {
                return Err(format!(
                    "FRAME_ERROR - field tables nested deeper than {MAX_TABLE_DEPTH}"
                ));
            }
            let Some(mut inner) = c.sized() else {
                return Ok(false);
            };
            while !inner.0.is_empty() {
                if !value_depth(&mut inner, depth + 1)? {
                    return Ok(true);
                }
            }
            return Ok(true);
        }
        _ => return Ok(false),
    };
    Ok(c.take(skip).is_some())
}

/// Field layout before the arguments table of each method that carries one.
#[derive(Clone, Copy)]
enum Field {
    U16,
    U8,
    Short,
}

/// Refuses method payloads whose field tables nest too deeply.
fn check_depth(payload: &[u8], class_id: u16, method_id: u16) -> Result<(), String> {
    use Field::{Short, U8, U16};
    let prefix: &[Field] = match (class_id, method_id) {
        (10, 11) => &[],                                        // connection.start-ok
        (40, 10) => &[U16, Short, Short, U8],                   // exchange.declare
        (40, 30) | (40, 40) => &[U16, Short, Short, Short, U8], // exchange.bind / unbind
        (50, 10) => &[U16, Short, U8],                          // queue.declare
        (50, 20) => &[U16, Short, Short, Short, U8],            // queue.bind
        (50, 50) => &[U16, Short, Short, Short],                // queue.unbind
        (60, 20) => &[U16, Short, Short, U8],                   // basic.consume
        _ => return Ok(()),
    };
    let mut c = Cursor(&payload[4..]);
    for field in prefix {
        let ok = match field {
            U16 => c.u16().map(drop),
            U8 => c.u8().map(drop),
            Short => c.short_string(),
        };
        if ok.is_none() {
            return Ok(());
        }
    }
    table_depth(&mut c, 1)
}

/// Refuses content headers whose `headers` table nests too deeply.
fn check_header_depth(payload: &[u8]) -> Result<(), String> {
    let mut c = Cursor(payload);
    let Some(flags) = c.take(12).and_then(|_| c.u16()) else {
        return Ok(());
    };
    for bit in [15, 14] {
        if flags & (1 << bit) != 0 && c.short_string().is_none() {
            return Ok(());
        }
    }
    if flags & (1 << 13) != 0 {
        return table_depth(&mut c, 1);
    }
    Ok(())
}

// ---------------------------------------------------------------- conversions

fn table_from_wire(t: &WireTable) -> FieldTable {
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
fn table_to_wire(t: &FieldTable) -> WireTable {
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

fn properties_from_wire(p: &basic::AMQPProperties) -> Properties {
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

fn properties_to_wire(p: &Properties) -> basic::AMQPProperties {
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
    let mut end = s.len().min(255);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    ShortString::try_new(&s[..end]).unwrap_or_else(|_| ShortString::default())
}

// ---------------------------------------------------------------- encoding

fn reply_to_wire(r: &Reply) -> AMQPClass {
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
        Reply::Deliver {
            consumer_tag,
            delivery_tag,
            redelivered,
            exchange: e,
            routing_key,
        } => C::Basic(basic::AMQPMethod::Deliver(basic::Deliver {
            consumer_tag: short(consumer_tag),
            delivery_tag: *delivery_tag,
            redelivered: *redelivered,
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

fn gen_into(out: &mut Vec<u8>, frame: &AMQPFrame) -> Result<(), EncodeError> {
    let ctx = gen_frame(frame)(WriteContext::from(Vec::new()))
        .map_err(|e| EncodeError(format!("cannot encode frame: {e:?}")))?;
    out.extend_from_slice(&ctx.into_inner().0);
    Ok(())
}

/// Appends a method frame.
pub(crate) fn write_method(
    out: &mut Vec<u8>,
    channel: u16,
    reply: &Reply,
) -> Result<(), EncodeError> {
    gen_into(out, &AMQPFrame::Method(channel, reply_to_wire(reply)))
}

/// Appends a content header frame (class 60).
pub(crate) fn write_header(
    out: &mut Vec<u8>,
    channel: u16,
    body_size: u64,
    properties: &Properties,
) -> Result<(), EncodeError> {
    let header = amq_protocol::frame::AMQPContentHeader {
        class_id: 60,
        body_size,
        properties: properties_to_wire(properties),
    };
    gen_into(out, &AMQPFrame::Header(channel, header))
}

/// Appends the body frames of one message: payloads of at most `frame_max - 8` bytes,
/// none for an empty body.
pub(crate) fn write_body(out: &mut Vec<u8>, channel: u16, body: &[u8], frame_max: u32) {
    let max_payload = (frame_max as usize).saturating_sub(FRAME_OVERHEAD).max(1);
    for chunk in body.chunks(max_payload) {
        out.push(FRAME_BODY);
        out.extend_from_slice(&channel.to_be_bytes());
        // A chunk is at most `frame_max - 8` bytes, which fits in `u32`.
        out.extend_from_slice(&(chunk.len() as u32).to_be_bytes());
        out.extend_from_slice(chunk);
        out.push(FRAME_END);
    }
}

/// Appends a heartbeat frame (channel 0).
pub(crate) fn write_heartbeat(out: &mut Vec<u8>) {
    out.extend_from_slice(&[FRAME_HEARTBEAT, 0, 0, 0, 0, 0, 0, FRAME_END]);
}

/// Appends a whole message (header and body frames) on one channel.
pub(crate) fn write_content(
    out: &mut Vec<u8>,
    channel: u16,
    properties: &Properties,
    body: &[u8],
    frame_max: u32,
) -> Result<(), EncodeError> {
    write_header(out, channel, body.len() as u64, properties)?;
    write_body(out, channel, body, frame_max);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use amq_protocol::frame::parse_frame;

    fn gen_client(class: AMQPClass) -> Vec<u8> {
        let mut out = Vec::new();
        gen_into(&mut out, &AMQPFrame::Method(1, class)).expect("encodes");
        // Strip the 7-byte frame header and the frame-end octet: the payload.
        out[7..out.len() - 1].to_vec()
    }

    fn all_values() -> FieldTable {
        let mut inner = FieldTable::new();
        inner.insert(
            "deep",
            FieldValue::Array(vec![FieldValue::LongInt(-1), FieldValue::Void]),
        );
        let mut t = FieldTable::new();
        for (k, v) in [
            ("bool", FieldValue::Boolean(true)),
            ("i8", FieldValue::ShortShortInt(-8)),
            ("u8", FieldValue::ShortShortUInt(8)),
            ("i16", FieldValue::ShortInt(-16)),
            ("u16", FieldValue::ShortUInt(16)),
            ("i32", FieldValue::LongInt(-32)),
            ("u32", FieldValue::LongUInt(32)),
            ("i64", FieldValue::LongLongInt(-64)),
            ("f32", FieldValue::Float(1.5)),
            ("f64", FieldValue::Double(2.5)),
            (
                "dec",
                FieldValue::Decimal {
                    scale: 2,
                    value: 314,
                },
            ),
            ("long", FieldValue::LongString(b"\xff\x00bytes".to_vec())),
            ("bytes", FieldValue::ByteArray(vec![1, 2, 3])),
            ("ts", FieldValue::Timestamp(1_700_000_000)),
            ("table", FieldValue::Table(inner.clone())),
            ("void", FieldValue::Void),
        ] {
            t.insert(k, v);
        }
        t
    }

    fn sorted(t: &FieldTable) -> Vec<(String, FieldValue)> {
        let mut v: Vec<_> = t.iter().map(|(k, v)| (k.to_owned(), v.clone())).collect();
        v.sort_by(|a, b| a.0.cmp(&b.0));
        v
    }

    #[test]
    fn field_tables_round_trip() {
        let t = all_values();
        let back = table_from_wire(&table_to_wire(&t));
        assert_eq!(sorted(&back), sorted(&t));
        // Values the codec cannot express map to their nearest wire type.
        let mut odd = FieldTable::new();
        odd.insert("u64", FieldValue::LongLongUInt(u64::MAX));
        odd.insert("short", FieldValue::ShortString("x".repeat(300)));
        odd.insert("k".repeat(300), 1);
        let back = table_from_wire(&table_to_wire(&odd));
        assert_eq!(back.get("u64"), Some(&FieldValue::LongLongInt(i64::MAX)));
        assert_eq!(
            back.get("short"),
            Some(&FieldValue::LongString(vec![b'x'; 300]))
        );
        assert_eq!(back.len(), 2, "a name over 255 bytes is left out");
    }

    #[test]
    fn client_methods_decode() {
        let mut args = FieldTable::new();
        args.insert("x-max-length", FieldValue::LongInt(10));
        let cases = [
            (
                AMQPClass::Queue(queue::AMQPMethod::Declare(queue::Declare {
                    queue: "q".into(),
                    passive: false,
                    durable: true,
                    exclusive: false,
                    auto_delete: true,
                    nowait: false,
                    arguments: table_to_wire(&args),
                })),
                Method::QueueDeclare {
                    queue: "q".into(),
                    passive: false,
                    durable: true,
                    exclusive: false,
                    auto_delete: true,
                    nowait: false,
                    arguments: args.clone(),
                },
            ),
            (
                AMQPClass::Basic(basic::AMQPMethod::Publish(basic::Publish {
                    exchange: "ex".into(),
                    routing_key: "a.b".into(),
                    mandatory: true,
                    immediate: false,
                })),
                Method::Publish(Publish {
                    exchange: "ex".into(),
                    routing_key: "a.b".into(),
                    mandatory: true,
                    immediate: false,
                }),
            ),
            (
                AMQPClass::Basic(basic::AMQPMethod::Nack(basic::Nack {
                    delivery_tag: 7,
                    multiple: true,
                    requeue: false,
                })),
                Method::Nack {
                    delivery_tag: 7,
                    multiple: true,
                    requeue: false,
                },
            ),
            (
                AMQPClass::Connection(connection::AMQPMethod::TuneOk(connection::TuneOk {
                    channel_max: 2047,
                    frame_max: 4096,
                    heartbeat: 1,
                })),
                Method::TuneOk {
                    channel_max: 2047,
                    frame_max: 4096,
                    heartbeat: 1,
                },
            ),
            (
                AMQPClass::Basic(basic::AMQPMethod::Deliver(basic::Deliver {
                    consumer_tag: "c".into(),
                    delivery_tag: 1,
                    redelivered: false,
                    exchange: "".into(),
                    routing_key: "".into(),
                })),
                Method::ServerOnly {
                    class_id: 60,
                    method_id: 60,
                },
            ),
            (
                AMQPClass::Tx(tx::AMQPMethod::Select(tx::Select {})),
                Method::TxSelect,
            ),
        ];
        for (wire, want) in cases {
            let got = decode_method(&gen_client(wire)).expect("decodes");
            assert_eq!(got, want);
        }
    }

    #[test]
    fn qos_keeps_prefetch_size() {
        let payload = [0, 60, 0, 10, 0, 0, 1, 0, 0, 5, 1];
        assert_eq!(
            decode_method(&payload),
            Ok(Method::Qos {
                prefetch_size: 256,
                prefetch_count: 5,
                global: true
            })
        );
        assert!(decode_method(&payload[..10]).is_err());
    }

    #[test]
    fn bad_payloads_are_frame_errors() {
        // channel.close whose reply text is not UTF-8.
        let bad_utf8 = [0, 20, 0, 40, 0, 200, 2, 0xff, 0xfe, 0, 0, 0, 0];
        let e = decode_method(&bad_utf8).expect_err("not UTF-8");
        assert_eq!((e.class_id, e.method_id), (20, 40));
        for payload in [
            &[][..],
            &[0, 60],
            &[0, 99, 0, 1],
            &[0, 60, 0, 40, 0],
            &[0, 20, 0, 10, 0, 9],
        ] {
            assert!(decode_method(payload).is_err(), "{payload:?}");
        }
        assert!(decode_header(&[0, 60, 0, 0]).is_err());
    }

    /// A queue.declare whose arguments nest `depth` tables.
    fn nested_declare(depth: usize) -> Vec<u8> {
        // Innermost first: an empty table, then wrap it `depth - 1` times in {"a": F ...}.
        let mut table = 0u32.to_be_bytes().to_vec();
        for _ in 1..depth {
            let mut entry = vec![1, b'a', b'F'];
            entry.extend_from_slice(&table);
            table = (entry.len() as u32).to_be_bytes().to_vec();
            table.extend_from_slice(&entry);
        }
        let mut p = vec![0, 50, 0, 10, 0, 0, 1, b'q', 0];
        p.extend_from_slice(&table);
        p
    }

    #[test]
    fn deep_tables_are_refused_before_parsing() {
        assert!(decode_method(&nested_declare(MAX_TABLE_DEPTH)).is_ok());
        let e = decode_method(&nested_declare(MAX_TABLE_DEPTH + 1)).expect_err("too deep");
        assert!(e.text.contains("nested"), "{}", e.text);
        // Deep enough to overflow a recursive parser's stack; refused in a few microseconds.
        assert!(decode_method(&nested_declare(20_000)).is_err());
    }

    #[test]
    fn replies_encode_as_valid_frames() {
        let long = "é".repeat(200); // 400 bytes: truncated, never a panic
        let replies = [
            Reply::Start {
                server_properties: all_values(),
                mechanisms: "PLAIN AMQPLAIN".into(),
                locales: "en_US".into(),
            },
            Reply::Tune {
                channel_max: 2047,
                frame_max: 131_072,
                heartbeat: 60,
            },
            Reply::OpenOk,
            Reply::ConnectionClose {
                reply_code: 320,
                reply_text: long.clone(),
                class_id: 0,
                method_id: 0,
            },
            Reply::ChannelClose {
                reply_code: 404,
                reply_text: "NOT_FOUND".into(),
                class_id: 50,
                method_id: 10,
            },
            Reply::QueueDeclareOk {
                queue: long.clone(),
                message_count: 1,
                consumer_count: 2,
            },
            Reply::Deliver {
                consumer_tag: long.clone(),
                delivery_tag: 9,
                redelivered: true,
                exchange: "e".into(),
                routing_key: "k".into(),
            },
            Reply::GetOk {
                delivery_tag: 1,
                redelivered: false,
                exchange: "".into(),
                routing_key: "".into(),
                message_count: 0,
            },
            Reply::Return {
                reply_code: 312,
                reply_text: "NO_ROUTE".into(),
                exchange: "".into(),
                routing_key: "x".into(),
            },
            Reply::Ack {
                delivery_tag: 3,
                multiple: true,
            },
            Reply::Nack {
                delivery_tag: 3,
                multiple: false,
                requeue: false,
            },
            Reply::Blocked {
                reason: "low on memory".into(),
            },
            Reply::ConfirmSelectOk,
            Reply::Cancel {
                consumer_tag: "c".into(),
            },
        ];
        for reply in &replies {
            let mut out = Vec::new();
            write_method(&mut out, 3, reply).expect("encodes");
            let (rest, frame) = parse_frame(&out[..]).expect("parses");
            assert!(rest.is_empty());
            assert_eq!(frame.channel_id(), 3);
        }
    }

    #[test]
    fn amqplain_responses() {
        let mut t = WireTable::default();
        t.insert(short("LOGIN"), AMQPValue::LongString("user".into()));
        t.insert(short("PASSWORD"), AMQPValue::LongString("pass".into()));
        let mut out = Vec::new();
        let ctx =
            amq_protocol::types::generation::gen_field_table(&t)(WriteContext::from(Vec::new()))
                .expect("encodes");
        out.extend_from_slice(&ctx.into_inner().0[4..]);
        assert_eq!(decode_amqplain(&out), Some(("user".into(), "pass".into())));
        assert_eq!(decode_amqplain(&out[..5]), None);
        assert_eq!(decode_amqplain(b""), None);
    }

    #[test]
    fn short_truncates_at_char_boundaries() {
        assert_eq!(short("abc").as_str(), "abc");
        assert_eq!(short(&"a".repeat(300)).as_str().len(), 255);
        assert_eq!(short(&"é".repeat(200)).as_str().len(), 254);
    }

    #[test]
    fn content_round_trips_and_splits_bodies() {
        let props = Properties {
            content_type: Some("text/plain".into()),
            headers: Some(all_values()),
            delivery_mode: Some(2),
            message_id: Some("m-1".into()),
            timestamp: Some(5),
            kind: Some("t".into()),
            ..Properties::default()
        };
        let body = vec![7u8; 10_000];
        let mut out = Vec::new();
        write_content(&mut out, 2, &props, &body, 4096).expect("encodes");
        let (mut rest, header) = parse_frame(&out[..]).expect("header parses");
        let AMQPFrame::Header(2, h) = header else {
            panic!("not a header: {header:?}")
        };
        assert_eq!(h.body_size, 10_000);
        let back = properties_from_wire(&h.properties);
        assert_eq!(back.message_id, props.message_id);
        assert_eq!(
            sorted(back.headers.as_ref().unwrap()),
            sorted(&all_values())
        );
        let mut sizes = Vec::new();
        while !rest.is_empty() {
            let (r, f) = parse_frame(rest).expect("body parses");
            let AMQPFrame::Body(2, b) = f else {
                panic!("not a body")
            };
            sizes.push(b.len());
            rest = r;
        }
        assert_eq!(sizes, [4088, 4088, 1824]);
        let mut empty = Vec::new();
        write_content(&mut empty, 1, &Properties::default(), &[], 4096).expect("encodes");
        assert_eq!(empty.len(), 22, "header frame only, no body frame");
    }
}
