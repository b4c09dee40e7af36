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
//!
//! This file holds framing and the entry points; `inbound` maps client methods,
//! `outbound` server replies, `values` field tables and properties, `depth` the
//! nesting check, `fast` the steady path's outbound frames (deliver, content header,
//! ack and nack) written byte by byte, the same bytes as `amq-protocol` writes.

use amq_protocol::frame::{AMQPFrame, WriteContext, gen_frame};
use amq_protocol::protocol::parse_class;
use amq_protocol::types::AMQPValue;

use super::method::{ContentHeader, Method, Properties, Reply};

mod depth;
mod fast;
mod inbound;
mod outbound;
mod values;

use depth::{Cursor, check_depth, check_header_depth, table_depth};
pub(crate) use fast::write_deliver;
use inbound::method_from_wire;
use outbound::reply_to_wire;
#[cfg(test)]
use values::properties_to_wire;
pub(crate) use values::short;
use values::{properties_from_wire, table_from_wire, table_to_wire};

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
    // `basic.publish`, the method of every message, is read directly: the general
    // decoder's parser combinators cost more than the rest of the frame. Anything
    // unusual (invalid UTF-8, reserved bits, trailing bytes) takes the general path,
    // which decides what it is.
    if (class_id, method_id) == (60, 40) {
        if let Some(p) = publish_fast(&payload[4..]) {
            return Ok(Method::Publish(p));
        }
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

/// A cursor over a payload for the fast paths: `None` on running short or on a short
/// string that is not UTF-8, which sends the payload to the general path.
struct Rd<'a>(&'a [u8]);

impl<'a> Rd<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let (a, b) = (self.0.get(..n)?, self.0.get(n..)?);
        self.0 = b;
        Some(a)
    }
    fn u8(&mut self) -> Option<u8> {
        Some(self.take(1)?[0])
    }
    fn short(&mut self) -> Option<&'a str> {
        let n = usize::from(self.u8()?);
        std::str::from_utf8(self.take(n)?).ok()
    }
}

/// `basic.publish`'s arguments (after class and method ids) when they are plain: the
/// reserved ticket, two valid UTF-8 short strings and the two flag bits.
fn publish_fast(args: &[u8]) -> Option<super::method::Publish> {
    let mut r = Rd(args);
    r.take(2)?; // ticket
    let exchange = r.short()?;
    let routing_key = r.short()?;
    let [bits] = r.0 else { return None };
    if bits & !3 != 0 {
        return None;
    }
    Some(super::method::Publish {
        exchange: exchange.to_owned(),
        routing_key: routing_key.to_owned(),
        mandatory: bits & 1 != 0,
        immediate: bits & 2 != 0,
    })
}

/// A content header without `headers` (nor the reserved flag bit, nor a flags
/// continuation), its short strings valid UTF-8 and nothing after its last property.
fn header_fast(payload: &[u8]) -> Option<Box<ContentHeader>> {
    let mut r = Rd(payload);
    let class_id = u16::from_be_bytes(r.take(2)?.try_into().ok()?);
    r.take(2)?; // weight
    let body_size = u64::from_be_bytes(r.take(8)?.try_into().ok()?);
    let flags = u16::from_be_bytes(r.take(2)?.try_into().ok()?);
    // Headers (a table), the reserved bit and a flags continuation: the general path.
    if flags & 0x2003 != 0 {
        return None;
    }
    let has = |bit: u16| flags & bit != 0;
    // Filled in place: the properties are a few hundred bytes, not moved again.
    let mut h = Box::new(ContentHeader {
        class_id,
        body_size,
        properties: Properties::default(),
    });
    let p = &mut h.properties;
    if has(0x8000) {
        p.content_type = Some(r.short()?.to_owned());
    }
    if has(0x4000) {
        p.content_encoding = Some(r.short()?.to_owned());
    }
    if has(0x1000) {
        p.delivery_mode = Some(r.u8()?);
    }
    if has(0x0800) {
        p.priority = Some(r.u8()?);
    }
    if has(0x0400) {
        p.correlation_id = Some(r.short()?.to_owned());
    }
    if has(0x0200) {
        p.reply_to = Some(r.short()?.to_owned());
    }
    if has(0x0100) {
        p.expiration = Some(r.short()?.to_owned());
    }
    if has(0x0080) {
        p.message_id = Some(r.short()?.to_owned());
    }
    if has(0x0040) {
        p.timestamp = Some(u64::from_be_bytes(r.take(8)?.try_into().ok()?));
    }
    if has(0x0020) {
        p.kind = Some(r.short()?.to_owned());
    }
    if has(0x0010) {
        p.user_id = Some(r.short()?.to_owned());
    }
    if has(0x0008) {
        p.app_id = Some(r.short()?.to_owned());
    }
    if has(0x0004) {
        p.cluster_id = Some(r.short()?.to_owned());
    }
    if !r.0.is_empty() {
        return None;
    }
    Some(h)
}

/// Decodes a content header frame's payload.
pub(crate) fn decode_header(payload: &[u8]) -> Result<Box<ContentHeader>, DecodeError> {
    let class_id = payload
        .get(0..2)
        .map_or(0, |b| u16::from_be_bytes([b[0], b[1]]));
    let fail = |text: &str| DecodeError {
        class_id,
        method_id: 0,
        text: text.to_owned(),
    };
    // Most messages carry a few simple properties and no headers: read directly, as
    // `basic.publish` is (see `decode_method`); the rest takes the general path.
    if let Some(h) = header_fast(payload) {
        return Ok(h);
    }
    check_header_depth(payload).map_err(|t| fail(&t))?;
    match amq_protocol::frame::parsing::parse_content_header(payload) {
        Ok(([], h)) => Ok(Box::new(ContentHeader {
            class_id: h.class_id,
            body_size: h.body_size,
            properties: properties_from_wire(&h.properties),
        })),
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
    match *reply {
        Reply::Ack {
            delivery_tag,
            multiple,
        } => fast::write_ack(out, channel, delivery_tag, multiple, None),
        Reply::Nack {
            delivery_tag,
            multiple,
            requeue,
        } => fast::write_ack(out, channel, delivery_tag, multiple, Some(requeue)),
        _ => return write_method_general(out, channel, reply),
    }
    Ok(())
}

/// [`write_method`] through `amq-protocol` (every reply; the tests compare).
pub(crate) fn write_method_general(
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
    fast::write_header(out, channel, body_size, properties)
}

/// [`write_header`] through `amq-protocol` (the tests compare).
#[cfg(test)]
pub(crate) fn write_header_general(
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
mod tests;
