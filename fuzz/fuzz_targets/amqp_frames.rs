//! Property: arbitrary bytes, cut into arbitrary chunks, never make the AMQP frame
//! reader or the content assembler panic, and never make them buffer more than about
//! two frames (reader) or the message-size limit (assembler). The assertions live in
//! `trackswitch::amqp::fuzz::check_frames`.
//!
//! Input: two bytes of frame_max hint, one byte of chunk-size count, that many chunk
//! sizes (one byte each), then the stream. Seeds (`corpus/amqp_frames/seed-*`) put the
//! protocol header at the start of the stream.
#![no_main]

use libfuzzer_sys::{Corpus, fuzz_target};
use trackswitch::amqp::fuzz::check_frames;

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
    check_frames(&data[3 + n..], &chunk_sizes, frame_max);
    Corpus::Keep
});
