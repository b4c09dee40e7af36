//! A hook for the `amqp_frames` fuzz target: the inbound pipeline (framing, decoding,
//! content reassembly) on arbitrary bytes, with its memory bounds asserted.

use std::collections::HashMap;

use super::content::{ContentAssembler, Step};
use super::reader::{Frame, FrameReader, MIN_FRAME_MAX};

/// Message-size limit used by [`check_frames`], small so the fuzzer reaches it.
pub const FUZZ_MAX_MESSAGE_SIZE: u64 = 64 * 1024;

/// Feeds `data` to a frame reader in chunks whose sizes cycle through `chunk_sizes`
/// (0 counts as 1), with the reader tuned to `frame_max` (clamped to
/// 4096..=131072) after the protocol header, and each channel's frames to its own
/// content assembler. Returns the number of complete frames read.
///
/// # Panics
///
/// Only when an invariant breaks: the reader holds more than two maximum-size frames,
/// or an assembler more than the message-size limit. Protocol errors end the run
/// quietly, as they end a connection.
pub fn check_frames(data: &[u8], chunk_sizes: &[usize], frame_max: u32) -> usize {
    let mut reader = FrameReader::new();
    let mut tuned = false;
    let mut assemblers: HashMap<u16, ContentAssembler> = HashMap::new();
    let mut frames = 0;
    let mut rest = data;
    let mut sizes = chunk_sizes.iter().copied().cycle();
    while !rest.is_empty() {
        let want = sizes.next().unwrap_or(rest.len()).max(1).min(rest.len());
        let mut piece = &rest[..want];
        rest = &rest[want..];
        while !piece.is_empty() {
            let n = reader.push(piece);
            piece = &piece[n..];
            loop {
                let frame = match reader.next_frame() {
                    Ok(Some(frame)) => frame,
                    Ok(None) => break,
                    Err(_) => return frames,
                };
                frames += 1;
                if !tuned {
                    reader.set_frame_max(frame_max.clamp(MIN_FRAME_MAX, 131_072));
                    tuned = true;
                }
                if matches!(frame, Frame::Heartbeat(_)) || frame.channel() == 0 {
                    continue;
                }
                let a = assemblers
                    .entry(frame.channel())
                    .or_insert_with(|| ContentAssembler::new(FUZZ_MAX_MESSAGE_SIZE));
                match a.accept(frame) {
                    Ok(Step::Complete(c)) => {
                        assert!(c.body.len() as u64 <= FUZZ_MAX_MESSAGE_SIZE);
                    }
                    Ok(Step::Method(_) | Step::Pending) => {}
                    Err(_) => return frames,
                }
                assert!(
                    a.buffered() as u64 <= FUZZ_MAX_MESSAGE_SIZE,
                    "assembler over limit"
                );
            }
            assert!(
                reader.buffered() <= reader.capacity(),
                "reader holds {} bytes, bound {}",
                reader.buffered(),
                reader.capacity()
            );
        }
    }
    frames
}
