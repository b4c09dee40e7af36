//! Inbound framing: bytes in arbitrary chunks, complete frames out.
//!
//! The reader checks each frame's header before it buffers the payload: a payload size
//! above the negotiated `frame_max` or a missing frame-end octet is a 501 FRAME_ERROR, so a
//! huge length prefix never makes it wait or allocate. Its buffer never holds more than
//! [`FrameReader::capacity`] bytes (two maximum-size frames); [`FrameReader::push`]
//! takes only what fits, and a full buffer always holds a complete frame or an error.

use super::codec::{
    self, DecodeError, FRAME_BODY, FRAME_END, FRAME_HEADER, FRAME_HEARTBEAT, FRAME_METHOD,
    FRAME_OVERHEAD, PROTOCOL_HEADER,
};
use super::method::{ContentHeader, Method};

/// The frame_max in force before Tune: the spec's minimum frame size.
pub(crate) const MIN_FRAME_MAX: u32 = 4096;

/// One inbound frame.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Frame {
    Method(u16, Method),
    /// Boxed: its properties make it three times the size of every other frame,
    /// and frames are moved through several layers per message.
    Header(u16, Box<ContentHeader>),
    Body(u16, Vec<u8>),
    /// A heartbeat; on a channel other than 0 it is a 505 error for the caller.
    Heartbeat(u16),
}

impl Frame {
    /// The channel the frame arrived on.
    pub(crate) fn channel(&self) -> u16 {
        match self {
            Frame::Method(c, _) | Frame::Header(c, _) | Frame::Body(c, _) | Frame::Heartbeat(c) => {
                *c
            }
        }
    }
}

/// Why reading stopped. Every case closes the connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ReadError {
    /// The peer did not open with `AMQP 0-9-1`: answer with our header and close.
    ProtocolHeader,
    /// A connection error: reply code, text, failing class and method ids.
    Frame {
        code: u16,
        text: String,
        class_id: u16,
        method_id: u16,
    },
}

impl ReadError {
    fn frame_error(text: String) -> ReadError {
        ReadError::Frame {
            code: 501,
            text,
            class_id: 0,
            method_id: 0,
        }
    }
}

impl From<DecodeError> for ReadError {
    fn from(e: DecodeError) -> ReadError {
        ReadError::Frame {
            code: 501,
            text: e.text,
            class_id: e.class_id,
            method_id: e.method_id,
        }
    }
}

/// Turns a byte stream into frames; see the [module docs](self).
#[derive(Debug)]
pub(crate) struct FrameReader {
    /// Received bytes; `buf[start..]` are not yet consumed. `buf.len()` never exceeds
    /// `capacity()`.
    buf: Vec<u8>,
    start: usize,
    /// Largest frame accepted, header and frame-end included.
    frame_max: u32,
    /// Whether the 8-byte protocol header has been read.
    header_seen: bool,
    /// A sticky error: once reading failed it keeps failing.
    failed: Option<ReadError>,
}

impl Default for FrameReader {
    fn default() -> Self {
        FrameReader::new()
    }
}

impl FrameReader {
    /// A reader expecting the protocol header, with frames limited to
    /// [`MIN_FRAME_MAX`] until [`set_frame_max`](Self::set_frame_max).
    pub(crate) fn new() -> FrameReader {
        FrameReader {
            buf: Vec::new(),
            start: 0,
            frame_max: MIN_FRAME_MAX,
            header_seen: false,
            failed: None,
        }
    }

    /// Sets the negotiated frame_max (at least [`MIN_FRAME_MAX`]).
    pub(crate) fn set_frame_max(&mut self, frame_max: u32) {
        self.frame_max = frame_max.max(MIN_FRAME_MAX);
    }

    /// Most bytes the reader ever buffers: two maximum-size frames.
    pub(crate) fn capacity(&self) -> usize {
        2 * (self.frame_max as usize + FRAME_OVERHEAD)
    }

    /// Bytes held right now (allocated buffer size).
    pub(crate) fn buffered(&self) -> usize {
        self.buf.capacity()
    }

    /// Bytes [`push`](Self::push) would take now. After [`next_frame`](Self::next_frame)
    /// returned `Ok(None)` this is at least half the capacity (no complete frame is
    /// buffered, so less than one maximum-size frame is).
    pub(crate) fn room(&self) -> usize {
        self.capacity().saturating_sub(self.buf.len() - self.start)
    }

    /// Appends as much of `bytes` as fits and returns how many bytes were taken.
    /// Take frames out with [`next_frame`](Self::next_frame) and push the rest again.
    pub(crate) fn push(&mut self, bytes: &[u8]) -> usize {
        if self.start > 0 {
            self.buf.drain(..self.start);
            self.start = 0;
        }
        let room = self.capacity().saturating_sub(self.buf.len());
        let n = room.min(bytes.len());
        if n == 0 {
            return 0;
        }
        if self.buf.capacity() - self.buf.len() < n {
            // Grow geometrically but never past `capacity()`.
            let want = (self.buf.len() + n)
                .max(self.buf.capacity() * 2)
                .min(self.capacity());
            self.buf.reserve_exact(want - self.buf.len());
        }
        self.buf.extend_from_slice(&bytes[..n]);
        n
    }

    /// The next complete frame, `Ok(None)` when more bytes are needed.
    pub(crate) fn next_frame(&mut self) -> Result<Option<Frame>, ReadError> {
        if let Some(e) = &self.failed {
            return Err(e.clone());
        }
        let result = self.decode_next();
        if let Err(e) = &result {
            self.failed = Some(e.clone());
        }
        result
    }

    /// Reads the protocol header if it is not read yet: `Ok(true)` once it has been.
    pub(crate) fn read_header(&mut self) -> Result<bool, ReadError> {
        if self.header_seen {
            return Ok(true);
        }
        if let Some(e) = &self.failed {
            return Err(e.clone());
        }
        let pending = &self.buf[self.start..];
        let n = pending.len().min(PROTOCOL_HEADER.len());
        if pending[..n] != PROTOCOL_HEADER[..n] {
            self.failed = Some(ReadError::ProtocolHeader);
            return Err(ReadError::ProtocolHeader);
        }
        if n < PROTOCOL_HEADER.len() {
            return Ok(false);
        }
        self.start += PROTOCOL_HEADER.len();
        self.header_seen = true;
        Ok(true)
    }

    fn decode_next(&mut self) -> Result<Option<Frame>, ReadError> {
        if !self.read_header()? {
            return Ok(None);
        }
        let pending = &self.buf[self.start..];
        let [kind, c0, c1, s0, s1, s2, s3, ..] = *pending else {
            return Ok(None);
        };
        let channel = u16::from_be_bytes([c0, c1]);
        let size = u32::from_be_bytes([s0, s1, s2, s3]);
        if !matches!(
            kind,
            FRAME_METHOD | FRAME_HEADER | FRAME_BODY | FRAME_HEARTBEAT
        ) {
            return Err(ReadError::frame_error(format!(
                "FRAME_ERROR - unknown frame type {kind}"
            )));
        }
        // Like RabbitMQ, tolerate a payload of up to frame_max itself (clients differ on
        // whether frame_max counts the 8 framing bytes).
        if size > self.frame_max {
            return Err(ReadError::frame_error(format!(
                "FRAME_ERROR - frame size {size} larger than negotiated maximum {}",
                self.frame_max
            )));
        }
        let total = size as usize + FRAME_OVERHEAD;
        if pending.len() < total {
            return Ok(None);
        }
        if pending[total - 1] != FRAME_END {
            return Err(ReadError::frame_error(format!(
                "FRAME_ERROR - bad frame end octet {:#04x}",
                pending[total - 1]
            )));
        }
        let payload = &pending[7..total - 1];
        let frame = match kind {
            FRAME_METHOD => Frame::Method(channel, codec::decode_method(payload)?),
            FRAME_HEADER => Frame::Header(channel, codec::decode_header(payload)?),
            FRAME_BODY => Frame::Body(channel, payload.to_vec()),
            _ => Frame::Heartbeat(channel),
        };
        self.start += total;
        Ok(Some(frame))
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::amqp::method::Publish;

    /// One raw frame.
    pub(crate) fn frame(kind: u8, channel: u16, payload: &[u8]) -> Vec<u8> {
        let mut f = vec![kind];
        f.extend_from_slice(&channel.to_be_bytes());
        f.extend_from_slice(&(payload.len() as u32).to_be_bytes());
        f.extend_from_slice(payload);
        f.push(FRAME_END);
        f
    }

    pub(crate) fn publish(channel: u16, exchange: &str, key: &str) -> Vec<u8> {
        let mut p = vec![0, 60, 0, 40, 0, 0, exchange.len() as u8];
        p.extend_from_slice(exchange.as_bytes());
        p.push(key.len() as u8);
        p.extend_from_slice(key.as_bytes());
        p.push(0);
        frame(FRAME_METHOD, channel, &p)
    }

    pub(crate) fn header(channel: u16, body_size: u64) -> Vec<u8> {
        let mut p = vec![0, 60, 0, 0];
        p.extend_from_slice(&body_size.to_be_bytes());
        p.extend_from_slice(&[0, 0]);
        frame(FRAME_HEADER, channel, &p)
    }

    pub(crate) fn channel_open(channel: u16) -> Vec<u8> {
        frame(FRAME_METHOD, channel, &[0, 20, 0, 10, 0])
    }

    fn stream() -> Vec<u8> {
        let mut s = PROTOCOL_HEADER.to_vec();
        s.extend(channel_open(1));
        s.extend(publish(1, "ex", "k"));
        s.extend(header(1, 3));
        s.extend(frame(FRAME_BODY, 1, b"abc"));
        s.extend(frame(FRAME_HEARTBEAT, 0, &[]));
        s
    }

    fn expected() -> Vec<Frame> {
        vec![
            Frame::Method(1, Method::ChannelOpen),
            Frame::Method(
                1,
                Method::Publish(Publish {
                    exchange: "ex".into(),
                    routing_key: "k".into(),
                    mandatory: false,
                    immediate: false,
                }),
            ),
            Frame::Header(
                1,
                Box::new(ContentHeader {
                    class_id: 60,
                    body_size: 3,
                    properties: Default::default(),
                }),
            ),
            Frame::Body(1, b"abc".to_vec()),
            Frame::Heartbeat(0),
        ]
    }

    /// Feeds `bytes` in chunks of `chunk` bytes and collects frames until an error.
    fn read_all(
        reader: &mut FrameReader,
        bytes: &[u8],
        chunk: usize,
    ) -> (Vec<Frame>, Option<ReadError>) {
        let mut frames = Vec::new();
        for mut piece in bytes.chunks(chunk) {
            while !piece.is_empty() {
                let n = reader.push(piece);
                piece = &piece[n..];
                loop {
                    match reader.next_frame() {
                        Ok(Some(f)) => frames.push(f),
                        Ok(None) => break,
                        Err(e) => return (frames, Some(e)),
                    }
                }
                assert!(reader.buffered() <= reader.capacity());
            }
        }
        (frames, None)
    }

    #[test]
    fn any_chunking_gives_the_same_frames() {
        let bytes = stream();
        for chunk in [1, 2, 3, 7, 8, 13, bytes.len()] {
            let (frames, err) = read_all(&mut FrameReader::new(), &bytes, chunk);
            assert_eq!(err, None, "chunk {chunk}");
            assert_eq!(frames, expected(), "chunk {chunk}");
        }
    }

    #[test]
    fn protocol_header_is_checked() {
        for bad in [
            &b"AMQP\x00\x00\x09\x00"[..],
            b"AMQP\x01\x01\x00\x09",
            b"GET / HTTP/1.1\r\n",
        ] {
            let (frames, err) = read_all(&mut FrameReader::new(), bad, 1);
            assert!(frames.is_empty());
            assert_eq!(err, Some(ReadError::ProtocolHeader), "{bad:?}");
        }
        // A wrong first byte fails at once, without waiting for eight bytes.
        let mut r = FrameReader::new();
        r.push(b"G");
        assert_eq!(r.next_frame(), Err(ReadError::ProtocolHeader));
        let mut r = FrameReader::new();
        r.push(b"AMQP");
        assert_eq!(r.next_frame(), Ok(None));
    }

    #[test]
    fn oversized_frame_fails_before_buffering() {
        let mut r = FrameReader::new();
        r.push(&PROTOCOL_HEADER);
        r.push(&[FRAME_BODY, 0, 1, 0x7f, 0xff, 0xff, 0xff]);
        match r.next_frame() {
            Err(ReadError::Frame {
                code: 501, text, ..
            }) => assert!(text.contains("larger"), "{text}"),
            other => panic!("{other:?}"),
        }
        assert!(r.buffered() < 64);
        // The error sticks.
        assert!(r.next_frame().is_err());
        // After tuning, a frame just at frame_max passes.
        let mut r = FrameReader::new();
        r.set_frame_max(8192);
        let mut bytes = PROTOCOL_HEADER.to_vec();
        bytes.extend(frame(FRAME_BODY, 1, &vec![0; 8192]));
        bytes.extend(frame(FRAME_BODY, 1, &vec![0; 8193]));
        let (frames, err) = read_all(&mut r, &bytes, 1000);
        assert_eq!(frames.len(), 1);
        assert!(matches!(err, Some(ReadError::Frame { code: 501, .. })));
    }

    #[test]
    fn frame_errors() {
        let mut bad_end = frame(FRAME_HEARTBEAT, 0, &[]);
        *bad_end.last_mut().unwrap() = 0;
        let cases: [(&str, Vec<u8>); 4] = [
            ("bad frame end", bad_end),
            ("unknown type", frame(9, 0, &[])),
            (
                "undecodable method",
                frame(FRAME_METHOD, 1, &[0, 60, 0, 40, 9]),
            ),
            ("undecodable header", frame(FRAME_HEADER, 1, &[0, 60])),
        ];
        for (name, f) in cases {
            let mut bytes = PROTOCOL_HEADER.to_vec();
            bytes.extend(f);
            let (_, err) = read_all(&mut FrameReader::new(), &bytes, 3);
            assert!(
                matches!(err, Some(ReadError::Frame { code: 501, .. })),
                "{name}: {err:?}"
            );
        }
    }

    #[test]
    fn push_takes_only_what_fits() {
        let mut bytes = PROTOCOL_HEADER.to_vec();
        for _ in 0..10_000 {
            bytes.extend(frame(FRAME_HEARTBEAT, 0, &[]));
        }
        let mut r = FrameReader::new();
        let mut rest = &bytes[..];
        let mut count = 0;
        while !rest.is_empty() {
            let n = r.push(rest);
            assert!(n <= r.capacity());
            rest = &rest[n..];
            while let Some(f) = r.next_frame().expect("valid") {
                assert_eq!(f, Frame::Heartbeat(0));
                count += 1;
            }
            assert!(r.buffered() <= r.capacity());
        }
        assert_eq!(count, 10_000);
    }
}
