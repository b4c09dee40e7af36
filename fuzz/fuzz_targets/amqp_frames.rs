//! Property: arbitrary bytes, cut into arbitrary chunks, never make the AMQP frame
//! reader or the content assembler panic, and never make them buffer more than about
//! two frames (reader) or the message-size limit (assembler). The assertions live in
//! `trackswitch::amqp::fuzz::check_frames`.
//!
//! With the session bit set, the same stream is also sent, after a valid handshake
//! and followed by `connection.close`, to a real server on loopback
//! (`trackswitch::amqp::fuzz::check_session`): transactions, channel errors and the
//! close path on the wire. The server must end the session cleanly (nothing after
//! its close-ok or Close, the socket closed in time) and leave nothing behind: no
//! unacked message, no memory counted beyond the ready messages. With the flow bit, the
//! server is one under flow control: any held message blocks its publisher, whose
//! frames then wait until the harness drains the queues.
//!
//! Input: two bytes of frame_max hint, one byte (low 4 bits: chunk-size count; bit 7:
//! session; bit 6: the client half-closes after writing; bit 5: flow control), that
//! many chunk sizes (one byte each), then the stream. Seeds (`corpus/amqp_frames/seed-*`) put the protocol
//! header at the start of the stream; `seed-session-*` are session streams.
#![no_main]

use libfuzzer_sys::{Corpus, fuzz_target};
use trackswitch::amqp::fuzz::{check_frames, check_session};

/// Streams longer than this are rejected: a few maximum-size frames is enough.
const MAX_INPUT: usize = 1 << 20;

fuzz_target!(|data: &[u8]| -> Corpus {
    if data.len() > MAX_INPUT || data.len() < 3 {
        return Corpus::Reject;
    }
    // frame_max from 4096 up in steps of 512 bytes.
    let frame_max = 4096 + 512 * u32::from(u16::from_be_bytes([data[0], data[1]]) % 249);
    let n = usize::from(data[2] % 16);
    let Some(sizes) = data.get(3..3 + n) else {
        return Corpus::Reject;
    };
    let chunk_sizes: Vec<usize> = sizes.iter().map(|&s| usize::from(s) * 37 + 1).collect();
    let stream = &data[3 + n..];
    check_frames(stream, &chunk_sizes, frame_max);
    if data[2] & 0x80 != 0 {
        check_session(stream, data[2] & 0x40 != 0, data[2] & 0x20 != 0);
    }
    Corpus::Keep
});
