//! The steady path's outbound frames written byte by byte: `basic.deliver`, the
//! content header and `basic.ack` / `basic.nack`. Going through `amq-protocol` costs,
//! per delivery, an owned copy of each string, a property struct, a fresh buffer and a
//! copy out of it; these write straight into the connection's buffer. Each produces
//! exactly the bytes of the general path (`tests.rs` compares them), including the
//! truncation of short strings at 255 bytes on a character boundary.

use amq_protocol::frame::WriteContext;
use amq_protocol::types::generation::gen_field_table;

use super::values::truncated;
use super::{EncodeError, FRAME_END, FRAME_HEADER, FRAME_METHOD, table_to_wire};
use crate::amqp::method::Properties;

/// A short string, truncated as [`short`](super::short) truncates it.
fn put_short(out: &mut Vec<u8>, s: &str) {
    let b = truncated(s).as_bytes();
    // At most 255 by `truncated`.
    out.push(b.len() as u8);
    out.extend_from_slice(b);
}

/// Starts a frame: type, channel and a size to be patched by [`end_frame`]; returns
/// where the payload starts.
fn begin_frame(out: &mut Vec<u8>, kind: u8, channel: u16) -> usize {
    out.push(kind);
    out.extend_from_slice(&channel.to_be_bytes());
    out.extend_from_slice(&[0; 4]);
    out.len()
}

fn end_frame(out: &mut Vec<u8>, start: usize) -> Result<(), EncodeError> {
    let size = u32::try_from(out.len() - start)
        .map_err(|_| EncodeError("frame payload over 4 GiB".into()))?;
    out[start - 4..start].copy_from_slice(&size.to_be_bytes());
    out.push(FRAME_END);
    Ok(())
}

/// Appends a `basic.deliver` method frame.
pub(crate) fn write_deliver(
    out: &mut Vec<u8>,
    channel: u16,
    consumer_tag: &str,
    delivery_tag: u64,
    redelivered: bool,
    exchange: &str,
    routing_key: &str,
) {
    let start = begin_frame(out, FRAME_METHOD, channel);
    out.extend_from_slice(&[0, 60, 0, 60]);
    put_short(out, consumer_tag);
    out.extend_from_slice(&delivery_tag.to_be_bytes());
    out.push(u8::from(redelivered));
    put_short(out, exchange);
    put_short(out, routing_key);
    // Three short strings and 13 bytes: far below 4 GiB.
    let _ = end_frame(out, start);
}

/// Appends a `basic.ack` (`nack: None`) or `basic.nack` (`Some(requeue)`) method frame.
pub(crate) fn write_ack(
    out: &mut Vec<u8>,
    channel: u16,
    delivery_tag: u64,
    multiple: bool,
    nack: Option<bool>,
) {
    out.push(FRAME_METHOD);
    out.extend_from_slice(&channel.to_be_bytes());
    out.extend_from_slice(&13u32.to_be_bytes());
    out.extend_from_slice(&[0, 60, 0, if nack.is_some() { 120 } else { 80 }]);
    out.extend_from_slice(&delivery_tag.to_be_bytes());
    out.push(u8::from(multiple) | (u8::from(nack == Some(true)) << 1));
    out.push(FRAME_END);
}

/// Appends a content header frame (class 60) with `properties`; on error `out` is as
/// it was (no partial frame).
pub(crate) fn write_header(
    out: &mut Vec<u8>,
    channel: u16,
    body_size: u64,
    p: &Properties,
) -> Result<(), EncodeError> {
    let len = out.len();
    let r = header_frame(out, channel, body_size, p);
    if r.is_err() {
        out.truncate(len);
    }
    r
}

fn header_frame(
    out: &mut Vec<u8>,
    channel: u16,
    body_size: u64,
    p: &Properties,
) -> Result<(), EncodeError> {
    let start = begin_frame(out, FRAME_HEADER, channel);
    out.extend_from_slice(&[0, 60, 0, 0]);
    out.extend_from_slice(&body_size.to_be_bytes());
    let flags_at = out.len();
    out.extend_from_slice(&[0, 0]);
    let mut flags = short_field(out, 0x8000, &p.content_type);
    flags |= short_field(out, 0x4000, &p.content_encoding);
    if let Some(h) = &p.headers {
        let ctx = gen_field_table(&table_to_wire(h))(WriteContext::from(Vec::new()))
            .map_err(|e| EncodeError(format!("cannot encode headers: {e:?}")))?;
        out.extend_from_slice(&ctx.into_inner().0);
        flags |= 0x2000;
    }
    flags |= octet_field(out, 0x1000, p.delivery_mode);
    flags |= octet_field(out, 0x0800, p.priority);
    flags |= short_field(out, 0x0400, &p.correlation_id);
    flags |= short_field(out, 0x0200, &p.reply_to);
    flags |= short_field(out, 0x0100, &p.expiration);
    flags |= short_field(out, 0x0080, &p.message_id);
    if let Some(t) = p.timestamp {
        out.extend_from_slice(&t.to_be_bytes());
        flags |= 0x0040;
    }
    flags |= short_field(out, 0x0020, &p.kind);
    flags |= short_field(out, 0x0010, &p.user_id);
    flags |= short_field(out, 0x0008, &p.app_id);
    flags |= short_field(out, 0x0004, &p.cluster_id);
    out[flags_at..flags_at + 2].copy_from_slice(&flags.to_be_bytes());
    end_frame(out, start)
}

/// Writes an optional short-string property; its flag bit if present.
fn short_field(out: &mut Vec<u8>, bit: u16, v: &Option<String>) -> u16 {
    match v {
        Some(s) => {
            put_short(out, s);
            bit
        }
        None => 0,
    }
}

/// Writes an optional octet property; its flag bit if present.
fn octet_field(out: &mut Vec<u8>, bit: u16, v: Option<u8>) -> u16 {
    match v {
        Some(b) => {
            out.push(b);
            bit
        }
        None => 0,
    }
}
